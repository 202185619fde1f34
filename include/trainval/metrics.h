/* metrics.h — streaming metrics over batches of outputs for each task (classification,
 * regression, multilabel), and the metric table.
 *
 * Tasks.  A tv_metrics accumulates one task's metrics (tv_metrics_new_task): classification
 * (logits against class ids), regression (predictions against float targets: the regression
 * accumulator below), multilabel (logits against 0/1 indicators: the multilabel accumulator
 * below, threshold 0.5).  The metric table says which rows apply to which task
 * (tv_metric_applies); a row that does not apply is not reported (the programs skip it, or
 * write null where a fixed set of keys is printed).  Top-5 is reported only with more than five
 * classes (tv_metrics_reports).
 *
 * Classification loss is softmax cross-entropy computed from the logits (so an INFER graph
 * needs no loss layer), accumulated in double; for the other tasks the loss is the run's loss
 * (tv_loss, e.g. MSE or Huber), each batch's mean weighted by its rows.  Top-k counts an example
 * when fewer than k classes have a strictly larger logit than the true class.  The confusion matrix
 * is [true][predicted].
 *
 * The metric table: one row per metric a run can report, follow (early stopping, best.h5) or be
 * asked for by name (config train.early_stop_metric, eval --metric), with its name, its getter
 * from the summary and whether higher is better.  Every program lists, names, reads and compares
 * metrics through it, in table order (which is the order of metrics.jsonl and the event tags).
 *
 * Adding a metric (perplexity, R^2, ...):
 *   1. here: an enum constant in tv_metric_kind and a field in tv_metrics_summary;
 *   2. metrics.c: its computation in tv_metrics_get (or the update it needs), a getter, and one
 *      row of METRIC_ROWS (kind, name, getter, better direction, the tasks it applies to).
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
  TV_METRIC_MAE,
  TV_METRIC_RMSE,
  TV_METRIC_R2,
  TV_METRIC_MICRO_F1,
  TV_METRIC_MAP,
  TV_METRIC_BPC, /* classification: bits per token (per character of a byte model), loss / ln 2 */
  TV_METRIC_PERPLEXITY, /* classification: exp(loss) */
  TV_METRIC__COUNT
} tv_metric_kind;

/* model.task: what the outputs mean and which loss and metrics apply. */
typedef enum tv_task {
  TV_TASK_CLASSIFICATION, /* num_classes logits, one class id per example */
  TV_TASK_REGRESSION,     /* num_classes outputs = float targets per example */
  TV_TASK_MULTILABEL,     /* num_classes logits, one 0/1 indicator per label */
  TV_TASK__COUNT
} tv_task;
/* "classification", "regression", "multilabel", NULL-terminated (index = tv_task). */
extern const char *const tv_task_names[TV_TASK__COUNT + 1];

typedef struct tv_metrics tv_metrics;
typedef struct tv_loss tv_loss; /* loss.h */

/* Multilabel only: keep counts, not the rows (no mean average precision: map reads NaN), so
 * that tv_metrics_add never allocates (a training window). */
#define TV_METRICS_COUNTS_ONLY 1u

/* A task's metrics over k outputs per example (classes, targets or labels).  loss (copied; may
 * be NULL for classification, whose loss is always plain softmax cross-entropy) is the loss the
 * regression and multilabel rows report.  flags: 0 or TV_METRICS_COUNTS_ONLY.  *out NULL on
 * failure.  Errors: TV_ERR_INVALID (k < 1, task out of range, no loss for a task that needs
 * one), TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_metrics_new_task(tv_task task, int k, const tv_loss *loss, unsigned flags,
                                      tv_metrics **out);

/* Adds n examples of k outputs each: class ids (labels) for classification, n*k float targets
 * (targets) otherwise; the other pointer is ignored (may be NULL).  Errors: TV_ERR_NOMEM
 * (multilabel keeping its rows; then nothing of this call is added).  Never allocates for
 * classification, regression and TV_METRICS_COUNTS_ONLY. */
TV_MUST_CHECK int tv_metrics_add(tv_metrics *m, const float *outputs, const int32_t *labels,
                                 const float *targets, int n);

tv_task tv_metrics_task(const tv_metrics *m);
/* 1 if m's task reports kind (tv_metric_applies, and top5 only with more than 5 classes). */
int tv_metrics_reports(const tv_metrics *m, tv_metric_kind kind);

/* Classification: tv_metrics_new_task(TV_TASK_CLASSIFICATION, num_classes, NULL, 0, out).
 * *out NULL on failure. Errors: TV_ERR_NOMEM, TV_ERR_INVALID (num_classes < 1). */
TV_MUST_CHECK int tv_metrics_new(int num_classes, tv_metrics **out);
void tv_metrics_free(tv_metrics *m); /* NULL-safe */
void tv_metrics_reset(tv_metrics *m);

/* Classification: adds n examples: logits n * num_classes, labels in [0, num_classes).  Never
 * allocates.  (Other tasks: tv_metrics_add.)  The loss, argmax and top-5 are over the first v
 * outputs when the loss m was made with has params.classes = v in [1, num_classes) (a token
 * model's vocabulary, loss.h), else over all of them. */
