/* test_metrics.c — streaming metrics on hand-worked examples: accuracy, top-5 with ties, loss
 * against a double reference (1e-6 relative: sums are in double but the
 * max-subtraction z - max is done in float, an error of a few float ulps per logit), the
 * confusion matrix, per-class precision / recall / F1, macro-F1, reset and the error path; the
 * metric table (names, getters, better directions, lookup) and that a config and its
 * early-stopping key accept every name of the table.
 *
 * Regression metrics (MAE, RMSE, R^2, MSE) against numpy: tests/fixtures/reference_regression.txt
 * (scripts/make_metric_fixtures.py, float64 with scikit-learn's definitions).  Tolerance 1e-9
 * relative + 1e-12: both sides sum float32 inputs in double; R^2 on a target near 1000 checks
 * that the spread does not cancel.
 *
 * Multilabel metrics (per-label precision / recall / F1, micro and macro F1, mAP with tied
 * scores and a label without positives) against numpy: tests/fixtures/reference_multilabel.txt
 * (same script).  Tolerance 1e-12: ratios of counts, summed in double. */
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
#include "trainval/loss.h"
#include "base/fs.h"

#include "testutil.h"

static void assert_near(double got, double want, double tol) {
  if (!(fabs(got - want) <= tol)) fail_msg("got %.12g, want %.12g (tol %g)", got, want, tol);
}

static tv_metrics *new_metrics(int k) {
  tv_metrics *m = NULL;
  assert_int_equal(tv_metrics_new(k, &m), TV_OK);
  assert_non_null(m);
  assert_int_equal(tv_metrics_num_classes(m), k);
  return m;
}

static double xent_row(const float *z, int k, int y) {
  double mx = z[0];
  for (int j = 1; j < k; j++) mx = fmax(mx, z[j]);
  double s = 0;
  for (int j = 0; j < k; j++) s += exp((double)z[j] - mx);
  return mx + log(s) - z[y];
}

/* Six examples, three classes; labels 0 0 1 1 2 2, predictions 0 1 1 1 2 0.
 *   confusion [true][pred] = {{1,1,0},{0,2,0},{1,0,1}}
 *   class 0: P 1/2 R 1/2 F1 1/2;  class 1: P 2/3 R 1 F1 4/5;  class 2: P 1 R 1/2 F1 2/3
 *   accuracy 4/6, macro-F1 (1/2 + 4/5 + 2/3) / 3 = 59/90. */
enum { HK = 3, HN = 6 };
static const float hand_logits[HN * HK] = {
    2.0f, 0.5f, -1.0f, /* y0 -> 0 */
    0.1f, 1.5f, 0.2f,  /* y0 -> 1 */
    -3.f, 4.0f, 1.0f,  /* y1 -> 1 */
    0.0f, 0.3f, 0.2f,  /* y1 -> 1 */
    1.0f, 0.0f, 1.2f,  /* y2 -> 2 */
    5.0f, 2.0f, 4.5f,  /* y2 -> 0 */
};
static const int32_t hand_labels[HN] = {0, 0, 1, 1, 2, 2};

static void check_hand(const tv_metrics *m) {
  tv_metrics_summary s;
  tv_metrics_get(m, &s);
  assert_int_equal(s.n, HN);
  assert_near(s.accuracy, 4.0 / 6.0, 1e-12);
  assert_near(s.top5, 1.0, 0); /* k = 3 < 5: always in the top 5 */
  assert_near(s.macro_f1, 59.0 / 90.0, 1e-12);
  double want = 0;
  for (int i = 0; i < HN; i++) want += xent_row(hand_logits + i * HK, HK, hand_labels[i]);
  assert_near(s.loss, want / HN, 1e-6 * want / HN);

  static const uint64_t cm[HK * HK] = {1, 1, 0, 0, 2, 0, 1, 0, 1};
  assert_memory_equal(tv_metrics_confusion(m), cm, sizeof cm);

  static const double prf[HK][3] = {{0.5, 0.5, 0.5}, {2.0 / 3.0, 1.0, 0.8}, {1.0, 0.5, 2.0 / 3.0}};
  for (int c = 0; c < HK; c++) {
    double p = -1, r = -1, f = -1;
    tv_metrics_class(m, c, &p, &r, &f);
    assert_near(p, prf[c][0], 1e-12);
    assert_near(r, prf[c][1], 1e-12);
    assert_near(f, prf[c][2], 1e-12);
  }
}

static void test_hand_example(void **state) {
  (void)state;
  tv_metrics *m = new_metrics(HK);
  tv_metrics_update(m, hand_logits, hand_labels, HN);
  check_hand(m);
  tv_metrics_free(m);
}

