#!/bin/sh
# A TensorBoard already running during a kill -9 and resume: train writes a SessionLog START in
# each new event file, so TensorBoard's purge rule (events.py --tensorboard applies it) drops the
# orphaned records it read before the resume; the live view then equals a fresh one, each step
# once, and the files pass the independent checker.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
EV="/usr/bin/python3 $ROOT/tests/integration/events.py"
D=$T/run
COMMON="--steps 600 --threads 1 --quiet --set train.checkpoint_every=200 --set train.summary_every=20
  --set train.validate_every=50 --set train.validate_batches=2 --set train.max_to_keep=0"


"$BIN/train" --train-dir "$D" --config "$CFG" $COMMON >/dev/null 2>&1 &
pid=$!
# Kill once validation has written a step past the checkpoint at 200 (orphans in both runs).
for _ in $(seq 1500); do
  [ -d "$D/validation" ] && $EV "$D/validation" 2>/dev/null | grep -q '^250 loss ' && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
check "killed after checkpoint 200 with records past it" sh -c "
  grep -q '^status: running' '$D/checkpoints.yaml' && ! grep -q 'step: 400\$' '$D/checkpoints.yaml'"
# What a live TensorBoard has read: the files as they were at the kill.
mkdir -p "$T/seen/train" "$T/seen/validation"
cp "$D"/events.out.tfevents.* "$T/seen/train/"
cp "$D"/validation/events.out.tfevents.* "$T/seen/validation/"
check "resume after kill -9" "$BIN/train" --train-dir "$D" $COMMON

# run, its directory, the step of the first run's START and of the resumed run's.
for spec in "train $D 1 201" "validation $D/validation 50 250"; do
  set -- $spec
  run=$1 dir=$2 first=$3 resumed=$4
  # Live view: the old files as read before the kill (their purge replaced the inode, which an
  # open reader never sees), then the files the resumed run created.
  tb_views "$T/seen/$run" "$dir" "$T/$run"
  check "$run: without the purge rule the live view repeats steps (the test sees orphans)" \
    test -n "$(bad_series <"$T/$run.nopurge")"
  check "$run: a live TensorBoard shows each step once, ascending" \
    test -z "$(bad_series <"$T/$run.live")"
  check "$run: the live view equals a freshly started TensorBoard's" cmp "$T/$run.live" "$T/$run.fresh"
  starts=$(for f in $(files "$dir"); do $EV "$f" | sed -n 1p; done | tr '\n' ,)
  check "$run: each file begins with a SessionLog START (the resumed one's just past the checkpoint)" \
    test "$starts" = "$first SessionLog.START,$resumed SessionLog.START,"
done
awk '$2 == "loss" {print $1}' "$T/train.live" >"$T/steps"
seq 20 20 600 >"$T/want"
check "train loss: every summary step once in the live view" cmp "$T/steps" "$T/want"
awk '$2 == "loss" {print $1}' "$T/validation.live" >"$T/vsteps"
seq 50 50 600 >"$T/vwant"
check "validation loss: every validation step once in the live view" cmp "$T/vsteps" "$T/vwant"
if [ -f "$CHECKERS/tfevents_check.py" ]; then
  check "the resumed run's event files pass the independent checker (--strict)" \
    /usr/bin/python3 "$CHECKERS/tfevents_check.py" --strict --quiet "$D"
else
  echo "skip - independent event checker: tfevents_check.py not found in $CHECKERS"
fi
