/* layers.c — forward and backward of every layer kind, side by side, and the layer table.
 * Shapes are per example; n is the batch size of the call.  The kernels (gemm, im2col, pooling,
 * activations) are in ops.c; this file owns shapes, variables, scratch sizes, how the work is
 * split over the thread team, and the math that ties it together.
 *
 * Parallel split (tv_pool_for, contiguous ranges): element-wise layers by blocks of EW_BLOCK
 * floats; conv2d, pooling, softmax and the dense forward by example; batch_norm by channel (or
 * feature); the dense weight gradient by output feature.  conv2d's weight gradient is summed
 * from per-thread partials (in thread order) by a second parallel pass.
 * Scratch: `temp` is shared by all layers and valid within one call; a layer's share for thread
 * t starts at temp + t * (its per-thread size). */
#include "trainval/layers.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "trainval/ops.h"

/* See ops.c: the dynamic vectoriser cost model for this file's loops (GCC 12 at -O2). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

TV_PRINTF(2, 3) static int layer_error(const tv_layer *l, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return tv_error(TV_ERR_CONFIG, "%s:%d:%d: layer %s: %s", l->source, l->cfg->line, l->cfg->col,
                  l->cfg->name, msg);
}

static int declare(tv_layer *l, const char *var, tv_shape shape, int trainable, tv_init_kind init,
                   int fan_in, int fan_out) {
  char name[TV_VAR_NAME_CAP];
  snprintf(name, sizeof name, "%s/%s", l->cfg->name, var);
  int rc = tv_varstore_declare(l->store, name, shape, trainable, init, fan_in, fan_out,
                               &l->vars[l->n_vars]);
  if (rc == TV_OK) l->n_vars++;
  return rc;
}

static float *var_value(const tv_layer *l, int i) {
  return tv_varstore_var(l->store, l->vars[i])->value;
}
static float *var_grad(const tv_layer *l, int i) {
  return tv_varstore_var(l->store, l->vars[i])->grad;
}

static size_t count(const tv_layer *l, int n) { return (size_t)n * tv_shape_count(l->out); }
static size_t in_count(const tv_layer *l) { return tv_shape_count(l->in[0]); }

/* ---- element-wise work over the pool ----------------------------------------------------------
 */

enum { EW_BLOCK = 8192 };

typedef enum ew_op {
  EW_RELU,
  EW_RELU_BACK,
  EW_LEAKY,
  EW_LEAKY_BACK,
  EW_ELU,
  EW_ELU_BACK,
  EW_GELU,
  EW_GELU_BACK,
  EW_SIGMOID,
  EW_SIGMOID_BACK,
  EW_TANH,
  EW_TANH_BACK,
  EW_MUL,
  EW_ADD
} ew_op;

/* out = op(a, b, c) over `total` floats; see ew_part for which argument is which. */
typedef struct ew_job {
  ew_op op;
  size_t total;
  float *out;
  const float *a, *b, *c;
  float alpha;
  int acc;
} ew_job;

static void ew_part(void *ctx, int b0, int b1, int t) {
  (void)t;
  const ew_job *j = ctx;
  size_t lo = (size_t)b0 * EW_BLOCK, hi = (size_t)b1 * EW_BLOCK;
  if (hi > j->total) hi = j->total;
  size_t n = hi - lo;
  float *o = j->out + lo;
  const float *a = j->a + lo, *b = j->b ? j->b + lo : NULL, *c = j->c ? j->c + lo : NULL;
  switch (j->op) {
  case EW_RELU:
    tv_relu(o, a, n);
    break; /* a = x */
  case EW_RELU_BACK:
    tv_relu_backward(o, a, b, n, j->acc);
    break; /* a = dy, b = y */
  case EW_LEAKY:
    tv_leaky_relu(o, a, n, j->alpha);
    break; /* a = x */
  case EW_LEAKY_BACK:
    tv_leaky_relu_backward(o, a, b, n, j->alpha, j->acc);
    break; /* b = x */
  case EW_ELU:
    tv_elu(o, a, n, j->alpha);
    break;
  case EW_ELU_BACK:
    tv_elu_backward(o, a, b, c, n, j->alpha, j->acc);
    break; /* b = x, c = y */
  case EW_GELU:
    tv_gelu(o, a, n);
    break;
  case EW_GELU_BACK:
    tv_gelu_backward(o, a, b, n, j->acc);
    break; /* b = x */
  case EW_SIGMOID:
    tv_sigmoid(o, a, n);
    break;
  case EW_SIGMOID_BACK:
    tv_sigmoid_backward(o, a, b, n, j->acc);
    break; /* b = y */
  case EW_TANH:
    tv_tanh(o, a, n);
    break;
  case EW_TANH_BACK:
    tv_tanh_backward(o, a, b, n, j->acc);
    break; /* b = y */
  case EW_MUL:
    tv_mul(o, a, b, n, j->acc);
    break; /* a = x, b = mask */
  case EW_ADD:
    tv_add(o, a, n, j->acc);
    break;
  }
}

static void ew(const tv_layer *l, ew_job j) {
  tv_pool_for(l->pool, (int)((j.total + EW_BLOCK - 1) / EW_BLOCK), ew_part, &j);
}

/* ---- dense: x (N, D_in) -> y (N, D_out); y = x W^T + b, W [D_out, D_in] ---- */

static int dense_build(tv_layer *l) {
  if (l->in[0].ndim != 1) {
    char s[64];
    return layer_error(l, "dense needs a flat input, got %s (add a flatten layer)",
                       tv_shape_str(l->in[0], s, sizeof s));
  }
  int din = l->in[0].dim[0], dout = l->cfg->units;
  if (dout < 1) return layer_error(l, "dense needs units >= 1, got %d", dout);
  l->out = tv_shape1(dout);
  int rc = declare(l, "kernel", tv_shape2(dout, din), 1, TV_INIT_HE_NORMAL, din, dout);
  if (rc == TV_OK && l->cfg->use_bias)
    rc = declare(l, "bias", tv_shape1(dout), 1, TV_INIT_ZEROS, din, dout);
  return rc;
}

typedef struct dense_job {
  tv_layer *l;
  int n;
  const float *x, *dy;
  float *y, *dx;
  int acc;
} dense_job;

/* examples [r0, r1) */
static void dense_forward_part(void *ctx, int r0, int r1, int t) {
  (void)t;
  const dense_job *j = ctx;
  int din = j->l->in[0].dim[0], dout = j->l->out.dim[0];
  float *y = j->y + (size_t)r0 * dout, beta = 0.0f;
  if (j->l->cfg->use_bias) {
    tv_rows_set(y, var_value(j->l, 1), r1 - r0, dout);
    beta = 1.0f;
  }
  tv_gemm(0, 1, r1 - r0, dout, din, 1.0f, j->x + (size_t)r0 * din, din, var_value(j->l, 0), din,
          beta, y, dout);
}

