/* recurrent.c — the sequence kernels of recurrent.h: LSTM and GRU over (N, T, D) with a carried
 * initial state, and the embedding lookup.  Per step, the input and recurrent products are two
 * gemms over all n examples (x_t and y_t are strided views of the batch-first arrays, leading
 * dimension T*D and T*H); the gate nonlinearities are a plain loop.  The input side of every
 * step (x W_ih^T, and in backward dW_ih, db_ih and dx) is one gemm over all N*T rows; only the
 * recurrent side goes step by step.  keep layouts (row r = e * T + t, batch-first like y):
 *   lstm  the activated gates i, f, g, o (N, T, 4H), then the cells c (N, T, H)
 *   gru   the activated r, z, n (N, T, 3H), then the recurrent products h W_hh^T + b_hh
 *         (N, T, 3H) (its n part is what the reset gate multiplied)
 * temp: lstm dh, dc (N, H) and the gate gradients of all steps (N, T, 4H); gru dh (N, H), the
 * recurrent-side gradient of one step (N, 3H) and the input-side ones of all steps (N, T, 3H).
 */
#include "nn/layers/recurrent.h"

#include <math.h>
#include <string.h>

#include "nn/packgemm.h"
#include "trainval/ops.h"

/* The clamps in vexp are comparisons, which GCC will not turn into vector selects while FP
 * exceptions count as side effects: -fno-trapping-math for this file lets the row loops
 * vectorise.  Values are unchanged (it concerns the exception flags only, which nothing here
 * reads); this is not -ffast-math. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* The gate nonlinearities, written so that a loop over a row vectorises (libm's expf and tanhf
 * are scalar calls, a third of a forward's time).  vexp: e^x by x = n ln2 + r, |r| <= ln2 / 2
 * (Cody-Waite), e^r by Cephes's degree-6 polynomial (within 2 ulp), 2^n from the exponent bits;
 * x clamped to [-87.3, 88.3] (e^x stays a normal float).  sigm(a) = 1 / (1 + e^-a),
 * vtanh(a) = 1 - 2 / (1 + e^2a): within about 1e-7 of the exact value (absolute). */
static inline float vexp(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  float t = x * 1.44269504f + 12582912.0f; /* round to nearest: 1.5 * 2^23 */
  float fn = t - 12582912.0f;
  float r = x - fn * 0.693359375f - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t)fn + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
static inline float sigm(float a) { return 1.0f / (1.0f + vexp(-a)); }
static inline float vtanh(float a) { return 1.0f - 2.0f / (1.0f + vexp(2.0f * a)); }

/* (always_inline, here and on gru_cell: since the generation step's cells call them too, GCC
 * stopped inlining them into lstm_row / gru_row, a call per unit that does not vectorise: a
 * validation pass on the portable path took 9.6 s of CPU against 6.6 s inlined.)
 * lstm's cell at j of a row of h: a holds the gate pre-activations i, f, g, o (activated in
 * place), cpj the previous cell; writes the cell ce[j] and the output ye[j]. */
static inline __attribute__((always_inline)) void
lstm_cell(int h, int j, float *restrict a, float cpj, float *restrict ce, float *restrict ye) {
  float i = sigm(a[j]), f = sigm(a[h + j]), g = vtanh(a[2 * h + j]), o = sigm(a[3 * h + j]);
  a[j] = i, a[h + j] = f, a[2 * h + j] = g, a[3 * h + j] = o;
  float c = f * cpj + i * g;
  ce[j] = c;
  ye[j] = o * vtanh(c);
}

/* lstm_cell over a row (cp NULL: a zero previous cell); two loops so that each vectorises. */
static TV_VECTOR void lstm_row(int h, float *restrict a, const float *restrict cp,
                               float *restrict ce, float *restrict ye) {
  if (cp)
    for (int j = 0; j < h; j++) lstm_cell(h, j, a, cp[j], ce, ye);
  else
    for (int j = 0; j < h; j++) lstm_cell(h, j, a, 0.0f, ce, ye);
}

/* lstm's gate gradients at j of a row: a the activated gates, ce the cell, cpj the previous
 * cell, dye the output's gradient; dhe and dce carry dh and dc (dc becomes the previous
 * cell's); writes the pre-activation gradients dge. */
