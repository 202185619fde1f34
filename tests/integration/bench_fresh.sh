#!/bin/sh
# The benchmark scripts refuse a bin/ older than its sources (scripts/fresh_bin.sh), with one line
# saying to run make, before they run anything; TV_BENCH_STALE_OK=1 lets them time it anyway;
# bench_ab.sh takes the two bin directories it is given.  Run on a copy of the scripts in a small
# tree of its own (sources, build/ .d files and flags, bin/ programs with set modification
# times), whose programs only note that they were started: no benchmark runs here.
. "$(dirname "$0")/lib.sh"
R=$T/tree
mkdir -p "$R/scripts" "$R/common/nn" "$R/train" "$R/eval" "$R/include/trainval" "$R/bin" \
  "$R/build/common/nn" "$R/build/train" "$R/build/eval" "$T/a" "$T/b"
for s in fresh_bin bench bench_text bench_mpi bench_watch bench_ab; do
  cp "$ROOT/scripts/$s.sh" "$R/scripts/"
done
for f in common/nn/ops.c train/main.c eval/main.c include/trainval/ops.h include/trainval/evalonly.h; do
  echo "/* $f */" >"$R/$f"
done
printf 'build/common/nn/ops.o: common/nn/ops.c include/trainval/ops.h\ninclude/trainval/ops.h:\n' \
  >"$R/build/common/nn/ops.d"
printf 'build/eval/main.o: eval/main.c include/trainval/ops.h \\\n include/trainval/evalonly.h\n' \
  >"$R/build/eval/main.d"
printf 'include/trainval/ops.h:\ninclude/trainval/evalonly.h:\n' >>"$R/build/eval/main.d"
printf 'build/train/main.o: train/main.c\n' >"$R/build/train/main.d"
echo "cc -O2" >"$R/build/flags"
for p in "$R/bin/train" "$R/bin/eval" "$R/bin/train-mpi" "$T/a/train" "$T/b/train"; do
  printf '#!/bin/sh\necho "$0" >>"%s/started"\nexit 1\n' "$T" >"$p"
  chmod +x "$p"
done
old() { touch -d '2020-01-01 00:00:00' "$@"; }
built() { touch -d '2021-01-01 00:00:00' "$R"/bin/*; }
old $(cd "$R" && find common train eval include build -type f | sed "s|^|$R/|")
built

fresh() { (ROOT=$R && . "$R/scripts/fresh_bin.sh" && fresh_bin t "$@"); }
notrun() { ! [ -e "$T/started" ]; }
check "a bin/ newer than every source passes" fresh train eval train-mpi

touch "$R/common/nn/ops.c"
for s in bench bench_text bench_watch; do
  expect_fail "$s.sh refuses a bin/train older than a library source" 1 \
    "^$s.sh: bin/train is older than common/nn/ops.c: run make first" sh "$R/scripts/$s.sh"
  check "$s.sh ran no program when it refused" notrun
done
if command -v mpirun >/dev/null 2>&1; then
  expect_fail "bench_mpi.sh refuses a bin/train older than a library source" 1 \
    "^bench_mpi.sh: bin/train is older than common/nn/ops.c: run make first" sh "$R/scripts/bench_mpi.sh"
  check "bench_mpi.sh ran no program when it refused" notrun
else
  skip "bench_mpi.sh refuses a stale bin/" "no mpirun"
fi
TV_BENCH_STALE_OK=1 timeout 60 sh "$R/scripts/bench.sh" 10 10 1 >"$T/ok.out" 2>&1
check "TV_BENCH_STALE_OK=1: bench.sh goes on to start bin/train" grep -q "^\./bin/train\$" "$T/started"
rm -f "$T/started"
TV_BENCH_STALE_OK=0 timeout 60 sh "$R/scripts/bench_ab.sh" "$T/a" "$T/b" 1 1 1 >"$T/ab.out" 2>&1
check "bench_ab.sh times the two directories it is given, whatever bin/ is" \
  sh -c "grep -q '^$T/a/train\$' '$T/started' && grep -q '^$T/b/train\$' '$T/started'"

old "$R/common/nn/ops.c"
touch "$R/include/trainval/ops.h"
expect_fail "bench.sh (set -eu) refuses a bin/train older than a header its objects read" 1 \
  "^bench.sh: bin/train is older than include/trainval/ops.h: run make first" sh "$R/scripts/bench.sh"
old "$R/include/trainval/ops.h"
mkdir -p "$R/common/dist" "$R/build/common/dist"
echo '/* mpi */' >"$R/common/dist/mpi.c"
printf 'build/common/dist/mpi.o: common/dist/mpi.c\n' >"$R/build/common/dist/mpi.d"
check "common/dist/mpi.c, newer than bin/, leaves bin/train and bin/eval fresh (it is only in train-mpi)" \
  fresh train eval
expect_fail "... and makes bin/train-mpi stale" 1 \
  "^t: bin/train-mpi is older than common/dist/mpi.c: run make first" fresh train-mpi
rm -r "$R/common/dist" "$R/build/common/dist"
touch "$R/include/trainval/evalonly.h"
check "a header only eval's objects read leaves bin/train fresh" fresh train train-mpi
expect_fail "... and makes bin/eval stale (the headers come from build/'s .d files)" 1 \
  "^t: bin/eval is older than include/trainval/evalonly.h: run make first" fresh train eval
old "$R/include/trainval/evalonly.h"
echo '/* new */' >"$R/common/nn/new.c"
expect_fail "a new library source (in no .d file yet) makes bin/train stale" 1 \
  "^t: bin/train is older than common/nn/new.c: run make first" fresh train
rm "$R/common/nn/new.c"
touch "$R/build/flags"
expect_fail "new compile flags (build/flags) make bin/ stale" 1 \
  "^t: bin/train-mpi is older than build/flags: run make first" fresh train-mpi
old "$R/build/flags"
rm "$R/bin/eval"
expect_fail "a missing program is refused" 1 "^t: bin/eval does not exist: run make first" fresh eval