static void dense_forward(tv_layer *l, int n, const float *const *x, float *y) {
  dense_job j = {.l = l, .n = n, .x = x[0], .y = y};
  tv_pool_for(l->pool, n, dense_forward_part, &j);
}

/* Thread t: dW rows (output features) [f0, f1) and db[f0, f1) over all examples, and dx for its
 * share of the examples. */
static void dense_backward_part(void *ctx, int b, int e, int t) {
  (void)b, (void)e;
  const dense_job *j = ctx;
  const tv_layer *l = j->l;
  int din = l->in[0].dim[0], dout = l->out.dim[0], nt = tv_pool_threads(l->pool);
  int f0 = (int)((int64_t)dout * t / nt), f1 = (int)((int64_t)dout * (t + 1) / nt);
  int r0 = (int)((int64_t)j->n * t / nt), r1 = (int)((int64_t)j->n * (t + 1) / nt);
  float *dw = var_grad(l, 0);
  if (f1 > f0) {
    /* dW[f0:f1] += dy[:, f0:f1]^T x */
    tv_gemm(1, 0, f1 - f0, din, j->n, 1.0f, j->dy + f0, dout, j->x, din, 1.0f,
            dw + (size_t)f0 * din, din);
    if (l->cfg->use_bias) {
      float *db = var_grad(l, 1);
      for (int i = 0; i < j->n; i++)
        tv_add(db + f0, j->dy + (size_t)i * dout + f0, (size_t)(f1 - f0), 1);
    }
  }
  if (j->dx && r1 > r0)
    tv_gemm(0, 0, r1 - r0, din, dout, 1.0f, j->dy + (size_t)r0 * dout, dout, var_value(l, 0), din,
            j->acc ? 1.0f : 0.0f, j->dx + (size_t)r0 * din, din);
}

/* dW += dy^T x; db += sum_n dy; dx (+)= dy W */
static void dense_backward(tv_layer *l, int n, const float *const *x, const float *y,
                           const float *dy, float *const *dx, const int *acc) {
  (void)y;
  dense_job j = {.l = l, .n = n, .x = x[0], .dy = dy, .dx = dx[0], .acc = acc[0]};
  tv_pool_for(l->pool, l->threads, dense_backward_part, &j); /* one item per thread */
}

static double dense_flops(const tv_layer *l) {
  return 2.0 * l->in[0].dim[0] * l->out.dim[0] + (l->cfg->use_bias ? l->out.dim[0] : 0);
}

/* ---- element-wise layers: x (N, ...) -> y (N, ...) ---- */

static int same_shape_build(tv_layer *l) {
  l->out = l->in[0];
  return TV_OK;
}

/* y = max(x, 0) */
static void relu_forward(tv_layer *l, int n, const float *const *x, float *y) {
  ew(l, (ew_job){.op = EW_RELU, .total = count(l, n), .out = y, .a = x[0]});
}

/* dx (+)= dy * (y > 0) */
static void relu_backward(tv_layer *l, int n, const float *const *x, const float *y,
                          const float *dy, float *const *dx, const int *acc) {
  (void)x;
  if (dx[0])
    ew(l,
       (ew_job){
           .op = EW_RELU_BACK, .total = count(l, n), .out = dx[0], .a = dy, .b = y, .acc = acc[0]});
}

/* y = x > 0 ? x : alpha x */
static void leaky_relu_forward(tv_layer *l, int n, const float *const *x, float *y) {
  ew(l,
     (ew_job){
         .op = EW_LEAKY, .total = count(l, n), .out = y, .a = x[0], .alpha = (float)l->cfg->alpha});
}

/* dx (+)= dy * (x > 0 ? 1 : alpha) */
static void leaky_relu_backward(tv_layer *l, int n, const float *const *x, const float *y,
                                const float *dy, float *const *dx, const int *acc) {
  (void)y;
  if (dx[0])
    ew(l, (ew_job){.op = EW_LEAKY_BACK,
                   .total = count(l, n),
                   .out = dx[0],
                   .a = dy,
                   .b = x[0],
                   .alpha = (float)l->cfg->alpha,
                   .acc = acc[0]});
}

/* y = x > 0 ? x : alpha (exp(x) - 1) */
static void elu_forward(tv_layer *l, int n, const float *const *x, float *y) {
  ew(l,
     (ew_job){
         .op = EW_ELU, .total = count(l, n), .out = y, .a = x[0], .alpha = (float)l->cfg->alpha});
}

/* dx (+)= dy * (x > 0 ? 1 : y + alpha) */
static void elu_backward(tv_layer *l, int n, const float *const *x, const float *y, const float *dy,
                         float *const *dx, const int *acc) {
  if (dx[0])
    ew(l, (ew_job){.op = EW_ELU_BACK,
                   .total = count(l, n),
                   .out = dx[0],
                   .a = dy,
                   .b = x[0],
                   .c = y,
                   .alpha = (float)l->cfg->alpha,
                   .acc = acc[0]});
}

/* y = x Phi(x) */
static void gelu_forward(tv_layer *l, int n, const float *const *x, float *y) {
  ew(l, (ew_job){.op = EW_GELU, .total = count(l, n), .out = y, .a = x[0]});
}

/* dx (+)= dy (Phi(x) + x phi(x)) */
static void gelu_backward(tv_layer *l, int n, const float *const *x, const float *y,
                          const float *dy, float *const *dx, const int *acc) {
  (void)y;
  if (dx[0])
    ew(l, (ew_job){.op = EW_GELU_BACK,
                   .total = count(l, n),
                   .out = dx[0],
                   .a = dy,
                   .b = x[0],
                   .acc = acc[0]});
}

/* y = 1 / (1 + exp(-x)) */
static void sigmoid_forward(tv_layer *l, int n, const float *const *x, float *y) {
  ew(l, (ew_job){.op = EW_SIGMOID, .total = count(l, n), .out = y, .a = x[0]});
}

/* dx (+)= dy y (1 - y) */
static void sigmoid_backward(tv_layer *l, int n, const float *const *x, const float *y,
                             const float *dy, float *const *dx, const int *acc) {
  (void)x;
  if (dx[0])
    ew(l, (ew_job){.op = EW_SIGMOID_BACK,
                   .total = count(l, n),
                   .out = dx[0],
                   .a = dy,
                   .b = y,
                   .acc = acc[0]});
}

/* y = tanh(x) */
static void tanh_forward(tv_layer *l, int n, const float *const *x, float *y) {
  ew(l, (ew_job){.op = EW_TANH, .total = count(l, n), .out = y, .a = x[0]});
}

/* dx (+)= dy (1 - y^2) */
static void tanh_backward(tv_layer *l, int n, const float *const *x, const float *y,
                          const float *dy, float *const *dx, const int *acc) {
  (void)x;
  if (dx[0])
    ew(l,
       (ew_job){
           .op = EW_TANH_BACK, .total = count(l, n), .out = dx[0], .a = dy, .b = y, .acc = acc[0]});
}

