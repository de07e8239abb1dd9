-- OpenAI <-> Gemini translation (moongate.translate.openai_gemini, gemini_schema,
-- the translator objects), fixtures modelled on PROTOCOLS 4; and composition
-- through the OpenAI pivot (Anthropic client <-> Gemini upstream).
local OG = require("moongate.translate.openai_gemini")
local schema = require("moongate.translate.gemini_schema")
local translate = require("moongate.translate")
local cjson = require("cjson")

local function frames(text)
  local out = {}
  for block in text:gmatch("(.-)\n\n") do
    out[#out + 1] = { event = block:match("^event: ([^\n]*)\n"), data = block:match("data: (.*)$") }
  end
  return out
end

local function ids(k) return "call_" .. k end

-- Gemini SSE chunks (each a full GenerateContentResponse).
local G1 = '{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"r1"}'
local G2 = '{"candidates":[{"content":{"parts":[{"text":"lo!"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,"totalTokenCount":8,"cachedContentTokenCount":2},"modelVersion":"gemini-2.5-flash","responseId":"r1"}'
local GT = '{"candidates":[{"content":{"parts":[{"text":"Checking."}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"r2"}'
local GC = '{"candidates":[{"content":{"parts":[{"functionCall":{"name":"lookup","args":{"ids":[],"n":12345678901234567890,"q":"caf\\u00e9"}},"thoughtSignature":"c2ln"},'
  .. '{"functionCall":{"name":"time","args":{}}}],"role":"model"},"finishReason":"STOP","index":0}],'
  .. '"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":10,"thoughtsTokenCount":4,"totalTokenCount":34},"modelVersion":"gemini-2.5-flash","responseId":"r2"}'
local GERR = '{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}'

local CH = '{"id":"chatcmpl-%s","object":"chat.completion.chunk","created":1,"model":"gemini-2.5-flash","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]%s}'
local function chunk(id, delta, finish, usage)
  return CH:format(id, delta, finish and ('"' .. finish .. '"') or "null", usage and ',"usage":null' or "")
end

describe("Gemini schema rewriting", function()
  local SRC = '{"type":"object","$schema":"http://json-schema.org/draft-07/schema#","additionalProperties":false,'
    .. '"properties":{"ids":{"type":"array","items":{"type":"integer","maximum":12345678901234567890}},'
    .. '"kind":{"type":["string","null"],"enum":[]},"note":{"type":"string","description":"caf\\u00e9 ☃","const":"x"},'
    .. '"type":{"type":"string"}},"required":[],"$defs":{"a":{}}}'

  it("to_gemini: upper-case types, nullable, unsupported keywords dropped, the rest raw", function()
    assert.are.equal('{"type":"OBJECT","properties":{"ids":{"type":"ARRAY","items":{"type":"INTEGER","maximum":12345678901234567890}},'
      .. '"kind":{"type":"STRING","enum":[],"nullable":true},"note":{"type":"STRING","description":"caf\\u00e9 ☃"},'
      .. '"type":{"type":"STRING"}},"required":[]}', schema.to_gemini(SRC))
  end)

  it("to_openai: lower-case types, everything else kept", function()
    assert.are.equal('{"type":"object","properties":{"a":{"type":"string","nullable":true,"enum":[]},"b":{"type":"array","items":{"type":"integer"}}},"required":[]}',
      schema.to_openai('{"type":"OBJECT","properties":{"a":{"type":"STRING","nullable":true,"enum":[]},"b":{"type":"ARRAY","items":{"type":"INTEGER"}}},"required":[]}'))
  end)
end)

describe("OpenAI -> Gemini request", function()
  it("maps system, parts, tool calls/results (names looked up), tools, tool_choice and generationConfig", function()
    local raw = [[{"model":"gpt-4o","messages":[
      {"role":"system","content":"You are terse."},
      {"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}},
        {"type":"image_url","image_url":{"url":"https://x.test/cat.jpg"}},{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}}]},
      {"role":"assistant","content":null,"tool_calls":[
        {"id":"call_1__thought__c2ln","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"tags\":[],\"n\":12345678901234567890}"}},
        {"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"call_1__thought__c2ln","content":"{\"temp\":18,\"list\":[]}"},
      {"role":"tool","tool_call_id":"call_2","content":"noon"},
      {"role":"user","content":"thanks"}],
      "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string","enum":[]}},"required":[],"additionalProperties":false}}},
               {"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}],
      "tool_choice":{"type":"function","function":{"name":"get_weather"}},
      "temperature":0.7,"top_p":0.9,"max_completion_tokens":1024,"stop":"END","n":1,"seed":12345678901234567890,
      "response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object","properties":{"t":{"type":"number"}},"required":[]}}},
      "stream":true,"stream_options":{"include_usage":true}}]]
    local ctx = {}
    local out = OG.request_openai_to_gemini(raw, ctx)
    assert.are.equal('{"contents":[{"role":"user","parts":[{"text":"Weather?"},{"inlineData":{"mimeType":"image/png","data":"iVBO"}},'
      .. '{"fileData":{"mimeType":"image/jpeg","fileUri":"https://x.test/cat.jpg"}},{"inlineData":{"mimeType":"audio/wav","data":"UklG"}}]},'
      .. '{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris","tags":[],"n":12345678901234567890}},"thoughtSignature":"c2ln"},'
      .. '{"functionCall":{"name":"get_time","args":{}}}]},'
      .. '{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp":18,"list":[]}}},'
      .. '{"functionResponse":{"name":"get_time","response":{"result":"noon"}}},{"text":"thanks"}]}],'
      .. '"systemInstruction":{"parts":[{"text":"You are terse."}]},'
      .. '"tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING","enum":[]}},"required":[]}},'
      .. '{"name":"get_time"}]}],'
      .. '"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}},'
      .. '"generationConfig":{"temperature":0.7,"topP":0.9,"maxOutputTokens":1024,"stopSequences":["END"],"candidateCount":1,"seed":12345678901234567890,'
      .. '"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"t":{"type":"NUMBER"}},"required":[]}}}', out)
    assert.is_true(ctx.stream)
    assert.is_true(ctx.include_usage)
  end)

  it("maps tool_choice auto/none/required and json_object", function()
    local function conv(extra)
      return cjson.decode(OG.request_openai_to_gemini('{"model":"m","messages":[{"role":"user","content":"x"}],'
        .. '"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}}]' .. extra .. "}", {}))
    end
    assert.are.equal("AUTO", conv(',"tool_choice":"auto"').toolConfig.functionCallingConfig.mode)
    assert.are.equal("NONE", conv(',"tool_choice":"none"').toolConfig.functionCallingConfig.mode)
    assert.are.equal("ANY", conv(',"tool_choice":"required"').toolConfig.functionCallingConfig.mode)
    assert.are.equal("application/json", conv(',"response_format":{"type":"json_object"}').generationConfig.responseMimeType)
    assert.are.equal(8192, conv(',"reasoning_effort":"medium"').generationConfig.thinkingConfig.thinkingBudget)
  end)
