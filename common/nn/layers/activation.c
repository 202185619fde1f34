/* activation.c — the element-wise activations (relu, leaky_relu, elu, gelu, sigmoid, tanh),
 * split over the team by blocks of EW_BLOCK floats, and softmax (by example).  The math is in
 * ops.c's kernels; this file gives each its shapes and its gradient's inputs. */
#include "nn/layers/layer.h"

/* ---- element-wise layers: x (N, ...) -> y (N, ...) ---- */

static int same_shape_build(tv_layer *l) {
  l->out = l->in[0];
  return TV_OK;
}

/* y = max(x, 0) */
static void relu_forward(tv_layer *l, int n, const float *const *x, float *y) {
  tv_layer_ew(l, (ew_job){.op = EW_RELU, .total = count(l, n), .out = y, .a = x[0]});
}

/* dx (+)= dy * (y > 0) */
static void relu_backward(tv_layer *l, int n, const float *const *x, const float *y,
                          const float *dy, float *const *dx, const int *acc) {
  (void)x;
  if (dx[0])
    tv_layer_ew(l, (ew_job){.op = EW_RELU_BACK,
                            .total = count(l, n),
                            .out = dx[0],
                            .a = dy,
                            .b = y,
                            .acc = acc[0]});
}

/* y = x > 0 ? x : alpha x */
static void leaky_relu_forward(tv_layer *l, int n, const float *const *x, float *y) {
  tv_layer_ew(l, (ew_job){.op = EW_LEAKY,
                          .total = count(l, n),
                          .out = y,
                          .a = x[0],
                          .alpha = (float)l->cfg->alpha});
}

/* dx (+)= dy * (x > 0 ? 1 : alpha) */
static void leaky_relu_backward(tv_layer *l, int n, const float *const *x, const float *y,
                                const float *dy, float *const *dx, const int *acc) {
  (void)y;
  if (dx[0])
    tv_layer_ew(l, (ew_job){.op = EW_LEAKY_BACK,
                            .total = count(l, n),
                            .out = dx[0],
                            .a = dy,
                            .b = x[0],
                            .alpha = (float)l->cfg->alpha,
                            .acc = acc[0]});
}

/* y = x > 0 ? x : alpha (exp(x) - 1) */
static void elu_forward(tv_layer *l, int n, const float *const *x, float *y) {
  tv_layer_ew(
      l,
      (ew_job){
          .op = EW_ELU, .total = count(l, n), .out = y, .a = x[0], .alpha = (float)l->cfg->alpha});
}

/* dx (+)= dy * (x > 0 ? 1 : y + alpha) */
static void elu_backward(tv_layer *l, int n, const float *const *x, const float *y, const float *dy,
                         float *const *dx, const int *acc) {
  if (dx[0])
    tv_layer_ew(l, (ew_job){.op = EW_ELU_BACK,
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
  tv_layer_ew(l, (ew_job){.op = EW_GELU, .total = count(l, n), .out = y, .a = x[0]});
}

/* dx (+)= dy (Phi(x) + x phi(x)) */
static void gelu_backward(tv_layer *l, int n, const float *const *x, const float *y,
                          const float *dy, float *const *dx, const int *acc) {
  (void)y;
  if (dx[0])
    tv_layer_ew(l, (ew_job){.op = EW_GELU_BACK,
                            .total = count(l, n),
                            .out = dx[0],
                            .a = dy,
                            .b = x[0],
                            .acc = acc[0]});
}

/* y = 1 / (1 + exp(-x)) */
static void sigmoid_forward(tv_layer *l, int n, const float *const *x, float *y) {
  tv_layer_ew(l, (ew_job){.op = EW_SIGMOID, .total = count(l, n), .out = y, .a = x[0]});
}

/* dx (+)= dy y (1 - y) */
static void sigmoid_backward(tv_layer *l, int n, const float *const *x, const float *y,
                             const float *dy, float *const *dx, const int *acc) {
  (void)x;
  if (dx[0])
    tv_layer_ew(l, (ew_job){.op = EW_SIGMOID_BACK,
                            .total = count(l, n),
                            .out = dx[0],
                            .a = dy,
                            .b = y,
                            .acc = acc[0]});
}

/* y = tanh(x) */
static void tanh_forward(tv_layer *l, int n, const float *const *x, float *y) {
  tv_layer_ew(l, (ew_job){.op = EW_TANH, .total = count(l, n), .out = y, .a = x[0]});
}

/* dx (+)= dy (1 - y^2) */
static void tanh_backward(tv_layer *l, int n, const float *const *x, const float *y,
                          const float *dy, float *const *dx, const int *acc) {
  (void)x;
  if (dx[0])
    tv_layer_ew(l, (ew_job){.op = EW_TANH_BACK,
                            .total = count(l, n),
                            .out = dx[0],
                            .a = dy,
                            .b = y,
                            .acc = acc[0]});
}

static double elementwise_flops(const tv_layer *l) { return (double)tv_shape_count(l->out); }

/* ---- softmax: x (N, D) -> y (N, D); y = exp(x) / sum exp(x) per row ---- */

static int softmax_build(tv_layer *l) {
  if (l->in[0].ndim != 1) {
    char s[64];
    return tv_layer_error(l,
                          "softmax works over features and needs a flat input, got %s (add a "
                          "flatten or global_avg_pool layer)",
                          tv_shape_str(l->in[0], s, sizeof s));
  }
  l->out = l->in[0];
  return TV_OK;
}

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

// clang-format off
static const key_desc leaky_relu_keys[] = {
  ROW_DOUBLE(LC, "alpha", alpha, 0, 1000, 0.01, F_MODEL, "slope for x < 0"),
};

static const key_desc elu_keys[] = {
  ROW_DOUBLE(LC, "alpha", alpha, 0, 1000, 1.0, F_MODEL, "alpha (exp(x) - 1) for x < 0"),
};
// clang-format on

const tv_layer_ops tv_layer_relu = {"relu",        same_shape_build,  relu_forward,
                                    relu_backward, elementwise_flops, NULL};
const tv_layer_ops tv_layer_leaky_relu = {
    "leaky_relu",        same_shape_build,  leaky_relu_forward,
    leaky_relu_backward, elementwise_flops, .config = TV_CFG_LAYER_KEYS(leaky_relu_keys)};
const tv_layer_ops tv_layer_elu = {
    "elu",        same_shape_build,  elu_forward,
    elu_backward, elementwise_flops, .config = TV_CFG_LAYER_KEYS(elu_keys)};
const tv_layer_ops tv_layer_gelu = {"gelu",        same_shape_build,  gelu_forward,
                                    gelu_backward, elementwise_flops, NULL};
const tv_layer_ops tv_layer_sigmoid = {"sigmoid",        same_shape_build,  sigmoid_forward,
                                       sigmoid_backward, elementwise_flops, NULL};
const tv_layer_ops tv_layer_tanh = {"tanh",        same_shape_build,  tanh_forward,
                                    tanh_backward, elementwise_flops, NULL};
const tv_layer_ops tv_layer_softmax = {"softmax",        softmax_build, softmax_forward,
                                       softmax_backward, softmax_flops, NULL};
