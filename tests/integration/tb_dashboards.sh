#!/bin/sh
# TensorBoard's dashboards beyond scalars, read back from the real binaries' event files and
# decoded against summary.proto / tensor.proto (events.py tensors()): the text dashboard's config
# (a markdown code block of the effective config, as config.yaml holds it) and model table at
# step 0 of a new run, written once (a resume does not repeat them); the files pass the
# independent checker.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
D=$T/run
PY="/usr/bin/python3"
tensors() { # tensors DIR PYEXPR: asserts PYEXPR over ts, the tensor summaries of DIR's files
  $PY -c "
import glob, sys
sys.path.insert(0, '$ROOT/tests/integration')
import events
ts = [t for f in sorted(glob.glob('$1/events.out.tfevents.*')) for t in events.tensors(f)]
$2"
}
check "a new run" "$BIN/train" --train-dir "$D" --config "$CFG" --steps 40 --threads 1 --quiet \
  --set train.checkpoint_every=20
check "text: config at step 0, a markdown yaml block of the effective config (config.yaml)" tensors "$D" "
c = [t for t in ts if t['tag'] == 'config']
assert len(c) == 1 and c[0]['step'] == 0, c
t = c[0]
assert (t['plugin'], t['data_class'], t['dtype'], t['dims']) == ('text', 2, 7, []), t
want = '\`\`\`yaml\n' + open('$D/config.yaml').read() + '\`\`\`\n'
assert t['strings'] == [want.encode()], (t['strings'][0][:200], want[:200])"
check "text: the model table at step 0, one row per layer with its parameter count" tensors "$D" "
m = [t for t in ts if t['tag'] == 'model']
assert len(m) == 1 and m[0]['step'] == 0 and m[0]['plugin'] == 'text', m
rows = m[0]['strings'][0].decode().splitlines()
assert rows[0] == '| layer | kind | output | params | FLOPs/example |', rows
assert '| dense_1 | dense | [512] | 401920 | 803328 |' in rows, rows
assert 'total: 535818 trainable + 0 non-trainable parameters' in rows, rows"
check "resume" "$BIN/train" --train-dir "$D" --steps 60 --threads 1 --quiet \
  --set train.checkpoint_every=20
check "a resume writes no second config or model text" tensors "$D" "
tags = sorted(t['tag'] for t in ts if t['plugin'] == 'text')
assert tags == ['config', 'model'], tags"
if [ -f "$CHECKERS/tfevents_check.py" ]; then
  check "the event files pass the independent checker (--strict)" \
    $PY "$CHECKERS/tfevents_check.py" --strict --quiet "$D"
else
  skip "independent event checker" "tfevents_check.py not found in $CHECKERS"
fi
