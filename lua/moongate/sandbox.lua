-- moongate.sandbox: loads a policy file into a restricted environment.
--
-- Owns: the policy's globals (a fresh table per load with safe functions
-- only, copies of string/table/math so a policy cannot patch the trusted
-- library), a strict environment (reading or writing an undeclared global
-- raises), `require` limited to moongate.* modules, and turning the JIT off
-- for every function of the policy: the C side's deadline is a count hook,
-- and Debian's LuaJIT does not fire count hooks inside compiled loops, so the
-- policy must stay interpreted (the trusted lua/ library may stay compiled).
local sandbox = {}

local type, pairs, error, tostring, setmetatable, getmetatable, rawget, rawset, setfenv, loadfile =
  type, pairs, error, tostring, setmetatable, getmetatable, rawget, rawset, setfenv, loadfile

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- Only moongate.* modules, and the real (shared) module is returned.
local function safe_require(name)
  if type(name) ~= "string" or not name:match("^moongate%.[%w_%.]+$") then
    error("require: module '" .. tostring(name) .. "' is not allowed in a policy (only moongate.*)", 2)
  end
  return require(name)
end

-- getmetatable that does not hand out the string metatable (shared with the
-- trusted code: patching its __index would change every string method).
local function safe_getmetatable(v)
  if type(v) == "string" then return nil end
  return getmetatable(v)
end

local function print_stderr(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  io.stderr:write(table.concat(parts, "\t"), "\n")
end

--- sandbox.env(opts) -> a fresh environment table for one policy.
-- opts.getenv replaces os.getenv (tests); opts.moongate extra fields for the
-- `moongate` global.
function sandbox.env(opts)
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local env = {
    string = copy(string), table = copy(table), math = copy(math),
    pairs = pairs, ipairs = ipairs, next = next, select = select, type = type,
    tostring = tostring, tonumber = tonumber, error = error, assert = assert,
    pcall = pcall, xpcall = xpcall, unpack = unpack,
    setmetatable = setmetatable, getmetatable = safe_getmetatable,
    rawget = rawget, rawset = rawset, rawequal = rawequal,
    os = { time = os.time, clock = os.clock, date = os.date, getenv = function(n) return getenv(n) end },
    print = print_stderr,
    require = safe_require,
    moongate = {
      json = require("moongate.json"),
      router = require("moongate.router"),
      log = print_stderr,
    },
  }
  for k, v in pairs(opts.moongate or {}) do env.moongate[k] = v end
  return setmetatable(env, {
    __index = function(_, k) error("undeclared global '" .. tostring(k) .. "'", 2) end,
    __newindex = function(_, k) error("undeclared global '" .. tostring(k) .. "' (declare it with local)", 2) end,
  })
end

--- sandbox.load(path [, opts]) -> hooks table, env
-- Raises "<path>: ..." when the file cannot be loaded, fails while running,
-- or does not return a table with a route function.
function sandbox.load(path, opts)
  local chunk, err = loadfile(path)
  if not chunk then error(err, 0) end
  local env = sandbox.env(opts)
  setfenv(chunk, env)
  -- Recursively: the chunk and every function defined in it stay interpreted.
  if jit then jit.off(chunk, true) end
  local hooks = chunk()
  if type(hooks) ~= "table" then
    error(path .. ": policy must return a table of hooks with a route function (got " .. type(hooks) .. ")", 0)
  end
  if type(rawget(hooks, "route")) ~= "function" then
    error(path .. ": policy must define route(req) in the table it returns", 0)
  end
  for _, h in ipairs({ "init", "on_done" }) do
    local f = rawget(hooks, h)
    if f ~= nil and type(f) ~= "function" then error(path .. ": policy hook '" .. h .. "' must be a function", 0) end
  end
  return hooks, env
end

return sandbox
