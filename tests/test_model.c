/* test_model.c — model graphs over a variable store: gradient check by central differences for
 * every layer kind (driven by a table of small configs), TRAIN/INFER variable sharing, build
 * errors (code and message), layer info, batch-size independence and a short training run.
 *
 * Gradient check.  The model is float32, so the step is eps = 1e-3 and the loss L is
 * tv_softmax_xent of tv_model_forward (summed in double, returned as float).  The step actually
 * taken, (float)(p + eps) - (float)(p - eps), is exact and is what we divide by.  Noise in L is
 * a few float ulps of the logits (~1e-7), i.e. ~1e-4 in the difference quotient, so
 *     |analytic - numeric| <= 1e-2 * |analytic| + 5e-4        (written down once, here).
 * ReLU kinks: a perturbation whose ReLU sign pattern differs from the unperturbed one is
 * skipped (the difference quotient straddles a kink).  Pre-activations are read from "probe"
 * graphs: INFER graphs over the same store that end at the layer feeding each ReLU, which also
 * exercises variable sharing.  At most a tenth of the checked parameters may be skipped.
 */
#include "trainval/model.h"

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
#include "trainval/ops.h"
#include "trainval/optim.h"
#include "trainval/rng.h"
#include "trainval/varstore.h"

/* ---- building configs in code ------------------------------------------------------------- */

typedef struct layer_spec {
  tv_layer_kind kind;
  const char *name;
  int units;
  int use_bias;
  const char *input; /* NULL: the previous layer */
} layer_spec;

enum { MAX_SPEC = 8 };

typedef struct model_spec {
  const char *what;
  int input[3];
  int num_classes;
  int n_layers;
  layer_spec layers[MAX_SPEC];
} model_spec;

#define FLATTEN(nm)                                                                                \
  { TV_LAYER_FLATTEN, nm, 0, 1, NULL }
#define RELU(nm)                                                                                   \
  { TV_LAYER_RELU, nm, 0, 1, NULL }
#define DENSE(nm, u)                                                                               \
  { TV_LAYER_DENSE, nm, u, 1, NULL }
#define DENSE_NOBIAS(nm, u)                                                                        \
  { TV_LAYER_DENSE, nm, u, 0, NULL }

/* Layer i sits at test.yaml:(10 + i):5 so messages can be checked. */
static void make_config(tv_config *c, const model_spec *ms) {
  tv_config_defaults(c);
  snprintf(c->source, sizeof c->source, "test.yaml");
  for (int i = 0; i < 3; i++) c->model.input[i] = ms->input[i];
  c->model.num_classes = ms->num_classes;
  c->model.n_layers = ms->n_layers;
  for (int i = 0; i < ms->n_layers; i++) {
    const layer_spec *ls = &ms->layers[i];
    tv_layer_config *l = &c->model.layers[i];
    memset(l, 0, sizeof *l);
    l->kind = ls->kind;
    snprintf(l->name, sizeof l->name, "%s", ls->name);
    l->units = ls->units;
    l->use_bias = ls->use_bias;
    l->line = 10 + i;
    l->col = 5;
    if (ls->input) {
      l->n_inputs = 1;
      snprintf(l->inputs[0], sizeof l->inputs[0], "%s", ls->input);
    }
  }
}

static int input_size(const model_spec *ms) { return ms->input[0] * ms->input[1] * ms->input[2]; }

static tv_varstore *new_store(void) {
  tv_varstore *s = NULL;
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  return s;
}

static tv_model *build(const model_spec *ms, tv_mode mode, int max_batch, tv_varstore *s) {
  tv_config c;
  make_config(&c, ms);
  tv_model *m = NULL;
  int rc = tv_model_new(&c, mode, max_batch, s, &m);
  if (rc != TV_OK) fail_msg("%s: tv_model_new: %s", ms->what, tv_error_message());
  assert_non_null(m);
  return m;
}

/* Seals the store, He-initialises kernels and gives biases small non-zero values so that every
 * parameter's gradient is exercised. */
