#!/usr/bin/env bash
# Bad input to `ilm train` and `ilm generate`: each case must exit non-zero with one line
# "error: ..." on stderr that names what was wrong, print nothing on stdout, and leave no
# stray files (no run folder for a new run that failed, an existing run left as it was).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_error CASE NEEDLE... -- COMMAND...: COMMAND fails with exit code 1, prints nothing
# on stdout, and its stderr is one line starting "error: " that contains every NEEDLE
# (verbatim). MULTILINE=1 allows more lines after the first.
expect_error() {
  local name=$1 needles=() rc=0 before=$failures
  shift
  while [[ $1 != -- ]]; do needles+=("$1"); shift; done
  shift
  "$@" >"$name.out" 2>"$name.err" || rc=$?
  local err
  err=$(cat "$name.err")
  if [[ $rc -ne 1 ]]; then
    fail "$name: expected exit code 1, got $rc (stderr: $err)"
    return
  fi
  [[ -s $name.out ]] && fail "$name: printed on stdout: $(cat "$name.out")"
  [[ $err == "error: "* ]] || fail "$name: stderr does not start with 'error: ': $err"
  if [[ ${MULTILINE:-0} != 1 && $(wc -l <"$name.err") -ne 1 ]]; then
    fail "$name: the error is not one line: $err"
  fi
  local n
  for n in "${needles[@]}"; do
    [[ $err == *"$n"* ]] || fail "$name: the error does not name '$n': $err"
  done
  [[ $failures -eq $before ]] && echo "ok   $name: $(head -n1 "$name.err")"
  return 0
}

# The files and contents of a folder, to show a failed command left it alone.
snapshot() { (cd "$1" && find . | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum); }
expect_unchanged() {  # CASE DIR SNAPSHOT_FILE
  snapshot "$2" >"$1.after"
  cmp -s "$3" "$1.after" || fail "$1: changed $2: $(diff "$3" "$1.after" | head -n 10 | tr '\n' ' ')"
}
expect_no_runs() {  # CASE
  [[ ! -e runs ]] || fail "$1: left a stray run folder: $(find runs | tr '\n' ' ')"
  rm -rf runs
}

for _ in $(seq 1 20); do
  echo "The quick brown fox jumps over the lazy dog."
  echo "مرحبا بالعالم."
done >text.txt

config=$ILM_SOURCE_DIR/configs/shakespeare-char.yaml
tiny=(--set data.text=text.txt --set run.dir=runs --set train.max_steps=3 --set train.eval_batches=1
  --set model.n_layer=1 --set model.n_embd=16 --set model.n_head=2 --set model.block_size=8
  --set train.batch_size=2)

# --- config errors: nothing may be created -------------------------------------------
expect_error unknown_set_key "train.max_step" "train.max_steps" -- \
  "$ILM" train --config "$config" "${tiny[@]}" --set train.max_step=5
expect_no_runs unknown_set_key

printf 'model:\n  n_layer: 1\n  n_lyer: 2\n' >bad_key.yaml
expect_error unknown_yaml_key "bad_key.yaml" "model.n_lyer" -- \
  "$ILM" train --config bad_key.yaml "${tiny[@]}"
expect_no_runs unknown_yaml_key

expect_error wrong_type "train.batch_size" "abc" -- \
  "$ILM" train --config "$config" "${tiny[@]}" --set train.batch_size=abc
expect_no_runs wrong_type

expect_error heads_do_not_divide "model.n_embd" "model.n_head" -- \
  "$ILM" train --config "$config" "${tiny[@]}" --set model.n_embd=30 --set model.n_head=4
expect_no_runs heads_do_not_divide

expect_error zero_block_size "model.block_size" -- \
  "$ILM" train --config "$config" "${tiny[@]}" --set model.block_size=0
expect_no_runs zero_block_size

printf 'model:\n  n_layer: 1\n   n_head: 2\ntrain:\n  max_steps: 3\n' >syntax.yaml  # bad indent
expect_error yaml_syntax "syntax.yaml" "line 3" -- \
  "$ILM" train --config syntax.yaml "${tiny[@]}"
expect_no_runs yaml_syntax

expect_error missing_config_file "no_such_config.yaml" -- \
  "$ILM" train --config no_such_config.yaml "${tiny[@]}"
expect_no_runs missing_config_file

# --- data errors in a new run --------------------------------------------------------
expect_error missing_text "no_such_text.txt" -- \
  "$ILM" train --config "$config" "${tiny[@]}" --set data.text=no_such_text.txt
expect_no_runs missing_text

# A good run to resume from and generate with.
"$ILM" train --config "$config" "${tiny[@]}" --set run.name=good >good.out 2>good.err ||
  { cat good.err >&2; echo "FAIL: the good run failed" >&2; exit 1; }
mv runs/good good
rm -rf runs

printf "not a token shard %s\n" $(seq 1 200) >garbage.bin
expect_error bad_shard_new_run "garbage.bin" -- \
  "$ILM" train --config "$config" "${tiny[@]}" --set data.text= --set data.train_shards=garbage.bin \
  --set data.tokenizer_file=good/tokenizer.json
expect_no_runs bad_shard_new_run

# --- resume errors: the run is left as it was ----------------------------------------
cp -r good changed
snapshot changed >changed.before
MULTILINE=1 expect_error resume_changed_config "model.n_layer" -- \
  "$ILM" train --resume changed --set model.n_layer=3
expect_unchanged resume_changed_config changed changed.before

mkdir not_a_run
expect_error resume_not_a_run "not_a_run" -- "$ILM" train --resume not_a_run
[[ -z $(ls -A not_a_run) ]] || fail "resume_not_a_run: created files in not_a_run: $(ls -A not_a_run)"

cp -r good bad_shard
printf "not a token shard %s\n" $(seq 1 200) >bad_shard/data/train.bin
snapshot bad_shard >bad_shard.before
expect_error bad_shard_resume "bad_shard/data/train.bin" -- "$ILM" train --resume bad_shard
expect_unchanged bad_shard_resume bad_shard bad_shard.before

# --- generate errors ------------------------------------------------------------------
expect_error generate_missing_model "no_such_model" -- \
  "$ILM" generate --model no_such_model --prompt "The"
[[ ! -e no_such_model ]] || fail "generate_missing_model: created no_such_model"

cp -r good truncated
ckpt=truncated/checkpoints/$(tr -d '[:space:]' <truncated/checkpoints/latest)
truncate -s 100 "$ckpt/model.safetensors"
expect_error generate_truncated_weights "$ckpt/model.safetensors" -- \
  "$ILM" generate --model truncated --prompt "The"

# A prompt with a character the char tokenizer never saw: named, and nothing generated.
expect_error generate_unknown_char "U+005A" -- \
  "$ILM" generate --model good --prompt "Zebra" --max-tokens 5

if [[ $failures -ne 0 ]]; then
  echo "bad_input: $failures failure(s)" >&2
  exit 1
fi
echo "bad_input: ok"
