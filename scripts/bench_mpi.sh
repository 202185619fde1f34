#!/bin/sh
# Data-parallel benchmark (dist.h): the MLP and the reference CNN trained as 1 rank x 2 threads
# and as 2 ranks x 1 thread (mpirun on this machine), interleaved, three rounds; reports median
# training examples/s, rank 0's share of the run spent waiting for the gradient sum (what the
# overlap with backward did not hide) and for the other exchanges, and the scaling model on
# paper for K hosts: bytes per rank and step = parameters x 4 x 2(K-1)/K, at 1 and 10 Gbit/s,
# against this machine's one-rank step time.  Figures only: never passes or fails on a timing.
#   sh scripts/bench_mpi.sh [MLP_STEPS [CNN_STEPS]]      (defaults 600 and 100)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MLP_STEPS=${1:-600}
CNN_STEPS=${2:-100}
cd "$ROOT"
if ! command -v mpirun >/dev/null 2>&1 || [ ! -x bin/train-mpi ]; then
  echo "(data-parallel benchmark skipped: no mpirun or no bin/train-mpi; make setup installs Open MPI)"
  exit 0
fi
. "$ROOT/scripts/fresh_bin.sh"
fresh_bin bench_mpi.sh train train-mpi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
D=$(mktemp -d /tmp/trainval-bench-mpi.XXXXXX)
trap 'rm -rf "$D"' EXIT
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

bench() { # name config steps
  params=$(./bin/train --train-dir "$D/$1-p" --config "$2" --steps 1 --set train.checkpoint_every=0 |
    sed -n 's/^total: \([0-9]*\) trainable.*/\1/p')
  for i in 1 2 3; do
    ./bin/train --train-dir "$D/$1-one-$i" --config "$2" --steps "$3" --threads 2 \
      --set train.checkpoint_every=0 --quiet | sed -n 's/.*(\([0-9]*\) examples\/s).*/\1/p' >>"$D/$1.one"
    mpirun --oversubscribe --bind-to none -np 2 ./bin/train --train-dir "$D/$1-two-$i" --config "$2" \
      --steps "$3" --threads 1 --set train.checkpoint_every=0 --quiet >"$D/$1-two-$i.out"
    sed -n 's/.*(\([0-9]*\) examples\/s).*/\1/p' "$D/$1-two-$i.out" >>"$D/$1.two"
    sed -n 's/.*waited .* s (\([0-9.]*\)% of the run) for the gradient sum and .* s (\([0-9.]*\)%).*/\1 \2/p' \
      "$D/$1-two-$i.out" >>"$D/$1.wait"
  done
  one=$(median <"$D/$1.one")
  two=$(median <"$D/$1.two")
  echo "trainval $1 ($params parameters), batch 128, $3 steps: 1 rank x 2 threads $one examples/s" \
    "(runs: $(tr '\n' ' ' <"$D/$1.one")), 2 ranks x 1 thread $two examples/s (runs: $(tr '\n' ' ' <"$D/$1.two"))," \
    "ratio $(awk -v a="$two" -v b="$one" 'BEGIN {printf "%.2f", a / b}')"
  echo "  2 ranks: rank 0 waited for the gradient sum $(cut -d' ' -f1 "$D/$1.wait" | median)% of the run" \
    "(runs: $(cut -d' ' -f1 "$D/$1.wait" | tr '\n' ' ')), for the flags and broadcast $(cut -d' ' -f2 "$D/$1.wait" | median)%"
  # The model on paper: a ring-equivalent all-reduce moves 2(K-1)/K x 4 bytes per parameter per
  # rank and step; compute per step on K hosts is this machine's 1-rank step time / K.
  awk -v p="$params" -v rate="$one" 'BEGIN {
    step = 128 / rate * 1000
    printf "  scaling model: %.2f MB of gradients; one-rank step here %.1f ms\n", p * 4 / 1e6, step
    for (k = 2; k <= 8; k *= 2) {
      bytes = p * 4 * 2 * (k - 1) / k
      g1 = bytes / 125e6 * 1000; g10 = bytes / 1250e6 * 1000
      printf "    K=%d: %.2f MB per rank and step; 1 Gbit/s %.1f ms, 10 Gbit/s %.2f ms; compute %.1f ms\n",
        k, bytes / 1e6, g1, g10, step / k
    }
  }'
}

echo "== trainval data-parallel over MPI (this machine: 2 ranks oversubscribed on its cores) =="
bench mlp configs/fashion_mlp.yaml "$MLP_STEPS"
bench cnn configs/bench_cnn.yaml "$CNN_STEPS"
