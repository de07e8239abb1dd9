// The official `openai` npm SDK, used exactly as an application would, against
// moongate: the only thing that differs from talking to api.openai.com is the
// base URL.
//
//   node tests/sdk/sdk_check.mjs http://127.0.0.1:8080/v1
//   MOONGATE_BASE_URL=http://127.0.0.1:8080/v1 node tests/sdk/sdk_check.mjs
//
// Expects a gateway whose config offers the mock provider (models mock-small
// and mock-embed), a second provider on the mock with the fault spec
// reset_after=3 offering model mock-reset, and a Gemini-kind provider on the
// mock offering gem-embed (see tests/integration/test_sdk.py).
//
// The last checks use the SDK's AzureOpenAI client against the gateway's
// Azure-style route (/openai/deployments/{model}/...), endpoint = the gateway root.
//
// Prints one TAP-like line per check, `ok - name` or `not ok - name: reason`,
// and exits 1 if any check failed (2 on a usage error).
import { check, run } from "./harness.mjs";
import assert from "node:assert/strict";
import OpenAI, { APIError, AzureOpenAI, NotFoundError } from "openai";
import { VERSION } from "openai/version";

const baseURL = process.argv[2] || process.env.MOONGATE_BASE_URL || process.env.OPENAI_BASE_URL;
if (!baseURL) {
  console.error("usage: node sdk_check.mjs BASE_URL   (e.g. http://127.0.0.1:8080/v1)");
  process.exit(2);
}

// The only change from a stock client: the base URL (and a key the gateway ignores).
const client = new OpenAI({ baseURL, apiKey: "unused" });

const MODEL = "mock-small";
const TEXT = `Hello from the mock provider, model ${MODEL}.`;
const messages = [{ role: "user", content: "Say hello" }];
const TOOLS = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
}];
const toolMessages = [{ role: "user", content: "What is the weather in Paris?" }];


check("chat non-stream", async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(r.choices[0].message.content, TEXT);
  assert.equal(r.choices[0].finish_reason, "stop");
  assert.ok(r.usage && r.usage.completion_tokens === 7, `usage ${JSON.stringify(r.usage)}`);
  // the SDK exposes the x-request-id reply header as _request_id
  assert.ok(r._request_id, "no x-request-id seen by the SDK");
});

check("chat stream", async () => {
  const stream = await client.chat.completions.create({ model: MODEL, messages, stream: true });
  let text = "", chunks = 0, finish = null;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, "chat.completion.chunk");
    const c = chunk.choices[0];
    if (c?.delta?.content) text += c.delta.content;
    if (c?.finish_reason) finish = c.finish_reason;
  }
  assert.equal(text, TEXT);
  assert.ok(chunks > 1, `only ${chunks} chunk(s)`);
  assert.equal(finish, "stop");
});

check("chat stream include_usage", async () => {
  const stream = await client.chat.completions.create({
    model: MODEL, messages, stream: true, stream_options: { include_usage: true },
  });
  let text = "", last = null;
  for await (const chunk of stream) {
    last = chunk;
    if (chunk.choices[0]?.delta?.content) text += chunk.choices[0].delta.content;
  }
  assert.equal(text, TEXT);
  assert.ok(last, "no chunk");
  assert.deepEqual(last.choices, [], "the usage chunk is not the last one");
  assert.ok(last.usage, `final chunk has no usage: ${JSON.stringify(last)}`);
  assert.ok(last.usage.prompt_tokens > 0, `prompt_tokens ${last.usage.prompt_tokens}`);
  assert.equal(last.usage.completion_tokens, 7);
});

check("tools non-stream", async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages: toolMessages, tools: TOOLS });
  const calls = r.choices[0].message.tool_calls;
  assert.ok(Array.isArray(calls) && calls.length === 1, `tool_calls ${JSON.stringify(calls)}`);
  assert.equal(calls[0].type, "function");
  assert.equal(calls[0].function.name, "get_weather");
  assert.deepEqual(JSON.parse(calls[0].function.arguments), { city: "Paris" });
  assert.equal(r.choices[0].finish_reason, "tool_calls");
});

check("tools stream (SDK stream helper)", async () => {
  const runner = client.chat.completions.stream({ model: MODEL, messages: toolMessages, tools: TOOLS });
  let deltas = "", doneArgs = null;
  runner.on("tool_calls.function.arguments.delta", (e) => { deltas += e.arguments_delta; });
  runner.on("tool_calls.function.arguments.done", (e) => { doneArgs = e.arguments; });
  const final = await runner.finalChatCompletion();
  const calls = final.choices[0].message.tool_calls;
  assert.ok(Array.isArray(calls) && calls.length === 1, `tool_calls ${JSON.stringify(calls)}`);
  assert.equal(calls[0].function.name, "get_weather");
  assert.equal(calls[0].function.arguments, '{"city":"Paris"}');
  assert.equal(deltas, '{"city":"Paris"}');
  assert.equal(doneArgs, '{"city":"Paris"}');
  assert.equal(final.choices[0].finish_reason, "tool_calls");
});

check("tools stream (manual accumulation)", async () => {
  const stream = await client.chat.completions.create({
    model: MODEL, messages: toolMessages, tools: TOOLS, stream: true,
  });
  let name = "", args = "", id = null, fragments = 0;
  for await (const chunk of stream) {
    for (const tc of chunk.choices[0]?.delta?.tool_calls ?? []) {
      if (tc.id) id = tc.id;
      if (tc.function?.name) name += tc.function.name;
      if (tc.function?.arguments) { args += tc.function.arguments; fragments++; }
    }
  }
  assert.ok(id, "no tool call id");
  assert.equal(name, "get_weather");
  assert.equal(args, '{"city":"Paris"}');
  assert.ok(fragments > 1, `arguments arrived in ${fragments} fragment(s)`);
});

