/* fuzz_csv.c — libFuzzer target: a CSV file through tv_data_load's "csv" reader.  Byte 0 holds
 * the options (bit 0 no_header, bit 1 has_fill, bit 2 first_seen, bit 3 float_targets, bit 4
 * features_only, bit 5 comment '#', bit 6 delimiter ';', bit 7 a separate targets file), byte 1
 * skip_rows (its low 2 bits), bytes 2..3 a little-endian offset k: with bit 7 the file is bytes
 * 4..4+k and the targets file the rest, else the file is every byte from 4.  The seeds are real
 * files written by tests/fuzz/make_seeds_data.sh.  The plan of the same files (tv_data_estimate)
 * must hold at least what the load held. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "trainval/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  unsigned flags = data[0];
  size_t k = (size_t)data[2] | (size_t)data[3] << 8;
  tv_data_spec s = {.format = "csv",
                    .features = "",
                    .target = "",
                    .no_header = flags & 1,
                    .has_fill = (flags >> 1) & 1,
                    .fill = -1.5,
                    .first_seen = (flags >> 2) & 1,
                    .float_targets = (flags >> 3) & 1,
                    .features_only = (flags >> 4) & 1,
                    .comment = (flags & 32) ? '#' : 0,
                    .delimiter = (flags & 64) ? ';' : ',',
                    .skip_rows = data[1] & 3};
  data += 4;
  size -= 4;
  char x[4200], y[4200];
  if (flags & 128) {
    if (k > size) k = size;
    fuzz_write("x.csv", data, k, x, sizeof x);
    fuzz_write("y.csv", data + k, size - k, y, sizeof y);
    s.y = y;
  } else {
    fuzz_write("x.csv", data, size, x, sizeof x);
  }
  s.x = x;
  tv_dataset ds;
  int loaded = tv_data_load(&s, &ds) == TV_OK;
  fuzz_check_estimate(&s, loaded ? &ds : NULL, 0);
  if (loaded) tv_dataset_free(&ds);
  return 0;
}
