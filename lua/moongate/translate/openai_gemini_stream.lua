-- moongate.translate.openai_gemini_stream: stream translators between Gemini
-- `streamGenerateContent?alt=sse` chunks and OpenAI chat.completion.chunk
-- events (PROTOCOLS.md 4.4, 4.7).
--
-- Owns two state machines, fed one upstream event at a time:
--   gemini_to_openai(ctx, include_usage) -> s
--     s:event(name, data) / s:finish() / s:error(code, message) -> array of
--     OpenAI payloads. One role chunk first; text parts -> content deltas;
--     thought parts -> reasoning_content; each functionCall part -> one
--     tool_calls delta carrying index, id, name and the complete arguments;
--     finishReason -> finish chunk; at EOF (finish) the usage chunk from the
--     last usageMetadata (when include_usage) and "[DONE]" (Gemini sends
--     none). A chunk with `error` -> OpenAI error payload, no "[DONE]"; EOF
--     before any finishReason is reported as an error too.
--   openai_to_gemini(ctx) -> s
--     s:payload(data) / s:finish() / s:error(code, message) -> SSE frames
--     ("data: {GenerateContentResponse}\n\n"). Text streams live; tool calls
--     are accumulated and sent whole (Gemini sends functionCall parts whole)
--     in the final chunk with finishReason and usageMetadata; an upstream
--     error -> `data: {"error":{code,message,status}}` and nothing after.
-- Both expose s.usage = {input = n, output = n}.
local C = require("moongate.translate.common")
local E = require("moongate.translate.errors")

local type, ipairs, tostring, setmetatable = type, ipairs, tostring, setmetatable
local concat = table.concat
local encode, obj, arr, str, null = C.encode, C.obj, C.arr, C.str, C.null

local S = {}

local function G() return require("moongate.translate.openai_gemini") end

-- Gemini -> OpenAI -------------------------------------------------------------------

local G2O = {}
G2O.__index = G2O

function S.gemini_to_openai(ctx, include_usage)
  ctx = ctx or {}
  if include_usage == nil then include_usage = ctx.include_usage end
  return setmetatable({
    ctx = ctx, include_usage = include_usage == true, id = nil, model = ctx.model or "",
    created = ctx.now or os.time(), role_sent = false, tool = 0, finish_sent = false,
    u = nil, done = false, usage = nil,
  }, G2O)
end

function G2O:chunk(delta, finish)
  return obj("id", encode(self.id or "chatcmpl-gemini"), "object", '"chat.completion.chunk"',
    "created", encode(self.created), "model", encode(self.model),
    "choices", "[" .. obj("index", "0", "delta", delta, "logprobs", "null",
      "finish_reason", finish and encode(finish) or "null") .. "]",
    "usage", self.include_usage and "null" or nil)
end

