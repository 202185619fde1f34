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

# need_numpy WHAT: the script skips WHAT (and exits) where /usr/bin/python3 lacks numpy or h5py.
need_numpy() {
  if ! /usr/bin/python3 -c 'import numpy, h5py' 2>/dev/null; then
    skip "$1" "python3-numpy or python3-h5py not installed"
    exit 0
  fi
}

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

# mlp_model INPUT CLASSES UNITS [TASK]: the model section of a config for a one-hidden-layer MLP
# (flatten, dense UNITS, relu, dense CLASSES) on inputs of shape [INPUT] ("5, 1, 1"), on stdout;
# the data, train and optimizer sections follow it.
mlp_model() {
  printf 'model:\n  input: [%s]\n  num_classes: %s\n' "$1" "$2"
  [ -n "${4:-}" ] && printf '  task: %s\n' "$4"
  printf '  layers:\n    - {type: flatten}\n    - {type: dense, units: %s}\n' "$3"
  printf '    - {type: relu}\n    - {type: dense, units: %s}\n' "$2"
}

# h5_data FILE: the data section of a config whose train and test splits are /x and /y of the
# HDF5 file $T/FILE, on stdout (more data keys may follow it).
h5_data() {
  printf 'data:\n  format: hdf5\n  dir: %s\n' "$T"
  for s in train test; do printf '  %s_images: %s:/x\n  %s_labels: %s:/y\n' "$s" "$1" "$s" "$1"; done
}

# A tiny MLP on the 10,000 test images that commits every 2 steps (max_to_keep 3): the crash and
# power-loss tests' run, where most moments fall inside a checkpoint write or commit.
tiny_ckpt_config() {
  {
    mlp_model "1, 28, 28" 10 16
    cat <<YAML
data:
  dir: $DATA
  train_images: t10k-images-idx3-ubyte
  train_labels: t10k-labels-idx1-ubyte
train:
  batch_size: 32
  seed: 7
  summary_every: 1
  log_every: 1000
  checkpoint_every: 2
  max_to_keep: 3
YAML
  } >"$1"
}

# TensorBoard's view of one run (events.py --tensorboard applies its purge rule).  files DIR: the
# run's event files in name order.  bad_series: the tags of an events.py listing on stdin whose
# steps repeat or go back (empty: clean).  tb_views SEEN DIR OUT: OUT.live is what a TensorBoard
# that read the files copied to SEEN before a restart shows once it has read DIR's new files too,
# OUT.nopurge the same without the purge rule, OUT.fresh a freshly started TensorBoard's view.
files() { ls "$1"/events.out.tfevents.* 2>/dev/null; }
bad_series() { awk '$2 != "SessionLog.START" { if (($2 in last) && $1 <= last[$2]) print $2, last[$2], $1; last[$2] = $1 }'; }
tb_views() {
  ev="/usr/bin/python3 $ROOT/tests/integration/events.py"
  live=$(files "$1")
  for f in $(files "$2"); do [ -e "$1/$(basename "$f")" ] || live="$live $f"; done
  $ev --tensorboard --ignore-session-log $live >"$3.nopurge"
  $ev --tensorboard $live >"$3.live"
  $ev --tensorboard $(files "$2") >"$3.fresh"
}
