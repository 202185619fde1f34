#!/bin/sh
# A checkpoint renamed into place but never committed (train killed -9 between the rename and
# the manifest write) is removed when the run resumes, and train says so; committed ones stay.
. "$(dirname "$0")/lib.sh"
R=$T/run
small_config "$T/c.yaml"
check "a run to step 40" "$BIN/train" --quiet --train-dir "$R" --config "$T/c.yaml" --steps 40 --set train.checkpoint_every=20
# What a cut-short save leaves: a complete file the manifest does not name.
cp "$R/ckpt-00000040.h5" "$R/ckpt-00000050.h5"
cp "$R/ckpt-00000040.h5" "$R/ckpt-00000070.h5"
: >"$R/ckpt-notastep.h5"
"$BIN/train" --train-dir "$R" --steps 60 >"$T/out" 2>&1
rc=$?
check "the resumed run finishes" test "$rc" -eq 0
check "the uncommitted checkpoints are gone" sh -c "! test -e '$R/ckpt-00000050.h5' && ! test -e '$R/ckpt-00000070.h5'"
check "train says which it removed" sh -c "grep -q 'removed $R/ckpt-00000050.h5: saved but never committed' '$T/out' && grep -q 'removed $R/ckpt-00000070.h5' '$T/out'"
check "committed checkpoints and files not named like one are kept" sh -c "test -f '$R/ckpt-00000020.h5' && test -f '$R/ckpt-00000040.h5' && test -f '$R/ckpt-00000060.h5' && test -f '$R/ckpt-notastep.h5'"
check "the manifest lists 20, 40, 60 only" sh -c "grep 'step:' '$R/checkpoints.yaml' | tr -dc '0-9\n' | tr '\n' ' ' | grep -qx '20 40 60 '"
