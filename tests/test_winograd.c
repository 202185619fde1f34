/* test_winograd.c — the Winograd F(2x2, 3x3) forward (common/nn/winograd.h) against the direct
 * convolution summed in double, and conv2d's use of it (C_in >= 16, 3x3, stride 1).
 *
 * Tolerance (the direct sum is exact; this is float32 error of the transforms and the gemms):
 *     |ours - ref| <= 1e-5 * S + 1e-7,   S = |b| + sum_{c,i,j} |w[f,c,i,j] x[c, .+i, .+j]|
 * for every output; the worst ratio |ours - ref| / S is printed (about 1e-7 here).
 * Cases: odd and even sizes, outputs of 1x1 and odd counts of tiles, 'same' (pad 1), 'valid'
 * (pad 0) and explicit pad 2, channel and filter counts that are and are not multiples of the
 * 8-lane blocks, with and without bias, 1 to 3 examples per call; the scratch starts as NaN so
 * a read of a cell never written shows.  The layer test builds conv2d (16 input channels, batch
 * 7: Winograd chunks of 4 and 3) on teams of 1, 2 and 3 threads and in INFER and TRAIN graphs:
 * the outputs are bitwise the same, and within the tolerance of the direct sum.  An INFER graph's
 * filters kept between forwards follow a change of one weight (bitwise a fresh graph's output). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/winograd.h"
#include "trainval/config.h"
#include "trainval/ctx.h"
#include "trainval/error.h"
#include "trainval/model.h"
#include "trainval/rng.h"
#include "trainval/varstore.h"

#define TOL   1e-5
#define FLOOR 1e-7

typedef struct wcase {
  int c, h, w, f, ph, pw, m, bias;
} wcase;

static const wcase cases[] = {
    {16, 14, 14, 8, 1, 1, 3, 1}, /* the reference CNN's conv2 shape, narrower */
    {3, 5, 7, 5, 1, 1, 2, 1},    /* odd sizes: a half tile on both edges */
    {17, 6, 6, 9, 0, 0, 1, 1},   /* valid, 17 channels (8 + 8 + 1 lanes) */
    {9, 3, 3, 4, 0, 0, 2, 0},    /* valid to a 1x1 output, no bias */
    {8, 1, 1, 3, 1, 1, 1, 1},    /* same on a 1x1 input */
    {20, 7, 4, 3, 2, 2, 3, 1},   /* explicit pad 2: 9x6 output */
    {1, 2, 2, 2, 1, 1, 2, 0},    /* one channel */
    {32, 11, 13, 16, 1, 1, 2, 1},
};

static tv_conv_geom geom_of(const wcase *k) {
  return (tv_conv_geom){.c = k->c,
                        .h = k->h,
                        .w = k->w,
                        .kh = 3,
                        .kw = 3,
                        .sh = 1,
                        .sw = 1,
                        .ph = k->ph,
                        .pw = k->pw,
                        .oh = k->h + 2 * k->ph - 2,
                        .ow = k->w + 2 * k->pw - 2};
}

static void fill(float *v, size_t n, tv_rng *r) {
  for (size_t i = 0; i < n; i++) v[i] = tv_rng_normal(r);
}

/* y (m, F, oh, ow) against the direct sum; returns the worst |err| / S, fails past TOL. */
static double check_direct(const char *what, const tv_conv_geom *g, int f, int m, const float *w,
                           const float *b, const float *x, const float *y) {
  double worst = 0;
  for (int e = 0; e < m; e++)
    for (int q = 0; q < f; q++)
      for (int r = 0; r < g->oh; r++)
        for (int s = 0; s < g->ow; s++) {
          double ref = b ? b[q] : 0, mag = b ? fabs(b[q]) : 0;
          for (int c = 0; c < g->c; c++)
            for (int i = 0; i < 3; i++)
              for (int j = 0; j < 3; j++) {
                int ih = r - g->ph + i, iw = s - g->pw + j;
                if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w) continue;
                double t = (double)w[((size_t)q * g->c + c) * 9 + i * 3 + j] *
                           x[(((size_t)e * g->c + c) * g->h + ih) * g->w + iw];
                ref += t;
                mag += fabs(t);
              }
          double got = y[(((size_t)e * f + q) * g->oh + r) * g->ow + s], err = fabs(got - ref);
          if (!(err <= TOL * mag + FLOOR))
            fail_msg("%s: example %d filter %d cell (%d, %d): %.9g, direct %.9g (S %.3g)", what, e,
                     q, r, s, got, ref, mag);
          if (mag > 0 && err / mag > worst) worst = err / mag;
        }
  return worst;
}

