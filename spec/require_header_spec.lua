-- examples/policies/require_header.lua
local t = require("moongate.testing")

local POLICY = "examples/policies/require_header.lua"
local BODY = { model = "mock-small", messages = { { role = "user", content = "hi" } } }

describe("example policy require_header", function()
  local gw
  before_each(function()
    gw = t.load{ config = "examples/moongate.lua", policy = POLICY }
  end)

  it("answers 401 without the header", function()
    local res = gw:handle{ body = BODY, id = "h1" }
    assert.are.equal(401, res.status)
    local e = t.decode(res.body).error
    assert.are.equal("authentication_error", e.type)
    assert.are.equal("missing X-Team header (request id h1)", e.message)
    res = gw:handle{ body = BODY, headers = { ["X-Team"] = "" } }
    assert.are.equal(401, res.status)
  end)

  it("answers 400 to a malformed team", function()
    local _, status = gw:route{ body = BODY, headers = { ["x-team"] = "blue team!" } }
    assert.are.equal(400, status)
    _, status = gw:route{ body = BODY, headers = { ["X-Team"] = string.rep("a", 65) } }
    assert.are.equal(400, status)
  end)

  it("routes with the header and keeps the team in req.ctx", function()
    local plan, req = gw:route{ body = BODY, headers = { ["X-TEAM"] = "blue-1" } }
    assert.are.same({ { provider = "mock", model = "mock-small" } }, plan)
    assert.are.equal("blue-1", req.ctx.team)
    local res = gw:handle{ body = BODY, headers = { ["X-Team"] = "blue" } }
    assert.are.equal("proxy", res.kind)
  end)

  it("uses the header named in options", function()
    local cfg = { providers = { p = { base_url = "http://p/v1", api_key = "k", models = { "m" } } },
                  options = { required_header = "X-Project" } }
    local g = t.load{ config = cfg, policy = POLICY }
    local _, status, msg = g:route{ body = { model = "m", messages = { {} } }, headers = { ["X-Team"] = "a" } }
    assert.are.equal(401, status)
    assert.are.equal("missing X-Project header", msg)
    assert.is_table((g:route{ body = { model = "m", messages = { {} } }, headers = { ["X-Project"] = "a" } }))
  end)

  it("prints one line per request in on_done", function()
    assert.is_true(gw.settings.has_on_done)
    local lines = {}
    local saved = io.stderr
    io.stderr = { write = function(_, ...) lines[#lines + 1] = table.concat({ ... }) end }
    local ok, err = pcall(gw.done, gw, { id = "r1", provider = "mock", model = "mock-small", status = 200 })
    io.stderr = saved
    assert.is_true(ok, err)
    assert.are.same({ "request r1: mock/mock-small status 200\n" }, lines)
  end)
end)
