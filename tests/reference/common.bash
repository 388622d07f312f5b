# Shared by tests/reference/check_*.sh: where things are, where regenerated outputs
# go, skipping (exit 77, which ctest reports as skipped) when a reference is not
# installed, and the golden comparison.
SRC_DIR="${ILM_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export ILM_SOURCE_DIR="$SRC_DIR"
REF_DIR="$SRC_DIR/tests/reference"
NPM_DIR="$SRC_DIR/.assets/npm/node_modules"

skip() { echo "$*: skipping"; exit 77; }
need_node() { command -v node >/dev/null 2>&1 || skip "node not installed"; }
# need_node_file PATH: a file of an npm package under .assets/npm/node_modules.
need_node_file() { need_node; [[ -f "$NPM_DIR/$1" ]] || skip "$NPM_DIR/$1 not installed (scripts/setup)"; }
need_python_module() { /usr/bin/python3 -c "import $1" 2>/dev/null || skip "python3 module $1 not installed"; }

if [[ -n "${ILM_BINARY_DIR:-}" ]]; then
  OUT_DIR="$ILM_BINARY_DIR/reference"
  mkdir -p "$OUT_DIR"
else
  OUT_DIR="$(mktemp -d)"
  trap 'rm -rf "$OUT_DIR"' EXIT
fi

# expect_golden FILE NAME: the regenerated FILE is byte for byte golden/NAME.
expect_golden() {
  if ! cmp -s "$1" "$REF_DIR/golden/$2"; then
    echo "regenerated $1 differs from the committed golden/$2:"
    diff "$1" "$REF_DIR/golden/$2" | head -20 || true
    exit 1
  fi
  echo "golden/$2 reproduced"
}
