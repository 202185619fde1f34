/* metrics.c — streaming loss, accuracy, top-5, confusion matrix, the per-task accumulators
 * (regression, multilabel) and the metric table (see metrics.h).
 *
 * A tv_metrics is one task's: classification keeps its counts here; regression and multilabel
 * delegate to their accumulators (reg, ml) and add the run's loss. */
#include "trainval/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainval/loss.h"

const char *const tv_task_names[TV_TASK__COUNT + 1] = {[TV_TASK_CLASSIFICATION] = "classification",
                                                       [TV_TASK_REGRESSION] = "regression",
                                                       [TV_TASK_MULTILABEL] = "multilabel"};

struct tv_metrics {
  tv_task task;
  int k;
  uint64_t n, correct, top5;
  double loss_sum;
  uint64_t *confusion;        /* classification */
  tv_loss loss;               /* regression, multilabel */
  tv_regression_metrics *reg; /* regression */
  tv_multilabel_metrics *ml;  /* multilabel */
};

static int multilabel_new(int num_labels, double threshold, int keep, tv_multilabel_metrics **out);

int tv_metrics_new_task(tv_task task, int k, const tv_loss *loss, unsigned flags,
                        tv_metrics **out) {
  *out = NULL;
  if (k < 1) return tv_error(TV_ERR_INVALID, "metrics: num_classes must be >= 1");
  if ((unsigned)task >= TV_TASK__COUNT)
    return tv_error(TV_ERR_INVALID, "metrics: task %d out of range", (int)task);
  if (task != TV_TASK_CLASSIFICATION && !loss)
    return tv_error(TV_ERR_INVALID, "metrics: the %s task needs its loss", tv_task_names[task]);
  tv_metrics *m = calloc(1, sizeof *m);
  if (!m) return tv_error(TV_ERR_NOMEM, "metrics: out of memory");
  m->task = task;
  m->k = k;
  if (loss) m->loss = *loss;
  int rc = TV_OK;
  if (task == TV_TASK_CLASSIFICATION) {
    m->confusion = calloc((size_t)k * (size_t)k, sizeof *m->confusion);
    if (!m->confusion) rc = tv_error(TV_ERR_NOMEM, "metrics: out of memory");
  } else if (task == TV_TASK_REGRESSION) {
    rc = tv_regression_metrics_new(k, &m->reg);
  } else {
    rc = multilabel_new(k, 0.5, !(flags & TV_METRICS_COUNTS_ONLY), &m->ml);
  }
  if (rc != TV_OK) {
    tv_metrics_free(m);
    return rc;
  }
  *out = m;
  return TV_OK;
}

int tv_metrics_new(int num_classes, tv_metrics **out) {
  return tv_metrics_new_task(TV_TASK_CLASSIFICATION, num_classes, NULL, 0, out);
}

void tv_metrics_free(tv_metrics *m) {
  if (!m) return;
  free(m->confusion);
  tv_regression_metrics_free(m->reg);
  tv_multilabel_metrics_free(m->ml);
  free(m);
}

void tv_metrics_reset(tv_metrics *m) {
  m->n = m->correct = m->top5 = 0;
  m->loss_sum = 0;
  if (m->confusion) memset(m->confusion, 0, (size_t)m->k * (size_t)m->k * sizeof *m->confusion);
  if (m->reg) tv_regression_metrics_reset(m->reg);
  if (m->ml) tv_multilabel_metrics_reset(m->ml);
}

tv_task tv_metrics_task(const tv_metrics *m) { return m->task; }

int tv_metrics_add(tv_metrics *m, const float *outputs, const int32_t *labels, const float *targets,
                   int n) {
  if (m->task == TV_TASK_CLASSIFICATION) {
    tv_metrics_update(m, outputs, labels, n);
    return TV_OK;
  }
  if (n <= 0) return TV_OK;
  if (m->ml) {
    int rc = tv_multilabel_metrics_update(m->ml, outputs, targets, n);
    if (rc != TV_OK) return rc;
  } else {
    tv_regression_metrics_update(m->reg, outputs, targets, n);
  }
  float batch = tv_loss_forward(&m->loss, outputs, (tv_targets){.values = targets}, n, m->k, NULL);
  m->loss_sum += (double)batch * n;
  m->n += (uint64_t)n;
  return TV_OK;
}

