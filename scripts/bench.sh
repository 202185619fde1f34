#!/bin/sh
# Speed benchmark: the MLP (configs/fashion_mlp.yaml, Adam) and the reference CNN
# (configs/bench_cnn.yaml, SGD momentum 0.9), batch 128, TV_BENCH_THREADS threads (default 2),
# each on a quiet machine and with one core busy (a CPU-bound loop this script starts and stops),
# trainval and the PyTorch peer (../shared/peers/torch_fmnist.py, same model, same optimizer,
# OMP_WAIT_POLICY=PASSIVE) interleaved A B A B ... (ROUNDS rounds) so that drift hits both; prints
# each side's median training and inference examples/s with the runs beside them, the ratios,
# the peak RSS of each (train's from /usr/bin/time -v, the peer's from getrusage), with one core
# busy also trainval's --threads 1 figure beside the default's (a run of its own in each round,
# for the goal that the default be at least as fast as the better of the two), and the time
# training pauses per checkpoint of the CNN (the checkpoint is written on a background thread).
# Inference: trainval's eval and the peer both on the test split at batch 1000, like with like:
# the ratio compares eval's forward passes alone (forward_examples_per_sec in its --json, the
# batches already decoded) with the peer's no_grad forward over tensors in memory; eval's
# end-to-end figure (decoding, normalisation, forward, metrics: examples_per_sec) is printed
# beside it.  Then the
# data-parallel comparison (scripts/bench_mpi.sh) and the character language model beside its
# PyTorch peer (scripts/bench_text.sh).
# Reports figures only: it never passes or fails on a timing.
#   sh scripts/bench.sh [MLP_STEPS [CNN_STEPS [ROUNDS]]]      (defaults 1500, 150 and 3)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MLP_STEPS=${1:-1500}
CNN_STEPS=${2:-150}
ROUNDS=${3:-3}
THREADS=${TV_BENCH_THREADS:-2}
D=$(mktemp -d /tmp/trainval-bench.XXXXXX)
BUSY=
stop_busy() {
  if [ -n "$BUSY" ]; then
    kill "$BUSY" 2>/dev/null || true
    wait "$BUSY" 2>/dev/null || true
  fi
  BUSY=
}
trap 'stop_busy; rm -rf "$D"' EXIT
trap 'exit 130' INT TERM
cd "$ROOT"
. "$ROOT/scripts/fresh_bin.sh"
fresh_bin bench.sh train eval