end)

describe("Gemini -> OpenAI response (non-stream)", function()
  it("mints tool ids (signature carried), args raw, tool_calls finish, usage rule", function()
    local ctx = { now = 1, mint_id = ids }
    local out = OG.response_gemini_to_openai(GC, ctx)
    assert.are.equal('{"id":"chatcmpl-r2","object":"chat.completion","created":1,"model":"gemini-2.5-flash","choices":[{"index":0,'
      .. '"message":{"role":"assistant","content":null,"refusal":null,"tool_calls":['
      .. '{"id":"call_0__thought__c2ln","type":"function","function":{"name":"lookup","arguments":"{\\"ids\\":[],\\"n\\":12345678901234567890,\\"q\\":\\"caf\\\\u00e9\\"}"}},'
      .. '{"id":"call_1","type":"function","function":{"name":"time","arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],'
      .. '"usage":{"prompt_tokens":20,"completion_tokens":14,"total_tokens":34,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":4}}}', out)
    assert.are.same({ input = 20, output = 14 }, ctx.usage)
  end)

  it("maps finish reasons and a blocked prompt", function()
    for reason, want in pairs({ STOP = "stop", MAX_TOKENS = "length", SAFETY = "content_filter", RECITATION = "stop",
      PROHIBITED_CONTENT = "content_filter", OTHER = "stop" }) do
      local out = cjson.decode(OG.response_gemini_to_openai('{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"' .. reason .. '"}]}', {}))
      assert.are.equal(want, out.choices[1].finish_reason, reason)
    end
    local blocked = cjson.decode(OG.response_gemini_to_openai('{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3}}', {}))
    assert.are.equal("content_filter", blocked.choices[1].finish_reason)
    assert.are.equal("", blocked.choices[1].message.content)
  end)
end)