static double elementwise_flops(const tv_layer *l) { return (double)tv_shape_count(l->out); }

/* ---- softmax: x (N, D) -> y (N, D); y = exp(x) / sum exp(x) per row ---- */

static int softmax_build(tv_layer *l) {
  if (l->in[0].ndim != 1) {
    char s[64];
    return layer_error(l,
                       "softmax works over features and needs a flat input, got %s (add a "
                       "flatten or global_avg_pool layer)",
                       tv_shape_str(l->in[0], s, sizeof s));
  }
  l->out = l->in[0];
  return TV_OK;
}

typedef struct rows_job {
  const tv_layer *l;
  const float *x, *y, *dy;
  float *out;
  int acc;
} rows_job;

static void softmax_forward_part(void *ctx, int r0, int r1, int t) {
  (void)t;
  const rows_job *j = ctx;
  int d = j->l->out.dim[0];
  tv_softmax_rows(j->out + (size_t)r0 * d, j->x + (size_t)r0 * d, r1 - r0, d);
}

static void softmax_forward(tv_layer *l, int n, const float *const *x, float *y) {
  rows_job j = {.l = l, .x = x[0], .out = y};
  tv_pool_for(l->pool, n, softmax_forward_part, &j);
}

static void softmax_backward_part(void *ctx, int r0, int r1, int t) {
  (void)t;
  const rows_job *j = ctx;
  size_t d = (size_t)j->l->out.dim[0];
  tv_softmax_rows_backward(j->out + r0 * d, j->dy + r0 * d, j->y + r0 * d, r1 - r0, (int)d, j->acc);
}

/* dx (+)= y * (dy - sum_j dy_j y_j) */
static void softmax_backward(tv_layer *l, int n, const float *const *x, const float *y,
                             const float *dy, float *const *dx, const int *acc) {
  (void)x;
  if (!dx[0]) return;
  rows_job j = {.l = l, .y = y, .dy = dy, .out = dx[0], .acc = acc[0]};
  tv_pool_for(l->pool, n, softmax_backward_part, &j);
}

static double softmax_flops(const tv_layer *l) { return 3.0 * (double)tv_shape_count(l->out); }

/* ---- flatten: x (N, C, H, W) -> y (N, C*H*W); a view of its input, no copy ---- */

static int flatten_build(tv_layer *l) {
  l->out = tv_shape1((int)tv_shape_count(l->in[0]));
  l->aliases_input = 1;
  return TV_OK;
}

static void nothing_forward(tv_layer *l, int n, const float *const *x, float *y) {
  (void)l, (void)n, (void)x, (void)y;
}

static void nothing_backward(tv_layer *l, int n, const float *const *x, const float *y,
                             const float *dy, float *const *dx, const int *acc) {
  (void)l, (void)n, (void)x, (void)y, (void)dy, (void)dx, (void)acc;
}

static double zero_flops(const tv_layer *l) {
  (void)l;
  return 0.0;
}

/* ---- add: x_1..x_k (N, ...) -> y (N, ...); y = sum_i x_i ---- */

static int add_build(tv_layer *l) {
  if (l->n_inputs < 2)
    return layer_error(l, "add takes 2 to %d inputs (inputs: [a, b]), got %d", TV_MAX_INPUTS,
                       l->n_inputs);
  for (int k = 1; k < l->n_inputs; k++) {
    if (!tv_shape_equal(l->in[k], l->in[0])) {
      char a[64], b[64];
      return layer_error(l, "add needs inputs of one shape: '%s' gives %s, '%s' gives %s",
                         l->cfg->inputs[0], tv_shape_str(l->in[0], a, sizeof a), l->cfg->inputs[k],
                         tv_shape_str(l->in[k], b, sizeof b));
    }
  }
  l->out = l->in[0];
  return TV_OK;
}

static void add_forward(tv_layer *l, int n, const float *const *x, float *y) {
  for (int k = 0; k < l->n_inputs; k++)
    ew(l, (ew_job){.op = EW_ADD, .total = count(l, n), .out = y, .a = x[k], .acc = k > 0});
}

/* dx_i (+)= dy */
static void add_backward(tv_layer *l, int n, const float *const *x, const float *y, const float *dy,
                         float *const *dx, const int *acc) {
  (void)x, (void)y;
  for (int k = 0; k < l->n_inputs; k++)
    if (dx[k])
      ew(l, (ew_job){.op = EW_ADD, .total = count(l, n), .out = dx[k], .a = dy, .acc = acc[k]});
}

static double add_flops(const tv_layer *l) {
  return (double)(l->n_inputs - 1) * (double)tv_shape_count(l->out);
}

/* ---- dropout: x (N, ...) -> y (N, ...); TRAIN y = x * mask, mask_i = [u_i >= rate] / (1-rate);
 * INFER y = x (an alias of the input) ---- */

static int dropout_build(tv_layer *l) {
  if (!(l->cfg->rate >= 0 && l->cfg->rate < 1))
    return layer_error(l, "dropout rate must be in [0, 1), got %g", l->cfg->rate);
  l->out = l->in[0];
  if (l->mode == TV_MODE_INFER)
    l->aliases_input = 1;
  else
    l->keep_floats = (size_t)l->max_batch * tv_shape_count(l->out);
  return TV_OK;
}

typedef struct mask_job {
  float *mask;
  size_t total;
  uint64_t key;
  uint64_t thr;
  float scale;
} mask_job;

/* Block b of the mask comes from its own generator tv_rng_seed(key, b), 32 bits per element,
 * so the mask depends on the model's generator (one draw per forward) and not on the threads. */
static void mask_part(void *ctx, int b0, int b1, int t) {
  (void)t;
  const mask_job *j = ctx;
  for (int b = b0; b < b1; b++) {
    tv_rng r = tv_rng_seed(j->key, (uint64_t)b);
    size_t lo = (size_t)b * EW_BLOCK, hi = lo + EW_BLOCK < j->total ? lo + EW_BLOCK : j->total;
    for (size_t i = lo; i < hi; i += 2) {
      uint64_t u = tv_rng_u64(&r);
      j->mask[i] = (u & 0xffffffffu) >= j->thr ? j->scale : 0.0f;
      if (i + 1 < hi) j->mask[i + 1] = (u >> 32) >= j->thr ? j->scale : 0.0f;
    }
  }
}

static void dropout_forward(tv_layer *l, int n, const float *const *x, float *y) {
  size_t m = count(l, n);
  double rate = l->cfg->rate;
  uint64_t thr = (uint64_t)(rate * 4294967296.0);
  mask_job j = {.mask = l->keep,
                .total = m,
                .key = tv_rng_u64(l->rng),
                .thr = thr > UINT32_MAX ? UINT32_MAX : thr,
                .scale = (float)(1.0 / (1.0 - rate))};
  tv_pool_for(l->pool, (int)((m + EW_BLOCK - 1) / EW_BLOCK), mask_part, &j);
  ew(l, (ew_job){.op = EW_MUL, .total = m, .out = y, .a = x[0], .b = l->keep});
}

