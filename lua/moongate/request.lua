-- moongate.request: the `req` object policies see (internals.md section 2).
--
-- Owns: the policy-facing view of one request over the C `core` userdata (or
-- the fake core of moongate.testing): copied fields, header/query access, the
-- decoded body (cjson, once, cached), and the pending body edits. Edits are
-- recorded, never applied to a decoded table: the host splices them into the
-- client's raw bytes (moongate.json), so whatever the policy did not touch
-- reaches the upstream byte for byte, and an unedited body is the very same
-- string. One edit is the host's own: on an Azure-style path the deployment
-- named in the URL becomes the body's `model` (Request:_apply_deployment).
local json = require("moongate.json")

local type, pairs, ipairs, setmetatable, tostring, error, pcall =
  type, pairs, ipairs, setmetatable, tostring, error, pcall
local char, gsub, find, sub, byte, tonumber = string.char, string.gsub, string.find, string.sub, string.byte, tonumber
local jdecode, jencode = json.decode, json.encode

local Request = {}
Request.__index = Request

-- Endpoint by exact path; anything else under /v1/ is "passthrough".
local ENDPOINTS = {
  ["/v1/chat/completions"] = "chat",
  ["/v1/completions"] = "completions",
  ["/v1/embeddings"] = "embeddings",
  ["/v1/models"] = "models",
}
-- Anthropic client endpoints (internals.md section 6).
local ANTHROPIC = {
  ["/v1/messages"] = "messages",
  ["/v1/messages/count_tokens"] = "count_tokens",
}
-- Gemini client endpoints: /v1beta/models/{model}:method or /v1/models/{model}:method
-- ({model} may contain "/": the SDK does not encode it).
local GEMINI = { generateContent = "generate", streamGenerateContent = "stream_generate", countTokens = "count_tokens" }
-- Azure-style client endpoints (PROTOCOLS 5, what openai's AzureOpenAI client
-- sends): /openai/deployments/{deployment}/<suffix>?api-version=..., an OpenAI
-- body, OpenAI replies. The deployment is the model the client asked for. It
-- is percent-decoded (%2F is "/"), and a raw "/" is part of it too (the SDK
-- does not encode it), so the suffix is matched from the end, longest first:
-- ".../x/chat/completions" is chat for deployment "x", never completions for
-- "x/chat". The api-version is not looked at (any value, or none).
local AZURE = { { "/chat/completions", "chat" }, { "/completions", "completions" }, { "/embeddings", "embeddings" } }
local AZURE_PREFIX = "/openai/deployments/"
local AZURE_PREFIX_LEN = #AZURE_PREFIX
-- The method each local/known endpoint accepts (405 otherwise).
Request.METHODS = { chat = "POST", completions = "POST", embeddings = "POST", models = "GET",
  messages = "POST", count_tokens = "POST", generate = "POST", stream_generate = "POST" }

local function hex_char(h) return char(tonumber(h, 16)) end

-- %XX decoding of a path segment ('+' is a plain character in a path).
local function path_decode(s)
  return (gsub(s, "%%(%x%x)", hex_char))
end

--- Request.classify(path) -> endpoint name, dialect, model | nil (not an API
-- path: local 404). dialect: "openai", "anthropic" or "gemini" (the client's;
-- Azure-style paths are "openai"); model: the model named in a Gemini path or
-- the deployment of an Azure-style path (URL-decoded), else nil.
function Request.classify(path)
  local ep = ENDPOINTS[path]
  if ep then return ep, "openai" end
  ep = ANTHROPIC[path]
  if ep then return ep, "anthropic" end
  local model, method = path:match("^/v1beta/models/(.+):(%a+)$")
  if not model then model, method = path:match("^/v1/models/(.+):(%a+)$") end
  if model and GEMINI[method] then return GEMINI[method], "gemini", Request.url_decode(model) end
  if sub(path, 1, 11) == "/v1/models/" and #path > 11 then return "models", "openai" end
  if sub(path, 1, 4) == "/v1/" and #path > 4 then return "passthrough", "openai" end
  if sub(path, 1, AZURE_PREFIX_LEN) == AZURE_PREFIX then
    for _, a in ipairs(AZURE) do
      local suffix = a[1]
      local n = #path - #suffix -- the deployment ends at n
      if n >= AZURE_PREFIX_LEN and sub(path, n + 1) == suffix then
        if n == AZURE_PREFIX_LEN then return nil end -- no deployment
        return a[2], "openai", path_decode(sub(path, AZURE_PREFIX_LEN + 1, n))
      end
    end
  end
  return nil
end

--- Request.is_azure_path(path) -> true for any path under /openai/ (so a 404
-- there can name the Azure-style routes that exist).
function Request.is_azure_path(path)
  return sub(path, 1, 8) == "/openai/"
