-- moongate.translate.openai_gemini: OpenAI Chat Completions <-> Gemini
-- generateContent, requests and non-stream responses (PROTOCOLS.md 4.2-4.7).
-- Stream translators live in openai_gemini_stream.lua (re-exported here);
-- schema rewriting in gemini_schema.lua.
--
-- Raw JSON text in, raw JSON text out; `ctx` is the per-request context shared
-- with the response side.
--
-- Decisions:
--   * tool call ids: Gemini has none (or optional ones), so ids are minted
--     (`ctx.mint_id(k)`, default "call_<random hex>_<k>"); a functionCall's
--     `thoughtSignature` (Gemini 3 needs it echoed back) rides in the id as
--     "<id>__thought__<signature>" and is restored on the next request.
--   * tool message -> functionResponse: `name` looked up from the assistant
--     tool call with that id; `response` = the content when it is a JSON object
--     (raw), else {"result": "<content>"}; back: {"result": "<string>"} alone
--     unwraps to the string, any other response is its raw JSON text.
--   * args: arguments text embedded raw as `args` when a JSON object (else
--     "{}" / {"arguments": text}); back: the raw `args` text.
--   * usage: prompt_tokens = promptTokenCount + toolUsePromptTokenCount (cached
--     included, as Gemini counts it), completion_tokens = candidatesTokenCount +
--     thoughtsTokenCount, total = totalTokenCount,
--     prompt_tokens_details.cached_tokens = cachedContentTokenCount,
--     completion_tokens_details.reasoning_tokens = thoughtsTokenCount.
--   * finishReason: STOP/OTHER/RECITATION/... -> stop, MAX_TOKENS -> length,
--     safety family -> content_filter; any functionCall -> tool_calls.
--   * tool parameters / response_format schema -> Gemini's Schema subset
--     (`parameters`, `responseSchema`) when the rewritten schema fits it
--     (gemini_schema.fits); otherwise the JSON Schema as is, in
--     `parametersJsonSchema` / `responseJsonSchema` (PROTOCOLS 4.2, 4.7): an
--     object without properties, a non-string enum, tuple `items` or a
--     `required` naming no property have no valid spelling in the subset.
--   * deprecated function calling: an assistant `function_call` becomes a
--     functionCall part and a `function` message its functionResponse.
--   * a Gemini client's stopSequences (up to 5) -> stop: the first 4 (OpenAI's
--     limit); a model turn with no text and no call (thoughts only) becomes an
--     assistant message with content "" (OpenAI refuses null without tool_calls).
--   * reasoning_effort -> thinkingConfig.thinkingBudget (none/minimal 0,
--     low 1024, medium 8192, high 24576).
--   * Gemini REST accepts lowerCamel and snake_case field names; incoming
--     Gemini requests are read in both spellings.
local C = require("moongate.translate.common")
local schema = require("moongate.translate.gemini_schema")

local type, ipairs, tostring, tonumber = type, ipairs, tostring, tonumber
local concat, find, gsub, match, lower = table.concat, string.find, string.gsub, string.match, string.lower
local encode, obj, arr, str = C.encode, C.obj, C.arr, C.str

local M = {}

M.FINISH = {
  STOP = "stop", OTHER = "stop", FINISH_REASON_UNSPECIFIED = "stop", RECITATION = "stop",
  MALFORMED_FUNCTION_CALL = "stop", UNEXPECTED_TOOL_CALL = "stop", TOO_MANY_TOOL_CALLS = "stop",
  MAX_TOKENS = "length",
  SAFETY = "content_filter", LANGUAGE = "content_filter", BLOCKLIST = "content_filter",
  PROHIBITED_CONTENT = "content_filter", SPII = "content_filter", IMAGE_SAFETY = "content_filter",
  IMAGE_PROHIBITED_CONTENT = "content_filter", NO_IMAGE = "stop",
}
M.REASON = { stop = "STOP", length = "MAX_TOKENS", tool_calls = "STOP", function_call = "STOP", content_filter = "SAFETY" }
local BUDGET = { none = 0, minimal = 0, low = 1024, medium = 8192, high = 24576 }
local SEP = "__thought__"