/* dx (+)= dy * mask */
static void dropout_backward(tv_layer *l, int n, const float *const *x, const float *y,
                             const float *dy, float *const *dx, const int *acc) {
  (void)x, (void)y;
  if (dx[0])
    ew(l,
       (ew_job){
           .op = EW_MUL, .total = count(l, n), .out = dx[0], .a = dy, .b = l->keep, .acc = acc[0]});
}

static double dropout_flops(const tv_layer *l) {
  return l->mode == TV_MODE_TRAIN ? (double)tv_shape_count(l->out) : 0.0;
}

/* ---- conv2d: x (N, C, H, W) -> y (N, F, OH, OW);
 *      y[n,f] = sum_{c,i,j} W[f,c,i,j] x[n,c,oh*sh-ph+i,ow*sw-pw+j] + b[f]
 * Each thread takes a share of the examples in chunks of B (B = 1 unless the output plane is
 * small), with single-threaded gemms on cache-resident scratch:
 *   col = im2col(x chunk) [K = C*kh*kw, B*P] (P = OH*OW);  Y [F, B*P] = W [F, K] col
 * written straight into y when B = 1 (else through a [F, B*P] buffer and a copy), bias added.
 * Backward per chunk: dW_t (+)= dY col^T, db_t (+)= rowsum dY, dcol = W^T dY, dx (+)= col2im;
 * then dW += sum_t dW_t, db += sum_t db_t in a second parallel pass. ---- */

enum { CONV_MIN_COLS = 128 }; /* chunk examples until a gemm has this many columns */

/* Output size and leading padding of one spatial dimension; 0 if it does not fit. */
static int out_size(int in, int k, int s, tv_padding mode, int pad, int *before) {
  if (mode == TV_PADDING_SAME) {
    int o = (in + s - 1) / s;
    int total = (o - 1) * s + k - in;
    *before = total > 0 ? total / 2 : 0;
    return o;
  }
  *before = mode == TV_PADDING_EXPLICIT ? pad : 0;
  int span = in + 2 * *before - k;
  return span < 0 ? 0 : span / s + 1;
}

/* Shared by conv2d and the pools: checks a (C, H, W) input and sets l->oh, ow, ph, pw. */
static int window_build(tv_layer *l, const char *what) {
  char s[64];
  if (l->in[0].ndim != 3)
    return layer_error(l, "%s needs a (C, H, W) input, got %s", what,
                       tv_shape_str(l->in[0], s, sizeof s));
  const tv_layer_config *c = l->cfg;
  /* A parsed config never has these; a config built in code might. */
  if (c->kernel[0] < 1 || c->kernel[1] < 1 || c->stride[0] < 1 || c->stride[1] < 1 ||
      c->pad[0] < 0 || c->pad[1] < 0 || (unsigned)c->padding >= TV_PADDING__COUNT)
    return layer_error(l, "%s: kernel [%d, %d], strides [%d, %d], padding %d [%d, %d] out of range",
                       what, c->kernel[0], c->kernel[1], c->stride[0], c->stride[1], c->padding,
                       c->pad[0], c->pad[1]);
  int ph, pw;
  int oh = out_size(l->in[0].dim[1], c->kernel[0], c->stride[0], c->padding, c->pad[0], &ph);
  int ow = out_size(l->in[0].dim[2], c->kernel[1], c->stride[1], c->padding, c->pad[1], &pw);
  if (oh < 1 || ow < 1)
    return layer_error(l, "a %dx%d window does not fit the %s input %s (padding %s)", c->kernel[0],
                       c->kernel[1], what, tv_shape_str(l->in[0], s, sizeof s),
                       c->padding == TV_PADDING_SAME    ? "same"
                       : c->padding == TV_PADDING_VALID ? "valid"
                                                        : "explicit");
  l->oh = oh;
  l->ow = ow;
  l->ph = ph;
  l->pw = pw;
  return TV_OK;
}

static tv_conv_geom geom_of(const tv_layer *l) {
  return (tv_conv_geom){.c = l->in[0].dim[0],
                        .h = l->in[0].dim[1],
                        .w = l->in[0].dim[2],
                        .kh = l->cfg->kernel[0],
                        .kw = l->cfg->kernel[1],
                        .sh = l->cfg->stride[0],
                        .sw = l->cfg->stride[1],
                        .ph = l->ph,
                        .pw = l->pw,
                        .oh = l->oh,
                        .ow = l->ow};
}

/* Scratch of conv2d, in floats: Wb [F, K+1] = [W | b] (the bias as one more input row whose
 * col entries are 1, so the gemm adds it), then per thread: col [K+1, B*P], Y [F, B*P] (B > 1),
 * dW_t [F*K], db_t [F], and a flag set when the thread took part in a backward. */
typedef struct conv_dims {
  int f, k, p, b;
  size_t wb, col, yt, dw, db, per_thread;
} conv_dims;

static conv_dims conv_dims_of(const tv_layer *l) {
  conv_dims d;
  d.f = l->cfg->filters;
  d.k = l->in[0].dim[0] * l->cfg->kernel[0] * l->cfg->kernel[1];
  d.p = l->oh * l->ow;
  d.b = l->chunk;
  d.wb = ((size_t)d.f * (d.k + 1) + 15) & ~(size_t)15;
  d.col = 0;
  d.yt = d.col + (size_t)(d.k + 1) * d.b * d.p;
  d.dw = d.yt + (d.b > 1 ? (size_t)d.f * d.b * d.p : 0);
  d.db = d.dw + (size_t)d.f * d.k;
  d.per_thread = (d.db + (size_t)d.f + 1 + 15) & ~(size_t)15;
  return d;
}

static float *conv_share(const tv_layer *l, const conv_dims *d, int t) {
  return l->temp + d->wb + (size_t)t * d->per_thread;
}

static int conv2d_build(tv_layer *l) {
  if (l->cfg->filters < 1) return layer_error(l, "conv2d needs filters >= 1");
  int rc = window_build(l, "conv2d");
  if (rc != TV_OK) return rc;
  const tv_layer_config *c = l->cfg;
  int ch = l->in[0].dim[0], f = c->filters, p = l->oh * l->ow;
  int b = (CONV_MIN_COLS + p - 1) / p;
  l->chunk = b < l->max_batch ? b : l->max_batch;
  l->out = tv_shape3(f, l->oh, l->ow);
  conv_dims d = conv_dims_of(l);
  l->temp_floats = d.wb + d.per_thread * (size_t)l->threads;
  int k = ch * c->kernel[0] * c->kernel[1], fan_out = f * c->kernel[0] * c->kernel[1];
  rc = declare(l, "kernel", tv_shape4(f, ch, c->kernel[0], c->kernel[1]), 1, TV_INIT_HE_NORMAL, k,
               fan_out);
  if (rc == TV_OK && c->use_bias)
    rc = declare(l, "bias", tv_shape1(f), 1, TV_INIT_ZEROS, k, fan_out);
  return rc;
}

