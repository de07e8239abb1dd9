-- examples/policies/refuse_model.lua
local t = require("moongate.testing")

local POLICY = "examples/policies/refuse_model.lua"
local MSG = { { role = "user", content = "hi" } }

describe("example policy refuse_model", function()
  local gw
  before_each(function()
    gw = t.load{ config = "examples/moongate.lua", policy = POLICY, env = {} }
  end)

  it("refuses the configured models with 403, by body, prefix or header", function()
    for _, spec in ipairs({
      { body = { model = "mock-large", messages = MSG } },
      { body = { model = "mock/mock-large", messages = MSG } },
      { body = { model = "mock-small", messages = MSG }, headers = { ["Routeur-Model"] = "mock-large" } },
    }) do
      local plan, status, msg = gw:route(spec)
      assert.is_nil(plan)
      assert.are.equal(403, status)
      assert.matches("not allowed", msg)
    end
    local res = gw:handle{ body = { model = "mock-large", messages = MSG }, id = "q1" }
    assert.are.equal(403, res.status)
    local e = t.decode(res.body).error
    assert.are.equal("permission_denied", e.type)
    assert.are.equal("model 'mock-large' is not allowed by this gateway (request id q1)", e.message)
  end)

  it("lets other models through with the stock routing", function()
    local plan = gw:route{ body = { model = "mock-small", messages = MSG } }
    assert.are.same({ { provider = "mock", model = "mock-small" } }, plan)
    plan = gw:route{ body = { model = "auto", messages = MSG } }
    assert.are.same({ { provider = "mock", model = "mock-small" } }, plan)
  end)

  it("keeps the stock rejections", function()
    local _, status = gw:route{ body = { model = "nope", messages = MSG } }
    assert.are.equal(404, status)
  end)

  it("drops refused fallbacks, and uses its default list without options", function()
    local g = t.load{ policy = POLICY, config = {
      providers = { p = { base_url = "http://p/v1", api_key = "k", models = { "gpt-4o", "gpt-4o-mini" } } },
      aliases = { smart = { { provider = "p", model = "gpt-4o-mini", weight = 1 }, { provider = "p", model = "gpt-4o", weight = 0 } },
                  only_refused = { "p/gpt-4o" } },
    } }
    assert.are.same({ { provider = "p", model = "gpt-4o-mini" } }, (g:route{ body = { model = "smart", messages = MSG } }))
    local _, status = g:route{ body = { model = "gpt-4o", messages = MSG } }
    assert.are.equal(403, status)
    _, status = g:route{ body = { model = "only_refused", messages = MSG } }
    assert.are.equal(403, status)
  end)
end)
