#!/bin/sh
# Out-of-core HDF5 data (data.memory_mb, data.h OUT-OF-CORE DATA) on the real binaries: a chunked
# file of float32 rows (scripts/make_h5_rows.py, 30 MiB) trains under memory_mb 1, so the loader
# reads it from disk in blocks through the shuffle buffer.  A run stopped at a checkpoint and
# resumed, and one killed with SIGKILL mid-run and resumed, end with bitwise the parameters of the
# run never stopped.  Peak RSS (GNU time's maximum resident set) of the out-of-core run stays
# within that of the same run on a 3000-row file held in memory plus the budget plus 10 MiB of
# slack (glibc's heap grows by about 6 MiB under the reads, validations and checkpoints
# interleaved: measured, and the same for a 15 MiB file as for this one), while the 30 MiB file
# held in memory (no budget) needs at least 24 MiB more than that.  eval streams the out-of-core
# test split and gives the figures of the data in memory, with data.standardize fitted in its
# streaming pass.  Resuming with another budget, or from a damaged out-of-core cursor, is refused
# with one line.
. "$(dirname "$0")/lib.sh"
need_numpy "out-of-core HDF5 data"
PY=/usr/bin/python3
$PY "$ROOT/scripts/make_h5_rows.py" "$T/big.h5" --rows 40000 --features 196 --chunk 128 \
  >"$T/gen.out" 2>&1 || notok "write the 30 MiB HDF5 file" "$(cat "$T/gen.out")"
$PY "$ROOT/scripts/make_h5_rows.py" "$T/tiny.h5" --rows 3000 --features 196 --chunk 128 \
  >"$T/gen.out" 2>&1 || notok "write the 3000-row HDF5 file" "$(cat "$T/gen.out")"
# cfg FILE MEMORY_MB STEPS
cfg() {
  {
    mlp_model "196, 1, 1" 10 32
    h5_data "$1"
    cat <<YAML
  memory_mb: $2
train:
  batch_size: 32
  seed: 5
  steps: $3
  summary_every: 100
  log_every: 100000
  checkpoint_every: 40
  validate_every: 200
optimizer:
  type: adam
  learning_rate: 0.001
YAML
  }
}
cfg big.h5 1 600 >"$T/ooc.yaml"
peak() { /usr/bin/time -f '%M' -o "$T/peak" "$@" >/dev/null 2>"$T/peak.err"; tail -1 "$T/peak"; }
TRAIN="$BIN/train --quiet --threads 1"
if [ -x /usr/bin/time ]; then
  ooc=$(peak $TRAIN --train-dir "$T/ref" --config "$T/ooc.yaml")
else
  $TRAIN --train-dir "$T/ref" --config "$T/ooc.yaml" >/dev/null 2>&1
fi
check "600 steps on the 30 MiB file under data.memory_mb 1" test -f "$T/ref/ckpt-00000600.h5"
check "the loader's state is the out-of-core order (/state/loader/block_order, no perm)" \
  $PY -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r'); g = f['state/loader']; sys.exit(not ('block_order' in g and 'perm' not in g))" "$T/ref/ckpt-00000600.h5"

# stopped at a checkpoint and resumed
$TRAIN --train-dir "$T/stop" --config "$T/ooc.yaml" --steps 280 >"$T/s.out" 2>&1 &&
  $TRAIN --train-dir "$T/stop" --steps 600 >>"$T/s.out" 2>&1 || notok "stop at 280 and resume" "$(cat "$T/s.out")"
check "stopped at step 280 and resumed: the parameters of the run never stopped, bitwise" \
  $PY "$ROOT/tests/integration/same_variables.py" "$T/ref/ckpt-00000600.h5" "$T/stop/ckpt-00000600.h5"

# killed with SIGKILL once a checkpoint is committed, then resumed
cfg big.h5 1 6000 >"$T/long.yaml"
$TRAIN --train-dir "$T/long" --config "$T/long.yaml" --set train.checkpoint_every=0 >/dev/null 2>&1
$TRAIN --train-dir "$T/kill" --config "$T/long.yaml" >/dev/null 2>&1 &
pid=$!
i=0
while [ $i -lt 600 ] && ! grep -q "file: ckpt-0000[0-9]*.h5" "$T/kill/checkpoints.yaml" 2>/dev/null; do
  sleep 0.05
  i=$((i + 1))
done
kill -9 "$pid" 2>/dev/null
{ wait "$pid"; } 2>/dev/null
last=$(grep -o 'ckpt-[0-9]*\.h5' "$T/kill/checkpoints.yaml" 2>/dev/null | tail -1)
$TRAIN --train-dir "$T/kill" --steps 6000 >"$T/k.out" 2>&1 || notok "resume after SIGKILL" "$(cat "$T/k.out")"
check "killed with SIGKILL (last commit $last) and resumed: the parameters of the run never killed, bitwise" \
  $PY "$ROOT/tests/integration/same_variables.py" "$T/long/ckpt-00006000.h5" "$T/kill/ckpt-00006000.h5"