void tv_metrics_update(tv_metrics *m, const float *logits, const int32_t *labels, int n) {
  int ld = m->k, v = m->loss.params.classes, k = v > 0 && v < ld ? v : ld;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * ld;
    int y = labels[i], arg = 0, above = 0;
    float mx = z[0];
    for (int j = 1; j < k; j++)
      if (z[j] > mx) mx = z[j], arg = j;
    double s = 0;
    for (int j = 0; j < k; j++) {
      s += exp((double)z[j] - (double)mx);
      above += z[j] > z[y];
    }
    m->loss_sum += (double)mx + log(s) - (double)z[y];
    m->correct += arg == y;
    m->top5 += above < 5;
    m->confusion[(size_t)y * ld + arg]++;
  }
  m->n += (uint64_t)n;
}

void tv_metrics_class(const tv_metrics *m, int c, double *precision, double *recall, double *f1) {
  if (!m->confusion) {
    *precision = *recall = *f1 = 0;
    return;
  }
  uint64_t tp = m->confusion[(size_t)c * m->k + c], pred = 0, actual = 0;
  for (int j = 0; j < m->k; j++) {
    pred += m->confusion[(size_t)j * m->k + c];
    actual += m->confusion[(size_t)c * m->k + j];
  }
  *precision = pred ? (double)tp / (double)pred : 0.0;
  *recall = actual ? (double)tp / (double)actual : 0.0;
  double d = *precision + *recall;
  *f1 = d > 0 ? 2.0 * *precision * *recall / d : 0.0;
}

void tv_metrics_get(const tv_metrics *m, tv_metrics_summary *s) {
  memset(s, 0, sizeof *s);
  s->n = m->n;
  double n = m->n ? (double)m->n : 1.0;
  s->loss = m->loss_sum / n;
  if (m->reg) {
    tv_regression_summary r;
    tv_regression_metrics_get(m->reg, &r);
    s->mae = r.mae, s->rmse = r.rmse, s->r2 = r.r2;
    return;
  }
  if (m->ml) {
    tv_multilabel_summary u;
    int rc = tv_multilabel_metrics_get(m->ml, &u); /* cannot fail: its scratch grows in update */
    (void)rc;
    s->micro_f1 = u.micro_f1, s->macro_f1 = u.macro_f1, s->map = u.map;
    return;
  }
  s->accuracy = (double)m->correct / n;
  s->top5 = (double)m->top5 / n;
  double f1_sum = 0;
  for (int c = 0; c < m->k; c++) {
    double p, r, f;
    tv_metrics_class(m, c, &p, &r, &f);
    f1_sum += f;
  }
  s->macro_f1 = f1_sum / m->k;
  s->bpc = s->loss / log(2.0);
  s->perplexity = exp(s->loss);
}

int tv_metrics_num_classes(const tv_metrics *m) { return m->k; }
const uint64_t *tv_metrics_confusion(const tv_metrics *m) { return m->confusion; }

void tv_metrics_label(const tv_metrics *m, int j, double *precision, double *recall, double *f1,
                      uint64_t *support) {
  *precision = *recall = *f1 = 0;
  *support = 0;
  if (!m->ml) return;
  tv_multilabel_metrics_label(m->ml, j, precision, recall, f1);
  *support = tv_multilabel_support(m->ml, j);
}

int tv_metrics_reports(const tv_metrics *m, tv_metric_kind kind) {
  if (!tv_metric_applies(kind, m->task)) return 0;
  return kind != TV_METRIC_TOP5 || m->k > 5;
}

/* ---- the metric table ------------------------------------------------------------------------ */

static double get_loss(const tv_metrics_summary *s) { return s->loss; }
static double get_accuracy(const tv_metrics_summary *s) { return s->accuracy; }
static double get_top5(const tv_metrics_summary *s) { return s->top5; }
static double get_macro_f1(const tv_metrics_summary *s) { return s->macro_f1; }
static double get_bpc(const tv_metrics_summary *s) { return s->bpc; }
static double get_perplexity(const tv_metrics_summary *s) { return s->perplexity; }