typedef struct conv_job {
  tv_layer *l;
  tv_conv_geom g;
  conv_dims d;
  int n;
  const float *x, *dy;
  float *y, *dx;
  int acc;
} conv_job;

/* chunks [c0, c1) of j->d.b examples */
static void conv_forward_part(void *ctx, int c0, int c1, int t) {
  const conv_job *j = ctx;
  const conv_dims *d = &j->d;
  size_t in = (size_t)j->g.c * j->g.h * j->g.w, out = (size_t)d->f * d->p;
  float *col = conv_share(j->l, d, t) + d->col, *yt = conv_share(j->l, d, t) + d->yt;
  int kb = j->l->cfg->use_bias ? d->k + 1 : d->k; /* gemm depth: the ones row adds the bias */
  const float *wb = j->l->temp;
  for (int c = c0; c < c1; c++) {
    int n0 = c * d->b, m = j->n - n0 < d->b ? j->n - n0 : d->b;
    size_t ld = (size_t)m * d->p;
    for (int e = 0; e < m; e++)
      tv_im2col(&j->g, j->x + (size_t)(n0 + e) * in, col + (size_t)e * d->p, ld);
    if (kb > d->k)
      for (size_t q = 0; q < ld; q++) col[(size_t)d->k * ld + q] = 1.0f;
    if (m == 1) {
      tv_gemm(0, 0, d->f, d->p, kb, 1.0f, wb, d->k + 1, col, d->p, 0.0f, j->y + (size_t)n0 * out,
              d->p);
      continue;
    }
    tv_gemm(0, 0, d->f, (int)ld, kb, 1.0f, wb, d->k + 1, col, (int)ld, 0.0f, yt, (int)ld);
    for (int e = 0; e < m; e++)
      for (int q = 0; q < d->f; q++)
        memcpy(j->y + (size_t)(n0 + e) * out + (size_t)q * d->p,
               yt + (size_t)q * ld + (size_t)e * d->p, (size_t)d->p * sizeof *yt);
  }
}

static void conv2d_forward(tv_layer *l, int n, const float *const *x, float *y) {
  conv_job j = {.l = l, .g = geom_of(l), .d = conv_dims_of(l), .n = n, .x = x[0], .y = y};
  const float *w = var_value(l, 0), *bias = l->cfg->use_bias ? var_value(l, 1) : NULL;
  for (int q = 0; q < j.d.f; q++) { /* Wb = [W | b] */
    memcpy(l->temp + (size_t)q * (j.d.k + 1), w + (size_t)q * j.d.k, (size_t)j.d.k * sizeof *w);
    l->temp[(size_t)q * (j.d.k + 1) + j.d.k] = bias ? bias[q] : 0.0f;
  }
  tv_pool_for(l->pool, (n + j.d.b - 1) / j.d.b, conv_forward_part, &j);
}

static void conv_backward_part(void *ctx, int c0, int c1, int t) {
  const conv_job *j = ctx;
  const conv_dims *d = &j->d;
  size_t in = (size_t)j->g.c * j->g.h * j->g.w, out = (size_t)d->f * d->p;
  float *base = conv_share(j->l, d, t);
  float *col = base + d->col, *yt = base + d->yt, *dw = base + d->dw, *db = base + d->db;
  const float *w = var_value(j->l, 0);
  int bias = j->l->cfg->use_bias;
  for (int c = c0; c < c1; c++) {
    int n0 = c * d->b, m = j->n - n0 < d->b ? j->n - n0 : d->b, first = c == c0;
    size_t ld = (size_t)m * d->p;
    const float *dyc = j->dy + (size_t)n0 * out;
    for (int e = 0; e < m; e++)
      tv_im2col(&j->g, j->x + (size_t)(n0 + e) * in, col + (size_t)e * d->p, ld);
    if (m > 1) { /* gather the chunk's dy as [F, m*P] */
      for (int e = 0; e < m; e++)
        for (int q = 0; q < d->f; q++)
          memcpy(yt + (size_t)q * ld + (size_t)e * d->p, dyc + (size_t)e * out + (size_t)q * d->p,
                 (size_t)d->p * sizeof *yt);
      dyc = yt;
    }
    tv_gemm(0, 1, d->f, d->k, (int)ld, 1.0f, dyc, (int)ld, col, (int)ld, first ? 0.0f : 1.0f, dw,
            d->k);
    if (bias) tv_sum_over_cols(db, dyc, d->f, ld, !first);
    if (!j->dx) continue;
    tv_gemm(1, 0, d->k, (int)ld, d->f, 1.0f, w, d->k, dyc, (int)ld, 0.0f, col, (int)ld);
    for (int e = 0; e < m; e++) {
      float *dxe = j->dx + (size_t)(n0 + e) * in;
      if (!j->acc) memset(dxe, 0, in * sizeof *dxe);
      tv_col2im(&j->g, col + (size_t)e * d->p, ld, dxe);
    }
  }
  base[d->per_thread - 1] = 1.0f; /* took part */
}

/* grad[i] += each partial of the threads that took part, in thread order, for i in [i0, i1) of
 * the F*K kernel entries followed by the F bias entries */
static void conv_reduce_part(void *ctx, int i0, int i1, int t) {
  (void)t;
  const conv_job *j = ctx;
  const conv_dims *d = &j->d;
  size_t nk = (size_t)d->f * d->k;
  float *dw = var_grad(j->l, 0), *db = j->l->cfg->use_bias ? var_grad(j->l, 1) : NULL;
  for (int u = 0; u < j->l->threads; u++) {
    const float *base = conv_share(j->l, d, u);
    if (base[d->per_thread - 1] != 1.0f) continue;
    for (int i = i0; i < i1; i++) {
      float *g = (size_t)i < nk ? dw + i : db + (i - nk);
      *g += (size_t)i < nk ? base[d->dw + i] : base[d->db + (i - nk)];
    }
  }
}

static void conv2d_backward(tv_layer *l, int n, const float *const *x, const float *y,
                            const float *dy, float *const *dx, const int *acc) {
  (void)y;
  conv_job j = {.l = l,
                .g = geom_of(l),
                .d = conv_dims_of(l),
                .n = n,
                .x = x[0],
                .dy = dy,
                .dx = dx[0],
                .acc = acc[0]};
  for (int u = 0; u < l->threads; u++) conv_share(l, &j.d, u)[j.d.per_thread - 1] = 0.0f;
  tv_pool_for(l->pool, (n + j.d.b - 1) / j.d.b, conv_backward_part, &j);
  int entries = j.d.f * j.d.k + (l->cfg->use_bias ? j.d.f : 0);
  tv_pool_for(l->pool, entries, conv_reduce_part, &j);
}

