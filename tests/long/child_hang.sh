#!/bin/sh
# The child that parses a checkpoint without a user block is bounded in CPU time: a file on which
# libhdf5 loops (tests/fixtures/hdf5-busy-loop.h5, found by tests/fuzz/fuzz_ckpt) is one error line
# after the child's 20 s of CPU, never a hang.  Run by `make crash` (it costs those 20 s).
. "$(dirname "$0")/../integration/lib.sh"
start=$(date +%s)
expect_fail "a file on which libhdf5 loops is one line after the child's CPU limit" 1 \
  "hdf5-busy-loop.h5: not a trainval checkpoint \(HDF5 did not finish parsing it in 20 s of CPU" \
  "$BIN/eval" --ckpt "$ROOT/tests/fixtures/hdf5-busy-loop.h5"
echo "# took $(($(date +%s) - start)) s of wall time"
