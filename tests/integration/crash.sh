#!/bin/sh
# Crash consistency: train is killed with SIGKILL at seeded random moments of short runs that
# commit a checkpoint every 2 steps (so most kills land in a checkpoint write, its fsyncs, the
# rename, the manifest replace or the retention unlinks), then resumed, over and over.  After
# every kill: the manifest parses, every checkpoint it lists has its size and CRC-32C and a sound
# user block, no visible checkpoint file is damaged, nothing committed earlier is gone unless
# retention retired it (crash_check.py), and the next start resumes.  At the end the run, resumed
# to its last step, has bitwise the parameters, optimizer state and data order of the same run
# never killed, and no event series repeats a step.
# TV_CRASH_KILLS (default 24) and TV_CRASH_SEED (default 15) set the count and the moments;
# `make crash` runs 200 kills over 6000 steps.
# integration: long
. "$(dirname "$0")/lib.sh"
KILLS=${TV_CRASH_KILLS:-24}
SEED=${TV_CRASH_SEED:-15}
STEPS=${TV_CRASH_STEPS:-12000}
tiny_ckpt_config "$T/cfg.yaml"
# The run never killed checkpoints only at its end: checkpoints must not change what it computes.
"$BIN/train" -q --threads 1 --train-dir "$T/ref" --config "$T/cfg.yaml" --steps "$STEPS" \
  --set train.checkpoint_every=0 >/dev/null
awk -v s="$SEED" -v n="$KILLS" 'BEGIN { srand(s); for (i = 0; i < n; i++) printf "%.3f\n", 0.3 + rand() * 0.7 }' >"$T/delays"
# Every start names the config: a kill before the first commit leaves no config.yaml to resume from
# (the run then starts over, which is right: nothing was committed).
bad=0 kills=0 done_early=0 mid_write=0 uncommitted=0
while read -r delay; do
  "$BIN/train" -q --threads 1 --train-dir "$T/crash" --config "$T/cfg.yaml" --steps "$STEPS" >"$T/run.out" 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
  { wait "$pid"; } 2>/dev/null
  rc=$?
  # where the kills landed: inside a checkpoint write (its temporary is left), or between the
  # rename and the manifest replace (a visible file the manifest does not list)
  ls -a "$T/crash" 2>/dev/null | grep -q '^\.ckpt-.*\.tmp$' && mid_write=$((mid_write + 1))
  for f in "$T"/crash/ckpt-*.h5; do
    [ -e "$f" ] && ! grep -q "file: $(basename "$f")\$" "$T/crash/checkpoints.yaml" 2>/dev/null &&
      uncommitted=$((uncommitted + 1)) && break
  done
  if [ "$rc" -ne 137 ] && [ "$rc" -ne 0 ]; then
    bad=$((bad + 1))
    echo "# start after $kills kills exited $rc: $(cat "$T/run.out")"
  fi
  [ "$rc" -eq 0 ] && done_early=$((done_early + 1))
  if ! /usr/bin/python3 "$ROOT/tests/integration/crash_check.py" "$T/crash" "$T/seen" >"$T/check.out" 2>&1; then
    bad=$((bad + 1))
    echo "# after kill $kills (at ${delay} s): $(cat "$T/check.out")"
  fi
done <"$T/delays"
echo "# $kills kills: $mid_write inside a checkpoint write, $uncommitted between its rename and the commit"
check "$kills kills -9 at seeded moments ($done_early runs finished first): every start resumed, manifest and checkpoints sound after each" test "$bad" -eq 0 -a "$kills" -ge $((KILLS / 2))
check "the killed run resumes to its last step" "$BIN/train" -q --threads 1 --train-dir "$T/crash" --steps "$STEPS" \
  --set train.checkpoint_every=0
check "its manifest says final at step $STEPS" sh -c "grep -q 'status: final' '$T/crash/checkpoints.yaml' && test -f '$T/crash/ckpt-$(printf %08d "$STEPS").h5'"
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  check "the killed and resumed run is bitwise the run never killed (variables, optimizer, data order, rngs)" /usr/bin/python3 - "$T/ref/ckpt-$(printf %08d "$STEPS").h5" "$T/crash/ckpt-$(printf %08d "$STEPS").h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
assert any(n.startswith("variables/") for n in names) and any(n.startswith("optimizer/") for n in names)
diff = [n for n in names if n not in b or not np.array_equal(a[n][()], b[n][()])]
assert not diff, diff
PY
else
  skip "the killed and resumed run is bitwise the run never killed" "needs Debian's python3-h5py"
fi
/usr/bin/python3 "$ROOT/tests/integration/events.py" "$T/crash" >"$T/disk" 2>&1
check "no train event series on disk repeats a step or goes back" sh -c "test -s '$T/disk' && test -z \"\$(bad_series <'$T/disk')\""
tb_views "$T/none" "$T/crash" "$T/view"
check "TensorBoard shows each train step once, ascending" test -z "$(bad_series <"$T/view.fresh")"
