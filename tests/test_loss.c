/* test_loss.c — the loss table: every row has a name, a target kind and a forward whose gradient
 * matches central differences of its own loss (driven by the table, so a new row is checked
 * without a new test), tv_loss_forward is the row's kernel bit for bit, the config chooses the
 * loss and its label smoothing, and the gradient is that of the mean over rows.
 *
 * Tolerance of the central differences: the loss is accumulated in double and returned as
 * float, eps = 1e-2 on logits of order 1, so |analytic - numeric| <= 1e-2 |analytic| + 2e-4.
 *
 * The float-target rows (mse, mae, huber, sigmoid_cross_entropy) are also checked against
 * PyTorch: tests/fixtures/reference_losses.txt (scripts/make_loss_fixtures.py, float64, exact for
 * our float32 inputs).  Tolerance: loss |ours - ref| <= 1e-6 |ref| + 1e-7, gradient per element
 * <= 1e-6 max|grad| + 1e-6 |ref| (float32 rounding of a double computation). */
#include "trainval/loss.h"
#include "trainval/metrics.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trainval/config.h"
#include "trainval/error.h"
#include "base/fs.h"
#include "trainval/rng.h"

#include "testutil.h"

enum { N = 5, K = 4 };

static void fill(float *z, int32_t *cls, float *vec, uint64_t seed) {
  tv_rng r = tv_rng_seed(seed, TV_RNG_AUGMENT);
  for (int i = 0; i < N * K; i++) z[i] = tv_rng_normal(&r);
  for (int i = 0; i < N; i++) cls[i] = (int32_t)((i * 3 + 1) % K);
  for (int i = 0; i < N * K; i++) vec[i] = tv_rng_uniform(&r);
}

static void test_every_row_gradient(void **state) {
  (void)state;
  const float smoothing[] = {0.0f, 0.1f};
  for (int kind = 0; kind < TV_LOSS__COUNT; kind++) {
    const tv_loss_ops *ops = tv_loss_ops_for((tv_loss_kind)kind);
    assert_non_null(ops);
    assert_non_null(ops->name);
    assert_non_null(ops->forward);
    assert_true(ops->target == TV_TARGET_CLASS || ops->target == TV_TARGET_VECTOR);
    for (size_t si = 0; si < sizeof smoothing / sizeof smoothing[0]; si++) {
      tv_loss loss = {.kind = (tv_loss_kind)kind, .params = {.label_smoothing = smoothing[si]}};
      float z[N * K], vec[N * K], dy[N * K];
      int32_t cls[N];
      fill(z, cls, vec, 7 + si);
      tv_targets t = {.classes = cls, .values = vec};
      float l = tv_loss_forward(&loss, z, t, N, K, dy);
      assert_true(isfinite(l));
      assert_true(l == tv_loss_forward(&loss, z, t, N, K, NULL)); /* dy is optional */
      for (int i = 0; i < N * K; i++) {
        const float eps = 1e-2f;
        float z0 = z[i];
        z[i] = z0 + eps;
        double up = tv_loss_forward(&loss, z, t, N, K, NULL);
        z[i] = z0 - eps;
        double down = tv_loss_forward(&loss, z, t, N, K, NULL);
        z[i] = z0;
        double num = (up - down) / (2.0 * eps);
        if (!(fabs(dy[i] - num) <= 1e-2 * fabs(dy[i]) + 2e-4))
          fail_msg("%s (s %.1f): d loss / d z[%d]: %.6g, central difference %.6g", ops->name,
                   (double)smoothing[si], i, dy[i], num);
      }
    }
  }
}

/* The softmax cross-entropy row is the kernel, bit for bit (the trainer's loss did not change
 * when it left the model), and its gradient is the mean's: each row's share is divided by n. */
static void test_softmax_xent_row(void **state) {
  (void)state;
  const tv_loss_ops *ops = tv_loss_ops_for(TV_LOSS_SOFTMAX_XENT);
  assert_string_equal(ops->name, "softmax_cross_entropy");
  assert_int_equal(ops->target, TV_TARGET_CLASS);
  float z[N * K], vec[N * K], a[N * K], b[N * K];
  int32_t cls[N];
  fill(z, cls, vec, 3);
  tv_loss loss = {.kind = TV_LOSS_SOFTMAX_XENT, .params = {.label_smoothing = 0.2f}};
  float la = tv_loss_forward(&loss, z, (tv_targets){.classes = cls}, N, K, a);
  float lb = tv_softmax_xent_smooth(z, cls, N, K, 0.2f, b);
  assert_true(la == lb);
  assert_memory_equal(a, b, sizeof a);
  /* One row alone: its gradient is N times its share in the batch of N. */
  float one[K];
  (void)tv_loss_forward(&loss, z, (tv_targets){.classes = cls}, 1, K, one);
  for (int j = 0; j < K; j++) assert_true(fabs(one[j] - N * a[j]) <= 1e-6);
}