static void init_store(tv_varstore *s, uint64_t seed) {
  assert_int_equal(tv_varstore_seal(s), TV_OK);
  tv_rng r = tv_rng_seed(seed, TV_RNG_INIT);
  tv_varstore_init(s, &r);
  for (int i = 0; i < tv_varstore_count(s); i++) {
    tv_var *v = tv_varstore_var(s, i);
    if (strstr(v->name, "/bias"))
      for (size_t k = 0; k < v->count; k++) v->value[k] = 0.1f * tv_rng_normal(&r);
  }
}

static float *random_input(int n, int d, uint64_t seed) {
  float *x = malloc((size_t)n * d * sizeof *x);
  assert_non_null(x);
  tv_rng r = tv_rng_seed(seed, TV_RNG_AUGMENT);
  for (int i = 0; i < n * d; i++) x[i] = tv_rng_normal(&r);
  return x;
}

/* ---- gradient check ----------------------------------------------------------------------- */

enum { GC_N = 4, GC_SAMPLE = 256 };

static const model_spec grad_cases[] = {
    {"dense with bias", {1, 4, 4}, 3, 2, {FLATTEN("flat"), DENSE("fc", 3)}},
    {"dense without bias", {1, 4, 4}, 3, 2, {FLATTEN("flat"), DENSE_NOBIAS("fc", 3)}},
    {"dense relu dense",
     {1, 4, 4},
     3,
     4,
     {FLATTEN("flat"), DENSE("fc1", 6), RELU("act"), DENSE("fc2", 3)}},
    {"relu over the 3-D input, flatten over a layer",
     {1, 4, 4},
     4,
     3,
     {RELU("act0"), FLATTEN("flat"), DENSE("fc", 4)}},
    {"3-layer MLP",
     {1, 4, 4},
     3,
     6,
     {FLATTEN("flat"), DENSE("fc1", 8), RELU("r1"), DENSE_NOBIAS("fc2", 6), RELU("r2"),
      DENSE("fc3", 3)}},
    {"explicit inputs",
     {2, 2, 3},
     5,
     4,
     {{TV_LAYER_FLATTEN, "flat", 0, 1, "input"},
      {TV_LAYER_DENSE, "hidden", 7, 1, "flat"},
      {TV_LAYER_RELU, "act", 0, 1, "hidden"},
      {TV_LAYER_DENSE, "logits", 5, 1, "act"}}},
    {"large layer (sampled)",
     {1, 8, 8},
     3,
     4,
     {FLATTEN("flat"), DENSE("fc1", 40), RELU("act"), DENSE("fc2", 3)}},
};

typedef struct probe_set {
  int n;
  tv_model *m[MAX_SPEC];
  int width[MAX_SPEC];
  int total; /* sign bits per evaluation */
} probe_set;

/* One INFER graph per ReLU fed by a dense layer: the prefix of the config up to that layer. */
static void make_probes(const model_spec *ms, tv_varstore *s, probe_set *p) {
  memset(p, 0, sizeof *p);
  for (int i = 1; i < ms->n_layers; i++) {
    if (ms->layers[i].kind != TV_LAYER_RELU || ms->layers[i - 1].kind != TV_LAYER_DENSE) continue;
    model_spec pre = *ms;
    pre.n_layers = i;
    pre.num_classes = ms->layers[i - 1].units;
    p->m[p->n] = build(&pre, TV_MODE_INFER, GC_N, s);
    p->width[p->n] = pre.num_classes;
    p->total += GC_N * pre.num_classes;
    p->n++;
  }
}

static void free_probes(probe_set *p) {
  for (int i = 0; i < p->n; i++) tv_model_free(p->m[i]);
}

static void sign_pattern(probe_set *p, const float *x, unsigned char *out) {
  for (int i = 0; i < p->n; i++) {
    const float *z = tv_model_forward(p->m[i], x, GC_N);
    for (int k = 0; k < GC_N * p->width[i]; k++) *out++ = z[k] > 0.0f;
  }
}

