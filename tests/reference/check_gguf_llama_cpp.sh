#!/usr/bin/env bash
# ctest: export a small GPT, and LLaMA (GQA + linear RoPE scaling, LLaMA-3.1 scaling, Mistral's
# shape), Falcon (multi-query, new architecture) and BERT Transformers, to GGUF (F32, F16, Q8_0)
# and run them in llama.cpp through node-llama-cpp's prebuilt build: same tokens (byte-level BPE,
# SentencePiece, WordPiece), same next-token distribution and greedy text (BERT: the same
# mean-pooled embedding).
# Exit 77 (ctest: skipped) when node, node-llama-cpp (scripts/setup installs it into
# .assets/npm-llama on x86-64 Linux) or the test_gguf_export executable is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
if [[ -z "${NODE_LLAMA_CPP:-}" ]]; then
  need_node
  [[ -f "$SRC_DIR/.assets/npm-llama/node_modules/node-llama-cpp/dist/index.js" ]] ||
    skip "node-llama-cpp not installed in .assets/npm-llama (scripts/setup)"
else
  need_node
fi
exe="${ILM_BINARY_DIR:-}/tests/test_gguf_export"
[[ -x "$exe" ]] || skip "test_gguf_export not built"

ILM_GGUF_LLAMA_DIR="$OUT_DIR/gguf_llama_cpp" "$exe" \
  --gtest_filter='GgufExport.WritesLlamaCppReferenceCase:GgufExportFamilies.WritesLlamaCppReferenceCases'
node "$REF_DIR/gguf_llama_cpp.mjs" "$OUT_DIR/gguf_llama_cpp"
for case_dir in "$OUT_DIR"/gguf_llama_cpp/families/*/; do
  echo "== $(basename "$case_dir")"
  node "$REF_DIR/gguf_llama_cpp.mjs" "$case_dir"
done
