-- Provider kinds (anthropic, gemini, azure), OpenAI-compatible presets, and the
-- host wiring of client dialects (internals.md section 6).
local t = require("moongate.testing")
local host = require("moongate.host")
local config = require("moongate.config")
local Request = require("moongate.request")
local cjson = require("cjson")

local function cfg(providers)
  return { providers = providers }
end

local function one(p, spec)
  local gw = t.load{ config = cfg({ p = p }) }
  local res = gw:handle(spec)
  assert.are.equal("proxy", res.kind, res.body)
  return res.attempts[1], res, gw
end

local function chat(body, extra)
  local s = { method = "POST", path = "/v1/chat/completions", body = body }
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

local BODY = '{"model":"m1","messages":[{"role":"user","content":"hi"}]}'

describe("provider kind anthropic", function()
  it("posts to {base}/v1/messages with x-api-key and anthropic-version", function()
    local a = one({ kind = "anthropic", api_key = "sk-ant", models = { "claude-x" } },
      { method = "POST", path = "/v1/messages", headers = { ["anthropic-beta"] = "tools-2024" },
        body = '{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"n":12345678901234567890}' })
    assert.are.equal("https://api.anthropic.com/v1/messages", a.url)
    assert.are.same({ "x-api-key: sk-ant", "anthropic-version: 2023-06-01", "Content-Type: application/json", "anthropic-beta: tools-2024" }, a.headers)
    -- same dialect: the client's bytes as they came
    assert.are.equal('{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"n":12345678901234567890}', a.body)
    assert.is_nil(a.translate)
  end)

  it("passes an Anthropic client's own anthropic-version through", function()
    local a = one({ kind = "anthropic", api_key = "sk-ant", models = { "claude-x" } },
      { method = "POST", path = "/v1/messages", headers = { ["anthropic-version"] = "2026-10-21" },
        body = '{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' })
    assert.are.same({ "x-api-key: sk-ant", "anthropic-version: 2026-10-21", "Content-Type: application/json" }, a.headers)
    -- a value that is not a plain token is ignored
    a = one({ kind = "anthropic", api_key = "sk-ant", models = { "claude-x" } },
      { method = "POST", path = "/v1/messages", headers = { ["anthropic-version"] = "x y" },
        body = '{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' })
    assert.are.same({ "x-api-key: sk-ant", "anthropic-version: 2023-06-01", "Content-Type: application/json" }, a.headers)
  end)

  it("takes a configurable version and base_url (a trailing /v1 tolerated); streams ask for SSE", function()
    local a = one({ kind = "anthropic", api_key = "k", version = "2026-10-21", base_url = "http://127.0.0.1:9/v1", models = { "c" } },
      chat('{"model":"c","stream":true,"messages":[{"role":"user","content":"hi"}]}'))
    assert.are.equal("http://127.0.0.1:9/v1/messages", a.url)
    assert.are.same({ "x-api-key: k", "anthropic-version: 2026-10-21", "Content-Type: application/json", "Accept: text/event-stream" }, a.headers)
    assert.is_true(a.translate)
    assert.are.equal('{"model":"c","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":4096,"stream":true}', a.body)
    assert.has_error(function() config.build(cfg({ p = { kind = "anthropic", api_key = "k", version = 3 } })) end,
      'providers.p.version: must be a non-empty string like "2023-06-01"')
  end)
end)

describe("provider kind gemini", function()
  it("builds generateContent / streamGenerateContent?alt=sse URLs with x-goog-api-key", function()
    local a = one({ kind = "gemini", api_key = "g", models = { "gemini-2.5-flash" } }, chat('{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}'))
    assert.are.equal("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent", a.url)
    assert.are.same({ "x-goog-api-key: g", "Content-Type: application/json" }, a.headers)
    assert.are.equal('{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}', a.body)
    a = one({ kind = "gemini", api_key = "g", api_version = "v1", models = { "gemini-2.5-flash" } },
      chat('{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}'))
    assert.are.equal("https://generativelanguage.googleapis.com/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse", a.url)
    assert.are.same({ "x-goog-api-key: g", "Content-Type: application/json", "Accept: text/event-stream" }, a.headers)
  end)

  it("relays a Gemini client's body untouched, model from the path (with '/')", function()
    local raw = '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[],"generationConfig":{"seed":12345678901234567890}}'
    local a, res = one({ kind = "gemini", api_key = "g", models = { "alpha/m-fast" } },
      { method = "POST", path = "/v1/models/alpha/m-fast:streamGenerateContent", query = "alt=sse", body = raw })
    assert.are.equal("stream_generate", res.endpoint)
    assert.are.equal("gemini", res.dialect)
    assert.is_true(res.stream)
    assert.are.equal("https://generativelanguage.googleapis.com/v1beta/models/alpha%2Fm-fast:streamGenerateContent?alt=sse", a.url)
    assert.are.equal(raw, a.body)
  end)
end)

