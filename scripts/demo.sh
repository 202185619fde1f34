#!/bin/sh
# The main job: trains configs/fashion_mlp.yaml on Fashion-MNIST into a fresh train_dir under
# runs/, then evaluates the final checkpoint on the test split and prints the result.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DIR=${TV_DEMO_DIR:-runs/demo-$(date +%Y%m%d-%H%M%S)}
echo "== train: $DIR =="
./bin/train --train-dir "$DIR" --config configs/fashion_mlp.yaml "$@"
echo "== eval: final checkpoint on the test split =="
./bin/eval --train-dir "$DIR" --ckpt latest --split test
echo "TensorBoard: tensorboard --logdir $DIR"
