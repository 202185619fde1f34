/* sequence.c — the token-model layers: embedding, lstm and gru over batch-first (N, T, D)
 * activations (per example (T, D)), on the kernels of recurrent.h.
 *
 * embedding reads the model input (T token ids per example, floats holding integers) and has no
 * input gradient.  lstm and gru carry their state (model.h, SEQUENCE MODELS): l->state holds the
 * last h (and c) of the previous forward for every example row; a forward copies it into keep as
 * its initial state (backward needs it) and leaves its own last state there.  Truncated
 * backpropagation: no gradient arrives at the last state and none leaves through the initial
 * one.  keep (per max_batch):
 *   lstm  the kernel's keep (tv_lstm_keep_floats), then h0 (N, H), c0 (N, H)
 *   gru   the kernel's keep (tv_gru_keep_floats), then h0 (N, H)
 * state: lstm h (N, H) then c (N, H); gru h (N, H).  temp: the kernel's backward temp.
 * Threads: the kernels run on the caller's thread (their products go through tv_gemm).
 */
#include "nn/layers/layer.h"

#include <math.h>
#include <string.h>

#include "nn/layers/recurrent.h"

/* ---- embedding: ids (N, T) -> y (N, T, dim); y[n, t] = weight[id[n, t]] ---- */

static int embedding_build(tv_layer *l) {
  if (l->inputs[0] != -1 || l->in[0].ndim != 1)
    return tv_layer_error(l, "embedding reads the model input, T token ids (`input: [T]`)");
  int v = l->cfg->vocab, d = l->cfg->dim;
  if (v < 1 || d < 1) return tv_layer_error(l, "embedding needs vocab >= 1 and dim >= 1");
  l->out = tv_shape2(l->in[0].dim[0], d);
  return tv_layer_declare(l, "weight", tv_shape2(v, d), 1, TV_INIT_NORMAL, v, d);
}

/* An id outside [0, vocab) (a caller that did not check) looks up zeros, never memory. */
static void embedding_forward(tv_layer *l, int n, const float *const *x, float *y) {
  size_t count = (size_t)n * (size_t)l->in[0].dim[0], bad;
  int d = l->cfg->dim;
  if (tv_embedding_ids_ok(x[0], count, l->cfg->vocab, &bad)) {
    tv_embedding_forward(x[0], count, d, var_value(l, 0), y);
    return;
  }
  for (size_t k = 0; k < count; k++) {
    if (tv_embedding_ids_ok(x[0] + k, 1, l->cfg->vocab, &bad))
      tv_embedding_forward(x[0] + k, 1, d, var_value(l, 0), y + k * d);
    else
      memset(y + k * d, 0, (size_t)d * sizeof *y);
  }
}

/* dW[id] += dy (ids outside the table contribute nothing) */
static void embedding_backward(tv_layer *l, int n, const float *const *x, const float *y,
                               const float *dy, float *const *dx, const int *acc) {
  (void)y, (void)dx, (void)acc;
  size_t count = (size_t)n * (size_t)l->in[0].dim[0], bad;
  int d = l->cfg->dim;
  for (size_t k = 0; k < count; k++)
    if (tv_embedding_ids_ok(x[0] + k, 1, l->cfg->vocab, &bad))
      tv_embedding_backward(x[0] + k, 1, d, dy + k * d, var_grad(l, 0));
}

static double embedding_flops(const tv_layer *l) {
  (void)l;
  return 0.0;
}

/* ---- lstm, gru: x (N, T, D) -> y (N, T, H) ---- */

/* gates: 4 (lstm) or 3 (gru) */
static int rnn_build(tv_layer *l, int gates) {
  if (l->in[0].ndim != 2) {
    char s[64];
    return tv_layer_error(l, "%s needs a (T, D) sequence input, got %s (put an embedding first)",
                          l->cfg->kind == TV_LAYER_LSTM ? "lstm" : "gru",
                          tv_shape_str(l->in[0], s, sizeof s));
  }
  int t = l->in[0].dim[0], d = l->in[0].dim[1], h = l->cfg->hidden;
  if (h < 1) return tv_layer_error(l, "hidden must be >= 1, got %d", h);
  l->out = tv_shape2(t, h);
  tv_rnn_dims s = {l->max_batch, t, d, h};
  size_t nh = (size_t)l->max_batch * h, states = gates == 4 ? 2 : 1;
  l->keep_floats = (gates == 4 ? tv_lstm_keep_floats(s) : tv_gru_keep_floats(s)) + states * nh;
  l->temp_floats = gates == 4 ? tv_lstm_temp_floats(s) : tv_gru_temp_floats(s);
  l->state_floats = states * nh;
  int rc = tv_layer_declare(l, "weight_ih", tv_shape2(gates * h, d), 1, TV_INIT_UNIFORM_FAN, h, d);
  if (rc == TV_OK)
    rc = tv_layer_declare(l, "weight_hh", tv_shape2(gates * h, h), 1, TV_INIT_UNIFORM_FAN, h, h);
  if (rc == TV_OK)
    rc = tv_layer_declare(l, "bias_ih", tv_shape1(gates * h), 1, TV_INIT_UNIFORM_FAN, h, h);
  if (rc == TV_OK)
    rc = tv_layer_declare(l, "bias_hh", tv_shape1(gates * h), 1, TV_INIT_UNIFORM_FAN, h, h);
  return rc;
}

