/* loss.h — loss heads: the graph's outputs and the targets in, the mean loss and d(mean loss) /
 * d(outputs) out.  A loss is not a layer of the graph: the trainer calls the loss on what
 * tv_model_forward returned, then tv_model_backward from the gradient it wrote.
 *
 * Adding a loss (sigmoid cross-entropy, MSE, Huber, per-token cross-entropy, ...):
 *   1. here: an enum constant in tv_loss_kind (and a field in tv_loss_params if it has a
 *      setting, e.g. Huber's delta);
 *   2. loss.c: its forward function (math in one line above it) and one row of loss_table
 *      naming it, its target kind and that function.
 * The table's _Static_assert refuses a constant without a row.  Which loss a run uses is chosen
 * in one place, tv_loss_from_config.
 *
 * Shapes: outputs and dy are n rows of k floats.  A per-example loss has one row per example;
 * a per-token loss over (N, T, V) outputs passes n = N*T rows of k = V, one class id per token,
 * and gets the mean over tokens.  Targets are int32 class ids (one per row, in [0, k)) or float
 * vectors (k per row), as the row's `target` says; a caller sets that member of tv_targets.
 * Every forward is numerically stable (softmax losses subtract the row maximum; never the log
 * of a probability), accumulates the loss in double and returns it as float; the gradient is
 * that of the mean (each row's share divided by n).  Never allocates; cannot fail.
 */
#ifndef TRAINVAL_LOSS_H
#define TRAINVAL_LOSS_H

#include <stdint.h>

#include "trainval/config.h"

typedef enum tv_loss_kind {
  TV_LOSS_SOFTMAX_XENT, /* softmax cross-entropy with label smoothing; class targets */
  TV_LOSS_MSE,          /* mean squared error; float targets (regression) */
  TV_LOSS_MAE,          /* mean absolute error; float targets (regression) */
  TV_LOSS_HUBER,        /* Huber (smooth L1 scaled by delta); float targets (regression) */
  TV_LOSS_SIGMOID_XENT, /* per-output sigmoid cross-entropy; 0/1 targets (multilabel) */
  TV_LOSS_TOKEN_XENT,   /* per-token cross-entropy: (N, T, V) outputs as N*T rows, targets
                         * int32 [N, T], the mean over tokens; no smoothing (nats per token) */
  TV_LOSS__COUNT
} tv_loss_kind;

typedef enum tv_target_kind {
  TV_TARGET_CLASS,  /* targets.classes: n int32 class ids in [0, k) */
  TV_TARGET_VECTOR, /* targets.values: n * k floats */
} tv_target_kind;

/* Borrowed for the call; the member the loss's target kind names must be set. */
typedef struct tv_targets {
  const int32_t *classes;
  const float *values;
} tv_targets;

/* Settings; each loss reads the ones it has. */
typedef struct tv_loss_params {
  float label_smoothing; /* softmax_xent: targets (1 - s) onehot + s / k, s in [0, 1) */
  float huber_delta;     /* huber: > 0; 0 (a zeroed params) means 1, PyTorch's default */
  int classes; /* token_xent: the distribution is the softmax over the first `classes` of the k
                * outputs (a token model's vocabulary, V <= k; the others get no gradient);
                * 0 or >= k: over all k */
} tv_loss_params;

typedef struct tv_loss_ops {
  const char *name;
  tv_target_kind target;
  /* Mean loss over n rows of k outputs; if dy != NULL writes d(mean loss)/d(outputs) there
   * (n * k floats, may not alias outputs). */
  float (*forward)(const tv_loss_params *p, const float *outputs, tv_targets t, int n, int k,
                   float *dy);
} tv_loss_ops;

/* A loss with its settings, as a run uses it. */
typedef struct tv_loss {
  tv_loss_kind kind;
  tv_loss_params params;
} tv_loss;

/* The table row for a kind (never NULL for kind < TV_LOSS__COUNT). */
const tv_loss_ops *tv_loss_ops_for(tv_loss_kind kind);
/* The kind whose row is named name ("mse", "huber", ...), or -1.  Cannot fail. */
int tv_loss_find(const char *name);

/* The loss a config trains with: per-token cross-entropy for a token model (config.h,
 * tv_config_is_sequence); otherwise train.loss, or with auto the task's (softmax cross-entropy,
 * mse, sigmoid cross-entropy), with train.label_smoothing and train.huber_delta.  Cannot fail
 * (the config was validated: the loss fits the task). */
tv_loss tv_loss_from_config(const tv_config *cfg);

/* tv_loss_ops_for(loss->kind)->forward with loss's settings. */
float tv_loss_forward(const tv_loss *loss, const float *outputs, tv_targets t, int n, int k,
                      float *dy);

/* ---- the kernels behind the rows (also for tests and metrics) -------------------------------- */

/* Softmax cross-entropy over n rows of k logits with integer labels y in [0, k).
 * Returns the mean loss; if dlogits != NULL writes d(mean loss)/d(logits) = (softmax - onehot)/n.
 */
float tv_softmax_xent(const float *logits, const int32_t *y, int n, int k, float *dlogits);

/* Softmax cross-entropy against smoothed targets q = (1 - s) onehot(y) + s / k (PyTorch's
 * label_smoothing=s; s = 0 is tv_softmax_xent).  Returns mean_i -sum_j q_ij log p_ij; if dlogits
 * != NULL writes (p - q) / n.  s in [0, 1). */
float tv_softmax_xent_smooth(const float *logits, const int32_t *y, int n, int k, float s,
                             float *dlogits);

/* The float-target kernels.  Each is PyTorch's reduction='mean': the mean over all n * k
 * elements (so dy = d(mean)/d(z) carries 1 / (n k)), d = z - y:
 *   mse:   mean d^2                                           dz = 2 d / (n k)
 *   mae:   mean |d|                                           dz = sign(d) / (n k), 0 at d = 0
 *   huber: mean (|d| < delta ? d^2 / 2 : delta (|d| - delta / 2))
 *                                                             dz = clamp(d, -delta, delta) / (n k)
 *   sigmoid_xent: mean max(z, 0) - z y + log(1 + exp(-|z|))   dz = (sigmoid(z) - y) / (n k)
 * (binary_cross_entropy_with_logits; y in [0, 1], usually 0/1 indicators).  dy may be NULL. */
float tv_mse(const float *z, const float *y, int n, int k, float *dz);
float tv_mae(const float *z, const float *y, int n, int k, float *dz);
float tv_huber(const float *z, const float *y, int n, int k, float delta, float *dz);
float tv_sigmoid_xent(const float *z, const float *y, int n, int k, float *dz);

#endif
