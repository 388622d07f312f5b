#!/usr/bin/env bash
# The model commands end to end: train a tiny run with a trained BPE tokenizer, `ilm info` it,
# convert it to a Hugging Face folder and to GGUF, generate from the folder (the same greedy
# tokens as the run), generate from the LLaMA, Falcon and Mistral fixtures by token ids (the
# tokens transformers generated), and bad inputs (one "error:" line, nothing written).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
write_bilingual_text text.txt
py=/usr/bin/python3
families=$ILM_SOURCE_DIR/tests/reference/golden/families

"$ILM" tokenizer train --input text.txt --vocab-size 300 --out tok >tok.out 2>&1 || { cat tok.out >&2; fail "tokenizer train"; }
"$ILM" data prepare --input text.txt --tokenizer tok/tokenizer.json --out shards --min-chars 1 >prep.out 2>&1 ||
  { cat prep.out >&2; fail "data prepare"; }
"$ILM" train --config "$ILM_SOURCE_DIR/configs/shakespeare-char.yaml" \
  --set data.text= --set data.train_shards='shards/train_*.bin' --set data.tokenizer_file=tok/tokenizer.json \
  --set run.dir=runs --set run.name=mc --set train.max_steps=30 --set train.eval_interval=10 \
  --set train.eval_batches=2 --set train.warmup_steps=5 --set train.lr_decay_steps=30 \
  --set model.n_layer=1 --set model.n_embd=32 --set model.n_head=2 --set model.block_size=16 \
  --set train.batch_size=4 >train.out 2>train.err || { cat train.err >&2; fail "ilm train exited $?"; }
run=runs/mc

# info of the run folder, as text and JSON.
"$ILM" info "$run" >info_run.txt || fail "ilm info of the run"
grep -q "^step: *30$" info_run.txt || fail "ilm info of the run: no step 30: $(cat info_run.txt)"
grep -q "^tokenizer: *hf, vocab 300" info_run.txt || fail "ilm info of the run: tokenizer: $(cat info_run.txt)"
"$ILM" info "$run" --json | grep -q '"format": "run"' || fail "ilm info --json of the run"

# run -> Hugging Face folder (the run has no biases: a note says they are zeros).
"$ILM" convert "$run" --to hf --out hf >conv.out 2>conv.err || { cat conv.err >&2; fail "convert --to hf"; }
grep -q "zeros" conv.err || fail "convert did not say the biases are zeros: $(cat conv.err)"
for f in config.json model.safetensors generation_config.json tokenizer.json; do
  [[ -s hf/$f ]] || fail "hf/$f is missing"
done
"$ILM" info hf >info_hf.txt || fail "ilm info of the HF folder"
for want in "architecture: *GPT2LMHeadModel" "recipe: *gpt2" "layers: *1" "positions: *learned" \
  "context: *16" "tokenizer: *hf, vocab 300" "weights: .*F32"; do
  grep -q "^$want" info_hf.txt || fail "ilm info of the HF folder lacks '$want': $(cat info_hf.txt)"
done

# The HF folder generates the run's greedy tokens.
for prompt in "The quick" "مرحبا"; do
  a=$("$ILM" generate --model "$run" --prompt "$prompt" -t 0 -n 12 --print-ids)
  b=$("$ILM" generate --model hf --prompt "$prompt" -t 0 -n 12 --print-ids)
  [[ -n $a && $a == "$b" ]] || fail "greedy ids differ for '$prompt': run '$a', hf '$b'"
  a=$("$ILM" generate --model "$run" --prompt "$prompt" -t 0 -n 12)
  b=$("$ILM" generate --model hf --prompt "$prompt" -t 0 -n 12)
  [[ $a == "$b" ]] || fail "greedy text differs for '$prompt': run '$a', hf '$b'"
done

