-- Token counts across dialects (moongate.translate.count, the translator's
-- count mode and the host's count_tokens routing): Anthropic clients on Gemini
-- providers, Gemini clients on Anthropic providers, and the labelled local
-- estimate that stays for OpenAI-kind providers (no count endpoint).
local translate = require("moongate.translate")
local CT = require("moongate.translate.count")
local t = require("moongate.testing")
local host = require("moongate.host")
local cjson = require("cjson")

local ANT_COUNT = '{"model":"gemini-2.5-flash","system":"Be terse.","messages":[{"role":"user","content":"Weather in Paris?"},'
  .. '{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},'
  .. '{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18C"}]}],'
  .. '"tools":[{"name":"get_weather","description":"Weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":[]}}],'
  .. '"tool_choice":{"type":"auto"}}'

describe("count: Anthropic client -> Gemini provider", function()
  local tr
  before_each(function() tr = translate.new("anthropic", "gemini", { model = "gemini-2.5-flash", count = true }) end)

  it("sends one generateContentRequest naming the model, with systemInstruction and tools inside it", function()
    local body = assert(tr:request(ANT_COUNT))
    local j = cjson.decode(body)
    assert.are.same({ "generateContentRequest" }, (function() local k = {} for n in pairs(j) do k[#k + 1] = n end return k end)())
    local g = j.generateContentRequest
    assert.are.equal("models/gemini-2.5-flash", g.model)
    assert.are.same({ parts = { { text = "Be terse." } } }, g.systemInstruction)
    assert.are.equal("get_weather", g.tools[1].functionDeclarations[1].name)
    assert.are.same({ functionCallingConfig = { mode = "AUTO" } }, g.toolConfig)
    assert.are.same({ "user", "model", "user" }, { g.contents[1].role, g.contents[2].role, g.contents[3].role })
    assert.are.same({ name = "get_weather", args = { city = "Paris" } }, g.contents[2].parts[1].functionCall)
    -- the same contents a generateContent request would carry, byte for byte
    local chat = translate.new("anthropic", "gemini", { model = "gemini-2.5-flash" })
    local gen = chat:request(ANT_COUNT:gsub('^{', '{"max_tokens":64,'))
    assert.are.equal(cjson.encode(cjson.decode(gen).contents), cjson.encode(g.contents))
    -- fidelity: the schema's empty array survives (as in generateContent)
    assert.truthy(body:find('"required":[]', 1, true))
  end)

  it("puts the model first and never doubles a models/ prefix", function()
    local body = translate.new("anthropic", "gemini", { model = "models/g-1", count = true })
      :request('{"model":"x","messages":[{"role":"user","content":"hi"}]}')
    assert.are.equal('{"generateContentRequest":{"model":"models/g-1","contents":[{"role":"user","parts":[{"text":"hi"}]}]}}', body)
  end)

  it("maps {totalTokens} to {input_tokens}; a missing totalTokens (proto3 zero) is 0", function()
    local s = tr:fresh()
    assert.are.same({ 200, "application/json", '{"input_tokens":17}' },
      { s:body(200, "application/json", '{"totalTokens":17,"promptTokensDetails":[{"modality":"TEXT","tokenCount":17}]}') })
    assert.are.same({ 200, "application/json", '{"input_tokens":0}' }, { s:body(200, "application/json", "{}") })
    assert.is_nil(s.usage, "a count consumes no tokens: nothing for the access log's usage")
  end)

  it("gives upstream errors and unreadable replies in Anthropic's shape", function()
    local s = tr:fresh()
    local st, ct, b = s:body(429, "application/json", '{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}')
    assert.are.equal(429, st)
    assert.are.equal("application/json", ct)
    assert.are.same({ type = "error", error = { type = "rate_limit_error", message = "quota" } }, cjson.decode(b))
    st, _, b = s:body(400, "application/json", '{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}')
    assert.are.equal(401, st)
    assert.are.equal("authentication_error", cjson.decode(b).error.type)
    st, _, b = s:body(200, "application/json", '{"totalTokens":"many"}')
    assert.are.equal(502, st)
    assert.are.equal("api_error", cjson.decode(b).error.type)
    st = s:body(200, "application/json", "not json")
    assert.are.equal(502, st)
  end)
end)

describe("count: Gemini client -> Anthropic provider", function()
  local tr
  before_each(function()
    tr = translate.new("gemini", "anthropic", { model = "claude-x", client_model = "claude-x", count = true })
  end)

  it("sends only what count_tokens accepts: no max_tokens, sampling, stop or stream", function()
    local body = assert(tr:request('{"contents":[{"role":"user","parts":[{"text":"hi"}]}],'
      .. '"systemInstruction":{"parts":[{"text":"Be terse."}]},'
      .. '"generationConfig":{"maxOutputTokens":5,"temperature":0.5,"topP":0.9,"topK":3,"stopSequences":["END"]},'
      .. '"tools":[{"functionDeclarations":[{"name":"f","description":"d","parameters":{"type":"OBJECT","properties":{"a":{"type":"STRING"}}}}]}],'
      .. '"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}}}'))
    assert.are.equal('{"model":"claude-x","system":"Be terse.","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],'
      .. '"tools":[{"name":"f","description":"d","input_schema":{"type":"object","properties":{"a":{"type":"string"}}}}],'
      .. '"tool_choice":{"type":"tool","name":"f"}}', body)
  end)

  it("reads the generateContentRequest form too (its model is the URL's business)", function()
    local body = tr:request('{"generateContentRequest":{"model":"models/other","contents":[{"role":"user","parts":[{"text":"hi"}]}],'
      .. '"systemInstruction":{"parts":[{"text":"S"}]}}}')
    assert.are.equal('{"model":"claude-x","system":"S","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}', body)
  end)

  it("maps {input_tokens} to {totalTokens}; errors come in Gemini's shape", function()
    local s = tr:fresh()
    assert.are.same({ 200, "application/json", '{"totalTokens":12}' }, { s:body(200, "application/json", '{"input_tokens":12}') })
    assert.is_nil(s.usage)
    local st, _, b = s:body(529, "application/json", '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
    assert.are.equal(503, st)
    assert.are.same({ code = 503, message = "Overloaded", status = "UNAVAILABLE" }, cjson.decode(b).error)
    st, _, b = s:body(400, "application/json", '{"type":"error","error":{"type":"invalid_request_error","message":"messages: Field required"}}')
    assert.are.equal(400, st)
    assert.are.same({ code = 400, message = "messages: Field required", status = "INVALID_ARGUMENT" }, cjson.decode(b).error)
    st, _, b = s:body(200, "application/json", '{"tokens":12}')
    assert.are.equal(502, st)
    assert.are.equal("UNAVAILABLE", cjson.decode(b).error.status)
  end)

  it("refuses a body that is not JSON", function()
    local body, err = tr:request("{nope")
    assert.is_nil(body)
    assert.truthy(err)
  end)
end)

describe("count: which pairs count exactly", function()
  it("Anthropic <-> Gemini only; OpenAI has no count endpoint", function()
    assert.is_true(translate.counts("anthropic", "gemini"))
    assert.is_true(translate.counts("gemini", "anthropic"))
    assert.is_false(translate.counts("anthropic", "openai"))
    assert.is_false(translate.counts("gemini", "openai"))
    assert.is_false(translate.counts("anthropic", "anthropic")) -- same dialect: relayed, not translated
    assert.has_error(function() translate.new("anthropic", "openai", { count = true }) end,
      "translate.new: no token counting from anthropic to openai")
    assert.is_nil((CT.request("anthropic", "openai", "{}", {})))
  end)
end)

describe("count: host routing of count_tokens", function()
  local gw
  before_each(function()
    gw = t.load{ config = { providers = {
      mock = { kind = "openai", base_url = "http://127.0.0.1:9001/v1", api_key = false, models = { "mock-small" } },
      claude = { kind = "anthropic", api_key = "sk-ant", models = { "claude-x" } },
      gem = { kind = "gemini", api_key = "g", models = { "gemini-2.5-flash" } },
    } } }
  end)

  it("an Anthropic count for a Gemini model goes to :countTokens, translated, never streamed", function()
    local res = gw:handle{ method = "POST", path = "/v1/messages/count_tokens",
      body = '{"model":"gemini-2.5-flash","stream":true,"system":"S","messages":[{"role":"user","content":"hi"}]}' }
    assert.are.equal("proxy", res.kind, res.body)
    assert.are.equal("count_tokens", res.endpoint)
    assert.is_false(res.stream)
    local a = res.attempts[1]
    assert.is_true(a.translate)
    assert.are.equal("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:countTokens", a.url)
    assert.are.same({ "x-goog-api-key: g", "Content-Type: application/json" }, a.headers)
    assert.are.equal('{"generateContentRequest":{"model":"models/gemini-2.5-flash","contents":[{"role":"user","parts":[{"text":"hi"}]}],'
      .. '"systemInstruction":{"parts":[{"text":"S"}]}}}', a.body)
    local s = host.translator(res, 1)
    assert.are.same({ 200, "application/json", '{"input_tokens":3}' }, { s:body(200, "application/json", '{"totalTokens":3}') })
  end)

  it("a Gemini count for an Anthropic model goes to /v1/messages/count_tokens", function()
    local res = gw:handle{ method = "POST", path = "/v1/models/claude-x:countTokens",
      body = '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' }
    assert.are.equal("proxy", res.kind, res.body)
    assert.are.equal("gemini", res.dialect)
    local a = res.attempts[1]
    assert.is_true(a.translate)
    assert.are.equal("https://api.anthropic.com/v1/messages/count_tokens", a.url)
    assert.are.same({ "x-api-key: sk-ant", "anthropic-version: 2023-06-01", "Content-Type: application/json" }, a.headers)
    assert.are.equal('{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}', a.body)
    assert.are.same({ 200, "application/json", '{"totalTokens":4}' },
      { host.translator(res, 1):body(200, "application/json", '{"input_tokens":4}') })
  end)

  it("an OpenAI-kind provider still gets the labelled bytes/4 estimate", function()
    local r = gw:handle{ method = "POST", path = "/v1beta/models/mock-small:countTokens",
      body = '{"contents":[{"role":"user","parts":[{"text":"abcdefghi"}]}]}' }
    assert.are.equal("local", r.kind)
    assert.are.equal('{"totalTokens":3}', r.body)
    assert.are.equal("x-moongate-token-estimate: bytes/4\r\n", r.headers)
  end)

  it("a plan mixing an OpenAI-kind and a counting provider keeps only the counting attempt", function()
    local policy = os.tmpname()
    local f = assert(io.open(policy, "w"))
    f:write([[return { route = function()
      return { { provider = "mock", model = "mock-small" }, { provider = "gem", model = "gemini-2.5-flash" } }
    end }]])
    f:close()
    gw = t.load{
      config = { providers = {
        mock = { kind = "openai", base_url = "http://127.0.0.1:9001/v1", api_key = false, models = { "mock-small" } },
        gem = { kind = "gemini", api_key = "g", models = { "gemini-2.5-flash" } },
      } },
      policy = policy,
    }
    os.remove(policy)
    local res = gw:handle{ method = "POST", path = "/v1/messages/count_tokens",
      body = '{"model":"anything","messages":[{"role":"user","content":"hi"}]}' }
    assert.are.equal("proxy", res.kind, res.body)
    assert.are.equal(1, #res.attempts)
    assert.are.equal("gem", res.attempts[1].provider)
    assert.is_not_nil(host.translator(res, 1))
  end)
end)
