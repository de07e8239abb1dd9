-- moongate.providers.gemini: upstream requests for the Gemini API (AI Studio keys).
--
-- Owns: what one attempt sends to a provider of kind "gemini" (internals.md
-- section 6): POST {base}/{api_version}/models/{model}:generateContent, or
-- :streamGenerateContent?alt=sse for streams (SSE, not the JSON-array framing:
-- a Gemini client that asked for the array gets it from the translator's
-- re-framing, see moongate.translate), :countTokens, or :batchEmbedContents
-- (OpenAI embeddings, translated); headers `x-goog-api-key` and
-- `Content-Type`. The body is already a Gemini request (no top-level `model`:
-- the model is in the URL), relayed as is.
--
-- Config: { kind = "gemini", api_key = env("GEMINI_API_KEY"),
--           base_url = "https://generativelanguage.googleapis.com" (default;
--           the host root), api_version = "v1beta", models = {...} }
local upstream = require("moongate.upstream")

local M = { dialect = "gemini", default_base_url = "https://generativelanguage.googleapis.com" }

function M.validate(P, raw, where)
  local v = raw.api_version
  if v ~= nil and (type(v) ~= "string" or not v:match("^[%w]+$")) then
    error(where .. ".api_version: must be a version name like \"v1beta\"", 0)
  end
  P.api_version = v or "v1beta"
end

-- Model ids go into the path: anything outside the unreserved set is escaped.
local escape = upstream.escape

function M.prepare(P)
  local base = P.base_url:gsub("/v1beta$", ""):gsub("/v1$", "")
  P.models_url = base .. "/" .. (P.api_version or "v1beta") .. "/models/"
  local _
  _, P.h_json, P.h_json_sse = upstream.headers(P, P.api_key and "x-goog-api-key: " .. P.api_key)
end

--- M.url(P, model, endpoint, stream) -> the request URL
function M.url(P, model, endpoint, stream)
  local m = escape((model:gsub("^models/", "")))
  if endpoint == "count_tokens" then return P.models_url .. m .. ":countTokens" end
  if endpoint == "embeddings" then return P.models_url .. m .. ":batchEmbedContents" end
  if stream then return P.models_url .. m .. ":streamGenerateContent?alt=sse" end
  return P.models_url .. m .. ":generateContent"
end

function M.build(P, model, req, shared)
  return M.url(P, model, shared.endpoint, shared.stream), shared.stream and P.h_json_sse or P.h_json, req:_upstream_body()
end

return M
