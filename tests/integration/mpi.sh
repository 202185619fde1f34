#!/bin/sh
# Data-parallel training over MPI (dist.h): `mpirun --oversubscribe -np N train ...` on this
# machine.  A 2-rank run equals a 1-rank run with the same global batch to TOL and another 2-rank
# run bitwise; 3 ranks split 128 as 43/43/42; a resume with another N; kill -9 of a rank ends
# the job quickly with mpirun's line naming it, and the resume is bit-exact; a rank that stops
# answering makes the others fail within TRAINVAL_MPI_TIMEOUT; SIGTERM to rank 0 and to rank 1
# each give one interrupted checkpoint; DIR/STOP and a diverged run (also a non-finite loss on
# one rank only) stop every rank at one step; the logged loss is the global batch's; a run saved
# on 2 ranks resumes on 1 and 3; a character model over contiguous streams on 2 ranks is
# reproducible, equals 1 rank, and resumes bit-exactly after kill -9; eval --watch follows the
# run and exits 0 at its end.  Skipped where Open MPI is absent.
# integration: long
. "$(dirname "$0")/lib.sh"
if ! command -v mpirun >/dev/null 2>&1 || [ ! -x "$BIN/train-mpi" ]; then
  skip "mpi: data-parallel training" "no mpirun or no $BIN/train-mpi (libopenmpi-dev, openmpi-bin)"
  exit 0
fi
# Root in CI; Open MPI's leaks are not ours (an AddressSanitizer build would report them at exit).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
# TOL: the largest |difference| of any parameter allowed between runs that differ only in how
# the batch's gradient sum is associated (ranks, threads): measured 3e-8 after 40 Adam steps
# (5e-8 with 3 ranks), the same as 1 thread against 2 threads in one process.
TOL=1e-5
CFG=$T/small.yaml
small_config "$CFG"
# A constant schedule: a run's parameters do not depend on the length it was planned for.
COMMON="--config $CFG --threads 1 --quiet --set optimizer.schedule=constant --set train.checkpoint_every=20 --set train.summary_every=10"
mpi() { n=$1; shift; mpirun --oversubscribe --bind-to none -np "$n" "$BIN/train" "$@"; }

# same_scalars A B: the training loss and accuracy that A's and B's event files hold, at the
# same steps, equal to TOL (relative): the logged figures are the global batch's, not rank 0's.
same_scalars() {
  /usr/bin/python3 - "$1" "$2" "$TOL" "$(dirname "$0")/events.py" <<'PY'
import subprocess, sys
def series(d):
    out = subprocess.run(['/usr/bin/python3', sys.argv[4], d], capture_output=True, text=True, check=True).stdout
    rows = [l.split() for l in out.splitlines()]
    return {(int(r[0]), r[1]): float(r[2]) for r in rows if len(r) == 3 and r[1] in ('loss', 'accuracy')}
a, b = series(sys.argv[1]), series(sys.argv[2])
assert a.keys() == b.keys() and len(a) >= 8, (sorted(a), sorted(b))
bad = [(k, a[k], b[k]) for k in sorted(a) if abs(a[k] - b[k]) > float(sys.argv[3]) * max(1.0, abs(a[k]))]
assert not bad, 'differ: %s' % bad
PY
}

# compare A B MODE: the /variables of two checkpoints, MODE bitwise or tol.
compare() {
  /usr/bin/python3 - "$1" "$2" "$3" "$TOL" <<'PY'
import sys, h5py, numpy as np
def load(p):
    out = {}
    with h5py.File(p, 'r') as f:
        f['variables'].visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a.keys() == b.keys() and a, (sorted(a), sorted(b))
if sys.argv[3] == 'bitwise':
    bad = [k for k in a if a[k].tobytes() != b[k].tobytes()]
    assert not bad, 'not bitwise equal: %s' % bad
else:
    d = max(float(np.abs(a[k].astype(np.float64) - b[k]).max()) for k in a)
    assert d <= float(sys.argv[4]), 'max |difference| %g > %s' % (d, sys.argv[4])
PY
}
# same_cursor A B: the loader's state (order, position, generators) of two checkpoints, bitwise.
same_cursor() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py
a, b = (h5py.File(p, 'r')['state/loader'] for p in sys.argv[1:3])
for k in ('cursor', 'perm', 'augment_rng'):
    assert a[k][()].tobytes() == b[k][()].tobytes(), k