static double loss_of(tv_model *m, const float *x, const int32_t *y) {
  const float *z = tv_model_forward(m, x, GC_N);
  return tv_softmax_xent(z, y, GC_N, tv_model_num_classes(m), NULL);
}

static void grad_check(const model_spec *ms) {
  const double eps = 1e-3, rel = 1e-2, floor_abs = 5e-4;
  tv_varstore *s = new_store();
  tv_model *m = build(ms, TV_MODE_TRAIN, GC_N, s);
  init_store(s, 17);
  probe_set probes;
  make_probes(ms, s, &probes);
  int d = input_size(ms);
  float *x = random_input(GC_N, d, 23);
  int32_t y[GC_N];
  for (int i = 0; i < GC_N; i++) y[i] = (int32_t)((i * 7 + 1) % ms->num_classes);

  /* Gradients must be overwritten, not accumulated: start from garbage. */
  size_t slab = tv_varstore_size(s);
  float *grads = tv_varstore_grads(s);
  for (size_t i = 0; i < slab; i++) grads[i] = 1e6f;
  (void)tv_model_forward(m, x, GC_N);
  float loss = tv_model_backward(m, y, GC_N);
  assert_true(fabs(loss - loss_of(m, x, y)) <= 1e-6 * fabs(loss));
  float *analytic = malloc(slab * sizeof *analytic);
  assert_non_null(analytic);
  memcpy(analytic, grads, slab * sizeof *analytic);
  /* A second backward gives the same gradients (no accumulation across calls). */
  (void)tv_model_forward(m, x, GC_N);
  (void)tv_model_backward(m, y, GC_N);
  for (int i = 0; i < tv_varstore_count(s); i++) {
    const tv_var *v = tv_varstore_cvar(s, i);
    assert_memory_equal(analytic + v->offset, v->grad, v->count * sizeof(float));
  }

  unsigned char *base = malloc((size_t)probes.total + 1), *pat = malloc((size_t)probes.total + 1);
  assert_non_null(base);
  assert_non_null(pat);
  sign_pattern(&probes, x, base);
  int checked = 0, skipped = 0;
  double worst = 0;
  for (int vi = 0; vi < tv_varstore_count(s); vi++) {
    tv_var *v = tv_varstore_var(s, vi);
    if (!v->trainable) continue;
    size_t stride = v->count > GC_SAMPLE ? v->count / GC_SAMPLE + 1 : 1; /* deterministic */
    for (size_t e = (vi * 3) % stride; e < v->count; e += stride) {
      float p0 = v->value[e];
      v->value[e] = p0 + (float)eps;
      float pp = v->value[e];
      double lp = loss_of(m, x, y);
      int kink = 0;
      sign_pattern(&probes, x, pat);
      kink |= memcmp(pat, base, (size_t)probes.total) != 0;
      v->value[e] = p0 - (float)eps;
      float pm = v->value[e];
      double lm = loss_of(m, x, y);
      sign_pattern(&probes, x, pat);
      kink |= memcmp(pat, base, (size_t)probes.total) != 0;
      v->value[e] = p0;
      if (kink) {
        skipped++;
        continue;
      }
      double num = (lp - lm) / ((double)pp - (double)pm);
      double a = analytic[v->offset + e];
      double err = fabs(a - num);
      if (!(err <= rel * fabs(a) + floor_abs))
        fail_msg("%s: d loss / d %s[%zu]: backward %.6g, central difference %.6g", ms->what,
                 v->name, e, a, num);
      worst = fmax(worst, err / (rel * fabs(a) + floor_abs));
      checked++;
    }
  }
  if (skipped * 10 > checked + skipped)
    fail_msg("%s: %d of %d perturbations crossed a ReLU kink", ms->what, skipped,
             checked + skipped);
  assert_true(checked > 0);
  print_message("  %-48s %4d checked, %2d skipped at kinks, worst error %.2f of tolerance\n",
                ms->what, checked, skipped, worst);
  free(base);
  free(pat);
  free(analytic);
  free(x);
  free_probes(&probes);
  tv_model_free(m);
  tv_varstore_free(s);
}

