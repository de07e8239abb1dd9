-- moongate.translate.openai_anthropic: OpenAI Chat Completions <-> Anthropic
-- Messages, requests and non-stream responses (PROTOCOLS.md 3.1-3.3). The
-- stream translators live in openai_anthropic_stream.lua and are re-exported
-- here.
--
-- Every function takes raw JSON text and returns raw JSON text; `ctx` is the
-- per-request context table shared with the response side (filled by the
-- request translation, read by the response/stream translation).
--
-- Decisions (one rule each, documented here and in the specs):
--   * max_tokens: max_completion_tokens, else max_tokens, else ctx.default_max_tokens
--     (4096): Anthropic requires it.
--   * temperature is clamped to Anthropic's [0, 1]; values inside are copied raw.
--   * response_format json_schema / json_object: the tool trick (a forced tool
--     named "json_response" whose input_schema is the schema; its input comes
--     back as message content with finish_reason "stop"). Chosen over
--     output_config.format, which is new and model/beta dependent (PROTOCOLS 8.2).
--     With client tools present, tool_choice becomes "any" so a real tool may
--     still be called.
--   * tool call arguments -> tool_use input: the arguments text embedded raw when
--     it is a JSON object; "{}" when empty; {"arguments":"<text>"} otherwise.
--   * tool_use input -> arguments: the raw text of `input`, byte for byte.
--   * usage (both directions, OpenAI semantics as the pivot):
--       prompt_tokens = input_tokens + cache_read_input_tokens + cache_creation_input_tokens
--       prompt_tokens_details.cached_tokens = cache_read_input_tokens
--       (cache_creation_input_tokens also as prompt_tokens_details.cache_write_tokens when > 0)
--     and back: input_tokens = prompt_tokens - cached_tokens - cache_write_tokens,
--       cache_read_input_tokens = cached_tokens, cache_creation_input_tokens = cache_write_tokens.
--   * tool parameters -> input_schema: copied raw; a schema that leaves its type
--     implicit ({} or {"properties":...}) gets "type":"object" in front, as
--     Anthropic requires input_schema.type "object" (PROTOCOLS 2.2 tools row).
--   * deprecated function calling: an assistant `function_call` becomes a
--     tool_use with a minted id ("call_fn<k>") and the `function` message after
--     it the tool_result of that id (by name), so the pair stays adjacent.
--   * stop_sequences -> stop: at most 4 (OpenAI's limit, PROTOCOLS 1.1); the
--     rest are dropped rather than the request refused.
--   * an Anthropic assistant turn with neither text nor tool_use (thinking
--     only, or an empty final turn) becomes content "" (OpenAI refuses null
--     content without tool_calls).
--   * reasoning_effort -> thinking {budget_tokens = 1024 | 4096 | 16384} (low |
--     medium | high); temperature/top_p are then dropped and max_tokens raised
--     above the budget, as Anthropic requires. Anthropic `thinking` is not sent
--     to OpenAI upstreams (reasoning_effort is rejected by non-reasoning models).
local C = require("moongate.translate.common")

local type, ipairs, pairs, tostring, tonumber = type, ipairs, pairs, tostring, tonumber
local concat, find, sub = table.concat, string.find, string.sub
local encode, obj, arr, str, null = C.encode, C.obj, C.arr, C.str, C.null

local M = {}

M.JSON_TOOL = "json_response"
M.DEFAULT_MAX_TOKENS = 4096

M.FINISH = { -- Anthropic stop_reason -> OpenAI finish_reason
  end_turn = "stop", stop_sequence = "stop", max_tokens = "length", tool_use = "tool_calls",
  pause_turn = "stop", refusal = "content_filter", model_context_window_exceeded = "length",
}
M.STOP = { -- OpenAI finish_reason -> Anthropic stop_reason
  stop = "end_turn", length = "max_tokens", tool_calls = "tool_use", function_call = "tool_use",
  content_filter = "refusal",
}
local BUDGET = { low = 1024, medium = 4096, high = 16384, xhigh = 32768 }

-- OpenAI -> Anthropic request ---------------------------------------------

-- One user content part -> an Anthropic block (raw) or nil (dropped).
local function user_part(p)
  if type(p) ~= "table" then return nil end
  local t = p.type
  if t == "text" then
    if type(p.text) ~= "string" or p.text == "" then return nil end -- Anthropic rejects empty text
    return obj("type", '"text"', "text", encode(p.text))
  elseif t == "image_url" then
    local iu = p.image_url
    local url = type(iu) == "table" and iu.url or iu
    if type(url) ~= "string" then return nil end
    local mime, data = C.data_url(url)
    if mime then
      local kind = mime == "application/pdf" and '"document"' or '"image"'
      return obj("type", kind, "source", obj("type", '"base64"', "media_type", encode(mime), "data", encode(data)))
    end
    return obj("type", '"image"', "source", obj("type", '"url"', "url", encode(url)))
  elseif t == "file" then
    local f = p.file
    if type(f) ~= "table" then return nil end
    local mime, data = C.data_url(f.file_data)
    if mime then
      return obj("type", '"document"', "source", obj("type", '"base64"', "media_type", encode(mime), "data", encode(data)))
    end
    if type(f.file_id) == "string" then
      return obj("type", '"document"', "source", obj("type", '"file"', "file_id", encode(f.file_id)))
    end
  end
  return nil -- input_audio and unknown parts have no Anthropic equivalent
end

local function tool_result(m)
  local text = C.text_of(m.content, "\n") or ""
  return obj("type", '"tool_result"', "tool_use_id", encode(tostring(m.tool_call_id or "")), "content", encode(text)), true
end

-- A turn accumulates blocks (raw) for one role; tool_result blocks first.
local push = C.turn_push

local function system_text(m)
  return C.text_of(m.content, "\n")
end

-- OpenAI tool parameters (raw) -> input_schema (raw): type "object" made explicit.
local function input_schema(raw)
  if not C.is_object(raw) then return '{"type":"object","properties":{}}' end
  local mm = C.members(raw)
  if not mm or mm.type ~= nil then return raw end
  if next(mm) == nil then return '{"type":"object","properties":{}}' end
  return '{"type":"object",' .. sub(C.trim(raw), 2)
end

--- OpenAI chat request -> Anthropic Messages request.
-- ctx: model (upstream id, else the body's), default_max_tokens; filled:
-- ctx.stream, ctx.include_usage, ctx.json_tool.
function M.request_openai_to_anthropic(raw, ctx)
  ctx = ctx or {}
  local j = C.decode(raw)
  if type(j) ~= "table" then return nil, "request body must be a JSON object" end
  local m = C.members(raw) or {}
  local system, turns = {}, {}
  local fn_calls, fn_ids = 0, {} -- deprecated function_call: name -> id of its latest call
  for _, msg in ipairs(type(j.messages) == "table" and j.messages or {}) do
    local role = type(msg) == "table" and msg.role
    if role == "system" or role == "developer" then
      local s = system_text(msg)
      if s and s ~= "" then system[#system + 1] = s end
    elseif role == "user" then
      local c = msg.content
      if type(c) == "string" then
        if c ~= "" then push(turns, "user", obj("type", '"text"', "text", encode(c))) end
      elseif type(c) == "table" then
        for _, p in ipairs(c) do
          local b = user_part(p)
          if b then push(turns, "user", b) end
        end
      end
    elseif role == "assistant" then
      local text = C.text_of(msg.content)
      if text == nil and type(msg.content) == "table" then
        local parts = {}
        for _, p in ipairs(msg.content) do
          if type(p) == "table" and p.type == "refusal" and type(p.refusal) == "string" then parts[#parts + 1] = p.refusal end
        end
        if #parts > 0 then text = concat(parts) end
      end
      if text and text ~= "" then push(turns, "assistant", obj("type", '"text"', "text", encode(text))) end
      for _, tc in ipairs(type(msg.tool_calls) == "table" and msg.tool_calls or {}) do
        if type(tc) == "table" then
          local f = type(tc["function"]) == "table" and tc["function"] or {}
          push(turns, "assistant", obj("type", '"tool_use"', "id", encode(tostring(tc.id or "")),
            "name", encode(tostring(f.name or "")), "input", C.args_object(f.arguments)))
        end
      end
      local fc = msg.function_call
      if type(fc) == "table" and type(fc.name) == "string" then
        fn_calls = fn_calls + 1
        fn_ids[fc.name] = "call_fn" .. fn_calls
        push(turns, "assistant", obj("type", '"tool_use"', "id", encode(fn_ids[fc.name]),
          "name", encode(fc.name), "input", C.args_object(fc.arguments)))
      end
    elseif role == "tool" or role == "function" then
      if role == "function" then msg = { tool_call_id = fn_ids[msg.name] or msg.name, content = msg.content } end
      push(turns, "user", tool_result(msg), true)
    end
  end
  local msgs = {}
  for _, t in ipairs(turns) do
    local blocks = C.turn_items(t)
    if #blocks > 0 then msgs[#msgs + 1] = obj("role", encode(t.role), "content", arr(blocks)) end
  end

  -- Tools: `parameters` copied raw as input_schema.
  local tools = {}
  local raw_tools = C.items(m.tools) or {}
  for i, rt in ipairs(raw_tools) do
    local t = type(j.tools) == "table" and j.tools[i]
    if type(t) == "table" and t.type == "function" and type(t["function"]) == "table" then
      local fm = C.members(C.members(rt)["function"]) or {}
      local f = t["function"]
      tools[#tools + 1] = obj("name", encode(tostring(f.name)), "description", str(f.description),
        "input_schema", input_schema(fm.parameters), "strict", type(f.strict) == "boolean" and tostring(f.strict) or nil)
    end
  end

  local tc = j.tool_choice
  local choice
  if tc == "auto" then choice = { "auto" }
  elseif tc == "required" then choice = { "any" }
  elseif tc == "none" then choice = { "none" }
  elseif type(tc) == "table" and type(tc["function"]) == "table" and type(tc["function"].name) == "string" then
    choice = { "tool", tc["function"].name }
  end

  -- response_format: the tool trick.
  local rf = j.response_format
  if type(rf) == "table" and (rf.type == "json_schema" or rf.type == "json_object") then
    local schema
    if rf.type == "json_schema" then schema = C.at(m.response_format, "json_schema", "schema") end
    if not C.is_object(schema) then schema = '{"type":"object"}' end
    ctx.json_tool = M.JSON_TOOL
    local had_tools = #tools > 0
    tools[#tools + 1] = obj("name", encode(M.JSON_TOOL),
      "description", encode("Respond with a JSON object that matches this schema. Always use this tool for the final answer."),
      "input_schema", schema)
    if had_tools and tc ~= "none" then
      if not (choice and choice[1] == "tool") then choice = { "any" } end
    else
      choice = { "tool", M.JSON_TOOL }
    end
  end

  local choice_raw
  if choice and #tools > 0 then
    local dp = j.parallel_tool_calls == false and choice[1] ~= "none" and "true" or nil
    choice_raw = obj("type", encode(choice[1]), "name", str(choice[2]), "disable_parallel_tool_use", dp)
  elseif j.parallel_tool_calls == false and #tools > 0 then
    choice_raw = '{"type":"auto","disable_parallel_tool_use":true}'
  end

  local max = m.max_completion_tokens or m.max_tokens
  if not max or max == "null" then max = encode(ctx.default_max_tokens or M.DEFAULT_MAX_TOKENS) end

  local thinking
  local effort = j.reasoning_effort
  if type(effort) == "string" and BUDGET[effort] then
    local budget = BUDGET[effort]
    thinking = obj("type", '"enabled"', "budget_tokens", encode(budget))
    local mt = tonumber(max)
    if not mt or mt <= budget then max = encode(budget + (ctx.default_max_tokens or M.DEFAULT_MAX_TOKENS)) end
  end

  local temp = m.temperature
  if temp and type(j.temperature) == "number" then
    if j.temperature > 1 then temp = "1" elseif j.temperature < 0 then temp = "0" end
  elseif temp == "null" then temp = nil end
  local top_p = type(j.top_p) == "number" and m.top_p or nil
  if thinking then temp, top_p = nil, nil end

  local stop
  if type(j.stop) == "string" then j.stop = { j.stop } end
  if type(j.stop) == "table" then
    local list = {}
    for _, s in ipairs(j.stop) do
      if type(s) == "string" and find(s, "%S") then list[#list + 1] = encode(s) end
    end
    if #list > 0 then stop = arr(list) end
  end

  local system_raw
  if #system == 1 then system_raw = encode(system[1])
  elseif #system > 1 then
    local b = {}
    for i, s in ipairs(system) do b[i] = obj("type", '"text"', "text", encode(s)) end
    system_raw = arr(b)
  end

  ctx.stream = j.stream == true
  ctx.include_usage = ctx.stream and type(j.stream_options) == "table" and j.stream_options.include_usage == true
  local model = ctx.model or j.model
  return obj(
    "model", str(model),
    "system", system_raw,
    "messages", arr(msgs),
    "max_tokens", max,
    "temperature", temp,
    "top_p", top_p,
    "top_k", type(j.top_k) == "number" and m.top_k or nil,
    "stop_sequences", stop,
    "tools", #tools > 0 and arr(tools) or nil,
    "tool_choice", choice_raw,
    "thinking", thinking,
    "metadata", type(j.user) == "string" and obj("user_id", encode(j.user)) or nil,
    "stream", ctx.stream and "true" or nil)
end

-- Anthropic -> OpenAI request -----------------------------------------------

local function anth_image(b)
  local s = type(b.source) == "table" and b.source or {}
  if s.type == "base64" then
    local url = "data:" .. tostring(s.media_type or "image/png") .. ";base64," .. tostring(s.data or "")
    if b.type == "document" then
      return obj("type", '"file"', "file", obj("filename", '"document.pdf"', "file_data", encode(url)))
    end
    return obj("type", '"image_url"', "image_url", obj("url", encode(url)))
  elseif s.type == "url" and type(s.url) == "string" then
    return obj("type", '"image_url"', "image_url", obj("url", encode(s.url)))
  elseif s.type == "text" and type(s.data) == "string" then
    return obj("type", '"text"', "text", encode(s.data))
  elseif s.type == "file" and type(s.file_id) == "string" then
    return obj("type", '"file"', "file", obj("file_id", encode(s.file_id)))
  end
  return nil
end

local function result_text(b)
  local text = C.text_of(b.content, "\n") or ""
  if b.is_error == true then text = "Error: " .. text end
  return text
end

--- Anthropic Messages request -> OpenAI chat request.
-- ctx: model (upstream id); filled: ctx.stream.
function M.request_anthropic_to_openai(raw, ctx)
  ctx = ctx or {}
  local j = C.decode(raw)
  if type(j) ~= "table" then return nil, "request body must be a JSON object" end
  local m = C.members(raw) or {}
  local out = {}
  local sys = C.text_of(j.system, "\n")
  if sys and sys ~= "" then out[#out + 1] = obj("role", '"system"', "content", encode(sys)) end
  local raw_msgs = C.items(m.messages) or {}
  for i, msg in ipairs(type(j.messages) == "table" and j.messages or {}) do
    local role = type(msg) == "table" and msg.role
    local c = type(msg) == "table" and msg.content or nil
    if role == "system" then
      local s = C.text_of(c, "\n")
      if s then out[#out + 1] = obj("role", '"system"', "content", encode(s)) end
    elseif type(c) == "string" then
      out[#out + 1] = obj("role", encode(role == "assistant" and "assistant" or "user"), "content", encode(c))
    elseif type(c) == "table" then
      local raw_blocks = C.items(C.members(raw_msgs[i] or "") and C.members(raw_msgs[i]).content) or {}
      if role == "assistant" then
        local texts, calls = {}, {}
        for k, b in ipairs(c) do
          if type(b) == "table" then
            if b.type == "text" and type(b.text) == "string" then texts[#texts + 1] = b.text
            elseif b.type == "tool_use" then
              local input = (C.members(raw_blocks[k] or "") or {}).input
              if not C.is_object(input) then input = "{}" end
              calls[#calls + 1] = obj("id", encode(tostring(b.id or "")), "type", '"function"',
                "function", obj("name", encode(tostring(b.name or "")), "arguments", encode(C.trim(input))))
            end
          end
        end
        out[#out + 1] = obj("role", '"assistant"',
          "content", #texts > 0 and encode(concat(texts)) or (#calls > 0 and "null" or '""'),
          "tool_calls", #calls > 0 and arr(calls) or nil)
      else
        local parts, only_text = {}, true
        for _, b in ipairs(c) do
          if type(b) == "table" then
            if b.type == "tool_result" then
              out[#out + 1] = obj("role", '"tool"', "tool_call_id", encode(tostring(b.tool_use_id or "")),
                "content", encode(result_text(b)))
            elseif b.type == "text" and type(b.text) == "string" then
              parts[#parts + 1] = obj("type", '"text"', "text", encode(b.text))
            elseif b.type == "image" or b.type == "document" then
              local p = anth_image(b)
              if p then parts[#parts + 1] = p; only_text = false end
            end
          end
        end
        if #parts > 0 then
          if only_text and #parts == 1 then
            out[#out + 1] = obj("role", '"user"', "content", encode(C.text_of(c)))
          else
            out[#out + 1] = obj("role", '"user"', "content", arr(parts))
          end
        end
      end
    end
  end

  local tools = {}
  for i, rt in ipairs(C.items(m.tools) or {}) do
    local t = type(j.tools) == "table" and j.tools[i]
    -- Versioned server tools (web_search_..., bash_...) have no OpenAI equivalent.
    if type(t) == "table" and type(t.name) == "string" and (t.type == nil or t.type == "custom") then
      local schema = (C.members(rt) or {}).input_schema
      if not C.is_object(schema) then schema = '{"type":"object","properties":{}}' end
      tools[#tools + 1] = obj("type", '"function"', "function", obj("name", encode(t.name),
        "description", str(t.description), "parameters", schema,
        "strict", type(t.strict) == "boolean" and tostring(t.strict) or nil))
    end
  end

  local tc, choice, parallel = j.tool_choice, nil, nil
  if type(tc) == "table" then
    if tc.type == "auto" then choice = '"auto"'
    elseif tc.type == "any" then choice = '"required"'
    elseif tc.type == "none" then choice = '"none"'
    elseif tc.type == "tool" and type(tc.name) == "string" then
      choice = obj("type", '"function"', "function", obj("name", encode(tc.name)))
    end
    if tc.disable_parallel_tool_use == true and #tools > 0 then parallel = "false" end
  end

  local stop
  if type(j.stop_sequences) == "table" and j.stop_sequences[1] ~= nil then stop = C.head(m.stop_sequences, 4) end
  ctx.stream = j.stream == true
  local user = type(j.metadata) == "table" and j.metadata.user_id
  return obj(
    "model", str(ctx.model or j.model),
    "messages", arr(out),
    "max_tokens", type(j.max_tokens) == "number" and m.max_tokens or nil,
    "temperature", type(j.temperature) == "number" and m.temperature or nil,
    "top_p", type(j.top_p) == "number" and m.top_p or nil,
    "stop", stop,
    "tools", #tools > 0 and arr(tools) or nil,
    "tool_choice", #tools > 0 and choice or nil,
    "parallel_tool_calls", parallel,
    "user", str(user),
    "stream", ctx.stream and "true" or nil,
    "stream_options", ctx.stream and '{"include_usage":true}' or nil)
end

-- Usage ------------------------------------------------------------------------

--- Anthropic usage table -> OpenAI usage raw text, prompt, completion.
function M.usage_to_openai(u)
  u = type(u) == "table" and u or {}
  local input, read, write = C.int(u.input_tokens), C.int(u.cache_read_input_tokens), C.int(u.cache_creation_input_tokens)
  local out = C.int(u.output_tokens)
  local prompt = input + read + write
  return obj("prompt_tokens", encode(prompt), "completion_tokens", encode(out), "total_tokens", encode(prompt + out),
    "prompt_tokens_details", obj("cached_tokens", encode(read), "cache_write_tokens", write > 0 and encode(write) or nil)),
    prompt, out
end

--- OpenAI usage table -> Anthropic usage raw text.
function M.usage_to_anthropic(u)
  u = type(u) == "table" and u or {}
  local d = type(u.prompt_tokens_details) == "table" and u.prompt_tokens_details or {}
  local read, write = C.int(d.cached_tokens), C.int(d.cache_write_tokens)
  local input = C.int(u.prompt_tokens) - read - write
  if input < 0 then input = 0 end
  return obj("input_tokens", encode(input), "output_tokens", encode(C.int(u.completion_tokens)),
    "cache_creation_input_tokens", encode(write), "cache_read_input_tokens", encode(read))
end

-- Non-stream responses -------------------------------------------------------

--- Anthropic message -> OpenAI chat.completion. ctx: now, json_tool.
function M.response_anthropic_to_openai(raw, ctx)
  ctx = ctx or {}
  local j = C.decode(raw)
  if type(j) ~= "table" then return nil, "upstream body is not JSON" end
  local blocks = C.items((C.members(raw) or {}).content) or {}
  local texts, thoughts, calls = {}, {}, {}
  local json_answer
  for k, b in ipairs(type(j.content) == "table" and j.content or {}) do
    if type(b) == "table" then
      if b.type == "text" and type(b.text) == "string" then texts[#texts + 1] = b.text
      elseif b.type == "thinking" and type(b.thinking) == "string" then thoughts[#thoughts + 1] = b.thinking
      elseif b.type == "tool_use" then
        local input = (C.members(blocks[k] or "") or {}).input
        input = C.is_object(input) and C.trim(input) or "{}"
        if ctx.json_tool and b.name == ctx.json_tool then
          json_answer = input
        else
          calls[#calls + 1] = obj("id", encode(tostring(b.id or "")), "type", '"function"',
            "function", obj("name", encode(tostring(b.name or "")), "arguments", encode(input)))
        end
      end
    end
  end
  local content
  if json_answer then content = encode(json_answer)
  elseif #texts > 0 then content = encode(concat(texts))
  elseif #calls > 0 then content = "null"
  else content = '""' end
  local finish = M.FINISH[j.stop_reason] or "stop"
  if json_answer and finish == "tool_calls" then finish = "stop" end
  local usage, prompt, completion = M.usage_to_openai(j.usage)
  ctx.usage = { input = prompt, output = completion }
  return C.openai_completion(tostring(j.id or "msg"), tostring(j.model or ctx.model or ""), ctx, content,
    thoughts, calls, finish, usage)
end

--- OpenAI chat.completion -> Anthropic message.
function M.response_openai_to_anthropic(raw, ctx)
  ctx = ctx or {}
  local j = C.decode(raw)
  if type(j) ~= "table" then return nil, "upstream body is not JSON" end
  local choice = type(j.choices) == "table" and j.choices[1] or {}
  local msg = C.first_message(j)
  local blocks = {}
  local text = C.text_of(msg.content) or (type(msg.refusal) == "string" and msg.refusal) or nil
  if text and text ~= "" then blocks[#blocks + 1] = obj("type", '"text"', "text", encode(text)) end
  for _, tc in ipairs(type(msg.tool_calls) == "table" and msg.tool_calls or {}) do
    if type(tc) == "table" then
      local f = type(tc["function"]) == "table" and tc["function"] or {}
      blocks[#blocks + 1] = obj("type", '"tool_use"', "id", encode(tostring(tc.id or "")),
        "name", encode(tostring(f.name or "")), "input", C.args_object(f.arguments))
    end
  end
  local stop = M.STOP[choice and choice.finish_reason] or "end_turn"
  local u = type(j.usage) == "table" and j.usage or {}
  ctx.usage = { input = C.int(u.prompt_tokens), output = C.int(u.completion_tokens) }
  local id = tostring(j.id or "msg")
  if sub(id, 1, 4) ~= "msg_" then id = "msg_" .. id end
  return obj("id", encode(id), "type", '"message"', "role", '"assistant"',
    "model", encode(tostring(j.model or ctx.model or "")), "content", arr(blocks),
    "stop_reason", encode(stop), "stop_sequence", "null", "usage", M.usage_to_anthropic(u))
end

local stream = require("moongate.translate.openai_anthropic_stream")
M.stream_anthropic_to_openai = stream.anthropic_to_openai
M.stream_openai_to_anthropic = stream.openai_to_anthropic

return M
