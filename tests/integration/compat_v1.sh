#!/bin/sh
# Checkpoints written by an earlier trainval stay readable: tests/fixtures/v1-run/ is a train_dir
# committed by the code of format_version 1 as it stood before the library was regrouped (a small
# CNN with batch-norm, dropout, augmentation, Adam with cosine and clipping, in-process
# validation), stopped at step 60 of 120.  tests/fixtures/v1-expected-ckpt-00000120.h5 is what
# that code wrote when it trained straight to 120 with --threads 1.  Today's code must evaluate
# the old checkpoint to the same figures, resume it bit-exactly, and evaluate the result to the
# same figures as the old code did.
. "$(dirname "$0")/lib.sh"
FX=$ROOT/tests/fixtures
D=$T/v1
cp -r "$FX/v1-run" "$D"

# Evaluation figures printed by the old code (eval --json on the test split).
# is FILE KEY VALUE: the JSON object in FILE has KEY equal to VALUE (as printed by Python).
is() { /usr/bin/python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; sys.exit(str(v) != sys.argv[3] and "%s: %s" % (sys.argv[2], v))' "$@"; }
check "the v1 checkpoint at step 60 evaluates" sh -c "'$BIN/eval' --ckpt '$D/ckpt-00000060.h5' --split test --json >'$T/e60.json'"
check "v1 step 60: test accuracy 0.6336 as written by the old code" is "$T/e60.json" accuracy 0.6336
check "v1 step 60: test loss 1.008399 as written by the old code" is "$T/e60.json" loss 1.008399
check "the v1 checkpoint is verified against its manifest" is "$T/e60.json" verified True

check "the v1 run resumes to step 120" "$BIN/train" --train-dir "$D" --threads 1 --quiet
check "resumed from v1: every variable bitwise equal to the old code's straight run" /usr/bin/python3 - \
  "$FX/v1-expected-ckpt-00000120.h5" "$D/ckpt-00000120.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for group in ("variables", "optimizer/m", "optimizer/v"):
    names = []
    a[group].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    assert names, group
    for n in names:
        assert np.array_equal(a[group][n][()], b[group][n][()]), (group, n)
PY
check "resumed from v1: step 120 evaluates" sh -c "'$BIN/eval' --ckpt '$D/ckpt-00000120.h5' --split test --json >'$T/e120.json'"
check "resumed from v1: test accuracy 0.6943 as the old code's" is "$T/e120.json" accuracy 0.6943
check "the old code's own step-120 checkpoint still evaluates to 0.6943" sh -c "
  '$BIN/eval' --ckpt '$FX/v1-expected-ckpt-00000120.h5' --split test --json | grep -q '\"accuracy\": 0.694300'"
