-- rover.lua: the Rover DSL (rover.server, nested-table routes, builders), the
-- request context and the per-request dispatch, for one worker runtime.
--
-- The chunk returns setup(deps) -> core. `deps` carries what Python provides:
--   json, guard, html, shared  (the library modules, already loaded)
--   get(req, field)           fetch a request field lazily (bytes); needs the GIL, so
--                              it is only called when a handler asks for that field.
--                              `req` is the request's number (worker/runtime.py,
--                              RequestSlots), valid while the request runs
--   sethook                   debug.sethook, kept privately before the sandbox drops debug
--   traceback                 debug.traceback, kept the same way
--   log(level, request_id, message)
--   worker_id, worker_count
-- Everything here must run on Lua 5.4 and on LuaJIT 2.1 (Lua 5.1 semantics).

return function(deps)
  local json, guard, html = deps.json, deps.guard, deps.html
  local get_field, traceback = deps.get, deps.traceback
  local type, pairs, ipairs, tostring, tonumber = type, pairs, ipairs, tostring, tonumber
  local setmetatable, getmetatable, rawget, rawset = setmetatable, getmetatable, rawget, rawset
  local error, select, xpcall = error, select, xpcall
  local sfind, sformat, sgsub, ssub, slower, supper, sbyte, schar =
    string.find, string.format, string.gsub, string.sub, string.lower, string.upper,
    string.byte, string.char
  local concat, sort = table.concat, table.sort
  local floor, huge = math.floor, math.huge
  local math_type = math.type -- nil on LuaJIT

  local core = {}
  local rover = {}

  ---------------------------------------------------------------------------
  -- Errors raised by the API itself (no body, bad JSON ...): tables with a
  -- status, answered as {"error": message}. Handlers may raise the same shape.
  ---------------------------------------------------------------------------
  local ClientError_mt = { __tostring = function(e) return e.message end }
  local function client_error(status, message)
    error(setmetatable({ status = status, message = message }, ClientError_mt), 0)
  end

  -- Sentinel raised by the deadline hook; recognised by identity.
  local TIMEOUT = setmetatable({}, { __tostring = function() return "Handler timed out" end })

  ---------------------------------------------------------------------------
  -- Responses
  ---------------------------------------------------------------------------
  local Response = {}
  Response.__index = Response
  local TEXT = "text/plain; charset=utf-8"
  local HTML = "text/html; charset=utf-8"
  local JSONT = "application/json"
  local OCTET = "application/octet-stream"

  local function new_response(status, ctype, body)
    return setmetatable({ status = status, ctype = ctype, body = body }, Response)
  end

  --- Add a header; returns the response so calls chain.
  function Response:header(name, value)
    if getmetatable(self) ~= Response then
      error("header() must be called on a response (use a colon: resp:header(k, v))", 2)
    end
    local h = rawget(self, "headers")
    if not h then h = {}; self.headers = h end
    h[#h + 1] = tostring(name)
    h[#h + 1] = tostring(value)
    return self
  end

  local function is_response(v) return getmetatable(v) == Response end
  core.is_response = is_response

  -- A builder is a callable table: api.json(t), api:json(t), api.json:status(c, t)
  -- and api.json.status(c, t) must all work. `owner` is the api table, so a colon
  -- call on it (which passes api as the first argument) is recognised and skipped.
  local function builder(owner, make, make_status)
    local b = {}
    local function strip(first, ...)
      if rawequal(first, owner) or rawequal(first, b) then return ... end
      return first, ...
    end
    b.status = function(...) return make_status(strip(...)) end
    return setmetatable(b, { __call = function(_, ...) return make(strip(...)) end })
  end

  local function check_status(code)
    local n = tonumber(code)
    if not n or n ~= floor(n) or n < 100 or n > 599 then
      error(sformat("invalid status code %s (must be an integer 100..599)", tostring(code)), 0)
    end
    return floor(n)
  end

  local function html_builder(status, arg)
    if type(arg) == "table" and not is_response(arg) then
      -- api.html(data) [[ template ]]
      return function(template)
        return new_response(status, HTML, html(arg)(template))
      end
    end
    return new_response(status, HTML, tostring(arg == nil and "" or arg))
  end

  local function install_builders(api)
    rawset(api, "json", builder(api,
      function(t) return new_response(200, JSONT, t) end,
      function(code, t) return new_response(check_status(code), JSONT, t) end))
    rawset(api, "text", builder(api,
      function(s) return new_response(200, TEXT, tostring(s)) end,
      function(code, s) return new_response(check_status(code), TEXT, tostring(s)) end))
    rawset(api, "html", builder(api,
      function(a) return html_builder(200, a) end,
      function(code, a) return html_builder(check_status(code), a) end))
    rawset(api, "raw", builder(api,
      function(s) return new_response(200, OCTET, tostring(s)) end,
      function(code, s) return new_response(check_status(code), OCTET, tostring(s)) end))
    local redirect = builder(api,
      function(url) return new_response(302, nil, ""):header("Location", url) end,
      function(code, url) return new_response(check_status(code), nil, ""):header("Location", url) end)
    rawset(redirect, "permanent", function(...)
      local first = ...
      if rawequal(first, redirect) or rawequal(first, api) then
        return new_response(301, nil, ""):header("Location", select(2, ...))
      end
      return new_response(301, nil, ""):header("Location", first)
    end)
    rawset(api, "redirect", redirect)
    local function make_error(code, message)
      code = check_status(code)
      if guard and guard.is_validation_error(message) then
        return new_response(code, JSONT, { errors = message.errors })
      end
      if type(message) == "table" and message.message ~= nil then message = message.message end
      return new_response(code, JSONT, { error = message == nil and "" or tostring(message) })
    end
    rawset(api, "error", builder(api, make_error, make_error))
    rawset(api, "no_content", builder(api,
      function() return new_response(204, nil, "") end,
      function(code) return new_response(check_status(code), nil, "") end))
    local function make_response(spec)
      if type(spec) ~= "table" then error("api.response expects a table", 2) end
      local status = check_status(spec.status or 200)
      local body, ctype = spec.body, nil
      if type(body) == "table" then ctype = JSONT
      elseif body == nil then body = ""
      else body = tostring(body); ctype = TEXT end
      local r = new_response(status, ctype, body)
      if type(spec.headers) == "table" then
        local names = {}
        for k in pairs(spec.headers) do names[#names + 1] = tostring(k) end
        sort(names)
        for _, k in ipairs(names) do
          local v = spec.headers[k]
          if slower(k) == "content-type" then r.ctype = tostring(v) else r:header(k, v) end
        end
      end
      return r
    end
    rawset(api, "response", builder(api, make_response, make_response))
  end

  ---------------------------------------------------------------------------
  -- rover.server {} and the nested route tables
  ---------------------------------------------------------------------------
  local METHODS = { get = true, post = true, put = true, patch = true, delete = true,
                    head = true, options = true }
  local RESERVED = { json = true, text = true, html = true, redirect = true, error = true,
                     no_content = true, raw = true, response = true, config = true }
  core.RESERVED = RESERVED

  local Node_mt = {}
  -- Reading a missing child creates it, so `function api.users.p_id.get()` works
  -- without declaring the intermediate tables. Method names are never created.
  Node_mt.__index = function(t, k)
    if type(k) ~= "string" or METHODS[slower(k)] then return nil end
    local child = setmetatable({}, Node_mt)
    rawset(t, k, child)
    return child
  end

  local servers = setmetatable({}, { __mode = "k" })

  -- Per-route options, declared next to the handler without changing it:
  --   api.slow.get = rover.route { timeout = 2, summary = "Slow thing" } (function(ctx) ... end)
  -- Keyed by the function, so the same handler may serve several routes.
  local route_meta = setmetatable({}, { __mode = "k" })
  function rover.route(opts)
    if type(opts) ~= "table" then error("rover.route expects a table of options", 2) end
    local t = opts.timeout
    if t ~= nil and (type(t) ~= "number" or t <= 0 or t ~= t) then
      error("rover.route: timeout must be a positive number of seconds", 2)
    end
    if opts.inline ~= nil and type(opts.inline) ~= "boolean" then
      error("rover.route: inline must be true or false", 2)
    end
    return function(fn)
      if type(fn) ~= "function" then error("rover.route{...} must be applied to a function", 2) end
      route_meta[fn] = opts
      return fn
    end
  end

  function rover.server(opts)
    if opts ~= nil and type(opts) ~= "table" then
      error("rover.server expects a table of options", 2)
    end
    local api = setmetatable({}, Node_mt)
    install_builders(api)
    rawset(api, "config", opts or {})
    servers[api] = true
    return api
  end

  -- Walk the route tables: returns a list of {template, method, fn, source} sorted
  -- by template then method, or raises one error naming the offending path.
  local function collect_routes(api)
    local routes = {}
    local function walk(node, segments, where, top)
      local keys = {}
      for k in pairs(node) do
        if type(k) ~= "string" then
          error(sformat("%s: route keys must be strings, got %s key %s", where, type(k), tostring(k)), 0)
        end
        if not (top and RESERVED[k]) then
          keys[#keys + 1] = k
        elseif type(rawget(node, k)) == "table" then
          -- `function api.text.get()` would silently vanish into the builder.
          for mk, mv in pairs(rawget(node, k)) do
            if type(mk) == "string" and METHODS[slower(mk)] and type(mv) == "function" then
              error(sformat("api.%s.%s: '%s' is a reserved builder name on the top-level table "
                .. "and cannot hold routes (use another segment name)", k, mk, k), 0)
            end
          end
        end
      end
      sort(keys)
      for _, k in ipairs(keys) do
        local v = rawget(node, k)
        local here = where .. (sfind(k, "^[%a_][%w_]*$") and ("." .. k) or sformat("[%q]", k))
        if type(v) == "function" then
          local m = slower(k)
          if not METHODS[m] then
            error(sformat("%s: a function must be under a method key (get post put patch delete head options), not '%s'", here, k), 0)
          end
          local template = "/" .. concat(segments, "/")
          routes[#routes + 1] = { template = template, method = supper(m), fn = v, source = here,
                                  meta = route_meta[v] }
        elseif type(v) == "table" then
          if METHODS[slower(k)] then
            error(sformat("%s: the method key '%s' must hold a function, got a table", here, k), 0)
          end
          local seg
          if ssub(k, 1, 2) == "p_" then
            local name = ssub(k, 3)
            if ssub(name, 1, 1) == "*" then
              if #name == 1 then error(sformat("%s: catch-all parameter 'p_*' has no name", here), 0) end
              seg = "{*" .. ssub(name, 2) .. "}"
            else
              if name == "" then error(sformat("%s: parameter 'p_' has no name", here), 0) end
              seg = "{" .. name .. "}"
            end
          else
            if k == "" or sfind(k, "[/{}]") then
              error(sformat("%s: a path segment may not be empty or contain '/', '{' or '}'", here), 0)
            end
            seg = k
          end
          segments[#segments + 1] = seg
          walk(v, segments, here, false)
          segments[#segments] = nil
        else
          error(sformat("%s: route values must be tables or functions, got %s", here, type(v)), 0)
        end
      end
    end
    walk(api, {}, "api", true)
    return routes
  end

  ---------------------------------------------------------------------------
  -- Loading the app: globals and per-request isolation
  ---------------------------------------------------------------------------
  -- The app's chunk runs with `env` as its globals table. `env` is an empty proxy:
  -- while loading, reads and writes go to app_globals; during a request they go to
  -- a fresh table that falls back to app_globals, so a request's global writes are
  -- never seen by the next request (SPEC 10).
  local sandbox_G = deps.globals
  local app_globals = setmetatable({}, { __index = sandbox_G })
  local env_mt = { __index = app_globals, __newindex = app_globals }
  local env = setmetatable({}, env_mt)
  local request_globals_mt = { __index = app_globals }
  core.env = env
  -- During a request, until its first global write: reads see app_globals as a
  -- fresh, empty request table would, and the first write makes that table
  -- (most requests never write a global, and a table each cost a tenth of a
  -- small request's time in Lua).
  local function first_request_write(_, k, v)
    local req_env = setmetatable({}, request_globals_mt)
    env_mt.__index = req_env
    env_mt.__newindex = req_env
    req_env[k] = v
  end

  local handlers = {}   -- handler id -> { fn, param names, template }
  -- Handler id 0 is never routed (Python numbers handlers from 1): a handler
  -- that does nothing, whose calls tell what a call costs on this machine
  -- whatever the handler (InlineRunner.measure_call_cost, worker/inline.py).
  handlers[0] = { fn = function() return { ok = true } end, params = {}, nparams = 0,
                  template = "" }
  local app_routes

  function core.load_app(source, chunkname)
    local fn, err = deps.compile(source, chunkname, env)
    if not fn then error(err, 0) end
    local ok, api = pcall(fn)
    if not ok then error(tostring(api), 0) end
    if type(api) ~= "table" or not servers[api] then
      error(sformat("%s: the app must `return` the table made by rover.server { ... }, got %s",
        ssub(chunkname, 2), type(api)), 0)
    end
    app_routes = collect_routes(api)
    core.api = api
    return api.config
  end

  -- Route list for Python: template, method, source per route, in a stable order.
  function core.route_list()
    local out = {}
    for i, r in ipairs(app_routes) do
      out[i] = { r.template, r.method, r.source, r.meta and r.meta.timeout or false,
                 (r.meta and r.meta.inline == false) and true or false }
    end
    return out
  end

  -- The options given with rover.route{...} for route i of route_list(), or nil.
  function core.route_meta(i)
    local r = app_routes[i]
    return r and r.meta
  end

  -- The handler function of route i (for load-time introspection such as OpenAPI).
  function core.route_function(i)
    local r = app_routes[i]
    return r and r.fn
  end

  -- Python assigns handler ids (identical in every worker) after building the router.
  function core.bind(hid, template, method, param_names)
    for _, r in ipairs(app_routes) do
      if r.template == template and r.method == method then
        handlers[hid] = { fn = r.fn, params = param_names, nparams = #param_names,
                          template = template }
        return true
      end
    end
    error(sformat("no handler for %s %s", method, template), 0)
  end

  ---------------------------------------------------------------------------
  -- The request context
  ---------------------------------------------------------------------------
  local function url_decode(s, plus)
    if plus then s = sgsub(s, "+", " ") end
    return (sgsub(s, "%%(%x%x)", function(h) return schar(tonumber(h, 16)) end))
  end

  local function parse_query(qs)
    local last, all = {}, {}
    if qs == nil or qs == "" then return last, all end
    for pair in string.gmatch(qs, "[^&]+") do
      local eq = sfind(pair, "=", 1, true)
      local k, v
      if eq then k, v = ssub(pair, 1, eq - 1), ssub(pair, eq + 1) else k, v = pair, "" end
      k, v = url_decode(k, true), url_decode(v, true)
      last[k] = v
      local list = all[k]
      if not list then list = {}; all[k] = list end
      list[#list + 1] = v
    end
    return last, all
  end

  -- Header table: keys are lower case; lookups of any case work via __index.
  local Headers_mt = { __index = function(t, k)
    if type(k) ~= "string" then return nil end
    local lk = slower(k)
    if lk == k then
      local alt = sgsub(lk, "_", "-")
      if alt ~= lk then return rawget(t, alt) end
      return nil
    end
    return rawget(t, lk) or rawget(t, (sgsub(lk, "_", "-")))
  end }

  local function parse_headers(blob)
    local h = {}
    for line in string.gmatch(blob, "[^\n]+") do
      local c = sfind(line, ":", 1, true)
      if c then
        local k, v = ssub(line, 1, c - 1), ssub(line, c + 1)
        local old = rawget(h, k)
        rawset(h, k, old and (old .. ", " .. v) or v)
      end
    end
    return setmetatable(h, Headers_mt)
  end

  local Body = {}
  Body.__index = Body
  function Body:text() return self._raw end
  function Body:raw() return self._raw end
  function Body:bytes()
    local s, out = self._raw, {}
    for i = 1, #s do out[i] = sbyte(s, i) end
    return out
  end
  function Body:json()
    local cached = rawget(self, "_json")
    if cached ~= nil then return cached end
    local ok, v = pcall(json.decode, self._raw)
    if not ok then client_error(400, "Invalid JSON in request body: " .. tostring(v)) end
    self._json = v
    return v
  end
  function Body:expect(schema)
    local data = self:json()
    if type(data) ~= "table" or (json.is_array and json.is_array(data)) then
      client_error(400, "Request body must be a JSON object")
    end
    return guard(data, schema)
  end

  local Ctx = {}
  local ctx_getters = {}
  function ctx_getters.request_id(c) return get_field(c._req, "request_id") end
  function ctx_getters.client_ip(c) return get_field(c._req, "client_ip") end
  function ctx_getters.route(c) return c._h.template end
  function ctx_getters.method(c) return get_field(c._req, "method") end
  function ctx_getters.path(c) return get_field(c._req, "path") end
  local Ctx_mt = { __index = function(c, k)
    local m = Ctx[k]
    if m then return m end
    local g = ctx_getters[k]
    if g then
      local v = g(c)
      rawset(c, k, v)
      return v
    end
    return nil
  end }
  -- Methods work with a dot or a colon: ctx.params() and ctx:params(); a dot call
  -- passes no self, so the context of the running request is used.
  local current_ctx
  local function ctx_of(self)
    if getmetatable(self) == Ctx_mt then return self end
    return current_ctx
  end
  -- The table of a route with parameters is made with the ctx (core.dispatch):
  -- nearly every such handler reads it, and made later it cost a table of the
  -- values, this call's lookups and a resize of the ctx.
  Ctx.params = function(self)
    local c = ctx_of(self)
    local p = rawget(c, "_params")
    if not p then
      p = {}
      c._params = p
    end
    return p
  end
  local function query_pair(c)
    local q = rawget(c, "_query")
    if not q then
      local last, all = parse_query(get_field(c._req, "query"))
      q = { last, all }
      c._query = q
    end
    return q
  end
  Ctx.query = function(self) return query_pair(ctx_of(self))[1] end
  Ctx.query_all = function(self) return query_pair(ctx_of(self))[2] end
  Ctx.headers = function(self)
    local c = ctx_of(self)
    local h = rawget(c, "_headers")
    if not h then h = parse_headers(get_field(c._req, "headers")); c._headers = h end
    return h
  end
  Ctx.body = function(self)
    local c = ctx_of(self)
    local b = rawget(c, "_body")
    if b == nil then
      -- Small bodies come with the call (no GIL needed here); larger ones are
      -- fetched from Python only when a handler asks (false: not passed).
      local raw = c._raw
      if raw == false then raw = get_field(c._req, "body") end
      if raw == nil then client_error(400, "Request body is required") end
      b = setmetatable({ _raw = raw }, Body)
      c._body = b
    end
    return b
  end

  ---------------------------------------------------------------------------
  -- Turning a handler's result into status, content type, headers and body
  ---------------------------------------------------------------------------
  local function header_blob(list)
    if not list then return nil end
    local parts = {}
    for i = 1, #list, 2 do
      local k, v = list[i], list[i + 1]
      if sfind(k, "[%z\r\n:]") or k == "" or sfind(v, "[%z\r\n]") then
        error(sformat("refused response header %q (CR, LF or NUL in name or value)", k), 0)
      end
      parts[#parts + 1] = k .. ": " .. v
    end
    return concat(parts, "\r\n")
  end

  local function number_text(n)
    if math_type then
      if math_type(n) == "integer" then return tostring(n) end
    end
    if n == floor(n) and n > -1e15 and n < 1e15 then return sformat("%d", n) end
    return sformat("%.14g", n)
  end

  local function encode_body(body)
    if type(body) == "table" then return json.encode(body) end
    return body
  end

  local function finish(result)
    local t = type(result)
    if t == "table" then
      if getmetatable(result) == Response then
        local body = encode_body(result.body)
        return result.status, body, result.ctype, header_blob(rawget(result, "headers"))
      end
      return 200, json.encode(result), JSONT, nil
    elseif t == "string" then return 200, result, TEXT, nil
    elseif t == "nil" then return 204, "", nil, nil
    elseif t == "number" then return 200, number_text(result), TEXT, nil
    elseif t == "boolean" then return 200, tostring(result), TEXT, nil
    end
    error("Unsupported return type: " .. t, 0)
  end

  local function error_body(msg) return json.encode({ error = msg }) end

  -- Map a raised error value to (status, body, log message or nil).
  local function answer_error(e, tb)
    if e == TIMEOUT then return 504, error_body("Handler timed out"), nil end
    if type(e) == "table" then
      if guard and guard.is_validation_error(e) then
        return 400, json.encode({ errors = e.errors }), nil
      end
      local st = tonumber(rawget(e, "status"))
      if st and st == floor(st) and st >= 100 and st <= 599 then
        local m = rawget(e, "message")
        return st, error_body(m == nil and "" or tostring(m)), (st >= 500 and tostring(m) or nil)
      end
      local m = rawget(e, "message")
      return 500, nil, "error object is a table without a valid status"
        .. (m ~= nil and (": " .. tostring(m)) or "")
    end
    if e == nil then return 500, nil, "error(nil) raised" end
    return 500, nil, tostring(e)
  end

  local last_traceback

  ---------------------------------------------------------------------------
  -- Deadlines. No hook is active while handlers run normally: on Lua 5.4 any
  -- hook puts the VM in trap mode and slows every instruction (measured 2.2x on
  -- a pure-Lua loop). When a request's deadline passes (or its client leaves),
  -- Python's watchdog installs a count-1 hook on this runtime's threads from
  -- another thread (lua_sethook is async-safe; see rover_mt/worker/interrupt.py).
  -- The C hook it installs is ldblib's own, which calls the Lua function
  -- registered for the running thread in the registry's hook table: that is
  -- deadline_hook, registered here with mask "" (no C hook turned on).
  -- deadline_hook raises TIMEOUT at every instruction until the handler has
  -- unwound, so pcall cannot swallow it, and the xpcall wrapper below skips the
  -- user's message handler once the request has timed out (a message handler
  -- called from inside a hook runs with hooks off, so it could loop forever).
  ---------------------------------------------------------------------------
  local sethook = deps.sethook
  local in_handler = false -- true only while the handler itself runs
  local timed_out = false
  -- Batches (core.respond_batch): the position of the running request in its
  -- batch, Python's answer to "must request i stop?", and whether the hook fired
  -- for a request of the batch other than the running one.
  local batch_index = nil
  local should_stop = nil
  local interrupt_seen = false
  local function deadline_hook()
    -- Armed by Python only for the request that is running (or, in a race,
    -- just finished: then in_handler is already false and this is a no-op
    -- until the worker disarms the hook). In a batch Python cannot tell which
    -- request runs, so it arms the hook for the batch and the hook asks.
    if in_handler then
      if batch_index and should_stop and not should_stop(batch_index) then
        -- Meant for another request of the batch: stop hooking this thread (the
        -- function stays registered, so Python can arm the hook again).
        sethook(deadline_hook, "")
        interrupt_seen = true
        return
      end
      timed_out = true
      error(TIMEOUT, 0)
    end
  end

  -- Python's per-worker callback taking tostring(thread) of each coroutine the
  -- running request resumes, so the watchdog can hook it too. Coroutines stay in
  -- req_threads (strongly referenced, so their lua_State cannot be freed) until
  -- the next request starts, after Python has forgotten their addresses.
  local register_thread
  local req_threads = nil

  local function watch_thread(co)
    if in_handler and register_thread then
      local seen = req_threads
      if not seen then seen = {}; req_threads = seen end
      if not seen[co] then
        seen[co] = true
        sethook(co, deadline_hook, "")
        register_thread(tostring(co))
      end
    end
  end

  local interruptible = deps.sethook ~= nil and math_type ~= nil -- Lua 5.4 only
  if interruptible then
    local G = deps.globals
    local co_lib = G.coroutine
    local co_create, co_resume, co_close, co_status = co_lib.create, co_lib.resume,
      co_lib.close, co_lib.status
    local wrapped = {}
    for k, v in pairs(co_lib) do wrapped[k] = v end
    wrapped.resume = function(co, ...)
      if type(co) == "thread" then watch_thread(co) end
      return co_resume(co, ...)
    end
    local function wrap_result(co, ok, ...)
      if ok then return ... end
      -- As coroutine.wrap does: close the dead coroutine, re-raise its error.
      if co_status(co) == "dead" then pcall(co_close, co) end
      error((...), 0)
    end
    wrapped.wrap = function(f)
      if type(f) ~= "function" then
        error("bad argument #1 to 'wrap' (function expected, got " .. type(f) .. ")", 2)
      end
      local co = co_create(f)
      return function(...)
        watch_thread(co)
        return wrap_result(co, co_resume(co, ...))
      end
    end
    G.coroutine = wrapped
    local raw_xpcall = G.xpcall
    G.xpcall = function(f, handler, ...)
      if type(handler) ~= "function" then return raw_xpcall(f, handler, ...) end
      return raw_xpcall(f, function(e)
        if timed_out then return TIMEOUT end
        return handler(e)
      end, ...)
    end
  end

  -- Called once per runtime by Python (worker/interrupt.py), on its own thread:
  -- registers deadline_hook for the main thread and turns ldblib's C hook on with
  -- a count no handler reaches, so Python can read the hook's address with
  -- lua_gethook; then interrupt_ready() turns the C hook off again, leaving the
  -- registry entry in place. Returns tostring() of the thread running handlers.
  function core.interrupt_attach(register, big_count, stop_query)
    if not interruptible then return nil end
    register_thread = register
    should_stop = stop_query
    sethook(deadline_hook, "", big_count)
    return tostring((coroutine.running()))
  end

  function core.interrupt_ready()
    if interruptible then sethook(deadline_hook, "") end
  end

  ---------------------------------------------------------------------------
  -- dispatch: the one entry point Python calls per request.
  -- Returns status, body, content type, extra header blob, log message, traceback.
  ---------------------------------------------------------------------------
  local function run(h, ctx)
    local status, body, ctype, hdrs = finish(h.fn(ctx))
    -- Cleared inside the protected call, so a hook armed in a race with the
    -- handler's return can no longer raise outside it.
    in_handler = false
    return status, body, ctype, hdrs
  end

  local function on_error(e)
    in_handler = false
    if e ~= TIMEOUT and type(e) ~= "table" then last_traceback = traceback(tostring(e), 2) end
    return e
  end

  function core.dispatch(hid, req, raw_body, ...)
    local h = handlers[hid]
    local params, np = false, h.nparams
    if np > 0 then
      local names = h.params
      params = {}
      for i = 1, np do params[names[i]] = (select(i, ...)) end
    end
    local ctx = setmetatable({ _req = req, _h = h, _raw = raw_body, _params = params }, Ctx_mt)
    env_mt.__newindex = first_request_write
    current_ctx = ctx
    -- Python forgot the previous request's coroutines (in a batch, only once the
    -- batch is over: until then it may still hook them, so they must stay alive).
    if not batch_index or batch_index == 1 then req_threads = nil end
    last_traceback = nil
    timed_out = false
    in_handler = true
    local ok, status, body, ctype, hdrs = xpcall(run, on_error, h, ctx)
    in_handler = false
    env_mt.__index = app_globals
    env_mt.__newindex = app_globals
    current_ctx = nil
    if timed_out or status == TIMEOUT then
      return 504, error_body("Handler timed out"), JSONT, nil, nil, nil
    end
    if ok then return status, body, ctype, hdrs, nil, nil end
    local st, ebody, logmsg = answer_error(status, nil)
    if ebody == nil then
      ebody = error_body(deps.expose_errors and logmsg or "Internal Server Error")
    end
    local tb = last_traceback
    if st < 500 then logmsg, tb = nil, nil end
    return st, ebody, JSONT, nil, logmsg, tb
  end

  ---------------------------------------------------------------------------
  -- respond: dispatch, then encode the whole HTTP/1.1 response here, without the
  -- GIL, so the worker's Python side only hands bytes over. Python keeps its own
  -- encoder (worker/compose.py) for answers it makes itself (504, 503, errors).
  ---------------------------------------------------------------------------
  local reasons = deps.reasons or {}
  local status_lines = {}
  local function status_line(st)
    local line = status_lines[st]
    if not line then
      line = "HTTP/1.1 " .. st .. " " .. (reasons[st] or ("Status " .. st)) .. "\r\n"
      status_lines[st] = line
    end
    return line
  end

  -- Lines of a response head made once instead of per response (each concatenation
  -- makes a string): the Content-Type lines of the usual types, and the
  -- Content-Length lines of bodies up to 4 KiB.
  local ctype_lines = { [JSONT] = "\r\nContent-Type: " .. JSONT, [TEXT] = "\r\nContent-Type: " .. TEXT }
  local length_lines = {}
  local function length_line(n)
    local line = length_lines[n]
    if line then return line end
    line = "\r\nContent-Length: " .. n
    if n <= 4096 then length_lines[n] = line end
    return line
  end

  function core.respond(hid, req, rid, date, keep_alive, head_only, raw_body, ...)
    local st, body, ctype, hdrs, logmsg, tb = core.dispatch(hid, req, raw_body, ...)
    local length
    if st == 204 or st == 304 or st < 200 then
      body, length = "", ""
    else
      length = length_line(#body)
    end
    -- One concatenation for the whole response (a table and concat cost a third
    -- of this function for a small JSON answer).
    local head_end = keep_alive and "\r\n\r\n" or "\r\nConnection: close\r\n\r\n"
    local ctype_line = ctype and (ctype_lines[ctype] or "\r\nContent-Type: " .. ctype) or ""
    local data = status_line(st) .. "Date: " .. date .. "\r\nX-Request-Id: " .. rid
      .. ctype_line .. (hdrs and "\r\n" .. hdrs or "") .. length .. head_end
      .. (head_only and "" or body)
    return st, data, #body, logmsg, tb
  end


  -- respond_batch: several requests of one handler in one call from Python, so
  -- the worker takes the GIL back once per batch instead of once per request
  -- (docs/architecture.md, "Where the GIL is held"). The requests are numbered
  -- first, first + 1, ...; the arguments are, per request: hid, rid, keep_alive,
  -- head_only, raw_body, the number of path parameters and the parameters.
  -- Returns status, response, body length, log message (or nil) and traceback
  -- (or nil) per request.
  local unpack = table.unpack or unpack
  function core.respond_batch(n, date, first, ...)
    local args = { ... }
    local out, o, i = {}, 0, 1
    interrupt_seen = false
    for k = 1, n do
      local hid, rid, keep_alive, head_only, raw_body, np =
        args[i], args[i + 1], args[i + 2], args[i + 3], args[i + 4], args[i + 5]
      i = i + 6
      local st, data, len, logmsg, tb
      if interrupt_seen and should_stop and should_stop(k) then
        -- Interrupted before it started (its client left, or its time ran out):
        -- false tells Python to answer it as timed out.
        st, data, len = 504, false, 0
      else
        batch_index = k
        st, data, len, logmsg, tb = core.respond(hid, first + k - 1, rid, date, keep_alive,
                                                 head_only, raw_body, unpack(args, i, i + np - 1))
        batch_index = nil
        -- A timed-out request leaves the hook armed: it must not reach the next one.
        -- The requests after it waited while it ran: from now on each is asked
        -- about first, and one whose own deadline passed meanwhile is not run.
        if timed_out then
          sethook(deadline_hook, "")
          interrupt_seen = true
        end
      end
      i = i + np
      -- nil log message and traceback stay nil: unpack below is given the count.
      out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = st, data, len, logmsg, tb
      o = o + 5
    end
    interrupt_seen = false
    return unpack(out, 1, o)
  end

  rover.json = json
  rover.guard = guard
  rover.html = html
  rover.shared = deps.shared
  rover.worker = { id = deps.worker_id, count = deps.worker_count }
  local log = deps.log
  rover.log = {}
  for _, level in ipairs({ "debug", "info", "warn", "error" }) do
    rover.log[level] = function(...)
      local n = select("#", ...)
      local parts = {}
      for i = 1, n do parts[i] = tostring((select(i, ...))) end
      local rid = current_ctx and get_field(current_ctx._req, "request_id") or nil
      log(level, rid, concat(parts, " "))
    end
  end
  core.rover = rover
  return core
end
