// Loads ilm's GGUF exports in llama.cpp (node-llama-cpp's prebuilt build) and checks them against
// ilm's own answers: the same token ids for every text, the same next-token log-probabilities,
// and for F32 the same greedy continuation.
//   node gguf_llama_cpp.mjs DIR   (DIR: one case test_gguf_export's WritesLlamaCppReferenceCase
//                                  or GgufExportFamilies.WritesLlamaCppReferenceCases wrote)
// The package is $NODE_LLAMA_CPP, else .assets/npm-llama/node_modules/node-llama-cpp (scripts/setup). Exit 1 on a
// mismatch.
import fs from "node:fs";
import path from "node:path";
import {pathToFileURL} from "node:url";

const dir = process.argv[2];
const pkg = process.env.NODE_LLAMA_CPP ||
    path.join(process.env.ILM_SOURCE_DIR || ".", ".assets/npm-llama/node_modules/node-llama-cpp");
const {getLlama, LlamaLogLevel} = await import(pathToFileURL(path.join(pkg, "dist/index.js")).href);
const ref = JSON.parse(fs.readFileSync(path.join(dir, "ilm_reference.json"), "utf8"));

// Largest |log p(llama.cpp) - log p(ilm)| allowed over tokens with p >= 1e-4, per matrix type.
// An encoder (ref.kind "embedding", BERT with mean pooling): llama.cpp's tokens for the text,
// and its embedding of [CLS] text [SEP] against ilm's mean hidden state (max |diff|).
if (ref.kind === "embedding") {
  const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
  let failed = false;
  for (const kind of ["f32", "f16", "q8_0"]) {
    const model = await llama.loadModel({modelPath: path.join(dir, `model-${kind}.gguf`)});
    const got = Array.from(model.tokenize(ref.text));
    if (JSON.stringify(got) !== JSON.stringify(ref.text_ids)) {
      console.log(`${kind}: tokenize(${JSON.stringify(ref.text)}) = ${JSON.stringify(got)}, ` +
                  `ilm ${JSON.stringify(ref.text_ids)}`);
      failed = true;
    }
    const context = await model.createEmbeddingContext({contextSize: 64, threads: 2});
    const {vector} = await context.getEmbeddingFor(ref.text_ids);  // adds [CLS] and [SEP]
    let worst = vector.length === ref.embedding.length ? 0 : Infinity;
    for (let i = 0; i < ref.embedding.length; ++i)
      worst = Math.max(worst, Math.abs(vector[i] - ref.embedding[i]));
    const ok = worst <= ref.tolerance[kind];
    console.log(`${kind}: embedding max |diff| ${worst.toExponential(2)} over ` +
                `${ref.embedding.length} dims (limit ${ref.tolerance[kind]})` + (ok ? "" : "  FAILED"));
    failed ||= !ok;
    await context.dispose();
    await model.dispose();
  }
  process.exit(failed ? 1 : 0);
}

// A case may set its own (ref.tolerance).
const tolerance = ref.tolerance ?? {f32: 2e-3, f16: 3e-2, q8_0: 0.25};
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
let failed = false;
for (const kind of ["f32", "f16", "q8_0"]) {
  const model = await llama.loadModel({modelPath: path.join(dir, `model-${kind}.gguf`)});
  for (const {text, ids} of ref.tokenizations.concat([{text: ref.prompt, ids: ref.prompt_ids}])) {
    const got = Array.from(model.tokenize(text, true));
    if (JSON.stringify(got) !== JSON.stringify(ids)) {
      console.log(`${kind}: tokenize(${JSON.stringify(text)}) = ${JSON.stringify(got)}, ilm ${JSON.stringify(ids)}`);
      failed = true;
    }
  }
  const context = await model.createContext({contextSize: 48, threads: 2});
  const sequence = context.getSequence();
  let first = null;
  const greedy = [];
  // eval_ids: the prompt with the BOS the model expects (llama.cpp's tokenize adds none here).
  for await (const out of sequence.evaluateWithMetadata(ref.eval_ids ?? ref.prompt_ids,
                                                         {probabilities: true},
                                                         {temperature: 0})) {
    if (first === null) first = out;
    greedy.push(out.token);
    if (greedy.length >= ref.greedy.length) break;
  }
  let worst = 0, compared = 0;
  for (const [token, p] of first.probabilities) {
    if (p < 1e-4) continue;
    worst = Math.max(worst, Math.abs(Math.log(p) - ref.next_logprobs[token]));
    ++compared;
  }
  let agree = 0;
  while (agree < greedy.length && greedy[agree] === ref.greedy[agree]) ++agree;
  const ok = worst <= tolerance[kind] && compared > 0 && (kind !== "f32" || agree === greedy.length);
  console.log(`${kind}: next-token log-prob max |diff| ${worst.toExponential(2)} over ${compared} ` +
              `tokens (limit ${tolerance[kind]}); greedy agrees on ${agree}/${greedy.length}` +
              (ok ? "" : "  FAILED"));
  failed ||= !ok;
  await context.dispose();
  await model.dispose();
}
process.exit(failed ? 1 : 0);