static void test_gradient_check(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof grad_cases / sizeof grad_cases[0]; i++) grad_check(&grad_cases[i]);
}

/* dense without bias declares no bias variable; with bias, kernel [out, in] and bias [out]. */
static void test_dense_variables(void **state) {
  (void)state;
  tv_varstore *s = new_store();
  tv_model *m = build(&grad_cases[1], TV_MODE_TRAIN, 1, s);
  assert_int_equal(tv_varstore_count(s), 1);
  assert_int_equal(tv_varstore_find(s, "fc/bias"), -1);
  int k = tv_varstore_find(s, "fc/kernel");
  assert_true(k >= 0);
  assert_true(tv_shape_equal(tv_varstore_cvar(s, k)->shape, tv_shape2(3, 16)));
  tv_model_free(m);
  tv_varstore_free(s);

  s = new_store();
  m = build(&grad_cases[0], TV_MODE_TRAIN, 1, s);
  assert_int_equal(tv_varstore_count(s), 2);
  int b = tv_varstore_find(s, "fc/bias");
  assert_true(b >= 0);
  assert_true(tv_shape_equal(tv_varstore_cvar(s, b)->shape, tv_shape1(3)));
  assert_true(tv_varstore_cvar(s, b)->trainable);
  tv_model_free(m);
  tv_varstore_free(s);
}

/* ---- TRAIN and INFER share one store ------------------------------------------------------ */

static const model_spec mlp3 = {
    "mlp3",
    {1, 4, 4},
    3,
    6,
    {FLATTEN("flat"), DENSE("fc1", 8), RELU("r1"), DENSE("fc2", 6), RELU("r2"), DENSE("fc3", 3)}};

static void test_train_infer_share(void **state) {
  (void)state;
  tv_varstore *s = new_store();
  tv_model *train = build(&mlp3, TV_MODE_TRAIN, 8, s);
  int n_vars = tv_varstore_count(s);
  assert_int_equal(n_vars, 6);
  init_store(s, 3);
  tv_var *before[8];
  for (int i = 0; i < n_vars; i++) before[i] = tv_varstore_var(s, i);
  float *values = tv_varstore_values(s);

  tv_model *infer = build(&mlp3, TV_MODE_INFER, 3, s); /* another max_batch is fine */
  assert_int_equal(tv_model_mode(train), TV_MODE_TRAIN);
  assert_int_equal(tv_model_mode(infer), TV_MODE_INFER);
  assert_int_equal(tv_model_max_batch(infer), 3);
  assert_int_equal(tv_varstore_count(s), n_vars); /* nothing new declared */
  assert_ptr_equal(tv_varstore_values(s), values);
  for (int i = 0; i < n_vars; i++) assert_ptr_equal(tv_varstore_var(s, i), before[i]);
  for (int i = 0; i < tv_model_num_layers(train); i++) {
    tv_layer_info a, b;
    tv_model_layer_info(train, i, &a);
    tv_model_layer_info(infer, i, &b);
    assert_string_equal(a.name, b.name);
    assert_int_equal(a.params, b.params);
  }

  float *x = random_input(3, 16, 5);
  float lt[9], li[9];
  memcpy(lt, tv_model_forward(train, x, 3), sizeof lt);
  memcpy(li, tv_model_forward(infer, x, 3), sizeof li);
  assert_memory_equal(lt, li, sizeof lt);

  /* A change made through the store (as an optimizer step does) shows in both graphs. */
  tv_var *k = tv_varstore_var(s, tv_varstore_find(s, "fc3/kernel"));
  for (size_t i = 0; i < k->count; i++) k->value[i] *= -2.0f;
  float lt2[9], li2[9];
  memcpy(lt2, tv_model_forward(train, x, 3), sizeof lt2);
  memcpy(li2, tv_model_forward(infer, x, 3), sizeof li2);
  assert_memory_equal(lt2, li2, sizeof lt2);
  int changed = 0;
  for (int i = 0; i < 9; i++) changed += li2[i] != li[i];
  assert_true(changed > 0);
  free(x);
  tv_model_free(infer);
  tv_model_free(train);
  tv_varstore_free(s);
}

