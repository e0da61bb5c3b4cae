-- The nginx side of the benchmark: request/response glue around the shared
-- handlers (bench/handlers.lua), with cjson for JSON as OpenResty code
-- usually does.  Loaded once per worker via lua_package_path.

local cjson = require "cjson.safe"
local H = require "handlers"

local R = {}

local function send(status, tbl)
  ngx.status = status
  ngx.print(cjson.encode(tbl))
end

function R.hello()
  send(200, H.hello())
end

function R.user(id)
  send(200, H.user(id))
end

function R.create_user()
  if ngx.req.get_method() ~= "POST" then
    return send(405, { error = "Method Not Allowed" })
  end
  ngx.req.read_body()
  local data, err = cjson.decode(ngx.req.get_body_data() or "")
  if err then
    return send(400, { error = "Invalid JSON in request body" })
  end
  send(H.create_user(data))
end

function R.compute()
  send(200, H.compute())
end

return R
