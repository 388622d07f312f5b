#!/usr/bin/env bash
# `ilm data` end to end: stats on a messy corpus (JSONL, gzip, CSV), prepare into shards
# with flags and with a config file, inspect them, train a few steps on them, and the
# bad-input paths (a malformed line reported with file:line; --on-error fail exits non-zero).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"

mkdir raw
for i in $(seq 1 120); do
  printf '{"text": "Document %d talks about language models, data and tokens. It has enough text to pass the filters, number %d."}\n' "$i" "$((i * 13))"
  printf '{"text": "المستند رقم %d يتحدث عن النماذج اللغوية والبيانات، وفيه نص كاف لتجاوز المرشحات."}\n' "$i"
done >raw/a.jsonl
head -n 10 raw/a.jsonl >>raw/a.jsonl                          # exact duplicates
echo '{"text": "broken' >>raw/a.jsonl                          # malformed, line 251
{ echo 'id,body'; for i in $(seq 1 30); do echo "$i,\"CSV document $i, with a comma, about models and data for the pipeline test.\""; done; } >raw/b.csv
for i in $(seq 1 30); do echo "{\"text\": \"Compressed document $i about shards, tokens and training data for models.\"}"; done | gzip >raw/c.jsonl.gz

# stats
"$ILM" data stats --input 'raw/*.jsonl' --input raw/c.jsonl.gz --out report >stats.out 2>stats.err ||
  { cat stats.err >&2; fail "data stats exited $?"; }
[[ -s report/report.md && -s report/report.html ]] || fail "stats wrote no report"
grep -q "a.jsonl:251" stats.out || fail "the malformed line is not reported with file:line: $(cat stats.out)"
grep -q "Arabic" report/report.md || fail "the report has no script mix"

# prepare with flags
"$ILM" data prepare --input 'raw/*.jsonl' --input raw/c.jsonl.gz --tokenizer gpt2 --out shards \
  --val-fraction 0.1 --dedup exact,near --min-chars 20 --shard-tokens 4096 >prep.out 2>prep.err ||
  { cat prep.err >&2; fail "data prepare exited $?"; }
ls shards/train_000000.bin shards/val_000000.bin shards/manifest.json shards/tokenizer.json >/dev/null ||
  fail "prepare did not write the shards: $(ls shards)"
kept=$(sed -n 's/.* read, \([0-9]*\) kept/\1/p' prep.out)
[[ $kept -eq 270 ]] || fail "expected 270 documents kept (280 read, 10 exact duplicates), got '$kept': $(cat prep.out)"
grep -q "per stage:" prep.out || fail "no per-stage rates printed"

# a re-run is a no-op; inspect decodes samples and verifies checksums
"$ILM" data prepare --input 'raw/*.jsonl' --input raw/c.jsonl.gz --tokenizer gpt2 --out shards \
  --val-fraction 0.1 --dedup exact,near --min-chars 20 --shard-tokens 4096 | grep -q "already prepared" ||
  fail "a second identical run did not skip"
"$ILM" data inspect shards --verify >inspect.out || fail "inspect failed"
grep -q "sha256 of every file matches" inspect.out || fail "inspect --verify: $(cat inspect.out)"
grep -q "sample 1: Document 1 talks" inspect.out || fail "inspect shows no decoded sample: $(cat inspect.out)"

# a config file, the CSV column
cat >data.yaml <<YAML
inputs: [raw/b.csv]
text_field: body
tokenizer: byte
out: csv-shards
val_fraction: 0
YAML
"$ILM" data prepare --config data.yaml >csv.out || fail "prepare from data.yaml failed"
grep -q "train: 30 documents" csv.out || fail "CSV: $(cat csv.out)"

# train on the shards for a few steps
"$ILM" train --config "$ILM_SOURCE_DIR/configs/shakespeare-char.yaml" --set data.text= --set data.train_shards='shards/train_*.bin' --set data.val_shards='shards/val_*.bin' \
  --set data.tokenizer_file=shards/tokenizer.json --set run.dir=runs --set run.name=d \
  --set model.n_layer=1 --set model.n_embd=32 --set model.n_head=2 --set model.block_size=32 \
  --set train.batch_size=2 --set train.max_steps=3 --set train.eval_interval=3 --set train.eval_batches=1 \
  --set train.warmup_steps=1 --set train.lr_decay_steps=3 >train.out 2>&1 || { cat train.out >&2; fail "train on shards failed"; }

# bad input
if "$ILM" data prepare --input raw/a.jsonl --tokenizer byte --out fail-out --on-error fail >fail.out 2>&1; then
  fail "--on-error fail exited 0 on a malformed line"
fi
grep -q "a.jsonl:251" fail.out || fail "the fatal error does not name file:line: $(cat fail.out)"
if "$ILM" data prepare --input raw/a.jsonl --tokenizer byte --out x --set clean.min_char=3 >bad.out 2>&1; then
  fail "an unknown config key was accepted"
fi
grep -q "did you mean 'min_chars'" bad.out || fail "no suggestion for a misspelled key: $(cat bad.out)"
echo ok
