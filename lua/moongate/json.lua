-- moongate.json: fidelity-preserving JSON edits on raw bytes.
--
-- Owns: the raw scanner (top-level members of an object, elements of an array,
-- with their byte spans), raw edits (set/remove a top-level member), and the
-- encoder for NEW values produced by Lua.
--
-- Why: Debian's lua-cjson 2.1.0 decodes `[]` and `{}` to the same empty table
-- and encodes numbers with 14 significant digits, so a decode/encode round
-- trip of a client body would corrupt it (empty arrays become objects, 19-digit
-- integers and long floats lose digits). The gateway therefore never
-- re-encodes a client body: it splices new values into the original bytes and
-- everything it did not touch (key order, whitespace, escapes, numbers)
-- survives byte for byte. When nothing is edited, the very same string is
-- returned. `json.decode` (cjson) is for reading only.
local cjson_mod = require("cjson")

local find, sub, byte, format, gsub = string.find, string.sub, string.byte, string.format, string.gsub
local concat, sort = table.concat, table.sort
local type, pairs, next, tostring, getmetatable, error = type, pairs, next, tostring, getmetatable, error
local floor, huge = math.floor, math.huge

local json = {}

-- A private cjson instance, so our settings never leak into other users of
-- the shared `cjson` module. Strict numbers: no NaN/Infinity/hex literals,
-- which no upstream would accept either.
local cjson = cjson_mod.new()
cjson.decode_invalid_numbers(false)

--- json.decode(text) -> value (raises on invalid JSON, like cjson). Read-only use.
json.decode = cjson.decode
--- json.null: the value cjson uses for JSON null.
json.null = cjson.null

--- Tables with this metatable encode as arrays, even when empty.
json.array_mt = { __name = "moongate.json.array" }
--- A ready-made empty array value: encodes as `[]`. Do not modify it.
json.empty_array = setmetatable({}, json.array_mt)

local B_QUOTE, B_BSLASH, B_LBRACE, B_RBRACE, B_LBRACK, B_RBRACK, B_COLON, B_COMMA =
  34, 92, 123, 125, 91, 93, 58, 44

-- Position of the first non-whitespace byte at or after i (nil at the end).
local function skip_ws(s, i)
  return (find(s, "[^ \t\r\n]", i))
end

