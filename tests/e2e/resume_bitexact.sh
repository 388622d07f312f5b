#!/usr/bin/env bash
# A run stopped at step 10 and resumed to 20 logs the same losses, byte for byte, as one
# that ran 20 steps straight (dropout on, so the dropout RNG's state is part of it). Then
# SIGTERM: the trainer checkpoints the step it is at, exits 143, and resumes from there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
pid=
on_exit() { [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; true; }

write_bilingual_text text.txt

# Runs "$@" with its output in LOG.out and LOG.err; on failure shows LOG.err and fails.
must() {
  local log=$1
  shift
  "$@" >"$log.out" 2>"$log.err" || {
    local rc=$?
    cat "$log.err" >&2
    fail "$log: exit code $rc from: $*"
  }
}

new_run=(train --config "$ILM_SOURCE_DIR/configs/shakespeare-char.yaml"
  --set data.text=text.txt --set run.dir=runs
  --set model.n_layer=1 --set model.n_embd=32 --set model.n_head=2 --set model.block_size=16
  --set model.dropout=0.1 --set train.batch_size=4 --set train.warmup_steps=5
  --set train.eval_interval=1000 --set train.eval_batches=2 --set train.checkpoint_interval=100)

# "step loss" per step line, the loss exactly as written (no parsing, no rounding).
step_losses() {
  awk '/"loss":/ {
    match($0, /"step":[0-9]+/); s = substr($0, RSTART + 7, RLENGTH - 7)
    match($0, /"loss":[^,}]*/); l = substr($0, RSTART + 7, RLENGTH - 7)
    print s, l
  }' "$1"
}

# --- bit-exact resume ---------------------------------------------------------------
must a "$ILM" "${new_run[@]}" --set run.name=a --set train.max_steps=20
must b "$ILM" "${new_run[@]}" --set run.name=b --set train.max_steps=10
must b2 "$ILM" train --resume runs/b --set train.max_steps=20
grep -q "resuming at step 10" b2.err || fail "resume did not say it resumed at step 10: $(cat b2.err)"

step_losses runs/a/metrics.jsonl >a.losses
step_losses runs/b/metrics.jsonl >b.losses
[[ $(cut -d' ' -f1 a.losses | tr '\n' ' ') == "$(seq 1 20 | tr '\n' ' ')" ]] ||
  fail "run A: step lines are not 1..20: $(cut -d' ' -f1 a.losses | tr '\n' ' ')"
if ! cmp -s a.losses b.losses; then
  diff a.losses b.losses >&2 || true
  fail "resumed run B's losses (right) differ from uninterrupted run A's (left)"
fi

# --- SIGTERM: checkpoint at the current step, exit 128+15, resume from it ------------
count_steps() { if [[ -f $1 ]]; then grep -c '"loss":' "$1" || true; else echo 0; fi; }
# ilm itself in the background (not a function, which would run in a subshell that the
# signal would hit instead).
"$ILM" "${new_run[@]}" --set run.name=s --set train.max_steps=100000 >s.out 2>s.err &
pid=$!
for _ in $(seq 1 600); do
  [[ $(count_steps runs/s/metrics.jsonl) -ge 5 ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
[[ $(count_steps runs/s/metrics.jsonl) -ge 5 ]] || { cat s.err >&2; fail "run S wrote fewer than 5 step lines"; }
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
[[ $rc -eq 143 ]] || { cat s.err >&2; fail "SIGTERM: expected exit code 143, got $rc"; }
grep -q "stopped by signal 15" s.err || { cat s.err >&2; fail "SIGTERM: the trainer did not report stopping"; }
[[ -f runs/s/checkpoints/latest ]] || { cat s.err >&2; fail "SIGTERM: no checkpoint was written"; }

last=$(step_losses runs/s/metrics.jsonl | tail -n1 | cut -d' ' -f1)
ckpt=runs/s/checkpoints/$(tr -d '[:space:]' <runs/s/checkpoints/latest)
[[ -f $ckpt/state.json ]] || fail "no state.json in $ckpt after SIGTERM"
saved=$(sed -n 's/^ *"step": *\([0-9]*\).*/\1/p' "$ckpt/state.json")
[[ $saved == "$last" ]] || fail "checkpoint is at step '$saved' but metrics.jsonl ends at step $last"
[[ $last -lt 100000 ]] || fail "run S was not interrupted"

target=$((last + 5))
must s2 "$ILM" train --resume runs/s --set train.max_steps=$target
steps=$(step_losses runs/s/metrics.jsonl | cut -d' ' -f1 | tr '\n' ' ')
[[ $steps == "$(seq 1 $target | tr '\n' ' ')" ]] || fail "after resume, step lines are not 1..$target: $steps"
grep -q '"step": *'"$target"'[,}]' runs/s/checkpoints/"$(tr -d '[:space:]' <runs/s/checkpoints/latest)"/state.json ||
  fail "after resume, the latest checkpoint is not at step $target"

# Run S has run A's config but max_steps (which the schedule does not use): the steps they
# share have the same losses, across the SIGTERM and the resume too.
n=$((target < 20 ? target : 20))
head -n "$n" a.losses >a.head
step_losses runs/s/metrics.jsonl | head -n "$n" >s.head
if ! cmp -s a.head s.head; then
  diff a.head s.head >&2 || true
  fail "run S, stopped by SIGTERM and resumed (right), differs from run A (left)"
fi

echo "resume_bitexact: ok (SIGTERM at step $last)"
