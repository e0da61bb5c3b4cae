-- rover.html: HTML templates with escaping, control flow and components
-- (SPEC section 8).
--
--   rover.html(data) [[ <p>{{ name }}</p> ]]   --> "<p>Ada</p>"
--
-- The chunk takes no dependencies and returns the module table, which is
-- callable. Each template string is compiled once to a Lua function (cached
-- by the string) whose line numbers equal the template's, so an error can
-- name the template line. Runs on Lua 5.4 (_ENV) and LuaJIT (setfenv).

local type, tostring, tonumber, error, pcall, pairs = type, tostring, tonumber, error, pcall, pairs
local setmetatable, getmetatable, rawget = setmetatable, getmetatable, rawget
local find, sub, gsub, format, match, rep =
  string.find, string.sub, string.gsub, string.format, string.match, string.rep
local concat = table.concat
local load, setfenv = load, setfenv

local M = {}

-- Components live here, not in M, so that `function rover.html.card() end`
-- goes through __newindex and cannot replace the module's own functions.
local components = {}

---------------------------------------------------------------------------
-- Escaping and safe strings
---------------------------------------------------------------------------

local ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
  ['"'] = "&quot;", ["'"] = "&#39;" }

--- HTML-escape a string (& < > " ').
local function escape(s)
  if not find(s, "[&<>\"']") then return s end
  return (gsub(s, "[&<>\"']", ESCAPES))
end
M.escape = function(s) return escape(tostring(s)) end

-- A safe string is inserted without escaping: results of raw() and of
-- components. tostring() gives the text back.
local safe_mt = {
  __tostring = function(s) return s[1] end,
  __concat = function(a, b) return tostring(a) .. tostring(b) end,
}

local function safe(s) return setmetatable({ s }, safe_mt) end

--- Mark a value as HTML that must not be escaped (nil -> "").
function M.raw(v)
  if v == nil then return safe("") end
  if getmetatable(v) == safe_mt then return v end
  return safe(tostring(v))
end

--- True when v is a safe (unescaped) string made by raw() or a component.
function M.is_safe(v) return type(v) == "table" and getmetatable(v) == safe_mt end

-- Converts one {{ expr }} value to output text.
local function emit(v)
  local tv = type(v)
  if tv == "string" then return escape(v) end
  if v == nil then return "" end
  if tv == "number" or tv == "boolean" then return tostring(v) end
  if tv == "table" and getmetatable(v) == safe_mt then return v[1] end
  return escape(tostring(v))
end

---------------------------------------------------------------------------
-- The environment a template sees: data keys, then components, then helpers
---------------------------------------------------------------------------

local helpers = {
  string = string, table = table, math = math, pairs = pairs, ipairs = ipairs,
  tostring = tostring, tonumber = tonumber, type = type, select = select,
  next = next, unpack = table.unpack or unpack, error = error, pcall = pcall,
  raw = M.raw, escape = M.escape,
}
if type(os) == "table" then
  helpers.os = { date = os.date, time = os.time, clock = os.clock }
end
if type(utf8) == "table" then helpers.utf8 = utf8 end

-- Components called from a template return safe strings.
local component_wrappers = setmetatable({}, { __mode = "k" })
local function wrap_component(fn)
  local w = component_wrappers[fn]
  if not w then
    w = function(...)
      local out = fn(...)
      if out == nil then return safe("") end
      if getmetatable(out) == safe_mt then return out end
      return safe(tostring(out))
    end
    component_wrappers[fn] = w
  end
  return w
end

local DATA = {} -- private key of the render's data in its environment
local env_mt = {
  __index = function(env, key)
    local data = rawget(env, DATA)
    local v = data[key]
    if v ~= nil then return v end
    v = components[key]
    if v ~= nil then
      if type(v) == "function" then return wrap_component(v) end
      return v
    end
    return helpers[key]
  end,
}

---------------------------------------------------------------------------
-- Compilation
---------------------------------------------------------------------------

local CHUNK_NAME = "rover.html template"
local CACHE_LIMIT = 512
local cache, cache_size = {}, 0

-- Words that start a statement ({{ if x then }}, {{ end }}, {{ local y = 1 }}).
local STATEMENT_WORDS = { ["if"] = true, ["elseif"] = true, ["else"] = true,
  ["end"] = true, ["for"] = true, ["while"] = true, ["repeat"] = true,
  ["until"] = true, ["local"] = true, ["do"] = true, ["break"] = true,
  ["return"] = true, ["goto"] = true }

local function is_statement(code)
  local word = match(code, "^([%a_][%w_]*)")
  if word and STATEMENT_WORDS[word] then return true end
  -- Assignment such as `{{ x = 1 }}` or `{{ t.n = t.n + 1 }}`.
  return find(code, "^[%a_][%w_%.]*%s*=[^=]") ~= nil
end

local function count_lines(s)
  local _, n = gsub(s, "\n", "")
  return n
end

local function template_error(line, reason)
  error("template error at line " .. line .. ": " .. reason, 0)
end

-- The generated chunk keeps every template line on the same line number:
-- the header has no newline, text is written with %q (which keeps newlines
-- as backslash-newline) and code is copied as is. `_o.l` records the line of
-- the current {{ }} for errors raised outside the template's own code.
local HEADER = setfenv and "local _, _emit = ... return function(_o) local _n = 0 "
  or "local _ENV, _emit = ... return function(_o) local _n = 0 "

local function translate(tpl)
  local parts, pos, line = { HEADER }, 1, 1
  local len = #tpl
  while pos <= len do
    local open = find(tpl, "{{", pos, true)
    local text = sub(tpl, pos, (open or len + 1) - 1)
    if text ~= "" then
      parts[#parts + 1] = "_n=_n+1 _o[_n]=" .. format("%q", text) .. " "
      line = line + count_lines(text)
    end
    if not open then break end
    local close = find(tpl, "}}", open + 2, true)
    if not close then template_error(line, "unclosed {{") end
    local inner = sub(tpl, open + 2, close - 1)
    local lead, code, trail = match(inner, "^(%s*)(.-)(%s*)$")
    -- Newlines around the code are re-emitted to keep line numbers aligned.
    local code_line = line + count_lines(lead)
    local prefix = "_o.l=" .. code_line .. " " .. rep("\n", count_lines(lead))
    local suffix = rep("\n", count_lines(trail))
    if code == "" or sub(code, 1, 2) == "--" then
      -- Empty tag or {{ -- comment }}: nothing to run. A comment cannot be
      -- copied into the one-line generated code, where it would hide what follows.
      parts[#parts + 1] = prefix .. rep("\n", count_lines(code)) .. suffix
    elseif is_statement(code) then
      parts[#parts + 1] = prefix .. code .. " " .. suffix
    else
      parts[#parts + 1] = prefix .. "_n=_n+1 _o[_n]=_emit(" .. code .. " ) " .. suffix
    end
    line = line + count_lines(inner)
    pos = close + 2
  end
  parts[#parts + 1] = " return _n end"
  return concat(parts)
end

-- "rover.html template:7: reason" -> 7, "reason".
local function split_location(msg)
  local line, reason = match(msg, "^" .. CHUNK_NAME .. ":(%d+): (.*)$")
  return tonumber(line), reason
end

local function compile(tpl)
  local source = translate(tpl)
  local factory, err = load(source, "=" .. CHUNK_NAME, "t", {})
  if not factory then
    local line, reason = split_location(err)
    template_error(line or 1, reason or err)
  end
  if cache_size >= CACHE_LIMIT then cache, cache_size = {}, 0 end
  cache[tpl] = factory
  cache_size = cache_size + 1
  return factory
end

---------------------------------------------------------------------------
-- Rendering
---------------------------------------------------------------------------

--- Render a template string with data (a table of names; may be nil).
function M.render(tpl, data)
  if type(tpl) ~= "string" then
    error("rover.html: template must be a string, got " .. type(tpl), 2)
  end
  local factory = cache[tpl] or compile(tpl)
  local env = setmetatable({ [DATA] = data or {} }, env_mt)
  -- A fresh closure per render: on LuaJIT setfenv applies to the factory
  -- and the new closure inherits it, so nested or recursive renders of the
  -- same template each keep their own environment.
  if setfenv then setfenv(factory, env) end
  local fn = factory(env, emit)
  local out = {}
  local ok, n = pcall(fn, out)
  if not ok then
    local err = n
    if type(err) ~= "string" then error(err, 0) end -- e.g. error{status=...}
    if find(err, "^template error at line %d+: ") then error(err, 0) end
    local line, reason = split_location(err)
    template_error(line or out.l or 1, reason or err)
  end
  return concat(out, "", 1, n)
end

--- Number of compiled templates held in the cache (and its limit).
function M.cache_info()
  return { size = cache_size, limit = CACHE_LIMIT }
end

setmetatable(M, {
  -- html(data) returns a renderer, so html(data)[[ ... ]] works.
  __call = function(_, data)
    return function(tpl) return M.render(tpl, data) end
  end,
  __index = components,
  __newindex = function(_, name, fn)
    if fn ~= nil and type(fn) ~= "function" and type(fn) ~= "table" then
      error("rover.html: a component must be a function, got " .. type(fn), 2)
    end
    components[name] = fn
  end,
})

return M
