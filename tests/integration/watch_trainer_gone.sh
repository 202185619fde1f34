#!/bin/sh
# eval --watch tells once that a local trainer died (kill -9) while the run says "running", and
# keeps waiting for a resumed run, which it then follows to the end.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
D=$T/run
"$BIN/eval" --watch "$D" --num-examples 100 --timeout 60 >"$T/eval.out" 2>&1 &
ev=$!
"$BIN/train" --train-dir "$D" --config "$CFG" --steps 100000 --quiet --set train.checkpoint_every=50 >/dev/null 2>&1 &
tr=$!
for _ in $(seq 200); do grep -q 'step: 100$' "$D/checkpoints.yaml" 2>/dev/null && break; sleep 0.05; done
kill -9 $tr
wait $tr 2>/dev/null
for _ in $(seq 100); do grep -q "no longer running" "$T/eval.out" && break; sleep 0.1; done
check "the evaluator says the trainer is gone, once, and waits" sh -c "
  [ \$(grep -c 'the trainer (pid $tr) is no longer running and the run.s status is running; waiting for train to resume it' '$T/eval.out') -eq 1 ] &&
  kill -0 $ev"
last=$(sed -n 's/^  - step: //p' "$D/checkpoints.yaml" | tail -1)
check "the run resumes" "$BIN/train" --train-dir "$D" --steps $((last + 60)) --quiet
wait $ev
rc=$?
check "the evaluator follows the resumed run to its end and exits 0" sh -c "
  [ $rc -eq 0 ] && grep -q 'status is final and every checkpoint is dealt with' '$T/eval.out' &&
  grep -q 'step $((last + 60)) ' '$T/eval.out'"
