/* ops.h — compute kernels behind one interface (CPU backend).
 *
 * Every matrix product in trainval goes through tv_gemm, a thin wrapper over OpenBLAS's
 * cblas_sgemm (save the lstm's per-step products, on a packed kernel of their own in the
 * library's common/nn/packgemm.h); tv_gemm_ref is the naive triple loop kept for tests.  Kernels
 * are single-threaded and vectorised; the layers run them on the process's one thread team (a
 * tv_pool owned by the context, ctx.h, and lent to every graph), example- or channel-parallel,
 * with OpenBLAS held to one thread per call: two levels of threads would only fight over the
 * cores.  Row-major throughout.
 *
 * Conventions: `n` counts floats (element-wise) or rows; a backward kernel computes
 * dx = dy * f'(.) and either writes it (accumulate == 0) or adds it to dx (accumulate != 0).
 * Kernels never allocate and cannot fail; in-place use (y == x, dx == dy) is allowed where said.
 */
#ifndef TRAINVAL_OPS_H
#define TRAINVAL_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"

/* Marks a hot loop to be compiled for AVX2 and a generic target (target_clones), so one binary
 * runs everywhere and uses the wide units where present.  Never -ffast-math: the clones keep
 * IEEE semantics, only the instruction set differs. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define TV_VECTOR __attribute__((target_clones("avx2", "default")))
#else
#define TV_VECTOR
#endif

/* C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, op(X) = X or X^T (trans != 0). */
void tv_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc);
void tv_gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ---- a team of threads for data-parallel kernels ------------------------------------------ */

typedef struct tv_pool tv_pool;

/* A team of `threads` (>= 1; the caller is thread 0, threads - 1 workers are started).  Workers
 * spin a bounded while for the next job, then sleep on a condition variable.  *out NULL on failure.
 * Errors: TV_ERR_NOMEM (memory or a thread that would not start). */
TV_MUST_CHECK int tv_pool_new(int threads, tv_pool **out);
void tv_pool_free(tv_pool *p);         /* NULL-safe; joins the workers */
int tv_pool_threads(const tv_pool *p); /* 1 for NULL */

/* Cuts [0, n) into contiguous chunks (4 per thread, at most n) and runs fn(ctx, begin, end,
 * thread) once for each, on whichever thread of the team claims it first (the caller, thread 0,
 * takes part); returns when all are done.  `thread` (0 .. threads-1) only names the caller's
 * scratch: which ranges a thread gets changes from call to call, so a result that must not
 * depend on the team cuts its work into slices fixed by the shapes and loops over them.  p may
 * be NULL or n 1 (one call [0, n) in the caller).  Never allocates.  Not reentrant. */
void tv_pool_for(tv_pool *p, int n, void (*fn)(void *ctx, int begin, int end, int thread),
                 void *ctx);

/* y[i, :] = b for each of n rows of width d. */
void tv_rows_set(float *y, const float *b, int n, int d);
/* Sum over the rows of dy (n rows of d), one sum per column: db[j] (+)= sum_i dy[i, j];
 * accumulate selects += versus =. */
void tv_sum_over_rows(float *db, const float *dy, int n, int d, int accumulate);
/* Sum over the columns of a (`rows` rows of `cols`), one sum per row: s[i] (+)= sum_j a[i, j]
 * (16 partial sums in a fixed order). */
void tv_sum_over_cols(float *s, const float *a, int rows, size_t cols, int accumulate);
/* y = max(x, 0) over n elements (in place allowed). */
void tv_relu(float *y, const float *x, size_t n);
/* dx (+)= dy * (y > 0). */
void tv_relu_backward(float *dx, const float *dy, const float *y, size_t n, int accumulate);

/* ---- activations: y = f(x) over n floats (in place allowed) --------------------------------- */

/* leaky_relu: y = x > 0 ? x : alpha x;  dx = dy * (x > 0 ? 1 : alpha). */
void tv_leaky_relu(float *y, const float *x, size_t n, float alpha);
void tv_leaky_relu_backward(float *dx, const float *dy, const float *x, size_t n, float alpha,
                            int accumulate);
