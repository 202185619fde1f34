#!/bin/sh
# eval --predict on an HDF5 input larger than the data budget (data.memory_mb, eval/predict.c):
# a chunked file of 40000 float32 rows (scripts/make_h5_rows.py, 30 MiB) is predicted under
# memory_mb 1, so the loader streams it from disk in blocks and each batch's rows are written as
# they are made.  The rows are byte for byte those of the file held in memory (CSV, JSON lines,
# --out - on stdout, and the file on stdin, which is read whole).  Peak RSS (GNU time's maximum
# resident set) stays within that of the same prediction on a 3000-row file held in memory plus
# the budget plus 4 MiB of slack, while the 30 MiB file held in memory needs at least 24 MiB more
# (the check can fail).  A .npy file larger than the budget is read in blocks of whole batches (C
# and Fortran order) to the same bytes, within the same bound; a bad value in its last block is
# one line.  A chunk damaged midway (a deflate stream of a gzip'd copy overwritten) is one line
# naming the file and the rows, SIGINT midway and a write failing midway (a file-size limit, as a
# full disk) one line too: each leaves the previous --out as it was and no temporary beside it.
. "$(dirname "$0")/lib.sh"
need_numpy "eval --predict out of core"
PY=/usr/bin/python3
for f in "big 40000" "tiny 3000"; do
  set -- $f
  $PY "$ROOT/scripts/make_h5_rows.py" "$T/$1.h5" --rows "$2" --features 196 --chunk 128 \
    >"$T/gen.out" 2>&1 || notok "write $1.h5" "$(cat "$T/gen.out")"
done
$PY "$ROOT/scripts/make_h5_rows.py" "$T/gz.h5" --rows 40000 --features 196 --chunk 128 --gzip \
  >"$T/gen.out" 2>&1 || notok "write gz.h5" "$(cat "$T/gen.out")"
{
  mlp_model "196, 1, 1" 10 32
  cat <<YAML
data:
  format: hdf5
  dir: $T
  train_images: tiny.h5:/x
  train_labels: tiny.h5:/y
train: {batch_size: 32, steps: 20, checkpoint_every: 20}
YAML
} >"$T/cfg.yaml"
"$BIN/train" --quiet --threads 1 --train-dir "$T/run" --config "$T/cfg.yaml" >"$T/t.out" 2>&1 ||
  notok "train on tiny.h5" "$(cat "$T/t.out")"
PRED="$BIN/eval --ckpt $T/run/ckpt-00000020.h5 --threads 1"
peak() { /usr/bin/time -f '%M' -o "$T/peak" "$@" >/dev/null 2>"$T/peak.err"; tail -1 "$T/peak"; }

# the same bytes streamed as held in memory
if [ -x /usr/bin/time ]; then
  ooc=$(peak $PRED --predict "$T/big.h5:/x" --out "$T/ooc.csv" --set data.memory_mb=1)
  mem=$(peak $PRED --predict "$T/big.h5:/x" --out "$T/mem.csv")
  tiny=$(peak $PRED --predict "$T/tiny.h5:/x" --out "$T/tiny.csv")
else
  $PRED --predict "$T/big.h5:/x" --out "$T/ooc.csv" --set data.memory_mb=1
  $PRED --predict "$T/big.h5:/x" --out "$T/mem.csv"
fi
check "40000 rows streamed under data.memory_mb 1" test "$(wc -l <"$T/ooc.csv")" -eq 40001
check "the streamed CSV is byte for byte the in-memory one" cmp "$T/ooc.csv" "$T/mem.csv"
$PRED --predict "$T/big.h5:/x" --out "$T/ooc.jsonl" --json --set data.memory_mb=1
$PRED --predict "$T/big.h5:/x" --out "$T/mem.jsonl" --json
check "the streamed JSON lines are byte for byte the in-memory ones" cmp "$T/ooc.jsonl" "$T/mem.jsonl"
$PRED --predict "$T/big.h5:/x" --out - --set data.memory_mb=1 >"$T/stdout.csv"
check "--out - streams the same bytes to stdout" cmp "$T/stdout.csv" "$T/mem.csv"
$PRED --predict -:/x --out - --set data.memory_mb=1 <"$T/big.h5" >"$T/stdin.csv"
check "the file on stdin (read whole) gives the same bytes" cmp "$T/stdin.csv" "$T/mem.csv"

