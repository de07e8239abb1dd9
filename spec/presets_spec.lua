-- OpenAI-compatible presets against their fixtures (PROTOCOLS 6): for every
-- preset in moongate.providers.presets, spec/fixtures/presets/<preset>.lua
-- holds client requests (raw JSON text with the fields that provider is picky
-- about) and the exact upstream request the gateway must build for each: URL,
-- headers, and the body text (or, where the text is not the point, fields).
-- Requests go through the real config, host and provider modules, the way
-- spec/providers_spec.lua builds them.
--
-- Fixture shape:
--   return {
--     provider = { api_key = ..., models = {...}, ... },   -- kind = the preset
--     cases = { { name = "...",
--                 request = { path = "/v1/chat/completions", body = [[raw JSON]], headers = {...} },
--                 upstream = { url = "...", headers = { "Name: value", ... },
--                              body = [[exact text]] | fields = { name = raw JSON text | false } } }, ... },
--   }
local t = require("moongate.testing")
local presets = require("moongate.providers.presets")
local openai = require("moongate.providers.openai")
local json = require("moongate.json")
local cjson = require("cjson")

local DIR = "spec/fixtures/presets/"
local BIG = "12345678901234567890"

local function sorted_names()
  local n = {}
  for k in pairs(presets.list) do n[#n + 1] = k end
  table.sort(n)
  return n
end

local function load_fixture(name)
  local path = DIR .. name .. ".lua"
  local f = io.open(path, "r")
  if not f then return nil end
  f:close()
  return dofile(path)
end

local function build(name, fx, case)
  local p = { kind = name }
  for k, v in pairs(fx.provider) do p[k] = v end
  local gw = t.load{ config = { providers = { [name] = p } } }
  local r = case.request
  local res = gw:handle{ method = r.method or "POST", path = r.path or "/v1/chat/completions",
    headers = r.headers, body = r.body }
  assert.are.equal("proxy", res.kind, res.body)
  return res.attempts[1], res
end

-- Occurrences of a plain substring.
local function count(s, sub)
  local n, i = 0, 1
  while true do
    local a, b = s:find(sub, i, true)
    if not a then return n end
    n, i = n + 1, b + 1
  end
end

describe("preset fixtures", function()
  it("every preset has a fixture, and every fixture a preset", function()
    for _, name in ipairs(sorted_names()) do
      local fx = load_fixture(name)
      assert(fx, "preset '" .. name .. "' has no fixture " .. DIR .. name .. ".lua")
      assert(type(fx.provider) == "table" and type(fx.cases) == "table" and #fx.cases > 0,
        DIR .. name .. ".lua: needs provider and at least one case")
    end
    local ls = io.popen("ls " .. DIR)
    for file in ls:lines() do
      local name = file:match("^(.+)%.lua$")
      assert(name and presets.list[name], DIR .. file .. " matches no preset")
    end
    ls:close()
  end)

  it("every fixture proves fidelity: a big integer and an empty array reach the upstream as sent", function()
    for _, name in ipairs(sorted_names()) do
      local fx = load_fixture(name)
      local proved = false
      for _, case in ipairs(fx.cases) do
        local b, want = case.request.body, case.upstream.body
        if b and want and b:find(BIG, 1, true) and b:find("[]", 1, true)
          and want:find(BIG, 1, true) and want:find("[]", 1, true) then
          proved = true
        end
      end
      assert(proved, name .. ": no case carries " .. BIG .. " and [] through to an exact upstream body")
    end
  end)
end)

for _, name in ipairs(sorted_names()) do
  local fx = load_fixture(name)
  describe("preset " .. name, function()
    for _, case in ipairs(fx and fx.cases or {}) do
      it(case.name, function()
        local a = build(name, fx, case)
        local up = case.upstream
        assert.are.equal(up.url, a.url)
        assert.are.same(up.headers, a.headers)
        if up.body then
          assert.are.equal(up.body, a.body)
        end
        for field, want in pairs(up.fields or {}) do
          local got = json.get_raw(a.body, field)
          if want == false then
            assert.is_nil(got, field .. " must not be sent")
          else
            assert.are.equal(want, got, field)
          end
        end
        -- what went out is JSON
        assert.is_table(cjson.decode(a.body))
        -- the key is in the auth header and nowhere else
        local key = fx.provider.api_key
        if type(key) == "string" and key ~= "" and key ~= "none" then
          local n = 0
          for _, h in ipairs(a.headers) do n = n + count(h, key) end
          assert.are.equal(1, n, "the key must be in exactly one header")
          assert.are.equal(0, count(a.url, key), "the key must not be in the URL")
          assert.are.equal(0, count(a.body, key), "the key must not be in the body")
        end
      end)
    end
  end)
end

describe("preset quirks beyond the fixtures", function()
  local function gw_for(name, extra)
    local p = { kind = name, api_key = "k", models = { "m" } }
    for k, v in pairs(extra or {}) do p[k] = v end
    return t.load{ config = { providers = { [name] = p } } }
  end
  local function body_of(gw, raw)
    local res = gw:handle{ method = "POST", path = "/v1/chat/completions", body = raw }
    assert.are.equal("proxy", res.kind, res.body)
    return res.attempts[1].body
  end
  local function ids(body)
    local out = {}
    for _, m in ipairs(cjson.decode(body).messages) do
      if m.tool_calls then
        for _, tc in ipairs(m.tool_calls) do out[#out + 1] = tc.id end
      end
      if m.tool_call_id then out[#out + 1] = m.tool_call_id end
    end
    return out
  end

  it("mistral: tool call ids become 9 alphanumerics, the same in tool_calls and tool messages, stable across requests", function()
    local gw = gw_for("mistral")
    local raw = '{"model":"m","messages":[{"role":"user","content":"x"},'
      .. '{"role":"assistant","content":null,"tool_calls":[{"id":"call_Zx9","type":"function","function":{"name":"f","arguments":"{}"}},'
      .. '{"id":"toolu_01ABCDEFGHIJKLMNOPQRSTUV","type":"function","function":{"name":"g","arguments":"{}"}},'
      .. '{"id":"abcDEF123","type":"function","function":{"name":"h","arguments":"{}"}}]},'
      .. '{"role":"tool","tool_call_id":"toolu_01ABCDEFGHIJKLMNOPQRSTUV","content":"2"},'
      .. '{"role":"tool","tool_call_id":"call_Zx9","content":"1"},'
      .. '{"role":"tool","tool_call_id":"abcDEF123","content":"3"}]}'
    local got = ids(body_of(gw, raw))
    assert.are.equal(6, #got)
    for _, id in ipairs(got) do assert.truthy(id:match("^[A-Za-z0-9]+$") and #id == 9, id) end
    -- call order: f, g, h; answers: g, f, h
    assert.are.equal(got[1], got[5])
    assert.are.equal(got[2], got[4])
    assert.are.equal("abcDEF123", got[3])    -- already valid: kept
    assert.are.equal("abcDEF123", got[6])
    assert.are_not.equal(got[1], got[2])
    -- the next turn replays the same history: same ids (another request, another VM)
    assert.are.same(got, ids(body_of(gw_for("mistral"), raw)))
    assert.are.equal(openai.short_id("call_Zx9", 9, 0), got[1])
  end)

  it("mistral: a mapped id never collides with an id already in the request", function()
    local taken = openai.short_id("call_1", 9, 0)
    local raw = '{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":['
      .. '{"id":"' .. taken .. '","type":"function","function":{"name":"f","arguments":"{}"}},'
      .. '{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},'
      .. '{"role":"tool","tool_call_id":"' .. taken .. '","content":"a"},'
      .. '{"role":"tool","tool_call_id":"call_1","content":"b"}]}'
    local got = ids(body_of(gw_for("mistral"), raw))
    assert.are.equal(taken, got[1])
    assert.are_not.equal(taken, got[2])
    assert.are.equal(openai.short_id("call_1", 9, 1), got[2])
    assert.are.equal(got[2], got[4])
  end)

  it("mistral: a translated request (Anthropic client) gets the same id rule and no stream_options", function()
    local gw = gw_for("mistral")
    local res = gw:handle{ method = "POST", path = "/v1/messages", body = '{"model":"m","max_tokens":5,"stream":true,"messages":['
      .. '{"role":"user","content":"x"},'
      .. '{"role":"assistant","content":[{"type":"tool_use","id":"toolu_01XYZ","name":"f","input":{}}]},'
      .. '{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01XYZ","content":"ok"}]}]}' }
    local a = res.attempts[1]
    assert.is_true(a.translate)
    local body = cjson.decode(a.body)
    assert.is_nil(body.stream_options)
    local got = ids(a.body)
    assert.are.equal(2, #got)
    assert.are.equal(openai.short_id("toolu_01XYZ", 9, 0), got[1])
    assert.are.equal(got[1], got[2])
  end)

  it("a request without anything a preset minds is relayed as the very same bytes", function()
    -- (an id with a "/" so that Fireworks' prefix does not apply)
    local raw = '{"model":"org/m","messages":[{"role":"user","content":"x"}],"stop":[],'
      .. '"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"enum":[' .. BIG .. ']}}}}'
    for _, name in ipairs(sorted_names()) do
      assert.are.equal(raw, body_of(gw_for(name, { models = { "org/m" } }), raw), name)
    end
  end)

  it("perplexity: consecutive same-role messages merge; tool turns are never merged", function()
    local raw = '{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":null,"tool_calls":[]},'
      .. '{"role":"assistant","content":"b"},{"role":"assistant","content":"c"}]}'
    assert.are.equal('{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":null,"tool_calls":[]},'
      .. '{"role":"assistant","content":"b\\n\\nc"}]}', body_of(gw_for("perplexity"), raw))
  end)

  it("drop_default only removes the default value: n = 2 reaches groq (its own 400 explains)", function()
    local raw = '{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}'
    assert.are.equal(raw, body_of(gw_for("groq"), raw))
  end)

  it("a policy's edits and the preset's edits combine", function()
    local gw = t.load{ config = { providers = { mistral = { kind = "mistral", api_key = "k", models = { "m" } } },
      policy = nil } }
    local req = t.fake_request{ config = gw.config, path = "/v1/chat/completions",
      body = '{"model":"m","seed":1,"metadata":{},"messages":[{"role":"user","content":"x"}]}' }
    req:set_field("seed", 7)
    local P = gw.config.providers.mistral
    local body = openai.body(P, "m", req, { endpoint = "chat", stream = false, hide_usage = false })
    assert.are.equal('{"model":"m","messages":[{"role":"user","content":"x"}],"random_seed":7}', body)
  end)

  it("malformed preset entries fail at load with the field named", function()
    assert.has_error(function() presets.compile("x", { stream_options = true }) end, "presets.x.stream_options: can only be false")
    assert.has_error(function() presets.compile("x", { tool_call_ids = 0 }) end, "presets.x.tool_call_ids: must be a length 1..14")
    assert.has_error(function() presets.compile("x", { model_rules = { { match = { "a" } } } }) end, "presets.x.model_rules[1]: needs match and drop")
    assert.has_error(function() presets.compile("x", { bridges = { { after = "tool" } } }) end,
      "presets.x.bridges[1]: needs after, before and insert (raw JSON message)")
  end)
end)
