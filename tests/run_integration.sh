#!/bin/sh
# Runs every tests/integration/*.sh against the real binaries in $BIN; each script prints
# "ok - NAME" or "not ok - NAME" per check, or "skip - NAME (why)" for a check that cannot run
# here (an external checker or tool missing: counted as skipped, never as passed).
# Closing line: "integration: N passed, N failed, N skipped".
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BIN:=$here/../bin}"
export BIN
pass=0
fail=0
skipped=0
for t in "$here"/integration/*.sh; do
  [ "$(basename "$t")" = lib.sh ] && continue
  out=$(sh "$t" 2>&1)
  rc=$?
  printf '%s\n' "$out" | grep -E '^(ok|not ok|skip) - ' || true
  p=$(printf '%s\n' "$out" | grep -c '^ok - ')
  f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
  s=$(printf '%s\n' "$out" | grep -c '^skip - ')
  if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out" | grep -v -E '^(ok|skip) - ' | tail -40
    [ "$f" -eq 0 ] && f=1 && echo "not ok - $(basename "$t") exited $rc"
  fi
  pass=$((pass + p))
  fail=$((fail + f))
  skipped=$((skipped + s))
done
echo "integration: $pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