/* elu: y = x > 0 ? x : alpha (exp(x) - 1);  dx = dy * (x > 0 ? 1 : y + alpha). */
void tv_elu(float *y, const float *x, size_t n, float alpha);
void tv_elu_backward(float *dx, const float *dy, const float *x, const float *y, size_t n,
                     float alpha, int accumulate);
/* gelu (exact): y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2;  dx = dy (Phi(x) + x phi(x)). */
void tv_gelu(float *y, const float *x, size_t n);
void tv_gelu_backward(float *dx, const float *dy, const float *x, size_t n, int accumulate);
/* sigmoid: y = 1 / (1 + exp(-x));  dx = dy y (1 - y). */
void tv_sigmoid(float *y, const float *x, size_t n);
void tv_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n, int accumulate);
/* tanh: dx = dy (1 - y^2). */
void tv_tanh(float *y, const float *x, size_t n);
void tv_tanh_backward(float *dx, const float *dy, const float *y, size_t n, int accumulate);
/* y = x * mask (dropout's forward and backward; mask holds 0 or 1/(1-rate)). */
void tv_mul(float *y, const float *x, const float *mask, size_t n, int accumulate);
/* y (+)= x. */
void tv_add(float *y, const float *x, size_t n, int accumulate);

/* Row-wise softmax of n rows of k: y = exp(x - max) / sum (in place allowed);
 * backward dx = y * (dy - sum_j dy_j y_j). */
void tv_softmax_rows(float *y, const float *x, int n, int k);
void tv_softmax_rows_backward(float *dx, const float *dy, const float *y, int n, int k,
                              int accumulate);

/* ---- convolution and pooling geometry, one example, NCHW ------------------------------------- */

/* Input (c, h, w); a kh x kw window moved by (sh, sw); the input is padded by ph rows above and
 * pw columns left (below and right: whatever the output size needs; padded cells read as 0 for
 * convolution and are skipped by pooling); output (oh, ow). */
typedef struct tv_conv_geom {
  int c, h, w;
  int kh, kw, sh, sw, ph, pw;
  int oh, ow;
} tv_conv_geom;

/* im2col: col[(ci*kh + i)*kw + j][p] = x[ci][oh*sh - ph + i][ow*sw - pw + j] (0 outside), for
 * p = oh*ow_count + ow.  Row r of col starts at col + r*ld, so several examples can sit side by
 * side in one [c*kh*kw, ld] matrix (example e at col + e*oh*ow). */
void tv_im2col(const tv_conv_geom *g, const float *x, float *col, size_t ld);
/* col2im, the adjoint of tv_im2col: dx[ci][ih][iw] (+)= every col entry im2col read from it
 * (added to dx when accumulate, else dx is only written: the sums start from 0, the bits of a
 * cleared dx plus the same adds). */
void tv_col2im(const tv_conv_geom *g, const float *col, size_t ld, float *dx, int accumulate);

/* max pooling of one example, (c, h, w) -> (c, oh, ow); argmax (may be NULL) receives the flat
 * index into x of each output's first maximal element (row-major window order, as PyTorch).
 * relu != 0 gives max(pool, 0), the pool of relu(x) (max and relu commute).  Backward puts dy
 * at those indices of dx (added, or written with zeros elsewhere: accumulate == 0); with
 * y != NULL (the relu-fused forward's output) only where y > 0. */
void tv_max_pool2d(const tv_conv_geom *g, const float *x, float *y, int32_t *argmax, int relu);
void tv_max_pool2d_backward(const tv_conv_geom *g, const float *dy, const int32_t *argmax,
                            const float *y, float *dx, int accumulate);
/* average pooling over the window's cells inside the input (padding is not counted);
 * backward adds to dx. */
void tv_avg_pool2d(const tv_conv_geom *g, const float *x, float *y);
void tv_avg_pool2d_backward(const tv_conv_geom *g, const float *dy, float *dx);

/* 1 if every element is finite. */
int tv_all_finite(const float *x, size_t n);

#endif
