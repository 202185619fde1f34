/* model.h — a graph built from the config in a mode, over a variable store.
 *
 * tv_model_new(cfg, TV_MODE_TRAIN, ...) and tv_model_new(cfg, TV_MODE_INFER, ...) over the same
 * store give two graphs that share every variable: the first build declares the variables, later
 * builds look them up by name (and fail with TV_ERR_MISMATCH if a shape disagrees).  The graph
 * owns its activation arena, sized for max_batch examples at build time, so forward and backward
 * never allocate.  Layers form a DAG given by each layer's `inputs` (default: the previous layer);
 * the last layer's output are the logits (num_classes per example).
 *
 * Typical use:   tv_model_new(cfg, TRAIN) -> tv_varstore_seal -> tv_varstore_init (or load a
 * checkpoint) -> per step: tv_model_forward, tv_model_backward, optimizer step.
 */
#ifndef TRAINVAL_MODEL_H
#define TRAINVAL_MODEL_H

#include <stdint.h>

#include "trainval/config.h"
#include "trainval/error.h"
#include "trainval/layers.h"
#include "trainval/tensor.h"
#include "trainval/varstore.h"

typedef struct tv_model tv_model;

/* Builds the graph of cfg->model.  cfg is copied; store is borrowed and must outlive the model.
 * Errors: TV_ERR_CONFIG (a layer that does not fit its input, an unused layer, logits of the
 * wrong size: "file:line:col: layer NAME: problem"), TV_ERR_MISMATCH (the store holds a variable
 * of that name with another shape), TV_ERR_INVALID (sealed store lacks a variable),
 * TV_ERR_NOMEM.  *out is NULL on failure; variables declared before the failure stay declared. */
TV_MUST_CHECK int tv_model_new(const tv_config *cfg, tv_mode mode, int max_batch,
                               tv_varstore *store, tv_model **out);
void tv_model_free(tv_model *m); /* NULL-safe */

/* Runs the graph on n <= max_batch examples x (n * input size floats, borrowed until the next
 * call).  Returns the logits, n * num_classes floats owned by the model, valid until the next
 * forward.  The store must be sealed.  Cannot fail. */
const float *tv_model_forward(tv_model *m, const float *x, int n);

/* TRAIN mode, after tv_model_forward on the same n examples: softmax cross-entropy against
 * labels, back-propagated; every trainable variable's gradient is overwritten with
 * d(mean loss)/d(variable).  Returns the mean loss.  Cannot fail. */
float tv_model_backward(tv_model *m, const int32_t *labels, int n);

tv_mode tv_model_mode(const tv_model *m);
int tv_model_max_batch(const tv_model *m);
int tv_model_input_size(const tv_model *m); /* floats per example */
int tv_model_num_classes(const tv_model *m);

typedef struct tv_layer_info {
  const char *name;
  const char *kind;
  tv_shape out;         /* per example */
  size_t params;        /* trainable elements */
  size_t non_trainable; /* e.g. moving statistics */
  double flops;         /* forward, per example */
} tv_layer_info;

int tv_model_num_layers(const tv_model *m);
void tv_model_layer_info(const tv_model *m, int i, tv_layer_info *info);

#endif
