-- rover.json: a fast JSON encoder and a strict RFC 8259 decoder in plain Lua.
--
-- Runs unchanged on Lua 5.4 and LuaJIT 2.1 (Lua 5.1 semantics). It only uses
-- string/table/math and base functions so it works inside the rover sandbox.
-- The chunk takes no dependencies and returns the module table.
--
-- Encoding is the hot path (every table a handler returns is encoded here,
-- without the Python GIL), so the encoder avoids per-value allocations: one
-- buffer per call, cached encoded keys and a no-escape fast path for strings.

local type, pairs, tostring, tonumber = type, pairs, tostring, tonumber
local error, pcall = error, pcall
local setmetatable, getmetatable, rawequal = setmetatable, getmetatable, rawequal
local find, match, sub, byte, char, format, gsub =
  string.find, string.match, string.sub, string.byte, string.char, string.format, string.gsub
local concat = table.concat
local floor, huge = math.floor, math.huge
-- Lua 5.4 has an integer subtype; LuaJIT does not (math.type is nil there).
local math_type = math.type
local tointeger = math.tointeger

local M = {}

local MAX_ENCODE_DEPTH = 64
local MAX_DECODE_DEPTH = 200
-- Bound on the encoded-key cache so hostile key sets cannot grow it forever.
local KEY_CACHE_LIMIT = 2048

-- Sentinels. Tables (not lightuserdata) because pure Lua cannot make one;
-- writes are refused so a shared sentinel can never be corrupted.
local function readonly(name)
  return function() error(name .. " is read-only", 2) end
end

M.null = setmetatable({}, {
  __tostring = function() return "null" end,
  __newindex = readonly("json.null"),
})
-- Tables carrying array_mt encode as arrays, also when empty. Decoded arrays get it.
M.array_mt = { __name = "json.array" }
-- cjson compatibility: a metatable that marks tables as (possibly empty) arrays.
M.empty_array_mt = { __name = "json.empty_array" }
M.empty_array = setmetatable({}, {
  __tostring = function() return "[]" end,
  __newindex = readonly("json.empty_array"),
})

local null, array_mt, empty_array_mt, empty_array =
  M.null, M.array_mt, M.empty_array_mt, M.empty_array

---------------------------------------------------------------------------
-- Encoder
---------------------------------------------------------------------------

-- Precomputed escapes for every byte that must not appear raw in a string.
local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
for b = 0, 31 do
  local c = char(b)
  if not escapes[c] then escapes[c] = format("\\u%04x", b) end
end
escapes["\127"] = "\\u007f"

-- Replace every byte that is not part of a well-formed UTF-8 sequence with
-- U+FFFD, so the encoder always produces valid JSON text. Returns s itself
-- when it is already valid (the common case: no new string is built).
local REPLACEMENT = "\239\191\189"
local function utf8_sequence_length(s, i)
  -- Returns the length of the valid sequence starting at i, or nil.
  local c = byte(s, i)
  if c < 0xC2 or c > 0xF4 then return nil end
  local c2 = byte(s, i + 1)
  if not c2 then return nil end
  if c < 0xE0 then
    return (c2 >= 0x80 and c2 <= 0xBF) and 2 or nil
  end
  local c3 = byte(s, i + 2)
  if not c3 or c3 < 0x80 or c3 > 0xBF then return nil end
  if c < 0xF0 then
    local lo, hi = 0x80, 0xBF
    if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
    return (c2 >= lo and c2 <= hi) and 3 or nil
  end
  local c4 = byte(s, i + 3)
  if not c4 or c4 < 0x80 or c4 > 0xBF then return nil end
  local lo, hi = 0x80, 0xBF
  if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
  return (c2 >= lo and c2 <= hi) and 4 or nil
end

local function fix_utf8(s)
  local i = find(s, "[\128-\255]")
  if not i then return s end
  local parts, n, start = nil, 0, 1
  while i do
    local len = utf8_sequence_length(s, i)
    if len then
      i = i + len
    else
      parts = parts or {}
      parts[n + 1] = sub(s, start, i - 1)
      parts[n + 2] = REPLACEMENT
      n = n + 2
      i = i + 1
      start = i
    end
    i = find(s, "[\128-\255]", i)
  end
  if not parts then return s end
  parts[n + 1] = sub(s, start)
  return concat(parts)
end