local function default_mint(ctx)
  if not ctx.id_base then ctx.id_base = string.format("%08x", math.random(0, 0x7fffffff)) end
  return function(k) return "call_" .. ctx.id_base .. "_" .. k end
end

-- Field of a Gemini table in lowerCamel or snake_case.
local function g(t, camel)
  if type(t) ~= "table" then return nil end
  local v = t[camel]
  if v == nil then v = t[(gsub(camel, "%u", function(c) return "_" .. lower(c) end))] end
  return v
end
M.field = g

-- OpenAI -> Gemini request ---------------------------------------------------------

local function user_part(p)
  if type(p) ~= "table" then return nil end
  if p.type == "text" and type(p.text) == "string" then
    return obj("text", encode(p.text))
  elseif p.type == "image_url" then
    local url = type(p.image_url) == "table" and p.image_url.url or p.image_url
    if type(url) ~= "string" then return nil end
    local mime, data = C.data_url(url)
    if mime then return obj("inlineData", obj("mimeType", encode(mime), "data", encode(data))) end
    return obj("fileData", obj("mimeType", encode(C.guess_mime(url, "image/jpeg")), "fileUri", encode(url)))
  elseif p.type == "input_audio" and type(p.input_audio) == "table" then
    local a = p.input_audio
    return obj("inlineData", obj("mimeType", encode("audio/" .. tostring(a.format or "wav")), "data", encode(tostring(a.data or ""))))
  elseif p.type == "file" and type(p.file) == "table" then
    local mime, data = C.data_url(p.file.file_data)
    if mime then return obj("inlineData", obj("mimeType", encode(mime), "data", encode(data))) end
  end
  return nil
end

local push = C.turn_push -- functionResponse parts first

-- A tool message's content as a functionResponse.response object (raw).
local function response_object(content)
  local text = C.text_of(content, "\n") or ""
  local t = C.trim(text)
  if C.is_object(t) and C.embeddable(t) and type(C.decode(t)) == "table" then return t end
  return obj("result", encode(text))
end

