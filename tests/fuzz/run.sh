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
# Leaks inside libhdf5 itself on damaged files are not the readers' (lsan.supp says which).
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp}
# A request beyond ASan's largest allocation (1 TiB; libhdf5 asks for one on some damaged files)
# fails as malloc fails in the real build, returning NULL, instead of aborting; libFuzzer's own
# limit still fails a target on any single request over FUZZ_RSS_MB.
ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1}
export LSAN_OPTIONS ASAN_OPTIONS
# FUZZ_SKIP: targets whose timed run is left out (their regression inputs still run), for a target
# with an open finding listed in tests/fuzz/open/ that is not fixed yet; each is named loudly.
skip=${FUZZ_SKIP:-}
# FUZZ_ONLY: run only these targets (space-separated names); the others are not counted.
only=${FUZZ_ONLY:-}
n=0
failed=0
skipped=0
for bin in "$dir"/fuzz_*; do
  [ -x "$bin" ] || continue
  t=$(basename "$bin")
  if [ -n "$only" ]; then
    case " $only " in
    *" $t "*) ;;
    *) continue ;;
    esac
  fi
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
  case " $skip " in
  *" $t "*)
    echo "fuzz: $t: SKIPPED its timed run (FUZZ_SKIP; open finding: tests/fuzz/open/$t); regression inputs ok"
    skipped=$((skipped + 1))
    continue
    ;;
  esac
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
echo "fuzz: $n targets, $failed failed, $skipped skipped, $secs s each"
[ "$n" -gt 0 ] && [ "$failed" -eq 0 ]
