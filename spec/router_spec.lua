-- The stock routing precedence (moongate.router through scripts/default.lua).
local t = require("moongate.testing")
local router = require("moongate.router")

local CONFIG = {
  providers = {
    alpha = { kind = "openai", base_url = "http://alpha/v1", api_key = "ka", models = { "shared", "a-only" } },
    beta = { kind = "openai", base_url = "http://beta/v1", api_key = "kb", models = { "shared", "b-only", "org/slashed" } },
    off = { kind = "openai", base_url = "http://off/v1", api_key = nil, models = { "off-model" } },
    loc = { kind = "openai", base_url = "http://loc/v1", api_key = false, models = { "l1" } },
  },
  aliases = {
    auto = { { provider = "alpha", model = "a-only", weight = 1 }, { provider = "beta", model = "b-only", weight = 3 } },
    fast = { { provider = "beta", model = "b-only" }, { provider = "alpha", model = "a-only" }, { provider = "off", model = "off-model" } },
  },
}

local MSG = { { role = "user", content = "hi" } }

local function chat(model, extra)
  local spec = { method = "POST", path = "/v1/chat/completions", body = { model = model, messages = MSG } }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return spec
end

local function pairs_of(plan)
  local out = {}
  for i, a in ipairs(plan) do out[i] = a.provider .. ":" .. a.model end
  return out
end

