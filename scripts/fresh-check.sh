#!/bin/sh
# The README's two commands on a truly fresh Debian 12: a minbase bookworm built with
# debootstrap, with only what a new machine of this kind ships added (gcc, make, git, python3;
# no pkg-config, no -dev package), the committed tree copied in with `git archive HEAD`, /proc,
# /dev and /dev/pts mounted (the terminal tests need a pty).  `make demo` and `make test` each
# run from scratch: a fresh copy of the base and a fresh copy of the tree.
#
#   sudo sh scripts/fresh-check.sh            (root: debootstrap, chroot and mounts need it)
#   sh scripts/fresh-check.sh --show-mirror    prints the mirror it would use, and exits
#
# Environment:
#   TV_FRESH_CACHE     the cache folder, outside the repository (/var/cache/trainval-fresh):
#                      the bootstrapped base (built once, reused), downloaded .deb files (a
#                      download cache only: every package is still installed fresh) and the logs
#   TV_FRESH_COMMANDS  the commands to run, ';'-separated ("make demo;make test")
#   TV_FRESH_MIRROR    a Debian mirror; default: the first bookworm entry of this machine's own
#                      apt sources (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list, *.sources)
#   TV_FRESH_SOURCES   the apt source files to read the mirror from, instead of those
#   TV_FRESH_REBUILD=1 bootstrap the base again even if the cache holds one
#
# Prints each command's result and time; exits 1 if either failed, 0 when both passed.  When
# the Debian registry cannot be reached at all, or the check cannot run here (not root), it says
# so loudly and exits 0 with "skipped": CI fails on the project's own faults only.  Everything
# mounted is unmounted on every exit path.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TV_FRESH_CACHE:-/var/cache/trainval-fresh}
COMMANDS=${TV_FRESH_COMMANDS:-make demo;make test}
SUITE=bookworm
SHIPS=gcc,make,git,python3

say() { echo "fresh-check: $*"; }
skip() {
  echo "fresh-check: ==================================================================="
  echo "fresh-check: skipped: $*"
  echo "fresh-check: ==================================================================="
  exit 0
}
die() {
  echo "fresh-check: $*" >&2
  exit 1
}

# mirror_from_sources [FILE...]: the URI of the first `deb` entry for $SUITE itself (not
# -updates or -security), in one-line (.list) or deb822 (.sources) form.
mirror_from_sources() {
  for f in "$@"; do
    [ -r "$f" ] || continue
    case $f in
    *.sources)
      # deb822: stanzas separated by blank lines; Types, URIs and Suites may come in any order.
      awk -v suite="$SUITE" '
        function flush() {
          if (deb && uri != "" && (" " suites " ") ~ (" " suite " ")) { print uri; found = 1; exit }
          deb = 0; uri = ""; suites = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
        tolower($1) == "uris:" { uri = $2 }
        tolower($1) == "suites:" { suites = ""; for (i = 2; i <= NF; i++) suites = suites " " $i }
        tolower($1) == "enabled:" && tolower($2) == "no" { deb = 0; uri = "-" }
        END { if (!found) flush() }' "$f" | grep -v '^-$' | head -1
      ;;
    *)
      # deb [options] uri suite component...
      sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }'
      ;;
    esac
  done | head -1
}

# reachable URL: 0 when an HTTP(S) GET of URL succeeds (curl, wget or python3, whichever exists).
reachable() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 20 "$1" 2>/dev/null
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O /dev/null -T 20 -t 1 "$1" 2>/dev/null
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=20).read(1)' "$1" 2>/dev/null
  else
    timeout 60 apt-get update -q >/dev/null 2>&1
  fi
}

# unmount_under DIR: every mount point at or below DIR, deepest first (a test may mount too).
unmount_under() {
  [ -d "$1" ] || return 0
  dir=$(cd "$1" && pwd -P)
  awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" || echo "fresh-check: could not unmount $m" >&2
    done
}

RUN=""
cleanup() {
  rc=$?
  if [ -n "$RUN" ]; then
    unmount_under "$RUN"
    # Remove the copy only once nothing is mounted in it any more (never delete through a mount).
    if [ -d "$RUN" ] && ! awk -v d="$RUN" 'index($5, d) == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
      rm -rf "$RUN"
    fi
  fi
  [ -n "${TMPBASE:-}" ] && [ -d "$TMPBASE" ] && { unmount_under "$TMPBASE"; rm -rf "$TMPBASE"; }
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

case ${1:-} in
"" | --show-mirror) ;;
*) die "unknown argument '$1' (usage: sh scripts/fresh-check.sh [--show-mirror])" ;;
esac
# shellcheck disable=SC2086
MIRROR=${TV_FRESH_MIRROR:-$(mirror_from_sources ${TV_FRESH_SOURCES:-/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources})}
[ -n "$MIRROR" ] || die "no '$SUITE' entry in ${TV_FRESH_SOURCES:-/etc/apt/sources.list or /etc/apt/sources.list.d/} (set TV_FRESH_MIRROR)"
MIRROR=${MIRROR%/}
if [ "${1:-}" = --show-mirror ]; then
  echo "$MIRROR"
  exit 0
