-- Handler logic shared by every benchmark peer that is not rover-mt.
--
-- The Python peers (uvicorn, granian, the selectors servers) load this file
-- through lupa, and nginx loads it with `require "handlers"`, so every server
-- runs the same Lua for each workload and only the serving machinery differs.
-- rover-mt runs bench/apps/rover_app.lua instead, which does the same work
-- through rover-mt's own API (rover.guard for the validation of W3).
--
-- Written for both Lua 5.4 and LuaJIT 2.1 (nginx): no integer division, no
-- bit operators, and arithmetic that stays exact in doubles.

local H = {}

-- W4: iterations of the compute loop.  85,000 takes about 1 ms in Lua 5.4
-- under lupa on the benchmark machine; every server runs the same count, so
-- the work is identical even where an engine (LuaJIT) runs it faster.
H.COMPUTE_ITERATIONS = 85000

-- W1: GET /hello
function H.hello()
  return { message = "Hello World" }
end

-- W2: GET /users/{id}; the id stays a string, as rover-mt's ctx:params() gives it.
function H.user(id)
  return { id = id, name = "user" }
end

-- W4: GET /compute.  A multiplicative hash kept below 2^53, so Lua 5.4
-- integers and LuaJIT doubles give the same answer.
function H.compute()
  local n = H.COMPUTE_ITERATIONS
  local x = 0
  for i = 1, n do
    x = (x * 31 + i) % 1000003
  end
  return { result = x, iterations = n }
end

-- W3: the validation rover-mt does with rover.guard, written out by hand.
-- Same fields, rules, defaults and error shape ({field, message, type}); the
-- cleaned result holds only the schema's keys.

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v)
end

local function check_string(errors, field, v, required, min_len, max_len, pattern)
  if v == nil then
    if required then
      errors[#errors + 1] = { field = field, type = "required",
                              message = "Field '" .. field .. "' is required" }
    end
    return nil
  end
  if type(v) ~= "string" then
    errors[#errors + 1] = { field = field, type = "type",
                            message = "Must be a string, got " .. type(v) }
    return nil
  end
  if (min_len and #v < min_len) or (max_len and #v > max_len) then
    errors[#errors + 1] = { field = field, type = "length",
                            message = "Length out of range" }
    return nil
  end
  if pattern and not string.find(v, pattern) then
    errors[#errors + 1] = { field = field, type = "pattern",
                            message = "Does not match the pattern" }
    return nil
  end
  return v
end

local ROLES = { admin = true, user = true }

function H.validate_user(data)
  local errors = {}
  local out = {}
  out.name = check_string(errors, "name", data.name, true, 1, 80)
  out.email = check_string(errors, "email", data.email, true, nil, nil, "^[^@]+@[^@]+$")
  out.bio = check_string(errors, "bio", data.bio, false, nil, 500)

  local age = data.age
  if age == nil then
    out.age = 18
  elseif not is_integer(age) then
    errors[#errors + 1] = { field = "age", type = "type",
                            message = "Must be an integer, got " .. type(age) }
  elseif age < 0 or age > 150 then
    errors[#errors + 1] = { field = "age", type = age < 0 and "min" or "max",
                            message = "Out of range" }
  else
    out.age = age
  end

  local role = data.role
  if role == nil then
    out.role = "user"
  elseif not ROLES[role] then
    errors[#errors + 1] = { field = "role", type = "enum",
                            message = "Must be one of: admin, user. Got: '" .. tostring(role) .. "'" }
  else
    out.role = role
  end

  local tags = data.tags
  if tags ~= nil then
    if type(tags) ~= "table" then
      errors[#errors + 1] = { field = "tags", type = "type",
                              message = "Must be an array, got " .. type(tags) }
    elseif #tags > 10 then
      errors[#errors + 1] = { field = "tags", type = "length", message = "Too many items" }
    else
      local clean = {}
      for i = 1, #tags do
        clean[i] = check_string(errors, "tags[" .. i .. "]", tags[i], true)
      end
      out.tags = clean
    end
  end

  local addr = data.address
  if addr ~= nil then
    if type(addr) ~= "table" then
      errors[#errors + 1] = { field = "address", type = "type",
                              message = "Must be an object, got " .. type(addr) }
    else
      out.address = {
        city = check_string(errors, "address.city", addr.city, true),
        street = check_string(errors, "address.street", addr.street, false),
      }
    end
  end

  if #errors > 0 then
    return nil, errors
  end
  return out
end

-- W3: POST /users -> 201 with the cleaned user, or 400 {"errors": [...]}.
function H.create_user(data)
  if type(data) ~= "table" then
    return 400, { errors = { { field = "", type = "type", message = "Body must be an object" } } }
  end
  local user, errors = H.validate_user(data)
  if not user then
    return 400, { errors = errors }
  end
  return 201, user
end

-- A small JSON encoder for the lupa peers, so a response crosses from Lua
-- to Python once, as one string.  (nginx uses cjson instead.)  Arrays are
-- non-empty tables with keys exactly 1..n, as in rover-mt.

local encode_value

local ESCAPES = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }

local function escape_char(c)
  return ESCAPES[c] or string.format("\\u%04x", string.byte(c))
end

local function encode_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', escape_char) .. '"'
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function encode_number(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if v == math.floor(v) and v > -2^53 and v < 2^53 then
    return string.format("%d", v)
  end
  return string.format("%.17g", v)
end

function encode_value(v, parts)
  local kind = type(v)
  if kind == "string" then
    parts[#parts + 1] = encode_string(v)
  elseif kind == "number" then
    parts[#parts + 1] = encode_number(v)
  elseif kind == "boolean" then
    parts[#parts + 1] = v and "true" or "false"
  elseif kind == "nil" then
    parts[#parts + 1] = "null"
  elseif kind == "table" then
    if is_array(v) then
      parts[#parts + 1] = "["
      for i = 1, #v do
        if i > 1 then parts[#parts + 1] = "," end
        encode_value(v[i], parts)
      end
      parts[#parts + 1] = "]"
    else
      parts[#parts + 1] = "{"
      local first = true
      for k, item in pairs(v) do
        if not first then parts[#parts + 1] = "," end
        first = false
        parts[#parts + 1] = encode_string(tostring(k))
        parts[#parts + 1] = ":"
        encode_value(item, parts)
      end
      parts[#parts + 1] = "}"
    end
  else
    error("cannot encode a " .. kind .. " as JSON")
  end
end

function H.encode(v)
  local parts = {}
  encode_value(v, parts)
  return table.concat(parts)
end

return H
