#!/usr/bin/env bash
# The parsers (safetensors, token shards, example sets, tokenizer files of every kind, YAML config,
# checkpoints), the tokenizers
# and the ops under AddressSanitizer and UndefinedBehaviorSanitizer: builds the
# asan-ubsan preset beside the release build and runs those unit tests there.
# Minutes on 2 cores (a whole second build), hence the slow label.
set -euo pipefail
src="$ILM_SOURCE_DIR"
out="${ILM_ASAN_BUILD_DIR:-$src/build-asan}"
cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DILM_SANITIZE=ON -DILM_BENCH=OFF >/dev/null
tests=(test_safetensors test_safetensors_index test_shard test_tokenizer test_loader test_text_dataset test_train test_ops_grad
  test_generate test_bpe test_tiktoken test_bpe_trainer test_wordpiece test_sentencepiece
  test_hf_tokenizer test_chat_template test_example_set test_supervised test_reader test_clean
  test_dedup test_label_server test_gguf test_prepare)
cmake --build "$out" -j "$(nproc)" --target "${tests[@]}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${tests[@]}"; do
  echo "== $t (asan+ubsan)"
  "$out/tests/$t" --gtest_brief=1
done