describe("Gemini stream -> OpenAI chunks", function()
  local function run(events, include_usage)
    local tr = translate.new("openai", "gemini", { now = 1, mint_id = ids, include_usage = include_usage }):fresh()
    local text = {}
    for _, e in ipairs(events) do text[#text + 1] = tr:event(nil, e) end
    text[#text + 1] = tr:finish()
    local data = {}
    for _, f in ipairs(frames(table.concat(text))) do data[#data + 1] = f.data end
    return data, tr
  end

  it("text only: role chunk, deltas, finish, usage from the last usageMetadata, [DONE] at EOF", function()
    local data, tr = run({ G1, G2 }, true)
    assert.are.same({
      chunk("r1", '{"role":"assistant","content":""}', nil, true),
      chunk("r1", '{"content":"Hel"}', nil, true),
      chunk("r1", '{"content":"lo!"}', nil, true),
      chunk("r1", "{}", "stop", true),
      '{"id":"chatcmpl-r1","object":"chat.completion.chunk","created":1,"model":"gemini-2.5-flash","choices":[],'
        .. '"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":0}}}',
      "[DONE]",
    }, data)
    assert.are.same({ input = 5, output = 3 }, tr.usage)
  end)

  it("text then two function calls: whole tool_calls with indices 0 and 1, finish tool_calls", function()
    local data = run({ GT, GC }, false)
    assert.are.same({
      chunk("r2", '{"role":"assistant","content":""}'),
      chunk("r2", '{"content":"Checking."}'),
      chunk("r2", '{"tool_calls":[{"index":0,"id":"call_0__thought__c2ln","type":"function","function":{"name":"lookup","arguments":"{\\"ids\\":[],\\"n\\":12345678901234567890,\\"q\\":\\"caf\\\\u00e9\\"}"}}]}'),
      chunk("r2", '{"tool_calls":[{"index":1,"id":"call_1","type":"function","function":{"name":"time","arguments":"{}"}}]}'),
      chunk("r2", "{}", "tool_calls"),
      "[DONE]",
    }, data)
  end)

  it("an error chunk mid-stream gives an OpenAI error payload and no [DONE]", function()
    local data = run({ G1, GERR }, true)
    assert.are.equal('{"error":{"message":"The model is overloaded.","type":"UNAVAILABLE","param":null,"code":"503"}}', data[#data])
    for _, d in ipairs(data) do assert.are_not.equal("[DONE]", d) end
  end)

  it("EOF before a finishReason is an error", function()
    local data = run({ G1 }, true)
    assert.truthy(data[#data]:find('"type":"upstream_error"', 1, true))
    assert.are_not.equal("[DONE]", data[#data])
  end)
end)

describe("Gemini client, OpenAI upstream", function()
  it("request: contents, systemInstruction (both spellings), functionCall/Response ids, tools, config", function()
    local raw = [[{"system_instruction":{"parts":[{"text":"Be terse."}]},
      "contents":[{"role":"user","parts":[{"text":"Weather?"},{"inlineData":{"mimeType":"image/png","data":"iVBO"}}]},
        {"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris","tags":[],"n":12345678901234567890}}}]},
        {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"18C"}}}]},
        {"role":"model","parts":[{"functionCall":{"id":"fc9","name":"get_weather","args":{}}}]},
        {"role":"user","parts":[{"functionResponse":{"id":"fc9","name":"get_weather","response":{"temp":18,"list":[]}}},{"text":"ok"}]}],
      "tools":[{"functionDeclarations":[{"name":"get_weather","description":"W","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING","enum":[]}},"required":[]}},
        {"name":"raw","parametersJsonSchema":{"type":"object","properties":{"x":{"type":["string","null"]}},"required":[],"additionalProperties":false}}]}],
      "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}},
      "generationConfig":{"temperature":0.2,"maxOutputTokens":64,"stopSequences":["END"],"responseMimeType":"application/json"}}]]
    local out = OG.request_gemini_to_openai(raw, { model = "gpt-4o", stream = true })
    assert.are.equal('{"model":"gpt-4o","messages":[{"role":"system","content":"Be terse."},'
      .. '{"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}}]},'
      .. '{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\",\\"tags\\":[],\\"n\\":12345678901234567890}"}}]},'
      .. '{"role":"tool","tool_call_id":"call_1","content":"18C"},'
      .. '{"role":"assistant","content":null,"tool_calls":[{"id":"fc9","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},'
      .. '{"role":"tool","tool_call_id":"fc9","content":"{\\"temp\\":18,\\"list\\":[]}"},{"role":"user","content":"ok"}],'
      .. '"max_tokens":64,"temperature":0.2,"stop":["END"],"response_format":{"type":"json_object"},'
      .. '"tools":[{"type":"function","function":{"name":"get_weather","description":"W","parameters":{"type":"object","properties":{"city":{"type":"string","enum":[]}},"required":[]}}},'
      .. '{"type":"function","function":{"name":"raw","parameters":{"type":"object","properties":{"x":{"type":["string","null"]}},"required":[],"additionalProperties":false}}}],'
      .. '"tool_choice":{"type":"function","function":{"name":"get_weather"}},"stream":true,"stream_options":{"include_usage":true}}', out)
  end)

  it("non-stream response: candidates, functionCall args raw, usageMetadata", function()
    local body = [[{"id":"chatcmpl-7","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hi",
      "tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":[],\"n\":12345678901234567890}"}}]},"finish_reason":"tool_calls"}],
      "usage":{"prompt_tokens":10,"completion_tokens":6,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}]]
    assert.are.equal('{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"},{"functionCall":{"id":"call_1","name":"f","args":{"a":[],"n":12345678901234567890}}}]},'
      .. '"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4,"totalTokenCount":16,"cachedContentTokenCount":4,"thoughtsTokenCount":2},'
      .. '"modelVersion":"gpt-4o","responseId":"chatcmpl-7"}', OG.response_openai_to_gemini(body, {}))
  end)

  local OC = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}'
  local function oc(delta, finish) return OC:format(delta, finish and ('"' .. finish .. '"') or "null") end

  it("stream: text live, tool calls whole in the final chunk with finishReason and usageMetadata", function()
    local tr = translate.new("gemini", "openai", { model = "gpt-4o", stream = true }):fresh()
    local text = {}
    for _, p in ipairs({ oc('{"role":"assistant","content":""}'), oc('{"content":"Hel"}'),
      oc('{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"f","arguments":"{\\"a\\":"}}]}'),
      oc('{"tool_calls":[{"index":0,"function":{"arguments":"[]}"}}]}'), oc("{}", "tool_calls"),
      '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}}',
      "[DONE]" }) do text[#text + 1] = tr:event(nil, p) end
    text[#text + 1] = tr:finish()
    local fs = frames(table.concat(text))
    assert.are.same({
      { data = '{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"modelVersion":"gpt-4o","responseId":"chatcmpl-1"}' },
      { data = '{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"id":"call_a","name":"f","args":{"a":[]}}}]},"finishReason":"STOP","index":0}],'
        .. '"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":5,"totalTokenCount":14},"modelVersion":"gpt-4o","responseId":"chatcmpl-1"}' },
    }, fs)
    assert.are.same({ input = 9, output = 5 }, tr.usage)
  end)

  it("stream: an upstream error becomes a Gemini error object", function()
    local tr = translate.new("gemini", "openai", {}):fresh()
    tr:event(nil, oc('{"content":"x"}'))
    assert.are.equal('data: {"error":{"code":500,"message":"boom","status":"INTERNAL"}}\n\n',
      tr:event(nil, '{"error":{"message":"boom","type":"server_error","param":null,"code":null}}'))
    assert.are.equal("", tr:finish())
    tr = translate.new("gemini", "openai", {}):fresh()
    assert.are.equal('data: {"error":{"code":504,"message":"idle","status":"DEADLINE_EXCEEDED"}}\n\n', tr:error("upstream_timeout", "idle"))
  end)

  it("error bodies become Gemini errors; Gemini's API_KEY_INVALID becomes 401 for OpenAI clients", function()
    local st, _, body = translate.new("gemini", "openai", {}):fresh():body(429, "application/json",
      '{"error":{"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded"}}')
    assert.are.equal(429, st)
    assert.are.equal('{"error":{"code":429,"message":"Rate limit reached","status":"RESOURCE_EXHAUSTED"}}', body)
    st, _, body = translate.new("openai", "gemini", {}):fresh():body(400, "application/json",
      '{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}')
    assert.are.equal(401, st)
    assert.are.equal('{"error":{"message":"API key not valid.","type":"authentication_error","param":null,"code":"invalid_api_key"}}', body)
  end)
end)

describe("composition through the OpenAI pivot", function()
  local ANTH_REQ = [[{"model":"claude-x","max_tokens":100,"stream":true,"system":"Be terse.","messages":[{"role":"user","content":"Weather?"}],
    "tools":[{"name":"lookup","input_schema":{"type":"object","properties":{"ids":{"type":"array","items":{"type":"integer"}},"k":{"enum":[]}},"required":[],"description":"\u00e9☃","maximum":12345678901234567890}}]}]]

  it("Anthropic client -> Gemini upstream: request", function()
    local tr = translate.new("anthropic", "gemini", { model = "gemini-2.5-flash" })
    assert.are.equal('{"contents":[{"role":"user","parts":[{"text":"Weather?"}]}],"systemInstruction":{"parts":[{"text":"Be terse."}]},'
      .. '"tools":[{"functionDeclarations":[{"name":"lookup","parameters":{"type":"OBJECT","properties":{"ids":{"type":"ARRAY","items":{"type":"INTEGER"}},"k":{"enum":[]}},"required":[],"description":"\\u00e9☃","maximum":12345678901234567890}}]}],'
      .. '"generationConfig":{"maxOutputTokens":100}}', tr:request(ANTH_REQ))
  end)

  it("Anthropic client -> Gemini upstream: stream with text, a tool call, usage, message_stop", function()
    local tr = translate.new("anthropic", "gemini", { model = "gemini-2.5-flash", mint_id = ids })
    tr:request(ANTH_REQ)
    local s = tr:fresh()
    local text = s:event(nil, GT) .. s:event(nil, GC) .. s:finish()
    local fs = frames(text)
    local names = {}
    for _, f in ipairs(fs) do names[#names + 1] = f.event end
    assert.are.same({ "message_start", "content_block_start", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop" }, names)
    assert.are.equal('{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"ids\\":[],\\"n\\":12345678901234567890,\\"q\\":\\"caf\\\\u00e9\\"}"}}', fs[6].data)
    assert.are.equal('{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":14,"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}', fs[11].data)
    assert.are.same({ input = 20, output = 14 }, s.usage)
  end)

  it("Anthropic client -> Gemini upstream: an error chunk becomes event: error", function()
    local s = translate.new("anthropic", "gemini", {}):fresh()
    local fs = frames(s:event(nil, G1) .. s:event(nil, GERR) .. s:finish())
    assert.are.equal("error", fs[#fs].event)
    assert.are.equal('{"type":"error","error":{"type":"api_error","message":"The model is overloaded."}}', fs[#fs].data)
  end)

  it("Anthropic client -> Gemini upstream: non-stream body", function()
    local s = translate.new("anthropic", "gemini", { mint_id = ids }):fresh()
    local st, _, body = s:body(200, "application/json", GC)
    assert.are.equal(200, st)
    assert.are.equal('{"id":"msg_chatcmpl-r2","type":"message","role":"assistant","model":"gemini-2.5-flash","content":['
      .. '{"type":"tool_use","id":"call_0__thought__c2ln","name":"lookup","input":{"ids":[],"n":12345678901234567890,"q":"caf\\u00e9"}},'
      .. '{"type":"tool_use","id":"call_1","name":"time","input":{}}],"stop_reason":"tool_use","stop_sequence":null,'
      .. '"usage":{"input_tokens":20,"output_tokens":14,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}', body)
  end)

  it("Gemini client -> Anthropic upstream: stream", function()
    local tr = translate.new("gemini", "anthropic", { model = "claude-x", stream = true })
    local req = tr:request('{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":50}}')
    assert.are.equal('{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":50,"stream":true}', req)
    local s = tr:fresh()
    local out = {}
    for _, e in ipairs({
      { "message_start", '{"type":"message_start","message":{"id":"msg_1","model":"claude-x","usage":{"input_tokens":7,"output_tokens":1}}}' },
      { "content_block_start", '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}' },
      { "content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}' },
      { "content_block_stop", '{"type":"content_block_stop","index":0}' },
      { "message_delta", '{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":5}}' },
      { "message_stop", '{"type":"message_stop"}' } }) do out[#out + 1] = s:event(e[1], e[2]) end
    out[#out + 1] = s:finish()
    assert.are.equal('data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hello"}]},"index":0}],"modelVersion":"claude-x","responseId":"msg_1"}\n\n'
      .. 'data: {"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"MAX_TOKENS","index":0}],'
      .. '"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":5,"totalTokenCount":12},"modelVersion":"claude-x","responseId":"msg_1"}\n\n', table.concat(out))
  end)
end)

describe("regressions found by fuzz/fuzz_translate (never raise on odd upstream or client JSON)", function()
  it("a Gemini request whose contents, parts or declarations are not objects (was: attempt to index a number value)", function()
    local tr = translate.new("gemini", "openai", { model = "m" })
    assert.are.equal('{"model":"m","messages":[{"role":"assistant","content":"a"},{"role":"user","content":"b"}],'
      .. '"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}],"tool_choice":"required"}',
      tr:request('{"contents":[1,{"role":"model","parts":[2,{"text":"a"}]},{"parts":[3,{"text":"b"}]}],'
        .. '"tools":[{"functionDeclarations":[1,{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":[5]}}}'))
  end)

  it("non-string allowedFunctionNames and schema types are never re-encoded (was: nesting too deep)", function()
    local deep = ("["):rep(130) .. ("]"):rep(130)
    local out = cjson.decode(translate.new("gemini", "openai", { model = "m" }):request('{"contents":[],'
      .. '"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"x":{"type":["STRING",' .. deep .. ']}}}}]}],'
      .. '"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":[' .. deep .. ']}}}'))
    assert.are.equal("required", out.tool_choice)
    assert.are.equal('{"type":["string",[[1]],null,"x"]}', schema.to_openai('{"type":["STRING",[[1]],null,"X"]}'))
  end)

  it("OpenAI tool calls that are not objects, in a request and a response (was: attempt to index a number value)", function()
    assert.are.equal('{"contents":[{"role":"model","parts":[{"functionCall":{"name":"","args":{}}}]}]}',
      translate.new("openai", "gemini", {}):request('{"messages":[{"role":"assistant","tool_calls":[1,{"function":2}]}]}'))
    local st, _, body = translate.new("gemini", "openai", {}):fresh():body(200, "application/json",
      '{"choices":[{"message":{"content":"hi","tool_calls":[1]},"finish_reason":"stop"}]}')
    assert.are.equal(200, st)
    assert.are.same({ { text = "hi" } }, cjson.decode(body).candidates[1].content.parts)
  end)

  it("a usageMetadata count of 1e400 counts as 0 (was: json.encode raised)", function()
    local s = translate.new("openai", "gemini", { now = 1, include_usage = true }):fresh()
    local text = s:event(nil, '{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],'
      .. '"usageMetadata":{"promptTokenCount":1e400,"candidatesTokenCount":3,"totalTokenCount":1e400}}') .. s:finish()
    local fs = frames(text)
    assert.are.same({ prompt_tokens = 0, completion_tokens = 3, total_tokens = 0,
      prompt_tokens_details = { cached_tokens = 0 }, completion_tokens_details = { reasoning_tokens = 0 } },
      cjson.decode(fs[#fs - 1].data).usage)
    assert.are.same({ input = 0, output = 3 }, s.usage)
  end)

  it("arguments and tool results that decode only up to a NUL are wrapped, not embedded raw (was: invalid JSON out)", function()
    local s = translate.new("gemini", "openai", {}):fresh()
    local fs = frames(s:event(nil, '{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}\\u0000x"}}]},"finish_reason":"tool_calls"}]}')
      .. s:finish())
    assert.are.same({ arguments = "{}\0x" }, cjson.decode(fs[1].data).candidates[1].content.parts[1].functionCall.args)
    local req = cjson.decode(translate.new("openai", "gemini", {}):request(
      '{"messages":[{"role":"tool","tool_call_id":"x","content":"{}\\u0000j"}]}'))
    assert.are.same({ result = "{}\0j" }, req.contents[1].parts[1].functionResponse.response)
  end)
end)
