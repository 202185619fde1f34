#!/bin/sh
# eval --watch against a backlog and against damage: policy latest evaluates only the newest;
# files the manifest does not name (temporaries, stray ckpt-*.h5, .nfs*) are never evaluated;
# a corrupt committed checkpoint (bad checksum, or a checksum-correct file HDF5 cannot read) is
# recorded as failed and a checkpoint deleted before it could be pinned as skipped, while the
# later ones are evaluated; a train_dir deleted and recreated under a running watch starts a
# fresh series.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
S=$T/src
"$BIN/train" --train-dir "$S" --config "$CFG" --quiet --steps 200 \
  --set train.checkpoint_every=20 --set train.max_to_keep=0 >"$T/train.out" 2>&1
check "a finished run with 10 checkpoints" sh -c "[ \$(grep -c '^  - step:' '$S/checkpoints.yaml') -eq 10 ]"

steps_are() { # steps_are FILE "s1 s2 ...": the metrics lines' steps, in order
  /usr/bin/python3 -c "
import json, sys
got=[json.loads(l)['step'] for l in open('$1')]
want=[int(s) for s in '$2'.split()]
assert got==want, (got, want)"
}

# --- policy latest under a backlog ---
cp -r "$S" "$T/latest"
"$BIN/eval" --watch "$T/latest" --policy latest --num-examples 200 >"$T/latest.out" 2>&1
rc=$?
check "latest: exit 0" sh -c "[ $rc -eq 0 ]"
check "latest: only the newest of 10 is evaluated" steps_are "$T/latest/eval/metrics.jsonl" 200
check "latest: the backlog is passed over, not recorded" sh -c "
  grep -q '^cursor: 200$' '$T/latest/eval/state.yaml' && [ \$(grep -c 'outcome:' '$T/latest/eval/state.yaml') -eq 1 ]"

# --- damage ---
F=$T/faults
cp -r "$S" "$F"
# ckpt 60: one byte flipped (the manifest's checksum no longer matches).
printf 'X' | dd of="$F/ckpt-00000060.h5" bs=1 seek=3000000 conv=notrunc 2>/dev/null
# ckpt 80: garbage whose size and CRC-32C the manifest records (so HDF5 itself must refuse it).
head -c 3000 /dev/urandom >"$F/ckpt-00000080.h5"
/usr/bin/python3 - "$F" "$ROOT/tests/integration" <<'EOF'
import re, sys
sys.path.insert(0, sys.argv[2])
from events import crc32c
d = sys.argv[1]
data = open(d + '/ckpt-00000080.h5', 'rb').read()
m = open(d + '/checkpoints.yaml').read()
m = re.sub(r'(file: ckpt-00000080.h5\n    size: )\d+(\n    checksum: crc32c:)[0-9a-f]+',
           r'\g<1>%d\g<2>%08x' % (len(data), crc32c(data)), m)
open(d + '/checkpoints.yaml', 'w').write(m)
EOF
# ckpt 100: gone before the evaluator could pin it.
rm "$F/ckpt-00000100.h5"
# Files the manifest does not name.
head -c 5000 /dev/urandom >"$F/ckpt-99999999.h5"
cp "$S/ckpt-00000020.h5" "$F/ckpt-00000030.h5"
head -c 100000 "$S/ckpt-00000200.h5" >"$F/.ckpt-00000220.4242.tmp"
head -c 100 /dev/urandom >"$F/.nfs0000000000a1b2c300000001"
printf 'format: trainval.manifest\ncheckpoints: [\n' >"$F/checkpoints.yaml.tmp.4242"
"$BIN/eval" --watch "$F" --num-examples 200 >"$T/f.out" 2>"$T/f.err"
rc=$?
check "damage: the watch goes on past every fault and exits 0" sh -c "[ $rc -eq 0 ]"
check "damage: the good checkpoints are evaluated, in order, once" steps_are "$F/eval/metrics.jsonl" "20 40 120 140 160 180 200"
check "damage: the checksum mismatch is recorded as failed" sh -c "
  grep -q 'step: 60, outcome: failed, error: \".*ckpt-00000060.h5: checksum mismatch' '$F/eval/state.yaml' &&
  grep -q 'step 60: .*checksum mismatch.*(recorded as failed)' '$T/f.err'"
check "damage: a file HDF5 cannot read is recorded as failed" sh -c "
  grep -q 'step: 80, outcome: failed, error: \".*not a trainval checkpoint' '$F/eval/state.yaml'"
check "damage: a checkpoint deleted before it was pinned is skipped" sh -c "
  grep -q 'step: 100, outcome: skipped' '$F/eval/state.yaml' &&
  grep -q 'step 100: ckpt-00000100.h5 was deleted before it could be pinned (skipped)' '$T/f.err'"
check "damage: files outside the manifest are never evaluated" sh -c "
  ! grep -q 'ckpt-99999999\|ckpt-00000030\|ckpt-00000220\|[.]nfs' '$F/eval/state.yaml' '$F/eval/metrics.jsonl'"
check "damage: the best is a good checkpoint, no pin left" sh -c "
  grep -q '^best: {step: [0-9]*, file: ckpt-' '$F/eval/state.yaml' && ! grep -q '^best: {step: \(60\|80\|100\),' '$F/eval/state.yaml' &&
  test -f '$F/eval/best.h5' && ! ls '$F/eval' | grep -q '^pin-'"
check "damage: every fault is one stderr line" sh -c "[ \$(wc -l <'$T/f.err') -eq 3 ]"

# --- DIR deleted and recreated under a running watch ---
R=$T/recreated
"$BIN/eval" --watch "$R" --num-examples 200 --timeout 60 >"$T/r.out" 2>&1 &
pe=$!
"$BIN/train" --train-dir "$R" --config "$CFG" --quiet --steps 100000 --set train.checkpoint_every=20 >"$T/ra.out" 2>&1 &
pa=$!
i=0
while ! grep -q 'step: 40$' "$R/checkpoints.yaml" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $pa
wait $pa
# Stray and partial files appear while the evaluator waits on the interrupted run.
head -c 5000 /dev/urandom >"$R/ckpt-99999999.h5"
printf 'garbage' >"$R/checkpoints.yaml.tmp.99"
head -c 1000 "$R/ckpt-00000020.h5" >"$R/.ckpt-00000999.77.tmp"
i=0
while [ "$(cat "$R/eval/metrics.jsonl" 2>/dev/null | wc -l)" -lt "$(grep -c '^  - step:' "$R/checkpoints.yaml")" ] && [ $i -lt 300 ]; do
  sleep 0.1; i=$((i + 1))
done
check "recreate: the first run's checkpoints were evaluated" sh -c "[ \$(wc -l <'$R/eval/metrics.jsonl') -ge 2 ]"
rm -rf "$R"
sleep 0.2
"$BIN/train" --train-dir "$R" --config "$CFG" --quiet --steps 50 --set train.checkpoint_every=25 >"$T/rb.out" 2>&1
wait $pe
rc=$?
check "recreate: the watch starts over on the new directory and ends 0" sh -c "
  [ $rc -eq 0 ] && grep -q 'was deleted or replaced; starting over' '$T/r.out'"
check "recreate: only the new run's checkpoints are in the new series" steps_are "$R/eval/metrics.jsonl" "25 50"
