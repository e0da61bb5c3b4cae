-- The smallest rover-mt app: `rover-mt serve examples/hello.lua`, then
--   curl http://127.0.0.1:4242/hello
--   curl http://127.0.0.1:4242/users/7?verbose=1
local api = rover.server {}

function api.get(ctx)
  return "rover-mt is running. Try /hello or /users/7"
end

function api.hello.get(ctx)
  return { message = "Hello, World!" }
end

function api.users.p_id.get(ctx)
  local q = ctx:query()
  return { id = ctx:params().id, verbose = q.verbose ~= nil, worker = rover.worker.id }
end

function api.echo.post(ctx)
  return api.json:status(201, { received = ctx:body():json() })
end

return api
