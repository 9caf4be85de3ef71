// `minimax serve` driven by the official `openai` npm client: chat + completions, streaming, logprobs,
// stop strings, tools, 16 concurrent greedy requests == alone, cancellation, queue limit, errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { startServer, metrics, waitFor, postRaw, PROMPTS } from "./harness.mjs";

let srv, client;
const CTX = 512;

before(async () => {
  srv = await startServer(["--parallel", "4", "--ctx-size", String(CTX)]);
  client = new OpenAI({ baseURL: srv.url, apiKey: "unused", maxRetries: 0, timeout: 60000 });
});
after(async () => { await srv?.stop(); });

const user = (text) => [{ role: "user", content: text }];

async function chatGreedy(text, max_tokens = 12, extra = {}) {
  return client.chat.completions.create({ model: "m", messages: user(text), max_tokens, temperature: 0, ...extra });
}

async function chatStreamText(text, max_tokens = 12, extra = {}) {
  const stream = await client.chat.completions.create({
    model: "m", messages: user(text), max_tokens, temperature: 0, stream: true,
    stream_options: { include_usage: true }, ...extra,
  });
  let content = "", finish = null, usage = null, roles = 0;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta.role) roles++;
    if (c.delta.content) content += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { content, finish, usage, roles };
}

test("models list", async () => {
  const models = await client.models.list();
  assert.equal(models.data.length, 1);
  assert.equal(models.data[0].id, "model_bf16");
  assert.equal(models.data[0].object, "model");
});

test("health and tokenize round trip", async () => {
  const h = await (await fetch(srv.base + "/health")).json();
  assert.equal(h.status, "ok");
  const t = await postRaw(srv.base, "/tokenize", JSON.stringify({ content: "Hello world" }));
  assert.equal(t.status, 200);
  assert.ok(t.json.tokens.length > 0);
  const d = await postRaw(srv.base, "/detokenize", JSON.stringify({ tokens: t.json.tokens }));
  assert.equal(d.json.content, "Hello world");
});

test("chat completion, non-streaming", async () => {
  const r = await chatGreedy("Hello", 12);
  assert.equal(r.object, "chat.completion");
  assert.match(r.id, /^chatcmpl-/);
  assert.match(r.system_fingerprint, /^fp_/);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.ok(["length", "stop"].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  // Greedy is deterministic.
  const again = await chatGreedy("Hello", 12);
  assert.equal(again.choices[0].message.content, r.choices[0].message.content);
});

test("chat completion, streaming equals non-streaming and ends with usage", async () => {
  const whole = await chatGreedy("The quick brown fox", 20);
  const s = await chatStreamText("The quick brown fox", 20);
  assert.equal(s.content, whole.choices[0].message.content);
  assert.equal(s.finish, whole.choices[0].finish_reason);
  assert.equal(s.roles, 1);
  assert.deepEqual(s.usage, whole.usage);
});

test("chat logprobs with top_logprobs", async () => {
  const r = await chatGreedy("Hello", 5, { logprobs: true, top_logprobs: 3 });
  const lp = r.choices[0].logprobs.content;
  assert.ok(lp.length >= 1 && lp.length <= 5);
  for (const t of lp) {
    assert.ok(t.logprob <= 0);
    assert.ok(Array.isArray(t.bytes));
    assert.equal(t.top_logprobs.length, 3);
    assert.equal(t.top_logprobs[0].logprob, t.logprob);  // greedy takes the most likely token
  }
});

test("completions, streaming and not, with logprobs and echo", async () => {
  const r = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 10, temperature: 0, logprobs: 2 });
  assert.equal(r.object, "text_completion");
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 10);
  assert.equal(r.choices[0].logprobs.tokens.length, 10);
  assert.equal(r.choices[0].logprobs.tokens.join("").length >= 0, true);
  const stream = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 10, temperature: 0, stream: true });
  let text = "";
  for await (const c of stream) text += c.choices[0]?.text ?? "";
  assert.equal(text, r.choices[0].text);
  const echo = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 10, temperature: 0, echo: true });
  assert.equal(echo.choices[0].text, "Once upon a time" + r.choices[0].text);
  // Token-id prompts give the same as the text.
  const ids = (await postRaw(srv.base, "/tokenize", JSON.stringify({ content: "Once upon a time" }))).json.tokens;
  const byIds = await client.completions.create({ model: "m", prompt: ids, max_tokens: 10, temperature: 0 });
  assert.equal(byIds.choices[0].text, r.choices[0].text);
});

