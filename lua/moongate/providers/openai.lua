-- moongate.providers.openai: upstream requests for OpenAI-compatible providers.
--
-- Owns: what one attempt sends to a provider of kind "openai" (URL, headers,
-- body). The client speaks OpenAI too, so the body is the client's raw body
-- with two targeted edits at most (moongate.json splices, nothing re-encoded):
--   * `model` becomes the provider's model id (no "provider/" prefix), only
--     when it differs from what the client sent;
--   * streaming chat/completions get `stream_options.include_usage = true`
--     (merged into the client's stream_options) so the gateway can count
--     tokens; the host then hides the usage-only chunk (plan.hide_usage).
-- Passthrough requests are relayed unchanged (same method, body, content type).
--
-- A provider kind is one module with this interface:
--   prepare(P)                   once per enabled provider at load: precompute
--   build(P, model, req, shared) per attempt -> url, headers (array of
--                                "Name: value"), body (string or nil)
--   validate(P, raw, where)      optional extra config checks
-- `shared` is one table per request, shared by all its attempts: stream,
-- hide_usage, endpoint, plus whatever the module caches there under names
-- starting with "_" (for a same-dialect attempt it is the plan being built).
--
-- OpenAI-compatible presets (moongate.providers.presets: openrouter, groq, ...)
-- use this module: the preset fills base_url and keyless defaults at config
-- time, and its quirks (P.quirks: fields dropped or renamed, per-model drops,
-- stream_options, model prefix, message edits such as Mistral's tool call ids
-- or Perplexity's role alternation) become raw edits of the body here. The
-- vocabulary is documented in presets.lua; every preset has a fixture in
-- spec/fixtures/presets/.
local json = require("moongate.json")
local upstream = require("moongate.upstream")
local with = upstream.with

local M = { dialect = "openai" }

local encode, sub, find, gsub, byte, concat = json.encode, string.sub, string.find, string.gsub, string.byte, table.concat
local band, PEEK_OBJECT = require("bit").band, require("moongate.request").PEEK.OBJECT

-- Path suffix after "/v1" per endpoint.
local SUFFIX = { chat = "/chat/completions", completions = "/completions", embeddings = "/embeddings" }

--- Precomputes header arrays and URLs; they are shared (read-only) by every
-- plan this provider appears in.
function M.prepare(P)
  P.h_base, P.h_json, P.h_json_sse = upstream.headers(P, P.api_key and "Authorization: Bearer " .. P.api_key)
  P.urls = {}
  for ep, suffix in pairs(SUFFIX) do P.urls[ep] = P.base_url .. suffix end
end

-- The query string relayed on passthrough, without our own `vendor` argument.
local function relay_query(q)
  if q == nil or q == "" then return "" end
  if not find(q, "vendor=", 1, true) then return "?" .. q end
  local parts = {}
  for pair in q:gmatch("[^&]+") do
    if not pair:match("^vendor=") and pair ~= "vendor" then parts[#parts + 1] = pair end
  end
  if #parts == 0 then return "" end
  return "?" .. table.concat(parts, "&")
end
M.relay_query = relay_query

-- The raw stream_options value with include_usage forced on.
local function stream_options_raw(req)
  local cur = req:_raw_field("stream_options")
  if cur and sub(cur, 1, 1) == "{" then
    local v = json.set_field(cur, "include_usage", "true")
    if v then return v end
  end
  return '{"include_usage":true}'
end

local function passthrough(P, req, shared)
  local url = P.base_url .. sub(req.path, 4) .. relay_query(req.query)
  local body = req:_final_body()
  local ct = req:header("content-type")
  local headers
  if ct then
    headers = with(P.h_base, "Content-Type: " .. gsub(ct, "[\r\n]", ""))
  elseif body ~= "" then
    headers = P.h_json
  else
    headers = P.h_base
  end
  if shared.stream then headers = with(headers, "Accept: text/event-stream") end
  if body == "" and (req.method == "GET" or req.method == "HEAD" or req.method == "DELETE") then body = nil end
  return url, headers, body
end

-- Preset quirks (moongate.providers.presets, PROTOCOLS 6) ----------------------
-- Every edit below is a raw splice: members and elements that are not edited
-- keep their bytes (numbers, escapes, [] and {}), so fidelity holds whatever
-- a preset does.

local ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
-- Two polynomial hashes modulo primes just below 2^44: every intermediate
-- value (h * 263 + 255) stays below 2^53, so plain doubles compute them
-- exactly, with no bit library.
local HP1, HP2 = 17592186044399, 17592186044299

--- M.short_id(s, n, salt) -> n characters of [A-Za-z0-9] derived from s:
-- the same s (and salt) always gives the same id, in every request, so a
-- conversation replayed turn after turn maps its ids the same way.
function M.short_id(s, n, salt)
  local h1, h2 = 7 + salt, 13 + salt
  for i = 1, #s do
    local b = byte(s, i)
    h1 = (h1 * 257 + b) % HP1
    h2 = (h2 * 263 + b) % HP2
  end
  local out = {}
  for i = 1, n do
    local d
    if i % 2 == 1 then
      d = h1 % 62
      h1 = (h1 - d) / 62
    else
      d = h2 % 62
      h2 = (h2 - d) / 62
    end
    out[i] = sub(ID_CHARS, d + 1, d + 1)
  end
  return concat(out)
end

-- Tool call ids that break the provider's rule (exactly n of [A-Za-z0-9]) ->
-- their replacement, or nil when every id is fine. Ids that already follow the
-- rule stay, and a replacement never equals another id of the request.
local function id_map(msgs, n)
  local used, bad, order = {}, {}, {}
  local function see(id)
    if type(id) ~= "string" then return end
    if #id == n and not find(id, "[^A-Za-z0-9]") then
      used[id] = true
    elseif not bad[id] then
      bad[id] = true
      order[#order + 1] = id
    end
  end
  for _, m in ipairs(msgs) do
    if type(m) == "table" then
      see(m.tool_call_id)
      if type(m.tool_calls) == "table" then
        for _, tc in ipairs(m.tool_calls) do
          if type(tc) == "table" then see(tc.id) end
        end
      end
    end
  end
  if #order == 0 then return nil end
  local map = {}
  for _, id in ipairs(order) do
    local salt, new = 0, nil
    repeat
      new = M.short_id(id, n, salt)
      salt = salt + 1
    until not used[new]
    used[new] = true
    map[id] = new
  end
  return map
end

-- One message with the per-message edits (fields dropped, ids mapped).
local function edit_message(raw, m, Q, map)
  if type(m) ~= "table" then return raw end
  local sc = json.scan(raw)
  if not sc then return raw end
  local edits
  for _, f in ipairs(Q.drop_message_fields or {}) do
    if m[f] ~= nil then
      edits = edits or {}
      edits[f] = false
    end
  end
  if map then
    local id = m.tool_call_id
    if type(id) == "string" and map[id] then
      edits = edits or {}
      edits.tool_call_id = encode(map[id])
    end
    local tcs = m.tool_calls
    if type(tcs) == "table" and #tcs > 0 then
      local items = json.array_items(json.get_raw(raw, "tool_calls", sc) or "")
      if items and #items == #tcs then
        local hit = false
        for k, tc in ipairs(tcs) do
          if type(tc) == "table" and type(tc.id) == "string" and map[tc.id] then
            local isc = json.scan(items[k])
            if isc then
              items[k] = json.apply(items[k], isc, { id = encode(map[tc.id]) })
              hit = true
            end
          end
        end
        if hit then
          edits = edits or {}
          edits.tool_calls = "[" .. concat(items, ",") .. "]"
        end
      end
    end
  end
  if not edits then return raw end
  return json.apply(raw, sc, edits)
end

-- A raw content value as array elements (a string becomes one text part).
local function content_parts(raw)
  if sub(raw, 1, 1) == '"' then return { '{"type":"text","text":' .. raw .. "}" } end
  return json.array_items(raw) or {}
end

-- Two raw contents as one: strings joined by a blank line, anything else as
-- the parts of both in order.
local function join_content(a, b)
  if sub(a, 1, 1) == '"' and sub(b, 1, 1) == '"' then
    return sub(a, 1, -2) .. "\\n\\n" .. sub(b, 2)
  end
  local parts = content_parts(a)
  for _, p in ipairs(content_parts(b)) do parts[#parts + 1] = p end
  return "[" .. concat(parts, ",") .. "]"
end

-- The raw content of a message that can be merged (a string or an array),
-- and whether it may be merged into the one before it: not when it carries
-- tool calls or answers one (other members, e.g. `name`, are given up).
local function mergeable(raw)
  local sc = json.scan(raw)
  if not sc then return nil end
  local c = json.get_raw(raw, "content", sc)
  if not c then return nil end
  local ch = sub(c, 1, 1)
  if ch ~= '"' and ch ~= "[" then return nil end
  local free = true
  for i = 1, sc.n do
    local k = sc.key[i]
    if k == "tool_calls" or k == "tool_call_id" or k == "function_call" then free = false end
  end
  return c, free
end

-- The messages array after the preset's message edits, or nil when nothing
-- changes (the array then keeps its bytes).
local function edit_messages(Q, req, msgs)
  local map = Q.tool_call_ids and id_map(msgs, Q.tool_call_ids)
  local need = map ~= nil
  if not need and Q.drop_message_fields then
    for _, m in ipairs(msgs) do
      if type(m) == "table" then
        for _, f in ipairs(Q.drop_message_fields) do
          if m[f] ~= nil then need = true end
        end
      end
    end
  end
  if not need and (Q.merge_roles or Q.bridges) then
    for i = 2, #msgs do
      local a, b = msgs[i - 1], msgs[i]
      local ra, rb = type(a) == "table" and a.role, type(b) == "table" and b.role
      if ra and ra == rb and Q.merge_roles and Q.merge_roles[ra] then need = true end
      for _, br in ipairs(Q.bridges or {}) do
        if ra == br.after and rb == br.before then need = true end
      end
    end
  end
  if not need then return nil end
  local items = json.array_items(req:_raw_field("messages") or "")
  if not items or #items ~= #msgs then return nil end
  local out, outm = {}, {}
  for i, it in ipairs(items) do
    local m = msgs[i]
    local raw = edit_message(it, m, Q, map)
    local prev = #out > 0 and outm[#out]
    local role = type(m) == "table" and m.role
    local merged = false
    if prev and Q.merge_roles and role and Q.merge_roles[role] and type(prev) == "table" and prev.role == role then
      local ca, afree = mergeable(out[#out])
      local cb, bfree = mergeable(raw)
      if ca and cb and afree and bfree then
        local sc = json.scan(out[#out])
        if sc then
          out[#out] = json.apply(out[#out], sc, { content = join_content(ca, cb) })
          merged = true
        end
      end
    end
    if not merged then
      for _, br in ipairs(Q.bridges or {}) do
        if prev and type(prev) == "table" and prev.role == br.after and role == br.before then
          out[#out + 1] = br.insert
          outm[#out] = { role = "bridge" }
        end
      end
      out[#out + 1] = raw
      outm[#out] = m
    end
  end
  return "[" .. concat(out, ",") .. "]"
end

-- The model id as the provider wants it (model_prefix on short names).
local function upstream_model(Q, model)
  if Q and Q.model_prefix and not find(model, "/", 1, true) then return Q.model_prefix .. model end
  return model
end

-- Edits a preset asks for: fields removed, renamed (raw value kept), dropped
-- per model, stream_options handled, and the messages edited.
local function preset_edits(Q, req, j, model, stream, extra, order)
  local function drop(f)
    if j[f] ~= nil then extra[f] = false end
  end
  for _, f in ipairs(Q.drop or {}) do drop(f) end
  for _, d in ipairs(Q.drop_default or {}) do
    if j[d[1]] == d[2] then extra[d[1]] = false end
  end
  for _, r in ipairs(Q.model_rules or {}) do
    local hit = false
    for _, pat in ipairs(r.match) do
      if find(model, pat) then hit = true end
    end
    if hit and not (r.unless and find(model, r.unless)) then
      for _, f in ipairs(r.drop) do drop(f) end
    end
  end
  if Q.no_stream_options or not stream then drop("stream_options") end
  for _, r in ipairs(Q.rename or {}) do
    local from, to = r[1], r[2]
    if j[from] ~= nil and extra[from] == nil then
      local v = req:_raw_field(from)
      if v then
        extra[from] = false
        extra[to] = v
        order[#order + 1] = to
      end
    end
  end
  if Q.messages and type(j.messages) == "table" then
    local msgs = edit_messages(Q, req, j.messages)
    if msgs then extra.messages = msgs end
  end
end

--- M.body(P, model, req, shared) -> the chat/completions/embeddings body for
-- this provider and model (the last one built is kept in `shared`: consecutive
-- attempts on the same preset and model share it).
function M.body(P, model, req, shared)
  local key = P.preset and (P.preset .. "\0" .. model) or model
  if shared._body_key == key then return shared._body end
  local Q = P.quirks
  local f, cm = req:_peek()
  model = upstream_model(Q, model)
  local extra, order
  if f and band(f, PEEK_OBJECT) ~= 0 and cm ~= model then
    extra, order = { model = encode(model) }, { "model" }
  end
  if shared.hide_usage and not (Q and Q.no_stream_options) then
    local so = shared._so_raw
    if not so then
      so = stream_options_raw(req)
      shared._so_raw = so
    end
    extra = extra or {}
    order = order or {}
    extra.stream_options = so
    order[#order + 1] = "stream_options"
  end
  local j = Q and req:json() -- presets edit by what the body holds: decoded only for them
  if type(j) == "table" then
    extra, order = extra or {}, order or {}
    preset_edits(Q, req, j, model, shared.stream, extra, order)
    if next(extra) == nil then extra, order = nil, nil end
  end
  local body = req:_upstream_body(extra, order)
  shared._body_key, shared._body = key, body
  return body
end

function M.build(P, model, req, shared)
  local ep = shared.endpoint
  local url = P.urls[ep]
  if not url then return passthrough(P, req, shared) end
  local headers = shared.stream and P.h_json_sse or P.h_json
  return url, headers, M.body(P, model, req, shared)
end

return M
