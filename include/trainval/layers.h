/* layers.h — the layer table: one row per tv_layer_kind with build / forward / backward / flops.
 *
 * Adding a layer kind (say `lstm`) is two places:
 *   1. config.h: its X(LSTM, lstm) row in TV_LAYER_KINDS (the enum constant TV_LAYER_LSTM and
 *      the name after `type:`), its line in the format comment, and the fields its keys store
 *      in tv_layer_config;
 *   2. its layer file, a kind-group file of common/nn/layers/ (dense.c, conv.c, norm.c,
 *      activation.c, structural.c, sequence.c, or a new file: the Makefile takes every
 *      .c there): its key table (ROW_*(LC, ...) rows, common/config/schema.h), build (shapes,
 *      variables via tv_layer_declare, scratch), forward and backward side by side with a shape
 *      comment and the math in one line, flops, and its row
 *      `const tv_layer_ops tv_layer_lstm = {"lstm", ..., .config = TV_CFG_LAYER_KEYS(keys)}`,
 *      named tv_layer_<name> after the X row: table.c builds the table from config.h's
 *      TV_LAYER_KINDS and the config schema reads the keys through it, so neither needs an
 *      edit (the link fails until the row exists).
 * Backward adds into its variables' gradients (below); tests/test_model.c's gradient check
 * refuses a kind it has no case for, so add one there.
 *
 * A tv_layer is one node of a model graph.  The model owns the activation arena; a layer sees
 * its inputs' outputs and its own output as plain float arrays of n examples, each example
 * `tv_shape_count(out)` floats (NCHW or ND, batch dimension not part of the per-example shape).
 * Layers never allocate in forward or backward: what they need beyond their output is declared
 * by build as scratch (keep_floats, temp_floats) and handed to them by the model.  They split
 * their work over the thread team the model was given (the process's one team, ctx.h: by
 * example, channel or output feature in slices fixed by the shapes, so results do not depend
 * on which thread ran what nor on the team's size; conv2d's weight gradient is summed over the
 * batch's chunks in chunk order, by filter slice, never from per-thread partials; lstm and gru
 * cut the batch into one slice per thread of the team, so their weight gradients depend on the
 * team's size through the order their slices' partials are added in).
 *
 * Mode: a TRAIN layer keeps what its backward needs (dropout mask, batch-norm statistics,
 * max-pool argmax) in `keep`; batch_norm updates its moving statistics in forward; dropout draws
 * its mask from *rng.  An INFER layer keeps nothing for a backward (conv2d keeps its transformed
 * Winograd filters from one forward to the next, remade when the weights' bytes change), dropout
 * is the identity (it aliases its input) and batch_norm normalises with the moving statistics.
 *
 * Backward contract: given dy (d loss / d y) it ADDS d loss / d w to the gradient of each of its
 * trainable variables (never overwrites: a variable used at several places of a graph, an
 * unrolled recurrent step or accumulation over micro-batches all sum into one gradient; the
 * trainer zeroes the store's gradient slab once per step, tv_varstore_zero_grads) and, for each
 * input with dx[i] != NULL, adds (acc[i] != 0) or writes (acc[i] == 0) d loss / d x_i (the
 * model's activation gradients are its own scratch: written by the first consumer, added by
 * the rest).  It is called after forward on the same n examples, with x and y as forward left
 * them.
 *
 * Variables (names "<layer>/<var>", layouts as PyTorch):
 *   dense       kernel [out, in], bias [out]; a (T, D) input is time-distributed: (T, out)
 *   embedding   weight [vocab, dim] (nn.Embedding's weight)
 *   lstm        weight_ih [4H, D], weight_hh [4H, H], bias_ih [4H], bias_hh [4H]: the k-th lstm
 *               row of a config is nn.LSTM's layer k (weight_ih_l<k>, ...), gate rows i, f, g, o
 *   gru         weight_ih [3H, D], weight_hh [3H, H], bias_ih [3H], bias_hh [3H], gate rows
 *               r, z, n (nn.GRU's weight_ih_l<k>, ...)
 *   conv2d      kernel [filters, C, kh, kw], bias [filters]
 *   batch_norm  gamma [C], beta [C] (trainable); moving_mean [C], moving_variance [C] (not)
 */
