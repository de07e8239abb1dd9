-- fuzz/fuzz_json.lua - the checks fuzz_json.c runs on each input, against
-- lua/moongate/json.lua. Returns a function(input) that returns normally or
-- raises "INVARIANT: ..." (C then aborts, so libFuzzer saves the input).
--
-- Input: body [ "\0" key [ "\0" raw_value ] ]. Without a NUL the key is
-- "model" and the raw value '"x"'. Each input is checked with its own key and
-- with the body's first top-level keys, so edits of present members are
-- exercised as much as appends.
--
-- The contract (json.lua's header): scan/set_field/remove_field/array_items
-- return nil, err on input they cannot scan and never raise on a string;
-- get_raw returns nil. On a body that the strict decoder (json.decode, the
-- same cjson instance json.lua reads with) accepts as an object:
--   set_field(k, "1")  -> valid JSON, k decodes to 1, every other key equal;
--   set_field(k, raw)  -> when raw itself is valid JSON, k decodes to it;
--   remove_field(k)    -> valid JSON without k, every other key equal;
--   get_raw(k)         -> the raw text of the member cjson keeps (the last),
--                         nil when absent;
--   apply(several)     -> all of the above at once;
--   array_items(v)     -> for each array member (and an array body), the
--                         raw items decode to the elements, in order.
local json = require("moongate.json")

local decode = json.decode
local pcall, type, pairs, next, tostring, select = pcall, type, pairs, next, tostring, select
local byte, find, format = string.byte, string.find, string.format

local function fail(fmt, ...)
  error("INVARIANT: " .. format(fmt, ...), 0)
end

-- Never raises: calls f and turns a raise into an invariant failure.
local function call(name, f, ...)
  local r = { pcall(f, ...) }
  if not r[1] then fail("%s raised: %s", name, tostring(r[2])) end
  return select(2, unpack(r, 1, 3))
end

local function deep_eq(a, b, depth)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  if depth > 2000 then return false end
  for k, v in pairs(a) do
    if not deep_eq(v, b[k], depth + 1) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- cjson stops at a NUL byte ("{}\0junk" decodes), so a NUL anywhere makes
-- the text invalid here: raw JSON never holds one (RFC 8259: control
-- characters in strings are escaped).
local function try_decode(s)
  if find(s, "\0", 1, true) then return false end
  local ok, v = pcall(decode, s)
  if ok then return true, v end
  return false
end

-- The first non-whitespace byte.
local function first_byte(s)
  local i = find(s, "[^ \t\r\n]")
  return i and byte(s, i)
end

local function show(s)
  if #s > 200 then s = s:sub(1, 200) .. "..." end
  return format("%q", s)
end

-- Marks a key the edit must have removed (false is a JSON value).
local ABSENT = {}

-- Output of an edit must decode, and match `want` (key -> expected decoded
-- value, or ABSENT) on top of `before` (the decoded original).
local function check_edit(what, body, out, before, want)
  if type(out) ~= "string" then fail("%s on valid JSON returned %s", what, tostring(out)) end
  local ok, after = try_decode(out)
  if not ok then fail("%s produced invalid JSON from %s: %s", what, show(body), show(out)) end
  if type(after) ~= "table" then fail("%s: result is not an object", what) end
  for k, v in pairs(before) do
    local w = want[k]
    if w == nil then
      if not deep_eq(after[k], v, 0) then fail("%s changed key %s in %s", what, show(k), show(body)) end
    end
  end
  for k, w in pairs(want) do
    if w == ABSENT then
      if after[k] ~= nil then fail("%s left key %s in %s -> %s", what, show(k), show(body), show(out)) end
    elseif not deep_eq(after[k], w, 0) then
      fail("%s: key %s does not decode to the value set, in %s -> %s", what, show(k), show(body), show(out))
    end
  end
  for k in pairs(after) do
    if before[k] == nil and want[k] == nil then fail("%s added key %s", what, show(k)) end
  end
end

local function check_array(what, raw, decoded)
  local items, err = call("array_items", json.array_items, raw)
  if not items then fail("array_items failed on the valid array %s (%s): %s", what, show(raw), tostring(err)) end
  local n = 0
  for _ in pairs(decoded) do n = n + 1 end
  if #items ~= n then fail("array_items: %d items for %d elements in %s", #items, n, show(raw)) end
  for i = 1, #items do
    local ok, v = try_decode(items[i])
    if not ok or not deep_eq(v, decoded[i], 0) then
      fail("array_items: item %d %s does not decode to the element, in %s", i, show(items[i]), show(raw))
    end
  end
end

return function(input)
  local body, key, raw = input, "model", '"x"'
  local z = find(input, "\0", 1, true)
  if z then
    body = input:sub(1, z - 1)
    local rest = input:sub(z + 1)
    local z2 = find(rest, "\0", 1, true)
    if z2 then key, raw = rest:sub(1, z2 - 1), rest:sub(z2 + 1) else key = rest end
  end

  -- Never raise, whatever the bytes.
  local scan = call("scan", json.scan, body)
  call("array_items", json.array_items, body)
  local keys = { key }
  if scan then
    for i = 1, math.min(scan.n, 3) do keys[#keys + 1] = scan.key[i] end
  end
  for _, k in ipairs(keys) do
    call("get_raw", json.get_raw, body, k)
    local out, err = call("set_field", json.set_field, body, k, raw)
    if out == nil and type(err) ~= "string" then fail("set_field: nil without an error string") end
    out, err = call("remove_field", json.remove_field, body, k)
    if out == nil and type(err) ~= "string" then fail("remove_field: nil without an error string") end
  end
  if scan and scan.n > 0 then
    call("apply", json.apply, body, scan, { [keys[1]] = raw, [scan.key[1]] = false }, { keys[1] })
  end

  -- Valid JSON: the edits must be exact.
  local ok, before = try_decode(body)
  if not ok or type(before) ~= "table" then return end
  local fb = first_byte(body)
  if fb == 91 then -- '[': an array body
    check_array("body", body, before)
    return
  end
  if fb ~= 123 then fail("decoded to a table but starts with %s", tostring(fb)) end
  if not scan then fail("scan failed on a valid object %s", show(body)) end

  local raw_ok, raw_val = try_decode(raw)
  for _, k in ipairs(keys) do
    -- get_raw: the member cjson keeps.
    local g = call("get_raw", json.get_raw, body, k)
    if before[k] == nil then
      if g ~= nil then fail("get_raw found absent key %s: %s", show(k), show(g)) end
    else
      local gok, gv = false, nil
      if g then gok, gv = try_decode(g) end
      if not gok or not deep_eq(gv, before[k], 0) then
        fail("get_raw(%s) = %s does not decode to the member, in %s", show(k), show(tostring(g)), show(body))
      end
    end
    check_edit("set_field(" .. show(k) .. ", 1)", body, call("set_field", json.set_field, body, k, "1"), before, { [k] = 1 })
    if raw_ok then
      check_edit("set_field(" .. show(k) .. ", raw)", body, call("set_field", json.set_field, body, k, raw), before, { [k] = raw_val })
    end
    local rm = call("remove_field", json.remove_field, body, k)
    check_edit("remove_field(" .. show(k) .. ")", body, rm, before, { [k] = ABSENT })
    if before[k] == nil and rm ~= body then fail("remove_field of an absent key changed the body") end
  end
  -- Several edits in one pass: set the given key, remove the first, set the last.
  if scan.n > 0 then
    local first, last = scan.key[1], scan.key[scan.n]
    local edits, want = {}, {}
    edits[first], want[first] = false, ABSENT
    if last ~= first then edits[last], want[last] = '"L"', "L" end
    if key ~= first and key ~= last then edits[key], want[key] = "[1]", { 1 } end
    local out = call("apply", json.apply, body, scan, edits, { key, last })
    check_edit("apply", body, out, before, want)
  end
  -- Nothing edited: the very same string.
  if call("apply", json.apply, body, scan, {}, {}) ~= body then fail("apply without edits changed the body") end
  -- Array members.
  for i = 1, scan.n do
    local v = body:sub(scan.vstart[i], scan.vend[i])
    if byte(v, 1) == 91 then
      local vok, dv = try_decode(v)
      if not vok then fail("member %s %s is not valid JSON on its own", show(scan.key[i]), show(v)) end
      check_array("member " .. show(scan.key[i]), v, dv)
    end
  end
end
