#!/usr/bin/env bash
# ctest: regenerate the js-tiktoken golden corpus, check it reproduces the committed one, then
# (if it was built) run test_tiktoken's corpus test against the regenerated file.
# Exit 77 (ctest: skipped) when node or the js-tiktoken package is missing.
set -euo pipefail

if [[ -n "${ILM_SOURCE_DIR:-}" ]]; then
  REF_DIR="$ILM_SOURCE_DIR/tests/reference"
else
  REF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  export ILM_SOURCE_DIR="$(cd "$REF_DIR/../.." && pwd)"
fi
if ! command -v node >/dev/null 2>&1; then
  echo "node not installed: skipping"
  exit 77
fi
if [[ ! -f "$ILM_SOURCE_DIR/.assets/npm/node_modules/js-tiktoken/dist/index.js" ]]; then
  echo "js-tiktoken not installed under $ILM_SOURCE_DIR/.assets/npm: skipping"
  exit 77
fi

if [[ -n "${ILM_BINARY_DIR:-}" ]]; then
  OUT_DIR="$ILM_BINARY_DIR/reference"
  mkdir -p "$OUT_DIR"
else
  OUT_DIR="$(mktemp -d)"
  trap 'rm -rf "$OUT_DIR"' EXIT
fi
out="$OUT_DIR/tiktoken_corpus.json"
node "$REF_DIR/tiktoken_reference.mjs" "$out"
if ! cmp -s "$out" "$REF_DIR/golden/tiktoken_corpus.json"; then
  echo "regenerated $out differs from the committed golden/tiktoken_corpus.json"
  exit 1
fi

if [[ -n "${ILM_BINARY_DIR:-}" && -x "$ILM_BINARY_DIR/tests/test_tiktoken" ]]; then
  ILM_GOLDEN_DIR="$OUT_DIR" "$ILM_BINARY_DIR/tests/test_tiktoken" \
    --gtest_filter='Tiktoken.MatchesJsTiktokenCorpus'
else
  echo "test_tiktoken not built: only the js-tiktoken side was checked"
fi
