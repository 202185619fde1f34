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
 * Label-smoothed cross-entropy as plain.  Activations: forward within 5e-7 relative (+1e-7)
 * of the double function, backward within 1e-6 relative of dy f'(x).  im2col, max pooling
 * (values and argmax, ties included) and max-pool backward are exact; col2im is checked as the
 * adjoint of im2col (<im2col x, c> = <x, col2im c> to 1e-5 relative) and bit for bit against
 * direct loops summing in the same order; average pooling to 1e-6.
 */
#include "trainval/ctx.h"
#include "trainval/loss.h"
#include "trainval/ops.h"

#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <cblas.h>

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
  tv_sum_over_rows(db, dy, N, D, 0);
  for (int j = 0; j < D; j++) {
    float s = 0;
    for (int i = 0; i < N; i++) s += dy[i * D + j];
    assert_true(db[j] == s); /* small integers: exact */
  }
  assert_true(db[D] == SENTINEL);
  tv_sum_over_rows(db, dy, N, D, 1);
  for (int j = 0; j < D; j++) {
    float s = 0;
    for (int i = 0; i < N; i++) s += dy[i * D + j];
    assert_true(db[j] == 2.0f * s);
  }
  /* n = 0: write gives zeros, accumulate leaves db alone. */
  float before[D + 1];
  memcpy(before, db, sizeof db);
  tv_sum_over_rows(db, dy, 0, D, 1);
  assert_memory_equal(db, before, sizeof db);
  tv_sum_over_rows(db, dy, 0, D, 0);
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

/* ---- label-smoothed cross-entropy --------------------------------------------------------- */

/* q = (1 - s) onehot + s / k: loss -sum q log p and its gradient (p - q) / n in double. */
static double xent_smooth_ref(const float *z, const int32_t *y, int n, int k, double s,
                              double *grad) {
  double total = 0;
  for (int i = 0; i < n; i++) {
    const float *r = z + (size_t)i * k;
    double mx = r[0], sum = 0;
    for (int j = 1; j < k; j++) mx = fmax(mx, r[j]);
    for (int j = 0; j < k; j++) sum += exp((double)r[j] - mx);
    double lse = mx + log(sum);
    for (int j = 0; j < k; j++) {
      double q = (j == y[i] ? 1.0 - s : 0.0) + s / k;
      total -= q * ((double)r[j] - lse);
      grad[(size_t)i * k + j] = (exp((double)r[j] - lse) - q) / n;
    }
  }
  return total / n;
}

static void test_xent_label_smoothing(void **state) {
  (void)state;
  enum { N = 5, K = 7 };
  tv_rng r = tv_rng_seed(5, 5);
  float z[N * K], d[N * K];
  double g[N * K];
  int32_t y[N];
  for (int i = 0; i < N * K; i++) z[i] = 3.0f * tv_rng_normal(&r);
  for (int i = 0; i < N; i++) y[i] = (int32_t)tv_rng_below(&r, K);
  const float smooth[] = {0.0f, 0.1f, 0.5f, 0.95f};
  for (size_t t = 0; t < sizeof smooth / sizeof smooth[0]; t++) {
    double want = xent_smooth_ref(z, y, N, K, smooth[t], g);
    float got = tv_softmax_xent_smooth(z, y, N, K, smooth[t], d);
    if (!(fabs(got - want) <= 1e-6 * fabs(want)))
      fail_msg("s %g: loss %.9g, want %.9g", smooth[t], got, want);
    for (int i = 0; i < N * K; i++)
      if (!(fabs(d[i] - g[i]) <= 1e-6 * fabs(g[i]) + 1e-9))
        fail_msg("s %g: dlogits[%d] %.9g, want %.9g", smooth[t], i, d[i], g[i]);
    assert_true(tv_softmax_xent_smooth(z, y, N, K, smooth[t], NULL) == got);
  }
  /* s = 0 is exactly tv_softmax_xent. */
  assert_true(tv_softmax_xent_smooth(z, y, N, K, 0.0f, NULL) == tv_softmax_xent(z, y, N, K, NULL));
}