/* dx (m, C, h, w), acc0 + the adjoint of the convolution g applied to dy (m, F, oh, ow), against
 * the direct sum: dx[c, a, b] = sum_{q, i, j} w[q, c, i, j] dy[q, a + ph - i, b + pw - j]. */
static double check_dx(const char *what, const tv_conv_geom *g, int f, int m, const float *w,
                       const float *dy, const float *acc0, const float *dx) {
  double worst = 0;
  for (int e = 0; e < m; e++)
    for (int c = 0; c < g->c; c++)
      for (int a = 0; a < g->h; a++)
        for (int b = 0; b < g->w; b++) {
          size_t at = (((size_t)e * g->c + c) * g->h + a) * g->w + b;
          double ref = acc0 ? acc0[at] : 0, mag = acc0 ? fabs(acc0[at]) : 0;
          for (int q = 0; q < f; q++)
            for (int i = 0; i < 3; i++)
              for (int j = 0; j < 3; j++) {
                int r = a + g->ph - i, s = b + g->pw - j;
                if (r < 0 || r >= g->oh || s < 0 || s >= g->ow) continue;
                double t = (double)w[((size_t)q * g->c + c) * 9 + i * 3 + j] *
                           dy[(((size_t)e * f + q) * g->oh + r) * g->ow + s];
                ref += t;
                mag += fabs(t);
              }
          double err = fabs(dx[at] - ref);
          if (!(err <= TOL * mag + FLOOR))
            fail_msg("%s: example %d channel %d cell (%d, %d): %.9g, direct %.9g (S %.3g)", what, e,
                     c, a, b, dx[at], ref, mag);
          if (mag > 0 && err / mag > worst) worst = err / mag;
        }
  return worst;
}

/* The gradient w.r.t. the input by the same transform (tv_winograd_dx_geom,
 * tv_winograd_filter_dx), written and accumulated. */
static double dx_case(const wcase *k, size_t t, tv_rng *r) {
  tv_conv_geom g = geom_of(k), gd;
  tv_winograd_dx_geom(&g, k->f, &gd);
  assert_true(tv_winograd_fits(&gd));
  assert_int_equal(gd.oh, k->h);
  assert_int_equal(gd.ow, k->w);
  size_t nx = (size_t)k->m * k->c * k->h * k->w, ny = (size_t)k->m * k->f * g.oh * g.ow;
  size_t ns = tv_winograd_scratch(&gd, k->c, k->m), nu = (size_t)TV_WINO_POS * k->f * k->c;
  float *dy = malloc(ny * sizeof *dy), *w = malloc((size_t)k->f * k->c * 9 * sizeof *w);
  float *dx = malloc(nx * sizeof *dx), *acc0 = malloc(nx * sizeof *acc0);
  float *u = malloc(nu * sizeof *u), *sc = malloc(ns * sizeof *sc);
  assert_true(dy && w && dx && acc0 && u && sc);
  fill(dy, ny, r);
  fill(w, (size_t)k->f * k->c * 9, r);
  fill(acc0, nx, r);
  for (size_t i = 0; i < ns; i++) sc[i] = NAN;
  tv_winograd_filter_dx(k->c, k->f, w, u);
  char what[64];
  int acc = (int)(t % 2);
  snprintf(what, sizeof what, "dx case %zu (%s)", t, acc ? "accumulated" : "written");
  if (acc)
    memcpy(dx, acc0, nx * sizeof *dx);
  else
    for (size_t i = 0; i < nx; i++) dx[i] = NAN;
  tv_winograd_forward(&gd, k->c, k->m, u, NULL, dy, dx, acc, sc);
  double worst = check_dx(what, &g, k->f, k->m, w, dy, acc ? acc0 : NULL, dx);
  free(dy), free(w), free(dx), free(acc0), free(u), free(sc);
  return worst;
}

