#!/bin/sh
# The training loop at production strength, with the real binary: exact resume after kill -9,
# checkpoint triggers, retention, lock take-over, config changes on resume, the non-finite guard,
# in-process validation and early stopping, summaries by time, progress output, histograms.
# integration: long
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
EV="/usr/bin/python3 $ROOT/tests/integration/events.py"
train() { "$BIN/train" "$@"; } # never backgrounded: $! must be the binary itself

# Steps of tag $2 in the events of dir $1, one per line, in file order.
steps_of() { $EV "$1" | awk -v tag="$2" '$2 == tag {print $1}'; }

# Bitwise comparison of /variables of two checkpoints.
same_params() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a["variables"].visit(lambda n: names.append(n) if isinstance(a["variables"][n], h5py.Dataset) else None)
assert names
for n in names:
    assert np.array_equal(a["variables"][n][()], b["variables"][n][()]), n
for n in ("optimizer", "state"):
    assert n in b, n
PY
}

wait_for_step() { # dir step: until the manifest lists the step
  for _ in $(seq 1500); do grep -q "step: $2\$" "$1/checkpoints.yaml" 2>/dev/null && return 0; sleep 0.02; done
  return 1
}

# ---- exact resume after kill -9 ------------------------------------------------------------
COMMON="--steps 400 --threads 1 --quiet --set train.checkpoint_every=100 --set train.summary_every=20 --set train.max_to_keep=0"
check "straight run to 400" train --train-dir "$T/straight" --config "$CFG" $COMMON
# The kill comes at a random moment within the window after the named checkpoint is committed.
for case in "right-after-checkpoint 100 0.05" "mid-way-between-checkpoints 200 0.4"; do
  set -- $case
  what=$1 at=$2 delay=$3
  D=$T/killed-$what
  "$BIN/train" --train-dir "$D" --config "$CFG" $COMMON >/dev/null 2>&1 &
  pid=$!
  wait_for_step "$D" "$at"
  sleep "$(awk -v w="$delay" 'BEGIN { srand(); printf "%.3f", rand() * w }')"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  check "kill -9 $what left the run resumable" sh -c "grep -q '^status: running' '$D/checkpoints.yaml'"
  check "resume after kill -9 $what" train --train-dir "$D" $COMMON
  check "kill -9 $what: parameters bitwise equal to the straight run" \
    same_params "$T/straight/ckpt-00000400.h5" "$D/ckpt-00000400.h5"
  steps_of "$D" loss >"$T/steps"
  seq 20 20 400 >"$T/want"
  check "kill -9 $what: loss curve has every step once" cmp "$T/steps" "$T/want"
done

# ---- prefetch thread and augmentation: same batches as synchronous loading, across a resume ---
AUG="--threads 1 --quiet --set data.random_flip=true --set data.random_crop_padding=2 --set data.mean=[0.28] --set data.std=[0.35]"
check "synchronous loading with augmentation" train --train-dir "$T/sync" --config "$CFG" --steps 200 $AUG --set train.prefetch=0
check "prefetch 3 with augmentation, resumed mid-epoch" sh -c "
  '$BIN/train' --train-dir '$T/pre' --config '$CFG' --steps 130 $AUG --set train.prefetch=3 --set train.checkpoint_every=70 &&
  '$BIN/train' --train-dir '$T/pre' --steps 200 $AUG"
check "prefetched, augmented and resumed parameters bitwise equal to synchronous" \
  same_params "$T/sync/ckpt-00000200.h5" "$T/pre/ckpt-00000200.h5"

# ---- dropout: its generator is part of the checkpoint ------------------------------------------
sed 's/^    - {type: relu} *# relu_1$/    - {type: relu}\n    - {type: dropout, rate: 0.3}/' "$CFG" >"$T/dropout.yaml"
check "the dropout config has a dropout layer" grep -q "type: dropout" "$T/dropout.yaml"
DROP="--threads 1 --quiet --set train.checkpoint_every=60"
check "dropout: straight to 150" train --train-dir "$T/drop-straight" --config "$T/dropout.yaml" --steps 150 $DROP
check "dropout: 90 then resumed to 150" sh -c "
  '$BIN/train' --train-dir '$T/drop-split' --config '$T/dropout.yaml' --steps 90 $DROP &&
  '$BIN/train' --train-dir '$T/drop-split' --steps 150 $DROP"
check "dropout: resumed parameters bitwise equal to straight" \
  same_params "$T/drop-straight/ckpt-00000150.h5" "$T/drop-split/ckpt-00000150.h5"