/* ---- activations: against double references; backward against the analytic derivative ---- */

typedef struct act_case {
  const char *name;
  double (*f)(double x, double a);
  double (*df)(double x, double a); /* d f / d x */
  double alpha;
} act_case;

static double f_leaky(double x, double a) { return x > 0 ? x : a * x; }
static double df_leaky(double x, double a) { return x > 0 ? 1 : a; }
static double f_elu(double x, double a) { return x > 0 ? x : a * expm1(x); }
static double df_elu(double x, double a) { return x > 0 ? 1 : a * exp(x); }
static double f_gelu(double x, double a) {
  (void)a;
  return 0.5 * x * (1 + erf(x / sqrt(2.0)));
}
static double df_gelu(double x, double a) {
  (void)a;
  return 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
}
static double f_sigmoid(double x, double a) {
  (void)a;
  return 1 / (1 + exp(-x));
}
static double df_sigmoid(double x, double a) {
  (void)a;
  double s = 1 / (1 + exp(-x));
  return s * (1 - s);
}
static double f_tanh(double x, double a) {
  (void)a;
  return tanh(x);
}
static double df_tanh(double x, double a) {
  (void)a;
  return 1 - tanh(x) * tanh(x);
}

static void apply_act(int which, float *y, const float *x, size_t n, float a) {
  switch (which) {
  case 0:
    tv_leaky_relu(y, x, n, a);
    break;
  case 1:
    tv_elu(y, x, n, a);
    break;
  case 2:
    tv_gelu(y, x, n);
    break;
  case 3:
    tv_sigmoid(y, x, n);
    break;
  default:
    tv_tanh(y, x, n);
    break;
  }
}

static void apply_act_backward(int which, float *dx, const float *dy, const float *x,
                               const float *y, size_t n, float a, int acc) {
  switch (which) {
  case 0:
    tv_leaky_relu_backward(dx, dy, x, n, a, acc);
    break;
  case 1:
    tv_elu_backward(dx, dy, x, y, n, a, acc);
    break;
  case 2:
    tv_gelu_backward(dx, dy, x, n, acc);
    break;
  case 3:
    tv_sigmoid_backward(dx, dy, y, n, acc);
    break;
  default:
    tv_tanh_backward(dx, dy, y, n, acc);
    break;
  }
}

/* Forward within 4 float ulps (relative 5e-7, absolute 1e-7 near 0) of the double function;
 * backward within 1e-6 relative of dy * f'(x) (the kernels use y where the derivative is a
 * function of it, so they carry y's rounding); large |x| saturate without NaN or overflow. */
static void test_activations(void **state) {
  (void)state;
  const act_case cases[] = {{"leaky_relu", f_leaky, df_leaky, 0.01},
                            {"leaky_relu 0.3", f_leaky, df_leaky, 0.3},
                            {"elu", f_elu, df_elu, 1.0},
                            {"gelu", f_gelu, df_gelu, 0},
                            {"sigmoid", f_sigmoid, df_sigmoid, 0},
                            {"tanh", f_tanh, df_tanh, 0}};
  const int which[] = {0, 0, 1, 2, 3, 4};
  enum { N = 301 };
  float x[N], y[N], dy[N], dx[N];
  for (int i = 0; i < N; i++) {
    x[i] = (float)(i - 150) / 15.0f; /* [-10, 10] with 0 */
    dy[i] = 0.5f + (float)(i % 5);
  }
  x[0] = -100.0f;
  x[N - 1] = 100.0f;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const act_case *ac = &cases[c];
    float a = (float)ac->alpha;
    apply_act(which[c], y, x, N, a);
    for (int i = 0; i < N; i++) {
      double want = ac->f(x[i], (double)a);
      if (!(fabs(y[i] - want) <= 5e-7 * fabs(want) + 1e-7))
        fail_msg("%s(%g) = %.9g, want %.9g", ac->name, x[i], y[i], want);
    }
    float z[N];
    memcpy(z, x, sizeof z);
    apply_act(which[c], z, z, N, a); /* in place */
    assert_memory_equal(z, y, sizeof y);
    apply_act_backward(which[c], dx, dy, x, y, N, a, 0);
    for (int i = 0; i < N; i++) {
      double want = dy[i] * ac->df(x[i], (double)a);
      if (!(fabs(dx[i] - want) <= 1e-6 * fabs(dy[i]) + 1e-6 * fabs(want)))
        fail_msg("%s'(%g) * %g = %.9g, want %.9g", ac->name, x[i], dy[i], dx[i], want);
    }
    float acc[N];
    for (int i = 0; i < N; i++) acc[i] = 1.0f;
    apply_act_backward(which[c], acc, dy, x, y, N, a, 1);
    for (int i = 0; i < N; i++) assert_true(acc[i] == 1.0f + dx[i]);
  }
}

