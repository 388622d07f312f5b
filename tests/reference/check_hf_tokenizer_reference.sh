#!/usr/bin/env bash
# ctest: regenerate the Hugging Face tokenizer.json golden corpus with the npm package
# @xenova/transformers, check it is byte for byte the committed
# tests/reference/golden/hf_tokenizer_corpus.json, then (if it was built) run the C++ side,
# test_hf_tokenizer's HfReference tests, which read that file.
# Exit 77 (ctest: skipped) when node or the package is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
PACKAGE="$NPM_DIR/@xenova/transformers"
need_node_file @xenova/transformers/package.json

out="$OUT_DIR/hf_tokenizer_corpus.json"
node "$REF_DIR/hf_tokenizer_reference.mjs" --out "$out" --package "$PACKAGE"
expect_golden "$out" hf_tokenizer_corpus.json

test_bin="${ILM_BINARY_DIR:-}/tests/test_hf_tokenizer"
if [[ -n "${ILM_BINARY_DIR:-}" && -x "$test_bin" ]]; then
  "$test_bin" --gtest_filter='HfReference.*'
else
  echo "test_hf_tokenizer not built: only the JavaScript side was checked"
fi