# peak RSS: out of core within a tiny in-memory run's + the budget + slack; the file in memory not
if ldd "$BIN/train" 2>/dev/null | grep -q libasan; then
  skip "peak RSS of the out-of-core run" "a sanitizer build: its shadow memory and quarantine are not the program's"
elif [ -x /usr/bin/time ]; then
  cfg tiny.h5 0 600 >"$T/tiny.yaml"
  cfg big.h5 0 600 >"$T/mem.yaml"
  tiny=$(peak $TRAIN --train-dir "$T/tiny" --config "$T/tiny.yaml")
  mem=$(peak $TRAIN --train-dir "$T/mem" --config "$T/mem.yaml")
  check "peak RSS out of core ${ooc} KiB <= 3000 rows in memory ${tiny} KiB + 1 MiB budget + 10 MiB slack" \
    test "$ooc" -le $((tiny + 1024 + 10240))
  check "peak RSS with the 30 MiB file in memory ${mem} KiB >= ${tiny} KiB + 24 MiB (the check can fail)" \
    test "$mem" -ge $((tiny + 24576))
else
  skip "peak RSS of the out-of-core run" "no GNU time (/usr/bin/time)"
fi

# eval streams the out-of-core test split; data.standardize fitted in the streaming pass
cfg big.h5 1 40 >"$T/z.yaml"
$TRAIN --train-dir "$T/z" --config "$T/z.yaml" --set data.standardize=true >"$T/z.out" 2>&1 ||
  notok "train with data.standardize out of core" "$(cat "$T/z.out")"
cfg big.h5 0 40 >"$T/zm.yaml"
$TRAIN --train-dir "$T/zm" --config "$T/zm.yaml" --set data.standardize=true >"$T/zm.out" 2>&1 ||
  notok "train with data.standardize in memory" "$(cat "$T/zm.out")"
check "data.standardize: the streaming fit stores the in-memory fit's mean and std (1e-6)" \
  $PY -c "
import h5py, sys, numpy as np
a, b = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r')
for k in ('mean', 'std'):
    x, y = a['data/standardize/' + k][()], b['data/standardize/' + k][()]
    assert np.allclose(x, y, rtol=1e-6, atol=1e-6), (k, np.abs(x - y).max())
" "$T/z/ckpt-00000040.h5" "$T/zm/ckpt-00000040.h5"
"$BIN/eval" --ckpt "$T/z/ckpt-00000040.h5" --json --num-examples 5000 >"$T/e1.json" 2>&1
"$BIN/eval" --ckpt "$T/z/ckpt-00000040.h5" --json --num-examples 5000 --set data.memory_mb=0 \
  >"$T/e2.json" 2>&1
strip() { sed -e 's/"checkpoint": "[^"]*", //' -e 's/, "seconds".*//' "$1"; }
if grep -q '"accuracy": 0' "$T/e1.json" && [ "$(strip "$T/e1.json")" = "$(strip "$T/e2.json")" ]; then
  ok "eval streams the out-of-core test split to the in-memory figures"
else
  notok "eval streams the out-of-core test split to the in-memory figures" "$(cat "$T/e1.json")" "$(cat "$T/e2.json")"
fi

# another budget on resume: refused, one line naming the file and the key
cp -r "$T/stop" "$T/other"
expect_fail "resuming under another data.memory_mb is refused, naming it" 1 \
  "ckpt-00000600.h5: the out-of-core order .*data.memory_mb" \
  $TRAIN --train-dir "$T/other" --steps 700 --set data.memory_mb=2
expect_fail "resuming an out-of-core run in memory is refused, naming data.memory_mb" 1 \
  "ckpt-00000600.h5: the loader state is an out-of-core order .*data.memory_mb" \
  $TRAIN --train-dir "$T/other" --steps 700 --set data.memory_mb=0

# a damaged out-of-core cursor (its manifest entry matching): refused, one line naming the file
cp -r "$T/stop" "$T/bad"
/usr/bin/python3 - "$T/bad" "$ROOT/tests/integration" <<'PY'
import re, sys, h5py
sys.path.insert(0, sys.argv[2])
from events import crc32c
d = sys.argv[1]
with h5py.File(d + '/ckpt-00000600.h5', 'r+') as f:
    o = f['state/loader/block_order']
    v = o[()]
    v[4] = 10**9
    o[...] = v
data = open(d + '/ckpt-00000600.h5', 'rb').read()
m = open(d + '/checkpoints.yaml').read()
m = re.sub(r'(file: ckpt-00000600.h5\n    size: )\d+(\n    checksum: crc32c:)[0-9a-f]+',
           r'\g<1>%d\g<2>%08x' % (len(data), crc32c(data)), m)
open(d + '/checkpoints.yaml', 'w').write(m)
PY
expect_fail "a damaged out-of-core order position is refused, naming the file" 1 \
  "ckpt-00000600.h5: loader state: .* rows into an order of 40000 rows" \
  $TRAIN --train-dir "$T/bad" --steps 700
