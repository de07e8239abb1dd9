-- moongate.translate.common: helpers shared by the dialect translators.
--
-- Owns: the two views every translator works with (a cjson-decoded table for
-- structure and scalars, raw JSON spans for opaque parts: schemas, tool
-- arguments/inputs, function args/responses), the ordered JSON object builder
-- used for every NEW body/chunk, SSE framing, data-URL parsing, and the
-- "embed tool arguments raw" rule.
--
-- Fidelity rule (DESIGN.md section 8): nothing opaque is ever decoded and
-- re-encoded. Strings decode exactly with cjson (so an `arguments` string IS
-- the raw JSON text), but objects and arrays that carry client/model data are
-- copied as raw text from the original bytes, so `[]`, `{}`, big integers,
-- key order and unicode escapes survive byte for byte.
local json = require("moongate.json")

local type, pairs, ipairs, select, pcall, tostring, tonumber = type, pairs, ipairs, select, pcall, tostring, tonumber
local concat, find, sub, match, byte = table.concat, string.find, string.sub, string.match, string.byte

local C = {}

C.encode = json.encode
C.null = json.null
local encode, null = json.encode, json.null

--- C.decode(text) -> value | nil, err (never raises)
function C.decode(text)
  if type(text) ~= "string" then return nil, "not a string" end
  local ok, v = pcall(json.decode, text)
  if ok then return v end
  return nil, v
end

--- C.members(raw) -> { key = raw value text } (last duplicate wins) | nil
function C.members(raw)
  if type(raw) ~= "string" then return nil end
  local s = json.scan(raw)
  if not s then return nil end
  local m = {}
  for i = 1, s.n do m[s.key[i]] = sub(raw, s.vstart[i], s.vend[i]) end
  return m
end

--- C.items(raw) -> { raw element, ... } | nil (not an array)
function C.items(raw)
  if type(raw) ~= "string" then return nil end
  return (json.array_items(raw))
end

--- C.at(raw, k1, k2, ...) -> raw text at a path of keys (strings) and 1-based
-- indices (numbers) | nil. Each step scans one level (use for shallow paths).
function C.at(raw, ...)
  for i = 1, select("#", ...) do
    if raw == nil then return nil end
    local k = select(i, ...)
    if type(k) == "number" then
      local it = C.items(raw)
      raw = it and it[k]
    else
      local m = C.members(raw)
      raw = m and m[k]
    end
  end
  return raw
end

--- C.obj(k1, raw1, k2, raw2, ...) -> '{"k1":raw1,...}' in argument order.
-- Values are raw JSON text; nil/false values are skipped.
function C.obj(...)
  local out, n = {}, 0
  for i = 1, select("#", ...), 2 do
    local k, v = select(i, ...)
    if v then
      n = n + 1
      out[n] = encode(k) .. ":" .. v
    end
  end
  return "{" .. concat(out, ",", 1, n) .. "}"
end

--- C.arr(list) -> '[' raw1 ',' raw2 ... ']'
function C.arr(list)
  return "[" .. concat(list, ",") .. "]"
end

--- C.str(v) -> encoded string or nil (nil for non-strings)
function C.str(v)
  if type(v) == "string" then return encode(v) end
  return nil
end

--- C.num(v) -> encoded number or nil
function C.num(v)
  if type(v) == "number" then return encode(v) end
  return nil
end

--- C.head(raw, n) -> the raw array text keeping its first n elements (each
-- copied raw); the text itself when it has no more (or is not an array).
function C.head(raw, n)
  local items = C.items(raw)
  if not items or #items <= n then return raw end
  return "[" .. concat(items, ",", 1, n) .. "]"
end

--- C.is_object(raw) -> true when raw text is a JSON object
function C.is_object(raw)
  return type(raw) == "string" and find(raw, "^[ \t\r\n]*{") ~= nil
end

local function trim(s)
  return (match(s, "^[ \t\r\n]*(.-)[ \t\r\n]*$"))
end
C.trim = trim

--- C.embeddable(text) -> false when text holds a NUL byte: cjson stops
-- reading at one ("{}\0junk" decodes to {}), but raw JSON never holds one,
-- so such text must not be embedded raw on the strength of a decode.
function C.embeddable(text)
  return not find(text, "\0", 1, true)
end

--- C.args_object(text) -> raw JSON object text for an OpenAI `arguments`
-- string: the text itself (trimmed, byte for byte) when it is a valid JSON
-- object; "{}" when empty; otherwise the text wrapped as
-- {"arguments": "<text>"} so nothing the model produced is lost.
function C.args_object(text)
  if type(text) ~= "string" then return "{}" end
  local t = trim(text)
  if t == "" then return "{}" end
  if byte(t, 1) == 123 and C.embeddable(t) then
    local ok, v = pcall(json.decode, t)
    if ok and type(v) == "table" then return t end
  end
  return C.obj("arguments", encode(text))
end

