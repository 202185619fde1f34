#!/bin/sh
# Eval-aware retention with the real binaries.  The slow evaluator is made as slow as can be,
# deterministically: it is suspended (SIGSTOP) once it has announced itself in state.yaml, the
# trainer runs to the end with max_to_keep 1, and the evaluator is resumed (SIGCONT).  Nothing it
# had not reached may have been deleted, nothing crashes, and it evaluates every checkpoint;
# with retention.max_unevaluated 2 the manifest never names more than max_to_keep + 2, the ones
# kept are the next the evaluator reads, and the evaluator still ends cleanly.  A live run with
# a throttled evaluator (--min-interval) checks the same while both move.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml

# start_suspended DIR OUT ARGS...: an evaluator on DIR, suspended once its state.yaml exists;
# its pid in $pe.
start_suspended() {
  d=$1 out=$2
  shift 2
  mkdir -p "$d"
  "$BIN/eval" --watch "$d" --num-examples 200 --timeout 60 "$@" >"$out" 2>&1 &
  pe=$!
  i=0
  while [ ! -f "$d/eval/state.yaml" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
  kill -STOP $pe
}

# --- max_to_keep 1, an evaluator that has not read anything yet ---
D=$T/keep
start_suspended "$D" "$T/a.out"
check "train with max_to_keep 1 while the evaluator is suspended" "$BIN/train" --train-dir "$D" \
  --config "$CFG" --quiet --steps 80 --set train.checkpoint_every=10 --set train.max_to_keep=1
check "nothing the evaluator had not reached was deleted" sh -c "
  [ \$(grep -c '^  - step:' '$D/checkpoints.yaml') -eq 8 ] && [ \$(ls '$D' | grep -c '^ckpt-.*\.h5$') -eq 8 ]"
kill -CONT $pe
wait $pe
rc=$?
check "resumed, the evaluator evaluates every checkpoint, none skipped, and exits 0" /usr/bin/python3 -c "
import json
assert $rc == 0, open('$T/a.out').read()
steps=[json.loads(l)['step'] for l in open('$D/eval/metrics.jsonl')]
assert steps==list(range(10, 81, 10)), steps
assert 'skipped' not in open('$D/eval/state.yaml').read()"
check "the next commit lets go of what is evaluated (max_to_keep plus the best stay)" sh -c "
  '$BIN/train' --train-dir '$D' --quiet --steps 90 >/dev/null &&
  [ \$(grep -c '^  - step:' '$D/checkpoints.yaml') -le 2 ] && grep -q 'step: 90$' '$D/checkpoints.yaml'"

# --- the bound: retention.max_unevaluated 2 ---
B=$T/bound
start_suspended "$B" "$T/b.out"
check "train with max_to_keep 1, max_unevaluated 2 while the evaluator is suspended" \
  "$BIN/train" --train-dir "$B" --config "$CFG" --quiet --steps 60 --set train.checkpoint_every=5 \
  --set train.max_to_keep=1 --set retention.max_unevaluated=2
check "bound: max_to_keep + max_unevaluated kept: the newest and the next two to evaluate" sh -c "
  [ \$(grep -c '^  - step:' '$B/checkpoints.yaml') -eq 3 ] && [ \$(ls '$B' | grep -c '^ckpt-.*\.h5$') -eq 3 ] &&
  test -f '$B/ckpt-00000005.h5' && test -f '$B/ckpt-00000010.h5' && test -f '$B/ckpt-00000060.h5'"
kill -CONT $pe
wait $pe
rc=$?
check "bound: the evaluator evaluates what was kept and exits 0" /usr/bin/python3 -c "
import json
assert $rc == 0, open('$T/b.out').read()
steps=[json.loads(l)['step'] for l in open('$B/eval/metrics.jsonl') if 'skipped' not in json.loads(l)]
assert steps==[5, 10, 60], steps
assert 'outcome: failed' not in open('$B/eval/state.yaml').read()"
check "bound: each checkpoint retention deleted first is a skipped line, in order, and counted" /usr/bin/python3 -c "
import json, re
lines=[json.loads(l) for l in open('$B/eval/metrics.jsonl')]
assert [l['step'] for l in lines]==list(range(5, 61, 5)), [l['step'] for l in lines]
gone=[l for l in lines if 'skipped' in l]
assert [l['step'] for l in gone]==list(range(15, 56, 5)), gone
for l in gone:
    assert l['skipped']=='deleted by retention before evaluation' and l['checkpoint']=='ckpt-%08d.h5' % l['step'], l
    assert 'accuracy' not in l and l['evaluator']=='eval', l
st=open('$B/eval/state.yaml').read()
assert all('step: %d, outcome: skipped, error: \"deleted by retention before evaluation\"' % s in st for s in range(15, 56, 5)), st
out=open('$T/b.out').read()
assert re.search(r'3 evaluated, 0 failed, 9 skipped \\(9 deleted by retention before evaluation\\)', out), out
assert 'step 15: ckpt-00000015.h5 was deleted by retention before it could be evaluated (skipped)' in out, out"

/usr/bin/python3 "$ROOT/tests/integration/events.py" "$B/eval" >"$T/b.events" 2>&1
check "bound: TensorBoard scalar skipped_checkpoints counts them at their steps (1 at 15 .. 9 at 55)" sh -c \
  "test \"\$(grep ' skipped_checkpoints ' '$T/b.events' | tr '\n' ' ')\" = \"\$(for i in 1 2 3 4 5 6 7 8 9; do printf '%d skipped_checkpoints %s ' \$((10 + 5 * i)) \$i; done)\""

"$BIN/eval" --watch "$B" --name late --num-examples 200 >"$T/late.out" 2>&1
rc=$?
check "bound: an evaluator started after the deletions does not report them, and exits 0" /usr/bin/python3 -c "
import json
assert $rc == 0, open('$T/late.out').read()
lines=[json.loads(l) for l in open('$B/late/metrics.jsonl')]
assert [l['step'] for l in lines]==[5, 10, 60] and not any('skipped' in l for l in lines), lines
assert 'retired_baseline: 55' in open('$B/late/state.yaml').read()
assert 'deleted by retention' not in open('$T/late.out').read()"

# --- live: a throttled evaluator beside the trainer ---
L=$T/live
mkdir -p "$L"
"$BIN/eval" --watch "$L" --num-examples 200 --min-interval 0.2 --timeout 60 >"$T/c.out" 2>"$T/c.err" &
pe=$!
i=0
while [ ! -f "$L/eval/state.yaml" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
check "train with max_to_keep 1 beside a throttled evaluator" "$BIN/train" --train-dir "$L" \
  --config "$CFG" --quiet --steps 60 --set train.checkpoint_every=10 --set train.max_to_keep=1
wait $pe
rc=$?
check "live: every checkpoint evaluated, none skipped, no error, exit 0" /usr/bin/python3 -c "
import json
assert $rc == 0
steps=[json.loads(l)['step'] for l in open('$L/eval/metrics.jsonl')]
assert steps==list(range(10, 61, 10)), steps
assert 'skipped' not in open('$L/eval/state.yaml').read()
assert open('$T/c.err').read()=='', open('$T/c.err').read()"