static int lstm_build(tv_layer *l) { return rnn_build(l, 4); }
static int gru_build(tv_layer *l) { return rnn_build(l, 3); }

static tv_rnn_dims rnn_dims(const tv_layer *l, int n) {
  return (tv_rnn_dims){n, l->in[0].dim[0], l->in[0].dim[1], l->cfg->hidden};
}

static tv_rnn_weights rnn_values(const tv_layer *l) {
  return (tv_rnn_weights){var_value(l, 0), var_value(l, 1), var_value(l, 2), var_value(l, 3)};
}

static tv_rnn_weights rnn_grads(const tv_layer *l) {
  return (tv_rnn_weights){var_grad(l, 0), var_grad(l, 1), var_grad(l, 2), var_grad(l, 3)};
}

/* h0 (and c0) in keep, after the kernel's part */
static float *rnn_h0(const tv_layer *l) {
  tv_rnn_dims s = rnn_dims(l, l->max_batch);
  return l->keep + (l->cfg->kind == TV_LAYER_LSTM ? tv_lstm_keep_floats(s) : tv_gru_keep_floats(s));
}

/* c' = f c + i g, h' = o tanh(c'), from the carried (h, c) */
static void lstm_forward(tv_layer *l, int n, const float *const *x, float *y) {
  size_t nh = (size_t)n * l->cfg->hidden, mh = (size_t)l->max_batch * l->cfg->hidden;
  float *h0 = rnn_h0(l), *c0 = h0 + mh, *hs = l->state, *cs = l->state + mh;
  memcpy(h0, hs, nh * sizeof *h0);
  memcpy(c0, cs, nh * sizeof *c0);
  tv_rnn_weights w = rnn_values(l);
  tv_lstm_forward(rnn_dims(l, n), &w, x[0], h0, c0, y, hs, cs, l->keep);
}

static void lstm_backward(tv_layer *l, int n, const float *const *x, const float *y,
                          const float *dy, float *const *dx, const int *acc) {
  size_t mh = (size_t)l->max_batch * l->cfg->hidden;
  const float *h0 = rnn_h0(l), *c0 = h0 + mh;
  tv_rnn_weights w = rnn_values(l), g = rnn_grads(l);
  tv_lstm_backward(rnn_dims(l, n), &w, &g, x[0], h0, c0, y, l->keep, dy, NULL, NULL, dx[0], acc[0],
                   NULL, NULL, l->temp);
}

/* h' = (1 - z) n + z h, from the carried h */
static void gru_forward(tv_layer *l, int n, const float *const *x, float *y) {
  size_t nh = (size_t)n * l->cfg->hidden;
  float *h0 = rnn_h0(l);
  memcpy(h0, l->state, nh * sizeof *h0);
  tv_rnn_weights w = rnn_values(l);
  tv_gru_forward(rnn_dims(l, n), &w, x[0], h0, y, l->state, l->keep);
}

static void gru_backward(tv_layer *l, int n, const float *const *x, const float *y, const float *dy,
                         float *const *dx, const int *acc) {
  tv_rnn_weights w = rnn_values(l), g = rnn_grads(l);
  tv_gru_backward(rnn_dims(l, n), &w, &g, x[0], rnn_h0(l), y, l->keep, dy, NULL, dx[0], acc[0],
                  NULL, l->temp);
}

/* per step: 2 flops per multiply-add of the input and recurrent products, plus the gates */
static double rnn_flops(const tv_layer *l, int gates) {
  double t = l->in[0].dim[0], d = l->in[0].dim[1], h = l->cfg->hidden;
  return t * (2.0 * gates * h * (d + h) + 2.0 * gates * h + 6.0 * h);
}
static double lstm_flops(const tv_layer *l) { return rnn_flops(l, 4); }
static double gru_flops(const tv_layer *l) { return rnn_flops(l, 3); }

// clang-format off
static const key_desc embedding_keys[] = {
  ROW_INT(LC, "vocab", vocab, 1, 1 << 24, 0, F_REQUIRED | F_MODEL, "token ids in [0, vocab)"),
  ROW_INT(LC, "dim", dim, 1, 1 << 20, 0, F_REQUIRED | F_MODEL, "features per token"),
};

static const key_desc rnn_keys[] = {
  ROW_INT(LC, "hidden", hidden, 1, 1 << 16, 0, F_REQUIRED | F_MODEL, "hidden size H"),
};
// clang-format on

const tv_layer_ops tv_layer_embedding = {
    "embedding",        embedding_build, embedding_forward,
    embedding_backward, embedding_flops, .config = TV_CFG_TOKEN_LAYER_KEYS(embedding_keys)};
const tv_layer_ops tv_layer_lstm = {"lstm",       lstm_build,
                                    lstm_forward, lstm_backward,
                                    lstm_flops,   .config = TV_CFG_TOKEN_LAYER_KEYS(rnn_keys)};
const tv_layer_ops tv_layer_gru = {"gru",       gru_build,
                                   gru_forward, gru_backward,
                                   gru_flops,   .config = TV_CFG_TOKEN_LAYER_KEYS(rnn_keys)};
