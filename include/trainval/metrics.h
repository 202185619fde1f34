/* metrics.h — streaming classification metrics over batches of logits, and the metric table.
 *
 * Loss is softmax cross-entropy computed from the logits (so an INFER graph needs no loss
 * layer), accumulated in double.  Top-k counts an example when fewer than k classes have a
 * strictly larger logit than the true class.  The confusion matrix is [true][predicted].
 *
 * The metric table: one row per metric a run can report, follow (early stopping, best.h5) or be
 * asked for by name (config train.early_stop_metric, eval --metric), with its name, its getter
 * from the summary and whether higher is better.  Every program lists, names, reads and compares
 * metrics through it, in table order (which is the order of metrics.jsonl and the event tags).
 *
 * Adding a metric (perplexity, R^2, ...):
 *   1. here: an enum constant in tv_metric_kind and a field in tv_metrics_summary;
 *   2. metrics.c: its computation in tv_metrics_get (or the update it needs), a getter, and one
 *      row of METRIC_ROWS (kind, name, getter, better direction).
 * The table's _Static_assert refuses a constant without a row; the config's key table, eval's
 * --metric, metrics.jsonl, the event scalars and early stopping pick the row up by themselves.
 */
#ifndef TRAINVAL_METRICS_H
#define TRAINVAL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"

typedef enum tv_metric_kind {
  TV_METRIC_LOSS,
  TV_METRIC_ACCURACY,
  TV_METRIC_TOP5,
  TV_METRIC_MACRO_F1,
  TV_METRIC_BPC,        /* bits per token (per character of a byte model): loss / ln 2 */
  TV_METRIC_PERPLEXITY, /* exp(loss) */
  TV_METRIC__COUNT
} tv_metric_kind;

typedef struct tv_metrics tv_metrics;

/* *out NULL on failure. Errors: TV_ERR_NOMEM, TV_ERR_INVALID (num_classes < 1). */
TV_MUST_CHECK int tv_metrics_new(int num_classes, tv_metrics **out);
void tv_metrics_free(tv_metrics *m); /* NULL-safe */
void tv_metrics_reset(tv_metrics *m);

/* Adds n examples: logits n * num_classes, labels in [0, num_classes).  Never allocates. */
void tv_metrics_update(tv_metrics *m, const float *logits, const int32_t *labels, int n);

typedef struct tv_metrics_summary {
  uint64_t n;
  double loss, accuracy, top5, macro_f1;
  double bpc, perplexity; /* of the loss: a token model's rows are its tokens */
} tv_metrics_summary;

void tv_metrics_get(const tv_metrics *m, tv_metrics_summary *s);

/* ---- the metric table ------------------------------------------------------------------------ */

typedef struct tv_metric_desc {
  const char *name; /* as configs, flags, metrics.jsonl and event tags spell it */
  double (*get)(const tv_metrics_summary *s);
  int maximize; /* 1: higher is better (accuracy); 0: lower is better (loss) */
} tv_metric_desc;

/* The row of a kind (never NULL for kind < TV_METRIC__COUNT). */
const tv_metric_desc *tv_metric_desc_for(tv_metric_kind kind);
/* The kind named name, or -1. */
int tv_metric_find(const char *name);
/* tv_metric_desc_for(kind)->get(s). */
double tv_metric_value(const tv_metrics_summary *s, tv_metric_kind kind);
/* 1 if v improves on best by more than min_delta in the metric's better direction (maximize:
 * v > best + d; else v < best - d). */
int tv_metric_better(int maximize, double v, double best, double min_delta);
/* The names in table order, NULL-terminated (index = kind): for key tables of names. */
extern const char *const tv_metric_names[TV_METRIC__COUNT + 1];
/* "a, b, c or d": the names for a message; buf receives at most cap bytes (cut if short). */
const char *tv_metric_list(char *buf, size_t cap);
int tv_metrics_num_classes(const tv_metrics *m);
/* Counts [true * num_classes + predicted]. */
const uint64_t *tv_metrics_confusion(const tv_metrics *m);
/* Per-class precision, recall, F1 of class c (0 where undefined: no predictions / no examples). */
void tv_metrics_class(const tv_metrics *m, int c, double *precision, double *recall, double *f1);

