-- scripts/default.lua (the stock policy) and examples/moongate.lua (the `make run` config).
local t = require("moongate.testing")

local MSG = { { role = "user", content = "hi" } }

describe("stock policy with the example config", function()
  it("is the policy when the config names none", function()
    local gw = t.load{ config = "examples/moongate.lua" }
    assert.matches("/scripts/default%.lua$", gw.config.policy)
    assert.is_function(gw.hooks.init)
    assert.is_nil(gw.hooks.on_done)
    assert.is_false(gw.settings.has_on_done)
    assert.are.equal("127.0.0.1:8080", gw.settings.listen)
    assert.are.equal(2, gw.settings.workers)
  end)

  it("routes auto and fast to the mock without real keys", function()
    local gw = t.load{ config = "examples/moongate.lua", env = {} }
    for _, alias in ipairs({ "auto", "fast" }) do
      assert.are.same({ { provider = "mock", model = "mock-small" } }, (gw:route{ body = { model = alias, messages = MSG } }))
    end
    local _, status, msg = gw:route{ body = { model = "gpt-4o", messages = MSG } }
    assert.are.equal(404, status)
    assert.are.equal("model 'gpt-4o' not found; available: mock-embed, mock-large, mock-small, auto, fast", msg)
  end)

  it("routes auto to OpenAI first, the mock as fallback, when OPENAI_API_KEY is set", function()
    local gw = t.load{ config = "examples/moongate.lua", env = { OPENAI_API_KEY = "sk-x" } }
    for _ = 1, 20 do
      assert.are.same({ { provider = "openai", model = "gpt-4o-mini" }, { provider = "mock", model = "mock-small" } },
        (gw:route{ body = { model = "auto", messages = MSG } }))
    end
    local res = gw:handle{ body = { model = "auto", messages = MSG } }
    assert.are.equal("https://api.openai.com/v1/chat/completions", res.attempts[1].url)
    assert.are.equal("Authorization: Bearer sk-x", res.attempts[1].headers[1])
    assert.are.equal("http://127.0.0.1:9001/v1/chat/completions", res.attempts[2].url)
  end)

  it("offers OpenRouter ids with a slash as bare ids", function()
    local gw = t.load{ config = "examples/moongate.lua", env = { OPENROUTER_API_KEY = "or", OPENAI_API_KEY = "sk" } }
    assert.are.same({ { provider = "openrouter", model = "openai/gpt-4o-mini" } },
      (gw:route{ body = { model = "openai/gpt-4o-mini", messages = MSG }, query = "vendor=openrouter" }))
    assert.are.same({ { provider = "openai", model = "gpt-4o-mini" } },
      (gw:route{ body = { model = "openai/gpt-4o-mini", messages = MSG } }))
    assert.are.same({ { provider = "openrouter", model = "meta-llama/llama-3.1-8b-instruct" } },
      (gw:route{ body = { model = "meta-llama/llama-3.1-8b-instruct", messages = MSG } }))
  end)
end)
