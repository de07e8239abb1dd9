-- examples/moongate.lua: the config `make run` uses.
--
-- The mock provider (build/*/moongate-mock) is always configured; real
-- providers are enabled by setting their key in the environment
-- (OPENAI_API_KEY, OPENROUTER_API_KEY, GROQ_API_KEY): a provider whose
-- api_key is unset is disabled, neither listed nor routed to.
-- `auto` and `fast` go to OpenAI when its key is set, else to the mock.
local has_openai = env("OPENAI_API_KEY") ~= nil

return {
  listen = env("MOONGATE_LISTEN", "127.0.0.1:8080"),
  workers = tonumber(env("MOONGATE_WORKERS", "2")),

  providers = {
    mock = {
      kind = "openai",
      base_url = env("MOCK_URL", "http://127.0.0.1:9001/v1"),
      api_key = "mock-key",
      models = { "mock-small", "mock-large", "mock-embed" },
      timeouts = { connect = 2, first_byte = 30, idle = 60, total = 600 },
    },
    openai = {
      kind = "openai",
      base_url = "https://api.openai.com/v1",
      api_key = env("OPENAI_API_KEY"),
      models = { "gpt-4o-mini", "gpt-4o", "text-embedding-3-small" },
    },
    openrouter = {
      kind = "openai",
      base_url = "https://openrouter.ai/api/v1",
      api_key = env("OPENROUTER_API_KEY"),
      models = { "openai/gpt-4o-mini", "meta-llama/llama-3.1-8b-instruct" },
    },
    groq = {
      kind = "openai",
      base_url = "https://api.groq.com/openai/v1",
      api_key = env("GROQ_API_KEY"),
      models = { "llama-3.1-8b-instant", "llama-3.3-70b-versatile" },
    },
  },

  aliases = {
    auto = has_openai
      and { { provider = "openai", model = "gpt-4o-mini" }, { provider = "mock", model = "mock-small", weight = 0 } }
      or { { provider = "mock", model = "mock-small" } },
    fast = has_openai
      and { { provider = "openai", model = "gpt-4o-mini" }, { provider = "mock", model = "mock-small", weight = 0 } }
      or { { provider = "mock", model = "mock-small" } },
  },

  -- Free-form settings read by the example policies in examples/policies/.
  options = {
    refused_models = { "gpt-4o", "mock-large" },
    max_tokens_limit = 1024,
    denied_tools = { "shell", "run_command" },
    tools_mode = "strip", -- or "refuse"
    required_header = "X-Team",
  },

  -- policy = "scripts/default.lua",  -- the stock policy is used when absent
}