static void test_softmax_rows(void **state) {
  (void)state;
  enum { N = 3, K = 6 };
  float x[N * K], y[N * K], dy[N * K], dx[N * K];
  tv_rng r = tv_rng_seed(1, 8);
  for (int i = 0; i < N * K; i++) {
    x[i] = 5.0f * tv_rng_normal(&r);
    dy[i] = tv_rng_normal(&r);
  }
  x[K] = 1000.0f; /* no overflow */
  tv_softmax_rows(y, x, N, K);
  for (int i = 0; i < N; i++) {
    double mx = x[i * K], s = 0, dot = 0;
    for (int j = 1; j < K; j++) mx = fmax(mx, x[i * K + j]);
    for (int j = 0; j < K; j++) s += exp(x[i * K + j] - mx);
    for (int j = 0; j < K; j++) {
      double p = exp(x[i * K + j] - mx) / s;
      if (!(fabs(y[i * K + j] - p) <= 1e-6 * p + 1e-12))
        fail_msg("softmax %g, want %g", y[i * K + j], p);
      dot += dy[i * K + j] * p;
    }
    tv_softmax_rows_backward(dx, dy, y, N, K, 0);
    for (int j = 0; j < K; j++) {
      double p = exp(x[i * K + j] - mx) / s, want = p * (dy[i * K + j] - dot);
      if (!(fabs(dx[i * K + j] - want) <= 1e-5 * fabs(want) + 1e-7))
        fail_msg("softmax backward %g, want %g", dx[i * K + j], want);
    }
  }
}

/* ---- im2col / col2im and pooling against direct loops ----------------------------------- */

typedef struct geom_case {
  int c, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
} geom_case;

/* Valid, same-style asymmetric padding (the extra row/column after), strides, 1x1, a kernel as
 * large as the input, non-square everything. */
static const geom_case geoms[] = {
    {1, 5, 5, 3, 3, 1, 1, 0, 0, 3, 3},
    {2, 6, 5, 3, 3, 1, 1, 1, 1, 6, 5},
    {1, 4, 6, 3, 3, 1, 1, 0, 1, 2, 6},
    {2, 3, 1, 3, 3, 1, 1, 1, 1, 3, 1},
    {1, 7, 7, 5, 5, 1, 1, 2, 2, 7, 7},
    {1, 2, 4, 3, 3, 1, 1, 2, 1, 4, 4},
    {3, 7, 6, 3, 2, 2, 2, 1, 0, 4, 3},
    {2, 5, 7, 2, 3, 1, 3, 0, 1, 4, 3},
    {2, 4, 4, 1, 1, 1, 1, 0, 0, 4, 4},
    {1, 3, 4, 3, 4, 1, 1, 0, 0, 1, 1},
    {2, 8, 8, 2, 2, 2, 2, 0, 0, 4, 4},
    {1, 9, 7, 3, 3, 2, 2, 1, 1, 5, 4},
    {2, 5, 5, 3, 3, 1, 1, 2, 2, 7, 7},
    /* the CNN's planes (28 and 14 wide: rows of one and two 16-lane vectors), 32 (two full
     * vectors), 33 (past the vector rows), odd widths under the 2x2 pool */
    {3, 5, 28, 3, 3, 1, 1, 1, 1, 5, 28},
    {2, 4, 14, 3, 3, 1, 1, 1, 1, 4, 14},
    {2, 4, 32, 3, 3, 1, 1, 1, 1, 4, 32},
    {1, 3, 33, 3, 3, 1, 1, 1, 1, 3, 33},
    {2, 6, 28, 2, 2, 2, 2, 0, 0, 3, 14},
    {1, 4, 32, 2, 2, 2, 2, 0, 0, 2, 16},
    {1, 5, 31, 2, 2, 2, 2, 0, 0, 2, 15},
    {2, 4, 14, 2, 2, 2, 2, 0, 0, 2, 7},
};