/* Streaming: the same examples in uneven batches give the same result. */
static void test_batches_add_up(void **state) {
  (void)state;
  tv_metrics *m = new_metrics(HK);
  tv_metrics_update(m, hand_logits, hand_labels, 1);
  tv_metrics_update(m, hand_logits + HK, hand_labels + 1, 0);
  tv_metrics_update(m, hand_logits + HK, hand_labels + 1, 3);
  tv_metrics_update(m, hand_logits + 4 * HK, hand_labels + 4, 2);
  check_hand(m);
  tv_metrics_free(m);
}

static void test_reset(void **state) {
  (void)state;
  tv_metrics *m = new_metrics(HK);
  tv_metrics_update(m, hand_logits, hand_labels, HN);
  tv_metrics_reset(m);
  tv_metrics_summary s;
  tv_metrics_get(m, &s);
  assert_int_equal(s.n, 0);
  assert_near(s.loss, 0, 0);
  assert_near(s.accuracy, 0, 0);
  assert_near(s.top5, 0, 0);
  assert_near(s.macro_f1, 0, 0);
  for (int i = 0; i < HK * HK; i++) assert_int_equal(tv_metrics_confusion(m)[i], 0);
  /* After a reset the metric is as good as new. */
  tv_metrics_update(m, hand_logits, hand_labels, HN);
  check_hand(m);
  tv_metrics_free(m);
}

/* Top-5 over 7 classes: an example counts when fewer than 5 classes have a strictly larger
 * logit than the true class, so ties with the true class never push it out. */
static void test_top5_ties(void **state) {
  (void)state;
  enum { K = 7 };
  const float z[][K] = {
      {1, 2, 3, 4, 5, 6, 0},       /* y 0: 5 strictly larger -> miss */
      {1, 2, 3, 4, 1, 1, 9},       /* y 0: 4 larger, 2 ties -> hit */
      {1, 1, 1, 1, 1, 1, 1},       /* y 3: all tied -> hit (and top-1 is not required) */
      {0, 2, 3, 4, 5, 6, 1},       /* y 6: 5 larger -> miss */
      {0.5f, 2, 3, 4, 5, 0, 0.5f}, /* y 6: 4 larger, 1 tie -> hit */
      {9, 8, 7, 6, 5, 4, 3},       /* y 4: 4 larger -> hit */
      {9, 8, 7, 6, 5, 4, 3},       /* y 5: 5 larger -> miss */
  };
  const int32_t y[] = {0, 0, 3, 6, 6, 4, 5};
  enum { N = sizeof y / sizeof y[0] };
  tv_metrics *m = new_metrics(K);
  tv_metrics_update(m, &z[0][0], y, N);
  tv_metrics_summary s;
  tv_metrics_get(m, &s);
  assert_near(s.top5, 4.0 / N, 1e-12);
  /* top-1 counts only the two exact arg-max hits below. */
  tv_metrics_reset(m);
  const float w[][K] = {{0, 0, 0, 0, 0, 0, 1}, {3, 1, 1, 1, 1, 1, 1}, {0, 5, 0, 0, 0, 0, 0}};
  const int32_t wy[] = {6, 0, 2};
  tv_metrics_update(m, &w[0][0], wy, 3);
  tv_metrics_get(m, &s);
  assert_near(s.accuracy, 2.0 / 3.0, 1e-12);
  assert_near(s.top5, 1.0, 0);
  tv_metrics_free(m);
}

/* Large logits: the loss stays finite and matches the stable reference. */
static void test_loss_large_logits(void **state) {
  (void)state;
  const float z[] = {1000.0f, -1000.0f, 0.0f, -1000.0f, 1000.0f, 999.0f};
  const int32_t y[] = {1, 2};
  tv_metrics *m = new_metrics(3);
  tv_metrics_update(m, z, y, 2);
  tv_metrics_summary s;
  tv_metrics_get(m, &s);
  double want = (xent_row(z, 3, 1) + xent_row(z + 3, 3, 2)) / 2;
  assert_true(isfinite(s.loss));
  assert_near(s.loss, want, 1e-6 * want);
  assert_near(s.loss, (2000.0 + 1.0 + log1p(exp(-1.0))) / 2, 1e-6);
  tv_metrics_free(m);
}

/* A class with neither examples nor predictions: precision, recall and F1 are 0. */
static void test_undefined_class(void **state) {
  (void)state;
  const float z[] = {1, 0, 0, 0, 1, 0};
  const int32_t y[] = {0, 1};
  tv_metrics *m = new_metrics(3);
  tv_metrics_update(m, z, y, 2);
  double p = -1, r = -1, f = -1;
  tv_metrics_class(m, 2, &p, &r, &f);
  assert_near(p, 0, 0);
  assert_near(r, 0, 0);
  assert_near(f, 0, 0);
  tv_metrics_class(m, 0, &p, &r, &f);
  assert_near(f, 1.0, 1e-12);
  tv_metrics_free(m);
}

