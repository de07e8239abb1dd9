-- moongate.host: the entry points the C side calls (internals.md section 1).
--
-- Owns: one loaded gateway (config + provider modules + sandboxed policy) and
-- the per-request path: classify the request, answer the local endpoints
-- (/v1/models, 404, 405), run the policy's route(req), and compile its plan
-- into the attempts C executes (URL, headers, body, millisecond timeouts).
--
-- C calls, per VM: host.load(config_path) once, host.handle(core) per request,
-- host.done(summary) after each request when the policy has on_done.
-- moongate.testing builds more instances with host.new for specs.
--
-- Dialects (internals.md section 6): the client's dialect comes from the
-- endpoint (req.dialect; Azure-style /openai/deployments/{model}/... paths are
-- OpenAI, their deployment already the body's model, see moongate.request),
-- the provider's from its kind (P.dialect). An attempt
-- whose dialects differ is built from the translated body and marked
-- `translate = true`; its translator is kept in plan.translators[i] and handed
-- to C by host.translator(plan, i). Only chat-like endpoints translate (chat,
-- messages, generate, stream_generate), token counts between the two
-- dialects that have a count endpoint (Anthropic <-> Gemini), and OpenAI
-- embeddings to Gemini providers (batchEmbedContents); other endpoints only
-- reach providers of the client's dialect (none left: a 501, e.g. embeddings
-- for an Anthropic provider, which has no embeddings API).
--
-- Gemini clients calling :streamGenerateContent without ?alt=sse asked for a
-- JSON array, not SSE: every attempt then gets a translator in array mode,
-- the same-dialect ones too (the upstream is still read as SSE, each event's
-- data becomes one element byte for byte), and C takes the reply's
-- Content-Type from it (moongate.translate, "JSON-array streams").
--
-- host.handle runs for every request, so the work is precomputed at load
-- (models bodies, header arrays, URLs, millisecond values per provider), the
-- body is never decoded for routing (req:_peek reads the few fields routing
-- needs off the raw bytes), decoded at most once when a policy, a translator
-- or a preset needs it (req:json() caches), and only scanned when an edit is
-- needed.
local config = require("moongate.config")
local sandbox = require("moongate.sandbox")
local Request = require("moongate.request")
local errors = require("moongate.errors")
local json = require("moongate.json")
local translate = require("moongate.translate")

local type, error, xpcall, tostring, ipairs, pairs, floor, concat =
  type, error, xpcall, tostring, ipairs, pairs, math.floor, table.concat
local encode, reply = json.encode, errors.reply
local classify, METHODS, is_azure_path = Request.classify, Request.METHODS, Request.is_azure_path
local PEEK, band = Request.PEEK, require("bit").band
local AZURE_ROUTES = "POST /openai/deployments/{model}/chat/completions, /completions, /embeddings"

local host = {}
local Host = {}
Host.__index = Host

local function ms(seconds) return floor(seconds * 1000 + 0.5) end

-- Per-provider millisecond values, precomputed once.
local function provider_ms(P)
  local t = P.timeouts
  return {
    connect = ms(t.connect), first_byte = ms(t.first_byte), idle = ms(t.idle), total = ms(t.total),
    backoff_base = ms(P.backoff.base), backoff_cap = ms(P.backoff.cap),
  }
end

