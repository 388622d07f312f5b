#!/usr/bin/env bash
# ctest: regenerate the transformer-ops golden file with PyTorch, check it reproduces the
# committed one, then (if it was built) run the C++ test test_tf_ops_reference against it.
# Exit 77 (ctest: skipped) when Debian's python3 has no torch.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
PY=/usr/bin/python3
need_python_module torch
echo "reference dir: $REF_DIR"
echo "output dir:    $OUT_DIR"

out="$OUT_DIR/tf_ops.safetensors"
"$PY" "$REF_DIR/tf_ops_reference.py" --out "$out"
if ! "$PY" "$REF_DIR/compare_golden.py" "$out" "$REF_DIR/golden/tf_ops.safetensors" \
    --rtol 1e-6 --atol 1e-6 --quiet; then
  echo "regenerated tf_ops.safetensors differs from the committed golden file"
  exit 1
fi

if [[ -n "${ILM_BINARY_DIR:-}" && -x "$ILM_BINARY_DIR/tests/test_tf_ops_reference" ]]; then
  echo "running $ILM_BINARY_DIR/tests/test_tf_ops_reference with ILM_GOLDEN_DIR=$OUT_DIR"
  ILM_GOLDEN_DIR="$OUT_DIR" "$ILM_BINARY_DIR/tests/test_tf_ops_reference"
else
  echo "test_tf_ops_reference not built: only the PyTorch side was checked"
fi
