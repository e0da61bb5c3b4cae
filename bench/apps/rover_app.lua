-- The benchmark app for rover-mt: the same four workloads as
-- bench/handlers.lua (which the other servers run), written with rover-mt's
-- own API.  W3 validates with rover.guard; the peers run a hand-written
-- equivalent of this schema.  bench/workloads.py checks every answer.
local api = rover.server {}

local g = rover.guard
local user_schema = {
  name    = g:string():required():min_len(1):max_len(80),
  email   = g:string():required():pattern("^[^@]+@[^@]+$"),
  age     = g:integer():min(0):max(150):default(18),
  role    = g:string():enum{ "admin", "user" }:default("user"),
  tags    = g:array(g:string()):max_len(10),
  bio     = g:string():max_len(500),
  address = g:object{ city = g:string():required(), street = g:string() },
}

-- Same loop and count as H.compute in bench/handlers.lua (about 1 ms in Lua 5.4).
local COMPUTE_ITERATIONS = 85000

function api.hello.get(ctx)
  return { message = "Hello World" }
end

function api.users.p_id.get(ctx)
  return { id = ctx:params().id, name = "user" }
end

function api.users.post(ctx)
  local user = ctx:body():expect(user_schema)
  return api.json:status(201, user)
end

function api.compute.get(ctx)
  local x = 0
  for i = 1, COMPUTE_ITERATIONS do
    x = (x * 31 + i) % 1000003
  end
  return { result = x, iterations = COMPUTE_ITERATIONS }
end

return api