# HF -> HF in shards, then to GGUF; the GGUF from the run and from the folder agree in size.
"$ILM" convert hf --to hf --shard-size 40KB --out hf2 >/dev/null 2>&1 || fail "convert hf -> hf"
[[ -f hf2/model.safetensors.index.json ]] || fail "no shards with --shard-size 40KB: $(ls hf2)"
"$ILM" convert "$run" --to gguf --type f16 --out run.gguf >/dev/null 2>&1 || fail "convert run --to gguf"
"$ILM" convert hf2 --to gguf --type f16 --out hf.gguf >/dev/null 2>&1 || fail "convert hf --to gguf"
[[ $(stat -c %s run.gguf) == $(stat -c %s hf.gguf) ]] || fail "run.gguf and hf.gguf differ in size"
"$ILM" info run.gguf >info_gguf.txt || fail "ilm info of the gguf"
grep -q "general.architecture = string \"gpt2\"" info_gguf.txt || fail "ilm info of the gguf: $(cat info_gguf.txt)"
grep -q "^loads as: .*GPT2LMHeadModel" info_gguf.txt || fail "ilm info of the gguf: no config: $(cat info_gguf.txt)"

# GGUF in: an F32 file generates the HF folder's greedy ids and text (tokenizer from the
# file), and converts back to a Hugging Face folder that does too.
"$ILM" convert hf --to gguf --type f32 --out f32.gguf >/dev/null 2>&1 || fail "convert hf --to gguf f32"
"$ILM" convert f32.gguf --to hf --out from_gguf >conv_g.out 2>&1 || { cat conv_g.out >&2; fail "convert gguf --to hf"; }
for prompt in "The quick" "مرحبا"; do
  a=$("$ILM" generate --model hf --prompt "$prompt" -t 0 -n 12 --print-ids)
  for m in f32.gguf from_gguf; do
    b=$("$ILM" generate --model $m --prompt "$prompt" -t 0 -n 12 --print-ids)
    [[ -n $a && $a == "$b" ]] || fail "greedy ids differ for '$prompt': hf '$a', $m '$b'"
  done
  a=$("$ILM" generate --model hf --prompt "$prompt" -t 0 -n 12)
  b=$("$ILM" generate --model f32.gguf --prompt "$prompt" -t 0 -n 12)
  [[ $a == "$b" ]] || fail "greedy text differs for '$prompt': hf '$a', gguf '$b'"
done
b=$("$ILM" generate --model run.gguf --prompt-ids 5,6,7 -t 0 -n 8 --print-ids)
[[ -n $b ]] || fail "the f16 gguf generated nothing"

# A run that continues the LLaMA fixture (--init, i.e. model.init): its checkpoints are LLaMA folders.
"$ILM" train --config "$ILM_SOURCE_DIR/configs/shakespeare-char.yaml" --set data.text=text.txt \
  --init "$families/llama" --set run.dir=runs --set run.name=ll --set train.max_steps=5 \
  --set train.eval_interval=5 --set train.eval_batches=1 --set train.warmup_steps=1 \
  --set train.lr_decay_steps=5 --set model.block_size=16 --set train.batch_size=2 \
  >train_ll.out 2>train_ll.err || { cat train_ll.err >&2; fail "ilm train with model.init"; }
"$ILM" train --resume runs/ll --init "$families/llama" >/dev/null 2>resume_init.err &&
  fail "--resume with --init was accepted"
grep -q "a resumed run keeps its own model" resume_init.err || fail "--resume --init: $(cat resume_init.err)"
"$ILM" info runs/ll >info_ll.txt || fail "ilm info of the model.init run"
for want in "recipe: *llama" "step: *5" "tokenizer: *char"; do
  grep -q "^$want" info_ll.txt || fail "ilm info of the model.init run lacks '$want': $(cat info_ll.txt)"
