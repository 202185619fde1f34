/* fuzz_idx.c — libFuzzer target: an IDX images file and an IDX labels file, plain or gzip, through
 * tv_dataset_load_idx.  The input is split in two at a 2-byte little-endian offset at its start
 * (images = bytes 2..2+k, labels = the rest), so one input carries both files; the seeds are real
 * files (plain and gzip) joined that way by tests/fuzz/make_seeds.py.  The plan of the same files
 * (tv_data_estimate) must hold what the load held, exactly. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "trainval/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  size_t k = (size_t)data[0] | (size_t)data[1] << 8;
  data += 2;
  size -= 2;
  if (k > size) k = size;
  char images[4200], labels[4200];
  fuzz_write("images-idx3-ubyte", data, k, images, sizeof images);
  fuzz_write("labels-idx1-ubyte", data + k, size - k, labels, sizeof labels);
  tv_dataset ds;
  tv_data_spec s = {.format = "idx", .x = images, .y = labels};
  int loaded = tv_dataset_load_idx(images, labels, &ds) == TV_OK;
  fuzz_check_estimate(&s, loaded ? &ds : NULL, 1);
  if (loaded) tv_dataset_free(&ds);
  return 0;
}
