/* test_model.c — model graphs over a variable store: gradient check by central differences for
 * every layer kind in TRAIN mode (driven by a table of small configs; a test asserts the table
 * covers every tv_layer_kind), TRAIN/INFER variable sharing and mode differences (batch-norm,
 * dropout), softmax as the output layer, label smoothing, checkpoint round trip into an INFER
 * graph, build errors (code and message), layer info, batch-size independence, a malloc-free
 * training step and a short training run.
 *
 * Gradient check.  The model is float32, so the step is eps = 1e-3 and the loss L is
 * tv_softmax_xent of tv_model_forward (summed in double, returned as float).  The step actually
 * taken, (float)(p + eps) - (float)(p - eps), is exact and is what we divide by.  Noise in L is
 * a few float ulps of the logits (~1e-7), i.e. ~1e-4 in the difference quotient, so
 *     |analytic - numeric| <= 1e-2 * |analytic| + 5e-4        (written down once, here).
 * Kinks: a perturbation that changes the sign pattern of the input of any relu, leaky_relu or
 * elu, or the argmax of any max_pool2d window, is skipped (the difference quotient straddles a
 * kink).  The patterns are read from the graph itself (tv_model_layer_output) after each
 * forward.  At most a tenth of the checked parameters may be skipped.  Dropout is checked with a
 * fixed mask: the dropout generator is reset to one state before every forward.  Batch-norm is
 * checked in TRAIN mode, through its batch statistics (its moving averages change on every
 * forward, which TRAIN outputs do not read).
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
#include <unistd.h>

#include <cmocka.h>

#include "trainval/ckpt.h"
#include "trainval/config.h"
#include "trainval/ctx.h"
#include "trainval/loss.h"
#include "trainval/ops.h"
#include "trainval/optim.h"
#include "trainval/rng.h"
#include "trainval/varstore.h"
#include "testutil.h"

#include "testutil.h"

/* ---- building configs in code ------------------------------------------------------------- */

typedef struct layer_spec {
  tv_layer_kind kind;
  const char *name;
  int units; /* dense units, conv2d filters */
  int use_bias;
  const char *input;  /* NULL: the previous layer */
  const char *input2; /* add: the second input */
  int k[2], s[2];     /* kernel_size / pool_size, strides (0: the kind's default) */
  tv_padding pad;
  int p[2];
  double rate; /* dropout (0: 0.5), leaky_relu / elu alpha (0: default) */
} layer_spec;

enum { MAX_SPEC = 16 };

typedef struct model_spec {
  const char *what;
  int input[3];
  int num_classes;
  int n_layers;
  layer_spec layers[MAX_SPEC];
} model_spec;

#define FLATTEN(nm)                                                                                \
  { .kind = TV_LAYER_FLATTEN, .name = nm, .use_bias = 1 }
#define RELU(nm)                                                                                   \
  { .kind = TV_LAYER_RELU, .name = nm, .use_bias = 1 }
#define DENSE(nm, u)                                                                               \
  { .kind = TV_LAYER_DENSE, .name = nm, .units = u, .use_bias = 1 }
#define DENSE_NOBIAS(nm, u)                                                                        \
  { .kind = TV_LAYER_DENSE, .name = nm, .units = u }
#define ACT(kind_, nm)                                                                             \
  { .kind = kind_, .name = nm, .use_bias = 1 }
#define ACT_ALPHA(kind_, nm, a)                                                                    \
  { .kind = kind_, .name = nm, .use_bias = 1, .rate = a }
#define FROM(kind_, nm, u, in)                                                                     \
  { .kind = kind_, .name = nm, .units = u, .use_bias = 1, .input = in }
#define CONV(nm, f, kh, kw, sh, sw, pad_, ph, pw, bias)                                            \
  {                                                                                                \
    .kind = TV_LAYER_CONV2D, .name = nm, .units = f, .use_bias = bias, .k = {kh, kw},              \
    .s = {sh, sw}, .pad = pad_, .p = {                                                             \
      ph,                                                                                          \
      pw                                                                                           \
    }                                                                                              \
  }
#define POOL(kind_, nm, kh, kw, sh, sw, pad_, ph, pw)                                              \
  {                                                                                                \
    .kind = kind_, .name = nm, .use_bias = 1, .k = {kh, kw}, .s = {sh, sw}, .pad = pad_, .p = {    \
      ph,                                                                                          \
      pw                                                                                           \
    }                                                                                              \
  }
#define BN(nm)                                                                                     \
  { .kind = TV_LAYER_BATCH_NORM, .name = nm, .use_bias = 1 }
#define DROPOUT(nm, r)                                                                             \
  { .kind = TV_LAYER_DROPOUT, .name = nm, .use_bias = 1, .rate = r }
#define ADD(nm, a, b)                                                                              \
  { .kind = TV_LAYER_ADD, .name = nm, .use_bias = 1, .input = a, .input2 = b }
#define GAP(nm)                                                                                    \
  { .kind = TV_LAYER_GLOBAL_AVG_POOL, .name = nm, .use_bias = 1 }
#define SOFTMAX(nm)                                                                                \
  { .kind = TV_LAYER_SOFTMAX, .name = nm, .use_bias = 1 }

/* Layer i sits at test.yaml:(10 + i):5 so messages can be checked.  Keys a spec leaves 0 take
 * the config defaults (config.h). */
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
    l->filters = ls->units;
    l->use_bias = ls->use_bias;
    l->line = 10 + i;
    l->col = 5;
    int pool = ls->kind == TV_LAYER_MAX_POOL2D || ls->kind == TV_LAYER_AVG_POOL2D;
    for (int d = 0; d < 2; d++) {
      l->kernel[d] = ls->k[d] ? ls->k[d] : 2;
      l->stride[d] = ls->s[d] ? ls->s[d] : pool ? l->kernel[d] : 1;
      l->pad[d] = ls->p[d];
    }
    l->padding = ls->pad;
    l->momentum = 0.9;
    l->epsilon = 1e-5;
    l->rate = ls->rate ? ls->rate : 0.5;
    l->alpha = ls->rate ? ls->rate : ls->kind == TV_LAYER_ELU ? 1.0 : 0.01;
    if (ls->input) {
      l->n_inputs = 1;
      snprintf(l->inputs[0], sizeof l->inputs[0], "%s", ls->input);
    }
    if (ls->input2) {
      if (!ls->input) snprintf(l->inputs[0], sizeof l->inputs[0], "%s", ms->layers[i - 1].name);
      l->n_inputs = 2;
      snprintf(l->inputs[1], sizeof l->inputs[1], "%s", ls->input2);
    }
  }
}

static int input_size(const model_spec *ms) { return ms->input[0] * ms->input[1] * ms->input[2]; }

/* The process's thread team, as train and eval have one: two threads, made by the group setup. */
static tv_ctx *g_ctx;
static tv_pool *team(void) { return tv_ctx_team(g_ctx); }

static int make_team(void **state) {
  (void)state;
  return tv_ctx_new(2, &g_ctx) == TV_OK ? 0 : -1;
}

static int free_team(void **state) {
  (void)state;
  tv_ctx_free(g_ctx);
  return 0;
}

static tv_varstore *new_store(void) {
  tv_varstore *s = NULL;
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  return s;
}

static tv_model *build(const model_spec *ms, tv_mode mode, int max_batch, tv_varstore *s) {
  tv_config c;
  make_config(&c, ms);
  tv_model *m = NULL;
  int rc = tv_model_new(&c, mode, max_batch, s, team(), &m);
  if (rc != TV_OK) fail_msg("%s: tv_model_new: %s", ms->what, tv_error_message());
  assert_non_null(m);
  return m;
}

/* Seals the store, He-initialises kernels and gives biases, batch-norm betas and gammas small
 * random offsets so that every parameter's gradient is exercised. */