fi
case $CACHE in /*) ;; *) CACHE=$PWD/$CACHE ;; esac
cache_abs=$(cd "$(dirname "$CACHE")" 2>/dev/null && pwd -P)/$(basename "$CACHE") || cache_abs=$CACHE
case $cache_abs/ in
"$(cd "$ROOT" && pwd -P)"/*) die "$CACHE: the cache must be outside the repository (TV_FRESH_CACHE)" ;;
esac
BASE=$CACHE/base-$SUITE

# What this machine lacks is "skipped"; what the checkout lacks is an error.
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot and mounts); run it as root or with sudo"
say "mirror $MIRROR ($([ -n "${TV_FRESH_MIRROR:-}" ] && echo TV_FRESH_MIRROR || echo "from this machine's apt sources")), cache $CACHE"
reachable "$MIRROR/dists/$SUITE/InRelease" || reachable "$MIRROR/dists/$SUITE/Release" ||
  skip "the Debian registry $MIRROR cannot be reached from this machine; nothing was checked"
# Every command gets the same tree: the commit HEAD names now, even if HEAD moves meanwhile.
COMMIT=$(git -C "$ROOT" rev-parse --verify -q HEAD 2>/dev/null) ||
  die "$ROOT: not a git checkout with a commit (the check copies the committed tree, git archive HEAD)"

if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap on this machine (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >/dev/null
fi

mkdir -p "$CACHE/debs" "$CACHE/logs"

# The base: bootstrapped once, reused while the mirror, the suite and the shipped set are the same.
stamp="suite=$SUITE mirror=$MIRROR ships=$SHIPS variant=minbase"
if [ "${TV_FRESH_REBUILD:-0}" = 1 ] || [ "$(cat "$BASE/.trainval-fresh-base" 2>/dev/null)" != "$stamp" ]; then
  unmount_under "$BASE"
  rm -rf "$BASE"
  TMPBASE=$CACHE/base-$SUITE.tmp.$$
  say "bootstrapping a minbase $SUITE with $SHIPS (once; kept in $BASE)"
  t0=$(date +%s)
  if ! debootstrap --variant=minbase --include="$SHIPS" "$SUITE" "$TMPBASE" "$MIRROR" \
    >"$CACHE/logs/debootstrap.log" 2>&1; then
    tail -20 "$CACHE/logs/debootstrap.log"
    # A registry that answered the probe but failed the download is not the project's fault.
    if ! reachable "$MIRROR/dists/$SUITE/InRelease"; then
      skip "the Debian registry $MIRROR went away during debootstrap"
    fi
    die "debootstrap failed (log: $CACHE/logs/debootstrap.log)"
  fi
  chroot "$TMPBASE" apt-get clean
  echo "$stamp" >"$TMPBASE/.trainval-fresh-base"
  mv "$TMPBASE" "$BASE"
  TMPBASE=""
  say "base ready in $(($(date +%s) - t0)) s"
else
  say "base from the cache ($BASE)"
fi

# Copies the base and the committed tree into a fresh root and mounts what a running machine
# has; sets RUN.
fresh_root() {
  RUN=$(mktemp -d "$CACHE/run.XXXXXX")
  cp -a "$BASE/." "$RUN/"
  rm -f "$RUN/.trainval-fresh-base"
  cp /etc/resolv.conf "$RUN/etc/resolv.conf" 2>/dev/null || true
  mkdir -p "$RUN/root/trainval"
  git -C "$ROOT" archive "$COMMIT" | tar -x -C "$RUN/root/trainval"
  # The independent format checkers sit beside the checkout where the tests look for them.
  if [ -d "$ROOT/../shared/checkers" ]; then
    mkdir -p "$RUN/root/shared"
    cp -r "$ROOT/../shared/checkers" "$RUN/root/shared/"
  fi
  # A machine (a container) that forbids mounts cannot run the check: not the project's fault.
  mount -t proc proc "$RUN/proc" || skip "cannot mount /proc in the fresh root on this machine"
  mount --bind /dev "$RUN/dev"
  mount --bind /dev/pts "$RUN/dev/pts"
  mount --bind "$CACHE/debs" "$RUN/var/cache/apt/archives"
}

drop_root() {
  unmount_under "$RUN"
  rm -rf "$RUN"
  RUN=""
}

failed=0
results=""
n=0
old_ifs=$IFS
IFS=';'
# shellcheck disable=SC2086
set -- $COMMANDS
IFS=$old_ifs
for cmd in "$@"; do
  n=$((n + 1))
  log=$CACHE/logs/$n-$(echo "$cmd" | tr -c 'a-zA-Z0-9\n' '-').log
  say "== $cmd (fresh root, fresh tree at $(echo "$COMMIT" | cut -c1-7)) =="
  fresh_root
  t0=$(date +%s)
  set +e
  chroot "$RUN" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    sh -c "cd /root/trainval && $cmd" </dev/null >"$log" 2>&1
  rc=$?
  set -e
  secs=$(($(date +%s) - t0))
  if [ "$rc" -eq 0 ]; then
    line="$cmd: ok ($secs s)"
  else
    line="$cmd: FAILED (exit $rc, $secs s; log: $log)"
    failed=1
    echo "---- last lines of $log ----"
    tail -30 "$log"
    echo "----"
  fi
  say "$line"
  results="$results
fresh-check: $line"
  drop_root
done
echo "fresh-check: summary ($SUITE minbase + $SHIPS):$results"
exit "$failed"
