/* layers.c — forward and backward of every layer kind, side by side, and the layer table.
 * Shapes are per example; n is the batch size of the call. */
#include "trainval/layers.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "trainval/ops.h"

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

/* ---- dense: x (N, D_in) -> y (N, D_out); y = x W^T + b, W [D_out, D_in] ---- */

static int dense_build(tv_layer *l) {
  if (l->in[0].ndim != 1) {
    char s[64];
    return layer_error(l, "dense needs a flat input, got %s (add a flatten layer)",
                       tv_shape_str(l->in[0], s, sizeof s));
  }
  int din = l->in[0].dim[0], dout = l->cfg->units;
  l->out = tv_shape1(dout);
  int rc = declare(l, "kernel", tv_shape2(dout, din), 1, TV_INIT_HE_NORMAL, din, dout);
  if (rc == TV_OK && l->cfg->use_bias)
    rc = declare(l, "bias", tv_shape1(dout), 1, TV_INIT_ZEROS, din, dout);
  return rc;
}

static void dense_forward(tv_layer *l, int n, const float *const *x, float *y) {
  int din = l->in[0].dim[0], dout = l->out.dim[0];
  float beta = 0.0f;
  if (l->cfg->use_bias) {
    tv_rows_set(y, var_value(l, 1), n, dout);
    beta = 1.0f;
  }
  tv_gemm(0, 1, n, dout, din, 1.0f, x[0], din, var_value(l, 0), din, beta, y, dout);
}

/* dW = dy^T x; db = sum_n dy; dx (+)= dy W */
static void dense_backward(tv_layer *l, int n, const float *const *x, const float *y,
                           const float *dy, float *const *dx, const int *acc) {
  (void)y;
  int din = l->in[0].dim[0], dout = l->out.dim[0];
  tv_gemm(1, 0, dout, din, n, 1.0f, dy, dout, x[0], din, 0.0f, var_grad(l, 0), din);
  if (l->cfg->use_bias) tv_rows_sum(var_grad(l, 1), dy, n, dout, 0);
  if (dx[0])
    tv_gemm(0, 0, n, din, dout, 1.0f, dy, dout, var_value(l, 0), din, acc[0] ? 1.0f : 0.0f, dx[0],
            din);
}

static double dense_flops(const tv_layer *l) {
  return 2.0 * l->in[0].dim[0] * l->out.dim[0] + (l->cfg->use_bias ? l->out.dim[0] : 0);
}

/* ---- relu: x (N, ...) -> y (N, ...); y = max(x, 0) ---- */

static int same_shape_build(tv_layer *l) {
  l->out = l->in[0];
  return TV_OK;
}

static void relu_forward(tv_layer *l, int n, const float *const *x, float *y) {
  tv_relu(y, x[0], (size_t)n * tv_shape_count(l->out));
}

/* dx (+)= dy * (y > 0) */
static void relu_backward(tv_layer *l, int n, const float *const *x, const float *y,
                          const float *dy, float *const *dx, const int *acc) {
  (void)x;
  if (dx[0]) tv_relu_backward(dx[0], dy, y, (size_t)n * tv_shape_count(l->out), acc[0]);
}

static double elementwise_flops(const tv_layer *l) { return (double)tv_shape_count(l->out); }

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

static const tv_layer_ops layer_table[] = {
    [TV_LAYER_DENSE] = {"dense", dense_build, dense_forward, dense_backward, dense_flops},
    [TV_LAYER_RELU] = {"relu", same_shape_build, relu_forward, relu_backward, elementwise_flops},
    [TV_LAYER_FLATTEN] = {"flatten", flatten_build, nothing_forward, nothing_backward, zero_flops},
};
_Static_assert(sizeof layer_table / sizeof layer_table[0] == TV_LAYER__COUNT,
               "one table row per layer kind");

const tv_layer_ops *tv_layer_ops_for(tv_layer_kind kind) { return &layer_table[kind]; }
