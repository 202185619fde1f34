/* recurrent.c — the sequence kernels of recurrent.h: LSTM and GRU over (N, T, D) with a carried
 * initial state, and the embedding lookup.  Per step, the input and recurrent products are two
 * gemms over all n examples (x_t and y_t are strided views of the batch-first arrays, leading
 * dimension T*D and T*H); the gate nonlinearities are a plain loop.  keep layouts, per step t:
 *   lstm  [t * n * 5H]: the activated gates i, f, g, o (n, 4H), then the cell c_t (n, H)
 *   gru   [t * n * 6H]: the activated r, z, n (n, 3H), then the recurrent product
 *         h W_hh^T + b_hh (n, 3H) (its n part is what the reset gate multiplied)
 */
#include "nn/layers/recurrent.h"

#include <math.h>
#include <string.h>

#include "trainval/ops.h"

static float sigm(float a) { return 1.0f / (1.0f + expf(-a)); }

/* dst[i, :] = a + b for n rows of width d */
static void rows_set2(float *dst, const float *a, const float *b, int n, int d) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) dst[(size_t)i * d + j] = a[j] + b[j];
}

/* The previous hidden state for step t: h0 (or NULL, zeros) at t = 0, else y[:, t-1]. */
static const float *h_prev(tv_rnn_dims s, const float *h0, const float *y, int t, int *ld) {
  if (t == 0) {
    *ld = s.h;
    return h0;
  }
  *ld = s.t * s.h;
  return y + (size_t)(t - 1) * s.h;
}

size_t tv_lstm_keep_floats(tv_rnn_dims s) { return (size_t)s.t * s.n * 5 * s.h; }
size_t tv_lstm_temp_floats(tv_rnn_dims s) { return (size_t)s.n * 6 * s.h; }
size_t tv_gru_keep_floats(tv_rnn_dims s) { return (size_t)s.t * s.n * 6 * s.h; }
size_t tv_gru_temp_floats(tv_rnn_dims s) { return (size_t)s.n * 7 * s.h; }

/* ---- lstm: x (N, T, D) -> y (N, T, H); c' = f c + i g, h' = o tanh(c') ---- */

void tv_lstm_forward(tv_rnn_dims s, const tv_rnn_weights *w, const float *x, const float *h0,
                     const float *c0, float *y, float *h_last, float *c_last, float *keep) {
  const int n = s.n, d = s.d, h = s.h, g4 = 4 * s.h;
  for (int t = 0; t < s.t; t++) {
    float *gates = keep + (size_t)t * n * 5 * h, *c = gates + (size_t)n * g4;
    const float *c_old = t ? c - (size_t)n * 5 * h : c0;
    int ldh;
    const float *hp = h_prev(s, h0, y, t, &ldh);
    rows_set2(gates, w->b_ih, w->b_hh, n, g4);
    tv_gemm(0, 1, n, g4, d, 1.0f, x + (size_t)t * d, s.t * d, w->w_ih, d, 1.0f, gates, g4);
    if (hp) tv_gemm(0, 1, n, g4, h, 1.0f, hp, ldh, w->w_hh, h, 1.0f, gates, g4);
    for (int e = 0; e < n; e++) {
      float *a = gates + (size_t)e * g4, *ce = c + (size_t)e * h;
      float *ye = y + ((size_t)e * s.t + t) * h;
      for (int j = 0; j < h; j++) {
        float i = sigm(a[j]), f = sigm(a[h + j]), g = tanhf(a[2 * h + j]), o = sigm(a[3 * h + j]);
        float cp = c_old ? c_old[(size_t)e * h + j] : 0.0f;
        a[j] = i, a[h + j] = f, a[2 * h + j] = g, a[3 * h + j] = o;
        ce[j] = f * cp + i * g;
        ye[j] = o * tanhf(ce[j]);
      }
    }
  }
  const float *c_end = keep + (size_t)(s.t - 1) * n * 5 * h + (size_t)n * g4;
  for (int e = 0; e < n; e++) {
    if (h_last)
      memcpy(h_last + (size_t)e * h, y + ((size_t)e * s.t + s.t - 1) * h, (size_t)h * sizeof *y);
    if (c_last) memcpy(c_last + (size_t)e * h, c_end + (size_t)e * h, (size_t)h * sizeof *y);
  }
}

/* dG = d loss / d (gate pre-activations); dW_ih += dG^T x_t, dW_hh += dG^T h_{t-1},
 * db += sum dG, dx_t (+)= dG W_ih, dh_{t-1} = dG W_hh, dc_{t-1} = dc f */
