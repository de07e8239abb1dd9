-- moongate.translate.openai_anthropic_stream: stream translators between
-- Anthropic Messages SSE and OpenAI chat.completion.chunk events
-- (PROTOCOLS.md 3.4 and 3.5).
--
-- Owns two state machines, fed one upstream event at a time:
--   anthropic_to_openai(ctx, include_usage) -> s
--     s:event(name, data) / s:finish() / s:error(code, message) -> array of
--     OpenAI event payloads (the text after "data: ", "[DONE]" included);
--     exactly one role chunk, tool indices 0..k independent of Anthropic block
--     indices, finish chunk, usage chunk (include_usage), "[DONE]"; an
--     upstream `event: error` (or a stream cut before message_stop/finish)
--     gives an OpenAI error payload and no "[DONE]".
--   openai_to_anthropic(ctx) -> s
--     s:payload(data) / s:finish() / s:error(code, message) -> SSE frames text
--     ("event: x\ndata: {...}\n\n"...): message_start once, sequential content
--     blocks (text and one per tool call), message_delta (stop_reason + usage),
--     message_stop; an upstream error payload gives `event: error` and nothing
--     after it.
-- Known limit: a tool call whose block was closed (by text arriving, or by a
-- later call once its arguments were complete JSON) cannot be reopened;
-- fragments for it arriving afterwards are dropped (no OpenAI-compatible
-- server is known to do this).
-- Both expose s.usage = {input = n, output = n} (OpenAI semantics: input
-- includes cached tokens) as soon as known.
local C = require("moongate.translate.common")

local type, ipairs, tostring, setmetatable = type, ipairs, tostring, setmetatable
local concat, sub, find, byte = table.concat, string.sub, string.find, string.byte
local encode, obj, null = C.encode, C.obj, C.null

local S = {}

local function A() return require("moongate.translate.openai_anthropic") end

-- Anthropic SSE -> OpenAI chunks ---------------------------------------------

local A2O = {}
A2O.__index = A2O

function S.anthropic_to_openai(ctx, include_usage)
  ctx = ctx or {}
  if include_usage == nil then include_usage = ctx.include_usage end
  return setmetatable({
    ctx = ctx, include_usage = include_usage == true, json_tool = ctx.json_tool,
    id = "msg", model = ctx.model or "", created = ctx.now or os.time(),
    role_sent = false, tool = -1, blocks = {}, real_tools = 0, finish_sent = false,
    u = {}, done = false, usage = nil,
  }, A2O)
end

function A2O:chunk(delta, finish)
  return obj("id", encode(self.id), "object", '"chat.completion.chunk"', "created", encode(self.created),
    "model", encode(self.model),
    "choices", "[" .. obj("index", "0", "delta", delta, "logprobs", "null",
      "finish_reason", finish and encode(finish) or "null") .. "]",
    "usage", self.include_usage and "null" or nil)
end

