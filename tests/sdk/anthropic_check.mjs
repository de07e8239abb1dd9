// The official `@anthropic-ai/sdk` npm SDK, used exactly as an application
// would, against moongate: the only thing that differs from talking to
// api.anthropic.com is the base URL (the gateway's host root; the SDK appends
// /v1/messages itself).
//
//   node tests/sdk/anthropic_check.mjs http://127.0.0.1:8080
//   MOONGATE_BASE_URL=http://127.0.0.1:8080 node tests/sdk/anthropic_check.mjs
//
// Expects a gateway whose config offers, all on the mock provider (see
// tests/integration/test_sdk_dialects.py):
//   mock-small   on an openai-kind provider      (Anthropic -> OpenAI translation)
//   gemini-mock  on a gemini-kind provider       (Anthropic -> Gemini translation)
//   claude-mock  on an anthropic-kind provider   (same dialect: passthrough)
//
// Prints one TAP-like line per check, `ok - name` or `not ok - name: reason`,
// and exits 1 if any check failed (2 on a usage error).
import { check, run } from "./harness.mjs";
import assert from "node:assert/strict";
import Anthropic, { APIError, NotFoundError } from "@anthropic-ai/sdk";
import { VERSION } from "@anthropic-ai/sdk/version";

const baseURL = process.argv[2] || process.env.MOONGATE_BASE_URL || process.env.ANTHROPIC_BASE_URL;
if (!baseURL) {
  console.error("usage: node anthropic_check.mjs BASE_URL   (the gateway's host root, e.g. http://127.0.0.1:8080)");
  process.exit(2);
}

// The only change from a stock client: the base URL (and a key the gateway ignores).
// The SDK sends it as `Authorization: Bearer`, with its own anthropic-version.
const client = new Anthropic({ baseURL, apiKey: "unused" });

// exact: the provider counts tokens (its own count endpoint, translated for the gemini one); an
// openai-kind provider has none, so the gateway answers with its labelled bytes/4 estimate.
const TARGETS = [
  { label: "openai provider", model: "mock-small", exact: false },
  { label: "gemini provider", model: "gemini-mock", exact: true },
  { label: "anthropic passthrough", model: "claude-mock", exact: true },
];
const text = (model) => `Hello from the mock provider, model ${model}.`;
const messages = [{ role: "user", content: "Say hello" }];
const toolMessages = [{ role: "user", content: "What is the weather in Paris?" }];
const TOOLS = [{
  name: "get_weather",
  description: "Weather for a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
}];
const MAX_TOKENS = 256;
// The mock counts words (5 here), never bytes / 4 like the gateway's estimate (29 bytes: 8), so
// the number tells which of the two answered.
const COUNT_TEXT = "Count these five words please";
const COUNT_WORDS = 5;
const COUNT_ESTIMATE = Math.ceil(COUNT_TEXT.length / 4);

const show = (v) => JSON.stringify(v);