static tv_conv_geom to_geom(const geom_case *gc) {
  return (tv_conv_geom){gc->c,  gc->h,  gc->w,  gc->kh, gc->kw, gc->sh,
                        gc->sw, gc->ph, gc->pw, gc->oh, gc->ow};
}

static float at(const geom_case *g, const float *x, int c, int i, int j) {
  if (i < 0 || i >= g->h || j < 0 || j >= g->w) return 0.0f;
  return x[((size_t)c * g->h + i) * g->w + j];
}

static void test_im2col(void **state) {
  (void)state;
  for (size_t t = 0; t < sizeof geoms / sizeof geoms[0]; t++) {
    const geom_case *gc = &geoms[t];
    tv_conv_geom g = to_geom(gc);
    size_t in = (size_t)gc->c * gc->h * gc->w, p = (size_t)gc->oh * gc->ow;
    size_t rows = (size_t)gc->c * gc->kh * gc->kw, ld = 2 * p + 3; /* two examples, spare columns */
    tv_rng r = tv_rng_seed(t, 3);
    float *x = random_matrix(&r, 2, (int)in, (int)in, 0.0f);
    float *col = alloc_floats(rows * ld);
    for (size_t i = 0; i < rows * ld; i++) col[i] = SENTINEL;
    tv_im2col(&g, x, col, ld);
    tv_im2col(&g, x + in, col + p, ld);
    for (int e = 0; e < 2; e++)
      for (int c = 0; c < gc->c; c++)
        for (int i = 0; i < gc->kh; i++)
          for (int j = 0; j < gc->kw; j++)
            for (int oh = 0; oh < gc->oh; oh++)
              for (int ow = 0; ow < gc->ow; ow++) {
                size_t row = ((size_t)c * gc->kh + i) * gc->kw + j;
                float got = col[row * ld + (size_t)e * p + (size_t)oh * gc->ow + ow];
                float want =
                    at(gc, x + e * in, c, oh * gc->sh - gc->ph + i, ow * gc->sw - gc->pw + j);
                if (got != want)
                  fail_msg("case %zu: col[%zu][%d,%d,%d] = %g, want %g", t, row, e, oh, ow, got,
                           want);
              }
    for (size_t row = 0; row < rows; row++) /* the spare columns are untouched */
      for (size_t q = 2 * p; q < ld; q++) assert_true(col[row * ld + q] == SENTINEL);

    /* col2im is the adjoint: <im2col(x), c> == <x, col2im(c)>, and it adds to dx. */
    float *c2 = random_matrix(&r, (int)rows, (int)p, (int)p, 0.0f);
    float *dx = alloc_floats(in);
    for (size_t i = 0; i < in; i++) dx[i] = 0.5f;
    tv_col2im(&g, c2, p, dx, 1);
    float *c1 = alloc_floats(rows * p);
    tv_im2col(&g, x, c1, p);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < rows * p; i++) lhs += (double)c1[i] * c2[i];
    for (size_t i = 0; i < in; i++) rhs += (double)x[i] * (dx[i] - 0.5);
    if (!(fabs(lhs - rhs) <= 1e-5 * (1 + fabs(lhs))))
      fail_msg("case %zu: <im2col x, c> %.9g, <x, col2im c> %.9g", t, lhs, rhs);
    /* and bit for bit the direct loops' sums, added in (channel, kernel row, kernel column)
     * order: whichever kernel runs, the gradient's bits are the same */
    float *want = alloc_floats(in);
    for (size_t i = 0; i < in; i++) want[i] = 0.5f;
    for (int c = 0; c < gc->c; c++)
      for (int i = 0; i < gc->kh; i++)
        for (int j = 0; j < gc->kw; j++)
          for (int oh = 0; oh < gc->oh; oh++)
            for (int ow = 0; ow < gc->ow; ow++) {
              int ih = oh * gc->sh - gc->ph + i, iw = ow * gc->sw - gc->pw + j;
              if (ih < 0 || ih >= gc->h || iw < 0 || iw >= gc->w) continue;
              size_t row = ((size_t)c * gc->kh + i) * gc->kw + j;
              want[((size_t)c * gc->h + ih) * gc->w + iw] += c2[row * p + (size_t)oh * gc->ow + ow];
            }
    for (size_t i = 0; i < in; i++)
      if (dx[i] != want[i])
        fail_msg("case %zu: col2im dx[%zu] %.9g, want %.9g", t, i, dx[i], want[i]);
    /* write mode: over garbage, the bits of the same sums on a cleared dx */
    for (size_t i = 0; i < in; i++) dx[i] = SENTINEL;
    tv_col2im(&g, c2, p, dx, 0);
    float *zero = alloc_floats(in);
    for (size_t i = 0; i < in; i++) zero[i] = 0.0f;
    tv_col2im(&g, c2, p, zero, 1);
    assert_memory_equal(dx, zero, in * sizeof *dx);
    free(zero);
    free(want);
    free(c1);
    free(c2);
    free(dx);
    free(col);
    free(x);
  }
}

