#!/bin/sh
# Checkpoints are written and committed on a background thread (train/saver.h): with a save every
# step there is always one in flight, yet the commits come in step order, each reported once with
# the time training paused for it, every committed file verifies, and nothing temporary is left;
# SIGTERM with a save in flight waits for it, then saves the final step (status interrupted); a
# run saved in the background resumes bitwise where a straight run ends.
. "$(dirname "$0")/lib.sh"
# the MLP of small_config with narrow layers: a small file, so that saving every step stays quick
sed -e 's/^\( *epochs:\).*/\1 1/' -e 's/units: 512/units: 32/' -e 's/units: 256/units: 16/' \
  "$ROOT/configs/fashion_mlp.yaml" >"$T/c.yaml"
D=$T/every
check "a run saving every step" sh -c "'$BIN/train' --train-dir '$D' --config '$T/c.yaml' --steps 40 \
  --threads 1 --verbose --set train.checkpoint_every=1 --set train.max_to_keep=0 >'$T/every.out' 2>&1"
seq 1 40 >"$T/want"
sed -n 's/^checkpoint ckpt-0*\([0-9]*\)\.h5 committed (step \([0-9]*\), [a-z]*), training paused [0-9.]* ms ([0-9.]* ms of CPU)$/\1 \2/p' \
  "$T/every.out" | awk '$1 == $2 { print $1 }' >"$T/reported"
check "each commit reported once, in step order, with the pause" cmp "$T/reported" "$T/want"
grep -o 'step: [0-9]*$' "$D/checkpoints.yaml" | sed 's/step: //' >"$T/listed"
check "the manifest lists steps 1..40 in order" cmp "$T/listed" "$T/want"
check "nothing temporary left" sh -c "! ls -a '$D' | grep -q tmp"
check "every committed checkpoint verifies" sh -c "
  for s in 1 13 27 40; do '$BIN/eval' --train-dir '$D' --ckpt \$s --num-examples 20 >/dev/null || exit 1; done"

S=$T/term
"$BIN/train" --train-dir "$S" --config "$T/c.yaml" --steps 100000 --threads 1 --quiet \
  --set train.checkpoint_every=1 --set train.max_to_keep=3 >"$T/term.out" 2>&1 &
pid=$!
for _ in $(seq 1500); do grep -q "step: 30$" "$S/checkpoints.yaml" 2>/dev/null && break; sleep 0.02; done
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM with a save in flight exits 0, status interrupted, the last save reason signal" sh -c "
  [ $rc -eq 0 ] && grep -q '^status: interrupted' '$S/checkpoints.yaml' &&
  tail -2 '$S/checkpoints.yaml' | grep -q 'reason: signal'"
check "the checkpoints listed after SIGTERM are in step order and on disk" /usr/bin/python3 -c "
import yaml, os
c = yaml.safe_load(open('$S/checkpoints.yaml'))['checkpoints']
s = [e['step'] for e in c]
assert len(s) == 3 and s == sorted(s) and len(set(s)) == 3, s
assert all(os.path.exists('$S/' + e['file']) for e in c)
assert sorted(f for f in os.listdir('$S') if f.endswith('.h5')) == [e['file'] for e in c]
"
check "nothing temporary left after SIGTERM" sh -c "! ls -a '$S' | grep -q tmp"
check "the interrupted run's final checkpoint evaluates" "$BIN/eval" --train-dir "$S" --num-examples 20

R=$T/resumed
check "a run to step 20 saving every 3 steps" "$BIN/train" --train-dir "$R" --config "$T/c.yaml" --steps 20 \
  --threads 1 --quiet --set train.checkpoint_every=3
check "resumed to step 40" "$BIN/train" --train-dir "$R" --steps 40 --threads 1 --quiet
check "ends bitwise where the run saving every step did" /usr/bin/python3 -c "
import h5py
a, b = h5py.File('$D/ckpt-00000040.h5', 'r'), h5py.File('$R/ckpt-00000040.h5', 'r')
names = []
a['variables'].visit(lambda n: names.append(n) if isinstance(a['variables'][n], h5py.Dataset) else None)
assert names and all(a['variables'][n][()].tobytes() == b['variables'][n][()].tobytes() for n in names)
"
