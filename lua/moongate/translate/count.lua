-- moongate.translate.count: token-count requests and replies between the
-- Anthropic and Gemini dialects (PROTOCOLS.md 2.6 and 4.5).
--
-- Owns: turning a client's count request into the provider's count request
-- through the same OpenAI pivot the chat translators use (so a count sees the
-- prompt a real request would send: system, messages, tools), and the reply
-- mapping {"totalTokens":N} <-> {"input_tokens":N}. OpenAI-kind providers
-- have no count endpoint; the host answers those with a labelled estimate.
--
--   Anthropic: POST /v1/messages/count_tokens
--     {model, messages, system?, tools?, tool_choice?, thinking?} -> {"input_tokens":N}
--   Gemini:    POST /v1beta/models/{m}:countTokens
--     {"contents":[...]} or {"generateContentRequest":{model, contents, systemInstruction?, tools?, ...}}
--     -> {"totalTokens":N, ...}
--
-- Decisions:
--   * To Gemini: always the generateContentRequest form, with model
--     "models/<id>": the Developer API refuses systemInstruction and tools at
--     the top level, and `contents` alone would leave them out of the count.
--   * To Anthropic: only the members count_tokens accepts are kept; the chat
--     translation also adds max_tokens, sampling fields, stream and metadata.
--   * From Gemini: a missing totalTokens is 0 (proto3 JSON omits zero values).
--   * A count consumes no tokens: the replies never set usage, so the access
--     log keeps prompt/completion tokens null, as for a relayed count.
local C = require("moongate.translate.common")
local OA = require("moongate.translate.openai_anthropic")
local OG = require("moongate.translate.openai_gemini")

local type, ipairs, tostring, unpack = type, ipairs, tostring, unpack
local find, gsub = string.find, string.gsub
local encode, obj = C.encode, C.obj

local M = {}

--- Dialects whose providers have a count endpoint.
M.DIALECTS = { anthropic = true, gemini = true }

--- M.supported(client, upstream) -> true when a count from `client` can be
-- answered by a provider of another dialect `upstream`.
function M.supported(client, upstream)
  return client ~= upstream and M.DIALECTS[client] == true and M.DIALECTS[upstream] == true
end

-- The members of an Anthropic count_tokens body, in the order they are sent.
local ANTHROPIC_KEYS = { "model", "system", "messages", "tools", "tool_choice", "thinking" }

local function anthropic_count_body(raw)
  local m = C.members(raw)
  if not m then return nil, "translated request is not a JSON object" end
  local args = {}
  for _, k in ipairs(ANTHROPIC_KEYS) do
    args[#args + 1] = k
    args[#args + 1] = m[k] or false
  end
  return obj(unpack(args))
end

-- {"generateContentRequest":{"model":"models/<m>", <the members of body>}}
local function gemini_count_body(body, model)
  local inner = body:match("^[ \t\r\n]*{(.*)}[ \t\r\n]*$")
  if not inner then return nil, "translated request is not a JSON object" end
  local name = "models/" .. gsub(tostring(model or ""), "^models/", "")
  local sep = find(inner, "%S") and "," or ""
  return '{"generateContentRequest":{"model":' .. encode(name) .. sep .. inner .. "}}"
end

-- A Gemini count body's request: the generateContentRequest object when there
-- is one, else the body itself ({"contents":[...]}).
local function gemini_request_of(raw)
  local m = C.members(raw)
  if not m then return raw end
  local g = m.generateContentRequest or m.generate_content_request
  if C.is_object(g) then return g end
  return raw
end

--- M.request(client, upstream, raw, ctx) -> the count body for the upstream | nil, err
-- ctx as for the chat translators (model: the upstream model id).
function M.request(client, upstream, raw, ctx)
  ctx = ctx or {}
  if client == "anthropic" and upstream == "gemini" then
    local pivot, err = OA.request_anthropic_to_openai(raw, ctx)
    if not pivot then return nil, err end
    local body
    body, err = OG.request_openai_to_gemini(pivot, ctx)
    if not body then return nil, err end
    return gemini_count_body(body, ctx.model or ctx.client_model)
  elseif client == "gemini" and upstream == "anthropic" then
    local pivot, err = OG.request_gemini_to_openai(gemini_request_of(raw), ctx)
    if not pivot then return nil, err end
    local body
    body, err = OA.request_openai_to_anthropic(pivot, ctx)
    if not body then return nil, err end
    return anthropic_count_body(body)
  end
  return nil, "token counting is not translated from " .. tostring(client) .. " to " .. tostring(upstream)
end

--- M.response(client, upstream, raw) -> the count reply in the client's dialect | nil, err
function M.response(client, upstream, raw)
  local j = C.decode(raw)
  if type(j) ~= "table" then return nil, "count reply is not a JSON object" end
  local n
  if upstream == "gemini" then
    n = j.totalTokens
    if n == nil then n = j.total_tokens end
    if n == nil then n = 0 end
  else
    n = j.input_tokens
  end
  if type(n) ~= "number" then return nil, "count reply has no token count" end
  n = C.int(n)
  if client == "gemini" then return obj("totalTokens", encode(n)) end
  return obj("input_tokens", encode(n))
end

return M
