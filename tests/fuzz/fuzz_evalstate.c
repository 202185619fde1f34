/* fuzz_evalstate.c — libFuzzer target: bytes as an evaluator's state.yaml through
 * tv_evalstate_read; a state that reads must write back and read again to the same entries. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "trainval/evalstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[4200], out[4200];
  fuzz_write("state.yaml", data, size, path, sizeof path);
  snprintf(out, sizeof out, "%s/state-out.yaml", fuzz_dir());
  tv_evalstate s, back;
  tv_evalstate_init(&s);
  tv_evalstate_init(&back);
  if (tv_evalstate_read(path, &s) == TV_OK && tv_evalstate_write(out, &s) == TV_OK) {
    if (tv_evalstate_read(out, &back) != TV_OK || back.n != s.n) abort();
    for (int i = 0; i < s.n; i++)
      if (back.entries[i].step != s.entries[i].step) abort();
  }
  tv_evalstate_free(&s);
  tv_evalstate_free(&back);
  return 0;
}