static void test_new_invalid(void **state) {
  (void)state;
  tv_metrics *m = (tv_metrics *)&m; /* must be reset to NULL */
  assert_int_equal(tv_metrics_new(0, &m), TV_ERR_INVALID);
  assert_null(m);
  assert_int_equal(tv_metrics_new(-3, &m), TV_ERR_INVALID);
  assert_null(m);
  assert_non_null(strstr(tv_error_message(), "num_classes"));
  tv_metrics_free(NULL);
}

/* Every kind has a row; names are unique, found back, listed in table order; each getter reads
 * its own summary field; loss and the regression errors are minimised, the others maximised. */
static void test_metric_table(void **state) {
  (void)state;
  tv_metrics_summary s = {.n = 10,
                          .loss = 0.5,
                          .accuracy = 0.25,
                          .top5 = 0.75,
                          .macro_f1 = 0.125,
                          .mae = 1.5,
                          .rmse = 2.5,
                          .r2 = 0.0625,
                          .micro_f1 = 0.375,
                          .map = 0.875,
                          .bpc = 0.03125,
                          .perplexity = 3.5};
  const double want[TV_METRIC__COUNT] = {
      [TV_METRIC_LOSS] = 0.5,       [TV_METRIC_ACCURACY] = 0.25,  [TV_METRIC_TOP5] = 0.75,
      [TV_METRIC_MACRO_F1] = 0.125, [TV_METRIC_MAE] = 1.5,        [TV_METRIC_RMSE] = 2.5,
      [TV_METRIC_R2] = 0.0625,      [TV_METRIC_MICRO_F1] = 0.375, [TV_METRIC_MAP] = 0.875,
      [TV_METRIC_BPC] = 0.03125,    [TV_METRIC_PERPLEXITY] = 3.5,
  };
  for (int k = 0; k < TV_METRIC__COUNT; k++) {
    const tv_metric_desc *d = tv_metric_desc_for((tv_metric_kind)k);
    assert_non_null(d->name);
    assert_non_null(d->get);
    assert_int_equal(tv_metric_find(d->name), k);
    assert_string_equal(tv_metric_names[k], d->name);
    assert_true(tv_metric_value(&s, (tv_metric_kind)k) == want[k]);
    assert_int_equal(d->maximize, k != TV_METRIC_LOSS && k != TV_METRIC_MAE &&
                                      k != TV_METRIC_RMSE && k != TV_METRIC_BPC &&
                                      k != TV_METRIC_PERPLEXITY);
  }
  assert_null(tv_metric_names[TV_METRIC__COUNT]);
  assert_int_equal(tv_metric_find("no_such_metric"), -1);
  assert_int_equal(tv_metric_find(""), -1);
  char buf[128];
  assert_string_equal(
      tv_metric_list(buf, sizeof buf),
      "loss, accuracy, top5, macro_f1, mae, rmse, r2, micro_f1, map, bpc or perplexity");
  /* Per task: the rows that apply, and the headline metric among them. */
  assert_string_equal(tv_metric_list_task(TV_TASK_CLASSIFICATION, buf, sizeof buf),
                      "loss, accuracy, top5, macro_f1, bpc or perplexity");
  assert_string_equal(tv_metric_list_task(TV_TASK_REGRESSION, buf, sizeof buf),
                      "loss, mae, rmse or r2");
  assert_string_equal(tv_metric_list_task(TV_TASK_MULTILABEL, buf, sizeof buf),
                      "loss, macro_f1, micro_f1 or map");
  for (int t = 0; t < TV_TASK__COUNT; t++)
    assert_true(tv_metric_applies(tv_task_headline((tv_task)t), (tv_task)t));
  assert_int_equal(tv_task_headline(TV_TASK_CLASSIFICATION), TV_METRIC_ACCURACY);
  assert_int_equal(tv_task_headline(TV_TASK_REGRESSION), TV_METRIC_R2);
  assert_int_equal(tv_task_headline(TV_TASK_MULTILABEL), TV_METRIC_MICRO_F1);
  assert_false(tv_metric_applies(TV_METRIC_R2, TV_TASK_CLASSIFICATION));
  assert_false(tv_metric_applies(TV_METRIC_ACCURACY, TV_TASK_REGRESSION));
  /* bpc and perplexity: of the softmax cross-entropy, so classification (token models) only. */
  assert_true(tv_metric_applies(TV_METRIC_BPC, TV_TASK_CLASSIFICATION));
  assert_false(tv_metric_applies(TV_METRIC_BPC, TV_TASK_REGRESSION));
  assert_false(tv_metric_applies(TV_METRIC_PERPLEXITY, TV_TASK_MULTILABEL));
  assert_string_equal(tv_metric_list(buf, 5), "loss"); /* cut, terminated */
  /* Better: strictly beyond min_delta, in the row's direction. */
  assert_true(tv_metric_better(1, 0.9, 0.8, 0.05));
  assert_false(tv_metric_better(1, 0.84, 0.8, 0.05));
  assert_false(tv_metric_better(1, 0.7, 0.8, 0.0));
  assert_true(tv_metric_better(0, 0.7, 0.8, 0.05));
  assert_false(tv_metric_better(0, 0.8, 0.8, 0.0));
}

