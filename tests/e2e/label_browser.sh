#!/usr/bin/env bash
# `ilm data label` in headless Chromium: a user labels with the keyboard, stops with Ctrl-C
# (SIGINT), comes back, undoes, relabels and skips; labeled.jsonl must then hold exactly the
# lines given, in order, and --final the last label of each record. The browser side is
# label_browser.mjs (puppeteer-core from scripts/setup, Debian's chromium). Skipped (77) when
# chromium, node or puppeteer-core is missing. ILM_NPM_DIR overrides where node_modules is.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.bash"

skip() { echo "$*: skipping"; exit 77; }
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
NPM_DIR=${ILM_NPM_DIR:-$ILM_SOURCE_DIR/.assets/npm/node_modules}
[[ -x $CHROMIUM ]] || skip "no chromium at $CHROMIUM"
command -v node >/dev/null 2>&1 || skip "node not installed"
[[ -f $NPM_DIR/puppeteer-core/package.json ]] || skip "$NPM_DIR/puppeteer-core not installed (scripts/setup)"
DRIVER="$ILM_SOURCE_DIR/tests/e2e/label_browser.mjs"

server_pid=""
on_exit() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true; }

# start_server ARGS...: runs `ilm data label` in the background; sets server_pid and url.
start_server() {
  "$ILM" data label --input in.jsonl --labels positive,negative,neutral --out labeled.jsonl \
    --port 0 "$@" >server.out 2>server.err &
  server_pid=$!
  url=""
  for _ in $(seq 1 100); do  # up to 10 s
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' server.out || true)
    [[ -n $url ]] && return
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited: $(cat server.err)"
    sleep 0.1
  done
  fail "the server printed no URL in 10 s: $(cat server.out server.err)"
}

# wait_server SECONDS: waits for the server to exit; sets server_rc.
wait_server() {
  for _ in $(seq 1 $(($1 * 10))); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      server_rc=0
      wait "$server_pid" || server_rc=$?
      server_pid=""
      return
    fi
    sleep 0.1
  done
  fail "the server did not exit within $1 s"
}

drive() {  # PHASE
  timeout 90 node "$DRIVER" "$NPM_DIR" "$CHROMIUM" "$url" "$1" ||
    fail "browser $1 (server: $(cat server.err))"
}

# Six lines: records on 1, 2, 4, 5, 6 (two Arabic); line 3 is not JSON.
cat >in.jsonl <<'EOF'
{"text":"good movie","id":1}
{"text":"فيلم سيء","id":2}
{"text": broken
{"text":"so so","id":4}
{"text":"رائع","id":5}
{"text":"meh","id":6}
EOF

# Phase 1: label lines 1 and 2, then Ctrl-C.
start_server
drive phase1
kill -INT "$server_pid"
wait_server 10
[[ $server_rc -eq 0 ]] || fail "SIGINT: exit code $server_rc, expected 0 ($(cat server.err))"
grep -q '^labeled 2, remaining 3' server.out || fail "SIGINT summary: $(cat server.out)"

# Phase 2: resume at line 4; 3, undo, 1, skip 5, 2 on 6, 3 on 5; the server exits when done.
start_server --exit-when-done --final final.jsonl
drive phase2
wait_server 10
[[ $server_rc -eq 0 ]] || fail "--exit-when-done: exit code $server_rc ($(cat server.err))"
grep -q '^labeled 5, remaining 0' server.out || fail "summary: $(cat server.out)"
grep -q '^wrote 5 labeled records to final.jsonl' server.out || fail "final: $(cat server.out)"

cat >expected.jsonl <<'EOF'
{"text":"good movie","id":1,"label":"positive","_line":1}
{"text":"فيلم سيء","id":2,"label":"negative","_line":2}
{"text":"so so","id":4,"label":"neutral","_line":4}
{"_line":4,"label":null}
{"text":"so so","id":4,"label":"positive","_line":4}
{"text":"meh","id":6,"label":"negative","_line":6}
{"text":"رائع","id":5,"label":"neutral","_line":5}
EOF
cmp -s labeled.jsonl expected.jsonl || fail "labeled.jsonl differs: $(diff expected.jsonl labeled.jsonl)"

cat >expected_final.jsonl <<'EOF'
{"text":"good movie","id":1,"label":"positive"}
{"text":"فيلم سيء","id":2,"label":"negative"}
{"text":"so so","id":4,"label":"positive"}
{"text":"رائع","id":5,"label":"neutral"}
{"text":"meh","id":6,"label":"negative"}
EOF
cmp -s final.jsonl expected_final.jsonl || fail "final.jsonl differs: $(diff expected_final.jsonl final.jsonl)"
echo "label_browser: ok"