describe("provider kind azure", function()
  it("uses deployments and api-version with an api-key header", function()
    local p = { kind = "azure", base_url = "https://res.openai.azure.com", api_key = "az", deployments = { ["gpt-4o"] = "prod-4o" },
      models = { "gpt-4o", "gpt-4o-mini" } }
    local a = one(p, chat('{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'))
    assert.are.equal("https://res.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21", a.url)
    assert.are.same({ "api-key: az", "Content-Type: application/json" }, a.headers)
    assert.are.equal('{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}', a.body)
    a = one(p, chat('{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'))
    assert.are.equal("https://res.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", a.url)
    assert.are.equal('{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}', a.body)
  end)

  it("supports the v1 API (model = deployment) and a custom api_version", function()
    local a = one({ kind = "azure", base_url = "https://res.openai.azure.com/openai/v1", api_key = "az", api_version = "v1",
      deployments = { ["gpt-4o"] = "prod-4o" }, models = { "gpt-4o" } }, chat('{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}'))
    assert.are.equal("https://res.openai.azure.com/openai/v1/chat/completions", a.url)
    assert.are.equal('{"model":"prod-4o","messages":[{"role":"user","content":"x"}]}', a.body)
    a = one({ kind = "azure", base_url = "https://r.openai.azure.com", api_key = "az", api_version = "2025-04-01-preview", models = { "e" } },
      { method = "POST", path = "/v1/embeddings", body = '{"model":"e","input":"x"}' })
    assert.are.equal("https://r.openai.azure.com/openai/deployments/e/embeddings?api-version=2025-04-01-preview", a.url)
  end)

  it("rejects bad deployments", function()
    assert.has_error(function()
      config.build(cfg({ p = { kind = "azure", base_url = "https://r", api_key = "k", deployments = { a = "bad name" } } }))
    end, 'providers.p.deployments: entries must be model = "deployment-name" (letters, digits, - . _)')
  end)
end)

describe("OpenAI-compatible presets", function()
  it("kind = \"groq\" and kind = \"openai\", preset = \"groq\" are the same provider", function()
    local c = config.build(cfg({
      a = { kind = "groq", api_key = "k", models = { "llama" } },
      b = { kind = "openai", preset = "groq", api_key = "k", models = { "llama" } },
    }))
    for _, n in ipairs({ "a", "b" }) do
      local P = c.providers[n]
      assert.are.equal("openai", P.kind)
      assert.are.equal("groq", P.preset)
      assert.are.equal("openai", P.dialect)
      assert.are.equal("https://api.groq.com/openai/v1", P.base_url)
    end
  end)

  it("groq: drops the fields it rejects and messages[].name, keeping everything else byte for byte", function()
    local a = one({ kind = "groq", api_key = "gk", models = { "llama" } },
      chat('{"model":"llama","messages":[{"role":"user","name":"bob","content":"hi"},{"role":"assistant","content":"x"}],"logprobs":true,"top_logprobs":2,"n":1,"tools":[],"seed":12345678901234567890}'))
    assert.are.equal("https://api.groq.com/openai/v1/chat/completions", a.url)
    assert.are.same({ "Authorization: Bearer gk", "Content-Type: application/json" }, a.headers)
    assert.are.equal('{"model":"llama","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"x"}],"tools":[],"seed":12345678901234567890}', a.body)
  end)

  it("mistral: seed becomes random_seed (raw value)", function()
    local a = one({ kind = "mistral", api_key = "mk", models = { "mistral-large" } },
      chat('{"model":"mistral-large","seed":12345678901234567890,"messages":[{"role":"user","content":"x"}]}'))
    assert.are.equal("https://api.mistral.ai/v1/chat/completions", a.url)
    assert.are.equal('{"model":"mistral-large","messages":[{"role":"user","content":"x"}],"random_seed":12345678901234567890}', a.body)
  end)

  it("openrouter: attribution headers from config, base URL", function()
    local a = one({ kind = "openrouter", api_key = "or", referer = "https://app.example", title = "My App", models = { "openai/gpt-4o" } },
      chat('{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}'))
    assert.are.equal("https://openrouter.ai/api/v1/chat/completions", a.url)
    assert.are.same({ "Authorization: Bearer or", "HTTP-Referer: https://app.example", "X-OpenRouter-Title: My App", "X-Title: My App",
      "Content-Type: application/json" }, a.headers)
    assert.are.equal('{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}', a.body)
  end)

  it("ollama: keyless without an api_key, /v1 base, unsupported fields dropped", function()
    local a = one({ kind = "ollama", models = { "llama3" } }, chat('{"model":"llama3","tool_choice":"auto","user":"u","messages":[{"role":"user","content":"x"}]}'))
    assert.are.equal("http://localhost:11434/v1/chat/completions", a.url)
    assert.are.same({ "Content-Type: application/json" }, a.headers)
    assert.are.equal('{"model":"llama3","messages":[{"role":"user","content":"x"}]}', a.body)
  end)

  it("every preset has a base URL; perplexity has no /v1", function()
    local presets = require("moongate.providers.presets")
    for name, pr in pairs(presets.list) do
      assert.truthy(pr.base_url:match("^https?://"), name)
      local c = config.build(cfg({ p = { kind = name, api_key = "k", models = { "m" } } }))
      assert.are.equal(pr.base_url, c.providers.p.base_url)
    end
    local a = one({ kind = "perplexity", api_key = "pk", models = { "sonar" } }, chat('{"model":"sonar","n":1,"messages":[{"role":"user","content":"x"}]}'))
    assert.are.equal("https://api.perplexity.ai/chat/completions", a.url)
    assert.are.equal('{"model":"sonar","messages":[{"role":"user","content":"x"}]}', a.body)
  end)

  it("rejects unknown presets and presets on other kinds", function()
    assert.has_error(function() config.build(cfg({ p = { kind = "openai", preset = "nope", api_key = "k" } })) end,
      "providers.p.preset: unknown preset 'nope' (known: deepseek, fireworks, groq, lmstudio, mistral, ollama, openrouter, perplexity, together, vllm, xai)")
    assert.has_error(function() config.build(cfg({ p = { kind = "anthropic", preset = "groq", api_key = "k" } })) end,
      'providers.p.preset: presets are for kind "openai"')
  end)

  it("plain openai providers still need base_url", function()
    assert.has_error(function() config.build(cfg({ p = { kind = "openai", api_key = "k" } })) end, "providers.p.base_url: must be a string")
  end)
end)

