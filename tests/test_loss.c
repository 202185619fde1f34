/* test_loss.c — the loss table: every row has a name, a target kind and a forward whose gradient
 * matches central differences of its own loss (driven by the table, so a new row is checked
 * without a new test), tv_loss_forward is the row's kernel bit for bit, the config chooses the
 * loss and its label smoothing, and the gradient is that of the mean over rows.
 *
 * Tolerance of the central differences: the loss is accumulated in double and returned as
 * float, eps = 1e-2 on logits of order 1, so |analytic - numeric| <= 1e-2 |analytic| + 2e-4. */
#include "trainval/loss.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trainval/config.h"
#include "trainval/rng.h"

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
      cmocka_unit_test(test_every_row_gradient),
      cmocka_unit_test(test_softmax_xent_row),
      cmocka_unit_test(test_token_xent_row),
      cmocka_unit_test(test_loss_from_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
