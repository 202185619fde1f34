#!/bin/sh
# scripts/fresh-check.sh, the pieces that run in seconds (the whole check debootstraps a Debian
# and runs make demo and make test in it: .ci/run does that): the mirror read from apt sources
# in both formats, its errors, "skipped" when the registry cannot be reached, and a run on a
# stand-in base that mounts /proc, /dev and /dev/pts, reports the failed command, exits 1 and
# leaves nothing mounted and no copy behind.
. "$(dirname "$0")/lib.sh"
FC="$ROOT/scripts/fresh-check.sh"

cat >"$T/one.list" <<'X'
# a comment
deb http://security.debian.org/debian-security bookworm-security main
deb-src http://src.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main contrib
deb http://other.example/debian bookworm main
X
check "mirror from a one-line .list: the first deb entry of bookworm itself, options skipped" sh -c "
  test \"\$(TV_FRESH_SOURCES='$T/one.list' sh '$FC' --show-mirror)\" = http://mirror.example/debian"

cat >"$T/deb822.sources" <<'X'
Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Enabled: no

Types: deb-src deb
# a comment inside a stanza
URIs: http://deb.example/debian
Suites: bookworm-updates bookworm
Components: main
X
check "mirror from deb822 .sources: stanza order, Enabled: no and -updates/-security respected" sh -c "
  test \"\$(TV_FRESH_SOURCES='$T/deb822.sources' sh '$FC' --show-mirror)\" = http://deb.example/debian"

echo "deb http://x.example/debian bullseye main" >"$T/old.list"
expect_fail "no bookworm entry: a one-line error naming the files" 1 "no 'bookworm' entry in .*old\.list" \
  env TV_FRESH_SOURCES="$T/old.list" sh "$FC"
expect_fail "a cache inside the repository is refused, and not created" 1 "cache must be outside the repository" \
  env TV_FRESH_CACHE="$ROOT/fresh-cache" sh "$FC"
check "... and not created" test ! -e "$ROOT/fresh-cache"
expect_fail "an unknown argument is refused" 1 "unknown argument '--bogus'" sh "$FC" --bogus

# An unreachable registry is not the project's fault: loudly skipped, exit 0.
TV_FRESH_MIRROR=http://127.0.0.1:9/debian TV_FRESH_CACHE=$T/cache sh "$FC" >"$T/skip.out" 2>&1
rc=$?
if [ "$(id -u)" = 0 ]; then want="skipped: the Debian registry http://127.0.0.1:9/debian cannot be reached"; else want="skipped: needs root"; fi
check "unreachable registry (or not root): says skipped, exits 0" sh -c "test $rc -eq 0 && grep -q '$want' '$T/skip.out'" ||
  cat "$T/skip.out"

# A stand-in base (no programs in it, so the command cannot start): the mounts go up and come down.
mirror=$(sh "$FC" --show-mirror 2>/dev/null)
if [ "$(id -u)" != 0 ]; then
  echo "skip - fresh-check run on a stand-in base (needs root)"
elif ! git -C "$ROOT" rev-parse -q --verify HEAD >/dev/null 2>&1; then
  echo "skip - fresh-check run on a stand-in base (the tree is not a git checkout)"
else
  C=$T/cache2
  mkdir -p "$C/base-bookworm/proc" "$C/base-bookworm/dev/pts" "$C/base-bookworm/var/cache/apt/archives" \
    "$C/base-bookworm/etc" "$C/base-bookworm/root"
  # The stamp a base bootstrapped for this mirror carries (see fresh-check.sh).
  echo "suite=bookworm mirror=$mirror ships=gcc,make,git,python3 variant=minbase" >"$C/base-bookworm/.trainval-fresh-base"
  TV_FRESH_CACHE=$C TV_FRESH_COMMANDS="make demo;make test" sh "$FC" >"$T/stand.out" 2>&1
  rc=$?
  if grep -q 'skipped: ' "$T/stand.out"; then
    echo "skip - fresh-check run on a stand-in base ($(sed -n 's/.*skipped: //p' "$T/stand.out" | head -1))"
  else
    check "stand-in base: both commands reported FAILED, exit 1" sh -c "
      test $rc -eq 1 && grep -q 'make demo: FAILED' '$T/stand.out' && grep -q 'make test: FAILED' '$T/stand.out'" ||
      cat "$T/stand.out"
    check "stand-in base: nothing left mounted under the cache, no copy left, the base untouched" sh -c "
      ! grep -q ' $C/' /proc/self/mountinfo && ! ls -d '$C'/run.* 2>/dev/null &&
      test -f '$C/base-bookworm/.trainval-fresh-base' && test ! -e '$C/base-bookworm/root/trainval'"
  fi
fi