test("seeded sampling is reproducible", async () => {
  const a = await chatGreedy("Hello", 16, { temperature: 1.0, top_p: 0.9, top_k: 50, seed: 1234 });
  const b = await chatGreedy("Hello", 16, { temperature: 1.0, top_p: 0.9, top_k: 50, seed: 1234 });
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
});

test("stop strings cut the output", async () => {
  const full = (await client.completions.create({ model: "m", prompt: "Hello there", max_tokens: 40, temperature: 0 })).choices[0].text;
  const chars = [...full];
  assert.ok(chars.length >= 8, "need some output");
  const stop = chars.slice(4, 6).join("");
  const expect = full.slice(0, full.indexOf(stop));
  const r = await client.completions.create({ model: "m", prompt: "Hello there", max_tokens: 40, temperature: 0, stop: [stop] });
  assert.equal(r.choices[0].text, expect);
  assert.equal(r.choices[0].finish_reason, "stop");
  const s = await client.completions.create({ model: "m", prompt: "Hello there", max_tokens: 40, temperature: 0, stop, stream: true });
  let text = "";
  for await (const c of s) text += c.choices[0]?.text ?? "";
  assert.equal(text, expect);
});

const TOOLS = [{
  type: "function",
  function: {
    name: "get_weather", description: "Weather of a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
}];

test("tools, tool_choice and tool results are accepted and rendered", async () => {
  const plain = await chatGreedy("Weather in Paris?", 4);
  const withTools = await chatGreedy("Weather in Paris?", 4, { tools: TOOLS });
  assert.ok(withTools.usage.prompt_tokens > plain.usage.prompt_tokens + 20, "tool definitions are in the prompt");
  const none = await chatGreedy("Weather in Paris?", 4, { tools: TOOLS, tool_choice: "none" });
  assert.equal(none.usage.prompt_tokens, plain.usage.prompt_tokens);
  const named = await chatGreedy("Weather in Paris?", 4, { tools: TOOLS, tool_choice: { type: "function", function: { name: "get_weather" } } });
  // A named function (or "required") starts the reply inside a call: the call's opening is in the prompt.
  assert.ok(named.usage.prompt_tokens > withTools.usage.prompt_tokens, "forced call start is in the prompt");
  const required = await chatGreedy("Weather in Paris?", 4, { tools: TOOLS, tool_choice: "required" });
  assert.ok(required.usage.prompt_tokens > withTools.usage.prompt_tokens);
  assert.ok(required.usage.prompt_tokens < named.usage.prompt_tokens, "the named call also fixes the name");
  // A whole tool round trip in the history.
  const r = await client.chat.completions.create({
    model: "m", max_tokens: 6, temperature: 0, tools: TOOLS,
    messages: [
      { role: "system", content: "You are helpful." },
      { role: "user", content: "Weather in Paris?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" } }] },
      { role: "tool", tool_call_id: "call_1", content: "sunny, 21 C" },
    ],
  });
  assert.ok(r.usage.prompt_tokens > withTools.usage.prompt_tokens);
  assert.equal(r.choices[0].message.role, "assistant");
  const s = await chatStreamText("Weather in Paris?", 6, { tools: TOOLS });
  assert.equal(s.content, (await chatGreedy("Weather in Paris?", 6, { tools: TOOLS })).choices[0].message.content);
  await assert.rejects(chatGreedy("x", 2, { tools: TOOLS, tool_choice: { type: "function", function: { name: "nope" } } }),
                       (e) => e.status === 400);
});

