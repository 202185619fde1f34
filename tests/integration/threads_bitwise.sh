#!/bin/sh
# Results do not depend on --threads (ctx.h, Determinism): a short CNN (two conv2d, one with a
# bias and a chunked small output plane, batch_norm, dropout, a dense wide enough to be cut in
# slices, dense) trained with --threads 1, 2, 3 and 7 leaves bitwise-identical checkpoints (every
# variable, optimizer slot and resume state), and a run checkpointed with 1 thread and resumed with
# 3 ends bitwise where the straight run did; a small token model (embedding, lstm, gru) likewise.
. "$(dirname "$0")/lib.sh"
CFG=$T/cnn.yaml
cat >"$CFG" <<YAML
model:
  input: [1, 28, 28]
  num_classes: 10
  layers:
    - {type: conv2d, filters: 8, kernel_size: 3, padding: same, use_bias: false}
    - {type: batch_norm}
    - {type: relu}
    - {type: max_pool2d, pool_size: 2}
    - {type: conv2d, filters: 6, kernel_size: 3, strides: 2, padding: same}
    - {type: relu}
    - {type: flatten}
    - {type: dropout, rate: 0.25}
    - {type: dense, units: 2048}
    - {type: relu}
    - {type: dense, units: 10}
data:
  dir: $DATA
  valid_fraction: 0.1
  mean: 0.2860
  std: 0.3530
  random_flip: true
train:
  batch_size: 32
  steps: 20
  seed: 11
  summary_every: 10
  checkpoint_every: 10
  max_to_keep: 0
  validate_every: 0
optimizer: {type: adam, learning_rate: 0.003}
YAML

# same A B STEP: every dataset of the two checkpoints at STEP is bitwise the same.
same() {
  /usr/bin/python3 - "$1/ckpt-$3.h5" "$2/ckpt-$3.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, 'r') for p in sys.argv[1:3])
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
bad = [n for n in names if n not in b or a[n].shape != b[n].shape or
       a[n][()].tobytes() != b[n][()].tobytes()]
if not names or bad:
    sys.exit('differ: %s (of %d datasets)' % (', '.join(bad[:8]) or 'no datasets', len(names)))
PY
}

for n in 1 2 3 7; do
  check "a 20-step CNN run with --threads $n" \
    "$BIN/train" --train-dir "$T/t$n" --config "$CFG" --threads "$n" --quiet
done
check "--threads 2 gives the bits of --threads 1" same "$T/t1" "$T/t2" 00000020
check "--threads 3 gives the bits of --threads 1" same "$T/t1" "$T/t3" 00000020
check "--threads 7 gives the bits of --threads 1" same "$T/t1" "$T/t7" 00000020
check "a run stopped at step 10 with --threads 1" \
  "$BIN/train" --train-dir "$T/r" --config "$CFG" --threads 1 --steps 10 --quiet
check "resumed to step 20 with --threads 3" "$BIN/train" --train-dir "$T/r" --threads 3 --steps 20 --quiet
check "the resume with another thread count ends bitwise where the straight run did" \
  same "$T/t1" "$T/r" 00000020

# The token model likewise (embedding, lstm, gru, time-distributed dense, per-token loss): a
# batch of 20 is two chunks of the recurrent layers' fixed cut (16 + 4), the state carried across
# batches (contiguous streams); --threads 1, 2 and 3 leave the same bits, and a run stopped with
# 2 threads and resumed with 3 ends where the straight run did.
FORT=/usr/share/games/fortunes
if [ -d "$FORT" ]; then
  mkdir "$T/corpus"
  head -c 60000 "$FORT/fortunes" >"$T/corpus/a"
  cat >"$T/lm.yaml" <<YAML
model:
  input: [12]
  num_classes: 256
  layers:
    - {type: embedding, vocab: 256, dim: 8}
    - {type: lstm, hidden: 24}
    - {type: gru, hidden: 20}
    - {type: dense, units: 256}
data:
  corpus: $T/corpus
  valid_tokens: 5000
train:
  batch_size: 20
  steps: 12
  windows: contiguous
  checkpoint_every: 6
  max_to_keep: 0
  validate_every: 0
  seed: 3
optimizer: {type: adam, learning_rate: 0.01, clip_norm: 1.0}
YAML
  for n in 1 2 3; do
    check "a 12-step token model run with --threads $n" \
      "$BIN/train" --train-dir "$T/lm$n" --config "$T/lm.yaml" --threads "$n" --quiet
  done
  check "token model: --threads 2 gives the bits of --threads 1" same "$T/lm1" "$T/lm2" 00000012
  check "token model: --threads 3 gives the bits of --threads 1" same "$T/lm1" "$T/lm3" 00000012
  check "token model: a run stopped at step 6 with --threads 2" \
    "$BIN/train" --train-dir "$T/lmr" --config "$T/lm.yaml" --threads 2 --steps 6 --quiet
  check "token model: resumed to step 12 with --threads 3" \
    "$BIN/train" --train-dir "$T/lmr" --threads 3 --steps 12 --quiet
  check "token model: the resume with another thread count ends bitwise where the straight run did" \
    same "$T/lm1" "$T/lmr" 00000012
  # eval's INFER graph: with 3 threads its lstm cuts the 20 streams 7 + 7 + 6, not 16 + 4
  # (sequence.c, chunks_of); the figures must not move
  for n in 1 3; do
    "$BIN/eval" --ckpt "$T/lm1/ckpt-00000012.h5" --threads "$n" --json |
      sed 's/, "seconds".*//' >"$T/eval$n.json"
  done
  check "token model: eval with --threads 3 reports what --threads 1 does" \
    sh -c "grep -q '\"bpc\"' '$T/eval1.json' && cmp '$T/eval1.json' '$T/eval3.json'"
else
  skip "token model with --threads 1, 2, 3" "no $FORT (scripts/setup.sh installs fortunes)"
fi
