#!/usr/bin/env bash
# nanoGPT's published CPU example, reproduced: configs/shakespeare-char.yaml for the
# full 2000 steps on ../shared/data/tinyshakespeare.txt. nanoGPT's README reports
# "1.88" from a 20-batch estimate; nanoGPT itself, run here on the same settings with
# 200 evaluation batches, reached 1.919 (seed 1337) and 1.903 (seed 1), and ilm 1.911
# (seed 1337), 1.889 (seed 1), 1.892 (seed 2) (docs/results.md). The bar is nanoGPT's
# worst measured figure, 1.92. Then a sample is generated. A few minutes on 2 cores.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
text="$ILM_SOURCE_DIR/../shared/data/tinyshakespeare.txt"
if [[ ! -f "$text" ]]; then
  echo "skipping: $text is not here"
  exit 77
fi
"$ILM" train --config "$ILM_SOURCE_DIR/configs/shakespeare-char.yaml" \
  --set data.text="$text" --set run.dir="$work/runs" | tee "$work/out.txt"
val=$(sed -n 's/^val loss: //p' "$work/out.txt")
echo "validation loss at step 2000: $val (nanoGPT measured here: 1.903-1.919; bar: 1.92)"
awk -v v="$val" 'BEGIN { exit !(v != "" && v <= 1.92) }' || fail "$val > 1.92"
"$ILM" generate --model "$work/runs/shakespeare-char" --prompt "ROMEO:" --max-tokens 200 \
  --temperature 0.8 --top-k 40 --seed 1 | tee "$work/sample.txt"
[[ $(wc -c < "$work/sample.txt") -gt 150 ]] || fail "sample too short"
