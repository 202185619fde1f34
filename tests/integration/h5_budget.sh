#!/bin/sh
# --max-memory counts HDF5 data (budget.h, data.h tv_data_estimate): an HDF5 file of 8000
# float32 rows of 196 features (scripts/make_h5_rows.py, 6 MiB in memory) makes a training run
# need 12 MiB of data (the file's dataset and the train and valid splits copied from it) and an
# evaluation of its test split 6 MiB: above --max-memory 10 (train) and 5 (eval) each is refused
# with the one-line message naming the figures, and the same runs with data.memory_mb 1 (the
# file then stays on disk, counted as the budget) pass.
. "$(dirname "$0")/lib.sh"
need_numpy "--max-memory with HDF5 data"
/usr/bin/python3 "$ROOT/scripts/make_h5_rows.py" "$T/rows.h5" --rows 8000 --features 196 \
  --chunk 128 >"$T/gen.out" 2>&1 || notok "write the HDF5 file" "$(cat "$T/gen.out")"
{
  mlp_model "196, 1, 1" 10 32
  h5_data rows.h5
  cat <<YAML
train: {batch_size: 32, steps: 20, checkpoint_every: 20, seed: 1}
YAML
} >"$T/c.yaml"
TRAIN="$BIN/train --quiet --threads 1"
expect_fail "train: 12 MiB of HDF5 data in memory above --max-memory 10 is refused, with the figures" 1 \
  "^train: .*c.yaml: needs 1[2-3] MiB \(activations [0-9]+, variables [0-9]+, data 12 MiB\), above --max-memory 10 MiB" \
  $TRAIN --train-dir "$T/mem" --config "$T/c.yaml" --max-memory 10
check "... nothing was trained" test ! -e "$T/mem/ckpt-00000020.h5"
check "train: the same run out of core (data.memory_mb 1, counted as 1 MiB) passes --max-memory 10" \
  $TRAIN --train-dir "$T/ooc" --config "$T/c.yaml" --max-memory 10 --set data.memory_mb=1
CK=$T/ooc/ckpt-00000020.h5
expect_fail "eval: the 6 MiB test split in memory above --max-memory 5 is refused, with the figures" 1 \
  "^eval: $CK: needs [67] MiB \(activations [0-9]+, variables [0-9]+, data 6 MiB\), above --max-memory 5 MiB" \
  "$BIN/eval" --ckpt "$CK" --max-memory 5 --set data.memory_mb=0
check "eval: the test split out of core passes --max-memory 5" \
  "$BIN/eval" --ckpt "$CK" --max-memory 5 --threads 1
