#!/bin/sh
# Installs everything trainval needs on Debian 12 (idempotent): the compiler and build tools,
# OpenBLAS, libyaml, HDF5, zlib, cmocka (tests), Fashion-MNIST, the fortunes text corpus
# (/usr/share/games/fortunes, plain files: the character language model's default text), and
# Python's numpy/h5py/torch from Debian (fixtures, format cross-checks and the PyTorch peer in
# the benchmark), scikit-learn (its bundled CSV datasets: the tabular configs, and the MLPs they
# are compared with in make accuracy), clang with its libFuzzer runtime (make fuzz), GNU time
# (peak memory in tests), Pillow (image files written by the image-folder tests), libjpeg (the
# image-folder reader), Open MPI (train-mpi), and man-db
# (the install test renders the installed man pages).  On a fresh machine pkg-config itself comes
# from here: the Makefile asks it for flags only after this has run.
set -eu
PKGS="build-essential pkg-config libopenblas-dev libyaml-dev libhdf5-dev zlib1g-dev libpng-dev hdf5-tools
libjpeg-dev libcmocka-dev libopenmpi-dev openmpi-bin dataset-fashion-mnist python3-numpy python3-h5py
python3-yaml python3-pil clang-format bsdutils man-db fortunes-min fortunes python3-sklearn clang
libclang-rt-14-dev time"
[ "${TRAINVAL_SETUP_TORCH:-0}" = 1 ] && PKGS="$PKGS python3-torch"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "setup: all packages present"
  exit 0
fi
echo "setup: installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