-- s[i] is the opening quote of a string: returns the position of its closing quote.
local function string_end(s, i)
  local j = i + 1
  while true do
    local k = find(s, '["\\]', j)
    if not k then return nil, "unterminated string at byte " .. i end
    if byte(s, k) == B_QUOTE then return k end
    j = k + 2 -- skip the escaped byte (\" \\ \n, or the 'u' of \uXXXX)
  end
end

-- s[i] starts a value (after whitespace): returns the position of its last byte.
local function value_end(s, i)
  local c = byte(s, i)
  if c == B_QUOTE then return string_end(s, i) end
  if c == B_LBRACE or c == B_LBRACK then
    -- Nested container: only brackets and strings matter to find its end.
    local depth, j = 1, i + 1
    while true do
      local k = find(s, '["%[%]{}]', j)
      if not k then return nil, "unterminated container at byte " .. i end
      local b = byte(s, k)
      if b == B_QUOTE then
        local e, err = string_end(s, k)
        if not e then return nil, err end
        j = e + 1
      else
        if b == B_LBRACE or b == B_LBRACK then depth = depth + 1 else depth = depth - 1 end
        if depth == 0 then return k end
        j = k + 1
      end
    end
  end
  if c == nil or c == B_RBRACE or c == B_RBRACK or c == B_COMMA or c == B_COLON then
    return nil, "value expected at byte " .. i
  end
  -- Scalar (number, true, false, null): runs until a delimiter or whitespace.
  local k = find(s, "[,%]}: \t\r\n]", i)
  return k and k - 1 or #s
end

-- Decodes a raw key (the bytes between the quotes) when it holds escapes.
local function key_text(s, ks, ke)
  local k = sub(s, ks + 1, ke - 1)
  if find(k, "\\", 1, true) then
    local ok, v = pcall(cjson.decode, sub(s, ks, ke))
    if ok then return v end
  end
  return k
end

--- json.scan(raw) -> scan | nil, err
-- Scans a raw JSON object and returns its top-level members as parallel
-- arrays (few tables, no per-member churn):
--   scan.n, scan.key[i] (decoded key), scan.kstart[i] (its opening quote),
--   scan.vstart[i], scan.vend[i] (the raw value is raw:sub(vstart, vend)),
--   scan.open / scan.close (positions of `{` and `}`).
-- Duplicate keys are all listed, in order.
function json.scan(s)
  if type(s) ~= "string" then return nil, "not a string" end
  local i = skip_ws(s, 1)
  if not i or byte(s, i) ~= B_LBRACE then return nil, "not a JSON object" end
  local scan = { n = 0, key = {}, kstart = {}, vstart = {}, vend = {}, open = i }
  local n = 0
  i = skip_ws(s, i + 1)
  if i and byte(s, i) == B_RBRACE then scan.close = i; return scan end
  while true do
    if not i or byte(s, i) ~= B_QUOTE then return nil, "member name expected at byte " .. tostring(i or #s + 1) end
    local ke, err = string_end(s, i)
    if not ke then return nil, err end
    local colon = skip_ws(s, ke + 1)
    if not colon or byte(s, colon) ~= B_COLON then return nil, "':' expected at byte " .. tostring(colon or #s + 1) end
    local vs = skip_ws(s, colon + 1)
    if not vs then return nil, "value expected at end of input" end
    local ve
    ve, err = value_end(s, vs)
    if not ve then return nil, err end
    n = n + 1
    scan.key[n], scan.kstart[n], scan.vstart[n], scan.vend[n] = key_text(s, i, ke), i, vs, ve
    local d = skip_ws(s, ve + 1)
    local c = d and byte(s, d)
    if c == B_RBRACE then scan.close = d; break end
    if c ~= B_COMMA then return nil, "',' or '}' expected at byte " .. tostring(d or #s + 1) end
    i = skip_ws(s, d + 1)
  end
  scan.n = n
  return scan
end

--- json.array_items(raw_array) -> { raw element, ... } | nil, err
-- Each element is the exact raw text of one element (without surrounding whitespace).
function json.array_items(s)
  if type(s) ~= "string" then return nil, "not a string" end
  local i = skip_ws(s, 1)
  if not i or byte(s, i) ~= B_LBRACK then return nil, "not a JSON array" end
  local items, n = {}, 0
  i = skip_ws(s, i + 1)
  if i and byte(s, i) == B_RBRACK then return items end
  while true do
    if not i then return nil, "unterminated array" end
    local e, err = value_end(s, i)
    if not e then return nil, err end
    n = n + 1
    items[n] = sub(s, i, e)
    local d = skip_ws(s, e + 1)
    local c = d and byte(s, d)
    if c == B_RBRACK then return items end
    if c ~= B_COMMA then return nil, "',' or ']' expected at byte " .. tostring(d or #s + 1) end
    i = skip_ws(s, d + 1)
  end
end

--- json.get_raw(raw, key [, scan]) -> raw value text | nil
-- The raw text of a top-level member (the last one when the key is
-- duplicated, as cjson and most parsers keep the last).
function json.get_raw(s, key, scan)
  scan = scan or json.scan(s)
  if not scan then return nil end
  for i = scan.n, 1, -1 do
    if scan.key[i] == key then return sub(s, scan.vstart[i], scan.vend[i]) end
  end
  return nil
end

--- json.apply(raw, scan, edits, order) -> new raw (the same string when nothing changed)
-- Applies several top-level edits in one pass. `edits` maps key -> raw value
-- text (replace every occurrence, or append when absent) or `false` (remove
-- every occurrence, with its comma). `order` lists the keys to append, in
-- order (keys of `edits` missing from `order` are never appended).
function json.apply(s, scan, edits, order)
  local n = scan.n
  local keys, kstart, vstart, vend = scan.key, scan.kstart, scan.vstart, scan.vend
  -- The last member that stays: removals after it take the comma before them.
  local last_kept = 0
  for i = n, 1, -1 do
    if edits[keys[i]] ~= false then last_kept = i; break end
  end
  local out, o, pos, changed = {}, 0, 1, false
  local present
  for i = 1, n do
    local k = keys[i]
    local e = edits[k]
    if e ~= nil then
      present = present or {}
      present[k] = true
      if e == false then
        if i < last_kept then
          -- Remove "key": value, and the following separator up to the next key.
          o = o + 1; out[o] = sub(s, pos, kstart[i] - 1)
          pos = kstart[i + 1]
          changed = true
        end
      else
        o = o + 1; out[o] = sub(s, pos, vstart[i] - 1)
        o = o + 1; out[o] = e
        pos = vend[i] + 1
        changed = true
      end
    end
  end
  -- Members to append (absent keys with a value).
  local app
  if order then
    for _, k in ipairs(order) do
      local e = edits[k]
      if e and not (present and present[k]) then
        app = app or {}
        app[#app + 1] = json.encode(k) .. ":" .. e
        present = present or {}
        present[k] = true
      end
    end
  end
  local tail_removed = last_kept < n
  if last_kept == 0 then
    if n > 0 or app then
      -- Every member goes: keep the whitespace around them, put the appended ones in.
      local from, to = n > 0 and kstart[1] or scan.close, n > 0 and vend[n] or scan.close - 1
      o = o + 1; out[o] = sub(s, pos, from - 1)
      o = o + 1; out[o] = app and concat(app, ",") or ""
      pos = to + 1
      changed = true
    end
  elseif tail_removed or app then
    local from = vend[last_kept] + 1
    local to = tail_removed and vend[n] or vend[last_kept]
    o = o + 1; out[o] = sub(s, pos, from - 1)
    o = o + 1; out[o] = app and ("," .. concat(app, ",")) or ""
    pos = to + 1
    changed = true
  end
  if not changed then return s end
  o = o + 1; out[o] = sub(s, pos)
  return concat(out, "", 1, o)
end

--- json.set_field(raw, key, raw_value) -> new raw | nil, err
-- Replaces the value of a top-level member (every occurrence) or appends the
-- member before the closing brace. raw_value is inserted as is: encode Lua
-- values with json.encode first.
function json.set_field(s, key, raw_value)
  local scan, err = json.scan(s)
  if not scan then return nil, err end
  return json.apply(s, scan, { [key] = raw_value }, { key })
end

--- json.remove_field(raw, key) -> new raw (same string if absent) | nil, err
function json.remove_field(s, key)
  local scan, err = json.scan(s)
  if not scan then return nil, err end
  return json.apply(s, scan, { [key] = false })
end

-- Encoder -------------------------------------------------------------------

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
local function escape_char(c)
  return escapes[c] or format("\\u%04x", byte(c))
end

-- Strings: quote, backslash and control bytes are escaped; every other byte
-- (UTF-8 included) is copied as is.
local function encode_string(v)
  if not find(v, '[%c"\\]') then return '"' .. v .. '"' end
  return '"' .. gsub(v, '[%c"\\]', escape_char) .. '"'
end

local TWO_53 = 2 ^ 53

local function encode_number(v)
  if v ~= v or v == huge or v == -huge then error("json.encode: cannot encode NaN or infinity", 0) end
  if floor(v) == v and v > -TWO_53 and v < TWO_53 then return format("%.0f", v) end
  -- The shortest of %.15g/%.16g/%.17g that reads back as the same double
  -- (exact, and 0.1 stays "0.1" rather than 0.10000000000000001).
  local t = format("%.15g", v)
  if tonumber(t) ~= v then
    t = format("%.16g", v)
    if tonumber(t) ~= v then t = format("%.17g", v) end
  end
  return t
end

local function is_sequence(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local encode_value

local function encode_table(t, depth)
  if depth > 128 then error("json.encode: nesting too deep (cycle?)", 0) end
  local out = {}
  if getmetatable(t) == json.array_mt or is_sequence(t) then
    for i = 1, #t do out[i] = encode_value(t[i], depth + 1) end
    return "[" .. concat(out, ",") .. "]"
  end
  local keys, n = {}, 0
  for k in pairs(t) do
    local tk = type(k)
    if tk ~= "string" and tk ~= "number" then error("json.encode: cannot encode a " .. tk .. " key", 0) end
    n = n + 1; keys[n] = tostring(k)
  end
  if n == 0 then return "{}" end
  sort(keys)
  for i = 1, n do
    local k = keys[i]
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    out[i] = encode_string(k) .. ":" .. encode_value(v, depth + 1)
  end
  return "{" .. concat(out, ",") .. "}"
end

encode_value = function(v, depth)
  local tv = type(v)
  if tv == "string" then return encode_string(v)
  elseif tv == "number" then return encode_number(v)
  elseif tv == "boolean" then return v and "true" or "false"
  elseif v == nil or v == cjson.null then return "null"
  elseif tv == "table" then return encode_table(v, depth)
  end
  error("json.encode: cannot encode a " .. tv, 0)
end

--- json.encode(value) -> JSON text for a NEW value built in Lua.
-- Strings keep their UTF-8 bytes; integral numbers below 2^53 print as
-- integers; other numbers print exactly (shortest round-trip form); tables are
-- arrays when marked with json.array_mt or non-empty sequences, objects
-- otherwise (`{}` when empty), with keys sorted so output is deterministic.
function json.encode(v)
  return encode_value(v, 0)
end

return json
