#!/usr/bin/env bash
# `ilm pull` against tests/e2e/mock_hub.py on 127.0.0.1 (HF_ENDPOINT): a full pull with a
# token (LFS files redirected to a "CDN" path), a cheap re-run, a dropped connection resumed,
# a partial file resumed, include/exclude, a dataset repo; then bad cases, each exiting 1 with
# one "error: ..." line naming what was wrong and leaving no file half-written.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"
command -v python3 >/dev/null || { echo "python3 missing: skipped"; exit 77; }
mock=$ILM_SOURCE_DIR/tests/e2e/mock_hub.py
unset HF_TOKEN HF_TOKEN_PATH HF_HOME
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 HOME=$work  # no token file of the user's

servers=()
on_exit() { local p; for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done; }

# launch_hub NAME ARGS...: a mock Hub serving files/ in the background;
# use_hub NAME: waits until it listens and sets $endpoint.
launch_hub() {
  local name=$1
  shift
  python3 "$mock" --files files --port-file "$name.port" --lifetime 120 "$@" 2>"$name.log" &
  servers+=($!)
}
use_hub() {
  for _ in $(seq 1 200); do [[ -s $1.port ]] && break; sleep 0.05; done
  [[ -s $1.port ]] || fail "mock hub $1 did not start: $(cat "$1.log")"
  endpoint=http://127.0.0.1:$(cat "$1.port")
}
pull() { timeout 60 "$ILM" pull "$@"; }

mkdir -p files/sub
echo '{"model_type": "gpt2", "n_layer": 2, "n_embd": 16}' >files/config.json
head -c 200000 /dev/urandom >files/model.safetensors
head -c 3000 /dev/urandom >files/sub/vocab.txt
# The same weights again in formats ilm does not read: left out unless --all-formats.
head -c 1000 /dev/urandom >files/pytorch_model.bin
head -c 1000 /dev/urandom >files/tf_model.h5
# Python starts slowly here: all the hubs start at once.
launch_hub main --repo owner/gpt2 --token hf_e2e
launch_hub cut --repo owner/gpt2 --cut-once
launch_hub data --repo owner/set --repo-type dataset
launch_hub sha --repo owner/gpt2 --wrong-sha
expect_same() {  # DIR: the pulled files equal files/
  local f
  for f in config.json model.safetensors sub/vocab.txt; do
    cmp -s "files/$f" "$1/$f" || fail "$1/$f differs from what the hub served"
  done
  [[ -z $(find "$1" -name '*.incomplete') ]] || fail "$1: left $(find "$1" -name '*.incomplete')"
}

# --- a full pull with a token, then a re-run that downloads nothing ----------------------
use_hub main
HF_ENDPOINT=$endpoint HF_TOKEN=hf_e2e pull owner/gpt2 --to models/gpt2 >out.txt 2>err.txt ||
  fail "pull failed: $(cat err.txt)"
expect_same models/gpt2
grep -q "3 files downloaded" out.txt || fail "summary: $(cat out.txt)"
grep -q '"commit": "0123456789abcdef0123456789abcdef01234567"' models/gpt2/.ilm-pull.json ||
  fail ".ilm-pull.json: $(cat models/gpt2/.ilm-pull.json)"
grep -q "config.json: " err.txt || fail "no progress line per file: $(cat err.txt)"
grep -q "left out 2 files (2.0 kB) in weight formats ilm does not read: pytorch_model.bin, tf_model.h5" \
  out.txt || fail "left-out summary: $(cat out.txt)"
[[ ! -e models/gpt2/pytorch_model.bin && ! -e models/gpt2/tf_model.h5 ]] ||
  fail "foreign weight formats were pulled without --all-formats"
HF_ENDPOINT=$endpoint HF_TOKEN=hf_e2e pull owner/gpt2 --to models/gpt2 >out.txt 2>err.txt
grep -q "0 files downloaded (0 B), 3 already here" out.txt || fail "re-run: $(cat out.txt)"
echo "ok   full pull and re-run"
HF_ENDPOINT=$endpoint HF_TOKEN=hf_e2e pull owner/gpt2 --to models/all --all-formats -q >out.txt ||
  fail "--all-formats"
cmp -s files/pytorch_model.bin models/all/pytorch_model.bin || fail "--all-formats: no pytorch_model.bin"
grep -q "5 files downloaded" out.txt || fail "--all-formats summary: $(cat out.txt)"
HF_ENDPOINT=$endpoint HF_TOKEN=hf_e2e pull owner/gpt2 --to models/bin --include '*.bin' \
  --include '*.json' -q >out.txt 2>err.txt || fail "--include '*.bin'"
grep -q "warning: owner/gpt2 has no safetensors or GGUF weights here" err.txt ||
  fail "no warning for weights ilm cannot read: $(cat err.txt)"
echo "ok   weight formats ilm does not read are left out (--all-formats, --include)"

# The token file is read when HF_TOKEN is not set.
mkdir -p .cache/huggingface && echo hf_e2e >.cache/huggingface/token
HF_ENDPOINT=$endpoint pull owner/gpt2 --to models/from-file -q >out.txt || fail "token file"
expect_same models/from-file
rm -rf .cache
echo "ok   token file"