#ifndef TRAINVAL_LAYERS_H
#define TRAINVAL_LAYERS_H

#include <stddef.h>

#include "trainval/config.h"
#include "trainval/error.h"
#include "trainval/ops.h"
#include "trainval/rng.h"
#include "trainval/tensor.h"
#include "trainval/varstore.h"

typedef enum tv_mode { TV_MODE_TRAIN, TV_MODE_INFER } tv_mode;

enum { TV_LAYER_MAX_VARS = 4 };

typedef struct tv_layer {
  const tv_layer_config *cfg;
  const char *source; /* config file name, for messages */
  tv_mode mode;
  int max_batch; /* set by the model before build */
  int n_inputs;
  int inputs[TV_MAX_INPUTS];  /* node indices; -1 is the model input */
  tv_shape in[TV_MAX_INPUTS]; /* per-example input shapes */
  tv_shape out;               /* per-example output shape */
  int n_vars;
  int vars[TV_LAYER_MAX_VARS]; /* variable indices in the store */
  tv_varstore *store;
  int aliases_input; /* output is the input's buffer (flatten; INFER dropout): no copy, no
                      * backward */
  /* Scratch, sized by build for max_batch examples and allocated by the model:
   *   keep: this layer's own, kept from forward to its backward;
   *   temp: shared by all layers, valid only within one forward or backward call. */
  size_t keep_floats, temp_floats;
  float *keep, *temp;
  /* Carried state (lstm, gru): state_floats (for max_batch examples, set by build) that one
   * forward leaves for the next, allocated and zeroed by the model, reset by
   * tv_model_reset_state and saved in checkpoints by the model (model.h). */
  size_t state_floats;
  float *state;
  tv_rng *rng;   /* the model's dropout generator: TRAIN dropout draws its mask from it */
  tv_pool *pool; /* the team the model was given (NULL: the caller's thread); set before build */
  int threads;   /* tv_pool_threads(pool): build sizes per-thread scratch for it */
  /* conv2d and the pools, set by build: output height and width, padding rows above and
   * columns left of the input */
  int oh, ow, ph, pw;
  int chunk; /* conv2d, set by build: examples per im2col gemm (1 unless the output is small) */
  int fused_relu; /* max_pool2d: the relu before it was folded in, y = max(maxpool(x), 0);
                   * dense: the relu after it, y = max(x W^T + b, 0), the gradient masked by
                   * y > 0 (set by the model before build; see model.h) */
} tv_layer;

typedef struct tv_layer_ops {
  const char *name;
  /* Sets l->out from l->in, declares variables and sizes scratch.  Errors: TV_ERR_CONFIG naming
   * the layer and its config position, TV_ERR_MISMATCH / TV_ERR_INVALID from the store. */
  int (*build)(tv_layer *l);
  /* x[i]: input i, n examples; y: n examples of l->out. */
  void (*forward)(tv_layer *l, int n, const float *const *x, float *y);
  void (*backward)(tv_layer *l, int n, const float *const *x, const float *y, const float *dy,
                   float *const *dx, const int *acc);
  /* Floating-point operations per example, forward: 2 per multiply-add (dense, conv2d), plus one
   * per bias add; one per element for activations, dropout (TRAIN), add (per extra input) and
   * pooling (per window element read); batch_norm 2 per element (scale and shift); softmax 3 per
   * element; flatten 0. */
  double (*flops)(const tv_layer *l);
  /* The kind's config keys and input count (common/config/schema.h's layer_kind_desc, private
   * to the library), defined beside the kind's code; NULL: no keys of its own, one input.  The
   * config schema reads every kind's keys from here. */
  const struct layer_kind_desc *config;
} tv_layer_ops;

/* The table row for a kind (never NULL for kind < TV_LAYER__COUNT). */
const tv_layer_ops *tv_layer_ops_for(tv_layer_kind kind);

#endif
