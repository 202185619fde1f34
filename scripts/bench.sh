#!/bin/sh
# Speed benchmark: trains configs/fashion_mlp.yaml for a fixed number of steps with 2 OpenBLAS
# threads and reports training and inference examples/s; with Debian's python3-torch present it
# runs the PyTorch peer on the same model in the same run and prints the ratio.  Reports figures
# only: it never passes or fails on a timing.
#   sh scripts/bench.sh [STEPS]        (default 1500 steps of batch 128)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STEPS=${1:-1500}
THREADS=${TV_BENCH_THREADS:-2}
D=$(mktemp -d /tmp/trainval-bench.XXXXXX)
trap 'rm -rf "$D"' EXIT
cd "$ROOT"
echo "== trainval MLP 784-512-256-10, batch 128, $THREADS threads, $STEPS steps =="
./bin/train --train-dir "$D/run" --config configs/fashion_mlp.yaml --steps "$STEPS" \
  --threads "$THREADS" --set train.checkpoint_every=0 --quiet |
  tee "$D/train.out"
train_eps=$(sed -n 's/.*(\([0-9]*\) examples\/s).*/\1/p' "$D/train.out")
./bin/eval --train-dir "$D/run" --split train --batch-size 128 --threads "$THREADS" --json >"$D/eval.json"
infer_eps=$(sed -n 's/.*"examples_per_sec": \([0-9.]*\).*/\1/p' "$D/eval.json")
echo "trainval: training $train_eps examples/s, inference $infer_eps examples/s (batch 128)"
PEER="$ROOT/../shared/peers/torch_fmnist.py"
if [ -f "$PEER" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "== PyTorch peer, same model, same machine, same run =="
  /usr/bin/python3 "$PEER" --model mlp --epochs 1 --threads "$THREADS" 2>&1 | tee "$D/torch.out"
  echo "(ratio: compare the trainval figures above with the peer's examples/s lines)"
else
  echo "(PyTorch peer skipped: install python3-torch, or TRAINVAL_SETUP_TORCH=1 make setup)"
fi