/* Bits per token and perplexity come from the mean loss: loss / ln 2 and exp(loss), here on
 * uniform logits over 4 classes (loss ln 4: 2 bits, perplexity 4). */
static void test_bpc_perplexity(void **state) {
  (void)state;
  tv_metrics *m = NULL;
  assert_int_equal(tv_metrics_new(4, &m), TV_OK);
  const float z[8] = {0};
  const int32_t y[2] = {1, 3};
  tv_metrics_update(m, z, y, 2);
  tv_metrics_summary s;
  tv_metrics_get(m, &s);
  assert_true(fabs(s.loss - log(4.0)) < 1e-6);
  assert_true(fabs(s.bpc - 2.0) < 1e-6);
  assert_true(fabs(s.perplexity - 4.0) < 1e-5);
  assert_true(tv_metric_value(&s, TV_METRIC_BPC) == s.bpc);
  assert_true(tv_metric_value(&s, TV_METRIC_PERPLEXITY) == s.perplexity);
  assert_int_equal(tv_metric_find("bpc"), TV_METRIC_BPC);
  assert_false(tv_metric_desc_for(TV_METRIC_BPC)->maximize);
  tv_metrics_free(m);
}

/* train.early_stop_metric takes every name of the table under a task it applies to, refuses
 * it under the others (naming the task's metrics), and takes nothing else. */
static void test_config_takes_table_names(void **state) {
  (void)state;
  const char *base = "model:\n  input: [1, 2, 2]\n  num_classes: 3\n  layers:\n"
                     "    - {type: flatten}\n    - {type: dense, units: 3}\n";
  for (int k = 0; k < TV_METRIC__COUNT; k++) {
    for (int t = 0; t < TV_TASK__COUNT; t++) {
      char set[64], task[64];
      snprintf(set, sizeof set, "train.early_stop_metric=%s", tv_metric_names[k]);
      snprintf(task, sizeof task, "model.task=%s", tv_task_names[t]);
      const char *sets[] = {set, task};
      tv_config c;
      int rc = tv_config_parse(base, strlen(base), "t.yaml", sets, 2, &c);
      if (tv_metric_applies((tv_metric_kind)k, (tv_task)t)) {
        if (rc != TV_OK) fail_msg("%s %s: %s", set, task, tv_error_message());
        assert_int_equal(c.train.early_stop_metric, k);
        assert_int_equal(c.model.task, t);
      } else {
        assert_int_equal(rc, TV_ERR_CONFIG);
        assert_non_null(strstr(tv_error_message(), "does not apply to model.task"));
      }
    }
  }
  const char *sets[] = {"train.early_stop_metric=no_such_metric"};
  tv_config c;
  assert_int_equal(tv_config_parse(base, strlen(base), "t.yaml", sets, 1, &c), TV_ERR_CONFIG);
}

static const char *const REG_FIXTURE = "tests/fixtures/reference_regression.txt";