# ---- checkpoint triggers and retention -----------------------------------------------------
D=$T/timed
check "checkpoint_secs" train --train-dir "$D" --config "$CFG" --steps 600 --quiet --threads 1 \
  --set train.checkpoint_every=0 --set train.checkpoint_secs=0.3 --set train.max_to_keep=0
check "time-triggered checkpoints are recorded with their reason" sh -c "
  [ \$(grep -c 'reason: time' '$D/checkpoints.yaml') -ge 2 ] && grep -q 'reason: final' '$D/checkpoints.yaml'"
D=$T/hourly
# A checkpoint every 5 steps (120 in all): even on a loaded machine far more than one falls within
# 0.36 s of the last one kept, so retention must retire some.
check "keep_every_hours with max_to_keep 1" train --train-dir "$D" --config "$CFG" --steps 600 --quiet --threads 1 \
  --set train.checkpoint_every=5 --set train.max_to_keep=1 --set retention.keep_every_hours=0.0001
check "hourly checkpoints kept, spaced by at least 0.36 s, files on disk" /usr/bin/python3 -c "
import yaml, os
m = yaml.safe_load(open('$D/checkpoints.yaml'))
c = m['checkpoints']
assert 3 <= len(c) < 120, len(c)
assert c[-1]['step'] == 600
t = [e['wall_time'] for e in c[:-1]]
assert all(b - a >= 0.36 for a, b in zip(t, t[1:])), t
assert all(os.path.exists('$D/' + e['file']) for e in c)
assert len([f for f in os.listdir('$D') if f.endswith('.h5')]) == len(c)
"

# ---- lock left by a dead process -----------------------------------------------------------
D=$T/lock
"$BIN/train" --train-dir "$D" --config "$CFG" --steps 100000 --quiet >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q running "$D/checkpoints.yaml" 2>/dev/null && break; sleep 0.05; done
kill -9 $pid
wait $pid 2>/dev/null
train --train-dir "$D" --steps 50 >"$T/lock.out" 2>&1
check "a lock left by a dead process is taken over with a message" grep -q "taking over .*LOCK, left by pid $pid, which is no longer running" "$T/lock.out"

# ---- config changes on resume --------------------------------------------------------------
train --train-dir "$D" --steps 60 --set optimizer.learning_rate=0.0005 >"$T/change.out" 2>&1
check "changed training keys are logged" grep -q "resumed with changed settings: .*optimizer.learning_rate: 0.001 -> 0.0005" "$T/change.out"

# ---- non-finite guard ----------------------------------------------------------------------
D=$T/diverge
expect_fail "a diverging run stops with the step and the tensor" 1 "step [0-9]+: the (loss is -?(nan|inf)|gradient of .* holds NaN or Inf); training diverged" \
  train --train-dir "$D" --config "$CFG" --steps 300 --quiet --set optimizer.type=sgd \
  --set optimizer.learning_rate=1000 --set optimizer.schedule=constant --set optimizer.warmup_steps=0 \
  --set train.checkpoint_every=1
check "diverged status, every committed checkpoint finite" sh -c "
  grep -q '^status: diverged' '$D/checkpoints.yaml' && ! grep -q 'finite: false' '$D/checkpoints.yaml'"
if [ -f "$CHECKERS/h5ckpt_check.py" ]; then
  check "the diverged run's newest checkpoint has no NaN/Inf (independent checker)" sh -c "
    f=\$(ls '$D'/ckpt-*.h5 | tail -1); /usr/bin/python3 '$CHECKERS/h5ckpt_check.py' \"\$f\" >/dev/null"
else
  skip "the diverged run's newest checkpoint has no NaN/Inf (independent checker)" "no $CHECKERS/h5ckpt_check.py"
fi
D=$T/skip
expect_fail "on_nonfinite skip stops after max_nonfinite in a row" 1 "training diverged \(max_nonfinite steps in a row\)" \
  train --train-dir "$D" --config "$CFG" --steps 300 --quiet --set optimizer.type=sgd \
  --set optimizer.learning_rate=1000 --set optimizer.schedule=constant --set optimizer.warmup_steps=0 \
  --set train.on_nonfinite=skip --set train.max_nonfinite=3 --set train.summary_every=1

# ---- in-process validation and early stopping ----------------------------------------------
D=$T/val
check "validate_every" train --train-dir "$D" --config "$CFG" --steps 100 --quiet \
  --set train.validate_every=25 --set train.validate_batches=4
