#!/bin/sh
# Reaction-latency benchmark of eval --watch: the time from the manifest's rename (the commit
# point of a checkpoint) to the start of that checkpoint's load in the evaluator, p50 / p99 /
# max over many checkpoints.  Reports figures only: it never passes or fails on a timing.
#
#   sh scripts/bench_watch.sh [CHECKPOINTS] [INTERVAL_MS]    (default 200 checkpoints, 40 ms)
#   TV_BENCH_POLL=0.1 sh scripts/bench_watch.sh               (also measure forced polling)
#
# How: a small run (784-32-32-10 MLP, a checkpoint every step, keep all) is trained first into a
# source directory.  A publisher (Python, standard library) then commits those checkpoints into
# a fresh train_dir one at a time, as train does: hard-link the file in, write the manifest to
# a temporary, fsync, note the wall clock, rename, fsync the directory; then sleep INTERVAL_MS
# plus a random jitter, so that each commit finds the evaluator idle and waiting.  eval --watch
# --trace FILE notes the wall clock at the start of each load; the difference is the latency
# (it includes the wake-up, the manifest read and parse, and the pin).  Both clocks are this
# host's CLOCK_REALTIME.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-200}
INTERVAL_MS=${2:-40}
D=$(mktemp -d /tmp/trainval-benchwatch.XXXXXX)
trap 'rm -rf "$D"' EXIT
cd "$ROOT"
[ -x bin/train ] && [ -x bin/eval ] || make -s all
. "$ROOT/scripts/fresh_bin.sh"
fresh_bin bench_watch.sh train eval

echo "== source run: $N checkpoints of a 784-32-32-10 MLP =="
./bin/train --train-dir "$D/src" --config configs/fashion_mlp.yaml --quiet --threads 1 \
  --steps "$N" --set train.checkpoint_every=1 --set train.max_to_keep=0 \
  --set model.layers.1.units=32 --set model.layers.3.units=32 >/dev/null

run() { # run MODE EXTRA_EVAL_ARGS...
  mode=$1
  shift
  W=$D/watch-$mode
  mkdir -p "$W"
  ./bin/eval --watch "$W" --num-examples 100 --threads 1 --timeout 30 --trace "$D/trace-$mode" \
    "$@" >"$D/eval-$mode.out" 2>&1 &
  pe=$!
  i=0
  while [ ! -f "$W/eval/state.yaml" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
  /usr/bin/python3 - "$D/src" "$W" "$INTERVAL_MS" "$D/commits-$mode" <<'EOF'
import os, random, re, sys, time
src, dst, interval_ms, log = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
text = open(os.path.join(src, 'checkpoints.yaml')).read()
head, _, items = text.partition('checkpoints:\n')
entries = re.findall(r'  - step: .*?(?=\n  - step: |\Z)', items, re.S)
head = re.sub(r'^status: .*$', 'status: running', head, flags=re.M)
dfd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
random.seed(1)
with open(log, 'w') as out:
    for k, e in enumerate(entries):
        f = re.search(r'file: (\S+)', e).group(1)
        step = int(re.search(r'step: (\d+)', e).group(1))
        os.link(os.path.join(src, f), os.path.join(dst, f))
        last = k == len(entries) - 1
        body = head if not last else head.replace('status: running', 'status: final')
        body += 'checkpoints:\n' + ''.join(x.rstrip('\n') + '\n' for x in entries[:k + 1])
        tmp = os.path.join(dst, 'checkpoints.yaml.tmp.%d' % os.getpid())
        with open(tmp, 'w') as t:
            t.write(body)
            t.flush()
            os.fsync(t.fileno())
        t0 = time.time()
        os.rename(tmp, os.path.join(dst, 'checkpoints.yaml'))
        os.fsync(dfd)
        out.write('%d %.6f\n' % (step, t0))
        time.sleep(interval_ms / 1000.0 * (1 + random.random()))
EOF
  wait $pe
  how=$(sed -n 's/.*; policy [a-z]*; \(.*\))$/\1/p' "$D/eval-$mode.out")
  /usr/bin/python3 - "$D/commits-$mode" "$D/trace-$mode" "$mode" "$how" <<'EOF'
import sys
commits = dict(l.split() for l in open(sys.argv[1]))
lat, wake = [], []
for l in open(sys.argv[2]):
    w = l.split()
    step, t_wake, t_load = w[1], float(w[3]), float(w[5])
    if step in commits:
        lat.append((t_load - float(commits[step])) * 1000)
        wake.append((t_wake - float(commits[step])) * 1000)
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]
n = len(lat)
print('%-8s %4d checkpoints (%s): rename -> load start  p50 %.2f ms  p99 %.2f ms  max %.2f ms'
      '   (rename -> wake-up p50 %.2f ms)' % (sys.argv[3], n, sys.argv[4], pct(lat, 50),
                                              pct(lat, 99), max(lat), pct(wake, 50)))
EOF
}

echo "== reaction latency: $N commits, one every ${INTERVAL_MS}-$((2 * INTERVAL_MS)) ms =="
run inotify
if [ -n "${TV_BENCH_POLL:-}" ]; then
  run poll "--poll=$TV_BENCH_POLL"
fi