static void test_regression_matches_numpy(void **state) {
  (void)state;
  char *text = NULL;
  size_t len;
  if (tv_fs_read_all(REG_FIXTURE, &text, &len) != TV_OK)
    fail_msg("%s (run from the repository root; regenerate with scripts/make_metric_fixtures.py)",
             tv_error_message());
  enum { CAP = 512 };
  static double dp[CAP], dy[CAP];
  static float p[CAP], y[CAP];
  double shape[2], want[4];
  assert_int_equal(tvt_fixture_record(text, "shape", shape, 2), 2);
  int n = (int)shape[0], k = (int)shape[1];
  assert_int_equal(tvt_fixture_record(text, "pred", dp, CAP), n * k);
  assert_int_equal(tvt_fixture_record(text, "y", dy, CAP), n * k);
  const char *names[4] = {"mae", "rmse", "r2", "mse"};
  for (int i = 0; i < 4; i++) assert_int_equal(tvt_fixture_record(text, names[i], &want[i], 1), 1);
  free(text);
  for (int i = 0; i < n * k; i++) p[i] = (float)dp[i], y[i] = (float)dy[i];
  tv_regression_metrics *m = NULL;
  assert_int_equal(tv_regression_metrics_new(k, &m), TV_OK);
  /* Uneven batches, then again after a reset: the same figures. */
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < n; i += 7) {
      int b = n - i < 7 ? n - i : 7;
      tv_regression_metrics_update(m, p + (size_t)i * k, y + (size_t)i * k, b);
    }
    tv_regression_summary s;
    tv_regression_metrics_get(m, &s);
    assert_int_equal(s.n, n);
    double got[4] = {s.mae, s.rmse, s.r2, s.mse};
    for (int i = 0; i < 4; i++)
      if (!(fabs(got[i] - want[i]) <= 1e-9 * fabs(want[i]) + 1e-12))
        fail_msg("%s: trainval %.15g, numpy %.15g", names[i], got[i], want[i]);
    tv_regression_metrics_reset(m);
  }
  tv_regression_metrics_free(m);
}

/* A constant target: R^2 is 1 when predicted exactly, else 0 (scikit-learn's force_finite); no
 * rows give zeros; num_targets < 1 is refused. */
static void test_regression_edges(void **state) {
  (void)state;
  tv_regression_metrics *m = NULL;
  assert_int_equal(tv_regression_metrics_new(0, &m), TV_ERR_INVALID);
  assert_null(m);
  tv_regression_metrics_free(NULL);
  assert_int_equal(tv_regression_metrics_new(1, &m), TV_OK);
  tv_regression_summary s;
  tv_regression_metrics_get(m, &s);
  assert_true(s.n == 0 && s.mae == 0 && s.rmse == 0 && s.r2 == 0 && s.mse == 0);
  float y[3] = {2, 2, 2}, exact[3] = {2, 2, 2}, off[3] = {2, 3, 1};
  tv_regression_metrics_update(m, exact, y, 3);
  tv_regression_metrics_get(m, &s);
  assert_true(s.r2 == 1.0 && s.mae == 0.0);
  tv_regression_metrics_reset(m);
  tv_regression_metrics_update(m, off, y, 3);
  tv_regression_metrics_get(m, &s);
  assert_true(s.r2 == 0.0);
  assert_near(s.mae, 2.0 / 3.0, 1e-15);
  assert_near(s.rmse, sqrt(2.0 / 3.0), 1e-15);
  tv_regression_metrics_free(m);
}

static void test_multilabel_matches_numpy(void **state) {
  (void)state;
  const char *path = "tests/fixtures/reference_multilabel.txt";
  char *text = NULL;
  size_t len;
  if (tv_fs_read_all(path, &text, &len) != TV_OK)
    fail_msg("%s (regenerate with scripts/make_metric_fixtures.py)", tv_error_message());
  enum { CAP = 512, KMAX = 8 };
  static double dz[CAP], dt[CAP];
  static float z[CAP], t[CAP];
  double shape[2], thr, p[KMAX], r[KMAX], f[KMAX], micro, macro, map;
  assert_int_equal(tvt_fixture_record(text, "shape", shape, 2), 2);
  int n = (int)shape[0], k = (int)shape[1];
  assert_true(k <= KMAX);
  assert_int_equal(tvt_fixture_record(text, "threshold", &thr, 1), 1);
  assert_int_equal(tvt_fixture_record(text, "logits", dz, CAP), n * k);
  assert_int_equal(tvt_fixture_record(text, "targets", dt, CAP), n * k);
  assert_int_equal(tvt_fixture_record(text, "precision", p, KMAX), k);
  assert_int_equal(tvt_fixture_record(text, "recall", r, KMAX), k);
  assert_int_equal(tvt_fixture_record(text, "f1", f, KMAX), k);
  assert_int_equal(tvt_fixture_record(text, "micro_f1", &micro, 1), 1);
  assert_int_equal(tvt_fixture_record(text, "macro_f1", &macro, 1), 1);
  assert_int_equal(tvt_fixture_record(text, "map", &map, 1), 1);
  free(text);
  for (int i = 0; i < n * k; i++) z[i] = (float)dz[i], t[i] = (float)dt[i];
  tv_multilabel_metrics *m = NULL;
  assert_int_equal(tv_multilabel_metrics_new(k, thr, &m), TV_OK);
  for (int round = 0; round < 2; round++) {
    /* Batches of 5 grow the kept rows past their first room more than once on round 0. */
    for (int i = 0; i < n; i += 5) {
      int b = n - i < 5 ? n - i : 5;
      assert_int_equal(tv_multilabel_metrics_update(m, z + (size_t)i * k, t + (size_t)i * k, b),
                       TV_OK);
    }
    tv_multilabel_summary s;
    assert_int_equal(tv_multilabel_metrics_get(m, &s), TV_OK);
    assert_int_equal(s.n, n);
    assert_near(s.micro_f1, micro, 1e-12);
    assert_near(s.macro_f1, macro, 1e-12);
    assert_near(s.map, map, 1e-12);
    for (int j = 0; j < k; j++) {
      double pj, rj, fj;
      tv_multilabel_metrics_label(m, j, &pj, &rj, &fj);
      assert_near(pj, p[j], 1e-12);
      assert_near(rj, r[j], 1e-12);
      assert_near(fj, f[j], 1e-12);
    }
    tv_multilabel_metrics_reset(m);
  }
  tv_multilabel_metrics_free(m);
}

