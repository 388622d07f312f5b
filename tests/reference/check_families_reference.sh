#!/usr/bin/env bash
# ctest: regenerate the Hugging Face family fixtures (GPT-2, Llama, Mistral, Falcon, BERT) with
# PyTorch, running the references' self-checks, and check they reproduce golden/families/:
# config.json and model.safetensors byte for byte, golden.safetensors within 1e-6.
# Exit 77 (ctest: skipped) when Debian's python3 has no torch.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
PY=/usr/bin/python3
need_python_module torch
need_python_module numpy
GOLDEN_DIR="$REF_DIR/golden/families"
GEN_DIR="$OUT_DIR/families"
echo "reference dir: $REF_DIR"
echo "output dir:    $GEN_DIR"
rm -rf "$GEN_DIR"

PYTHONDONTWRITEBYTECODE=1 "$PY" "$REF_DIR/families_reference.py" --out "$GEN_DIR"

status=0
names="$(PYTHONDONTWRITEBYTECODE=1 "$PY" "$REF_DIR/families_reference.py" --list)"
for name in $names; do
  for file in config.json model.safetensors; do
    if ! cmp -s "$GEN_DIR/$name/$file" "$GOLDEN_DIR/$name/$file"; then
      echo "regenerated $name/$file differs from golden/families/$name/$file"
      status=1
    fi
  done
  if ! "$PY" "$REF_DIR/compare_golden.py" "$GEN_DIR/$name/golden.safetensors" \
      "$GOLDEN_DIR/$name/golden.safetensors" --rtol 1e-6 --atol 1e-6 --quiet; then
    echo "regenerated $name/golden.safetensors differs from the committed one"
    status=1
  fi
done
# No committed fixture without a generator.
for dir in "$GOLDEN_DIR"/*/; do
  name="$(basename "$dir")"
  grep -qx "$name" <<<"$names" || { echo "golden/families/$name has no generator"; status=1; }
done
[[ $status -eq 0 ]] || exit 1
echo "golden/families reproduced ($(wc -w <<<"$names") fixtures)"