end

--- Request.url_decode(s): %XX and '+' (form encoding) decoded.
function Request.url_decode(s)
  s = gsub(s, "+", " ")
  return (gsub(s, "%%(%x%x)", hex_char))
end

--- Request.parse_query(q) -> { name = first value } (URL-decoded)
function Request.parse_query(q)
  local args = {}
  if q == nil or q == "" then return args end
  for pair in q:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=(.*)$")
    if not k then k, v = pair, "" end
    k = Request.url_decode(k)
    if args[k] == nil then args[k] = Request.url_decode(v) end
  end
  return args
end

--- Request.of(core, config, path, method, id, query, client, endpoint, dialect,
-- path_model [, as_given]) -> req: the request object over core, with the
-- core's fields and the path's classification at hand (C passes the fields
-- to host.handle, the host classifies the path). On an Azure-style path the
-- deployment is the body's `model` from the start (see _apply_deployment),
-- unless as_given (a derived request: its body is the provider's).
-- One function on purpose: the request path calls it per request, and a
-- separate constructor called from here made LuaJIT start a trace in it that
-- aborted on return ("leaving loop in root trace") until blacklisted.
function Request.of(core, cfg, path, method, id, query, client, endpoint, dialect, path_model, as_given)
  local r = setmetatable({
    id = id,
    method = method,
    path = path,
    query = query or "",
    client = client,
    endpoint = endpoint,
    dialect = dialect or "openai", -- the client's dialect
    path_model = path_model,       -- the model named in the URL (Gemini model, Azure-style deployment)
    ctx = {},
    _core = core,
    _config = cfg,
    -- lazily filled: _raw (body), _json / _json_err, _args, _edits, _order, _scan, _pkf / _pkm / _pke
  }, Request)
  if path_model and not as_given and r.dialect == "openai" then r:_apply_deployment() end
  return r
end

local function new(core, cfg, as_given)
  local path = core.path
  local endpoint, dialect, path_model = Request.classify(path)
  return Request.of(core, cfg, path, core.method, core.id, core.query, core.client, endpoint, dialect, path_model,
    as_given)
end

--- Request.new(core, config) -> req
-- `config` is the normalized config (moongate.config); it may be nil for
-- requests built outside a gateway (tests).
function Request.new(core, cfg)
  return new(core, cfg)
end

--- Request.derived(req, body, endpoint) -> a request over the same client
-- request (headers, query, ...) whose body is `body`: what a provider module
-- gets when the client's body was translated to the provider's dialect.
function Request.derived(req, body, endpoint)
  local core = {
    id = req.id, method = req.method, path = req.path, query = req.query, client = req.client,
    header = function(_, name) return req:header(name) end,
    headers = function() return req:headers() end,
    body = function() return body end,
  }
  local r = new(core, req._config, true) -- the body is the provider's: no deployment edit
  r.endpoint = endpoint
  r.ctx = req.ctx
  return r
end

--- req:header(name) -> first value (case-insensitive) | nil
function Request:header(name)
  return self._core:header(name)
end

--- req:headers() -> array of {name, value}
function Request:headers()
  return self._core:headers()
end

-- The dialect's own credential header (after `Authorization: Bearer`).
local KEY_HEADER = { openai = "api-key", anthropic = "x-api-key", gemini = "x-goog-api-key" }

--- req:client_key() -> the credential the client sent | nil: the token of
-- `Authorization: Bearer <key>` (any dialect), else the dialect's own header:
-- `api-key` (OpenAI and Azure-style paths, what AzureOpenAI sends),
-- `x-api-key` (Anthropic), `x-goog-api-key` or `?key=` (Gemini). The gateway
-- checks no client key itself (a policy may, with this); none is ever sent
-- upstream (provider modules build their headers from the provider's config).
function Request:client_key()
  local auth = self._core:header("authorization")
  if auth then
    local tok = auth:match("^[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
    if tok then return tok end
  end
  local v = self._core:header(KEY_HEADER[self.dialect] or "api-key")
  if v and v ~= "" then return v end
  if self.dialect == "gemini" then
    v = self:arg("key")
    if v and v ~= "" then return v end
  end
  return nil
end

--- req:arg(name) -> URL-decoded query argument | nil
function Request:arg(name)
  local args = self._args
  if not args then
    if self.query == "" then return nil end -- the common case: no table for it
    args = Request.parse_query(self.query)
    self._args = args
  end
  return args[name]
end

--- req:body() -> the client's raw body ("" if none), as received.
function Request:body()
  local raw = self._raw
  if raw == nil then
    raw = self._core:body() or ""
    self._raw = raw
  end
  return raw
end

-- The routing fields of the body, as flags (the bits of runtime/peek.h).
local PEEK = { OBJECT = 1, STREAM = 2, USAGE = 4, MESSAGES = 8, CONTENTS = 16, MODEL = 32, MODEL_STR = 64 }
Request.PEEK = PEEK

--- Request.starts_object(s) -> true when the first non-blank byte of s is "{"
-- (a byte loop: a pattern find is not compiled by LuaJIT 2.1).
local function starts_object(s)
  local i = 1
  local b = byte(s, i)
  while b == 32 or b == 9 or b == 13 or b == 10 do
    i = i + 1
    b = byte(s, i)
  end
  return b == 123
end
Request.starts_object = starts_object

-- The same flags from the decoded body (what json() shows, edits included).
local function peek_decoded(self)
  local j, err = self:json()
  if j == nil then return nil, err end
  if type(j) ~= "table" or not starts_object(self:body()) then return 0 end
  local f, m = PEEK.OBJECT, j.model
  if m ~= nil then
    f = f + PEEK.MODEL
    if type(m) == "string" then f = f + PEEK.MODEL_STR else m = nil end
  end
  if j.stream == true then f = f + PEEK.STREAM end
  local so = j.stream_options
  if type(so) == "table" and so.include_usage == true then f = f + PEEK.USAGE end
  local v = j.messages
  if type(v) == "table" and v[1] ~= nil then f = f + PEEK.MESSAGES end
  v = j.contents
  if type(v) == "table" and v[1] ~= nil then f = f + PEEK.CONTENTS end
  return f, m
end

--- req:_peek() -> flags, model | nil, err: what routing needs from the body
-- (moongate.request.PEEK bits; model when it is a string). Internal, for the
-- router, the host and provider modules. The C core reads it off the raw
-- bytes without decoding them (runtime/peek.c: valid JSON, the top-level
-- model, stream, stream_options.include_usage, non-empty messages/contents);
-- once the body was decoded or edited (json(), set_field, an Azure-style
-- deployment) the decoded table is what counts, as it was for policies.
function Request:_peek()
  local f = self._pkf
  if f then return f, self._pkm end
  local err = self._pke
  if err then return nil, err end
  local core, m = self._core, nil
  local peek = not self._edits and self._json == nil and core.peek
  if peek then f, m = peek(core) else f, m = peek_decoded(self) end
  if not f then
    self._pke = m
    return nil, m
  end
  self._pkf, self._pkm = f, m
  return f, m
end

--- req:json() -> decoded body | nil, err (decoded once; edits made with
-- set_field/remove_field/remove_tools are mirrored into this table).
function Request:json()
  local j = self._json
  if j ~= nil then return j end
  if self._json_err then return nil, self._json_err end
  local raw = self:body()
  if raw == "" then
    self._json_err = "empty body"
    return nil, self._json_err
  end
  local ok, v = pcall(jdecode, raw)
  if not ok then
    self._json_err = tostring(v)
    return nil, self._json_err
  end
  self._json = v
  return v
end

-- The raw scan of the body object, computed once (nil, err if not an object).
function Request:_scan_body()
  local s = self._scan
  if s then return s end
  local err
  s, err = json.scan(self:body())
  if not s then return nil, err end
  self._scan = s
  return s
end

-- Records one edit: raw JSON text, or false to remove.
local function record(self, key, raw)
  local s, err = self:_scan_body()
  if not s then return nil, "body is not a JSON object: " .. tostring(err) end
  local edits = self._edits
  if not edits then
    edits = {}
    self._edits, self._order = edits, {}
  end
  if edits[key] == nil then
    local order = self._order
    order[#order + 1] = key
  end
  edits[key] = raw
  self._pkf, self._pkm, self._pke = nil, nil, nil -- _peek reads the edited body from now on
  return true
end

--- req:set_field(key, value) -> true | nil, err
-- Sets a top-level member; value is a Lua value encoded by moongate.json
-- (mark empty arrays with json.empty_array). Raises on a bad key.
function Request:set_field(key, value)
  if type(key) ~= "string" then error("set_field: key must be a string", 2) end
  local ok, raw = pcall(jencode, value)
  if not ok then error("set_field: " .. tostring(raw), 2) end
  local r, err = record(self, key, raw)
  if not r then return nil, err end
  local j = self:json()
  if type(j) == "table" then j[key] = value end
  return true
end

--- req:remove_field(key) -> true | nil, err
function Request:remove_field(key)
  if type(key) ~= "string" then error("remove_field: key must be a string", 2) end
  local r, err = record(self, key, false)
  if not r then return nil, err end
  local j = self:json()
  if type(j) == "table" then j[key] = nil end
  return true
end

-- Azure-style paths (classify): the deployment in the URL is the model the
-- client asked for and wins over a `model` in the body (Azure's own
-- semantics; its SDK usually sends none, or the deployment name). It becomes
-- the body's `model` (a recorded edit, mirrored into json()) before the policy
-- runs, so the policy, the router and the provider modules see exactly what a
-- /v1/chat/completions request with that `model` would show them, and the
-- usual precedence (Routeur-* headers over the model) holds unchanged. A body
-- that is not a JSON object is left alone (the router answers 400 for it).
function Request:_apply_deployment()
  local dep = self.path_model
  local j = self:json()
  if type(j) ~= "table" or j.model == dep then return end
  if record(self, "model", jencode(dep)) then j.model = dep end
end

-- The current raw text of a top-level member, edits included (nil if absent/removed).
function Request:_raw_field(key)
  local edits = self._edits
  if edits and edits[key] ~= nil then return edits[key] or nil end
  local s = self:_scan_body()
  if not s then return nil end
  return json.get_raw(self:body(), key, s)
end

local function tool_name(t)
  if type(t) ~= "table" then return nil end
  local f = t["function"]
  if type(f) == "table" and type(f.name) == "string" then return f.name end
  if type(t.name) == "string" then return t.name end -- flat tools (Responses API)
  return nil
end

--- req:remove_tools(names) -> number of tools removed | nil, err
-- names: an array of tool names or a set { name = true }. Tools are matched by
-- `function.name` (or a top-level `name` for flat tools). When no tool
-- remains, `tools` and `tool_choice` are removed.
function Request:remove_tools(names)
  if type(names) ~= "table" then error("remove_tools: names must be a table", 2) end
  local deny = {}
  for k, v in pairs(names) do
    if type(k) == "number" then deny[v] = true elseif v then deny[k] = true end
  end
  local j, err = self:json()
  if type(j) ~= "table" then return nil, "body is not a JSON object: " .. tostring(err) end
  local tools = j.tools
  if type(tools) ~= "table" then return 0 end
  local raw_tools = self:_raw_field("tools")
  local items = raw_tools and json.array_items(raw_tools)
  if not items or #items ~= #tools then return nil, "tools is not an array" end
  local kept_raw, kept, removed = {}, setmetatable({}, json.array_mt), 0
  for i, t in ipairs(tools) do
    local name = tool_name(t)
    if name and deny[name] then
      removed = removed + 1
    else
      kept_raw[#kept_raw + 1] = items[i]
      kept[#kept + 1] = t
    end
  end
  if removed == 0 then return 0 end
  if #kept_raw == 0 then
    -- no tools left: what only makes sense with tools goes too (OpenAI
    -- refuses tool_choice and parallel_tool_calls without tools)
    record(self, "tools", false)
    record(self, "tool_choice", false)
    j.tools, j.tool_choice = nil, nil
    if j.parallel_tool_calls ~= nil then
      record(self, "parallel_tool_calls", false)
      j.parallel_tool_calls = nil
    end
  else
    record(self, "tools", "[" .. table.concat(kept_raw, ",") .. "]")
    j.tools = kept
    -- a tool_choice that forces a removed tool would name a tool that is gone
    local tc = j.tool_choice
    local forced = type(tc) == "table" and type(tc["function"]) == "table" and tc["function"].name
    if forced and deny[forced] then
      record(self, "tool_choice", false)
      j.tool_choice = nil
    end
  end
  return removed
end

--- req:_upstream_body([extra, extra_order]) -> what a provider build sends:
-- true for "the client's body as received" (no edits, no extra edits, and a
-- request over the C core: C then sends the request's own bytes, so an
-- unedited body never becomes a Lua string, copied and hashed, unless a
-- policy reads it), else the string _final_body gives. Requests over a Lua
-- core (a translated body, tests) always get the string.
function Request:_upstream_body(extra, extra_order)
  if not extra and not self._edits and type(self._core) == "userdata" then return true end
  return self:_final_body(extra, extra_order)
end

--- req:_final_body([extra, extra_order]) -> the raw body with the policy's
-- edits (and optional extra edits, which win) applied; the same string object
-- when nothing changed. Internal: used by the host and provider modules.
function Request:_final_body(extra, extra_order)
  local edits = self._edits
  local raw = self:body()
  if not edits and not extra then return raw end
  local s = self:_scan_body()
  if not s then return raw end
  if not extra then return json.apply(raw, s, edits, self._order) end
  if not edits then return json.apply(raw, s, extra, extra_order) end
  local merged, order = {}, {}
  for k, v in pairs(edits) do merged[k] = v end
  for k, v in pairs(extra) do merged[k] = v end
  for _, k in ipairs(self._order) do order[#order + 1] = k end
  for _, k in ipairs(extra_order) do order[#order + 1] = k end
  return json.apply(raw, s, merged, order)
end

return Request