static void test_infer_shape_mismatch(void **state) {
  (void)state;
  tv_varstore *s = new_store();
  tv_model *train = build(&mlp3, TV_MODE_TRAIN, 2, s);
  init_store(s, 1);
  model_spec other = mlp3;
  other.layers[1].units = 5; /* fc1/kernel [5, 16] against the stored [8, 16] */
  tv_config c;
  make_config(&c, &other);
  tv_model *m = (tv_model *)&m;
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, 2, s, &m), TV_ERR_MISMATCH);
  assert_null(m);
  if (!strstr(tv_error_message(), "fc1/kernel"))
    fail_msg("message '%s' does not name fc1/kernel", tv_error_message());
  assert_int_equal(tv_varstore_count(s), 6);
  tv_model_free(train);
  tv_varstore_free(s);
}

/* A sealed store cannot grow: a graph needing a new variable fails with TV_ERR_INVALID. */
static void test_sealed_store_lacks_variable(void **state) {
  (void)state;
  tv_varstore *s = new_store();
  tv_model *train = build(&mlp3, TV_MODE_TRAIN, 2, s);
  init_store(s, 1);
  model_spec other = mlp3;
  other.layers[5].name = "head";
  tv_config c;
  make_config(&c, &other);
  tv_model *m = NULL;
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, 2, s, &m), TV_ERR_INVALID);
  assert_null(m);
  assert_non_null(strstr(tv_error_message(), "head/kernel"));
  tv_model_free(train);
  tv_varstore_free(s);
}

/* ---- build errors --------------------------------------------------------------------------- */

static void expect_config_error(const model_spec *ms, const char *const *needles) {
  tv_varstore *s = new_store();
  tv_config c;
  make_config(&c, ms);
  tv_model *m = (tv_model *)&m;
  int rc = tv_model_new(&c, TV_MODE_TRAIN, 4, s, &m);
  if (rc != TV_ERR_CONFIG)
    fail_msg("%s: got %d (%s), want TV_ERR_CONFIG", ms->what, rc, tv_error_message());
  assert_null(m);
  for (; *needles; needles++)
    if (!strstr(tv_error_message(), *needles))
      fail_msg("%s: message '%s' lacks '%s'", ms->what, tv_error_message(), *needles);
  tv_varstore_free(s);
}

static void test_error_dense_needs_flat_input(void **state) {
  (void)state;
  const model_spec ms = {"dense on [1,4,4]", {1, 4, 4}, 3, 1, {DENSE("classifier", 3)}};
  const char *const want[] = {"test.yaml:10:5", "classifier", "flatten", NULL};
  expect_config_error(&ms, want);
  /* Also after a relu, which keeps the 3-D shape. */
  const model_spec ms2 = {"dense after relu", {2, 3, 3}, 3, 2, {RELU("act"), DENSE("fc_late", 3)}};
  const char *const want2[] = {"test.yaml:11:5", "fc_late", NULL};
  expect_config_error(&ms2, want2);
}

static void test_error_logits_size(void **state) {
  (void)state;
  const model_spec ms = {
      "4 logits, 3 classes", {1, 4, 4}, 3, 2, {FLATTEN("flat"), DENSE("out", 4)}};
  const char *const want[] = {"test.yaml:11:5", "layer out", "num_classes", NULL};
  expect_config_error(&ms, want);
  /* A non-flat last layer is wrong too. */
  const model_spec ms2 = {"relu last", {1, 1, 3}, 3, 1, {RELU("act")}};
  const char *const want2[] = {"layer act", NULL};
  expect_config_error(&ms2, want2);
}

static void test_error_unused_layer(void **state) {
  (void)state;
  const model_spec ms = {
      "skipped layer",
      {1, 4, 4},
      3,
      3,
      {FLATTEN("flat"), DENSE("side", 5), {TV_LAYER_DENSE, "out", 3, 1, "flat"}}};
  const char *const want[] = {"test.yaml:11:5", "layer side", NULL};
  expect_config_error(&ms, want);
}