-- The error handler of the policy call: keeps (or adds) the policy's
-- file:line, so an error raised in trusted code on the policy's behalf still
-- names the policy line that caused it.
local function policy_handler(source)
  return function(err)
    local msg = type(err) == "string" and err or tostring(err)
    for level = 2, 64 do
      local info = debug.getinfo(level, "Sl")
      if not info then break end
      if info.source == source and info.currentline and info.currentline > 0 then
        local where = info.short_src .. ":" .. info.currentline .. ":"
        if msg:sub(1, #where) ~= where then msg = where .. " " .. msg end
        break
      end
    end
    return msg
  end
end

-- Calls a policy hook; errors propagate (C turns them into a 500 and logs
-- them) with the policy's file:line in the message.
-- The policy's function is called through a Lua frame of ours: a policy
-- ending in a tail call (`return router.route(req, config)`) would otherwise
-- return from the library straight into xpcall, which LuaJIT cannot trace
-- ("NYI: return to lower frame"), so router.route and resolve ran interpreted.
local function trampoline(fn, ...)
  local a, b, c, d, e = fn(...)
  return a, b, c, d, e
end

local function call_policy(self, fn, ...)
  local ok, a, b, c, d, e = xpcall(trampoline, self.handler, fn, ...)
  if not ok then error(a, 0) end
  return a, b, c, d, e
end

local function model_entry(id, owner)
  return '{"id":' .. encode(id) .. ',"object":"model","created":0,"owned_by":' .. encode(owner) .. "}"
end

local function model_list(entries)
  return '{"object":"list","data":[' .. concat(entries, ",") .. "]}"
end

-- Precomputes every /v1/models answer.
local function build_models(cfg)
  local all, by_vendor, one = {}, {}, {}
  for _, m in ipairs(cfg.model_ids) do
    local owner = cfg.model_providers[m][1].name
    local e = model_entry(m, owner)
    all[#all + 1] = e
    one[m] = e
  end
  for _, a in ipairs(cfg.alias_names) do
    if not one[a] then
      local e = model_entry(a, "moongate")
      all[#all + 1] = e
      one[a] = e
    end
  end
  for _, name in ipairs(cfg.enabled) do
    local P = cfg.providers[name]
    local list = {}
    for _, m in ipairs(P.models) do
      list[#list + 1] = model_entry(m, name)
      local q = name .. "/" .. m
      if not one[q] then one[q] = model_entry(q, name) end
    end
    by_vendor[name] = model_list(list)
  end
  return { all = model_list(all), by_vendor = by_vendor, one = one }
end

--- host.new(config_src [, opts]) -> a loaded gateway instance.
-- config_src: a config file path or a config table. opts: getenv (env() and
-- os.getenv for the policy), policy (path overriding config.policy), root.
function host.new(src, opts)
  opts = opts or {}
  local cfg = config.load(src, { getenv = opts.getenv, policy = opts.policy, root = opts.root })
  local hooks = sandbox.load(cfg.policy, { getenv = opts.getenv })
  local self = setmetatable({
    config = cfg,
    hooks = hooks,
    route_fn = hooks.route,
    handler = policy_handler("@" .. cfg.policy),
    models = build_models(cfg),
  }, Host)
  for _, name in ipairs(cfg.enabled) do
    local P = cfg.providers[name]
    P.ms = provider_ms(P)
  end
  if hooks.init then call_policy(self, hooks.init, cfg) end

  local settings = { listen = cfg.listen, workers = cfg.workers, log = cfg.log,
    worker_cpu_affinity = cfg.worker_cpu_affinity, has_on_done = hooks.on_done ~= nil }
  for _, k in ipairs(config.C_NUMBERS) do
    if cfg[k] ~= nil then settings[k] = cfg[k] end
  end
  self.settings = settings
  return self
end

local function invalid(msg)
  error("policy returned invalid plan: " .. msg, 0)
end

-- Applies per-attempt overrides (seconds in the policy, milliseconds for C).
local function override(at, a, i, cfg)
  local where = "attempt " .. i
  if a.retries ~= nil then
    if type(a.retries) ~= "number" or a.retries < 0 or a.retries ~= floor(a.retries) then
      invalid(where .. ": retries must be a non-negative integer")
    end
    at.retries = a.retries
  end
  if a.timeouts ~= nil then
    local ok, t = pcall(config.check_timeouts, a.timeouts, where .. ".timeouts", cfg.providers[at.provider].timeouts)
    if not ok then invalid(t) end
    at.connect, at.first_byte, at.idle, at.total = ms(t.connect), ms(t.first_byte), ms(t.idle), ms(t.total)
  end
  if a.backoff ~= nil then
    local ok, b = pcall(config.check_backoff, a.backoff, where .. ".backoff", cfg.providers[at.provider].backoff)
    if not ok then invalid(b) end
    at.backoff_base, at.backoff_cap = ms(b.base), ms(b.cap)
  end
end

-- Endpoints that translate between dialects, and each dialect's own name for it.
local TRANSLATABLE = { chat = true, messages = true, generate = true, stream_generate = true }
local TARGET_EP = { openai = "chat", anthropic = "messages", gemini = "generate" }

-- A local error reply in the client's dialect (OpenAI: the existing envelope).
local function dialect_reply(dialect, status, message, id, code, param, headers)
  if dialect == nil or dialect == "openai" then return reply(status, message, id, code, param, headers) end
  local msg = tostring(message or "error")
  if id then msg = msg .. " (request id " .. id .. ")" end
  return { kind = "local", status = status, content_type = "application/json",
    body = translate.error_body(dialect, status, nil, code, msg), headers = headers }
end
host.dialect_reply = dialect_reply

--- Host:compile(req, plan) -> proxy plan for C (raises "policy returned invalid plan: ..."),
-- or a local reply when no attempt can serve the client's dialect/endpoint.
function Host:compile(req, plan)
  if type(plan) ~= "table" or plan[1] == nil then
    invalid("route must return a non-empty array of attempts, or nil, status, message")
  end
  local cfg = self.config
  local providers = cfg.providers
  local ep = req.endpoint
  local cdialect = req.dialect or "openai"
  local stream, hide_usage = false, false
  local f = req:_peek() -- stream flags without decoding the body
  if cdialect == "gemini" then
    stream = ep == "stream_generate"
  elseif f and ep ~= "count_tokens" then -- a count never streams
    stream = band(f, PEEK.STREAM) ~= 0
    if stream and (ep == "chat" or ep == "completions") then
      hide_usage = band(f, PEEK.USAGE) == 0
    end
  end
  -- The plan, also the `shared` table of this request's same-dialect builds
  -- (provider modules cache per-request values in it under "_" names).
  -- (8 keys: the table's hash part is 8 slots; `translators` joins only when needed)
  local out = { kind = "proxy", endpoint = ep, stream = stream, hide_usage = hide_usage, dialect = cdialect,
    attempts = false, _body_key = false, _body = false }
  local shared = out
  -- Gemini streams are SSE only with alt=sse (Google APIs also read `$alt`).
  local array = ep == "stream_generate" and (req:arg("alt") or req:arg("$alt")) ~= "sse"
  local method = req.method
  local attempts, translators, skipped = {}, nil, nil
  -- A loop by goto: a `for` over the usual one-attempt plan runs its loop
  -- bytecode once per request, LuaJIT finds that loop hot, fails to trace a
  -- loop that never iterates and blacklists it, and a blacklisted loop aborts
  -- every trace through it: all of compile ran interpreted. A backward goto is
  -- a plain jump, never hot-counted, so compile is traced as a whole.
  local i, nplan = 0, #plan
  ::next_attempt::
  i = i + 1
  if i <= nplan then
    local a = plan[i]
    if type(a) ~= "table" then invalid("attempt " .. i .. ": must be a table {provider=, model=}") end
    local pname, model = a.provider, a.model
    local P = type(pname) == "string" and providers[pname]
    if not P then invalid("attempt " .. i .. ": unknown provider '" .. tostring(pname) .. "'") end
    if not P.enabled then invalid("attempt " .. i .. ": provider '" .. pname .. "' is not enabled (no api_key)") end
    if type(model) ~= "string" or (model == "" and ep ~= "passthrough") then
      invalid("attempt " .. i .. ": model must be a non-empty string")
    end
    local pd = P.dialect or "openai"
    local url, headers, body, tr
    if pd == cdialect then
      url, headers, body = P.module.build(P, model, req, shared)
      if array then tr = translate.new(cdialect, pd, { model = model, stream = true, array = true }) end
    elseif TRANSLATABLE[ep] or (ep == "count_tokens" and translate.counts(cdialect, pd))
        or (ep == "embeddings" and translate.embeds(cdialect, pd)) then
      local count, emb = ep == "count_tokens", ep == "embeddings"
      local j = req:json()
      tr = translate.new(cdialect, pd, {
        model = model, client_model = cdialect == "gemini" and req.path_model or (type(j) == "table" and j.model) or nil,
        stream = stream, count = count, embeddings = emb, array = array or nil,
      })
      local tbody, err, param = tr:request(req:_final_body())
      if not tbody then
        return dialect_reply(cdialect, 400, "request cannot be translated for provider '" .. pname .. "': "
          .. tostring(err), req.id, "invalid_request", param)
      end
      local tep = (count or emb) and ep or TARGET_EP[pd]
      local treq = Request.derived(req, tbody, tep)
      url, headers, body = P.module.build(P, model, treq, { endpoint = tep, stream = stream and not emb,
        hide_usage = false })
    else
      skipped = skipped or pname
    end
    if url then
      local m = P.ms
      local at = {
        provider = pname, model = model, url = url, method = method, headers = headers, body = body,
        retries = P.retries, backoff_base = m.backoff_base, backoff_cap = m.backoff_cap,
        connect = m.connect, first_byte = m.first_byte, idle = m.idle, total = m.total,
      }
      if tr then
        at.translate = true
        translators = translators or {}
        translators[#attempts + 1] = tr
      end
      if a.retries ~= nil or a.timeouts ~= nil or a.backoff ~= nil then override(at, a, i, cfg) end
      attempts[#attempts + 1] = at
    end
    goto next_attempt
  end
  if #attempts == 0 then
    if ep == "count_tokens" then return self:estimate_tokens(req, cdialect) end
    local r = dialect_reply(cdialect, 501, "endpoint " .. tostring(req.path) .. " is not translated for provider '"
      .. tostring(skipped) .. "' (" .. tostring(providers[skipped].dialect) .. " dialect)", req.id, "not_implemented",
      nil, "x-should-retry: false\r\n")
    r.endpoint = ep
    return r
  end
  out.attempts = attempts
  if translators then out.translators = translators end
  return out
end

-- Token counting when no attempt can count: Anthropic and Gemini providers
-- count exactly (their own count endpoint, the request translated when the
-- dialects differ, see compile), but OpenAI-kind providers have no counting
-- endpoint, so a plan of only those is answered locally with the common rule
-- of thumb, one token per four bytes of the text parts (rounded up), and says
-- so in `x-moongate-token-estimate`.
local function text_bytes(v, depth)
  if depth > 64 then return 0 end
  local t = type(v)
  if t == "string" then return #v end
  if t ~= "table" then return 0 end
  local n = 0
  for k, x in pairs(v) do
    if k ~= "model" and k ~= "role" and k ~= "type" then n = n + text_bytes(x, depth + 1) end
  end
  return n
end

function Host:estimate_tokens(req, dialect)
  local j = req:json()
  local n = math.max(1, math.ceil(text_bytes(type(j) == "table" and j or {}, 0) / 4))
  local body = dialect == "gemini" and ('{"totalTokens":' .. n .. "}") or ('{"input_tokens":' .. n .. "}")
  return { kind = "local", status = 200, content_type = "application/json", body = body,
    headers = "x-moongate-token-estimate: bytes/4\r\n", endpoint = "count_tokens" }
end

-- GET /v1/models and /v1/models/{id}, answered locally.
function Host:list_models(id, query, path)
  local M = self.models
  if path == "/v1/models" then
    local vendor = Request.parse_query(query).vendor
    if vendor == nil or vendor == "" then
      return { kind = "local", status = 200, content_type = "application/json", body = M.all }
    end
    local body = M.by_vendor[vendor]
    if not body then
      return reply(404, "vendor '" .. vendor .. "' not found; available vendors: " .. concat(self.config.enabled, ", "),
        id, "vendor_not_found", "vendor")
    end
    return { kind = "local", status = 200, content_type = "application/json", body = body }
  end
  local mid = Request.url_decode(path:sub(12))
  local body = M.one[mid]
  if not body then
    return reply(404, "model '" .. mid .. "' not found; available: " .. self.config.available, id, "model_not_found", "model")
  end
  return { kind = "local", status = 200, content_type = "application/json", body = body }
end

--- Host:handle(core [, path, method, id, query, client]) -> local reply or
-- proxy plan (internals.md section 1). C passes the core's fields along (no
-- call back into C per field); without them they are read from the core.
-- Client mistakes become local replies; policy errors and invalid plans raise.
function Host:handle(core, path, method, id, query, client)
  if path == nil then
    path, method, id, query, client = core.path, core.method, core.id, core.query, core.client
  end
  local ep, dialect, path_model = classify(path)
  if ep == nil then
    if is_azure_path(path) then
      return reply(404, "unknown path " .. path .. " (Azure-style routes: " .. AZURE_ROUTES .. ")", id, "not_found")
    end
    return reply(404, "unknown path " .. path .. " (the API is under /v1/)", id, "not_found")
  end
  local want = METHODS[ep]
  if want and method ~= want then
    local r = dialect_reply(dialect, 405, "method " .. tostring(method) .. " not allowed on " .. path .. "; use " .. want,
      id, "method_not_allowed", nil, "Allow: " .. want .. "\r\n")
    r.endpoint = ep
    return r
  end
  if ep == "models" then
    local r = self:list_models(id, query, path)
    r.endpoint = "models"
    return r
  end

  local req = Request.of(core, self.config, path, method, id, query, client, ep, dialect, path_model)
  local plan, status, message, code, param = call_policy(self, self.route_fn, req)
  if plan == nil then
    if type(status) ~= "number" or status < 400 or status > 599 or status ~= floor(status) then
      invalid("route returned nil without an HTTP error status (400-599), got " .. tostring(status))
    end
    if message ~= nil and type(message) ~= "string" then message = tostring(message) end
    local r = dialect_reply(req.dialect, status, message or "request rejected by policy", req.id,
      type(code) == "string" and code or nil, type(param) == "string" and param or nil)
    r.endpoint = ep
    return r
  end
  return self:compile(req, plan)
end

--- Host:route(req) -> what the policy's route returned (errors keep the policy's file:line).
function Host:route(req)
  return call_policy(self, self.route_fn, req)
end

--- Host:done(summary): the policy's on_done, unprotected (C protects the call).
function Host:done(summary)
  local f = self.hooks.on_done
  if f then return f(summary) end
end

-- The instance C drives (one per VM).
local current

--- host.load(config_path) -> settings table for C (see internals.md 1).
function host.load(path)
  current = host.new(path)
  return current.settings
end

--- host.handle(core, path, method, id, query, client) -> local reply | proxy plan
function host.handle(core, path, method, id, query, client)
  return current:handle(core, path, method, id, query, client)
end

--- host.done(summary)
function host.done(summary)
  return current:done(summary)
end

--- host.translator(plan, i) -> a fresh translator for attempt i's response
-- (nil when the attempt is not translated). C calls it once per response
-- start (each retry gets its own stream state; the request context is shared).
function host.translator(plan, i)
  local t = plan and plan.translators and plan.translators[i]
  return t and t:fresh() or nil
end

--- host.error_body(dialect, status, type, code, message) -> JSON text of the
-- gateway's own error in the client's dialect (type may be nil: the dialect's
-- type for the status is used).
function host.error_body(dialect, status, etype, code, message)
  return translate.error_body(dialect, status, etype, code, message)
end

--- host.current() -> the instance loaded by host.load (nil before).
function host.current() return current end

return host