static void test_pooling(void **state) {
  (void)state;
  for (size_t t = 0; t < sizeof geoms / sizeof geoms[0]; t++) {
    const geom_case *gc = &geoms[t];
    if (2 * gc->ph > gc->kh || 2 * gc->pw > gc->kw) continue; /* pools refuse these */
    tv_conv_geom g = to_geom(gc);
    size_t in = (size_t)gc->c * gc->h * gc->w, out = (size_t)gc->c * gc->oh * gc->ow;
    tv_rng r = tv_rng_seed(t, 4);
    float *x = alloc_floats(in), *y = alloc_floats(out), *a = alloc_floats(out);
    float *dy = alloc_floats(out), *dx = alloc_floats(in), *dxa = alloc_floats(in);
    double *want_dx = calloc(in, sizeof *want_dx), *want_dxa = calloc(in, sizeof *want_dxa);
    assert_non_null(want_dx);
    assert_non_null(want_dxa);
    /* Coarse values so that windows hold ties: the first maximum must win. */
    for (size_t i = 0; i < in; i++) x[i] = (float)tv_rng_below(&r, 4);
    for (size_t i = 0; i < out; i++) dy[i] = 1.0f + (float)i;
    int32_t *arg = malloc(out * sizeof *arg);
    assert_non_null(arg);
    tv_max_pool2d(&g, x, y, arg, 0);
    tv_avg_pool2d(&g, x, a);
    for (size_t i = 0; i < in; i++) dx[i] = dxa[i] = 0.0f;
    tv_max_pool2d_backward(&g, dy, arg, NULL, dx, 1);
    tv_avg_pool2d_backward(&g, dy, dxa);
    for (int c = 0; c < gc->c; c++)
      for (int oh = 0; oh < gc->oh; oh++)
        for (int ow = 0; ow < gc->ow; ow++) {
          size_t o = ((size_t)c * gc->oh + oh) * gc->ow + ow;
          float best = -INFINITY;
          int32_t bi = -1;
          double sum = 0;
          int cnt = 0;
          for (int i = 0; i < gc->kh; i++)
            for (int j = 0; j < gc->kw; j++) {
              int ih = oh * gc->sh - gc->ph + i, iw = ow * gc->sw - gc->pw + j;
              if (ih < 0 || ih >= gc->h || iw < 0 || iw >= gc->w) continue;
              int32_t idx = (int32_t)(((size_t)c * gc->h + ih) * gc->w + iw);
              if (x[idx] > best) best = x[idx], bi = idx;
              sum += x[idx];
              cnt++;
            }
          if (y[o] != best || arg[o] != bi)
            fail_msg("case %zu: max[%zu] %g at %d, want %g at %d", t, o, y[o], arg[o], best, bi);
          if (!(fabs(a[o] - sum / cnt) <= 1e-6 * fabs(sum / cnt)))
            fail_msg("case %zu: avg[%zu] %g, want %g", t, o, a[o], sum / cnt);
          want_dx[bi] += dy[o];
          for (int i = 0; i < gc->kh; i++)
            for (int j = 0; j < gc->kw; j++) {
              int ih = oh * gc->sh - gc->ph + i, iw = ow * gc->sw - gc->pw + j;
              if (ih < 0 || ih >= gc->h || iw < 0 || iw >= gc->w) continue;
              want_dxa[((size_t)c * gc->h + ih) * gc->w + iw] += (double)dy[o] / cnt;
            }
        }
    for (size_t i = 0; i < in; i++) {
      if (dx[i] != (float)want_dx[i])
        fail_msg("case %zu: max dx[%zu] %g, want %g", t, i, dx[i], want_dx[i]);
      if (!(fabs(dxa[i] - want_dxa[i]) <= 1e-6 * fabs(want_dxa[i])))
        fail_msg("case %zu: avg dx[%zu] %g, want %g", t, i, dxa[i], want_dxa[i]);
    }
    tv_max_pool2d(&g, x, a, NULL, 0); /* without argmax: same values */
    assert_memory_equal(a, y, out * sizeof *y);
    /* relu folded in: the pool of relu(x); backward only where the output is positive */
    for (size_t i = 0; i < in; i++) x[i] -= 1.5f;
    float *rx = alloc_floats(in), *ry = alloc_floats(out);
    for (size_t i = 0; i < in; i++) rx[i] = x[i] > 0 ? x[i] : 0.0f;
    tv_max_pool2d(&g, rx, ry, NULL, 0);
    tv_max_pool2d(&g, x, a, arg, 1);
    assert_memory_equal(a, ry, out * sizeof *a);
    for (size_t i = 0; i < in; i++) dx[i] = 0.0f;
    tv_max_pool2d_backward(&g, dy, arg, a, dx, 1);
    float *dw = alloc_floats(in); /* write mode: the same over garbage */
    for (size_t i = 0; i < in; i++) dw[i] = SENTINEL;
    tv_max_pool2d_backward(&g, dy, arg, a, dw, 0);
    assert_memory_equal(dw, dx, in * sizeof *dx);
    for (size_t i = 0; i < in; i++) dw[i] = SENTINEL;
    tv_max_pool2d_backward(&g, dy, arg, NULL, dw, 0);
    for (size_t o = 0; o < out; o++) dw[arg[o]] -= dy[o]; /* back to all zeros */
    for (size_t i = 0; i < in; i++) assert_true(dw[i] == 0.0f);
    free(dw);
    for (size_t i = 0; i < in; i++) want_dx[i] = 0;
    for (size_t o = 0; o < out; o++)
      if (a[o] > 0) want_dx[arg[o]] += dy[o];
    for (size_t i = 0; i < in; i++) {
      assert_true(dx[i] == (float)want_dx[i]);
      if (dx[i] != 0.0f) assert_true(x[i] > 0); /* relu's gradient mask */
    }
    free(rx);
    free(ry);
    free(arg);
    free(want_dx);
    free(want_dxa);
    free(x);
    free(y);
    free(a);
    free(dy);
    free(dx);
    free(dxa);
  }
}