static void test_winograd_against_direct(void **state) {
  (void)state;
  tv_rng r = tv_rng_seed(5, TV_RNG_INIT);
  double worst = 0;
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
    const wcase *k = &cases[t];
    tv_conv_geom g = geom_of(k);
    assert_true(tv_winograd_fits(&g));
    assert_int_equal(tv_winograd_tiles(&g), (size_t)((g.oh + 1) / 2) * ((g.ow + 1) / 2));
    size_t nx = (size_t)k->m * k->c * k->h * k->w, ny = (size_t)k->m * k->f * g.oh * g.ow;
    size_t ns = tv_winograd_scratch(&g, k->f, k->m), nu = (size_t)TV_WINO_POS * k->f * k->c;
    float *x = malloc(nx * sizeof *x), *w = malloc((size_t)k->f * k->c * 9 * sizeof *w);
    float *b = malloc((size_t)k->f * sizeof *b), *y = malloc(ny * sizeof *y);
    float *u = malloc(nu * sizeof *u), *sc = malloc(ns * sizeof *sc);
    assert_true(x && w && b && y && u && sc);
    fill(x, nx, &r);
    fill(w, (size_t)k->f * k->c * 9, &r);
    fill(b, (size_t)k->f, &r);
    for (size_t i = 0; i < ns; i++) sc[i] = NAN;
    for (size_t i = 0; i < ny; i++) y[i] = NAN;
    tv_winograd_filter(&g, k->f, w, u);
    tv_winograd_forward(&g, k->f, k->m, u, k->bias ? b : NULL, x, y, 0, sc);
    char what[64];
    snprintf(what, sizeof what, "case %zu", t);
    double wc = check_direct(what, &g, k->f, k->m, w, k->bias ? b : NULL, x, y);
    if (wc > worst) worst = wc;
    free(x), free(w), free(b), free(y), free(u), free(sc);
    wc = dx_case(k, t, &r);
    if (wc > worst) worst = wc;
  }
  print_message("winograd: worst |err| / S %.3g (tolerance %.0e)\n", worst, TOL);
  /* Not a 3x3 stride-1 window: not Winograd's. */
  tv_conv_geom g = geom_of(&cases[0]);
  g.sh = 2;
  assert_false(tv_winograd_fits(&g));
  g = geom_of(&cases[0]);
  g.kw = 5;
  assert_false(tv_winograd_fits(&g));
}

enum { LN = 7, LC = 16, LH = 9, LW = 10, LF = 6 };

static const char *const layer_yaml =
    "model:\n  input: [16, 9, 10]\n  num_classes: 3\n  layers:\n"
    "    - {type: conv2d, filters: 6, kernel_size: 3, padding: same}\n"
    "    - {type: flatten}\n    - {type: dense, units: 3}\n";

/* layer_yaml's model of LN examples on a team of `threads` (*ctx, the caller frees it), over the
 * store `s` (built first when *sealed is 0). */
static tv_model *layer_model(int threads, tv_mode mode, tv_varstore *s, int *sealed, tv_ctx **ctx) {
  tv_config c;
  assert_int_equal(tv_config_parse(layer_yaml, strlen(layer_yaml), "w.yaml", NULL, 0, &c), TV_OK);
  assert_int_equal(tv_ctx_new(threads, ctx), TV_OK);
  tv_model *m = NULL;
  if (tv_model_new(&c, mode, LN, s, tv_ctx_team(*ctx), &m) != TV_OK)
    fail_msg("tv_model_new: %s", tv_error_message());
  if (!*sealed) {
    assert_int_equal(tv_varstore_seal(s), TV_OK);
    tv_rng r = tv_rng_seed(9, TV_RNG_INIT);
    tv_varstore_init(s, &r);
    float *bias = tv_varstore_var(s, tv_varstore_find(s, "conv2d_1/bias"))->value;
    for (int q = 0; q < LF; q++) bias[q] = 0.1f * tv_rng_normal(&r);
    *sealed = 1;
  }
  return m;
}

/* conv2d's output (layer 0) for x on a team of `threads`, over the store `s` (built first when
 * *sealed is 0). */
static void layer_output(int threads, tv_mode mode, tv_varstore *s, int *sealed, const float *x,
                         float *out) {
  tv_ctx *ctx = NULL;
  tv_model *m = layer_model(threads, mode, s, sealed, &ctx);
  (void)tv_model_forward(m, x, LN);
  memcpy(out, tv_model_layer_output(m, 0), (size_t)LN * LF * LH * LW * sizeof *out);
  tv_model_free(m);
  tv_ctx_free(ctx);
}

/* The layer tests' input (LN examples of layer_yaml's) from `seed`, two outputs' room, and an
 * empty store for layer_model. */
