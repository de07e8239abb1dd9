-- OpenAI <-> Anthropic translation (moongate.translate.openai_anthropic and the
-- translator objects of moongate.translate), fixtures modelled on PROTOCOLS 2-3.
local OA = require("moongate.translate.openai_anthropic")
local translate = require("moongate.translate")
local cjson = require("cjson")

-- Splits SSE frames text into { {event=, data=}, ... } (data as text).
local function frames(text)
  local out = {}
  for block in text:gmatch("(.-)\n\n") do
    local ev = block:match("^event: ([^\n]*)\n")
    local data = block:match("data: (.*)$")
    out[#out + 1] = { event = ev, data = data }
  end
  return out
end

local function feed(tr, events)
  local text = {}
  for _, e in ipairs(events) do text[#text + 1] = tr:event(e[1], e[2]) end
  return table.concat(text)
end

-- Anthropic SSE fixtures --------------------------------------------------------
local function ev(name, data) return { name, data } end

local START = ev("message_start", [[{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2,"cache_creation_input_tokens":20,"cache_read_input_tokens":100}}}]])
local PING = ev("ping", [[{"type":"ping"}]])
local function text_block(i, ...)
  local list = { ev("content_block_start", ('{"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}'):format(i)) }
  for _, t in ipairs({ ... }) do
    list[#list + 1] = ev("content_block_delta", ('{"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":%s}}'):format(i, cjson.encode(t)))
  end
  list[#list + 1] = ev("content_block_stop", ('{"type":"content_block_stop","index":%d}'):format(i))
  return list
end
local function tool_block(i, id, name, ...)
  local list = { ev("content_block_start", ('{"type":"content_block_start","index":%d,"content_block":{"type":"tool_use","id":"%s","name":"%s","input":{}}}'):format(i, id, name)) }
  for _, f in ipairs({ ... }) do
    list[#list + 1] = ev("content_block_delta", ('{"type":"content_block_delta","index":%d,"delta":{"type":"input_json_delta","partial_json":%s}}'):format(i, cjson.encode(f)))
  end
  list[#list + 1] = ev("content_block_stop", ('{"type":"content_block_stop","index":%d}'):format(i))
  return list
end
local function stop(reason, out)
  return ev("message_delta", ('{"type":"message_delta","delta":{"stop_reason":"%s","stop_sequence":null},"usage":{"output_tokens":%d}}'):format(reason, out))
end
local STOP = ev("message_stop", [[{"type":"message_stop"}]])
local function concat_lists(...)
  local out = {}
  for _, l in ipairs({ ... }) do
    if type(l[1]) == "table" then for _, x in ipairs(l) do out[#out + 1] = x end else out[#out + 1] = l end
  end
  return out
end

local CHUNK = '{"id":"msg_1","object":"chat.completion.chunk","created":1700000000,"model":"claude-sonnet-4","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]%s}'
local function chunk(delta, finish, usage)
  return CHUNK:format(delta, finish and ('"' .. finish .. '"') or "null", usage and ',"usage":null' or "")
end

describe("OpenAI -> Anthropic request", function()
  it("maps system, multi-part content, tools, tool calls and results, and sampling fields", function()
    local raw = [[{"model":"gpt-4o","messages":[
      {"role":"system","content":"You are terse."},
      {"role":"developer","content":[{"type":"text","text":"Answer in French."}]},
      {"role":"user","content":[{"type":"text","text":"What is in these?"},
        {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
        {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}},
        {"type":"text","text":""}]},
      {"role":"assistant","content":"Let me check.","tool_calls":[
        {"id":"call_a","type":"function","function":{"name":"lookup","arguments":"{\"ids\":[],\"opts\":{},\"n\":12345678901234567890,\"q\":\"caf\\u00e9 \ud83d\ude00\"}"}},
        {"id":"call_b","type":"function","function":{"name":"noop","arguments":""}}]},
      {"role":"tool","tool_call_id":"call_a","content":"found"},
      {"role":"tool","tool_call_id":"call_b","content":[{"type":"text","text":"done"}]},
      {"role":"user","content":"thanks"}],
      "tools":[{"type":"function","function":{"name":"lookup","description":"Find things","parameters":{"type":"object","properties":{"ids":{"type":"array","items":{"type":"integer","maximum":12345678901234567890}},"kind":{"enum":[]}},"required":[],"description":"caf\u00e9 \u2603 ☃"}}},
               {"type":"function","function":{"name":"noop"}}],
      "tool_choice":"required","parallel_tool_calls":false,
      "max_completion_tokens":512,"temperature":1.7,"top_p":0.9,"stop":["END","  "],"user":"u-1","stream":true,
      "stream_options":{"include_usage":true},"n":1,"logprobs":false,"seed":7}]]
    local ctx = { model = "claude-sonnet-4" }
    local out = OA.request_openai_to_anthropic(raw, ctx)
    assert.are.equal('{"model":"claude-sonnet-4","system":[{"type":"text","text":"You are terse."},{"type":"text","text":"Answer in French."}],'
      .. '"messages":[{"role":"user","content":[{"type":"text","text":"What is in these?"},'
      .. '{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},'
      .. '{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]},'
      .. '{"role":"assistant","content":[{"type":"text","text":"Let me check."},'
      .. '{"type":"tool_use","id":"call_a","name":"lookup","input":{"ids":[],"opts":{},"n":12345678901234567890,"q":"caf\\u00e9 😀"}},'
      .. '{"type":"tool_use","id":"call_b","name":"noop","input":{}}]},'
      .. '{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_a","content":"found"},'
      .. '{"type":"tool_result","tool_use_id":"call_b","content":"done"},{"type":"text","text":"thanks"}]}],'
      .. '"max_tokens":512,"temperature":1,"top_p":0.9,"stop_sequences":["END"],'
      .. '"tools":[{"name":"lookup","description":"Find things","input_schema":{"type":"object","properties":{"ids":{"type":"array","items":{"type":"integer","maximum":12345678901234567890}},"kind":{"enum":[]}},"required":[],"description":"caf\\u00e9 \\u2603 ☃"}},'
      .. '{"name":"noop","input_schema":{"type":"object","properties":{}}}],'
      .. '"tool_choice":{"type":"any","disable_parallel_tool_use":true},"metadata":{"user_id":"u-1"},"stream":true}', out)
    assert.is_true(ctx.stream)
    assert.is_true(ctx.include_usage)
  end)

  it("supplies max_tokens when absent, keeps max_tokens, and maps every tool_choice", function()
    local function req(extra)
      return '{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}]' .. extra .. "}"
    end
    local function tc(extra) return cjson.decode(OA.request_openai_to_anthropic(req(extra), {})).tool_choice end
    assert.are.equal(4096, cjson.decode(OA.request_openai_to_anthropic(req(""), {})).max_tokens)
    assert.are.equal(1000, cjson.decode(OA.request_openai_to_anthropic(req(""), { default_max_tokens = 1000 })).max_tokens)
    assert.are.equal(77, cjson.decode(OA.request_openai_to_anthropic(req(',"max_tokens":77'), {})).max_tokens)
    assert.is_nil(tc(""))
    assert.are.same({ type = "auto" }, tc(',"tool_choice":"auto"'))
    assert.are.same({ type = "any" }, tc(',"tool_choice":"required"'))
    assert.are.same({ type = "none" }, tc(',"tool_choice":"none"'))
    assert.are.same({ type = "tool", name = "f" }, tc(',"tool_choice":{"type":"function","function":{"name":"f"}}'))
    assert.are.same({ type = "auto", disable_parallel_tool_use = true }, tc(',"parallel_tool_calls":false'))
    local one = cjson.decode(OA.request_openai_to_anthropic('{"model":"m","stop":"STOP","messages":[{"role":"user","content":"x"}]}', {}))
    assert.are.same({ "STOP" }, one.stop_sequences)
    assert.is_nil(one.stream)
  end)

  it("turns response_format json_schema into a forced tool (schema raw)", function()
    local ctx = {}
    local out = OA.request_openai_to_anthropic([[{"model":"m","messages":[{"role":"user","content":"x"}],
      "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","properties":{"a":{"type":"array","items":{}}},"required":[]}}}}]], ctx)
    assert.are.equal("json_response", ctx.json_tool)
    assert.truthy(out:find('"input_schema":{"type":"object","properties":{"a":{"type":"array","items":{}}},"required":[]}', 1, true))
    assert.truthy(out:find('"tool_choice":{"type":"tool","name":"json_response"}', 1, true))
  end)

  it("maps reasoning_effort to a thinking budget and drops sampling", function()
    local j = cjson.decode(OA.request_openai_to_anthropic('{"model":"m","reasoning_effort":"low","temperature":0.2,"max_tokens":500,"messages":[{"role":"user","content":"x"}]}', {}))
    assert.are.same({ type = "enabled", budget_tokens = 1024 }, j.thinking)
    assert.is_nil(j.temperature)
    assert.is_true(j.max_tokens > 1024)
  end)
end)

describe("Anthropic -> OpenAI response (non-stream)", function()
  local BODY = [[{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4",
    "content":[{"type":"text","text":"Checking "},{"type":"text","text":"now."},
      {"type":"tool_use","id":"toolu_1","name":"lookup","input":{"ids":[],"meta":{},"n":12345678901234567890,"q":"caf\u00e9"}}],
    "stop_reason":"tool_use","stop_sequence":null,
    "usage":{"input_tokens":25,"output_tokens":40,"cache_creation_input_tokens":5,"cache_read_input_tokens":100}}]]

  it("maps content, tool_use (input raw), finish and usage with the cache rule", function()
    local ctx = { now = 1700000000 }
    local out = OA.response_anthropic_to_openai(BODY, ctx)
    assert.are.equal('{"id":"msg_01","object":"chat.completion","created":1700000000,"model":"claude-sonnet-4","choices":[{"index":0,'
      .. '"message":{"role":"assistant","content":"Checking now.","refusal":null,"tool_calls":[{"id":"toolu_1","type":"function",'
      .. '"function":{"name":"lookup","arguments":"{\\"ids\\":[],\\"meta\\":{},\\"n\\":12345678901234567890,\\"q\\":\\"caf\\\\u00e9\\"}"}}]},'
      .. '"logprobs":null,"finish_reason":"tool_calls"}],'
      .. '"usage":{"prompt_tokens":130,"completion_tokens":40,"total_tokens":170,"prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":5}}}', out)
    assert.are.same({ input = 130, output = 40 }, ctx.usage)
  end)

  it("maps every stop_reason", function()
    for reason, want in pairs({ end_turn = "stop", stop_sequence = "stop", max_tokens = "length", tool_use = "tool_calls",
      pause_turn = "stop", refusal = "content_filter", model_context_window_exceeded = "length" }) do
      local out = cjson.decode(OA.response_anthropic_to_openai('{"id":"m","model":"c","content":[{"type":"text","text":"x"}],"stop_reason":"' .. reason .. '","usage":{"input_tokens":1,"output_tokens":1}}', {}))
      assert.are.equal(want, out.choices[1].finish_reason, reason)
    end
  end)

  it("returns the json tool's input as content with finish_reason stop", function()
    local out = OA.response_anthropic_to_openai([[{"id":"m","model":"c","content":[{"type":"tool_use","id":"t","name":"json_response","input":{"a":[],"b":12345678901234567890}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}}]], { json_tool = "json_response", now = 1 })
    local j = cjson.decode(out)
    assert.are.equal('{"a":[],"b":12345678901234567890}', j.choices[1].message.content)
    assert.are.equal("stop", j.choices[1].finish_reason)
    assert.is_nil(j.choices[1].message.tool_calls)
  end)
end)

describe("Anthropic stream -> OpenAI chunks", function()
  local function run(events, include_usage)
    local tr = translate.new("openai", "anthropic", { model = "claude-sonnet-4", now = 1700000000, include_usage = include_usage })
    local s = tr:fresh()
    local text = feed(s, events) .. s:finish()
    local data = {}
    for _, f in ipairs(frames(text)) do
      assert.is_nil(f.event) -- OpenAI chat streams have no event: lines
      data[#data + 1] = f.data
    end
    return data, s
  end

  it("text only: one role chunk, deltas, finish, usage chunk, [DONE]; ping dropped", function()
    local data, s = run(concat_lists(START, PING, text_block(0, "Hello", " world"), stop("end_turn", 12), STOP), true)
    assert.are.same({
      chunk('{"role":"assistant","content":""}', nil, true),
      chunk('{"content":"Hello"}', nil, true),
      chunk('{"content":" world"}', nil, true),
      chunk("{}", "stop", true),
      '{"id":"msg_1","object":"chat.completion.chunk","created":1700000000,"model":"claude-sonnet-4","choices":[],'
        .. '"usage":{"prompt_tokens":592,"completion_tokens":12,"total_tokens":604,"prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":20}}}',
      "[DONE]",
    }, data)
    assert.are.same({ input = 592, output = 12 }, s.usage)
  end)

  it("omits the usage chunk when the client did not ask for it", function()
    local data = run(concat_lists(START, text_block(0, "Hi"), stop("end_turn", 3), STOP), false)
    assert.are.same({ chunk('{"role":"assistant","content":""}'), chunk('{"content":"Hi"}'), chunk("{}", "stop"), "[DONE]" }, data)
  end)

  it("tool call with fragmented arguments", function()
    local data = run(concat_lists(START, tool_block(0, "toolu_1", "get_weather", "", '{"city": "Par', 'is"}'), stop("tool_use", 30), STOP), false)
    assert.are.same({
      chunk('{"role":"assistant","content":""}'),
      chunk('{"tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":""}}]}'),
      chunk('{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\": \\"Par"}}]}'),
      chunk('{"tool_calls":[{"index":0,"function":{"arguments":"is\\"}"}}]}'),
      chunk("{}", "tool_calls"),
      "[DONE]",
    }, data)
  end)

  it("text then two tool calls: tool indices 0 and 1, independent of block indices", function()
    local data = run(concat_lists(START, text_block(0, "Checking."), tool_block(1, "toolu_a", "weather", '{"city":', '"Paris"}'),
      PING, tool_block(2, "toolu_b", "time"), stop("tool_use", 89), STOP), true)
    local idx, args, roles, names = {}, {}, 0, {}
    for _, d in ipairs(data) do
      if d ~= "[DONE]" then
        local j = cjson.decode(d)
        local delta = j.choices[1] and j.choices[1].delta
        if delta and delta.role then roles = roles + 1 end
        for _, tc in ipairs(delta and delta.tool_calls or {}) do
          idx[#idx + 1] = tc.index
          if tc["function"].name then names[tc.index] = tc["function"].name end
          args[tc.index] = (args[tc.index] or "") .. (tc["function"].arguments or "")
        end
      end
    end
    assert.are.equal(1, roles)
    assert.are.same({ 0, 0, 0, 1, 1 }, idx)
    assert.are.same({ [0] = "weather", [1] = "time" }, names)
    assert.are.same({ [0] = '{"city":"Paris"}', [1] = "{}" }, args) -- a tool without fragments gets "{}"
    assert.are.equal(chunk('{"content":"Checking."}', nil, true), data[2])
    assert.are.equal("[DONE]", data[#data])
    assert.are.equal(chunk("{}", "tool_calls", true), data[#data - 2])
  end)

  it("an error event ends the stream with an OpenAI error payload and no [DONE]", function()
    local data = run(concat_lists(START, text_block(0, "Hel"),
      ev("error", [[{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}]]), STOP), true)
    assert.are.same({
      chunk('{"role":"assistant","content":""}', nil, true),
      chunk('{"content":"Hel"}', nil, true),
      '{"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}}',
    }, data)
  end)

  it("a stream cut before message_stop is an error, not a normal finish", function()
    local data = run(concat_lists(START, text_block(0, "Hel")), true)
    assert.are.equal('{"error":{"message":"upstream stream ended before message_stop","type":"upstream_error","param":null,"code":"upstream_error"}}', data[#data])
    for _, d in ipairs(data) do assert.are_not.equal("[DONE]", d) end
  end)

  it("tr:error after bytes were sent gives the gateway's upstream_error payload", function()
    local tr = translate.new("openai", "anthropic", { now = 1 }):fresh()
    feed(tr, concat_lists(START, text_block(0, "x")))
    assert.are.equal('data: {"error":{"message":"upstream reset","type":"upstream_error","param":null,"code":"upstream_reset"}}\n\n',
      tr:error("upstream_reset", "upstream reset"))
    assert.are.equal("", tr:finish())
  end)
end)

describe("Anthropic -> OpenAI request (Anthropic client, OpenAI upstream)", function()
  it("maps system blocks, images, tool_use/tool_result, tools (schema raw), tool_choice, stop, stream", function()
    local raw = [[{"model":"claude-x","max_tokens":300,"system":[{"type":"text","text":"Be brief."},{"type":"text","text":"Be kind."}],
      "messages":[
        {"role":"user","content":[{"type":"text","text":"Look:"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}},
          {"type":"image","source":{"type":"url","url":"https://x.test/a.png"}}]},
        {"role":"assistant","content":[{"type":"text","text":"Checking."},
          {"type":"tool_use","id":"toolu_1","name":"lookup","input":{"ids":[],"n":12345678901234567890,"s":"\u00e9☃"}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"42"}]},
          {"type":"tool_result","tool_use_id":"toolu_2","content":"boom","is_error":true},{"type":"text","text":"go on"}]}],
      "tools":[{"name":"lookup","description":"d","input_schema":{"type":"object","properties":{"ids":{"type":"array","items":{"enum":[]}}},"required":[]}},
               {"type":"web_search_20250305","name":"web_search"}],
      "tool_choice":{"type":"any","disable_parallel_tool_use":true},
      "stop_sequences":["END"],"temperature":0.5,"top_k":5,"metadata":{"user_id":"u9"},"stream":true}]]
    local out = OA.request_anthropic_to_openai(raw, { model = "gpt-4o" })
    assert.are.equal('{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief.\\nBe kind."},'
      .. '{"role":"user","content":[{"type":"text","text":"Look:"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/"}},'
      .. '{"type":"image_url","image_url":{"url":"https://x.test/a.png"}}]},'
      .. '{"role":"assistant","content":"Checking.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"lookup",'
      .. '"arguments":"{\\"ids\\":[],\\"n\\":12345678901234567890,\\"s\\":\\"\\\\u00e9☃\\"}"}}]},'
      .. '{"role":"tool","tool_call_id":"toolu_1","content":"42"},{"role":"tool","tool_call_id":"toolu_2","content":"Error: boom"},'
      .. '{"role":"user","content":"go on"}],'
      .. '"max_tokens":300,"temperature":0.5,"stop":["END"],'
      .. '"tools":[{"type":"function","function":{"name":"lookup","description":"d","parameters":{"type":"object","properties":{"ids":{"type":"array","items":{"enum":[]}}},"required":[]}}}],'
      .. '"tool_choice":"required","parallel_tool_calls":false,"user":"u9","stream":true,"stream_options":{"include_usage":true}}', out)
  end)

  it("maps tool_choice auto/none/tool", function()
    local function tc(choice)
      local raw = '{"model":"c","max_tokens":1,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":' .. choice .. "}"
      return cjson.decode(OA.request_anthropic_to_openai(raw, {})).tool_choice
    end
    assert.are.equal("auto", tc('{"type":"auto"}'))
    assert.are.equal("none", tc('{"type":"none"}'))
    assert.are.same({ type = "function", ["function"] = { name = "f" } }, tc('{"type":"tool","name":"f"}'))
  end)
end)

describe("OpenAI -> Anthropic response (Anthropic client)", function()
  it("non-stream: message object with tool_use input raw and the reverse usage rule", function()
    local body = [[{"id":"chatcmpl-9","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Sure.",
      "tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":[],\"n\":12345678901234567890}"}}]},"finish_reason":"tool_calls"}],
      "usage":{"prompt_tokens":130,"completion_tokens":7,"total_tokens":137,"prompt_tokens_details":{"cached_tokens":100}}}]]
    local ctx = {}
    assert.are.equal('{"id":"msg_chatcmpl-9","type":"message","role":"assistant","model":"gpt-4o","content":[{"type":"text","text":"Sure."},'
      .. '{"type":"tool_use","id":"call_1","name":"f","input":{"a":[],"n":12345678901234567890}}],"stop_reason":"tool_use","stop_sequence":null,'
      .. '"usage":{"input_tokens":30,"output_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":100}}',
      OA.response_openai_to_anthropic(body, ctx))
    assert.are.same({ input = 130, output = 7 }, ctx.usage)
  end)

  local OC = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}'
  local function oc(delta, finish) return OC:format(delta, finish and ('"' .. finish .. '"') or "null") end
  local USAGE = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":12,"total_tokens":62,"prompt_tokens_details":{"cached_tokens":10}}}'

  local function run(payloads, finish)
    local tr = translate.new("anthropic", "openai", { model = "gpt-4o" }):fresh()
    local text = {}
    for _, p in ipairs(payloads) do text[#text + 1] = tr:event(nil, p) end
    if finish ~= false then text[#text + 1] = tr:finish() end
    return frames(table.concat(text)), tr
  end

  local function names(fs)
    local n = {}
    for _, f in ipairs(fs) do
      n[#n + 1] = f.event
      assert.are.equal(f.event, cjson.decode(f.data).type) -- event name = data.type
    end
    return n
  end

  it("text stream: message_start once, one text block, message_delta with usage, message_stop", function()
    local fs, tr = run({ oc('{"role":"assistant","content":""}'), oc('{"content":"Hel"}'), oc('{"content":"lo"}'), oc("{}", "stop"), USAGE, "[DONE]" })
    assert.are.same({ "message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
      "message_delta", "message_stop" }, names(fs))
    assert.are.equal('{"type":"message_start","message":{"id":"msg_chatcmpl-1","type":"message","role":"assistant","model":"gpt-4o","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}', fs[1].data)
    assert.are.equal('{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}', fs[3].data)
    assert.are.equal('{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":12,"input_tokens":40,"cache_creation_input_tokens":0,"cache_read_input_tokens":10}}', fs[6].data)
    assert.are.same({ input = 50, output = 12 }, tr.usage)
  end)

  it("text then two fragmented tool calls: sequential blocks with mapped indices", function()
    local fs = run({
      oc('{"role":"assistant","content":""}'), oc('{"content":"Checking."}'),
      oc('{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]}'),
      oc('{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\":"}}]}'),
      oc('{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]}'),
      oc('{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":"{}"}}]}'),
      oc("{}", "tool_calls"), USAGE, "[DONE]" })
    assert.are.same({ "message_start", "content_block_start", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
      "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop" }, names(fs))
    assert.are.equal('{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_a","name":"weather","input":{}}}', fs[5].data)
    assert.are.equal('{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"city\\":"}}', fs[6].data)
    assert.are.equal('{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_b","name":"time","input":{}}}', fs[9].data)
    assert.are.equal('{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}', fs[10].data)
    assert.are.equal("tool_use", cjson.decode(fs[12].data).delta.stop_reason)
  end)

  it("interleaved tool fragments: the later call is buffered until the earlier one is complete", function()
    local fs = run({
      oc('{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"a","arguments":"{\\"x\\":"}}]}'),
      oc('{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"b","arguments":"{\\"y\\":"}}]}'),
      oc('{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}'),
      oc('{"tool_calls":[{"index":1,"function":{"arguments":"2}"}}]}'),
      oc("{}", "tool_calls"), "[DONE]" })
    local blocks, args = {}, {}
    for _, f in ipairs(fs) do
      local d = cjson.decode(f.data)
      if f.event == "content_block_start" then blocks[#blocks + 1] = d.content_block.name end
      if f.event == "content_block_delta" then args[d.index] = (args[d.index] or "") .. d.delta.partial_json end
    end
    assert.are.same({ "a", "b" }, blocks)
    assert.are.same({ [0] = '{"x":1}', [1] = '{"y":2}' }, args)
  end)

  it("an upstream error payload becomes event: error and nothing after it", function()
    local fs = run({ oc('{"role":"assistant","content":""}'), oc('{"content":"Hel"}'),
      '{"error":{"message":"mock mid-stream failure","type":"server_error","param":null,"code":null}}' })
    assert.are.equal("error", fs[#fs].event)
    assert.are.equal('{"type":"error","error":{"type":"api_error","message":"mock mid-stream failure"}}', fs[#fs].data)
    for _, f in ipairs(fs) do assert.are_not.equal("message_stop", f.event) end
  end)

  it("tr:error and a cut stream give event: error, not message_stop", function()
    local tr = translate.new("anthropic", "openai", {}):fresh()
    tr:event(nil, oc('{"content":"x"}'))
    assert.are.equal('event: error\ndata: {"type":"error","error":{"type":"timeout_error","message":"idle timeout"}}\n\n',
      tr:error("upstream_timeout", "idle timeout"))
    local fs = run({ oc('{"content":"x"}') })
    assert.are.equal("error", fs[#fs].event)
  end)
end)

describe("translator bodies and errors", function()
  it("translates non-stream bodies through tr:body and reports usage", function()
    local tr = translate.new("openai", "anthropic", { now = 5 }):fresh()
    local st, ct, body = tr:body(200, "application/json", '{"id":"msg_2","model":"c","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}')
    assert.are.equal(200, st)
    assert.are.equal("application/json", ct)
    assert.are.equal("hi", cjson.decode(body).choices[1].message.content)
    assert.are.same({ input = 3, output = 1 }, tr.usage)
  end)

  it("translates upstream error bodies into the client's dialect", function()
    local tr = translate.new("openai", "anthropic", {}):fresh()
    local st, _, body = tr:body(529, "application/json", '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}')
    assert.are.equal(503, st)
    assert.are.equal('{"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":null}}', body)
    tr = translate.new("anthropic", "openai", {}):fresh()
    st, _, body = tr:body(429, "application/json", '{"error":{"message":"Rate limit reached","type":"tokens","code":"rate_limit_exceeded"}}')
    assert.are.equal(429, st)
    assert.are.equal('{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached"}}', body)
  end)

  it("error_body shapes the gateway's own errors per dialect", function()
    assert.are.equal('{"error":{"message":"m","type":"rate_limit_exceeded","param":null,"code":"upstream_rate_limited"}}',
      translate.error_body("openai", 429, nil, "upstream_rate_limited", "m"))
    assert.are.equal('{"type":"error","error":{"type":"rate_limit_error","message":"m"}}',
      translate.error_body("anthropic", 429, "rate_limit_exceeded", "upstream_rate_limited", "m"))
    assert.are.equal('{"type":"error","error":{"type":"timeout_error","message":"m"}}', translate.error_body("anthropic", 504, nil, nil, "m"))
    assert.are.equal('{"type":"error","error":{"type":"api_error","message":"m"}}', translate.error_body("anthropic", 502, nil, nil, "m"))
    assert.are.equal('{"error":{"code":429,"message":"m","status":"RESOURCE_EXHAUSTED"}}', translate.error_body("gemini", 429, nil, nil, "m"))
    assert.are.equal('{"error":{"code":504,"message":"m","status":"DEADLINE_EXCEEDED"}}', translate.error_body("gemini", 504, nil, nil, "m"))
    assert.are.equal("not_found_error", translate.error_type("anthropic", 404))
    assert.are.equal("PERMISSION_DENIED", translate.error_type("gemini", 403))
  end)
end)

describe("regressions found by fuzz/fuzz_translate (never raise on odd upstream or client JSON)", function()
  local function stream(events)
    local s = translate.new("openai", "anthropic", { model = "m", now = 1 }):fresh()
    local text = {}
    for _, e in ipairs(events) do text[#text + 1] = s:event(e[1], e[2]) end
    text[#text + 1] = s:finish()
    local data = {}
    for _, f in ipairs(frames(table.concat(text))) do data[#data + 1] = f.data end
    return data, s
  end

  it("a tool_use content_block_start without index (was: table index is nil)", function()
    local data = stream({
      ev("message_start", '{"type":"message_start","message":{"id":"msg_1","model":"c"}}'),
      ev("content_block_start", '{"type":"content_block_start","content_block":{"type":"tool_use","id":"t1","name":"f"}}'),
      ev("content_block_delta", '{"type":"content_block_delta","delta":{"type":"input_json_delta","partial_json":"{\\"a\\":1}"}}'),
      ev("content_block_stop", '{"type":"content_block_stop"}'),
      stop("tool_use", 3), STOP })
    local args = {}
    for _, d in ipairs(data) do
      local j = d ~= "[DONE]" and cjson.decode(d)
      for _, tc in ipairs(j and j.choices[1].delta.tool_calls or {}) do args[#args + 1] = tc["function"].arguments end
    end
    assert.are.same({ "", '{"a":1}' }, args)
    assert.are.equal("tool_calls", cjson.decode(data[#data - 1]).choices[1].finish_reason)
    assert.are.equal("[DONE]", data[#data])
  end)

  it("a token count of 1e400 (infinity once decoded) counts as 0 (was: json.encode raised)", function()
    local s = translate.new("openai", "anthropic", { now = 1, include_usage = true }):fresh()
    local text = s:event("message_start", '{"type":"message_start","message":{"usage":{"input_tokens":1e400,"output_tokens":2}}}')
      .. s:event("message_delta", '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1e400}}')
      .. s:event("message_stop", '{"type":"message_stop"}')
    local data = {}
    for _, f in ipairs(frames(text)) do data[#data + 1] = f.data end
    assert.are.equal(0, cjson.decode(data[#data - 1]).usage.prompt_tokens)
    assert.are.same({ input = 0, output = 0 }, s.usage)
    local _, _, body = translate.new("openai", "anthropic", {}):fresh():body(200, "application/json",
      '{"content":[],"usage":{"input_tokens":1e400,"output_tokens":99999999999999999999}}')
    assert.are.same({ prompt_tokens = 0, completion_tokens = 0, total_tokens = 0, prompt_tokens_details = { cached_tokens = 0 } },
      cjson.decode(body).usage)
  end)

  it("an error event whose type is not a string (was: nesting too deep on re-encoding it)", function()
    local deep = ("["):rep(130) .. ("]"):rep(130)
    local data = stream({ ev("error", '{"type":"error","error":{"type":' .. deep .. ',"message":' .. deep .. '}}') })
    assert.are.same({ '{"error":{"message":"upstream error","type":"api_error","param":null,"code":null}}' }, data)
  end)

  it("requests whose messages or tool calls are not objects (was: attempt to index a number value)", function()
    assert.are.equal('{"model":"m","messages":[{"role":"user","content":"hi"}]}',
      translate.new("anthropic", "openai", { model = "m" }):request('{"messages":[1,true,"x",{"role":"user","content":"hi"}]}'))
    assert.are.equal('{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"","input":{}}]}],"max_tokens":4096}',
      translate.new("openai", "anthropic", { model = "m" }):request('{"messages":[{"role":"assistant","tool_calls":[1,{"id":"c1","function":2}]}]}'))
    local st, _, body = translate.new("anthropic", "openai", {}):fresh():body(200, "application/json",
      '{"id":"x","choices":[{"message":{"content":"hi","tool_calls":[1]},"finish_reason":"stop"}]}')
    assert.are.equal(200, st)
    assert.are.same({ { type = "text", text = "hi" } }, cjson.decode(body).content)
  end)

  it("tool arguments that decode only up to a NUL are wrapped, not embedded raw (was: invalid JSON out)", function()
    local req = translate.new("openai", "anthropic", { model = "m" }):request(
      '{"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}\\u0000junk"}}]}]}')
    assert.are.equal('{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f",'
      .. '"input":{"arguments":"{}\\u0000junk"}}]}],"max_tokens":4096}', req)
    local _, _, body = translate.new("anthropic", "openai", {}):fresh():body(200, "application/json",
      '{"choices":[{"message":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}\\u0000junk"}}]}}]}')
    assert.are.same({ arguments = "{}\0junk" }, cjson.decode(body).content[1].input)
  end)
end)