static void test_row_sums_mul_add(void **state) {
  (void)state;
  enum { R = 3, C = 37 };
  float a[R * C], s[R] = {1, 2, 3}, y[C], m[C];
  for (int i = 0; i < R * C; i++) a[i] = (float)(i % 11) - 5.0f;
  tv_sum_over_cols(s, a, R, C, 1);
  for (int i = 0; i < R; i++) {
    float t = 0;
    for (int j = 0; j < C; j++) t += a[i * C + j];
    assert_true(s[i] == (float)(i + 1) + t);
  }
  tv_sum_over_cols(s, a, R, C, 0);
  for (int j = 0; j < C; j++) m[j] = (float)(j % 2) * 2.0f;
  tv_mul(y, a, m, C, 0);
  for (int j = 0; j < C; j++) assert_true(y[j] == a[j] * m[j]);
  tv_mul(y, a, m, C, 1);
  for (int j = 0; j < C; j++) assert_true(y[j] == 2 * a[j] * m[j]);
  tv_add(y, a, C, 0);
  assert_memory_equal(y, a, sizeof y);
  tv_add(y, a, C, 1);
  for (int j = 0; j < C; j++) assert_true(y[j] == 2 * a[j]);
}

/* ---- the thread pool ------------------------------------------------------------------------ */