static void layer_arrays(uint64_t seed, float **x, float **y1, float **y2, tv_varstore **s) {
  size_t nx = (size_t)LN * LC * LH * LW, ny = (size_t)LN * LF * LH * LW;
  *x = malloc(nx * sizeof **x), *y1 = malloc(ny * sizeof **y1), *y2 = malloc(ny * sizeof **y2);
  assert_true(*x && *y1 && *y2);
  tv_rng r = tv_rng_seed(seed, TV_RNG_INIT);
  fill(*x, nx, &r);
  *s = NULL;
  assert_int_equal(tv_varstore_new(s), TV_OK);
}

static void test_winograd_in_conv2d(void **state) {
  (void)state;
  size_t ny = (size_t)LN * LF * LH * LW;
  float *x, *y1, *y;
  tv_varstore *s;
  layer_arrays(3, &x, &y1, &y, &s);
  int sealed = 0;
  layer_output(1, TV_MODE_INFER, s, &sealed, x, y1);
  const struct {
    int threads;
    tv_mode mode;
  } runs[] = {{2, TV_MODE_INFER}, {3, TV_MODE_INFER}, {1, TV_MODE_TRAIN}, {3, TV_MODE_TRAIN}};
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
    layer_output(runs[i].threads, runs[i].mode, s, &sealed, x, y);
    if (memcmp(y, y1, ny * sizeof *y))
      fail_msg("--threads %d (%s) differs from one thread", runs[i].threads,
               runs[i].mode == TV_MODE_TRAIN ? "train" : "infer");
  }
  tv_conv_geom g = {LC, LH, LW, 3, 3, 1, 1, 1, 1, LH, LW};
  const float *w = tv_varstore_var(s, tv_varstore_find(s, "conv2d_1/kernel"))->value;
  const float *b = tv_varstore_var(s, tv_varstore_find(s, "conv2d_1/bias"))->value;
  double worst = check_direct("conv2d", &g, LF, LN, w, b, x, y1);
  print_message("conv2d by winograd: worst |err| / S %.3g\n", worst);
  tv_varstore_free(s);
  free(x), free(y1), free(y);
}

/* An INFER graph keeps U between forwards (conv.c's wino_filters): two forwards of one graph
 * give the same bits; after one weight changes (the last of the last filter) its next forward is
 * bitwise a fresh TRAIN graph's (U made anew), and differs; with the weight put back, the first
 * output again. */
static void test_winograd_infer_filters_follow_weights(void **state) {
  (void)state;
  size_t ny = (size_t)LN * LF * LH * LW;
  float *x, *y1, *ref;
  tv_varstore *s;
  layer_arrays(5, &x, &y1, &ref, &s);
  int sealed = 0;
  layer_output(1, TV_MODE_TRAIN, s, &sealed, x, ref); /* builds and initialises the store */
  tv_ctx *ctx = NULL;
  tv_model *m = layer_model(2, TV_MODE_INFER, s, &sealed, &ctx);
  const float *out = tv_model_layer_output(m, 0);
  (void)tv_model_forward(m, x, LN);
  memcpy(y1, out, ny * sizeof *y1);
  assert_memory_equal(y1, ref, ny * sizeof *y1);
  (void)tv_model_forward(m, x, LN);
  assert_memory_equal(out, y1, ny * sizeof *y1);
  float *w = tv_varstore_var(s, tv_varstore_find(s, "conv2d_1/kernel"))->value;
  size_t last = (size_t)LF * LC * 9 - 1;
  float kept = w[last];
  w[last] = kept + 0.5f;
  layer_output(1, TV_MODE_TRAIN, s, &sealed, x, ref);
  (void)tv_model_forward(m, x, LN);
  assert_memory_equal(out, ref, ny * sizeof *ref);
  assert_memory_not_equal(out, y1, ny * sizeof *y1);
  w[last] = kept;
  (void)tv_model_forward(m, x, LN);
  assert_memory_equal(out, y1, ny * sizeof *y1);
  tv_model_free(m);
  tv_ctx_free(ctx);
  tv_varstore_free(s);
  free(x), free(y1), free(ref);
}

static const char *const dx_yaml =
    "model:\n  input: [16, 9, 10]\n  num_classes: 1440\n"
    "  layers:\n    - {type: batch_norm}\n"
    "    - {type: conv2d, filters: 16, kernel_size: 3, padding: same}\n"
    "    - {type: flatten}\n";
enum { DF = 16, DOUT = DF * LH * LW };

