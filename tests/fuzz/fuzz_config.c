/* fuzz_config.c — libFuzzer target: a config file's bytes through tv_config_parse (libyaml, the
 * key tables, validation) with and without a --set override, then emit and re-parse of what was
 * accepted (the emitted text must parse back). */
#include <stdint.h>
#include <stdlib.h>

#include "trainval/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tv_config c;
  const char *sets[] = {"train.batch_size=7"};
  int n_sets = size > 0 && (data[0] & 1);
  if (tv_config_parse((const char *)data, size, "fuzz.yaml", sets, n_sets, &c) != TV_OK) return 0;
  char *text = NULL;
  size_t len = 0;
  if (tv_config_emit(&c, &text, &len) != TV_OK) return 0;
  tv_config back;
  if (tv_config_parse(text, len, "emitted.yaml", NULL, 0, &back) != TV_OK) abort();
  free(text);
  return 0;
}