static void test_error_unknown_input(void **state) {
  (void)state;
  const model_spec ms = {"input names a later layer",
                         {1, 4, 4},
                         3,
                         2,
                         {{TV_LAYER_FLATTEN, "flat", 0, 1, "out"}, DENSE("out", 3)}};
  const char *const want[] = {"test.yaml:10:5", "layer flat", "'out'", NULL};
  expect_config_error(&ms, want);
}

static void test_error_no_layers(void **state) {
  (void)state;
  tv_varstore *s = new_store();
  tv_config c;
  make_config(&c, &mlp3);
  c.model.n_layers = 0;
  tv_model *m = NULL;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 4, s, &m), TV_ERR_CONFIG);
  assert_null(m);
  make_config(&c, &mlp3);
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 0, s, &m), TV_ERR_INVALID);
  assert_null(m);
  tv_model_free(NULL);
  tv_varstore_free(s);
}

/* ---- layer info: the fashion MLP 784-512-256-10 -------------------------------------------- */

static void test_layer_info_mlp(void **state) {
  (void)state;
  const model_spec ms = {"fashion mlp",
                         {1, 28, 28},
                         10,
                         6,
                         {FLATTEN("flatten"), DENSE("fc1", 512), RELU("relu1"), DENSE("fc2", 256),
                          RELU("relu2"), DENSE("fc3", 10)}};
  tv_varstore *s = new_store();
  tv_model *m = build(&ms, TV_MODE_TRAIN, 2, s);
  assert_int_equal(tv_model_num_layers(m), 6);
  assert_int_equal(tv_model_input_size(m), 784);
  assert_int_equal(tv_model_num_classes(m), 10);
  assert_int_equal(tv_model_max_batch(m), 2);
  /* flops: 2 * in * out multiply-adds, plus out bias adds for dense; one op per element for
   * relu; flatten is free. */
  const struct {
    const char *name, *kind;
    int out;
    size_t params;
    double flops;
  } want[] = {
      {"flatten", "flatten", 784, 0, 0},
      {"fc1", "dense", 512, 784 * 512 + 512, 2.0 * 784 * 512 + 512},
      {"relu1", "relu", 512, 0, 512},
      {"fc2", "dense", 256, 512 * 256 + 256, 2.0 * 512 * 256 + 256},
      {"relu2", "relu", 256, 0, 256},
      {"fc3", "dense", 10, 256 * 10 + 10, 2.0 * 256 * 10 + 10},
  };
  size_t total = 0;
  for (int i = 0; i < 6; i++) {
    tv_layer_info info;
    tv_model_layer_info(m, i, &info);
    assert_string_equal(info.name, want[i].name);
    assert_string_equal(info.kind, want[i].kind);
    assert_true(tv_shape_equal(info.out, tv_shape1(want[i].out)));
    assert_int_equal(info.params, want[i].params);
    assert_int_equal(info.non_trainable, 0);
    if (fabs(info.flops - want[i].flops) > 0.5)
      fail_msg("%s: flops %.0f, want %.0f", want[i].name, info.flops, want[i].flops);
    total += info.params;
  }
  assert_int_equal(total, 535818);
  assert_int_equal(tv_varstore_trainable_size(s), 535818);
  tv_model_free(m);
  tv_varstore_free(s);
}

/* ---- batch-size independence ---------------------------------------------------------------- */

/* Each example's logits do not depend on the other examples in the batch.  Not bit-exact: the
 * BLAS may pick another kernel (another summation order) for one row, so 1e-5 relative. */