test("16 concurrent requests each get the same greedy continuation as alone", async () => {
  const N = 24;
  const alone = [];
  for (const p of PROMPTS) alone.push((await chatGreedy(p, N)).choices[0].message.content);
  const before = await metrics(srv.base);
  const results = await Promise.all(PROMPTS.map((p, i) =>
    i % 2 ? chatGreedy(p, N).then((r) => r.choices[0].message.content) : chatStreamText(p, N).then((s) => s.content)));
  const after = await metrics(srv.base);
  assert.deepEqual(results, alone);
  const steps = after.minimax_engine_steps_total - before.minimax_engine_steps_total;
  const tokens = after.minimax_generated_tokens_total - before.minimax_generated_tokens_total;
  assert.ok(steps < tokens, `batched: ${steps} steps for ${tokens} tokens`);
});

test("aborting a stream frees its slot", async () => {
  // Its own server with room for a long reply: on the tiny model a few hundred tokens take ~0.1 s, so
  // they could all be generated before the abort reached the server (the request then ends by length).
  const s = await startServer(["--parallel", "1", "--ctx-size", "4096"]);
  try {
    const c = new OpenAI({ baseURL: s.url, apiKey: "unused", maxRetries: 0, timeout: 60000 });
    const ac = new AbortController();
    const stream = await c.chat.completions.create(
      { model: "m", messages: user("Hello"), max_tokens: 4000, temperature: 0, stream: true, ignore_eos: true }, { signal: ac.signal });
    let n = 0;
    try {
      for await (const _ of stream) if (++n === 3) ac.abort();  // the SDK may end or throw after an abort
    } catch (e) {
      assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === "AbortError", String(e));
    }
    assert.ok(n >= 3);
    const m = await waitFor(async () => {
      const x = await metrics(s.base);
      return x.minimax_requests_cancelled_total === 1 && x.minimax_slots_busy === 0 ? x : null;
    }, 10000);
    assert.ok(m.minimax_generated_tokens_total < 4000);
    // The server still answers.
    const r = await c.chat.completions.create({ model: "m", messages: user("Hello"), max_tokens: 3, temperature: 0 });
    assert.equal(r.choices[0].message.role, "assistant");
  } finally {
    await s.stop();
  }
});

test("a client that leaves a non-streaming request frees its slot", async () => {
  // Long enough that the request is still generating when the client goes (tiny model: ~ms per token).
  const s = await startServer(["--parallel", "1", "--ctx-size", "4096"]);
  try {
    const c = new OpenAI({ baseURL: s.url, apiKey: "unused", maxRetries: 0, timeout: 60000 });
    const ac = new AbortController();
    const pending = c.chat.completions.create(
      { model: "m", messages: user("Hello"), max_tokens: 4000, temperature: 0, ignore_eos: true }, { signal: ac.signal });
    await waitFor(async () => (await metrics(s.base)).minimax_slots_busy === 1, 10000, 20);
    ac.abort();
    await assert.rejects(pending, (e) => e instanceof OpenAI.APIUserAbortError || e.name === "AbortError");
    const m = await waitFor(async () => {
      const x = await metrics(s.base);
      return x.minimax_requests_cancelled_total === 1 && x.minimax_slots_busy === 0 ? x : null;
    }, 10000, 20);
    assert.ok(m.minimax_generated_tokens_total < 4000, `stopped early: ${m.minimax_generated_tokens_total} tokens`);
    // The one slot is free again.
    const r = await c.chat.completions.create({ model: "m", messages: user("Hi"), max_tokens: 2, temperature: 0 });
    assert.equal(r.choices[0].message.role, "assistant");
  } finally {
    await s.stop();
  }
});

