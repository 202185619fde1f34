/* recurrent.h — private to common/nn/: the sequence kernels the embedding, lstm and gru layers
 * are built on (not installed, not part of the public API).
 *
 * Time axis: a sequence activation is batch-first (N, T, D), row-major, like PyTorch's
 * batch_first=True; per example it is the 2-D shape (T, D) (tv_shape2(T, D)), so the time axis
 * is the first per-example dimension and N stays outside the shape as everywhere else.
 * A recurrent kernel returns the full sequence y (N, T, H) and the last state; it starts from a
 * given initial state (h0, c0: (N, H), NULL for zeros), so a caller can carry state across
 * consecutive batches (truncated backpropagation through time).
 *
 * Weights, one-to-one with PyTorch's nn.LSTM / nn.GRU for one layer (weight_ih_l0 etc.):
 *   lstm  w_ih [4H, D], w_hh [4H, H], b_ih [4H], b_hh [4H]; gate rows i, f, g, o
 *         i = s(x Wi^T + bi_i + h Whi^T + bh_i), f, o likewise, g = tanh(...),
 *         c' = f c + i g, h' = o tanh(c')
 *   gru   w_ih [3H, D], w_hh [3H, H], b_ih [3H], b_hh [3H]; gate rows r, z, n
 *         r = s(x Wr^T + bi_r + h Whr^T + bh_r), z likewise,
 *         n = tanh(x Wn^T + bi_n + r (h Whn^T + bh_n)), h' = (1 - z) n + z h
 *   embedding  table [V, D]: y[n, t] = table[id[n, t]]
 * Multi-layer models stack layers (layer k's y is layer k+1's x), as PyTorch's num_layers does.
 *
 * Memory: the kernels never allocate; `keep` (forward to backward) and `temp` (within one call)
 * are sized by the *_floats functions.  Threads: a kernel runs on the caller's thread over the
 * n examples it is given; every matrix product goes through tv_gemm, except in the *_packed
 * variants, which run the lstm's recurrent steps on nn/packgemm.h's kernel.  Backward ADDS into the
 * weight gradients (layers.h's rule) and writes (acc 0) or adds (acc 1) dx.
 */
#ifndef TRAINVAL_NN_LAYERS_RECURRENT_H
#define TRAINVAL_NN_LAYERS_RECURRENT_H

#include <stddef.h>
#include <stdint.h>

/* Sizes of one recurrent layer: x (N, T, D) -> y (N, T, H). */
typedef struct tv_rnn_dims {
  int n, t, d, h;
} tv_rnn_dims;

/* A layer's four tensors (values, or their gradients), PyTorch layouts above. */
typedef struct tv_rnn_weights {
  float *w_ih, *w_hh, *b_ih, *b_hh;
} tv_rnn_weights;

/* Floats of keep (forward to backward) and temp (backward) for the dims (cannot fail). */
size_t tv_lstm_keep_floats(tv_rnn_dims s);
size_t tv_lstm_temp_floats(tv_rnn_dims s);
size_t tv_gru_keep_floats(tv_rnn_dims s);
size_t tv_gru_temp_floats(tv_rnn_dims s);

/* LSTM over the sequence: x (N, T, D) -> y (N, T, H); h0, c0 (N, H) or NULL (zeros); the last
 * state into h_last, c_last (N, H) when non-NULL; keep: tv_lstm_keep_floats floats.  Cannot
 * fail; borrows everything. */
void tv_lstm_forward(tv_rnn_dims s, const tv_rnn_weights *w, const float *x, const float *h0,
                     const float *c0, float *y, float *h_last, float *c_last, float *keep);

/* tv_lstm_forward on the packed kernel of packgemm.h (only where tv_pg_supported): packed is
 * tv_pg_lstm_pack's of the layer's weights; keep as tv_lstm_forward's, except that its gates
 * are written only when keep_gates (a forward that backward follows).  The same values as
 * tv_lstm_forward to rounding (packgemm.h); a row's bits depend on its own inputs alone.
 * Cannot fail; borrows everything. */