static double conv2d_flops(const tv_layer *l) {
  double k = (double)l->in[0].dim[0] * l->cfg->kernel[0] * l->cfg->kernel[1];
  double outs = (double)tv_shape_count(l->out);
  return 2.0 * k * outs + (l->cfg->use_bias ? outs : 0.0);
}

/* ---- max_pool2d: x (N, C, H, W) -> y (N, C, OH, OW); y = max over the window (the first
 * maximum in row-major order takes the gradient, as PyTorch); avg_pool2d: y = mean over the
 * window's cells inside the input ---- */

static int pool_build(tv_layer *l) {
  const tv_layer_config *c = l->cfg;
  int rc = window_build(l, tv_layer_kind_name(c->kind));
  if (rc != TV_OK) return rc;
  if (c->padding == TV_PADDING_EXPLICIT &&
      (2 * c->pad[0] > c->kernel[0] || 2 * c->pad[1] > c->kernel[1]))
    return layer_error(l, "padding [%d, %d] is more than half the %dx%d window", c->pad[0],
                       c->pad[1], c->kernel[0], c->kernel[1]);
  l->out = tv_shape3(l->in[0].dim[0], l->oh, l->ow);
  if (c->kind == TV_LAYER_MAX_POOL2D && l->mode == TV_MODE_TRAIN)
    l->keep_floats = (size_t)l->max_batch * tv_shape_count(l->out); /* int32 argmax */
  return TV_OK;
}

typedef struct pool_job {
  const tv_layer *l;
  tv_conv_geom g;
  const float *x, *dy;
  float *y, *dx;
  int acc;
} pool_job;

static void max_pool_forward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const pool_job *j = ctx;
  size_t in = in_count(j->l), out = tv_shape_count(j->l->out);
  int32_t *argmax = j->l->mode == TV_MODE_TRAIN ? (int32_t *)(void *)j->l->keep : NULL;
  for (int e = e0; e < e1; e++)
    tv_max_pool2d(&j->g, j->x + (size_t)e * in, j->y + (size_t)e * out,
                  argmax ? argmax + (size_t)e * out : NULL, j->l->fused_relu);
}

static void max_pool2d_forward(tv_layer *l, int n, const float *const *x, float *y) {
  pool_job j = {.l = l, .g = geom_of(l), .x = x[0], .y = y};
  tv_pool_for(l->pool, n, max_pool_forward_part, &j);
}

static void max_pool_backward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const pool_job *j = ctx;
  size_t in = in_count(j->l), out = tv_shape_count(j->l->out);
  const int32_t *argmax = (const int32_t *)(const void *)j->l->keep;
  for (int e = e0; e < e1; e++)
    tv_max_pool2d_backward(&j->g, j->dy + (size_t)e * out, argmax + (size_t)e * out,
                           j->l->fused_relu ? j->y + (size_t)e * out : NULL, j->dx + (size_t)e * in,
                           j->acc);
}

/* dx[argmax] (+)= dy (fused relu: where y > 0) */
static void max_pool2d_backward(tv_layer *l, int n, const float *const *x, const float *y,
                                const float *dy, float *const *dx, const int *acc) {
  (void)x;
  if (!dx[0]) return;
  pool_job j = {.l = l, .g = geom_of(l), .dy = dy, .y = (float *)y, .dx = dx[0], .acc = acc[0]};
  tv_pool_for(l->pool, n, max_pool_backward_part, &j);
}

static void avg_pool_forward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const pool_job *j = ctx;
  size_t in = in_count(j->l), out = tv_shape_count(j->l->out);
  for (int e = e0; e < e1; e++) tv_avg_pool2d(&j->g, j->x + (size_t)e * in, j->y + (size_t)e * out);
}

static void avg_pool2d_forward(tv_layer *l, int n, const float *const *x, float *y) {
  pool_job j = {.l = l, .g = geom_of(l), .x = x[0], .y = y};
  tv_pool_for(l->pool, n, avg_pool_forward_part, &j);
}

static void avg_pool_backward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const pool_job *j = ctx;
  size_t in = in_count(j->l), out = tv_shape_count(j->l->out);
  if (!j->acc) memset(j->dx + (size_t)e0 * in, 0, (size_t)(e1 - e0) * in * sizeof(float));
  for (int e = e0; e < e1; e++)
    tv_avg_pool2d_backward(&j->g, j->dy + (size_t)e * out, j->dx + (size_t)e * in);
}

/* dx[window] (+)= dy / cells */
static void avg_pool2d_backward(tv_layer *l, int n, const float *const *x, const float *y,
                                const float *dy, float *const *dx, const int *acc) {
  (void)x, (void)y;
  if (!dx[0]) return;
  pool_job j = {.l = l, .g = geom_of(l), .dy = dy, .dx = dx[0], .acc = acc[0]};
  tv_pool_for(l->pool, n, avg_pool_backward_part, &j);
}

static double pool_flops(const tv_layer *l) {
  return (double)tv_shape_count(l->out) * l->cfg->kernel[0] * l->cfg->kernel[1];
}

/* ---- global_avg_pool: x (N, C, H, W) -> y (N, C); y[n,c] = mean_{h,w} x[n,c,h,w] ---- */

static int gap_build(tv_layer *l) {
  if (l->in[0].ndim != 3) {
    char s[64];
    return layer_error(l, "global_avg_pool needs a (C, H, W) input, got %s",
                       tv_shape_str(l->in[0], s, sizeof s));
  }
  l->out = tv_shape1(l->in[0].dim[0]);
  return TV_OK;
}

/* Sum of n floats with 16 independent partial sums (vectorisable without reassociation flags;
 * the order is fixed, so results are reproducible). */
TV_VECTOR static float sum16(const float *x, size_t n) {
  float acc[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) acc[k] += x[i + k];
  float s = 0.0f;
  for (int k = 0; k < 16; k++) s += acc[k];
  for (; i < n; i++) s += x[i];
  return s;
}

static void gap_forward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const rows_job *j = ctx;
  size_t c = (size_t)j->l->in[0].dim[0], hw = (size_t)j->l->in[0].dim[1] * j->l->in[0].dim[2];
  for (size_t r = (size_t)e0 * c; r < (size_t)e1 * c; r++)
    j->out[r] = sum16(j->x + r * hw, hw) / (float)hw;
}

static void gap_forward(tv_layer *l, int n, const float *const *x, float *y) {
  rows_job j = {.l = l, .x = x[0], .out = y};
  tv_pool_for(l->pool, n, gap_forward_part, &j);
}

