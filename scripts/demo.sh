#!/bin/sh
# The main job: trains configs/fashion_mlp.yaml on Fashion-MNIST into a fresh train_dir under
# runs/, with an evaluator following it on the validation split (eval --watch, a separate
# process, as on two machines), then evaluates the final checkpoint on the test split.
#   sh scripts/demo.sh [extra train options, e.g. --epochs 3]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DIR=${TV_DEMO_DIR:-runs/demo-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$(dirname "$DIR")"
echo "== train $DIR, with eval --watch on the validation split alongside =="
./bin/eval --watch "$DIR" --split valid --num-examples 2000 --threads 1 --timeout 600 \
  >"$DIR.eval.log" 2>&1 &
evaluator=$!
trap 'kill $evaluator 2>/dev/null' EXIT
./bin/train --train-dir "$DIR" --config configs/fashion_mlp.yaml --set train.log_every=422 --set train.checkpoint_every=422 "$@"
wait $evaluator
trap - EXIT
echo "== the evaluator's results (validation, 2000 examples, one line per checkpoint) =="
cat "$DIR.eval.log"
mv "$DIR.eval.log" "$DIR/eval/watch.log"
echo "== the final checkpoint on the test split =="
./bin/eval --train-dir "$DIR" --ckpt latest --split test
echo "TensorBoard (train and eval curves together): tensorboard --logdir $DIR"