for (const { label, model, exact } of TARGETS) {
  const TEXT = text(model);

  check(`text (${label})`, async () => {
    const m = await client.messages.create({ model, max_tokens: MAX_TOKENS, messages });
    assert.equal(m.type, "message", show(m));
    assert.equal(m.role, "assistant");
    assert.ok(Array.isArray(m.content) && m.content.length === 1, `content ${show(m.content)}`);
    assert.equal(m.content[0].type, "text");
    assert.equal(m.content[0].text, TEXT);
    assert.equal(m.stop_reason, "end_turn");
    assert.ok(m.usage && m.usage.output_tokens === 7, `usage ${show(m.usage)}`);
    assert.ok(m.usage.input_tokens > 0, `usage ${show(m.usage)}`);
    assert.ok(typeof m.id === "string" && m.id, `id ${show(m.id)}`);
  });

  check(`stream helper text (${label})`, async () => {
    const stream = client.messages.stream({ model, max_tokens: MAX_TOKENS, messages });
    let deltas = "", n = 0;
    stream.on("text", (d) => { deltas += d; n++; });
    const final = await stream.finalMessage();
    assert.equal(deltas, TEXT);
    assert.ok(n > 1, `text arrived in ${n} delta(s)`);
    assert.equal(final.content.length, 1, `content ${show(final.content)}`);
    assert.equal(final.content[0].type, "text");
    assert.equal(final.content[0].text, TEXT);
    assert.equal(final.stop_reason, "end_turn");
    assert.ok(final.usage && final.usage.output_tokens === 7, `usage ${show(final.usage)}`);
  });

  check(`stream for-await (${label})`, async () => {
    const stream = await client.messages.create({ model, max_tokens: MAX_TOKENS, messages, stream: true });
    const types = [];
    let s = "", stop = null;
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === "content_block_delta" && ev.delta.type === "text_delta") s += ev.delta.text;
      if (ev.type === "message_delta") stop = ev.delta.stop_reason;
    }
    assert.equal(s, TEXT);
    assert.equal(types[0], "message_start", `events ${show(types)}`);
    assert.equal(types[types.length - 1], "message_stop", `events ${show(types)}`);
    assert.equal(types.filter((t) => t === "message_start").length, 1, `events ${show(types)}`);
    assert.ok(types.includes("content_block_start") && types.includes("content_block_stop"), `events ${show(types)}`);
    assert.equal(stop, "end_turn");
  });

  check(`tool_use (${label})`, async () => {
    const m = await client.messages.create({ model, max_tokens: MAX_TOKENS, messages: toolMessages, tools: TOOLS });
    const uses = m.content.filter((b) => b.type === "tool_use");
    assert.equal(uses.length, 1, `content ${show(m.content)}`);
    assert.equal(uses[0].name, "get_weather");
    assert.deepEqual(uses[0].input, { city: "Paris" });
    assert.ok(typeof uses[0].id === "string" && uses[0].id, `tool_use id ${show(uses[0].id)}`);
    assert.equal(m.stop_reason, "tool_use");
  });

  check(`tool_use stream helper (${label})`, async () => {
    const stream = client.messages.stream({ model, max_tokens: MAX_TOKENS, messages: toolMessages, tools: TOOLS });
    let partial = "", snapshot = null;
    stream.on("inputJson", (p, snap) => { partial += p; snapshot = snap; });
    const final = await stream.finalMessage();
    const uses = final.content.filter((b) => b.type === "tool_use");
    assert.equal(uses.length, 1, `content ${show(final.content)}`);
    assert.equal(uses[0].name, "get_weather");
    assert.deepEqual(uses[0].input, { city: "Paris" });
    assert.deepEqual(JSON.parse(partial), { city: "Paris" }, `input_json deltas ${show(partial)}`);
    assert.deepEqual(snapshot, { city: "Paris" });
    assert.equal(final.stop_reason, "tool_use");
  });

  check(`count tokens (${label})`, async () => {
    const { data: r, response } = await client.messages
      .countTokens({ model, messages: [{ role: "user", content: COUNT_TEXT }] })
      .withResponse();
    const estimate = response.headers.get("x-moongate-token-estimate");
    if (exact) {
      assert.equal(r.input_tokens, COUNT_WORDS, `reply ${show(r)} (the provider's count)`);
      assert.equal(estimate, null, "an exact count is not labelled as an estimate");
    } else {
      assert.equal(r.input_tokens, COUNT_ESTIMATE, `reply ${show(r)} (the gateway's estimate)`);
      assert.equal(estimate, "bytes/4");
    }
  });
}

async function expectNotFound(fn) {
  let err = null;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, "the SDK did not throw");
  assert.ok(err instanceof NotFoundError, `threw ${err?.constructor?.name} (status ${err?.status}): ${err?.message}`);
  assert.equal(err.status, 404);
  // the Anthropic error envelope, parsed by the SDK
  assert.equal(err.error?.type, "error", `error body ${show(err.error)}`);
  assert.equal(err.error?.error?.type, "not_found_error", `error body ${show(err.error)}`);
  assert.ok(err instanceof APIError);
}

check("unknown model raises NotFoundError", async () => {
  await expectNotFound(() => client.messages.create({ model: "no-such-model-xyz", max_tokens: MAX_TOKENS, messages }));
});

check("unknown model raises NotFoundError (stream helper)", async () => {
  await expectNotFound(() =>
    client.messages.stream({ model: "no-such-model-xyz", max_tokens: MAX_TOKENS, messages }).finalMessage());
});

await run(`@anthropic-ai/sdk ${VERSION}`);
