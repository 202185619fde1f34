#!/bin/sh
# eval --watch across restarts: killed (SIGKILL) mid-run and started again, no checkpoint gets
# two results and none is missed; a crash between the metrics line and the state write (the
# line is adopted, not recomputed) and a torn last line; SIGTERM stops cleanly; --timeout ends
# a watch on a run that is not terminal; a second evaluator of one name is refused.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
D=$T/run

# wait_lines FILE N: waits (up to 30 s) until FILE has at least N lines.
wait_lines() {
  i=0
  while [ "$(cat "$1" 2>/dev/null | wc -l)" -lt "$2" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
}

# --- killed mid-run and restarted ---
# A throttled evaluator (--min-interval) falls behind the trainer, so it is killed mid-backlog.
"$BIN/eval" --watch "$D" --num-examples 200 --min-interval 0.15 --timeout 60 >"$T/a.out" 2>&1 &
pa=$!
"$BIN/train" --train-dir "$D" --config "$CFG" --quiet --steps 400 \
  --set train.checkpoint_every=25 --set train.max_to_keep=0 >"$T/train.out" 2>&1 &
pt=$!
wait_lines "$D/eval/metrics.jsonl" 3
expect_fail "a second evaluator of one name is refused while the first runs" 1 \
  "eval/LOCK: another eval --name eval is watching .* \(host .* pid $pa\)" \
  "$BIN/eval" --watch "$D" --num-examples 200
kill -KILL $pa
wait $pa 2>/dev/null
n_killed=$(wc -l <"$D/eval/metrics.jsonl")
check "the killed evaluator had results, not all of them" sh -c "[ $n_killed -ge 3 ] && [ $n_killed -lt 16 ]"
"$BIN/eval" --watch "$D" --num-examples 200 --timeout 60 >"$T/b.out" 2>&1
rc=$?
wait $pt
check "the restarted evaluator goes on from its cursor and exits 0" sh -c "
  [ $rc -eq 0 ] && grep -q 'going on after step' '$T/b.out'"
check "every committed checkpoint has exactly one metrics line across the restart" /usr/bin/python3 -c "
import json
steps=[json.loads(l)['step'] for l in open('$D/eval/metrics.jsonl')]
assert steps==list(range(25, 401, 25)), steps"
check "state.yaml has one ok entry per checkpoint" sh -c "[ \$(grep -c 'outcome: ok' '$D/eval/state.yaml') -eq 16 ]"
check "the pin the killed evaluator may have left is gone" sh -c "! ls '$D/eval' | grep -q '^pin-'"

# --- a crash after the metrics line, before the state write; and a torn last line ---
# Simulated on the finished run: forget the last result in state.yaml (as if the crash came
# between the two writes), leave a torn line after it, and start again.
cp "$D/eval/state.yaml" "$T/state.full"
/usr/bin/python3 - "$D/eval/state.yaml" <<'EOF'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r'\n  - \{step: 400, [^\n]*', '', s)
s = re.sub(r'^cursor: 400$', 'cursor: 375', s, flags=re.M)
open(p, 'w').write(s)
EOF
printf '{"step": 425, "checkpoint": "ckpt-0000' >>"$D/eval/metrics.jsonl"
"$BIN/eval" --watch "$D" --num-examples 200 >"$T/c.out" 2>&1
rc=$?
check "the result in metrics.jsonl is adopted, not evaluated again" sh -c "
  [ $rc -eq 0 ] && grep -q 'step 400: adopted the result' '$T/c.out' && grep -q '0 evaluated' '$T/c.out'"
check "the torn line is cut off and no line is doubled" /usr/bin/python3 -c "
import json
steps=[json.loads(l)['step'] for l in open('$D/eval/metrics.jsonl')]
assert steps==list(range(25, 401, 25)), steps"
check "the state is whole again" sh -c "grep -q '^cursor: 400$' '$D/eval/state.yaml' &&
  [ \$(grep -c 'outcome: ok' '$D/eval/state.yaml') -eq 16 ]"

# --- SIGTERM: clean stop with the cursor consistent, then a restart finishes the job ---
"$BIN/eval" --watch "$D" --name slow --num-examples 200 --min-interval 0.3 >"$T/d.out" 2>&1 &
pd=$!
wait_lines "$D/slow/metrics.jsonl" 2
kill -TERM $pd
wait $pd
rc=$?
check "SIGTERM: exit 0, said so" sh -c "[ $rc -eq 0 ] && grep -q 'stopped by SIGTERM' '$T/d.out'"
check "SIGTERM: state.yaml and metrics.jsonl agree" /usr/bin/python3 -c "
import json, re
steps=[json.loads(l)['step'] for l in open('$D/slow/metrics.jsonl')]
st=open('$D/slow/state.yaml').read()
ok=[int(x) for x in re.findall(r'step: (\d+), outcome: ok', st)]
assert ok==steps and 2 <= len(steps) < 16, (ok, steps)
assert 'cursor: %d\n' % steps[-1] in st
"
check "SIGTERM: no pin left" sh -c "! ls '$D/slow' | grep -q '^pin-'"
"$BIN/eval" --watch "$D" --name slow --num-examples 200 >"$T/e.out" 2>&1
check "after SIGTERM a restart evaluates the rest, once each" /usr/bin/python3 -c "
import json
steps=[json.loads(l)['step'] for l in open('$D/slow/metrics.jsonl')]
assert steps==list(range(25, 401, 25)), steps"

# --- --timeout on a run that is not terminal (interrupted: resumable) ---
"$BIN/train" --train-dir "$T/int" --config "$CFG" --quiet --steps 100000 --set train.checkpoint_every=20 >"$T/int.out" 2>&1 &
pi=$!
i=0
while ! grep -q 'step: 20$' "$T/int/checkpoints.yaml" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM $pi
wait $pi
start=$(date +%s)
"$BIN/eval" --watch "$T/int" --num-examples 100 --timeout 1 >"$T/f.out" 2>&1
rc=$?
secs=$(( $(date +%s) - start ))
check "--timeout: an interrupted run is waited on, then the watch ends 0 saying so" sh -c "
  [ $rc -eq 0 ] && grep -q 'status: interrupted' '$T/int/checkpoints.yaml' &&
  grep -q 'nothing new to evaluate for 1 s (--timeout)' '$T/f.out' && [ $secs -le 10 ] &&
  [ \$(wc -l <'$T/int/eval/metrics.jsonl') -ge 1 ]"
