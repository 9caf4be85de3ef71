// Starts `minimax serve` on the tiny Text-01 model (127.0.0.1, a free port picked by the server) and
// stops it again. MM_CLI_PATH / MM_SHARED_DIR come from ctest; defaults fit a build in ./build.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
export const CLI = process.env.MM_CLI_PATH || path.join(root, "build/minimax");
export const SHARED = process.env.MM_SHARED_DIR || path.resolve(root, "../shared");
export const MODEL = path.join(SHARED, "testdata/minimax_text01_tiny/model_bf16");

// Returns { url, base, port, proc, stop() }. Rejects if the server does not come up in 30 s.
export function startServer(extraArgs = []) {
  if (!existsSync(CLI)) throw new Error(`minimax binary not found at ${CLI} (build first)`);
  const args = ["serve", "--model", MODEL, "--host", "127.0.0.1", "--port", "0", "--threads", "1", ...extraArgs];
  const proc = spawn(CLI, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill("SIGKILL"); reject(new Error("server did not start: " + stderr)); }, 30000);
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (!m) return;
      clearTimeout(timer);
      const port = Number(m[1]);
      const base = `http://127.0.0.1:${port}`;
      resolve({
        port, base, url: base + "/v1", proc,
        stderr: () => stderr,
        stop: () => new Promise((res) => {
          if (proc.exitCode !== null) return res(proc.exitCode);
          const kill = setTimeout(() => proc.kill("SIGKILL"), 5000);
          proc.once("exit", (code) => { clearTimeout(kill); res(code); });
          proc.kill("SIGTERM");
        }),
      });
    });
    proc.once("exit", (code) => { clearTimeout(timer); reject(new Error(`server exited (${code}): ${stderr}`)); });
  });
}

// Prometheus text -> { name: value }.
export async function metrics(base) {
  const text = await (await fetch(base + "/metrics")).text();
  const m = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const [k, v] = line.split(" ");
    m[k] = Number(v);
  }
  return m;
}

export async function waitFor(fn, timeoutMs = 10000, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export async function postRaw(base, route, body, headers = { "Content-Type": "application/json" }) {
  const res = await fetch(base + route, { method: "POST", headers, body });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

export const PROMPTS = [
  "Hello", "The quick brown fox", "1 2 3 4 5", "a", "What is the capital of France?", "zzz yyy xxx",
  "Once upon a time", "Tell me a story about dragons", "x", "How are you today?", "list: apples, pears,",
  "def main():", "<html>", "The weather is", "Numbers: 7 8 9", "Goodbye",
];
