-- moongate.config: validation names the field, env() and provider enablement.
local config = require("moongate.config")

local function write(text)
  local p = os.tmpname()
  local f = assert(io.open(p, "w"))
  f:write(text)
  f:close()
  return p
end

local function base(over)
  local c = {
    providers = {
      a = { kind = "openai", base_url = "http://127.0.0.1:1/v1", api_key = "k", models = { "m1", "m2" } },
    },
  }
  for k, v in pairs(over or {}) do c[k] = v end
  return c
end

local function err_of(c)
  local ok, err = pcall(config.build, c)
  assert.is_false(ok)
  return err
end

describe("moongate.config", function()
  it("runs under LuaJIT", function()
    assert.is_table(jit)
  end)

  describe("validation", function()
    it("names the field in errors", function()
      assert.are.equal("config must return a table", err_of(nil))
      assert.are.equal("providers: must be a table of name = { kind, base_url, api_key, models }", err_of({}))
      assert.are.equal("providers.openai.base_url: must be a string",
        err_of({ providers = { openai = { kind = "openai", api_key = "k" } } }))
      assert.matches("^providers%.a%.base_url: must start with http",
        err_of({ providers = { a = { base_url = "ftp://x", api_key = "k" } } }))
      assert.matches("^providers%.a%.models%[2%]: must be a non%-empty string",
        err_of({ providers = { a = { base_url = "http://x", api_key = "k", models = { "x", 3 } } } }))
      assert.matches("^providers%.a%.kind: unknown provider kind 'nope'",
        err_of({ providers = { a = { kind = "nope", base_url = "http://x", api_key = "k" } } }))
      assert.matches("^providers%.a%.api_key: must be a string",
        err_of({ providers = { a = { base_url = "http://x", api_key = 12 } } }))
      -- Found by fuzz/fuzz_config: a key with a line break became a second
      -- header line in every upstream request.
      assert.matches("^providers%.a%.api_key: must not contain line breaks",
        err_of({ providers = { a = { base_url = "http://x", api_key = "sk-1\r\nX-Injected: 1" } } }))
      assert.matches("^providers%.a%.api_key: must not contain line breaks",
        err_of({ providers = { a = { base_url = "http://x", api_key = "sk-1\r" } } }))
      assert.matches("^providers%.a%.base_url: must not contain spaces or control characters",
        err_of({ providers = { a = { base_url = "http://x/v1\r\nX: y", api_key = "k" } } }))
      assert.matches("^providers%.a%.timeouts%.conect: unknown timeout",
        err_of({ providers = { a = { base_url = "http://x", api_key = "k", timeouts = { conect = 1 } } } }))
      assert.matches("^providers%.a%.retries: must be an integer",
        err_of({ providers = { a = { base_url = "http://x", api_key = "k", retries = 1.5 } } }))
      assert.matches("^workers: must be >= 1", err_of(base({ workers = 0 })))
      assert.matches("^listen: must be a string", err_of(base({ listen = 8080 })))
      assert.matches("^defaults%.timeouts%.idle: must be a number",
        err_of(base({ defaults = { timeouts = { idle = "x" } } })))
      assert.matches("^aliases%.fast%[1%]%.provider: unknown provider 'zz'",
        err_of(base({ aliases = { fast = { { provider = "zz", model = "m" } } } })))
      assert.matches("^aliases%.fast: must be a non%-empty array",
        err_of(base({ aliases = { fast = {} } })))
      assert.matches("^policy: must be a path string", err_of(base({ policy = 3 })))
    end)
  end)

  describe("defaults", function()
    it("fills global defaults, provider values win", function()
      local cfg = config.build(base())
      local P = cfg.providers.a
      assert.are.same({ connect = 5, first_byte = 60, idle = 60, total = 600 }, P.timeouts)
      assert.are.equal(1, P.retries)
      assert.are.same({ base = 0.2, cap = 2 }, P.backoff)
      cfg = config.build(base({ defaults = { timeouts = { connect = 1 }, retries = 3 } }))
      assert.are.equal(1, cfg.providers.a.timeouts.connect)
      assert.are.equal(60, cfg.providers.a.timeouts.idle)
      assert.are.equal(3, cfg.providers.a.retries)
      local c = base()
      c.providers.a.timeouts = { total = 10 }
      c.providers.a.retries = 0
      cfg = config.build(c)
      assert.are.equal(10, cfg.providers.a.timeouts.total)
      assert.are.equal(5, cfg.providers.a.timeouts.connect)
      assert.are.equal(0, cfg.providers.a.retries)
    end)

    it("resolves the stock policy when none is named", function()
      local cfg = config.build(base(), { root = "/repo" })
      assert.are.equal("/repo/scripts/default.lua", cfg.policy)
    end)

    it("resolves a relative policy against the config directory, then the root", function()
      local dir = os.tmpname()
      os.remove(dir)
      os.execute("mkdir -p " .. dir)
      local f = assert(io.open(dir .. "/mine.lua", "w")); f:write("return {}"); f:close()
      local cfg = config.build(base({ policy = "mine.lua" }), { path = dir .. "/c.lua", root = "/nowhere" })
      assert.are.equal(dir .. "/mine.lua", cfg.policy)
      cfg = config.build(base({ policy = "scripts/default.lua" }), { path = dir .. "/c.lua", root = "." })
      assert.are.equal("./scripts/default.lua", cfg.policy)
      os.remove(dir .. "/mine.lua")
      os.remove(dir)
    end)
  end)

  describe("providers", function()
    it("disables providers without a key, keeps keyless ones", function()
      local cfg = config.build({
        providers = {
          nokey = { base_url = "http://x/v1", models = { "n" } },
          empty = { base_url = "http://x/v1", api_key = "", models = { "e" } },
          local1 = { base_url = "http://x/v1", api_key = false, models = { "l1" } },
          local2 = { base_url = "http://x/v1", api_key = "none", models = { "l2" } },
          keyed = { base_url = "http://x/v1/", api_key = "sk", models = { "k", "l1" } },
        },
      })
      assert.are.same({ "keyed", "local1", "local2" }, cfg.enabled)
      assert.is_false(cfg.providers.nokey.enabled)
      assert.is_false(cfg.providers.empty.enabled)
      assert.is_true(cfg.providers.local1.keyless)
      assert.is_nil(cfg.providers.local1.api_key)
      assert.are.equal("http://x/v1", cfg.providers.keyed.base_url)
      assert.are.same({ "k", "l1", "l2" }, cfg.model_ids)
      assert.is_nil(cfg.model_providers.n)
      assert.are.equal(2, #cfg.model_providers.l1)
      assert.are.equal("keyed", cfg.model_providers.l1[1].name)
      assert.are.equal("k, l1, l2, auto", cfg.available)
    end)

    it("drops alias targets on disabled providers and synthesizes auto", function()
      local cfg = config.build({
        providers = {
          on = { base_url = "http://x/v1", api_key = "k", models = { "a1", "a2" } },
          on2 = { base_url = "http://x/v1", api_key = "k", models = { "b1" } },
          off = { base_url = "http://x/v1", models = { "c" } },
        },
        aliases = { fast = { { provider = "off", model = "c" }, "on/a2" } },
      })
      assert.are.same({ { provider = "on", model = "a2", weight = 1 } }, cfg.aliases.fast)
      assert.are.same({ { provider = "on", model = "a1", weight = 1 }, { provider = "on2", model = "b1", weight = 0 } },
        cfg.aliases.auto)
      assert.are.same({ "auto", "fast" }, cfg.alias_names)
    end)
  end)

  describe("load", function()
    it("gives the config env(name, default) and reports file:line on errors", function()
      local p = write([[
        return {
          listen = env("LISTEN", "0.0.0.0:1"),
          providers = { a = { base_url = env("URL", "http://d/v1"), api_key = env("KEY"), models = { "m" } } },
        }]])
      local getenv = config.getenv_from({ URL = "http://u/v1", KEY = "" })
      local cfg = config.load(p, { getenv = getenv })
      assert.are.equal("0.0.0.0:1", cfg.listen)
      assert.are.equal("http://u/v1", cfg.providers.a.base_url)
      assert.is_false(cfg.providers.a.enabled)
      cfg = config.load(p, { getenv = config.getenv_from({ KEY = "sk" }) })
      assert.is_true(cfg.providers.a.enabled)
      assert.are.equal("sk", cfg.providers.a.api_key)
      os.remove(p)

      p = write("return {\n providers = nil + 1 }")
      local ok, err = pcall(config.load, p)
      assert.is_false(ok)
      assert.matches(p:gsub("%p", "%%%0") .. ":2:", err)
      os.remove(p)
    end)

    it("fails on a missing file", function()
      local ok, err = pcall(config.load, "/nonexistent/moongate.lua")
      assert.is_false(ok)
      assert.matches("/nonexistent/moongate.lua", err)
    end)
  end)
end)