-- The longest prefix of printable ASCII other than quote and backslash; the
-- position after it is where a string first needs work (controls, quote,
-- backslash, DEL, non-ASCII). A greedy match over one class is about five
-- times faster on Lua 5.4 than searching for the first byte of the opposite
-- class: the matcher runs one loop instead of a match attempt per position.
-- Ranges go most frequent first (lower case, then digits, upper case, space).
local PLAIN_PREFIX = '^[a-~#-Z ^-`!%[%]]*()'

local function escape_string(s)
  if find(s, "[\128-\255]") then s = fix_utf8(s) end
  return '"' .. gsub(s, '[%z\1-\31"\\\127]', escapes) .. '"'
end

local function quote_string(s)
  if match(s, PLAIN_PREFIX) > #s then return '"' .. s .. '"' end
  return escape_string(s)
end
M.quote_string = quote_string

-- Integral numbers below 2^63 print as integers (also 30.0 -> 30); other
-- numbers print with the fewest digits that read back as the same double.
-- "%d" accepts integral floats on both engines; x % 1 is NaN for NaN/inf.
local TWO63 = 2 ^ 63
local function format_number(x)
  if x % 1 == 0 then
    if x < TWO63 and x > -TWO63 then return format("%d", x) end
    return format("%.17g", x)
  end
  if x ~= x or x == huge or x == -huge then return "null" end
  local s = format("%.14g", x)
  if tonumber(s) ~= x then
    s = format("%.16g", x)
    if tonumber(s) ~= x then s = format("%.17g", x) end
  end
  return s
end
M.format_number = format_number

-- Encoded object keys, with and without the separating comma, cached by key.
local key_cache, comma_key_cache, key_cache_size = {}, {}, 0
local function encoded_key(k, comma)
  local tk = type(k)
  local text
  if tk == "string" then
    text = quote_string(k)
  elseif tk == "number" then
    if k ~= k then error("cannot encode NaN key", 0) end
    if k == huge then text = '"inf"'
    elseif k == -huge then text = '"-inf"'
    else text = '"' .. format_number(k) .. '"' end
  else
    error("cannot encode key of type " .. tk, 0)
  end
  if key_cache_size >= KEY_CACHE_LIMIT then
    key_cache, comma_key_cache, key_cache_size = {}, {}, 0
  end
  key_cache[k] = text .. ":"
  comma_key_cache[k] = "," .. text .. ":"
  key_cache_size = key_cache_size + 1
  return comma and comma_key_cache[k] or key_cache[k]
end

-- Largest positive integer key: the length of an array_mt-marked table
-- (holes encode as null, so [1,null,3] survives decode -> encode).
local function marked_array_length(t)
  local n = #t
  for k in pairs(t) do
    if type(k) == "number" and k > n and k % 1 == 0 then n = k end
  end
  return n
end

local encode_table

-- Appends the encoding of v to buf; returns the new length. Strings, numbers
-- and booleans are handled inline by the callers' loops for speed; this is
-- the general case.
local function encode_value(v, buf, len, depth)
  local tv = type(v)
  if tv == "string" then
    len = len + 1
    if match(v, PLAIN_PREFIX) <= #v then buf[len] = escape_string(v) else buf[len] = '"' .. v .. '"' end
  elseif tv == "number" then
    len = len + 1; buf[len] = format_number(v)
  elseif tv == "boolean" then
    len = len + 1; buf[len] = v and "true" or "false"
  elseif tv == "table" then
    if rawequal(v, null) then
      len = len + 1; buf[len] = "null"
    elseif rawequal(v, empty_array) then
      len = len + 1; buf[len] = "[]"
    else
      return encode_table(v, buf, len, depth)
    end
  elseif v == nil then
    len = len + 1; buf[len] = "null"
  else
    error("cannot encode " .. tv, 0)
  end
  return len
end

local function encode_array(t, n, buf, len, depth)
  len = len + 1; buf[len] = "["
  for i = 1, n do
    if i > 1 then len = len + 1; buf[len] = "," end
    len = encode_value(t[i], buf, len, depth)
  end
  len = len + 1; buf[len] = "]"
  return len
end

