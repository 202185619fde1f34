#!/bin/sh
# Runs every tests/integration/*.sh against the real binaries in $BIN; each script prints
# "ok - NAME" or "not ok - NAME" per check, or "skip - NAME (why)" for a check that cannot run
# here (an external checker or tool missing: counted as skipped, never as passed).
# Each script's results are followed by "# SCRIPT: N s wall, N s CPU" (its times).
# Closing line: "integration: N passed, N failed, N skipped".
#
# TV_IT_JOBS=N (default 1) runs the scripts N at a time (make asan uses 2: the sanitizer build is
# slow and mostly waits on one core).  Each script works in its own mktemp directory (lib.sh), so
# they are independent, except those that say "# integration: alone" on a line of their own (they
# run make in the tree): those run one by one after the others.  Results are
# printed in the scripts' order whatever the order they finished in.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BIN:=$here/../bin}"
: "${TV_IT_JOBS:=1}"
export BIN
pass=0
fail=0
skipped=0
R=$(mktemp -d /tmp/trainval-run.XXXXXX)
trap 'rm -rf "$R"' EXIT
scripts=
for t in "$here"/integration/*.sh; do
  [ "$(basename "$t")" = lib.sh ] || scripts="$scripts $t"
done

# run_one SCRIPT: its output in $R/NAME.out, exit status in .rc, "W s wall, C s CPU" in .s (C:
# the CPU time of every process it waited for, user and system).
run_one() {
  n=$(basename "$1" .sh)
  s0=$(date +%s)
  (
    sh "$1" >"$R/$n.out" 2>&1
    echo $? >"$R/$n.rc"
    times >"$R/$n.cpu"
  )
  cpu=$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$R/$n.cpu")
  echo "$(($(date +%s) - s0)) s wall, $cpu s CPU" >"$R/$n.s"
}

# A lane takes the next script nobody has claimed (mkdir is atomic) until none is left, those
# that say "# integration: long" (the few that take minutes under a sanitizer) first, so that the
# lanes end together.
long=
rest=
for t in $scripts; do
  if grep -qx '# integration: long' "$t"; then long="$long $t"; else rest="$rest $t"; fi
done
lane() {
  for t in $long $rest; do
    grep -qx '# integration: alone' "$t" && continue
    mkdir "$R/$(basename "$t" .sh).claim" 2>/dev/null && run_one "$t"
  done
}

if [ "$TV_IT_JOBS" -gt 1 ]; then
  i=0
  while [ "$i" -lt "$TV_IT_JOBS" ]; do
    lane &
    i=$((i + 1))
  done
  wait
fi
for t in $scripts; do
  n=$(basename "$t" .sh)
  [ -e "$R/$n.rc" ] || run_one "$t"
  out=$(cat "$R/$n.out")
  rc=$(cat "$R/$n.rc")
  printf '%s\n' "$out" | grep -E '^(ok|not ok|skip) - ' || true
  p=$(printf '%s\n' "$out" | grep -c '^ok - ')
  f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
  s=$(printf '%s\n' "$out" | grep -c '^skip - ')
  if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out" | grep -v -E '^(ok|skip) - ' | tail -40
    [ "$f" -eq 0 ] && f=1 && echo "not ok - $n.sh exited $rc"
  fi
  echo "# $n.sh: $(cat "$R/$n.s")"
  pass=$((pass + p))
  fail=$((fail + f))
  skipped=$((skipped + s))
done
echo "integration: $pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
