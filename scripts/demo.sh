#!/bin/sh
# The main job: trains configs/fashion_mlp.yaml on Fashion-MNIST into a fresh train_dir under
# runs/, with an evaluator following it on the validation split (eval --watch, a separate
# process, as on two machines) whose lines are printed live, as each checkpoint is committed,
# then evaluates the final checkpoint on the test split.
#   sh scripts/demo.sh [extra train options, e.g. --epochs 3]
# Environment: BIN (the programs, ./bin), TV_DEMO_DIR (the train_dir, runs/demo-<time>).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
B=${BIN:-./bin}
DIR=${TV_DEMO_DIR:-runs/demo-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$(dirname "$DIR")"
echo "== train $DIR, with eval --watch on the validation split alongside (its lines: eval: ...) =="
: >"$DIR.eval.log"
"$B"/eval --watch "$DIR" --split valid --num-examples 2000 --threads 1 --timeout 600 \
  >"$DIR.eval.log" 2>&1 &
evaluator=$!
# The evaluator's lines appear as it writes them, one per committed checkpoint, between the
# trainer's; tail follows the log until the evaluator has exited.
tail -n +1 -f --pid=$evaluator "$DIR.eval.log" &
follower=$!
trap 'kill $evaluator $follower 2>/dev/null' EXIT
"$B"/train --train-dir "$DIR" --config configs/fashion_mlp.yaml --set train.log_every=422 --set train.checkpoint_every=422 "$@"
status=0
wait $evaluator || status=$?
wait $follower || true
trap - EXIT
mv "$DIR.eval.log" "$DIR/eval/watch.log"
[ "$status" -eq 0 ] || { echo "demo: the evaluator exited $status (its log: $DIR/eval/watch.log)" >&2; exit 1; }
echo "== the final checkpoint on the test split =="
"$B"/eval --train-dir "$DIR" --ckpt latest --split test
echo "curves: $DIR/eval/metrics.jsonl (a JSON line per checkpoint); TensorBoard (from pip, not a Debian 12"
echo "package) draws train and eval together: tensorboard --logdir $DIR"
