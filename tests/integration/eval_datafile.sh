#!/bin/sh
# eval --data FILE.yaml: a data config of its own (the data section's keys, at the top level or
# under `data:`), so the model comes from the checkpoint and the data from anywhere; the keys it
# leaves out keep the checkpoint's values; --data-dir and --set apply after it (documented in
# --help); its mistakes are reported at its own file:line:col.
. "$(dirname "$0")/lib.sh"
if [ ! -e "$DATA/t10k-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/t10k-images-idx3-ubyte" ]; then
  skip "eval --data" "no Fashion-MNIST under $DATA"
  exit 0
fi
small_config "$T/cfg.yaml"
mkdir -p "$T/orig"
for f in "$DATA"/*; do ln -s "$f" "$T/orig/"; done
"$BIN/train" --quiet --threads 1 --train-dir "$T/run" --config "$T/cfg.yaml" --steps 30 \
  --set data.dir="$T/orig" >"$T/train.out" 2>&1 || notok "train a small run" "$(cat "$T/train.out")"
"$BIN/eval" --train-dir "$T/run" --num-examples 500 >"$T/here.out" 2>&1
here=$(grep '^accuracy' "$T/here.out")
mv "$T/orig" "$T/moved"
printf 'dir: %s\n' "$T/moved" >"$T/top.yaml"
"$BIN/eval" --train-dir "$T/run" --num-examples 500 --data "$T/top.yaml" >"$T/top.out" 2>&1
check "eval --data (top-level keys) gives the accuracy where it trained ($here)" \
  test -n "$here" -a "$(grep '^accuracy' "$T/top.out")" = "$here"
# Under data:, another format and other file names: the same images as one HDF5 file.
if /usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null; then
  /usr/bin/python3 "$ROOT/scripts/make_fmnist_copies.py" "$T/h5" >"$T/copy.out" 2>&1
  cat >"$T/h5.yaml" <<YAML
# where the evaluator finds the data
data:
  format: hdf5
  dir: "$T/h5"
  test_images: fashion-mnist.h5:/test/images
  test_labels: 'fashion-mnist.h5:/test/labels'
YAML
  "$BIN/eval" --train-dir "$T/run" --num-examples 500 --data "$T/h5.yaml" >"$T/h5.out" 2>&1
  check "eval --data (under data:, HDF5) gives the same accuracy" \
    test "$(grep '^accuracy' "$T/h5.out")" = "$here"
else
  skip "eval --data with an HDF5 data file" "no h5py/numpy"
fi
# Precedence: the file, then --data-dir / --set in command-line order, wherever --data stands.
printf 'dir: %s/nowhere\n' "$T" >"$T/nowhere.yaml"
"$BIN/eval" --train-dir "$T/run" --num-examples 500 --data-dir "$T/moved" \
  --data "$T/nowhere.yaml" >"$T/p1.out" 2>&1
check "--data-dir applies after the --data file" test "$(grep '^accuracy' "$T/p1.out")" = "$here"
expect_fail "--set data.dir after the file wins over it" 1 "$T/elsewhere" \
  "$BIN/eval" --train-dir "$T/run" --num-examples 500 --data "$T/top.yaml" \
  --set data.dir="$T/elsewhere"
# Keys the file leaves out keep the checkpoint's: a changed normalisation changes the result.
printf 'dir: %s\nscale: 0.5\n' "$T/moved" >"$T/scale.yaml"
"$BIN/eval" --train-dir "$T/run" --num-examples 500 --data "$T/scale.yaml" >"$T/scale.out" 2>&1
check "a key the file sets is used (data.scale changes the loss)" \
  test "$(grep '^loss' "$T/scale.out")" != "$(grep '^loss' "$T/top.out")" -a -n "$(grep '^loss' "$T/scale.out")"
# Mistakes, at the file's own position.
printf 'dir: %s\nbogus: 1\n' "$T/moved" >"$T/bad1.yaml"
expect_fail "an unknown key is named at file:line:col" 1 "bad1.yaml:2:1: data.bogus: unknown key" \
  "$BIN/eval" --train-dir "$T/run" --data "$T/bad1.yaml"
printf 'valid_fraction: 2\n' >"$T/bad2.yaml"
expect_fail "a value out of range is named at file:line:col" 1 "bad2.yaml:1:17: data.valid_fraction" \
  "$BIN/eval" --train-dir "$T/run" --data "$T/bad2.yaml"
printf 'format: parquet\n' >"$T/bad3.yaml"
expect_fail "an unknown format lists the known ones" 1 "bad3.yaml:1:9: data.format.*idx" \
  "$BIN/eval" --train-dir "$T/run" --data "$T/bad3.yaml"
printf 'dir: %s\nmean: [0.5, 0.5, 0.5]\n' "$T/moved" >"$T/bad6.yaml"
expect_fail "a list that does not fit the checkpoint's model is named at file:line:col" 1 \
  "bad6.yaml:2:7: data.mean: expected one number or 1 \\(one per channel" \
  "$BIN/eval" --train-dir "$T/run" --data "$T/bad6.yaml"
printf '[1, 2]\n' >"$T/bad4.yaml"
expect_fail "a file that is not a mapping of data keys says so" 1 "bad4.yaml:1:1: expected a mapping of data keys" \
  "$BIN/eval" --train-dir "$T/run" --data "$T/bad4.yaml"
printf 'dir: [unclosed\n' >"$T/bad5.yaml"
expect_fail "malformed YAML is one line naming the file" 1 "bad5.yaml:" \
  "$BIN/eval" --train-dir "$T/run" --data "$T/bad5.yaml"
expect_fail "a missing data file is named" 1 "$T/absent.yaml" \
  "$BIN/eval" --train-dir "$T/run" --data "$T/absent.yaml"
check "eval --help documents --data and the precedence" \
  sh -c "'$BIN/eval' --help | grep -q -- '--data FILE.yaml' && '$BIN/eval' --help | tr '\n' ' ' | grep -q 'Precedence, lowest first'"
