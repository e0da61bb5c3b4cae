-- rover.guard: declarative validation of decoded JSON (SPEC section 7).
--
-- Chunk arguments: a deps table, `{ json = <rover.json module> }`. json.null is
-- recognised as an explicit null and json.array_mt marks cleaned arrays (so an
-- empty array re-encodes as []). Both are optional: without deps only nil is
-- null and cleaned arrays are plain tables.
--
-- A schema is described once with builders (g:string():required()...) or
-- plain config tables, and compiled on first use into a closure that is
-- cached (weak keys) by the schema table, so validating a request never walks
-- the description again.

local deps = ... or {}
local json = deps.json or {}
local null = json.null
local array_mt = json.array_mt

local type, pairs, ipairs, next, tostring, error = type, pairs, ipairs, next, tostring, error
local setmetatable, getmetatable, rawequal, pcall = setmetatable, getmetatable, rawequal, pcall
local find, gsub, format, sub = string.find, string.gsub, string.format, string.sub
local concat, sort = table.concat, table.sort
local floor, tointeger = math.floor, math.tointeger

local M = {}

local KINDS = { string = true, number = true, integer = true, boolean = true,
  array = true, object = true }
local ARTICLE = { string = "a string", number = "a number", integer = "an integer",
  boolean = "a boolean", array = "an array", object = "an object" }

---------------------------------------------------------------------------
-- Schema nodes (immutable: every modifier returns a modified copy, so a
-- shared base such as `local name = g:string()` can be refined safely)
---------------------------------------------------------------------------

-- The node's settings live under a private key so that modifier names
-- (min, max, default...) never collide with stored values.
local SPEC = {}
local node_mt = {}
local methods = {}

local function is_node(x) return getmetatable(x) == node_mt end

local function new_node(kind, fields)
  local spec = { kind = kind }
  if fields then for k, v in pairs(fields) do spec[k] = v end end
  return setmetatable({ [SPEC] = spec }, node_mt)
end

local function with(node, key, value)
  local copy = {}
  for k, v in pairs(node[SPEC]) do copy[k] = v end
  copy[key] = value
  return setmetatable({ [SPEC] = copy }, node_mt)
end

-- Modifiers work with a colon (node:min(1)) and with a dot (node.min(1)):
-- indexing returns a function bound to the node that drops a leading self.
node_mt.__index = function(node, key)
  local method = methods[key]
  if not method then return nil end
  return function(first, ...)
    if rawequal(first, node) then return method(node, ...) end
    return method(node, first, ...)
  end
end
node_mt.__tostring = function(node) return "guard." .. node[SPEC].kind end

local function kind_of(node) return node[SPEC].kind end

local function expect_number(name, n)
  if type(n) ~= "number" then
    error("rover.guard: " .. name .. "() expects a number, got " .. type(n), 3)
  end
end

function methods.required(node, message)
  if message ~= nil and type(message) ~= "string" then
    error("rover.guard: required() message must be a string", 3)
  end
  return with(with(node, "required", true), "required_message", message)
end

function methods.optional(node)
  return with(with(node, "required", false), "required_message", nil)
end

function methods.default(node, value)
  -- has_default separates default(false) from "no default".
  return with(with(node, "default", value), "has_default", value ~= nil)
end

function methods.enum(node, list)
  if type(list) ~= "table" or list[1] == nil then
    error("rover.guard: enum() expects a non-empty list", 3)
  end
  local copy = {}
  for i, v in ipairs(list) do copy[i] = v end
  return with(node, "enum", copy)
end

function methods.nullable(node) return with(node, "nullable", true) end

-- min/max bound numbers; on strings and arrays they mean min_len/max_len.
function methods.min(node, n)
  expect_number("min", n)
  local kind = kind_of(node)
  if kind == "string" or kind == "array" then return with(node, "min_len", n) end
  return with(node, "min", n)
end

function methods.max(node, n)
  expect_number("max", n)
  local kind = kind_of(node)
  if kind == "string" or kind == "array" then return with(node, "max_len", n) end
  return with(node, "max", n)
end

local function length_modifier(name)
  return function(node, n)
    expect_number(name, n)
    local kind = kind_of(node)
    if kind ~= "string" and kind ~= "array" then
      error("rover.guard: " .. name .. "() applies to string and array, not " .. kind, 3)
    end
    return with(node, name, n)
  end
