/* dense.c — the fully connected layer, flat or time-distributed.  A (T, D) input (a sequence,
 * recurrent.h's per-example layout) is T rows of D per example: the same W and b apply to every
 * time step, y (T, units), so a (N, T, D) batch is N*T rows of the flat case.  Threads: the
 * forward by example; the backward's weight gradient by output feature (each thread one slice
 * of dW and db over all rows, so no partials to sum) and its input gradient by example. */
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

/* examples [r0, r1) */
static void dense_forward_part(void *ctx, int r0, int r1, int t) {
  (void)t;
  const dense_job *j = ctx;
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

static void dense_forward(tv_layer *l, int n, const float *const *x, float *y) {
  dense_job j = {.l = l, .n = n, .x = x[0], .y = y};
  tv_pool_for(l->pool, n, dense_forward_part, &j);
}

/* Thread t: dW rows (output features) [f0, f1) and db[f0, f1) over all rows, and dx for its
 * share of the examples (rows: j->n, already examples * steps). */
static void dense_backward_part(void *ctx, int b, int e, int t) {
  (void)b, (void)e;
  const dense_job *j = ctx;
  const tv_layer *l = j->l;
  int din = dense_din(l), dout = dense_dout(l), nt = tv_pool_threads(l->pool);
  int f0 = (int)((int64_t)dout * t / nt), f1 = (int)((int64_t)dout * (t + 1) / nt);
  int ex = j->n / dense_steps(l), steps = dense_steps(l);
  int r0 = (int)((int64_t)ex * t / nt) * steps, r1 = (int)((int64_t)ex * (t + 1) / nt) * steps;
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
  dense_job j = {.l = l, .n = n * dense_steps(l), .x = x[0], .dy = dy, .dx = dx[0], .acc = acc[0]};
  tv_pool_for(l->pool, l->threads, dense_backward_part, &j); /* one item per thread */
}

static double dense_flops(const tv_layer *l) {
  return dense_steps(l) *
         (2.0 * dense_din(l) * dense_dout(l) + (l->cfg->use_bias ? dense_dout(l) : 0));
}

// clang-format off
static const key_desc dense_keys[] = {
  ROW_INT(LC, "units", units, 1, 1 << 20, 0, F_REQUIRED | F_MODEL, "output features"),
  ROW_BOOL(LC, "use_bias", use_bias, 1, F_MODEL, "add a learned bias"),
};
// clang-format on

const tv_layer_ops tv_layer_dense = {"dense",       dense_build,
                                     dense_forward, dense_backward,
                                     dense_flops,   .config = TV_CFG_LAYER_KEYS(dense_keys)};
