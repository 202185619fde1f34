#!/bin/sh
# eval --watch end to end with the real binaries: two evaluators (test and valid, different
# names) started before the train_dir exists, train running to the end beside them; a result
# for every committed checkpoint, each exactly once, and both evaluators exit 0 by themselves.
# Also: the outputs in DIR/NAME/ (metrics.jsonl, state.yaml, best.h5, TensorBoard events), a
# second evaluator of the same name refused, usage errors.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
EV="/usr/bin/python3 $ROOT/tests/integration/events.py"
D=$T/runs/mlp

# --- usage ---
expect_fail "watch: --policy must be all or latest" 2 "policy: expected all or latest, got 'some'" "$BIN/eval" --watch "$D" --policy some
expect_fail "watch: --name must be a plain name" 2 "name: expected 1..63 of" "$BIN/eval" --watch "$D" --name ../x
expect_fail "watch: --poll needs --watch" 2 "poll needs --watch DIR" "$BIN/eval" --ckpt x --poll
expect_fail "watch: no --ckpt with --watch" 2 "takes no --ckpt or --train-dir" "$BIN/eval" --watch "$D" --ckpt latest
expect_fail "watch: --timeout must be seconds" 2 "timeout: expected a number of seconds" "$BIN/eval" --watch "$D" --timeout soon
check "eval --help documents --watch" sh -c "'$BIN/eval' --help | grep -q -- '--watch DIR'"

# --- two evaluators, started before DIR exists ---
"$BIN/eval" --watch "$D" --num-examples 500 --timeout 60 >"$T/e1.out" 2>"$T/e1.err" &
p1=$!
"$BIN/eval" --watch "$D" --name valid --split valid --num-examples 300 --subset-seed 7 \
  --metric loss --timeout 60 --json >"$T/e2.out" 2>"$T/e2.err" &
p2=$!
sleep 0.3
check "train 200 steps beside two evaluators" "$BIN/train" --train-dir "$D" --config "$CFG" --quiet \
  --steps 200 --set train.checkpoint_every=25 --set train.max_to_keep=2
# The same NAME twice is refused while the first runs (it may have finished already: then the
# lock is free and the second one simply has nothing to do).
"$BIN/eval" --watch "$D" --num-examples 500 --timeout 0 >"$T/e3.out" 2>"$T/e3.err"
rc3=$?
check "a second evaluator of one name is refused, or finds nothing to do" sh -c "
  { [ $rc3 -eq 1 ] && grep -q 'another eval --name eval is watching' '$T/e3.err'; } || [ $rc3 -eq 0 ]"
wait $p1
rc1=$?
wait $p2
rc2=$?
check "both evaluators exit 0 by themselves" sh -c "[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ]" 
check "the evaluator says why it stopped" grep -q "status is final and every checkpoint is dealt with" "$T/e1.out"
check "the first evaluator waited for DIR to appear" grep -q "waiting for $D to appear" "$T/e1.out"

STEPS="25 50 75 100 125 150 175 200"
for n in eval valid; do
  check "$n: one metrics line per committed checkpoint, in step order, none twice" /usr/bin/python3 -c "
import json
steps=[json.loads(l)['step'] for l in open('$D/$n/metrics.jsonl')]
assert steps==[int(s) for s in '$STEPS'.split()], steps"
  check "$n: state.yaml cursor at the last step, every outcome ok" sh -c "
    grep -q '^cursor: 200$' '$D/$n/state.yaml' && [ \$(grep -c 'outcome: ok' '$D/$n/state.yaml') -eq 8 ] &&
    ! grep -q 'outcome: failed\|outcome: skipped' '$D/$n/state.yaml'"
  check "$n: no pin left behind" sh -c "! ls '$D/$n' | grep -q '^pin-'"
done
check "metrics lines carry provenance, per-class figures and the confusion matrix" /usr/bin/python3 -c "
import json
for n, split, ex in (('eval','test',500), ('valid','valid',300)):
    lines=[json.loads(l) for l in open('$D/'+n+'/metrics.jsonl')]
    for o in lines:
        for k in ('step','checkpoint','checksum','split','num_examples','subset_hash','subset_seed',
                  'loss','accuracy','top5','macro_f1','per_class','confusion',
                  'checkpoint_wall_time','eval_wall_time','lag_steps','lag_seconds','evaluator'):
            assert k in o, (n, k)
        assert o['split']==split and o['num_examples']==ex and o['evaluator']==n, o
        assert o['checkpoint']=='ckpt-%08d.h5' % o['step'] and o['checksum'].startswith('crc32c:')
        assert len(o['confusion'])==10 and all(len(r)==10 for r in o['confusion'])
        assert sum(map(sum, o['confusion']))==ex
        assert len(o['per_class']['f1'])==10 and sum(o['per_class']['support'])==ex
        assert abs(sum(o['per_class']['f1'])/10-o['macro_f1'])<1e-6
        assert abs(sum(o['confusion'][i][i] for i in range(10))/ex-o['accuracy'])<1e-9
    assert len({o['subset_hash'] for o in lines})==1, 'the same examples for every checkpoint'
    assert lines[0]['subset_seed']==(7 if n=='valid' else None)
