#!/bin/sh
# Damaged HDF5 data files given to train and to eval --predict: libhdf5 parses every HDF5 data
# file first in a bounded child (common/base/bounded.h), so a file on which it crashes (the
# fuzzer's tests/fuzz/regress/fuzz_h5data/libhdf5-segv-shared-message-heap.h5), a real file with
# a flipped bit in its chunk shape (which once made libhdf5 copy past its buffer and segfault
# eval) and a truncated real file each end in one line naming the file, a non-zero exit, no core,
# also under data.memory_mb (the child then streams through a slab sized by the budget).
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! $PY -c 'import h5py, numpy' 2>/dev/null; then
  skip "damaged HDF5 data files" "no h5py/numpy for $PY"
  exit 0
fi
cat >"$T/data.py" <<'PY'
import struct, sys, h5py, numpy as np
r = np.random.default_rng(3)
x = r.normal(0, 1, (300, 6)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
with h5py.File(sys.argv[1], "w") as f:
    f.create_dataset("x", data=x, chunks=(50, 6))
    f.create_dataset("y", data=y, chunks=(50,))
b = bytearray(open(sys.argv[1], "rb").read())
# The layout message of /x: chunk shape (50, 6) and the element size 4, as uint32 LE.
at = b.find(struct.pack("<3I", 50, 6, 4))
assert at > 0 and b.find(struct.pack("<3I", 50, 6, 4), at + 1) < 0, at
b[at + 5] ^= 1  # the chunk's second dimension 6 becomes 262
open(sys.argv[2], "wb").write(b)
PY
$PY "$T/data.py" "$T/d.h5" "$T/flip.h5" >"$T/d.out" 2>&1 || notok "write the data" "$(cat "$T/d.out")"
tail -c +2 "$ROOT/tests/fuzz/regress/fuzz_h5data/libhdf5-segv-shared-message-heap.h5" >"$T/segv.h5"
head -c 9000 "$T/d.h5" >"$T/cut.h5"
{
  mlp_model "6, 1, 1" 2 8
  cat <<YAML
data:
  format: hdf5
  dir: $T
  train_images: d.h5:/x
  train_labels: d.h5:/y
  scale: 1
train: {batch_size: 32, steps: 10, checkpoint_every: 10}
YAML
} >"$T/cfg.yaml"
"$BIN/train" --quiet --threads 1 --train-dir "$T/run" --config "$T/cfg.yaml" >"$T/t.out" 2>&1 ||
  notok "train on the undamaged file" "$(cat "$T/t.out")"
ck="$T/run/ckpt-00000010.h5"
# One damaged file to both programs: one line naming it and what happened, exit 1, no core.
cd "$T" || exit 1
ulimit -c unlimited 2>/dev/null
for f in "segv.h5:damaged HDF5 data file \(HDF5 crashed parsing it: " \
  "flip.h5:/x: 6 chunks of 52400 bytes do not make its 7200 stored bytes" \
  "cut.h5:damaged or truncated HDF5 file"; do
  file=${f%%:*} what=${f#*:}
  expect_fail "train on $file: one line" 1 "$file: $what" "$BIN/train" --quiet --threads 1 \
    --train-dir "$T/r-$file" --config "$T/cfg.yaml" --set data.train_images="$file:/x" \
    --set data.train_labels="$file:/y"
  expect_fail "train under data.memory_mb 1 (the child's slab from the budget) on $file: one line" \
    1 "$file: $what" "$BIN/train" --quiet --threads 1 --train-dir "$T/o-$file" \
    --config "$T/cfg.yaml" --set data.train_images="$file:/x" --set data.train_labels="$file:/y" \
    --set data.memory_mb=1
  expect_fail "eval --predict on $file: one line" 1 "$file: $what" \
    "$BIN/eval" --ckpt "$ck" --predict "$T/$file:/x" --out "$T/p.csv"
done
check "no core file was left" test -z "$(find "$T" -name 'core*' -type f)"
