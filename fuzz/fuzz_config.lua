-- fuzz/fuzz_config.lua - runs one config text through the real loader,
-- config.load(path), in a fresh state that fuzz_config.c makes per input.
-- Returns { load = function(path), classify = function(ok, result) }:
-- C calls load under the instruction budget, then classify (no budget)
-- unless the budget ran out.
--
-- The config file is operator code with full globals in the gateway. Here it
-- gets a sandbox (loadfile and setfenv are wrapped around config.load's own
-- calls): no io, os.execute, require, debug, jit, load*, setmetatable or
-- getmetatable, so that fuzzed text cannot touch the machine, switch the JIT
-- back on (count hooks do not fire in traces), or hand config.build objects
-- with metamethods (then every error inside build is the loader's own).
-- env() reads a fixed table, so runs are hermetic.
--
-- Invariants (classify):
--  - a syntax error is reported as "<path>:<line>: ...";
--  - an error while the config chunk runs is the config's business (any
--    message) - but error() and assert() are wrapped to always give strings;
--  - an error in validation (config.build) is "field: message" with a field
--    the config knows, or "config must return a table" - never a Lua runtime
--    error inside lua/moongate (that is a loader bug);
--  - "not enough memory" (the allocator cap) is accepted anywhere;
--  - a config that loads has the documented shape: providers, sorted enabled
--    names, resolvable aliases, a policy path, header lines without CR/LF.
local config = require("moongate.config")

local real_loadfile, real_setfenv, real_error = loadfile, setfenv, error
local type, pairs, ipairs, tostring, find, format = type, pairs, ipairs, tostring, string.find, string.format

local ROOT = ...   -- the repository root, passed by fuzz_config.c
local phase        -- "load", "chunk" or "build"
local chunk_wrapper, chunk_real

local ENV = {
  OPENAI_API_KEY = "sk-test", MOCK_URL = "http://127.0.0.1:9001/v1",
  MOONGATE_LISTEN = "127.0.0.1:8080", MOONGATE_WORKERS = "2",
}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local SANDBOX = {
  string = copy(string), table = copy(table), math = copy(math),
  pairs = pairs, ipairs = ipairs, next = next, select = select, type = type,
  tostring = tostring, tonumber = tonumber, unpack = unpack, pcall = pcall,
  rawget = rawget, rawequal = rawequal, rawset = rawset,
  os = { time = os.time, clock = os.clock, date = os.date, getenv = function(n) return ENV[n] end },
  print = function() end,
  error = function(m) real_error(tostring(m), 2) end,
  assert = function(v, m, ...)
    if not v then real_error(m == nil and "assertion failed!" or tostring(m), 2) end
    return v, m, ...
  end,
}
SANDBOX._G = SANDBOX
SANDBOX.string.dump = nil

-- config.load calls loadfile(src), then setfenv(chunk, env) with
-- env = setmetatable({ env = ... }, { __index = _G }), then chunk().
loadfile = function(p)
  local f, err = real_loadfile(p)
  if not f then return nil, err end
  chunk_real = f
  chunk_wrapper = function(...)
    phase = "chunk"
    local r = f(...)
    phase = "build"
    return r
  end
  return chunk_wrapper
end

setfenv = function(f, env)
  if f == chunk_wrapper and type(env) == "table" then
    getmetatable(env).__index = SANDBOX
    return real_setfenv(chunk_real, env)
  end
  return real_setfenv(f, env)
end

local FIELDS = {
  listen = true, log = true, defaults = true, providers = true, aliases = true,
  options = true, policy = true,
}
for _, k in ipairs(config.C_NUMBERS) do FIELDS[k] = true end

local function fail(fmt, ...)
  real_error("INVARIANT: " .. format(fmt, ...), 0)
end

local path_ = nil

local function load(path)
  path_ = path
  phase = "load"
  return config.load(path, { getenv = config.getenv_from(ENV), root = ROOT })
end

local function is_sorted(t)
  for i = 2, #t do if not (t[i - 1] < t[i]) then return false end end
  return true
end

local function check_config(cfg)
  if type(cfg) ~= "table" then fail("config.load returned %s", type(cfg)) end
  if type(cfg.providers) ~= "table" or type(cfg.enabled) ~= "table" then fail("no providers/enabled") end
  if not is_sorted(cfg.enabled) then fail("enabled not sorted") end
  for _, name in ipairs(cfg.enabled) do
    local P = cfg.providers[name]
    if type(P) ~= "table" or not P.enabled then fail("enabled %s is not an enabled provider", tostring(name)) end
    if type(P.base_url) ~= "string" or not P.base_url:match("^https?://[^/]") then fail("base_url of %s", name) end
    for _, k in ipairs({ "connect", "first_byte", "idle", "total" }) do
      local v = P.timeouts[k]
      if type(v) ~= "number" or not (v > 0) then fail("timeout %s of %s is %s", k, name, tostring(v)) end
    end
    for _, list in ipairs({ P.h_base or {}, P.h_json or {}, P.h_json_sse or {} }) do
      for _, h in ipairs(list) do
        if find(h, "[\r\n]") then fail("provider %s sends a header line with CR/LF: %q", name, h) end
      end
    end
  end
  for name, targets in pairs(cfg.aliases) do
    if type(name) ~= "string" then fail("alias name %s", tostring(name)) end
    for _, t in ipairs(targets) do
      if not (cfg.providers[t.provider] and cfg.providers[t.provider].enabled) then
        fail("alias %s targets a provider that is not enabled", name)
      end
      if type(t.weight) ~= "number" or t.weight < 0 then fail("alias %s weight", name) end
    end
  end
  if type(cfg.policy) ~= "string" or cfg.policy == "" then fail("policy path") end
  if type(cfg.available) ~= "string" then fail("available") end
end

local function classify(ok, res)
  if ok then return check_config(res) end
  if type(res) ~= "string" then fail("non-string error (%s) in phase %s", type(res), tostring(phase)) end
  if res == "not enough memory" then return end
  if phase == "load" then
    if res:sub(1, #path_ + 1) ~= path_ .. ":" then fail("load error without file:line: %s", res) end
  elseif phase == "chunk" then
    return   -- the config's own code failed: its message, its business
  else
    if res == "config must return a table" then return end
    local field = res:match("^([%w_]+)[%.%[:]")
    if not field or not FIELDS[field] or not find(res, ": ", 1, true) then
      fail("validation error that names no field: %s", res)
    end
    if find(res, "lua/moongate/", 1, true) and find(res, "attempt to", 1, true) then
      fail("Lua runtime error inside the loader: %s", res)
    end
  end
end

return { load = load, classify = classify }
