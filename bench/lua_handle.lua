-- bench/lua_handle.lua: the Lua side of one request, alone (no C, no sockets):
-- host:handle on a fake core for the bench's non-stream request, with the
-- bench config and the stock policy. Prints microseconds and bytes of
-- garbage per request. Run from the repo root:
--   luajit bench/lua_handle.lua [N]          (add -jp=f for LuaJIT's profiler)
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
local t = require("moongate.testing")
local N = tonumber(arg and arg[1]) or 200000
local gw = t.load{ config = "bench/moongate.lua", env = { BENCH_MOCK_PORT = "9001" } }
local body = '{"model":"mock-small","messages":[{"role":"system","content":"You are a helpful assistant."},' ..
             '{"role":"user","content":"Say hello."}]}'
-- One core per request, built outside the timed loop (C builds its userdata too).
-- Like the C core, each has peek (runtime/peek.c reads the body's routing
-- fields without decoding it); here it returns what peek_body gives for this
-- body, so the Lua side is timed without the C scan.
local P = require("moongate.request").PEEK
local flags = P.OBJECT + P.MODEL + P.MODEL_STR + P.MESSAGES
local function peek() return flags, "mock-small" end
local cores = {}
for i = 1, 1000 do
  cores[i] = t.fake_core{ method = "POST", path = "/v1/chat/completions", body = body,
                          headers = { ["Content-Type"] = "application/json", Host = "127.0.0.1:8080" } }
  cores[i].peek = peek
end
local host = gw.host
for i = 1, 20000 do host:handle(cores[i % 1000 + 1]) end   -- warm the JIT
collectgarbage(); collectgarbage("stop")
local kb0 = collectgarbage("count")
local c0 = os.clock()
local chunk = 10000
local done = 0
local garbage = 0
while done < N do
  for i = 1, chunk do host:handle(cores[i % 1000 + 1]) end
  done = done + chunk
  garbage = garbage + (collectgarbage("count") - kb0)
  collectgarbage("restart"); collectgarbage(); collectgarbage("stop")
  kb0 = collectgarbage("count")
end
local secs = os.clock() - c0
collectgarbage("restart")
local plan = host:handle(cores[1])
assert(plan.kind == "proxy" and plan.attempts[1].provider == "mock", "unexpected plan")
print(string.format("%d requests: %.2f us/request (with GC), %.0f bytes of garbage/request",
                    N, secs / N * 1e6, garbage * 1024 / N))
