-- Mid-stream failures reach a client in the same shape whatever the provider's
-- dialect: a Gemini client streaming from an Anthropic provider (two hops,
-- through the OpenAI pivot) gets the status a Gemini client streaming from an
-- OpenAI provider (one hop) gets. Found by tests/integration/test_golden.py
-- probes: an upstream reset gave 500 INTERNAL through the pivot, 502
-- UNAVAILABLE otherwise.
local translate = require("moongate.translate")
local E = require("moongate.translate.errors")
local cjson = require("cjson")

local ANT_START = '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m",'
  .. '"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}'
local ANT_BLOCK = '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
local ANT_DELTA = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}'
local OAI_ROLE = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
  .. '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}'
local OAI_TEXT = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m",'
  .. '"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}'

-- The Gemini error object of the last frame in `text`.
local function gemini_error(text)
  local last
  for data in text:gmatch("data: ([^\n]*)\n\n") do last = data end
  local e = cjson.decode(last).error
  return e.code, e.status
end

-- A Gemini-client stream that got some text from `upstream`, then C's verdict.
local function failed(upstream, code)
  local s = translate.new("gemini", upstream, { model = "m" }):fresh()
  local text
  if upstream == "anthropic" then
    text = s:event("message_start", ANT_START) .. s:event("content_block_start", ANT_BLOCK)
      .. s:event("content_block_delta", ANT_DELTA)
  else
    text = s:event(nil, OAI_ROLE) .. s:event(nil, OAI_TEXT)
  end
  assert.is_truthy(text:find('"text":"Hi"', 1, true))
  return gemini_error(s:error(code, "upstream connection failed mid-stream"))
end

describe("mid-stream failures for Gemini clients", function()
  it("an upstream reset is 502 UNAVAILABLE from an Anthropic provider as from an OpenAI one", function()
    local c1, s1 = failed("openai", "upstream_reset")
    local c2, s2 = failed("anthropic", "upstream_reset")
    assert.are.same({ 502, "UNAVAILABLE" }, { c1, s1 })
    assert.are.same({ c1, s1 }, { c2, s2 })
  end)

  it("an invalid upstream stream (upstream_error) is 502 both ways", function()
    assert.are.same({ 502, "UNAVAILABLE" }, { failed("openai", "upstream_error") })
    assert.are.same({ 502, "UNAVAILABLE" }, { failed("anthropic", "upstream_error") })
  end)

  it("a timeout stays 504 DEADLINE_EXCEEDED both ways", function()
    assert.are.same({ 504, "DEADLINE_EXCEEDED" }, { failed("openai", "upstream_timeout") })
    assert.are.same({ 504, "DEADLINE_EXCEEDED" }, { failed("anthropic", "upstream_timeout") })
  end)

  it("an Anthropic stream that ends before message_stop is 502, as an OpenAI one without a finish", function()
    local s = translate.new("gemini", "anthropic", { model = "m" }):fresh()
    s:event("message_start", ANT_START)
    s:event("content_block_delta", ANT_DELTA)
    assert.are.same({ 502, "UNAVAILABLE" }, { gemini_error(s:finish()) })
    s = translate.new("gemini", "openai", { model = "m" }):fresh()
    s:event(nil, OAI_ROLE)
    assert.are.same({ 502, "UNAVAILABLE" }, { gemini_error(s:finish()) })
  end)
end)

describe("E.status_for", function()
  it("the gateway's own upstream failure codes are 502, timeouts 504", function()
    assert.are.equal(502, E.status_for("upstream_error", "upstream_reset"))
    assert.are.equal(502, E.status_for("upstream_error", "upstream_error"))
    assert.are.equal(502, E.status_for("upstream_error", nil))
    assert.are.equal(504, E.status_for("upstream_error", "upstream_timeout"))
  end)

  it("upstream error types keep their mapping", function()
    assert.are.equal(500, E.status_for("server_error", nil))
    assert.are.equal(503, E.status_for("overloaded_error", nil))
    assert.are.equal(429, E.status_for("rate_limit_error", nil))
    assert.are.equal(503, E.status_for("UNAVAILABLE", nil))
    assert.are.equal(500, E.status_for("INTERNAL", "500"))
    assert.are.equal(418, E.status_for("whatever", 418))
  end)
end)