steps_of "$D/validation" loss >"$T/vsteps"
printf '25\n50\n75\n100\n' >"$T/vwant"
check "validation scalars at every validate_every step, under train's tag names" cmp "$T/vsteps" "$T/vwant"
check "validation accuracy recorded" sh -c "$EV '$D/validation' | grep -q '^100 accuracy '"
D=$T/early
train --train-dir "$D" --config "$CFG" --steps 1000 --set train.validate_every=20 \
  --set train.early_stop_patience=2 --set train.early_stop_min_delta=10 >"$T/early.out" 2>&1
rc=$?
check "in-process early stopping exits 0 as early_stopped" sh -c "
  [ $rc -eq 0 ] && grep -q '^status: early_stopped' '$D/checkpoints.yaml' &&
  grep -q 'reason: early_stop' '$D/checkpoints.yaml' && grep -q 'step: 60\$' '$D/checkpoints.yaml' &&
  grep -q 'early stopping at step 60' '$T/early.out'"

# ---- summaries by time, histograms, output modes -------------------------------------------
D=$T/secs
check "summary_secs" train --train-dir "$D" --config "$CFG" --steps 400 --quiet --threads 1 \
  --set train.summary_every=100000 --set train.summary_secs=0.2
check "time-triggered summaries written" test "$(steps_of "$D" loss | wc -l)" -ge 3
D=$T/histo
check "histogram_every" train --train-dir "$D" --config "$CFG" --steps 20 --quiet --set train.histogram_every=10
check "weight and gradient histograms at steps 10 and 20" sh -c "
  $EV '$D' | grep -q '^10 dense_1/kernel histo:401408' && $EV '$D' | grep -q '^20 dense_3/bias/grad histo:10'"
if [ -f "$CHECKERS/tfevents_check.py" ]; then
  check "histogram events pass the independent checker" /usr/bin/python3 "$CHECKERS/tfevents_check.py" --strict "$D"
else
  skip "histogram events pass the independent checker" "no $CHECKERS/tfevents_check.py"
fi
D=$T/modes
train --train-dir "$D" --config "$CFG" --steps 30 --set train.log_every=10 >"$T/plain.out" 2>&1
check "not a terminal: a plain log line every log_every steps, no carriage returns" sh -c "
  [ \$(grep -c '^step [0-9]*/30 ' '$T/plain.out') -eq 3 ] && [ \$(tr -cd '\\r' <'$T/plain.out' | wc -c) -eq 0 ]"
train --train-dir "$D" --steps 40 --quiet >"$T/quiet.out" 2>&1
check "--quiet prints only the final line" sh -c "[ \$(wc -l <'$T/quiet.out') -eq 1 ] && grep -q '^train: final at step 40' '$T/quiet.out'"
train --train-dir "$D" --steps 50 --verbose --set train.checkpoint_every=5 >"$T/verbose.out" 2>&1
check "--verbose reports each checkpoint commit" grep -q "checkpoint ckpt-00000045.h5 committed (step 45, periodic)" "$T/verbose.out"
if command -v script >/dev/null 2>&1; then
  script -qfec "'$BIN/train' --train-dir '$D' --steps 400 --threads 1" /dev/null </dev/null >"$T/tty.out" 2>&1
  check "on a terminal: one updating progress line with an ETA" sh -c "
    grep -q 'ETA [0-9]*:[0-9][0-9]:[0-9][0-9]' '$T/tty.out' && [ \$(grep -c '^step [0-9]*/400 ' '$T/tty.out') -eq 0 ]"
else
  skip "on a terminal: one updating progress line with an ETA" "no script(1) to give train a terminal"
fi

# ---- SIGINT ----------------------------------------------------------------------------------
D=$T/sigint
"$BIN/train" --train-dir "$D" --config "$CFG" --steps 100000 --quiet >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q running "$D/checkpoints.yaml" 2>/dev/null && break; sleep 0.05; done
sleep 0.3
kill -INT $pid
wait $pid
rc=$?
last=$(sed -n 's/^  - step: //p' "$D/checkpoints.yaml" | tail -1)
check "SIGINT saves, marks interrupted, exits 0" sh -c "
  [ $rc -eq 0 ] && grep -q '^status: interrupted' '$D/checkpoints.yaml' && grep -q 'reason: signal' '$D/checkpoints.yaml'"
check "the interrupted run resumes" train --train-dir "$D" --steps $((last + 5)) --quiet