static inline void lstm_grad(int h, int j, const float *restrict a, const float *restrict ce,
                             float cpj, const float *restrict dye, float *restrict dge,
                             const float *restrict dhe, float *restrict dce) {
  float i = a[j], f = a[h + j], gg = a[2 * h + j], o = a[3 * h + j];
  float tc = vtanh(ce[j]);
  float dhj = dhe[j] + dye[j];
  float dcj = dce[j] + dhj * o * (1.0f - tc * tc);
  dge[j] = dcj * gg * i * (1.0f - i);
  dge[h + j] = dcj * cpj * f * (1.0f - f);
  dge[2 * h + j] = dcj * i * (1.0f - gg * gg);
  dge[3 * h + j] = dhj * tc * o * (1.0f - o);
  dce[j] = dcj * f;
}

/* lstm_grad over a row (cp NULL: a zero previous cell); two loops so that each vectorises. */
static TV_VECTOR void lstm_grad_row(int h, const float *restrict a, const float *restrict ce,
                                    const float *restrict cp, const float *restrict dye,
                                    float *restrict dge, const float *restrict dhe,
                                    float *restrict dce) {
  if (cp)
    for (int j = 0; j < h; j++) lstm_grad(h, j, a, ce, cp[j], dye, dge, dhe, dce);
  else
    for (int j = 0; j < h; j++) lstm_grad(h, j, a, ce, 0.0f, dye, dge, dhe, dce);
}

/* gru's cell at j: a the input-side pre-activations r, z, n (activated in place), b the
 * recurrent ones (h W_hh^T + b_hh), hpj the previous h; writes ye[j]. */
static inline __attribute__((always_inline)) void
gru_cell(int h, int j, float *restrict a, const float *restrict b, float hpj, float *restrict ye) {
  float rr = sigm(a[j] + b[j]), z = sigm(a[h + j] + b[h + j]);
  float nn = vtanh(a[2 * h + j] + rr * b[2 * h + j]);
  a[j] = rr, a[h + j] = z, a[2 * h + j] = nn;
  ye[j] = (1.0f - z) * nn + z * hpj;
}

/* gru_cell over a row (hp NULL: a zero previous h). */
static TV_VECTOR void gru_row(int h, float *restrict a, const float *restrict b,
                              const float *restrict hp, float *restrict ye) {
  if (hp)
    for (int j = 0; j < h; j++) gru_cell(h, j, a, b, hp[j], ye);
  else
    for (int j = 0; j < h; j++) gru_cell(h, j, a, b, 0.0f, ye);
}

/* The generation step's cells (recurrent.h): lstm_cell / gru_cell over units [0, n) of a block
 * whose gate rows lie `stride` apart; an AVX-512 clone besides TV_VECTOR's (16 units a pass). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define STEP_VECTOR __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define STEP_VECTOR
#endif
STEP_VECTOR void tv_lstm_step_cells(int stride, int n, float *restrict a, float *restrict c,
                                    float *restrict y) {
  for (int j = 0; j < n; j++) lstm_cell(stride, j, a, c[j], c, y);
}

STEP_VECTOR void tv_gru_step_cells(int stride, int n, float *restrict a, const float *restrict b,
                                   const float *restrict hp, float *restrict y) {
  for (int j = 0; j < n; j++) gru_cell(stride, j, a, b, hp[j], y);
}

/* dst[i, :] = a + b for n rows of width d */
static void rows_set2(float *dst, const float *a, const float *b, int n, int d) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) dst[(size_t)i * d + j] = a[j] + b[j];
}

