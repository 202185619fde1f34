#!/bin/sh
# End to end with the real binaries on the real Fashion-MNIST files: train a short run,
# checkpoints and manifest, one-shot eval, resume, both format checkers, lock and signals.
. "$(dirname "$0")/lib.sh"

D=$T/run
check "train 120 steps" "$BIN/train" --train-dir "$D" --config "$ROOT/configs/fashion_mlp.yaml" \
  --steps 120 --set train.checkpoint_every=50 --set train.summary_every=20 --set train.max_to_keep=2 --quiet
check "manifest final with the 2 newest checkpoints" sh -c "
  grep -q '^status: final' '$D/checkpoints.yaml' &&
  grep -c '^  - step:' '$D/checkpoints.yaml' | grep -qx 2 &&
  grep -q 'step: 100' '$D/checkpoints.yaml' && grep -q 'step: 120' '$D/checkpoints.yaml' &&
  test -f '$D/ckpt-00000120.h5' && test -f '$D/ckpt-00000100.h5' && test ! -e '$D/ckpt-00000050.h5'"
check "frozen config.yaml holds the effective config" sh -c "grep -q 'steps: 120' '$D/config.yaml' && grep -q 'checkpoint_every: 50' '$D/config.yaml'"
check "no temporary files left" sh -c "! ls -a '$D' | grep -q tmp"

"$BIN/eval" --train-dir "$D" --ckpt latest --json --num-examples 2000 >"$T/e.json" 2>"$T/e.err"
check "eval --json prints one object with the fields" /usr/bin/python3 -c "
import json,sys
lines=open('$T/e.json').read().splitlines()
assert len(lines)==1, lines
o=json.loads(lines[0])
for k in ('step','split','num_examples','loss','accuracy','top5','checkpoint'): assert k in o, k
assert o['step']==120 and o['split']=='test' and o['num_examples']==2000, o
assert o['accuracy']>0.70, o
assert o['verified'] is True, o
"
check "eval by step, valid split" sh -c "'$BIN/eval' --train-dir '$D' --ckpt 100 --split valid --num-examples 500 | grep -q 'split        valid (500 examples)'"
check "eval by path verifies against the manifest" sh -c "'$BIN/eval' --ckpt '$D/ckpt-00000120.h5' --num-examples 100 | grep -q 'checksum verified'"

# The same checkpoint evaluated twice gives the same numbers (deterministic inference).
"$BIN/eval" --train-dir "$D" --json --num-examples 1000 --batch-size 7 | sed 's/, "seconds.*//' >"$T/a"
"$BIN/eval" --train-dir "$D" --json --num-examples 1000 --batch-size 1000 | sed 's/, "seconds.*//' >"$T/b"
check "eval results do not depend on the batch size" /usr/bin/python3 -c "
import json
a=json.loads(open('$T/a').read()+'}'); b=json.loads(open('$T/b').read()+'}')
assert abs(a['loss']-b['loss'])<1e-5 and a['accuracy']==b['accuracy'], (a,b)"

if [ -f "$CHECKERS/tfevents_check.py" ]; then
  check "event files pass the independent checker" /usr/bin/python3 "$CHECKERS/tfevents_check.py" --strict "$D"
else
  skip "event files pass the independent checker" "no $CHECKERS/tfevents_check.py"
fi
if [ ! -f "$CHECKERS/h5ckpt_check.py" ]; then
  skip "checkpoint passes the independent checker" "no $CHECKERS/h5ckpt_check.py"
elif ! /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  skip "checkpoint passes the independent checker" "python3 has no h5py"
else
  check "checkpoint passes the independent checker" /usr/bin/python3 "$CHECKERS/h5ckpt_check.py" \
    --require /variables/dense_1/kernel:512x784 "$D/ckpt-00000120.h5"
fi
check "train scalars at every summary step" /usr/bin/python3 -c "
import sys; sys.path.insert(0, '$CHECKERS')
import glob, struct
steps = {}
for f in glob.glob('$D/events.out.tfevents.*'):
    data = open(f, 'rb').read(); i = 0
    while i < len(data):
        (n,) = struct.unpack_from('<Q', data, i); payload = data[i+12:i+12+n]; i += 16 + n
        # the step-0 text (config, model) and hparams summaries quote the tag names
        if b'\\n\\x04text' in payload or b'_hparams_/' in payload: continue
        for tag in (b'loss', b'accuracy', b'learning_rate', b'examples_per_sec'):
            if tag in payload: steps.setdefault(tag, 0); steps[tag] += 1
assert all(steps.get(t) == 6 for t in (b'loss', b'accuracy', b'learning_rate', b'examples_per_sec')), steps
"

# Resume: the run continues from step 120 to 200 without --config.
check "resume continues from the newest checkpoint" sh -c "
  '$BIN/train' --train-dir '$D' --steps 200 --set train.checkpoint_every=50 >'$T/resume.out' &&
  grep -q 'from step 120 to 200' '$T/resume.out'"
check "resumed run is final at step 200" sh -c "grep -q 'step: 200' '$D/checkpoints.yaml' && grep -q '^status: final' '$D/checkpoints.yaml'"
check "nothing to do when already at the target step" sh -c "
  '$BIN/train' --train-dir '$D' --steps 200 >'$T/again.out' && grep -q 'nothing to do' '$T/again.out'"

# Resume equals straight training (same thread count): parameters bitwise equal.
check "train 100 straight" "$BIN/train" --train-dir "$T/straight" --config "$ROOT/configs/fashion_mlp.yaml" --steps 100 --threads 1 --quiet
check "train 50 then resume to 100" sh -c "
  '$BIN/train' --train-dir '$T/split' --config '$ROOT/configs/fashion_mlp.yaml' --steps 50 --threads 1 --quiet &&
  '$BIN/train' --train-dir '$T/split' --steps 100 --threads 1 --quiet"
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  check "resumed parameters are bitwise equal to straight training" /usr/bin/python3 -c "
import h5py, numpy as np
a=h5py.File('$T/straight/ckpt-00000100.h5','r'); b=h5py.File('$T/split/ckpt-00000100.h5','r')
names=[]; a['variables'].visit(lambda n: names.append(n) if isinstance(a['variables'][n], h5py.Dataset) else None)
assert names
for n in names: assert np.array_equal(a['variables'][n][()], b['variables'][n][()]), n
"
else
  skip "resumed parameters are bitwise equal to straight training" "python3 has no h5py"
fi

# A second train on a locked directory is refused, naming the holder.
"$BIN/train" --train-dir "$T/locked" --config "$ROOT/configs/fashion_mlp.yaml" --steps 100000 --quiet &
pid=$!
for _ in $(seq 50); do grep -q running "$T/locked/checkpoints.yaml" 2>/dev/null && break; sleep 0.1; done
expect_fail "second train on a locked dir" 1 "LOCK: another train holds this directory \(host .* pid $pid\)" \
  "$BIN/train" --train-dir "$T/locked" --steps 10
# SIGTERM: checkpoint saved, status interrupted, exit 0.
kill -TERM $pid
wait $pid
rc=$?
check "SIGTERM exits 0 with a checkpoint and status interrupted" sh -c "
  [ $rc -eq 0 ] && grep -q '^status: interrupted' '$T/locked/checkpoints.yaml' && grep -q 'reason: signal' '$T/locked/checkpoints.yaml'"
