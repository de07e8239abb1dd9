-- OpenAI embeddings to Gemini providers (moongate.translate.embeddings, the
-- translator's embeddings mode and the host's routing of /v1/embeddings):
-- the batchEmbedContents request, the reply with the provider's number texts
-- relayed exactly, base64 as OpenAI encodes it, and the refusals.
local translate = require("moongate.translate")
local EMB = require("moongate.translate.embeddings")
local t = require("moongate.testing")
local cjson = require("cjson")

local function new(model)
  return translate.new("openai", "gemini", { model = model or "gemini-embedding-001", embeddings = true })
end

-- What Gemini sends: pretty-printed, numbers with up to 17 significant digits.
local REPLY = '{\n  "embeddings": [\n    {\n      "values": [\n        0,\n        0.33333333333333331,\n'
  .. '        -4.2857142857142855e-06,\n        0.30000000000000004\n      ]\n    },\n    {\n'
  .. '      "values": [\n        1,\n        0.66666666666666663,\n        -1.0000000000000001E-05,\n'
  .. '        0.40000000000000002\n      ]\n    }\n  ]\n}\n'

describe("embeddings: OpenAI request -> Gemini batchEmbedContents", function()
  it("maps every input to one request naming the model, dimensions to outputDimensionality", function()
    local body = assert(new():request('{"model":"e","input":["a","b c"],"dimensions":256,"user":"u1"}'))
    assert.are.equal('{"requests":['
      .. '{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]},"outputDimensionality":256},'
      .. '{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"b c"}]},"outputDimensionality":256}]}', body)
  end)

  it("takes one string, copies its JSON text byte for byte, never doubles models/", function()
    local tr = translate.new("openai", "gemini", { model = "models/text-embedding-004", embeddings = true })
    local body = assert(tr:request('{"input":"caf\\u00e9 \\"q\\" \\/ \xf0\x9f\x98\x80","model":"x"}'))
    assert.are.equal('{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":'
      .. '"caf\\u00e9 \\"q\\" \\/ \xf0\x9f\x98\x80"}]}}]}', body)
    assert.are.equal("café \"q\" / \xf0\x9f\x98\x80", cjson.decode(body).requests[1].content.parts[1].text)
  end)

  it("refuses token arrays clearly, naming the input parameter", function()
    for _, input in ipairs({ "[1,2,3]", "[[1,2],[3]]", '["a",[1]]', '["a",7]' }) do
      local body, err, param = new():request('{"model":"e","input":' .. input .. '}')
      assert.is_nil(body, input)
      assert.matches("token arrays cannot be translated for a Gemini provider", err)
      assert.are.equal("input", param)
    end
  end)

  it("refuses what has no Gemini meaning", function()
    local cases = {
      { '{"model":"e"}', "input is required", "input" },
      { '{"model":"e","input":[]}', "input must not be empty", "input" },
      { '{"model":"e","input":{}}', "input must be a string or an array of strings", "input" },
      { '{"model":"e","input":3}', "input must be a string or an array of strings", "input" },
      { '{"model":"e","input":"x","dimensions":0}', "dimensions must be a positive integer", "dimensions" },
      { '{"model":"e","input":"x","dimensions":1.5}', "dimensions must be a positive integer", "dimensions" },
      { '{"model":"e","input":"x","dimensions":"8"}', "dimensions must be a positive integer", "dimensions" },
      { '{"model":"e","input":"x","encoding_format":"int8"}', 'encoding_format must be "float" or "base64"',
        "encoding_format" },
      { '["x"]', "the body must be a JSON object", nil },
      { 'nope', "the body must be a JSON object", nil },
    }
    for _, c in ipairs(cases) do
      local body, err, param = new():request(c[1])
      assert.is_nil(body, c[1])
      assert.are.equal(c[2], err, c[1])
      assert.are.equal(c[3], param, c[1])
    end
    -- null means absent
    assert.truthy(new():request('{"model":"e","input":"x","dimensions":null,"encoding_format":null}'))
  end)
end)

