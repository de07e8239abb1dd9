-- moongate.translate.gemini_schema: JSON Schema <-> Gemini Schema, on raw text.
--
-- Owns the rewrite of tool `parameters` and response schemas between OpenAI's
-- JSON Schema and Gemini's OpenAPI-3.0 subset (PROTOCOLS 4.2, 4.7), done on the
-- raw bytes: the walker visits schema objects only (the value of `properties`
-- is a map of names to schemas, `items` a schema, `anyOf` a list of schemas)
-- and copies every kept value it does not rewrite byte for byte, so `"required":[]`,
-- `"enum":[]`, big integers in `minimum`/`default`/`example`, key order and
-- unicode survive.
--
-- To Gemini (`to_gemini`):
--   * `type` becomes the upper-case Gemini Type ("object" -> "OBJECT"); a type
--     list ["string","null"] becomes "STRING" plus "nullable": true;
--   * only the keywords Gemini's Schema has are kept: type format title
--     description nullable enum maxItems minItems properties required
--     minProperties maxProperties minLength maxLength pattern example anyOf
--     propertyOrdering default items minimum maximum. Everything else is dropped,
--     notably $schema, $id, $ref, $defs/definitions (references are not
--     resolved), additionalProperties, const, oneOf/allOf, not, if/then/else,
--     patternProperties, strict.
-- What the subset cannot say (`fits`): the API refuses an OBJECT without
-- properties ("should be non-empty for OBJECT type"), an enum on a non-STRING
-- type, `items` that is not one schema (a tuple) and `required` naming no
-- property. The translator then sends the JSON Schema itself instead
-- (parametersJsonSchema / responseJsonSchema, PROTOCOLS 4.2).
-- To OpenAI (`to_openai`, a Gemini client's schema for an OpenAI upstream):
--   * upper-case types become lower-case; everything else is kept as is.
local json = require("moongate.json")
local C = require("moongate.translate.common")

local type, ipairs, pairs, next = type, ipairs, pairs, next
local sub, upper, lower, concat = string.sub, string.upper, string.lower, table.concat
local encode = C.encode

local S = {}

local KEEP = {}
for k in ([[type format title description nullable enum maxItems minItems properties required
  minProperties maxProperties minLength maxLength pattern example anyOf propertyOrdering default
  items minimum maximum]]):gmatch("%S+") do KEEP[k] = true end

local walk

local function schema_list(raw, mode)
  local items = C.items(raw)
  if not items then return raw end
  for i, it in ipairs(items) do items[i] = walk(it, mode) end
  return "[" .. concat(items, ",") .. "]"
end

local function property_map(raw, mode)
  local s = json.scan(raw)
  if not s then return raw end
  local out = {}
  for i = 1, s.n do
    out[i] = encode(s.key[i]) .. ":" .. walk(sub(raw, s.vstart[i], s.vend[i]), mode)
  end
  return "{" .. concat(out, ",") .. "}"
end

-- The `type` value: returns raw type text and whether it was nullable.
local function convert_type(raw, mode)
  local v = C.decode(raw)
  local conv = mode == "gemini" and upper or lower
  if type(v) == "string" then return encode(conv(v)), false end
  if type(v) == "table" then
    if mode == "gemini" then
      local first, nullable
      for _, t in ipairs(v) do
        if t == "null" then nullable = true elseif type(t) == "string" and not first then first = t end
      end
      return encode(upper(first or "string")), nullable
    end
    -- Strings lower-cased; any other element copied raw (never re-encoded).
    local items = C.items(raw)
    if not items then return raw, false end
    for i, it in ipairs(items) do
      local t = C.decode(it)
      if type(t) == "string" then items[i] = encode(lower(t)) end
    end
    return "[" .. concat(items, ",") .. "]", false
  end
  return raw, false
end

walk = function(raw, mode)
  local s = json.scan(raw)
  if not s then return raw end -- `true`, arrays, scalars: as is
  local out, has_nullable, add_nullable = {}, false, false
  for i = 1, s.n do
    local k = s.key[i]
    local v = sub(raw, s.vstart[i], s.vend[i])
    if mode ~= "gemini" or KEEP[k] then
      if k == "type" then
        local nullable
        v, nullable = convert_type(v, mode)
        if nullable then add_nullable = true end
      elseif k == "properties" then v = property_map(v, mode)
      elseif k == "items" then v = walk(v, mode)
      elseif k == "anyOf" or k == "oneOf" or k == "allOf" then v = schema_list(v, mode)
      elseif k == "nullable" then has_nullable = true
      end
      out[#out + 1] = encode(k) .. ":" .. v
    end
  end
  if add_nullable and not has_nullable then out[#out + 1] = '"nullable":true' end
  return "{" .. concat(out, ",") .. "}"
end

--- S.to_gemini(raw_schema) -> raw Gemini schema
function S.to_gemini(raw) return walk(C.trim(raw), "gemini") end
--- S.to_openai(raw_schema) -> raw JSON schema (lower-case types)
function S.to_openai(raw) return walk(C.trim(raw), "openai") end

-- One schema (decoded) fits Gemini's rules; depth-capped like the walk.
local function fits(v, depth)
  if type(v) ~= "table" then return false end
  if depth > 64 then return true end
  local t = type(v.type) == "string" and upper(v.type) or nil
  local props = v.properties
  if props ~= nil and type(props) ~= "table" then return false end
  if t == "OBJECT" and (props == nil or next(props) == nil) then return false end
  if v.enum ~= nil and t ~= nil and t ~= "STRING" then return false end
  for _, p in pairs(props or {}) do
    if not fits(p, depth + 1) then return false end
  end
  if v.items ~= nil and (type(v.items) ~= "table" or v.items[1] ~= nil or not fits(v.items, depth + 1)) then
    return false
  end
  if type(v.anyOf) == "table" then
    for _, x in ipairs(v.anyOf) do
      if not fits(x, depth + 1) then return false end
    end
  end
  if type(v.required) == "table" then
    for _, name in ipairs(v.required) do
      if type(name) ~= "string" or type(props) ~= "table" or props[name] == nil then return false end
    end
  end
  return true
end

--- S.fits(raw_gemini_schema) -> true when the API takes this (rewritten)
-- schema: see "What the subset cannot say" above.
function S.fits(raw)
  return fits(C.decode(raw), 0)
end

--- S.is_empty_object(raw) -> true for an object schema without properties
-- (Gemini rejects OBJECT parameters with empty properties: omit them).
function S.is_empty_object(raw)
  local v = C.decode(raw)
  if type(v) ~= "table" then return true end
  local p = v.properties
  return (v.type == nil or v.type == "object" or v.type == "OBJECT") and (type(p) ~= "table" or next(p) == nil)
end

return S