done
"$ILM" convert runs/ll --to hf --out ll_hf >/dev/null 2>&1 || fail "convert the model.init run --to hf"
a=$("$ILM" generate --model runs/ll --prompt "The" -t 0 -n 12)
b=$("$ILM" generate --model runs/ll/checkpoints/step_00000005 --prompt "The" -t 0 -n 12)
c=$("$ILM" generate --model ll_hf --prompt "The" -t 0 -n 12)
[[ ${#a} -gt 3 && $a == "$b" && $a == "$c" ]] ||
  fail "the model.init run, its checkpoint and its conversion generate differently: '$a' '$b' '$c'"

# Other families, by token ids, against the tokens transformers generated (llama2_gqa_bf16:
# its bf16 matrices are decoded as stored, not widened).
if [[ -x $py ]] && $py -c "import numpy" 2>/dev/null; then
  for family in llama falcon_new_arch mistral_window llama2_gqa_bf16; do
    read -r prompt want < <($py - "$families/$family/golden.safetensors" <<'PY'
import sys
sys.path.insert(0, sys.argv[1].rsplit("/golden/", 1)[0])
import safetensors_io
g = safetensors_io.load(sys.argv[1])
print(",".join(map(str, g["generate.prompt_ids"][0])), " ".join(map(str, g["generate.new_ids"])))
PY
    )
    got=$("$ILM" generate --model "$families/$family" --prompt-ids "$prompt" --print-ids -t 0 -n 8) ||
      fail "generate from $family"
    [[ $got == "$want" ]] || fail "$family: greedy ids '$got', transformers '$want'"
  done
else
  echo "model_cli: no $py with numpy: the family generation checks are skipped"
fi

# Bad inputs: exit 1, one "error:" line naming the thing, nothing written.
expect_error() {  # NAME NEEDLE -- COMMAND...
  local name=$1 needle=$2 rc=0
  shift 3
  "$@" >"$name.out" 2>"$name.err" || rc=$?
  [[ $rc -eq 1 ]] || fail "$name: expected exit code 1, got $rc: $(cat "$name.err")"
  [[ $(wc -l <"$name.err") -eq 1 && $(head -c 7 "$name.err") == "error: " ]] ||
    fail "$name: not one 'error:' line: $(cat "$name.err")"
  grep -qF -- "$needle" "$name.err" || fail "$name: the error does not name '$needle': $(cat "$name.err")"
}
cp -r "$families/llama" unknown
sed -i 's/LlamaForCausalLM/FooForCausalLM/' unknown/config.json
expect_error unknown_info "FooForCausalLM" -- "$ILM" info unknown
expect_error unknown_gen "LlamaForCausalLM" -- "$ILM" generate --model unknown --prompt-ids 1,2
expect_error unknown_conv "MistralForCausalLM" -- "$ILM" convert unknown --to hf --out out_unknown
[[ ! -e out_unknown ]] || fail "a failed convert left out_unknown"

cp -r "$families/llama" truncated
truncate -s 3000 truncated/model.safetensors
expect_error truncated_gen "model.safetensors" -- "$ILM" generate --model truncated --prompt-ids 1,2
expect_error truncated_conv "model.safetensors" -- "$ILM" convert truncated --to hf --out out_trunc
[[ ! -e out_trunc ]] || fail "a failed convert left out_trunc"
expect_error bert_gen "causal LM" -- "$ILM" generate --model "$families/bert" --prompt-ids 1,2
expect_error llama_gguf "needs the model's tokenizer" -- "$ILM" convert "$families/llama" --to gguf --out l.gguf
[[ ! -e l.gguf ]] || fail "a refused GGUF export left l.gguf"
expect_error no_tokenizer "--prompt-ids" -- "$ILM" generate --model "$families/llama" --prompt "hi"

if [[ -x $py ]] && $py -c "import numpy" 2>/dev/null; then
  cp -r "$families/llama" missing
  $py - missing/model.safetensors "$families" <<'PY'
import sys
sys.path.insert(0, sys.argv[2].rsplit("/golden/", 1)[0])
import safetensors_io
t = safetensors_io.load(sys.argv[1])
del t["model.norm.weight"]
safetensors_io.save(sys.argv[1], t)
PY
  expect_error missing_gen "model.norm.weight" -- "$ILM" generate --model missing --prompt-ids 1,2
  expect_error missing_conv "model.norm.weight" -- "$ILM" convert missing --to hf --out out_missing
  [[ ! -e out_missing ]] || fail "a failed convert left out_missing"
fi

echo "model_cli: ok"
