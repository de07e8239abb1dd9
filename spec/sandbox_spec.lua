-- moongate.sandbox: what a policy can and cannot reach.
local sandbox = require("moongate.sandbox")

local files = {}
local function policy(src)
  local p = os.tmpname()
  local f = assert(io.open(p, "w"))
  f:write(src)
  f:close()
  files[#files + 1] = p
  return p
end

-- Runs `body` as the route of a policy and returns what route returns.
local function run(body)
  local hooks = sandbox.load(policy("return { route = function(req)\n" .. body .. "\nend }"))
  return hooks.route({})
end

describe("moongate.sandbox", function()
  teardown(function()
    for _, p in ipairs(files) do os.remove(p) end
  end)

  it("loads a policy returning a table with route", function()
    local hooks = sandbox.load(policy("local n = 0\nreturn { route = function() n = n + 1 return n end }"))
    assert.are.equal(1, hooks.route())
    assert.are.equal(2, hooks.route())
  end)

  it("fails the load naming the file when route is missing", function()
    local p = policy("return { init = function() end }")
    local ok, err = pcall(sandbox.load, p)
    assert.is_false(ok)
    assert.are.equal(p .. ": policy must define route(req) in the table it returns", err)
    p = policy("return 42")
    ok, err = pcall(sandbox.load, p)
    assert.is_false(ok)
    assert.matches("^" .. p:gsub("%p", "%%%0") .. ": policy must return a table", err)
  end)

  it("reports syntax and runtime errors with file:line", function()
    local p = policy("local x = \nreturn {")
    local ok, err = pcall(sandbox.load, p)
    assert.is_false(ok)
    assert.matches(p:gsub("%p", "%%%0"), err)
    p = policy("\nerror('boom')")
    ok, err = pcall(sandbox.load, p)
    assert.is_false(ok)
    assert.matches(p:gsub("%p", "%%%0") .. ":2: boom", err)
  end)

  it("hides io, debug, ffi, jit, load*, dofile and os.execute", function()
    for _, name in ipairs({ "io", "debug", "ffi", "jit", "loadstring", "load", "loadfile", "dofile",
      "package", "module", "getfenv", "setfenv", "collectgarbage", "newproxy", "_G" }) do
      local ok, err = pcall(run, "return " .. name)
      assert.is_false(ok, name)
      assert.matches("undeclared global '" .. name .. "'", err)
    end
    assert.is_nil(run("return os.execute"))
    assert.is_nil(run("return os.exit"))
    assert.is_nil(run("return os.remove"))
    assert.is_function(run("return os.time"))
    assert.is_function(run("return os.getenv"))
  end)

  it("raises on undeclared globals, read or write", function()
    local ok, err = pcall(run, "x = 1")
    assert.is_false(ok)
    assert.matches("undeclared global 'x'", err)
    ok, err = pcall(run, "return y")
    assert.is_false(ok)
    assert.matches("undeclared global 'y'", err)
  end)

  it("limits require to moongate.* and returns the shared module", function()
    assert.are.equal(require("moongate.json"), run('return require("moongate.json")'))
    local ok, err = pcall(run, 'return require("ffi")')
    assert.is_false(ok)
    assert.matches("not allowed in a policy", err)
    ok = pcall(run, 'return require("os")')
    assert.is_false(ok)
  end)

  it("gives copies of the standard tables so the trusted side cannot be patched", function()
    run("string.format = nil; table.concat = nil; math.floor = nil")
    assert.is_function(string.format)
    assert.is_function(table.concat)
    assert.is_function(math.floor)
    assert.is_nil(run('return getmetatable("")'))
  end)

  it("offers the moongate table", function()
    assert.are.equal(require("moongate.router"), run("return moongate.router"))
    assert.are.equal(require("moongate.json"), run("return moongate.json"))
  end)

  it("reads the environment through the injected getenv", function()
    local p = policy("return { route = function() return os.getenv('K') end }")
    local hooks = sandbox.load(p, { getenv = function(n) return n == "K" and "v" or nil end })
    assert.are.equal("v", hooks.route())
  end)

  it("turns the JIT off for the policy chunk and its functions", function()
    local s = spy.on(jit, "off")
    local p = policy("return { route = function() return 1 end }")
    sandbox.load(p)
    jit.off:revert()
    assert.spy(s).was.called(1)
    assert.are.equal(true, s.calls[1].vals[2])
    assert.is_function(s.calls[1].vals[1])
  end)

  it("keeps hot policy loops interpreted so a count hook still fires", function()
    local hooks = sandbox.load(policy([[
      return { route = function()
        local x = 0
        for i = 1, 2e8 do x = x + i % 7 end
        return x
      end }]]))
    local fired = 0
    debug.sethook(function()
      fired = fired + 1
      if fired > 50 then error("deadline") end
    end, "", 10000)
    local ok, err = pcall(hooks.route)
    debug.sethook()
    assert.is_false(ok)
    assert.matches("deadline", err)
  end)
end)
