-- moongate.providers.anthropic: upstream requests for the Anthropic Messages API.
--
-- Owns: what one attempt sends to a provider of kind "anthropic" (internals.md
-- section 6): POST {base}/v1/messages (or /v1/messages/count_tokens), headers
-- `x-api-key`, `anthropic-version` (config `version`, default 2023-06-01) and
-- `content-type`, plus the client's `anthropic-beta` (and its `anthropic-version`,
-- which then wins over the configured one) when an Anthropic client
-- sent one. The body is already in the Anthropic dialect (translated by
-- moongate.translate, or an Anthropic client's own bytes): only `model` is
-- spliced in when it differs.
--
-- Config: { kind = "anthropic", api_key = env("ANTHROPIC_API_KEY"),
--           base_url = "https://api.anthropic.com" (default; the host root, a
--           trailing /v1 is tolerated), version = "2023-06-01", models = {...} }
local json = require("moongate.json")
local upstream = require("moongate.upstream")
local with = upstream.with
local band, PEEK_OBJECT = require("bit").band, require("moongate.request").PEEK.OBJECT

local M = { dialect = "anthropic", default_base_url = "https://api.anthropic.com" }

local PATHS = { messages = "/v1/messages", count_tokens = "/v1/messages/count_tokens" }

function M.validate(P, raw, where)
  local v = raw.version
  if v ~= nil and (type(v) ~= "string" or v == "" or v:find("[%c]")) then
    error(where .. ".version: must be a non-empty string like \"2023-06-01\"", 0)
  end
  P.version = v or "2023-06-01"
end

function M.prepare(P)
  local base = P.base_url:gsub("/v1$", "")
  local _
  _, P.h_json, P.h_json_sse = upstream.headers(P, P.api_key and "x-api-key: " .. P.api_key,
    "anthropic-version: " .. (P.version or "2023-06-01"))
  P.urls = {}
  for ep, path in pairs(PATHS) do P.urls[ep] = base .. path end
end

function M.build(P, model, req, shared)
  local url = P.urls[shared.endpoint] or P.urls.messages
  local headers = shared.stream and P.h_json_sse or P.h_json
  local beta = req:header("anthropic-beta")
  if beta and not beta:find("[\r\n]") then headers = with(headers, "anthropic-beta: " .. beta) end
  -- An Anthropic client's own version wins: its body may use what that
  -- version added (the 1.x SDK sends a system role inside messages).
  local cv = req:header("anthropic-version")
  if cv and cv ~= P.version and cv:match("^[%w%-]+$") then
    local out = {}
    for i = 1, #headers do
      out[i] = headers[i]:find("^anthropic%-version:") and ("anthropic-version: " .. cv) or headers[i]
    end
    headers = out
  end
  local f, cm = req:_peek()
  local body
  if f and band(f, PEEK_OBJECT) ~= 0 and cm ~= model then
    body = req:_upstream_body({ model = json.encode(model) }, { "model" })
  else
    body = req:_upstream_body()
  end
  return url, headers, body
end

return M