static double get_mae(const tv_metrics_summary *s) { return s->mae; }
static double get_rmse(const tv_metrics_summary *s) { return s->rmse; }
static double get_r2(const tv_metrics_summary *s) { return s->r2; }
static double get_micro_f1(const tv_metrics_summary *s) { return s->micro_f1; }
static double get_map(const tv_metrics_summary *s) { return s->map; }

#define T_CLS (1u << TV_TASK_CLASSIFICATION)
#define T_REG (1u << TV_TASK_REGRESSION)
#define T_ML  (1u << TV_TASK_MULTILABEL)

/* One row per metric: kind, name, getter, maximize, the tasks it applies to.  The rows fill the
 * table and the list of names (which key tables of names need as a constant array).  bpc and
 * perplexity are functions of the softmax cross-entropy loss, so they apply to classification;
 * a token model is a classification model (each position classifies the next token), so its
 * runs report them beside accuracy. */
// clang-format off
#define METRIC_ROWS(X)                                                        \
  X(TV_METRIC_LOSS, "loss", get_loss, 0, T_CLS | T_REG | T_ML)                \
  X(TV_METRIC_ACCURACY, "accuracy", get_accuracy, 1, T_CLS)                   \
  X(TV_METRIC_TOP5, "top5", get_top5, 1, T_CLS)                               \
  X(TV_METRIC_MACRO_F1, "macro_f1", get_macro_f1, 1, T_CLS | T_ML)            \
  X(TV_METRIC_MAE, "mae", get_mae, 0, T_REG)                                  \
  X(TV_METRIC_RMSE, "rmse", get_rmse, 0, T_REG)                               \
  X(TV_METRIC_R2, "r2", get_r2, 1, T_REG)                                     \
  X(TV_METRIC_MICRO_F1, "micro_f1", get_micro_f1, 1, T_ML)                    \
  X(TV_METRIC_MAP, "map", get_map, 1, T_ML)                                   \
  X(TV_METRIC_BPC, "bpc", get_bpc, 0, T_CLS)                                  \
  X(TV_METRIC_PERPLEXITY, "perplexity", get_perplexity, 0, T_CLS)
// clang-format on

#define DESC_ROW(kind, name, get, maximize, tasks) [kind] = {name, get, maximize, tasks},
#define NAME_ROW(kind, name, get, maximize, tasks) [kind] = name,
static const tv_metric_desc metric_table[] = {METRIC_ROWS(DESC_ROW)};
_Static_assert(sizeof metric_table / sizeof metric_table[0] == TV_METRIC__COUNT,
               "one table row per metric kind");
/* [TV_METRIC__COUNT], not named by a row, is NULL: the list's end. */
const char *const tv_metric_names[TV_METRIC__COUNT + 1] = {METRIC_ROWS(NAME_ROW)};
#undef DESC_ROW
#undef NAME_ROW

const tv_metric_desc *tv_metric_desc_for(tv_metric_kind kind) { return &metric_table[kind]; }

int tv_metric_find(const char *name) {
  for (int k = 0; k < TV_METRIC__COUNT; k++)
    if (strcmp(metric_table[k].name, name) == 0) return k;
  return -1;
}

double tv_metric_value(const tv_metrics_summary *s, tv_metric_kind kind) {
  return metric_table[kind].get(s);
}

int tv_metric_better(int maximize, double v, double best, double min_delta) {
  return maximize ? v > best + min_delta : v < best - min_delta;
}

int tv_metric_applies(tv_metric_kind kind, tv_task task) {
  return (metric_table[kind].tasks >> task) & 1u;
}

tv_metric_kind tv_task_headline(tv_task task) {
  static const tv_metric_kind headline[TV_TASK__COUNT] = {
      [TV_TASK_CLASSIFICATION] = TV_METRIC_ACCURACY,
      [TV_TASK_REGRESSION] = TV_METRIC_R2,
      [TV_TASK_MULTILABEL] = TV_METRIC_MICRO_F1};
  return headline[task];
}

/* The names of the rows whose tasks meet mask, "a, b or c". */
static const char *list_rows(unsigned mask, char *buf, size_t cap) {
  size_t used = 0;
  int total = 0, seen = 0;
  if (cap) buf[0] = '\0';
  for (int k = 0; k < TV_METRIC__COUNT; k++) total += (metric_table[k].tasks & mask) != 0;
  for (int k = 0; k < TV_METRIC__COUNT && used < cap; k++) {
    if (!(metric_table[k].tasks & mask)) continue;
    const char *sep = seen == 0 ? "" : seen == total - 1 ? " or " : ", ";
    seen++;
    int w = snprintf(buf + used, cap - used, "%s%s", sep, metric_table[k].name);
    if (w < 0) break;
    used += (size_t)w;
  }
  return buf;
}