describe("embeddings: Gemini reply -> OpenAI list", function()
  it("relays every number's text exactly (no 14-digit cjson round trip), with index and model", function()
    local tr = new()
    assert.truthy(tr:request('{"model":"e","input":["ab","cdefghij"]}'))
    local s = tr:fresh()
    local st, ct, body = s:body(200, "application/json", REPLY)
    assert.are.equal(200, st)
    assert.are.equal("application/json", ct)
    assert.are.equal('{"object":"list","data":['
      .. '{"object":"embedding","index":0,"embedding":[0,0.33333333333333331,-4.2857142857142855e-06,0.30000000000000004]},'
      .. '{"object":"embedding","index":1,"embedding":[1,0.66666666666666663,-1.0000000000000001E-05,0.40000000000000002]}],'
      .. '"model":"gemini-embedding-001","usage":{"prompt_tokens":3,"total_tokens":3}}', body)
    -- the estimate: ceil(2/4) + ceil(8/4) tokens, reported as input, no output
    assert.are.same({ input = 3, output = 0 }, s.usage)
    -- what a decode/encode through cjson would have produced instead
    assert.are_not.equal("0.33333333333333331", tostring(cjson.encode(cjson.decode("[0.33333333333333331]"))):sub(2, -2))
  end)

  it("keeps the texts whatever the layout around them", function()
    local tr = new()
    assert.truthy(tr:request('{"model":"e","input":"x"}'))
    local _, _, body = tr:fresh():body(200, "application/json",
      '{"embeddings":[{"statistics":{"n":2},"values":[ -0 ,\t1E+2,\r\n123456789012345678901234567890 ],"x":[]}]}')
    assert.are.equal("[-0,1E+2,123456789012345678901234567890]", body:match('"embedding":(%b[])'))
  end)

  it("prefers a usageMetadata token count when the provider sends one", function()
    local tr = new()
    assert.truthy(tr:request('{"model":"e","input":"x"}'))
    local s = tr:fresh()
    local _, _, body = s:body(200, "application/json",
      '{"embeddings":[{"values":[0.5]}],"usageMetadata":{"promptTokenCount":11,"totalTokenCount":11}}')
    assert.are.same({ prompt_tokens = 11, total_tokens = 11 }, cjson.decode(body).usage)
    assert.are.same({ input = 11, output = 0 }, s.usage)
  end)

  it("encodes base64 as OpenAI does: float32, little endian", function()
    local tr = new()
    assert.truthy(tr:request('{"model":"e","input":["a","b"],"encoding_format":"base64"}'))
    local _, _, body = tr:fresh():body(200, "application/json", REPLY)
    local d = cjson.decode(body).data
    -- struct.pack('<4f', 0, 0.33333333333333331, -4.2857142857142855e-06, 0.30000000000000004)
    assert.are.equal("AAAAAKuqqj4Bzo+2mpmZPg==", d[1].embedding)
    assert.are.equal("AACAP6uqKj+sxSe3zczMPg==", d[2].embedding)
  end)

  it("rounds to float32 like a C cast (nearest, ties to even, subnormals, overflow)", function()
    local cases = {
      { 0, 0 }, { -0.0, 0x80000000 }, { 1, 0x3f800000 }, { -2, 0xc0000000 }, { 0.1, 0x3dcccccd },
      { 1 + 2 ^ -24, 0x3f800000 }, { 1 + 3 * 2 ^ -24, 0x3f800002 }, { 1 + 2 ^ -23 + 2 ^ -24, 0x3f800002 },
      { 3.4028234663852886e38, 0x7f7fffff }, { 3.4028235677973366e38, 0x7f800000 }, { 1e39, 0x7f800000 },
      { -1e39, 0xff800000 }, { 2 ^ -126, 0x00800000 }, { 2 ^ -149, 1 }, { 2 ^ -150, 0 },
      { 3 * 2 ^ -150, 2 }, { 2 ^ -126 - 2 ^ -150, 0x00800000 }, { 1.401298464324817e-45, 1 },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], EMB.float32_bits(c[1]), string.format("%.17g", c[1]))
    end
  end)

  it("base64 pads like the standard", function()
    assert.are.equal("", EMB.base64(""))
    assert.are.equal("YQ==", EMB.base64("a"))
    assert.are.equal("YWI=", EMB.base64("ab"))
    assert.are.equal("YWJj", EMB.base64("abc"))
    assert.are.equal("/+8=", EMB.base64("\255\239"))
  end)

  it("a reply it cannot read is a 502 in OpenAI's shape", function()
    local bad = {
      '{"embeddings":[{"values":[1,2]}]}',                 -- one vector for two inputs
      '{"embeddings":[{"values":[1]},{"values":["x"]}]}',  -- not numbers
      '{"embeddings":[{"values":[1]},{"values":[1,,2]}]}',
      '{"embeddings":[{"values":[1]},{"values":[1.]}]}',     -- strtod reads it, JSON does not
      '{"embeddings":[{"values":[1]},{"values":[1.e5]}]}',
      '{"embeddings":[{"values":[1]},{"values":{}}]}',
      '{"embeddings":[{"meta":{"values":[2]},"values":[1]},{"values":[1]}]}', -- a span that is not the vector
      '{"embeddings":[{"values":[1]},{}]}',
      '{"other":1}',
      'not json',
    }
    for _, b in ipairs(bad) do
      local tr = new()
      assert.truthy(tr:request('{"model":"e","input":["a","b"]}'))
      local st, _, body = tr:fresh():body(200, "application/json", b)
      assert.are.equal(502, st, b)
      local e = cjson.decode(body).error
      assert.are.equal("upstream_error", e.type, b)
      assert.matches("could not translate the upstream embeddings", e.message)
    end
  end)

  it("upstream errors come back in OpenAI's error shape", function()
    local tr = new()
    assert.truthy(tr:request('{"model":"e","input":"x"}'))
    local st, _, body = tr:fresh():body(400, "application/json",
      '{"error":{"code":400,"message":"* BatchEmbedContentsRequest.requests: requests is not specified","status":"INVALID_ARGUMENT"}}')
    assert.are.equal(400, st)
    assert.are.same({ message = "* BatchEmbedContentsRequest.requests: requests is not specified",
      type = "invalid_request_error", param = cjson.null, code = cjson.null }, cjson.decode(body).error)
    st, _, body = tr:fresh():body(429, "application/json",
      '{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}')
    assert.are.equal(429, st)
    assert.are.equal("rate_limit_exceeded", cjson.decode(body).error.type)
  end)
