#!/bin/sh
# make install / make uninstall into a DESTDIR, as a user of the installed tool sees it: the
# files and names, trainval.pc, a program compiled outside the tree with `pkg-config --cflags
# --libs trainval` alone and linked against the installed shared (and static) library, run on a
# real checkpoint and checked against numpy; the installed man pages render; the installed
# programs run; uninstall removes every installed file and nothing else.
# integration: alone
. "$(dirname "$0")/lib.sh"

# A make of the same build as the one under test (make passes B, BIN, CFLAGS, ... of `make asan`
# down in MAKEFLAGS); its jobserver does not reach this script, so run it serially.
MAKEFLAGS=$(printf '%s' "${MAKEFLAGS:-}" | sed -e 's/--jobserver-[a-z]*=[^ ]*//g' -e 's/\(^\| \)-j[0-9]*//g')
export MAKEFLAGS
tvmake() { make -C "$ROOT" --no-print-directory "$@"; }

D=$T/dest
P=$D/usr/local
FIX=$ROOT/tests/fixtures/v1-expected-ckpt-00000120.h5
VERSION=$(sed -n 's/^#define TV_VERSION "\([0-9.]*\)".*/\1/p' "$ROOT"/include/trainval/*.h | head -1)
SOMAJOR=${VERSION%%.*}

tvmake install DESTDIR="$D" >"$T/install.out" 2>&1
rc=$?
check "make install DESTDIR=... exits 0" sh -c "test $rc -eq 0 || { cat '$T/install.out'; exit 1; }"

(cd "$D" && find . | sort) >"$T/files1"
tvmake install DESTDIR="$D" >"$T/install.again" 2>&1
rc=$?
check "make install again over the installed tree succeeds and installs the same files" sh -c "
  test $rc -eq 0 && (cd '$D' && find . | sort) | cmp -s - '$T/files1'" || cat "$T/install.again"
check "programs installed as trainval-train, trainval-eval (and trainval-report), executable" \
  sh -c "test -x '$P/bin/trainval-train' && test -x '$P/bin/trainval-eval' &&
    { ! ls '$ROOT'/report/main.c >/dev/null 2>&1 || test -x '$P/bin/trainval-report'; }"
if [ -x "$BIN/train-mpi" ]; then
  check "trainval-train-mpi installed beside trainval-train (what it runs under mpirun)" \
    test -x "$P/bin/trainval-train-mpi"
else
  skip "trainval-train-mpi installed" "no Open MPI here, so no train-mpi was built"
fi
check "static library and shared library with soname libtrainval.so.$SOMAJOR and its links" sh -c "
  test -f '$P/lib/libtrainval.a' && test -f '$P/lib/libtrainval.so.$VERSION' &&
  test \"\$(readlink '$P/lib/libtrainval.so.$SOMAJOR')\" = libtrainval.so.$VERSION &&
  test \"\$(readlink '$P/lib/libtrainval.so')\" = libtrainval.so.$SOMAJOR &&
  readelf -d '$P/lib/libtrainval.so.$VERSION' | grep -q 'SONAME.*\[libtrainval.so.$SOMAJOR\]'"
check "every public header under include/trainval/" sh -c "
  cd '$ROOT/include/trainval' && for h in *.h; do cmp -s \"\$h\" '$P/include/trainval/'\"\$h\" || { echo \"missing \$h\"; exit 1; }; done &&
  test \$(ls '$P/include/trainval' | wc -l) -eq \$(ls | wc -l)"
check "every man page of man/ and every completion file of completion/ installed" sh -c "
  cd '$ROOT' && for f in man/*.1; do [ -e \"\$f\" ] || continue; test -f '$P/share/man/man1/'\"\${f#man/}\" || exit 1; done &&
  for f in man/*.5; do [ -e \"\$f\" ] || continue; test -f '$P/share/man/man5/'\"\${f#man/}\" || exit 1; done &&
  for f in completion/*; do [ -e \"\$f\" ] || continue; test -f '$P/share/bash-completion/completions/'\"\${f#completion/}\" || exit 1; done &&
  test -f '$P/share/man/man5/trainval-config.5'"

# pkg-config finds the installed tree through PKG_CONFIG_PATH alone (trainval.pc is relocatable).
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
check "trainval.pc: version $VERSION, its prefix resolves to the installed tree, private requirements" sh -c "
  test \"\$(pkg-config --modversion trainval)\" = '$VERSION' &&
  test \"\$(realpath \"\$(pkg-config --variable=prefix trainval)\")\" = \"\$(realpath '$P')\" &&
  pkg-config --print-requires-private trainval | tr '\n' ' ' | grep -q 'openblas.*hdf5.*yaml-0.1.*zlib'"
flags=$(pkg-config --cflags --libs trainval)
check "pkg-config --cflags --libs trainval points into the installed tree" sh -c "
  for f in $flags; do case \$f in -I*) echo \$f | grep -q /usr/local/ && inc=\$(realpath \${f#-I}) ;; -L*) lib=\$(realpath \${f#-L}) ;; esac; done
  test \"\$inc\" = \"\$(realpath '$P/include')\" && test \"\$lib\" = \"\$(realpath '$P/lib')\" && echo '$flags' | grep -q -- '-ltrainval'"

# (In the compiler's default dialect, gnu17: watch.h uses POSIX's sigset_t, which strict -std=c11
# hides unless the program defines _POSIX_C_SOURCE.)
check "every installed header compiles on its own with pkg-config --cflags trainval alone" sh -c "
  cd '$T' && for h in '$P'/include/trainval/*.h; do
    printf '#include <trainval/%s>\\n' \"\$(basename \"\$h\")\" | cc -Wall -Werror -fsyntax-only -x c - $(pkg-config --cflags trainval) ||
      { echo \"\$h\"; exit 1; }; done"

# A sanitizer build's library needs its runtime first in the client too (make asan).
san=""
readelf -d "$P/lib/libtrainval.so.$VERSION" | grep -q 'libasan' && san="-fsanitize=address,undefined"
mkdir -p "$T/client" && cp "$ROOT/tests/integration/install_client.c" "$T/client/"
# shellcheck disable=SC2086
check "a program outside the tree compiles and links with pkg-config --cflags --libs trainval alone" \
  sh -c "cd '$T/client' && cc -std=c11 -Wall -Wextra -Werror $san install_client.c $flags -o client"
check "it runs against the installed shared library" sh -c "
  LD_LIBRARY_PATH='$P/lib' ldd '$T/client/client' | grep -q 'libtrainval.so.$SOMAJOR => $P/lib/libtrainval.so.$SOMAJOR'"
LD_LIBRARY_PATH="$P/lib" "$T/client/client" "$FIX" >"$T/client.out" 2>"$T/client.err"
check "it opens the checkpoint (step 120) and its logits for a zero input match numpy's" /usr/bin/python3 -c "
import sys, h5py, numpy as np
out = open('$T/client.out').read().split('\n')
err = open('$T/client.err').read()
assert out[0] == 'step 120' and err == '', (out[:2], err)
got = np.array([float(v) for v in out[1:] if v])
v = h5py.File('$FIX', 'r')['variables']
# conv2d (no bias) of zeros is 0; batch_norm (INFER), relu, max-pool of a constant, flatten, dense
bn = v['batch_norm_1']
c = np.maximum(np.asarray(bn['beta']) - np.asarray(bn['gamma']) * np.asarray(bn['moving_mean'])
               / np.sqrt(np.asarray(bn['moving_variance']) + 1e-5), 0)
x = np.repeat(c.astype(np.float64), 14 * 14)
want = np.asarray(v['dense_1/kernel'], np.float64) @ x + np.asarray(v['dense_1/bias'])
assert got.shape == (10,), got
assert np.allclose(got, want, rtol=1e-4, atol=1e-5), (got, want)
"
expect_fail "it reports a missing checkpoint in one line naming the file" 1 "no-such\.h5" \
  env LD_LIBRARY_PATH="$P/lib" "$T/client/client" "$T/no-such.h5"

# Static libtrainval, shared dependencies: the archive and the private requirements' --libs.
# (`pkg-config --static` also works where libgfortran-12-dev is installed: Debian's openblas.pc
# lists -lgfortran in its Libs.private, which a fresh machine's packages do not provide.)
deps=$(pkg-config --libs $(pkg-config --print-requires-private trainval)) libdir=$(pkg-config --variable=libdir trainval)
check "linked statically (libtrainval.a + the private requirements), it needs no libtrainval.so, same output" sh -c "
  cd '$T/client' && cc -std=c11 $san install_client.c $(pkg-config --cflags trainval) '$libdir/libtrainval.a' $deps -lpthread -lm -o client-static &&
  ! ldd client-static | grep -q libtrainval && ./client-static '$FIX' | cmp -s - '$T/client.out'"

check "the installed trainval-eval evaluates the checkpoint" sh -c "
  '$P/bin/trainval-eval' --ckpt '$FIX' --num-examples 200 --json | grep -q '\"step\": 120'"

# The man pages render (man -l, else groff or mandoc) without a warning.
render() {
  if command -v man >/dev/null 2>&1; then
    MANWIDTH=80 man --warnings -l "$1"
  elif command -v groff >/dev/null 2>&1; then
    groff -man -Tutf8 -ww "$1"
  else
    mandoc -Tutf8 -Wwarning "$1"
  fi
}
if command -v man >/dev/null 2>&1 || command -v groff >/dev/null 2>&1 || command -v mandoc >/dev/null 2>&1; then
  for f in "$P"/share/man/man*/*; do
    [ -e "$f" ] || continue
    n=$(basename "$f")
    render "$f" >"$T/man.out" 2>"$T/man.err"
    check "man page $n renders without warnings, NAME and SYNOPSIS or DESCRIPTION present" sh -c "
      test ! -s '$T/man.err' || { cat '$T/man.err'; exit 1; }
      grep -q '^NAME' '$T/man.out' && grep -q -E '^(SYNOPSIS|DESCRIPTION)' '$T/man.out'"
  done
else
  echo "skip - man pages render (no man, groff or mandoc here; make setup installs man-db)"
fi

check "the config page documents every section and layer kind of config.h" sh -c "
  MANWIDTH=200 man -l '$P/share/man/man5/trainval-config.5' 2>/dev/null >'$T/cfg.txt' ||
    groff -man -Tutf8 '$P/share/man/man5/trainval-config.5' >'$T/cfg.txt'
  for w in model: data: train: optimizer: retention: dense conv2d max_pool2d avg_pool2d global_avg_pool \
    batch_norm dropout relu leaky_relu elu gelu sigmoid tanh softmax flatten add embedding lstm gru --set; do
    grep -q -- \"\$w\" '$T/cfg.txt' || { echo \"trainval-config.5 lacks \$w\"; exit 1; }; done"

# PREFIX and LIBDIR move everything, and trainval.pc follows them.
A=$D/alt/opt/trainval
tvmake install DESTDIR="$D/alt" PREFIX=/opt/trainval LIBDIR=/opt/trainval/lib/x86_64-linux-gnu >"$T/install2.out" 2>&1
check "PREFIX=/opt/trainval LIBDIR=.../lib/x86_64-linux-gnu installs there, and trainval.pc resolves there" sh -c "
  test -x '$A/bin/trainval-eval' && test -f '$A/include/trainval/ckpt.h' && test -f '$A/lib/x86_64-linux-gnu/libtrainval.a' &&
  test \"\$(realpath \"\$(PKG_CONFIG_PATH='$A/lib/x86_64-linux-gnu/pkgconfig' pkg-config --variable=includedir trainval)\")\" = \"\$(realpath '$A/include')\" &&
  test ! -e '$D/alt/usr'" || cat "$T/install2.out"

# Uninstall removes exactly what install put there.
mkdir -p "$P/share/man/man1" && echo keep >"$P/bin/other-tool" && echo keep >"$P/share/man/man1/other.1"
tvmake uninstall DESTDIR="$D" >"$T/uninstall.out" 2>&1
tvmake uninstall DESTDIR="$D/alt" PREFIX=/opt/trainval LIBDIR=/opt/trainval/lib/x86_64-linux-gnu >>"$T/uninstall.out" 2>&1
check "make uninstall removes every installed file and leaves others alone" sh -c "
  left=\$(find '$D' -type f -o -type l | sort)
  test \"\$left\" = \"\$(printf '%s\n%s' '$P/bin/other-tool' '$P/share/man/man1/other.1')\" || { echo \"left: \$left\"; exit 1; }"
check "make uninstall of nothing installed succeeds" tvmake uninstall DESTDIR="$D"
