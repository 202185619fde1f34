/* dense.c — the fully connected layer, flat or time-distributed.  A (T, D) input (a sequence,
 * recurrent.h's per-example layout) is T rows of D per example: the same W and b apply to every
 * time step, y (T, units), so a (N, T, D) batch is N*T rows of the flat case.  Threads: the
 * forward by example; the backward's weight gradient by output feature (fixed slices of dW and
 * db over all rows, taken by any thread, so no partials to sum) and its input gradient by
 * example. */
#include "nn/layers/layer.h"

#include <stdint.h>
#include <string.h>

/* ---- dense: x (N, D_in) -> y (N, D_out), or x (N, T, D_in) -> y (N, T, D_out);
 *      y = x W^T + b, W [D_out, D_in] ---- */

/* Rows per example: 1 flat, T for a (T, D) sequence. */
static int dense_steps(const tv_layer *l) { return l->in[0].ndim == 2 ? l->in[0].dim[0] : 1; }
static int dense_din(const tv_layer *l) { return l->in[0].dim[l->in[0].ndim - 1]; }
static int dense_dout(const tv_layer *l) { return l->out.dim[l->out.ndim - 1]; }

static int dense_build(tv_layer *l) {
  if (l->in[0].ndim != 1 && l->in[0].ndim != 2) {
    char s[64];
    return tv_layer_error(l, "dense needs a flat input, got %s (add a flatten layer)",
                          tv_shape_str(l->in[0], s, sizeof s));
  }
  int din = dense_din(l), dout = l->cfg->units;
  if (dout < 1) return tv_layer_error(l, "dense needs units >= 1, got %d", dout);
  l->out = l->in[0].ndim == 2 ? tv_shape2(l->in[0].dim[0], dout) : tv_shape1(dout);
  int rc = tv_layer_declare(l, "kernel", tv_shape2(dout, din), 1, TV_INIT_HE_NORMAL, din, dout);
  if (rc == TV_OK && l->cfg->use_bias)
    rc = tv_layer_declare(l, "bias", tv_shape1(dout), 1, TV_INIT_ZEROS, din, dout);
  return rc;
}

typedef struct dense_job {
  tv_layer *l;
  int n;
  const float *x, *dy;
  float *y, *dx;
  int acc;
} dense_job;

enum { DENSE_FEATURES = 64, DENSE_EXAMPLES = 32 }; /* the fixed slices of the gemms */

/* examples [r0, r1) */
static void dense_forward_rows(const dense_job *j, int r0, int r1) {
  int din = dense_din(j->l), dout = dense_dout(j->l), steps = dense_steps(j->l);
  r0 *= steps, r1 *= steps;
  float *y = j->y + (size_t)r0 * dout, beta = 0.0f;
  if (j->l->cfg->use_bias) {
    tv_rows_set(y, var_value(j->l, 1), r1 - r0, dout);
    beta = 1.0f;
  }
  tv_gemm(0, 1, r1 - r0, dout, din, 1.0f, j->x + (size_t)r0 * din, din, var_value(j->l, 0), din,
          beta, y, dout);
}

/* slices [s0, s1) of DENSE_EXAMPLES examples, each its own gemm (fixed by the batch, so the bits
 * do not depend on the team) */
static void dense_forward_part(void *ctx, int s0, int s1, int t) {
  (void)t;
  const dense_job *j = ctx;
  for (int s = s0; s < s1; s++) {
    int r1 = (s + 1) * DENSE_EXAMPLES;
    dense_forward_rows(j, s * DENSE_EXAMPLES, r1 < j->n ? r1 : j->n);
  }
}

static void dense_forward(tv_layer *l, int n, const float *const *x, float *y) {
  dense_job j = {.l = l, .n = n, .x = x[0], .y = y};
  tv_pool_for(l->pool, (n + DENSE_EXAMPLES - 1) / DENSE_EXAMPLES, dense_forward_part, &j);
}

/* Slices s in [s0, s1): slice s is output features [s*DENSE_FEATURES, +DENSE_FEATURES) of dW and
 * db over all rows, and examples [s*DENSE_EXAMPLES, +DENSE_EXAMPLES) of dx (rows: j->n, already
 * examples * steps).  The slices are fixed by the shapes, each its own gemm, so the bits do not
 * depend on which thread takes which slice. */
static void dense_backward_part(void *ctx, int s0, int s1, int t) {
  (void)t;
  const dense_job *j = ctx;
  const tv_layer *l = j->l;
  int din = dense_din(l), dout = dense_dout(l), steps = dense_steps(l), ex = j->n / steps;
  float *dw = var_grad(l, 0);
  for (int s = s0; s < s1; s++) {
    int f0 = s * DENSE_FEATURES, f1 = f0 + DENSE_FEATURES < dout ? f0 + DENSE_FEATURES : dout;
    int e0 = s * DENSE_EXAMPLES, e1 = e0 + DENSE_EXAMPLES < ex ? e0 + DENSE_EXAMPLES : ex;
    int r0 = e0 * steps, r1 = e1 * steps;
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
}

/* dW += dy^T x; db += sum_n dy; dx (+)= dy W */
static void dense_backward(tv_layer *l, int n, const float *const *x, const float *y,
                           const float *dy, float *const *dx, const int *acc) {
  (void)y;
  dense_job j = {.l = l, .n = n * dense_steps(l), .x = x[0], .dy = dy, .dx = dx[0], .acc = acc[0]};
  int nf = (dense_dout(l) + DENSE_FEATURES - 1) / DENSE_FEATURES;
  int nr = (n + DENSE_EXAMPLES - 1) / DENSE_EXAMPLES;
  tv_pool_for(l->pool, nf > nr ? nf : nr, dense_backward_part, &j);
}

static double dense_flops(const tv_layer *l) {
  return dense_steps(l) *
         (2.0 * dense_din(l) * dense_dout(l) + (l->cfg->use_bias ? dense_dout(l) : 0));
}

const tv_layer_ops tv_layer_dense = {"dense", dense_build, dense_forward, dense_backward,
                                     dense_flops};