static const char *const LOSS_FIXTURE = "tests/fixtures/reference_losses.txt";

/* The record name of the fixture text into v (at most cap values); returns its count. */
static int fixture_record(const char *text, const char *name, double *v, int cap) {
  int count = tvt_fixture_record(text, name, v, cap);
  if (count < 0) fail_msg("%s: no record %s of at most %d values", LOSS_FIXTURE, name, cap);
  return count;
}

static void check_against(const char *text, const char *name, tv_loss loss, const float *z,
                          tv_targets t, int n, int k) {
  enum { CAP = 64 };
  double ref_loss, ref_grad[CAP];
  char key[64];
  snprintf(key, sizeof key, "%s/loss", name);
  assert_int_equal(fixture_record(text, key, &ref_loss, 1), 1);
  snprintf(key, sizeof key, "%s/grad", name);
  assert_int_equal(fixture_record(text, key, ref_grad, CAP), n * k);
  float dy[CAP];
  float l = tv_loss_forward(&loss, z, t, n, k, dy);
  if (!(fabs(l - ref_loss) <= 1e-6 * fabs(ref_loss) + 1e-7))
    fail_msg("%s: loss %.9g, PyTorch %.9g", name, (double)l, ref_loss);
  double scale = 0;
  for (int i = 0; i < n * k; i++) scale = fmax(scale, fabs(ref_grad[i]));
  for (int i = 0; i < n * k; i++)
    if (!(fabs(dy[i] - ref_grad[i]) <= 1e-6 * scale + 1e-6 * fabs(ref_grad[i])))
      fail_msg("%s: grad[%d] %.9g, PyTorch %.9g", name, i, (double)dy[i], ref_grad[i]);
}

static void test_float_losses_match_pytorch(void **state) {
  (void)state;
  char *text = NULL;
  size_t len;
  if (tv_fs_read_all(LOSS_FIXTURE, &text, &len) != TV_OK)
    fail_msg("%s (run from the repository root; regenerate with scripts/make_loss_fixtures.py)",
             tv_error_message());
  enum { CAP = 64 };
  double shape[2], dz[CAP], dv[CAP], dt[CAP];
  assert_int_equal(fixture_record(text, "shape", shape, 2), 2);
  int n = (int)shape[0], k = (int)shape[1];
  assert_true(n * k <= CAP);
  assert_int_equal(fixture_record(text, "z", dz, CAP), n * k);
  assert_int_equal(fixture_record(text, "y", dv, CAP), n * k);
  assert_int_equal(fixture_record(text, "t", dt, CAP), n * k);
  float z[CAP], y[CAP], t[CAP];
  for (int i = 0; i < n * k; i++) {
    z[i] = (float)dz[i];
    y[i] = (float)dv[i];
    t[i] = (float)dt[i];
  }
  tv_targets reg = {.values = y}, ml = {.values = t};
  check_against(text, "mse", (tv_loss){.kind = TV_LOSS_MSE}, z, reg, n, k);
  check_against(text, "mae", (tv_loss){.kind = TV_LOSS_MAE}, z, reg, n, k);
  /* A zeroed huber_delta is PyTorch's default, 1. */
  check_against(text, "huber", (tv_loss){.kind = TV_LOSS_HUBER}, z, reg, n, k);
  check_against(text, "huber", (tv_loss){.kind = TV_LOSS_HUBER, .params = {.huber_delta = 1.0f}}, z,
                reg, n, k);
  check_against(text, "huber_d0.5",
                (tv_loss){.kind = TV_LOSS_HUBER, .params = {.huber_delta = 0.5f}}, z, reg, n, k);
  check_against(text, "sigmoid_xent", (tv_loss){.kind = TV_LOSS_SIGMOID_XENT}, z, ml, n, k);
  free(text);
}

/* Every row is found by its name, and nothing else is. */
static void test_loss_find(void **state) {
  (void)state;
  for (int kind = 0; kind < TV_LOSS__COUNT; kind++)
    assert_int_equal(tv_loss_find(tv_loss_ops_for((tv_loss_kind)kind)->name), kind);
  assert_int_equal(tv_loss_find("mse"), TV_LOSS_MSE);
  assert_int_equal(tv_loss_find("sigmoid_cross_entropy"), TV_LOSS_SIGMOID_XENT);
  assert_int_equal(tv_loss_find("l2"), -1);
  assert_int_equal(tv_loss_find(""), -1);
}

/* Saturated logits stay finite: the sigmoid loss never takes the log of 0. */
static void test_sigmoid_xent_saturated(void **state) {
  (void)state;
  float z[4] = {100.0f, -100.0f, 100.0f, -100.0f}, t[4] = {1, 0, 0, 1}, dz[4];
  float l = tv_sigmoid_xent(z, t, 1, 4, dz);
  assert_true(isfinite(l));
  assert_true(fabs(l - 50.0) <= 1e-4); /* (0 + 0 + 100 + 100) / 4 */
  assert_true(fabs(dz[0]) < 1e-7 && fabs(dz[1]) < 1e-7);
  assert_true(fabs(dz[2] - 0.25) < 1e-7 && fabs(dz[3] + 0.25) < 1e-7);
}

