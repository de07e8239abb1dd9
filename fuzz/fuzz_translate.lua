-- fuzz/fuzz_translate.lua - the checks fuzz_translate.c runs on each input,
-- against the translator objects of lua/moongate/translate/ (init.lua; the
-- contract is docs/internals.md section 6). Returns a function(input) that
-- returns normally or raises "INVARIANT: ..." (C then aborts, so libFuzzer
-- saves the input).
--
-- Input: [mode byte] request body \0 response body \0 event \0 event ...
--   mode % 6      the (client, upstream) pair, PAIRS below (the 6 ordered
--                 pairs of distinct dialects; passthrough never calls Lua
--                 per event);
--   mode / 6 % 4  how the stream ends: tr:finish(); tr:error("upstream_error",
--                 ..); tr:error("upstream_timeout", ..); tr:finish() then
--                 tr:error (C may report a failure after a clean end).
--   an event      "name\ndata" (the first "\n" splits; an empty name is nil,
--                 as runtime/xlate.c passes it), or just "data" (nil name).
-- Sections that are missing are empty strings; no events is a stream that
-- ends at once.
--
-- The contract checked, per input:
--   tr = translate.new(client, upstream, {model = "m"})
--   tr:request(body)            -> a string, or nil and an error string;
--                                  never raises; a string body is valid JSON
--                                  (an object) when `body` was.
--   s = tr:fresh(); s:event(name, data) for each event, then the end:
--                               each call returns a string (never raises) of
--                               complete SSE frames in the client dialect:
--                               every frame ends with a blank line; an
--                               Anthropic frame is "event: X\ndata: Y",
--                               the others "data: Y"; Y is JSON (an object)
--                               or, for OpenAI clients only, "[DONE]".
--                               Nothing follows the stream's terminal frame
--                               ([DONE] / an error payload for OpenAI,
--                               message_stop / event: error for Anthropic,
--                               a chunk with finishReason / an error for
--                               Gemini), and once the stream ended (finish or
--                               error) the last frame sent is a terminal one.
--   tr:fresh():body(200, "application/json", body)
--                            -> status (number), content type (string),
--                               body (string, valid JSON): the client's
--                               response object when the status is 200, its
--                               error shape otherwise;
--   tr:fresh():body(429, "application/json", body)
--                            -> 429 and the client dialect's error shape.
--   s.usage, when set         -> numbers in [0, 2^63) (C casts them to
--                                int64_t).
local translate = require("moongate.translate")
local json = require("moongate.json")

local decode = json.decode
local pcall, type, tostring, select, unpack = pcall, type, tostring, select, unpack
local byte, find, sub, format, floor = string.byte, string.find, string.sub, string.format, math.floor
local TWO_63 = 2 ^ 63 -- runtime/xlate.c casts usage to int64_t

local PAIRS = {
  { "openai", "anthropic" }, { "openai", "gemini" },
  { "anthropic", "openai" }, { "anthropic", "gemini" },
  { "gemini", "openai" }, { "gemini", "anthropic" },
}

local function show(s)
  s = tostring(s)
  if #s > 300 then s = s:sub(1, 300) .. "..." end
  return format("%q", s)
end

local function fail(fmt, ...)
  error("INVARIANT: " .. format(fmt, ...), 0)
end

-- Calls f; a raise is a finding. Returns f's first three results.
local function call(name, f, ...)
  local r = { pcall(f, ...) }
  if not r[1] then fail("%s raised: %s", name, tostring(r[2])) end
  return r[2], r[3], r[4]
end

-- cjson stops at a NUL byte, so a NUL anywhere makes the text invalid here
-- (JSON never holds a raw one: control characters in strings are escaped).
local function try_decode(s)
  if type(s) ~= "string" or find(s, "\0", 1, true) then return false end
  local ok, v = pcall(decode, s)
  if ok then return true, v end
  return false
end

local function json_object(what, s)
  local ok, v = try_decode(s)
  if not ok or type(v) ~= "table" then fail("%s is not a JSON object: %s", what, show(s)) end
  return v
end

local function is_str(v) return type(v) == "string" end

-- The client dialect's error shape (errors.lua E.body).
local function check_error_shape(dialect, what, v, raw)
  local e = type(v) == "table" and v.error
  if type(e) ~= "table" or not is_str(e.message) then fail("%s: no error.message: %s", what, show(raw)) end
  if dialect == "anthropic" then
    if v.type ~= "error" or not is_str(e.type) then fail("%s: not an Anthropic error: %s", what, show(raw)) end
  elseif dialect == "gemini" then
    if type(e.code) ~= "number" or not is_str(e.status) then fail("%s: not a Gemini error: %s", what, show(raw)) end
  elseif not is_str(e.type) then
    fail("%s: not an OpenAI error: %s", what, show(raw))
  end
end

local function check_usage(what, s)
  local u = s.usage
  if u == nil then return end
  if type(u) ~= "table" then fail("%s: usage is a %s", what, type(u)) end
  for _, k in ipairs({ "input", "output" }) do
    local n = u[k]
    if n ~= nil and (type(n) ~= "number" or n ~= n or n < 0 or n >= TWO_63) then
      fail("%s: usage.%s = %s", what, k, tostring(n))
    end
  end
end

-- The stream, as the client sees it: frames are checked as they come.
local Stream = {}
Stream.__index = Stream

local function new_stream(dialect)
  return setmetatable({ dialect = dialect, ended = false, last_terminal = nil, frames = 0 }, Stream)
end

-- Is this frame the end of the stream?
function Stream:terminal(event, data, v)
  local d = self.dialect
  if d == "openai" then
    return data == "[DONE]" or (type(v) == "table" and v.error ~= nil)
  elseif d == "anthropic" then
    return event == "message_stop" or event == "error"
  end
  if type(v) ~= "table" then return false end
  if v.error ~= nil then return true end
  local c = type(v.candidates) == "table" and v.candidates[1]
  return type(c) == "table" and c.finishReason ~= nil
