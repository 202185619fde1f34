# Shared helpers for the integration scripts (sourced).  Each check prints "ok - NAME" or
# "not ok - NAME" with the evidence, or "skip - NAME (why)" when it cannot run here; scripts keep
# going after a failure.
set -u
: "${BIN:?BIN must point at the built binaries}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CHECKERS=${TV_CHECKERS:-$ROOT/../shared/checkers}
T=$(mktemp -d /tmp/trainval-it.XXXXXX)
# Never leave a background train or eval running, whatever happens to the script.
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT
DATA=/usr/share/datasets/fashion-mnist

ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; shift; for l in "$@"; do echo "#   $l"; done; }

# skip NAME WHY: a check that cannot run here (its external checker or tool is missing).
# run_integration.sh counts it as skipped, never as passed.
skip() { echo "skip - $1 ($2)"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
  name=$1; shift
  if out=$("$@" 2>&1); then ok "$name"; else notok "$name" "command: $*" "$out"; fi
}

# expect_fail NAME CODE PATTERN CMD...: CMD must exit CODE with exactly one stderr line
# matching PATTERN (grep -E).
expect_fail() {
  name=$1 code=$2 pat=$3; shift 3
  "$@" >"$T/out" 2>"$T/err"
  rc=$?
  lines=$(wc -l <"$T/err")
  if [ "$rc" -eq "$code" ] && [ "$lines" -eq 1 ] && grep -qE -- "$pat" "$T/err"; then
    ok "$name"
  else
    notok "$name" "command: $*" "exit $rc (want $code), $lines stderr lines, want /$pat/:" "$(cat "$T/err")"
  fi
}

# A small fast config derived from the real one: short run, frequent checkpoints.
small_config() {
  sed -e 's/^\( *epochs:\).*/\1 1/' "$ROOT/configs/fashion_mlp.yaml" >"$1"
}