if ldd "$BIN/eval" 2>/dev/null | grep -q libasan; then
  skip "peak RSS of the streamed prediction" "a sanitizer build: its shadow memory and quarantine are not the program's"
elif [ -x /usr/bin/time ]; then
  check "peak RSS streamed ${ooc} KiB <= 3000 rows in memory ${tiny} KiB + 1 MiB budget + 4 MiB slack" \
    test "$ooc" -le $((tiny + 1024 + 4096))
  check "peak RSS with the 30 MiB file in memory ${mem} KiB >= ${tiny} KiB + 24 MiB (the check can fail)" \
    test "$mem" -ge $((tiny + 24576))
else
  skip "peak RSS of the streamed prediction" "no GNU time (/usr/bin/time)"
fi

# .npy files larger than the budget: read block by block (whole batches), C and Fortran order,
# float32, big-endian float64 and uint8, each byte for byte the in-memory rows
$PY - "$T" <<'PY' >"$T/npy.out" 2>&1 || notok "write the .npy files" "$(cat "$T/npy.out")"
import sys, h5py, numpy as np
d = sys.argv[1]
x = h5py.File(d + "/big.h5", "r")["x"][()]
np.save(d + "/c32.npy", x)
np.save(d + "/f64.npy", np.asfortranarray(x[:6000].astype(">f8")))
u = (np.abs(x[:6000]) * 60).clip(0, 255).astype(np.uint8).reshape(6000, 4, 7, 7)
np.save(d + "/u8f.npy", np.asfortranarray(u))
y = x[:6000].astype("<f8")
y[5000, 5] = np.nan  # in the last block
np.save(d + "/nan.npy", np.asfortranarray(y))
PY
if [ -x /usr/bin/time ]; then
  npy_ooc=$(peak $PRED --predict "$T/c32.npy" --out "$T/c32.ooc.csv" --set data.memory_mb=1)
  npy_mem=$(peak $PRED --predict "$T/c32.npy" --out "$T/c32.mem.csv")
else
  $PRED --predict "$T/c32.npy" --out "$T/c32.ooc.csv" --set data.memory_mb=1
  $PRED --predict "$T/c32.npy" --out "$T/c32.mem.csv"
fi
check "a 30 MiB float32 .npy in blocks under data.memory_mb 1: the in-memory bytes" \
  cmp "$T/c32.ooc.csv" "$T/c32.mem.csv"
check "and the rows of the HDF5 file" cmp "$T/c32.ooc.csv" "$T/mem.csv"
for f in f64 u8f; do
  $PRED --predict "$T/$f.npy" --out "$T/$f.ooc.jsonl" --json --batch-size 100 --set data.memory_mb=1
  $PRED --predict "$T/$f.npy" --out "$T/$f.mem.jsonl" --json --batch-size 100
  check "$f.npy (Fortran order) in blocks of whole batches: the in-memory JSON lines" \
    cmp "$T/$f.ooc.jsonl" "$T/$f.mem.jsonl"
done
if [ -n "${npy_ooc:-}" ] && ! ldd "$BIN/eval" 2>/dev/null | grep -q libasan; then
  check "peak RSS of the .npy in blocks ${npy_ooc} KiB <= ${tiny} KiB + 1 MiB + 4 MiB; in memory ${npy_mem} KiB" \
    test "$npy_ooc" -le $((tiny + 1024 + 4096))
