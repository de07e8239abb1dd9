-- moongate.config: loads, validates and normalizes the gateway config.
--
-- Owns: the config file's environment (`env(name [, default])`), validation
-- with errors naming the field (`providers.openai.base_url: must be a string`),
-- global defaults (timeouts, retries, backoff), provider enablement (a provider
-- without an api_key is disabled), alias targets, policy path resolution, and
-- the precomputed lookup tables the router and host use on every request.
--
-- The normalized config (what policies get in init(config)):
--   path, dir, root            the config file, its directory, the repository root
--   policy                     resolved policy path (stock scripts/default.lua when absent)
--   listen, workers, log, ... settings for C, copied through (see host.settings)
--   defaults                   { timeouts = {connect, first_byte, idle, total}, retries, backoff = {base, cap} } (seconds)
--   providers[name]            { name, kind, preset|nil, dialect, base_url, api_key|nil, keyless, enabled,
--                                models = {...}, model_set = {id=true}, timeouts, retries, backoff, headers,
--                                module } (kind "groq" etc. = kind "openai" with that preset; see
--                                moongate.providers.presets)
--   enabled                    sorted names of the enabled providers
--   model_providers[id]        enabled providers listing id, in name order (array of provider tables)
--   model_ids                  sorted unique model ids of enabled providers
--   aliases[name]              { {provider, model, weight}, ... } (targets on disabled providers dropped)
--   alias_names                sorted alias names
--   available                  "a, b, c": model ids then aliases, for "not found" messages
--   options                    the config's free-form `options` table (for policies), {} when absent
--   raw                        the table the config file returned
local presets = require("moongate.providers.presets")

local config = {}

local type, pairs, ipairs, tostring, error, sort, concat = type, pairs, ipairs, tostring, error, table.sort, table.concat

-- Global defaults, overridable by the config's `defaults` table.
config.DEFAULTS = {
  timeouts = { connect = 5, first_byte = 60, idle = 60, total = 600 },
  retries = 1,
  backoff = { base = 0.2, cap = 2 },
}

local TIMEOUT_KEYS = { "connect", "first_byte", "idle", "total" }

-- Settings passed through to C as is (numbers unless noted); see internals.md 1.
local C_NUMBERS = {
  "workers", "max_body", "max_header_bytes", "max_request_line", "max_headers",
  "header_timeout", "body_timeout", "idle_timeout", "drain_timeout", "retry_after_cap",
  "sse_max_event", "policy_timeout", "upstream_idle_timeout", "upstream_idle_max",
}
config.C_NUMBERS = C_NUMBERS

local function fail(field, msg)
  error(field .. ": " .. msg, 0)
end

--- The repository root: the parent of the `lua/` directory this file lives in.
function config.repo_root()
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^@(.*)/moongate/config%.lua$")
  if not dir then return "." end
  local root = dir:match("^(.*)/[^/]+$")
  if root == nil then return "." end
  if root == "" then return "/" end
  return root
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function file_exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

--- config.resolve_path(p, dir, root) -> path: absolute as is; relative against
-- the config directory first, then the repository root.
function config.resolve_path(p, dir, root)
  if p:sub(1, 1) == "/" then return p end
  local a = dir .. "/" .. p
  if file_exists(a) then return a end
  local b = root .. "/" .. p
  if file_exists(b) then return b end
  return a
end

--- config.env_function(getenv) -> env(name [, default]) as seen by config files.
-- Unset and empty variables both give `default` (nil when absent).
function config.env_function(getenv)
  return function(name, default)
    if type(name) ~= "string" then error("env: variable name must be a string", 2) end
    local v = getenv(name)
    if v == nil or v == "" then return default end
    return v
  end
end

--- config.getenv_from(tbl) -> a getenv reading only tbl (hermetic tests).
function config.getenv_from(tbl)
  return function(name)
    local v = tbl[name]
    if v == false then return nil end
    return v
  end
end

-- Validation helpers -------------------------------------------------------

local function check_number(v, field, min, integer)
  if type(v) ~= "number" or v ~= v then fail(field, "must be a number") end
  if integer and v ~= math.floor(v) then fail(field, "must be an integer") end
  if min and v < min then fail(field, "must be >= " .. min) end
  return v