check("completions non-stream", async () => {
  const r = await client.completions.create({ model: MODEL, prompt: "Say hello" });
  assert.equal(r.object, "text_completion");
  assert.equal(r.choices[0].text, TEXT);
});

check("embeddings", async () => {
  const input = ["alpha", "beta", "gamma"];
  const r = await client.embeddings.create({ model: "mock-embed", input, encoding_format: "float" });
  assert.equal(r.data.length, input.length);
  r.data.forEach((d, i) => {
    assert.ok(Array.isArray(d.embedding), `embedding ${i} is not an array`);
    assert.ok(d.embedding.every((x) => typeof x === "number" && Number.isFinite(x)), `embedding ${i} not numbers`);
    // the mock: 8 floats per input, value i + 0.125*j
    assert.deepEqual(d.embedding, Array.from({ length: 8 }, (_, j) => d.index + 0.125 * j));
  });
});

check("embeddings default encoding", async () => {
  // Without encoding_format the SDK asks for "base64" and decodes the float32
  // bytes itself; the mock answers base64 when asked, so the values are exact.
  const input = ["alpha", "beta"];
  const r = await client.embeddings.create({ model: "mock-embed", input });
  assert.equal(r.data.length, input.length);
  r.data.forEach((d) => {
    assert.deepEqual(Array.from(d.embedding), Array.from({ length: 8 }, (_, j) => d.index + 0.125 * j));
  });
});

check("embeddings via a Gemini provider", async () => {
  // translated to batchEmbedContents; the mock's vectors (gemini.c embed_value)
  // are printed with 17 significant digits, so "float" must give the exact
  // doubles and the SDK's default (base64) their float32 roundings
  const value = (i, j) => [i + 0.125 * j, (i + 1) / 3, -(j + 1) / 7 * 1e-5, 0.1 * (i + j)][j % 4];
  const input = ["alpha", "beta"];
  const f = await client.embeddings.create({ model: "gem-embed", input, encoding_format: "float", dimensions: 6 });
  assert.equal(f.data.length, input.length);
  f.data.forEach((d, i) => {
    assert.equal(d.index, i);
    assert.deepEqual(d.embedding, Array.from({ length: 6 }, (_, j) => value(i, j)));
  });
  assert.ok(f.usage.prompt_tokens > 0, `usage ${JSON.stringify(f.usage)}`);
  const b = await client.embeddings.create({ model: "gem-embed", input });
  b.data.forEach((d, i) => {
    assert.deepEqual(Array.from(d.embedding), Array.from({ length: 8 }, (_, j) => Math.fround(value(i, j))));
  });
});

check("models list", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes("mock-small"), `mock-small not in ${JSON.stringify(ids)}`);
  assert.ok(ids.includes("mock-embed"), `mock-embed not in ${JSON.stringify(ids)}`);
});

check("unknown model raises NotFoundError", async () => {
  let err = null;
  try {
    await client.chat.completions.create({ model: "no-such-model-xyz", messages });
  } catch (e) {
    err = e;
  }
  assert.ok(err, "the SDK did not throw");
  assert.ok(err instanceof NotFoundError, `threw ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 404);
  assert.ok(err.error && typeof err.error.message === "string", `no OpenAI error body: ${JSON.stringify(err.error)}`);
});

check("mid-stream upstream reset raises", async () => {
  const stream = await client.chat.completions.create({ model: "mock-reset", messages, stream: true });
  let text = "", err = null;
  try {
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) text += chunk.choices[0].delta.content;
    }
  } catch (e) {
    err = e;
  }
  assert.ok(err, `the for-await loop ended without an error (text ${JSON.stringify(text)})`);
  // the three words sent before the reset reached the client, not the whole reply
  assert.equal(text, "Hello from the ", `text before the error ${JSON.stringify(text)}`);
  // the gateway reports it as an OpenAI error event, which the SDK raises as APIError
  assert.ok(err instanceof APIError, `threw ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.error?.type, "upstream_error", `error ${JSON.stringify(err.error)}`);
  assert.equal(err.code, "upstream_reset", `error ${JSON.stringify(err.error)}`);
});

// The SDK's AzureOpenAI client against the gateway's Azure-style route: only
// the endpoint differs (the gateway's root; the SDK adds /openai), requests go
// to /openai/deployments/{model}/chat/completions?api-version=... with the key
// in `api-key`.
const endpoint = baseURL.replace(/\/v1\/?$/, "");
const azureOpts = { endpoint, apiKey: "azure-client-key", apiVersion: "2024-10-21" };

check("azure client chat non-stream", async () => {
  const azure = new AzureOpenAI(azureOpts);
  // the SDK puts the model into the path unencoded: "mock/mock-small" arrives as two segments
  for (const model of [MODEL, `mock/${MODEL}`]) {
    const r = await azure.chat.completions.create({ model, messages });
    assert.equal(r.object, "chat.completion");
    assert.equal(r.choices[0].message.content, TEXT);
    assert.equal(r.choices[0].finish_reason, "stop");
    assert.ok(r._request_id, "no x-request-id seen by the SDK");
  }
});

check("azure client chat stream (deployment wins over the body's model)", async () => {
  const azure = new AzureOpenAI({ ...azureOpts, deployment: MODEL });
  const stream = await azure.chat.completions.create({ model: "no-such-model-xyz", messages, stream: true });
  let text = "", finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    const c = chunk.choices[0];
    if (c?.delta?.content) text += c.delta.content;
    if (c?.finish_reason) finish = c.finish_reason;
  }
  assert.equal(text, TEXT);
  assert.equal(finish, "stop");
});

await run(`openai ${VERSION}`);
