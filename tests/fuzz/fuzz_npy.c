/* fuzz_npy.c — libFuzzer target: a features .npy file and a targets .npy file (each plain or
 * gzip) through tv_data_load's "npy" reader.  Byte 0 holds the options (bit 0 float_targets,
 * bit 1 features_only); bytes 1..2 a little-endian offset k splitting the rest in two (features
 * = bytes 3..3+k, targets = the rest), so one input carries both files; the seeds are real files
 * written by numpy (tests/fuzz/make_seeds_data.sh) joined that way.  The plan of the same files
 * (tv_data_estimate) must hold what the load held, exactly. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "trainval/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  unsigned flags = data[0];
  size_t k = (size_t)data[1] | (size_t)data[2] << 8;
  data += 3;
  size -= 3;
  if (k > size) k = size;
  char x[4200], y[4200];
  fuzz_write("x.npy", data, k, x, sizeof x);
  fuzz_write("y.npy", data + k, size - k, y, sizeof y);
  tv_data_spec s = {.format = "npy",
                    .x = x,
                    .y = y,
                    .float_targets = flags & 1,
                    .features_only = (flags >> 1) & 1};
  tv_dataset ds;
  int loaded = tv_data_load(&s, &ds) == TV_OK;
  fuzz_check_estimate(&s, loaded ? &ds : NULL, 1);
  if (loaded) tv_dataset_free(&ds);
  return 0;
}