describe("stock routing", function()
  local gw, saved
  before_each(function()
    gw = t.load{ config = CONFIG }
    saved = router.random
  end)
  after_each(function() router.random = saved end)

  local function route(spec)
    local plan, status, message = gw:route(spec)
    return plan and pairs_of(plan), status, message
  end

  describe("1. headers win over the body", function()
    it("provider and model headers", function()
      assert.are.same({ "beta:a-only" },
        route(chat("shared", { headers = { ["Routeur-Provider"] = "beta", ["Routeur-Model"] = "a-only" } })))
    end)

    it("provider header alone keeps the body model, strips a provider prefix", function()
      local h = { ["Routeur-Provider"] = "beta" }
      assert.are.same({ "beta:a-only" }, route(chat("a-only", { headers = h })))
      assert.are.same({ "beta:shared" }, route(chat("alpha/shared", { headers = h })))
      assert.are.same({ "beta:org/slashed" }, route(chat("org/slashed", { headers = h })))
      assert.are.same({ "beta:unlisted" }, route(chat("unlisted", { headers = h })))
      assert.are.same({ "beta:auto" }, route(chat("auto", { headers = h })))
    end)

    it("an unknown or disabled forced provider is a 404", function()
      local plan, status, msg = route(chat("shared", { headers = { ["Routeur-Provider"] = "nope" } }))
      assert.is_nil(plan)
      assert.are.equal(404, status)
      assert.matches("provider 'nope'", msg)
      plan, status = route(chat("shared", { headers = { ["Routeur-Provider"] = "off" } }))
      assert.is_nil(plan)
      assert.are.equal(404, status)
    end)

    it("model header alone resolves like a body model", function()
      router.random = function() return 0 end
      assert.are.same({ "beta:b-only", "alpha:a-only" },
        route(chat("alpha/a-only", { headers = { ["Routeur-Model"] = "fast" } })))
      assert.are.same({ "alpha:x" }, route(chat(nil, { headers = { ["Routeur-Model"] = "alpha/x" } })))
    end)
  end)

  describe("2. an explicit body model pins it", function()
    it("provider/model, listed or not", function()
      assert.are.same({ "alpha:a-only" }, route(chat("alpha/a-only")))
      assert.are.same({ "alpha:gpt-9" }, route(chat("alpha/gpt-9")))
      assert.are.same({ "loc:l1" }, route(chat("loc/l1")))
    end)

    it("a disabled provider prefix is a 404", function()
      local plan, status, msg = route(chat("off/off-model"))
      assert.is_nil(plan)
      assert.are.equal(404, status)
      assert.matches("provider 'off' is not enabled", msg)
    end)

    it("a bare id listed by one provider", function()
      assert.are.same({ "beta:b-only" }, route(chat("b-only")))
      assert.are.same({ "beta:org/slashed" }, route(chat("org/slashed")))
      assert.are.same({ "loc:l1" }, route(chat("l1")))
    end)

    it("a bare id listed by two providers: name order, the rest as fallbacks", function()
      assert.are.same({ "alpha:shared", "beta:shared" }, route(chat("shared")))
    end)

    it("a model id of a disabled provider is unknown", function()
      local plan, status = route(chat("off-model"))
      assert.is_nil(plan)
      assert.are.equal(404, status)
    end)
  end)

  describe("3. aliases", function()
    it("auto: weighted first choice, the other targets as fallbacks in order", function()
      router.random = function() return 0.1 end -- 0.4 of total 4: alpha (weight 1)
      assert.are.same({ "alpha:a-only", "beta:b-only" }, route(chat("auto")))
      router.random = function() return 0.5 end -- 2 of 4: beta (weight 3)
      assert.are.same({ "beta:b-only", "alpha:a-only" }, route(chat("auto")))
      router.random = function() return 0.999 end
      assert.are.same({ "beta:b-only", "alpha:a-only" }, route(chat("auto")))
    end)

    it("weights default to 1 and disabled targets are gone", function()
      router.random = function() return 0.75 end -- 1.5 of total 2: the second target
      assert.are.same({ "alpha:a-only", "beta:b-only" }, route(chat("fast")))
      router.random = function() return 0.2 end
      assert.are.same({ "beta:b-only", "alpha:a-only" }, route(chat("fast")))
    end)

    it("the weighted choice follows the weights over many draws", function()
      math.randomseed(42)
      local first = { alpha = 0, beta = 0 }
      for _ = 1, 4000 do
        local plan = gw:route(chat("auto"))
        first[plan[1].provider] = first[plan[1].provider] + 1
      end
      assert.is_true(first.beta > 2700 and first.beta < 3300, "beta chosen " .. first.beta .. " times")
    end)

    it("router.pick never draws weight-0 targets first", function()
      local targets = { { provider = "a", model = "1", weight = 0 }, { provider = "b", model = "2", weight = 1 } }
      assert.are.same({ { provider = "b", model = "2" }, { provider = "a", model = "1" } },
        router.pick(targets, function() return 0 end))
      targets[2].weight = 0
      assert.are.equal("a", router.pick(targets, function() return 0.9 end)[1].provider)
    end)
  end)

  describe("?vendor=", function()
    it("filters the candidates", function()
      assert.are.same({ "beta:shared" }, route(chat("shared", { query = "vendor=beta" })))
      assert.are.same({ "beta:b-only" }, route(chat("auto", { query = { vendor = "beta" } })))
      assert.are.same({ "alpha:x" }, route(chat("alpha/x", { query = "vendor=alpha" })))
    end)

    it("is a 404 when nothing is left or the vendor is unknown", function()
      local plan, status, msg = route(chat("a-only", { query = "vendor=beta" }))
      assert.is_nil(plan)
      assert.are.equal(404, status)
      assert.matches("not available from vendor 'beta'", msg)
      plan, status, msg = route(chat("shared", { query = "vendor=nope" }))
      assert.is_nil(plan)
      assert.are.equal(404, status)
      assert.matches("vendor 'nope' not found", msg)
      plan, status = route(chat("alpha/x", { query = "vendor=beta" }))
      assert.is_nil(plan)
      assert.are.equal(404, status)
    end)
  end)

  describe("client mistakes", function()
    it("unknown model: 404 listing the available models", function()
      local plan, status, msg = route(chat("nope"))
      assert.is_nil(plan)
      assert.are.equal(404, status)
      assert.are.equal("model 'nope' not found; available: a-only, b-only, l1, org/slashed, shared, auto, fast", msg)
      local res = gw:handle(chat("nope", { id = "rid-7" }))
      assert.are.equal(404, res.status)
      local e = t.decode(res.body).error
      assert.are.equal("model_not_found", e.code)
      assert.are.equal("not_found", e.type)
      assert.matches("%(request id rid%-7%)$", e.message)
    end)

    it("missing model: 400", function()
      local plan, status, msg = route(chat(nil))
      assert.is_nil(plan)
      assert.are.equal(400, status)
      assert.are.equal("missing required field: model", msg)
      plan, status = route({ path = "/v1/embeddings", body = { input = "x" } })
      assert.are.equal(400, status)
    end)

    it("messages must be a non-empty array on chat", function()
      local _, status, msg = route({ path = "/v1/chat/completions", body = { model = "shared", messages = {} } })
      assert.are.equal(400, status)
      assert.matches("messages", msg)
      _, status = route({ path = "/v1/chat/completions", body = '{"model":"shared","messages":"hi"}' })
      assert.are.equal(400, status)
      _, status = route({ path = "/v1/chat/completions", body = '{"model":"shared"}' })
      assert.are.equal(400, status)
      assert.are.same({ "alpha:shared", "beta:shared" }, route({ path = "/v1/embeddings", body = { model = "shared", input = "x" } }))
    end)

    it("a body that is not a JSON object: 400 invalid_request_error", function()
      local _, status, msg = route({ path = "/v1/chat/completions", body = "{nope" })
      assert.are.equal(400, status)
      assert.matches("not valid JSON", msg)
      _, status = route({ path = "/v1/chat/completions", body = "[1]" })
      assert.are.equal(400, status)
      local res = gw:handle({ path = "/v1/chat/completions", body = "{nope" })
      assert.are.equal(400, res.status)
      assert.are.equal("invalid_request_error", t.decode(res.body).error.type)
    end)

    it("a model that is not a string: 400", function()
      local _, status = route({ path = "/v1/chat/completions", body = '{"model":3,"messages":[{}]}' })
      assert.are.equal(400, status)
    end)
  end)

  describe("passthrough", function()
    it("picks the provider by header, vendor, body model, else the first openai provider", function()
      assert.are.same({ "beta:" }, route({ method = "GET", path = "/v1/files", headers = { ["Routeur-Provider"] = "beta" } }))
      assert.are.same({ "loc:" }, route({ method = "GET", path = "/v1/files", query = "vendor=loc" }))
      assert.are.same({ "beta:b-only" }, route({ path = "/v1/responses", body = { model = "b-only", input = "x" } }))
      assert.are.same({ "alpha:" }, route({ method = "GET", path = "/v1/files" }))
      assert.are.same({ "alpha:zzz" }, route({ path = "/v1/responses", body = { model = "zzz" } }))
      assert.are.same({ "alpha:" }, route({ path = "/v1/audio/speech", body = "not json" }))
    end)
  end)
end)