end

local function check_timeouts(t, field, base)
  local out = {}
  for _, k in ipairs(TIMEOUT_KEYS) do out[k] = base[k] end
  if t == nil then return out end
  if type(t) ~= "table" then fail(field, "must be a table") end
  for k, v in pairs(t) do
    if out[k] == nil then
      fail(field .. "." .. tostring(k), "unknown timeout (expected connect, first_byte, idle or total)")
    end
    check_number(v, field .. "." .. k, 0)
    if v <= 0 then fail(field .. "." .. k, "must be > 0") end
    out[k] = v
  end
  return out
end

local function check_backoff(b, field, base)
  local out = { base = base.base, cap = base.cap }
  if b == nil then return out end
  if type(b) ~= "table" then fail(field, "must be a table") end
  for k, v in pairs(b) do
    if k ~= "base" and k ~= "cap" then fail(field .. "." .. tostring(k), "unknown field (expected base or cap)") end
    out[k] = check_number(v, field .. "." .. k, 0)
  end
  return out
end

local function check_string_list(t, field)
  if type(t) ~= "table" then fail(field, "must be an array of strings") end
  local n = #t
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k ~= math.floor(k) then
      fail(field, "must be an array of strings")
    end
  end
  for i = 1, n do
    if type(t[i]) ~= "string" or t[i] == "" then fail(field .. "[" .. i .. "]", "must be a non-empty string") end
  end
  return t
end

--- config.normalize_timeouts/backoff are used by host for per-attempt overrides.
config.check_timeouts = check_timeouts
config.check_backoff = check_backoff
config.check_number = check_number

local function load_kind(kind, field)
  if type(kind) ~= "string" or not kind:match("^[%w_]+$") then fail(field, "must be a provider kind name (e.g. \"openai\")") end
  local ok, mod = pcall(require, "moongate.providers." .. kind)
  if not ok then
    if tostring(mod):find("module 'moongate.providers." .. kind .. "' not found", 1, true) then
      fail(field, "unknown provider kind '" .. kind .. "' (no module moongate.providers." .. kind .. ")")
    end
    error(mod, 0)
  end
  return mod
end