const char *tv_metric_list(char *buf, size_t cap) { return list_rows(~0u, buf, cap); }

const char *tv_metric_list_task(tv_task task, char *buf, size_t cap) {
  return list_rows(1u << task, buf, cap);
}

/* ---- regression ------------------------------------------------------------------------------ */

/* Per target: Welford's running mean and M2 of the targets, and the error sums. */
typedef struct reg_acc {
  double mean, m2, sse, sae;
} reg_acc;

struct tv_regression_metrics {
  int k;
  uint64_t n;
  reg_acc *acc;
};

int tv_regression_metrics_new(int num_targets, tv_regression_metrics **out) {
  *out = NULL;
  if (num_targets < 1) return tv_error(TV_ERR_INVALID, "metrics: num_targets must be >= 1");
  tv_regression_metrics *m = calloc(1, sizeof *m);
  reg_acc *a = calloc((size_t)num_targets, sizeof *a);
  if (!m || !a) {
    free(m);
    free(a);
    return tv_error(TV_ERR_NOMEM, "metrics: out of memory");
  }
  m->k = num_targets;
  m->acc = a;
  *out = m;
  return TV_OK;
}

void tv_regression_metrics_free(tv_regression_metrics *m) {
  if (!m) return;
  free(m->acc);
  free(m);
}

void tv_regression_metrics_reset(tv_regression_metrics *m) {
  m->n = 0;
  memset(m->acc, 0, (size_t)m->k * sizeof *m->acc);
}

void tv_regression_metrics_update(tv_regression_metrics *m, const float *pred, const float *y,
                                  int n) {
  for (int i = 0; i < n; i++) {
    double cnt = (double)(m->n + (uint64_t)i + 1);
    for (int j = 0; j < m->k; j++) {
      reg_acc *a = &m->acc[j];
      double t = y[(size_t)i * m->k + j], d = (double)pred[(size_t)i * m->k + j] - t;
      double delta = t - a->mean;
      a->mean += delta / cnt;
      a->m2 += delta * (t - a->mean);
      a->sse += d * d;
      a->sae += fabs(d);
    }
  }
  m->n += (uint64_t)n;
}

void tv_regression_metrics_get(const tv_regression_metrics *m, tv_regression_summary *s) {
  memset(s, 0, sizeof *s);
  s->n = m->n;
  if (!m->n) return;
  double n = (double)m->n, sse = 0;
  for (int j = 0; j < m->k; j++) {
    const reg_acc *a = &m->acc[j];
    sse += a->sse;
    s->mae += a->sae / n;
    s->rmse += sqrt(a->sse / n);
    s->r2 += a->m2 > 0 ? 1.0 - a->sse / a->m2 : a->sse == 0 ? 1.0 : 0.0;
  }
  s->mse = sse / (n * m->k);
  s->mae /= m->k;
  s->rmse /= m->k;
  s->r2 /= m->k;
}

/* ---- multilabel ------------------------------------------------------------------------------ */

typedef struct scored {
  float score;
  uint8_t pos;
} scored;

struct tv_multilabel_metrics {
  int k;
  int keep;              /* rows are kept (for AP); 0: counts only */
  float logit_threshold; /* sigmoid(z) > threshold <=> z > log(threshold / (1 - threshold)) */
  uint64_t n, cap;       /* rows kept, rows room */
  uint64_t *tp, *fp, *fn;
  float *scores;    /* [n][k] logits */
  uint8_t *targets; /* [n][k] 0/1 */
  scored *row;      /* cap entries: get's sort scratch */
};

int tv_multilabel_metrics_new(int num_labels, double threshold, tv_multilabel_metrics **out) {
  return multilabel_new(num_labels, threshold, 1, out);
}

uint64_t tv_multilabel_support(const tv_multilabel_metrics *m, int j) {
  return m->tp[j] + m->fn[j];
}

