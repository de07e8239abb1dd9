-- moongate.upstream: what the provider kinds (moongate.providers.*) share
-- when they precompute their requests.
--
-- Owns nothing; pure functions over the provider table P.
local M = {}

--- M.headers(P, auth) -> base, json, json_sse: the header arrays of every
-- request to this provider: `auth` (the credential line, nil when keyless)
-- first, then anything the provider adds as always (e.g. a version header,
-- passed as extra arguments), then the config's `headers`; `json` and
-- `json_sse` add the content type (and the SSE Accept). Built once in
-- prepare(P) and shared read-only by every plan.
function M.headers(P, auth, ...)
  local base = {}
  if auth then base[1] = auth end
  for i = 1, select("#", ...) do base[#base + 1] = select(i, ...) end
  for _, h in ipairs(P.headers or {}) do base[#base + 1] = h end
  local json, sse = {}, {}
  for i = 1, #base do json[i], sse[i] = base[i], base[i] end
  json[#json + 1] = "Content-Type: application/json"
  sse[#sse + 1] = "Content-Type: application/json"
  sse[#sse + 1] = "Accept: text/event-stream"
  return base, json, sse
end

--- M.with(list, ...) -> a copy of the array list with the values appended
function M.with(list, ...)
  local out = {}
  for i = 1, #list do out[i] = list[i] end
  for i = 1, select("#", ...) do out[#out + 1] = select(i, ...) end
  return out
end

--- M.escape(s) -> s with everything outside the URL unreserved set escaped
-- (model and deployment names that go into a path).
function M.escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

return M
