#!/bin/sh
# Accuracy benchmark: trains each given config (default: the MLP and the CNN) from scratch into
# runs/accuracy-<name>/ with an evaluator following it on the validation split, then reports the
# test accuracy of the final checkpoint and the wall time.  Long (the CNN takes about 15 minutes
# on 2 cores); it reports figures and never passes or fails on them.
#   sh scripts/accuracy.sh [CONFIG...]
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[ $# -gt 0 ] || set -- configs/fashion_mlp.yaml configs/fashion_cnn.yaml
mkdir -p runs
for cfg in "$@"; do
  name=$(basename "$cfg" .yaml)
  DIR=runs/accuracy-$name
  rm -rf "$DIR"
  ./bin/eval --watch "$DIR" --split valid --num-examples 2000 --threads 1 --timeout 600 \
    >"$DIR.eval.log" 2>&1 &
  evaluator=$!
  start=$(date +%s)
  ./bin/train --train-dir "$DIR" --config "$cfg" --quiet
  end=$(date +%s)
  wait $evaluator || true
  mv "$DIR.eval.log" "$DIR/eval/watch.log"
  acc=$(./bin/eval --train-dir "$DIR" --split test --json | sed -n 's/.*"accuracy": \([0-9.]*\).*/\1/p')
  best=$(tail -1 "$DIR/eval/watch.log")
  echo "$name: test accuracy $acc after $(sed -n 's/^  - step: //p' "$DIR/checkpoints.yaml" | tail -1) steps, $((end - start)) s wall; evaluator: $best"
done
