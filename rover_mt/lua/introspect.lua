-- introspect.lua: load-time helpers for the OpenAPI generator (rover_mt/openapi).
--
-- Runs only in the scratch "probe" runtime that validates an app when it is
-- loaded, never in a worker. Python finds expressions in a handler's source text
-- (the argument of `:expect(...)`, the name before `.json(...)`); these helpers
-- evaluate them in the handler's own scope (its upvalues, then the app's
-- globals) and describe what they find. Every evaluation is protected: a name
-- that cannot be resolved at load time simply gives "unknown".
--
-- The chunk returns setup(deps) -> M, with deps:
--   getinfo, getupvalue   the real debug functions (kept by prelude.lua)
--   compile               prelude's compile(source, chunkname, env)
--   env                   the app's globals proxy (core.env)
--   guard                 the rover.guard module
--   api                   the table the app returned (core.api)
--   json                  the rover.json module (results cross to Python as JSON text,
--                          so null, empty arrays and integral floats keep their meaning)
-- Runs on Lua 5.4 and LuaJIT 2.1.

return function(deps)
  local getinfo, getupvalue, compile = deps.getinfo, deps.getupvalue, deps.compile
  local env, guard, api, json = deps.env, deps.guard, deps.api, deps.json
  local type, pcall, setmetatable, rawequal = type, pcall, setmetatable, rawequal

  local M = {}

  --- Where a function was defined: chunk name, first line, last line.
  function M.location(fn)
    if type(fn) ~= "function" or not getinfo then return nil end
    local info = getinfo(fn, "S")
    if not info or info.what ~= "Lua" then return nil end
    return info.source, info.linedefined, info.lastlinedefined
  end

  -- A read-only view of what a name means inside `fn`: its upvalues first
  -- (locals of the enclosing code that the handler uses), then the app globals.
  local function scope_of(fn)
    local upvalues = {}
    if getupvalue then
      local i = 1
      while true do
        local name, value = getupvalue(fn, i)
        if name == nil then break end
        -- `_ENV` (Lua 5.4) is the globals table itself; it is consulted below.
        if name ~= "_ENV" and name ~= "" then upvalues[name] = { value } end
        i = i + 1
      end
    end
    return setmetatable({}, {
      __index = function(_, key)
        local slot = upvalues[key]
        if slot then return slot[1] end
        return env[key]
      end,
      __newindex = function() error("read-only scope", 2) end,
    })
  end

  --- Evaluate the Lua expression `expr` as the handler `fn` would see it.
  -- Returns true, value or false, error text.
  function M.eval(fn, expr)
    if type(fn) ~= "function" or type(expr) ~= "string" then return false, "bad arguments" end
    local chunk, err = compile("return (" .. expr .. ")", "=openapi", scope_of(fn))
    if not chunk then return false, err end
    return pcall(chunk)
  end

  --- True when `expr` in fn's scope is the app's server table (so `x.json(...)`
  -- is a response builder and not, say, `ctx:body():json()`).
  function M.is_api(fn, expr)
    local ok, value = M.eval(fn, expr)
    return ok and api ~= nil and rawequal(value, api)
  end

  --- True when `expr` in fn's scope is a guard validation entry point:
  -- rover.guard itself (callable), guard.check or guard.validate.
  function M.is_guard_call(fn, expr)
    local ok, value = M.eval(fn, expr)
    if not ok or value == nil or guard == nil then return false end
    return rawequal(value, guard) or rawequal(value, guard.check) or rawequal(value, guard.validate)
  end

  --- Describe a schema value as JSON Schema text: guard nodes, config tables
  -- and field maps through guard.describe. Returns true, json or false, error.
  function M.describe(schema)
    if guard == nil then return false, "rover.guard is not loaded" end
    if type(schema) ~= "table" and type(schema) ~= "string" then
      return false, "not a schema: " .. type(schema)
    end
    local ok, described = pcall(guard.describe, schema)
    if not ok then return false, described end
    return pcall(json.encode, described)
  end

  --- Any Lua value as JSON text (for metadata such as a raw JSON Schema table
  -- or an example); returns true, json or false, error.
  function M.to_json(value)
    return pcall(json.encode, value)
  end

  --- True when `value` is a guard schema node (built with g:string() ...).
  function M.is_guard_node(value)
    return guard ~= nil and guard.is_schema ~= nil and guard.is_schema(value) or false
  end

  return M
end
