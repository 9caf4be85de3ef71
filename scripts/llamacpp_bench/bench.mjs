// llama.cpp's CPU backend (the prebuilt binaries of node-llama-cpp) on a GGUF file, measured the way
// `minimax bench` measures: prefill = one evaluation of a P-token prompt, decode = N single-token steps
// from an empty context (greedy, never stopping at end-of-generation tokens), median over reps.
//
//   node bench.mjs bench  MODEL.gguf [--threads 2] [-p 512] [-n 128] [--reps 3] [--ctx 1024] [--no-mmap] [--vocab V]
//   node bench.mjs greedy MODEL.gguf --ids 1,2,3 [-n 8] [--threads 2] [--top 5]
//   node bench.mjs tokenize MODEL.gguf --text "..."   (llama.cpp's tokenizer from the GGUF metadata)
//
// Prints one JSON object. Two timings per phase: `*_wall` is wall-clock around the JavaScript call
// (includes the binding's per-call overhead: an async round trip, a lock and the sampler per token),
// `*_internal` is llama.cpp's own perf counter (llama_perf_context: time inside llama_decode, the number
// llama-bench reports). Nothing is downloaded or built: only the prebuilt CPU binary is accepted.
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
process.env.NODE_LLAMA_CPP_GPU = "false";

const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");

function parseArgs(argv) {
  const a = { mode: argv[0], model: argv[1], threads: 2, p: 512, n: 128, reps: 3, ctx: 1024, mmap: true, ids: null, top: 5, vocab: null, text: null };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = () => argv[++i];
    if (k === "--threads") a.threads = Number(v());
    else if (k === "-p") a.p = Number(v());
    else if (k === "-n") a.n = Number(v());
    else if (k === "--reps") a.reps = Number(v());
    else if (k === "--ctx") a.ctx = Number(v());
    else if (k === "--no-mmap") a.mmap = false;
    else if (k === "--ids") a.ids = v().split(",").map(Number);
    else if (k === "--top") a.top = Number(v());
    else if (k === "--vocab") a.vocab = Number(v());
    else if (k === "--text") a.text = v();
    else throw new Error(`unknown argument ${k}`);
  }
  if (!["bench", "greedy", "tokenize"].includes(a.mode) || !a.model) throw new Error("usage: bench.mjs bench|greedy MODEL.gguf [options]");
  return a;
}

// The prompt ids of `minimax bench` (tools/cmd_bench.cpp bench_ids: a 64-bit LCG), so both engines
// see the same tokens.
function benchIds(n, vocab) {
  const ids = [];
  let z = 12345n;
  const mask = (1n << 64n) - 1n;
  for (let i = 0; i < n; i++) {
    z = (z * 6364136223846793005n + 1442695040888963407n) & mask;
    ids.push(Number((z >> 33n) % BigInt(vocab)));
  }
  return ids;
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const args = parseArgs(process.argv.slice(2));
const logs = [];
const llama = await getLlama({
  gpu: false,
  build: "never",           // never compile llama.cpp
  skipDownload: true,       // never fetch its source
  usePrebuiltBinaries: true,
  progressLogs: false,
  maxThreads: args.threads,
  logLevel: LlamaLogLevel.info,
  logger: (level, message) => logs.push(message),
});
const t0 = performance.now();
if (args.mode === "tokenize") {
  const m = await llama.loadModel({ modelPath: args.model, vocabOnly: true });
  const ids = m.tokenize(args.text, true);
  console.log(JSON.stringify({ engine: "llama.cpp", ids: [...ids], detokenized: m.detokenize(ids, true) }));
  await m.dispose();
  await llama.dispose();
  process.exit(0);
}
let model;
try {
  model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0, useMmap: args.mmap, useMlock: false });
} catch (e) {
  const errs = logs.filter((l) => /error|failed|unknown|unsupported/i.test(l)).map((l) => l.trim());
  console.log(JSON.stringify({ engine: "llama.cpp", model: args.model, load_error: String(e.message ?? e), llama_log: errs.slice(-6) }));
  process.exit(2);
}
const loadS = (performance.now() - t0) / 1000;
const context = await model.createContext({
  contextSize: Math.max(args.ctx, args.p + 8, (args.ids?.length ?? 0) + args.n + 8),
  batchSize: Math.max(args.p, 512),
  sequences: 1,
  threads: { ideal: args.threads, min: args.threads },
  performanceTracking: true,
});
const seq = context.getSequence();
const vocab = args.vocab ?? model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
if (!vocab) throw new Error("cannot tell the vocabulary size: pass --vocab");

