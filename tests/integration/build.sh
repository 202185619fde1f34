#!/bin/sh
# The Makefile on a machine without the packages: reading it asks pkg-config nothing (so the
# targets that set up first can install pkg-config and the -dev packages before any flag is
# read: scripts/fresh-check.sh proves that on a fresh Debian), and a build without pkg-config or
# without a package says which and to run `make setup`, before compiling anything.
# integration: alone
. "$(dirname "$0")/lib.sh"
unset MAKEFLAGS MFLAGS MAKELEVEL

mkdir -p "$T/fake"
cat >"$T/fake/pkg-config" <<X
#!/bin/sh
echo "\$*" >>"$T/pkg-config.calls"
exec /usr/bin/pkg-config "\$@"
X
chmod +x "$T/fake/pkg-config"
for goal in format-check uninstall "DESTDIR=$T/d uninstall"; do
  # shellcheck disable=SC2086
  PATH=$T/fake:$PATH make -C "$ROOT" --no-print-directory -n $goal >/dev/null 2>&1
done
check "reading the Makefile (make -n format-check, uninstall) runs no pkg-config" test ! -e "$T/pkg-config.calls"
PATH=$T/fake:$PATH make -C "$ROOT" --no-print-directory -n B="$T/b0" BIN="$T/bin0" "$T/b0/common/base/rng.o" >/dev/null 2>&1
check "... a compile asks it, once per make, for both flags" sh -c "
  test \$(grep -c -- '--cflags' '$T/pkg-config.calls') -eq 1 && test \$(grep -c -- '--libs' '$T/pkg-config.calls') -le 1"

mkdir -p "$T/empty"
PATH=$T/empty /usr/bin/make -C "$ROOT" --no-print-directory B="$T/b1" BIN="$T/bin1" >"$T/out1" 2>"$T/err1"
rc=$?
check "no pkg-config: make fails, says so and to run make setup, compiles nothing" sh -c "
  test $rc -ne 0 && grep -q \"pkg-config is not installed: run 'make setup'\" '$T/err1' &&
  ! find '$T/b1' -name '*.o' 2>/dev/null | grep -q . && ! grep -q 'hdf5.h' '$T/err1'" || cat "$T/err1"

mkdir -p "$T/nopc"
PKG_CONFIG_LIBDIR=$T/nopc PKG_CONFIG_PATH=$T/nopc make -C "$ROOT" --no-print-directory B="$T/b2" BIN="$T/bin2" >"$T/out2" 2>"$T/err2"
rc=$?
check "no -dev packages: make fails naming each missing package, compiles nothing" sh -c "
  test $rc -ne 0 && grep -q \"pkg-config finds no openblas hdf5 yaml-0.1 zlib libpng libjpeg (development packages missing): run 'make setup'\" '$T/err2' &&
  ! find '$T/b2' -name '*.o' 2>/dev/null | grep -q . && ! grep -q 'hdf5.h' '$T/err2'" || cat "$T/err2"
