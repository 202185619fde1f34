#!/bin/sh
# Speed and quality of the character language model (configs/fortunes_charlm.yaml: 2 x LSTM 256,
# embedding 64, seq 128, batch 32, Adam 2e-3, clipping 1.0) beside ../shared/peers/torch_charlm.py
# on the same model, batch, seq_len, windows, steps and thread count, in the same run, the two
# interleaved (trainval, PyTorch, trainval, PyTorch, ... for ROUNDS rounds) so that the drift of a
# shared machine hits both alike; OMP_WAIT_POLICY=PASSIVE for PyTorch.  Both train on random
# windows (the peer's batching: train.windows=random) for STEPS steps; each round reports
# training tokens/s, validation tokens/s and bits per character over the last 200000 bytes
# (read as 32 contiguous streams, the state carried; both score the softmax over the training
# text's vocabulary) and sampling tokens/s (one character at a time, the state carried, THREADS
# threads both; PyTorch's timed in-process around its sampling loop, trainval's as (N2 - N1) /
# (t(--generate N2) - t(--generate N1)), so the checkpoint's load and the packing of the weights
# cancel out; both draw from the full softmax at temperature 1).  trainval's sampling is measured
# twice: the default (fp32, THE figure and ratio) and, labelled beside it, the explicit option
# --generate-precision bf16.  Then the medians over the rounds, the ratios
# trainval / PyTorch, and the curve of validation bpc at STEPS/4, STEPS/2 and STEPS (trainval:
# the checkpoints of round 1; PyTorch: runs of those step counts, the same seed, so the same
# trajectory).  Figures only: it never passes or fails on a timing.
#   sh scripts/bench_text.sh [STEPS [ROUNDS]]     (default 100 steps, 2 rounds)
#   TV_BENCH_THREADS (default 2)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STEPS=${1:-100}
ROUNDS=${2:-2}
THREADS=${TV_BENCH_THREADS:-2}
SAMPLE=5000
D=$(mktemp -d /tmp/trainval-bench-text.XXXXXX)
trap 'rm -rf "$D"' EXIT
cd "$ROOT"
. "$ROOT/scripts/fresh_bin.sh"
fresh_bin bench_text.sh train eval
if [ ! -d /usr/share/games/fortunes ]; then
  echo "(char LM bench skipped: no /usr/share/games/fortunes; make setup installs fortunes)"
  exit 0