static void init_store(tv_varstore *s, uint64_t seed) {
  assert_int_equal(tv_varstore_seal(s), TV_OK);
  tv_rng r = tv_rng_seed(seed, TV_RNG_INIT);
  tv_varstore_init(s, &r);
  for (int i = 0; i < tv_varstore_count(s); i++) {
    tv_var *v = tv_varstore_var(s, i);
    if (strstr(v->name, "/bias") || strstr(v->name, "/beta") || strstr(v->name, "/gamma"))
      for (size_t k = 0; k < v->count; k++) v->value[k] += 0.1f * tv_rng_normal(&r);
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
     {FROM(TV_LAYER_FLATTEN, "flat", 0, "input"), FROM(TV_LAYER_DENSE, "hidden", 7, "flat"),
      FROM(TV_LAYER_RELU, "act", 0, "hidden"), FROM(TV_LAYER_DENSE, "logits", 5, "act")}},
    {"large layer (sampled)",
     {1, 8, 8},
     3,
     4,
     {FLATTEN("flat"), DENSE("fc1", 40), RELU("act"), DENSE("fc2", 3)}},
    {"conv2d valid 3x3, relu, conv2d (its dx through col2im)",
     {2, 6, 5},
     3,
     5,
     {CONV("c1", 3, 3, 3, 1, 1, TV_PADDING_VALID, 0, 0, 1), RELU("r"),
      CONV("c2", 2, 2, 2, 1, 1, TV_PADDING_VALID, 0, 0, 1), FLATTEN("flat"), DENSE("fc", 3)}},
    {"conv2d same stride 2 [3x2] no bias, conv2d explicit [1, 2] stride [2, 1]",
     {2, 7, 5},
     3,
     4,
     {CONV("c1", 3, 3, 2, 2, 2, TV_PADDING_SAME, 0, 0, 0), ACT(TV_LAYER_TANH, "t"),
      CONV("c2", 3, 3, 3, 2, 1, TV_PADDING_EXPLICIT, 1, 2, 1), GAP("gap")}},
    {"max_pool2d 2x2 (fast path) and 3x3 stride 2 same (general path)",
     {2, 8, 8},
     3,
     5,
     {CONV("c1", 3, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 1),
      POOL(TV_LAYER_MAX_POOL2D, "p1", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0),
      POOL(TV_LAYER_MAX_POOL2D, "p2", 3, 3, 2, 2, TV_PADDING_SAME, 0, 0), FLATTEN("flat"),
      DENSE("fc", 3)}},
    {"relu folded into max_pool2d (2x2 and 3x3)",
     {2, 8, 8},
     3,
     7,
     {CONV("c1", 3, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 1), RELU("r1"),
      POOL(TV_LAYER_MAX_POOL2D, "p1", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0), RELU("r2"),
      POOL(TV_LAYER_MAX_POOL2D, "p2", 3, 3, 1, 1, TV_PADDING_SAME, 0, 0), FLATTEN("flat"),
      DENSE("fc", 3)}},
    {"avg_pool2d 2 valid, 3 stride 1 explicit 1 (padding not counted), global_avg_pool",
     {2, 6, 6},
     3,
     5,
     {CONV("c1", 3, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 1),
      POOL(TV_LAYER_AVG_POOL2D, "a1", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0),
      POOL(TV_LAYER_AVG_POOL2D, "a2", 3, 3, 1, 1, TV_PADDING_EXPLICIT, 1, 1), GAP("gap"),
      DENSE("fc", 3)}},
    {"batch_norm over channels (4-D) and features (2-D)",
     {2, 4, 4},
     3,
     7,
     {CONV("c1", 3, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 0), BN("bn1"), RELU("r1"), FLATTEN("flat"),
      DENSE("fc1", 6), BN("bn2"), DENSE("fc2", 3)}},
    {"dropout (fixed mask) after dense and conv",
     {1, 5, 5},
     3,
     6,
     {CONV("c1", 2, 3, 3, 1, 1, TV_PADDING_VALID, 0, 0, 1), DROPOUT("d1", 0.3), FLATTEN("flat"),
      DENSE("fc1", 8), DROPOUT("d2", 0.5), DENSE("fc2", 3)}},
    {"leaky_relu, elu, gelu, sigmoid, tanh",
     {1, 3, 3},
     3,
     11,
     {FLATTEN("flat"), DENSE("fc1", 8), ACT(TV_LAYER_LEAKY_RELU, "lrelu"), DENSE("fc2", 8),
      ACT(TV_LAYER_ELU, "elu"), DENSE("fc3", 8), ACT(TV_LAYER_GELU, "gelu"), DENSE("fc4", 8),
      ACT(TV_LAYER_SIGMOID, "sig"), ACT(TV_LAYER_TANH, "tanh"), DENSE("fc5", 3)}},
    {"elu alpha 0.5, leaky_relu alpha 0.2",
     {1, 3, 3},
     3,
     5,
     {FLATTEN("flat"), DENSE("fc1", 8), ACT_ALPHA(TV_LAYER_ELU, "elu", 0.5),
      ACT_ALPHA(TV_LAYER_LEAKY_RELU, "lr", 0.2), DENSE("fc2", 3)}},
    {"softmax inside the network",
     {1, 3, 3},
     3,
     4,
     {FLATTEN("flat"), DENSE("fc1", 6), SOFTMAX("sm"), DENSE("fc2", 3)}},
    {"softmax as the output layer (loss on its input)",
     {1, 3, 3},
     4,
     4,
     {FLATTEN("flat"), DENSE("fc1", 6), RELU("r"), DENSE("fc2", 4), SOFTMAX("probs")}},
    {"residual add of a conv block; add [a, a]",
     {2, 5, 5},
     3,
     8,
     {CONV("c1", 3, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 1), RELU("r1"),
      CONV("c2", 3, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 1), ADD("sum", "r1", "c2"),
      ADD("twice", "sum", "sum"), GAP("gap"), DENSE("fc", 3), SOFTMAX("sm")}},
};

/* The index of the node a layer reads as input k (-1: the model input). */
static int input_node(const model_spec *ms, int i, int k) {
  const layer_spec *ls = &ms->layers[i];
  const char *name = k == 0 ? ls->input : ls->input2;
  if (k == 0 && !name) return i - 1;
  if (strcmp(name, "input") == 0) return -1;
  for (int j = 0; j < i; j++)
    if (strcmp(ms->layers[j].name, name) == 0) return j;
  fail_msg("%s: no layer %s", ms->what, name);
  return -2;
}

static tv_shape node_shape(const model_spec *ms, tv_model *m, int node) {
  if (node < 0) return tv_shape3(ms->input[0], ms->input[1], ms->input[2]);
  tv_layer_info li;
  tv_model_layer_info(m, node, &li);
  return li.out;
}

/* Output size and leading pad of a window, computed here independently of layers.c. */
static int window_out(int in, int k, int s, tv_padding pad, int p, int *before) {
  if (pad == TV_PADDING_SAME) {
    int o = (in + s - 1) / s, total = (o - 1) * s + k - in;
    *before = total > 0 ? total / 2 : 0;
    return o;
  }
  *before = pad == TV_PADDING_EXPLICIT ? p : 0;
  return (in + 2 * *before - k) / s + 1;
}

/* The kink signature of the last forward: one byte per input element of every relu, leaky_relu
 * and elu (x > 0), four per max_pool2d output (the flat index of the window's first maximum).
 * Returns the bytes written (out may be NULL to count). */
static size_t kink_signature(const model_spec *ms, tv_model *m, unsigned char *out) {
  tv_config c;
  make_config(&c, ms);
  size_t at = 0;
  for (int i = 0; i < ms->n_layers; i++) {
    tv_layer_kind kind = ms->layers[i].kind;
    int src = input_node(ms, i, 0);
    tv_shape in = node_shape(ms, m, src);
    const float *x = tv_model_layer_output(m, src);
    size_t per = tv_shape_count(in);
    if (kind == TV_LAYER_RELU || kind == TV_LAYER_LEAKY_RELU || kind == TV_LAYER_ELU) {
      for (size_t e = 0; e < GC_N * per; e++, at++)
        if (out) out[at] = x[e] > 0.0f;
    } else if (kind == TV_LAYER_MAX_POOL2D) {
      const tv_layer_config *l = &c.model.layers[i];
      int ph, pw,
          oh = window_out(in.dim[1], l->kernel[0], l->stride[0], l->padding, l->pad[0], &ph),
          ow = window_out(in.dim[2], l->kernel[1], l->stride[1], l->padding, l->pad[1], &pw);
      for (int e = 0; e < GC_N; e++)
        for (int ch = 0; ch < in.dim[0]; ch++)
          for (int a = 0; a < oh; a++)
            for (int b = 0; b < ow; b++) {
              int32_t best = -1;
              float bv = 0;
              for (int u = 0; u < l->kernel[0]; u++)
                for (int v = 0; v < l->kernel[1]; v++) {
                  int r = a * l->stride[0] - ph + u, q = b * l->stride[1] - pw + v;
                  if (r < 0 || r >= in.dim[1] || q < 0 || q >= in.dim[2]) continue;
                  int32_t idx = (int32_t)(((size_t)e * in.dim[0] + ch) * in.dim[1] * in.dim[2] +
                                          (size_t)r * in.dim[2] + q);
                  if (best < 0 || x[idx] > bv) best = idx, bv = x[idx];
                }
              if (out) memcpy(out + at, &best, sizeof best);
              at += sizeof best;
            }
    }
  }
  return at;
}

typedef struct gc_ctx {
  const model_spec *ms;
  tv_model *m;
  const float *x;
  const int32_t *y;
  tv_rng rng; /* the dropout generator's state before every forward: a fixed mask */
  size_t sig_len;
  unsigned char *sig;
} gc_ctx;

static double loss_of(gc_ctx *g) {
  tv_model_set_rng(g->m, g->rng);
  const float *z = tv_model_forward(g->m, g->x, GC_N);
  return tv_softmax_xent(z, g->y, GC_N, tv_model_num_classes(g->m), NULL);
}

static int kinked(gc_ctx *g, const unsigned char *base) {
  kink_signature(g->ms, g->m, g->sig);
  return memcmp(g->sig, base, g->sig_len) != 0;
}

static void grad_check(const model_spec *ms) {
  const double eps = 1e-3, rel = 1e-2, floor_abs = 5e-4;
  tv_varstore *s = new_store();
  tv_model *m = build(ms, TV_MODE_TRAIN, GC_N, s);
  init_store(s, 17);
  int d = input_size(ms);
  float *x = random_input(GC_N, d, 23);
  int32_t y[GC_N];
  for (int i = 0; i < GC_N; i++) y[i] = (int32_t)((i * 7 + 1) % ms->num_classes);
  gc_ctx g = {.ms = ms, .m = m, .x = x, .y = y, .rng = tv_rng_seed(99, TV_RNG_DROPOUT)};

  /* Gradients accumulate: zeroed once (over garbage), one backward gives the gradient; a second
   * backward without zeroing adds it again, so every trainable gradient doubles. */
  size_t slab = tv_varstore_size(s);
  float *grads = tv_varstore_grads(s);
  for (size_t i = 0; i < slab; i++) grads[i] = 1e6f;
  tv_varstore_zero_grads(s);
  for (size_t i = 0; i < slab; i++) assert_true(grads[i] == 0.0f);
  tv_model_set_rng(m, g.rng);
  (void)tv_model_forward(m, x, GC_N);
  float loss = tvt_xent_backward(m, y, GC_N, 0.0f);
  assert_true(fabs(loss - loss_of(&g)) <= 1e-6 * fabs(loss));
  float *analytic = malloc(slab * sizeof *analytic);
  assert_non_null(analytic);
  memcpy(analytic, grads, slab * sizeof *analytic);
  tv_model_set_rng(m, g.rng);
  (void)tv_model_forward(m, x, GC_N);
  (void)tvt_xent_backward(m, y, GC_N, 0.0f);
  for (int i = 0; i < tv_varstore_count(s); i++) {
    const tv_var *v = tv_varstore_cvar(s, i);
    for (size_t e = 0; v->trainable && e < v->count; e++) {
      double twice = 2.0 * analytic[v->offset + e];
      if (!(fabs(v->grad[e] - twice) <= 1e-5 * fabs(twice) + 1e-7))
        fail_msg("%s: %s[%zu]: two backwards give %.9g, twice one backward is %.9g", ms->what,
                 v->name, e, v->grad[e], twice);
    }
  }

  (void)loss_of(&g);
  g.sig_len = kink_signature(ms, m, NULL);
  unsigned char *base = malloc(g.sig_len + 1);
  g.sig = malloc(g.sig_len + 1);
  assert_non_null(base);
  assert_non_null(g.sig);
  kink_signature(ms, m, base);
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
      double lp = loss_of(&g);
      int kink = kinked(&g, base);
      v->value[e] = p0 - (float)eps;
      float pm = v->value[e];
      double lm = loss_of(&g);
      kink |= kinked(&g, base);
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
    fail_msg("%s: %d of %d perturbations crossed a kink", ms->what, skipped, checked + skipped);
  assert_true(checked > 0);
  print_message("  %-72s %4d checked, %2d skipped at kinks, worst error %.2f of tolerance\n",
                ms->what, checked, skipped, worst);
  free(base);
  free(g.sig);
  free(analytic);
  free(x);
  tv_model_free(m);
  tv_varstore_free(s);
}