-- depth is the nesting level of t (1 for the top-level table). The tables
-- being encoded are kept in stack[1..depth]; the stack is reused across
-- calls (no allocation per encode; entries above depth are stale and never
-- read), and the cycle scan is short because depth is capped.
local stack = {}
function encode_table(t, buf, len, depth)
  if depth > MAX_ENCODE_DEPTH then
    error("JSON nesting deeper than " .. MAX_ENCODE_DEPTH .. " levels", 0)
  end
  for i = 1, depth - 1 do
    if rawequal(stack[i], t) then error("cycle in table", 0) end
  end
  stack[depth] = t
  local child_depth = depth + 1
  local mt = getmetatable(t)
  if mt == array_mt or mt == empty_array_mt then
    return encode_array(t, marked_array_length(t), buf, len, child_depth)
  end
  local n = #t
  if n > 0 then
    -- An array only when the keys are exactly 1..n.
    local count = 0
    for k in pairs(t) do
      if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
        count = -1
        break
      end
      count = count + 1
    end
    if count == n then return encode_array(t, n, buf, len, child_depth) end
  end
  len = len + 1
  local open = len
  buf[open] = "{"
  for k, v in pairs(t) do
    len = len + 1
    if len == open + 1 then
      buf[len] = key_cache[k] or encoded_key(k, false)
    else
      buf[len] = comma_key_cache[k] or encoded_key(k, true)
    end
    local tv = type(v)
    if tv == "string" then
      len = len + 1
      if match(v, PLAIN_PREFIX) <= #v then buf[len] = escape_string(v) else buf[len] = '"' .. v .. '"' end
    elseif tv == "number" then
      len = len + 1
      if v % 1 == 0 and v < TWO63 and v > -TWO63 then
        buf[len] = format("%d", v)
      else
        buf[len] = format_number(v)
      end
    elseif tv == "boolean" then
      len = len + 1; buf[len] = v and "true" or "false"
    else
      len = encode_value(v, buf, len, child_depth)
    end
  end
  len = len + 1; buf[len] = "}"
  return len
end

--- True when encode would write v as a JSON array (a table with keys
--- exactly 1..n, a table marked with array_mt/empty_array_mt, or empty_array).
function M.is_array(v)
  if type(v) ~= "table" then return false end
  if rawequal(v, empty_array) then return true end
  local mt = getmetatable(v)
  if mt == array_mt or mt == empty_array_mt then return true end
  if rawequal(v, null) then return false end
  local n = #v
  if n == 0 then return false end
  local count = 0
  for k in pairs(v) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return false end
    count = count + 1
  end
  return count == n
end

-- The buffer of the last encode, for the next one: a new table growing slot by
-- slot cost a quarter of encoding a small object. An encode takes it (a nested
-- one, from a __pairs metamethod, finds none and makes its own; one that raises
-- drops it). Only a buffer whose pieces were small is kept, since the stale
-- pieces above the next encode's length stay referenced until overwritten.
local spare_buf

--- Encode a Lua value as JSON text. Raises a plain string error (level 0).
function M.encode(v)
  local tv = type(v)
  if tv == "string" then return quote_string(v) end
  if tv == "number" then return format_number(v) end
  local buf = spare_buf
  if buf then spare_buf = nil else buf = {} end
  local len
  if tv == "table" and not rawequal(v, null) and not rawequal(v, empty_array) then
    len = encode_table(v, buf, 0, 1)
  else
    len = encode_value(v, buf, 0, 1)
  end
  local s = concat(buf, "", 1, len)
  if len <= 256 and #s <= 4096 then spare_buf = buf end
  return s
end

---------------------------------------------------------------------------
-- Decoder
---------------------------------------------------------------------------

local function describe_char(s, pos)
  local c = sub(s, pos, pos)
  if c == "" then return "end of input" end
  local b = byte(c)
  if b < 32 or b >= 127 then return format("character 0x%02X", b) end
  return "character '" .. c .. "'"
end

local function fail(s, pos, what)
  error((what or ("unexpected " .. describe_char(s, pos))) .. " at position " .. pos, 0)
end

-- Compact JSON has no whitespace between tokens: look at one byte before paying
-- for a pattern search (this halves decoding time on Lua 5.4).
local function skip_ws(s, pos)
  local c = byte(s, pos)
  if c ~= 32 and c ~= 10 and c ~= 13 and c ~= 9 then return pos end
  local _, e = find(s, "^[ \t\r\n]*", pos + 1)
  return e + 1
end

local function utf8_encode(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then
    return char(0xC0 + floor(cp / 0x40), 0x80 + cp % 0x40)
  end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 0x1000), 0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  return char(0xF0 + floor(cp / 0x40000), 0x80 + floor(cp / 0x1000) % 0x40,
    0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local simple_unescape = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b',
  f = '\f', n = '\n', r = '\r', t = '\t' }

-- Rejects invalid UTF-8 in a decoded piece of string text. offset is the
-- position of piece in the whole input, for the error message. Works on the
-- piece alone so that a scan never runs past the string's end.
local function check_utf8(piece, offset, s)
  local i = find(piece, "[\128-\255]")
  while i do
    local len = utf8_sequence_length(piece, i)
    if not len then fail(s, offset + i - 1, "invalid UTF-8 in string") end
    i = find(piece, "[\128-\255]", i + len)
  end
