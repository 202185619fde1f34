/* fuzz_datafile.c — libFuzzer target: the data file of `eval --data FILE.yaml` through
 * tv_config_data_file (libyaml, the data section's key table, every value checked as
 * tv_config_parse would).  The seeds are real data files written by
 * tests/fuzz/make_seeds_data.sh (one per reader format) and the data sections of configs/. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "trainval/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[4200];
  fuzz_write("data.yaml", data, size, path, sizeof path);
  tv_config_sets s;
  if (tv_config_data_file(path, &s) == TV_OK) tv_config_sets_free(&s);
  return 0;
}