static void test_gradient_check(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof grad_cases / sizeof grad_cases[0]; i++) grad_check(&grad_cases[i]);
}

/* ---- token models: gradient check through the unrolled steps and across a carried state ---- */

/* Each is a token model (embedding first) over T = 5 steps and a vocabulary of 6. */
static const char *const seq_cases[] = {
    "model:\n  input: [5]\n  num_classes: 6\n  layers:\n"
    "    - {type: embedding, vocab: 6, dim: 4}\n    - {type: lstm, hidden: 5}\n"
    "    - {type: dense, units: 6}\n",
    "model:\n  input: [5]\n  num_classes: 6\n  layers:\n"
    "    - {type: embedding, vocab: 6, dim: 4}\n    - {type: gru, hidden: 5}\n"
    "    - {type: dense, units: 6}\n",
    "model:\n  input: [5]\n  num_classes: 6\n  layers:\n"
    "    - {type: embedding, vocab: 6, dim: 3}\n    - {type: lstm, hidden: 4}\n"
    "    - {type: dropout, rate: 0.3}\n    - {type: gru, hidden: 5}\n"
    "    - {type: lstm, hidden: 3}\n    - {type: dense, units: 6}\n",
};

enum { SQ_N = 3, SQ_T = 5, SQ_V = 6 };

static void parse_seq(const char *yaml, tv_config *c) {
  if (tv_config_parse(yaml, strlen(yaml), "seq.yaml", NULL, 0, c) != TV_OK)
    fail_msg("seq config: %s", tv_error_message());
}

typedef struct sq_ctx {
  tv_model *m;
  const int32_t *ids, *y;
  const float *state; /* the carried state every evaluation starts from */
  tv_rng rng;         /* the dropout generator before every forward: a fixed mask */
} sq_ctx;

static double sq_loss(const sq_ctx *g, float *dy) {
  tv_model_set_state(g->m, g->state);
  tv_model_set_rng(g->m, g->rng);
  const float *z = tv_model_forward_ids(g->m, g->ids, SQ_N);
  tv_loss loss = {.kind = TV_LOSS_TOKEN_XENT};
  return tv_loss_forward(&loss, z, (tv_targets){.classes = g->y}, SQ_N * SQ_T, SQ_V, dy);
}

static void seq_grad_check(const char *yaml) {
  const double eps = 1e-3, rel = 1e-2, floor_abs = 5e-4;
  static tv_config c;
  parse_seq(yaml, &c);
  tv_varstore *s = new_store();
  tv_model *m = NULL;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, SQ_N, s, team(), &m), TV_OK);
  init_store(s, 5);
  int32_t a[SQ_N * SQ_T], b[SQ_N * SQ_T], y[SQ_N * SQ_T];
  for (int i = 0; i < SQ_N * SQ_T; i++)
    a[i] = (i * 5 + 2) % SQ_V, b[i] = (i * 7 + 1) % SQ_V, y[i] = (i * 3 + 4) % SQ_V;
  /* a first batch leaves a carried state: the checked batch starts from it, not from zeros */
  tv_model_set_rng(m, tv_rng_seed(7, TV_RNG_DROPOUT));
  (void)tv_model_forward_ids(m, a, SQ_N);
  size_t ns = tv_model_state_floats(m);
  assert_true(ns > 0);
  float *st = malloc(ns * sizeof *st);
  assert_non_null(st);
  tv_model_get_state(m, st);
  double mag = 0;
  for (size_t i = 0; i < ns; i++) mag += fabs(st[i]);
  assert_true(mag > 0.01 * (double)ns); /* a state, not zeros */
  sq_ctx g = {.m = m, .ids = b, .y = y, .state = st, .rng = tv_rng_seed(99, TV_RNG_DROPOUT)};

  size_t slab = tv_varstore_size(s);
  float *grads = tv_varstore_grads(s);
  tv_varstore_zero_grads(s);
  float *dy = tv_model_output_grad(m);
  (void)sq_loss(&g, dy);
  tv_model_backward(m, dy, SQ_N);
  float *analytic = malloc(slab * sizeof *analytic);
  assert_non_null(analytic);
  memcpy(analytic, grads, slab * sizeof *analytic);
  (void)sq_loss(&g, dy); /* a second backward without zeroing doubles every gradient */
  tv_model_backward(m, dy, SQ_N);
  for (size_t i = 0; i < slab; i++)
    if (!(fabs(grads[i] - 2.0 * analytic[i]) <= 1e-5 * fabs(2.0 * analytic[i]) + 1e-7))
      fail_msg("grads[%zu]: two backwards give %.9g, twice one is %.9g", i, grads[i],
               2.0 * analytic[i]);
  int checked = 0;
  double worst = 0;
  for (int vi = 0; vi < tv_varstore_count(s); vi++) {
    tv_var *v = tv_varstore_var(s, vi);
    if (!v->trainable) continue;
    size_t stride = v->count > GC_SAMPLE ? v->count / GC_SAMPLE + 1 : 1;
    for (size_t e = (vi * 3) % stride; e < v->count; e += stride) {
      float p0 = v->value[e];
      v->value[e] = p0 + (float)eps;
      float pp = v->value[e];
      double lp = sq_loss(&g, NULL);
      v->value[e] = p0 - (float)eps;
      float pm = v->value[e];
      double lm = sq_loss(&g, NULL);
      v->value[e] = p0;
      double num = (lp - lm) / ((double)pp - (double)pm), an = analytic[v->offset + e];
      double err = fabs(an - num);
      if (!(err <= rel * fabs(an) + floor_abs))
        fail_msg("%s: d loss / d %s[%zu]: backward %.6g, central difference %.6g", c.source,
                 v->name, e, an, num);
      worst = fmax(worst, err / (rel * fabs(an) + floor_abs));
      checked++;
    }
  }
  assert_true(checked > 0);
  print_message("  token model of %d layers: %4d checked, worst error %.2f of tolerance\n",
                c.model.n_layers, checked, worst);
  free(analytic);
  free(st);
  tv_model_free(m);
  tv_varstore_free(s);
}

static void test_gradient_check_sequence(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof seq_cases / sizeof seq_cases[0]; i++) seq_grad_check(seq_cases[i]);
}

/* The carried state makes consecutive batches one stream: two forwards of T = 5 give the logits
 * one forward of T = 10 gives over the same ids (an INFER graph over the same store), and after
 * tv_model_reset_state the first batch's logits again. */
static void test_sequence_state_carries(void **state) {
  (void)state;
  static tv_config c, c10;
  parse_seq(seq_cases[2], &c);
  c10 = c;
  c10.model.input[0] = 2 * SQ_T;
  tv_varstore *s = new_store();
  tv_model *m = NULL, *m10 = NULL;
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, SQ_N, s, team(), &m), TV_OK);
  assert_int_equal(tv_model_new(&c10, TV_MODE_INFER, SQ_N, s, team(), &m10), TV_OK);
  init_store(s, 8);
  assert_int_equal(tv_model_steps(m), SQ_T);
  assert_int_equal(tv_model_output_size(m), SQ_T * SQ_V);
  int32_t ids[SQ_N * 2 * SQ_T], half[2][SQ_N * SQ_T];
  for (int i = 0; i < SQ_N * 2 * SQ_T; i++) ids[i] = (i * 5 + i / 7) % SQ_V;
  for (int e = 0; e < SQ_N; e++)
    for (int t = 0; t < 2 * SQ_T; t++) half[t / SQ_T][e * SQ_T + t % SQ_T] = ids[e * 2 * SQ_T + t];
  const float *z10 = tv_model_forward_ids(m10, ids, SQ_N);
  float first[SQ_N * SQ_T * SQ_V];
  memcpy(first, tv_model_forward_ids(m, half[0], SQ_N), sizeof first);
  const float *z = tv_model_forward_ids(m, half[1], SQ_N);
  for (int e = 0; e < SQ_N; e++)
    for (int t = 0; t < 2 * SQ_T; t++)
      for (int k = 0; k < SQ_V; k++) {
        float got =
            t < SQ_T ? first[(e * SQ_T + t) * SQ_V + k] : z[(e * SQ_T + t - SQ_T) * SQ_V + k];
        float want = z10[(e * 2 * SQ_T + t) * SQ_V + k];
        if (!(fabsf(got - want) <= 1e-5f * fabsf(want) + 1e-6f))
          fail_msg("example %d step %d class %d: %.9g in two batches, %.9g in one", e, t, k, got,
                   want);
      }
  tv_model_reset_state(m);
  z = tv_model_forward_ids(m, half[0], SQ_N);
  assert_memory_equal(z, first, sizeof first);
  tv_model_free(m);
  tv_model_free(m10);
  tv_varstore_free(s);
}

