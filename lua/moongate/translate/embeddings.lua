-- moongate.translate.embeddings: OpenAI embeddings requests to Gemini
-- providers and their replies back (PROTOCOLS.md 1.5 and 4.1).
--
-- Owns: the request mapping, the reply mapping with the vectors relayed as
-- the provider's own number texts, and the float32/base64 encoding OpenAI
-- uses for `encoding_format: "base64"`.
--
--   OpenAI: POST /v1/embeddings (or /openai/deployments/{m}/embeddings)
--     {model, input: string | string[], dimensions?, encoding_format?, user?}
--     -> {"object":"list","data":[{"object":"embedding","index":i,"embedding":[...] | "<base64>"}],
--         "model", "usage":{"prompt_tokens":N,"total_tokens":N}}
--   Gemini: POST {base}/{version}/models/{m}:batchEmbedContents
--     {"requests":[{"model":"models/<m>","content":{"parts":[{"text":...}]},"outputDimensionality"?}]}
--     -> {"embeddings":[{"values":[...]}]}
--
-- Decisions:
--   * One Gemini request per input, in order; each input string is copied
--     into `text` as its raw JSON text (escapes kept byte for byte).
--   * Token arrays (`input` of integers, or of arrays of integers) cannot be
--     translated: Gemini embeds text only and the token ids are OpenAI's
--     tokenizer's. The client gets a 400 saying so (param `input`); so do an
--     empty `input`, a `dimensions` that is not a positive integer and an
--     `encoding_format` other than "float" or "base64". `user` has no Gemini
--     counterpart and is dropped, like any other member.
--   * `dimensions` -> `outputDimensionality` on every request.
--   * Vectors are spliced from the provider's reply as raw text (only
--     whitespace is removed): lua-cjson keeps 14 significant digits, Gemini
--     sends up to 17, so a decode/encode round trip would change them.
--   * `encoding_format: "base64"` (what the openai SDKs send by default) is
--     honoured as OpenAI does: each value rounded to float32 (nearest, ties to
--     even, as a C cast does), the little-endian bytes base64-encoded. The
--     decoded numbers are exact (strtod rounds correctly), so this path uses
--     them, not the texts.
--   * Size: C collects a translated reply whole, up to 4 MiB (BUFFER_CAP in
--     runtime/stream.h); a bigger one (e.g. ~50 full 3072-value vectors, as
--     Gemini pretty-prints them) fails the attempt. Translation time grows
--     linearly: ~50 ms for 2.7 MB here, inside the 0.2 s translator budget.
--   * Usage: batchEmbedContents reports none. When the reply carries
--     `usageMetadata` (promptTokenCount or totalTokenCount) that number is
--     used; otherwise the estimate used elsewhere in the gateway, one token per
--     four bytes of each input, rounded up, summed (so accounting and token
--     budgets never see a free request). prompt_tokens = total_tokens.
--   * `model` in the reply is the upstream model id (the translated chat
--     replies do the same when the provider names no version).
local C = require("moongate.translate.common")

local type, ipairs, tostring, tonumber, floor, ceil = type, ipairs, tostring, tonumber, math.floor, math.ceil
local frexp, ldexp, huge = math.frexp, math.ldexp, math.huge
local concat, char, byte, find, gsub, gmatch, sub = table.concat, string.char, string.byte, string.find,
  string.gsub, string.gmatch, string.sub
local encode, obj, null = C.encode, C.obj, C.null

local M = {}

--- M.supported(client, upstream) -> true when an embeddings request from
-- `client` can be served by a provider of dialect `upstream`.
function M.supported(client, upstream)
  return client == "openai" and upstream == "gemini"
end

local function fail(msg, param) return nil, msg, param end

