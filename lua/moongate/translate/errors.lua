-- moongate.translate.errors: error envelopes and error types per dialect.
--
-- Owns: the HTTP status -> error type tables for the three dialects
-- (OpenAI `type`, Anthropic `error.type`, Gemini `error.status`), the body
-- shape of each (DESIGN.md 9, PROTOCOLS 1.4, 2.5, 4.6), and the parser that
-- reads an upstream error body in any dialect (plus the flat Mistral/vLLM,
-- numeric-code OpenRouter and string Ollama variants) into
-- message/type/code so it can be re-emitted in the client's dialect.
local C = require("moongate.translate.common")

local type, tostring, tonumber = type, tostring, tonumber
local encode, obj = C.encode, C.obj

local E = {}

E.OPENAI = {
  [400] = "invalid_request_error", [401] = "authentication_error", [403] = "permission_denied",
  [404] = "not_found", [405] = "invalid_request_error", [409] = "invalid_request_error",
  [413] = "invalid_request_error", [422] = "invalid_request_error", [429] = "rate_limit_exceeded",
}
E.ANTHROPIC = {
  [400] = "invalid_request_error", [401] = "authentication_error", [402] = "billing_error",
  [403] = "permission_error", [404] = "not_found_error", [413] = "request_too_large",
  [429] = "rate_limit_error", [500] = "api_error", [504] = "timeout_error", [529] = "overloaded_error",
  [503] = "overloaded_error",
}
E.GEMINI = {
  [400] = "INVALID_ARGUMENT", [401] = "UNAUTHENTICATED", [403] = "PERMISSION_DENIED", [404] = "NOT_FOUND",
  [405] = "INVALID_ARGUMENT", [409] = "ABORTED", [413] = "INVALID_ARGUMENT", [429] = "RESOURCE_EXHAUSTED",
  [499] = "CANCELLED", [500] = "INTERNAL", [501] = "UNIMPLEMENTED", [502] = "UNAVAILABLE",
  [503] = "UNAVAILABLE", [504] = "DEADLINE_EXCEEDED",
}
-- Gemini status -> HTTP status (for errors met mid-stream).
E.GEMINI_HTTP = {
  INVALID_ARGUMENT = 400, FAILED_PRECONDITION = 400, OUT_OF_RANGE = 400, UNAUTHENTICATED = 401,
  PERMISSION_DENIED = 403, NOT_FOUND = 404, ABORTED = 409, ALREADY_EXISTS = 409,
  RESOURCE_EXHAUSTED = 429, CANCELLED = 499, INTERNAL = 500, UNKNOWN = 500, DATA_LOSS = 500,
  UNIMPLEMENTED = 501, UNAVAILABLE = 503, DEADLINE_EXCEEDED = 504,
}

--- E.type_for(dialect, status) -> the dialect's error type for an HTTP status.
function E.type_for(dialect, status)
  if dialect == "anthropic" then
    return E.ANTHROPIC[status] or (status and status < 500 and "invalid_request_error" or "api_error")
  elseif dialect == "gemini" then
    return E.GEMINI[status] or (status and status < 500 and "FAILED_PRECONDITION" or "INTERNAL")
  end
  return E.OPENAI[status] or "api_error"
end

--- E.status_for(etype, code) -> an HTTP status guessed from an error type/code
-- of any dialect (used for mid-stream errors, which carry no status).
function E.status_for(etype, code)
  if type(code) == "number" and code >= 400 and code <= 599 then return code end
  if type(etype) == "string" and E.GEMINI_HTTP[etype] then return E.GEMINI_HTTP[etype] end
  local s = tostring(etype or "") .. " " .. tostring(code or "")
  if s:find("rate_limit", 1, true) or s:find("quota", 1, true) then return 429 end
  if s:find("timeout", 1, true) then return 504 end
  if s:find("overloaded", 1, true) then return 503 end
  if s:find("invalid_request", 1, true) then return 400 end
  if s:find("authentication", 1, true) then return 401 end
  if s:find("permission", 1, true) then return 403 end
  if s:find("not_found", 1, true) then return 404 end
  -- The gateway's own verdicts on the upstream (type "upstream_error", codes
  -- upstream_reset / upstream_error; upstream_timeout matched above): a bad
  -- gateway, as O2G:error and O2G:finish say when no pivot is in between.
  if s:find("upstream_", 1, true) then return 502 end
  return 500
end

--- E.body(dialect, status, type, code, message) -> JSON text.
-- OpenAI keeps a given `type` (else the status's); Anthropic and Gemini always
-- use their own type for the status, unless `type` is already one of theirs.
function E.body(dialect, status, etype, code, message)
  message = tostring(message or "error")
  if dialect == "anthropic" then
    local t = etype
    local known = false
    for _, v in pairs(E.ANTHROPIC) do if v == t then known = true break end end
    if not known then t = E.type_for("anthropic", status) end
    return obj("type", '"error"', "error", obj("type", encode(t), "message", encode(message)))
  elseif dialect == "gemini" then
    local t = type(etype) == "string" and E.GEMINI_HTTP[etype] and etype or E.type_for("gemini", status)
    return obj("error", obj("code", encode(status or 500), "message", encode(message), "status", encode(t)))
  end
  return obj("error", obj("message", encode(message), "type", encode(etype or E.type_for("openai", status)),
    "param", "null", "code", code ~= nil and code ~= C.null and encode(tostring(code)) or "null"))
end

--- E.parse(body) -> message, type, code (any dialect; nil when not an error body)
function E.parse(body)
  local j = C.decode(body)
  if type(j) ~= "table" then return nil end
  local e = j.error
  if type(e) == "string" then return e, nil, nil end -- Ollama
  if type(e) == "table" then
    local msg, etype, code = C.error_fields(e)
    if type(e.status) == "string" and E.GEMINI_HTTP[e.status] then etype = e.status end
    -- Gemini: an invalid API key is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID.
    if type(e.details) == "table" then
      for _, d in ipairs(e.details) do
        if type(d) == "table" and d.reason == "API_KEY_INVALID" then etype, code = "UNAUTHENTICATED", 401 end
      end
    end
    return msg, etype, code
  end
  if j.object == "error" or type(j.message) == "string" then -- Mistral / vLLM flat shape
    return C.error_fields(j)
  end
  return nil
end

--- E.translate(dialect, status, body) -> status, body in `dialect`
-- Anthropic's 529 becomes 503 for the other dialects (SDKs retry any 5xx);
-- Gemini's API_KEY_INVALID 400 becomes 401.
function E.translate(dialect, status, body)
  local msg, etype, code = E.parse(body)
  if not msg then msg = "upstream error (HTTP " .. tostring(status) .. ")" end
  if etype == "UNAUTHENTICATED" and status == 400 then status = 401 end
  if status == 529 and dialect ~= "anthropic" then status = 503 end
  local out_type = etype
  if dialect == "openai" then
    -- OpenAI SDKs switch on snake_case types and string codes: a Gemini status
    -- name (INVALID_ARGUMENT) becomes the type for the HTTP status, and a
    -- numeric code (Gemini's copy of the status) is dropped.
    if type(etype) ~= "string" or E.GEMINI_HTTP[etype] then out_type = nil end
    if type(code) == "number" or (type(code) == "string" and code:match("^%d+$")) then code = nil end
    if etype == "UNAUTHENTICATED" then code = "invalid_api_key" end
  end
  if dialect ~= "openai" and type(code) ~= "number" then code = tonumber(code) end
  return status, E.body(dialect, status, out_type, dialect == "openai" and code or nil, msg)
end

return E
