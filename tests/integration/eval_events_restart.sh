#!/bin/sh
# An evaluator killed (SIGKILL) after a checkpoint's event record and before its metrics.jsonl
# line: the restart purges the orphaned record and opens its event file with a SessionLog START
# past its cursor, so its event files hold each step once and a TensorBoard that read the orphan
# before the restart (events.py --tensorboard applies its purge rule) shows each step once too.
# The kill comes from the test hook TV_TEST_EVAL_KILL_AFTER_EVENT=STEP (eval/watch_loop.c).
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
EV="/usr/bin/python3 $ROOT/tests/integration/events.py"
D=$T/run

check "a finished run with checkpoints 50..200" "$BIN/train" --train-dir "$D" --config "$CFG" \
  --steps 200 --threads 1 --quiet --set train.checkpoint_every=50 --set train.max_to_keep=0
TV_TEST_EVAL_KILL_AFTER_EVENT=100 "$BIN/eval" --watch "$D" --num-examples 200 >"$T/a.out" 2>&1
rc=$?
check "the hook kills the evaluator after step 100's event record (SIGKILL)" test $rc -eq 137
check "metrics.jsonl holds step 50 only, the event file steps 50 and 100" sh -c "
  [ \"\$(grep -o '\"step\": [0-9]*' '$D/eval/metrics.jsonl' | tr '\n' ,)\" = '\"step\": 50,' ] &&
  [ \"\$($EV '$D/eval' | awk '\$2 == \"loss\" {print \$1}' | tr '\n' ,)\" = '50,100,' ]"
mkdir -p "$T/seen"
cp "$D"/eval/events.out.tfevents.* "$T/seen/"
"$BIN/eval" --watch "$D" --num-examples 200 >"$T/b.out" 2>&1
rc=$?
# The orphaned result is step 100's records: its scalars, images, text and PR curves.
orphans=$(for f in "$T"/seen/events.out.tfevents.*; do $EV --records "$f"; done | awk '$1 == 100' | wc -l)
check "step 100 left orphaned records (its scalars and figures: $orphans)" test "$orphans" -gt 1
check "the restart exits 0 and says it dropped the orphaned records" sh -c "
  [ $rc -eq 0 ] && grep -q 'dropped $orphans event records past step 50' '$T/b.out'"
check "metrics.jsonl: each checkpoint once" /usr/bin/python3 -c "
import json
steps=[json.loads(l)['step'] for l in open('$D/eval/metrics.jsonl')]
assert steps==[50, 100, 150, 200], steps"
$EV "$D/eval" >"$T/disk"
check "the event files on disk hold each eval step once, ascending" sh -c "
  [ \"\$(awk '\$2 == \"loss\" {print \$1}' '$T/disk' | tr '\n' ,)\" = '50,100,150,200,' ]"
check "no series on disk repeats a step or goes back" test -z "$(bad_series <"$T/disk")"
starts=$(for f in $(files "$D/eval"); do $EV "$f" | grep SessionLog | head -1; done | tr '\n' ,)
check "each event file begins with a START; the restart's at cursor + 1 (51)" \
  test "$starts" = "0 SessionLog.START,51 SessionLog.START,"
tb_views "$T/seen" "$D/eval" "$T/view"
check "without the purge rule the live view repeats step 100 (the test sees the orphan)" \
  test -n "$(bad_series <"$T/view.nopurge")"
check "a live TensorBoard shows each eval step once, ascending" test -z "$(bad_series <"$T/view.live")"
check "the live view equals a freshly started TensorBoard's" cmp "$T/view.live" "$T/view.fresh"
if [ -f "$CHECKERS/tfevents_check.py" ]; then
  check "the evaluator's event files pass the independent checker (--strict)" \
    /usr/bin/python3 "$CHECKERS/tfevents_check.py" --strict --quiet "$D"
else
  skip "independent event checker" "tfevents_check.py not found in $CHECKERS"
fi