/* Build errors of the token-model layers name the layer and its config position. */
static void test_error_sequence_layers(void **state) {
  (void)state;
  static tv_config c;
  tv_varstore *s = new_store();
  tv_model *m = NULL;
  parse_seq("model:\n  input: [4]\n  num_classes: 3\n  layers:\n"
            "    - {type: dense, units: 3}\n    - {type: embedding, vocab: 3, dim: 2}\n"
            "    - {type: flatten}\n    - {type: dense, units: 3}\n",
            &c);
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 2, s, team(), &m), TV_ERR_CONFIG);
  assert_null(m);
  assert_string_equal(tv_error_message(),
                      "seq.yaml:6:7: layer embedding_1: embedding reads the model input, T token "
                      "ids (`input: [T]`)");
  parse_seq("model:\n  input: [1, 4, 4]\n  num_classes: 3\n  layers:\n"
            "    - {type: flatten}\n    - {type: lstm, hidden: 3}\n",
            &c);
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 2, s, team(), &m), TV_ERR_CONFIG);
  assert_string_equal(tv_error_message(),
                      "seq.yaml:6:7: layer lstm_1: lstm needs a (T, D) sequence input, got [16] "
                      "(put an embedding first)");
  tv_varstore_free(s);
}

/* The tables above exercise every layer kind (so a new kind without a case fails here). */
static void test_gradient_check_covers_every_kind(void **state) {
  (void)state;
  int seen[TV_LAYER__COUNT] = {0};
  for (size_t i = 0; i < sizeof grad_cases / sizeof grad_cases[0]; i++)
    for (int j = 0; j < grad_cases[i].n_layers; j++) seen[grad_cases[i].layers[j].kind] = 1;
  for (size_t i = 0; i < sizeof seq_cases / sizeof seq_cases[0]; i++) {
    static tv_config c;
    parse_seq(seq_cases[i], &c);
    for (int j = 0; j < c.model.n_layers; j++) seen[c.model.layers[j].kind] = 1;
  }
  for (int k = 0; k < TV_LAYER__COUNT; k++)
    if (!seen[k]) fail_msg("layer kind %s has no gradient-check case", tv_layer_kind_name(k));
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
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, 2, s, team(), &m), TV_ERR_MISMATCH);
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
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, 2, s, team(), &m), TV_ERR_INVALID);
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
  int rc = tv_model_new(&c, TV_MODE_TRAIN, 4, s, team(), &m);
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
      {FLATTEN("flat"), DENSE("side", 5), FROM(TV_LAYER_DENSE, "out", 3, "flat")}};
  const char *const want[] = {"test.yaml:11:5", "layer side", NULL};
  expect_config_error(&ms, want);
}

static void test_error_unknown_input(void **state) {
  (void)state;
  const model_spec ms = {"input names a later layer",
                         {1, 4, 4},
                         3,
                         2,
                         {FROM(TV_LAYER_FLATTEN, "flat", 0, "out"), DENSE("out", 3)}};
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
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 4, s, team(), &m), TV_ERR_CONFIG);
  assert_null(m);
  make_config(&c, &mlp3);
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 0, s, team(), &m), TV_ERR_INVALID);
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
    tv_varstore_zero_grads(s);
    (void)tv_model_forward(m, x, N);
    float loss = tvt_xent_backward(m, y, N, 0.0f);
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

/* ---- CNN graphs: TRAIN and INFER, modes, softmax output, label smoothing ------------------- */

static const model_spec cnn_plain = {
    "cnn without batch-norm or dropout",
    {2, 8, 8},
    4,
    12,
    {CONV("c1", 4, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 1), ACT(TV_LAYER_LEAKY_RELU, "a1"),
     CONV("c2", 4, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 0), ADD("res", "a1", "c2"),
     POOL(TV_LAYER_MAX_POOL2D, "p1", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0), ACT(TV_LAYER_ELU, "e"),
     POOL(TV_LAYER_AVG_POOL2D, "p2", 3, 3, 1, 1, TV_PADDING_SAME, 0, 0), GAP("gap"),
     DENSE("fc1", 8), ACT(TV_LAYER_GELU, "g"), DENSE("fc2", 4), SOFTMAX("probs")}};

/* Where the graphs agree (no batch-norm, no dropout), TRAIN and INFER logits are bit-identical
 * over one store, and so are the probabilities of the softmax output layer. */
static void test_train_infer_cnn_identical(void **state) {
  (void)state;
  enum { N = 5 };
  tv_varstore *s = new_store();
  tv_model *train = build(&cnn_plain, TV_MODE_TRAIN, N, s);
  int n_vars = tv_varstore_count(s);
  init_store(s, 31);
  tv_model *infer = build(&cnn_plain, TV_MODE_INFER, N, s);
  assert_int_equal(tv_varstore_count(s), n_vars);
  float *x = random_input(N, input_size(&cnn_plain), 41);
  float lt[N * 4], pt[N * 4];
  memcpy(lt, tv_model_forward(train, x, N), sizeof lt);
  memcpy(pt, tv_model_outputs(train), sizeof pt);
  assert_memory_equal(lt, tv_model_forward(infer, x, N), sizeof lt);
  assert_memory_equal(pt, tv_model_outputs(infer), sizeof pt);
  /* The output layer's probabilities are the softmax of the logits forward returned. */
  for (int i = 0; i < N; i++) {
    double sum = 0, mx = lt[i * 4];
    for (int j = 1; j < 4; j++) mx = fmax(mx, lt[i * 4 + j]);
    for (int j = 0; j < 4; j++) sum += exp(lt[i * 4 + j] - mx);
    for (int j = 0; j < 4; j++) {
      double want = exp(lt[i * 4 + j] - mx) / sum;
      if (!(fabs(pt[i * 4 + j] - want) <= 1e-6))
        fail_msg("p[%d][%d] %g, want %g", i, j, pt[i * 4 + j], want);
    }
  }
  free(x);
  tv_model_free(infer);
  tv_model_free(train);
  tv_varstore_free(s);
}

/* A trailing softmax changes nothing for training: the loss and every gradient are those of the
 * same model without it, bit for bit. */
static void test_softmax_output_layer(void **state) {
  (void)state;
  enum { N = 6 };
  model_spec with = cnn_plain, without = cnn_plain;
  without.n_layers--;
  tv_varstore *s1 = new_store(), *s2 = new_store();
  tv_model *a = build(&with, TV_MODE_TRAIN, N, s1), *b = build(&without, TV_MODE_TRAIN, N, s2);
  init_store(s1, 5);
  init_store(s2, 5);
  assert_int_equal(tv_varstore_size(s1), tv_varstore_size(s2));
  float *x = random_input(N, input_size(&with), 6);
  int32_t y[N] = {0, 1, 2, 3, 1, 2};
  assert_memory_equal(tv_model_forward(a, x, N), tv_model_forward(b, x, N), N * 4 * sizeof(float));
  float la = tvt_xent_backward(a, y, N, 0.0f), lb = tvt_xent_backward(b, y, N, 0.0f);
  assert_true(la == lb);
  assert_memory_equal(tv_varstore_grads(s1), tv_varstore_grads(s2),
                      tv_varstore_size(s1) * sizeof(float));
  /* Without the softmax, outputs are the logits. */
  assert_ptr_equal(tv_model_outputs(b), tv_model_forward(b, x, N));
  free(x);
  tv_model_free(a);
  tv_model_free(b);
  tv_varstore_free(s1);
  tv_varstore_free(s2);
}

/* tv_model_backward propagates whatever output gradient it is given: from a caller's buffer the
 * same gradients as from the model's own (tv_model_output_grad, no copy), twice the output
 * gradient gives exactly twice every gradient (scaling by 2 is exact in float), and an INFER
 * graph has no output gradient. */
static void test_backward_from_given_gradient(void **state) {
  (void)state;
  enum { N = 6, K = 4 };
  tv_varstore *s = new_store();
  tv_model *m = build(&cnn_plain, TV_MODE_TRAIN, N, s);
  init_store(s, 12);
  float *x = random_input(N, input_size(&cnn_plain), 13);
  int32_t y[N] = {3, 1, 0, 2, 2, 1};
  size_t slab = tv_varstore_size(s);
  float *own = malloc(slab * sizeof *own), dy[N * K];
  assert_non_null(own);
  const float *z = tv_model_forward(m, x, N);
  assert_ptr_equal(z, tv_model_logits(m));
  (void)tv_softmax_xent(z, y, N, K, dy);
  memcpy(tv_model_output_grad(m), dy, sizeof dy);
  tv_varstore_zero_grads(s);
  tv_model_backward(m, tv_model_output_grad(m), N);
  memcpy(own, tv_varstore_grads(s), slab * sizeof *own);
  tv_varstore_zero_grads(s);
  tv_model_backward(m, dy, N); /* a buffer of the caller's: copied in */
  assert_memory_equal(tv_varstore_grads(s), own, slab * sizeof *own);
  for (int i = 0; i < N * K; i++) dy[i] *= 2.0f;
  tv_varstore_zero_grads(s);
  tv_model_backward(m, dy, N);
  const float *g = tv_varstore_grads(s);
  for (size_t i = 0; i < slab; i++)
    if (g[i] != 2.0f * own[i])
      fail_msg("gradient %zu: %.9g from 2 dy, %.9g from dy", i, g[i], own[i]);
  tv_model *infer = build(&cnn_plain, TV_MODE_INFER, N, s);
  assert_null(tv_model_output_grad(infer));
  tv_model_free(infer);
  free(own);
  free(x);
  tv_model_free(m);
  tv_varstore_free(s);
}

/* One team serves every graph of a process: a TRAIN and an INFER graph sharing the group's team,
 * used in turn as train does with in-process validation, give bit for bit what the same graphs
 * give on two teams of their own of the same size. */