local function normalize_provider(name, p, defaults)
  local where = "providers." .. tostring(name)
  if type(name) ~= "string" or not name:match("^[%w_%-%.]+$") then
    fail(where, "provider names must be strings of letters, digits, '_', '-' or '.'")
  end
  if type(p) ~= "table" then fail(where, "must be a table") end
  local P = { name = name }
  local pr
  P.kind, P.preset, pr = presets.resolve(p.kind == nil and "openai" or p.kind, p.preset, where)
  P.module = load_kind(P.kind, where .. ".kind")
  P.dialect = P.module.dialect or "openai"
  -- base_url: the config's, else the preset's or the kind's default.
  local base_url = p.base_url
  if base_url == nil then base_url = (pr and pr.base_url) or P.module.default_base_url end
  if type(base_url) ~= "string" then fail(where .. ".base_url", "must be a string") end
  if not base_url:match("^https?://[^/]") then fail(where .. ".base_url", "must start with http:// or https://") end
  -- Control bytes and spaces never belong in a URL; CR/LF would split it.
  if base_url:find("[%c ]") then fail(where .. ".base_url", "must not contain spaces or control characters") end
  P.base_url = base_url:gsub("/+$", "")
  -- api_key: a non-empty string enables; nil/"" (env var unset) disables;
  -- false or "none" mark a keyless provider (local servers; keyless presets
  -- such as ollama are keyless without an api_key too).
  local key = p.api_key
  if (key == nil or key == "") and pr and pr.keyless then key = false end
  if key == false or key == "none" then
    P.keyless, P.enabled = true, true
  elseif key == nil or key == "" then
    P.enabled = false
  elseif type(key) == "string" then
    -- The key goes into an "Authorization: Bearer <key>" line: a CR or LF
    -- (a .env file saved with CRLF) would end that line and start another.
    if key:find("[\r\n%z]") then fail(where .. ".api_key", "must not contain line breaks or NUL") end
    P.api_key, P.enabled = key, true
  else
    fail(where .. ".api_key", "must be a string, false or \"none\"")
  end
  if p.enabled == false then P.enabled = false end
  P.models = p.models == nil and {} or check_string_list(p.models, where .. ".models")
  P.model_set = {}
  for _, m in ipairs(P.models) do P.model_set[m] = true end
  P.timeouts = check_timeouts(p.timeouts, where .. ".timeouts", defaults.timeouts)
  P.retries = p.retries == nil and defaults.retries or check_number(p.retries, where .. ".retries", 0, true)
  P.backoff = check_backoff(p.backoff, where .. ".backoff", defaults.backoff)
  P.headers = {}
  if p.headers ~= nil then
    if type(p.headers) ~= "table" then fail(where .. ".headers", "must be a table of name = value") end
    for k, v in pairs(p.headers) do
      if type(k) ~= "string" or not k:match("^[%w%-_]+$") then fail(where .. ".headers", "header names must be tokens") end
      if type(v) ~= "string" or v:find("[\r\n]") then fail(where .. ".headers." .. k, "must be a string without line breaks") end
      P.headers[#P.headers + 1] = k .. ": " .. v
    end
    sort(P.headers)
  end
  if pr then presets.apply(P, p, pr, where) end
  if P.module.validate then P.module.validate(P, p, where) end
  return P
end

local function normalize_target(t, i, aname, providers)
  local where = "aliases." .. aname .. "[" .. i .. "]"
  if type(t) == "string" then
    -- Shorthand "provider/model".
    local pn, m = t:match("^([^/]+)/(.+)$")
    if not pn then fail(where, "must be a table {provider=, model=} or a \"provider/model\" string") end
    t = { provider = pn, model = m }
  end
  if type(t) ~= "table" then fail(where, "must be a table {provider=, model=}") end
  if type(t.provider) ~= "string" then fail(where .. ".provider", "must be a string") end
  if not providers[t.provider] then fail(where .. ".provider", "unknown provider '" .. t.provider .. "'") end
  if type(t.model) ~= "string" or t.model == "" then fail(where .. ".model", "must be a non-empty string") end
  local w = 1
  if t.weight ~= nil then w = check_number(t.weight, where .. ".weight", 0) end
  return { provider = t.provider, model = t.model, weight = w }
end

--- config.build(tbl, opts) -> normalized config (raises "field: message").
-- opts: path (the config file, for relative paths), root (repository root),
-- policy (overrides tbl.policy).
function config.build(c, opts)
  opts = opts or {}
  if type(c) ~= "table" then error("config must return a table", 0) end
  local path = opts.path
  local dir = path and dirname(path) or "."
  local root = opts.root or config.repo_root()
  local cfg = { path = path, dir = dir, root = root, raw = c }

  if c.listen ~= nil and type(c.listen) ~= "string" then fail("listen", "must be a string like \"127.0.0.1:8080\"") end
  cfg.listen = c.listen
  if c.log ~= nil and type(c.log) ~= "string" then fail("log", "must be a string (\"stderr\" or a file path)") end
  cfg.log = c.log
  local aff = c.worker_cpu_affinity
  if aff ~= nil and aff ~= "auto" and aff ~= "off" then
    fail("worker_cpu_affinity", "must be \"auto\" (worker i on CPU i) or \"off\"")
  end
  cfg.worker_cpu_affinity = aff
  for _, k in ipairs(C_NUMBERS) do
    if c[k] ~= nil then cfg[k] = check_number(c[k], k, 0, k == "workers" or k:match("^max_") ~= nil) end
  end
  if cfg.workers and cfg.workers < 1 then fail("workers", "must be >= 1") end

  -- Global defaults.
  local d = c.defaults
  if d ~= nil and type(d) ~= "table" then fail("defaults", "must be a table") end
  d = d or {}
  local G = config.DEFAULTS
  cfg.defaults = {
    timeouts = check_timeouts(d.timeouts, "defaults.timeouts", G.timeouts),
    retries = d.retries == nil and G.retries or check_number(d.retries, "defaults.retries", 0, true),
    backoff = check_backoff(d.backoff, "defaults.backoff", G.backoff),
  }

  -- Providers.
  if type(c.providers) ~= "table" then fail("providers", "must be a table of name = { kind, base_url, api_key, models }") end
  local providers, names = {}, {}
  for name, p in pairs(c.providers) do
    providers[name] = normalize_provider(name, p, cfg.defaults)
    names[#names + 1] = name
  end
  if #names == 0 then fail("providers", "must define at least one provider") end
  sort(names)
  cfg.providers = providers
  cfg.provider_names = names
  local enabled, model_providers, model_ids = {}, {}, {}
  for _, name in ipairs(names) do
    local P = providers[name]
    if P.enabled then
      enabled[#enabled + 1] = name
      for _, m in ipairs(P.models) do
        local list = model_providers[m]
        if not list then
          list = {}
          model_providers[m] = list
          model_ids[#model_ids + 1] = m
        end
        list[#list + 1] = P
      end
      if P.module.prepare then P.module.prepare(P) end
    end
  end
  sort(model_ids)
  cfg.enabled, cfg.model_providers, cfg.model_ids = enabled, model_providers, model_ids

  -- Aliases. Targets on disabled providers are dropped (the alias stays, and
  -- routes to what remains).
  local aliases, alias_names = {}, {}
  if c.aliases ~= nil and type(c.aliases) ~= "table" then fail("aliases", "must be a table of name = { targets }") end
  for aname, targets in pairs(c.aliases or {}) do
    if type(aname) ~= "string" or aname == "" then fail("aliases", "alias names must be non-empty strings") end
    if type(targets) ~= "table" or #targets == 0 then fail("aliases." .. aname, "must be a non-empty array of targets") end
    local list = {}
    for i, t in ipairs(targets) do
      local T = normalize_target(t, i, aname, providers)
      if providers[T.provider].enabled then list[#list + 1] = T end
    end
    aliases[aname] = list
    alias_names[#alias_names + 1] = aname
  end
  -- Without a configured `auto`, it means: the first model of each enabled
  -- provider, in name order; the first one always first (weight 0 = fallback only).
  if not aliases.auto then
    local list = {}
    for _, name in ipairs(enabled) do
      local P = providers[name]
      if P.models[1] then list[#list + 1] = { provider = name, model = P.models[1], weight = #list == 0 and 1 or 0 } end
    end
    if #list > 0 then
      aliases.auto = list
      alias_names[#alias_names + 1] = "auto"
    end
  end
  sort(alias_names)
  cfg.aliases, cfg.alias_names = aliases, alias_names

  local avail = {}
  for _, m in ipairs(model_ids) do avail[#avail + 1] = m end
  for _, a in ipairs(alias_names) do
    if not model_providers[a] then avail[#avail + 1] = a end
  end
  cfg.available = #avail > 0 and concat(avail, ", ") or "(none)"

  if c.options ~= nil and type(c.options) ~= "table" then fail("options", "must be a table") end
  cfg.options = c.options or {}

  local pol = opts.policy or c.policy
  if pol ~= nil and (type(pol) ~= "string" or pol == "") then fail("policy", "must be a path string") end
  cfg.policy = pol and config.resolve_path(pol, dir, root) or (root .. "/scripts/default.lua")
  return cfg
end

--- config.load(path_or_table, opts) -> normalized config.
-- opts.getenv replaces os.getenv for env() (tests pass a table-backed one).
function config.load(src, opts)
  opts = opts or {}
  if type(src) == "table" then return config.build(src, opts) end
  if type(src) ~= "string" then error("config: expected a file path or a table", 0) end
  local chunk, err = loadfile(src)
  if not chunk then error(err, 0) end
  -- The config is trusted operator code: full globals plus env().
  local env = setmetatable({ env = config.env_function(opts.getenv or os.getenv) }, { __index = _G })
  setfenv(chunk, env)
  local c = chunk()
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.path = src
  -- Validation errors name the field; the caller (C: "moongate: FILE: ...")
  -- names the file.
  return config.build(c, o)
end

return config