fi
PEER="$ROOT/../shared/peers/torch_charlm.py"
HAVE_PEER=0
if [ -f "$PEER" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then HAVE_PEER=1; fi
now() { date +%s.%N; }
median() { # of an even count: the mean of the middle two
  sort -g | awk '{v[NR] = $1} END {if (!NR) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
    else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
json() { sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" "$1"; }
CK_EVERY=$((STEPS / 4 > 0 ? STEPS / 4 : 1))

# sample_rate [OPTIONS]: trainval's sampling tokens/s on $dir, (N2 - N1) / (t2 - t1)
sample_rate() {
  t0=$(now)
  ./bin/eval --train-dir "$dir" --threads "$THREADS" --generate 100 --seed 1 "$@" >/dev/null
  t1=$(now)
  ./bin/eval --train-dir "$dir" --threads "$THREADS" --generate $((SAMPLE + 100)) --seed 1 "$@" >/dev/null
  t2=$(now)
  awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$SAMPLE" \
    'BEGIN { d = (c - b) - (b - a); r = 0; if (d > 0) r = n / d; printf "%.0f\n", r }'
}

# trainval ROUND: train, validate, sample; appends to $D/tv.{train,valid,sample,sample_bf16,bpc}
tv_round() {
  dir=$D/lm$1
  ./bin/train --train-dir "$dir" --config configs/fortunes_charlm.yaml --steps "$STEPS" \
    --threads "$THREADS" --set train.windows=random --set train.checkpoint_every="$CK_EVERY" \
    --set train.max_to_keep=0 --set train.validate_every=0 --quiet >"$D/train.out"
  sed -n 's/.*(\([0-9]*\) examples\/s).*/\1/p' "$D/train.out" >>"$D/tv.train"
  ./bin/eval --train-dir "$dir" --threads "$THREADS" --json >"$D/eval.json"
  json "$D/eval.json" examples_per_sec >>"$D/tv.valid"
  json "$D/eval.json" bpc >>"$D/tv.bpc"
  sample_rate >>"$D/tv.sample"
  sample_rate --generate-precision bf16 >>"$D/tv.sample_bf16"
  echo "round $1 trainval: training $(tail -1 "$D/tv.train") tokens/s, validation $(tail -1 "$D/tv.valid") tokens/s, sampling $(tail -1 "$D/tv.sample") tokens/s (--generate-precision bf16: $(tail -1 "$D/tv.sample_bf16")), valid bpc $(tail -1 "$D/tv.bpc") after $STEPS steps"
}

# peer STEPS OUT: one PyTorch run
peer() {
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 "$PEER" --steps "$1" --threads "$THREADS" \
    --sample "$SAMPLE" >"$2" 2>&1
}
pt_round() {
  peer "$STEPS" "$D/pt$1.out"
  for k in train_tokens_per_sec valid_tokens_per_sec sample_tokens_per_sec valid_bits_per_char; do
    sed -n "s/^$k \([0-9.]*\)$/\1/p" "$D/pt$1.out" >>"$D/pt.$k"
  done
  echo "round $1 PyTorch:  training $(tail -1 "$D/pt.train_tokens_per_sec") tokens/s, validation $(tail -1 "$D/pt.valid_tokens_per_sec") tokens/s, sampling $(tail -1 "$D/pt.sample_tokens_per_sec") tokens/s, valid bpc $(tail -1 "$D/pt.valid_bits_per_char") after $STEPS steps"
}

echo "== char LM: trainval vs PyTorch, $THREADS threads each, batch 32 x seq 128, $STEPS steps (random windows), $ROUNDS rounds interleaved =="
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$HAVE_PEER" = 1 ] || echo "(PyTorch char LM peer skipped: no $PEER or no python3-torch)"
r=1
while [ "$r" -le "$ROUNDS" ]; do
  tv_round "$r"
  [ "$HAVE_PEER" = 0 ] || pt_round "$r"
  r=$((r + 1))
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sample: $(./bin/eval --train-dir "$D/lm1" --generate 120 --seed 1 | tr '\n' ' ')"

# medians and ratios
for m in "training train train_tokens_per_sec" "validation valid valid_tokens_per_sec" \
  "sampling sample sample_tokens_per_sec"; do
  set -- $m
  a=$(median <"$D/tv.$2")
  if [ "$HAVE_PEER" = 1 ]; then
    b=$(median <"$D/pt.$3")
    echo "median $1 tokens/s: trainval $a, PyTorch $b, trainval/PyTorch $(ratio "$a" "$b")"
  else
    echo "median $1 tokens/s: trainval $a"
  fi
done
# the option beside the default (not the figure: the default is fp32)
a=$(median <"$D/tv.sample_bf16")
if [ "$HAVE_PEER" = 1 ]; then
  echo "  (option --generate-precision bf16, not the default: sampling tokens/s trainval $a, trainval/PyTorch $(ratio "$a" "$(median <"$D/pt.sample_tokens_per_sec")"))"
else
  echo "  (option --generate-precision bf16, not the default: sampling tokens/s trainval $a)"
fi

# the curve: validation bpc at STEPS/4, STEPS/2, STEPS
echo "valid bpc by step (trainval: round 1's checkpoints; PyTorch: a run of that many steps):"
for s in "$CK_EVERY" $((2 * CK_EVERY)) "$STEPS"; do
  ck=$(printf '%s/lm1/ckpt-%08d.h5' "$D" "$s")
  if [ "$s" = "$STEPS" ]; then
    a=$(head -1 "$D/tv.bpc")
  elif [ -f "$ck" ]; then
    ./bin/eval --ckpt "$ck" --threads "$THREADS" --json >"$D/c.json"
    a=$(json "$D/c.json" bpc)
  else
    a=nan
  fi
  if [ "$HAVE_PEER" = 1 ]; then
    if [ "$s" = "$STEPS" ]; then
      b=$(head -1 "$D/pt.valid_bits_per_char")
    else
      peer "$s" "$D/ptc.out"
      b=$(sed -n 's/^valid_bits_per_char \([0-9.]*\)$/\1/p' "$D/ptc.out")
    fi
    echo "  step $s: trainval $a, PyTorch $b, difference $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%+.4f", a - b }')"
  else
    echo "  step $s: trainval $a"
  fi
done
