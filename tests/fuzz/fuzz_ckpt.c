/* fuzz_ckpt.c — libFuzzer target: bytes as a standalone checkpoint file (eval --ckpt x.h5)
 * through tv_ckpt_open with no manifest checksum: the user-block check, and for a file without
 * one the bounded parse in a child process, then the root attributes, the config text it carries
 * and the resume-state arrays and attributes as train reads them.  HDF5 itself parses only what
 * passed those checks, so a crash here is trainval's, not a contained one inside libhdf5. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "trainval/ckpt.h"
#include "trainval/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[4200];
  fuzz_write("ckpt.h5", data, size, path, sizeof path);
  tv_ckpt *c;
  if (tv_ckpt_open(path, NULL, &c) != TV_OK) return 0;
  const char *text = tv_ckpt_config_text(c);
  tv_config cfg;
  if (text) (void)tv_config_parse(text, strlen(text), path, NULL, 0, &cfg);
  static const char *const arrays[] = {"/state/loader/cursor", "/state/loader/perm",
                                       "/state/loader/augment_rng", "/state/dropout_rng",
                                       "/state/optimizer_t"};
  for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
    tv_ckpt_dtype dt;
    size_t n;
    if (tv_ckpt_array_info(c, arrays[i], &dt, &n) != TV_OK || n > ((size_t)1 << 24)) continue;
    void *buf = malloc(n ? n * 8 : 1);
    if (buf) (void)tv_ckpt_read_array(c, arrays[i], dt, n, buf);
    free(buf);
  }
  static const char *const attrs[] = {"early_stop_best_step", "early_stop_bad", "nonfinite_run",
                                      "schedule_steps"};
  for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
    int64_t v;
    (void)tv_ckpt_read_attr_i64(c, "/state", attrs[i], &v);
  }
  double best;
  (void)tv_ckpt_read_attr_f64(c, "/state", "early_stop_best", &best);
  char type[32];
  (void)tv_ckpt_read_attr_str(c, "/optimizer", "type", type, sizeof type);
  tv_ckpt_close(c);
  return 0;
}
