#!/bin/sh
# eval's figures and -v print for an out-of-core HDF5 split (data.memory_mb, data.h OUT-OF-CORE
# DATA) are those of the same file held in memory: two chunked HDF5 files of 6000 examples
# (1.5 MiB each, so data.memory_mb 1 keeps them on disk) train a small classifier (uint8 1x16x16
# images, 4 classes) and a multilabel model (64 float features, 4 labels); eval --watch of each
# run with data.memory_mb 0 and with 1 writes byte for byte the same figure records (the
# confusion matrix image, the misclassified grid read back from the file and its table, the PR
# curves), on the test split and on a seeded subset of the valid split (rows picked through the
# split's row map), and the out-of-core event files pass the independent checker.  eval -v
# prints the same per-class (per-label) figures and confusion matrix both ways.
. "$(dirname "$0")/lib.sh"
need_numpy "out-of-core figures"
PY=/usr/bin/python3
$PY - "$T" <<'PY' >"$T/gen.out" 2>&1 || notok "write the HDF5 files" "$(cat "$T/gen.out")"
import sys
import h5py, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(3)
n = 6000
x = rng.integers(0, 256, size=(n, 1, 16, 16), dtype=np.uint8)
q = x.reshape(n, 2, 8, 2, 8).mean(axis=(2, 4)).reshape(n, 4)
y = np.argmax(q + rng.normal(scale=2.0, size=q.shape), 1).astype(np.int32)
with h5py.File(d + "/cls.h5", "w") as f:
    f.create_dataset("x", data=x, chunks=(64, 1, 16, 16))
    f.create_dataset("y", data=y, chunks=(1024,))
xf = rng.normal(size=(n, 64)).astype(np.float32)
t = np.stack([xf[:, 0] > 0, xf[:, 1] + xf[:, 2] > 0.5, xf[:, 3] * xf[:, 4] > 0, xf[:, 5] > 1.0],
             1).astype(np.float32)
with h5py.File(d + "/ml.h5", "w") as f:
    f.create_dataset("x", data=xf, chunks=(64, 64))
    f.create_dataset("y", data=t, chunks=(1024, 4))
PY
# cfg FILE INPUT [TASK]: 40 steps on FILE, checkpoints at 20 and 40
cfg() {
  mlp_model "$2" 4 16 "${3:-}"
  h5_data "$1"
  cat <<YAML
train: {batch_size: 32, steps: 40, checkpoint_every: 20, seed: 2}
optimizer: {learning_rate: 0.01}
YAML
}
cfg cls.h5 "1, 16, 16" >"$T/cls.yaml"
cfg ml.h5 "64, 1, 1" multilabel >"$T/ml.yaml"
EVAL="$BIN/eval --threads 1"
# records DIR: every figure record of DIR's event files, "<step> <tag> <the encoded value's hex>"
records() {
  $PY -c "
import glob, sys
sys.path.insert(0, '$ROOT/tests/integration')
import events
for f in sorted(glob.glob(sys.argv[1] + '/events.out.tfevents.*')):
    for step, v in events.summary_values(f):
        tag = dict((n, x) for n, _, x in events.fields(v)).get(1, b'').decode()
        if tag.startswith(('confusion_matrix', 'misclassified', 'pr_curve/')):
            print(step, tag, v.hex())
" "$1"
}
# same_figures RUN WANT_TAGS WHAT EVAL_ARGS...: eval --watch RUN in memory and out of core
same_figures() {
  run=$1 want=$2 what=$3
  shift 3
  $EVAL --watch "$T/$run" --name mem "$@" --set data.memory_mb=0 >"$T/w.out" 2>&1 &&
    $EVAL --watch "$T/$run" --name ooc "$@" --set data.memory_mb=1 >>"$T/w.out" 2>&1 ||
    notok "eval --watch $run $*" "$(cat "$T/w.out")"
  records "$T/$run/mem" >"$T/mem.rec"
  records "$T/$run/ooc" >"$T/ooc.rec"
  tags=$(awk '{ print $1, $2 }' "$T/ooc.rec" | tr '\n' ';')
  if [ "$tags" = "$want" ] && cmp -s "$T/mem.rec" "$T/ooc.rec"; then
    ok "$what: out of core the in-memory figure records, byte for byte"
  else
    notok "$what: out of core the in-memory figure records, byte for byte" "tags: $tags" \
      "want: $want" "$(diff "$T/mem.rec" "$T/ooc.rec" | cut -c1-120 | head -5)"
  fi
  if [ -f "$CHECKERS/tfevents_check.py" ]; then
    check "$what: the out-of-core event files pass the independent checker" /usr/bin/python3 \
      "$CHECKERS/tfevents_check.py" --strict --quiet "$T/$run/ooc"
  else
    skip "$what: the out-of-core event files pass the independent checker" "no $CHECKERS/tfevents_check.py"
  fi
  rm -rf "$T/$run/mem" "$T/$run/ooc"
}
cls_tags() { # cls_tags STEP...: the classification figures of those steps
  for s in "$@"; do
    printf '%s confusion_matrix;%s misclassified;%s misclassified/labels;' "$s" "$s" "$s"
    for c in 0 1 2 3; do printf '%s pr_curve/%s;' "$s" "$c"; done
  done
}
ml_tags() {
  for s in "$@"; do for j in 0 1 2 3; do printf '%s pr_curve/%s;' "$s" "$j"; done; done
}
check "a classifier trains on the uint8 HDF5 file" $BIN/train --quiet --threads 1 \
  --train-dir "$T/cls" --config "$T/cls.yaml"
check "a multilabel model trains on the float HDF5 file" $BIN/train --quiet --threads 1 \
  --train-dir "$T/ml" --config "$T/ml.yaml"
same_figures cls "$(cls_tags 20 40)" "classification, test split" --split test
same_figures cls "$(cls_tags 20 40)" "classification, a seeded subset of the valid split" \
  --split valid --num-examples 300 --subset-seed 9 --misclassified 24
same_figures ml "$(ml_tags 20 40)" "multilabel, test split" --split test
for run in cls ml; do
  $EVAL --ckpt "$T/$run/ckpt-00000040.h5" --split test -v --set data.memory_mb=0 >"$T/v0" 2>&1
  $EVAL --ckpt "$T/$run/ckpt-00000040.h5" --split test -v --set data.memory_mb=1 >"$T/v1" 2>&1
  grep -v '^speed' "$T/v0" >"$T/v0.s"
  grep -v '^speed' "$T/v1" >"$T/v1.s"
  if grep -q '^0  ' "$T/v1.s" && cmp -s "$T/v0.s" "$T/v1.s"; then
    ok "$run: eval -v out of core prints the in-memory per-class figures"
  else
    notok "$run: eval -v out of core prints the in-memory per-class figures" "$(diff "$T/v0.s" "$T/v1.s")"
  fi
done
