-- moongate.testing: the helper users write their policy specs with.
local t = require("moongate.testing")
local Request = require("moongate.request")

local MSG = { { role = "user", content = "hi" } }

describe("moongate.testing", function()
  describe("fake_core", function()
    it("behaves like the C core", function()
      local core = t.fake_core{ method = "POST", path = "/v1/chat/completions", id = "c1",
                                headers = { ["X-A"] = "1", { "X-B", "2" } }, body = "raw" }
      assert.are.equal("c1", core.id)
      assert.are.equal("POST", core.method)
      assert.are.equal("", core.query)
      assert.are.equal("1", core:header("x-a"))
      assert.are.equal("2", core:header("X-b"))
      assert.is_nil(core:header("x-c"))
      assert.are.same({ { "X-A", "1" }, { "X-B", "2" } }, core:headers())
      assert.are.equal("raw", core:body())
      core:finish()
      assert.has_error(function() core:body() end, "request finished")
    end)

    it("encodes table bodies and queries, splits a query off the path", function()
      local core = t.fake_core{ path = "/v1/models?vendor=a", body = { b = 1, a = { 1, 2 } } }
      assert.are.equal("/v1/models", core.path)
      assert.are.equal("vendor=a", core.query)
      assert.are.equal('{"a":[1,2],"b":1}', core:body())
      assert.are.equal("POST", core.method)
      core = t.fake_core{ query = { vendor = "a b", x = "1/2" } }
      assert.are.equal("vendor=a%20b&x=1%2F2", core.query)
      assert.are.equal("GET", core.method)
      assert.are.equal("", core:body())
      assert.are_not.equal(t.fake_core{}.id, t.fake_core{}.id)
    end)
  end)

  it("fake_request returns a Request", function()
    local req = t.fake_request{ path = "/v1/embeddings", body = { model = "m" } }
    assert.are.equal(Request, getmetatable(req))
    assert.are.equal("embeddings", req.endpoint)
    assert.are.equal("m", req:json().model)
  end)

  describe("load", function()
    it("loads a config file with a hermetic env", function()
      local gw = t.load{ config = "examples/moongate.lua" }
      assert.are.same({ "mock" }, gw.config.enabled)
      gw = t.load{ config = "examples/moongate.lua", env = { OPENAI_API_KEY = "sk-test", MOCK_URL = "http://h:1/v1" } }
      assert.are.same({ "mock", "openai" }, gw.config.enabled)
      assert.are.equal("http://h:1/v1", gw.config.providers.mock.base_url)
      assert.are.equal("sk-test", gw.config.providers.openai.api_key)
    end)

    it("loads a config table, with the stock policy by default", function()
      local gw = t.load{ config = { providers = { p = { base_url = "http://p/v1", api_key = "k", models = { "m" } } } } }
      assert.matches("scripts/default%.lua$", gw.config.policy)
      assert.is_function(gw.hooks.route)
    end)

    it("overrides the policy", function()
      local gw = t.load{ config = "examples/moongate.lua", policy = "examples/policies/require_header.lua" }
      assert.matches("examples/policies/require_header%.lua$", gw.config.policy)
      assert.is_function(gw.hooks.on_done)
    end)
  end)

  describe("route and handle", function()
    local gw
    before_each(function() gw = t.load{ config = "examples/moongate.lua" } end)

    it("route returns the policy's plan and the request", function()
      local plan, req = gw:route{ path = "/v1/chat/completions", body = { model = "mock-large", messages = MSG },
                                  headers = { ["Routeur-Model"] = "mock-small" } }
      assert.are.same({ { provider = "mock", model = "mock-small" } }, plan)
      assert.are.equal(Request, getmetatable(req))
      assert.are.equal("mock-large", req:json().model)
    end)

    it("route returns nil, status, message and the request on rejection", function()
      local plan, status, msg, req = gw:route{ body = { model = "nope", messages = MSG }, query = { vendor = "mock" } }
      assert.is_nil(plan)
      assert.are.equal(404, status)
      assert.is_string(msg)
      assert.are.equal("mock", req:arg("vendor"))
    end)

    it("handle returns the compiled plan", function()
      local res = gw:handle{ path = "/v1/chat/completions", body = { model = "auto", messages = MSG, stream = true } }
      assert.are.equal("proxy", res.kind)
      assert.is_true(res.hide_usage)
      assert.are.equal("http://127.0.0.1:9001/v1/chat/completions", res.attempts[1].url)
      assert.are.equal("Authorization: Bearer mock-key", res.attempts[1].headers[1])
      assert.are.equal("mock-small", t.decode(res.attempts[1].body).model)
    end)
  end)
end)
