#!/bin/sh
# Out-of-core HDF5 training (data.memory_mb): figures only, never a pass/fail on a timing.
# Writes a multi-GiB HDF5 file of float32 rows of 784 features and int32 labels, chunked by 256
# rows (scripts/make_h5_rows.py, in bounded memory), trains configs/fashion_mlp.yaml's model on it
# (input [784, 1, 1], the same layers) with data.memory_mb 256 for TV_BENCH_H5_STEPS steps, and
# reports examples/s and peak RSS (GNU time's maximum resident set, the bounded child included)
# beside budget + model, where "the model" is measured, not estimated: the peak RSS of the same
# model trained on a 1024-row file of such rows in memory with the same batch, threads and steps
# (code, libraries, OpenBLAS's buffers, activations, batch buffers, optimizer slots, the final
# checkpoint built in memory: everything but the data); then eval --predict over the whole file
# (streamed: peak RSS and time); then the same model on a 200 MiB file of
# such rows held in memory, and on the HDF5 copy of Fashion-MNIST held in memory (uint8 pixels).
# The file is written first, so it sits in the page cache when the run reads it (nothing here drops
# the caches of a shared machine): the figure is the reader's and the shuffle's cost, not the disk's.
#   TV_BENCH_H5_MIB   size of the file in MiB (default 3072)
#   TV_BENCH_H5_STEPS steps of each run (default 300)
#   TV_BENCH_H5_DIR   where the file goes (default /tmp); it is removed at the end
#   TV_BENCH_THREADS  threads (default 2)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/bin}
MIB=${TV_BENCH_H5_MIB:-3072}
STEPS=${TV_BENCH_H5_STEPS:-300}
THREADS=${TV_BENCH_THREADS:-2}
DIR=${TV_BENCH_H5_DIR:-/tmp}
PY=/usr/bin/python3
echo "== out-of-core HDF5: a ${MIB} MiB file, data.memory_mb 256, $STEPS steps, $THREADS threads =="
if ! $PY -c 'import h5py, numpy' 2>/dev/null; then
  echo "SKIPPED: the out-of-core benchmark needs python3-h5py and python3-numpy"
  exit 0
fi
if [ ! -x /usr/bin/time ]; then
  echo "SKIPPED: the out-of-core benchmark needs GNU time (/usr/bin/time) for peak RSS"
  exit 0
fi
need_kib=$(((MIB + 512) * 1024))
free_kib=$(df -Pk "$DIR" | awk 'NR == 2 { print $4 }')
if [ "${free_kib:-0}" -lt "$need_kib" ]; then
  echo "SKIPPED: the out-of-core benchmark needs $((need_kib / 1024)) MiB free under $DIR, it has $((${free_kib:-0} / 1024)) MiB"
  exit 0
fi
D=$(mktemp -d "$DIR/trainval-h5big.XXXXXX")
trap 'rm -rf "$D"' EXIT
rows=$((MIB * 1048576 / (784 * 4 + 4)))
t0=$(date +%s)
if ! /usr/bin/time -f '%M' -o "$D/gen.peak" $PY "$ROOT/scripts/make_h5_rows.py" "$D/big.h5" \
  --rows "$rows" --features 784 --chunk 256 >"$D/gen.out" 2>&1; then
  echo "SKIPPED: writing the file failed: $(tail -1 "$D/gen.out")"
  exit 0
fi
echo "wrote $rows rows ($(du -m "$D/big.h5" | cut -f1) MiB) in $(($(date +%s) - t0)) s, the writer's peak RSS $(($(tail -1 "$D/gen.peak") / 1024)) MiB"
sed -e 's/input: \[1, 28, 28\]/input: [784, 1, 1]/' "$ROOT/configs/fashion_mlp.yaml" >"$D/big.yaml"
# run NAME CONFIG SETS...: trains, prints "examples/s peak_KiB wall_s"
run() {
  name=$1 cfg=$2
  shift 2
  /usr/bin/time -f '%M %e' -o "$D/$name.peak" "$BIN/train" --threads "$THREADS" \
    --train-dir "$D/$name" --config "$cfg" --steps "$STEPS" --set train.checkpoint_every=0 \
    --set train.validate_every=0 "$@" >"$D/$name.out" 2>&1 || {
    echo "$name: train failed: $(tail -1 "$D/$name.out")" >&2
    return 1
  }
  exs=$(sed -n 's/.*(\([0-9.]*\) examples\/s).*/\1/p' "$D/$name.out" | tail -1)
  last=$(sed -n 's/^step .* \([0-9.]*\) ex\/s.*/\1/p' "$D/$name.out" | tail -1)
  echo "$exs $(tail -1 "$D/$name.peak") ${last:-?}"
}
set -- $(run big "$D/big.yaml" --set data.format=hdf5 --set data.dir="$D" \
  --set data.train_images=big.h5:/x --set data.train_labels=big.h5:/y \
  --set data.test_images=big.h5:/x --set data.test_labels=big.h5:/y --set data.memory_mb=256)