end

-- pos points at the opening quote. Returns the string and the position after it.
local function decode_string(s, pos)
  local start = pos + 1
  -- Fast path: plain ASCII up to the closing quote (one match, one copy).
  local e = match(s, PLAIN_PREFIX, start)
  if byte(s, e) == 34 then return sub(s, start, e - 1), e + 1 end
  e = find(s, '["\\%z\1-\31]', start)
  if not e then fail(s, #s + 1, "unterminated string") end
  if byte(s, e) == 34 then -- no escapes, but UTF-8 to check
    local text = sub(s, start, e - 1)
    check_utf8(text, start, s)
    return text, e + 1
  end
  local parts, n, i = {}, 0, start
  while true do
    local c = byte(s, e)
    if not c then fail(s, e, "unterminated string") end
    if e > i then
      local piece = sub(s, i, e - 1)
      check_utf8(piece, i, s)
      n = n + 1; parts[n] = piece
    end
    if c == 34 then break end
    if c ~= 92 then fail(s, e, "control character in string") end
    local esc = sub(s, e + 1, e + 1)
    local simple = simple_unescape[esc]
    if simple then
      n = n + 1; parts[n] = simple
      i = e + 2
    elseif esc == "u" then
      local hex = sub(s, e + 2, e + 5)
      if not find(hex, "^%x%x%x%x$") then fail(s, e, "invalid \\u escape") end
      local cp = tonumber(hex, 16)
      i = e + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        -- High surrogate: combine with a following low one, else U+FFFD.
        local lo = find(s, "^\\u[dD][c-fC-F]%x%x", i)
        if lo then
          local low = tonumber(sub(s, i + 2, i + 5), 16)
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (low - 0xDC00)
          i = i + 6
        else
          cp = 0xFFFD
        end
      elseif cp >= 0xDC00 and cp <= 0xDFFF then
        cp = 0xFFFD
      end
      n = n + 1; parts[n] = utf8_encode(cp)
    else
      fail(s, e, "invalid escape in string")
    end
    e = find(s, '["\\%z\1-\31]', i)
    if not e then fail(s, #s + 1, "unterminated string") end
  end
  return concat(parts, "", 1, n), e + 1
end

local function decode_number(s, pos)
  local _, e = find(s, "^-?%d+", pos)
  if not e then fail(s, pos) end
  local digits_at = byte(s, pos) == 45 and pos + 1 or pos
  if byte(s, digits_at) == 48 and e > digits_at then
    fail(s, digits_at, "leading zero in number")
  end
  local is_float = false
  if byte(s, e + 1) == 46 then -- '.'
    local _, fe = find(s, "^%d+", e + 2)
    if not fe then fail(s, e + 2, "expected digit after decimal point") end
    e, is_float = fe, true
  end
  local c = byte(s, e + 1)
  if c == 101 or c == 69 then -- 'e' / 'E'
    local _, xe = find(s, "^[-+]?%d+", e + 2)
    if not xe then fail(s, e + 2, "expected digit in exponent") end
    e, is_float = xe, true
  end
  local text = sub(s, pos, e)
  local value = tonumber(text)
  if not is_float and tointeger then
    -- tonumber gives an integer when it fits; beyond int64 it gives a float.
    value = tointeger(value) or value
  end
  return value, e + 1
end

local decode_value

local function decode_array(s, pos, depth, opts)
  local arr, n = setmetatable({}, array_mt), 0
  pos = skip_ws(s, pos + 1)
  if byte(s, pos) == 93 then return arr, pos + 1 end
  while true do
    local v
    v, pos = decode_value(s, pos, depth, opts)
    n = n + 1
    arr[n] = v
    local c = byte(s, pos)
    if c ~= 44 and c ~= 93 then
      pos = skip_ws(s, pos)
      c = byte(s, pos)
    end
    if c == 93 then return arr, pos + 1 end
    if c ~= 44 then fail(s, pos) end
    pos = skip_ws(s, pos + 1)
  end
end

local function decode_object(s, pos, depth, opts)
  local obj = {}
  pos = skip_ws(s, pos + 1)
  if byte(s, pos) == 125 then return obj, pos + 1 end
  while true do
    if byte(s, pos) ~= 34 then fail(s, pos) end
    local key, v
    -- Compact JSON ("key":value) takes the inline path: plain key, colon, and
    -- a plain string value, without a call per token.
    local e = match(s, PLAIN_PREFIX, pos + 1)
    if byte(s, e) == 34 and byte(s, e + 1) == 58 then
      key, pos = sub(s, pos + 1, e - 1), e + 2
    else
      key, pos = decode_string(s, pos)
      if byte(s, pos) ~= 58 then
        pos = skip_ws(s, pos)
        if byte(s, pos) ~= 58 then fail(s, pos) end
      end
      pos = skip_ws(s, pos + 1)
    end
    local c = byte(s, pos)
    if c == 34 then -- most values are strings: skip the dispatch
      e = match(s, PLAIN_PREFIX, pos + 1)
      if byte(s, e) == 34 then
        v, pos = sub(s, pos + 1, e - 1), e + 1
      else
        v, pos = decode_string(s, pos)
      end
    elseif c == 32 or c == 10 or c == 13 or c == 9 then
      v, pos = decode_value(s, skip_ws(s, pos), depth, opts)
    else
      v, pos = decode_value(s, pos, depth, opts)
    end
    obj[key] = v
    local c = byte(s, pos)
    if c ~= 44 and c ~= 125 then
      pos = skip_ws(s, pos)
      c = byte(s, pos)
    end
    if c == 125 then return obj, pos + 1 end
    if c ~= 44 then fail(s, pos) end
    pos = skip_ws(s, pos + 1)
  end
end

-- pos must point at the first byte of the value (whitespace already skipped).
function decode_value(s, pos, depth, opts)
  local c = byte(s, pos)
  if c == 34 then return decode_string(s, pos) end
  if c == 123 or c == 91 then
    if depth >= MAX_DECODE_DEPTH then
      fail(s, pos, "JSON nesting deeper than " .. MAX_DECODE_DEPTH .. " levels")
    end
    if c == 123 then return decode_object(s, pos, depth + 1, opts) end
    return decode_array(s, pos, depth + 1, opts)
  end
  if c == 45 or (c and c >= 48 and c <= 57) then return decode_number(s, pos) end
  if c == 116 and sub(s, pos, pos + 3) == "true" then return true, pos + 4 end
  if c == 102 and sub(s, pos, pos + 4) == "false" then return false, pos + 5 end
  if c == 110 and sub(s, pos, pos + 3) == "null" then return opts.null, pos + 4 end
  fail(s, pos)
end

local default_opts = {}

--- Decode JSON text. opts.null: value to use for JSON null (default nil).
function M.decode(s, opts)
  if type(s) ~= "string" then
    error("JSON text must be a string, got " .. type(s), 0)
  end
  opts = opts or default_opts
  local pos = skip_ws(s, 1)
  local value
  value, pos = decode_value(s, pos, 0, opts)
  pos = skip_ws(s, pos)
  if pos <= #s then fail(s, pos) end
  return value
end

---------------------------------------------------------------------------
-- cjson-compatible facade
---------------------------------------------------------------------------

--- A table shaped like lua-cjson (safe=true: cjson.safe, errors as nil, err).
function M.new_cjson(safe)
  local c = {
    _NAME = safe and "cjson.safe" or "cjson",
    _VERSION = "2.1.0-rover",
    null = null,
    empty_array = empty_array,
    array_mt = array_mt,
    empty_array_mt = empty_array_mt,
  }
  local null_opts = { null = null }
  local encode = M.encode
  local function decode(s) return M.decode(s, null_opts) end
  if safe then
    c.encode = function(v)
      local ok, res = pcall(encode, v)
      if ok then return res end
      return nil, res
    end
    c.decode = function(s)
      local ok, res = pcall(decode, s)
      if ok then return res end
      return nil, res
    end
  else
    c.encode, c.decode = encode, decode
  end
  -- Configuration setters of lua-cjson. This encoder has fixed behaviour, so
  -- each accepts its arguments and reports the behaviour actually used.
  c.encode_empty_table_as_object = function() return true end
  c.decode_array_with_array_mt = function() return true end
  c.encode_max_depth = function() return MAX_ENCODE_DEPTH end
  c.decode_max_depth = function() return MAX_DECODE_DEPTH end
  c.encode_number_precision = function() return 17 end
  c.encode_keep_buffer = function() return true end
  c.encode_invalid_numbers = function() return "null" end
  c.decode_invalid_numbers = function() return false end
  c.encode_escape_forward_slash = function() return false end
  c.encode_sparse_array = function() return false, 2, 10 end
  c.new = function() return M.new_cjson(safe) end
  return c
end

return M