static void test_graphs_share_one_team(void **state) {
  (void)state;
  enum { N = 5, K = 4, STEPS = 3 };
  tv_ctx *ct = NULL, *ci = NULL;
  assert_int_equal(tv_ctx_new(2, &ct), TV_OK);
  assert_int_equal(tv_ctx_new(2, &ci), TV_OK);
  tv_config c;
  make_config(&c, &cnn_plain);
  tv_varstore *s1 = new_store(), *s2 = new_store();
  tv_model *train1 = NULL, *infer1 = NULL, *train2 = NULL, *infer2 = NULL;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, N, s1, team(), &train1), TV_OK);
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, N, s2, tv_ctx_team(ct), &train2), TV_OK);
  init_store(s1, 21);
  init_store(s2, 21);
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, N, s1, team(), &infer1), TV_OK);
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, N, s2, tv_ctx_team(ci), &infer2), TV_OK);
  float *x = random_input(N, input_size(&cnn_plain), 22);
  int32_t y[N] = {0, 3, 1, 2, 1};
  for (int t = 0; t < STEPS; t++) {
    tv_varstore_zero_grads(s1);
    tv_varstore_zero_grads(s2);
    (void)tv_model_forward(train1, x, N);
    (void)tv_model_forward(train2, x, N);
    assert_true(tvt_xent_backward(train1, y, N, 0.0f) == tvt_xent_backward(train2, y, N, 0.0f));
    assert_memory_equal(tv_varstore_grads(s1), tv_varstore_grads(s2),
                        tv_varstore_size(s1) * sizeof(float));
    assert_memory_equal(tv_model_forward(infer1, x, N), tv_model_forward(infer2, x, N),
                        (size_t)N * K * sizeof(float));
    float *v1 = tv_varstore_values(s1), *v2 = tv_varstore_values(s2);
    const float *g1 = tv_varstore_grads(s1), *g2 = tv_varstore_grads(s2);
    for (size_t i = 0; i < tv_varstore_size(s1); i++) { /* a step, the same on both */
      v1[i] -= 0.1f * g1[i];
      v2[i] -= 0.1f * g2[i];
    }
  }
  free(x);
  tv_model_free(infer1);
  tv_model_free(infer2);
  tv_model_free(train1);
  tv_model_free(train2);
  tv_varstore_free(s1);
  tv_varstore_free(s2);
  tv_ctx_free(ct);
  tv_ctx_free(ci);
}

/* train.label_smoothing s: the loss is cross-entropy against (1-s) onehot + s/K, computed here
 * in double from the logits; s = 0 is the plain loss. */
static void test_label_smoothing(void **state) {
  (void)state;
  enum { N = 4, K = 3 };
  const model_spec ms = {"mlp", {1, 2, 2}, K, 2, {FLATTEN("flat"), DENSE("fc", K)}};
  tv_config c;
  make_config(&c, &ms);
  c.train.label_smoothing = 0.2;
  tv_varstore *s = new_store();
  tv_model *m = NULL;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, N, s, team(), &m), TV_OK);
  init_store(s, 2);
  float *x = random_input(N, 4, 3);
  int32_t y[N] = {2, 0, 1, 2};
  const float *z = tv_model_forward(m, x, N);
  double want = 0;
  for (int i = 0; i < N; i++) {
    double mx = z[i * K], sum = 0;
    for (int j = 1; j < K; j++) mx = fmax(mx, z[i * K + j]);
    for (int j = 0; j < K; j++) sum += exp(z[i * K + j] - mx);
    for (int j = 0; j < K; j++) {
      double q = (j == y[i] ? 0.8 : 0.0) + 0.2 / K;
      want -= q * (z[i * K + j] - mx - log(sum));
    }
  }
  want /= N;
  float loss = tvt_xent_backward(m, y, N, (float)c.train.label_smoothing);
  if (!(fabs(loss - want) <= 1e-6 * want)) fail_msg("smoothed loss %.9g, want %.9g", loss, want);
  free(x);
  tv_model_free(m);
  tv_varstore_free(s);
}

/* Batch-norm and dropout make TRAIN and INFER differ over the same variable objects: INFER uses
 * the moving statistics (computed here by hand) and no dropout; a TRAIN forward updates the
 * moving statistics by the Keras rule with the unbiased variance, which INFER then sees. */
static void test_bn_dropout_modes(void **state) {
  (void)state;
  enum { N = 8, D = 6, K = 3 };
  const model_spec ms = {
      "bn dropout",
      {1, 2, 3},
      K,
      5,
      {FLATTEN("flat"), DENSE("fc1", D), BN("bn"), DROPOUT("drop", 0.5), DENSE("fc2", K)}};
  tv_varstore *s = new_store();
  tv_model *train = build(&ms, TV_MODE_TRAIN, N, s);
  init_store(s, 12);
  tv_model *infer = build(&ms, TV_MODE_INFER, N, s);
  assert_int_equal(tv_varstore_count(s), 8); /* fc1 2, bn 4 (2 trainable), fc2 2 */
  tv_var *mm = tv_varstore_var(s, tv_varstore_find(s, "bn/moving_mean"));
  tv_var *mv = tv_varstore_var(s, tv_varstore_find(s, "bn/moving_variance"));
  tv_var *gamma = tv_varstore_var(s, tv_varstore_find(s, "bn/gamma"));
  tv_var *beta = tv_varstore_var(s, tv_varstore_find(s, "bn/beta"));
  assert_false(mm->trainable);
  assert_false(mv->trainable);
  assert_true(gamma->trainable);
  for (int j = 0; j < D; j++) assert_true(mm->value[j] == 0.0f && mv->value[j] == 1.0f);
  float *x = random_input(N, 6, 13);

  /* INFER by hand: fc1 -> (h - mm) / sqrt(mv + eps) * gamma + beta -> fc2. */
  size_t slab = tv_varstore_size(s);
  float *before = malloc(slab * sizeof *before);
  assert_non_null(before);
  memcpy(before, tv_varstore_values(s), slab * sizeof *before);
  float li[N * K];
  memcpy(li, tv_model_forward(infer, x, N), sizeof li);
  assert_memory_equal(before, tv_varstore_values(s),
                      slab * sizeof *before); /* INFER writes nothing */
  const float *h = tv_model_layer_output(infer, 1);
  const tv_var *w2 = tv_varstore_cvar(s, tv_varstore_find(s, "fc2/kernel"));
  const tv_var *b2 = tv_varstore_cvar(s, tv_varstore_find(s, "fc2/bias"));
  for (int i = 0; i < N; i++)
    for (int k = 0; k < K; k++) {
      double z = b2->value[k];
      for (int j = 0; j < D; j++) {
        double nb = (h[i * D + j] - mm->value[j]) / sqrt(mv->value[j] + 1e-5) * gamma->value[j] +
                    beta->value[j];
        z += w2->value[k * D + j] * nb;
      }
      if (!(fabs(li[i * K + k] - z) <= 1e-5 * (1 + fabs(z))))
        fail_msg("INFER logit [%d][%d] %.7g, by hand %.7g", i, k, li[i * K + k], z);
    }

  /* TRAIN: batch statistics, a dropout mask; the moving statistics move. */
  float lt[N * K];
  memcpy(lt, tv_model_forward(train, x, N), sizeof lt);
  int differ = 0;
  for (int i = 0; i < N * K; i++) differ += lt[i] != li[i];
  assert_true(differ > 0);
  const float *ht = tv_model_layer_output(train, 1);
  for (int j = 0; j < D; j++) {
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++) mean += ht[i * D + j];
    mean /= N;
    for (int i = 0; i < N; i++) var += (ht[i * D + j] - mean) * (ht[i * D + j] - mean);
    var /= N - 1; /* unbiased, as folded into the moving variance */
    double want_m = 0.1 * mean, want_v = 0.9 * 1.0 + 0.1 * var;
    if (!(fabs(mm->value[j] - want_m) <= 1e-6 + 1e-5 * fabs(want_m)))
      fail_msg("moving_mean[%d] %.7g, want %.7g", j, mm->value[j], want_m);
    if (!(fabs(mv->value[j] - want_v) <= 1e-5 * want_v))
      fail_msg("moving_variance[%d] %.7g, want %.7g", j, mv->value[j], want_v);
  }
  /* The INFER graph sees the update through the shared variables. */
  const float *li2 = tv_model_forward(infer, x, N);
  differ = 0;
  for (int i = 0; i < N * K; i++) differ += li2[i] != li[i];
  assert_true(differ > 0);
  free(before);
  free(x);
  tv_model_free(infer);
  tv_model_free(train);
  tv_varstore_free(s);
}

/* Dropout draws from the model's generator: the same state gives the same mask, another state
 * another; about `rate` of the elements are zero and the rest are scaled by 1/(1-rate). */
static void test_dropout_rng(void **state) {
  (void)state;
  enum { N = 16, D = 512 };
  const model_spec ms = {"dropout", {1, 1, D}, D, 2, {FLATTEN("flat"), DROPOUT("drop", 0.25)}};
  tv_config c;
  make_config(&c, &ms);
  c.train.seed = 77;
  tv_varstore *s = new_store();
  tv_model *m = NULL;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, N, s, team(), &m), TV_OK);
  init_store(s, 1);
  /* The generator starts at (train.seed, TV_RNG_DROPOUT). */
  tv_rng r0 = tv_model_rng(m), want = tv_rng_seed(77, TV_RNG_DROPOUT);
  assert_memory_equal(&r0, &want, sizeof r0);
  float *x = malloc(N * D * sizeof *x);
  assert_non_null(x);
  for (int i = 0; i < N * D; i++) x[i] = 1.0f + (float)(i % 7);
  float *a = malloc(N * D * sizeof *a);
  assert_non_null(a);
  memcpy(a, tv_model_forward(m, x, N), N * D * sizeof *a);
  tv_rng r1 = tv_model_rng(m);
  assert_memory_not_equal(&r0, &r1, sizeof r0); /* advanced */
  int zeros = 0;
  for (int i = 0; i < N * D; i++) {
    if (a[i] == 0.0f)
      zeros++;
    else
      assert_true(a[i] == x[i] * (float)(1.0 / 0.75));
  }
  double frac = (double)zeros / (N * D); /* 8192 draws: sd 0.005 */
  if (!(fabs(frac - 0.25) < 0.025)) fail_msg("dropped %.4f of the elements, rate 0.25", frac);
  const float *b = tv_model_forward(m, x, N); /* another mask */
  assert_memory_not_equal(a, b, N * D * sizeof *a);
  tv_model_set_rng(m, r0); /* exact resume: the same mask again */
  assert_memory_equal(a, tv_model_forward(m, x, N), N * D * sizeof *a);
  tv_rng r2 = tv_model_rng(m);
  assert_memory_equal(&r1, &r2, sizeof r1);
  /* INFER: the identity. */
  tv_model *inf = build(&ms, TV_MODE_INFER, N, s);
  assert_memory_equal(x, tv_model_forward(inf, x, N), N * D * sizeof *x);
  tv_model_free(inf);
  free(a);
  free(x);
  tv_model_free(m);
  tv_varstore_free(s);
}

