-- moongate.testing: helpers for busted specs of configs and policies.
--
-- Owns: a fake `core` in Lua (the same interface as the C userdata of
-- internals.md section 1) and a loaded gateway that runs the real config,
-- provider modules, sandbox and host code, without C. Hermetic: env() in the
-- config and os.getenv in the policy only see the `env` table given to load.
--
--   local t = require("moongate.testing")
--   local gw = t.load{ config = "examples/moongate.lua",        -- path or config table
--                      policy = "examples/policies/x.lua",      -- optional override
--                      env = { OPENAI_API_KEY = "sk-test" } }
--   local plan, req = gw:route{ path = "/v1/chat/completions",
--                               headers = { ["Routeur-Model"] = "gpt-4o" },
--                               query = { vendor = "openai" },   -- or "vendor=openai"
--                               body = { model = "auto", messages = { { role = "user", content = "hi" } } } }
--   -- rejected: nil, status, message, req
--   local res = gw:handle{ ... }   -- the compiled host.handle result (url, headers, body, ms)
local host = require("moongate.host")
local config = require("moongate.config")
local Request = require("moongate.request")
local json = require("moongate.json")

local t = {}

local Core = {}
Core.__index = Core

local function check(self)
  if self._finished then error("request finished", 3) end
end

function Core:header(name)
  check(self)
  return self._h[name:lower()]
end

function Core:headers()
  check(self)
  local out = {}
  for i, p in ipairs(self._list) do out[i] = { p[1], p[2] } end
  return out
end

function Core:body()
  check(self)
  return self._body
end

--- core:finish(): later accesses raise "request finished", as in C.
function Core:finish()
  self._finished = true
end

local function url_encode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function encode_query(q)
  if q == nil then return "" end
  if type(q) == "string" then return (q:gsub("^%?", "")) end
  local keys = {}
  for k in pairs(q) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do keys[i] = url_encode(k) .. "=" .. url_encode(q[k]) end
  return table.concat(keys, "&")
end

local seq = 0

--- t.fake_core{ method, path, query, headers, body, id, client } -> core
-- headers: { Name = value } or { {name, value}, ... }; body: string (as is)
-- or table (json.encode: sorted keys; use json.empty_array for `[]`).
function t.fake_core(spec)
  spec = spec or {}
  seq = seq + 1
  local body = spec.body
  if type(body) == "table" then body = json.encode(body) end
  local h, list = {}, {}
  for k, v in pairs(spec.headers or {}) do
    local name, value = k, v
    if type(k) == "number" then name, value = v[1], v[2] end
    list[#list + 1] = { name, value }
  end
  table.sort(list, function(a, b) return a[1]:lower() < b[1]:lower() end)
  for _, p in ipairs(list) do
    local l = p[1]:lower()
    if h[l] == nil then h[l] = p[2] end
  end
  local path, query = spec.path or "/v1/chat/completions", spec.query
  if query == nil and path:find("?", 1, true) then path, query = path:match("^([^?]*)%?(.*)$") end
  return setmetatable({
    id = spec.id or ("test-" .. seq),
    method = spec.method or (body and "POST" or "GET"),
    path = path,
    query = encode_query(query),
    client = spec.client or "127.0.0.1:40000",
    _h = h, _list = list, _body = body or "",
  }, Core)
end

--- t.fake_request{ ..., config = normalized config (optional) } -> Request
function t.fake_request(spec)
  return Request.new(t.fake_core(spec), spec and spec.config)
end

local Gateway = {}
Gateway.__index = Gateway

--- gw:route(spec) -> plan, req | nil, status, message, req
-- Runs the policy's route() on a fake request; the plan is exactly what the
-- policy returned (seconds, no URLs).
function Gateway:route(spec)
  local req = Request.new(t.fake_core(spec), self.config)
  local plan, status, message = self.host:route(req)
  if plan == nil then return nil, status, message, req end
  return plan, req
end

--- gw:handle(spec) -> the host.handle result: a local reply or a proxy plan.
function Gateway:handle(spec)
  return self.host:handle(t.fake_core(spec))
end

--- gw:done(summary): runs the policy's on_done.
function Gateway:done(summary)
  return self.host:done(summary)
end

local function file_exists(p)
  local f = io.open(p, "r")
  if f then f:close() end
  return f ~= nil
end

--- t.load{ config = path|table, policy = path?, env = table? } -> gateway
-- gw.config (normalized), gw.hooks (the policy's table), gw.settings (for C).
function t.load(opts)
  opts = opts or {}
  local getenv = config.getenv_from(opts.env or {})
  local policy = opts.policy
  if policy and policy:sub(1, 1) ~= "/" and file_exists(policy) then
    -- Paths given to the helper are relative to the working directory.
    local pwd = os.getenv("PWD")
    if pwd then policy = pwd .. "/" .. policy end
  end
  local inst = host.new(opts.config, { getenv = getenv, policy = policy })
  return setmetatable({ host = inst, config = inst.config, hooks = inst.hooks, settings = inst.settings }, Gateway)
end

--- t.decode(text) -> decoded JSON (for asserting on local reply bodies).
t.decode = json.decode

return t