--- M.request(raw, ctx) -> Gemini batchEmbedContents body | nil, err, param
-- ctx: model (the upstream model id). Sets ctx.emb_n (inputs),
-- ctx.emb_base64, ctx.emb_tokens (the usage estimate).
function M.request(raw, ctx)
  local j = C.decode(raw)
  if type(j) ~= "table" then return fail("the body must be a JSON object") end
  local m = C.members(raw)
  if not m then return fail("the body must be a JSON object") end
  local input, raw_input = j.input, m.input
  local texts, raws = {}, {}
  if type(input) == "string" then
    texts[1], raws[1] = input, raw_input
  elseif type(input) == "table" and raw_input and byte(raw_input, 1) == 91 then -- '['
    local items = C.items(raw_input)
    if not items or #items ~= #input then return fail("input must be a string or an array of strings", "input") end
    for i, v in ipairs(input) do
      if type(v) ~= "string" then
        return fail("input: token arrays cannot be translated for a Gemini provider (Gemini embeds text, "
          .. "and token ids belong to OpenAI's tokenizer); send the text as a string or an array of strings", "input")
      end
      texts[i], raws[i] = v, items[i]
    end
    if #texts == 0 then return fail("input must not be empty", "input") end
  elseif input == nil or input == null then
    return fail("input is required", "input")
  else
    return fail("input must be a string or an array of strings", "input")
  end

  local dims = j.dimensions
  if dims == null then dims = nil end
  if dims ~= nil and (type(dims) ~= "number" or dims < 1 or dims ~= floor(dims) or dims >= 2 ^ 31) then
    return fail("dimensions must be a positive integer", "dimensions")
  end
  local fmt = j.encoding_format
  if fmt == null or fmt == nil then fmt = "float" end
  if fmt ~= "float" and fmt ~= "base64" then
    return fail("encoding_format must be \"float\" or \"base64\"", "encoding_format")
  end

  local model = encode("models/" .. (tostring(ctx.model or ""):gsub("^models/", "")))
  local od = dims and encode(dims) or nil
  local reqs, tokens = {}, 0
  for i = 1, #texts do
    reqs[i] = obj("model", model, "content", obj("parts", "[" .. obj("text", raws[i]) .. "]"),
      "outputDimensionality", od)
    tokens = tokens + ceil(#texts[i] / 4)
  end
  ctx.emb_n, ctx.emb_base64, ctx.emb_tokens = #texts, fmt == "base64", tokens
  return obj("requests", "[" .. concat(reqs, ",") .. "]")
end

-- float32 ------------------------------------------------------------------------------

local TWO23, TWO24 = 2 ^ 23, 2 ^ 24

-- Rounds a non-negative x to the nearest integer, ties to even.
local function round_even(x)
  local r = floor(x)
  local d = x - r
  if d > 0.5 or (d == 0.5 and r % 2 == 1) then r = r + 1 end
  return r
end

--- M.float32_bits(x) -> the IEEE 754 binary32 bits of x (a double) as an
-- integer in [0, 2^32): rounded to nearest, ties to even, overflow to
-- infinity, like C's (float) cast. Every step is exact in double arithmetic.
function M.float32_bits(x)
  if x ~= x then return 0x7fc00000 end
  local sign = 0
  if x < 0 or (x == 0 and 1 / x < 0) then sign, x = 0x80000000, -x end
  if x == 0 then return sign end
  if x == huge then return sign + 0x7f800000 end
  local mant, e = frexp(x)          -- x = mant * 2^e, 0.5 <= mant < 1
  local E = e + 126                 -- the biased exponent of 1.f * 2^(e-1)
  if E >= 1 then
    local r = round_even(mant * TWO24) -- 24 significant bits, in [2^23, 2^24]
    if r == TWO24 then r, E = TWO23, E + 1 end
    if E >= 255 then return sign + 0x7f800000 end
    return sign + E * TWO23 + (r - TWO23)
  end
  -- subnormal: x = f * 2^-149, f < 2^23 (f = 2^23 is the smallest normal, same bits)
  return sign + round_even(ldexp(x, 149))
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64C = {}
for i = 1, 64 do B64C[i - 1] = sub(B64, i, i) end

--- M.base64(bytes) -> standard base64 with padding
function M.base64(s)
  local out, n, len = {}, 0, #s
  for i = 1, len - 2, 3 do
    local a, b, c = byte(s, i, i + 2)
    local v = a * 65536 + b * 256 + c
    n = n + 1
    out[n] = B64C[floor(v / 262144)] .. B64C[floor(v / 4096) % 64] .. B64C[floor(v / 64) % 64] .. B64C[v % 64]
  end
  local rest = len % 3
  if rest > 0 then
    local a, b = byte(s, len - rest + 1, len)
    local v = a * 65536 + (b or 0) * 256
    n = n + 1
    out[n] = B64C[floor(v / 262144)] .. B64C[floor(v / 4096) % 64]
      .. (b and B64C[floor(v / 64) % 64] or "=") .. "="
  end
  return concat(out, "", 1, n)
end

--- M.float32_base64(values) -> base64 of the little-endian float32 bytes of
-- an array of numbers (what OpenAI sends for encoding_format=base64).
function M.float32_base64(values)
  local out = {}
  for k = 1, #values do
    local u = M.float32_bits(values[k])
    out[k] = char(u % 256, floor(u / 256) % 256, floor(u / 65536) % 256, floor(u / 16777216))
  end
  return M.base64(concat(out))
end

-- reply --------------------------------------------------------------------------------

-- The vectors' raw texts. cjson (C, fast) checks the whole reply and gives
-- its structure; each `"values": [` key in the raw text, in order, then marks
-- where the corresponding array's text starts (a numbers array holds no
-- other bracket, so the first `]` ends it). A span is only used when its
-- numbers read back, one by one, as the decoded ones: then it is that array,
-- as the provider wrote it. Scanning the raw text with the generic JSON
-- scanner instead costs several passes of Lua pattern matching over a reply
-- that can reach megabytes, too slow for the translator's time budget.
-- cjson reads numbers with strtod, which also takes "1." and "1.e5": those
-- are refused here, so what goes to the client is always JSON.
local function dot_ok(t)
  local d = find(t, ".", 1, true)
  if not d then return true end
  local c = byte(t, d + 1)
  return c ~= nil and c >= 48 and c <= 57