PY
}
status_of() { sed -n 's/^status: //p' "$1/checkpoints.yaml"; }
signal_ckpts() { grep -c 'reason: signal' "$1/checkpoints.yaml"; }
# rank_pid DIR R: the pid of rank R of the job training DIR, once that process runs train-mpi
# (bin/train under mpirun executes train-mpi in its place, same pid: before that it is not
# training yet); empty when there is none.  From /proc alone: a fresh Debian has no pgrep.
rank_pid() {
  for e in /proc/[0-9]*/environ; do
    p=${e#/proc/}
    p=${p%/environ}
    case $(readlink "/proc/$p/exe" 2>/dev/null) in *train-mpi*) ;; *) continue ;; esac
    { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -q -- "--train-dir $1 " || continue
    { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo "$p"
  done
}
# last_step DIR: the newest step DIR's manifest lists (empty before the first commit).
last_step() { sed -n 's/^  - step: //p' "$1/checkpoints.yaml" 2>/dev/null | sort -n | tail -1; }
# STEP_WAIT: how long (s, by the clock) the checks wait for a job to reach a step; less than the
# jobs' 60 s timeout, so that a job that is too slow is reported as such before it is ended.
STEP_WAIT=50
# wait_step DIR STEP: until DIR's manifest lists STEP or a later step (a small model trains so
# fast that retention may drop STEP from the list between two looks), at most STEP_WAIT s;
# returns 1 if it never did.
wait_step() {
  ws_end=$(($(date +%s) + STEP_WAIT))
  until [ "$(last_step "$1")" -ge "$2" ] 2>/dev/null; do
    [ "$(date +%s)" -lt $ws_end ] || return 1
    sleep 0.1
  done
}
# signal_rank DIR R SIG JOB STEP: sends SIG to rank R of the job training DIR once the rank is
# training: DIR's manifest lists STEP or later (rank 0 commits a step only after every rank's
# gradient sum of it) and rank R's process runs train-mpi, both within STEP_WAIT s.  Otherwise
# it says on stderr which of the two never came and ends JOB (mpirun), so that the check fails
# at once, naming why, rather than at its timeout.
signal_rank() {
  sr_end=$(($(date +%s) + STEP_WAIT))
  pid=
  if wait_step "$1" "$5"; then
    until pid=$(rank_pid "$1" "$2") && [ -n "$pid" ]; do
      [ "$(date +%s)" -lt $sr_end ] || break
      sleep 0.2
    done
  fi
  if [ -n "$pid" ]; then
    kill "-$3" $pid
    return
  fi
  if [ "$(last_step "$1")" -ge "$5" ] 2>/dev/null; then
    why="rank $2 of the job training $1 not found running train-mpi within ${STEP_WAIT} s"
  else
    why="the job training $1 did not reach step $5 within ${STEP_WAIT} s (last step: $(last_step "$1"))"
  fi
  kill -0 "$4" 2>/dev/null || why="$why; mpirun had already ended"
  echo "mpi.sh: no signal $3 sent: $why" >&2
  kill "$4" 2>/dev/null
}

# kill_at DIR STEP OUT ERR ARGS...: a 2-rank run of DIR with ARGS (to step 100000, at most 60 s)
# whose rank 1 gets kill -9 once DIR's manifest lists STEP; rc is mpirun's exit status.
kill_at() {
  d=$1 s=$2 o=$3 e=$4
  shift 4
  timeout 60 mpirun --oversubscribe --bind-to none -np 2 "$BIN/train" --train-dir "$d" "$@" \
    --steps 100000 >"$o" 2>"$e" &
  job=$!
  signal_rank "$d" 1 KILL $job "$s"
  wait $job
  rc=$?
}

# --- equivalence and reproducibility ---
"$BIN/train" --train-dir "$T/one" $COMMON --steps 40 >/dev/null 2>&1
mpi 2 --train-dir "$T/two" $COMMON --steps 40 >"$T/two.out" 2>&1
mpi 2 --train-dir "$T/two-b" $COMMON --steps 40 >/dev/null 2>&1
check "2 ranks: the run ends final, rank 0 reports the wait on the gradient sum" sh -c "
  [ \"\$(sed -n 's/^status: //p' '$T/two/checkpoints.yaml')\" = final ] &&
  grep -q '^train: rank 0 of 2 waited .* for the gradient sum' '$T/two.out'"
check "2 ranks equal 1 rank with the same global batch to $TOL" \
  compare "$T/one/ckpt-00000040.h5" "$T/two/ckpt-00000040.h5" tol
check "2 ranks equal another 2-rank run bitwise" \
  compare "$T/two/ckpt-00000040.h5" "$T/two-b/ckpt-00000040.h5" bitwise
check "2 ranks log the global batch's training loss and accuracy: those of 1 rank to $TOL" \
  same_scalars "$T/one" "$T/two"
check "only rank 0 writes: one event file, one LOCK line" sh -c "
  [ \$(ls '$T/two'/events.out.tfevents.* | wc -l) -eq 1 ] && [ \$(wc -l <'$T/two/LOCK') -le 1 ]"

mpi 3 --train-dir "$T/three" --config "$CFG" --threads 1 --set optimizer.schedule=constant \
  --set train.checkpoint_every=20 --set train.summary_every=10 --steps 40 >"$T/three.out" 2>&1
check "3 ranks: batch 128 split 43/43/42, said in the summary" \
  grep -q 'each rank trains on 43 or 42 examples of every batch' "$T/three.out"
check "3 ranks (uneven split) equal 1 rank to $TOL" \
  compare "$T/one/ckpt-00000040.h5" "$T/three/ckpt-00000040.h5" tol
check "3 ranks (43/43/42) log the global batch's loss and accuracy: those of 1 rank to $TOL" \
  same_scalars "$T/one" "$T/three"

# --- resume with another number of ranks: the data cursor is global ---
cp -r "$T/two" "$T/two-to-one"
cp -r "$T/two" "$T/two-to-three"
"$BIN/train" --train-dir "$T/two-to-one" $COMMON --steps 60 >/dev/null 2>&1
mpi 3 --train-dir "$T/two-to-three" $COMMON --steps 60 >/dev/null 2>&1
mpi 2 --train-dir "$T/two" $COMMON --steps 60 >/dev/null 2>&1
check "a 2-rank run resumed on 1 rank equals its 2-rank resume to $TOL" \
  compare "$T/two/ckpt-00000060.h5" "$T/two-to-one/ckpt-00000060.h5" tol
check "a 2-rank run resumed on 3 ranks equals its 2-rank resume to $TOL" \
  compare "$T/two/ckpt-00000060.h5" "$T/two-to-three/ckpt-00000060.h5" tol
check "resumed on 1 rank, the run continued from the same global data cursor" \
  same_cursor "$T/two/ckpt-00000060.h5" "$T/two-to-one/ckpt-00000060.h5"
check "resumed on 3 ranks, the run continued from the same global data cursor" \
  same_cursor "$T/two/ckpt-00000060.h5" "$T/two-to-three/ckpt-00000060.h5"

# --- kill -9 of one rank: the job ends at once, and the resume is bit-exact ---
K=$T/killed
start=$(date +%s)
kill_at "$K" 20 "$T/k.out" "$T/k.err" $COMMON
took=$(($(date +%s) - start))
check "kill -9 of rank 1: the job fails within the bound (not killed by timeout), mpirun names the rank" sh -c "
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $took -lt 60 ] &&
  grep -q 'process rank 1 with PID .* exited on signal 9' '$T/k.err' || { cat '$T/k.err'; false; }"
last=$(grep '^  - step:' "$K/checkpoints.yaml" | tail -1 | sed 's/.*: //')
mpi 2 --train-dir "$K" $COMMON --steps 80 >"$T/k2.out" 2>&1
mpi 2 --train-dir "$T/straight" $COMMON --steps 80 >/dev/null 2>&1
check "after the kill the run resumes from step $last and ends bitwise as an uninterrupted run" \
  compare "$T/straight/ckpt-00000080.h5" "$K/ckpt-00000080.h5" bitwise
check "saved on 2 ranks at step 40 and resumed on 3, the run equals an uninterrupted 2-rank run to $TOL" \
  compare "$T/straight/ckpt-00000060.h5" "$T/two-to-three/ckpt-00000060.h5" tol
check "saved on 2 ranks at step 40 and resumed on 1, the run equals an uninterrupted 2-rank run to $TOL" \
  compare "$T/straight/ckpt-00000060.h5" "$T/two-to-one/ckpt-00000060.h5" tol

# --- a rank that stops answering: the others fail within TRAINVAL_MPI_TIMEOUT ---
H=$T/hung
TRAINVAL_MPI_TIMEOUT=3 timeout 60 mpirun --oversubscribe --bind-to none -np 2 "$BIN/train" \
  --train-dir "$H" $COMMON --steps 100000 >"$T/h.out" 2>"$T/h.err" &
job=$!
signal_rank "$H" 1 STOP $job 20
wait $job
rc=$?
check "a stopped rank: rank 0 fails with one line naming the wait, status aborted" sh -c "
  [ $rc -ne 0 ] && [ $rc -ne 124 ] &&
  grep -q '^train: rank 0 of 2: MPI: no answer from the other ranks for 3 s while ' '$T/h.err' &&
  [ \"\$(sed -n 's/^status: //p' '$H/checkpoints.yaml')\" = aborted ] || { cat '$T/h.err'; false; }"

# --- SIGTERM to one rank: every rank stops at one step, one interrupted checkpoint ---
for r in 0 1; do
  S=$T/term$r
  timeout 60 mpirun --oversubscribe --bind-to none -np 2 "$BIN/train" --train-dir "$S" $COMMON \
    --steps 100000 >"$T/s$r.out" 2>"$T/s$r.err" &
  job=$!
  signal_rank "$S" $r TERM $job 20
  wait $job
  rc=$?
  check "SIGTERM to rank $r: exit 0, status interrupted, exactly one signal checkpoint" sh -c "
    [ $rc -eq 0 ] && [ \"\$(sed -n 's/^status: //p' '$S/checkpoints.yaml')\" = interrupted ] &&
    [ \$(grep -c 'reason: signal' '$S/checkpoints.yaml') -eq 1 ] &&
    grep -q '^train: stopped by SIGTERM.* at step [0-9]*; checkpoint saved, status interrupted' '$T/s$r.err' || { cat '$T/s$r.err'; false; }"
done

# --- DIR/STOP from an evaluator stops every rank at the same step ---
P=$T/stopped
timeout 60 mpirun --oversubscribe --bind-to none -np 2 "$BIN/train" --train-dir "$P" $COMMON \
  --steps 100000 >"$T/p.out" 2>"$T/p.err" &
job=$!
wait_step "$P" 20
printf 'format: trainval.stop\nformat_version: 1\nby: eval\nreason: test\n' >"$P/STOP.tmp"
mv "$P/STOP.tmp" "$P/STOP"
wait $job
rc=$?
check "DIR/STOP: every rank stops, exit 0, status early_stopped, STOP handled" sh -c "
  [ $rc -eq 0 ] && [ \"\$(sed -n 's/^status: //p' '$P/checkpoints.yaml')\" = early_stopped ] &&
  [ -e '$P/STOP.handled' ] && grep -q 'reason: early_stop' '$P/checkpoints.yaml' || { cat '$T/p.err'; false; }"

# --- a diverged run: every rank sees the non-finite step and leaves together ---
D=$T/diverged
mpi 2 --train-dir "$D" $COMMON --steps 40 --set optimizer.type=sgd \
  --set optimizer.learning_rate=1000 >"$T/d.out" 2>"$T/d.err"
rc=$?
check "diverged on 2 ranks: exit 1, status diverged, both ranks at one step, no MPI_Abort" sh -c "
  [ $rc -ne 0 ] && [ \"\$(sed -n 's/^status: //p' '$D/checkpoints.yaml')\" = diverged ] &&
  s0=\$(sed -n 's/^train: rank 0 of 2: step \\([0-9]*\\): .*training diverged.*/\\1/p' '$T/d.err') &&
  s1=\$(sed -n 's/^train: rank 1 of 2: step \\([0-9]*\\): .*training diverged.*/\\1/p' '$T/d.err') &&
  [ -n \"\$s0\" ] && [ \"\$s0\" = \"\$s1\" ] &&
  ! grep -q MPI_ABORT '$T/d.err' || { cat '$T/d.err'; false; }"

# --- a non-finite loss on one rank only: every rank sees it and stops at that step ---
# Four examples, a batch of four: each rank trains on two of them every step, and one target is
# 3e38, so its squared error overflows on whichever rank holds it (one rank only) from step 1.
N=$T/nanone
mkdir -p "$N/d"
/usr/bin/python3 - "$N/d" <<'PY'
import sys, numpy as np
x = np.arange(20, dtype='<f4').reshape(4, 5) / 20
y = np.array([[0.5], [1.0], [3e38], [-0.5]], dtype='<f4')
np.save(sys.argv[1] + '/x.npy', x)
np.save(sys.argv[1] + '/y.npy', y)
PY
cat >"$N/c.yaml" <<EOF
model:
  input: [5, 1, 1]
  num_classes: 1
  task: regression
  layers:
    - {type: flatten}
    - {type: dense, units: 4}
    - {type: dense, units: 1}
data: {format: npy, dir: $N/d, train_images: x.npy, train_labels: y.npy, scale: 1, valid_fraction: 0}
train: {batch_size: 4, steps: 20, checkpoint_every: 0}
EOF
mpi 2 --train-dir "$N/run" --config "$N/c.yaml" --quiet >"$T/n.out" 2>"$T/n.err"
rc=$?
# nan_lines: the rank whose loss overflowed says so, the other names it; both at step 1.
nan_lines() {
  bad=$(sed -n 's/^train: rank \([01]\) of 2: step 1: the loss is inf; training diverged, status diverged.*/\1/p' "$T/n.err")
  [ -n "$bad" ] && [ $(grep -c 'training diverged' "$T/n.err") -eq 2 ] &&
    grep -q "^train: rank $((1 - bad)) of 2: step 1: the loss is not finite on rank $bad; training diverged, status diverged" "$T/n.err"
}
check "a non-finite loss on one rank only: both ranks stop at step 1, status diverged, one line each naming it" sh -c "
  [ $rc -ne 0 ] && [ \"\$(sed -n 's/^status: //p' '$N/run/checkpoints.yaml')\" = diverged ] &&
  ! grep -q MPI_ABORT '$T/n.err' || { cat '$T/n.err'; false; }"
check "one rank's non-finite loss: that rank's line says the loss is inf, the other's names that rank" nan_lines

# --- the training metrics travel in one exchange: a regression model of 51 targets is refused ---
/usr/bin/python3 -c "import numpy as np; np.save('$N/d/y51.npy', np.zeros((4, 51), '<f4'))"
sed -e 's/num_classes: 1/num_classes: 51/' -e 's/units: 1}/units: 51}/' -e 's/y.npy/y51.npy/' \
  "$N/c.yaml" >"$N/c51.yaml"
mpi 2 --train-dir "$N/run51" --config "$N/c51.yaml" --quiet >"$T/n51.out" 2>"$T/n51.err"
rc=$?
check "data-parallel regression with 51 targets: refused at start by every rank with one line" sh -c "
  [ $rc -ne 0 ] && [ ! -e '$N/run51/ckpt-00000001.h5' ] &&
  [ \$(grep -c 'c51.yaml: model.num_classes 51 is too many targets for data-parallel training .*at most 50' '$T/n51.err') -eq 2 ] || { cat '$T/n51.err'; false; }"

# --- the evaluator needs no change ---
W=$T/watched
"$BIN/eval" --watch "$W" --num-examples 200 --timeout 60 >"$T/w.out" 2>&1 &
ev=$!
mpi 2 --train-dir "$W" $COMMON --steps 60 >/dev/null 2>&1
wait $ev
rc=$?
check "eval --watch follows a 2-rank run: each checkpoint once, exit 0 at its end" /usr/bin/python3 -c "
import json
assert $rc == 0, 'eval exited $rc'
steps = [json.loads(l)['step'] for l in open('$W/eval/metrics.jsonl')]
assert steps == [20, 40, 60], steps"

# --- synchronised batch statistics are not available: the key is refused, not ignored ---
expect_fail "train.sync_batch_norm is refused with one line" 1 "train.sync_batch_norm: unknown key" \
  "$BIN/train" --train-dir "$T/sbn" $COMMON --steps 1 --set train.sync_batch_norm=true

# --- a token model's contiguous streams over 2 ranks: each rank owns two of the four streams ---
# The small character model of text_lm.sh: every rank carries the state of its own streams, and
# rank 0's checkpoints hold every rank's (the global batch's rows, as a 1-rank run writes them).
L=$T/charlm
mkdir -p "$L/corpus"
head -c 60000 /usr/share/games/fortunes/fortunes >"$L/corpus/a"
sed -e 's/^  input: \[128\]/  input: [16]/' -e 's/dim: 64/dim: 8/' -e 's/hidden: 256}/hidden: 24}/' \
  -e "s|corpus: .*|corpus: $L/corpus|" -e 's/valid_tokens: .*/valid_tokens: 5000/' \
  -e 's/batch_size: .*/batch_size: 4/' "$ROOT/configs/fortunes_charlm.yaml" >"$L/c.yaml"
LCOMMON="--config $L/c.yaml --threads 1 --quiet --set optimizer.schedule=constant --set train.checkpoint_every=20 --set train.validate_every=0 --set train.summary_every=10"
"$BIN/train" --train-dir "$L/one" $LCOMMON --steps 40 >/dev/null 2>&1
mpi 2 --train-dir "$L/two" $LCOMMON --steps 40 >"$L/two.out" 2>&1
mpi 2 --train-dir "$L/two-b" $LCOMMON --steps 40 >/dev/null 2>&1
# carry A B MODE: the carried states (state/carry/*) of two checkpoints, MODE bitwise or tol.
carry() {
  /usr/bin/python3 - "$1" "$2" "$3" "$TOL" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, 'r')['state/carry'] for p in sys.argv[1:3])
assert sorted(a) == sorted(b) == ['lstm_1', 'lstm_2'], (sorted(a), sorted(b))
for k in a:
    x, y = a[k][()], b[k][()]
    assert x.shape == y.shape == (2 * 4 * 24,), (k, x.shape, y.shape)
    assert np.abs(x).max() > 0, k
    if sys.argv[3] == 'bitwise':
        assert x.tobytes() == y.tobytes(), k
    else:
        assert np.abs(x.astype(np.float64) - y).max() <= float(sys.argv[4]), (k, np.abs(x - y).max())
PY
}
check "char model, contiguous streams on 2 ranks: the run ends final" sh -c "
  [ \"\$(sed -n 's/^status: //p' '$L/two/checkpoints.yaml')\" = final ] || cat '$L/two.out'"
check "char model on 2 ranks: parameters bitwise those of another 2-rank run" \
  compare "$L/two/ckpt-00000040.h5" "$L/two-b/ckpt-00000040.h5" bitwise
check "char model on 2 ranks: carried state of all four streams, bitwise another 2-rank run's" \
  carry "$L/two/ckpt-00000040.h5" "$L/two-b/ckpt-00000040.h5" bitwise
check "char model on 2 ranks: parameters equal a 1-rank run's to $TOL" \
  compare "$L/one/ckpt-00000040.h5" "$L/two/ckpt-00000040.h5" tol
check "char model on 2 ranks: carried state equals a 1-rank run's to $TOL (the same rows in order)" \
  carry "$L/one/ckpt-00000040.h5" "$L/two/ckpt-00000040.h5" tol
check "char model on 2 ranks: logged loss equals a 1-rank run's to $TOL" \
  same_scalars "$L/one" "$L/two"
# kill -9 of rank 1 after the checkpoint of step 20; the resume reads each rank's rows back
# (a small model: rank 0 may commit a few more checkpoints before mpirun ends it, so the resume
# goes 20 steps past the last one)
kill_at "$L/killed" 20 "$L/k.out" "$L/k.err" $LCOMMON
last=$(grep '^  - step:' "$L/killed/checkpoints.yaml" | tail -1 | sed 's/.*: //')
end=$((last + 20))
mpi 2 --train-dir "$L/killed" $LCOMMON --steps $end >/dev/null 2>&1
mpi 2 --train-dir "$L/straight" $LCOMMON --steps $end >/dev/null 2>&1
E=$(printf 'ckpt-%08d.h5' $end)
check "char model on 2 ranks: kill -9 of rank 1 ends the job (rc $rc, not the timeout)" \
  sh -c "[ $rc -ne 0 ] && [ $rc -ne 124 ]"
check "char model on 2 ranks: after kill -9 at step $last the resume ends with the parameters of an uninterrupted run, bitwise" \
  compare "$L/straight/$E" "$L/killed/$E" bitwise
check "char model on 2 ranks: ... and its carried state and text cursor, bitwise" sh -c "
  /usr/bin/python3 -c 'import sys, h5py; a, b = (h5py.File(p, \"r\") for p in sys.argv[1:]); assert all(a[k][()].tobytes() == b[k][()].tobytes() for k in (\"state/carry/lstm_1\", \"state/carry/lstm_2\", \"state/text/cursor\"))' '$L/straight/$E' '$L/killed/$E'"

# --- checkpoint_secs over 2 ranks: rank 0's clock decides every save, for every rank ---
# The ranks' clocks disagree (rank 0 alone copies each checkpoint, and starts its clock after
# writing the run's first records), so with a period of a few steps each rank's own clock would
# pick other steps; a save gathers the carried state from every rank, which then hangs or
# mismatches.  Rank 0's validation (keep_best: its best steps save too) slows it further.  Every
# time or best checkpoint must be bitwise the same step's of a run that saves every step, and the
# state is gathered at saves only (the closing line counts the gathers).
BEST="--set train.validate_every=5 --set train.validate_batches=2 --set train.keep_best=true"
mpi 2 --train-dir "$L/every" $LCOMMON $BEST --steps 40 --set train.checkpoint_every=1 \
  --set train.max_to_keep=0 >"$L/every.out" 2>&1
TRAINVAL_MPI_TIMEOUT=10 timeout 60 mpirun --oversubscribe --bind-to none -np 2 "$BIN/train" \
  --train-dir "$L/timed" $LCOMMON $BEST --steps 40 --set train.checkpoint_every=0 \
  --set train.checkpoint_secs=0.003 --set train.max_to_keep=0 >"$L/timed.out" 2>&1
rc=$?
timed=$(grep -c 'reason: time' "$L/timed/checkpoints.yaml" 2>/dev/null)
bests=$(grep -c 'reason: best' "$L/timed/checkpoints.yaml" 2>/dev/null)
saves=$(grep -c '^  - step:' "$L/timed/checkpoints.yaml" 2>/dev/null)
check "char model on 2 ranks, checkpoint_secs 0.003: exit 0 (rc $rc), status final, $timed time checkpoints (at least 3) and $bests best (at least 1)" sh -c "
  [ $rc -eq 0 ] && [ \"\$(sed -n 's/^status: //p' '$L/timed/checkpoints.yaml')\" = final ] &&
  [ ${timed:-0} -ge 3 ] && [ ${bests:-0} -ge 1 ] || cat '$L/timed.out'"
same_ckpts() {
  for f in $(sed -n 's/^    file: //p' "$L/timed/checkpoints.yaml"); do
    compare "$L/every/$f" "$L/timed/$f" bitwise && carry "$L/every/$f" "$L/timed/$f" bitwise || return 1
  done
}
check "char model on 2 ranks: each of the $saves checkpoints decided by time or validation is bitwise that step's of a run saving every step (parameters and carried state)" \
  same_ckpts
check "char model on 2 ranks: the carried state is gathered at saves only ($saves in the timed run, 40 saving every step, 2 for checkpoint_every 20)" sh -c "
  grep -q 'gathered the carried state $saves times ' '$L/timed.out' &&
  grep -q 'gathered the carried state 40 times ' '$L/every.out' &&
  grep -q 'gathered the carried state 2 times ' '$L/two.out' || { cat '$L/timed.out' '$L/two.out'; false; }"

# SIGTERM to rank 1: rank 0 announces the interrupted save, so both ranks gather at that step;
# the resume from it ends bitwise as an uninterrupted run (parameters and carried state).
S=$L/term
timeout 60 mpirun --oversubscribe --bind-to none -np 2 "$BIN/train" --train-dir "$S" $LCOMMON \
  --steps 100000 >"$L/term.out" 2>"$L/term.err" &
job=$!
signal_rank "$S" 1 TERM $job 20
wait $job
rc=$?
tlast=$(grep '^  - step:' "$S/checkpoints.yaml" | tail -1 | sed 's/.*: //')
tend=$((tlast + 10))
mpi 2 --train-dir "$S" $LCOMMON --steps $tend >/dev/null 2>&1
mpi 2 --train-dir "$L/term-straight" $LCOMMON --steps $tend >/dev/null 2>&1
TE=$(printf 'ckpt-%08d.h5' $tend)
check "char model on 2 ranks: SIGTERM to rank 1 gives exit 0 (rc $rc) and one signal checkpoint (step $tlast)" sh -c "
  [ $rc -eq 0 ] && [ \$(grep -c 'reason: signal' '$S/checkpoints.yaml') -eq 1 ] || cat '$L/term.err'"
same_end() { compare "$L/term-straight/$TE" "$S/$TE" bitwise && carry "$L/term-straight/$TE" "$S/$TE" bitwise; }
check "char model on 2 ranks: resumed from the signal checkpoint, step $tend is bitwise an uninterrupted run's (parameters and carried state)" \
  same_end
# --- a token model's batch is split evenly: 4 streams over 3 ranks are refused, one line a rank ---
mpi 3 --train-dir "$L/three" $LCOMMON --steps 1 >"$L/three.out" 2>"$L/three.err"
rc=$?
check "a token model with a batch of 4 over 3 ranks: refused at start with one line a rank" sh -c "
  [ $rc -ne 0 ] && [ ! -e '$L/three/checkpoints.yaml' ] &&
  [ \$(grep -c 'c.yaml: a token model trained data-parallel over 3 ranks needs a train.batch_size (4) that the ranks divide' '$L/three.err') -eq 3 ] || { cat '$L/three.err'; false; }"

# --- the plain build under mpirun without train-mpi next to it ---
mkdir -p "$T/lone"
cp "$BIN/train" "$T/lone/train"
mpirun --oversubscribe --bind-to none -np 2 "$T/lone/train" --train-dir "$T/lone/run" $COMMON \
  --steps 20 >"$T/l.out" 2>"$T/l.err"
rc=$?
check "plain train under mpirun without train-mpi: a clear error, exit non-zero, DIR untouched" sh -c "
  [ $rc -ne 0 ] && [ ! -e '$T/lone/run' ] &&
  grep -q '^train: started by mpirun with 2 ranks, but $T/lone/train-mpi cannot run' '$T/l.err'"
