/* loss.c — the loss table and the math of each loss (see loss.h).  Losses run in the caller's
 * thread: they touch n * k floats once, a small share of a step. */
#include "trainval/loss.h"

#include <math.h>

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

/* token_xent over (N, T, V) outputs passed as n = N*T rows of k = V, targets int32 [N, T]:
 * L = mean over tokens of -log softmax(z_t)_{y_t}; dL/dz_t = (softmax(z_t) - onehot(y_t)) / (N*T).
 * No label smoothing: a language model's bits per character are this loss / ln 2. */
static float token_xent_forward(const tv_loss_params *p, const float *outputs, tv_targets t, int n,
                                int k, float *dy) {
  (void)p;
  return tv_softmax_xent(outputs, t.classes, n, k, dy);
}

// clang-format off
static const tv_loss_ops loss_table[] = {
  [TV_LOSS_SOFTMAX_XENT] = {"softmax_cross_entropy", TV_TARGET_CLASS, softmax_xent_forward},
  [TV_LOSS_TOKEN_XENT] = {"token_cross_entropy", TV_TARGET_CLASS, token_xent_forward},
};
// clang-format on
_Static_assert(sizeof loss_table / sizeof loss_table[0] == TV_LOSS__COUNT,
               "one table row per loss kind");

const tv_loss_ops *tv_loss_ops_for(tv_loss_kind kind) { return &loss_table[kind]; }

tv_loss tv_loss_from_config(const tv_config *cfg) {
  return (tv_loss){.kind = TV_LOSS_SOFTMAX_XENT,
                   .params = {.label_smoothing = (float)cfg->train.label_smoothing}};
}

float tv_loss_forward(const tv_loss *loss, const float *outputs, tv_targets t, int n, int k,
                      float *dy) {
  return loss_table[loss->kind].forward(&loss->params, outputs, t, n, k, dy);
}
