// The official `@google/genai` npm SDK, used exactly as an application would,
// against moongate: the only thing that differs from talking to
// generativelanguage.googleapis.com is `httpOptions.baseUrl` (the gateway's host
// root; the SDK calls {baseUrl}/v1/models/{model}:generateContent etc. itself,
// key in x-goog-api-key).
//
//   node tests/sdk/genai_check.mjs http://127.0.0.1:8080
//   MOONGATE_BASE_URL=http://127.0.0.1:8080 node tests/sdk/genai_check.mjs
//
// Expects a gateway whose config offers, all on the mock provider (see
// tests/integration/test_sdk_dialects.py):
//   mock-small   on an openai-kind provider      (Gemini -> OpenAI translation)
//   claude-mock  on an anthropic-kind provider   (Gemini -> Anthropic translation)
//   gemini-mock  on a gemini-kind provider       (same dialect: passthrough)
//
// Prints one TAP-like line per check, `ok - name` or `not ok - name: reason`,
// and exits 1 if any check failed (2 on a usage error).
import { check, run } from "./harness.mjs";
import assert from "node:assert/strict";
import { ApiError, GoogleGenAI, Type } from "@google/genai";
import { readFileSync } from "node:fs";

const baseUrl = process.argv[2] || process.env.MOONGATE_BASE_URL || process.env.GOOGLE_GEMINI_BASE_URL;
if (!baseUrl) {
  console.error("usage: node genai_check.mjs BASE_URL   (the gateway's host root, e.g. http://127.0.0.1:8080)");
  process.exit(2);
}
// (the package's "exports" hide package.json; read it from node_modules next to this script)
const VERSION = JSON.parse(readFileSync(new URL("./node_modules/@google/genai/package.json", import.meta.url))).version;

// The only change from a stock client: the base URL (and a key the gateway ignores).
const ai = new GoogleGenAI({ apiKey: "unused", httpOptions: { baseUrl } });

// exact: the provider counts tokens (its own count endpoint, translated for the anthropic one); an
// openai-kind provider has none, so the gateway answers with its labelled bytes/4 estimate.
const TARGETS = [
  { label: "openai provider", model: "mock-small", exact: false },
  { label: "anthropic provider", model: "claude-mock", exact: true },
  { label: "gemini passthrough", model: "gemini-mock", exact: true },
];
const text = (model) => `Hello from the mock provider, model ${model}.`;
const contents = "Say hello";
const toolContents = "What is the weather in Paris?";
// The mock counts words (5 here), never bytes / 4 like the gateway's estimate (29 bytes: 8), so
// the number tells which of the two answered.
const COUNT_TEXT = "Count these five words please";
const COUNT_WORDS = 5;
const COUNT_ESTIMATE = Math.ceil(COUNT_TEXT.length / 4);
// The usual SDK way (Type enum, OpenAPI-style schema) ...
const TOOLS = [{
  functionDeclarations: [{
    name: "get_weather",
    description: "Weather for a city",
    parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ["city"] },
  }],
}];
// ... and plain JSON Schema.
const TOOLS_JSON_SCHEMA = [{
  functionDeclarations: [{
    name: "get_weather",
    description: "Weather for a city",
    parametersJsonSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  }],
}];

const show = (v) => JSON.stringify(v);

for (const { label, model, exact } of TARGETS) {
  const TEXT = text(model);

  check(`text (${label})`, async () => {
    const r = await ai.models.generateContent({ model, contents });
    assert.equal(r.text, TEXT, `reply ${show(r)}`);
    assert.ok(Array.isArray(r.candidates) && r.candidates.length === 1, `candidates ${show(r.candidates)}`);
    assert.equal(r.candidates[0].content.role, "model");
    assert.equal(r.candidates[0].finishReason, "STOP");
    const u = r.usageMetadata;
    assert.ok(u && u.candidatesTokenCount === 7, `usageMetadata ${show(u)}`);
    assert.ok(u.promptTokenCount > 0, `usageMetadata ${show(u)}`);
    assert.equal(u.totalTokenCount, u.promptTokenCount + u.candidatesTokenCount, `usageMetadata ${show(u)}`);
  });

  check(`stream (${label})`, async () => {
    const stream = await ai.models.generateContentStream({ model, contents });
    let s = "", chunks = 0, finish = null, usage = null;
    for await (const chunk of stream) {
      chunks++;
      s += chunk.text ?? "";
      const f = chunk.candidates?.[0]?.finishReason;
      if (f) finish = f;
      if (chunk.usageMetadata) usage = chunk.usageMetadata;
    }
    assert.equal(s, TEXT);
    assert.ok(chunks > 1, `only ${chunks} chunk(s)`);
    assert.equal(finish, "STOP");
    assert.ok(usage && usage.candidatesTokenCount === 7, `last usageMetadata ${show(usage)}`);
  });

  check(`function call (${label})`, async () => {
    const r = await ai.models.generateContent({ model, contents: toolContents, config: { tools: TOOLS } });
    const calls = r.functionCalls;
    assert.ok(Array.isArray(calls) && calls.length === 1, `functionCalls ${show(calls)} in ${show(r)}`);
    assert.equal(calls[0].name, "get_weather");
    assert.deepEqual(calls[0].args, { city: "Paris" });
    assert.equal(r.candidates[0].finishReason, "STOP");
  });

  check(`function call stream (${label})`, async () => {
    const stream = await ai.models.generateContentStream({
      model, contents: toolContents, config: { tools: TOOLS_JSON_SCHEMA },
    });
    const calls = [];
    let finish = null;
    for await (const chunk of stream) {
      for (const c of chunk.functionCalls ?? []) calls.push(c);
      const f = chunk.candidates?.[0]?.finishReason;
      if (f) finish = f;
    }
    assert.equal(calls.length, 1, `functionCalls ${show(calls)}`);
    assert.equal(calls[0].name, "get_weather");
    assert.deepEqual(calls[0].args, { city: "Paris" });
    assert.equal(finish, "STOP");
  });

  check(`count tokens (${label})`, async () => {
    const r = await ai.models.countTokens({ model, contents: COUNT_TEXT });
    const estimate = r.sdkHttpResponse?.headers?.["x-moongate-token-estimate"];
    if (exact) {
      assert.equal(r.totalTokens, COUNT_WORDS, `reply ${show(r)} (the provider's count)`);
      assert.equal(estimate, undefined, "an exact count is not labelled as an estimate");
    } else {
      assert.equal(r.totalTokens, COUNT_ESTIMATE, `reply ${show(r)} (the gateway's estimate)`);
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
  assert.ok(err instanceof ApiError, `threw ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.status, 404, `status ${err.status}: ${err.message}`);
  // the SDK puts the Gemini error body (JSON) into the message
  assert.match(err.message, /NOT_FOUND/, err.message);
}

check("unknown model raises ApiError 404", async () => {
  await expectNotFound(() => ai.models.generateContent({ model: "no-such-model-xyz", contents }));
});

check("unknown model raises ApiError 404 (stream)", async () => {
  await expectNotFound(async () => {
    for await (const _ of await ai.models.generateContentStream({ model: "no-such-model-xyz", contents })) {
      // no chunk expected
    }
  });
});

await run(`@google/genai ${VERSION}`);
