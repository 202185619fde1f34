#!/bin/sh
# Compares the training speed of two builds in one run, interleaved (A B A B ...), so that the
# drift of a shared machine hits both alike: the MLP (configs/fashion_mlp.yaml) and the
# reference CNN (configs/bench_cnn.yaml), ROUNDS rounds each, and prints each side's median
# examples/s and the ratio B/A.  Reports figures only; it never passes or fails on a timing.
#   sh scripts/bench_ab.sh OLD_BIN_DIR NEW_BIN_DIR [ROUNDS [MLP_STEPS [CNN_STEPS]]]
# With TV_BENCH_AB=generate it compares sampling instead: one checkpoint of
# configs/fortunes_charlm.yaml (60 steps, trained by NEW), then ROUNDS rounds (default 20) of
# `eval --generate TV_BENCH_TOKENS` (default 100000, --seed 1) A B A B ..., each side's tokens/s
# (less a --generate 100 run's time: the load and the packing) as median and best, the load
# before and after, and whether the two sides printed the same text.
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

run() { # bin config steps dir: prints examples/s of one training run
  "$1/train" --train-dir "$4" --config "$2" --steps "$3" --threads "$THREADS" \
    --set train.checkpoint_every=0 --quiet | sed -n 's/.*(\([0-9]*\) examples\/s).*/\1/p'
  rm -rf "$4"
}

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
if [ "${TV_BENCH_AB:-}" = generate ]; then
  ROUNDS=${3:-20}
  N=${TV_BENCH_TOKENS:-100000}
  if [ ! -d /usr/share/games/fortunes ]; then
    echo "(generate A/B skipped: no /usr/share/games/fortunes; make setup installs fortunes)"
    exit 0
  fi
  "$B/train" --train-dir "$D/lm" --config "$ROOT/configs/fortunes_charlm.yaml" --steps 60 \
    --threads "$THREADS" --set train.windows=random --quiet >/dev/null
  CK=$(ls "$D"/lm/ckpt-*.h5 | tail -1)
  now() { date +%s.%N; }
  rate() { # bin n: tokens/s of --generate n beyond a --generate 100
    t0=$(now)
    "$1/eval" --ckpt "$CK" --threads "$THREADS" --generate 100 --seed 1 >/dev/null
    t1=$(now)
    "$1/eval" --ckpt "$CK" --threads "$THREADS" --generate "$2" --seed 1 >"$D/text.$(basename "$1")"
    t2=$(now)
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$2" \
      'BEGIN { d = (c - b) - (b - a); printf "%.0f\n", (d > 0 ? (n - 100) / d : 0) }'
  }
  : >"$D/g.a"
  : >"$D/g.b"
  l0=$(cut -d' ' -f1-3 /proc/loadavg)
  for i in $(seq "$ROUNDS"); do
    rate "$A" "$N" >>"$D/g.a"
    cp "$D/text.$(basename "$A")" "$D/text.a"
    rate "$B" "$N" >>"$D/g.b"
    cp "$D/text.$(basename "$B")" "$D/text.b"
  done
  same=no
  cmp -s "$D/text.a" "$D/text.b" && same=yes
  ma=$(median <"$D/g.a")
  mb=$(median <"$D/g.b")
  echo "generate ($N tokens, $THREADS threads, $ROUNDS rounds each, load $l0 -> $(cut -d' ' -f1-3 /proc/loadavg)): A median $ma best $(sort -n "$D/g.a" | tail -1) tokens/s, B median $mb best $(sort -n "$D/g.b" | tail -1) tokens/s, B/A $(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.3f", b / a }'); the same text: $same"
  exit 0
fi
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