function A2O:role(out)
  if self.role_sent then return end
  self.role_sent = true
  out[#out + 1] = self:chunk('{"role":"assistant","content":""}')
end

function A2O:merge_usage(u)
  if type(u) ~= "table" then return end
  for _, k in ipairs({ "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens" }) do
    if type(u[k]) == "number" then self.u[k] = u[k] end
  end
  local _, prompt, completion = A().usage_to_openai(self.u)
  self.usage = { input = prompt, output = completion }
end

function A2O:finish_chunk(out, reason)
  if self.finish_sent then return end
  self:role(out)
  self.finish_sent = true
  out[#out + 1] = self:chunk("{}", reason)
end

function A2O:close(out)
  self:finish_chunk(out, "stop")
  if self.include_usage then
    out[#out + 1] = obj("id", encode(self.id), "object", '"chat.completion.chunk"', "created", encode(self.created),
      "model", encode(self.model), "choices", "[]", "usage", (A().usage_to_openai(self.u)))
  end
  out[#out + 1] = "[DONE]"
  self.done = true
end

-- The key of a content block in self.blocks: its index, or one shared key
-- when the event has none (a nil index must not raise "table index is nil").
local NO_INDEX = {}
local function block_key(d)
  if d.index == nil then return NO_INDEX end
  return d.index
end

function A2O:event(name, data)
  local out = {}
  if self.done then return out end
  local d = C.decode(data)
  if type(d) ~= "table" then return out end
  local t = d.type or name
  if t == "message_start" then
    local m = type(d.message) == "table" and d.message or {}
    if type(m.id) == "string" then self.id = m.id end
    if type(m.model) == "string" then self.model = m.model end
    self:merge_usage(m.usage)
    self:role(out)
  elseif t == "content_block_start" then
    self:role(out)
    local cb = type(d.content_block) == "table" and d.content_block or {}
    if cb.type == "tool_use" then
      if self.json_tool and cb.name == self.json_tool then
        self.blocks[block_key(d)] = { json = true }
      else
        self.tool = self.tool + 1
        self.real_tools = self.real_tools + 1
        self.blocks[block_key(d)] = { idx = self.tool, args = false }
        out[#out + 1] = self:chunk(obj("tool_calls", "[" .. obj("index", encode(self.tool),
          "id", encode(tostring(cb.id or "")), "type", '"function"',
          "function", obj("name", encode(tostring(cb.name or "")), "arguments", '""')) .. "]"))
      end
    elseif cb.type == "text" and type(cb.text) == "string" and cb.text ~= "" then
      out[#out + 1] = self:chunk(obj("content", encode(cb.text)))
    end
  elseif t == "content_block_delta" then
    self:role(out)
    local dl = type(d.delta) == "table" and d.delta or {}
    if dl.type == "text_delta" and type(dl.text) == "string" then
      out[#out + 1] = self:chunk(obj("content", encode(dl.text)))
    elseif dl.type == "input_json_delta" and type(dl.partial_json) == "string" and dl.partial_json ~= "" then
      local b = self.blocks[block_key(d)]
      if b and b.json then
        out[#out + 1] = self:chunk(obj("content", encode(dl.partial_json)))
      elseif b then
        b.args = true
        out[#out + 1] = self:chunk(obj("tool_calls", "[" .. obj("index", encode(b.idx),
          "function", obj("arguments", encode(dl.partial_json))) .. "]"))
      end
    elseif dl.type == "thinking_delta" and type(dl.thinking) == "string" then
      out[#out + 1] = self:chunk(obj("reasoning_content", encode(dl.thinking)))
    end
  elseif t == "content_block_stop" then
    local b = self.blocks[block_key(d)]
    if b and not b.json and not b.args then
      -- A no-argument tool may send no fragment: give clients parseable JSON.
      b.args = true
      out[#out + 1] = self:chunk(obj("tool_calls", "[" .. obj("index", encode(b.idx),
        "function", obj("arguments", '"{}"')) .. "]"))
    end
  elseif t == "message_delta" then
    self:merge_usage(d.usage)
    local dl = type(d.delta) == "table" and d.delta or {}
    if type(dl.stop_reason) == "string" then
      local reason = A().FINISH[dl.stop_reason] or "stop"
      if reason == "tool_calls" and self.real_tools == 0 then reason = "stop" end
      self:finish_chunk(out, reason)
    end
  elseif t == "message_stop" then
    self:close(out)
  elseif t == "error" then
    local e = type(d.error) == "table" and d.error or {}
    -- Strings only: any other JSON value (a table nested past json.encode's
    -- depth limit) must not be re-encoded.
    out[#out + 1] = C.openai_error(type(e.message) == "string" and e.message or "upstream error",
      type(e.type) == "string" and e.type or "api_error", nil)
    self.done = true
  end
  -- ping and unknown event types are dropped.
  return out
end

function A2O:finish()
  local out = {}
  if self.done then return out end
  if self.finish_sent then
    self:close(out)
  else
    out[1] = C.openai_error("upstream stream ended before message_stop", "upstream_error", "upstream_error")
    self.done = true
  end
  return out
end

function A2O:error(code, message)
  if self.done then return {} end
  self.done = true
  return { C.openai_error(message, "upstream_error", code) }
end

-- OpenAI chunks -> Anthropic SSE ---------------------------------------------

local O2A = {}
O2A.__index = O2A

local ANTHROPIC_TYPES = {
  invalid_request_error = true, authentication_error = true, billing_error = true, permission_error = true,
  not_found_error = true, request_too_large = true, rate_limit_error = true, api_error = true,
  timeout_error = true, overloaded_error = true,
}

--- The Anthropic error type for an OpenAI-side error type/code.
function S.anthropic_error_type(etype, code)
  if ANTHROPIC_TYPES[etype] then return etype end
  local s = tostring(etype or "") .. " " .. tostring(code or "")
  if s:find("rate_limit", 1, true) then return "rate_limit_error" end
  if s:find("timeout", 1, true) then return "timeout_error" end
  if s:find("overloaded", 1, true) then return "overloaded_error" end
  if s:find("invalid_request", 1, true) then return "invalid_request_error" end
  return "api_error"
end

function S.openai_to_anthropic(ctx)
  ctx = ctx or {}
  return setmetatable({
    ctx = ctx, started = false, block = -1, open = nil, live = nil, tools = {}, queue = {},
    reason = nil, u = nil, done = false, usage = nil, id = "msg", model = ctx.model or "",
  }, O2A)
end

local function ev(out, name, data)
  out[#out + 1] = C.sse_event(name, data)
end

function O2A:start(out, d)
  if self.started then return end
  self.started = true
  if type(d.id) == "string" and d.id ~= "" then
    self.id = sub(d.id, 1, 4) == "msg_" and d.id or "msg_" .. d.id
  end
  if type(d.model) == "string" and d.model ~= "" then self.model = d.model end
  ev(out, "message_start", obj("type", '"message_start"', "message", obj("id", encode(self.id), "type", '"message"',
    "role", '"assistant"', "model", encode(self.model), "content", "[]", "stop_reason", "null",
    "stop_sequence", "null", "usage", '{"input_tokens":0,"output_tokens":0}')))
end

function O2A:close_block(out)
  if self.open then
    ev(out, "content_block_stop", obj("type", '"content_block_stop"', "index", encode(self.block)))
    if self.open == "tool" then self.tools[self.live].closed = true; self.live = nil end
    self.open = nil
  end
end

function O2A:text(out, text)
  if self.open ~= "text" then
    self:close_block(out)
    self.block = self.block + 1
    self.open = "text"
    ev(out, "content_block_start", obj("type", '"content_block_start"', "index", encode(self.block),
      "content_block", '{"type":"text","text":""}'))
  end
  ev(out, "content_block_delta", obj("type", '"content_block_delta"', "index", encode(self.block),
    "delta", obj("type", '"text_delta"', "text", encode(text))))
end

function O2A:json_delta(out, index, fragment)
  ev(out, "content_block_delta", obj("type", '"content_block_delta"', "index", encode(index),
    "delta", obj("type", '"input_json_delta"', "partial_json", encode(fragment))))
end

-- Opens the next queued tool call as a block, with its buffered fragments.
function O2A:open_tool(out, j)
  local T = self.tools[j]
  self:close_block(out)
  self.block = self.block + 1
  T.block, T.opened = self.block, true
  self.open, self.live = "tool", j
  ev(out, "content_block_start", obj("type", '"content_block_start"', "index", encode(self.block),
    "content_block", obj("type", '"tool_use"', "id", encode(T.id or ""), "name", encode(T.name or ""), "input", "{}")))
  if #T.buf > 0 then
    self:json_delta(out, self.block, concat(T.buf))
    T.buf = {}
  end
end

-- Whether a tool call's arguments so far decode to a JSON object or array,
-- exactly what `type(C.decode(concat(T.acc))) == "table"` says, kept up to
-- date one fragment at a time: a call waiting behind another one must not
-- cost a re-parse of everything received on every chunk (quadratic on large
-- interleaved arguments). scan() follows strings and brackets over each new
-- fragment once; complete() decodes once, when the top-level value has closed.
-- This agrees with cjson because cjson stops reading at a NUL byte (so a NUL
-- before the close means never, one after it changes nothing), accepts only
-- blanks after the value, and a text that fails with its top-level value
-- closed fails whatever is appended.
-- T.scan: "lead" (blanks so far), "in" (inside the value; T.depth, T.str,
-- T.esc), "after" (closed; blanks since), "stop" (closed, then a NUL: nothing
-- more is read), "dead" (can never decode to a table).
local function scan(T, frag)
  local st = T.scan
  if st == "dead" or st == "stop" then return end
  local i, n = 1, #frag
  local depth, str = T.depth, T.str
  if T.esc and n > 0 then -- the previous fragment ended inside an escape
    T.esc = false
    if byte(frag, 1) == 0 then T.scan = "dead" return end
    i = 2
  end
  while i <= n do
    if st == "lead" or st == "after" then
      local k = find(frag, "[^ \t\r\n]", i)
      if not k then break end
      local b = byte(frag, k)
      if st == "lead" and (b == 123 or b == 91) then st, depth, i = "in", 1, k + 1
      elseif st == "after" and b == 0 then st = "stop" break
      else st = "dead" break end
    elseif str then
      local k = find(frag, '["\\%z]', i)
      if not k then break end
      local b = byte(frag, k)
      if b == 34 then str, i = false, k + 1
      elseif b == 0 then st = "dead" break
      elseif k == n then T.esc = true break
      elseif byte(frag, k + 1) == 0 then st = "dead" break
      else i = k + 2 end
    else
      local k = find(frag, '["{}%[%]%z]', i)
      if not k then break end
      local b = byte(frag, k)
      if b == 34 then str = true
      elseif b == 123 or b == 91 then depth = depth + 1
      elseif b == 0 then st = "dead" break
      else
        depth = depth - 1
        if depth == 0 then st = "after" end
      end
      i = k + 1
    end
  end
  T.scan, T.depth, T.str = st, depth, str
end

local function complete(T)
  local st = T.scan
  if st ~= "after" and st ~= "stop" then return false end
  if T.ok == nil then T.ok = type(C.decode(concat(T.acc))) == "table" end
  return T.ok
end

-- Anthropic blocks are sequential: a later tool call is buffered until the
-- live one's arguments form complete JSON (or the message finishes).
function O2A:advance(out)
  while true do
    local nxt
    for _, j in ipairs(self.queue) do
      if not self.tools[j].opened then nxt = j; break end
    end
    if not nxt then return end
    if self.live ~= nil and not complete(self.tools[self.live]) then return end
    self:open_tool(out, nxt)
  end
end

function O2A:tool(out, tc)
  if type(tc) ~= "table" then return end
  local j = type(tc.index) == "number" and tc.index or 0
  local f = type(tc["function"]) == "table" and tc["function"] or {}
  local T = self.tools[j]
  if not T then
    T = { acc = {}, buf = {}, scan = "lead", depth = 0, str = false, esc = false }
    self.tools[j] = T
    self.queue[#self.queue + 1] = j
  end
  if not T.opened then
    if type(tc.id) == "string" then T.id = tc.id end
    if type(f.name) == "string" then T.name = f.name end
  end
  local frag = f.arguments
  if type(frag) == "string" and frag ~= "" then
    T.acc[#T.acc + 1] = frag
    scan(T, frag)
    if self.live == j then self:json_delta(out, T.block, frag)
    elseif not T.closed then T.buf[#T.buf + 1] = frag end
  end
end

function O2A:flush(out)
  self:close_block(out)
  for _, j in ipairs(self.queue) do
    if not self.tools[j].opened then
      self:open_tool(out, j)
      self:close_block(out)
    end
  end
end

function O2A:set_usage(u)
  if type(u) ~= "table" then return end
  self.u = u
  self.usage = { input = C.int(u.prompt_tokens), output = C.int(u.completion_tokens) }
end

function O2A:error_frame(etype, message)
  self.done = true
  return C.sse_event("error", obj("type", '"error"', "error",
    obj("type", encode(etype), "message", encode(tostring(message or "upstream error")))))
end

function O2A:close()
  local out = {}
  self:start(out, {})
  self:flush(out)
  local u = self.u or {}
  local d = type(u.prompt_tokens_details) == "table" and u.prompt_tokens_details or {}
  local read, write = C.int(d.cached_tokens), C.int(d.cache_write_tokens)
  local input = C.int(u.prompt_tokens) - read - write
  if input < 0 then input = 0 end
  local stop = A().STOP[self.reason] or "end_turn"
  ev(out, "message_delta", obj("type", '"message_delta"',
    "delta", obj("stop_reason", encode(stop), "stop_sequence", "null"),
    "usage", obj("output_tokens", encode(C.int(u.completion_tokens)), "input_tokens", encode(input),
      "cache_creation_input_tokens", encode(write), "cache_read_input_tokens", encode(read))))
  ev(out, "message_stop", '{"type":"message_stop"}')
  self.done = true
  return concat(out)
end

function O2A:payload(data)
  if self.done then return "" end
  if data == "[DONE]" then return self:close() end
  local d = C.decode(data)
  if type(d) ~= "table" then return "" end
  if d.error ~= nil and d.error ~= null then
    local msg, etype, code = C.error_fields(d.error)
    return self:error_frame(S.anthropic_error_type(etype, code), msg)
  end
  local out = {}
  self:set_usage(d.usage)
  if type(d.x_groq) == "table" then self:set_usage(d.x_groq.usage) end
  local ch = type(d.choices) == "table" and d.choices[1]
  if type(ch) == "table" then
    self:start(out, d)
    local delta = type(ch.delta) == "table" and ch.delta or {}
    if type(delta.content) == "string" and delta.content ~= "" then self:text(out, delta.content) end
    if type(delta.tool_calls) == "table" then
      for _, tc in ipairs(delta.tool_calls) do self:tool(out, tc) end
      self:advance(out)
    end
    if type(ch.finish_reason) == "string" and not self.reason then
      self.reason = ch.finish_reason
      self:flush(out)
    end
  end
  return concat(out)
end
O2A.event = function(self, _, data) return self:payload(data) end

function O2A:finish()
  if self.done then return "" end
  if self.reason then return self:close() end
  return self:error_frame("api_error", "upstream stream ended before a finish reason")
end

function O2A:error(code, message)
  if self.done then return "" end
  return self:error_frame(code == "upstream_timeout" and "timeout_error" or "api_error", message)
end

return S