end

function Stream:frame(what, f)
  local event, data
  if self.dialect == "anthropic" then
    event, data = f:match("^event: ([^\n]*)\ndata: ([^\n]*)$")
    if not event then fail("%s: not an Anthropic SSE frame: %s", what, show(f)) end
  else
    data = f:match("^data: ([^\n]*)$")
    if not data then fail("%s: not a data-only SSE frame: %s", what, show(f)) end
  end
  if find(f, "\r", 1, true) then fail("%s: CR in a frame: %s", what, show(f)) end
  local v
  if data == "[DONE]" then
    if self.dialect ~= "openai" then fail("%s: [DONE] sent to a %s client", what, self.dialect) end
  else
    v = json_object(what .. ": data payload", data)
    if self.dialect == "anthropic" and event ~= "error" and v.type ~= event then
      fail("%s: event %s carries type %s", what, show(event), show(v.type))
    end
    if self.dialect == "anthropic" and event == "error" then check_error_shape("anthropic", what, v, data) end
  end
  if self.last_terminal then
    fail("%s: frame %s after the terminal frame %s", what, show(f), show(self.last_terminal))
  end
  if self:terminal(event, data, v) then self.last_terminal = f end
  self.frames = self.frames + 1
end

function Stream:text(what, out)
  if type(out) ~= "string" then fail("%s returned %s, not a string", what, type(out)) end
  if out == "" then return end
  if sub(out, -2) ~= "\n\n" then fail("%s: output does not end with a blank line: %s", what, show(out)) end
  local pos = 1
  while pos <= #out do
    local e = find(out, "\n\n", pos, true)
    self:frame(what, sub(out, pos, e - 1))
    pos = e + 2
  end
end

-- The input's sections.
local function split(s)
  local parts, pos = {}, 1
  while true do
    local z = find(s, "\0", pos, true)
    if not z then parts[#parts + 1] = sub(s, pos); return parts end
    parts[#parts + 1] = sub(s, pos, z - 1)
    pos = z + 1
  end
end

local function check_response(client, what, st, ct, body, want_status)
  if type(st) ~= "number" then fail("%s: status is %s", what, tostring(st)) end
  if type(ct) ~= "string" then fail("%s: content type is %s", what, tostring(ct)) end
  if type(body) ~= "string" then fail("%s: body is %s", what, type(body)) end
  local v = json_object(what .. ": body", body)
  if want_status and st ~= want_status then fail("%s: status %d, want %d", what, st, want_status) end
  if st ~= 200 then
    check_error_shape(client, what, v, body)
    return
  end
  if client == "openai" then
    local c = type(v.choices) == "table" and v.choices[1]
    if v.object ~= "chat.completion" or type(c) ~= "table" or type(c.message) ~= "table" then
      fail("%s: not a chat.completion: %s", what, show(body))
    end
  elseif client == "anthropic" then
    if v.type ~= "message" or type(v.content) ~= "table" then fail("%s: not an Anthropic message: %s", what, show(body)) end
  elseif type(v.candidates) ~= "table" then
    fail("%s: not a GenerateContentResponse: %s", what, show(body))
  end
end

return function(input)
  if #input < 1 then return end
  local mode = byte(input, 1)
  local pair = PAIRS[mode % 6 + 1]
  local ending = floor(mode / 6) % 4
  local client, upstream = pair[1], pair[2]
  local parts = split(sub(input, 2))
  local req, resp = parts[1], parts[2] or ""

  local tr = call("translate.new", translate.new, client, upstream, { model = "m" })

  -- The request.
  local out, err = call("tr:request", tr.request, tr, req)
  if out == nil then
    if type(err) ~= "string" then fail("tr:request: nil without an error string (%s)", tostring(err)) end
  elseif type(out) ~= "string" then
    fail("tr:request returned a %s", type(out))
  else
    local ok, v = try_decode(req)
    if ok and type(v) == "table" then json_object("tr:request output for " .. show(req), out) end
  end

  -- The stream.
  local s = call("tr:fresh", tr.fresh, tr)
  local st = new_stream(client)
  for i = 3, #parts do
    local ev = parts[i]
    local nl = find(ev, "\n", 1, true)
    local name, data = nil, ev
    if nl then
      name, data = sub(ev, 1, nl - 1), sub(ev, nl + 1)
      if name == "" then name = nil end
    end
    st:text("tr:event", call("tr:event", s.event, s, name, data))
    check_usage("tr:event", s)
  end
  if ending == 0 or ending == 3 then
    st:text("tr:finish", call("tr:finish", s.finish, s))
  end
  if ending ~= 0 then
    local code = ending == 2 and "upstream_timeout" or "upstream_error"
    st:text("tr:error", call("tr:error", s.error, s, code, "upstream failed (request id r1)"))
  end
  check_usage("stream end", s)
  if not st.last_terminal then
    fail("the %s stream ended (%s) without a terminal frame", client, ending == 0 and "finish" or "error")
  end

  -- A whole body, then the same body as an error.
  local b = call("tr:fresh", tr.fresh, tr)
  local st2, ct, body = call("tr:body(200)", b.body, b, 200, "application/json", resp)
  check_response(client, "tr:body(200)", st2, ct, body, nil)
  if st2 ~= 200 and st2 ~= 502 then fail("tr:body(200): status %d", st2) end
  check_usage("tr:body(200)", b)
  b = call("tr:fresh", tr.fresh, tr)
  st2, ct, body = call("tr:body(429)", b.body, b, 429, "application/json", resp)
  check_response(client, "tr:body(429)", st2, ct, body, 429)
end
