-- The stock request path stays on LuaJIT's compiled path: the library
-- functions it runs (Host:compile, router.route, router.resolve,
-- Request.of) end up as finished traces, and no trace started in them is
-- aborted (a loop run once per request got blacklisted, a tail call returned
-- into xpcall: both kept the whole path interpreted). The policy itself runs
-- interpreted on purpose (sandbox: jit.off), so traces that reach it abort
-- "at default.lua"; those are expected. Read off LuaJIT's own trace log
-- (jit.v) for the requests of bench/lua_handle.lua.
local t = require("moongate.testing")

local jit_ok = type(jit) == "table" and jit.status and jit.status()

describe("the stock request path under LuaJIT", function()
  if not jit_ok then
    pending("the JIT is off in this Lua")
    return
  end

  it("is traced: host, router and request code finish traces and none of ours aborts", function()
    local gw = t.load{ config = "bench/moongate.lua", env = { BENCH_MOCK_PORT = "9001" } }
    local body = '{"model":"mock-small","messages":[{"role":"user","content":"Say hello."}]}'
    local P = require("moongate.request").PEEK
    local flags = P.OBJECT + P.MODEL + P.MODEL_STR + P.MESSAGES
    local cores = {}
    for i = 1, 50 do
      cores[i] = t.fake_core{ method = "POST", path = "/v1/chat/completions", body = body,
                              headers = { ["Content-Type"] = "application/json" } }
      cores[i].peek = function() return flags, "mock-small" end   -- what runtime/peek.c gives
    end
    local log = os.tmpname()
    local v = require("jit.v")
    jit.flush()
    v.start(log)
    for i = 1, 3000 do
      assert(gw.host:handle(cores[i % 50 + 1]).kind == "proxy")
    end
    v.off()
    local f = assert(io.open(log))
    local text = f:read("*a")
    f:close()
    os.remove(log)
    local finished, ours = {}, {}
    for line in text:gmatch("[^\n]+") do
      -- [TRACE  12 router.lua:72 return]  /  [TRACE --- router.lua:87 -- reason at ...]
      local at = line:match("^%[TRACE%s+%d+%s+(%S+)") or line:match("^%[TRACE%s+%d+%s+%(%d+/%d+%)%s+(%S+)")
      if at then finished[at:match("^([^:]+)")] = true end
      local start, why = line:match("^%[TRACE %-%-%- (%S+) %-%- (.*)%]$")
      if start and not start:find("testing.lua", 1, true) and not why:find("default.lua", 1, true) then
        ours[#ours + 1] = start .. " -- " .. why
      end
    end
    assert.same({}, ours)
    assert.is_true(finished["host.lua"], "no finished trace in host.lua:\n" .. text)
    assert.is_true(finished["router.lua"], "no finished trace in router.lua:\n" .. text)
    assert.is_true(finished["request.lua"], "no finished trace in request.lua:\n" .. text)
  end)
end)
