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

local type, setmetatable, tostring = type, setmetatable, tostring
local concat = table.concat

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
  local ctx = {}
  for k, v in pairs(opts) do ctx[k] = v end
  ctx.include_usage_opt = opts.include_usage
  return setmetatable({ client = client, upstream = upstream, ctx = ctx, usage = nil }, TR)
end

--- tr:request(raw_body) -> raw body in the upstream dialect | nil, err
function TR:request(raw)
  local ctx = self.ctx
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
  return setmetatable({ client = self.client, upstream = self.upstream, ctx = self.ctx, usage = nil }, TR)
end

local function set_usage(self, u)
  if u then self.usage = { input = u.input, output = u.output } end
end

--- tr:body(status, content_type, body) -> status, content_type, body (client dialect)
function TR:body(status, ct, body)
  if self.client == self.upstream then return status, ct, body end
  if type(status) ~= "number" or status >= 400 or status < 200 then
    local st, b = E.translate(self.client, status, body)
    return st, "application/json", b
  end
  local ctx = self.ctx
  local pivot, err = body, nil
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
  return status, "application/json", pivot
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

--- tr:event(name, data) -> frames in the client dialect ("" to drop)
function TR:event(name, data)
  if self.client == self.upstream then return C.sse(data) end
  local up, down = streams(self)
  local frames
  if up then frames = emit(self, up:event(name, data))
  else frames = down:payload(data) end
  track(self)
  return frames
end

--- tr:finish() -> frames closing the client stream
function TR:finish()
  if self.client == self.upstream then return "" end
  local up, down = streams(self)
  local frames = up and emit(self, up:finish()) or ""
  if down then frames = frames .. down:finish() end
  track(self)
  return frames
end

--- tr:error(code, message) -> the client dialect's error frame (no normal end)
function TR:error(code, message)
  if self.client == self.upstream then
    return C.sse(C.openai_error(message, "upstream_error", code))
  end
  local up, down = streams(self)
  local frames
  if up then frames = emit(self, up:error(code, message))
  else frames = down:error(code, message) end
  if down then frames = frames .. down:finish() end -- "" once the error ended it
  return frames
end

return translate