typedef struct pool_probe {
  int *hits;         /* per item: how many times it was visited */
  int thread_of[64]; /* per item: the thread that visited it */
  int calls[8];      /* per thread: calls of fn */
  int begins[64];    /* per chunk (by its first item, items < 64): 1 + its end */
  int slow_thread;   /* 1 + a thread whose first call sleeps (0: none) */
} pool_probe;

static void pool_visit(void *ctx, int begin, int end, int thread) {
  pool_probe *p = ctx;
  assert_true(begin < end);
  int first = __atomic_fetch_add(&p->calls[thread], 1, __ATOMIC_RELAXED) == 0;
  if (begin < 64) p->begins[begin] = end + 1;
  for (int i = begin; i < end; i++) {
    __atomic_fetch_add(&p->hits[i], 1, __ATOMIC_RELAXED);
    if (i < 64) p->thread_of[i] = thread;
  }
  if (first && p->slow_thread == thread + 1) nanosleep(&(struct timespec){0, 200000000}, NULL);
}

/* Every item is visited exactly once, in contiguous chunks cut the same way every time (by n and
 * the team's size: min(n, 4 per thread), boundaries n*i/chunks), each claimed by whichever
 * thread comes first; fewer items than threads and a NULL pool work. */
static void test_pool(void **state) {
  (void)state;
  const int teams[] = {1, 2, 3, 5};
  const int sizes[] = {1, 2, 3, 7, 64, 1000};
  for (size_t a = 0; a < sizeof teams / sizeof teams[0]; a++) {
    tv_pool *p = NULL;
    assert_int_equal(tv_pool_new(teams[a], &p), TV_OK);
    assert_int_equal(tv_pool_threads(p), teams[a]);
    for (size_t b = 0; b < sizeof sizes / sizeof sizes[0]; b++) {
      int n = sizes[b];
      int chunks = teams[a] == 1 ? 1 : (n < 4 * teams[a] ? n : 4 * teams[a]);
      for (int rep = 0; rep < 50; rep++) { /* many jobs back to back: wake-ups are not lost */
        pool_probe pr;
        memset(&pr, 0, sizeof pr);
        pr.hits = calloc((size_t)n, sizeof *pr.hits);
        assert_non_null(pr.hits);
        tv_pool_for(p, n, pool_visit, &pr);
        for (int i = 0; i < n; i++) assert_int_equal(pr.hits[i], 1);
        int used = 0;
        for (int t = 0; t < teams[a]; t++) used += pr.calls[t];
        for (int t = teams[a]; t < 8; t++) assert_int_equal(pr.calls[t], 0);
        assert_int_equal(used, chunks);
        if (n <= 64)
          for (int i = 0; i < chunks; i++) /* the cut: fixed by (n, team size) */
            assert_int_equal(pr.begins[(int)((int64_t)n * i / chunks)],
                             (int)((int64_t)n * (i + 1) / chunks) + 1);
        free(pr.hits);
      }
    }
    tv_pool_free(p);
  }
  /* A NULL pool runs everything in the caller, as one range. */
  pool_probe pr;
  memset(&pr, 0, sizeof pr);
  pr.hits = calloc(10, sizeof *pr.hits);
  assert_non_null(pr.hits);
  tv_pool_for(NULL, 10, pool_visit, &pr);
  assert_int_equal(pr.calls[0], 1);
  tv_pool_for(NULL, 0, pool_visit, &pr); /* nothing */
  for (int i = 0; i < 10; i++) assert_int_equal(pr.hits[i], 1);
  free(pr.hits);
  tv_pool_free(NULL);
  assert_int_equal(tv_pool_threads(NULL), 1);
}

