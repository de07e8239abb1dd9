-- moongate.providers.presets: OpenAI-compatible providers as data (PROTOCOLS 6).
--
-- Owns: per provider, the default base URL, whether it is keyless, and the
-- request edits that provider needs: `drop` (top-level fields it rejects with
-- a 400), `rename` (field -> its name there), `drop_message_fields` (fields
-- removed from every message). The edits are raw splices done by
-- moongate.providers.openai; responses are relayed as is (OpenRouter's `cost`
-- and the other usage extras reach the client unchanged).
--
-- A preset is used with either spelling (both are the same thing):
--   groq = { kind = "groq", api_key = env("GROQ_API_KEY"), models = {...} }
--   groq = { kind = "openai", preset = "groq", api_key = env("GROQ_API_KEY"), models = {...} }
-- base_url defaults to the preset's (set it to override, e.g. a remote Ollama).
-- Keyless presets (ollama, vllm, lmstudio) are enabled without an api_key.
-- OpenRouter attribution: `referer = "https://app.example"` and
-- `title = "My App"` send HTTP-Referer, X-Title and X-OpenRouter-Title.
-- Adding an OpenAI-compatible provider = one entry here (plus a spec).
local presets = {}

presets.list = {
  openrouter = { base_url = "https://openrouter.ai/api/v1", attribution = true },
  -- Groq 400s on logprobs, logit_bias, top_logprobs, messages[].name, and n != 1.
  groq = { base_url = "https://api.groq.com/openai/v1",
           drop = { "logprobs", "top_logprobs", "logit_bias", "n" }, drop_message_fields = { "name" } },
  -- Mistral calls the seed `random_seed`.
  mistral = { base_url = "https://api.mistral.ai/v1", rename = { seed = "random_seed" } },
  deepseek = { base_url = "https://api.deepseek.com/v1" },
  together = { base_url = "https://api.together.xyz/v1" },
  fireworks = { base_url = "https://api.fireworks.ai/inference/v1" },
  xai = { base_url = "https://api.x.ai/v1" },
  -- Perplexity has no /v1 prefix; `n` must be 1.
  perplexity = { base_url = "https://api.perplexity.ai", drop = { "n" } },
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

--- presets.apply(P, raw, pr, where): copies the preset's edits into P and adds
-- its headers (after P.headers was built from the config).
function presets.apply(P, raw, pr, where)
  P.drop, P.rename, P.drop_message_fields = pr.drop, pr.rename, pr.drop_message_fields
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
