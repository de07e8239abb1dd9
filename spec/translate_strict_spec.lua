-- Translated requests the real APIs would refuse, found by the strict mock
-- (mock/validate*.c, tests/integration/test_mock_strict.py). Each case names
-- the request that exposed it and what the upstream said.
local translate = require("moongate.translate")
local OA = require("moongate.translate.openai_anthropic")
local OG = require("moongate.translate.openai_gemini")
local schema = require("moongate.translate.gemini_schema")
local cjson = require("cjson")

local function tools_of(body) return cjson.decode(body).tools end

describe("OpenAI -> Anthropic: input_schema.type is always \"object\"", function()
  -- was: {"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]} gave
  -- input_schema {} -> 400 "tools.0.custom.input_schema.type: Field required"
  it("an empty parameters object", function()
    local out = OA.request_openai_to_anthropic('{"model":"m","messages":[{"role":"user","content":"hi"}],'
      .. '"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}', {})
    assert.are.same({ type = "object", properties = {} }, tools_of(out)[1].input_schema)
  end)

  it("parameters that leave the type implicit keep their bytes after it", function()
    local out = OA.request_openai_to_anthropic('{"model":"m","messages":[{"role":"user","content":"hi"}],'
      .. '"tools":[{"type":"function","function":{"name":"f","parameters":{ "properties":{"n":{"maximum":12345678901234567890}}}}}]}', {})
    assert.truthy(out:find('"input_schema":{"type":"object", "properties":{"n":{"maximum":12345678901234567890}}}', 1, true))
  end)

  it("an explicit type is left alone", function()
    local out = OA.request_openai_to_anthropic('{"model":"m","messages":[{"role":"user","content":"hi"}],'
      .. '"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}]}', {})
    assert.truthy(out:find('"input_schema":{"type":"object","properties":{}}', 1, true))
  end)
end)

describe("deprecated function calling keeps its call and result paired", function()
  -- was: an assistant function_call was dropped and the `function` message became a
  -- tool_result with tool_use_id "f" -> Anthropic 400 "unexpected `tool_use_id` found in
  -- `tool_result` blocks: f"
  local RAW = '{"model":"m","messages":[{"role":"user","content":"hi"},'
    .. '{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{\\"a\\":1}"}},'
    .. '{"role":"function","name":"f","content":"ok"},{"role":"user","content":"and?"}]}'

  it("to Anthropic: a tool_use and its tool_result with one minted id", function()
    local m = cjson.decode(OA.request_openai_to_anthropic(RAW, {})).messages
    assert.are.equal(3, #m)
    assert.are.same({ type = "tool_use", id = "call_fn1", name = "f", input = { a = 1 } }, m[2].content[1])
    assert.are.same({ type = "tool_result", tool_use_id = "call_fn1", content = "ok" }, m[3].content[1])
    assert.are.same({ type = "text", text = "and?" }, m[3].content[2])
  end)

  it("to Gemini: a functionCall and its functionResponse", function()
    local c = cjson.decode(OG.request_openai_to_gemini(RAW, {})).contents
    assert.are.same({ functionCall = { name = "f", args = { a = 1 } } }, c[2].parts[1])
    assert.are.same({ functionResponse = { name = "f", response = { result = "ok" } } }, c[3].parts[1])
  end)
end)

describe("stop sequences within OpenAI's 4", function()
  -- was: an Anthropic client's 5 or 6 stop_sequences became `stop` of 5/6 -> OpenAI 400
  -- "Invalid 'stop': array too long" (and 6 -> Gemini "stop_sequences" over 5)
  it("Anthropic client: the first 4, raw", function()
    local out = OA.request_anthropic_to_openai('{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],'
      .. '"stop_sequences":["a","b","c","\\u00e9","e","f"]}', {})
    assert.truthy(out:find('"stop":["a","b","c","\\u00e9"]', 1, true))
  end)

  it("Gemini client: the first 4", function()
    local out = OG.request_gemini_to_openai('{"contents":[{"role":"user","parts":[{"text":"hi"}]}],'
      .. '"generationConfig":{"stopSequences":["a","b","c","d","e"]}}', { model = "m" })
    assert.are.same({ "a", "b", "c", "d" }, cjson.decode(out).stop)
  end)

  it("Anthropic client to a Gemini upstream: within Gemini's 5", function()
    local tr = translate.new("anthropic", "gemini", { model = "g" })
    local out = tr:request('{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],'
      .. '"stop_sequences":["a","b","c","d","e","f"]}')
    assert.are.same({ "a", "b", "c", "d" }, cjson.decode(out).generationConfig.stopSequences)
  end)
end)

describe("an assistant turn with nothing OpenAI can carry has content \"\", not null", function()
  -- was: a Gemini model turn of thought parts only became {"role":"assistant","content":null}
  -- -> OpenAI 400 "Invalid value for 'content': expected a string, got null."
  it("Gemini client: a thoughts-only model turn", function()
    local out = OG.request_gemini_to_openai('{"contents":[{"role":"user","parts":[{"text":"hi"}]},'
      .. '{"role":"model","parts":[{"text":"hmm","thought":true}]},{"role":"user","parts":[{"text":"again"}]}]}', { model = "m" })
    local m = cjson.decode(out).messages
    assert.are.equal("assistant", m[2].role)
    assert.are.equal("", m[2].content)
  end)

  it("Anthropic client: a thinking-only assistant turn", function()
    local out = OA.request_anthropic_to_openai('{"model":"m","max_tokens":5000,"messages":[{"role":"user","content":"hi"},'
      .. '{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"c2ln"}]},{"role":"user","content":"go"}]}', {})
    assert.are.equal("", cjson.decode(out).messages[2].content)
  end)

  it("tool calls keep content null", function()
    local out = OG.request_gemini_to_openai('{"contents":[{"role":"user","parts":[{"text":"hi"}]},'
      .. '{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]}]}', { model = "m" })
    assert.truthy(out:find('"content":null,"tool_calls"', 1, true))
  end)
end)

describe("schemas Gemini's subset cannot say go as JSON Schema", function()
  -- was: {"meta":{"type":"object","additionalProperties":{...}}} became {"type":"OBJECT"} ->
  -- Gemini 400 "parameters.properties[0].value.properties: should be non-empty for OBJECT type";
  -- likewise an integer enum ("enum: only allowed for STRING type"), tuple items and a
  -- `required` naming no property
  it("fits: what the API takes", function()
    assert.is_true(schema.fits('{"type":"OBJECT","properties":{"a":{"type":"STRING","enum":["x"]}},"required":["a"]}'))
    assert.is_true(schema.fits('{"type":"ARRAY","items":{"type":"INTEGER"}}'))
    assert.is_true(schema.fits('{"anyOf":[{"type":"STRING"},{"type":"NULL"}]}'))
    assert.is_false(schema.fits('{"type":"OBJECT"}'))
    assert.is_false(schema.fits('{"type":"OBJECT","properties":{"m":{"type":"object","properties":{}}}}'))
    assert.is_false(schema.fits('{"type":"OBJECT","properties":{"n":{"type":"INTEGER","enum":[1,2]}}}'))
    assert.is_false(schema.fits('{"type":"OBJECT","properties":{"p":{"type":"ARRAY","items":[{"type":"NUMBER"}]}}}'))
    assert.is_false(schema.fits('{"type":"OBJECT","properties":{"a":{"type":"STRING"}},"required":["a","b"]}'))
    assert.is_false(schema.fits('{"anyOf":[{"type":"OBJECT"}]}'))
  end)

  local function decl(params)
    local out = OG.request_openai_to_gemini('{"model":"m","messages":[{"role":"user","content":"hi"}],'
      .. '"tools":[{"type":"function","function":{"name":"f","parameters":' .. params .. '}}]}', {})
    return out, cjson.decode(out).tools[1].functionDeclarations[1]
  end

  it("a nested free-form object: parametersJsonSchema, the client's bytes", function()
    local p = '{"type":"object","properties":{"meta":{"type":"object","additionalProperties":{"type":"string"}}},"x":12345678901234567890}'
    local out, d = decl(p)
    assert.is_nil(d.parameters)
    assert.truthy(out:find('"parametersJsonSchema":' .. p, 1, true))
  end)

  it("an integer enum, tuple items, an undefined required name: parametersJsonSchema", function()
    for _, p in ipairs({
      '{"type":"object","properties":{"n":{"type":"integer","enum":[1,2]}}}',
      '{"type":"object","properties":{"p":{"type":"array","items":[{"type":"number"}]}}}',
      '{"type":"object","properties":{"a":{"type":"string"}},"required":["a","b"]}',
    }) do
      local _, d = decl(p)
      assert.is_nil(d.parameters)
      assert.are.same(cjson.decode(p), d.parametersJsonSchema)
    end
  end)

  it("a schema that fits stays in Gemini's dialect", function()
    local _, d = decl('{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}')
    assert.are.same({ type = "OBJECT", properties = { a = { type = "STRING" } } }, d.parameters)
    assert.is_nil(d.parametersJsonSchema)
  end)

  it("response_format json_schema: responseJsonSchema when the subset cannot say it", function()
    local out = OG.request_openai_to_gemini('{"model":"m","messages":[{"role":"user","content":"hi"}],'
      .. '"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"m":{"type":"object"}}}}}}', {})
    local gc = cjson.decode(out).generationConfig
    assert.are.equal("application/json", gc.responseMimeType)
    assert.is_nil(gc.responseSchema)
    assert.are.same({ type = "object", properties = { m = { type = "object" } } }, gc.responseJsonSchema)
  end)
end)
