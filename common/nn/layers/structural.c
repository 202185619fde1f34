/* structural.c — layers that move or combine activations without weights: flatten (a view of
 * its input, no copy, no backward) and add (a sum of inputs of one shape, the residual join). */
#include "nn/layers/layer.h"

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
    return tv_layer_error(l, "add takes 2 to %d inputs (inputs: [a, b]), got %d", TV_MAX_INPUTS,
                          l->n_inputs);
  for (int k = 1; k < l->n_inputs; k++) {
    if (!tv_shape_equal(l->in[k], l->in[0])) {
      char a[64], b[64];
      return tv_layer_error(l, "add needs inputs of one shape: '%s' gives %s, '%s' gives %s",
                            l->cfg->inputs[0], tv_shape_str(l->in[0], a, sizeof a),
                            l->cfg->inputs[k], tv_shape_str(l->in[k], b, sizeof b));
    }
  }
  l->out = l->in[0];
  return TV_OK;
}

static void add_forward(tv_layer *l, int n, const float *const *x, float *y) {
  for (int k = 0; k < l->n_inputs; k++)
    tv_layer_ew(l, (ew_job){.op = EW_ADD, .total = count(l, n), .out = y, .a = x[k], .acc = k > 0});
}

/* dx_i (+)= dy */
static void add_backward(tv_layer *l, int n, const float *const *x, const float *y, const float *dy,
                         float *const *dx, const int *acc) {
  (void)x, (void)y;
  for (int k = 0; k < l->n_inputs; k++)
    if (dx[k])
      tv_layer_ew(
          l, (ew_job){.op = EW_ADD, .total = count(l, n), .out = dx[k], .a = dy, .acc = acc[k]});
}

static double add_flops(const tv_layer *l) {
  return (double)(l->n_inputs - 1) * (double)tv_shape_count(l->out);
}

const tv_layer_ops tv_layer_flatten = {"flatten",        flatten_build, nothing_forward,
                                       nothing_backward, zero_flops,    NULL};
/* add takes 2 to TV_MAX_INPUTS inputs and no keys of its own. */
const tv_layer_ops tv_layer_add = {
    "add",        add_build, add_forward,
    add_backward, add_flops, .config = &(const layer_kind_desc){NULL, 0, 2, TV_MAX_INPUTS, 0}};