static int multilabel_new(int num_labels, double threshold, int keep, tv_multilabel_metrics **out) {
  *out = NULL;
  if (num_labels < 1) return tv_error(TV_ERR_INVALID, "metrics: num_labels must be >= 1");
  if (!(threshold > 0 && threshold < 1))
    return tv_error(TV_ERR_INVALID, "metrics: threshold must be in (0, 1), got %g", threshold);
  tv_multilabel_metrics *m = calloc(1, sizeof *m);
  uint64_t *c = calloc(3 * (size_t)num_labels, sizeof *c);
  if (!m || !c) {
    free(m);
    free(c);
    return tv_error(TV_ERR_NOMEM, "metrics: out of memory");
  }
  m->k = num_labels;
  m->keep = keep;
  m->logit_threshold = (float)log(threshold / (1.0 - threshold));
  m->tp = c;
  m->fp = c + num_labels;
  m->fn = c + 2 * (size_t)num_labels;
  *out = m;
  return TV_OK;
}

void tv_multilabel_metrics_free(tv_multilabel_metrics *m) {
  if (!m) return;
  free(m->tp);
  free(m->scores);
  free(m->targets);
  free(m->row);
  free(m);
}

void tv_multilabel_metrics_reset(tv_multilabel_metrics *m) {
  m->n = 0;
  memset(m->tp, 0, 3 * (size_t)m->k * sizeof *m->tp);
}

int tv_multilabel_metrics_update(tv_multilabel_metrics *m, const float *logits,
                                 const float *targets, int n) {
  size_t k = (size_t)m->k;
  if (m->keep && m->n + (uint64_t)n > m->cap) {
    uint64_t cap = m->cap ? m->cap : 256;
    while (cap < m->n + (uint64_t)n) cap *= 2;
    float *sc = realloc(m->scores, cap * k * sizeof *sc);
    if (!sc)
      return tv_error(TV_ERR_NOMEM, "metrics: out of memory keeping %llu rows",
                      (unsigned long long)cap);
    m->scores = sc;
    uint8_t *tg = realloc(m->targets, cap * k);
    if (!tg)
      return tv_error(TV_ERR_NOMEM, "metrics: out of memory keeping %llu rows",
                      (unsigned long long)cap);
    m->targets = tg;
    scored *row = realloc(m->row, cap * sizeof *row);
    if (!row)
      return tv_error(TV_ERR_NOMEM, "metrics: out of memory keeping %llu rows",
                      (unsigned long long)cap);
    m->row = row;
    m->cap = cap;
  }
  for (size_t i = 0; i < (size_t)n * k; i++) {
    size_t j = i % k;
    int pos = targets[i] > 0.5f, pred = logits[i] > m->logit_threshold;
    m->tp[j] += pos && pred;
    m->fp[j] += !pos && pred;
    m->fn[j] += pos && !pred;
    if (!m->keep) continue;
    m->scores[m->n * k + i] = logits[i];
    m->targets[m->n * k + i] = (uint8_t)pos;
  }
  m->n += (uint64_t)n;
  return TV_OK;
}

static void prf(uint64_t tp, uint64_t fp, uint64_t fn, double *p, double *r, double *f) {
  *p = tp + fp ? (double)tp / (double)(tp + fp) : 0.0;
  *r = tp + fn ? (double)tp / (double)(tp + fn) : 0.0;
  *f = *p + *r > 0 ? 2.0 * *p * *r / (*p + *r) : 0.0;
}

void tv_multilabel_metrics_label(const tv_multilabel_metrics *m, int j, double *precision,
                                 double *recall, double *f1) {
  prf(m->tp[j], m->fp[j], m->fn[j], precision, recall, f1);
}

/* Highest first; a NaN score (a diverged model) ranks last, so the order stays total. */
static int by_score_desc(const void *a, const void *b) {
  float x = ((const scored *)a)->score, y = ((const scored *)b)->score;
  if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
  return (x < y) - (x > y);
}

