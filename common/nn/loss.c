/* loss.c — the loss table and the math of each loss (see loss.h).  Losses run in the caller's
 * thread: they touch n * k floats once, a small share of a step. */
#include "trainval/loss.h"

#include <math.h>
#include <string.h>

float tv_softmax_xent(const float *logits, const int32_t *y, int n, int k, float *dlogits) {
  double total = 0;
  float inv_n = 1.0f / (float)n;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * k;
    float mx = z[0];
    for (int j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
    double s = 0;
    for (int j = 0; j < k; j++) s += exp((double)z[j] - (double)mx);
    double lse = (double)mx + log(s);
    total += lse - (double)z[y[i]];
    if (dlogits) {
      float *d = dlogits + (size_t)i * k;
      for (int j = 0; j < k; j++) d[j] = (float)exp((double)z[j] - lse) * inv_n;
      d[y[i]] -= inv_n;
    }
  }
  return (float)(total / n);
}

float tv_softmax_xent_smooth(const float *logits, const int32_t *y, int n, int k, float s,
                             float *dlogits) {
  if (s == 0.0f) return tv_softmax_xent(logits, y, n, k, dlogits);
  double total = 0;
  float inv_n = 1.0f / (float)n;
  double off = (double)s / k, on = 1.0 - (double)s + off;
  for (int i = 0; i < n; i++) {
    const float *z = logits + (size_t)i * k;
    float mx = z[0];
    for (int j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
    double sum = 0, zsum = 0;
    for (int j = 0; j < k; j++) {
      sum += exp((double)z[j] - (double)mx);
      zsum += (double)z[j];
    }
    double lse = (double)mx + log(sum);
    /* -sum_j q_j (z_j - lse) = lse - off * sum_j z_j - (on - off) z_y */
    total += lse - off * zsum - (on - off) * (double)z[y[i]];
    if (dlogits) {
      float *d = dlogits + (size_t)i * k;
      for (int j = 0; j < k; j++) d[j] = (float)((exp((double)z[j] - lse) - off) * inv_n);
      d[y[i]] = (float)((exp((double)z[y[i]] - lse) - on) * inv_n);
    }
  }
  return (float)(total / n);
}

/* softmax_xent: L = mean_i -sum_j q_ij log softmax(z_i)_j, q_i = (1 - s) onehot(y_i) + s / k;
 * dL/dz_i = (softmax(z_i) - q_i) / n */
static float softmax_xent_forward(const tv_loss_params *p, const float *outputs, tv_targets t,
                                  int n, int k, float *dy) {
  return tv_softmax_xent_smooth(outputs, t.classes, n, k, p->label_smoothing, dy);
}

float tv_mse(const float *z, const float *y, int n, int k, float *dz) {
  size_t m = (size_t)n * k;
  double total = 0, inv = 1.0 / (double)m;
  for (size_t i = 0; i < m; i++) {
    double d = (double)z[i] - (double)y[i];
    total += d * d;
    if (dz) dz[i] = (float)(2.0 * d * inv);
  }
  return (float)(total * inv);
}

float tv_mae(const float *z, const float *y, int n, int k, float *dz) {
  size_t m = (size_t)n * k;
  double total = 0, inv = 1.0 / (double)m;
  for (size_t i = 0; i < m; i++) {
    double d = (double)z[i] - (double)y[i];
    total += fabs(d);
    if (dz) dz[i] = (float)((d > 0 ? 1.0 : d < 0 ? -1.0 : 0.0) * inv);
  }
  return (float)(total * inv);
}

float tv_huber(const float *z, const float *y, int n, int k, float delta, float *dz) {
  size_t m = (size_t)n * k;
  double total = 0, inv = 1.0 / (double)m, dl = delta;
  for (size_t i = 0; i < m; i++) {
    double d = (double)z[i] - (double)y[i], a = fabs(d);
    total += a < dl ? 0.5 * d * d : dl * (a - 0.5 * dl);
    if (dz) dz[i] = (float)((d > dl ? dl : d < -dl ? -dl : d) * inv);
  }
  return (float)(total * inv);
}

float tv_sigmoid_xent(const float *z, const float *y, int n, int k, float *dz) {
  size_t m = (size_t)n * k;
  double total = 0, inv = 1.0 / (double)m;
  for (size_t i = 0; i < m; i++) {
    double x = z[i], t = y[i];
    /* log(1 + exp(-|x|)) never overflows; the sigmoid is taken on the side that cannot. */
    total += (x > 0 ? x : 0) - x * t + log1p(exp(-fabs(x)));
    if (dz) {
      double s = x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
      dz[i] = (float)((s - t) * inv);
    }
  }
  return (float)(total * inv);
}

/* mse: L = mean (z - y)^2 */
static float mse_forward(const tv_loss_params *p, const float *outputs, tv_targets t, int n, int k,
                         float *dy) {
  (void)p;
  return tv_mse(outputs, t.values, n, k, dy);
}

/* mae: L = mean |z - y| */
static float mae_forward(const tv_loss_params *p, const float *outputs, tv_targets t, int n, int k,
                         float *dy) {
  (void)p;
  return tv_mae(outputs, t.values, n, k, dy);
}

/* huber: L = mean (|d| < delta ? d^2 / 2 : delta (|d| - delta / 2)), d = z - y */
static float huber_forward(const tv_loss_params *p, const float *outputs, tv_targets t, int n,
                           int k, float *dy) {
  float delta = p->huber_delta > 0 ? p->huber_delta : 1.0f;
  return tv_huber(outputs, t.values, n, k, delta, dy);
}

/* sigmoid_xent: L = mean -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)) */
static float sigmoid_xent_forward(const tv_loss_params *p, const float *outputs, tv_targets t,
                                  int n, int k, float *dy) {
  (void)p;
  return tv_sigmoid_xent(outputs, t.values, n, k, dy);
}

/* token_xent over (N, T, k) outputs passed as n = N*T rows of k, targets int32 [N, T], the
 * distribution over the first v = classes outputs (the vocabulary; all k when classes is 0):
 * L = mean over tokens of -log softmax(z_t[0:v])_{y_t}; dL/dz_t = (softmax - onehot(y_t)) / (N*T)
 * on [0, v), 0 beyond.  No label smoothing: a language model's bits per character are this loss
 * / ln 2. */
static float token_xent_forward(const tv_loss_params *p, const float *outputs, tv_targets t, int n,
                                int k, float *dy) {
  int v = p->classes > 0 && p->classes < k ? p->classes : k;
  if (v == k) return tv_softmax_xent(outputs, t.classes, n, k, dy);
  double total = 0;
  for (int i = 0; i < n; i++) {
    float *d = dy ? dy + (size_t)i * k : NULL;
    total += tv_softmax_xent(outputs + (size_t)i * k, t.classes + i, 1, v, d);
    if (d) {
      for (int j = 0; j < v; j++) d[j] /= (float)n;
      memset(d + v, 0, (size_t)(k - v) * sizeof *d);
    }
  }
  return (float)(total / n);
}

// clang-format off
static const tv_loss_ops loss_table[] = {
  [TV_LOSS_SOFTMAX_XENT] = {"softmax_cross_entropy", TV_TARGET_CLASS, softmax_xent_forward},
  [TV_LOSS_MSE] = {"mse", TV_TARGET_VECTOR, mse_forward},
  [TV_LOSS_MAE] = {"mae", TV_TARGET_VECTOR, mae_forward},
  [TV_LOSS_HUBER] = {"huber", TV_TARGET_VECTOR, huber_forward},
  [TV_LOSS_SIGMOID_XENT] = {"sigmoid_cross_entropy", TV_TARGET_VECTOR, sigmoid_xent_forward},
  [TV_LOSS_TOKEN_XENT] = {"token_cross_entropy", TV_TARGET_CLASS, token_xent_forward},
};
// clang-format on
_Static_assert(sizeof loss_table / sizeof loss_table[0] == TV_LOSS__COUNT,
               "one table row per loss kind");

const tv_loss_ops *tv_loss_ops_for(tv_loss_kind kind) { return &loss_table[kind]; }

tv_loss tv_loss_from_config(const tv_config *cfg) {
  if (tv_config_is_sequence(cfg)) return (tv_loss){.kind = TV_LOSS_TOKEN_XENT};
  static const tv_loss_kind chosen[TV_LOSS_CHOICE__COUNT] = {
      [TV_LOSS_CHOICE_SOFTMAX_XENT] = TV_LOSS_SOFTMAX_XENT,
      [TV_LOSS_CHOICE_MSE] = TV_LOSS_MSE,
      [TV_LOSS_CHOICE_MAE] = TV_LOSS_MAE,
      [TV_LOSS_CHOICE_HUBER] = TV_LOSS_HUBER,
      [TV_LOSS_CHOICE_SIGMOID_XENT] = TV_LOSS_SIGMOID_XENT};
  static const tv_loss_kind by_task[TV_TASK__COUNT] = {[TV_TASK_CLASSIFICATION] =
                                                           TV_LOSS_SOFTMAX_XENT,
                                                       [TV_TASK_REGRESSION] = TV_LOSS_MSE,
                                                       [TV_TASK_MULTILABEL] = TV_LOSS_SIGMOID_XENT};
  tv_loss_kind kind =
      cfg->train.loss == TV_LOSS_CHOICE_AUTO ? by_task[cfg->model.task] : chosen[cfg->train.loss];
  return (tv_loss){.kind = kind,
                   .params = {.label_smoothing = (float)cfg->train.label_smoothing,
                              .huber_delta = (float)cfg->train.huber_delta}};
}

int tv_loss_find(const char *name) {
  for (int i = 0; i < TV_LOSS__COUNT; i++)
    if (!strcmp(loss_table[i].name, name)) return i;
  return -1;
}

float tv_loss_forward(const tv_loss *loss, const float *outputs, tv_targets t, int n, int k,
                      float *dy) {
  return loss_table[loss->kind].forward(&loss->params, outputs, t, n, k, dy);
}