void tv_metrics_update(tv_metrics *m, const float *logits, const int32_t *labels, int n);

/* The fields of the rows m's task reports are set; the others are 0.  macro_f1 is over classes
 * (classification) or labels (multilabel). */
typedef struct tv_metrics_summary {
  uint64_t n;
  double loss, accuracy, top5, macro_f1;
  double mae, rmse, r2;   /* regression */
  double micro_f1, map;   /* multilabel */
  double bpc, perplexity; /* classification, of the loss (a token model's rows: its tokens) */
} tv_metrics_summary;

void tv_metrics_get(const tv_metrics *m, tv_metrics_summary *s);

/* ---- one window over several processes (dist.h) ---------------------------------------------
 *
 * The additive form of what a tv_metrics accumulated: doubles that processes which each added
 * their own rows can sum (in a fixed order) and add to one window, which then reports what one
 * window over all the rows reports, up to float reassociation.  Layout (k = num_classes):
 *   [0] rows n, [1] loss sum (loss x rows), then
 *   classification: [2] correct, [3] top-5 hits                               (4 doubles)
 *   regression, per target j at 2 + 5j: sum of y_j, M2_j (about this part's mean), (sum y_j)^2 / n,
 *               sse_j, sae_j                                                    (2 + 5k)
 *   multilabel, per label j at 2 + 3j: tp_j, fp_j, fn_j                         (2 + 3k)
 * Summed over parts, regression's targets' spread over all the rows is sum M2 + sum (sum y)^2/n
 * - (sum y)^2 / n_all (the between-parts term), merged into the window by Chan's update.  Not
 * carried: the confusion matrix (a window filled this way reads macro_f1 0) and kept multilabel
 * rows (map).  Counts are exact up to 2^53. */

/* The number of doubles of m's additive form.  Cannot fail. */
int tv_metrics_shared_size(const tv_metrics *m);

/* Writes the additive form of everything m accumulated since its reset to v (shared_size
 * doubles).  Cannot fail. */
void tv_metrics_shared_get(const tv_metrics *m, double *v);

/* Adds a (summed) additive form v of m's shape to m, as though its rows had been added with
 * tv_metrics_add (except for what it does not carry, above).  Never allocates; cannot fail. */
void tv_metrics_shared_add(tv_metrics *m, const double *v);

/* ---- the metric table ------------------------------------------------------------------------ */

typedef struct tv_metric_desc {
  const char *name; /* as configs, flags, metrics.jsonl and event tags spell it */
  double (*get)(const tv_metrics_summary *s);
  int maximize;   /* 1: higher is better (accuracy); 0: lower is better (loss) */
  unsigned tasks; /* the tasks it applies to: bit 1u << tv_task */
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
/* 1 if the row applies to task (its tasks bit).  Cannot fail. */
int tv_metric_applies(tv_metric_kind kind, tv_task task);
/* The metric a task is judged by when none is named: accuracy (classification), r2
 * (regression), micro_f1 (multilabel).  Cannot fail. */
tv_metric_kind tv_task_headline(tv_task task);
/* "a, b or c": the names of the rows that apply to task, as tv_metric_list. */
const char *tv_metric_list_task(tv_task task, char *buf, size_t cap);
/* The names in table order, NULL-terminated (index = kind): for key tables of names. */
extern const char *const tv_metric_names[TV_METRIC__COUNT + 1];
/* "a, b, c or d": the names for a message; buf receives at most cap bytes (cut if short). */
const char *tv_metric_list(char *buf, size_t cap);
int tv_metrics_num_classes(const tv_metrics *m);
/* Counts [true * num_classes + predicted] (classification; NULL for the other tasks). */
const uint64_t *tv_metrics_confusion(const tv_metrics *m);
/* Multilabel: precision, recall, F1 and support (positives) of label j < num_classes (all 0 for
 * the other tasks).  Cannot fail. */
void tv_metrics_label(const tv_metrics *m, int j, double *precision, double *recall, double *f1,
                      uint64_t *support);
/* Per-class precision, recall, F1 of class c (0 where undefined: no predictions / no examples;
 * all 0 for a task other than classification). */
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
 * A regression tv_metrics reports mae, rmse and r2 as metric-table rows. */
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
 * AP needs every score: the rows are kept (k floats and k bytes each, and a sort scratch of one
 * row per example), so update can fail and get never allocates.  A target is positive when it
 * is > 0.5. */
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
/* Positives seen of label j < num_labels.  Cannot fail. */
uint64_t tv_multilabel_support(const tv_multilabel_metrics *m, int j);
/* Per-label precision, recall, F1 of label j < num_labels.  Cannot fail. */
void tv_multilabel_metrics_label(const tv_multilabel_metrics *m, int j, double *precision,
                                 double *recall, double *f1);
/* The summary of the rows added since the last reset (all 0 with none).  Returns TV_OK: the
 * sort's scratch grows in update (the code stays for callers written when get allocated). */
TV_MUST_CHECK int tv_multilabel_metrics_get(const tv_multilabel_metrics *m,
                                            tv_multilabel_summary *s);

#endif
