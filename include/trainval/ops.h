/* ops.h — compute kernels behind one interface (CPU backend).
 *
 * Every matrix product in trainval goes through tv_gemm, a thin wrapper over OpenBLAS's
 * cblas_sgemm; tv_gemm_ref is the naive triple loop kept for tests.  Element-wise kernels are
 * single-threaded and vectorised; the only thread pool is OpenBLAS's.  Row-major throughout.
 */
#ifndef TRAINVAL_OPS_H
#define TRAINVAL_OPS_H

#include <stddef.h>
#include <stdint.h>

/* C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, op(X) = X or X^T (trans != 0). */
void tv_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc);
void tv_gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* Sets OpenBLAS's thread count (the process-wide pool); n <= 0 leaves the default. */
void tv_set_threads(int n);
int tv_get_threads(void);

/* y[i, :] = b for each of n rows of width d. */
void tv_rows_set(float *y, const float *b, int n, int d);
/* db[j] (+)= sum_i dy[i, j]; accumulate selects += versus =. */
void tv_rows_sum(float *db, const float *dy, int n, int d, int accumulate);
/* y = max(x, 0) over n elements (in place allowed). */
void tv_relu(float *y, const float *x, size_t n);
/* dx (+)= dy * (y > 0). */
void tv_relu_backward(float *dx, const float *dy, const float *y, size_t n, int accumulate);

/* Softmax cross-entropy over n rows of k logits with integer labels y in [0, k).
 * Returns the mean loss; if dlogits != NULL writes d(mean loss)/d(logits) = (softmax - onehot)/n.
 * Numerically stable (max-subtracted). */
float tv_softmax_xent(const float *logits, const int32_t *y, int n, int k, float *dlogits);

/* 1 if every element is finite. */
int tv_all_finite(const float *x, size_t n);

#endif
