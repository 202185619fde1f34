/* test_ops.c — the CPU kernels of ops.h against double-precision references written here.
 *
 * tv_gemm (OpenBLAS) and tv_gemm_ref (naive) are both checked against a test-local double loop
 * for all four transpose combinations, odd sizes, alpha/beta other than 0/1 and leading
 * dimensions larger than the minimum (padding holds NaN in the inputs, which must never be
 * read, and a sentinel in C, which must never be written).
 *
 * Tolerances: gemm uses the classical float dot-product bound |err| <= (k+2) u sum|a||b| (+ the
 * beta term), u = 2^-24, so it never depends on the BLAS's summation order.  Softmax
 * cross-entropy is compared with a double reference at 1e-6 relative (its sums are in double,
 * only the final values are rounded to float); its gradient is also checked by central
 * differences with a 1e-3 absolute tolerance (float loss resolution / step + O(h^2)).
 */
#include "trainval/ops.h"

#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trainval/rng.h"

static const float SENTINEL = -12345.0f;

/* ---- gemm ------------------------------------------------------------------------------- */

typedef struct gemm_case {
  int ta, tb, m, n, k;
  float alpha, beta;
  int pad; /* extra columns in every leading dimension */
} gemm_case;

static float *alloc_floats(size_t n) {
  float *p = malloc((n ? n : 1) * sizeof *p);
  assert_non_null(p);
  return p;
}

/* A stored matrix of `rows` x `cols` with leading dimension ld: valid entries random in
 * [-1, 1), padding NaN. */
static float *random_matrix(tv_rng *r, int rows, int cols, int ld, float pad_value) {
  float *x = alloc_floats((size_t)rows * ld);
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < ld; j++)
      x[(size_t)i * ld + j] = j < cols ? 2.0f * tv_rng_uniform(r) - 1.0f : pad_value;
  return x;
}

static void check_gemm(const gemm_case *gc, int use_ref) {
  tv_rng r = tv_rng_seed(7, (uint64_t)(gc->m * 31 + gc->n * 17 + gc->k + gc->ta * 2 + gc->tb));
  /* A is op(A)[m,k]: stored [m,k] or [k,m]; B is op(B)[k,n]: stored [k,n] or [n,k]. */
  int a_rows = gc->ta ? gc->k : gc->m, a_cols = gc->ta ? gc->m : gc->k;
  int b_rows = gc->tb ? gc->n : gc->k, b_cols = gc->tb ? gc->k : gc->n;
  int lda = a_cols + gc->pad, ldb = b_cols + gc->pad, ldc = gc->n + gc->pad;
  float *a = random_matrix(&r, a_rows, a_cols, lda, NAN);
  float *b = random_matrix(&r, b_rows, b_cols, ldb, NAN);
  float *c = random_matrix(&r, gc->m, gc->n, ldc, SENTINEL);
  float *c0 = alloc_floats((size_t)gc->m * ldc);
  memcpy(c0, c, (size_t)gc->m * ldc * sizeof *c);
  if (gc->beta == 0.0f) /* beta == 0 must ignore C entirely, even NaN (BLAS convention) */
    for (int i = 0; i < gc->m; i++)
      for (int j = 0; j < gc->n; j++) c[(size_t)i * ldc + j] = NAN;

  if (use_ref)
    tv_gemm_ref(gc->ta, gc->tb, gc->m, gc->n, gc->k, gc->alpha, a, lda, b, ldb, gc->beta, c, ldc);
  else
    tv_gemm(gc->ta, gc->tb, gc->m, gc->n, gc->k, gc->alpha, a, lda, b, ldb, gc->beta, c, ldc);

  const double u = ldexp(1.0, -24);
  for (int i = 0; i < gc->m; i++) {
    for (int j = 0; j < gc->n; j++) {
      double s = 0, abs_s = 0;
      for (int p = 0; p < gc->k; p++) {
        double av = gc->ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
        double bv = gc->tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
        s += av * bv;
        abs_s += fabs(av * bv);
      }
      double cprev = gc->beta == 0.0f ? 0.0 : c0[(size_t)i * ldc + j];
      double want = gc->alpha * s + gc->beta * cprev;
      double tol = (gc->k + 4) * u * (fabs(gc->alpha) * abs_s + fabs(gc->beta * cprev)) + 1e-30;
      double got = c[(size_t)i * ldc + j];
      if (!(fabs(got - want) <= tol))
        fail_msg("%s ta=%d tb=%d m=%d n=%d k=%d: C[%d,%d] = %.9g, want %.9g (tol %.3g)",
                 use_ref ? "tv_gemm_ref" : "tv_gemm", gc->ta, gc->tb, gc->m, gc->n, gc->k, i, j,
                 got, want, tol);
    }
    for (int j = gc->n; j < ldc; j++)
      if (c[(size_t)i * ldc + j] != SENTINEL) fail_msg("C padding [%d,%d] was written", i, j);
  }
  free(a);
  free(b);
  free(c);
  free(c0);
}

