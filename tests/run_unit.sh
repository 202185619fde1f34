#!/bin/sh
# Runs each cmocka test binary given as an argument; prints one closing line
# "unit: N passed, N failed, N skipped" over all binaries and exits non-zero if any failed.
# A test that cannot run its checker calls cmocka's skip(): it is counted as skipped, never as
# passed.
pass=0
fail=0
skipped=0
for t in "$@"; do
  out=$("$t" 2>&1)
  rc=$?
  printf '%s\n' "$out" | grep -E '^\[  (FAILED|ERROR) |^\[  PASSED  \]|^\[  SKIPPED \]|^\[==========\] tests: ' || true
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    printf '%s\n' "$out" | tail -20
    echo "unit: $t exited $rc"
    f=1
  fi
  pass=$((pass + p))
  fail=$((fail + f))
  skipped=$((skipped + s))
done
echo "unit: $pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
