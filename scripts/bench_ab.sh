#!/bin/sh
# Compares the training speed of two builds in one run, interleaved (A B A B ...), so that the
# drift of a shared machine hits both alike: the MLP (configs/fashion_mlp.yaml) and the
# reference CNN (configs/bench_cnn.yaml), ROUNDS rounds each, and prints each side's median
# examples/s and the ratio B/A.  Reports figures only; it never passes or fails on a timing.
#   sh scripts/bench_ab.sh OLD_BIN_DIR NEW_BIN_DIR [ROUNDS [MLP_STEPS [CNN_STEPS]]]
# e.g. build the previous commit into /tmp/old (git worktree add /tmp/old HEAD~1 && make -C
# /tmp/old) and run  sh scripts/bench_ab.sh /tmp/old/bin bin
# The two directories are timed as given: unlike bench.sh it does not check them against the
# sources (scripts/fresh_bin.sh), since comparing builds is what it is for.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
A=${1:?usage: bench_ab.sh OLD_BIN_DIR NEW_BIN_DIR [ROUNDS [MLP_STEPS [CNN_STEPS]]]}
B=${2:?usage: bench_ab.sh OLD_BIN_DIR NEW_BIN_DIR [ROUNDS [MLP_STEPS [CNN_STEPS]]]}
ROUNDS=${3:-5}
MLP_STEPS=${4:-1000}
CNN_STEPS=${5:-150}
THREADS=${TV_BENCH_THREADS:-2}
D=$(mktemp -d /tmp/trainval-bench-ab.XXXXXX)
trap 'rm -rf "$D"' EXIT

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
run() { # bin config steps dir: prints examples/s of one training run
  "$1/train" --train-dir "$4" --config "$2" --steps "$3" --threads "$THREADS" \
    --set train.checkpoint_every=0 --quiet | sed -n 's/.*(\([0-9]*\) examples\/s).*/\1/p'
  rm -rf "$4"
}

for m in "mlp configs/fashion_mlp.yaml $MLP_STEPS" "cnn configs/bench_cnn.yaml $CNN_STEPS"; do
  set -- $m
  : >"$D/$1.a"
  : >"$D/$1.b"
  for i in $(seq "$ROUNDS"); do
    run "$A" "$ROOT/$2" "$3" "$D/run" >>"$D/$1.a"
    run "$B" "$ROOT/$2" "$3" "$D/run" >>"$D/$1.b"
  done
  ma=$(median <"$D/$1.a")
  mb=$(median <"$D/$1.b")
  echo "$1: A $ma examples/s (runs: $(tr '\n' ' ' <"$D/$1.a")), B $mb examples/s (runs: $(tr '\n' ' ' <"$D/$1.b")), B/A $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", b / a }')"
done
