/* ops.c — CPU kernels (see ops.h).  Hot element-wise loops are compiled for AVX2 and a generic
 * target (target_clones) so one binary runs everywhere and uses the wide units where present. */
#include "trainval/ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define TV_VECTOR __attribute__((target_clones("avx2", "default")))
#else
#define TV_VECTOR
#endif

void tv_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tv_gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int p = 0; p < k; p++) {
        float av = trans_a ? a[p * lda + i] : a[i * lda + p];
        float bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        s += (double)av * bv;
      }
      float prev = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
      c[i * ldc + j] = alpha * (float)s + prev;
    }
}

void tv_set_threads(int n) {
  if (n > 0) openblas_set_num_threads(n);
}

int tv_get_threads(void) { return openblas_get_num_threads(); }

void tv_rows_set(float *y, const float *b, int n, int d) {
  for (int i = 0; i < n; i++) memcpy(y + (size_t)i * d, b, (size_t)d * sizeof *y);
}

TV_VECTOR void tv_rows_sum(float *db, const float *dy, int n, int d, int accumulate) {
  if (!accumulate) memset(db, 0, (size_t)d * sizeof *db);
  for (int i = 0; i < n; i++) {
    const float *r = dy + (size_t)i * d;
    for (int j = 0; j < d; j++) db[j] += r[j];
  }
}

TV_VECTOR void tv_relu(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

TV_VECTOR void tv_relu_backward(float *dx, const float *dy, const float *y, size_t n,
                                int accumulate) {
  if (accumulate)
    for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
  else
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

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

int tv_all_finite(const float *x, size_t n) {
  float acc = 0.0f;
  for (size_t i = 0; i < n; i++) acc += x[i] * 0.0f; /* NaN/Inf make the product NaN */
  return acc == 0.0f;
}