/* A thread that stalls (descheduled: here its first chunk sleeps 200 ms) holds only the chunk it
 * took; the others take the rest, whichever thread stalls. */
static void test_pool_stalled_thread(void **state) {
  (void)state;
  tv_pool *p = NULL;
  assert_int_equal(tv_pool_new(2, &p), TV_OK);
  for (int slow = 0; slow < 2; slow++) {
    pool_probe pr;
    memset(&pr, 0, sizeof pr);
    pr.hits = calloc(8, sizeof *pr.hits);
    assert_non_null(pr.hits);
    pr.slow_thread = slow + 1;
    tv_pool_for(p, 8, pool_visit, &pr);
    for (int i = 0; i < 8; i++) assert_int_equal(pr.hits[i], 1);
    assert_int_equal(pr.calls[0] + pr.calls[1], 8);
    if (pr.calls[slow] > 0) assert_int_equal(pr.calls[slow], 1); /* stalled after its first */
    assert_true(pr.calls[1 - slow] >= 7);
    free(pr.hits);
  }
  tv_pool_free(p);
}

/* The process's context: a team of the asked size (the caller is thread 0), OpenBLAS held to one
 * thread from then on (the team's threads each call gemm; nothing toggles it per call), a
 * count <= 0 taking OpenBLAS's own as it stands. */
static void test_ctx_team(void **state) {
  (void)state;
  tv_ctx *c = NULL;
  assert_int_equal(tv_ctx_new(3, &c), TV_OK);
  assert_non_null(c);
  assert_int_equal(tv_ctx_threads(c), 3);
  assert_int_equal(tv_pool_threads(tv_ctx_team(c)), 3);
  assert_int_equal(openblas_get_num_threads(), 1);
  pool_probe pr;
  memset(&pr, 0, sizeof pr);
  pr.hits = calloc(9, sizeof *pr.hits);
  assert_non_null(pr.hits);
  tv_pool_for(tv_ctx_team(c), 9, pool_visit, &pr);
  assert_int_equal(pr.calls[0] + pr.calls[1] + pr.calls[2], 9); /* 9 chunks over the team */
  for (int t = 3; t < 8; t++) assert_int_equal(pr.calls[t], 0);
  for (int i = 0; i < 9; i++) assert_int_equal(pr.hits[i], 1);
  free(pr.hits);
  tv_ctx_free(c);
  assert_int_equal(openblas_get_num_threads(), 1); /* stays: set once for the process */
  assert_int_equal(tv_ctx_new(0, &c), TV_OK);
  assert_int_equal(tv_ctx_threads(c), 1); /* OpenBLAS's count as it stands */
  tv_ctx_free(c);
  tv_ctx_free(NULL);
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
      cmocka_unit_test(test_xent_label_smoothing),
      cmocka_unit_test(test_activations),
      cmocka_unit_test(test_softmax_rows),
      cmocka_unit_test(test_im2col),
      cmocka_unit_test(test_pooling),
      cmocka_unit_test(test_row_sums_mul_add),
      cmocka_unit_test(test_pool),
      cmocka_unit_test(test_pool_stalled_thread),
      cmocka_unit_test(test_ctx_team),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