fi
echo "previous rows" >"$T/keep.csv"
expect_fail "a NaN in a .npy's last block is one line numbering the element" 1 \
  "nan.npy: element 980005 is nan, not a finite float32" \
  $PRED --predict "$T/nan.npy" --out "$T/keep.csv" --batch-size 100 --set data.memory_mb=1
check "the bad value leaves the previous --out as it was" grep -qx "previous rows" "$T/keep.csv"
check "and no temporary beside it" sh -c "! ls '$T'/keep.csv.tmp.* 2>/dev/null"

# a damaged chunk midway: one line, the previous --out intact, no temporary left
cp "$T/gz.h5" "$T/bad.h5"
$PY - "$T/bad.h5" <<'PY' >"$T/dmg.out" 2>&1 || notok "damage a chunk of bad.h5" "$(cat "$T/dmg.out")"
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    d = f["x"].id
    c = d.get_chunk_info(d.get_num_chunks() // 2)
b = bytearray(open(sys.argv[1], "rb").read())
for i in range(c.byte_offset + 10, c.byte_offset + 60):
    b[i] ^= 0x5A
open(sys.argv[1], "wb").write(b)
PY
echo "previous rows" >"$T/keep.csv"
expect_fail "a damaged chunk midway is one line naming the file and the rows" 1 \
  "bad.h5: /x: cannot read examples [0-9]+\.\.[0-9]+ \(HDF5: inflate\(\) failed\)" \
  $PRED --predict "$T/bad.h5:/x" --out "$T/keep.csv" --set data.memory_mb=1
check "the damaged chunk leaves the previous --out as it was" grep -qx "previous rows" "$T/keep.csv"
check "and no temporary beside it" sh -c "! ls '$T'/keep.csv.tmp.* 2>/dev/null"

# SIGINT once the first rows are in the temporary (one row a batch, so it runs for a while)
caught=0
for try in 1 2 3; do
  $PRED --predict "$T/gz.h5:/x" --out "$T/keep.csv" --set data.memory_mb=1 --batch-size 1 \
    2>"$T/int.err" &
  pid=$!
  i=0
  while [ $i -lt 200000 ] && [ ! -s "$T/keep.csv.tmp.$pid" ] && kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
  done
  had=0
  [ -s "$T/keep.csv.tmp.$pid" ] && had=1
  kill -INT "$pid" 2>/dev/null
  wait "$pid"
  rc=$?
  if [ "$rc" -ne 0 ] && [ $had -eq 1 ]; then
    caught=1
    break
  fi
  echo "previous rows" >"$T/keep.csv" # it finished before a row was written, or first: again
done
if [ $caught -eq 1 ] && [ "$rc" -eq 1 ] && [ "$(wc -l <"$T/int.err")" -eq 1 ] &&
  grep -q "predict: stopped by SIGINT; $T/keep.csv left as it was" "$T/int.err"; then
  ok "SIGINT with rows in the temporary: exit 1, one line"
else
  notok "SIGINT with rows in the temporary: exit 1, one line" "exit $rc after $try tries (rows written: $had)" "$(cat "$T/int.err")"
fi
check "SIGINT leaves the previous --out as it was" grep -qx "previous rows" "$T/keep.csv"
check "and no temporary beside it" sh -c "! ls '$T'/keep.csv.tmp.* 2>/dev/null"

# a full disk midway (a file-size limit, SIGXFSZ ignored: write(2) fails with EFBIG as on a full
# disk): one line naming the temporary, the previous --out intact, no temporary left
echo "previous rows" >"$T/keep.csv"
expect_fail "a write that fails midway (EFBIG) is one line naming the temporary" 1 \
  "keep.csv.tmp.[0-9]+: write: File too large" \
  sh -c "trap '' XFSZ; ulimit -f 256; exec $PRED --predict '$T/big.h5:/x' --out '$T/keep.csv' --set data.memory_mb=1"
check "the failed write leaves the previous --out as it was" grep -qx "previous rows" "$T/keep.csv"
check "and no temporary beside it" sh -c "! ls '$T'/keep.csv.tmp.* 2>/dev/null"
