#!/bin/sh
# Stored shapes against the config, and --max-memory: a checkpoint whose config declares a model
# its variables do not have is refused before anything is allocated (one line naming the file, the
# variable and both shapes), and a run or a checkpoint whose plan exceeds --max-memory is refused
# up front with the figures; nothing on disk changes.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
# peak KiB of a command (GNU time), or empty when /usr/bin/time is not there
peak() { /usr/bin/time -f '%M' -o "$T/peak" "$@" >/dev/null 2>&1; cat "$T/peak" 2>/dev/null | tail -1; }

"$BIN/train" -q --train-dir "$T/run" --config "$CFG" --steps 2 --set train.checkpoint_every=2 >/dev/null
CK=$T/run/ckpt-00000002.h5
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  # The config says dense 1,000,000 (3 GB of variables and 2 GB of activations at batch 500);
  # the file holds the 512-unit variables (it was 6.3 GB of RSS for 33 s before the refusal).
  /usr/bin/python3 "$ROOT/tests/integration/craft_ckpt.py" "$CK" "$T/lie.h5" 'units: 512' 'units: 1000000'
  expect_fail "a checkpoint whose config lies about its shapes is refused, naming file, variable, both shapes" 1 \
    "^eval: $T/lie.h5: dense_1/kernel: shape \[512, 784\] in file, \[1000000, 784\] in model" "$BIN/eval" --ckpt "$T/lie.h5"
  if [ -x /usr/bin/time ]; then
    kb=$(peak "$BIN/eval" --ckpt "$T/lie.h5")
    check "... and refused before allocating: peak RSS ${kb:-?} KiB < 100 MiB" test "${kb:-999999}" -lt 102400
  else
    skip "peak RSS of the refusal" "/usr/bin/time (Debian's time) is not installed"
  fi
else
  skip "a checkpoint whose config lies about its shapes" "needs Debian's python3-h5py to write it"
fi

# --max-memory: the same checkpoint needs about 19 MiB at batch 500 (activations, variables and
# values+gradients, the 7.5 MiB of test images and labels).
expect_fail "eval --max-memory refuses a checkpoint above it, with the figures" 1 \
  "^eval: $CK: needs [0-9]+ MiB \(activations [0-9]+, variables [0-9]+, data [0-9]+ MiB\), above --max-memory 10 MiB" \
  "$BIN/eval" --ckpt "$CK" --max-memory 10
check "eval --max-memory 0 (no limit) evaluates it" "$BIN/eval" --ckpt "$CK" --max-memory 0 --num-examples 100
check "eval --max-memory 64 evaluates it" "$BIN/eval" --ckpt "$CK" --max-memory 64 --num-examples 100
expect_fail "eval --max-memory not a number" 2 "max-memory" "$BIN/eval" --ckpt "$CK" --max-memory lots
cp "$T/run/checkpoints.yaml" "$T/manifest.before"
expect_fail "train --max-memory refuses a resume above it before loading data, with the figures" 1 \
  "^train: .*config.yaml: needs [0-9]+ MiB \(activations [0-9]+, variables [0-9]+, data [0-9]+ MiB\), above --max-memory 20 MiB" \
  "$BIN/train" -q --train-dir "$T/run" --steps 4 --max-memory 20
check "... and the run is untouched (manifest unchanged, checkpoint verifies)" sh -c \
  "cmp '$T/manifest.before' '$T/run/checkpoints.yaml' && '$BIN/eval' --train-dir '$T/run' --num-examples 10 >/dev/null"
expect_fail "train --max-memory refuses a model too big for it, naming the config" 1 \
  "^train: $CFG: needs [0-9]+ MiB .*above --max-memory 100 MiB" \
  "$BIN/train" -q --train-dir "$T/big" --config "$CFG" --steps 2 --set model.layers.1.units=20000 --max-memory 100
check "train --max-memory 0 trains" "$BIN/train" -q --train-dir "$T/run" --steps 4 --max-memory 0
check "--help documents --max-memory and its default" sh -c \
  "'$BIN/train' --help | grep -q -- '--max-memory MB' && '$BIN/eval' --help | grep -q 'three quarters of physical memory'"

# The child that parses a file without a user block is bounded in memory: a crafted dataset of
# 2^31 float64 (16 GiB; the file is 2 MB: HDF5 allocates late) is refused there, not by the OOM killer.
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  /usr/bin/python3 - "$CK" "$T/balloon.h5" <<'PY'
import sys, h5py
src = h5py.File(sys.argv[1], "r")
with h5py.File(sys.argv[2], "w") as g:
    for k, v in src.attrs.items():
        g.attrs[k] = v
    src.copy("variables", g)
    g.create_dataset("state/huge", shape=(2**31,), dtype="f8")
PY
  expect_fail "a crafted file whose dataset would take 16 GiB is refused by the bounded child, one line" 1 \
    "^eval: $T/balloon.h5: /state/huge: out of memory for 2147483648 values" "$BIN/eval" --ckpt "$T/balloon.h5"
else
  skip "a crafted file whose dataset would take 16 GiB" "needs Debian's python3-h5py to write it"
fi