/* The per-token row over (N, T, V) = (N, 2, K) outputs as 2N rows: the mean over tokens of
 * -log softmax at the target, computed here in double; label smoothing does not apply. */
static void test_token_xent_row(void **state) {
  (void)state;
  const tv_loss_ops *ops = tv_loss_ops_for(TV_LOSS_TOKEN_XENT);
  assert_string_equal(ops->name, "token_cross_entropy");
  assert_int_equal(ops->target, TV_TARGET_CLASS);
  float z[2 * N * K], vec[2 * N * K], dy[2 * N * K];
  int32_t cls[2 * N];
  fill(z, cls, vec, 5);
  fill(z + N * K, cls + N, vec + N * K, 6);
  double want = 0;
  for (int i = 0; i < 2 * N; i++) {
    double sum = 0;
    for (int j = 0; j < K; j++) sum += exp((double)z[i * K + j]);
    want += log(sum) - (double)z[i * K + cls[i]];
  }
  want /= 2 * N;
  tv_loss loss = {.kind = TV_LOSS_TOKEN_XENT, .params = {.label_smoothing = 0.3f}};
  float l = tv_loss_forward(&loss, z, (tv_targets){.classes = cls}, 2 * N, K, dy);
  assert_true(fabs(l - want) <= 1e-6 * fabs(want));
  for (int i = 0; i < 2 * N; i++) {
    double sum = 0;
    for (int j = 0; j < K; j++) sum += exp((double)z[i * K + j]);
    for (int j = 0; j < K; j++) {
      double g = (exp((double)z[i * K + j]) / sum - (j == cls[i])) / (2 * N);
      assert_true(fabs(dy[i * K + j] - g) <= 1e-6);
    }
  }
}

/* With params.classes = v < k the distribution is the softmax over the first v outputs (a token
 * model's vocabulary): the loss of those columns alone, their gradient, and none beyond; the
 * targets are in [0, v).  Equal to tv_metrics_update's loss made with the same tv_loss. */
static void test_token_xent_vocabulary(void **state) {
  (void)state;
  enum { V = 3 };
  float z[N * K], vec[N * K], dy[N * K];
  int32_t cls[N];
  fill(z, cls, vec, 7);
  for (int i = 0; i < N; i++) cls[i] %= V;
  double want = 0;
  for (int i = 0; i < N; i++) {
    double sum = 0;
    for (int j = 0; j < V; j++) sum += exp((double)z[i * K + j]);
    want += log(sum) - (double)z[i * K + cls[i]];
  }
  want /= N;
  tv_loss loss = {.kind = TV_LOSS_TOKEN_XENT, .params = {.classes = V}};
  float l = tv_loss_forward(&loss, z, (tv_targets){.classes = cls}, N, K, dy);
  assert_true(fabs(l - want) <= 1e-6 * fabs(want));
  for (int i = 0; i < N; i++) {
    double sum = 0;
    for (int j = 0; j < V; j++) sum += exp((double)z[i * K + j]);
    for (int j = 0; j < K; j++) {
      double g = j < V ? (exp((double)z[i * K + j]) / sum - (j == cls[i])) / N : 0.0;
      assert_true(fabs(dy[i * K + j] - g) <= 1e-6);
    }
  }
  tv_metrics *m = NULL;
  assert_int_equal(tv_metrics_new_task(TV_TASK_CLASSIFICATION, K, &loss, 0, &m), TV_OK);
  tv_metrics_update(m, z, cls, N);
  tv_metrics_summary s;
  tv_metrics_get(m, &s);
  assert_true(fabs(s.loss - want) <= 1e-6 * fabs(want));
  tv_metrics_free(m);
}

static void test_loss_from_config(void **state) {
  (void)state;
  tv_config c;
  tv_config_defaults(&c);
  tv_loss l = tv_loss_from_config(&c);
  assert_int_equal(l.kind, TV_LOSS_SOFTMAX_XENT);
  assert_true(l.params.label_smoothing == 0.0f);
  c.train.label_smoothing = 0.1;
  l = tv_loss_from_config(&c);
  assert_true(l.params.label_smoothing == 0.1f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_row_gradient), cmocka_unit_test(test_softmax_xent_row),
      cmocka_unit_test(test_token_xent_row),     cmocka_unit_test(test_token_xent_vocabulary),
      cmocka_unit_test(test_loss_from_config),   cmocka_unit_test(test_float_losses_match_pytorch),
      cmocka_unit_test(test_loss_find),          cmocka_unit_test(test_sigmoid_xent_saturated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
