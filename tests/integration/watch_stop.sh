#!/bin/sh
# eval --watch with forced polling end to end, and cross-process early stopping end to end: the
# evaluator's DIR/STOP makes train save a checkpoint, mark the run early_stopped and exit 0;
# the evaluator evaluates that last checkpoint and exits 0.  A STOP left from before a run is
# set aside when train starts, not obeyed.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml

# --- forced polling, evaluator started before DIR exists ---
P=$T/poll/run
"$BIN/eval" --watch "$P" --poll=0.1 --num-examples 200 --timeout 60 >"$T/p.out" 2>&1 &
pe=$!
check "train beside a polling evaluator" "$BIN/train" --train-dir "$P" --config "$CFG" --quiet \
  --steps 100 --set train.checkpoint_every=25
wait $pe
rc=$?
check "polling: every checkpoint evaluated once, exit 0 by itself" /usr/bin/python3 -c "
import json
assert $rc == 0
steps=[json.loads(l)['step'] for l in open('$P/eval/metrics.jsonl')]
assert steps==[25, 50, 75, 100], steps"
check "polling: it said it polls" grep -q "polling every 0.1 s (asked)" "$T/p.out"

# --- early stopping across processes ---
# --min-delta 0.5: no later accuracy can beat the first by that much, so after the first result
# and 2 more the patience is used up.
E=$T/early
"$BIN/eval" --watch "$E" --num-examples 200 --early-stop-patience 2 --min-delta 0.5 --timeout 60 \
  >"$T/e.out" 2>&1 &
pe=$!
"$BIN/train" --train-dir "$E" --config "$CFG" --steps 5000 --set train.checkpoint_every=20 \
  --set train.max_to_keep=2 >"$T/t.out" 2>&1
rct=$?
wait $pe
rce=$?
check "early stop: train exits 0, status early_stopped, long before its last step" sh -c "
  [ $rct -eq 0 ] && grep -q '^status: early_stopped' '$E/checkpoints.yaml' &&
  grep -q 'early stop requested at step [0-9]* by .*STOP (evaluator eval on ' '$T/t.out' &&
  last=\$(grep '^  - step:' '$E/checkpoints.yaml' | tail -1 | sed 's/.*: //') && [ \$last -lt 1000 ]"
check "early stop: the last checkpoint is the early_stop one" sh -c "
  tail -1 '$E/checkpoints.yaml' | grep -q 'reason: early_stop'"
check "early stop: the evaluator wrote STOP after 3 results and says so" sh -c "
  grep -q 'wrote $E/STOP: accuracy has not improved by more than 0.5 for 2 evaluations' '$T/e.out' &&
  grep -q '^stop_requested: 60$' '$E/eval/state.yaml'"
check "early stop: train marked the request handled" sh -c "
  test ! -e '$E/STOP' && grep -q '^by: eval$' '$E/STOP.handled' && grep -q '^step: 60$' '$E/STOP.handled' &&
  grep -q '^best_step: 20$' '$E/STOP.handled'"
check "early stop: the evaluator evaluated the last checkpoint and exited 0" /usr/bin/python3 -c "
import json, re
assert $rce == 0
steps=[json.loads(l)['step'] for l in open('$E/eval/metrics.jsonl')]
last=int(re.findall(r'^  - step: (\d+)', open('$E/checkpoints.yaml').read(), re.M)[-1])
assert steps[-1]==last and steps[:3]==[20, 40, 60] and steps==sorted(set(steps)), (steps, last)"
check "early stop: the evaluator says why it ended" grep -q "status is early_stopped and every checkpoint is dealt with" "$T/e.out"

# --- a stale STOP (no trainer was there to act on it) does not stop the next run ---
cp "$E/STOP.handled" "$E/STOP"
last=$(grep '^  - step:' "$E/checkpoints.yaml" | tail -1 | sed 's/.*: //')
"$BIN/train" --train-dir "$E" --steps $((last + 20)) >"$T/r.out" 2>&1
rc=$?
check "a STOP from before the run is set aside and the resumed run trains to its end" sh -c "
  [ $rc -eq 0 ] && grep -q 'STOP predates this run' '$T/r.out' && test ! -e '$E/STOP' &&
  grep -q '^status: final' '$E/checkpoints.yaml' && grep -q 'step: $((last + 20))$' '$E/checkpoints.yaml'"
