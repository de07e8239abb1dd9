-- moongate.errors: client-facing error replies in the OpenAI envelope.
--
-- Owns: the status -> error type table and the shape of a "local" reply
-- (internals.md section 1) carrying `{"error":{"message","type","param","code"}}`.
-- Every message ends with " (request id <id>)" so a user can quote it.
local json = require("moongate.json")

local errors = {}

-- OpenAI error `type` by HTTP status; anything else is "api_error".
errors.types = {
  [400] = "invalid_request_error",
  [401] = "authentication_error",
  [403] = "permission_denied",
  [404] = "not_found",
  [405] = "invalid_request_error",
  [413] = "invalid_request_error",
  [429] = "rate_limit_exceeded",
}

local encode = json.encode

--- errors.body(status, message, request_id [, code [, param [, type]]]) -> JSON text
function errors.body(status, message, id, code, param, etype)
  local msg = tostring(message or "error")
  if id then msg = msg .. " (request id " .. id .. ")" end
  return '{"error":{"message":' .. encode(msg)
    .. ',"type":' .. encode(etype or errors.types[status] or "api_error")
    .. ',"param":' .. (param and encode(param) or "null")
    .. ',"code":' .. (code and encode(code) or "null") .. "}}"
end

--- errors.reply(status, message, request_id [, code [, param [, headers]]]) -> local reply table
function errors.reply(status, message, id, code, param, headers)
  return {
    kind = "local",
    status = status,
    content_type = "application/json",
    body = errors.body(status, message, id, code, param),
    headers = headers,
  }
end

return errors
