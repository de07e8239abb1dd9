-- examples/policies/strip_tools.lua
local t = require("moongate.testing")

local POLICY = "examples/policies/strip_tools.lua"
local SHELL = '{"type":"function","function":{"name":"shell","parameters":{"type":"object","properties":{}}}}'
local SEARCH = '{"type":"function","function":{"name":"search","parameters":{"required":[]}}}'

describe("example policy strip_tools", function()
  local gw
  before_each(function()
    gw = t.load{ config = "examples/moongate.lua", policy = POLICY }
  end)

  local function body_of(raw)
    return gw:handle{ path = "/v1/chat/completions", body = raw }.attempts[1].body
  end

  it("strips denied tools and keeps the rest byte for byte", function()
    local raw = '{"model":"mock-small","messages":[{}],"tools":[' .. SHELL .. ', ' .. SEARCH .. '],"tool_choice":"auto"}'
    assert.are.equal('{"model":"mock-small","messages":[{}],"tools":[' .. SEARCH .. '],"tool_choice":"auto"}', body_of(raw))
  end)

  it("removes tools and tool_choice when every tool is denied", function()
    local raw = '{"model":"mock-small","tools":[' .. SHELL .. '],"tool_choice":{"type":"function","function":{"name":"shell"}},"messages":[{}]}'
    assert.are.equal('{"model":"mock-small","messages":[{}]}', body_of(raw))
  end)

  it("leaves bodies without denied tools identical", function()
    local raw = '{"model":"mock-small","messages":[{}],"tools":[' .. SEARCH .. ']}'
    assert.is_true(rawequal(raw, body_of(raw)))
    raw = '{"model":"mock-small","messages":[{}]}'
    assert.is_true(rawequal(raw, body_of(raw)))
  end)

  it("refuses with 400 when configured to refuse", function()
    local cfg = { providers = { p = { base_url = "http://p/v1", api_key = "k", models = { "m" } } },
                  options = { denied_tools = { "search" }, tools_mode = "refuse" } }
    local g = t.load{ config = cfg, policy = POLICY }
    local res = g:handle{ path = "/v1/chat/completions", body = '{"model":"m","messages":[{}],"tools":[' .. SHELL .. "," .. SEARCH .. "]}" }
    assert.are.equal(400, res.status)
    local e = t.decode(res.body).error
    assert.are.equal("tool_not_allowed", e.code)
    assert.matches("tool 'search' is not allowed", e.message)
    local plan = g:route{ body = '{"model":"m","messages":[{}],"tools":[' .. SHELL .. "]}" }
    assert.are.same({ { provider = "p", model = "m" } }, plan)
  end)

  it("rejects an unknown mode at load", function()
    local cfg = { providers = { p = { base_url = "http://p/v1", api_key = "k" } }, options = { tools_mode = "maybe" } }
    local ok, err = pcall(t.load, { config = cfg, policy = POLICY })
    assert.is_false(ok)
    assert.matches("tools_mode", err)
  end)
end)
