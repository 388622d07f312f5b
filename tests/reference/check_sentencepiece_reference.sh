#!/usr/bin/env bash
# ctest: regenerate the SentencePiece golden corpus with Python's sentencepiece over the committed
# models golden/sp_bpe.model and golden/sp_unigram.model, check it is byte for byte the committed
# tests/reference/golden/sentencepiece_corpus.json, then (if it was built) run the C++ side,
# test_sentencepiece's SentencePieceReference tests, which read that file.
# Exit 77 (ctest: skipped) when /usr/bin/python3 lacks sentencepiece.
set -euo pipefail

if [[ -n "${ILM_SOURCE_DIR:-}" ]]; then
  SRC_DIR="$ILM_SOURCE_DIR"
else
  SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fi
REF_DIR="$SRC_DIR/tests/reference"
PYTHON=/usr/bin/python3

if ! "$PYTHON" -c 'import sentencepiece' >/dev/null 2>&1; then
  echo "$PYTHON has no sentencepiece (Debian: python3-sentencepiece): skipping"
  exit 77
fi

if [[ -n "${ILM_BINARY_DIR:-}" ]]; then
  OUT_DIR="$ILM_BINARY_DIR/reference"
  mkdir -p "$OUT_DIR"
else
  OUT_DIR="$(mktemp -d)"
  trap 'rm -rf "$OUT_DIR"' EXIT
fi

out="$OUT_DIR/sentencepiece_corpus.json"
"$PYTHON" "$REF_DIR/sentencepiece_reference.py" --out "$out" --models "$REF_DIR/golden"
if ! cmp -s "$out" "$REF_DIR/golden/sentencepiece_corpus.json"; then
  echo "regenerated $out differs from the committed golden/sentencepiece_corpus.json:"
  diff "$out" "$REF_DIR/golden/sentencepiece_corpus.json" | head -20 || true
  exit 1
fi
echo "golden/sentencepiece_corpus.json reproduced"

test_bin="${ILM_BINARY_DIR:-}/tests/test_sentencepiece"
if [[ -n "${ILM_BINARY_DIR:-}" && -x "$test_bin" ]]; then
  "$test_bin" --gtest_filter='SentencePieceReference.*'
else
  echo "test_sentencepiece not built: only the Python side was checked"
fi