assert json.loads(open('$D/eval/metrics.jsonl').readline())['subset_hash'] != \
       json.loads(open('$D/valid/metrics.jsonl').readline())['subset_hash']"
check "--json prints exactly the metrics lines on stdout" cmp "$T/e2.out" "$D/valid/metrics.jsonl"

# best.h5: a hard link to the best checkpoint by the metric, whatever retention did since.
check "best.h5 is the best checkpoint by accuracy (max) and by loss (min)" /usr/bin/python3 -c "
import json, os, re, zlib
for n, key, better in (('eval','accuracy',max), ('valid','loss',min)):
    lines=[json.loads(l) for l in open('$D/'+n+'/metrics.jsonl')]
    best=better(lines, key=lambda o: o[key])
    state=open('$D/'+n+'/state.yaml').read()
    assert re.search(r'best: \{step: %d, file: %s,' % (best['step'], best['checkpoint']), state), state
    st=os.stat('$D/'+n+'/best.h5')
    assert st.st_nlink>=2, 'a hard link'
    assert st.st_size>1000000
"
check "best.h5 passes the checksum the manifest recorded for it" sh -c "
  step=\$(sed -n 's/^best: {step: \([0-9]*\),.*/\1/p' '$D/eval/state.yaml')
  '$BIN/eval' --ckpt '$D/eval/best.h5' --num-examples 100 | grep -q \"step         \$step\$\""
check "retention ran: max_to_keep 2 plus the evaluators' bests" sh -c "
  [ \$(ls '$D'/ckpt-*.h5 | wc -l) -le 4 ] && grep -q 'step: 200' '$D/checkpoints.yaml'"

# TensorBoard: the evaluator's run has train's tag names at the checkpoints' steps, plus lag.
$EV "$D/eval" >"$T/ev.txt" 2>&1
check "eval events: loss, accuracy, top5 at every checkpoint step, plus eval lag" /usr/bin/python3 -c "
rows=[l.split() for l in open('$T/ev.txt') if 'SessionLog' not in l]
by={}
for s,t,v in rows: by.setdefault(t,[]).append(int(s))
want=[int(s) for s in '$STEPS'.split()]
for t in ('loss','accuracy','top5','macro_f1','eval_lag_steps','eval_lag_seconds'):
    assert by.get(t)==want, (t, by.get(t))"
if [ -f "$CHECKERS/tfevents_check.py" ]; then
  check "eval event files pass the independent checker" /usr/bin/python3 "$CHECKERS/tfevents_check.py" --strict "$D/eval"
else
  skip "eval event files pass the independent checker" "no $CHECKERS/tfevents_check.py"
fi
check "the train run's own events have the same tag names" sh -c "$EV '$D' | grep -q ' accuracy '"

# A finished run watched again: nothing to redo, exit 0 at once.
"$BIN/eval" --watch "$D" --num-examples 500 >"$T/again.out" 2>&1
rc=$?
check "watching a finished, fully evaluated run ends at once" sh -c "
  [ $rc -eq 0 ] && grep -q 'going on after step 200' '$T/again.out' && grep -q '0 evaluated' '$T/again.out' &&
  [ \$(wc -l <'$D/eval/metrics.jsonl') -eq 8 ]"
expect_fail "another split under the same name is refused" 1 "evaluator eval has results on split test, the first 500 examples; asked for split valid.*another --name" \
  "$BIN/eval" --watch "$D" --split valid --num-examples 500
expect_fail "another metric under the same name is refused" 1 "evaluator eval follows accuracy \(max\); asked for --metric loss" \
  "$BIN/eval" --watch "$D" --num-examples 500 --metric loss
expect_fail "more examples than the split holds ends the watch with one line" 1 \
  "num-examples 100000: the test split has only 10000 examples" \
  "$BIN/eval" --watch "$D" --name big --num-examples 100000
