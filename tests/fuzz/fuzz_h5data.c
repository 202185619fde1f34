/* fuzz_h5data.c — libFuzzer target: an HDF5 data file, from memory, through
 * tv_dataset_load_h5_image: datasets /x (features) and /y (targets), or /x alone when bit 0 of
 * byte 0 is set; the file image is every byte from 1.  The seeds are real files written by h5py
 * (tests/fuzz/make_seeds_data.sh): uint8 and float features of each rank, class ids and float
 * targets, contiguous, chunked and deflated.  The reader parses each input first in its bounded
 * child process (base/bounded.h), as for any data file: a crash or a sanitizer report inside
 * libhdf5 there is the contained outcome (one error), not a finding. */
#include <stdint.h>
#include <stdlib.h>

#include "trainval/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *y = (data[0] & 1) ? NULL : "/y";
  tv_dataset ds;
  if (tv_dataset_load_h5_image(data + 1, size - 1, "fuzz.h5", "/x", y, &ds) == TV_OK)
    tv_dataset_free(&ds);
  return 0;
}
