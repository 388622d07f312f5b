#!/usr/bin/env bash
# ctest: regenerate the SentencePiece golden corpus with Python's sentencepiece over the committed
# models golden/sp_bpe.model and golden/sp_unigram.model, check it is byte for byte the committed
# tests/reference/golden/sentencepiece_corpus.json, then (if it was built) run the C++ side,
# test_sentencepiece's SentencePieceReference tests, which read that file.
# Exit 77 (ctest: skipped) when /usr/bin/python3 lacks sentencepiece.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
PYTHON=/usr/bin/python3
need_python_module sentencepiece

out="$OUT_DIR/sentencepiece_corpus.json"
"$PYTHON" "$REF_DIR/sentencepiece_reference.py" --out "$out" --models "$REF_DIR/golden"
expect_golden "$out" sentencepiece_corpus.json

test_bin="${ILM_BINARY_DIR:-}/tests/test_sentencepiece"
if [[ -n "${ILM_BINARY_DIR:-}" && -x "$test_bin" ]]; then
  "$test_bin" --gtest_filter='SentencePieceReference.*'
else
  echo "test_sentencepiece not built: only the Python side was checked"
fi