/* tv_model_ckpt_write / tv_model_ckpt_read: a TRAIN graph restored from a checkpoint draws the
 * dropout mask the writer would have drawn next; a file without /state/dropout_rng is refused,
 * naming the file, and the generator is left as it was. */
static void test_model_ckpt(void **state) {
  (void)state;
  enum { N = 4, D = 64 };
  const model_spec ms = {"dropout", {1, 1, D}, D, 2, {FLATTEN("flat"), DROPOUT("drop", 0.5)}};
  tv_config c;
  make_config(&c, &ms);
  tv_varstore *s = new_store();
  tv_model *a = NULL, *b = NULL;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, N, s, NULL, &a), TV_OK);
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, N, s, NULL, &b), TV_OK);
  init_store(s, 1);
  float x[N * D], want[N * D];
  for (int i = 0; i < N * D; i++) x[i] = 1.0f + (float)(i % 5);
  (void)tv_model_forward(a, x, N); /* moves a's generator on */
  char dir[] = "/tmp/tv_test_model.XXXXXX";
  assert_non_null(mkdtemp(dir));
  tv_ckpt_header h = {.step = 1, .wall_time = 1.0};
  tv_ckpt_writer *w;
  assert_int_equal(tv_ckpt_writer_open(dir, &h, &w), TV_OK);
  assert_int_equal(tv_model_ckpt_write(a, w), TV_OK);
  tv_ckpt_info info;
  assert_int_equal(tv_ckpt_writer_finish(w, &info), TV_OK);
  memcpy(want, tv_model_forward(a, x, N), sizeof want);
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, info.file);
  tv_ckpt *ck;
  assert_int_equal(tv_ckpt_open(path, NULL, &ck), TV_OK);
  assert_int_equal(tv_model_ckpt_read(b, ck), TV_OK);
  assert_memory_equal(tv_model_forward(b, x, N), want, sizeof want);
  tv_ckpt_close(ck);

  assert_int_equal(tv_ckpt_writer_open(dir, &(tv_ckpt_header){.step = 2}, &w), TV_OK);
  assert_int_equal(tv_ckpt_writer_finish(w, &info), TV_OK);
  snprintf(path, sizeof path, "%s/%s", dir, info.file);
  assert_int_equal(tv_ckpt_open(path, NULL, &ck), TV_OK);
  tv_rng before = tv_model_rng(b);
  assert_int_equal(tv_model_ckpt_read(b, ck), TV_ERR_NOT_FOUND);
  assert_non_null(strstr(tv_error_message(), path));
  assert_non_null(strstr(tv_error_message(), "/state/dropout_rng: not in the checkpoint"));
  tv_rng after = tv_model_rng(b);
  assert_memory_equal(&before, &after, sizeof before);
  tv_ckpt_close(ck);
  tvt_rmtree(dir);
  tv_model_free(a);
  tv_model_free(b);
  tv_varstore_free(s);
}

/* tv_model_ckpt_write_parts / tv_model_ckpt_read_part (data-parallel contiguous streams): two
 * graphs of 2 rows, after a forward of their own rows of one batch of 4, write the carried
 * states of an lstm, a gru and an lstm as a one-graph run of 4 rows writes them (bitwise: each
 * row's state depends on its own row alone); each part reads its own rows back, and the graph
 * of 4 rows reads the whole. */
static void test_model_ckpt_parts(void **state) {
  (void)state;
  enum { P = 2, R = 2, B = P * R };
  static tv_config c;
  parse_seq(seq_cases[2], &c);
  tv_varstore *s = new_store();
  tv_model *part[P], *whole = NULL, *back = NULL;
  for (int q = 0; q < P; q++)
    assert_int_equal(tv_model_new(&c, TV_MODE_INFER, R, s, NULL, &part[q]), TV_OK);
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, B, s, NULL, &whole), TV_OK);
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, R, s, NULL, &back), TV_OK);
  init_store(s, 3);
  int32_t ids[B * SQ_T];
  for (int i = 0; i < B * SQ_T; i++) ids[i] = (i * 5 + 1) % SQ_V;
  (void)tv_model_forward_ids(whole, ids, B);
  size_t n = tv_model_state_floats(part[0]);
  assert_int_equal(tv_model_state_floats(whole), P * n);
  float *snap = malloc(P * n * sizeof *snap), *want = malloc(P * n * sizeof *want);
  float *got = malloc(P * n * sizeof *got);
  assert_true(snap && want && got);
  for (int q = 0; q < P; q++) {
    (void)tv_model_forward_ids(part[q], ids + q * R * SQ_T, R);
    tv_model_get_state(part[q], snap + q * n);
  }
  /* The one-graph layout, by hand: per layer and segment (lstm 4: h, c; gru 5: h; lstm 3: h,
   * c), part 0's R rows then part 1's. */
  static const int widths[] = {4, 4, 5, 3, 3};
  size_t o = 0, at = 0;
  for (size_t k = 0; k < sizeof widths / sizeof widths[0]; k++) {
    size_t z = (size_t)R * (size_t)widths[k];
    for (int q = 0; q < P; q++, o += z) memcpy(want + o, snap + q * n + at, z * sizeof *want);
    at += z;
  }
  assert_int_equal(at, n);
  tv_model_get_state(whole, got); /* and a graph of all 4 rows agrees, to float rounding */
  for (size_t i = 0; i < P * n; i++) assert_true(fabsf(got[i] - want[i]) <= 1e-6f);
  char dir[] = "/tmp/tv_test_parts.XXXXXX";
  assert_non_null(mkdtemp(dir));
  tv_ckpt_writer *w;
  tv_ckpt_info info;
  assert_int_equal(tv_ckpt_writer_open(dir, &(tv_ckpt_header){.step = 1}, &w), TV_OK);
  assert_int_equal(tv_model_ckpt_write_parts(part[0], w, snap, P), TV_OK);
  assert_int_equal(tv_ckpt_writer_finish(w, &info), TV_OK);
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, info.file);
  tv_ckpt *ck;
  assert_int_equal(tv_ckpt_open(path, NULL, &ck), TV_OK);
  tv_model_reset_state(whole);
  assert_int_equal(tv_model_ckpt_read(whole, ck), TV_OK); /* the one-graph layout, bitwise */
  tv_model_get_state(whole, got);
  assert_memory_equal(got, want, P * n * sizeof *got);
  for (int q = 0; q < P; q++) {
    tv_model_reset_state(back);
    assert_int_equal(tv_model_ckpt_read_part(back, ck, q, P), TV_OK);
    tv_model_get_state(back, got);
    assert_memory_equal(got, snap + q * n, n * sizeof *got);
  }
  /* a part of 2 rows cannot read the carry as one graph: another length, refused */
  assert_int_equal(tv_model_ckpt_read(back, ck), TV_ERR_MISMATCH);
  tv_ckpt_close(ck);
  tvt_rmtree(dir);
  free(snap);
  free(want);
  free(got);
  for (int q = 0; q < P; q++) tv_model_free(part[q]);
  tv_model_free(whole);
  tv_model_free(back);
  tv_varstore_free(s);
}

/* A TRAIN graph trained a few steps, saved to a checkpoint; an INFER graph over a fresh store
 * filled from the file gives logits identical to an INFER graph over the TRAIN store (batch-norm
 * moving statistics travel in the checkpoint). */
static void test_checkpoint_into_infer(void **state) {
  (void)state;
  enum { N = 8 };
  const model_spec ms = {"small cnn with batch-norm and dropout",
                         {1, 6, 6},
                         3,
                         8,
                         {CONV("c1", 4, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 0), BN("bn1"),
                          RELU("r1"),
                          POOL(TV_LAYER_MAX_POOL2D, "p1", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0),
                          FLATTEN("flat"), DROPOUT("d", 0.3), DENSE("fc", 3), SOFTMAX("probs")}};
  tv_config c;
  make_config(&c, &ms);
  c.optimizer.type = TV_OPTIM_SGD;
  c.optimizer.learning_rate = 0.05;
  tv_varstore *s = new_store();
  tv_model *train = build(&ms, TV_MODE_TRAIN, N, s);
  init_store(s, 8);
  tv_optim *o = NULL;
  assert_int_equal(tv_optim_new(&c, 10, s, &o), TV_OK);
  float *x = random_input(N, 36, 9);
  int32_t y[N] = {0, 1, 2, 0, 1, 2, 0, 1};
  for (int t = 0; t < 5; t++) {
    tv_varstore_zero_grads(s);
    (void)tv_model_forward(train, x, N);
    (void)tvt_xent_backward(train, y, N, 0.0f);
    tv_optim_step(o, t);
  }
  tv_model *infer = build(&ms, TV_MODE_INFER, N, s);
  float want[N * 3];
  memcpy(want, tv_model_forward(infer, x, N), sizeof want);

  char dir[] = "/tmp/tv_test_model_XXXXXX";
  assert_non_null(mkdtemp(dir));
  tv_ckpt_header h = {.step = 5, .config_text = ""};
  tv_ckpt_info info;
  int rc = tv_ckpt_save(dir, &h, s, NULL, 0, &info);
  if (rc) fail_msg("save: %s", tv_error_message());
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, info.file);
  tv_varstore *s2 = new_store();
  tv_model *fresh = build(&ms, TV_MODE_INFER, N, s2);
  assert_int_equal(tv_varstore_seal(s2), TV_OK);
  tv_ckpt *ck = NULL;
  assert_int_equal(tv_ckpt_open(path, NULL, &ck), TV_OK);
  rc = tv_ckpt_read_variables(ck, s2);
  if (rc) fail_msg("read: %s", tv_error_message());
  tv_ckpt_close(ck);
  assert_int_equal(tv_varstore_find(s2, "bn1/moving_variance") >= 0, 1);
  assert_memory_equal(want, tv_model_forward(fresh, x, N), sizeof want);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(rmdir(dir), 0);
  free(x);
  tv_model_free(fresh);
  tv_model_free(infer);
  tv_model_free(train);
  tv_optim_free(o);
  tv_varstore_free(s2);
  tv_varstore_free(s);
}

