/* fuzz_h5data.c — libFuzzer target: an HDF5 data file, from memory, through
 * tv_dataset_load_h5_image: datasets /x (features) and /y (targets), or /x alone when bit 0 of
 * byte 0 is set; the file image is every byte from 1.  The seeds are real files written by h5py
 * (tests/fuzz/make_seeds_data.sh): uint8 and float features of each rank, class ids and float
 * targets, contiguous, chunked and deflated.  The reader parses each input first in its bounded
 * child process (base/bounded.h), as for any data file: a crash or a sanitizer report inside
 * libhdf5 there is the contained outcome (one error), not a finding.  An input that loads is
 * also written to a file, loaded and planned from it (tv_data_estimate): when the file loads too
 * (libhdf5's file driver may refuse what its memory driver took), the plan must hold exactly what
 * that load held. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "trainval/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *y = (data[0] & 1) ? NULL : "/y";
  tv_dataset ds;
  if (tv_dataset_load_h5_image(data + 1, size - 1, "fuzz.h5", "/x", y, &ds) != TV_OK) return 0;
  tv_dataset_free(&ds);
  char path[4200];
  fuzz_write("fuzz.h5", data + 1, size - 1, path, sizeof path);
  tv_data_spec s = {.format = "hdf5", .x = path, .y = path, .x_dataset = "/x", .y_dataset = y};
  int loaded = tv_data_load(&s, &ds) == TV_OK;
  fuzz_check_estimate(&s, loaded ? &ds : NULL, 1);
  if (loaded) tv_dataset_free(&ds);
  return 0;
}