static void run_gemm_cases(int m, int n, int k, int pad) {
  static const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {-0.75f, 0.5f}, {2.5f, -1.25f}};
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (size_t s = 0; s < sizeof ab / sizeof ab[0]; s++) {
        gemm_case gc = {ta, tb, m, n, k, ab[s][0], ab[s][1], pad};
        check_gemm(&gc, 0);
        check_gemm(&gc, 1);
      }
}

static void test_gemm_1x1x1(void **state) {
  (void)state;
  run_gemm_cases(1, 1, 1, 0);
  run_gemm_cases(1, 1, 1, 3);
}

static void test_gemm_odd_sizes(void **state) {
  (void)state;
  run_gemm_cases(7, 13, 5, 0);
  run_gemm_cases(7, 13, 5, 5);
  run_gemm_cases(13, 1, 7, 2);
  run_gemm_cases(1, 9, 17, 1);
  run_gemm_cases(33, 31, 1, 4);
}

/* Shapes of the fashion MLP's products, cut down so the double reference stays fast. */
static void test_gemm_mlp_shapes(void **state) {
  (void)state;
  run_gemm_cases(16, 40, 784, 3);                      /* fc1 forward-ish: K = 784 */
  run_gemm_cases(24, 512, 33, 0);                      /* wide N */
  run_gemm_cases(128, 10, 256, 1);                     /* fc3 */
  gemm_case big = {0, 1, 64, 512, 784, 1.0f, 1.0f, 0}; /* dense forward: x W^T + b */
  check_gemm(&big, 0);
  gemm_case dw = {1, 0, 256, 784, 64, 1.0f, 0.0f, 0}; /* dense backward: dy^T x */
  check_gemm(&dw, 0);
}

/* k = 0: C = beta * C (alpha times an empty sum). */
static void test_gemm_k_zero(void **state) {
  (void)state;
  float c[6] = {1, 2, 3, 4, 5, 6};
  float a[1] = {NAN}, b[1] = {NAN};
  tv_gemm_ref(0, 0, 2, 3, 0, 1.0f, a, 1, b, 3, 0.5f, c, 3);
  for (int i = 0; i < 6; i++) assert_true(c[i] == 0.5f * (float)(i + 1));
  tv_gemm(0, 0, 2, 3, 0, 1.0f, a, 1, b, 3, 2.0f, c, 3);
  for (int i = 0; i < 6; i++) assert_true(c[i] == (float)(i + 1));
}

/* ---- element-wise ----------------------------------------------------------------------- */

static void test_relu(void **state) {
  (void)state;
  const float x[] = {-3.0f, -0.0f, 0.0f, 1e-30f, 0.5f, 7.0f, -1e-30f, FLT_MAX, -FLT_MAX};
  enum { N = sizeof x / sizeof x[0] };
  float y[N];
  tv_relu(y, x, N);
  for (int i = 0; i < N; i++) {
    float want = x[i] > 0.0f ? x[i] : 0.0f;
    assert_true(y[i] == want);
    assert_false(signbit(y[i])); /* relu(-0) is +0 (PyTorch gives 0 too) */
  }
  float z[N];
  memcpy(z, x, sizeof z);
  tv_relu(z, z, N); /* in place */
  assert_memory_equal(z, y, sizeof y);
  /* A long run (vectorised path) with a tail. */
  enum { L = 1027 };
  float *big = alloc_floats(L), *out = alloc_floats(L);
  for (int i = 0; i < L; i++) big[i] = (float)((i * 37) % 101 - 50);
  tv_relu(out, big, L);
  for (int i = 0; i < L; i++) assert_true(out[i] == (big[i] > 0 ? big[i] : 0.0f));
  free(big);
  free(out);
}

static void test_relu_backward(void **state) {
  (void)state;
  enum { N = 37 };
  float y[N], dy[N], dx[N];
  for (int i = 0; i < N; i++) {
    y[i] = (i % 3 == 0) ? 0.0f : (float)i * 0.25f; /* relu outputs: zero or positive */
    dy[i] = (float)(i - 18) * 0.5f;
    dx[i] = 100.0f;
  }
  tv_relu_backward(dx, dy, y, N, 0); /* write */
  for (int i = 0; i < N; i++) assert_true(dx[i] == (y[i] > 0 ? dy[i] : 0.0f));
  for (int i = 0; i < N; i++) dx[i] = 100.0f;
  tv_relu_backward(dx, dy, y, N, 1); /* accumulate */
  for (int i = 0; i < N; i++) assert_true(dx[i] == 100.0f + (y[i] > 0 ? dy[i] : 0.0f));
}

