#!/bin/sh
# TensorBoard's dashboards beyond scalars, read back from the real binaries' event files and
# decoded against summary.proto / tensor.proto (events.py tensors()): the text dashboard's config
# (a markdown code block of the effective config, as config.yaml holds it) and model table at
# step 0 of a new run, written once (a resume does not repeat them); the HParams session start
# (the config's hyperparameters, step 0, once) and end (SUCCESS at the final step, FAILURE where
# the run diverged); the files
# pass the independent checker (which does not look inside HParamsPluginData: decoded here).
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
# HParamsPluginData (plugin_data.proto) decoded from PluginData.content with events.fields.
HP="
def msg(b): return dict((n, v) for n, _, v in events.fields(b))
import struct
dbl = lambda v: struct.unpack('<d', v)[0]
hp = [t for t in ts if t['plugin'] == 'hparams']
starts = [t for t in hp if t['tag'] == '_hparams_/session_start_info']
ends = [t for t in hp if t['tag'] == '_hparams_/session_end_info']
for t in hp:
    assert (t['data_class'], t['dtype'], t['dims'], t['floats']) == (2, 1, [], [0.0]), t
    assert msg(t['content']).get(1, 0) == 0, t  # version 0
"
check "hparams: one session start at step 0 with the config's hyperparameters" tensors "$D" "$HP
assert len(starts) == 1 and starts[0]['step'] == 0, starts
info = msg(msg(starts[0]['content'])[3])
got = {}
for n, _, e in events.fields(msg(starts[0]['content'])[3]):
    if n == 1:
        kv = msg(e); v = msg(kv[2])
        got[kv[1].decode()] = v[3].decode() if 3 in v else dbl(v[2])
want = {'optimizer': 'adam', 'learning_rate': 0.001, 'schedule': 'cosine', 'warmup_steps': 200.0,
        'weight_decay': 0.0, 'batch_size': 128.0, 'steps': 40.0, 'seed': 42.0, 'depth': 3.0,
        'width': 512.0}
assert got == want, got
assert info.get(4, b'') == b'' and dbl(info[5]) > 1.7e9, info"
check "hparams: a session end (status SUCCESS) at the final step" tensors "$D" "$HP
assert [t['step'] for t in ends] == [40], ends
e = msg(msg(ends[0]['content'])[4])
assert e[1] == 1 and dbl(e[2]) >= dbl(msg(msg(starts[0]['content'])[3])[5]), e"
check "resume" "$BIN/train" --train-dir "$D" --steps 60 --threads 1 --quiet \
  --set train.checkpoint_every=20
check "a resume writes no second config or model text" tensors "$D" "
tags = sorted(t['tag'] for t in ts if t['plugin'] == 'text')
assert tags == ['config', 'model'], tags"
check "hparams after the resume: still one session start; the resumed run's end at its final step" \
  tensors "$D" "$HP
assert [t['step'] for t in starts] == [0], starts
assert [t['step'] for t in ends] == [40, 60], ends"
DV=$T/diverge
"$BIN/train" --train-dir "$DV" --config "$CFG" --steps 300 --threads 1 --quiet \
  --set optimizer.type=sgd --set optimizer.learning_rate=1000 --set optimizer.schedule=constant \
  --set optimizer.warmup_steps=0 --set train.checkpoint_every=1 >/dev/null 2>"$T/diverge.err"
check "a diverging run exits 1" test $? -eq 1
bad=$(sed -n 's/.*step \([0-9]*\): .*training diverged.*/\1/p' "$T/diverge.err")
check "hparams: a diverged run's session ends with status FAILURE at its last whole step" \
  tensors "$DV" "$HP
assert [t['step'] for t in ends] == [${bad:-0} - 1], (ends, '$bad')
e = msg(msg(ends[0]['content'])[4])
assert e[1] == 2 and dbl(e[2]) >= dbl(msg(msg(starts[0]['content'])[3])[5]), e"
if [ -f "$CHECKERS/tfevents_check.py" ]; then
  check "the event files pass the independent checker (--strict)" \
    $PY "$CHECKERS/tfevents_check.py" --strict --quiet "$D"
else
  skip "independent event checker" "tfevents_check.py not found in $CHECKERS"
fi
