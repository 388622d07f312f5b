# Shared by the end-to-end scripts: checks the environment ctest sets, makes a fresh
# working folder (removed on exit) and the small English + Arabic training text.
: "${ILM:?set ILM to the ilm binary}" "${ILM_SOURCE_DIR:?set ILM_SOURCE_DIR to the source tree}"
ILM=$(realpath "$ILM") ILM_SOURCE_DIR=$(realpath "$ILM_SOURCE_DIR")

fail() { echo "FAIL: $*" >&2; exit 1; }

# The work folder; scripts may define on_exit() to run before it is removed.
work=$(mktemp -d)
trap 'declare -F on_exit >/dev/null && on_exit; rm -rf "$work"' EXIT
cd "$work"

write_bilingual_text() {  # FILE
  for _ in $(seq 1 40); do
    echo "The quick brown fox jumps over the lazy dog. Language models learn from text."
    echo "مرحبا بالعالم. النماذج اللغوية تتعلم من النصوص."
  done >"$1"
}
