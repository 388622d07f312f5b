// js-tiktoken's encoding speed on a file, for bench/tokenizer_run to compare with
// `ilm tokenizer bench` in the same invocation. Prints one JSON line.
//   node bench/tiktoken_bench.cjs ENCODING FILE [REPEATS]
"use strict";
const path = require("path");
const fs = require("fs");
const root = path.join(__dirname, "..", ".assets", "npm", "node_modules", "js-tiktoken");
const { getEncoding } = require(path.join(root, "dist", "index.cjs"));

const [encodingName, file, repeatsArg] = process.argv.slice(2);
if (!encodingName || !file) {
  console.error("usage: node bench/tiktoken_bench.cjs ENCODING FILE [REPEATS]");
  process.exit(2);
}
const text = fs.readFileSync(file, "utf8");
const enc = getEncoding(encodingName);
enc.encode(text.slice(0, 100000));  // warm up the JIT
let best = Infinity;
let tokens = 0;
for (let r = 0; r < Number(repeatsArg || 3); r++) {
  const t0 = process.hrtime.bigint();
  tokens = enc.encode(text).length;
  best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
}
const mb = Buffer.byteLength(text, "utf8") / 1e6;
console.log(JSON.stringify({ encoding: encodingName, megabytes: mb, tokens, seconds: best, mb_per_s: mb / best }));
