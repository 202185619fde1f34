#!/bin/sh
# The character language model: trains configs/fortunes_charlm.yaml on Debian's fortunes into a
# fresh train_dir under runs/ for a few minutes (TV_DEMO_SECONDS, default 180: then train is
# stopped with SIGINT, which saves a final checkpoint), with an evaluator following it (eval
# --watch, a separate process) that reports loss, bits per character and perplexity over the
# validation text for each checkpoint and writes a generated sample per checkpoint to
# TensorBoard's text dashboard and metrics.jsonl; then prints a sample of the last checkpoint.
#   sh scripts/demo_text.sh [extra train options, e.g. --steps 500]
# Environment: BIN (the programs, ./bin), TV_DEMO_DIR (the train_dir, runs/charlm-<time>),
# TV_DEMO_SECONDS.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
B=${BIN:-./bin}
DIR=${TV_DEMO_DIR:-runs/charlm-$(date +%Y%m%d-%H%M%S)}
SECONDS_=${TV_DEMO_SECONDS:-180}
mkdir -p "$(dirname "$DIR")"
echo "== train $DIR for ${SECONDS_} s, with eval --watch alongside (its lines: eval: ...) =="
: >"$DIR.eval.log"
"$B"/eval --watch "$DIR" --metric bpc --generate 200 --seed 1 --threads 1 --timeout 900 \
  >"$DIR.eval.log" 2>&1 &
evaluator=$!
tail -n +1 -f --pid=$evaluator "$DIR.eval.log" &
follower=$!
"$B"/train --train-dir "$DIR" --config configs/fortunes_charlm.yaml --set train.checkpoint_every=50 \
  --set train.validate_every=0 "$@" &
trainer=$!
trap 'kill $trainer $evaluator $follower 2>/dev/null' EXIT
# SIGINT after the time is up: train saves a final checkpoint and ends (status interrupted).
(sleep "$SECONDS_"; kill -INT $trainer 2>/dev/null) &
timer=$!
status=0
wait $trainer || status=$?
kill $timer 2>/dev/null || true
[ "$status" -eq 0 ] || [ "$status" -eq 130 ] || { echo "demo-text: train exited $status" >&2; exit 1; }
# An interrupted run stays resumable, so the evaluator would wait for more: once it has
# evaluated the last committed checkpoint, SIGTERM ends it (its state stays consistent).
last=$(sed -n 's/^  - step: \([0-9]*\)$/\1/p' "$DIR/checkpoints.yaml" | tail -1)
for _ in $(seq 600); do
  grep -q "\"step\": $last," "$DIR/eval/metrics.jsonl" 2>/dev/null && break
  kill -0 $evaluator 2>/dev/null || break
  sleep 1
done
kill -TERM $evaluator 2>/dev/null || true
wait $evaluator || true
wait $follower || true
trap - EXIT
mv "$DIR.eval.log" "$DIR/eval/watch.log"
echo "== a sample of the last checkpoint (eval --generate 400 --prompt 'The ' --seed 7) =="
"$B"/eval --train-dir "$DIR" --generate 400 --prompt "The " --seed 7 --temperature 0.8
echo "curves and samples: $DIR/eval/metrics.jsonl; TensorBoard (from pip): tensorboard --logdir $DIR"
