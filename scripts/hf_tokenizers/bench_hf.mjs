// Encoding throughput of Hugging Face `tokenizers` (Rust core) on a text file, split into the same
// ~4 KiB documents as `minimax bench-tokenizer --text-file`. Prints one JSON object.
// usage: node bench_hf.mjs TOKENIZER_JSON TEXT_FILE
import { Tokenizer } from '@anush008/tokenizers';
import fs from 'fs';

const [tokPath, textPath] = process.argv.slice(2);
const all = fs.readFileSync(textPath);  // bytes: split exactly like the C++ bench
const docs = [];
for (let pos = 0; pos < all.length;) {
  let cut = Math.min(all.length, pos + 4096);
  const nl = all.indexOf(10, cut);
  cut = nl < 0 ? all.length : nl + 1;
  docs.push(all.subarray(pos, cut).toString('utf8'));
  pos = cut;
}
const tok = Tokenizer.fromFile(tokPath);
const opts = { addSpecialTokens: false };
let t0 = process.hrtime.bigint();
let nTokens = 0;
for (const d of docs) nTokens += (await tok.encode(d, null, opts)).getIds().length;
const singleS = Number(process.hrtime.bigint() - t0) / 1e9;
t0 = process.hrtime.bigint();
const batch = await tok.encodeBatch(docs, opts);
const batchS = Number(process.hrtime.bigint() - t0) / 1e9;
let nBatch = 0;
for (const e of batch) nBatch += e.getIds().length;
const mb = all.length / 1e6;
console.log(JSON.stringify({ engine: 'hf-tokenizers', corpus_bytes: all.length, n_docs: docs.length, n_tokens: nTokens,
  single_thread_mb_s: mb / singleS, batch_mb_s: mb / batchS, batch_tokens_match: nBatch === nTokens }));
