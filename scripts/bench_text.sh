#!/bin/sh
# Speed and quality of the character language model (configs/fortunes_charlm.yaml: 2 x LSTM 256,
# embedding 64, seq 128, batch 32, Adam 2e-3, clipping 1.0) beside ../shared/peers/torch_charlm.py
# on the same model, batch, windows and steps, in the same run, 2 threads each
# (OMP_WAIT_POLICY=PASSIVE for PyTorch).  Both train on random windows (the peer's batching:
# train.windows=random) for STEPS steps and report training tokens/s, validation tokens/s and
# bits per character over the last 200000 bytes (read as 32 contiguous streams, the state carried)
# and sampling tokens/s (one character at a time, the state carried).  trainval's sampling rate
# is (N2 - N1) / (t(--generate N2) - t(--generate N1)), so the checkpoint's load cancels out.
# Figures only: it never passes or fails on a timing.
#   sh scripts/bench_text.sh [STEPS]          (default 100)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STEPS=${1:-100}
THREADS=${TV_BENCH_THREADS:-2}
D=$(mktemp -d /tmp/trainval-bench-text.XXXXXX)
trap 'rm -rf "$D"' EXIT
cd "$ROOT"
if [ ! -d /usr/share/games/fortunes ]; then
  echo "(char LM bench skipped: no /usr/share/games/fortunes; make setup installs fortunes)"
  exit 0
fi
now() { date +%s.%N; }
echo "== trainval char LM, $THREADS threads, batch 32 x seq 128, $STEPS steps (random windows) =="
./bin/train --train-dir "$D/lm" --config configs/fortunes_charlm.yaml --steps "$STEPS" \
  --threads "$THREADS" --set train.windows=random --set train.checkpoint_every=0 \
  --set train.validate_every=0 --quiet >"$D/train.out"
train_rate=$(sed -n 's/.*(\([0-9]*\) examples\/s).*/\1/p' "$D/train.out")
./bin/eval --train-dir "$D/lm" --threads "$THREADS" --json >"$D/eval.json"
valid_rate=$(sed -n 's/.*"examples_per_sec": \([0-9.]*\).*/\1/p' "$D/eval.json")
bpc=$(sed -n 's/.*"bpc": \([0-9.]*\).*/\1/p' "$D/eval.json")
t0=$(now)
./bin/eval --train-dir "$D/lm" --threads 1 --generate 100 --seed 1 >/dev/null
t1=$(now)
./bin/eval --train-dir "$D/lm" --threads 1 --generate 5100 --seed 1 >/dev/null
t2=$(now)
sample_rate=$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { d = (c - b) - (b - a); r = 0; if (d > 0) r = 5000 / d; printf "%.0f", r }')
echo "trainval char LM: training $train_rate tokens/s, validation $valid_rate tokens/s, sampling $sample_rate tokens/s, valid bpc $bpc after $STEPS steps"
echo "sample: $(./bin/eval --train-dir "$D/lm" --generate 120 --seed 1 | tr '\n' ' ')"

PEER="$ROOT/../shared/peers/torch_charlm.py"
if [ -f "$PEER" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "== PyTorch peer (torch_charlm.py), same model, batch, windows and steps, same run =="
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 "$PEER" --steps "$STEPS" --threads "$THREADS" 2>&1 |
    grep -E '^(model|train_tokens_per_sec|valid_bits_per_char|valid_tokens_per_sec|sample_tokens_per_sec)' || true
else
  echo "(PyTorch char LM peer skipped: install python3-torch)"
fi
