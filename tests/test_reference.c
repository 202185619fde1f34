/* test_reference.c — trainval against PyTorch: a small CNN (conv2d with same, explicit and
 * strided asymmetric 'same' padding, batch-norm over channels and features, relu, a residual
 * add, max and average pooling, flatten, dense) with the weights and inputs of
 * tests/fixtures/reference_cnn.txt, written by scripts/make_fixtures.py from PyTorch in float64.
 * PyTorch is not needed here: the file is text.  Run from the repository root.
 *
 * Compared after one TRAIN forward and backward: the logits, the loss, the label-smoothed loss
 * (0.1), the gradient of every trainable variable, the batch-norm moving statistics after the
 * forward (PyTorch momentum 0.1 = ours 0.9), and the logits of an INFER graph over the same store.
 *
 * Tolerances (the reference is exact; this is trainval's float32 error): every element of a
 * tensor t must satisfy
 *     |ours - ref| <= 1e-4 * max|t| + 1e-4 * |ref| + 1e-6   (logits, losses, gradients)
 *     |ours - ref| <= 1e-6 * max|t| + 1e-6 * |ref|          (moving statistics: one update)
 * The 1e-6 floor is for gradients that are zero in exact arithmetic (conv1's bias, right before
 * batch-norm, which removes it; ours are ~1e-7 of float noise).  The observed worst
 * errors are printed (a few 1e-6 of max|t|): the margin covers other BLAS summation orders. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trainval/config.h"
#include "base/fs.h"
#include "trainval/model.h"
#include "trainval/varstore.h"

#include "trainval/ctx.h"

#include "testutil.h"

static const char *const FIXTURE = "tests/fixtures/reference_cnn.txt";
enum { MAX_RECORDS = 128 };

typedef struct record {
  char name[96];
  tv_shape shape;
  size_t count;
  double *v;
} record;

typedef struct fixture {
  char *text;
  char config[4096];
  int n;
  record r[MAX_RECORDS];
} fixture;

static void load(fixture *f) {
  size_t len;
  memset(f, 0, sizeof *f);
  if (tv_fs_read_all(FIXTURE, &f->text, &len) != TV_OK)
    fail_msg("%s (run from the repository root; regenerate with scripts/make_fixtures.py)",
             tv_error_message());
  int in_config = 0;
  size_t cl = 0;
  for (char *line = strtok(f->text, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#') continue;
    if (!strcmp(line, "config")) {
      in_config = 1;
      continue;
    }
    if (in_config) {
      if (!strcmp(line, "end")) {
        in_config = 0;
        continue;
      }
      int w = snprintf(f->config + cl, sizeof f->config - cl, "%s\n", line);
      assert_true(w > 0 && (size_t)w < sizeof f->config - cl);
      cl += (size_t)w;
      continue;
    }
    assert_true(f->n < MAX_RECORDS);
    record *r = &f->r[f->n++];
    char *p = line, *end;
    size_t nl = strcspn(p, " ");
    assert_true(nl < sizeof r->name);
    memcpy(r->name, p, nl);
    p += nl;
    r->shape.ndim = (int)strtol(p, &end, 10);
    assert_true(end != p && r->shape.ndim >= 0 && r->shape.ndim <= TV_MAX_DIMS);
    p = end;
    for (int d = 0; d < r->shape.ndim; d++) {
      r->shape.dim[d] = (int)strtol(p, &end, 10);
      assert_true(end != p);
      p = end;
    }
    r->count = tv_shape_count(r->shape);
    r->v = malloc(r->count * sizeof *r->v);
    assert_non_null(r->v);
    for (size_t i = 0; i < r->count; i++) {
      r->v[i] = strtod(p, &end);
      if (end == p) fail_msg("%s: %s: only %zu of %zu values", FIXTURE, r->name, i, r->count);
      p = end;
    }
  }
}

static void unload(fixture *f) {
  for (int i = 0; i < f->n; i++) free(f->r[i].v);
  free(f->text);
}

static const record *find(const fixture *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->r[i].name, name)) return &f->r[i];
  fail_msg("%s: no record %s", FIXTURE, name);
  return NULL;
}

/* Compares n floats with record r under |a - b| <= tol * max|r| + tol * |b| + floor; prints the
 * worst error as a fraction of max|r|. */
