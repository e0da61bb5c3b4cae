-- prelude.lua: runs first in every runtime, before any app code. It keeps the few
-- privileged functions rover needs (debug.sethook, debug.traceback) in locals,
-- then strips the globals down to the sandbox of docs/sandbox.md, and returns the
-- helpers the rest of the bootstrap uses. Runs on Lua 5.4 and LuaJIT 2.1.
local read_module = ...

local sethook = debug and debug.sethook
-- Kept for load-time introspection by Python (OpenAPI), never given to app code.
local getinfo, getupvalue = debug and debug.getinfo, debug and debug.getupvalue
local traceback = debug and debug.traceback or function(m) return m end
local raw_load, loadstring, setfenv = load, rawget(_G, "loadstring"), rawget(_G, "setfenv")
local type, error, tostring, sfind, sgsub = type, error, tostring, string.find, string.gsub

-- compile(source, chunkname, env): text chunks only (binary chunks are refused,
-- they can crash the VM), with `env` as the chunk's globals on both engines.
local function compile(source, chunkname, env)
  if type(source) ~= "string" then return nil, "source must be a string" end
  if source:byte(1) == 27 then return nil, chunkname .. ": binary chunks are not allowed" end
  if setfenv and loadstring then
    local fn, err = loadstring(source, chunkname)
    if not fn then return nil, err end
    if env then setfenv(fn, env) end
    -- One value on success: Python callers (lupa) would otherwise get (fn, nil).
    return fn
  end
  -- Lua 5.4 treats an explicit nil env as "no globals", so only pass a real one.
  if env == nil then return raw_load(source, chunkname, "t") end
  return raw_load(source, chunkname, "t", env)
end

-- The sandbox: what app code may reach. See docs/sandbox.md for the list.
local os_time, os_clock, os_date, os_difftime = os.time, os.clock, os.date, os.difftime
_G.os = { time = os_time, clock = os_clock, date = os_date, difftime = os_difftime }
_G.io = nil
_G.debug = { traceback = traceback }
_G.dofile = nil
_G.loadfile = nil
_G.python = nil
_G.jit = nil  -- LuaJIT's compiler controls (jit.off, jit.opt) are not for app code
_G.unpack = rawget(_G, "unpack") or table.unpack
_G.string.dump = nil
if rawget(_G, "loadstring") then
  _G.loadstring = function(s, name) return compile(s, name or "=(loadstring)", nil) end
end
_G.load = function(chunk, name, mode, env)
  if type(chunk) ~= "string" then return nil, "load: only string chunks are allowed" end
  return compile(chunk, name or "=(load)", env)
end
-- Modules come only from package.preload and the app's own folder.
local package = _G.package
package.loadlib = nil
package.cpath = ""
package.path = ""
-- require() looks in package.loaded first, and the engines put the unrestricted
-- libraries there (io, os, debug, ffi, jit, lupa's `python`): replace or drop them so
-- require("io") cannot hand back what the globals no longer have.
local loaded = package.loaded
for name in pairs(loaded) do
  if name ~= "string" and name ~= "table" and name ~= "math" and name ~= "coroutine"
     and name ~= "utf8" and name ~= "bit" then
    loaded[name] = nil
  end
end
loaded._G = _G
loaded.os = _G.os
loaded.debug = _G.debug
loaded.package = package
package.preload = {}
local app_env
local function app_searcher(name)
  local source, path = read_module(name)
  if source == nil then return "\n\tno module '" .. tostring(name) .. "' in the app folder" end
  local fn, err = compile(source, "@" .. path, app_env)
  if not fn then error(err, 0) end
  return fn, path
end
local function preload_searcher(name)
  local f = package.preload[name]
  if f then return f end
  return "\n\tno field package.preload['" .. tostring(name) .. "']"
end
if package.searchers then
  package.searchers = { preload_searcher, app_searcher }
else
  package.loaders = { preload_searcher, app_searcher }
end
-- Strings share one metatable; keep app code from replacing its methods.
local string_mt = getmetatable("")
if string_mt then string_mt.__metatable = false end

return {
  compile = compile,
  sethook = sethook,
  traceback = traceback,
  set_app_env = function(env) app_env = env end,
  globals = _G,
  getinfo = getinfo,
  getupvalue = getupvalue,
}