static void test_batch_independence(void **state) {
  (void)state;
  enum { N = 5, K = 3 };
  tv_varstore *s = new_store();
  tv_model *m = build(&mlp3, TV_MODE_TRAIN, N, s);
  init_store(s, 9);
  float *x = random_input(N, 16, 77);
  float all[N * K];
  memcpy(all, tv_model_forward(m, x, N), sizeof all);
  assert_memory_equal(all, tv_model_forward(m, x, N), sizeof all); /* deterministic */
  for (int i = 0; i < N; i++) {
    const float *one = tv_model_forward(m, x + i * 16, 1);
    for (int j = 0; j < K; j++)
      if (!(fabsf(one[j] - all[i * K + j]) <= 1e-5f * fabsf(all[i * K + j]) + 1e-6f))
        fail_msg("example %d logit %d: alone %.9g, in the batch %.9g", i, j, one[j],
                 all[i * K + j]);
  }
  free(x);
  tv_model_free(m);
  tv_varstore_free(s);
}

/* ---- training sanity ------------------------------------------------------------------------ */

/* Three Gaussian blobs in 4-D, well separated: 200 full-batch SGD steps (momentum 0.9) must
 * cut the loss by a factor of 20 and classify every training example. */
static void test_training_reduces_loss(void **state) {
  (void)state;
  enum { N = 60, D = 4, K = 3, STEPS = 200 };
  const model_spec ms = {
      "blobs", {1, 2, 2}, K, 4, {FLATTEN("flat"), DENSE("fc1", 16), RELU("act"), DENSE("fc2", K)}};
  tv_varstore *s = new_store();
  tv_model *m = build(&ms, TV_MODE_TRAIN, N, s);
  init_store(s, 4);
  tv_config c;
  make_config(&c, &ms);
  c.optimizer.type = TV_OPTIM_SGD;
  c.optimizer.learning_rate = 0.05;
  c.optimizer.momentum = 0.9;
  c.optimizer.nesterov = 0;
  c.optimizer.schedule = TV_SCHEDULE_CONSTANT;
  c.optimizer.warmup_steps = 0;
  tv_optim *o = NULL;
  assert_int_equal(tv_optim_new(&c, STEPS, s, &o), TV_OK);

  float x[N * D];
  int32_t y[N];
  tv_rng r = tv_rng_seed(8, TV_RNG_SPLIT);
  for (int i = 0; i < N; i++) {
    y[i] = i % K;
    for (int j = 0; j < D; j++)
      x[i * D + j] = (j == y[i] ? 2.0f : 0.0f) - (j == 3 ? 1.0f : 0.0f) + 0.3f * tv_rng_normal(&r);
  }
  float first = 0, last = 0;
  for (int t = 0; t < STEPS; t++) {
    (void)tv_model_forward(m, x, N);
    float loss = tv_model_backward(m, y, N);
    assert_true(isfinite(loss));
    if (t == 0) first = loss;
    last = loss;
    tv_optim_step(o, t);
  }
  const float *z = tv_model_forward(m, x, N);
  last = tv_softmax_xent(z, y, N, K, NULL);
  int correct = 0;
  for (int i = 0; i < N; i++) {
    int arg = 0;
    for (int j = 1; j < K; j++)
      if (z[i * K + j] > z[i * K + arg]) arg = j;
    correct += arg == y[i];
  }
  print_message("  loss %.4f -> %.5f after %d steps, %d/%d correct\n", first, last, STEPS, correct,
                N);
  if (!(last * 20.0f < first)) fail_msg("loss %.5f -> %.5f: not reduced 20x", first, last);
  assert_int_equal(correct, N);
  tv_optim_free(o);
  tv_model_free(m);
  tv_varstore_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradient_check),
      cmocka_unit_test(test_dense_variables),
      cmocka_unit_test(test_train_infer_share),
      cmocka_unit_test(test_infer_shape_mismatch),
      cmocka_unit_test(test_sealed_store_lacks_variable),
      cmocka_unit_test(test_error_dense_needs_flat_input),
      cmocka_unit_test(test_error_logits_size),
      cmocka_unit_test(test_error_unused_layer),
      cmocka_unit_test(test_error_unknown_input),
      cmocka_unit_test(test_error_no_layers),
      cmocka_unit_test(test_layer_info_mlp),
      cmocka_unit_test(test_batch_independence),
      cmocka_unit_test(test_training_reduces_loss),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