/* dst = src (n floats), or zeros where src is NULL (no gradient arrives at the last state). */
static void copy_or_zero(float *dst, const float *src, size_t n) {
  if (src)
    memcpy(dst, src, n * sizeof *dst);
  else
    memset(dst, 0, n * sizeof *dst);
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
size_t tv_lstm_temp_floats(tv_rnn_dims s) {
  return (size_t)s.n * 2 * s.h + (size_t)s.n * s.t * 4 * s.h;
}
size_t tv_gru_keep_floats(tv_rnn_dims s) { return (size_t)s.t * s.n * 6 * s.h; }
size_t tv_gru_temp_floats(tv_rnn_dims s) {
  return (size_t)s.n * 4 * s.h + (size_t)s.n * s.t * 3 * s.h;
}

/* ---- lstm: x (N, T, D) -> y (N, T, H); c' = f c + i g, h' = o tanh(c') ---- */

void tv_lstm_forward(tv_rnn_dims s, const tv_rnn_weights *w, const float *x, const float *h0,
                     const float *c0, float *y, float *h_last, float *c_last, float *keep) {
  const int n = s.n, d = s.d, h = s.h, g4 = 4 * s.h, T = s.t;
  float *gates = keep, *cell = keep + (size_t)n * T * g4;
  /* the input side of every step in one product: G = x W_ih^T + b_ih + b_hh over N*T rows */
  rows_set2(gates, w->b_ih, w->b_hh, n * T, g4);
  tv_gemm(0, 1, n * T, g4, d, 1.0f, x, d, w->w_ih, d, 1.0f, gates, g4);
  for (int t = 0; t < T; t++) {
    int ldh;
    const float *hp = h_prev(s, h0, y, t, &ldh);
    if (hp)
      tv_gemm(0, 1, n, g4, h, 1.0f, hp, ldh, w->w_hh, h, 1.0f, gates + (size_t)t * g4, T * g4);
    for (int e = 0; e < n; e++) {
      size_t r = (size_t)e * T + t;
      float *a = gates + r * g4, *ce = cell + r * h, *ye = y + r * h;
      const float *cp = t ? ce - h : (c0 ? c0 + (size_t)e * h : NULL);
      lstm_row(h, a, cp, ce, ye);
    }
  }
  for (int e = 0; e < n; e++) {
    size_t r = (size_t)e * T + T - 1;
    if (h_last) memcpy(h_last + (size_t)e * h, y + r * h, (size_t)h * sizeof *y);
    if (c_last) memcpy(c_last + (size_t)e * h, cell + r * h, (size_t)h * sizeof *y);
  }
}

/* tv_lstm_forward on the packed kernel (packgemm.h): per step one call over all n rows, the
 * input and recurrent products, the gates and the cell fused; the gates kept only with
 * keep_gates (what backward reads), the cells always (the next step's input). */
void tv_lstm_forward_packed(tv_rnn_dims s, const float *packed, const float *x, const float *h0,
                            const float *c0, float *y, float *h_last, float *c_last, float *keep,
                            int keep_gates) {
  const int n = s.n, d = s.d, h = s.h, g4 = 4 * s.h, T = s.t;
  float *gates = keep, *cell = keep + (size_t)n * T * g4;
  for (int t = 0; t < T; t++) {
    int ldh;
    const float *hp = h_prev(s, h0, y, t, &ldh);
    tv_pg_lstm_io io = {
        .x = x + (size_t)t * d,
        .ldx = (size_t)T * d,
        .h = hp,
        .ldh = (size_t)ldh,
        .c = t ? cell + (size_t)(t - 1) * h : c0,
        .ldc = t ? (size_t)T * h : (size_t)h,
        .gates = keep_gates ? gates + (size_t)t * g4 : NULL,
        .ldg = (size_t)T * g4,
        .cell = cell + (size_t)t * h,
        .ldcell = (size_t)T * h,
        .y = y + (size_t)t * h,
        .ldy = (size_t)T * h,
    };
    tv_pg_lstm_step(h, d, packed, n, &io);
  }
  for (int e = 0; e < n; e++) {
    size_t r = (size_t)e * T + T - 1;
    if (h_last) memcpy(h_last + (size_t)e * h, y + r * h, (size_t)h * sizeof *y);
    if (c_last) memcpy(c_last + (size_t)e * h, cell + r * h, (size_t)h * sizeof *y);
  }
}

/* dG = d loss / d (gate pre-activations), all steps kept in temp; per step dh_{t-1} = dG_t W_hh
 * (on the packed kernel with whh_packed, tv_pg_pack's of W_hh), dc_{t-1} = dc f; then
 * over all N*T rows at once dW_ih += dG^T x, db += sum dG, dx (+)= dG W_ih, and dW_hh +=
 * sum_t dG_t^T h_{t-1} in two products (K = 16 per step would read and write all of dW_hh T
 * times): every example's step 0 against h0, then all rows r >= 1 against y's rows r - 1, with
 * dG's step-0 rows zeroed first (there y's row r - 1 is another example's last step). */
static void lstm_backward(tv_rnn_dims s, const tv_rnn_weights *w, const tv_rnn_weights *g,
                          const float *x, const float *h0, const float *c0, const float *y,
                          const float *keep, const float *dy, const float *dh_last,
                          const float *dc_last, float *dx, int acc, float *dh0, float *dc0,
                          float *temp, const float *whh_packed) {
  const int n = s.n, d = s.d, h = s.h, g4 = 4 * s.h, T = s.t;
  const size_t nh = (size_t)n * h;
  const float *gates = keep, *cell = keep + (size_t)n * T * g4;
  float *dh = temp, *dc = temp + nh, *dg = temp + 2 * nh;
  copy_or_zero(dh, dh_last, nh);
  copy_or_zero(dc, dc_last, nh);
  for (int t = T - 1; t >= 0; t--) {
    for (int e = 0; e < n; e++) {
      size_t r = (size_t)e * T + t;
      const float *ce = cell + r * h;
      lstm_grad_row(h, gates + r * g4, ce, t ? ce - h : (c0 ? c0 + (size_t)e * h : NULL),
                    dy + r * h, dg + r * g4, dh + (size_t)e * h, dc + (size_t)e * h);
    }
    const float *dgt = dg + (size_t)t * g4;
    if (whh_packed)
      tv_pg_gemm(n, h, g4, dgt, (size_t)T * g4, whh_packed, dh, h, 0);
    else
      tv_gemm(0, 0, n, h, g4, 1.0f, dgt, T * g4, w->w_hh, h, 0.0f, dh, h);
  }
  tv_gemm(1, 0, g4, d, n * T, 1.0f, dg, g4, x, d, 1.0f, g->w_ih, d);
  tv_sum_over_rows(g->b_ih, dg, n * T, g4, 1);
  tv_sum_over_rows(g->b_hh, dg, n * T, g4, 1);
  if (dx) tv_gemm(0, 0, n * T, d, g4, 1.0f, dg, g4, w->w_ih, d, acc ? 1.0f : 0.0f, dx, d);
  if (h0) tv_gemm(1, 0, g4, h, n, 1.0f, dg, T * g4, h0, h, 1.0f, g->w_hh, h);
  if (T > 1) { /* rows r >= 1 against y's row r - 1, the step-0 rows (done above) zeroed */
    for (int e = 1; e < n; e++) memset(dg + (size_t)e * T * g4, 0, (size_t)g4 * sizeof *dg);
    tv_gemm(1, 0, g4, h, n * T - 1, 1.0f, dg + g4, g4, y, h, 1.0f, g->w_hh, h);
  }
  if (dh0) memcpy(dh0, dh, nh * sizeof *dh);
  if (dc0) memcpy(dc0, dc, nh * sizeof *dc);
}

void tv_lstm_backward(tv_rnn_dims s, const tv_rnn_weights *w, const tv_rnn_weights *g,
                      const float *x, const float *h0, const float *c0, const float *y,
                      const float *keep, const float *dy, const float *dh_last,
                      const float *dc_last, float *dx, int acc, float *dh0, float *dc0,
                      float *temp) {
  lstm_backward(s, w, g, x, h0, c0, y, keep, dy, dh_last, dc_last, dx, acc, dh0, dc0, temp, NULL);
}

void tv_lstm_backward_packed(tv_rnn_dims s, const tv_rnn_weights *w, const tv_rnn_weights *g,
                             const float *x, const float *h0, const float *c0, const float *y,
                             const float *keep, const float *dy, const float *dh_last,
                             const float *dc_last, float *dx, int acc, float *dh0, float *dc0,
                             float *temp, const float *whh_packed) {
  lstm_backward(s, w, g, x, h0, c0, y, keep, dy, dh_last, dc_last, dx, acc, dh0, dc0, temp,
                whh_packed);
}

/* ---- gru: x (N, T, D) -> y (N, T, H); h' = (1 - z) n + z h ---- */

void tv_gru_forward(tv_rnn_dims s, const tv_rnn_weights *w, const float *x, const float *h0,
                    float *y, float *h_last, float *keep) {
  const int n = s.n, d = s.d, h = s.h, g3 = 3 * s.h, T = s.t;
  float *ai = keep, *ah = keep + (size_t)n * T * g3;
  tv_rows_set(ai, w->b_ih, n * T, g3);
  tv_gemm(0, 1, n * T, g3, d, 1.0f, x, d, w->w_ih, d, 1.0f, ai, g3);
  for (int t = 0; t < T; t++) {
    int ldh;
    const float *hp = h_prev(s, h0, y, t, &ldh);
    for (int e = 0; e < n; e++)
      memcpy(ah + ((size_t)e * T + t) * g3, w->b_hh, (size_t)g3 * sizeof *ah);
    if (hp) tv_gemm(0, 1, n, g3, h, 1.0f, hp, ldh, w->w_hh, h, 1.0f, ah + (size_t)t * g3, T * g3);
    for (int e = 0; e < n; e++) {
      size_t r = (size_t)e * T + t;
      float *a = ai + r * g3, *ye = y + r * h;
      gru_row(h, a, ah + r * g3, hp ? hp + (size_t)e * ldh : NULL, ye);
    }
  }
  if (h_last)
    for (int e = 0; e < n; e++)
      memcpy(h_last + (size_t)e * h, y + ((size_t)e * T + T - 1) * h, (size_t)h * sizeof *y);
}

/* dGi = [dr', dz', dn'], dGh = [dr', dz', dn' r] (primes: pre-activation gradients); per step
 * dW_hh += dGh^T h_{t-1}, db_hh += sum dGh, dh_{t-1} = dh z + dGh W_hh; then over all N*T rows
 * dW_ih += dGi^T x, db_ih += sum dGi, dx (+)= dGi W_ih */
void tv_gru_backward(tv_rnn_dims s, const tv_rnn_weights *w, const tv_rnn_weights *g,
                     const float *x, const float *h0, const float *y, const float *keep,
                     const float *dy, const float *dh_last, float *dx, int acc, float *dh0,
                     float *temp) {
  const int n = s.n, d = s.d, h = s.h, g3 = 3 * s.h, T = s.t;
  const size_t nh = (size_t)n * h;
  const float *ai = keep, *ah = keep + (size_t)n * T * g3;
  float *dh = temp, *dgh = temp + nh, *dgi = dgh + (size_t)n * g3;
  copy_or_zero(dh, dh_last, nh);
  for (int t = T - 1; t >= 0; t--) {
    int ldh;
    const float *hp = h_prev(s, h0, y, t, &ldh);
    for (int e = 0; e < n; e++) {
      size_t r = (size_t)e * T + t;
      const float *a = ai + r * g3, *b = ah + r * g3, *dye = dy + r * h;
      float *dhe = dh + (size_t)e * h, *di = dgi + r * g3, *dr = dgh + (size_t)e * g3;
      for (int j = 0; j < h; j++) {
        float rr = a[j], z = a[h + j], nn = a[2 * h + j];
        float hpj = hp ? hp[(size_t)e * ldh + j] : 0.0f;
        float dhj = dhe[j] + dye[j];
        float dan = dhj * (1.0f - z) * (1.0f - nn * nn);
        float dar = dan * b[2 * h + j] * rr * (1.0f - rr);
        float daz = dhj * (hpj - nn) * z * (1.0f - z);
        di[j] = dr[j] = dar;
        di[h + j] = dr[h + j] = daz;
        di[2 * h + j] = dan;
        dr[2 * h + j] = dan * rr;
        dhe[j] = dhj * z;
      }
    }
    if (hp) tv_gemm(1, 0, g3, h, n, 1.0f, dgh, g3, hp, ldh, 1.0f, g->w_hh, h);
    tv_sum_over_rows(g->b_hh, dgh, n, g3, 1);
    tv_gemm(0, 0, n, h, g3, 1.0f, dgh, g3, w->w_hh, h, 1.0f, dh, h);
  }
  tv_gemm(1, 0, g3, d, n * T, 1.0f, dgi, g3, x, d, 1.0f, g->w_ih, d);
  tv_sum_over_rows(g->b_ih, dgi, n * T, g3, 1);
  if (dx) tv_gemm(0, 0, n * T, d, g3, 1.0f, dgi, g3, w->w_ih, d, acc ? 1.0f : 0.0f, dx, d);
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