static void gap_backward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const rows_job *j = ctx;
  size_t c = (size_t)j->l->in[0].dim[0], hw = (size_t)j->l->in[0].dim[1] * j->l->in[0].dim[2];
  for (size_t r = (size_t)e0 * c; r < (size_t)e1 * c; r++) {
    float v = j->dy[r] / (float)hw, *d = j->out + r * hw;
    if (j->acc)
      for (size_t i = 0; i < hw; i++) d[i] += v;
    else
      for (size_t i = 0; i < hw; i++) d[i] = v;
  }
}

/* dx[n,c,:] (+)= dy[n,c] / (H W) */
static void gap_backward(tv_layer *l, int n, const float *const *x, const float *y, const float *dy,
                         float *const *dx, const int *acc) {
  (void)x, (void)y;
  if (!dx[0]) return;
  rows_job j = {.l = l, .dy = dy, .out = dx[0], .acc = acc[0]};
  tv_pool_for(l->pool, n, gap_backward_part, &j);
}

static double gap_flops(const tv_layer *l) { return (double)tv_shape_count(l->in[0]); }

/* ---- batch_norm: x (N, C, H, W) or (N, D) -> same; per channel c (or feature):
 *   TRAIN  mu, var = mean and biased variance over N (and H, W);  xhat = (x - mu) / sqrt(var+eps)
 *          y = gamma xhat + beta;  moving = momentum moving + (1 - momentum) batch (unbiased var)
 *   INFER  y = gamma (x - moving_mean) / sqrt(moving_variance + eps) + beta
 *   backward (TRAIN): dgamma += sum dy xhat, dbeta += sum dy,
 *          dx = gamma / sqrt(var+eps) (dy - dbeta/M - xhat dgamma/M), M = N H W
 * keep holds mu[C] and 1/sqrt(var+eps)[C] of the last TRAIN forward.  Threads split the
 * channels; each channel's sums run over all examples in one thread, in a fixed order. ---- */

enum { BN_GAMMA, BN_BETA, BN_MEAN, BN_VAR };

static int batch_norm_build(tv_layer *l) {
  char s[64];
  if (l->in[0].ndim != 1 && l->in[0].ndim != 3)
    return layer_error(l, "batch_norm needs a (C, H, W) or (D) input, got %s",
                       tv_shape_str(l->in[0], s, sizeof s));
  if (!(l->cfg->epsilon > 0) || !(l->cfg->momentum >= 0 && l->cfg->momentum <= 1))
    return layer_error(l, "batch_norm needs epsilon > 0 and momentum in [0, 1], got %g and %g",
                       l->cfg->epsilon, l->cfg->momentum);
  int c = l->in[0].dim[0];
  l->out = l->in[0];
  if (l->mode == TV_MODE_TRAIN) l->keep_floats = 2 * (size_t)c;
  int rc = declare(l, "gamma", tv_shape1(c), 1, TV_INIT_ONES, c, c);
  if (rc == TV_OK) rc = declare(l, "beta", tv_shape1(c), 1, TV_INIT_ZEROS, c, c);
  if (rc == TV_OK) rc = declare(l, "moving_mean", tv_shape1(c), 0, TV_INIT_ZEROS, c, c);
  if (rc == TV_OK) rc = declare(l, "moving_variance", tv_shape1(c), 0, TV_INIT_ONES, c, c);
  return rc;
}

typedef struct bn_job {
  const tv_layer *l;
  int n, c;
  size_t s; /* spatial size, 1 for (N, D) */
  const float *x, *dy;
  float *y, *dx;
  int acc;
} bn_job;

TV_VECTOR static float sum_sq_dev(const float *x, size_t n, float mu) {
  float acc[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) acc[k] += (x[i + k] - mu) * (x[i + k] - mu);
  float s = 0.0f;
  for (int k = 0; k < 16; k++) s += acc[k];
  for (; i < n; i++) s += (x[i] - mu) * (x[i] - mu);
  return s;
}

/* sum dy and sum dy (x - mu) */
TV_VECTOR static void sum_dy_dyx(const float *dy, const float *x, size_t n, float mu, float *a,
                                 float *b) {
  float sa[16] = {0}, sb[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) {
      sa[k] += dy[i + k];
      sb[k] += dy[i + k] * (x[i + k] - mu);
    }
  float ta = 0.0f, tb = 0.0f;
  for (int k = 0; k < 16; k++) ta += sa[k], tb += sb[k];
  for (; i < n; i++) ta += dy[i], tb += dy[i] * (x[i] - mu);
  *a = ta;
  *b = tb;
}

TV_VECTOR static void affine(float *y, const float *x, size_t n, float a, float b) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] * a + b;
}

/* y (+)= k dy + k2 x + k3 */
TV_VECTOR static void bn_dx(float *d, const float *dy, const float *x, size_t n, float k, float k2,
                            float k3, int acc) {
  if (acc)
    for (size_t i = 0; i < n; i++) d[i] += k * dy[i] + k2 * x[i] + k3;
  else
    for (size_t i = 0; i < n; i++) d[i] = k * dy[i] + k2 * x[i] + k3;
}

/* Per channel j in [j0, j1): the scale a and shift b of y = a x + b; TRAIN also the batch
 * statistics (kept) and the moving-average update. */
static void bn_forward_part(void *ctx, int j0, int j1, int t) {
  (void)t;
  const bn_job *jb = ctx;
  const tv_layer *l = jb->l;
  int n = jb->n, c = jb->c;
  size_t s = jb->s;
  const float *gamma = var_value(l, BN_GAMMA), *beta = var_value(l, BN_BETA);
  float *mmean = var_value(l, BN_MEAN), *mvar = var_value(l, BN_VAR);
  int train = l->mode == TV_MODE_TRAIN;
  double m = (double)n * (double)s, eps = l->cfg->epsilon, mom = l->cfg->momentum;
  double unbias = m > 1 ? m / (m - 1) : 1.0;
  float *a = l->temp, *b = l->temp + c; /* (N, D): per feature, then one pass over rows */
  for (int j = j0; j < j1; j++) {
    float mean, inv;
    if (train) {
      double sum = 0, sq = 0;
      if (s == 1) {
        for (int i = 0; i < n; i++) sum += jb->x[(size_t)i * c + j];
        mean = (float)(sum / m);
        for (int i = 0; i < n; i++) {
          float dv = jb->x[(size_t)i * c + j] - mean;
          sq += (double)dv * dv;
        }
      } else {
        for (int i = 0; i < n; i++) sum += sum16(jb->x + ((size_t)i * c + j) * s, s);
        mean = (float)(sum / m);
        for (int i = 0; i < n; i++) sq += sum_sq_dev(jb->x + ((size_t)i * c + j) * s, s, mean);
      }
      double var = sq / m;
      inv = (float)(1.0 / sqrt(var + eps));
      l->keep[j] = mean;
      l->keep[c + j] = inv;
      mmean[j] = (float)(mom * mmean[j] + (1 - mom) * mean);
      mvar[j] = (float)(mom * mvar[j] + (1 - mom) * var * unbias);
    } else {
      mean = mmean[j];
      inv = (float)(1.0 / sqrt((double)mvar[j] + eps));
    }
    float aj = gamma[j] * inv, bj = beta[j] - mean * aj;
    if (s == 1) {
      a[j] = aj;
      b[j] = bj;
      continue;
    }
    for (int i = 0; i < n; i++) {
      size_t o = ((size_t)i * c + j) * s;
      affine(jb->y + o, jb->x + o, s, aj, bj);
    }
  }
}