static void test_rows_set_sum(void **state) {
  (void)state;
  enum { N = 5, D = 7 };
  float b[D], y[N * D + 1];
  for (int j = 0; j < D; j++) b[j] = (float)j - 2.5f;
  y[N * D] = SENTINEL;
  tv_rows_set(y, b, N, D);
  for (int i = 0; i < N; i++) assert_memory_equal(y + i * D, b, sizeof b);
  assert_true(y[N * D] == SENTINEL);

  float dy[N * D];
  for (int i = 0; i < N * D; i++) dy[i] = (float)(i % 11) - 3.0f;
  float db[D + 1];
  for (int j = 0; j <= D; j++) db[j] = 9.0f;
  db[D] = SENTINEL;
  tv_rows_sum(db, dy, N, D, 0);
  for (int j = 0; j < D; j++) {
    float s = 0;
    for (int i = 0; i < N; i++) s += dy[i * D + j];
    assert_true(db[j] == s); /* small integers: exact */
  }
  assert_true(db[D] == SENTINEL);
  tv_rows_sum(db, dy, N, D, 1);
  for (int j = 0; j < D; j++) {
    float s = 0;
    for (int i = 0; i < N; i++) s += dy[i * D + j];
    assert_true(db[j] == 2.0f * s);
  }
  /* n = 0: write gives zeros, accumulate leaves db alone. */
  float before[D + 1];
  memcpy(before, db, sizeof db);
  tv_rows_sum(db, dy, 0, D, 1);
  assert_memory_equal(db, before, sizeof db);
  tv_rows_sum(db, dy, 0, D, 0);
  for (int j = 0; j < D; j++) assert_true(db[j] == 0.0f);
}

/* ---- softmax cross-entropy -------------------------------------------------------------- */

/* Double reference: mean over rows of logsumexp(z) - z[y], and (softmax - onehot) / n. */
static double xent_ref(const float *z, const int32_t *y, int n, int k, double *grad) {
  double total = 0;
  for (int i = 0; i < n; i++) {
    const float *r = z + (size_t)i * k;
    double mx = r[0];
    for (int j = 1; j < k; j++) mx = fmax(mx, r[j]);
    double s = 0;
    for (int j = 0; j < k; j++) s += exp((double)r[j] - mx);
    double lse = mx + log(s);
    total += lse - r[y[i]];
    if (grad)
      for (int j = 0; j < k; j++)
        grad[(size_t)i * k + j] = (exp((double)r[j] - lse) - (j == y[i])) / n;
  }
  return total / n;
}

static void check_xent(const float *z, const int32_t *y, int n, int k) {
  float *d = alloc_floats((size_t)n * k);
  double *g = malloc((size_t)n * k * sizeof *g);
  assert_non_null(g);
  double want = xent_ref(z, y, n, k, g);
  float got = tv_softmax_xent(z, y, n, k, d);
  assert_true(isfinite(got));
  if (!(fabs(got - want) <= 1e-6 * fabs(want) + 1e-7))
    fail_msg("loss %.9g, want %.9g", (double)got, want);
  for (int i = 0; i < n * k; i++)
    if (!(fabs(d[i] - g[i]) <= 1e-6 * fabs(g[i]) + 1e-9))
      fail_msg("dlogits[%d] = %.9g, want %.9g", i, (double)d[i], g[i]);
  /* dlogits == NULL gives the same loss. */
  assert_true(tv_softmax_xent(z, y, n, k, NULL) == got);
  free(d);
  free(g);
}

static void test_xent_reference(void **state) {
  (void)state;
  enum { N = 6, K = 10 };
  tv_rng r = tv_rng_seed(3, 9);
  float z[N * K];
  int32_t y[N];
  for (int i = 0; i < N * K; i++) z[i] = 4.0f * tv_rng_normal(&r);
  for (int i = 0; i < N; i++) y[i] = (int32_t)tv_rng_below(&r, K);
  check_xent(z, y, N, K);
  /* One class: loss 0, gradient 0. */
  float one[3] = {5.0f, -2.0f, 0.0f};
  int32_t zero[3] = {0, 0, 0};
  check_xent(one, zero, 3, 1);
  assert_true(tv_softmax_xent(one, zero, 3, 1, NULL) == 0.0f);
  /* Uniform logits: loss log(k). */
  float flat[4] = {3.0f, 3.0f, 3.0f, 3.0f};
  int32_t two[1] = {2};
  assert_true(fabs(tv_softmax_xent(flat, two, 1, 4, NULL) - log(4.0)) < 1e-6);
}