/* One TRAIN forward and backward of dy on a team of `threads`; returns every gradient (malloc'd).
 */
static float *dx_grads(int threads, tv_varstore *s, int *sealed, const float *x, const float *dy) {
  tv_config c;
  assert_int_equal(tv_config_parse(dx_yaml, strlen(dx_yaml), "w.yaml", NULL, 0, &c), TV_OK);
  tv_ctx *ctx = NULL;
  assert_int_equal(tv_ctx_new(threads, &ctx), TV_OK);
  tv_model *m = NULL;
  if (tv_model_new(&c, TV_MODE_TRAIN, LN, s, tv_ctx_team(ctx), &m) != TV_OK)
    fail_msg("tv_model_new: %s", tv_error_message());
  if (!*sealed) {
    assert_int_equal(tv_varstore_seal(s), TV_OK);
    tv_rng r = tv_rng_seed(4, TV_RNG_INIT);
    tv_varstore_init(s, &r);
    *sealed = 1;
  }
  (void)tv_model_forward(m, x, LN);
  tv_varstore_zero_grads(s);
  tv_model_backward(m, dy, LN);
  float *grads = malloc(tv_varstore_size(s) * sizeof *grads);
  assert_non_null(grads);
  memcpy(grads, tv_varstore_grads(s), tv_varstore_size(s) * sizeof *grads);
  tv_model_free(m);
  tv_ctx_free(ctx);
  return grads;
}

/* conv2d's gradient w.r.t. its input by Winograd (16 filters over 16 channels), seen through the
 * batch_norm before it: dbeta[c] = sum_{n, h, w} dx[n, c, h, w], against the direct adjoint in
 * double; every gradient bitwise the same on teams of 1, 2 and 3. */
static void test_winograd_dx_in_conv2d(void **state) {
  (void)state;
  size_t nx = (size_t)LN * LC * LH * LW, ny = (size_t)LN * DOUT;
  float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
  assert_true(x && dy);
  tv_rng r = tv_rng_seed(6, TV_RNG_INIT);
  fill(x, nx, &r);
  fill(dy, ny, &r);
  tv_varstore *s = NULL;
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  int sealed = 0;
  float *g1 = dx_grads(1, s, &sealed, x, dy);
  for (int threads = 2; threads <= 3; threads++) {
    float *g = dx_grads(threads, s, &sealed, x, dy);
    if (memcmp(g, g1, tv_varstore_size(s) * sizeof *g))
      fail_msg("--threads %d: the gradients differ from one thread's", threads);
    free(g);
  }
  const tv_var *w = tv_varstore_cvar(s, tv_varstore_find(s, "conv2d_1/kernel"));
  const tv_var *beta = tv_varstore_cvar(s, tv_varstore_find(s, "batch_norm_1/beta"));
  assert_non_null(w);
  assert_non_null(beta);
  double worst = 0;
  for (int c = 0; c < LC; c++) {
    double ref = 0, mag = 0;
    for (int e = 0; e < LN; e++)
      for (int q = 0; q < DF; q++)
        for (int rr = 0; rr < LH; rr++)
          for (int cc = 0; cc < LW; cc++) {
            double sw = 0; /* the filter taps that reach some input cell from (rr, cc) */
            for (int i = 0; i < 3; i++)
              for (int j = 0; j < 3; j++) {
                int a = rr - 1 + i, b = cc - 1 + j;
                if (a >= 0 && a < LH && b >= 0 && b < LW)
                  sw += w->value[(q * LC + c) * 9 + i * 3 + j];
              }
            double t = sw * dy[(((size_t)e * DF + q) * LH + rr) * LW + cc];
            ref += t;
            mag += fabs(t);
          }
    double got = g1[beta->offset + c], err = fabs(got - ref);
    if (!(err <= TOL * mag + FLOOR))
      fail_msg("dbeta[%d] %.9g, direct %.9g (S %.3g)", c, got, ref, mag);
    if (err / mag > worst) worst = err / mag;
  }
  print_message("conv2d dx by winograd, through batch_norm's beta: worst |err| / S %.3g\n", worst);
  free(x), free(dy), free(g1);
  tv_varstore_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_winograd_against_direct),
      cmocka_unit_test(test_winograd_in_conv2d),
      cmocka_unit_test(test_winograd_infer_filters_follow_weights),
      cmocka_unit_test(test_winograd_dx_in_conv2d),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
