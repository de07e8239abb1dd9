-- moongate.translate: the translator objects C drives (internals.md section 6).
--
-- Owns the composition of the pair modules through the OpenAI pivot: a request
-- in client dialect A for an upstream in dialect B goes A -> openai -> B, a
-- response B -> openai -> A, stream events likewise (the upstream side turns
-- each event into OpenAI payloads, the client side turns OpenAI payloads into
-- its frames). Pure Lua, no C host needed.
--
--   local translate = require("moongate.translate")
--   local tr = translate.new("anthropic", "gemini", { model = "gemini-2.5-flash" })
--   local body = tr:request(raw_client_body)           -- raw body for the upstream
--   local s = tr:fresh()                               -- one per response (retries)
--   status, ct, body = s:body(status, content_type, upstream_body)
--   frames = s:event(name, data)   -- "" to drop
--   frames = s:finish()            -- clean end of the upstream stream
--   frames = s:error(code, message)-- upstream failed after the client got bytes
--   s.usage                        -- {input = n, output = n} once known
--   translate.error_body(dialect, status, type, code, message) -> JSON text
--
-- Token counts (opts.count = true, Anthropic <-> Gemini only, see count.lua):
-- tr:request turns the client's count body into the provider's count body and
-- s:body maps the provider's count reply (errors as for any body); usage stays
-- nil (a count consumes no tokens).
--
-- Embeddings (opts.embeddings = true, OpenAI client -> Gemini provider only,
-- see embeddings.lua): tr:request -> a batchEmbedContents body (or nil, err,
-- param for what cannot be translated), s:body -> OpenAI's embeddings list;
-- usage = {input = n, output = 0}.
--
-- JSON-array streams (opts.array = true, Gemini clients that called
-- :streamGenerateContent without ?alt=sse): the client gets one JSON array,
-- `[` + elements separated by `,\r\n` + `\r\n]` (Gemini's own framing),
-- instead of SSE frames; s.stream_content_type ("application/json;
-- charset=UTF-8") tells C the reply's Content-Type. Every frame the client
-- side would have produced becomes one element (the same bytes as the SSE
-- `data:`), an error ends the array after its error element. With
-- client == upstream (Gemini provider) the translator only re-frames: the
-- upstream is read as SSE (alt=sse) and each event's data goes out as one
-- element, byte for byte, usage taken from its usageMetadata.
--
-- opts: model (the upstream model id), client_model (the model the client
-- named; Gemini clients name it in the URL), stream (Gemini clients: from the
-- URL), include_usage (OpenAI clients: else read from the request),
-- default_max_tokens (Anthropic upstreams), now (fixed `created`, tests),
-- mint_id (tool call ids for Gemini upstreams, tests).
--
-- Usage rule (both directions): `usage.input` counts every prompt token,
-- cached ones included (OpenAI's prompt_tokens); `usage.output` the completion
-- tokens, reasoning included.
local C = require("moongate.translate.common")
local E = require("moongate.translate.errors")
local OA = require("moongate.translate.openai_anthropic")
local OG = require("moongate.translate.openai_gemini")
local CT = require("moongate.translate.count")
local EMB = require("moongate.translate.embeddings")

local type, setmetatable, tostring = type, setmetatable, tostring
local concat, find, sub = table.concat, string.find, string.sub

local translate = {}

translate.DIALECTS = { openai = true, anthropic = true, gemini = true }

-- Per dialect: request/response/stream converters to and from the pivot.
local PAIR = {
  anthropic = {
    request_to_openai = OA.request_anthropic_to_openai,
    request_from_openai = OA.request_openai_to_anthropic,
    response_to_openai = OA.response_anthropic_to_openai,
    response_from_openai = OA.response_openai_to_anthropic,
    stream_to_openai = OA.stream_anthropic_to_openai,
    stream_from_openai = OA.stream_openai_to_anthropic,
  },
  gemini = {
    request_to_openai = OG.request_gemini_to_openai,
    request_from_openai = OG.request_openai_to_gemini,
    response_to_openai = OG.response_gemini_to_openai,
    response_from_openai = OG.response_openai_to_gemini,
    stream_to_openai = OG.stream_gemini_to_openai,
    stream_from_openai = OG.stream_openai_to_gemini,
  },
}

--- translate.error_body(dialect, status, type, code, message) -> JSON text
translate.error_body = E.body
--- translate.error_type(dialect, status) -> the dialect's error type for a status
translate.error_type = E.type_for
--- translate.counts(client, upstream) -> true when a token count from `client`
-- can be answered exactly by a provider of dialect `upstream` (its own count
-- endpoint, reached through translation).
translate.counts = CT.supported
--- translate.embeds(client, upstream) -> true when an embeddings request from
-- `client` can be served by a provider of dialect `upstream` (OpenAI -> Gemini).
translate.embeds = EMB.supported

-- The client's Content-Type for a JSON-array stream (what Gemini sends).
local ARRAY_CONTENT_TYPE = "application/json; charset=UTF-8"

local TR = {}
TR.__index = TR

--- translate.new(client, upstream, opts) -> translator
function translate.new(client, upstream, opts)
  if not translate.DIALECTS[client] then error("translate.new: unknown client dialect '" .. tostring(client) .. "'", 2) end
  if not translate.DIALECTS[upstream] then error("translate.new: unknown upstream dialect '" .. tostring(upstream) .. "'", 2) end
  opts = opts or {}
  if opts.count and client ~= upstream and not CT.supported(client, upstream) then
    error("translate.new: no token counting from " .. client .. " to " .. upstream, 2)
  end
  if opts.embeddings and not EMB.supported(client, upstream) then
    error("translate.new: no embeddings from " .. client .. " to " .. upstream, 2)
  end
  if opts.array and client ~= "gemini" then
    error("translate.new: JSON-array streams are Gemini's (client '" .. client .. "')", 2)
  end
  local ctx = {}
  for k, v in pairs(opts) do ctx[k] = v end
  ctx.include_usage_opt = opts.include_usage
  return setmetatable({ client = client, upstream = upstream, ctx = ctx, usage = nil,
    stream_content_type = ctx.array and ARRAY_CONTENT_TYPE or nil }, TR)
end

--- tr:request(raw_body) -> raw body in the upstream dialect | nil, err [, param]
function TR:request(raw)
  local ctx = self.ctx
  if ctx.embeddings then return EMB.request(raw, ctx) end
  if self.client == self.upstream then return raw end
  if ctx.count then return CT.request(self.client, self.upstream, raw, ctx) end
  local body, err = raw, nil
  if self.client ~= "openai" then
    body, err = PAIR[self.client].request_to_openai(body, ctx)
    if not body then return nil, err end
  end
  if self.upstream ~= "openai" then
    body, err = PAIR[self.upstream].request_from_openai(body, ctx)
    if not body then return nil, err end
  end
  -- An explicit opts.include_usage wins over what the OpenAI client asked.
  if ctx.include_usage_opt ~= nil then ctx.include_usage = ctx.include_usage_opt end
  return body
end

--- tr:fresh() -> a translator for one response, sharing the request context.
function TR:fresh()
  return setmetatable({ client = self.client, upstream = self.upstream, ctx = self.ctx, usage = nil,
    stream_content_type = self.stream_content_type }, TR)
end

local function set_usage(self, u)
  if u then self.usage = { input = u.input, output = u.output } end
end

-- A whole (non-stream) body where the client asked for a JSON-array stream:
-- the one response as the array's only element.
local function as_array(self, status, ct, body)
  if self.ctx.array and type(status) == "number" and status >= 200 and status < 300 then
    return status, ct, "[" .. body .. "]"
  end
  return status, ct, body
end

--- tr:body(status, content_type, body) -> status, content_type, body (client dialect)
function TR:body(status, ct, body)
  if self.client == self.upstream then return as_array(self, status, ct, body) end
  if type(status) ~= "number" or status >= 400 or status < 200 then
    local st, b = E.translate(self.client, status, body)
    return st, "application/json", b
  end
  local ctx = self.ctx
  local pivot, err = body, nil
  if ctx.embeddings then
    local usage
    pivot, usage = EMB.response(body, ctx)
    if not pivot then
      return 502, "application/json", E.body(self.client, 502, "upstream_error", "upstream_error",
        "could not translate the upstream embeddings: " .. tostring(usage))
    end
    set_usage(self, usage)
    return status, "application/json", pivot
  end
  if ctx.count then
    pivot, err = CT.response(self.client, self.upstream, body)
    if not pivot then
      return 502, "application/json", E.body(self.client, 502, "upstream_error", "upstream_error",
        "could not translate the upstream token count: " .. tostring(err))
    end
    return status, "application/json", pivot
  end
  if self.upstream ~= "openai" then
    ctx.usage = nil
    pivot, err = PAIR[self.upstream].response_to_openai(body, ctx)
    set_usage(self, ctx.usage)
  end
  if pivot and self.client ~= "openai" then
    ctx.usage = nil
    pivot, err = PAIR[self.client].response_from_openai(pivot, ctx)
    if not self.usage then set_usage(self, ctx.usage) end
  end
  if not pivot then
    return 502, "application/json", E.body(self.client, 502, "upstream_error", "upstream_error",
      "could not translate the upstream response: " .. tostring(err))
  end
  return as_array(self, status, "application/json", pivot)
end

-- The stream state, created on the first event.
local function streams(self)
  local up, down = self.up, self.down
  if up ~= nil or down ~= nil or self.started then return up, down end
  self.started = true
  local ctx = self.ctx
  if self.upstream ~= "openai" then
    -- Through the pivot the usage chunk is always produced: the client side needs it.
    local include = self.client ~= "openai" or ctx.include_usage == true
    up = PAIR[self.upstream].stream_to_openai(ctx, include)
  end
  if self.client ~= "openai" then down = PAIR[self.client].stream_from_openai(ctx) end
  self.up, self.down = up, down
  return up, down
end

local function track(self)
  local s = (self.up and self.up.usage) or (self.down and self.down.usage)
  if s then self.usage = { input = s.input, output = s.output } end
end

-- OpenAI payloads -> client frames.
local function emit(self, payloads)
  local down = self.down
  local out = {}
  for i = 1, #payloads do
    if down then out[#out + 1] = down:payload(payloads[i])
    else out[#out + 1] = C.sse(payloads[i]) end
  end
  return concat(out)
end

-- JSON-array framing (opts.array) ------------------------------------------------------

-- The payloads of the Gemini SSE frames the client side produced
-- ("data: <json>\n\n" each, concatenated), in order. A frame ends at a blank
-- line followed by the next "data: " or the end, so a payload holding a blank
-- line (raw tool arguments) stays whole.
local function sse_payloads(frames)
  local out, pos, len = {}, 1, #frames
  while pos <= len and sub(frames, pos, pos + 5) == "data: " do
    local from, e = pos + 6, nil
    repeat
      e = find(frames, "\n\n", from, true)
      from = e and e + 1
    until not e or e + 1 == len or sub(frames, e + 2, e + 7) == "data: "
    out[#out + 1] = sub(frames, pos + 6, e and e - 1 or len)
    pos = e and e + 2 or len + 1
  end
  return out
end

local function close_array(self)
  if self.closed then return "" end
  self.closed = true
  if not self.opened then
    self.opened = true
    return "[]"
  end
  return "\r\n]"
end

-- Elements of the client's array; an error element ends it (as Gemini does).
local function elements(self, payloads)
  local out = {}
  for i = 1, #payloads do
    if self.closed then break end
    local p = payloads[i]
    out[#out + 1] = (self.opened and ",\r\n" or "[") .. p
    self.opened = true
    if find(p, '^%s*{%s*"error"%s*:') then out[#out + 1] = close_array(self) end
  end
  return concat(out)
end

-- Same dialect (Gemini provider, array client): the upstream's event data is
-- the element; usage from its usageMetadata, as the translated path counts it.
local function relay(self, data)
  local um = find(data, '"usageMetadata"', 1, true) and C.decode(C.at(data, "usageMetadata"))
  if type(um) == "table" then
    local _, p, c = OG.usage_to_openai(um)
    self.usage = { input = p, output = c }
  end
  return elements(self, { data })
end

--- tr:event(name, data) -> frames in the client dialect ("" to drop)
function TR:event(name, data)
  if self.client == self.upstream then
    if self.ctx.array then return relay(self, data) end
    return C.sse(data)
  end
  local up, down = streams(self)
  local frames
  if up then frames = emit(self, up:event(name, data))
  else frames = down:payload(data) end
  track(self)
  if self.ctx.array then return elements(self, sse_payloads(frames)) end
  return frames
end

--- tr:finish() -> frames closing the client stream
function TR:finish()
  if self.client == self.upstream then
    return self.ctx.array and close_array(self) or ""
  end
  local up, down = streams(self)
  local frames = up and emit(self, up:finish()) or ""
  if down then frames = frames .. down:finish() end
  track(self)
  if self.ctx.array then return elements(self, sse_payloads(frames)) .. close_array(self) end
  return frames
end

--- tr:error(code, message) -> the client dialect's error frame (no normal end)
function TR:error(code, message)
  if self.client == self.upstream then
    if self.ctx.array then
      return elements(self, { E.body("gemini", code == "upstream_timeout" and 504 or 502, nil, nil, message) })
        .. close_array(self)
    end
    return C.sse(C.openai_error(message, "upstream_error", code))
  end
  local up, down = streams(self)
  local frames
  if up then frames = emit(self, up:error(code, message))
  else frames = down:error(code, message) end
  if down then frames = frames .. down:finish() end -- "" once the error ended it
  if self.ctx.array then return elements(self, sse_payloads(frames)) .. close_array(self) end
  return frames
end

return translate
