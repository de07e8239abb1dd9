-- examples/policies/cap_max_tokens.lua
local t = require("moongate.testing")

local POLICY = "examples/policies/cap_max_tokens.lua"

describe("example policy cap_max_tokens", function()
  local gw
  before_each(function()
    gw = t.load{ config = "examples/moongate.lua", policy = POLICY }
  end)

  local function body_of(raw)
    return gw:handle{ path = "/v1/chat/completions", body = raw }.attempts[1].body
  end

  it("caps max_tokens to the configured limit, every other byte intact", function()
    local raw = '{"model":"mock-small","max_tokens":5000,"messages":[{"role":"user","content":"é"}],"tools":[],"seed":12345678901234567890}'
    assert.are.equal((raw:gsub("5000", "1024")), body_of(raw))
  end)

  it("caps max_completion_tokens too", function()
    local raw = '{"model":"mock-small","max_completion_tokens":99999,"messages":[{}]}'
    assert.are.equal('{"model":"mock-small","max_completion_tokens":1024,"messages":[{}]}', body_of(raw))
  end)

  it("leaves smaller or absent limits untouched (the identical body)", function()
    for _, raw in ipairs({
      '{"model":"mock-small","max_tokens":10,"messages":[{}]}',
      '{"model":"mock-small","messages":[{}]}',
      '{"model":"mock-small","max_tokens":1024,"messages":[{}]}',
    }) do
      assert.is_true(rawequal(raw, body_of(raw)))
    end
  end)

  it("rejects a non-numeric limit with 400", function()
    local res = gw:handle{ path = "/v1/chat/completions", body = '{"model":"mock-small","max_tokens":"lots","messages":[{}]}' }
    assert.are.equal(400, res.status)
    assert.are.equal("max_tokens", t.decode(res.body).error.param)
  end)

  it("reads the limit from options, with a default", function()
    local cfg = { providers = { p = { base_url = "http://p/v1", api_key = "k", models = { "m" } } }, options = { max_tokens_limit = 7 } }
    local g = t.load{ config = cfg, policy = POLICY }
    local plan, req = g:route{ body = { model = "m", messages = { {} }, max_tokens = 8 } }
    assert.is_table(plan)
    assert.are.equal(7, req:json().max_tokens)
    cfg.options = nil
    g = t.load{ config = cfg, policy = POLICY }
    plan, req = g:route{ body = { model = "m", messages = { {} }, max_tokens = 2000 } }
    assert.are.equal(1024, req:json().max_tokens)
  end)
end)