/* The fused model a (store s1) and the unfused b (s2) after the same forward: the same loss and
 * bitwise the same gradients from the backward of labels y (n examples); then frees x and both. */
static void same_backward_then_free(tv_model *a, tv_model *b, tv_varstore *s1, tv_varstore *s2,
                                    const int32_t *y, int n, float *x) {
  assert_true(tvt_xent_backward(a, y, n, 0.0f) == tvt_xent_backward(b, y, n, 0.0f));
  const float *ga = tv_varstore_grads(s1), *gb = tv_varstore_grads(s2);
  for (size_t i = 0; i < tv_varstore_size(s1); i++)
    if (!(ga[i] == gb[i])) fail_msg("gradient %zu: fused %.9g, unfused %.9g", i, ga[i], gb[i]);
  free(x);
  tv_model_free(a);
  tv_model_free(b);
  tv_varstore_free(s1);
  tv_varstore_free(s2);
}

/* A relu whose only consumer is a max_pool2d is folded into the pool: the same logits, loss and
 * gradients as the unfused graph (a leaky_relu of slope 0 computes the same function and is
 * never folded). */
static void test_relu_pool_fusion(void **state) {
  (void)state;
  enum { N = 6 };
  const model_spec fused = {"fused",
                            {2, 8, 8},
                            3,
                            6,
                            {CONV("c1", 4, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 1), RELU("r"),
                             POOL(TV_LAYER_MAX_POOL2D, "p", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0),
                             FLATTEN("flat"), DENSE("fc1", 5), DENSE("fc", 3)}};
  model_spec plain = fused;
  plain.layers[1] = (layer_spec)ACT(TV_LAYER_LEAKY_RELU, "r");
  plain.layers[1].rate = 1e-300; /* alpha: a double that is 0.0f as a float */
  tv_varstore *s1 = new_store(), *s2 = new_store();
  tv_model *a = build(&fused, TV_MODE_TRAIN, N, s1), *b = build(&plain, TV_MODE_TRAIN, N, s2);
  init_store(s1, 21);
  init_store(s2, 21);
  float *x = random_input(N, input_size(&fused), 22);
  int32_t y[N] = {0, 1, 2, 0, 1, 2};
  const float *za = tv_model_forward(a, x, N), *zb = tv_model_forward(b, x, N);
  for (int i = 0; i < N * 3; i++) assert_true(za[i] == zb[i]);
  same_backward_then_free(a, b, s1, s2, y, N, x);
}

/* A relu folded into the dense before it (the gemm's epilogue and the dense's masked backward)
 * gives what the same graph with an unfused leaky_relu of alpha 0 gives: the same logits, the same
 * gradients (== : an unfused alpha-0 leaky_relu writes -0 where the relu writes 0), over the
 * test team; the dense's output seen through tv_model_layer_output is the relu's. */
static void test_relu_dense_fusion(void **state) {
  (void)state;
  enum { N = 5 };
  const model_spec fused = {"fused dense",
                            {2, 4, 4},
                            3,
                            6,
                            {FLATTEN("flat"), DENSE("fc1", 40), RELU("r1"), DENSE("fc2", 24),
                             RELU("r2"), DENSE("fc", 3)}};
  model_spec plain = fused;
  for (int k = 2; k <= 4; k += 2) {
    plain.layers[k] = (layer_spec)ACT(TV_LAYER_LEAKY_RELU, k == 2 ? "r1" : "r2");
    plain.layers[k].rate = 1e-300; /* alpha: a double that is 0.0f as a float */
  }
  tv_varstore *s1 = new_store(), *s2 = new_store();
  tv_model *a = build(&fused, TV_MODE_TRAIN, N, s1), *b = build(&plain, TV_MODE_TRAIN, N, s2);
  init_store(s1, 31);
  init_store(s2, 31);
  float *x = random_input(N, input_size(&fused), 32);
  int32_t y[N] = {0, 1, 2, 0, 1};
  const float *za = tv_model_forward(a, x, N), *zb = tv_model_forward(b, x, N);
  for (int i = 0; i < N * 3; i++) assert_true(za[i] == zb[i]);
  const float *h = tv_model_layer_output(a, 1), *r = tv_model_layer_output(b, 2);
  int positive = 0;
  for (int i = 0; i < N * 40; i++) {
    assert_true(h[i] >= 0.0f && h[i] == r[i]);
    positive += h[i] > 0.0f;
  }
  assert_true(positive > 0 && positive < N * 40); /* both sides of the kink were taken */
  same_backward_then_free(a, b, s1, s2, y, N, x);
}

/* ---- build errors of the CNN layers: the layer and test.yaml:line:col named ---------------- */

static void test_error_cnn_shapes(void **state) {
  (void)state;
  const model_spec add_shapes = {
      "add of two shapes",
      {1, 4, 4},
      3,
      5,
      {FLATTEN("flat"), DENSE("a", 5), DENSE("b", 6), ADD("sum", "a", "b"), DENSE("fc", 3)}};
  const char *const w1[] = {"test.yaml:13:5", "layer sum", "'a' gives [5], 'b' gives [6]", NULL};
  expect_config_error(&add_shapes, w1);
  const model_spec conv_flat = {
      "conv on a flat input",
      {1, 4, 4},
      3,
      3,
      {FLATTEN("flat"), CONV("cv", 2, 3, 3, 1, 1, TV_PADDING_VALID, 0, 0, 1), DENSE("fc", 3)}};
  const char *const w2[] = {"test.yaml:11:5", "layer cv", "(C, H, W) input, got [16]", NULL};
  expect_config_error(&conv_flat, w2);
  const model_spec big = {
      "window larger than the input",
      {1, 4, 4},
      3,
      3,
      {CONV("cv", 2, 5, 5, 1, 1, TV_PADDING_VALID, 0, 0, 1), FLATTEN("flat"), DENSE("fc", 3)}};
  const char *const w3[] = {"test.yaml:10:5", "layer cv", "5x5 window does not fit", NULL};
  expect_config_error(&big, w3);
  const model_spec pool_pad = {
      "pool padding over half the window",
      {1, 4, 4},
      3,
      3,
      {POOL(TV_LAYER_MAX_POOL2D, "mp", 2, 2, 0, 0, TV_PADDING_EXPLICIT, 2, 2), FLATTEN("flat"),
       DENSE("fc", 3)}};
  const char *const w4[] = {"test.yaml:10:5", "layer mp", "more than half", NULL};
  expect_config_error(&pool_pad, w4);
  const model_spec sm = {
      "softmax over a 3-D input", {1, 1, 3}, 3, 2, {SOFTMAX("sm"), FLATTEN("flat")}};
  const char *const w5[] = {"test.yaml:10:5", "layer sm", "flat input", NULL};
  expect_config_error(&sm, w5);
  const model_spec sm_in = {"softmax of the input as the output",
                            {1, 1, 3},
                            3,
                            2,
                            {FLATTEN("flat"), FROM(TV_LAYER_SOFTMAX, "sm", 0, "input")}};
  const char *const w6[] = {"layer sm", "needs a flat input", NULL};
  expect_config_error(&sm_in, w6);
  /* Out-of-range values a parsed config never holds, in a config built in code: an error, not
   * a division by zero. */
  const model_spec pool = {
      "pool",
      {1, 4, 4},
      4,
      2,
      {POOL(TV_LAYER_MAX_POOL2D, "mp", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0), FLATTEN("flat")}};
  tv_config c;
  make_config(&c, &pool);
  c.model.layers[0].stride[1] = 0;
  tv_varstore *s = new_store();
  tv_model *m = NULL;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 2, s, team(), &m), TV_ERR_CONFIG);
  assert_non_null(strstr(tv_error_message(), "layer mp"));
  make_config(&c, &pool);
  c.model.layers[0].padding = (tv_padding)7;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 2, s, team(), &m), TV_ERR_CONFIG);
  const model_spec drop = {"dropout", {1, 1, 3}, 3, 2, {FLATTEN("flat"), DROPOUT("d", 0.5)}};
  make_config(&c, &drop);
  c.model.layers[1].rate = 1.0;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 2, s, team(), &m), TV_ERR_CONFIG);
  assert_non_null(strstr(tv_error_message(), "dropout rate"));
  assert_null(m);
  tv_varstore_free(s);
}

/* ---- layer info of the benchmark CNN ----------------------------------------------------- */

