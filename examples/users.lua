-- A small users API: `rover-mt serve examples/users.lua`, then open
-- http://127.0.0.1:4242/docs to see every route with its body schema.
--
-- Users live in a Lua table, so each worker has its own copy (SPEC 10): fine
-- for a demo, use rover.shared or a database for real data.
local api = rover.server {}
local g = rover.guard

local new_user = {
  name  = g:string():required("Name is required"):min_len(1):max_len(80),
  email = g:string():required():pattern("^[%w._%-]+@[%w.%-]+$"),
  age   = g:integer():min(0):max(150):default(18),
  role  = g:string():enum({ "admin", "user" }):default("user"),
  tags  = g:array(g:string():max_len(20)):max_len(10),
}

local user_out = g:object {
  id    = g:integer():required(),
  name  = g:string():required(),
  email = g:string():required(),
  age   = g:integer(),
  role  = g:string(),
}

local users, next_id = {}, 1

api.users.get = rover.route {
  summary = "List users",
  tags = { "users" },
  responses = { [200] = { description = "All users", schema = g:array(user_out) } },
} (function(ctx)
  local list = {}
  for _, u in pairs(users) do list[#list + 1] = u end
  table.sort(list, function(a, b) return a.id < b.id end)
  return api.json(#list > 0 and list or rover.json.empty_array)
end)

api.users.post = rover.route {
  summary = "Create a user",
  description = "Validates the body with rover.guard; a bad body gets 400 with every problem.",
  tags = { "users" },
  responses = { [201] = { description = "The new user", schema = user_out } },
} (function(ctx)
  local u = ctx:body():expect(new_user)
  u.id = next_id
  next_id = next_id + 1
  users[u.id] = u
  return api.json:status(201, u)
end)

api.users.p_id.get = rover.route { summary = "One user", tags = { "users" } } (function(ctx)
  local u = users[tonumber(ctx:params().id)]
  if not u then return api.error(404, "No such user") end
  return u
end)

function api.users.p_id.delete(ctx)
  local id = tonumber(ctx:params().id)
  if not id or not users[id] then return api.error(404, "No such user") end
  users[id] = nil
  return api.no_content()
end

function api.hello.get(ctx)
  return api.html("<h1>Hello from rover-mt</h1>")
end

-- Catch-all: GET /files/a/b/c.txt gives path = "a/b/c.txt".
api.files["p_*path"].get = function(ctx)
  return "You asked for " .. ctx:params().path
end

return api