PEER="$ROOT/../shared/peers/torch_fmnist.py"
HAVE_PEER=0
[ -f "$PEER" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null && HAVE_PEER=1
HAVE_TIME=0
[ -x /usr/bin/time ] && HAVE_TIME=1

median() { sort -n | awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : "-")}'; }
runs() { tr '\n' ' ' <"$1" | sed 's/ $//'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

# tv NAME CONFIG STEPS: one trainval training run (and an inference run of its checkpoint);
# appends to $D/NAME.{train,infer,rss}.
tv() {
  dir=$D/run
  rm -rf "$dir"
  if [ "$HAVE_TIME" = 1 ]; then
    /usr/bin/time -v -o "$D/time" ./bin/train --train-dir "$dir" --config "$2" --steps "$3" \
      --threads "$THREADS" --set train.checkpoint_every=0 --quiet >"$D/out"
    sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p' "$D/time" |
      awk '{printf "%.0f\n", $1 / 1024}' >>"$D/$1.rss"
  else
    ./bin/train --train-dir "$dir" --config "$2" --steps "$3" --threads "$THREADS" \
      --set train.checkpoint_every=0 --quiet >"$D/out"
  fi
  sed -n 's/.*(\([0-9]*\) examples\/s).*/\1/p' "$D/out" >>"$D/$1.train"
  ./bin/eval --train-dir "$dir" --split test --batch-size 1000 --threads "$THREADS" --json >"$D/eval.json"
  sed -n 's/.*"forward_examples_per_sec": \([0-9.]*\).*/\1/p' "$D/eval.json" >>"$D/$1.infer"
  sed -n 's/.*"examples_per_sec": \([0-9.]*\), "forward.*/\1/p' "$D/eval.json" >>"$D/$1.e2e"
}

# tv1 NAME CONFIG STEPS: one trainval training run with --threads 1; appends to $D/NAME.train1
# (with one core busy: the default must be at least as fast as the better of 1 and THREADS).
tv1() {
  rm -rf "$D/run1"
  ./bin/train --train-dir "$D/run1" --config "$2" --steps "$3" --threads 1 \
    --set train.checkpoint_every=0 --quiet | sed -n 's/.*(\([0-9]*\) examples\/s).*/\1/p' >>"$D/$1.train1"
}

# peer NAME MODEL OPT EXAMPLES: one PyTorch run of one epoch over EXAMPLES training examples.
peer() {
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 "$PEER" --model "$2" --opt "$3" --epochs 1 --eval-at 1 \
    --threads "$THREADS" --train-limit "$4" >"$D/peer.out" 2>&1 || true
  sed -n 's/^| train throughput, median[^|]*| \([0-9,]*\) |.*/\1/p' "$D/peer.out" | tr -d , >>"$D/$1.ptrain"
  sed -n 's/^| inference, no_grad[^|]*| \([0-9,]*\) \/.*/\1/p' "$D/peer.out" | tr -d , >>"$D/$1.pinfer"
  sed -n 's/^| peak RSS[^|]*| [0-9]* \/ [0-9]* \/ \([0-9]*\) |.*/\1/p' "$D/peer.out" >>"$D/$1.prss"
}

# compare LABEL MODEL CONFIG STEPS OPT: ROUNDS rounds of trainval then PyTorch, then the figures.
compare() {
  n=$1-$2
  for f in train train1 infer e2e rss ptrain pinfer prss; do : >"$D/$n.$f"; done
  for _ in $(seq "$ROUNDS"); do
    tv "$n" "$3" "$4"
    [ "$1" = busy ] && [ "$THREADS" != 1 ] && tv1 "$n" "$3" "$4"
    if [ "$HAVE_PEER" = 1 ]; then # as many examples (at least its warm-up and two windows, at most
      ex=$(($4 * 128))            # the 60,000 of the training set)
      [ "$ex" -lt 15360 ] && ex=15360
      [ "$ex" -gt 60000 ] && ex=60000
      peer "$n" "$2" "$5" "$ex"
    fi
  done
  tt=$(median <"$D/$n.train") ti=$(median <"$D/$n.infer") te=$(median <"$D/$n.e2e") tr=$(median <"$D/$n.rss")
  echo "$2 $1: trainval training $tt examples/s (runs: $(runs "$D/$n.train")), inference (forward alone) $ti (runs: $(runs "$D/$n.infer")), end to end $te (runs: $(runs "$D/$n.e2e")), peak RSS ${tr:-?} MiB"
  if [ -s "$D/$n.train1" ]; then
    t1=$(median <"$D/$n.train1")
    echo "$2 $1: trainval --threads 1 training $t1 examples/s (runs: $(runs "$D/$n.train1")); the default --threads $THREADS / --threads 1: $(ratio "$tt" "$t1") (goal: at least 0.95)"
  fi
  if [ "$HAVE_PEER" = 1 ]; then
    pt=$(median <"$D/$n.ptrain") pi=$(median <"$D/$n.pinfer") pr=$(median <"$D/$n.prss")
    echo "$2 $1: PyTorch  training $pt examples/s (runs: $(runs "$D/$n.ptrain")), inference (no_grad forward, tensors in memory) $pi (runs: $(runs "$D/$n.pinfer")), peak RSS $pr MiB"
    echo "$2 $1: trainval/PyTorch training $(ratio "$tt" "$pt"), inference forward alone $(ratio "$ti" "$pi") (end to end $(ratio "$te" "$pi")), peak RSS $(ratio "$tr" "$pr")"
  fi
}

# stall LABEL: a CNN run saving every 10 steps; the time training paused per checkpoint.
stall() {
  rm -rf "$D/stall"
  ./bin/train --train-dir "$D/stall" --config configs/bench_cnn.yaml --steps 100 --threads "$THREADS" \
    --set train.checkpoint_every=10 --verbose >"$D/stall.out"
  pat='s/.*(step [0-9]*, periodic), training paused \([0-9.]*\) ms (\([0-9.]*\) ms of CPU)$'
  sed -n "$pat/\1/p" "$D/stall.out" >"$D/stall.ms"
  sed -n "$pat/\2/p" "$D/stall.out" >"$D/stall.cpu"
  size=$(wc -c <"$D/stall/ckpt-00000100.h5")
  echo "cnn $1: training paused per checkpoint (${size}-byte file, written on a background thread): median $(median <"$D/stall.ms") ms, max $(sort -n "$D/stall.ms" | tail -1) ms (of $(runs "$D/stall.ms")); the training thread's CPU time in the pause: median $(median <"$D/stall.cpu") ms (of $(runs "$D/stall.cpu"))"
}

echo "== trainval $(./bin/train --version 2>/dev/null | head -1), $THREADS threads, batch 128, $ROUNDS rounds interleaved =="
[ "$HAVE_PEER" = 1 ] || echo "(PyTorch peer skipped: install python3-torch, or TRAINVAL_SETUP_TORCH=1 make setup)"
for load in quiet busy; do
  if [ "$load" = busy ]; then
    sh -c 'while :; do :; done' &
    BUSY=$!
    echo "== one core busy (a CPU-bound loop, pid $BUSY) =="
  else
    echo "== quiet (nothing started beside the runs; load average $(cut -d' ' -f1 /proc/loadavg)) =="
  fi
  compare "$load" mlp configs/fashion_mlp.yaml "$MLP_STEPS" adam
  compare "$load" cnn configs/bench_cnn.yaml "$CNN_STEPS" sgd
  stall "$load"
  stop_busy
done

# Data-parallel: 1 rank x 2 threads against 2 ranks x 1 thread, and the scaling model.
sh "$ROOT/scripts/bench_mpi.sh"

# The character language model beside its PyTorch peer (scripts/bench_text.sh; TV_BENCH_TEXT_STEPS).
sh "$ROOT/scripts/bench_text.sh" "${TV_BENCH_TEXT_STEPS:-100}"

# Out-of-core HDF5 training on a generated multi-GiB file (scripts/bench_h5big.sh; TV_BENCH_H5_MIB).
sh "$ROOT/scripts/bench_h5big.sh"
