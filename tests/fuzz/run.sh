#!/bin/sh
# Runs every libFuzzer target in DIR (build-fuzz/fuzz, built by `make fuzz`) for FUZZ_SECONDS
# each (default 30), from its committed seed corpus tests/fuzz/corpus/<target>/ plus the
# regression inputs in tests/fuzz/regress/<target>/ (every crash or hang found, kept).  New inputs
# libFuzzer finds go to a scratch corpus, never into the committed one.  A crash, a leak, a
# sanitizer report, a timeout (FUZZ_TIMEOUT s per input, default 30) or running out of memory
# (FUZZ_RSS_MB, default 2048) fails the target; its reproducer is copied to
# build-fuzz/findings/<target>/ and named in the output.  Prints one line per target and a closing
# "fuzz: N targets, N failed, S s each" line; exits non-zero if any failed.
set -u
dir=${1:?usage: run.sh DIR}
secs=${FUZZ_SECONDS:-30}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tv-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT INT TERM
n=0
failed=0
for bin in "$dir"/fuzz_*; do
  [ -x "$bin" ] || continue
  t=$(basename "$bin")
  n=$((n + 1))
  mkdir -p "$scratch/$t" "$dir/../findings/$t"
  seeds="$here/corpus/$t"
  regress="$here/regress/$t"
  set -- "$scratch/$t"
  [ -d "$seeds" ] && set -- "$@" "$seeds"
  [ -d "$regress" ] && set -- "$@" "$regress"
  # The regression inputs first, each once: a known crash must stay fixed even if the timed run
  # never reaches it again.
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
    if ! "$bin" -timeout="${FUZZ_TIMEOUT:-30}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
      "$regress"/* >"$scratch/$t.regress.log" 2>&1; then
      tail -30 "$scratch/$t.regress.log"
      echo "fuzz: $t: a regression input fails again (tests/fuzz/regress/$t)"
      failed=$((failed + 1))
      continue
    fi
  fi
  if "$bin" -max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-30}" \
    -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -print_final_stats=1 \
    -artifact_prefix="$dir/../findings/$t/" "$@" >"$scratch/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/$t.log")
    cov=$(grep -o 'cov: [0-9]*' "$scratch/$t.log" | tail -1)
    echo "fuzz: $t: ok, ${runs:-?} inputs in $secs s, $cov"
  else
    tail -40 "$scratch/$t.log"
    echo "fuzz: $t: FAILED; reproducer in $(ls -d "$dir/../findings/$t"/* 2>/dev/null | head -1)"
    failed=$((failed + 1))
  fi
done
echo "fuzz: $n targets, $failed failed, $secs s each"
[ "$n" -gt 0 ] && [ "$failed" -eq 0 ]