end

local function raw_vectors(raw, list)
  local out, pos = {}, 1
  for i = 1, #list do
    local e = list[i]
    local vals = type(e) == "table" and e.values
    if type(vals) ~= "table" then return nil, i end
    local _, open = find(raw, '"values"%s*:%s*%[', pos)
    local close = open and find(raw, "]", open, true)
    if not close then return nil, i end
    local v = gsub(sub(raw, open, close), "%s+", "")
    local k = 0
    if v ~= "[]" then
      for t in gmatch(sub(v, 2, -2), "[^,]+") do
        k = k + 1
        local x = vals[k]
        if type(x) ~= "number" or tonumber(t) ~= x or not dot_ok(t) then return nil, i end
      end
    end
    if k ~= #vals then return nil, i end
    out[i] = v
    pos = close + 1
  end
  return out
end

--- M.response(raw, ctx) -> OpenAI embeddings body, usage {input, output} | nil, err
function M.response(raw, ctx)
  local j = C.decode(raw)
  local list = type(j) == "table" and j.embeddings
  if type(list) ~= "table" then return nil, "the reply has no embeddings array" end
  local n = ctx.emb_n
  if n and #list ~= n then
    return nil, "the reply has " .. #list .. " embeddings for " .. n .. " inputs"
  end
  local data = {}
  local texts, bad
  if ctx.emb_base64 then
    -- base64 needs the numbers, not their texts: the decoded ones are exact
    for i, e in ipairs(list) do
      local vals = type(e) == "table" and e.values
      if type(vals) ~= "table" then bad = i break end
      for k = 1, #vals do
        if type(vals[k]) ~= "number" then bad = i break end
      end
      if bad then break end
    end
  else
    texts, bad = raw_vectors(raw, list)
  end
  if bad then return nil, "embedding " .. (bad - 1) .. " has no array of numbers in values" end
  for i = 1, #list do
    local emb = texts and texts[i] or encode(M.float32_base64(list[i].values))
    data[i] = obj("object", '"embedding"', "index", tostring(i - 1), "embedding", emb)
  end
  local tokens = ctx.emb_tokens or 0
  local um = j.usageMetadata
  if type(um) == "table" then
    local t = um.promptTokenCount or um.totalTokenCount
    if type(t) == "number" then tokens = C.int(t) end
  end
  local nt = encode(tokens)
  return obj("object", '"list"', "data", "[" .. concat(data, ",") .. "]",
    "model", encode((tostring(ctx.model or ""):gsub("^models/", ""))),
    "usage", obj("prompt_tokens", nt, "total_tokens", nt)), { input = tokens, output = 0 }
end

return M
