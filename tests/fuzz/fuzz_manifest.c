/* fuzz_manifest.c — libFuzzer target: bytes as <dir>/checkpoints.yaml through tv_manifest_read;
 * a manifest that reads must write back (tv_manifest_write) and read again to the same entries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "trainval/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[4200];
  fuzz_write("checkpoints.yaml", data, size, path, sizeof path);
  tv_manifest m, back;
  tv_manifest_init(&m);
  tv_manifest_init(&back);
  if (tv_manifest_read(fuzz_dir(), &m) == TV_OK && tv_manifest_write(fuzz_dir(), &m) == TV_OK) {
    if (tv_manifest_read(fuzz_dir(), &back) != TV_OK || back.n != m.n) abort();
    for (int i = 0; i < m.n; i++)
      if (back.entries[i].step != m.entries[i].step ||
          strcmp(back.entries[i].file, m.entries[i].file) != 0)
        abort();
  }
  tv_manifest_free(&m);
  tv_manifest_free(&back);
  return 0;
}
