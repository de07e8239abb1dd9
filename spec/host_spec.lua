-- moongate.host: what C receives from host.load / host.handle / host.done.
local t = require("moongate.testing")
local host = require("moongate.host")

local files = {}
local function write(src)
  local p = os.tmpname()
  local f = assert(io.open(p, "w"))
  f:write(src)
  f:close()
  files[#files + 1] = p
  return p
end

local function config(over)
  local c = {
    providers = {
      openai = { kind = "openai", base_url = "https://api.example.com/v1/", api_key = "sk-1",
                 models = { "gpt-4o-mini", "gpt-4o" } },
      mock = { kind = "openai", base_url = "http://127.0.0.1:9001/v1", api_key = false, models = { "mock-small" },
               timeouts = { connect = 2, first_byte = 30 }, retries = 3, backoff = { base = 0.5 } },
      off = { kind = "openai", base_url = "http://off/v1", models = { "off-1" } },
    },
    aliases = { auto = { { provider = "mock", model = "mock-small" } } },
    defaults = { timeouts = { idle = 45 } },
  }
  for k, v in pairs(over or {}) do c[k] = v end
  return c
end

local function chat(body, extra)
  local spec = { method = "POST", path = "/v1/chat/completions", body = body }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return spec
end

describe("moongate.host", function()
  teardown(function()
    for _, p in ipairs(files) do os.remove(p) end
  end)

  local gw
  before_each(function() gw = t.load{ config = config() } end)

  describe("compiled attempts", function()
    it("has the url, headers, method, and millisecond integers", function()
      local res = gw:handle(chat('{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'))
      assert.are.equal("proxy", res.kind)
      assert.are.equal("chat", res.endpoint)
      assert.is_false(res.stream)
      assert.is_false(res.hide_usage)
      assert.are.equal("openai", res.dialect)
      local a = res.attempts[1]
      assert.are.same({
        provider = "openai", model = "gpt-4o", url = "https://api.example.com/v1/chat/completions", method = "POST",
        headers = { "Authorization: Bearer sk-1", "Content-Type: application/json" },
        body = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}',
        retries = 1, backoff_base = 200, backoff_cap = 2000,
        connect = 5000, first_byte = 60000, idle = 45000, total = 600000,
      }, a)
      for _, k in ipairs({ "connect", "first_byte", "idle", "total", "backoff_base", "backoff_cap" }) do
        assert.are.equal(math.floor(a[k]), a[k])
      end
    end)

    it("uses the provider's values, and a keyless provider sends no Authorization", function()
      local a = gw:handle(chat({ model = "mock-small", messages = { { role = "user", content = "x" } } })).attempts[1]
      assert.are.equal("http://127.0.0.1:9001/v1/chat/completions", a.url)
      assert.are.same({ "Content-Type: application/json" }, a.headers)
      assert.are.equal(2000, a.connect)
      assert.are.equal(30000, a.first_byte)
      assert.are.equal(45000, a.idle)
      assert.are.equal(3, a.retries)
      assert.are.equal(500, a.backoff_base)
      assert.are.equal(2000, a.backoff_cap)
    end)

    it("maps endpoints to URLs", function()
      local a = gw:handle({ path = "/v1/embeddings", body = { model = "gpt-4o", input = "x" } }).attempts[1]
      assert.are.equal("https://api.example.com/v1/embeddings", a.url)
      a = gw:handle({ path = "/v1/completions", body = { model = "gpt-4o", prompt = "x" } }).attempts[1]
      assert.are.equal("https://api.example.com/v1/completions", a.url)
    end)

    it("keeps an unchanged body as the identical string", function()
      local raw = '{ "model" : "gpt-4o", "messages":[{"role":"user","content":"\\ud83d\\ude00 é"}], "tools": [],'
        .. ' "meta": {}, "seed": 12345678901234567890, "temperature": 0.1000000000000000055511151231257827 }'
      local a = gw:handle(chat(raw)).attempts[1]
      assert.are.equal(raw, a.body)
      assert.is_true(rawequal(raw, a.body))
    end)

    it("rewrites only the model (no provider prefix), every other byte survives", function()
      local raw = '{ "model" : "openai/gpt-4o", "messages":[{"role":"user","content":"\\ud83d\\ude00 é"}], "tools": [],'
        .. ' "meta": {}, "seed": 12345678901234567890 }'
      local a = gw:handle(chat(raw)).attempts[1]
      assert.are.equal("gpt-4o", a.model)
      assert.are.equal((raw:gsub('"openai/gpt%-4o"', '"gpt-4o"')), a.body)
      a = gw:handle(chat('{"model":"auto","messages":[{}]}')).attempts[1]
      assert.are.equal('{"model":"mock-small","messages":[{}]}', a.body)
    end)

    it("adds stream_options.include_usage when the client streams without it", function()
      local res = gw:handle(chat('{"model":"gpt-4o","stream":true,"messages":[{}]}'))
      assert.is_true(res.stream)
      assert.is_true(res.hide_usage)
      local a = res.attempts[1]
      assert.are.equal('{"model":"gpt-4o","stream":true,"messages":[{}],"stream_options":{"include_usage":true}}', a.body)
      assert.are.same({ "Authorization: Bearer sk-1", "Content-Type: application/json", "Accept: text/event-stream" },
        a.headers)
    end)

    it("merges into the client's stream_options", function()
      local res = gw:handle(chat('{"model":"gpt-4o","stream":true,"stream_options":{"include_obfuscation":false},"messages":[{}]}'))
      assert.is_true(res.hide_usage)
      assert.are.equal('{"model":"gpt-4o","stream":true,"stream_options":{"include_obfuscation":false,"include_usage":true},"messages":[{}]}',
        res.attempts[1].body)
      res = gw:handle(chat('{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":false},"messages":[{}]}'))
      assert.is_true(res.hide_usage)
      assert.are.equal('{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{}]}',
        res.attempts[1].body)
    end)

    it("leaves the body alone when the client asked for usage", function()
      local raw = '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{}]}'
      local res = gw:handle(chat(raw))
      assert.is_true(res.stream)
      assert.is_false(res.hide_usage)
      assert.are.equal(raw, res.attempts[1].body)
    end)

    it("never adds stream_options to embeddings or non-streaming requests", function()
      local raw = '{"model":"gpt-4o","input":"x","stream":true}'
      local res = gw:handle({ path = "/v1/embeddings", body = raw })
      assert.is_false(res.hide_usage)
      assert.are.equal(raw, res.attempts[1].body)
      raw = '{"model":"gpt-4o","stream":false,"messages":[{}]}'
      res = gw:handle(chat(raw))
      assert.are.equal(raw, res.attempts[1].body)
    end)

    it("builds one body per attempt model (fallbacks)", function()
      local g = t.load{ config = config({ aliases = { auto = { "openai/gpt-4o", "mock/mock-small", "openai/gpt-4o-mini" } } }) }
      local res = g:handle(chat('{"model":"auto","messages":[{}]}'))
      local models = {}
      for i, a in ipairs(res.attempts) do models[i] = a.body:match('"model":"([^"]+)"') end
      table.sort(models)
      assert.are.same({ "gpt-4o", "gpt-4o-mini", "mock-small" }, models)
    end)
  end)

  describe("local endpoints", function()
    it("aggregates /v1/models from enabled providers plus aliases", function()
      local res = gw:handle({ method = "GET", path = "/v1/models" })
      assert.are.equal("local", res.kind)
      assert.are.equal(200, res.status)
      assert.are.equal("application/json", res.content_type)
      assert.are.equal("models", res.endpoint)
      assert.are.equal('{"object":"list","data":['
        .. '{"id":"gpt-4o","object":"model","created":0,"owned_by":"openai"},'
        .. '{"id":"gpt-4o-mini","object":"model","created":0,"owned_by":"openai"},'
        .. '{"id":"mock-small","object":"model","created":0,"owned_by":"mock"},'
        .. '{"id":"auto","object":"model","created":0,"owned_by":"moongate"}]}', res.body)
    end)

    it("filters /v1/models by ?vendor= and 404s an unknown vendor", function()
      local res = gw:handle({ method = "GET", path = "/v1/models", query = "vendor=mock" })
      assert.are.same({ object = "list", data = { { id = "mock-small", object = "model", created = 0, owned_by = "mock" } } },
        t.decode(res.body))
      res = gw:handle({ method = "GET", path = "/v1/models", query = "vendor=off" })
      assert.are.equal(404, res.status)
    end)

    it("answers /v1/models/{id} or 404", function()
      local res = gw:handle({ method = "GET", path = "/v1/models/gpt-4o" })
      assert.are.equal(200, res.status)
      assert.are.equal("openai", t.decode(res.body).owned_by)
      res = gw:handle({ method = "GET", path = "/v1/models/auto" })
      assert.are.equal("moongate", t.decode(res.body).owned_by)
      res = gw:handle({ method = "GET", path = "/v1/models/off-1", id = "r9" })
      assert.are.equal(404, res.status)
      local e = t.decode(res.body).error
      assert.are.equal("model_not_found", e.code)
      assert.matches("request id r9", e.message)
    end)

    it("404s unknown paths and 405s wrong methods", function()
      local res = gw:handle({ method = "GET", path = "/nope", id = "r1" })
      assert.are.equal(404, res.status)
      local e = t.decode(res.body).error
      assert.are.same({ "message", "type", "param", "code" }, (function()
        local keys = {}
        for _, k in ipairs({ "message", "type", "param", "code" }) do if e[k] ~= nil then keys[#keys + 1] = k end end
        return keys
      end)())
      assert.matches("%(request id r1%)$", e.message)
      res = gw:handle({ method = "GET", path = "/v1/chat/completions" })
      assert.are.equal(405, res.status)
      assert.are.equal("Allow: POST\r\n", res.headers)
      assert.are.equal("chat", res.endpoint)
      res = gw:handle({ method = "POST", path = "/v1/models", body = "{}" })
      assert.are.equal(405, res.status)
    end)
  end)

  describe("Azure-style inbound (/openai/deployments/{model}/...)", function()
    local MSG = '[{"role":"user","content":"hi"}]'
    local function az(dep, body, extra, suffix)
      local spec = { method = "POST", path = "/openai/deployments/" .. dep .. (suffix or "/chat/completions"),
                     query = "api-version=2024-10-21", headers = { ["api-key"] = "client-key" }, body = body }
      for k, v in pairs(extra or {}) do spec[k] = v end
      return spec
    end
    local agw
    before_each(function()
      local c = config()
      c.providers.ant = { kind = "anthropic", base_url = "https://ant.example.com", api_key = "ak", models = { "claude-x" } }
      c.aliases.smart = { { provider = "ant", model = "claude-x" } }
      agw = t.load{ config = c }
    end)

    it("is an OpenAI chat request whose model is the deployment (body without model: no 400)", function()
      local res = agw:handle(az("gpt-4o", '{"messages":' .. MSG .. '}'))
      assert.are.equal("proxy", res.kind)
      assert.are.equal("chat", res.endpoint)
      assert.are.equal("openai", res.dialect)
      local a = res.attempts[1]
      assert.are.equal("openai", a.provider)
      assert.are.equal("gpt-4o", a.model)
      assert.are.equal("https://api.example.com/v1/chat/completions", a.url)
      assert.are.equal('{"messages":' .. MSG .. ',"model":"gpt-4o"}', a.body)
      -- the provider's key only: the client's api-key is never sent upstream
      assert.are.same({ "Authorization: Bearer sk-1", "Content-Type: application/json" }, a.headers)
    end)

    it("resolves the deployment like a body model: provider/model (%2F or raw /), bare id, alias, auto", function()
      local cases = {
        { "openai%2Fgpt-4o-mini", "openai", "gpt-4o-mini" }, { "openai/gpt-4o-mini", "openai", "gpt-4o-mini" },
        { "mock-small", "mock", "mock-small" }, { "auto", "mock", "mock-small" }, { "smart", "ant", "claude-x" },
      }
      for _, c in ipairs(cases) do
        local a = agw:handle(az(c[1], '{"messages":' .. MSG .. '}')).attempts[1]
        assert.are.same({ c[2], c[3] }, { a.provider, a.model }, c[1])
      end
      local res = agw:handle(az("nope", '{"messages":' .. MSG .. '}', { id = "r7" }))
      assert.are.equal(404, res.status)
      assert.are.same({ code = "model_not_found", param = "model", type = "not_found",
                        message = "model 'nope' not found; available: claude-x, gpt-4o, gpt-4o-mini, mock-small, auto, smart (request id r7)" },
                      t.decode(res.body).error)
    end)

    it("the deployment wins over the body's model; Routeur-Model / Routeur-Provider win over both", function()
      local body = '{"model":"gpt-4o","messages":' .. MSG .. '}'
      local a = agw:handle(az("mock-small", body)).attempts[1]
      assert.are.same({ "mock", "mock-small" }, { a.provider, a.model })
      assert.are.equal('{"model":"mock-small","messages":' .. MSG .. '}', a.body)
      a = agw:handle(az("mock-small", body, { headers = { ["Routeur-Model"] = "gpt-4o-mini" } })).attempts[1]
      assert.are.same({ "openai", "gpt-4o-mini" }, { a.provider, a.model })
      a = agw:handle(az("openai%2Fgpt-4o", body, { headers = { ["Routeur-Provider"] = "mock" } })).attempts[1]
      assert.are.same({ "mock", "gpt-4o" }, { a.provider, a.model })
      -- ?vendor= still restricts, next to api-version
      local res = agw:handle(az("gpt-4o", body, { query = "api-version=2024-10-21&vendor=mock" }))
      assert.are.equal(404, res.status)
      assert.matches("not available from vendor 'mock'", t.decode(res.body).error.message)
    end)

    it("the policy sees the deployment as the body's model", function()
      local plan, req = agw:route(az("smart", '{"model":"gpt-4o","messages":' .. MSG .. '}'))
      assert.are.equal("smart", req:json().model)
      assert.are.equal("smart", req.path_model)
      assert.are.same({ { provider = "ant", model = "claude-x" } }, plan)
    end)

    it("streams, and reaches an Anthropic provider translated", function()
      local res = agw:handle(az("smart", '{"stream":true,"messages":' .. MSG .. '}'))
      assert.is_true(res.stream)
      assert.is_true(res.hide_usage)
      assert.are.equal("openai", res.dialect)
      local a = res.attempts[1]
      assert.is_true(a.translate)
      assert.are.equal("https://ant.example.com/v1/messages", a.url)
      assert.are.same({ "x-api-key: ak", "anthropic-version: 2023-06-01", "Content-Type: application/json",
                        "Accept: text/event-stream" }, a.headers)
      assert.matches('^{"model":"claude%-x",', a.body)
    end)

    it("accepts any api-version or none", function()
      for _, q in ipairs({ "", "api-version=2099-01-01-preview", "api-version=" }) do
        local res = agw:handle(az("gpt-4o", '{"messages":' .. MSG .. '}', { query = q }))
        assert.are.equal("https://api.example.com/v1/chat/completions", res.attempts[1].url, q)
      end
    end)

    it("completions and embeddings the same way; embeddings to an Anthropic provider is a 501", function()
      local a = agw:handle(az("gpt-4o", '{"input":"x"}', nil, "/embeddings")).attempts[1]
      assert.are.equal("https://api.example.com/v1/embeddings", a.url)
      assert.are.equal('{"input":"x","model":"gpt-4o"}', a.body)
      a = agw:handle(az("mock-small", '{"prompt":"x"}', nil, "/completions")).attempts[1]
      assert.are.equal("http://127.0.0.1:9001/v1/completions", a.url)
      local res = agw:handle(az("smart", '{"input":"x"}', nil, "/embeddings"))
      assert.are.equal(501, res.status)
      assert.are.equal("not_implemented", t.decode(res.body).error.code)
    end)

    it("answers OpenAI-shaped errors: 405, 404 for an unknown sub-path, 400 for a bad body", function()
      local res = agw:handle({ method = "GET", path = "/openai/deployments/gpt-4o/chat/completions" })
      assert.are.equal(405, res.status)
      assert.are.equal("Allow: POST\r\n", res.headers)
      assert.are.equal("method_not_allowed", t.decode(res.body).error.code)
      res = agw:handle(az("gpt-4o", "{}", { id = "r2" }, "/audio/speech"))
      assert.are.equal(404, res.status)
      local e = t.decode(res.body).error
      assert.are.equal("not_found", e.code)
      assert.matches("Azure%-style routes: POST /openai/deployments/{model}/chat/completions", e.message)
      assert.matches("%(request id r2%)$", e.message)
      res = agw:handle(az("gpt-4o", "not json"))
      assert.are.equal(400, res.status)
      assert.are.equal("invalid_json", t.decode(res.body).error.code)
      res = agw:handle(az("gpt-4o", '{"messages":[]}'))
      assert.are.equal(400, res.status)
      assert.are.equal("invalid_messages", t.decode(res.body).error.code)
    end)
  end)

  describe("passthrough", function()
    it("relays path, query, method, body and content type unchanged", function()
      local raw = '{"model":"openai/gpt-4o","input":[],"n":12345678901234567890}'
      local res = gw:handle({ method = "POST", path = "/v1/responses", query = "a=1&vendor=openai&b=2", body = raw,
                              headers = { ["Content-Type"] = "application/json; charset=utf-8" } })
      local a = res.attempts[1]
      assert.are.equal("openai", a.provider)
      assert.are.equal("https://api.example.com/v1/responses?a=1&b=2", a.url)
      assert.are.equal("POST", a.method)
      assert.is_true(rawequal(raw, a.body))
      assert.are.same({ "Authorization: Bearer sk-1", "Content-Type: application/json; charset=utf-8" }, a.headers)
    end)

    it("sends no body on GET", function()
      local a = gw:handle({ method = "GET", path = "/v1/files/f-1/content", headers = { ["Routeur-Provider"] = "mock" } }).attempts[1]
      assert.are.equal("http://127.0.0.1:9001/v1/files/f-1/content", a.url)
      assert.is_nil(a.body)
      assert.are.equal("GET", a.method)
      assert.are.same({}, a.headers)
    end)
  end)

  describe("policy results", function()
    local function with_policy(src)
      return t.load{ config = config(), policy = write(src) }
    end

    it("turns nil, status, message into an OpenAI envelope", function()
      local g = with_policy('return { route = function() return nil, 403, "no way" end }')
      local res = g:handle(chat('{}', { id = "abc" }))
      assert.are.equal(403, res.status)
      assert.are.equal("chat", res.endpoint)
      local e = t.decode(res.body).error
      assert.are.equal("no way (request id abc)", e.message)
      assert.are.equal("permission_denied", e.type)
      assert.matches('"param":null,"code":null', res.body)
      for status, typ in pairs({ [400] = "invalid_request_error", [401] = "authentication_error", [404] = "not_found",
                                 [429] = "rate_limit_exceeded", [503] = "api_error" }) do
        g = with_policy("return { route = function() return nil, " .. status .. ', "x", "c1" end }')
        res = g:handle(chat("{}"))
        assert.are.equal(status, res.status)
        assert.are.equal(typ, t.decode(res.body).error.type)
        assert.are.equal("c1", t.decode(res.body).error.code)
      end
    end)

    it("fills attempt overrides given in seconds", function()
      local g = with_policy([[return { route = function()
        return { { provider = "openai", model = "gpt-4o", retries = 0, timeouts = { total = 1.5 }, backoff = { cap = 0.05 } } }
      end }]])
      local a = g:handle(chat('{"model":"x"}')).attempts[1]
      assert.are.equal(0, a.retries)
      assert.are.equal(1500, a.total)
      assert.are.equal(5000, a.connect)
      assert.are.equal(50, a.backoff_cap)
      assert.are.equal(200, a.backoff_base)
      assert.are.equal('{"model":"gpt-4o"}', a.body)
    end)

    it("rejects invalid plans with a clear error", function()
      local cases = {
        ['{ { provider = "nope", model = "m" } }'] = "attempt 1: unknown provider 'nope'",
        ['{ { provider = "off", model = "m" } }'] = "attempt 1: provider 'off' is not enabled",
        ['{ { provider = "openai" } }'] = "attempt 1: model must be a non%-empty string",
        ['{}'] = "non%-empty array",
        ['"x"'] = "non%-empty array",
        ['{ { provider = "openai", model = "m", retries = -1 } }'] = "retries must be",
        ['{ { provider = "openai", model = "m", timeouts = { total = 0 } } }'] = "timeouts.total: must be > 0",
        ['nil, 200, "ok"'] = "HTTP error status",
      }
      for ret, msg in pairs(cases) do
        local g = with_policy("return { route = function() return " .. ret .. " end }")
        local ok, err = pcall(g.handle, g, chat('{"model":"x"}'))
        assert.is_false(ok, ret)
        assert.matches("^policy returned invalid plan: .*" .. msg, err)
      end
    end)

    it("lets policy errors propagate with the policy's file:line", function()
      local p = write('return { route = function(req)\n  error("boom")\nend }')
      local g = t.load{ config = config(), policy = p }
      local ok, err = pcall(g.handle, g, chat("{}"))
      assert.is_false(ok)
      assert.are.equal(p .. ":2: boom", err)
      -- An error raised in trusted code on the policy's behalf names the policy line too.
      p = write('local router = require("moongate.router")\nreturn { route = function(req)\n'
        .. '  local plan = router.route(nil, nil)\n  return plan\nend }')
      g = t.load{ config = config(), policy = p }
      ok, err = pcall(g.handle, g, chat('{"model":"gpt-4o","messages":[{}]}'))
      assert.is_false(ok)
      assert.matches("^" .. p:gsub("%p", "%%%0") .. ":3: .*router%.lua:%d+: attempt to index", err)
      -- Caller mistakes in the req API point at the policy line directly.
      p = write('return { route = function(req)\n  req:set_field(1, 2)\nend }')
      g = t.load{ config = config(), policy = p }
      ok, err = pcall(g.handle, g, chat("{}"))
      assert.is_false(ok)
      assert.are.equal(p .. ":2: set_field: key must be a string", err)
    end)

    it("runs init(config) once at load and reports its errors", function()
      local p = write("local n = 0\nreturn { init = function(c) n = n + 1; assert(c.providers.openai) end,\n"
        .. "route = function() return nil, 418 + n, 'n' end }")
      local g = t.load{ config = config(), policy = p }
      assert.are.equal(419, g:handle(chat("{}")).status)
      p = write("return { init = function() error('bad init') end, route = function() end }")
      local ok, err = pcall(t.load, { config = config(), policy = p })
      assert.is_false(ok)
      assert.matches(p:gsub("%p", "%%%0") .. ":1: bad init", err)
    end)
  end)

  describe("the C entry points", function()
    it("host.load returns the settings, host.handle and host.done use that instance", function()
      local log = os.tmpname()
      files[#files + 1] = log
      local pol = write("local seen\nreturn { route = function() return { { provider = 'm', model = 'x' } } end,\n"
        .. "on_done = function(s) seen = s.id; return seen end }")
      local cfgp = write(([[return { listen = "127.0.0.1:9", workers = 3, max_body = 1024, policy_timeout = 0.5,
        policy = %q, providers = { m = { base_url = "http://m/v1", api_key = "none", models = { "x" } } } }]]):format(pol))
      local s = host.load(cfgp)
      assert.are.same({ listen = "127.0.0.1:9", workers = 3, max_body = 1024, policy_timeout = 0.5, has_on_done = true }, s)
      local res = host.handle(t.fake_core(chat('{"model":"x"}')))
      assert.are.equal("http://m/v1/chat/completions", res.attempts[1].url)
      assert.are.equal("id-1", host.done({ id = "id-1", status = 200 }))
    end)

    it("reports has_on_done = false without the hook", function()
      local cfgp = write([[return { providers = { m = { base_url = "http://m/v1", api_key = "k" } } }]])
      assert.is_false(host.load(cfgp).has_on_done)
    end)
  end)
end)
