# fresh_bin.sh — sourced by the scripts that time the programs in bin/ (bench.sh, bench_text.sh,
# bench_mpi.sh, bench_watch.sh): they refuse to time a build older than its sources, since `make
# bench` rebuilds first but a direct call does not, and a stale bin/ once gave a whole wrong run.
# bench_ab.sh takes its two bin directories as given (comparing builds is what it is for) and
# does not use this.
#
# fresh_bin SCRIPT PROG...: returns when every $ROOT/bin/PROG (train, train-mpi, eval, report)
# exists and is at least as new as each file it is built from: every .c of the library and of the
# program's own folder, build/flags (rewritten when the compile flags change), and every file the
# compiler read for those objects (the build/ .d files -MMD writes: the headers); common/dist/mpi.c
# (and what it reads) only for train-mpi, the one program it is linked into.  Otherwise it
# prints one line ("SCRIPT: bin/train is older than common/nn/ops.c: run make first ...") and
# exits 1.  TV_BENCH_STALE_OK=1 skips the check (to time an old build on purpose).
fresh_bin() {
  [ "${TV_BENCH_STALE_OK:-0}" = 1 ] && return 0
  _fb_script=$1
  shift
  for _fb_p in "$@"; do
    case $_fb_p in
    train-mpi) _fb_own=train ;;
    *) _fb_own=$_fb_p ;;
    esac
    if [ ! -x "$ROOT/bin/$_fb_p" ]; then
      echo "$_fb_script: bin/$_fb_p does not exist: run make first" >&2
      exit 1
    fi
    _fb_mpi=common/dist/mpi # linked into train-mpi alone
    [ "$_fb_p" = train-mpi ] && _fb_mpi=
    # (every step may find nothing: under the callers' set -e no status here may be non-zero)
    _fb_new=$(cd "$ROOT" && {
      for f in common/*/*.c common/*/*/*.c "$_fb_own"/*.c build/flags; do
        [ "$f" = "$_fb_mpi.c" ] || echo "$f"
      done
      for d in build/common/*/*.d build/common/*/*/*.d build/"$_fb_own"/*.d; do
        if [ -f "$d" ] && [ "$d" != "build/$_fb_mpi.d" ]; then tr ' \\' '\n\n' <"$d"; fi
      done
    } | sort -u | while read -r f; do
      case $f in '' | *:) continue ;; esac
      if [ -f "$f" ] && [ "$f" -nt "bin/$_fb_p" ]; then
        echo "$f"
        break
      fi
    done) || :
    if [ -n "$_fb_new" ]; then
      echo "$_fb_script: bin/$_fb_p is older than $_fb_new: run make first (or TV_BENCH_STALE_OK=1 to time it as it is)" >&2
      exit 1
    fi
  done
}
