-- moongate.request: the policy-facing req over a (fake) core.
local t = require("moongate.testing")
local json = require("moongate.json")

local function req_with(body, extra)
  local spec = { method = "POST", path = "/v1/chat/completions", body = body }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return t.fake_request(spec)
end

describe("moongate.request", function()
  it("copies the core fields and classifies the endpoint", function()
    local req = t.fake_request{ id = "r1", method = "POST", path = "/v1/embeddings", query = "a=1", client = "1.2.3.4:5" }
    assert.are.equal("r1", req.id)
    assert.are.equal("POST", req.method)
    assert.are.equal("/v1/embeddings", req.path)
    assert.are.equal("a=1", req.query)
    assert.are.equal("1.2.3.4:5", req.client)
    assert.are.equal("embeddings", req.endpoint)
    assert.are.same({}, req.ctx)
    assert.are.equal("chat", t.fake_request{ path = "/v1/chat/completions" }.endpoint)
    assert.are.equal("completions", t.fake_request{ path = "/v1/completions" }.endpoint)
    assert.are.equal("models", t.fake_request{ path = "/v1/models/gpt-4o" }.endpoint)
    assert.are.equal("passthrough", t.fake_request{ path = "/v1/responses" }.endpoint)
    assert.is_nil(t.fake_request{ path = "/health" }.endpoint)
  end)

  it("reads headers case-insensitively and URL-decodes query args", function()
    local req = t.fake_request{ headers = { ["X-Team"] = "blue" }, query = "vendor=a%2Fb&q=x+y&vendor=second&flag" }
    assert.are.equal("blue", req:header("x-team"))
    assert.are.equal("blue", req:header("X-TEAM"))
    assert.is_nil(req:header("x-other"))
    assert.are.equal("a/b", req:arg("vendor"))
    assert.are.equal("x y", req:arg("q"))
    assert.are.equal("", req:arg("flag"))
    assert.is_nil(req:arg("none"))
  end)

  it("decodes the body once and caches it", function()
    local req = req_with('{"model":"m","messages":[]}')
    local j1 = req:json()
    assert.are.equal("m", j1.model)
    assert.are.equal(j1, req:json())
  end)

  it("returns nil, err for a body that is not JSON", function()
    local j, err = req_with("not json"):json()
    assert.is_nil(j)
    assert.is_string(err)
    j, err = req_with(""):json()
    assert.is_nil(j)
    assert.are.equal("empty body", err)
    assert.is_nil(req_with('{"a":NaN}'):json())
  end)

  it("gives back the identical body when nothing was edited", function()
    local raw = '{"model":"m", "tools":[], "n":12345678901234567890}'
    local req = req_with(raw)
    req:json()
    assert.are.equal(raw, req:_final_body())
    assert.are.equal(raw, req:body())
  end)

  it("set_field edits the raw body and mirrors into json()", function()
    local raw = '{"model":"m","tools":[],"meta":{},"n":12345678901234567890,"max_tokens":9000}'
    local req = req_with(raw)
    assert.is_true(req:set_field("max_tokens", 100))
    assert.is_true(req:set_field("extra", { list = json.empty_array }))
    assert.are.equal(100, req:json().max_tokens)
    assert.are.equal(
      '{"model":"m","tools":[],"meta":{},"n":12345678901234567890,"max_tokens":100,"extra":{"list":[]}}',
      req:_final_body())
    assert.are.equal(raw, req:body())
  end)

  it("remove_field removes and mirrors", function()
    local req = req_with('{"a":1,"b":2}')
    assert.is_true(req:remove_field("a"))
    assert.is_nil(req:json().a)
    assert.are.equal('{"b":2}', req:_final_body())
  end)

  it("the last edit of a key wins", function()
    local req = req_with('{"a":1}')
    req:remove_field("a")
    req:set_field("a", 5)
    assert.are.equal('{"a":5}', req:_final_body())
  end)

  it("edits fail softly on a non-object body and raise on caller mistakes", function()
    local req = req_with("[1,2]")
    local ok, err = req:set_field("a", 1)
    assert.is_nil(ok)
    assert.matches("not a JSON object", err)
    assert.has_error(function() req_with("{}"):set_field(1, 2) end, "set_field: key must be a string")
    assert.has_error(function() req_with("{}"):set_field("f", print) end)
    assert.has_error(function() req_with("{}"):remove_tools("x") end)
  end)

  describe("remove_tools", function()
    local body = '{"model":"m","tools":[{"type":"function","function":{"name":"shell","parameters":{"x":[]}}},'
      .. ' {"type":"function","function":{"name":"search","parameters":{}}}],"tool_choice":"auto","seed":12345678901234567890}'

    it("drops tools by function name and keeps the others byte for byte", function()
      local req = req_with(body)
      assert.are.equal(1, req:remove_tools({ "shell" }))
      assert.are.equal('{"model":"m","tools":[{"type":"function","function":{"name":"search","parameters":{}}}],'
        .. '"tool_choice":"auto","seed":12345678901234567890}', req:_final_body())
      assert.are.equal(1, #req:json().tools)
      assert.are.equal("search", req:json().tools[1]["function"].name)
    end)

    it("removes tools and tool_choice when none remain (set form of names)", function()
      local req = req_with(body)
      assert.are.equal(2, req:remove_tools({ shell = true, search = true }))
      assert.are.equal('{"model":"m","seed":12345678901234567890}', req:_final_body())
      assert.is_nil(req:json().tool_choice)
    end)

    it("removes parallel_tool_calls with the last tool, and a tool_choice forcing a removed tool", function()
      local req = req_with('{"model":"m","tools":[{"type":"function","function":{"name":"shell"}}],'
        .. '"parallel_tool_calls":false,"n":1}')
      assert.are.equal(1, req:remove_tools({ "shell" }))
      assert.are.equal('{"model":"m","n":1}', req:_final_body())
      assert.is_nil(req:json().parallel_tool_calls)
      req = req_with('{"tools":[{"type":"function","function":{"name":"shell"}},{"type":"function","function":'
        .. '{"name":"ok"}}],"tool_choice":{"type":"function","function":{"name":"shell"}},"parallel_tool_calls":true}')
      assert.are.equal(1, req:remove_tools({ "shell" }))
      assert.are.equal('{"tools":[{"type":"function","function":{"name":"ok"}}],"parallel_tool_calls":true}',
        req:_final_body())
    end)

    it("matches flat tools by name and leaves bodies without matches untouched", function()
      local req = req_with('{"tools":[{"type":"function","name":"shell"},{"type":"web_search"}]}')
      assert.are.equal(1, req:remove_tools({ "shell" }))
      assert.are.equal('{"tools":[{"type":"web_search"}]}', req:_final_body())
      local raw = '{"tools":[{"type":"function","function":{"name":"ok"}}]}'
      req = req_with(raw)
      assert.are.equal(0, req:remove_tools({ "shell" }))
      assert.are.equal(raw, req:_final_body())
      assert.are.equal(0, req_with('{"model":"m"}'):remove_tools({ "x" }))
    end)
  end)

  describe("Azure-style paths", function()
    local classify = require("moongate.request").classify
    local function az(dep, suffix, body, extra)
      local spec = { method = "POST", path = "/openai/deployments/" .. dep .. (suffix or "/chat/completions"),
                     query = "api-version=2024-10-21", body = body }
      for k, v in pairs(extra or {}) do spec[k] = v end
      return t.fake_request(spec)
    end

    it("classify: chat, completions, embeddings, OpenAI dialect, the deployment as the model", function()
      assert.are.same({ "chat", "openai", "gpt-4o" }, { classify("/openai/deployments/gpt-4o/chat/completions") })
      assert.are.same({ "completions", "openai", "x" }, { classify("/openai/deployments/x/completions") })
      assert.are.same({ "embeddings", "openai", "e-1" }, { classify("/openai/deployments/e-1/embeddings") })
      -- %2F decodes to "/", a raw "/" is part of the deployment too (the SDK does not encode it);
      -- '+' is a plain path character
      assert.are.same({ "chat", "openai", "openai/gpt-4o" }, { classify("/openai/deployments/openai%2Fgpt-4o/chat/completions") })
      assert.are.same({ "chat", "openai", "openai/gpt-4o" }, { classify("/openai/deployments/openai%2fgpt-4o/chat/completions") })
      assert.are.same({ "chat", "openai", "or/vendor/m" }, { classify("/openai/deployments/or/vendor/m/chat/completions") })
      assert.are.same({ "embeddings", "openai", "a+b c" }, { classify("/openai/deployments/a+b%20c/embeddings") })
      -- the longest suffix wins: chat for "x", never completions for "x/chat"
      assert.are.same({ "chat", "openai", "x" }, { classify("/openai/deployments/x/chat/completions") })
    end)

    it("classify: no deployment or an unknown sub-path is not an API path", function()
      assert.is_nil(classify("/openai/deployments//chat/completions"))
      assert.is_nil(classify("/openai/deployments/x/audio/speech"))
      assert.is_nil(classify("/openai/deployments/x/chat/completions/extra"))
      assert.is_nil(classify("/openai/deployments/x"))
      assert.is_nil(classify("/openai/chat/completions"))
      assert.is_true(require("moongate.request").is_azure_path("/openai/deployments/x/audio/speech"))
      assert.is_false(require("moongate.request").is_azure_path("/v1/chat/completions"))
    end)

    it("the deployment becomes the body's model: added when absent", function()
      local req = az("gpt-4o", nil, '{"messages":[{"role":"user","content":"hi"}]}')
      assert.are.equal("chat", req.endpoint)
      assert.are.equal("openai", req.dialect)
      assert.are.equal("gpt-4o", req.path_model)
      assert.are.equal("gpt-4o", req:json().model)
      assert.are.equal('{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o"}', req:_final_body())
    end)

    it("the deployment wins over a different body model, other bytes survive", function()
      local req = az("openai%2Fgpt-4o", nil, '{"model":"other","n":12345678901234567890,"tools":[]}')
      assert.are.equal("openai/gpt-4o", req:json().model)
      assert.are.equal('{"model":"openai/gpt-4o","n":12345678901234567890,"tools":[]}', req:_final_body())
    end)

    it("a body already naming the deployment is the very same string", function()
      local raw = '{"model":"auto","messages":[]}'
      local req = az("auto", nil, raw)
      assert.is_true(rawequal(raw, req:_final_body()))
    end)

    it("a policy edit of model after that still wins", function()
      local req = az("auto", nil, '{"messages":[]}')
      assert.is_true(req:set_field("model", "m2"))
      assert.are.equal('{"messages":[],"model":"m2"}', req:_final_body())
    end)

    it("leaves a body that is not a JSON object alone", function()
      for _, raw in ipairs({ "", "not json", "[1]" }) do
        local req = az("auto", nil, raw)
        assert.are.equal(raw, req:_final_body())
      end
    end)

    it("a derived (translated) request gets no deployment edit", function()
      local req = az("auto", nil, '{"messages":[]}')
      local d = require("moongate.request").derived(req, '{"contents":[]}', "generate")
      assert.are.equal('{"contents":[]}', d:_final_body())
      assert.is_nil(d:json().model)
    end)
  end)

  describe("client_key", function()
    local function key(path, headers, query)
      return t.fake_request{ path = path, headers = headers, query = query }:client_key()
    end
    it("reads Authorization: Bearer in every dialect, else the dialect's own header", function()
      local az = "/openai/deployments/x/chat/completions"
      assert.are.equal("k1", key(az, { ["api-key"] = "k1" }))
      assert.are.equal("k2", key(az, { Authorization = "Bearer k2" }))
      assert.are.equal("k2", key(az, { Authorization = "bearer  k2", ["api-key"] = "k1" }))
      assert.are.equal("k1", key("/v1/chat/completions", { ["api-key"] = "k1" }))
      assert.are.equal("k3", key("/v1/messages", { ["x-api-key"] = "k3" }))
      assert.are.equal("k4", key("/v1beta/models/g:generateContent", { ["x-goog-api-key"] = "k4" }))
      assert.are.equal("k5", key("/v1beta/models/g:generateContent", nil, "key=k5"))
      assert.is_nil(key(az, {}))
      assert.is_nil(key(az, { ["x-api-key"] = "k3", Authorization = "Basic abc" }))
      assert.is_nil(key("/v1/messages", { ["api-key"] = "" }))
    end)
  end)

  it("raises 'request finished' once the core is finished", function()
    local core = t.fake_core{ headers = { a = "b" } }
    local req = require("moongate.request").new(core, nil)
    core:finish()
    assert.has_error(function() req:header("a") end, "request finished")
  end)
end)

describe("req:_peek (the routing fields of the body)", function()
  local P = require("moongate.request").PEEK
  local bor = require("bit").bor

  it("reads the decoded body when the core has no peek (fake cores), like the C core does", function()
    local f, m = req_with('{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[1]}'):_peek()
    assert.are.equal(bor(P.OBJECT, P.MODEL, P.MODEL_STR, P.STREAM, P.USAGE, P.MESSAGES), f)
    assert.are.equal("m", m)
    f, m = req_with('{"model":7,"contents":[],"messages":{}}'):_peek()
    assert.are.equal(bor(P.OBJECT, P.MODEL), f)
    assert.is_nil(m)
    assert.are.equal(0, (req_with('[{"model":"m"}]'):_peek()))
    local nf, err = req_with('{"model":'):_peek()
    assert.is_nil(nf)
    assert.is_string(err)
  end)

  it("prefers the core's own peek, and the decoded body once there are edits", function()
    local calls = 0
    local req = req_with('{"model":"a","messages":[1]}')
    req._core.peek = function() calls = calls + 1; return bor(P.OBJECT, P.MODEL, P.MODEL_STR), "from-core" end
    assert.are.equal("from-core", select(2, req:_peek()))
    assert.are.equal("from-core", select(2, req:_peek()))
    assert.are.equal(1, calls) -- cached
    assert.is_true(req:set_field("model", "edited"))
    local f, m = req:_peek()
    assert.are.equal("edited", m)
    assert.are.equal(bor(P.OBJECT, P.MODEL, P.MODEL_STR, P.MESSAGES), f)
    assert.are.equal(1, calls)
  end)
end)

describe("req:_upstream_body (what a provider build sends)", function()
  local Request = require("moongate.request")
  local body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}'
  -- a userdata core, like the C one (newproxy: a userdata with a metatable)
  local function c_core()
    local u = newproxy(true)
    local calls = 0
    local mt = getmetatable(u)
    mt.__index = {
      body = function() calls = calls + 1; return body end,
      header = function() return nil end,
      peek = function() return nil end,
    }
    return u, function() return calls end
  end

  it("is true (the request's own bytes) for an unedited body over the C core, without reading it", function()
    local core, calls = c_core()
    local req = Request.of(core, nil, "/v1/chat/completions", "POST", "id", "", "c", "chat", "openai")
    assert.is_true(req:_upstream_body())
    assert.are.equal(0, calls())
  end)

  it("is the edited text once the policy edited the body, or with extra edits", function()
    local core = c_core()
    local req = Request.of(core, nil, "/v1/chat/completions", "POST", "id", "", "c", "chat", "openai")
    assert.are.equal('{"model":"x","messages":[{"role":"user","content":"hi"}]}',
      req:_upstream_body({ model = '"x"' }, { "model" }))
    req:set_field("model", "y")
    assert.are.equal('{"model":"y","messages":[{"role":"user","content":"hi"}]}', req:_upstream_body())
  end)

  it("is the text over a Lua core (translated bodies, tests)", function()
    local req = Request.new(t.fake_core{ method = "POST", path = "/v1/chat/completions", body = body })
    assert.are.equal(body, req:_upstream_body())
  end)
end)
