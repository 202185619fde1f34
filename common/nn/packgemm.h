/* packgemm.h — private to common/nn/: the recurrent layers' own small-M matrix kernel (not
 * installed, not part of the public API), the one product that does not go through tv_gemm.
 *
 * Why: a recurrent step multiplies the few rows of one chunk of examples (M = 16) by a weight
 * matrix of 4H x (D + H) (1 MiB and more), T times per call; OpenBLAS repacks the weight on
 * every call, a quarter of a validation pass.  Here the weights are packed once per layer call
 * into the layout below and every step reads them as they are; the step's gate nonlinearities
 * and the cell update run on the product's registers (no gate array goes to memory and back).
 *
 * PACKED LSTM LAYOUT (tv_pg_lstm_pack; floats).  The hidden units are cut in panels of
 * TV_PG_UNITS = 16 (P = ceil(H / 16) panels, the last zero-padded).  First the bias, P blocks
 * of 64: block q, gate g (i, f, g, o), lane l holds b_ih[g H + 16 q + l] + b_hh[g H + 16 q + l];
 * then panel q (q = 0 .. P-1) as K = D + H rows of 64: row k, gate g, lane l holds
 * W[g H + 16 q + l][k] with W = [w_ih | w_hh] (4H x (D + H)), k < D reading w_ih's column k,
 * k >= D w_hh's column k - D.  Padding lanes (16 q + l >= H) hold 0.
 *
 * PACKED MATRIX LAYOUT (tv_pg_pack; floats), for the plain product C = A B of tv_pg_gemm: B
 * (K x N) in panels of 64 columns (ceil(N / 64) panels, the last zero-padded), panel q as K rows
 * of 64: row k, lane l holds B[k][64 q + l].
 *
 * Arithmetic: a gate pre-activation is bias + sum_k x_k W_k (x's D terms, then h's H terms, one
 * fused multiply-add each, in k order, one accumulator), then i, f, o = sigmoid, g = tanh,
 * c' = f c + i g, h' = o tanh(c') with an exp within 2 ulp (the Cody-Waite / Cephes scheme of
 * recurrent.c).  A row's result depends on that row's inputs and the weights alone: never on
 * how many rows a call has, which chunk or which thread computes it, so results do not depend
 * on --threads.  They differ from tv_gemm's by rounding (another summation order).
 *
 * Machines: the kernel needs AVX-512F (tv_pg_supported); elsewhere the layers keep the tv_gemm
 * path.  Nothing here allocates, and nothing can fail.
 */
#ifndef TRAINVAL_NN_PACKGEMM_H
#define TRAINVAL_NN_PACKGEMM_H

#include <stddef.h>

enum { TV_PG_UNITS = 16 };

/* tv_cpu_has(TV_CPU_AVX512F) (nn/cpu.h; also in an ASan build) on x86-64, else 0. */
int tv_pg_supported(void);

/* Floats of a packed LSTM layer of h hidden units over d inputs: 64 P (1 + d + h). */
size_t tv_pg_lstm_pack_floats(int h, int d);

/* Panels of h hidden units: ceil(h / 16). */
int tv_pg_lstm_panels(int h);

/* Packs one LSTM layer's panels [q0, q1) (PyTorch layouts: w_ih [4h, d], w_hh [4h, h], b_ih,
 * b_hh [4h]) into p (tv_pg_lstm_pack_floats floats, the layout above; all panels: q0 = 0,
 * q1 = tv_pg_lstm_panels), so a team can share the packing.  Borrows everything; cannot fail. */
void tv_pg_lstm_pack(int h, int d, const float *w_ih, const float *w_hh, const float *b_ih,
                     const float *b_hh, int q0, int q1, float *p);

/* One LSTM step over `rows` examples: row r reads x + r ldx (d floats), h + r ldh and c + r ldc
 * (h floats each: the previous state; h or c NULL: zeros) and writes cell + r ldcell and
 * y + r ldy (h floats each: c', h') and, when gates is not NULL, the activated gates i, f, g, o
 * at gates + r ldg (4h floats, gate-major as PyTorch's rows).  The outputs must not overlap the
 * inputs.  p: tv_pg_lstm_pack's.  Only where tv_pg_supported.  Cannot fail. */
/* Floats of a packed K x N matrix: 64 ceil(n / 64) k. */
size_t tv_pg_pack_floats(int k, int n);

/* Packs B (k x n, row-major, rows ldb apart) into p (tv_pg_pack_floats floats).  Borrows
 * everything; cannot fail. */
void tv_pg_pack(int k, int n, const float *b, size_t ldb, float *p);

/* C (m x n, rows ldc apart) = A B, or += with acc (C's old value first, then the k products in
 * order); A m x k, rows lda apart; p: tv_pg_pack's of B.  C must not overlap A.  Only where
 * tv_pg_supported.  Cannot fail. */
void tv_pg_gemm(int m, int n, int k, const float *a, size_t lda, const float *p, float *c,
                size_t ldc, int acc);

typedef struct tv_pg_lstm_io {
  const float *x, *h, *c;
  size_t ldx, ldh, ldc;
  float *gates, *cell, *y;
  size_t ldg, ldcell, ldy;
} tv_pg_lstm_io;
void tv_pg_lstm_step(int h, int d, const float *p, int rows, const tv_pg_lstm_io *io);

#endif
