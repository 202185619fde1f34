#!/bin/sh
# Runs every tests/integration/*.sh against the real binaries in $BIN; each script prints
# "ok - NAME" or "not ok - NAME" per check.  Closing line: "integration: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BIN:=$here/../bin}"
export BIN
pass=0
fail=0
for t in "$here"/integration/*.sh; do
  [ "$(basename "$t")" = lib.sh ] && continue
  out=$(sh "$t" 2>&1)
  rc=$?
  printf '%s\n' "$out" | grep -E '^(ok|not ok) - ' || true
  p=$(printf '%s\n' "$out" | grep -c '^ok - ')
  f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
  if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out" | grep -v -E '^ok - ' | tail -40
    [ "$f" -eq 0 ] && f=1 && echo "not ok - $(basename "$t") exited $rc"
  fi
  pass=$((pass + p))
  fail=$((fail + f))
done
echo "integration: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