end
methods.min_len = length_modifier("min_len")
methods.max_len = length_modifier("max_len")

function methods.pattern(node, pattern)
  if type(pattern) ~= "string" then
    error("rover.guard: pattern() expects a Lua pattern string", 3)
  end
  if kind_of(node) ~= "string" then
    error("rover.guard: pattern() applies to string, not " .. kind_of(node), 3)
  end
  local ok, err = pcall(find, "", pattern)
  if not ok then error("rover.guard: bad pattern " .. pattern .. ": " .. tostring(err), 3) end
  return with(node, "pattern", pattern)
end

-- Builders: g.string() and g:string() are the same.
local function drop_self(first, ...)
  if rawequal(first, M) then return ... end
  return first, ...
end

function M.string() return new_node("string") end
function M.number() return new_node("number") end
function M.integer() return new_node("integer") end
function M.boolean() return new_node("boolean") end
function M.array(...)
  local elem = drop_self(...)
  return new_node("array", { items = elem })
end
function M.object(...)
  local schema = drop_self(...)
  return new_node("object", { fields = schema })
end

---------------------------------------------------------------------------
-- Plain-table configs and field maps -> nodes
---------------------------------------------------------------------------

local CONFIG_KEYS = { type = true, required = true, message = true, optional = true,
  default = true, enum = true, nullable = true, min = true, max = true,
  min_len = true, max_len = true, pattern = true, items = true, fields = true,
  schema = true, properties = true }

local function config_to_node(cfg)
  local kind = cfg.type
  if not KINDS[kind] then
    error("rover.guard: unknown type '" .. tostring(kind) .. "'", 0)
  end
  for k in pairs(cfg) do
    if not CONFIG_KEYS[k] then
      error("rover.guard: unknown option '" .. tostring(k) .. "' in " .. kind .. " config", 0)
    end
  end
  local node = new_node(kind, {
    items = cfg.items,
    fields = cfg.fields or cfg.schema or cfg.properties,
  })
  -- Apply through the modifiers so configs get the same checks as builders.
  local req = cfg.required
  if req and not cfg.optional then
    node = methods.required(node, type(req) == "string" and req or cfg.message)
  end
  if cfg.default ~= nil then node = methods.default(node, cfg.default) end
  if cfg.enum ~= nil then node = methods.enum(node, cfg.enum) end
  if cfg.nullable then node = methods.nullable(node) end
  if cfg.min ~= nil then node = methods.min(node, cfg.min) end
  if cfg.max ~= nil then node = methods.max(node, cfg.max) end
  if cfg.min_len ~= nil then node = methods.min_len(node, cfg.min_len) end
  if cfg.max_len ~= nil then node = methods.max_len(node, cfg.max_len) end
  if cfg.pattern ~= nil then node = methods.pattern(node, cfg.pattern) end
  return node
end

-- Anything usable as a schema -> node: a node; a type name ("string"); a
-- config table (has a string `type`); otherwise a field map {name = schema}.
local function to_node(x)
  if is_node(x) then return x end
  local tx = type(x)
  if tx == "string" then
    if not KINDS[x] then error("rover.guard: unknown type '" .. x .. "'", 0) end
    return new_node(x)
  end
  if tx ~= "table" then
    error("rover.guard: a schema must be a guard type, a config table or a field table, got " .. tx, 0)
  end
  if type(x.type) == "string" then return config_to_node(x) end
  return new_node("object", { fields = x })
end

---------------------------------------------------------------------------
-- Helpers used by compiled validators
---------------------------------------------------------------------------

local function is_null(v) return v == nil or rawequal(v, null) end

-- "array" when the keys are exactly 1..n or the table is marked with
-- array_mt; "empty" for {} (acceptable as both); otherwise "object".
local function table_shape(t)
  if array_mt and getmetatable(t) == array_mt then return "array" end
  if next(t) == nil then return "empty" end
  local n, count = #t, 0
  if n == 0 then return "object" end
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return "object" end
    count = count + 1
  end
  return count == n and "array" or "object"
end

local function array_length(t)
  local n = #t
  if array_mt and getmetatable(t) == array_mt then
    -- Decoded arrays may contain holes where JSON had null.
    for k in pairs(t) do
      if type(k) == "number" and k > n and k % 1 == 0 then n = k end
    end
  end
  return n