int tv_multilabel_metrics_get(const tv_multilabel_metrics *m, tv_multilabel_summary *s) {
  memset(s, 0, sizeof *s);
  if (!m->n) return TV_OK;
  size_t k = (size_t)m->k, n = (size_t)m->n;
  scored *row = m->row;
  uint64_t tp = 0, fp = 0, fn = 0;
  double f1_sum = 0, ap_sum = 0;
  int with_pos = 0;
  for (size_t j = 0; j < k; j++) {
    double p, r, f;
    prf(m->tp[j], m->fp[j], m->fn[j], &p, &r, &f);
    f1_sum += f;
    tp += m->tp[j], fp += m->fp[j], fn += m->fn[j];
    if (!m->keep) continue;
    uint64_t npos = 0;
    for (size_t i = 0; i < n; i++) {
      row[i] = (scored){m->scores[i * k + j], m->targets[i * k + j]};
      npos += row[i].pos;
    }
    if (!npos) continue;
    qsort(row, n, sizeof *row, by_score_desc);
    uint64_t hit = 0, seen = 0;
    double ap = 0, prev_r = 0;
    for (size_t i = 0; i < n;) {
      size_t e = i; /* one step per distinct score */
      while (e < n &&
             (row[e].score == row[i].score || (isnan(row[e].score) && isnan(row[i].score))))
        hit += row[e++].pos;
      seen += e - i;
      double rec = (double)hit / (double)npos;
      ap += (rec - prev_r) * ((double)hit / (double)seen);
      prev_r = rec;
      i = e;
    }
    ap_sum += ap;
    with_pos++;
  }
  s->n = m->n;
  s->micro_f1 = 2 * tp + fp + fn ? 2.0 * (double)tp / (double)(2 * tp + fp + fn) : 0.0;
  s->macro_f1 = f1_sum / (double)k;
  s->map = !m->keep ? NAN : with_pos ? ap_sum / with_pos : 0.0;
  return TV_OK;
}

/* ---- one window over several processes (metrics.h) ----------------------------------------- */

enum { SHARED_HEAD = 2, SHARED_REG = 5, SHARED_ML = 3 };

int tv_metrics_shared_size(const tv_metrics *m) {
  if (m->reg) return SHARED_HEAD + SHARED_REG * m->k;
  if (m->ml) return SHARED_HEAD + SHARED_ML * m->k;
  return SHARED_HEAD + 2;
}

void tv_metrics_shared_get(const tv_metrics *m, double *v) {
  double n = (double)m->n;
  v[0] = n;
  v[1] = m->loss_sum;
  if (m->reg) {
    for (int j = 0; j < m->k; j++) {
      const reg_acc *a = &m->reg->acc[j];
      double *o = v + SHARED_HEAD + SHARED_REG * j;
      o[0] = a->mean * n;
      o[1] = a->m2;
      o[2] = a->mean * a->mean * n;
      o[3] = a->sse;
      o[4] = a->sae;
    }
  } else if (m->ml) {
    for (int j = 0; j < m->k; j++) {
      double *o = v + SHARED_HEAD + SHARED_ML * j;
      o[0] = (double)m->ml->tp[j];
      o[1] = (double)m->ml->fp[j];
      o[2] = (double)m->ml->fn[j];
    }
  } else {
    v[2] = (double)m->correct;
    v[3] = (double)m->top5;
  }
}

void tv_metrics_shared_add(tv_metrics *m, const double *v) {
  uint64_t nb = (uint64_t)v[0];
  if (nb == 0) return;
  double na = (double)m->n, n = na + v[0];
  m->loss_sum += v[1];
  if (m->reg) {
    for (int j = 0; j < m->k; j++) {
      reg_acc *a = &m->reg->acc[j];
      const double *o = v + SHARED_HEAD + SHARED_REG * j;
      double mean_b = o[0] / v[0], m2_b = o[1] + o[2] - o[0] * mean_b;
      double delta = mean_b - a->mean;
      a->mean += delta * v[0] / n;
      a->m2 += (m2_b > 0 ? m2_b : 0) + delta * delta * na * v[0] / n;
      a->sse += o[3];
      a->sae += o[4];
    }
    m->reg->n += nb;
  } else if (m->ml) {
    for (int j = 0; j < m->k; j++) {
      const double *o = v + SHARED_HEAD + SHARED_ML * j;
      m->ml->tp[j] += (uint64_t)o[0];
      m->ml->fp[j] += (uint64_t)o[1];
      m->ml->fn[j] += (uint64_t)o[2];
    }
    if (!m->ml->keep) m->ml->n += nb;
  } else {
    m->correct += (uint64_t)v[2];
    m->top5 += (uint64_t)v[3];
  }
  m->n += nb;
}