/* Bad settings are refused; no rows give zeros; a perfect ranking has AP 1. */
static void test_multilabel_edges(void **state) {
  (void)state;
  tv_multilabel_metrics *m = NULL;
  assert_int_equal(tv_multilabel_metrics_new(0, 0.5, &m), TV_ERR_INVALID);
  assert_null(m);
  assert_int_equal(tv_multilabel_metrics_new(2, 1.0, &m), TV_ERR_INVALID);
  assert_null(m);
  assert_int_equal(tv_multilabel_metrics_new(2, 0.0, &m), TV_ERR_INVALID);
  tv_multilabel_metrics_free(NULL);
  assert_int_equal(tv_multilabel_metrics_new(1, 0.9, &m), TV_OK);
  tv_multilabel_summary s;
  assert_int_equal(tv_multilabel_metrics_get(m, &s), TV_OK);
  assert_true(s.n == 0 && s.micro_f1 == 0 && s.macro_f1 == 0 && s.map == 0);
  /* sigmoid(1) = 0.73 is under the 0.9 threshold: no positive predicted, yet ranked first. */
  float z[3] = {1.0f, -1.0f, -2.0f}, t[3] = {1, 0, 0};
  assert_int_equal(tv_multilabel_metrics_update(m, z, t, 3), TV_OK);
  assert_int_equal(tv_multilabel_metrics_get(m, &s), TV_OK);
  assert_true(s.map == 1.0 && s.micro_f1 == 0.0);
  /* NaN logits rank last, as one tied step: the positive at 1.0 still ranks first. */
  float zn[2] = {NAN, NAN}, tn[2] = {0, 1};
  assert_int_equal(tv_multilabel_metrics_update(m, zn, tn, 2), TV_OK);
  assert_int_equal(tv_multilabel_metrics_get(m, &s), TV_OK);
  assert_near(s.map, 0.5 * 1.0 + 0.5 * (2.0 / 5.0), 1e-15);
  tv_multilabel_metrics_free(m);
}

/* A task's tv_metrics: regression and multilabel report what their accumulators compute on the
 * numpy fixtures (batches of uneven size), plus the run's loss weighted by rows; the counts-only
 * multilabel window agrees on the F1s and has no mAP; the rows each task reports. */