--- OpenAI chat request -> Gemini generateContent request (no model, no stream:
-- both go in the URL). ctx: mint_id; filled: ctx.stream, ctx.include_usage.
function M.request_openai_to_gemini(raw, ctx)
  ctx = ctx or {}
  local j = C.decode(raw)
  if type(j) ~= "table" then return nil, "request body must be a JSON object" end
  local m = C.members(raw) or {}
  local system, turns, names = {}, {}, {}
  for _, msg in ipairs(type(j.messages) == "table" and j.messages or {}) do
    local role = type(msg) == "table" and msg.role
    if role == "system" or role == "developer" then
      local s = C.text_of(msg.content, "\n")
      if s and s ~= "" then system[#system + 1] = obj("text", encode(s)) end
    elseif role == "user" then
      if type(msg.content) == "string" then push(turns, "user", obj("text", encode(msg.content)))
      elseif type(msg.content) == "table" then
        for _, p in ipairs(msg.content) do
          local part = user_part(p)
          if part then push(turns, "user", part) end
        end
      end
    elseif role == "assistant" then
      local text = C.text_of(msg.content)
      if text and text ~= "" then push(turns, "model", obj("text", encode(text))) end
      for _, tc in ipairs(type(msg.tool_calls) == "table" and msg.tool_calls or {}) do
        if type(tc) == "table" then
          local f = type(tc["function"]) == "table" and tc["function"] or {}
          local id = tostring(tc.id or "")
          names[id] = f.name
          local sig = match(id, SEP .. "(.+)$")
          push(turns, "model", obj("functionCall", obj("name", encode(tostring(f.name or "")), "args", C.args_object(f.arguments)),
            "thoughtSignature", sig and encode(sig) or nil))
        end
      end
      local fc = msg.function_call
      if type(fc) == "table" and type(fc.name) == "string" then
        push(turns, "model", obj("functionCall", obj("name", encode(fc.name), "args", C.args_object(fc.arguments))))
      end
    elseif role == "tool" or (role == "function" and type(msg.name) == "string") then
      local name = role == "function" and msg.name
        or names[tostring(msg.tool_call_id or "")] or tostring(msg.tool_call_id or "tool")
      push(turns, "user", obj("functionResponse", obj("name", encode(name), "response", response_object(msg.content))), true)
    end
  end
  local contents = {}
  for _, t in ipairs(turns) do
    local parts = C.turn_items(t)
    contents[#contents + 1] = obj("role", encode(t.role), "parts", arr(parts))
  end

  local decls = {}
  for i, rt in ipairs(C.items(m.tools) or {}) do
    local t = type(j.tools) == "table" and j.tools[i]
    if type(t) == "table" and t.type == "function" and type(t["function"]) == "table" then
      local f = t["function"]
      local params = (C.members((C.members(rt) or {})["function"]) or {}).parameters
      if params and (not C.is_object(params) or schema.is_empty_object(params)) then params = nil end
      local gparams = params and schema.to_gemini(params)
      local fits = not gparams or schema.fits(gparams)
      decls[#decls + 1] = obj("name", encode(tostring(f.name)), "description", str(f.description),
        "parameters", fits and gparams or nil, "parametersJsonSchema", not fits and C.trim(params) or nil)
    end
  end

  local tool_config
  local tc = j.tool_choice
  if #decls > 0 then
    if tc == "auto" then tool_config = '{"functionCallingConfig":{"mode":"AUTO"}}'
    elseif tc == "none" then tool_config = '{"functionCallingConfig":{"mode":"NONE"}}'
    elseif tc == "required" then tool_config = '{"functionCallingConfig":{"mode":"ANY"}}'
    elseif type(tc) == "table" and type(tc["function"]) == "table" and type(tc["function"].name) == "string" then
      tool_config = obj("functionCallingConfig", obj("mode", '"ANY"', "allowedFunctionNames", arr({ encode(tc["function"].name) })))
    end
  end

  local stop
  if type(j.stop) == "string" then stop = arr({ encode(j.stop) })
  elseif type(j.stop) == "table" and j.stop[1] ~= nil then stop = m.stop end
  local mime, rschema, rjschema
  local rf = j.response_format
  if type(rf) == "table" and (rf.type == "json_object" or rf.type == "json_schema") then
    mime = '"application/json"'
    if rf.type == "json_schema" then
      local s = C.at(m.response_format, "json_schema", "schema")
      if C.is_object(s) then
        rschema = schema.to_gemini(s)
        if not schema.fits(rschema) then rschema, rjschema = nil, C.trim(s) end
      end
    end
  end
  local function num(k) return type(j[k]) == "number" and m[k] or nil end
  local max = type(j.max_completion_tokens) == "number" and m.max_completion_tokens or num("max_tokens")
  local thinking
  if type(j.reasoning_effort) == "string" and BUDGET[j.reasoning_effort] then
    thinking = obj("thinkingBudget", encode(BUDGET[j.reasoning_effort]))
  end
  local gen = obj("temperature", num("temperature"), "topP", num("top_p"), "topK", num("top_k"),
    "maxOutputTokens", max, "stopSequences", stop, "candidateCount", num("n"), "seed", num("seed"),
    "presencePenalty", num("presence_penalty"), "frequencyPenalty", num("frequency_penalty"),
    "responseMimeType", mime, "responseSchema", rschema, "responseJsonSchema", rjschema,
    "responseLogprobs", j.logprobs == true and "true" or nil, "logprobs", j.logprobs == true and num("top_logprobs") or nil,
    "thinkingConfig", thinking)

  ctx.stream = ctx.stream or j.stream == true
  ctx.include_usage = j.stream == true and type(j.stream_options) == "table" and j.stream_options.include_usage == true
  return obj("contents", arr(contents),
    "systemInstruction", #system > 0 and obj("parts", arr(system)) or nil,
    "tools", #decls > 0 and arr({ obj("functionDeclarations", arr(decls)) }) or nil,
    "toolConfig", tool_config,
    "generationConfig", gen ~= "{}" and gen or nil)
end

-- Gemini -> OpenAI request --------------------------------------------------------

local function part_to_openai(p)
  local t = g(p, "text")
  if type(t) == "string" then return obj("type", '"text"', "text", encode(t)), true end
  local d = g(p, "inlineData")
  if type(d) == "table" then
    local mime, data = tostring(g(d, "mimeType") or "application/octet-stream"), tostring(d.data or "")
    if mime:sub(1, 6) == "image/" then
      return obj("type", '"image_url"', "image_url", obj("url", encode("data:" .. mime .. ";base64," .. data)))
    elseif mime == "audio/wav" or mime == "audio/mp3" or mime == "audio/mpeg" then
      return obj("type", '"input_audio"', "input_audio", obj("data", encode(data), "format", mime == "audio/wav" and '"wav"' or '"mp3"'))
    end
    return obj("type", '"file"', "file", obj("filename", '"file"', "file_data", encode("data:" .. mime .. ";base64," .. data)))
  end
  local fd = g(p, "fileData")
  if type(fd) == "table" and type(g(fd, "fileUri")) == "string" then
    return obj("type", '"image_url"', "image_url", obj("url", encode(g(fd, "fileUri"))))
  end
  return nil
end

-- A functionResponse.response (raw) -> tool message content string.
local function response_text(raw)
  if not raw then return "" end
  local mm = C.members(raw)
  if mm then
    local n = 0
    for _ in pairs(mm) do n = n + 1 end
    if n == 1 and mm.result and mm.result:sub(1, 1) == '"' then return C.decode(mm.result) end
  end
  return C.trim(raw)
end

--- Gemini generateContent request -> OpenAI chat request.
-- ctx: model (upstream id), stream (from the URL); filled: nothing else.
function M.request_gemini_to_openai(raw, ctx)
  ctx = ctx or {}
  local j = C.decode(raw)
  if type(j) ~= "table" then return nil, "request body must be a JSON object" end
  local m = C.members(raw) or {}
  local function rawf(camel)
    return m[camel] or m[(gsub(camel, "%u", function(c) return "_" .. lower(c) end))]
  end
  local out = {}
  local si = g(j, "systemInstruction")
  if type(si) == "table" then
    local s = C.text_of(si.parts, "\n")
    if s and s ~= "" then out[#out + 1] = obj("role", '"system"', "content", encode(s)) end
  elseif type(si) == "string" then
    out[#out + 1] = obj("role", '"system"', "content", encode(si))
  end
  local pending, n = {}, 0
  local raw_contents = C.items(rawf("contents")) or {}
  for i, c in ipairs(type(j.contents) == "table" and j.contents or {}) do
    local parts = type(c) == "table" and type(c.parts) == "table" and c.parts or {}
    local raw_parts = C.items((C.members(raw_contents[i] or "") or {}).parts) or {}
    if type(c) == "table" and c.role == "model" then
      local texts, calls = {}, {}
      for k, p in ipairs(parts) do
        local fc = g(p, "functionCall")
        if type(fc) == "table" then
          n = n + 1
          local id = type(fc.id) == "string" and fc.id or ("call_" .. n)
          pending[#pending + 1] = { id = id, name = fc.name }
          local pm = C.members(raw_parts[k] or "") or {}
          local args = (C.members(pm.functionCall or pm.function_call or "") or {}).args
          calls[#calls + 1] = obj("id", encode(id), "type", '"function"', "function",
            obj("name", encode(tostring(fc.name or "")), "arguments", encode(C.is_object(args) and C.trim(args) or "{}")))
        elseif type(p) == "table" and type(p.text) == "string" and not p.thought then
          texts[#texts + 1] = p.text
        end
      end
      out[#out + 1] = obj("role", '"assistant"',
        "content", #texts > 0 and encode(concat(texts)) or (#calls > 0 and "null" or '""'),
        "tool_calls", #calls > 0 and arr(calls) or nil)
    else
      local items, only_text = {}, true
      for k, p in ipairs(parts) do
        local fr = g(p, "functionResponse")
        if type(fr) == "table" then
          local id = type(fr.id) == "string" and fr.id or nil
          if not id then
            for x, pc in ipairs(pending) do
              if pc.name == fr.name then id = pc.id; table.remove(pending, x); break end
            end
          end
          local pm = C.members(raw_parts[k] or "") or {}
          local resp = (C.members(pm.functionResponse or pm.function_response or "") or {}).response
          out[#out + 1] = obj("role", '"tool"', "tool_call_id", encode(id or ("call_" .. tostring(fr.name))),
            "content", encode(response_text(resp)))
        elseif type(p) == "table" and not p.thought then
          local part, is_text = part_to_openai(p)
          if part then
            items[#items + 1] = part
            if not is_text then only_text = false end
          end
        end
      end
      if #items > 0 then
        if only_text then
          local texts = {}
          for _, p in ipairs(parts) do if type(p) == "table" and type(p.text) == "string" then texts[#texts + 1] = p.text end end
          out[#out + 1] = obj("role", '"user"', "content", encode(concat(texts)))
        else
          out[#out + 1] = obj("role", '"user"', "content", arr(items))
        end
      end
    end
  end

  local tools, names = {}, {}
  local raw_tools = C.items(rawf("tools")) or {}
  for i, t in ipairs(type(j.tools) == "table" and j.tools or {}) do
    local fds = g(t, "functionDeclarations")
    if type(fds) == "table" then
      local tm = C.members(raw_tools[i]) or {}
      local raw_fds = C.items(tm.functionDeclarations or tm.function_declarations) or {}
      for k, fd in ipairs(fds) do
        if type(fd) == "table" then
          local fm = C.members(raw_fds[k] or "") or {}
          local params
          local pjs = fm.parametersJsonSchema or fm.parameters_json_schema
          if C.is_object(pjs) then params = C.trim(pjs)
          elseif C.is_object(fm.parameters) then params = schema.to_openai(fm.parameters)
          else params = '{"type":"object","properties":{}}' end
          names[#names + 1] = fd.name
          tools[#tools + 1] = obj("type", '"function"', "function", obj("name", encode(tostring(fd.name)),
            "description", str(fd.description), "parameters", params))
        end
      end
    end
  end

  local choice
  local fcc = g(g(j, "toolConfig"), "functionCallingConfig")
  if type(fcc) == "table" and #tools > 0 then
    local mode = fcc.mode
    local allowed = g(fcc, "allowedFunctionNames")
    if mode == "AUTO" then choice = '"auto"'
    elseif mode == "NONE" then choice = '"none"'
    elseif mode == "ANY" or mode == "VALIDATED" then
      if type(allowed) == "table" and #allowed == 1 and type(allowed[1]) == "string" then
        choice = obj("type", '"function"', "function", obj("name", encode(allowed[1])))
      else
        choice = '"required"'
      end
    end
  end

  local gc = g(j, "generationConfig")
  local gm = C.members(rawf("generationConfig") or "") or {}
  local function graw(camel)
    local v = g(gc, camel)
    if type(v) ~= "number" then return nil end
    return gm[camel] or gm[(gsub(camel, "%u", function(c) return "_" .. lower(c) end))]
  end
  local rf
  if g(gc, "responseMimeType") == "application/json" then
    local rjs = gm.responseJsonSchema or gm.response_json_schema
    local rs = gm.responseSchema or gm.response_schema
    if C.is_object(rjs) then
      rf = obj("type", '"json_schema"', "json_schema", obj("name", '"response"', "schema", C.trim(rjs)))
    elseif C.is_object(rs) then
      rf = obj("type", '"json_schema"', "json_schema", obj("name", '"response"', "schema", schema.to_openai(rs)))
    else
      rf = '{"type":"json_object"}'
    end
  end
  local stop = g(gc, "stopSequences")
  ctx.stream = ctx.stream == true
  return obj("model", str(ctx.model or ctx.client_model),
    "messages", arr(out),
    "max_tokens", graw("maxOutputTokens"),
    "temperature", graw("temperature"), "top_p", graw("topP"),
    "n", graw("candidateCount"), "seed", graw("seed"),
    "presence_penalty", graw("presencePenalty"), "frequency_penalty", graw("frequencyPenalty"),
    "stop", type(stop) == "table" and stop[1] ~= nil and C.head(gm.stopSequences or gm.stop_sequences, 4) or nil,
    "response_format", rf,
    "tools", #tools > 0 and arr(tools) or nil,
    "tool_choice", choice,
    "stream", ctx.stream and "true" or nil,
    "stream_options", ctx.stream and '{"include_usage":true}' or nil)
end

-- Usage --------------------------------------------------------------------------

--- usageMetadata table -> OpenAI usage raw, prompt, completion
function M.usage_to_openai(u)
  u = type(u) == "table" and u or {}
  local prompt = C.int(u.promptTokenCount) + C.int(u.toolUsePromptTokenCount)
  local thoughts = C.int(u.thoughtsTokenCount)
  local completion = C.int(u.candidatesTokenCount) + thoughts
  local total = u.totalTokenCount and C.int(u.totalTokenCount) or prompt + completion
  return obj("prompt_tokens", encode(prompt), "completion_tokens", encode(completion), "total_tokens", encode(total),
    "prompt_tokens_details", obj("cached_tokens", encode(C.int(u.cachedContentTokenCount))),
    "completion_tokens_details", obj("reasoning_tokens", encode(thoughts))), prompt, completion
end

--- OpenAI usage table -> usageMetadata raw
function M.usage_to_gemini(u)
  u = type(u) == "table" and u or {}
  local cd = type(u.completion_tokens_details) == "table" and u.completion_tokens_details or {}
  local pd = type(u.prompt_tokens_details) == "table" and u.prompt_tokens_details or {}
  local prompt, completion = C.int(u.prompt_tokens), C.int(u.completion_tokens)
  local thoughts = C.int(cd.reasoning_tokens)
  local cached = C.int(pd.cached_tokens)
  return obj("promptTokenCount", encode(prompt), "candidatesTokenCount", encode(completion - thoughts),
    "totalTokenCount", encode(u.total_tokens and C.int(u.total_tokens) or prompt + completion),
    "cachedContentTokenCount", cached > 0 and encode(cached) or nil,
    "thoughtsTokenCount", thoughts > 0 and encode(thoughts) or nil)
end

-- Non-stream responses -------------------------------------------------------------

--- One candidate's parts -> text, reasoning, tool call raws (shared with the stream).
function M.candidate_parts(parts, raw_parts, ctx, first_index)
  local texts, thoughts, calls = {}, {}, {}
  local mint = ctx.mint_id or default_mint(ctx)
  ctx.mint_id = mint
  local k = first_index or 0
  for i, p in ipairs(parts) do
    if type(p) == "table" then
      local fc = g(p, "functionCall")
      if type(fc) == "table" then
        local pm = C.members(raw_parts and raw_parts[i] or "") or {}
        local args = (C.members(pm.functionCall or pm.function_call or "") or {}).args
        local id = type(fc.id) == "string" and fc.id or mint(k)
        local sig = g(p, "thoughtSignature")
        if type(sig) == "string" then id = id .. SEP .. sig end
        calls[#calls + 1] = { id = id, name = tostring(fc.name or ""), args = C.is_object(args) and C.trim(args) or "{}" }
        k = k + 1
      elseif type(p.text) == "string" then
        if p.thought then thoughts[#thoughts + 1] = p.text else texts[#texts + 1] = p.text end
      end
    end
  end
  return texts, thoughts, calls
end

function M.finish_of(reason, has_calls)
  if has_calls then return "tool_calls" end
  return M.FINISH[reason] or "stop"
end

--- Gemini GenerateContentResponse -> OpenAI chat.completion
function M.response_gemini_to_openai(raw, ctx)
  ctx = ctx or {}
  local j = C.decode(raw)
  if type(j) ~= "table" then return nil, "upstream body is not JSON" end
  local cand = type(j.candidates) == "table" and j.candidates[1] or nil
  local parts = type(cand) == "table" and type(cand.content) == "table" and type(cand.content.parts) == "table"
    and cand.content.parts or {}
  local raw_parts = C.items(C.at(raw, "candidates", 1, "content", "parts"))
  local texts, thoughts, calls = M.candidate_parts(parts, raw_parts, ctx)
  local tool_calls = {}
  for i, c in ipairs(calls) do
    tool_calls[i] = obj("id", encode(c.id), "type", '"function"', "function", obj("name", encode(c.name), "arguments", encode(c.args)))
  end
  local finish
  if not cand then
    finish = "content_filter" -- promptFeedback.blockReason: the prompt was blocked
  else
    finish = M.finish_of(cand.finishReason, #calls > 0)
  end
  local usage, prompt, completion = M.usage_to_openai(g(j, "usageMetadata"))
  ctx.usage = { input = prompt, output = completion }
  local content = #texts > 0 and encode(concat(texts)) or (#calls > 0 and "null" or '""')
  local id = type(j.responseId) == "string" and ("chatcmpl-" .. j.responseId) or "chatcmpl-gemini"
  return C.openai_completion(id, tostring(j.modelVersion or ctx.model or ""), ctx, content, thoughts,
    tool_calls, finish, usage)
end

--- OpenAI chat.completion -> Gemini GenerateContentResponse
function M.response_openai_to_gemini(raw, ctx)
  ctx = ctx or {}
  local j = C.decode(raw)
  if type(j) ~= "table" then return nil, "upstream body is not JSON" end
  local choice = type(j.choices) == "table" and j.choices[1] or {}
  local msg = C.first_message(j)
  local parts = {}
  local text = C.text_of(msg.content)
  if text and text ~= "" then parts[#parts + 1] = obj("text", encode(text)) end
  for _, tc in ipairs(type(msg.tool_calls) == "table" and msg.tool_calls or {}) do
    if type(tc) == "table" then
      local f = type(tc["function"]) == "table" and tc["function"] or {}
      parts[#parts + 1] = obj("functionCall", obj("id", str(tc.id), "name", encode(tostring(f.name or "")),
        "args", C.args_object(f.arguments)))
    end
  end
  if #parts == 0 then parts[1] = '{"text":""}' end
  local u = type(j.usage) == "table" and j.usage or {}
  ctx.usage = { input = C.int(u.prompt_tokens), output = C.int(u.completion_tokens) }
  return obj("candidates", arr({ obj("content", obj("role", '"model"', "parts", arr(parts)),
      "finishReason", encode(M.REASON[choice and choice.finish_reason] or "STOP"), "index", "0") }),
    "usageMetadata", M.usage_to_gemini(u),
    "modelVersion", encode(tostring(j.model or ctx.model or "")),
    "responseId", str(j.id))
end

local stream = require("moongate.translate.openai_gemini_stream")
M.stream_gemini_to_openai = stream.gemini_to_openai
M.stream_openai_to_gemini = stream.openai_to_gemini

return M