function G2O:event(_, data)
  local out = {}
  if self.done then return out end
  local d = C.decode(data)
  if type(d) ~= "table" then return out end
  if d.error ~= nil and d.error ~= null then
    local msg, etype, code = C.error_fields(d.error)
    out[1] = C.openai_error(msg, etype or "upstream_error", code)
    self.done = true
    return out
  end
  if not self.id and type(d.responseId) == "string" then self.id = "chatcmpl-" .. d.responseId end
  if type(d.modelVersion) == "string" then self.model = d.modelVersion end
  local um = G().field(d, "usageMetadata")
  if type(um) == "table" then
    self.u = um
    local _, p, c = G().usage_to_openai(um)
    self.usage = { input = p, output = c }
  end
  if not self.role_sent then
    self.role_sent = true
    out[#out + 1] = self:chunk('{"role":"assistant","content":""}')
  end
  local cand = type(d.candidates) == "table" and d.candidates[1]
  if type(cand) ~= "table" then
    if type(G().field(d, "promptFeedback")) == "table" and not self.finish_sent then
      self.finish_sent = true
      out[#out + 1] = self:chunk("{}", "content_filter")
    end
    return out
  end
  local parts = type(cand.content) == "table" and type(cand.content.parts) == "table" and cand.content.parts or {}
  local has_call = false
  for _, p in ipairs(parts) do
    if type(p) == "table" and G().field(p, "functionCall") then has_call = true end
  end
  local raw_parts = has_call and C.items(C.at(data, "candidates", 1, "content", "parts")) or nil
  local texts, thoughts, calls = G().candidate_parts(parts, raw_parts, self.ctx, self.tool)
  if #thoughts > 0 then out[#out + 1] = self:chunk(obj("reasoning_content", encode(concat(thoughts)))) end
  if #texts > 0 then
    local t = concat(texts)
    if t ~= "" then out[#out + 1] = self:chunk(obj("content", encode(t))) end
  end
  for _, c in ipairs(calls) do
    out[#out + 1] = self:chunk(obj("tool_calls", "[" .. obj("index", encode(self.tool), "id", encode(c.id),
      "type", '"function"', "function", obj("name", encode(c.name), "arguments", encode(c.args))) .. "]"))
    self.tool = self.tool + 1
  end
  local reason = G().field(cand, "finishReason")
  if type(reason) == "string" and not self.finish_sent then
    self.finish_sent = true
    out[#out + 1] = self:chunk("{}", G().finish_of(reason, self.tool > 0))
  end
  return out
end

function G2O:finish()
  local out = {}
  if self.done then return out end
  self.done = true
  if not self.finish_sent then
    out[1] = C.openai_error("upstream stream ended before a finishReason", "upstream_error", "upstream_error")
    return out
  end
  if self.include_usage then
    out[#out + 1] = obj("id", encode(self.id or "chatcmpl-gemini"), "object", '"chat.completion.chunk"',
      "created", encode(self.created), "model", encode(self.model), "choices", "[]",
      "usage", (G().usage_to_openai(self.u)))
  end
  out[#out + 1] = "[DONE]"
  return out
end

function G2O:error(code, message)
  if self.done then return {} end
  self.done = true
  return { C.openai_error(message, "upstream_error", code) }
end

-- OpenAI -> Gemini -------------------------------------------------------------------

local O2G = {}
O2G.__index = O2G

function S.openai_to_gemini(ctx)
  ctx = ctx or {}
  return setmetatable({ ctx = ctx, model = ctx.model or "", id = nil, tools = {}, order = {},
    reason = nil, u = nil, done = false, usage = nil }, O2G)
end

function O2G:frame(parts, finish, usage)
  return C.sse(obj("candidates", arr({ obj("content", obj("role", '"model"', "parts", arr(parts)),
      "finishReason", finish and encode(finish) or nil, "index", "0") }),
    "usageMetadata", usage, "modelVersion", encode(self.model), "responseId", str(self.id)))
end

function O2G:error_frame(status, message)
  self.done = true
  return C.sse(E.body("gemini", status, nil, nil, message))
end

function O2G:close()
  local parts = {}
  for _, j in ipairs(self.order) do
    local T = self.tools[j]
    parts[#parts + 1] = obj("functionCall", obj("id", str(T.id), "name", encode(T.name or ""),
      "args", C.args_object(concat(T.acc))))
  end
  if #parts == 0 then parts[1] = '{"text":""}' end
  self.done = true
  return self:frame(parts, G().REASON[self.reason] or "STOP", G().usage_to_gemini(self.u))
end

function O2G:payload(data)
  if self.done then return "" end
  if data == "[DONE]" then return self:close() end
  local d = C.decode(data)
  if type(d) ~= "table" then return "" end
  if d.error ~= nil and d.error ~= null then
    local msg, etype, code = C.error_fields(d.error)
    return self:error_frame(E.status_for(etype, code), msg)
  end
  if type(d.usage) == "table" then
    self.u = d.usage
    self.usage = { input = C.int(d.usage.prompt_tokens), output = C.int(d.usage.completion_tokens) }
  end
  if type(d.id) == "string" and d.id ~= "" and not self.id then self.id = d.id end
  if type(d.model) == "string" and d.model ~= "" then self.model = d.model end
  local ch = type(d.choices) == "table" and d.choices[1]
  if type(ch) ~= "table" then return "" end
  local out = {}
  local delta = type(ch.delta) == "table" and ch.delta or {}
  if type(delta.content) == "string" and delta.content ~= "" then
    out[#out + 1] = self:frame({ obj("text", encode(delta.content)) })
  end
  for _, tc in ipairs(type(delta.tool_calls) == "table" and delta.tool_calls or {}) do
    if type(tc) == "table" then
      local j = type(tc.index) == "number" and tc.index or 0
      local T = self.tools[j]
      if not T then
        T = { acc = {} }
        self.tools[j] = T
        self.order[#self.order + 1] = j
      end
      local f = type(tc["function"]) == "table" and tc["function"] or {}
      if type(tc.id) == "string" then T.id = tc.id end
      if type(f.name) == "string" then T.name = f.name end
      if type(f.arguments) == "string" then T.acc[#T.acc + 1] = f.arguments end
    end
  end
  if type(ch.finish_reason) == "string" then self.reason = ch.finish_reason end
  return concat(out)
end
O2G.event = function(self, _, data) return self:payload(data) end

function O2G:finish()
  if self.done then return "" end
  if self.reason then return self:close() end
  return self:error_frame(502, "upstream stream ended before a finish reason")
end

function O2G:error(code, message)
  if self.done then return "" end
  return self:error_frame(code == "upstream_timeout" and 504 or 502, message)
end

return S