--- C.text_of(content) -> concatenated text of a string or an array of
-- {type="text", text=...} parts (nil when there is none)
function C.text_of(content, sep)
  if type(content) == "string" then return content end
  if type(content) ~= "table" then return nil end
  local out = {}
  for _, p in ipairs(content) do
    if type(p) == "table" and type(p.text) == "string" and (p.type == nil or p.type == "text") then
      out[#out + 1] = p.text
    end
  end
  if #out == 0 then return nil end
  return concat(out, sep or "")
end

--- C.data_url(url) -> mime, base64 data | nil (not a base64 data URL)
function C.data_url(url)
  if type(url) ~= "string" or sub(url, 1, 5) ~= "data:" then return nil end
  local mime, data = match(url, "^data:([^;,]*);base64,(.*)$")
  if not mime then return nil end
  if mime == "" then mime = "application/octet-stream" end
  return mime, data
end

local EXT_MIME = {
  png = "image/png", jpg = "image/jpeg", jpeg = "image/jpeg", gif = "image/gif", webp = "image/webp",
  pdf = "application/pdf", wav = "audio/wav", mp3 = "audio/mp3",
}
--- C.guess_mime(url, default) -> a MIME type from the URL's extension
function C.guess_mime(url, default)
  local ext = type(url) == "string" and match(url:lower(), "%.(%w+)[?#]?[^/]*$")
  return EXT_MIME[ext or ""] or default
end

--- SSE frames.
--- Turns: OpenAI messages grouped into the alternating role turns Anthropic
-- and Gemini want. C.turn_push(turns, role, item, first) appends a raw item
-- to the last turn when it has this role (else opens a turn); `first` items
-- (tool results) go before the others. C.turn_items(t) -> the turn's items
-- in that order.
function C.turn_push(turns, role, item, first)
  local last = turns[#turns]
  if not last or last.role ~= role then
    last = { role = role, head = {}, rest = {} }
    turns[#turns + 1] = last
  end
  local list = first and last.head or last.rest
  list[#list + 1] = item
end

function C.turn_items(t)
  local out = {}
  for _, x in ipairs(t.head) do out[#out + 1] = x end
  for _, x in ipairs(t.rest) do out[#out + 1] = x end
  return out
end

--- C.openai_completion(id, model, ctx, content, thoughts, calls, finish, usage)
-- -> an OpenAI chat.completion body (raw) with one choice: `content` is raw
-- JSON (a string or null), `thoughts` text pieces for reasoning_content,
-- `calls` raw tool_calls entries, `usage` the raw usage object.
function C.openai_completion(id, model, ctx, content, thoughts, calls, finish, usage)
  local message = C.obj("role", '"assistant"', "content", content, "refusal", "null",
    "reasoning_content", #thoughts > 0 and encode(concat(thoughts)) or nil,
    "tool_calls", #calls > 0 and C.arr(calls) or nil)
  return C.obj("id", encode(id), "object", '"chat.completion"', "created", encode(ctx.now or os.time()),
    "model", encode(model),
    "choices", C.arr({ C.obj("index", "0", "message", message, "logprobs", "null", "finish_reason", encode(finish)) }),
    "usage", usage)
end

--- C.first_message(j) -> the first choice's message of a decoded OpenAI
-- chat.completion (a table, {} when absent).
function C.first_message(j)
  local choice = type(j.choices) == "table" and j.choices[1] or {}
  return type(choice) == "table" and type(choice.message) == "table" and choice.message or {}
end

function C.sse(data) return "data: " .. data .. "\n\n" end
function C.sse_event(name, data) return "event: " .. name .. "\ndata: " .. data .. "\n\n" end

--- C.int(v) -> non-negative integer or 0 (a token count). Not finite (JSON's
-- 1e400 decodes to infinity, which cannot be encoded again) or beyond 2^53
-- (no longer an exact integer; C casts it to int64_t): 0.
local MAX_INT = 2 ^ 53
function C.int(v)
  v = tonumber(v)
  if not v or v ~= v or v < 0 or v >= MAX_INT then return 0 end
  return math.floor(v)
end

--- C.openai_error(message, type, code) -> OpenAI error payload text
function C.openai_error(message, etype, code)
  return C.obj("error", C.obj(
    "message", encode(tostring(message or "upstream error")),
    "type", encode(etype or "upstream_error"),
    "param", "null",
    "code", code ~= nil and code ~= null and encode(tostring(code)) or "null"))
end

--- C.parse_openai_error(payload_table) -> message, type, code | nil
function C.error_fields(e)
  if type(e) ~= "table" then
    if type(e) == "string" then return e, nil, nil end
    return nil
  end
  local msg = e.message
  if type(msg) ~= "string" then msg = msg ~= nil and tostring(msg) or "upstream error" end
  local t = e.type
  if type(t) ~= "string" then t = type(e.status) == "string" and e.status or nil end
  local code = e.code
  if code == null then code = nil end
  return msg, t, code
end

return C
