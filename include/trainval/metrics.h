/* metrics.h — streaming classification metrics over batches of logits.
 *
 * Loss is softmax cross-entropy computed from the logits (so an INFER graph needs no loss
 * layer), accumulated in double.  Top-k counts an example when fewer than k classes have a
 * strictly larger logit than the true class.  The confusion matrix is [true][predicted].
 */
#ifndef TRAINVAL_METRICS_H
#define TRAINVAL_METRICS_H

#include <stdint.h>

#include "trainval/error.h"

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
} tv_metrics_summary;

void tv_metrics_get(const tv_metrics *m, tv_metrics_summary *s);
int tv_metrics_num_classes(const tv_metrics *m);
/* Counts [true * num_classes + predicted]. */
const uint64_t *tv_metrics_confusion(const tv_metrics *m);
/* Per-class precision, recall, F1 of class c (0 where undefined: no predictions / no examples). */
void tv_metrics_class(const tv_metrics *m, int c, double *precision, double *recall, double *f1);

#endif
