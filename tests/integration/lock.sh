#!/bin/sh
# DIR/LOCK survives its file being removed: with the real binaries, a train running, its LOCK
# file deleted, a second train on the same directory is refused (and leaves no LOCK behind),
# the first one carries on committing and stops cleanly; the same for an evaluator's
# DIR/NAME/LOCK.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml

D=$T/run
"$BIN/train" --train-dir "$D" --config "$CFG" --steps 100000 --threads 1 --quiet \
  --set train.checkpoint_every=20 >"$T/a.out" 2>&1 &
pa=$!
for _ in $(seq 100); do grep -q 'step: 20$' "$D/checkpoints.yaml" 2>/dev/null && break; sleep 0.1; done
check "the first train holds the lock" grep -q "pid $pa" "$D/LOCK"
rm -f "$D/LOCK"
expect_fail "a second train is refused although LOCK was removed" 1 \
  "LOCK: another train holds this directory \(holder unknown\)" \
  "$BIN/train" --train-dir "$D" --steps 10 --threads 1
check "the refused train left no LOCK file and did not touch the manifest" sh -c "
  [ ! -e '$D/LOCK' ] && grep -q 'pid: $pa$' '$D/checkpoints.yaml'"
n1=$(grep -c '^  - step:' "$D/checkpoints.yaml")
for _ in $(seq 100); do
  [ "$(grep -c '^  - step:' "$D/checkpoints.yaml")" -gt "$n1" ] && break
  sleep 0.1
done
check "the first train goes on committing" test "$(grep -c '^  - step:' "$D/checkpoints.yaml")" -gt "$n1"
kill -TERM $pa
wait $pa
rc=$?
check "and stops cleanly on SIGTERM" sh -c "[ $rc -eq 0 ] && grep -q '^status: interrupted' '$D/checkpoints.yaml'"
check "after it, the directory can be trained again" "$BIN/train" --train-dir "$D" \
  --steps "$(($(sed -n 's/^  - step: //p' "$D/checkpoints.yaml" | tail -1) + 5))" --threads 1 --quiet

# The evaluator's DIR/NAME/LOCK, removed under a running eval --watch.  A train runs meanwhile,
# so the run is not terminal and the first evaluator keeps watching (on a final run it would
# finish its backlog and exit before the second one starts).
"$BIN/train" --train-dir "$D" --steps 100000 --threads 1 --quiet >"$T/b.out" 2>&1 &
pb=$!
for _ in $(seq 100); do grep -q "^pid: $pb\$" "$D/checkpoints.yaml" 2>/dev/null && break; sleep 0.1; done
"$BIN/eval" --watch "$D" --num-examples 100 --timeout 30 >"$T/e1.out" 2>&1 &
pe=$!
for _ in $(seq 100); do [ -f "$D/eval/state.yaml" ] && grep -q "pid $pe" "$D/eval/LOCK" 2>/dev/null && break; sleep 0.1; done
rm -f "$D/eval/LOCK"
expect_fail "a second evaluator of the same name is refused although its LOCK was removed" 1 \
  "eval/LOCK: another eval --name eval is watching .* \(holder unknown\); give this one another --name" \
  "$BIN/eval" --watch "$D" --num-examples 100 --timeout 1
check "the first evaluator was still watching when the second was refused" kill -0 $pe
kill -TERM $pe
wait $pe
check "the first evaluator stops cleanly" test $? -eq 0
kill -TERM $pb
wait $pb
check "the train beside them stops cleanly too" test $? -eq 0
