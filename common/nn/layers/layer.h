/* layer.h — private to common/nn/layers/: what the layer files share (not installed, not part of
 * the public API).  Every file of a kind group includes this first; each defines the rows
 * (const tv_layer_ops tv_layer_<kind>) that table.c declares and points to.
 *
 * Shapes are per example; n is the batch size of the call.  The kernels (gemm, im2col, pooling,
 * activations) are in ops.c; the layer files own shapes, variables, scratch sizes, how the work
 * is split over the team, and the math that ties it together.
 * Parallel split (tv_pool_for, chunks claimed by any thread): element-wise layers by blocks of
 * EW_BLOCK floats; conv2d, pooling and softmax by example; the dense layer by fixed slices of
 * examples and output features; batch_norm by channel (or feature).  conv2d's weight gradient
 * is summed over the batch's chunks in chunk order by a second pass over fixed filter slices.
 * A gemm's bits depend on its shape, so every gemm is cut by the layer's shapes, never by the
 * range tv_pool_for hands out.
 * Scratch: `temp` is shared by all layers and valid within one call; a layer's share for thread
 * t starts at temp + t * (its per-thread size).
 */
#ifndef TRAINVAL_NN_LAYERS_LAYER_H
#define TRAINVAL_NN_LAYERS_LAYER_H

#include <stddef.h>

#include "config/schema.h" /* ROW_*: a kind's config keys live in its file */
#include "trainval/layers.h"
#include "trainval/ops.h"

/* The struct a layer kind's key rows point into (ROW_*(LC, ...)). */
typedef tv_layer_config LC;

/* See ops.c: the dynamic vectoriser cost model for the layer files' loops (GCC 12 at -O2). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

/* TV_ERR_CONFIG "source:line:col: layer NAME: <fmt>" (recorded as the thread's error). */
TV_PRINTF(2, 3) int tv_layer_error(const tv_layer *l, const char *fmt, ...);

/* Declares "<layer>/<var>" in the layer's store and appends it to l->vars.  Errors: those of
 * tv_varstore_declare. */
int tv_layer_declare(tv_layer *l, const char *var, tv_shape shape, int trainable, tv_init_kind init,
                     int fan_in, int fan_out);

/* Variable i of the layer (declaration order): its values and its gradient. */
static inline float *var_value(const tv_layer *l, int i) {
  return tv_varstore_var(l->store, l->vars[i])->value;
}
static inline float *var_grad(const tv_layer *l, int i) {
  return tv_varstore_var(l->store, l->vars[i])->grad;
}

/* Floats of n examples of the output; of one example of input 0. */
static inline size_t count(const tv_layer *l, int n) { return (size_t)n * tv_shape_count(l->out); }
static inline size_t in_count(const tv_layer *l) { return tv_shape_count(l->in[0]); }

/* ---- element-wise work over the team --------------------------------------------------------- */

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

/* Runs job j over the team, in blocks of EW_BLOCK floats. */
void tv_layer_ew(const tv_layer *l, ew_job j);

/* Row-wise work (softmax, global_avg_pool): x or y and dy in, out written or added (acc). */
typedef struct rows_job {
  const tv_layer *l;
  const float *x, *y, *dy;
  float *out;
  int acc;
} rows_job;

/* Sum of n floats with 16 independent partial sums (vectorisable without reassociation flags;
 * the order is fixed, so results are reproducible). */
float tv_layer_sum16(const float *x, size_t n);

#endif