test("request errors get OpenAI error JSON with 4xx", async () => {
  const bad = async (body, status = 400, raw = false) => {
    const r = await postRaw(srv.base, "/v1/chat/completions", raw ? body : JSON.stringify(body));
    assert.equal(r.status, status, r.text);
    assert.equal(typeof r.json?.error?.message, "string", r.text);
    return r.json.error;
  };
  await bad("{not json", 400, true);
  await bad("[1,2]", 400, true);
  await bad({ messages: "hi" });
  await bad({ messages: [] });
  await bad({ messages: [{ role: "user" }, 3] });
  await bad({ messages: user("hi"), temperature: "hot" });
  await bad({ messages: user("hi"), max_tokens: "5" });
  await bad({ messages: user("hi"), max_tokens: 0 });
  await bad({ messages: user("hi"), stream: "yes" });
  await bad({ messages: user("hi"), stop: [1] });
  await bad({ messages: user("hi"), n: 2 });
  await bad({ messages: user("hi"), top_p: 3 });
  await bad({ messages: user("hi"), max_tokens: CTX + 1 });
  await bad({ messages: user("hello ".repeat(CTX * 2)) });
  // Invalid UTF-8 inside a JSON string.
  const r = await postRaw(srv.base, "/v1/chat/completions",
    Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0x80]), Buffer.from('"}]}')]));
  assert.equal(r.status, 400);
  assert.ok(r.json.error);
  // A body over 8 MiB.
  const big = await postRaw(srv.base, "/v1/chat/completions", JSON.stringify({ messages: user("a".repeat(9 << 20)) }))
    .catch((e) => ({ status: "reset", e }));
  if (big.status !== "reset") { assert.equal(big.status, 413); assert.ok(big.json.error); }
  // Completions: wrong prompt types.
  for (const prompt of [null, 5, [], ["a", "b"], [1.5]]) {
    const c = await postRaw(srv.base, "/v1/completions", JSON.stringify({ prompt, max_tokens: 2 }));
    assert.equal(c.status, 400, JSON.stringify(prompt));
  }
  // Unknown fields are ignored.
  const ok = await postRaw(srv.base, "/v1/chat/completions", JSON.stringify({ messages: user("hi"), max_tokens: 2, foo: { bar: 1 } }));
  assert.equal(ok.status, 200);
  // Through the SDK the error is typed.
  await assert.rejects(client.chat.completions.create({ model: "m", messages: [], max_tokens: 2 }),
                       (e) => e instanceof OpenAI.BadRequestError && e.status === 400);
  const nf = await fetch(srv.base + "/v1/nothing");
  assert.equal(nf.status, 404);
  assert.ok((await nf.json()).error);
  // Still healthy and nothing stuck.
  const m = await metrics(srv.base);
  assert.equal(m.minimax_slots_busy, 0);
  assert.equal(m.minimax_queue_depth, 0);
});

test("queue full -> 503 with Retry-After; api key -> 401", async () => {
  const s = await startServer(["--parallel", "1", "--queue", "0", "--api-key", "sekret"]);
  try {
    const c = new OpenAI({ baseURL: s.url, apiKey: "sekret", maxRetries: 0, timeout: 30000 });
    const wrong = new OpenAI({ baseURL: s.url, apiKey: "wrong", maxRetries: 0, timeout: 30000 });
    await assert.rejects(wrong.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
    const noKey = await postRaw(s.base, "/v1/chat/completions", JSON.stringify({ messages: user("hi") }));
    assert.equal(noKey.status, 401);
    const ac = new AbortController();
    const stream = await c.chat.completions.create(
      { model: "m", messages: user("Hello"), max_tokens: 3000, temperature: 0, stream: true, ignore_eos: true }, { signal: ac.signal });
    const it = stream[Symbol.asyncIterator]();
    await it.next();  // it holds the only slot now
    const r = await postRaw(s.base, "/v1/chat/completions", JSON.stringify({ messages: user("hi"), max_tokens: 2 }),
      { "Content-Type": "application/json", Authorization: "Bearer sekret" });
    assert.equal(r.status, 503);
    assert.equal(r.headers.get("retry-after"), "1");
    assert.ok(r.json.error.message);
    ac.abort();
    await it.next().catch(() => {});
    await waitFor(async () => (await postRaw(s.base, "/v1/chat/completions", JSON.stringify({ messages: user("hi"), max_tokens: 2 }),
      { "Content-Type": "application/json", Authorization: "Bearer sekret" })).status === 200, 10000, 100);
  } finally {
    await s.stop();
  }
});
