// `minimax serve` driven by the official `@anthropic-ai/sdk` client: Messages API, streaming events,
// stop sequences, tools / tool results, count_tokens, errors.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { startServer, metrics, postRaw } from "./harness.mjs";

let srv, client;

before(async () => {
  srv = await startServer(["--parallel", "2", "--ctx-size", "512"]);
  client = new Anthropic({ baseURL: srv.base, apiKey: "unused", maxRetries: 0, timeout: 60000 });
});
after(async () => { await srv?.stop(); });

const msg = (text) => [{ role: "user", content: text }];
const textOf = (m) => m.content.filter((b) => b.type === "text").map((b) => b.text).join("");

test("messages.create, non-streaming", async () => {
  const m = await client.messages.create({ model: "m", max_tokens: 12, temperature: 0, messages: msg("Hello") });
  assert.equal(m.type, "message");
  assert.equal(m.role, "assistant");
  assert.match(m.id, /^msg_/);
  assert.ok(["max_tokens", "end_turn"].includes(m.stop_reason));
  assert.ok(m.usage.input_tokens > 0);
  assert.ok(m.usage.output_tokens >= 1 && m.usage.output_tokens <= 12);
  assert.ok(m.content.length >= 1);
  const again = await client.messages.create({ model: "m", max_tokens: 12, temperature: 0, messages: msg("Hello") });
  assert.equal(textOf(again), textOf(m));
});

test("streaming events build the same message", async () => {
  const whole = await client.messages.create({ model: "m", max_tokens: 20, temperature: 0, system: "Be brief.", messages: msg("The quick brown fox") });
  // Raw events: the documented order.
  const stream = await client.messages.create({ model: "m", max_tokens: 20, temperature: 0, system: "Be brief.", messages: msg("The quick brown fox"), stream: true });
  const types = [];
  let text = "";
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === "content_block_delta" && ev.delta.type === "text_delta") text += ev.delta.text;
  }
  assert.equal(types[0], "message_start");
  assert.equal(types.at(-1), "message_stop");
  assert.equal(types.at(-2), "message_delta");
  assert.ok(types.includes("content_block_start") && types.includes("content_block_stop"));
  assert.equal(text, textOf(whole));
  // The SDK's stream helper accumulates the final message.
  const final = await client.messages.stream({ model: "m", max_tokens: 20, temperature: 0, system: "Be brief.", messages: msg("The quick brown fox") }).finalMessage();
  assert.equal(textOf(final), textOf(whole));
  assert.equal(final.stop_reason, whole.stop_reason);
  assert.equal(final.usage.output_tokens, whole.usage.output_tokens);
});

test("stop_sequences", async () => {
  const full = textOf(await client.messages.create({ model: "m", max_tokens: 40, temperature: 0, messages: msg("Once upon a time"), ignore_eos: true }));
  const chars = [...full];
  assert.ok(chars.length >= 8);
  const stop = chars.slice(4, 6).join("");
  const m = await client.messages.create({ model: "m", max_tokens: 40, temperature: 0, messages: msg("Once upon a time"), stop_sequences: [stop], ignore_eos: true });
  assert.equal(m.stop_reason, "stop_sequence");
  assert.equal(m.stop_sequence, stop);
  assert.equal(textOf(m), full.slice(0, full.indexOf(stop)));
});

const TOOLS = [{
  name: "get_weather", description: "Weather of a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
}];

test("tools, tool_use history and tool_result blocks", async () => {
  const count = async (body) => (await client.messages.countTokens({ model: "m", ...body })).input_tokens;
  const plain = await count({ messages: msg("Weather in Paris?") });
  const withTools = await count({ messages: msg("Weather in Paris?"), tools: TOOLS });
  assert.ok(withTools > plain + 20);
  assert.equal(await count({ messages: msg("Weather in Paris?"), tools: TOOLS, tool_choice: { type: "none" } }), plain);
  // "any" / "tool" start the reply inside a call (its opening is part of the prompt).
  const any = await count({ messages: msg("Weather in Paris?"), tools: TOOLS, tool_choice: { type: "any" } });
  const named = await count({ messages: msg("Weather in Paris?"), tools: TOOLS, tool_choice: { type: "tool", name: "get_weather" } });
  assert.ok(withTools < any && any < named, `${withTools} < ${any} < ${named}`);
  const history = [
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", content: [
      { type: "thinking", thinking: "I should call the tool.", signature: "" },
      { type: "text", text: "Let me check." },
      { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "sunny, 21 C" }, { type: "text", text: "Thanks" }] },
  ];
  const m = await client.messages.create({ model: "m", max_tokens: 6, temperature: 0, tools: TOOLS, messages: history });
  assert.ok(m.usage.input_tokens > withTools);
  assert.equal(m.usage.input_tokens, await count({ messages: history, tools: TOOLS }));
  const s = await client.messages.stream({ model: "m", max_tokens: 6, temperature: 0, tools: TOOLS, messages: history }).finalMessage();
  assert.equal(textOf(s), textOf(m));
});

test("errors come back as Anthropic error JSON", async () => {
  const bad = async (body, status = 400) => {
    const r = await postRaw(srv.base, "/v1/messages", typeof body === "string" ? body : JSON.stringify(body));
    assert.equal(r.status, status, r.text);
    assert.equal(r.json.type, "error", r.text);
    assert.equal(typeof r.json.error.type, "string");
    assert.equal(typeof r.json.error.message, "string");
  };
  await bad("{oops");
  await bad({ model: "m", messages: msg("hi") });                       // max_tokens missing
  await bad({ model: "m", max_tokens: "3", messages: msg("hi") });
  await bad({ model: "m", max_tokens: 3, messages: [] });
  await bad({ model: "m", max_tokens: 3, messages: [{ role: "system", content: "x" }] });
  await bad({ model: "m", max_tokens: 3, messages: [{ role: "user", content: [{ type: "image", source: {} }] }] });
  await bad({ model: "m", max_tokens: 3, messages: msg("hi"), stop_sequences: [2] });
  await bad({ model: "m", max_tokens: 5000, messages: msg("hi") });
  await bad({ model: "m", max_tokens: 3, messages: msg("hello ".repeat(1000)) });
  await assert.rejects(client.messages.create({ model: "m", max_tokens: 0, messages: msg("hi") }),
                       (e) => e instanceof Anthropic.BadRequestError && e.status === 400);
  const m = await metrics(srv.base);
  assert.equal(m.minimax_slots_busy, 0);
});