end

local function type_name(v)
  if is_null(v) then return "null" end
  local tv = type(v)
  if tv == "table" then
    local shape = table_shape(v)
    return shape == "array" and "array" or "object"
  end
  return tv
end

local function format_number(n)
  if n % 1 == 0 and n > -2 ^ 53 and n < 2 ^ 53 then return format("%d", n) end
  return tostring(n)
end

local function utf8_length(s)
  local _, n = gsub(s, "[^\128-\191]", "")
  return n
end

local function deep_copy(v)
  if type(v) ~= "table" or rawequal(v, null) then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deep_copy(x) end
  return setmetatable(c, getmetatable(v))
end

local function child_path(parent, key)
  if type(key) == "number" then return parent .. "[" .. key .. "]" end
  if parent == "" then return key end
  return parent .. "." .. key
end

local function add_error(errs, field, message, kind)
  errs[#errs + 1] = { field = field, message = message, type = kind }
end

---------------------------------------------------------------------------
-- Compilation
---------------------------------------------------------------------------

local compiled = setmetatable({}, { __mode = "k" })
local compile

-- Returns the check for the type and the value shape: check(v, path, errs)
-- -> ok, cleaned. `path` is the already-built path of the value.
local function type_checker(spec)
  local kind = spec.kind
  local expected = "Must be " .. ARTICLE[kind] .. ", got "
  local function type_error(v, path, errs)
    add_error(errs, path, expected .. type_name(v), "type")
    return false
  end
  if kind == "string" then
    return function(v, path, errs)
      if type(v) == "string" then return true, v end
      return type_error(v, path, errs)
    end
  elseif kind == "number" then
    return function(v, path, errs)
      if type(v) == "number" and v == v then return true, v end
      return type_error(v, path, errs)
    end
  elseif kind == "integer" then
    return function(v, path, errs)
      if type(v) == "number" and v % 1 == 0 then
        return true, tointeger and tointeger(v) or v
      end
      return type_error(v, path, errs)
    end
  elseif kind == "boolean" then
    return function(v, path, errs)
      if type(v) == "boolean" then return true, v end
      return type_error(v, path, errs)
    end
  elseif kind == "array" then
    local check_item = spec.items ~= nil and compile(spec.items) or nil
    return function(v, path, errs)
      if type(v) ~= "table" or table_shape(v) == "object" or rawequal(v, null) then
        return type_error(v, path, errs)
      end
      local n = array_length(v)
      local out = {}
      for i = 1, n do
        if check_item then
          out[i] = check_item(v[i], path .. "[" .. i .. "]", errs)
        else
          out[i] = v[i]
        end
      end
      if array_mt then setmetatable(out, array_mt) end
      return true, out, n
    end
  else -- object
    local fields = spec.fields
    if fields == nil then
      -- g:object() with no schema: any object passes through unchanged.
      return function(v, path, errs)
        if type(v) ~= "table" or table_shape(v) == "array" or rawequal(v, null) then
          return type_error(v, path, errs)
        end
        return true, v
      end
    end
    if type(fields) ~= "table" then
      error("rover.guard: object() expects a table of fields, got " .. type(fields), 0)
    end
    -- Sorted names give a deterministic error order.
    local names, checks = {}, {}
    for name in pairs(fields) do
      if type(name) ~= "string" then
        error("rover.guard: field names must be strings, got " .. type(name), 0)
      end
      names[#names + 1] = name
    end
    sort(names)
    for i, name in ipairs(names) do checks[i] = compile(fields[name]) end
    local count = #names
    return function(v, path, errs)
      if type(v) ~= "table" or table_shape(v) == "array" or rawequal(v, null) then
        return type_error(v, path, errs)
      end
      local out = {}
      for i = 1, count do
        local name = names[i]
        local field_path = path == "" and name or path .. "." .. name
        out[name] = checks[i](v[name], field_path, errs)
      end
      return true, out
    end
  end
end

local function enum_message(list, v)
  local parts = {}
  for i, item in ipairs(list) do parts[i] = tostring(item) end
  return "Must be one of: " .. concat(parts, ", ") .. ". Got: '" .. tostring(v) .. "'"
end

local function build(spec)
  local kind = spec.kind
  local check_type = type_checker(spec)
  local required, required_message = spec.required, spec.required_message
  local has_default, default = spec.has_default, spec.default
  local copy_default = type(default) == "table"
  local nullable = spec.nullable
  local enum, min, max = spec.enum, spec.min, spec.max
  local min_len, max_len, pattern = spec.min_len, spec.max_len, spec.pattern
  local numeric = kind == "number" or kind == "integer"
  local min_message = min and "Must be at least " .. format_number(min)
  local max_message = max and "Must be at most " .. format_number(max)
  local min_len_message = min_len and "Length must be at least " .. format_number(min_len)
  local max_len_message = max_len and "Length must be at most " .. format_number(max_len)
  local pattern_message = pattern and "Must match pattern " .. pattern
  local has_constraints = enum or min or max or min_len or max_len or pattern

  return function(v, path, errs)
    if v == nil or rawequal(v, null) then
      if has_default then
        if not copy_default then return default end
        local copy = deep_copy(default)
        -- An array default such as {} must still encode as [].
        if kind == "array" and array_mt and getmetatable(copy) == nil then
          setmetatable(copy, array_mt)
        end
        return copy
      end
      if v ~= nil and nullable then return nil end
      if required then
        add_error(errs, path, required_message or ("Field '" .. path .. "' is required"), "required")
      end
      return nil
    end
    local ok, out, n = check_type(v, path, errs)
    if not ok or not has_constraints then return out end
    if enum then
      local found = false
      for i = 1, #enum do
        if enum[i] == out then found = true; break end
      end
      if not found then add_error(errs, path, enum_message(enum, out), "enum") end
    end
    if numeric then
      if min and out < min then add_error(errs, path, min_message, "min") end
      if max and out > max then add_error(errs, path, max_message, "max") end
    elseif min_len or max_len then
      local len = n or utf8_length(out)
      if min_len and len < min_len then add_error(errs, path, min_len_message, "length") end
      if max_len and len > max_len then add_error(errs, path, max_len_message, "length") end
    end
    if pattern and not find(out, pattern) then
      add_error(errs, path, pattern_message, "pattern")
    end
    return out
  end
end

--- Compile a schema (node, config or field table) into a check function
--- check(value, path, errs) -> cleaned. Cached by the schema table.
function compile(schema)
  local fn = compiled[schema]
  if fn then return fn end
  fn = build(to_node(schema)[SPEC])
  if type(schema) == "table" then compiled[schema] = fn end
  return fn
end

---------------------------------------------------------------------------
-- Validation errors and the public entry points
---------------------------------------------------------------------------

M.ValidationError_mt = {
  __name = "ValidationError",
  __tostring = function(e)
    local first = e.errors[1]
    return "Validation failed: " .. (first and first.message or "")
  end,
}

--- True when v is a validation error raised by rover.guard.
function M.is_validation_error(v)
  return type(v) == "table" and getmetatable(v) == M.ValidationError_mt
end

--- Make a validation error value from a list of {field, message, type}.
function M.new_error(errors)
  if array_mt then setmetatable(errors, array_mt) end
  local first = errors[1]
  return setmetatable({
    status = 400,
    errors = errors,
    message = "Validation failed: " .. (first and first.message or ""),
  }, M.ValidationError_mt)
end

--- Validate data; returns true, cleaned or false, errors. Never raises for
--- invalid data (a malformed schema still raises).
function M.validate(...)
  local data, schema = drop_self(...)
  local errs = {}
  -- The top level is a value to check, not an optional field: absent data for an
  -- object schema is a type error (a JSON `null` body must not pass as "no fields").
  if is_null(data) and kind_of(to_node(schema)) == "object" then
    add_error(errs, "", "Must be an object, got null", "type")
    if array_mt then setmetatable(errs, array_mt) end
    return false, errs
  end
  local cleaned = compile(schema)(data, "", errs)
  if errs[1] then
    if array_mt then setmetatable(errs, array_mt) end
    return false, errs
  end
  return true, cleaned
end

--- Validate data; returns the cleaned copy or raises a ValidationError.
function M.check(...)
  local data, schema = drop_self(...)
  local ok, result = M.validate(data, schema)
  if ok then return result end
  error(M.new_error(result), 0)
end

M.compile = function(...) return compile((drop_self(...))) end

setmetatable(M, {
  __call = function(_, data, schema) return M.check(data, schema) end,
})

---------------------------------------------------------------------------
-- JSON Schema description (for the OpenAPI generator)
---------------------------------------------------------------------------

local function as_array(t)
  if array_mt then setmetatable(t, array_mt) end
  return t
end

-- Convert a Lua pattern to an ECMA regex only when every construct has the
-- same meaning in both; anything else (%b, %f, captures, lazy '-', '.' which
-- differs on newlines, character classes beyond the simple ones) gives nil.
local CLASS_REGEX = { d = "0-9", l = "a-z", u = "A-Z", a = "A-Za-z",
  w = "A-Za-z0-9", x = "0-9A-Fa-f" }
local function lua_pattern_to_regex(p)
  local out, i, n, in_set = {}, 1, #p, false
  while i <= n do
    local c = sub(p, i, i)
    if c == "%" then
      local e = sub(p, i + 1, i + 1)
      if CLASS_REGEX[e] then
        out[#out + 1] = in_set and CLASS_REGEX[e] or "[" .. CLASS_REGEX[e] .. "]"
      elseif find(e, "^%p$") then
        out[#out + 1] = "\\" .. e
      else
        return nil
      end
      i = i + 2
    elseif in_set then
      if c == "]" then in_set = false end
      if c == "\\" then c = "\\\\" end
      out[#out + 1] = c
      i = i + 1
    elseif c == "[" then
      in_set = true
      out[#out + 1] = c
      if sub(p, i + 1, i + 1) == "^" then out[#out + 1] = "^"; i = i + 1 end
      if sub(p, i + 1, i + 1) == "]" then out[#out + 1] = "\\]"; i = i + 1 end
      i = i + 1
    elseif c == "^" and i == 1 then
      out[#out + 1] = "^"; i = i + 1
    elseif c == "$" and i == n then
      out[#out + 1] = "$"; i = i + 1
    elseif c == "*" or c == "+" or c == "?" then
      out[#out + 1] = c; i = i + 1
    elseif find(c, "^[%w _@,:;=!<>\"'#&~/]$") then
      out[#out + 1] = c; i = i + 1
    elseif c == "^" or c == "$" or c == "{" or c == "}" or c == "|" then
      out[#out + 1] = "\\" .. c; i = i + 1
    else
      return nil -- '.', '-', '(', ')', ']', bytes >= 128 ...
    end
  end
  if in_set then return nil end
  return concat(out)
end
M.lua_pattern_to_regex = lua_pattern_to_regex

local function describe_node(node)
  local spec = node[SPEC]
  local kind = spec.kind
  local d = { type = kind }
  if spec.nullable then d.type = as_array({ kind, "null" }) end
  if spec.has_default then d.default = deep_copy(spec.default) end
  if spec.enum then
    local e = {}
    for i, v in ipairs(spec.enum) do e[i] = v end
    d.enum = as_array(e)
  end
  if spec.min then d.minimum = spec.min end
  if spec.max then d.maximum = spec.max end
  if kind == "string" then
    d.minLength, d.maxLength = spec.min_len, spec.max_len
    if spec.pattern then
      d["x-lua-pattern"] = spec.pattern
      d.pattern = lua_pattern_to_regex(spec.pattern)
    end
  elseif kind == "array" then
    d.minItems, d.maxItems = spec.min_len, spec.max_len
    if spec.items ~= nil then d.items = describe_node(to_node(spec.items)) end
  elseif kind == "object" and spec.fields ~= nil then
    local props, required, names = {}, {}, {}
    for name in pairs(spec.fields) do names[#names + 1] = name end
    sort(names)
    for _, name in ipairs(names) do
      local child = to_node(spec.fields[name])
      props[name] = describe_node(child)
      -- A required field with a default is never missing from the client's view.
      if child[SPEC].required and not child[SPEC].has_default then
        required[#required + 1] = name
      end
    end
    d.properties = props
    if required[1] then d.required = as_array(required) end
  end
  return d
end

--- A JSON Schema (draft 2020-12 / OpenAPI 3.1) table describing the schema.
function M.describe(...)
  return describe_node(to_node((drop_self(...))))
end

M.is_schema = is_node

return M