if [ $# -eq 4 ]; then
  ooc_exs=$1 ooc_kib=$2 ooc_wall=$3 ooc_last=$4
  # the model's own footprint: the same run on 1024 rows held in memory
  model=
  if $PY "$ROOT/scripts/make_h5_rows.py" "$D/tiny.h5" --rows 1024 --features 784 --chunk 256 \
    >"$D/gen.out" 2>&1; then
    set -- $(run tiny "$D/big.yaml" --set data.format=hdf5 --set data.dir="$D" \
      --set data.train_images=tiny.h5:/x --set data.train_labels=tiny.h5:/y \
      --set data.test_images=tiny.h5:/x --set data.test_labels=tiny.h5:/y)
    [ $# -eq 4 ] && model=$2
  fi
  if [ -n "$model" ]; then
    beside="beside budget 256 MiB + model $((model / 1024)) MiB (the same run on 1024 rows in memory: its peak RSS) = $((256 + model / 1024)) MiB"
  else
    beside="(the model's figure failed: $(tail -1 "$D/gen.out"))"
  fi
  echo "out of core (${MIB} MiB file, memory_mb 256): $ooc_exs examples/s over $STEPS steps (the first batch waits for the shuffle buffer's fill), $ooc_last ex/s over the last summary window; wall $ooc_wall s with the bounded child's pass over the file; peak RSS $((ooc_kib / 1024)) MiB $beside"
fi
# eval --predict over the whole file with the checkpoint just written (its data.memory_mb 256):
# streamed, rows written batch by batch
ck=$(ls "$D"/big/ckpt-*.h5 2>/dev/null | tail -1)
if [ -n "$ck" ] && /usr/bin/time -f '%M %e' -o "$D/pred.peak" "$BIN/eval" --ckpt "$ck" \
  --threads "$THREADS" --predict "$D/big.h5:/x" --out "$D/pred.csv" >"$D/pred.out" 2>&1; then
  set -- $(tail -1 "$D/pred.peak")
  echo "eval --predict on the ${MIB} MiB file (memory_mb 256, streamed): $rows rows in $2 s with the bounded child's pass, peak RSS $(($1 / 1024)) MiB, $(($(wc -c <"$D/pred.csv") / 1048576)) MiB of CSV written as it went"
else
  echo "eval --predict on the ${MIB} MiB file failed: $(tail -1 "$D/pred.out" 2>/dev/null)"
fi
rm -f "$D/pred.csv"
# the same kind of rows (float32, 784 features) held in memory: a 200 MiB file, no budget
rm -f "$D/big.h5" # room for the smaller ones
if $PY "$ROOT/scripts/make_h5_rows.py" "$D/mem.h5" --rows $((200 * 1048576 / (784 * 4 + 4))) \
  --features 784 --chunk 256 >"$D/gen.out" 2>&1; then
  set -- $(run mem "$D/big.yaml" --set data.format=hdf5 --set data.dir="$D" \
    --set data.train_images=mem.h5:/x --set data.train_labels=mem.h5:/y \
    --set data.test_images=mem.h5:/x --set data.test_labels=mem.h5:/y)
  [ $# -eq 4 ] && echo "in memory (a 200 MiB file of the same float32 rows, no budget): $1 examples/s over $STEPS steps, $4 ex/s over the last summary window; wall $3 s; peak RSS $(($2 / 1024)) MiB"
  rm -f "$D/mem.h5"
fi
if [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
  [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte ]; then
  $PY "$ROOT/scripts/make_fmnist_copies.py" "$D/fm" >"$D/fm.out" 2>&1 || {
    echo "Fashion-MNIST HDF5 copy failed: $(tail -1 "$D/fm.out")"
    exit 0
  }
  set -- $(run fm "$ROOT/configs/fashion_mlp.yaml" --set data.format=hdf5 --set data.dir="$D/fm" \
    --set data.train_images=fashion-mnist.h5:/train/images \
    --set data.train_labels=fashion-mnist.h5:/train/labels \
    --set data.test_images=fashion-mnist.h5:/test/images \
    --set data.test_labels=fashion-mnist.h5:/test/labels)
  [ $# -eq 4 ] && echo "in memory (HDF5 Fashion-MNIST copy, 47 MB of uint8 pixels): $1 examples/s over $STEPS steps, $4 ex/s over the last summary window; wall $3 s; peak RSS $(($2 / 1024)) MiB"
else
  echo "(no Fashion-MNIST under /usr/share/datasets/fashion-mnist: the in-memory figure is skipped)"
fi