describe("client dialects in the host", function()
  it("classifies the Anthropic and Gemini endpoints", function()
    assert.are.same({ "messages", "anthropic" }, { Request.classify("/v1/messages") })
    assert.are.same({ "count_tokens", "anthropic" }, { Request.classify("/v1/messages/count_tokens") })
    assert.are.same({ "generate", "gemini", "gemini-2.5-flash" }, { Request.classify("/v1beta/models/gemini-2.5-flash:generateContent") })
    assert.are.same({ "stream_generate", "gemini", "alpha/m-fast" }, { Request.classify("/v1/models/alpha/m-fast:streamGenerateContent") })
    assert.are.same({ "count_tokens", "gemini", "g" }, { Request.classify("/v1beta/models/g:countTokens") })
    assert.are.same({ "models", "openai" }, { Request.classify("/v1/models/ft:gpt-4o:org:custom") })
    assert.is_nil(Request.classify("/v1beta/models/x:unknownMethod"))
  end)

  local gw
  before_each(function()
    gw = t.load{ config = cfg({
      mock = { kind = "openai", base_url = "http://127.0.0.1:9001/v1", api_key = false, models = { "mock-small" } },
      claude = { kind = "anthropic", api_key = "sk-ant", models = { "claude-x" } },
      gem = { kind = "gemini", api_key = "g", models = { "gemini-2.5-flash" } },
    }) }
  end)

  it("an Anthropic client on an OpenAI provider gets a translated attempt and a translator", function()
    local res = gw:handle{ method = "POST", path = "/v1/messages",
      body = '{"model":"mock-small","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}' }
    assert.are.equal("anthropic", res.dialect)
    assert.are.equal("messages", res.endpoint)
    assert.is_true(res.stream)
    assert.is_false(res.hide_usage)
    local a = res.attempts[1]
    assert.is_true(a.translate)
    assert.are.equal("http://127.0.0.1:9001/v1/chat/completions", a.url)
    assert.are.equal('{"model":"mock-small","messages":[{"role":"user","content":"hi"}],"max_tokens":10,"stream":true,"stream_options":{"include_usage":true}}', a.body)
    local tr = host.translator(res, 1)
    assert.is_not_nil(tr)
    assert.are_not.equal(tr, host.translator(res, 1)) -- a fresh stream state per response
    local frames = tr:event(nil, '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"mock-small","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}')
      .. tr:event(nil, '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"mock-small","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}')
      .. tr:event(nil, '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"mock-small","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}')
      .. tr:event(nil, '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"mock-small","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}')
      .. tr:event(nil, "[DONE]") .. tr:finish()
    assert.truthy(frames:find("^event: message_start\n"))
    assert.truthy(frames:find("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n$"))
    assert.are.same({ input = 4, output = 1 }, tr.usage)
  end)

  it("an OpenAI client on an Anthropic provider; same-dialect attempts have no translator", function()
    local res = gw:handle(chat('{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}'))
    assert.are.equal("openai", res.dialect)
    assert.is_true(res.attempts[1].translate)
    res = gw:handle(chat('{"model":"mock-small","messages":[{"role":"user","content":"hi"}]}'))
    assert.is_nil(res.attempts[1].translate)
    assert.is_nil(res.translators)
    assert.is_nil(host.translator(res, 1))
  end)

  it("a Gemini client on an Anthropic provider: model from the path", function()
    local res = gw:handle{ method = "POST", path = "/v1beta/models/claude-x:generateContent",
      body = '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":9}}' }
    local a = res.attempts[1]
    assert.are.equal("https://api.anthropic.com/v1/messages", a.url)
    assert.are.equal('{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"max_tokens":9}', a.body)
    assert.is_false(res.stream)
  end)

  it("answers rejections and wrong methods in the client's dialect", function()
    local r = gw:handle{ method = "POST", path = "/v1/messages", id = "r1", body = '{"model":"nope","max_tokens":1,"messages":[{"role":"user","content":"x"}]}' }
    assert.are.equal(404, r.status)
    assert.are.equal("not_found_error", cjson.decode(r.body).error.type)
    assert.are.equal("error", cjson.decode(r.body).type)
    r = gw:handle{ method = "POST", path = "/v1beta/models/gemini-2.5-flash:generateContent", body = '{"contents":[]}' }
    assert.are.equal(400, r.status)
    assert.are.same({ code = 400, message = "contents must be a non-empty array (request id " .. r.body:match("request id ([^)]+)") .. ")", status = "INVALID_ARGUMENT" },
      cjson.decode(r.body).error)
    r = gw:handle{ method = "GET", path = "/v1/messages" }
    assert.are.equal(405, r.status)
    assert.are.equal("Allow: POST\r\n", r.headers)
    assert.are.equal("invalid_request_error", cjson.decode(r.body).error.type)
  end)

  it("token counting for another dialect is a labelled local estimate; same dialect is relayed", function()
    local r = gw:handle{ method = "POST", path = "/v1/messages/count_tokens",
      body = '{"model":"mock-small","messages":[{"role":"user","content":"twelve bytes"}]}' }
    assert.are.equal(200, r.status)
    assert.are.same({ input_tokens = 3 }, cjson.decode(r.body))   -- 12 bytes of text / 4
    assert.matches("x%-moongate%-token%-estimate", r.headers)
    r = gw:handle{ method = "POST", path = "/v1beta/models/mock-small:countTokens",
      body = '{"contents":[{"role":"user","parts":[{"text":"abcde"}]}]}' }
    assert.are.same({ totalTokens = 2 }, cjson.decode(r.body))
    r = gw:handle{ method = "POST", path = "/v1/messages/count_tokens", body = '{"model":"claude-x","messages":[{"role":"user","content":"x"}]}' }
    assert.are.equal("https://api.anthropic.com/v1/messages/count_tokens", r.attempts[1].url)
  end)

  it("endpoints that do not translate answer 501 in the client's dialect, not to be retried", function()
    local r = gw:handle{ method = "POST", path = "/v1/embeddings", body = '{"model":"claude-x","input":"x"}' }
    assert.are.equal(501, r.status)
    assert.are.equal("not_implemented", cjson.decode(r.body).error.code)
    assert.matches("x%-should%-retry: false", r.headers)
  end)

  it("host.error_body shapes errors per dialect", function()
    assert.are.equal('{"type":"error","error":{"type":"overloaded_error","message":"m"}}', host.error_body("anthropic", 529, nil, nil, "m"))
    assert.are.equal('{"error":{"code":502,"message":"m","status":"UNAVAILABLE"}}', host.error_body("gemini", 502, "upstream_error", "upstream_unavailable", "m"))
    assert.are.equal('{"error":{"message":"m","type":"upstream_error","param":null,"code":"upstream_unavailable"}}', host.error_body("openai", 502, "upstream_error", "upstream_unavailable", "m"))
  end)
end)
