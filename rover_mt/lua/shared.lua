-- rover.shared: dictionaries shared by all workers (SPEC section 10).
--
-- The chunk returns a constructor: make(call) -> the rover.shared table.
-- `call` is SharedStore.call from rover_mt/worker/shared_store.py (any
-- function with the same contract works): call(name, op, key, a, b) returns
-- its results as multiple values (lupa's unpack_returned_tuples=True).
--
--   local cache = rover.shared.cache          -- created on first use
--   cache:set("k", "v", 10)                    -- ttl in seconds (optional)
--   cache:get("k")                             --> "v"
--
-- Methods are called with a colon, as with OpenResty's ngx.shared.DICT.

local type, tostring, tonumber, error, setmetatable, getmetatable, rawset =
  type, tostring, tonumber, error, setmetatable, getmetatable, rawset
local find, sub, format = string.find, string.sub, string.format

local function key_text(key)
  local tk = type(key)
  if tk == "string" then return key end
  if tk == "number" then
    -- 3 and 3.0 are the same key (tostring(3.0) is "3.0" on Lua 5.4).
    if key % 1 == 0 and key > -2 ^ 53 and key < 2 ^ 53 then return format("%d", key) end
    return tostring(key)
  end
  error("rover.shared: key must be a string or number, got " .. tk, 3)
end

local function check_value(value)
  local tv = type(value)
  if tv == "string" or tv == "number" or tv == "boolean" or tv == "nil" then return value end
  error("rover.shared: value must be a string, number, boolean or nil, got " .. tv, 3)
end

local function check_ttl(ttl)
  if ttl == nil then return nil end
  if type(ttl) ~= "number" or ttl ~= ttl or ttl < 0 then
    error("rover.shared: ttl must be a number of seconds >= 0, got " .. tostring(ttl), 3)
  end
  return ttl
end

return function(call)
  local dict_mt = {}
  local methods = {}
  dict_mt.__index = methods

  local function self_name(self, method)
    if getmetatable(self) ~= dict_mt then
      error("rover.shared: call " .. method .. " with a colon, e.g. rover.shared.cache:" .. method .. "(...)", 3)
    end
    return self.name
  end

  --- dict:get(key) -> value or nil
  function methods.get(self, key)
    return (call(self_name(self, "get"), "get", key_text(key)))
  end

  --- dict:set(key, value, ttl?) -> true (a nil value deletes the key)
  function methods.set(self, key, value, ttl)
    local name = self_name(self, "set")
    return (call(name, "set", key_text(key), check_value(value), check_ttl(ttl)))
  end

  --- dict:add(key, value, ttl?) -> true, or false, "exists"
  function methods.add(self, key, value, ttl)
    local name = self_name(self, "add")
    if value == nil then error("rover.shared: add needs a value", 2) end
    local ok, err = call(name, "add", key_text(key), check_value(value), check_ttl(ttl))
    if ok then return true end
    return false, err
  end

  --- dict:incr(key, step?, init?) -> new value, or nil, "not found" / "not a number"
  function methods.incr(self, key, step, init)
    local name = self_name(self, "incr")
    if step == nil then step = 1 end
    if type(step) ~= "number" then
      error("rover.shared: incr step must be a number, got " .. type(step), 2)
    end
    if init ~= nil and type(init) ~= "number" then
      error("rover.shared: incr init must be a number, got " .. type(init), 2)
    end
    return call(name, "incr", key_text(key), step, init)
  end

  --- dict:delete(key) -> true
  function methods.delete(self, key)
    return (call(self_name(self, "delete"), "delete", key_text(key)))
  end

  --- dict:ttl(key) -> remaining seconds (0: never expires), or nil, "not found"
  function methods.ttl(self, key)
    return call(self_name(self, "ttl"), "ttl", key_text(key))
  end

  --- dict:keys(max?) -> array of keys (default at most 1024; 0 means all)
  function methods.keys(self, max)
    local name = self_name(self, "keys")
    if max ~= nil and type(max) ~= "number" then
      error("rover.shared: keys max must be a number, got " .. type(max), 2)
    end
    -- The store packs the keys as "<len>:<bytes>" items in one string
    -- (a call cannot return thousands of values on LuaJIT).
    local packed, err = call(name, "keys", nil, max)
    if packed == nil then error("rover.shared: " .. tostring(err), 2) end
    local out, n, pos, len = {}, 0, 1, #packed
    while pos <= len do
      local colon = find(packed, ":", pos, true)
      local size = tonumber(sub(packed, pos, colon - 1))
      n = n + 1
      out[n] = sub(packed, colon + 1, colon + size)
      pos = colon + size + 1
    end
    return out
  end

  --- dict:flush() -> true (removes every key)
  function methods.flush(self)
    return (call(self_name(self, "flush"), "flush"))
  end
  methods.flush_all = methods.flush

  local shared_mt = {
    __index = function(t, name)
      if type(name) ~= "string" then
        error("rover.shared: dictionary names are strings, got " .. type(name), 2)
      end
      local d = setmetatable({ name = name }, dict_mt)
      rawset(t, name, d)
      return d
    end,
    __newindex = function()
      error("rover.shared: dictionaries are created by use (rover.shared.<name>), not assigned", 2)
    end,
  }
  return setmetatable({}, shared_mt)
end
