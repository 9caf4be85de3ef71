// The chat page served at GET /: plain HTML + JS, no build step. It streams /v1/chat/completions and
// shows reasoning (reasoning_content) apart from the answer. `/?q=TEXT` sends TEXT on load
// (used by tests; `temperature` and `max_tokens` may be given the same way).
#include "server/routes.h"

namespace mm::server {

const char* const kChatPageHtml = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>minimax.cpp chat</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 0 auto; padding: 1rem; background: #fafafa; }
  h1 { font-size: 1.2rem; }
  #log { display: flex; flex-direction: column; gap: .6rem; margin-bottom: 1rem; }
  .msg { padding: .6rem .8rem; border-radius: .5rem; white-space: pre-wrap; word-wrap: break-word; }
  .user { background: #dbeafe; align-self: flex-end; max-width: 85%; }
  .assistant { background: #fff; border: 1px solid #ddd; }
  .reasoning { color: #666; font-style: italic; border-left: 3px solid #ccc; padding-left: .5rem; margin-bottom: .4rem; }
  .reasoning:empty { display: none; }
  .tools { font-family: monospace; font-size: .85rem; color: #7c3aed; }
  .error { color: #b91c1c; }
  form { display: flex; gap: .5rem; }
  textarea { flex: 1; min-height: 3rem; font: inherit; }
  #settings { font-size: .85rem; color: #555; margin-bottom: .5rem; }
  #settings input { width: 5rem; }
</style>
</head>
<body>
<h1>minimax.cpp</h1>
<div id="settings">
  temperature <input id="temperature" type="number" step="0.1" min="0" max="2" value="0.7">
  max tokens <input id="max_tokens" type="number" min="1" value="256">
  API key <input id="api_key" type="password" style="width:10rem">
</div>
<div id="log"></div>
<form id="form">
  <textarea id="input" placeholder="Ask something (Enter to send, Shift+Enter for a new line)"></textarea>
  <button id="send" type="submit">Send</button>
</form>
<script>
"use strict";
const history = [];
const log = document.getElementById("log");
const input = document.getElementById("input");
const sendButton = document.getElementById("send");

function bubble(cls) {
  const div = document.createElement("div");
  div.className = "msg " + cls;
  log.appendChild(div);
  return div;
}

async function send(text) {
  if (!text.trim()) return;
  history.push({ role: "user", content: text });
  bubble("user").textContent = text;
  const box = bubble("assistant");
  const reasoning = document.createElement("div");
  reasoning.className = "reasoning";
  const answer = document.createElement("div");
  answer.className = "answer";
  const tools = document.createElement("div");
  tools.className = "tools";
  box.append(reasoning, answer, tools);
  sendButton.disabled = true;
  const headers = { "Content-Type": "application/json" };
  const key = document.getElementById("api_key").value;
  if (key) headers["Authorization"] = "Bearer " + key;
  const body = {
    messages: history, stream: true,
    temperature: Number(document.getElementById("temperature").value),
    max_tokens: Number(document.getElementById("max_tokens").value),
  };
  let content = "", reasoningText = "";
  try {
    const res = await fetch("/v1/chat/completions", { method: "POST", headers, body: JSON.stringify(body) });
    if (!res.ok) {
      const err = await res.json().catch(() => ({}));
      throw new Error((err.error && err.error.message) || ("HTTP " + res.status));
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          const delta = (chunk.choices && chunk.choices[0] && chunk.choices[0].delta) || {};
          if (delta.reasoning_content) { reasoningText += delta.reasoning_content; reasoning.textContent = reasoningText; }
          if (delta.content) { content += delta.content; answer.textContent = content; }
          for (const call of delta.tool_calls || [])
            tools.textContent += "tool call: " + call.function.name + "(" + call.function.arguments + ")\n";
        }
      }
    }
    history.push({ role: "assistant", content, reasoning_content: reasoningText });
    box.dataset.done = "1";
  } catch (e) {
    const err = document.createElement("div");
    err.className = "error";
    err.textContent = "Error: " + e.message;
    box.appendChild(err);
    box.dataset.done = "error";
    history.pop();
  } finally {
    sendButton.disabled = false;
  }
}

document.getElementById("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = input.value;
  input.value = "";
  send(text);
});
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); document.getElementById("form").requestSubmit(); }
});
const params = new URLSearchParams(location.search);
for (const k of ["temperature", "max_tokens"]) if (params.get(k) !== null) document.getElementById(k).value = params.get(k);
if (params.get("q")) send(params.get("q"));
</script>
</body>
</html>
)HTML";

}  // namespace mm::server