end)

describe("embeddings: routing in the host", function()
  local gw
  before_each(function()
    gw = t.load{ config = { providers = {
      oai = { kind = "openai", base_url = "https://api.example.com/v1", api_key = "sk", models = { "text-embedding-3-small" } },
      gem = { kind = "gemini", api_key = "gk", models = { "gemini-embedding-001" } },
      ant = { kind = "anthropic", api_key = "ak", models = { "claude-x" } },
    } } }
  end)

  it("sends a Gemini provider batchEmbedContents, translated", function()
    local res = gw:handle{ method = "POST", path = "/v1/embeddings",
      body = '{"model":"gemini-embedding-001","input":["a"],"dimensions":8}' }
    assert.are.equal("proxy", res.kind, res.body)
    assert.are.equal("embeddings", res.endpoint)
    assert.is_false(res.stream)
    local a = res.attempts[1]
    assert.is_true(a.translate)
    assert.are.equal("https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents", a.url)
    assert.are.same({ "x-goog-api-key: gk", "Content-Type: application/json" }, a.headers)
    assert.are.equal('{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]},'
      .. '"outputDimensionality":8}]}', a.body)
    local tr = require("moongate.host").translator(res, 1)
    assert.truthy(tr)
    local _, _, body = tr:body(200, "application/json", '{"embeddings":[{"values":[0.10000000000000001]}]}')
    assert.are.equal("[0.10000000000000001]", body:match('"embedding":(%b[])'))
  end)

  it("Azure-style embeddings reach it too", function()
    local res = gw:handle{ method = "POST", path = "/openai/deployments/gemini-embedding-001/embeddings",
      query = "api-version=2024-10-21", body = '{"input":"x"}' }
    assert.are.equal("proxy", res.kind, res.body)
    assert.matches(":batchEmbedContents$", res.attempts[1].url)
  end)

  it("token arrays: a 400 in OpenAI's shape naming input, before any upstream", function()
    local res = gw:handle{ method = "POST", path = "/v1/embeddings", body = '{"model":"gemini-embedding-001","input":[[1,2]]}' }
    assert.are.equal("local", res.kind)
    assert.are.equal(400, res.status)
    local e = cjson.decode(res.body).error
    assert.are.equal("invalid_request_error", e.type)
    assert.are.equal("input", e.param)
    assert.matches("token arrays cannot be translated", e.message)
  end)

  it("keeps the 501 for Anthropic (no embeddings API) and relays OpenAI providers untouched", function()
    local res = gw:handle{ method = "POST", path = "/v1/embeddings", body = '{"model":"claude-x","input":"x"}' }
    assert.are.equal(501, res.status)
    assert.matches("x%-should%-retry: false", res.headers)
    assert.are.equal("not_implemented", cjson.decode(res.body).error.code)
    local raw = '{"model":"text-embedding-3-small","input":[[1,2]],"encoding_format":"base64"}'
    res = gw:handle{ method = "POST", path = "/v1/embeddings", body = raw }
    assert.are.equal("https://api.example.com/v1/embeddings", res.attempts[1].url)
    assert.are.equal(raw, res.attempts[1].body)
    assert.is_nil(res.attempts[1].translate)
  end)
end)
