-- moongate.providers.azure: upstream requests for Azure OpenAI (PROTOCOLS 5).
--
-- Owns: URLs and auth for kind "azure"; the dialect is OpenAI, so the body is
-- built exactly as moongate.providers.openai builds it (model splice,
-- include_usage for streams).
--   classic: POST {base}/openai/deployments/{deployment}/chat/completions?api-version={api_version}
--   v1 API (api_version = "v1"): POST {base}/openai/v1/chat/completions, body
--            `model` = the deployment name
-- Header `api-key: <key>` (not Bearer). The deployment of a model comes from
-- the `deployments = { ["gpt-4o"] = "my-gpt4o" }` map, else the model id is
-- used as the deployment name.
--
-- Config: { kind = "azure", base_url = "https://RESOURCE.openai.azure.com",
--           api_key = env("AZURE_OPENAI_API_KEY"), api_version = "2024-10-21",
--           deployments = {...}, models = {...} }
local openai = require("moongate.providers.openai")
local upstream = require("moongate.upstream")

local M = { dialect = "openai" }

local SUFFIX = { chat = "/chat/completions", completions = "/completions", embeddings = "/embeddings" }

local function fail(field, msg) error(field .. ": " .. msg, 0) end

function M.validate(P, raw, where)
  local v = raw.api_version
  if v ~= nil and (type(v) ~= "string" or not v:match("^[%w%-%.]+$")) then
    fail(where .. ".api_version", "must be an api-version string like \"2024-10-21\" or \"v1\"")
  end
  P.api_version = v or "2024-10-21"
  local d = raw.deployments
  P.deployments = {}
  if d ~= nil then
    if type(d) ~= "table" then fail(where .. ".deployments", "must be a table of model = \"deployment\"") end
    for k, name in pairs(d) do
      if type(k) ~= "string" or type(name) ~= "string" or name == "" or not name:match("^[%w%-%._]+$") then
        fail(where .. ".deployments", "entries must be model = \"deployment-name\" (letters, digits, - . _)")
      end
      P.deployments[k] = name
    end
  end
end

local escape = upstream.escape

function M.prepare(P)
  P.api_version = P.api_version or "2024-10-21"
  P.deployments = P.deployments or {}
  local base = P.base_url:gsub("/openai/v1$", ""):gsub("/openai$", "")
  P.azure_base = base
  P.h_base, P.h_json, P.h_json_sse = upstream.headers(P, P.api_key and "api-key: " .. P.api_key)
end

--- M.url(P, model, endpoint) -> URL (nil for a passthrough endpoint)
function M.url(P, model, ep)
  local suffix = SUFFIX[ep]
  if not suffix then return nil end
  if P.api_version == "v1" then return P.azure_base .. "/openai/v1" .. suffix end
  return P.azure_base .. "/openai/deployments/" .. escape(P.deployments[model] or model) .. suffix
    .. "?api-version=" .. P.api_version
end

function M.build(P, model, req, shared)
  local ep = shared.endpoint
  local url = M.url(P, model, ep)
  if not url then
    -- Passthrough: {base}/openai/<path after /v1>, api-version added.
    local q = openai.relay_query(req.query)
    if P.api_version ~= "v1" then
      q = (q == "" and "?" or q .. "&") .. "api-version=" .. P.api_version
      url = P.azure_base .. "/openai" .. req.path:sub(4) .. q
    else
      url = P.azure_base .. "/openai/v1" .. req.path:sub(4) .. q
    end
    local body = req:_final_body()
    if body == "" and (req.method == "GET" or req.method == "HEAD" or req.method == "DELETE") then body = nil end
    return url, body and P.h_json or P.h_base, body
  end
  -- The v1 API selects the deployment with the body's model.
  local body_model = P.api_version == "v1" and (P.deployments[model] or model) or model
  return url, shared.stream and P.h_json_sse or P.h_json, openai.body(P, body_model, req, shared)
end

return M