# --- a partial file from an earlier run is resumed; include/exclude select -------------
mkdir -p models/partial
head -c 70000 files/model.safetensors >models/partial/model.safetensors.incomplete
HF_ENDPOINT=$endpoint HF_TOKEN=hf_e2e pull owner/gpt2 --to models/partial >out.txt 2>err.txt
expect_same models/partial
grep -q "model.safetensors: resuming at 70.0 kB" err.txt || fail "no resume: $(cat err.txt)"
grep -q "/cdn/[0-9a-f]* bytes=70000-" main.log ||
  fail "no Range request: $(cat main.log)"
HF_ENDPOINT=$endpoint HF_TOKEN=hf_e2e pull owner/gpt2 --to models/some --include '*.json' \
  --include 'sub/*' --exclude '*.txt' >out.txt 2>&1
[[ $(cd models/some && find . -type f | LC_ALL=C sort | tr '\n' ' ') == "./.ilm-pull.json ./config.json " ]] ||
  fail "include/exclude: $(find models/some)"
echo "ok   resume of a partial file, include/exclude"

# --- a connection dropped halfway is resumed within the same run -----------------------
use_hub cut
HF_ENDPOINT=$endpoint pull owner/gpt2 --to models/cut >out.txt 2>err.txt || fail "cut: $(cat err.txt)"
expect_same models/cut
grep -q "resuming" err.txt || fail "cut: no retry reported: $(cat err.txt)"
echo "ok   dropped connection resumed"

# --- a dataset repository ---------------------------------------------------------------
use_hub data
HF_ENDPOINT=$endpoint pull owner/set --repo-type dataset --to data/set -q >out.txt
expect_same data/set
echo "ok   dataset"

# --- bad cases ---------------------------------------------------------------------------
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_error() {  # NAME DIR NEEDLE... -- COMMAND...: exit 1, one error line, DIR has no file
  local name=$1 dir=$2 needles=() rc=0
  shift 2
  while [[ $1 != -- ]]; do needles+=("$1"); shift; done
  shift
  "$@" >"$name.out" 2>"$name.err" || rc=$?
  local err
  err=$(grep -v '^\[\|^[0-9]* files\|: resuming\|trying again' "$name.err" || true)
  [[ $rc -eq 1 ]] || { fail "$name: exit code $rc, expected 1: $err"; return 0; }
  [[ $err == "error: "* && $(wc -l <<<"$err") -eq 1 ]] || fail "$name: not one error line: $err"
  [[ -s $name.out ]] && fail "$name: printed on stdout: $(cat "$name.out")"
  local n
  for n in "${needles[@]}"; do [[ $err == *"$n"* ]] || fail "$name: '$n' not in: $err"; done
  if [[ -e $dir ]]; then
    local left
    left=$(find "$dir" -type f ! -name config.json | tr '\n' ' ')
    [[ -z $left ]] || fail "$name: left files: $left"
  fi
  echo "ok   $name: $err"
}
HF_ENDPOINT=$(cat main.port | sed 's|^|http://127.0.0.1:|')
export HF_ENDPOINT
expect_error no_token bad/a "'owner/gpt2'" "HTTP 401" "set HF_TOKEN" -- pull owner/gpt2 --to bad/a
expect_error wrong_token bad/a "HTTP 401" "HF_TOKEN" -- timeout 60 env HF_TOKEN=hf_nope "$ILM" pull owner/gpt2 --to bad/a
export HF_TOKEN=hf_e2e
expect_error no_repo bad/a "repository 'owner/none' not found at $HF_ENDPOINT" -- pull owner/none --to bad/a
expect_error no_revision bad/a "revision 'v9' not found in repository 'owner/gpt2'" -- \
  pull owner/gpt2 --revision v9 --to bad/a
expect_error bad_repo_id bad/a "invalid repository id '../x'" -- pull ../x --to bad/a
if pull owner/gpt2 --repo-type space --to bad/a >bad_type.out 2>&1 || [[ -e bad/a ]]; then
  fail "bad_repo_type: accepted, or made bad/a: $(cat bad_type.out)"
fi
expect_error no_match bad/a "no file matching" -- pull owner/gpt2 --include '*.gguf' --to bad/a
use_hub sha
expect_error wrong_sha bad/b "file 'model.safetensors'" "sha256 mismatch" "expected eeee" \
  "got $(sha256sum files/model.safetensors | cut -c1-64)" "removed the partial download" -- \
  timeout 60 env HF_ENDPOINT="$endpoint" "$ILM" pull owner/gpt2 --to bad/b
# A port nobody listens on: the one the first mock hub had, once it is stopped.
kill "${servers[0]}" && wait "${servers[0]}" 2>/dev/null || true
expect_error refused bad/c "cannot reach $HF_ENDPOINT" "HF_ENDPOINT" -- pull owner/gpt2 --to bad/c
[[ $failures -eq 0 ]] || { echo "$failures failures" >&2; exit 1; }
echo "all pull cases passed"
