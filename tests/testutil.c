/* testutil.c — shared test fixtures (see testutil.h). */
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainval/loss.h"
#include "trainval/model.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

void tvt_rmtree(const char *path) {
  chmod(path, 0700);
  nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int tvt_setup_tmpdir(void **state) {
  char *dir = strdup("/tmp/tv_test_XXXXXX");
  if (!dir || !mkdtemp(dir)) {
    free(dir);
    return -1;
  }
  *state = dir;
  return 0;
}

int tvt_teardown_tmpdir(void **state) {
  char *dir = *state;
  tvt_rmtree(dir);
  free(dir);
  return 0;
}

float tvt_xent_backward(tv_model *m, const int32_t *y, int n, float s) {
  tv_loss loss = {.kind = TV_LOSS_SOFTMAX_XENT, .params = {.label_smoothing = s}};
  float *dy = tv_model_output_grad(m);
  float l = tv_loss_forward(&loss, tv_model_logits(m), (tv_targets){.classes = y}, n,
                            tv_model_num_classes(m), dy);
  tv_model_backward(m, dy, n);
  return l;
}

int tvt_fixture_record(const char *text, const char *name, double *v, int cap) {
  size_t nl = strlen(name);
  for (const char *line = text; line && *line;) {
    if (!strncmp(line, name, nl) && line[nl] == ' ') {
      char *end;
      long count = strtol(line + nl, &end, 10);
      if (count < 1 || count > cap) return -1;
      const char *p = end;
      for (long i = 0; i < count; i++) {
        v[i] = strtod(p, &end);
        if (end == p) return -1;
        p = end;
      }
      return (int)count;
    }
    line = strchr(line, '\n');
    if (line) line++;
  }
  return -1;
}