/* (N, D): rows [r0, r1) of y = a x + b with the per-feature a, b of bn_forward_part */
static void bn_rows_part(void *ctx, int r0, int r1, int t) {
  (void)t;
  const bn_job *jb = ctx;
  int c = jb->c;
  const float *a = jb->l->temp, *b = jb->l->temp + c;
  for (int i = r0; i < r1; i++) {
    const float *xr = jb->x + (size_t)i * c;
    float *yr = jb->y + (size_t)i * c;
    for (int j = 0; j < c; j++) yr[j] = xr[j] * a[j] + b[j];
  }
}

static void batch_norm_forward(tv_layer *l, int n, const float *const *x, float *y) {
  bn_job j = {.l = l, .n = n, .c = l->in[0].dim[0], .x = x[0], .y = y};
  j.s = l->in[0].ndim == 3 ? (size_t)l->in[0].dim[1] * l->in[0].dim[2] : 1;
  tv_pool_for(l->pool, j.c, bn_forward_part, &j);
  if (j.s == 1) tv_pool_for(l->pool, n, bn_rows_part, &j);
}

static void bn_backward_part(void *ctx, int j0, int j1, int t) {
  (void)t;
  const bn_job *jb = ctx;
  const tv_layer *l = jb->l;
  int n = jb->n, c = jb->c;
  size_t s = jb->s;
  const float *gamma = var_value(l, BN_GAMMA), *mu = l->keep, *inv = l->keep + c;
  float *dgamma = var_grad(l, BN_GAMMA), *dbeta = var_grad(l, BN_BETA);
  double m = (double)n * (double)s;
  for (int j = j0; j < j1; j++) {
    double sdy = 0, sdyx = 0;
    for (int i = 0; i < n; i++) {
      size_t o = ((size_t)i * c + j) * s;
      float a, b;
      if (s == 1) {
        a = jb->dy[o];
        b = jb->dy[o] * (jb->x[o] - mu[j]);
      } else {
        sum_dy_dyx(jb->dy + o, jb->x + o, s, mu[j], &a, &b);
      }
      sdy += a;
      sdyx += b;
    }
    sdyx *= inv[j];
    dgamma[j] += (float)sdyx;
    dbeta[j] += (float)sdy;
    if (!jb->dx) continue;
    /* dx = k (dy - sdy/M - xhat sdyx/M) = k dy + k2 x + k3, with xhat = (x - mu) inv */
    float k = gamma[j] * inv[j];
    float k2 = -k * inv[j] * (float)(sdyx / m);
    float k3 = -k * (float)(sdy / m) - k2 * mu[j];
    for (int i = 0; i < n; i++) {
      size_t o = ((size_t)i * c + j) * s;
      bn_dx(jb->dx + o, jb->dy + o, jb->x + o, s, k, k2, k3, jb->acc);
    }
  }
}

static void batch_norm_backward(tv_layer *l, int n, const float *const *x, const float *y,
                                const float *dy, float *const *dx, const int *acc) {
  (void)y;
  bn_job j = {
      .l = l, .n = n, .c = l->in[0].dim[0], .x = x[0], .dy = dy, .dx = dx[0], .acc = acc[0]};
  j.s = l->in[0].ndim == 3 ? (size_t)l->in[0].dim[1] * l->in[0].dim[2] : 1;
  tv_pool_for(l->pool, j.c, bn_backward_part, &j);
}

static double batch_norm_flops(const tv_layer *l) { return 2.0 * (double)tv_shape_count(l->out); }

static int batch_norm_build_scratch(tv_layer *l) {
  int rc = batch_norm_build(l);
  if (rc == TV_OK) l->temp_floats = 2 * (size_t)l->in[0].dim[0];
  return rc;
}

// clang-format off
static const tv_layer_ops layer_table[] = {
  [TV_LAYER_DENSE] = {"dense", dense_build, dense_forward, dense_backward, dense_flops},
  [TV_LAYER_RELU] = {"relu", same_shape_build, relu_forward, relu_backward, elementwise_flops},
  [TV_LAYER_FLATTEN] = {"flatten", flatten_build, nothing_forward, nothing_backward, zero_flops},
  [TV_LAYER_CONV2D] = {"conv2d", conv2d_build, conv2d_forward, conv2d_backward, conv2d_flops},
  [TV_LAYER_MAX_POOL2D] = {"max_pool2d", pool_build, max_pool2d_forward, max_pool2d_backward,
                           pool_flops},
  [TV_LAYER_AVG_POOL2D] = {"avg_pool2d", pool_build, avg_pool2d_forward, avg_pool2d_backward,
                           pool_flops},
  [TV_LAYER_GLOBAL_AVG_POOL] = {"global_avg_pool", gap_build, gap_forward, gap_backward,
                                gap_flops},
  [TV_LAYER_BATCH_NORM] = {"batch_norm", batch_norm_build_scratch, batch_norm_forward,
                           batch_norm_backward, batch_norm_flops},
  [TV_LAYER_DROPOUT] = {"dropout", dropout_build, dropout_forward, dropout_backward,
                        dropout_flops},
  [TV_LAYER_LEAKY_RELU] = {"leaky_relu", same_shape_build, leaky_relu_forward,
                           leaky_relu_backward, elementwise_flops},
  [TV_LAYER_ELU] = {"elu", same_shape_build, elu_forward, elu_backward, elementwise_flops},
  [TV_LAYER_GELU] = {"gelu", same_shape_build, gelu_forward, gelu_backward, elementwise_flops},
  [TV_LAYER_SIGMOID] = {"sigmoid", same_shape_build, sigmoid_forward, sigmoid_backward,
                        elementwise_flops},
  [TV_LAYER_TANH] = {"tanh", same_shape_build, tanh_forward, tanh_backward, elementwise_flops},
  [TV_LAYER_SOFTMAX] = {"softmax", softmax_build, softmax_forward, softmax_backward,
                        softmax_flops},
  [TV_LAYER_ADD] = {"add", add_build, add_forward, add_backward, add_flops},
};
// clang-format on
_Static_assert(sizeof layer_table / sizeof layer_table[0] == TV_LAYER__COUNT,
               "one table row per layer kind");

const tv_layer_ops *tv_layer_ops_for(tv_layer_kind kind) { return &layer_table[kind]; }