/* ---- regression (float targets) ------------------------------------------------------------ */

/* Streaming regression metrics over n rows of k predictions and k float targets, accumulated in
 * double per target (Welford's update for the targets' mean and spread, so R^2 keeps its digits
 * on targets far from 0).  The definitions are scikit-learn's with multioutput='uniform_average'
 * (each target's value, then their plain mean):
 *   mae  = mean_j mean_i |p_ij - y_ij|
 *   rmse = mean_j sqrt(mean_i (p_ij - y_ij)^2)       (root_mean_squared_error)
 *   r2   = mean_j 1 - SSE_j / SST_j                  (r2_score; a target with SST_j = 0 counts 1
 *                                                    if SSE_j = 0, else 0: force_finite)
 *   mse  = mean over all elements of (p - y)^2       (the MSE loss's value)
 * Not yet rows of the metric table: they join it with model.task, which chooses the rows a run
 * reports. */
typedef struct tv_regression_metrics tv_regression_metrics;

typedef struct tv_regression_summary {
  uint64_t n;
  double mse, mae, rmse, r2;
} tv_regression_summary;

/* *out NULL on failure.  Errors: TV_ERR_INVALID (num_targets < 1), TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_regression_metrics_new(int num_targets, tv_regression_metrics **out);
void tv_regression_metrics_free(tv_regression_metrics *m); /* NULL-safe */
void tv_regression_metrics_reset(tv_regression_metrics *m);
/* Adds n rows: pred and y are n * num_targets floats (borrowed).  Never allocates. */
void tv_regression_metrics_update(tv_regression_metrics *m, const float *pred, const float *y,
                                  int n);
/* The metrics of the rows added since the last reset (all 0 with none). */
void tv_regression_metrics_get(const tv_regression_metrics *m, tv_regression_summary *s);

/* ---- multilabel (0/1 indicator targets) ----------------------------------------------------- */

/* Metrics of n rows of k logits against k 0/1 indicators per row.  Label j is predicted present
 * when sigmoid(z_j) > threshold.  Definitions are scikit-learn's with zero_division=0:
 *   per label j: precision TP/(TP+FP), recall TP/(TP+FN), F1 2PR/(P+R) (0 where undefined)
 *   micro_f1 = 2 sum TP / (2 sum TP + sum FP + sum FN)    macro_f1 = mean_j F1_j
 *   map = mean over the labels with at least one positive of
 *         AP_j = sum_t (R_t - R_{t-1}) P_t                (average_precision_score: t runs over
 *         the distinct scores, highest first; tied scores form one step)
 * AP needs every score: the rows are kept (k floats and k bytes each), so update can fail.  A
 * target is positive when it is > 0.5. */
typedef struct tv_multilabel_metrics tv_multilabel_metrics;

typedef struct tv_multilabel_summary {
  uint64_t n;
  double micro_f1, macro_f1, map;
} tv_multilabel_summary;

/* *out NULL on failure.  Errors: TV_ERR_INVALID (num_labels < 1, threshold not in (0, 1)),
 * TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_multilabel_metrics_new(int num_labels, double threshold,
                                            tv_multilabel_metrics **out);
void tv_multilabel_metrics_free(tv_multilabel_metrics *m); /* NULL-safe */
void tv_multilabel_metrics_reset(tv_multilabel_metrics *m);
/* Adds n rows: logits and targets are n * num_labels floats (borrowed).  Errors: TV_ERR_NOMEM
 * (the kept rows cannot grow); then nothing of this call is added. */
TV_MUST_CHECK int tv_multilabel_metrics_update(tv_multilabel_metrics *m, const float *logits,
                                               const float *targets, int n);
/* Per-label precision, recall, F1 of label j < num_labels.  Cannot fail. */
void tv_multilabel_metrics_label(const tv_multilabel_metrics *m, int j, double *precision,
                                 double *recall, double *f1);
/* The summary of the rows added since the last reset (all 0 with none).  Errors: TV_ERR_NOMEM
 * (the sort's scratch); then *s is zeroed. */
TV_MUST_CHECK int tv_multilabel_metrics_get(const tv_multilabel_metrics *m,
                                            tv_multilabel_summary *s);

#endif