/* Logits of +-1000 overflow a naive exp: the max-subtracted form gives exact answers. */
static void test_xent_large_logits(void **state) {
  (void)state;
  const float z[] = {1000.0f,  -1000.0f, 0.0f,    /* label 0: loss ~ 0 */
                     1000.0f,  -1000.0f, 0.0f,    /* label 1: loss 2000 */
                     -1000.0f, -1000.0f, -999.0f, /* all very negative */
                     88.0f,    89.0f,    -88.0f};
  const int32_t y[] = {0, 1, 0, 2};
  float d[12];
  float loss1 = tv_softmax_xent(z + 3, y + 1, 1, 3, d);
  assert_true(loss1 == 2000.0f);
  assert_true(d[0] == 1.0f && d[1] == -1.0f && d[2] == 0.0f);
  float loss0 = tv_softmax_xent(z, y, 1, 3, d);
  assert_true(loss0 >= 0.0f && loss0 < 1e-30f);
  assert_true(d[0] == 0.0f && d[1] == 0.0f && d[2] == 0.0f);
  check_xent(z, y, 4, 3);
  assert_true(tv_all_finite(d, 3));
}

/* d(mean loss)/d logits by central differences h = 1e-2 over the float function itself.  The
 * step actually taken is (float)(z + h) - (float)(z - h), exact by Sterbenz, so large logits
 * (where an ulp is 6e-5) still divide by the true step. */
static void test_xent_gradient_central(void **state) {
  (void)state;
  enum { N = 4, K = 5 };
  tv_rng r = tv_rng_seed(11, 2);
  float z[N * K], d[N * K];
  int32_t y[N] = {1, 4, 0, 2};
  for (int i = 0; i < N * K; i++) z[i] = 2.0f * tv_rng_normal(&r);
  z[2 * K + 0] = 1000.0f; /* a large-logit row whose label is the arg max: loss stays small */
  z[2 * K + 1] = 999.0f;
  z[2 * K + 2] = -1000.0f;
  (void)tv_softmax_xent(z, y, N, K, d);
  for (int i = 0; i < N * K; i++) {
    float keep = z[i];
    z[i] = keep + 1e-2f;
    float zp = z[i];
    double lp = tv_softmax_xent(z, y, N, K, NULL);
    z[i] = keep - 1e-2f;
    float zm = z[i];
    double lm = tv_softmax_xent(z, y, N, K, NULL);
    z[i] = keep;
    double num = (lp - lm) / ((double)zp - (double)zm);
    if (!(fabs(num - d[i]) <= 1e-3))
      fail_msg("dlogits[%d] = %.6g, central difference %.6g", i, (double)d[i], num);
  }
}

/* ---- tv_all_finite ---------------------------------------------------------------------- */

static void test_all_finite(void **state) {
  (void)state;
  enum { N = 67 };
  float x[N];
  for (int i = 0; i < N; i++) x[i] = (float)(i - 30) * 1e30f;
  x[5] = FLT_MAX;
  x[6] = -FLT_MAX;
  x[7] = FLT_MIN / 4.0f; /* subnormal */
  assert_int_equal(tv_all_finite(x, N), 1);
  assert_int_equal(tv_all_finite(x, 0), 1);
  const float bad[] = {NAN, -NAN, INFINITY, -INFINITY};
  const int where[] = {0, 1, 31, N - 1};
  for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
      float keep = x[where[w]];
      x[where[w]] = bad[b];
      if (tv_all_finite(x, N) != 0) fail_msg("value %g at %d reported finite", bad[b], where[w]);
      assert_int_equal(tv_all_finite(x + where[w], 1), 0);
      x[where[w]] = keep;
    }
  /* +Inf and -Inf together (their sum would be NaN, their product -Inf: both must fail). */
  x[3] = INFINITY;
  x[4] = -INFINITY;
  assert_int_equal(tv_all_finite(x, N), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gemm_1x1x1),
      cmocka_unit_test(test_gemm_odd_sizes),
      cmocka_unit_test(test_gemm_mlp_shapes),
      cmocka_unit_test(test_gemm_k_zero),
      cmocka_unit_test(test_relu),
      cmocka_unit_test(test_relu_backward),
      cmocka_unit_test(test_rows_set_sum),
      cmocka_unit_test(test_xent_reference),
      cmocka_unit_test(test_xent_large_logits),
      cmocka_unit_test(test_xent_gradient_central),
      cmocka_unit_test(test_all_finite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