void tv_lstm_backward(tv_rnn_dims s, const tv_rnn_weights *w, const tv_rnn_weights *g,
                      const float *x, const float *h0, const float *c0, const float *y,
                      const float *keep, const float *dy, const float *dh_last,
                      const float *dc_last, float *dx, int acc, float *dh0, float *dc0,
                      float *temp) {
  (void)h0;
  const int n = s.n, d = s.d, h = s.h, g4 = 4 * s.h;
  const size_t nh = (size_t)n * h;
  float *dh = temp, *dc = temp + nh, *dg = temp + 2 * nh;
  if (dh_last)
    memcpy(dh, dh_last, nh * sizeof *dh);
  else
    memset(dh, 0, nh * sizeof *dh);
  if (dc_last)
    memcpy(dc, dc_last, nh * sizeof *dc);
  else
    memset(dc, 0, nh * sizeof *dc);
  for (int t = s.t - 1; t >= 0; t--) {
    const float *gates = keep + (size_t)t * n * 5 * h, *c = gates + (size_t)n * g4;
    const float *c_old = t ? c - (size_t)n * 5 * h : c0;
    int ldh;
    const float *hp = h_prev(s, h0, y, t, &ldh);
    for (int e = 0; e < n; e++) {
      const float *a = gates + (size_t)e * g4, *dye = dy + ((size_t)e * s.t + t) * h;
      float *dge = dg + (size_t)e * g4, *dhe = dh + (size_t)e * h, *dce = dc + (size_t)e * h;
      for (int j = 0; j < h; j++) {
        float i = a[j], f = a[h + j], gg = a[2 * h + j], o = a[3 * h + j];
        float tc = tanhf(c[(size_t)e * h + j]), cp = c_old ? c_old[(size_t)e * h + j] : 0.0f;
        float dhj = dhe[j] + dye[j];
        float dcj = dce[j] + dhj * o * (1.0f - tc * tc);
        dge[j] = dcj * gg * i * (1.0f - i);
        dge[h + j] = dcj * cp * f * (1.0f - f);
        dge[2 * h + j] = dcj * i * (1.0f - gg * gg);
        dge[3 * h + j] = dhj * tc * o * (1.0f - o);
        dce[j] = dcj * f;
      }
    }
    tv_gemm(1, 0, g4, d, n, 1.0f, dg, g4, x + (size_t)t * d, s.t * d, 1.0f, g->w_ih, d);
    if (hp) tv_gemm(1, 0, g4, h, n, 1.0f, dg, g4, hp, ldh, 1.0f, g->w_hh, h);
    tv_sum_over_rows(g->b_ih, dg, n, g4, 1);
    tv_sum_over_rows(g->b_hh, dg, n, g4, 1);
    if (dx)
      tv_gemm(0, 0, n, d, g4, 1.0f, dg, g4, w->w_ih, d, acc ? 1.0f : 0.0f, dx + (size_t)t * d,
              s.t * d);
    tv_gemm(0, 0, n, h, g4, 1.0f, dg, g4, w->w_hh, h, 0.0f, dh, h);
  }
  if (dh0) memcpy(dh0, dh, nh * sizeof *dh);
  if (dc0) memcpy(dc0, dc, nh * sizeof *dc);
}

/* ---- gru: x (N, T, D) -> y (N, T, H); h' = (1 - z) n + z h ---- */

void tv_gru_forward(tv_rnn_dims s, const tv_rnn_weights *w, const float *x, const float *h0,
                    float *y, float *h_last, float *keep) {
  const int n = s.n, d = s.d, h = s.h, g3 = 3 * s.h;
  for (int t = 0; t < s.t; t++) {
    float *ai = keep + (size_t)t * n * 6 * h, *ah = ai + (size_t)n * g3;
    int ldh;
    const float *hp = h_prev(s, h0, y, t, &ldh);
    tv_rows_set(ai, w->b_ih, n, g3);
    tv_rows_set(ah, w->b_hh, n, g3);
    tv_gemm(0, 1, n, g3, d, 1.0f, x + (size_t)t * d, s.t * d, w->w_ih, d, 1.0f, ai, g3);
    if (hp) tv_gemm(0, 1, n, g3, h, 1.0f, hp, ldh, w->w_hh, h, 1.0f, ah, g3);
    for (int e = 0; e < n; e++) {
      float *a = ai + (size_t)e * g3, *b = ah + (size_t)e * g3;
      float *ye = y + ((size_t)e * s.t + t) * h;
      for (int j = 0; j < h; j++) {
        float r = sigm(a[j] + b[j]), z = sigm(a[h + j] + b[h + j]);
        float nn = tanhf(a[2 * h + j] + r * b[2 * h + j]);
        float hpj = hp ? hp[(size_t)e * ldh + j] : 0.0f;
        a[j] = r, a[h + j] = z, a[2 * h + j] = nn;
        ye[j] = (1.0f - z) * nn + z * hpj;
      }
    }
  }
  if (h_last)
    for (int e = 0; e < n; e++)
      memcpy(h_last + (size_t)e * h, y + ((size_t)e * s.t + s.t - 1) * h, (size_t)h * sizeof *y);
}

