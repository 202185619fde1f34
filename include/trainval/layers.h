/* layers.h — the layer table: one row per tv_layer_kind with build / forward / backward / flops.
 *
 * A tv_layer is one node of a model graph.  The model owns the activation arena; a layer sees
 * its inputs' outputs and its own output as plain float arrays of n examples, each example
 * `tv_shape_count(out)` floats (NCHW or ND, batch dimension not part of the per-example shape).
 * Layers never allocate in forward or backward.
 *
 * Backward contract: given dy (d loss / d y) it writes the gradients of its own trainable
 * variables (overwriting: each variable belongs to one layer of one TRAIN graph) and, for each
 * input with dx[i] != NULL, adds (acc[i] != 0) or writes (acc[i] == 0) d loss / d x_i.
 */
#ifndef TRAINVAL_LAYERS_H
#define TRAINVAL_LAYERS_H

#include "trainval/config.h"
#include "trainval/error.h"
#include "trainval/tensor.h"
#include "trainval/varstore.h"

typedef enum tv_mode { TV_MODE_TRAIN, TV_MODE_INFER } tv_mode;

enum { TV_LAYER_MAX_VARS = 4 };

typedef struct tv_layer {
  const tv_layer_config *cfg;
  const char *source; /* config file name, for messages */
  tv_mode mode;
  int n_inputs;
  int inputs[TV_MAX_INPUTS];  /* node indices; -1 is the model input */
  tv_shape in[TV_MAX_INPUTS]; /* per-example input shapes */
  tv_shape out;               /* per-example output shape */
  int n_vars;
  int vars[TV_LAYER_MAX_VARS]; /* variable indices in the store */
  tv_varstore *store;
  int aliases_input; /* output is the input's buffer (flatten): no copy, no backward */
} tv_layer;

typedef struct tv_layer_ops {
  const char *name;
  /* Sets l->out from l->in, declares variables.  Errors: TV_ERR_CONFIG naming the layer and
   * its config position, TV_ERR_MISMATCH from the store. */
  int (*build)(tv_layer *l);
  /* x[i]: input i, n examples; y: n examples of l->out. */
  void (*forward)(tv_layer *l, int n, const float *const *x, float *y);
  void (*backward)(tv_layer *l, int n, const float *const *x, const float *y, const float *dy,
                   float *const *dx, const int *acc);
  /* Floating-point operations per example, forward: 2 per multiply-add, plus one per bias add
   * or element-wise operation. */
  double (*flops)(const tv_layer *l);
} tv_layer_ops;

/* The table row for a kind (never NULL for kind < TV_LAYER__COUNT). */
const tv_layer_ops *tv_layer_ops_for(tv_layer_kind kind);

#endif