void tv_lstm_forward_packed(tv_rnn_dims s, const float *packed, const float *x, const float *h0,
                            const float *c0, float *y, float *h_last, float *c_last, float *keep,
                            int keep_gates);

/* Backward of tv_lstm_forward (called with the same x, h0, c0, y and keep): dy (N, T, H) and
 * the gradient arriving at the last state (dh_last, dc_last: (N, H), or NULL for none); adds
 * into g's four gradients; dx (N, T, D) written (acc 0) or added (acc 1) when non-NULL;
 * dh0, dc0 (N, H) written when non-NULL.  temp: tv_lstm_temp_floats floats.  Cannot fail. */
void tv_lstm_backward(tv_rnn_dims s, const tv_rnn_weights *w, const tv_rnn_weights *g,
                      const float *x, const float *h0, const float *c0, const float *y,
                      const float *keep, const float *dy, const float *dh_last,
                      const float *dc_last, float *dx, int acc, float *dh0, float *dc0,
                      float *temp);

/* tv_lstm_backward with dh_{t-1} = dG_t W_hh on the packed kernel of packgemm.h (only where
 * tv_pg_supported): whh_packed is tv_pg_pack(4H, H, w->w_hh, H, .)'s.  The same values to
 * rounding; bits a function of the dims and the inputs alone.  Cannot fail. */
void tv_lstm_backward_packed(tv_rnn_dims s, const tv_rnn_weights *w, const tv_rnn_weights *g,
                             const float *x, const float *h0, const float *c0, const float *y,
                             const float *keep, const float *dy, const float *dh_last,
                             const float *dc_last, float *dx, int acc, float *dh0, float *dc0,
                             float *temp, const float *whh_packed);

/* GRU over the sequence, as tv_lstm_forward without a cell state. */
void tv_gru_forward(tv_rnn_dims s, const tv_rnn_weights *w, const float *x, const float *h0,
                    float *y, float *h_last, float *keep);

/* Backward of tv_gru_forward, as tv_lstm_backward without a cell state. */
void tv_gru_backward(tv_rnn_dims s, const tv_rnn_weights *w, const tv_rnn_weights *g,
                     const float *x, const float *h0, const float *y, const float *keep,
                     const float *dy, const float *dh_last, float *dx, int acc, float *dh0,
                     float *temp);

/* Index check for an embedding of v rows: 1 if every one of the count ids is an integer in
 * [0, v), else 0 and *bad the first offending position.  Ids are floats (the model's arena is
 * float; exact below 2^24). */
int tv_embedding_ids_ok(const float *ids, size_t count, int v, size_t *bad);

/* y (count, D) = table[ids]; ids checked by tv_embedding_ids_ok.  Cannot fail. */
void tv_embedding_forward(const float *ids, size_t count, int d, const float *table, float *y);

/* dtable[ids[k]] += dy[k] for each of the count positions, in position order (deterministic). */
void tv_embedding_backward(const float *ids, size_t count, int d, const float *dy, float *dtable);

/* One time step of one example for a block of n units, the generation step's (generate.c):
 * a holds the gate pre-activations, gate q of unit j at a[q * stride + j] (lstm i, f, g, o with
 * both biases; gru the input side r, z, n with b_ih), activated in place.  lstm: c (n) the
 * previous cell, replaced by the new one, y (n) the new h.  gru: b the recurrent side
 * (h W_hh^T + b_hh, same layout), hp (n) the previous h, y (n) the new h (not hp).  The same
 * nonlinearities, in the same order, as tv_lstm_forward / tv_gru_forward.  Cannot fail. */
void tv_lstm_step_cells(int stride, int n, float *a, float *c, float *y);
void tv_gru_step_cells(int stride, int n, float *a, const float *b, const float *hp, float *y);

#endif
