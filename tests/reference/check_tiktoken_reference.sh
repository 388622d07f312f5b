#!/usr/bin/env bash
# ctest: regenerate the js-tiktoken golden corpus, check it reproduces the committed one, then
# (if it was built) run test_tiktoken's corpus test against the regenerated file.
# Exit 77 (ctest: skipped) when node or the js-tiktoken package is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
need_node_file js-tiktoken/dist/index.js

out="$OUT_DIR/tiktoken_corpus.json"
node "$REF_DIR/tiktoken_reference.mjs" "$out"
expect_golden "$out" tiktoken_corpus.json

if [[ -n "${ILM_BINARY_DIR:-}" && -x "$ILM_BINARY_DIR/tests/test_tiktoken" ]]; then
  ILM_GOLDEN_DIR="$OUT_DIR" "$ILM_BINARY_DIR/tests/test_tiktoken" \
    --gtest_filter='Tiktoken.MatchesJsTiktokenCorpus'
else
  echo "test_tiktoken not built: only the js-tiktoken side was checked"
fi
