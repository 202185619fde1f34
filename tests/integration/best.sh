#!/bin/sh
# train.keep_best and train.restore_best: the best validation's checkpoint is committed (reason
# best) and survives retention, also across a resume; restore_best makes the final checkpoint's
# variables those of the best one.  early_stop_min_delta 1000 makes the best deterministic: only
# the first validation (step 20) improves on "none", so patience 2 stops the run at step 60.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
SETS="--set train.validate_every=20 --set train.validate_batches=2 --set train.early_stop_patience=2
  --set train.early_stop_min_delta=1000 --set train.checkpoint_every=10 --set train.max_to_keep=1
  --set retention.max_unevaluated=0"
# vars A B: the /variables of two checkpoints are bitwise equal (h5py), else their evaluations are
vars_equal() {
  if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
    /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["variables"] for p in sys.argv[1:3])
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
sys.exit(0 if names and all(np.array_equal(a[n][()], b[n][()]) for n in names) else 1)
PY
  else
    [ "$("$BIN/eval" --ckpt "$1" --num-examples 300 --json | sed 's/"checkpoint":[^,]*,//; s/"step":[^,]*,//; s/"speed[^,]*,//')" = \
      "$("$BIN/eval" --ckpt "$2" --num-examples 300 --json | sed 's/"checkpoint":[^,]*,//; s/"step":[^,]*,//; s/"speed[^,]*,//')" ]
  fi
}

# keep_best alone: a first run to step 50, then a resume that early-stops at 60.
# shellcheck disable=SC2086
"$BIN/train" -q --train-dir "$T/keep" --config "$CFG" --steps 50 $SETS --set train.keep_best=true >"$T/k1.out" 2>&1
check "keep_best: the best validation's checkpoint (step 20) is committed with reason best" sh -c \
  "grep -A6 'step: 20\$' '$T/keep/checkpoints.yaml' | grep -q 'reason: best' && test -f '$T/keep/ckpt-00000020.h5'"
check "keep_best: retention (max_to_keep 1) keeps it beside the newest, deletes the others" sh -c \
  "test \"\$(ls '$T/keep' | grep -c '^ckpt-.*h5\$')\" = 2 && test -f '$T/keep/ckpt-00000050.h5' && ! test -e '$T/keep/ckpt-00000040.h5'"
# shellcheck disable=SC2086
"$BIN/train" --train-dir "$T/keep" --steps 1000 >"$T/k2.out" 2>&1
check "keep_best: the resumed run early-stops at step 60 and still keeps step 20" sh -c \
  "grep -q 'early stopping at step 60' '$T/k2.out' && test -f '$T/keep/ckpt-00000020.h5' && test -f '$T/keep/ckpt-00000060.h5'"
if vars_equal "$T/keep/ckpt-00000020.h5" "$T/keep/ckpt-00000060.h5"; then
  notok "keep_best alone leaves the last step's variables in the final checkpoint" "ckpt 60 equals ckpt 20"
else
  ok "keep_best alone leaves the last step's variables in the final checkpoint"
fi

# restore_best: the same run in one go.
# shellcheck disable=SC2086
"$BIN/train" --train-dir "$T/restore" --config "$CFG" --steps 1000 $SETS --set train.restore_best=true >"$T/r.out" 2>&1
check "restore_best: early stopped at 60, says it restored step 20's variables" sh -c \
  "grep -q 'early stopping at step 60' '$T/r.out' && grep -q 'restore_best: the final variables are those of step 20' '$T/r.out'"
if vars_equal "$T/restore/ckpt-00000020.h5" "$T/restore/ckpt-00000060.h5"; then
  ok "restore_best: the final checkpoint (step 60) holds the best checkpoint's (step 20) variables"
else
  notok "restore_best: the final checkpoint (step 60) holds the best checkpoint's (step 20) variables" "they differ"
fi
check "restore_best: the run's status is early_stopped and eval reads the final checkpoint" sh -c \
  "grep -q 'status: early_stopped' '$T/restore/checkpoints.yaml' && '$BIN/eval' --train-dir '$T/restore' --num-examples 100 >/dev/null"