static void test_layer_info_cnn(void **state) {
  (void)state;
  const model_spec ms = {
      "bench cnn",
      {1, 28, 28},
      10,
      12,
      {CONV("conv1", 32, 3, 3, 1, 1, TV_PADDING_EXPLICIT, 1, 1, 1), RELU("r1"),
       POOL(TV_LAYER_MAX_POOL2D, "p1", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0),
       CONV("conv2", 64, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 1), BN("bn"), RELU("r2"),
       POOL(TV_LAYER_MAX_POOL2D, "p2", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0), FLATTEN("flat"),
       DENSE("fc1", 128), DROPOUT("drop", 0.5), RELU("r3"), DENSE("fc2", 10)}};
  tv_varstore *s = new_store();
  tv_model *m = build(&ms, TV_MODE_TRAIN, 2, s);
  const struct {
    const char *kind;
    tv_shape out;
    size_t params, fixed;
    double flops;
  } want[] = {
      {"conv2d", tv_shape3(32, 28, 28), 32 * 9 + 32, 0, 2.0 * 9 * 32 * 784 + 32 * 784},
      {"relu", tv_shape3(32, 28, 28), 0, 0, 32 * 784},
      {"max_pool2d", tv_shape3(32, 14, 14), 0, 0, 4.0 * 32 * 196},
      {"conv2d", tv_shape3(64, 14, 14), 64 * 288 + 64, 0, 2.0 * 288 * 64 * 196 + 64 * 196},
      {"batch_norm", tv_shape3(64, 14, 14), 128, 128, 2.0 * 64 * 196},
      {"relu", tv_shape3(64, 14, 14), 0, 0, 64 * 196},
      {"max_pool2d", tv_shape3(64, 7, 7), 0, 0, 4.0 * 64 * 49},
      {"flatten", tv_shape1(3136), 0, 0, 0},
      {"dense", tv_shape1(128), 3136 * 128 + 128, 0, 2.0 * 3136 * 128 + 128},
      {"dropout", tv_shape1(128), 0, 0, 128},
      {"relu", tv_shape1(128), 0, 0, 128},
      {"dense", tv_shape1(10), 1290, 0, 2.0 * 1280 + 10},
  };
  size_t params = 0, fixed = 0;
  for (int i = 0; i < 12; i++) {
    tv_layer_info li;
    tv_model_layer_info(m, i, &li);
    assert_string_equal(li.kind, want[i].kind);
    assert_string_equal(li.name, ms.layers[i].name);
    if (!tv_shape_equal(li.out, want[i].out)) {
      char a[64], b[64];
      fail_msg("%s: out %s, want %s", li.name, tv_shape_str(li.out, a, sizeof a),
               tv_shape_str(want[i].out, b, sizeof b));
    }
    assert_int_equal(li.params, want[i].params);
    assert_int_equal(li.non_trainable, want[i].fixed);
    if (fabs(li.flops - want[i].flops) > 0.5)
      fail_msg("%s: flops %.0f, want %.0f", li.name, li.flops, want[i].flops);
    params += li.params;
    fixed += li.non_trainable;
  }
  assert_int_equal(params, tv_varstore_trainable_size(s));
  assert_int_equal(fixed, 128);
  /* INFER: dropout costs nothing. */
  assert_int_equal(tv_varstore_seal(s), TV_OK);
  tv_model *inf = build(&ms, TV_MODE_INFER, 2, s);
  tv_layer_info li;
  tv_model_layer_info(inf, 9, &li);
  assert_true(li.flops == 0);
  tv_model_free(inf);
  tv_model_free(m);
  tv_varstore_free(s);
}

/* ---- the training step never allocates ---------------------------------------------------- */

/* Every malloc of this process is counted while g_counting is set (glibc: the program's malloc
 * interposes libc's; the memory still comes from libc's allocator, so its free is right), by
 * the caller's shared object: OpenBLAS's own allocations (0.3.21's small-matrix kernels take a
 * packing buffer per call) are not trainval's and are reported apart.  Not under
 * AddressSanitizer, which owns malloc. */
#if !defined(__SANITIZE_ADDRESS__) && defined(__GLIBC__)
#define COUNT_MALLOC 1
#include <cblas.h>
#include <dlfcn.h>
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);
static int g_counting;
static long g_allocs, g_blas_allocs;
static void *g_blas_base;
static void counted(void *caller) {
  if (!__atomic_load_n(&g_counting, __ATOMIC_RELAXED)) return;
  Dl_info info;
  if (g_blas_base && dladdr(caller, &info) && info.dli_fbase == g_blas_base)
    __atomic_fetch_add(&g_blas_allocs, 1, __ATOMIC_RELAXED);
  else
    __atomic_fetch_add(&g_allocs, 1, __ATOMIC_RELAXED);
}
void *malloc(size_t n) {
  counted(__builtin_return_address(0));
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
  counted(__builtin_return_address(0));
  return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
  counted(__builtin_return_address(0));
  return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n) {
  counted(__builtin_return_address(0));
  return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n) {
  counted(__builtin_return_address(0));
  *p = __libc_memalign(a, n);
  return *p ? 0 : 12; /* ENOMEM */
}
#endif

static void test_step_is_malloc_free(void **state) {
  (void)state;
#ifdef COUNT_MALLOC
  enum { N = 32 };
  const model_spec ms = {"cnn",
                         {1, 12, 12},
                         10,
                         11,
                         {CONV("c1", 8, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 1), BN("bn"), RELU("r1"),
                          POOL(TV_LAYER_MAX_POOL2D, "p1", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0),
                          CONV("c2", 8, 3, 3, 1, 1, TV_PADDING_SAME, 0, 0, 1),
                          ADD("res", "p1", "c2"),
                          POOL(TV_LAYER_AVG_POOL2D, "p2", 2, 2, 0, 0, TV_PADDING_VALID, 0, 0),
                          FLATTEN("flat"), DROPOUT("d", 0.5), DENSE("fc", 10), SOFTMAX("sm")}};
  tv_varstore *s = new_store();
  tv_model *m = build(&ms, TV_MODE_TRAIN, N, s);
  init_store(s, 3);
  float *x = random_input(N, 144, 4);
  int32_t y[N];
  for (int i = 0; i < N; i++) y[i] = i % 10;
  for (int t = 0; t < 2; t++) { /* warm-up: OpenBLAS sets up its buffers on first use */
    (void)tv_model_forward(m, x, N);
    (void)tvt_xent_backward(m, y, N, 0.0f);
  }
  Dl_info info;
  assert_true(dladdr((void *)cblas_sgemm, &info) != 0);
  g_blas_base = info.dli_fbase;
  g_allocs = g_blas_allocs = 0;
  __atomic_store_n(&g_counting, 1, __ATOMIC_SEQ_CST);
  for (int t = 0; t < 3; t++) {
    tv_varstore_zero_grads(s);
    (void)tv_model_forward(m, x, N - t); /* smaller batches too */
    (void)tvt_xent_backward(m, y, N - t, 0.0f);
  }
  __atomic_store_n(&g_counting, 0, __ATOMIC_SEQ_CST);
  print_message("  3 steps: %ld allocations by trainval, %ld inside OpenBLAS\n", g_allocs,
                g_blas_allocs);
  assert_int_equal(g_allocs, 0);
  /* The counter sees allocations made by the library (so 0 above means something). */
  tv_varstore *probe = NULL;
  __atomic_store_n(&g_counting, 1, __ATOMIC_SEQ_CST);
  assert_int_equal(tv_varstore_new(&probe), TV_OK);
  __atomic_store_n(&g_counting, 0, __ATOMIC_SEQ_CST);
  assert_int_equal(g_allocs, 1);
  tv_varstore_free(probe);
  free(x);
  tv_model_free(m);
  tv_varstore_free(s);
#else
  skip();
#endif
}

/* The backward hook (dist.h's overlap): after each layer, every gradient at offset >= ready_from
 * already holds its final value; ready_from never increases and reaches 0 by the first layer. */
typedef struct hook_log {
  tv_varstore *s;
  int calls;
  size_t from[16];
  float *snap[16]; /* the slab's suffix [from, size) at that call */
} hook_log;

static void record_hook(void *arg, size_t from) {
  hook_log *h = arg;
  assert_true(h->calls < 16);
  size_t n = tv_varstore_size(h->s);
  h->from[h->calls] = from;
  h->snap[h->calls] = malloc((n - from + 1) * sizeof(float));
  assert_non_null(h->snap[h->calls]);
  memcpy(h->snap[h->calls], tv_varstore_grads(h->s) + from, (n - from) * sizeof(float));
  h->calls++;
}

static void test_backward_hook_ready_from(void **state) {
  (void)state;
  tv_varstore *s = new_store();
  tv_model *m = build(&mlp3, TV_MODE_TRAIN, 4, s);
  init_store(s, 7);
  hook_log h = {.s = s};
  tv_model_set_backward_hook(m, record_hook, &h);
  float *x = random_input(4, 16, 9);
  const int32_t y[4] = {0, 1, 2, 1};
  tv_model_forward(m, x, 4);
  tv_varstore_zero_grads(s);
  tvt_xent_backward(m, y, 4, 0);
  size_t n = tv_varstore_size(s);
  assert_true(h.calls >= 3);
  assert_int_equal(h.from[h.calls - 1], 0);
  int early = 0; /* a call that let a part of the slab go before backward was over */
  for (int i = 0; i < h.calls; i++) {
    if (i > 0) assert_true(h.from[i] <= h.from[i - 1]);
    assert_memory_equal(h.snap[i], tv_varstore_grads(s) + h.from[i],
                        (n - h.from[i]) * sizeof(float));
    early += h.from[i] < n && h.from[i] > 0;
    free(h.snap[i]);
  }
  assert_true(early > 0);
  tv_model_set_backward_hook(m, NULL, NULL);
  free(x);
  tv_model_free(m);
  tv_varstore_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gradient_check),
      cmocka_unit_test(test_gradient_check_covers_every_kind),
      cmocka_unit_test(test_gradient_check_sequence),
      cmocka_unit_test(test_sequence_state_carries),
      cmocka_unit_test(test_error_sequence_layers),
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
      cmocka_unit_test(test_train_infer_cnn_identical),
      cmocka_unit_test(test_softmax_output_layer),
      cmocka_unit_test(test_backward_from_given_gradient),
      cmocka_unit_test(test_graphs_share_one_team),
      cmocka_unit_test(test_label_smoothing),
      cmocka_unit_test(test_bn_dropout_modes),
      cmocka_unit_test(test_dropout_rng),
      cmocka_unit_test(test_model_ckpt),
      cmocka_unit_test(test_model_ckpt_parts),
      cmocka_unit_test(test_checkpoint_into_infer),
      cmocka_unit_test(test_relu_pool_fusion),
      cmocka_unit_test(test_relu_dense_fusion),
      cmocka_unit_test(test_error_cnn_shapes),
      cmocka_unit_test(test_layer_info_cnn),
      cmocka_unit_test(test_step_is_malloc_free),
      cmocka_unit_test(test_backward_hook_ready_from),
  };
  return cmocka_run_group_tests(tests, make_team, free_team);
}