static void test_task_metrics(void **state) {
  (void)state;
  char *text = NULL;
  size_t len;
  if (tv_fs_read_all(REG_FIXTURE, &text, &len) != TV_OK) fail_msg("%s", tv_error_message());
  enum { CAP = 512 };
  static double dp[CAP], dy[CAP];
  static float p[CAP], y[CAP];
  double shape[2], mae, rmse, r2, mse;
  assert_int_equal(tvt_fixture_record(text, "shape", shape, 2), 2);
  int n = (int)shape[0], k = (int)shape[1];
  assert_int_equal(tvt_fixture_record(text, "pred", dp, CAP), n * k);
  assert_int_equal(tvt_fixture_record(text, "y", dy, CAP), n * k);
  assert_int_equal(tvt_fixture_record(text, "mae", &mae, 1), 1);
  assert_int_equal(tvt_fixture_record(text, "rmse", &rmse, 1), 1);
  assert_int_equal(tvt_fixture_record(text, "r2", &r2, 1), 1);
  assert_int_equal(tvt_fixture_record(text, "mse", &mse, 1), 1);
  free(text);
  for (int i = 0; i < n * k; i++) p[i] = (float)dp[i], y[i] = (float)dy[i];
  tv_loss loss = {.kind = TV_LOSS_MSE};
  tv_metrics *m = NULL;
  assert_int_equal(tv_metrics_new_task(TV_TASK_REGRESSION, k, NULL, 0, &m), TV_ERR_INVALID);
  assert_null(m);
  assert_int_equal(tv_metrics_new_task(TV_TASK_REGRESSION, k, &loss, 0, &m), TV_OK);
  assert_int_equal(tv_metrics_task(m), TV_TASK_REGRESSION);
  for (int i = 0; i < n; i += 7) {
    int b = n - i < 7 ? n - i : 7;
    assert_int_equal(tv_metrics_add(m, p + (size_t)i * k, NULL, y + (size_t)i * k, b), TV_OK);
  }
  tv_metrics_summary s;
  tv_metrics_get(m, &s);
  assert_int_equal(s.n, n);
  assert_near(s.mae, mae, 1e-9 * mae);
  assert_near(s.rmse, rmse, 1e-9 * rmse);
  assert_near(s.r2, r2, 1e-9 * fabs(r2));
  assert_near(s.loss, mse, 1e-5 * mse); /* float32 batch means, weighted back in double */
  assert_true(s.accuracy == 0 && s.micro_f1 == 0);
  assert_true(tv_metrics_reports(m, TV_METRIC_R2) && !tv_metrics_reports(m, TV_METRIC_ACCURACY));
  assert_null(tv_metrics_confusion(m));
  tv_metrics_free(m);

  assert_int_equal(tv_fs_read_all("tests/fixtures/reference_multilabel.txt", &text, &len), TV_OK);
  static double dz[CAP], dt[CAP];
  static float z[CAP], t[CAP];
  double micro, macro, map;
  assert_int_equal(tvt_fixture_record(text, "shape", shape, 2), 2);
  n = (int)shape[0], k = (int)shape[1];
  assert_int_equal(tvt_fixture_record(text, "logits", dz, CAP), n * k);
  assert_int_equal(tvt_fixture_record(text, "targets", dt, CAP), n * k);
  assert_int_equal(tvt_fixture_record(text, "micro_f1", &micro, 1), 1);
  assert_int_equal(tvt_fixture_record(text, "macro_f1", &macro, 1), 1);
  assert_int_equal(tvt_fixture_record(text, "map", &map, 1), 1);
  free(text);
  for (int i = 0; i < n * k; i++) z[i] = (float)dz[i], t[i] = (float)dt[i];
  loss = (tv_loss){.kind = TV_LOSS_SIGMOID_XENT};
  double want_loss = tv_sigmoid_xent(z, t, n, k, NULL);
  for (unsigned flags = 0; flags <= TV_METRICS_COUNTS_ONLY; flags++) {
    assert_int_equal(tv_metrics_new_task(TV_TASK_MULTILABEL, k, &loss, flags, &m), TV_OK);
    for (int i = 0; i < n; i += 5) {
      int b = n - i < 5 ? n - i : 5;
      assert_int_equal(tv_metrics_add(m, z + (size_t)i * k, NULL, t + (size_t)i * k, b), TV_OK);
    }
    tv_metrics_get(m, &s);
    assert_near(s.micro_f1, micro, 1e-12);
    assert_near(s.macro_f1, macro, 1e-12);
    assert_near(s.loss, want_loss, 1e-5 * want_loss);
    if (flags)
      assert_true(isnan(s.map));
    else
      assert_near(s.map, map, 1e-12);
    double pj, rj, fj;
    uint64_t support;
    tv_metrics_label(m, 3, &pj, &rj, &fj, &support);
    assert_int_equal(support, 0); /* label 3 is never positive in the fixture */
    tv_metrics_reset(m);
    tv_metrics_get(m, &s);
    assert_true(s.n == 0 && s.micro_f1 == 0);
    assert_true(tv_metrics_reports(m, TV_METRIC_MAP) && !tv_metrics_reports(m, TV_METRIC_TOP5));
    tv_metrics_free(m);
  }
  /* classification: top5 only with more than five classes */
  assert_int_equal(tv_metrics_new(5, &m), TV_OK);
  assert_false(tv_metrics_reports(m, TV_METRIC_TOP5));
  assert_true(tv_metrics_reports(m, TV_METRIC_ACCURACY));
  tv_metrics_free(m);
  assert_int_equal(tv_metrics_new(6, &m), TV_OK);
  assert_true(tv_metrics_reports(m, TV_METRIC_TOP5));
  assert_false(tv_metrics_reports(m, TV_METRIC_MAE));
  tv_metrics_free(m);
}

/* The additive form (tv_metrics_shared_*): rows split over three parts of 7, 1 and 12 rows,
 * each part's form summed in part order and added to an empty window, and the window over two
 * steps of that, report what one window over all the rows reports: loss, accuracy and top-5;
 * mae, rmse and r2 (targets around 1e4, where a naive sum of squares would lose R^2's digits);
 * micro_f1 and macro_f1 of multilabel. */
