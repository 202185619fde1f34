#!/bin/sh
# An out-of-core run checkpointed by the version before data.memory_mb bounded all the data's
# memory still resumes exactly: tests/fixtures/ooc-v1-run/ is a train_dir that version wrote for
# tests/fixtures/ooc-v1-fixture.yaml (a 20000-row file of 16 float32 features from
# scripts/make_h5_rows.py, chunks of 64 rows, memory_mb 1, an MLP, Adam) stopped at step 60 of
# 120, and tests/fixtures/ooc-v1-expected-ckpt-00000120.h5 what it wrote training straight to 120
# (--threads 1).  Its shuffle buffer was sized from the budget less the block and the reader's
# buffer alone; today's loader takes that order as it is (the slots it stored), so the resumed
# run ends with bitwise the variables and Adam slots of the old straight run, and keeps the old
# order in the checkpoints it writes, while a new run under the same budget has fewer slots.
. "$(dirname "$0")/lib.sh"
need_numpy "resuming an out-of-core run of the earlier version"
PY=/usr/bin/python3
FX=$ROOT/tests/fixtures
$PY "$ROOT/scripts/make_h5_rows.py" "$T/d.h5" --rows 20000 --features 16 --chunk 64 \
  >"$T/gen.out" 2>&1 || notok "write the fixture's data file" "$(cat "$T/gen.out")"
cp -r "$FX/ooc-v1-run" "$T/run"
check "the earlier version's out-of-core run resumes to step 120" \
  "$BIN/train" --quiet --threads 1 --train-dir "$T/run" --steps 120 --set data.dir="$T"
check "resumed: every variable and Adam slot bitwise equal to the earlier version's straight run" \
  $PY - "$FX/ooc-v1-expected-ckpt-00000120.h5" "$T/run/ckpt-00000120.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for group in ("variables", "optimizer"):
    names = []
    a[group].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    assert names, group
    for n in names:
        x, y = a[group][n][()], b[group][n][()]
        assert x.shape == y.shape and x.tobytes() == y.tobytes(), (group, n)
assert (a["state/loader/block_order"][()] == b["state/loader/block_order"][()]).all()
PY
"$BIN/train" --quiet --threads 1 --train-dir "$T/new" --config "$FX/ooc-v1-fixture.yaml" \
  --set data.dir="$T" --steps 30 >"$T/new.out" 2>&1 || notok "a new run" "$(cat "$T/new.out")"
check "a new run under the same budget counts everything: fewer shuffle slots than the old order" \
  $PY -c "
import sys, h5py
old = h5py.File(sys.argv[1], 'r')['state/loader/block_order'][()]
new = h5py.File(sys.argv[2], 'r')['state/loader/block_order'][()]
assert list(old[[0, 1, 3]]) == list(new[[0, 1, 3]]) and new[2] < old[2], (old, new)
" "$FX/ooc-v1-run/ckpt-00000060.h5" "$T/new/ckpt-00000030.h5"
