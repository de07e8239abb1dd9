-- bench/moongate.lua: the config bench/bench.py runs moongate with.
--
-- Production-shaped on purpose: 2 workers pinned one per core (like
-- nginx.conf.in's worker_processes 2 and worker_cpu_affinity auto), JSON
-- access lines written to a file (so logging costs what it costs in
-- production), and the stock policy (no `policy` key), which does its full
-- work on every request: precedence rules, plan, usage accounting, log line.
-- bench.py sets the environment: BENCH_LISTEN, BENCH_MOCK_PORT, BENCH_LOG,
-- BENCH_PACED_SPEC (the mock's fault spec for the paced stream lanes).
--
-- Lane 6 (translation) compares `paced` (OpenAI upstream: passthrough, bytes
-- relayed) with `paced_ant` (the same paced stream from the mock's Anthropic
-- Messages endpoint, translated event by event for the OpenAI client). `ant`
-- is the unpaced Anthropic twin of `mock`, for ad-hoc throughput checks.
local mock = "http://127.0.0.1:" .. env("BENCH_MOCK_PORT", "9001") -- the host root
local paced_spec = env("BENCH_PACED_SPEC", "pace_ms=20,events=64")

return {
  listen = env("BENCH_LISTEN", "127.0.0.1:8080"),
  workers = tonumber(env("BENCH_WORKERS", "2")),
  -- one worker per core, as nginx.conf.in pins its workers (worker_cpu_affinity auto)
  worker_cpu_affinity = env("BENCH_AFFINITY", "auto"),
  log = env("BENCH_LOG", "stderr"),

  providers = {
    mock = {
      kind = "openai",
      base_url = mock .. "/v1",
      api_key = "bench-key",
      models = { "mock-small" },
    },
    paced = {
      kind = "openai",
      base_url = mock .. "/f/" .. paced_spec .. "/v1",
      api_key = "bench-key",
      models = { "mock-paced" },
    },
    paced_ant = {
      kind = "anthropic",
      base_url = mock .. "/f/" .. paced_spec, -- a host root: moongate adds /v1/messages
      api_key = "bench-key",
      models = { "mock-paced-ant" },
    },
    ant = {
      kind = "anthropic",
      base_url = mock,
      api_key = "bench-key",
      models = { "mock-ant" },
    },
  },
}
