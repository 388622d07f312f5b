#!/usr/bin/env bash
# ctest: regenerate the GPT golden files with PyTorch, check they reproduce the committed ones,
# then (if it was built) run the C++ test test_gpt_reference against the regenerated files.
# Exit 77 (ctest: skipped) when Debian's python3 has no torch.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
PY=/usr/bin/python3
need_python_module torch
GOLDEN_DIR="$REF_DIR/golden"
echo "reference dir: $REF_DIR"
echo "output dir:    $OUT_DIR"

status=0
for case in bias nobias; do
  flag=1
  [[ $case == nobias ]] && flag=0
  out="$OUT_DIR/gpt_$case.safetensors"
  "$PY" "$REF_DIR/gpt_reference.py" --out "$out" --bias "$flag"
  if ! "$PY" "$REF_DIR/compare_golden.py" "$out" "$GOLDEN_DIR/gpt_$case.safetensors" \
      --rtol 1e-6 --atol 1e-6 --quiet; then
    echo "regenerated gpt_$case.safetensors differs from the committed golden file"
    status=1
  fi
done
[[ $status -eq 0 ]] || exit 1

if [[ -n "${ILM_BINARY_DIR:-}" && -x "$ILM_BINARY_DIR/tests/test_gpt_reference" ]]; then
  echo "running $ILM_BINARY_DIR/test_gpt_reference with ILM_GOLDEN_DIR=$OUT_DIR"
  ILM_GOLDEN_DIR="$OUT_DIR" "$ILM_BINARY_DIR/tests/test_gpt_reference"
else
  echo "test_gpt_reference not built: only the PyTorch side was checked"
fi