// llama_perf_context_print lines: "prompt eval time = X ms / N tokens", "eval time = X ms / N runs".
async function perfCounters() {
  const start = logs.length;
  await context.printTimings();
  const text = logs.slice(start).join("\n");
  const grab = (re) => {
    const m = text.match(re);
    return m ? { ms: Number(m[1]), n: Number(m[2]) } : null;
  };
  return { prompt: grab(/prompt eval time\s*=\s*([\d.]+) ms \/\s*(\d+) tokens/), eval: grab(/\beval time\s*=\s*([\d.]+) ms \/\s*(\d+) runs/) };
}
const delta = (a, b) => (a && b ? { ms: b.ms - a.ms, n: b.n - a.n } : null);
const tokS = (d) => (d && d.ms > 0 ? (1000 * d.n) / d.ms : null);

if (args.mode === "bench") {
  const ids = benchIds(args.p, vocab);
  // Warm-up (pages the weights in, spins the threads up): a short prompt and two decode steps.
  await seq.evaluateWithoutGeneratingNewTokens(ids.slice(0, 16));
  await seq.clearHistory();
  const ppWall = [], ppInt = [], tgWall = [], tgInt = [];
  let generated = 0;
  for (let r = 0; r < args.reps; r++) {
    await seq.clearHistory();
    let c0 = await perfCounters();
    let t = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(ids);
    ppWall.push((1000 * args.p) / (performance.now() - t));
    let c1 = await perfCounters();
    ppInt.push(tokS(delta(c0.prompt, c1.prompt)));

    await seq.clearHistory();
    c0 = await perfCounters();
    t = performance.now();
    generated = 0;
    for await (const tok of seq.evaluate([ids[0]], { temperature: 0, yieldEogToken: true })) {
      void tok;
      if (++generated >= args.n) break;
    }
    tgWall.push((1000 * generated) / (performance.now() - t));
    c1 = await perfCounters();
    // The first step of a generation is counted as a 1-token "prompt eval" by llama.cpp; add it back.
    const ev = delta(c0.eval, c1.eval), pr = delta(c0.prompt, c1.prompt);
    tgInt.push(ev && pr ? (1000 * (ev.n + pr.n)) / (ev.ms + pr.ms) : null);
  }
  console.log(JSON.stringify({
    engine: "llama.cpp", binding: "node-llama-cpp", llama_cpp_release: llama.llamaCppRelease?.release ?? null,
    model: args.model, threads: args.threads, p: args.p, n: args.n, reps: args.reps, mmap: args.mmap,
    load_s: loadS, decode_steps: generated,
    prefill_tok_s_wall: median(ppWall), prefill_tok_s_internal: median(ppInt.filter((x) => x != null)),
    decode_tok_s_wall: median(tgWall), decode_tok_s_internal: median(tgInt.filter((x) => x != null)),
    prefill_wall_reps: ppWall, decode_wall_reps: tgWall, system_info: llama.systemInfo,
  }));
} else {
  if (!args.ids) throw new Error("greedy needs --ids");
  // Logits of the last prompt position, then n greedy tokens.
  const input = args.ids.map((id, i) => (i === args.ids.length - 1 ? [id, { generateNext: { logits: true } }] : id));
  const res = await seq.controlledEvaluate(input);
  const last = res[args.ids.length - 1];
  const logitsArr = last?.next?.logits ? [...last.next.logits.entries()] : [];
  logitsArr.sort((x, y) => y[1] - x[1]);
  await seq.clearHistory();
  const tokens = [];
  for await (const tok of seq.evaluate(args.ids, { temperature: 0, yieldEogToken: true })) {
    tokens.push(tok);
    if (tokens.length >= args.n) break;
  }
  console.log(JSON.stringify({ engine: "llama.cpp", model: args.model, prompt_ids: args.ids, greedy: tokens,
                               top_logits: logitsArr.slice(0, args.top) }));
}
await context.dispose();
await model.dispose();
await llama.dispose();
