#!/bin/sh
# tests/run_unit.sh on real cmocka output (unit_runner_sample.c, built here): it counts each
# test from cmocka's per-test lines, and a binary that dies part-way names the test it died in and
# how many never ran, all counted as failed; a binary that fails only at exit is one failure.
. "$(dirname "$0")/lib.sh"
CC=${CC:-cc}
if ! "$CC" -std=c11 -Wall -Wextra -Werror "$ROOT/tests/integration/unit_runner_sample.c" \
  -o "$T/sample" -lcmocka 2>"$T/cc.err"; then
  notok "the cmocka sample builds" "$(cat "$T/cc.err")"
  exit 0
fi
S=$T/sample

# runs MODE RC LINE...: run_unit.sh on the sample in MODE (twice, for the sums) exits RC and
# prints each LINE (a whole line, fixed string).
runs() {
  name="run_unit.sh, sample: $1"
  want=$2; shift 2
  TV_SAMPLE=$mode sh "$ROOT/tests/run_unit.sh" "$S" "$S" >"$T/out" 2>&1
  rc=$?
  miss=
  for l in "$@"; do grep -qxF -- "$l" "$T/out" || miss="$miss [$l]"; done
  if [ "$rc" -eq "$want" ] && [ -z "$miss" ]; then ok "$name"; else
    notok "$name" "exit $rc (want $want), missing:$miss" "$(cat "$T/out")"
  fi
}

mode= runs "all pass" 0 "unit: 6 passed, 0 failed, 0 skipped"
mode=fail runs fail 1 "[  FAILED  ] sample_second" "unit: 4 passed, 2 failed, 0 skipped"
mode=skip runs skip 0 "[  SKIPPED ] sample_second" "unit: 4 passed, 0 failed, 2 skipped"
mode=abort runs "abort in a test" 1 "unit: $S: sample_second did not finish (exit 134)" \
  "unit: $S: 1 of 3 tests not run" "unit: 2 passed, 4 failed, 0 skipped"
mode=atexit runs "exit 3 after the tests" 1 "unit: $S exited 3 with no test failed" \
  "unit: 6 passed, 2 failed, 0 skipped"
