#!/usr/bin/env bash
# ctest: regenerate the Hugging Face tokenizer.json golden corpus with the npm package
# @xenova/transformers, check it is byte for byte the committed
# tests/reference/golden/hf_tokenizer_corpus.json, then (if it was built) run the C++ side,
# test_hf_tokenizer's HfReference tests, which read that file.
# Exit 77 (ctest: skipped) when node or the package is missing.
set -euo pipefail

if [[ -n "${ILM_SOURCE_DIR:-}" ]]; then
  SRC_DIR="$ILM_SOURCE_DIR"
else
  SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fi
REF_DIR="$SRC_DIR/tests/reference"
PACKAGE="$SRC_DIR/.assets/npm/node_modules/@xenova/transformers"

if ! command -v node >/dev/null 2>&1; then
  echo "node not installed: skipping"
  exit 77
fi
if [[ ! -f "$PACKAGE/package.json" ]]; then
  echo "@xenova/transformers not installed at $PACKAGE: skipping"
  exit 77
fi

if [[ -n "${ILM_BINARY_DIR:-}" ]]; then
  OUT_DIR="$ILM_BINARY_DIR/reference"
  mkdir -p "$OUT_DIR"
else
  OUT_DIR="$(mktemp -d)"
  trap 'rm -rf "$OUT_DIR"' EXIT
fi

out="$OUT_DIR/hf_tokenizer_corpus.json"
node "$REF_DIR/hf_tokenizer_reference.mjs" --out "$out" --package "$PACKAGE"
if ! cmp -s "$out" "$REF_DIR/golden/hf_tokenizer_corpus.json"; then
  echo "regenerated $out differs from the committed golden/hf_tokenizer_corpus.json:"
  diff "$out" "$REF_DIR/golden/hf_tokenizer_corpus.json" | head -20 || true
  exit 1
fi
echo "golden/hf_tokenizer_corpus.json reproduced"

test_bin="${ILM_BINARY_DIR:-}/tests/test_hf_tokenizer"
if [[ -n "${ILM_BINARY_DIR:-}" && -x "$test_bin" ]]; then
  "$test_bin" --gtest_filter='HfReference.*'
else
  echo "test_hf_tokenizer not built: only the JavaScript side was checked"
fi
