-- Every rover.guard feature in one app, and every way a handler can name its
-- schema, so the generated OpenAPI document can be checked against all of them
-- (tests/unit/test_openapi_document.py, tests/wire/test_openapi_wire.py).
--   rover-mt openapi examples/guard_all.lua
local api = rover.server {}
local g = rover.guard

-- Builders with every modifier, chained in any order, with a dot or a colon.
local address = g:object {
  city = g:string():required("City is required"):min_len(1),
  zip  = g.string().pattern("^%d%d%d%d%d$"),
}

local profile = {
  name     = g:string():required("Name is required"):min_len(1):max_len(80),
  email    = g:string():required():pattern("^[^@]+@[^@]+$"),
  age      = g:integer():min(0):max(150):default(18),
  score    = g:number():min(-1.5):max(99.5),
  active   = g:boolean():default(true),
  role     = g:string():enum({ "admin", "user" }):default("user"),
  level    = g:integer():enum({ 1, 2, 3 }):nullable(),
  nickname = g:string():optional():max_len(20),
  tags     = g:array(g:string():max_len(10)):max_len(10):min_len(0),
  address  = address:nullable(),
  items    = g:array(g:object { id = g:integer():required(), qty = g:integer():min(1) }),
  matrix   = g:array(g:array(g:number())),
  free     = g:string():pattern("^%a+%.%a+$"),   -- translated to a regex
  lua_only = g:string():pattern("^%b()$"),        -- not expressible: pattern left out
}

-- Plain config tables and a plain field map, no builders.
config_schema = {
  title = { type = "string", required = true, min_len = 3 },
  count = { type = "integer", min = 1, max = 10, default = 1 },
  kind  = { type = "string", enum = { "a", "b" } },
  meta  = { type = "object", fields = { note = { type = "string" } } },
  list  = { type = "array", items = { type = "number" }, max_len = 5 },
}

local shapes = { circle = g:object { r = g:number():required():min(0) } }

api.profiles.post = rover.route {
  summary = "Every builder modifier",
  tags = { "guard" },
  responses = { [201] = { description = "Created", schema = profile } },
} (function(ctx)
  local p = ctx:body():expect(profile)
  return api.json:status(201, p)
end)

-- The schema is a global: resolved through the app's globals.
function api.configs.post(ctx)
  local c = ctx:body():expect(config_schema)
  return { saved = c.title }
end

-- An inline schema literal.
function api.inline.post(ctx)
  local v = ctx:body():expect({ code = g:string():required():min_len(2):max_len(8) })
  return { code = v.code }
end

-- Table-call syntax and a field of an upvalue.
function api.circles.post(ctx)
  local c = ctx:body():expect(shapes.circle)
  return { area = 3.14159 * c.r * c.r }
end

-- rover.guard(data, schema) on the decoded body.
function api.checked.put(ctx)
  -- `or {}`: a JSON null body decodes to nil, and guard treats nil as "absent".
  local v = rover.guard(ctx:body():json() or {}, { flag = g:boolean():required() })
  return { flag = v.flag }
end

-- The schema is chosen at run time: not determinable, documented as an object.
function api.dynamic.p_kind.post(ctx)
  local v = ctx:body():expect(shapes[ctx:params().kind] or shapes.circle)
  return v
end

-- Documented by hand: the handler reads raw JSON, rover.route says what it is.
api.manual.post = rover.route {
  summary = "Body declared with rover.route",
  body = g:object { x = g:number():required():min(-1e300):max(1e300) },  -- doubling stays finite
  responses = {
    [200] = { description = "The doubled value", schema = { type = "object",
      properties = { x = { type = "number" } }, required = { "x" } } },
    [422] = "x must be a number",
  },
} (function(ctx)
  local data = ctx:body():json()
  if type(data) ~= "table" or type(data.x) ~= "number" or math.abs(data.x) > 1e300 then
    return api.error(422, "x must be a number")  -- (doubling must stay finite: JSON has no inf)
  end
  return { x = data.x * 2 }
end)

-- A text body (`api.text` would be the builder, so the path is /notes).
function api.notes.post(ctx)
  return "got " .. #ctx:body():text() .. " bytes"
end

return api
