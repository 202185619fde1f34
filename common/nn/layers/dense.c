/* dense.c — the fully connected layer, flat or time-distributed.  A (T, D) input (a sequence,
 * recurrent.h's per-example layout) is T rows of D per example: the same W and b apply to every
 * time step, y (T, units), so a (N, T, D) batch is N*T rows of the flat case.  Threads: the
 * forward by slices of output features, the backward by slices of input features (dW and dx
 * columns over all rows): slices fixed by the shapes, taken by any thread, no partials to sum. */
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
  /* a fused relu's masked gradient, dy * (y > 0), for the backward's gemms */
  if (l->fused_relu && l->mode == TV_MODE_TRAIN)
    l->temp_floats = (size_t)l->max_batch * (size_t)dense_steps(l) * (size_t)dout;
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

/* The gemms are cut into slices fixed by the shapes (so the bits do not depend on the team),
 * along the dimension whose cut makes OpenBLAS repack only the smaller operand, and as few as
 * the work allows: a power of two (1 .. DENSE_MAX_SLICES) of at least DENSE_SLICE_FMAS
 * multiply-adds each, DENSE_ALIGN-wide slices but the last, and no more slices than keep the
 * extra copies of the repacked operand under 1/DENSE_REPACK_RATIO of the multiply-adds. */
enum {
  DENSE_SLICE_FMAS = 8 << 20,
  DENSE_MAX_SLICES = 8,
  DENSE_ALIGN = 16,
  DENSE_REPACK_RATIO = 128
};

/* The slice width along a dimension of `dim` for `fmas` multiply-adds, each slice repacking
 * `repack` floats; *slices set. */
static int dense_slicing(int dim, double fmas, double repack, int *slices) {
  int s = 1;
  while (s < DENSE_MAX_SLICES && fmas >= 2.0 * s * DENSE_SLICE_FMAS && dim >= 2 * s * DENSE_ALIGN &&
         (2.0 * s - 1) * repack * DENSE_REPACK_RATIO <= fmas)
    s *= 2;
  int w = ((dim + s - 1) / s + DENSE_ALIGN - 1) / DENSE_ALIGN * DENSE_ALIGN;
  *slices = (dim + w - 1) / w;
  return w;
}

/* The slicings of the forward (output features; x repacked) and of the backward (input
 * features; dy repacked, two gemms when dx is wanted) for rows rows. */
static int dense_forward_slicing(const tv_layer *l, int rows, int *slices) {
  double din = dense_din(l), dout = dense_dout(l);
  return dense_slicing(dense_dout(l), rows * din * dout, rows * din, slices);
}
static int dense_backward_slicing(const tv_layer *l, int rows, int with_dx, int *slices) {
  double din = dense_din(l), dout = dense_dout(l);
  return dense_slicing(dense_din(l), (with_dx ? 2.0 : 1.0) * rows * din * dout, rows * dout,
                       slices);
}

/* Forward slice: output features [f0, f1) of all rows, y[:, f0:f1] = x W[f0:f1]^T + b[f0:f1]
 * (x, the smaller operand for a batch no larger than D_out, repacked per slice; each W entry
 * packed once). */
static void dense_forward_slice(const dense_job *j, int f0, int f1) {
  int din = dense_din(j->l), dout = dense_dout(j->l);
  float *y = j->y + f0, beta = 0.0f;
  if (j->l->cfg->use_bias) {
    const float *b = var_value(j->l, 1) + f0;
    for (int r = 0; r < j->n; r++) memcpy(y + (size_t)r * dout, b, (size_t)(f1 - f0) * sizeof *b);
    beta = 1.0f;
  }
  tv_gemm(0, 1, j->n, f1 - f0, din, 1.0f, j->x, din, var_value(j->l, 0) + (size_t)f0 * din, din,
          beta, y, dout);
  if (j->l->fused_relu) /* the epilogue, on the slice just written */
    for (int r = 0; r < j->n; r++)
      tv_relu(y + (size_t)r * dout, y + (size_t)r * dout, (size_t)(f1 - f0));
}

static void dense_forward_part(void *ctx, int s0, int s1, int t) {
  (void)t;
  const dense_job *j = ctx;
  int slices, w = dense_forward_slicing(j->l, j->n, &slices);
  for (int s = s0; s < s1; s++)
    dense_forward_slice(j, s * w, (s + 1) * w < dense_dout(j->l) ? (s + 1) * w : dense_dout(j->l));
}

static void dense_forward(tv_layer *l, int n, const float *const *x, float *y) {
  dense_job j = {.l = l, .n = n * dense_steps(l), .x = x[0], .y = y};
  int slices;
  dense_forward_slicing(l, j.n, &slices);
  tv_pool_for(l->pool, slices, dense_forward_part, &j);
}

/* Backward slice: input features [c0, c1) of dW[:, c0:c1] += dy^T x[:, c0:c1] and dx[:, c0:c1]
 * (+)= dy W[:, c0:c1] over all rows (rows: j->n, already examples * steps), db += sum_n dy in
 * slice 0; only dy (rows x D_out) is repacked per slice, every sum runs over all rows in one gemm
 * whichever thread takes the slice. */
static void dense_backward_slice(const dense_job *j, int c0, int c1) {
  const tv_layer *l = j->l;
  int din = dense_din(l), dout = dense_dout(l);
  tv_gemm(1, 0, dout, c1 - c0, j->n, 1.0f, j->dy, dout, j->x + c0, din, 1.0f, var_grad(l, 0) + c0,
          din);
  if (c0 == 0 && l->cfg->use_bias) {
    float *db = var_grad(l, 1);
    for (int i = 0; i < j->n; i++) tv_add(db, j->dy + (size_t)i * dout, (size_t)dout, 1);
  }
  if (j->dx)
    tv_gemm(0, 0, j->n, c1 - c0, dout, 1.0f, j->dy, dout, var_value(l, 0) + c0, din,
            j->acc ? 1.0f : 0.0f, j->dx + c0, din);
}

static void dense_backward_part(void *ctx, int s0, int s1, int t) {
  (void)t;
  const dense_job *j = ctx;
  int din = dense_din(j->l), slices;
  int w = dense_backward_slicing(j->l, j->n, j->dx != NULL, &slices);
  for (int s = s0; s < s1; s++)
    dense_backward_slice(j, s * w, (s + 1) * w < din ? (s + 1) * w : din);
}

/* dW += dy^T x; db += sum_n dy; dx (+)= dy W  (a fused relu: dy * (y > 0) for dy) */
static void dense_backward(tv_layer *l, int n, const float *const *x, const float *y,
                           const float *dy, float *const *dx, const int *acc) {
  dense_job j = {.l = l, .n = n * dense_steps(l), .x = x[0], .dy = dy, .dx = dx[0], .acc = acc[0]};
  if (l->fused_relu) {
    tv_layer_ew(l, (ew_job){.op = EW_RELU_BACK,
                            .total = (size_t)j.n * (size_t)dense_dout(l),
                            .out = l->temp,
                            .a = dy,
                            .b = y});
    j.dy = l->temp;
  }
  int slices;
  dense_backward_slicing(l, j.n, dx[0] != NULL, &slices);
  tv_pool_for(l->pool, slices, dense_backward_part, &j);
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