/* dGi = [dr', dz', dn'], dGh = [dr', dz', dn' r] (primes: pre-activation gradients);
 * dW_ih += dGi^T x_t, dW_hh += dGh^T h_{t-1}, dx_t (+)= dGi W_ih, dh_{t-1} = dh z + dGh W_hh */
void tv_gru_backward(tv_rnn_dims s, const tv_rnn_weights *w, const tv_rnn_weights *g,
                     const float *x, const float *h0, const float *y, const float *keep,
                     const float *dy, const float *dh_last, float *dx, int acc, float *dh0,
                     float *temp) {
  const int n = s.n, d = s.d, h = s.h, g3 = 3 * s.h;
  const size_t nh = (size_t)n * h;
  float *dh = temp, *dgi = temp + nh, *dgh = dgi + (size_t)n * g3;
  if (dh_last)
    memcpy(dh, dh_last, nh * sizeof *dh);
  else
    memset(dh, 0, nh * sizeof *dh);
  for (int t = s.t - 1; t >= 0; t--) {
    const float *ai = keep + (size_t)t * n * 6 * h, *ah = ai + (size_t)n * g3;
    int ldh;
    const float *hp = h_prev(s, h0, y, t, &ldh);
    for (int e = 0; e < n; e++) {
      const float *a = ai + (size_t)e * g3, *b = ah + (size_t)e * g3;
      const float *dye = dy + ((size_t)e * s.t + t) * h;
      float *dhe = dh + (size_t)e * h, *di = dgi + (size_t)e * g3, *dr = dgh + (size_t)e * g3;
      for (int j = 0; j < h; j++) {
        float r = a[j], z = a[h + j], nn = a[2 * h + j];
        float hpj = hp ? hp[(size_t)e * ldh + j] : 0.0f;
        float dhj = dhe[j] + dye[j];
        float dan = dhj * (1.0f - z) * (1.0f - nn * nn);
        float dar = dan * b[2 * h + j] * r * (1.0f - r);
        float daz = dhj * (hpj - nn) * z * (1.0f - z);
        di[j] = dr[j] = dar;
        di[h + j] = dr[h + j] = daz;
        di[2 * h + j] = dan;
        dr[2 * h + j] = dan * r;
        dhe[j] = dhj * z;
      }
    }
    tv_gemm(1, 0, g3, d, n, 1.0f, dgi, g3, x + (size_t)t * d, s.t * d, 1.0f, g->w_ih, d);
    if (hp) tv_gemm(1, 0, g3, h, n, 1.0f, dgh, g3, hp, ldh, 1.0f, g->w_hh, h);
    tv_sum_over_rows(g->b_ih, dgi, n, g3, 1);
    tv_sum_over_rows(g->b_hh, dgh, n, g3, 1);
    if (dx)
      tv_gemm(0, 0, n, d, g3, 1.0f, dgi, g3, w->w_ih, d, acc ? 1.0f : 0.0f, dx + (size_t)t * d,
              s.t * d);
    tv_gemm(0, 0, n, h, g3, 1.0f, dgh, g3, w->w_hh, h, 1.0f, dh, h);
  }
  if (dh0) memcpy(dh0, dh, nh * sizeof *dh);
}

/* ---- embedding: ids (count) -> y (count, D); y[k] = table[ids[k]] ---- */

int tv_embedding_ids_ok(const float *ids, size_t count, int v, size_t *bad) {
  for (size_t k = 0; k < count; k++)
    if (!(ids[k] >= 0.0f && ids[k] < (float)v && ids[k] == floorf(ids[k]))) {
      *bad = k;
      return 0;
    }
  return 1;
}

void tv_embedding_forward(const float *ids, size_t count, int d, const float *table, float *y) {
  for (size_t k = 0; k < count; k++)
    memcpy(y + k * d, table + (size_t)ids[k] * d, (size_t)d * sizeof *y);
}

/* dtable[ids[k]] += dy[k] */
void tv_embedding_backward(const float *ids, size_t count, int d, const float *dy, float *dtable) {
  for (size_t k = 0; k < count; k++) tv_add(dtable + (size_t)ids[k] * d, dy + k * d, (size_t)d, 1);
}
