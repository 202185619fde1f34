#!/bin/sh
# Runs each cmocka test binary given as an argument; prints one closing line
# "unit: N passed, N failed, N skipped" over all binaries and exits non-zero if any failed.
# A test that cannot run its checker calls cmocka's skip(): it is counted as skipped, never as
# passed.
#
# The counts come from cmocka's per-test lines ("[       OK ] t", "[  FAILED  ] t",
# "[  SKIPPED ] t", "[  ERROR   ] t"), not from its summary, so a binary that dies part-way (a
# sanitizer report, abort(), a signal cmocka does not catch) still says which test it died in
# ("unit: BIN: TEST did not finish (exit RC)", counted as failed) and how many of the tests it
# announced never ran ("unit: BIN: N of M tests not run", each counted as failed), after the last
# lines it printed.  A binary that exits non-zero with every test passed (a leak report at exit)
# is one failure, with its last lines.
pass=0
fail=0
skipped=0

# tally RC: reads one binary's output; prints the lines to show, then "counts P F S" last.
tally() {
  awk -v rc="$1" -v bin="$2" '
    function name(l) { sub(/^\[[^]]*\] /, "", l); return l }
    /^\[==========\] Running [0-9]+ test/ { announced += $3; inrun = 1; next }
    /^\[==========\] [0-9]+ test\(s\) run\./ { inrun = 0; next }
    /^\[  (FAILED|ERROR) |^\[  PASSED  \]|^\[  SKIPPED \]|^\[==========\] tests: / { print }
    !inrun { next }
    /^\[ RUN      \] / { cur = name($0); open = 1; next }
    /^\[       OK \] / { p++; open = 0; next }
    /^\[  SKIPPED \] / { s++; open = 0; next }
    /^\[  FAILED  \] / { f++; open = 0; next }
    /^\[  ERROR   \] / && !/^\[  ERROR   \] --- / { f++; open = 0; next }
    END {
      died = 0
      if (rc != 0 && open) {
        print "unit: " bin ": " cur " did not finish (exit " rc ")"
        f++; died = 1
      }
      left = announced - p - f - s
      if (rc != 0 && left > 0) {
        print "unit: " bin ": " left " of " announced " tests not run"
        f += left; died = 1
      }
      if (rc != 0 && f == 0) {
        print "unit: " bin " exited " rc " with no test failed"
        f = 1; died = 1
      }
      print "counts " p + 0 " " f + 0 " " s + 0 " " died
    }'
}

for t in "$@"; do
  out=$("$t" 2>&1)
  rc=$?
  res=$(printf '%s\n' "$out" | tally "$rc" "$t")
  read -r _ p f s died <<X
$(printf '%s\n' "$res" | tail -1)
X
  if [ "$died" -eq 1 ]; then
    printf '%s\n' "$out" | tail -20
  fi
  printf '%s\n' "$res" | sed '$d'
  pass=$((pass + p))
  fail=$((fail + f))
  skipped=$((skipped + s))
done
echo "unit: $pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