static void compare(const char *what, const float *got, size_t n, const record *r, double tol,
                    double floor_abs) {
  assert_int_equal(n, r->count);
  double scale = 0, worst = 0;
  for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(r->v[i]));
  for (size_t i = 0; i < n; i++) {
    double err = fabs(got[i] - r->v[i]);
    if (!(err <= tol * scale + tol * fabs(r->v[i]) + floor_abs))
      fail_msg("%s[%zu]: trainval %.9g, PyTorch %.9g (max |ref| %.3g, tolerance %g)", what, i,
               got[i], r->v[i], scale, tol);
    worst = fmax(worst, err / fmax(scale, floor_abs > 0 ? floor_abs : 1e-30));
  }
  print_message("  %-28s %5zu values, max |ref| %9.3g, worst error %.2g of that\n", what, n, scale,
                worst);
}

static void test_reference_cnn(void **state) {
  (void)state;
  fixture *f = malloc(sizeof *f);
  assert_non_null(f);
  load(f);
  tv_config cfg;
  int rc = tv_config_parse(f->config, strlen(f->config), FIXTURE, NULL, 0, &cfg);
  if (rc) fail_msg("%s", tv_error_message());
  const record *x = find(f, "input"), *lab = find(f, "labels");
  int n = x->shape.dim[0], k = cfg.model.num_classes;
  tv_varstore *s = NULL;
  tv_model *train = NULL, *infer = NULL, *smooth = NULL;
  tv_ctx *ctx = NULL;
  assert_int_equal(tv_ctx_new(2, &ctx), TV_OK);
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  rc = tv_model_new(&cfg, TV_MODE_TRAIN, n, s, tv_ctx_team(ctx), &train);
  if (rc) fail_msg("%s", tv_error_message());
  assert_int_equal(tv_varstore_seal(s), TV_OK);

  /* Every variable of the store comes from the fixture, shape for shape, and vice versa. */
  int params = 0;
  for (int i = 0; i < f->n; i++) {
    if (strncmp(f->r[i].name, "param/", 6) != 0) continue;
    int vi = tv_varstore_find(s, f->r[i].name + 6);
    if (vi < 0) fail_msg("fixture variable %s is not in the model", f->r[i].name + 6);
    tv_var *v = tv_varstore_var(s, vi);
    if (!tv_shape_equal(v->shape, f->r[i].shape)) fail_msg("%s: shape differs", v->name);
    for (size_t e = 0; e < v->count; e++) v->value[e] = (float)f->r[i].v[e];
    params++;
  }
  assert_int_equal(params, tv_varstore_count(s));

  float *xf = malloc(x->count * sizeof *xf);
  int32_t *y = malloc((size_t)n * sizeof *y);
  assert_non_null(xf);
  assert_non_null(y);
  for (size_t i = 0; i < x->count; i++) xf[i] = (float)x->v[i];
  for (int i = 0; i < n; i++) y[i] = (int32_t)lab->v[i];

  compare("logits (TRAIN)", tv_model_forward(train, xf, n), (size_t)n * k, find(f, "logits"), 1e-4,
          1e-6);
  float loss = tvt_xent_backward(train, y, n, 0.0f);
  compare("loss", &loss, 1, find(f, "loss"), 1e-4, 1e-6);
  int grads = 0;
  for (int i = 0; i < tv_varstore_count(s); i++) {
    const tv_var *v = tv_varstore_cvar(s, i);
    char name[160];
    snprintf(name, sizeof name, "%s/%s", v->trainable ? "grad" : "moving", v->name);
    compare(name, v->trainable ? v->grad : v->value, v->count, find(f, name),
            v->trainable ? 1e-4 : 1e-6, v->trainable ? 1e-6 : 0.0);
    grads += v->trainable;
  }
  assert_int_equal(grads, 15);

  rc = tv_model_new(&cfg, TV_MODE_INFER, n, s, tv_ctx_team(ctx), &infer);
  if (rc) fail_msg("%s", tv_error_message());
  compare("logits (INFER)", tv_model_forward(infer, xf, n), (size_t)n * k, find(f, "infer_logits"),
          1e-4, 1e-6);

  cfg.train.label_smoothing = 0.1;
  rc = tv_model_new(&cfg, TV_MODE_TRAIN, n, s, tv_ctx_team(ctx), &smooth);
  if (rc) fail_msg("%s", tv_error_message());
  (void)tv_model_forward(smooth, xf, n);
  float ls = tvt_xent_backward(smooth, y, n, (float)cfg.train.label_smoothing);
  compare("loss (label smoothing 0.1)", &ls, 1, find(f, "loss_smoothed"), 1e-4, 1e-6);

  free(xf);
  free(y);
  tv_model_free(smooth);
  tv_model_free(infer);
  tv_model_free(train);
  tv_varstore_free(s);
  tv_ctx_free(ctx);
  unload(f);
  free(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_cnn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
