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
-- hide_usage, endpoint, plus whatever the module caches there.
--
-- OpenAI-compatible presets (moongate.providers.presets: openrouter, groq, ...)
-- use this module: the preset fills base_url and keyless defaults at config
-- time, and its `drop` / `rename` / `drop_message_fields` lists become raw
-- edits of the body here.
local json = require("moongate.json")

local M = { dialect = "openai" }

local encode, sub, find, gsub = json.encode, string.sub, string.find, string.gsub

-- Path suffix after "/v1" per endpoint.
local SUFFIX = { chat = "/chat/completions", completions = "/completions", embeddings = "/embeddings" }

local function with(list, ...)
  local out = {}
  for i = 1, #list do out[i] = list[i] end
  for i = 1, select("#", ...) do out[#out + 1] = select(i, ...) end
  return out
end

--- Precomputes header arrays and URLs; they are shared (read-only) by every
-- plan this provider appears in.
function M.prepare(P)
  local base = {}
  if P.api_key then base[1] = "Authorization: Bearer " .. P.api_key end
  for _, h in ipairs(P.headers or {}) do base[#base + 1] = h end
  P.h_base = base
  P.h_json = with(base, "Content-Type: application/json")
  P.h_json_sse = with(base, "Content-Type: application/json", "Accept: text/event-stream")
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

-- Edits a preset asks for (internals.md 6, PROTOCOLS 6): top-level fields the
-- provider rejects are removed, renamed ones moved (raw value kept), and
-- per-message fields removed from each raw message (the rest byte for byte).
local function preset_edits(P, req, j, extra, order)
  for _, f in ipairs(P.drop or {}) do
    if j[f] ~= nil then extra[f] = false end
  end
  for from, to in pairs(P.rename or {}) do
    if j[from] ~= nil then
      local v = req:_raw_field(from)
      if v then
        extra[from] = false
        extra[to] = v
        order[#order + 1] = to
      end
    end
  end
  local mf = P.drop_message_fields
  if mf and type(j.messages) == "table" then
    local hit = false
    for _, m in ipairs(j.messages) do
      if type(m) == "table" then
        for _, f in ipairs(mf) do if m[f] ~= nil then hit = true end end
      end
    end
    local items = hit and json.array_items(req:_raw_field("messages") or "")
    if items then
      local del = {}
      for _, f in ipairs(mf) do del[f] = false end
      for i, it in ipairs(items) do
        local sc = json.scan(it)
        if sc then items[i] = json.apply(it, sc, del) end
      end
      extra.messages = "[" .. table.concat(items, ",") .. "]"
    end
  end
end

--- M.body(P, model, req, shared) -> the chat/completions/embeddings body for
-- this provider and model (cached per request by preset and model).
function M.body(P, model, req, shared)
  local bodies = shared.bodies
  if not bodies then
    bodies = {}
    shared.bodies = bodies
  end
  local key = P.preset and (P.preset .. "\0" .. model) or model
  local body = bodies[key]
  if body then return body end
  local j = req:json()
  local extra, order
  if type(j) == "table" and j.model ~= model then
    extra, order = { model = encode(model) }, { "model" }
  end
  if shared.hide_usage then
    local so = shared.so_raw
    if not so then
      so = stream_options_raw(req)
      shared.so_raw = so
    end
    extra = extra or {}
    order = order or {}
    extra.stream_options = so
    order[#order + 1] = "stream_options"
  end
  if P.preset and type(j) == "table" then
    extra, order = extra or {}, order or {}
    preset_edits(P, req, j, extra, order)
    if next(extra) == nil then extra, order = nil, nil end
  end
  body = req:_final_body(extra, order)
  bodies[key] = body
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