static void test_shared_form(void **state) {
  (void)state;
  enum { N = 20, K = 7, STEPS = 2 };
  static const int cut[] = {0, 7, 8, N};
  float z[STEPS][N * K], t[STEPS][N * K];
  int32_t y[STEPS][N];
  uint64_t r = 0x9E3779B97F4A7C15ull;
  for (int st = 0; st < STEPS; st++) {
    for (int i = 0; i < N * K; i++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      z[st][i] = (float)((double)(r >> 40) / (double)(1u << 24) * 6.0 - 3.0);
      t[st][i] = (float)(1e4 + (double)((r >> 20) & 1023) / 64.0);
    }
    for (int i = 0; i < N; i++) y[st][i] = (int32_t)((r >> (i % 40)) % K);
  }
  tv_loss mse = {.kind = TV_LOSS_MSE}, sig = {.kind = TV_LOSS_SIGMOID_XENT};
  for (int task = 0; task < TV_TASK__COUNT; task++) {
    const tv_loss *loss = task == TV_TASK_REGRESSION ? &mse : &sig;
    float ml[STEPS][N * K];
    for (int st = 0; st < STEPS; st++)
      for (int i = 0; i < N * K; i++) ml[st][i] = z[st][i] > 0.5f ? 1.0f : 0.0f;
    tv_metrics *whole, *part, *win;
    unsigned fl = TV_METRICS_COUNTS_ONLY;
    assert_int_equal(tv_metrics_new_task((tv_task)task, K, loss, fl, &whole), TV_OK);
    assert_int_equal(tv_metrics_new_task((tv_task)task, K, loss, fl, &part), TV_OK);
    assert_int_equal(tv_metrics_new_task((tv_task)task, K, loss, fl, &win), TV_OK);
    int size = tv_metrics_shared_size(part);
    assert_int_equal(size, task == TV_TASK_CLASSIFICATION ? 4 : 2 + (task == 1 ? 5 : 3) * K);
    for (int st = 0; st < STEPS; st++) {
      /* multilabel's targets: indicators drawn from the logits of the other step */
      const float *tg = task == TV_TASK_REGRESSION ? t[st] : ml[STEPS - 1 - st];
      float *zz = z[st];
      if (task == TV_TASK_REGRESSION)
        for (int i = 0; i < N * K; i++) zz[i] += 1e4f;
      assert_int_equal(tv_metrics_add(whole, zz, y[st], tg, N), TV_OK);
      double sum[64] = {0}, v[64];
      for (int p = 0; p < 3; p++) {
        int a = cut[p], n = cut[p + 1] - cut[p];
        tv_metrics_reset(part);
        assert_int_equal(tv_metrics_add(part, zz + (size_t)a * K, y[st] + a, tg + (size_t)a * K, n),
                         TV_OK);
        tv_metrics_shared_get(part, v);
        for (int j = 0; j < size; j++) sum[j] += v[j];
      }
      tv_metrics_shared_add(win, sum);
    }
    tv_metrics_summary a, b;
    tv_metrics_get(whole, &a);
    tv_metrics_get(win, &b);
    assert_int_equal(a.n, b.n);
    /* regression and multilabel: each batch's loss is a float mean (tv_loss), so float digits */
    double tol = task == TV_TASK_CLASSIFICATION ? 1e-12 : 1e-6;
    assert_true(fabs(a.loss - b.loss) <= tol * fabs(a.loss));
    assert_true(a.accuracy == b.accuracy && a.top5 == b.top5);
    assert_true(fabs(a.mae - b.mae) <= 1e-12 && fabs(a.rmse - b.rmse) <= 1e-12);
    assert_true(fabs(a.r2 - b.r2) <= 1e-9);
    assert_true(a.micro_f1 == b.micro_f1);
    if (task == TV_TASK_MULTILABEL) assert_true(a.macro_f1 == b.macro_f1);
    if (task == TV_TASK_REGRESSION) assert_true(a.r2 < 0.9); /* a real r2, not 0 or 1 */
    tv_metrics_free(whole);
    tv_metrics_free(part);
    tv_metrics_free(win);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hand_example),
      cmocka_unit_test(test_batches_add_up),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_top5_ties),
      cmocka_unit_test(test_loss_large_logits),
      cmocka_unit_test(test_undefined_class),
      cmocka_unit_test(test_new_invalid),
      cmocka_unit_test(test_metric_table),
      cmocka_unit_test(test_bpc_perplexity),
      cmocka_unit_test(test_config_takes_table_names),
      cmocka_unit_test(test_regression_matches_numpy),
      cmocka_unit_test(test_regression_edges),
      cmocka_unit_test(test_multilabel_matches_numpy),
      cmocka_unit_test(test_multilabel_edges),
      cmocka_unit_test(test_task_metrics),
      cmocka_unit_test(test_shared_form),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
