#!/usr/bin/env bash
# The parsers and servers under AddressSanitizer and UndefinedBehaviorSanitizer: safetensors,
# GGUF, token shards, example sets, tokenizer files of every kind, YAML config, checkpoints, the
# data readers and cleaning, the data pipeline and the labeling server. Builds a sanitized Debug
# build beside the release build (without -g, which halves its compile time; reports still name
# the functions) and runs those unit tests there. Minutes on 2 cores, hence the slow label.
# The compute kernels are checked in the release build (finite differences, PyTorch references).
set -euo pipefail
src="$ILM_SOURCE_DIR"
out="${ILM_ASAN_BUILD_DIR:-$src/build-asan}"
cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DILM_SANITIZE=ON \
  -DILM_BENCH=OFF >/dev/null
tests=(test_safetensors test_safetensors_index test_shard test_tokenizer test_loader test_text_dataset
  test_bpe test_tiktoken test_bpe_trainer test_wordpiece test_sentencepiece test_hf_tokenizer
  test_chat_template test_example_set test_supervised test_reader test_clean test_label_server
  test_gguf test_prepare)
cmake --build "$out" -j "$(nproc)" --target "${tests[@]}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${tests[@]}"; do
  echo "== $t (asan+ubsan)"
  "$out/tests/$t" --gtest_brief=1
done
