#!/bin/sh
# Speed benchmark: trains the MLP (configs/fashion_mlp.yaml) and the reference CNN
# (configs/bench_cnn.yaml), then the character language model (scripts/bench_text.sh), for a
# fixed number of steps with 2 threads, three times each, and
# reports the median training and inference examples/s (inference: the training split at batch
# 128; the machines here are noisy, single runs vary by a third); with Debian's python3-torch
# present it runs the PyTorch peer on the same models in the same run, for a ratio.  Reports
# figures only: it never passes or fails on a timing.
#   sh scripts/bench.sh [MLP_STEPS [CNN_STEPS]]      (defaults 1500 and 300)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MLP_STEPS=${1:-1500}
CNN_STEPS=${2:-300}
THREADS=${TV_BENCH_THREADS:-2}
D=$(mktemp -d /tmp/trainval-bench.XXXXXX)
trap 'rm -rf "$D"' EXIT
cd "$ROOT"

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

bench() { # name config steps: three training runs and three inference runs, medians reported
  for i in 1 2 3; do
    ./bin/train --train-dir "$D/$1-$i" --config "$2" --steps "$3" --threads "$THREADS" \
      --set train.checkpoint_every=0 --quiet | sed -n 's/.*(\([0-9]*\) examples\/s).*/\1/p'
  done >"$D/$1.train"
  for i in 1 2 3; do
    ./bin/eval --train-dir "$D/$1-1" --split train --batch-size 128 --threads "$THREADS" --json |
      sed -n 's/.*"examples_per_sec": \([0-9.]*\).*/\1/p'
  done >"$D/$1.eval"
  echo "trainval $1: training $(median <"$D/$1.train") examples/s (median of $(tr '\n' ' ' <"$D/$1.train"); $3 steps of 128), inference $(median <"$D/$1.eval") examples/s (median of $(tr '\n' ' ' <"$D/$1.eval"))"
}

echo "== trainval, $THREADS threads, batch 128 =="
bench mlp configs/fashion_mlp.yaml "$MLP_STEPS"
bench cnn configs/bench_cnn.yaml "$CNN_STEPS"

PEER="$ROOT/../shared/peers/torch_fmnist.py"
if [ -f "$PEER" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  for m in mlp cnn; do
    echo "== PyTorch peer, $m, same machine, same run =="
    /usr/bin/python3 "$PEER" --model $m --epochs 1 --threads "$THREADS" 2>&1 |
      grep -E 'train throughput, median|inference, no_grad' || true
  done
else
  echo "(PyTorch peer skipped: install python3-torch, or TRAINVAL_SETUP_TORCH=1 make setup)"
fi

# The character language model beside its PyTorch peer (scripts/bench_text.sh; TV_BENCH_TEXT_STEPS).
sh "$ROOT/scripts/bench_text.sh" "${TV_BENCH_TEXT_STEPS:-100}"
