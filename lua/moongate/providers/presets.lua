-- moongate.providers.presets: OpenAI-compatible providers as data (PROTOCOLS 6).
--
-- Owns: per provider, the default base URL, whether it is keyless, and the
-- request edits ("quirks") that provider needs. The edits are raw splices done
-- by moongate.providers.openai (nothing is re-encoded); responses are relayed
-- as is (OpenRouter's `cost` and the other usage extras reach the client
-- unchanged). The edit vocabulary, all optional:
--   drop                 top-level fields the provider rejects (400/422): removed
--   drop_default         { field = value }: removed when equal to value (the
--                        provider's only accepted value); any other value is
--                        relayed, so the provider's own 400 tells the client,
--                        instead of a silently different answer
--   rename               { field = name there }: the raw value moves (a field
--                        already present under the new name is replaced)
--   stream_options=false the provider rejects `stream_options`: removed, and the
--                        gateway does not add include_usage (usage comes anyway)
--   model_prefix         prepended to a model id that has no "/" (short names)
--   model_rules          { { match = {patterns}, unless = pattern, drop = {...} } }:
--                        fields dropped for the models (upstream ids) that match
--   drop_message_fields  fields removed from every message
--   tool_call_ids        N: tool call ids must be exactly N of [A-Za-z0-9]; others
--                        are mapped to such ids, the same way in the assistant
--                        `tool_calls` and the `tool` messages of one request
--   merge_roles          roles whose consecutive messages are merged into one
--   bridges              { { after = role, before = role, insert = raw message } }:
--                        a message inserted between two that may not be adjacent
-- Every preset also loses `stream_options` on a request that does not stream
-- (it only means something with stream:true, and OpenAI-style servers 400 it).
--
-- A preset is used with either spelling (both are the same thing):
--   groq = { kind = "groq", api_key = env("GROQ_API_KEY"), models = {...} }
--   groq = { kind = "openai", preset = "groq", api_key = env("GROQ_API_KEY"), models = {...} }
-- base_url defaults to the preset's (set it to override, e.g. a remote Ollama).
-- Keyless presets (ollama, vllm, lmstudio) are enabled without an api_key.
-- OpenRouter attribution: `referer = "https://app.example"` and
-- `title = "My App"` send HTTP-Referer, X-Title and X-OpenRouter-Title.
-- Adding an OpenAI-compatible provider = one entry here plus its fixture in
-- spec/fixtures/presets/<name>.lua (spec/presets_spec.lua fails without one).
local presets = {}

presets.list = {
  -- Usage is always in the last message there and include_usage is documented
  -- as a no-op, but integrators report needing it: the gateway's is kept (6.1).
  openrouter = { base_url = "https://openrouter.ai/api/v1", attribution = true },
  -- Groq 400s on logprobs, logit_bias, top_logprobs, messages[].name, and n != 1.
  groq = { base_url = "https://api.groq.com/openai/v1",
           drop = { "logprobs", "top_logprobs", "logit_bias" }, drop_default = { n = 1 },
           drop_message_fields = { "name" } },
  -- Mistral validates strictly (422 "Extra inputs are not permitted" on
  -- stream_options, max_completion_tokens, metadata, messages[].name: reported
  -- in mistralai/platform-docs-public#7, dnakov/anon-kode#53,
  -- editor-code-assistant/eca#231, OpenHands-CLI#83); calls the seed
  -- `random_seed`; wants 9-character tool call ids (6.3); and answers
  -- "Unexpected role 'user' after role 'tool'" (code 3230) unless an assistant
  -- turn comes between (BerriAI/litellm#17761, LibreChat#12429).
  mistral = { base_url = "https://api.mistral.ai/v1",
              rename = { seed = "random_seed", max_completion_tokens = "max_tokens" },
              drop = { "metadata" }, stream_options = false, drop_message_fields = { "name" },
              tool_call_ids = 9,
              bridges = { { after = "tool", before = "user", insert = '{"role":"assistant","content":"Understood."}' } } },
  -- DeepSeek only knows max_tokens and silently ignores max_completion_tokens
  -- (earendil-works/pi#8018). `reasoning_content` in input messages is relayed:
  -- thinking mode with tool calls now requires it back (a 400 without it).
  deepseek = { base_url = "https://api.deepseek.com/v1", rename = { max_completion_tokens = "max_tokens" } },
  together = { base_url = "https://api.together.xyz/v1" },
  -- Model ids are accounts/fireworks/models/<name>: short names get the prefix.
  fireworks = { base_url = "https://api.fireworks.ai/inference/v1", model_prefix = "accounts/fireworks/models/" },
  -- Reasoning Grok models 400 on penalties and stop; grok-4 (and its -fast,
  -- dated variants) and grok-code also on reasoning_effort, which grok-3-mini
  -- and grok-4.3+ accept (6.6). *-non-reasoning variants take everything.
  xai = { base_url = "https://api.x.ai/v1",
          model_rules = {
            { match = { "^grok%-3%-mini", "^grok%-4", "^grok%-code" }, unless = "non%-reasoning",
              drop = { "presence_penalty", "frequency_penalty", "stop" } },
            { match = { "^grok%-4$", "^grok%-4%-", "^grok%-code" }, drop = { "reasoning_effort" } },
          } },
  -- Perplexity has no /v1 prefix; `n` must be 1; after the system message(s)
  -- user and assistant must alternate (400 otherwise): same-role runs are merged.
  perplexity = { base_url = "https://api.perplexity.ai", drop_default = { n = 1 },
                 merge_roles = { "user", "assistant" } },
  -- Ollama's /v1 ignores the key and does not support these.
  ollama = { base_url = "http://localhost:11434/v1", keyless = true,
             drop = { "tool_choice", "logit_bias", "user", "n", "logprobs", "top_logprobs" } },
  vllm = { base_url = "http://localhost:8000/v1", keyless = true },
  lmstudio = { base_url = "http://localhost:1234/v1", keyless = true },
}

local function fail(field, msg) error(field .. ": " .. msg, 0) end

local function names()
  local n = {}
  for k in pairs(presets.list) do n[#n + 1] = k end
  table.sort(n)
  return table.concat(n, ", ")
end

-- The edits of one preset in the form moongate.providers.openai reads, built
-- once per preset: renames as a sorted array (appended keys come out in a
-- fixed order), role lists as sets. Raises on a malformed entry, so a typo in
-- a new preset fails the first spec that loads it.
local function compile(name, pr)
  local where = "presets." .. name
  local function strings(list, field)
    if list == nil then return nil end
    if type(list) ~= "table" then fail(where .. "." .. field, "must be a list of strings") end
    for _, v in ipairs(list) do
      if type(v) ~= "string" then fail(where .. "." .. field, "must be a list of strings") end
    end
    return list
  end
  local q = { name = name }
  q.drop = strings(pr.drop, "drop")
  q.drop_message_fields = strings(pr.drop_message_fields, "drop_message_fields")
  if pr.drop_default then
    local dd = {}
    for f, v in pairs(pr.drop_default) do dd[#dd + 1] = { f, v } end
    table.sort(dd, function(a, b) return a[1] < b[1] end)
    q.drop_default = dd
  end
  if pr.rename then
    local rn = {}
    for from, to in pairs(pr.rename) do
      if type(from) ~= "string" or type(to) ~= "string" then fail(where .. ".rename", "must map field names to field names") end
      rn[#rn + 1] = { from, to }
    end
    table.sort(rn, function(a, b) return a[1] < b[1] end)
    q.rename = rn
  end
  if pr.stream_options ~= nil and pr.stream_options ~= false then fail(where .. ".stream_options", "can only be false") end
  q.no_stream_options = pr.stream_options == false
  if pr.model_prefix ~= nil and type(pr.model_prefix) ~= "string" then fail(where .. ".model_prefix", "must be a string") end
  q.model_prefix = pr.model_prefix
  if pr.model_rules then
    for i, r in ipairs(pr.model_rules) do
      strings(r.match, "model_rules[" .. i .. "].match")
      strings(r.drop, "model_rules[" .. i .. "].drop")
      if not r.match or not r.drop then fail(where .. ".model_rules[" .. i .. "]", "needs match and drop") end
    end
    q.model_rules = pr.model_rules
  end
  if pr.tool_call_ids ~= nil then
    local n = pr.tool_call_ids
    if type(n) ~= "number" or n < 1 or n > 14 or n % 1 ~= 0 then fail(where .. ".tool_call_ids", "must be a length 1..14") end
    q.tool_call_ids = n
  end
  if pr.merge_roles then
    q.merge_roles = {}
    for _, r in ipairs(strings(pr.merge_roles, "merge_roles")) do q.merge_roles[r] = true end
  end
  if pr.bridges then
    for i, b in ipairs(pr.bridges) do
      if type(b.after) ~= "string" or type(b.before) ~= "string" or type(b.insert) ~= "string" then
        fail(where .. ".bridges[" .. i .. "]", "needs after, before and insert (raw JSON message)")
      end
    end
    q.bridges = pr.bridges
  end
  q.messages = q.drop_message_fields or q.tool_call_ids or q.merge_roles or q.bridges
  return q
end

presets.compiled = {}
for name, pr in pairs(presets.list) do presets.compiled[name] = compile(name, pr) end
presets.compile = compile

--- presets.resolve(kind, preset, where) -> kind, preset name|nil, preset table|nil
-- `kind = "groq"` is shorthand for kind "openai" with preset "groq".
function presets.resolve(kind, preset, where)
  if type(kind) == "string" and presets.list[kind] then
    if preset ~= nil and preset ~= kind then fail(where .. ".preset", "conflicts with kind '" .. kind .. "'") end
    return "openai", kind, presets.list[kind]
  end
  if preset == nil then return kind, nil, nil end
  if type(preset) ~= "string" or not presets.list[preset] then
    fail(where .. ".preset", "unknown preset '" .. tostring(preset) .. "' (known: " .. names() .. ")")
  end
  if kind ~= "openai" then fail(where .. ".preset", "presets are for kind \"openai\"") end
  return kind, preset, presets.list[preset]
end

--- presets.apply(P, raw, pr, where): gives P the preset's compiled edits
-- (P.quirks) and adds its headers (after P.headers was built from the config).
function presets.apply(P, raw, pr, where)
  P.quirks = presets.compiled[P.preset]
  if pr.attribution then
    for _, k in ipairs({ "referer", "title" }) do
      local v = raw[k]
      if v ~= nil and (type(v) ~= "string" or v:find("[%c]")) then fail(where .. "." .. k, "must be a string without control characters") end
    end
    if raw.referer then P.headers[#P.headers + 1] = "HTTP-Referer: " .. raw.referer end
    if raw.title then
      P.headers[#P.headers + 1] = "X-Title: " .. raw.title
      P.headers[#P.headers + 1] = "X-OpenRouter-Title: " .. raw.title
    end
    table.sort(P.headers)
  end
end

return presets
