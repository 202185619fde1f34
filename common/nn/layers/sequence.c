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
 * state: lstm h (N, H) then c (N, H); gru h (N, H).  temp (TRAIN): the kernels' backward temp,
 * then one set of weight gradients per chunk, then (lstm) W_hh packed for backward
 * (packgemm.h); in an lstm forward (both modes) the layer's weights packed for the step kernel
 * (lstm_packed).
 * Threads: the examples are cut into chunks fixed by the call's batch alone (rnn_chunk: at
 * least RNN_MIN_CHUNK examples, at most RNN_MAX_CHUNKS chunks), never by the team: every array
 * is example-major, so a chunk is a contiguous part of each, and the kernels' keep and temp are
 * linear in the example count.  The team's items are the chunks, run by whichever thread claims
 * them; a chunk's backward adds into its own zeroed weight gradients, which are then summed in
 * chunk order into the variables' (each float's sum in one fixed order, the floats cut in
 * fixed blocks over the team).  So the bits do not depend on --threads.  (An INFER forward on
 * the packed kernel may cut finer, to give every thread a chunk: its rows' bits are their own.)
 */
#include "nn/layers/layer.h"

#include <math.h>
#include <string.h>

#include "nn/layers/recurrent.h"
#include "nn/packgemm.h"

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
static int gates_of(const tv_layer *l) { return l->cfg->kind == TV_LAYER_LSTM ? 4 : 3; }

/* Floats of one set of the layer's weight gradients: w_ih, w_hh, b_ih, b_hh. */
static size_t wsize(const tv_layer *l) {
  size_t g = (size_t)gates_of(l) * l->cfg->hidden;
  return g * (size_t)l->in[0].dim[1] + g * (size_t)l->cfg->hidden + 2 * g;
}

static tv_rnn_dims rnn_dims(const tv_layer *l, int n) {
  return (tv_rnn_dims){n, l->in[0].dim[0], l->in[0].dim[1], l->cfg->hidden};
}

/* The kernels' keep and temp floats for n examples (both are linear in n). */
static size_t kernel_keep(const tv_layer *l, int n) {
  return gates_of(l) == 4 ? tv_lstm_keep_floats(rnn_dims(l, n))
                          : tv_gru_keep_floats(rnn_dims(l, n));
}
static size_t kernel_temp(const tv_layer *l, int n) {
  return gates_of(l) == 4 ? tv_lstm_temp_floats(rnn_dims(l, n))
                          : tv_gru_temp_floats(rnn_dims(l, n));
}

/* The chunks of a call of n examples: RNN_MIN_CHUNK examples each (fewer in the last), or
 * more where that would make over RNN_MAX_CHUNKS; a function of n alone. */
enum { RNN_MIN_CHUNK = 16, RNN_MAX_CHUNKS = 8 };
static int rnn_chunk(int n) {
  int c = (n + RNN_MAX_CHUNKS - 1) / RNN_MAX_CHUNKS;
  return c > RNN_MIN_CHUNK ? c : RNN_MIN_CHUNK;
}
static int rnn_chunks(int n) { return n > 0 ? (n + rnn_chunk(n) - 1) / rnn_chunk(n) : 0; }

/* Whether an lstm forward of n examples runs on the packed kernel (packgemm.h): where the CPU
 * has it, and not for the one-step, one-example generation call (whose product is a vector,
 * not worth a packing).  The packed weights live in temp for the call; TRAIN keeps the gates. */
static int lstm_packed(const tv_layer *l, int n) {
  return gates_of(l) == 4 && (size_t)n * l->in[0].dim[0] > 1 && tv_pg_supported();
}

static int rnn_build(tv_layer *l) {
  int gates = gates_of(l);
  if (l->in[0].ndim != 2) {
    char s[64];
    return tv_layer_error(l, "%s needs a (T, D) sequence input, got %s (put an embedding first)",
                          gates == 4 ? "lstm" : "gru", tv_shape_str(l->in[0], s, sizeof s));
  }
  int t = l->in[0].dim[0], d = l->in[0].dim[1], h = l->cfg->hidden;
  if (h < 1) return tv_layer_error(l, "hidden must be >= 1, got %d", h);
  l->out = tv_shape2(t, h);
  size_t nh = (size_t)l->max_batch * h, states = gates == 4 ? 2 : 1;
  l->keep_floats = kernel_keep(l, l->max_batch) + states * nh;
  /* the kernels' temp for every example, then one set of weight gradients per chunk, then
   * (lstm_packed) W_hh packed for backward; an INFER graph has no backward */
  l->temp_floats = 0;
  if (l->mode == TV_MODE_TRAIN)
    l->temp_floats = kernel_temp(l, l->max_batch) + (size_t)rnn_chunks(l->max_batch) * wsize(l) +
                     (gates == 4 ? tv_pg_pack_floats(4 * h, h) : 0);
  if (gates == 4 && tv_pg_lstm_pack_floats(h, d) > l->temp_floats) /* forward's, lstm_packed */
    l->temp_floats = tv_pg_lstm_pack_floats(h, d);
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

static tv_rnn_weights rnn_values(const tv_layer *l) {
  return (tv_rnn_weights){var_value(l, 0), var_value(l, 1), var_value(l, 2), var_value(l, 3)};
}

/* Chunk t's weight gradients in temp, after the kernels' part. */
static tv_rnn_weights rnn_partial(const tv_layer *l, int t) {
  size_t g = (size_t)gates_of(l) * l->cfg->hidden;
  float *p = l->temp + kernel_temp(l, l->max_batch) + (size_t)t * wsize(l);
  float *hh = p + g * (size_t)l->in[0].dim[1], *bi = hh + g * (size_t)l->cfg->hidden;
  return (tv_rnn_weights){p, hh, bi, bi + g};
}

/* One call's work, cut in chunks: chunk t is examples [e0, e1) of n, a contiguous part of every
 * array (x, y, keep, temp, the states), since all are example-major. */
typedef struct rnn_job {
  tv_layer *l;
  int n;
  const float *x, *y, *dy;
  float *out, *dx;
  int acc;
  const float *packed; /* lstm_packed: forward's packed weights, or backward's W_hh; or NULL */
  int chunk, chunks;   /* examples per chunk (the last may have fewer), chunks */
} rnn_job;

static void chunk_range(const rnn_job *j, int t, int *e0, int *e1) {
  *e0 = t * j->chunk;
  *e1 = (t + 1) * j->chunk < j->n ? (t + 1) * j->chunk : j->n;
}

/* The chunks of a call: rnn_chunk's, fixed by n.  An INFER forward on the packed kernel, whose
 * rows' bits are their own (packgemm.h), may cut finer so that every thread of the team has a
 * chunk (of at least a row tile of 4 examples) where n's chunks are fewer than the threads.
 * (Not in TRAIN: a chunk's keep holds its gates, then its cells, so backward must find the
 * forward's chunks.) */
static void chunks_of(rnn_job *j, int forward) {
  j->chunk = rnn_chunk(j->n);
  j->chunks = rnn_chunks(j->n);
  int want = j->l->threads < (j->n + 3) / 4 ? j->l->threads : (j->n + 3) / 4;
  if (forward && j->packed && j->l->mode == TV_MODE_INFER && want > j->chunks) {
    j->chunk = (j->n + want - 1) / want;
    j->chunks = (j->n + j->chunk - 1) / j->chunk;
  }
}

/* keep: the kernels' part, then h0 (N, H) and c0 (N, H); state: h (N, H), then c (N, H) */
static void rnn_forward_chunk(const rnn_job *j, int t) {
  tv_layer *l = j->l;
  int e0, e1;
  chunk_range(j, t, &e0, &e1);
  if (e1 <= e0) return;
  int k = e1 - e0, T = l->in[0].dim[0], D = l->in[0].dim[1], H = l->cfg->hidden;
  size_t mh = (size_t)l->max_batch * H, off = (size_t)e0 * H;
  float *h0 = l->keep + kernel_keep(l, l->max_batch), *keep = l->keep + kernel_keep(l, e0);
  memcpy(h0 + off, l->state + off, (size_t)k * H * sizeof *h0);
  tv_rnn_weights w = rnn_values(l);
  const float *x = j->x + (size_t)e0 * T * D;
  float *y = j->out + (size_t)e0 * T * H;
  if (gates_of(l) == 4) {
    memcpy(h0 + mh + off, l->state + mh + off, (size_t)k * H * sizeof *h0);
    if (j->packed)
      tv_lstm_forward_packed(rnn_dims(l, k), j->packed, x, h0 + off, h0 + mh + off, y,
                             l->state + off, l->state + mh + off, keep, l->mode == TV_MODE_TRAIN);
    else
      tv_lstm_forward(rnn_dims(l, k), &w, x, h0 + off, h0 + mh + off, y, l->state + off,
                      l->state + mh + off, keep);
  } else {
    tv_gru_forward(rnn_dims(l, k), &w, x, h0 + off, y, l->state + off, keep);
  }
}

static void rnn_backward_chunk(const rnn_job *j, int t) {
  tv_layer *l = j->l;
  tv_rnn_weights g = rnn_partial(l, t);
  memset(g.w_ih, 0, wsize(l) * sizeof *g.w_ih);
  int e0, e1;
  chunk_range(j, t, &e0, &e1);
  if (e1 <= e0) return;
  int k = e1 - e0, T = l->in[0].dim[0], D = l->in[0].dim[1], H = l->cfg->hidden;
  size_t mh = (size_t)l->max_batch * H, off = (size_t)e0 * H;
  const float *h0 = l->keep + kernel_keep(l, l->max_batch), *keep = l->keep + kernel_keep(l, e0);
  float *temp = l->temp + kernel_temp(l, e0);
  tv_rnn_weights w = rnn_values(l);
  const float *x = j->x + (size_t)e0 * T * D, *y = j->y + (size_t)e0 * T * H;
  const float *dy = j->dy + (size_t)e0 * T * H;
  float *dx = j->dx ? j->dx + (size_t)e0 * T * D : NULL;
  if (gates_of(l) == 4 && j->packed)
    tv_lstm_backward_packed(rnn_dims(l, k), &w, &g, x, h0 + off, h0 + mh + off, y, keep, dy, NULL,
                            NULL, dx, j->acc, NULL, NULL, temp, j->packed);
  else if (gates_of(l) == 4)
    tv_lstm_backward(rnn_dims(l, k), &w, &g, x, h0 + off, h0 + mh + off, y, keep, dy, NULL, NULL,
                     dx, j->acc, NULL, NULL, temp);
  else
    tv_gru_backward(rnn_dims(l, k), &w, &g, x, h0 + off, y, keep, dy, NULL, dx, j->acc, NULL, temp);
}

/* The team's items are the chunks [b, e) (fixed by the batch, whichever thread claims them;
 * the thread argument is not used: a chunk's scratch is its own). */
static void rnn_forward_part(void *ctx, int b, int e, int thread) {
  (void)thread;
  for (int t = b; t < e; t++) rnn_forward_chunk(ctx, t);
}

static void rnn_backward_part(void *ctx, int b, int e, int thread) {
  (void)thread;
  for (int t = b; t < e; t++) rnn_backward_chunk(ctx, t);
}

/* The chunks' weight gradients summed into the variables', in chunk order for every float;
 * the team's items are blocks of RNN_SUM_BLOCK floats of the four tensors laid end to end. */
enum { RNN_SUM_BLOCK = 16384 };
typedef struct rnn_sum_job {
  const tv_layer *l;
  int chunks;
} rnn_sum_job;

static void rnn_sum_part(void *ctx, int b, int e, int thread) {
  (void)thread;
  const rnn_sum_job *j = ctx;
  const tv_layer *l = j->l;
  size_t lo = (size_t)b * RNN_SUM_BLOCK, hi = (size_t)e * RNN_SUM_BLOCK, base = 0;
  for (int v = 0; v < 4; v++) {
    size_t cnt = tv_varstore_var(l->store, l->vars[v])->count;
    size_t v0 = lo > base ? lo - base : 0, v1 = hi - base < cnt ? hi - base : cnt;
    if (hi > base && v0 < cnt) {
      float *g = var_grad(l, v) + v0;
      for (int t = 0; t < j->chunks; t++) {
        tv_rnn_weights p = rnn_partial(l, t);
        const float *parts[4] = {p.w_ih, p.w_hh, p.b_ih, p.b_hh};
        tv_add(g, parts[v] + v0, v1 - v0, 1);
      }
    }
    base += cnt;
  }
}

/* The team's items are the packed kernel's panels [b, e) (packgemm.h), packed into temp. */
static void lstm_pack_part(void *ctx, int b, int e, int thread) {
  (void)thread;
  const tv_layer *l = ctx;
  tv_rnn_weights w = rnn_values(l);
  tv_pg_lstm_pack(l->cfg->hidden, l->in[0].dim[1], w.w_ih, w.w_hh, w.b_ih, w.b_hh, b, e, l->temp);
}

/* lstm: c' = f c + i g, h' = o tanh(c'); gru: h' = (1 - z) n + z h; from the carried state,
 * chunk by chunk of the examples */
static void rnn_forward(tv_layer *l, int n, const float *const *x, float *y) {
  rnn_job j = {.l = l, .n = n, .x = x[0], .out = y};
  if (lstm_packed(l, n)) {
    tv_pool_for(l->pool, tv_pg_lstm_panels(l->cfg->hidden), lstm_pack_part, l);
    j.packed = l->temp;
  }
  chunks_of(&j, 1);
  tv_pool_for(l->pool, j.chunks, rnn_forward_part, &j); /* one item per chunk */
}

/* each chunk's weight gradients into its own partial, then summed in chunk order */
static void rnn_backward(tv_layer *l, int n, const float *const *x, const float *y, const float *dy,
                         float *const *dx, const int *acc) {
  rnn_job j = {.l = l, .n = n, .x = x[0], .y = y, .dy = dy, .dx = dx[0], .acc = acc[0]};
  if (lstm_packed(l, n)) { /* W_hh for dh = dG W_hh, after the chunks' weight gradients */
    int h = l->cfg->hidden;
    float *p = rnn_partial(l, rnn_chunks(l->max_batch)).w_ih;
    tv_pg_pack(4 * h, h, var_value(l, 1), (size_t)h, p);
    j.packed = p;
  }
  chunks_of(&j, 0);
  tv_pool_for(l->pool, j.chunks, rnn_backward_part, &j);
  rnn_sum_job s = {l, j.chunks};
  tv_pool_for(l->pool, (int)((wsize(l) + RNN_SUM_BLOCK - 1) / RNN_SUM_BLOCK), rnn_sum_part, &s);
}

/* per step: 2 flops per multiply-add of the input and recurrent products, plus the gates */
static double rnn_flops(const tv_layer *l, int gates) {
  double t = l->in[0].dim[0], d = l->in[0].dim[1], h = l->cfg->hidden;
  return t * (2.0 * gates * h * (d + h) + 2.0 * gates * h + 6.0 * h);
}
static double rnn_flops_of(const tv_layer *l) { return rnn_flops(l, gates_of(l)); }

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
const tv_layer_ops tv_layer_lstm = {"lstm",       rnn_build,
                                    rnn_forward,  rnn_backward,
                                    rnn_flops_of, .config = TV_CFG_TOKEN_LAYER_KEYS(rnn_keys)};
const tv_layer_ops tv_layer_gru = {"gru",        rnn_build,
                                   rnn_forward,  rnn_backward,
                                   rnn_flops_of, .config = TV_CFG_TOKEN_LAYER_KEYS(rnn_keys)};
