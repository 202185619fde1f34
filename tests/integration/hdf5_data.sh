#!/bin/sh
# The HDF5 data source on real data: scripts/make_fmnist_copies.py writes Fashion-MNIST as HDF5
# with h5py (plain, and chunked with gzip + shuffle) and as .npy; a short run on the HDF5 copy,
# and one on the .npy copy, trains exactly
# the parameters the IDX files train (every variable bitwise, so every example and label was
# the same, in the same order), and eval of one checkpoint gives the same figures on the IDX and
# the HDF5 test split.  Bad HDF5 inputs end in one line naming the file and the dataset.
. "$(dirname "$0")/lib.sh"
if [ ! -e "$DATA/t10k-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/t10k-images-idx3-ubyte" ]; then
  skip "HDF5 data source" "no Fashion-MNIST under $DATA"
  exit 0
fi
PY=/usr/bin/python3
if ! $PY -c 'import h5py, numpy' 2>/dev/null; then
  skip "HDF5 data source" "no h5py/numpy for $PY"
  exit 0
fi
$PY "$ROOT/scripts/make_fmnist_copies.py" "$T/plain" >"$T/copy.out" 2>&1 ||
  notok "write the HDF5 copy" "$(cat "$T/copy.out")"
$PY "$ROOT/scripts/make_fmnist_copies.py" --compress "$T/gz" >"$T/copy.out" 2>&1 ||
  notok "write the compressed HDF5 copy" "$(cat "$T/copy.out")"
small_config "$T/cfg.yaml"
h5sets() {
  echo --set data.format=hdf5 --set data.dir="$1" \
    --set data.train_images=fashion-mnist.h5:/train/images \
    --set data.train_labels=fashion-mnist.h5:/train/labels \
    --set data.test_images=fashion-mnist.h5:/test/images \
    --set data.test_labels=fashion-mnist.h5:/test/labels
}
"$BIN/train" --quiet --threads 1 --train-dir "$T/idx" --config "$T/cfg.yaml" --steps 30 \
  >"$T/t1.out" 2>&1 || notok "train on the IDX files" "$(cat "$T/t1.out")"
# shellcheck disable=SC2046
"$BIN/train" --quiet --threads 1 --train-dir "$T/h5" --config "$T/cfg.yaml" --steps 30 \
  $(h5sets "$T/plain") >"$T/t2.out" 2>&1 || notok "train on the HDF5 copy" "$(cat "$T/t2.out")"
check "30 steps on the HDF5 copy train the IDX run's parameters bitwise" \
  $PY "$ROOT/tests/integration/same_variables.py" "$T/idx/ckpt-00000030.h5" "$T/h5/ckpt-00000030.h5"
# data.memory_mb that the split fits (47 MB of pixels in 64 MiB): held in memory, as without it
# shellcheck disable=SC2046
"$BIN/train" --quiet --threads 1 --train-dir "$T/h5mem" --config "$T/cfg.yaml" --steps 30 \
  $(h5sets "$T/plain") --set data.memory_mb=64 >"$T/t2m.out" 2>&1 ||
  notok "train on the HDF5 copy within data.memory_mb" "$(cat "$T/t2m.out")"
check "with data.memory_mb 64 (it fits) the HDF5 copy trains the IDX run's parameters bitwise" \
  $PY "$ROOT/tests/integration/same_variables.py" "$T/idx/ckpt-00000030.h5" "$T/h5mem/ckpt-00000030.h5"
"$BIN/train" --quiet --threads 1 --train-dir "$T/npy" --config "$T/cfg.yaml" --steps 30 \
  --set data.format=npy --set data.dir="$T/plain" --set data.train_images=train-images.npy \
  --set data.train_labels=train-labels.npy >"$T/t3.out" 2>&1 ||
  notok "train on the .npy copy" "$(cat "$T/t3.out")"
check "30 steps on the .npy copy (scale auto: uint8) train the IDX run's parameters bitwise" \
  $PY "$ROOT/tests/integration/same_variables.py" "$T/idx/ckpt-00000030.h5" "$T/npy/ckpt-00000030.h5"
"$BIN/eval" --ckpt "$T/idx/ckpt-00000030.h5" --json >"$T/e1.json" 2>&1
# shellcheck disable=SC2046
"$BIN/eval" --ckpt "$T/idx/ckpt-00000030.h5" --json $(h5sets "$T/gz") >"$T/e2.json" 2>&1
strip() { sed -e 's/"checkpoint": "[^"]*", //' -e 's/, "seconds".*//' "$1"; }
if grep -q "\"accuracy\": 0" "$T/e1.json" && [ "$(strip "$T/e1.json")" = "$(strip "$T/e2.json")" ]; then
  ok "eval on the compressed HDF5 test split gives the IDX figures"
else
  notok "eval on the compressed HDF5 test split gives the IDX figures" "$(cat "$T/e1.json")" "$(cat "$T/e2.json")"
fi
# shellcheck disable=SC2046
expect_fail "an HDF5 dataset that is not there is named" 1 "fashion-mnist.h5: no dataset /test/nope" \
  "$BIN/eval" --ckpt "$T/idx/ckpt-00000030.h5" $(h5sets "$T/plain") \
  --set data.test_images=fashion-mnist.h5:/test/nope
# shellcheck disable=SC2046
expect_fail "an HDF5 key without a dataset says how to write one" 1 "FILE:/DATASET" \
  "$BIN/eval" --ckpt "$T/idx/ckpt-00000030.h5" $(h5sets "$T/plain") \
  --set data.test_images=fashion-mnist.h5
head -c 100000 "$T/plain/fashion-mnist.h5" >"$T/cut.h5"
# shellcheck disable=SC2046
expect_fail "a truncated HDF5 file is one line naming it" 1 "cut.h5: damaged or truncated" \
  "$BIN/eval" --ckpt "$T/idx/ckpt-00000030.h5" $(h5sets "$T") \
  --set data.test_images=cut.h5:/test/images --set data.test_labels=cut.h5:/test/labels
