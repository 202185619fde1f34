/* test_retention.c — every retention rule through the one entry point a commit uses
 * (retention.h): the max_to_keep window, keep_every_hours' chain, the eval-aware keep and a
 * caller's veto, alone and together, and the policies refused.  Each test gets a fresh
 * temporary directory (the train_dir whose evaluator folders rule 3 reads).
 */
#include "trainval/retention.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "trainval/evalstate.h"
#include "base/fs.h"

/* A manifest of checkpoints at steps 10, 20, ..., 10 n, saved every `minutes` minutes. */
static void make_manifest(tv_manifest *m, int n, double minutes) {
  tv_manifest_init(m);
  for (int i = 1; i <= n; i++) {
    tv_manifest_entry e = {.step = 10 * i, .finite = 1, .wall_time = 1e9 + 60.0 * minutes * i};
    snprintf(e.file, sizeof e.file, "ckpt-%08d.h5", 10 * i);
    assert_int_equal(tv_manifest_append(m, &e), TV_OK);
  }
}

/* Runs select and compares the dropped steps with want[0..n). */
static void expect_drop(const char *dir, const tv_manifest *m, int64_t new_step,
                        const tv_retention_policy *p, const int64_t *want, int n) {
  int64_t *drop = (int64_t *)1;
  int n_drop = -1;
  assert_int_equal(tv_retention_select(dir, m, new_step, p, &drop, &n_drop), TV_OK);
  char got[256] = "";
  for (int i = 0; i < n_drop; i++)
    snprintf(got + strlen(got), sizeof got - strlen(got), " %lld", (long long)drop[i]);
  if (n_drop != n) fail_msg("dropped %d:%s, want %d", n_drop, got, n);
  for (int i = 0; i < n; i++)
    if (drop[i] != want[i]) fail_msg("dropped%s, want step %lld at %d", got, (long long)want[i], i);
  if (n == 0) assert_null(drop);
  free(drop);
}

static void test_window(void **state) {
  const char *dir = *state;
  tv_manifest m;
  make_manifest(&m, 5, 1.0); /* 10..50 */
  /* The newest max_to_keep of the merged list stay; the new step never goes. */
  expect_drop(dir, &m, 60, &(tv_retention_policy){.max_to_keep = 2}, (int64_t[]){10, 20, 30, 40},
              4);
  expect_drop(dir, &m, 60, &(tv_retention_policy){.max_to_keep = 5}, (int64_t[]){10}, 1);
  expect_drop(dir, &m, 60, &(tv_retention_policy){.max_to_keep = 6}, NULL, 0);
  expect_drop(dir, &m, 50, &(tv_retention_policy){.max_to_keep = 5}, NULL, 0); /* replaced */
  expect_drop(dir, &m, 5, &(tv_retention_policy){.max_to_keep = 1}, (int64_t[]){10, 20, 30, 40},
              4); /* 5 sorts first yet stays */
  /* max_to_keep 0 and no policy keep everything. */
  expect_drop(dir, &m, 60, &(tv_retention_policy){.max_to_keep = 0}, NULL, 0);
  expect_drop(dir, &m, 60, NULL, NULL, 0);
  tv_manifest_free(&m);
}

static void test_keep_every_hours(void **state) {
  const char *dir = *state;
  tv_manifest m;
  make_manifest(&m, 8, 25.0); /* 10..80, one every 25 minutes */
  /* Hourly chain from the first entry: 10 (t=25), 40 (t=100 >= 25+60), 70 (t=175 >= 160). */
  expect_drop(dir, &m, 90, &(tv_retention_policy){.max_to_keep = 1, .keep_every_hours = 1.0},
              (int64_t[]){20, 30, 50, 60, 80}, 5);
  /* Two hours: 10, then 60 (t=150 >= 145). */
  expect_drop(dir, &m, 90, &(tv_retention_policy){.max_to_keep = 1, .keep_every_hours = 2.0},
              (int64_t[]){20, 30, 40, 50, 70, 80}, 6);
  /* The chain is the manifest's alone: once the others are gone it stays the same. */
  tv_manifest kept;
  tv_manifest_init(&kept);
  for (int i = 0; i < m.n; i++)
    if (m.entries[i].step == 10 || m.entries[i].step == 40 || m.entries[i].step == 70 ||
        m.entries[i].step == 80)
      assert_int_equal(tv_manifest_append(&kept, &m.entries[i]), TV_OK);
  expect_drop(dir, &kept, 90, &(tv_retention_policy){.max_to_keep = 1, .keep_every_hours = 1.0},
              (int64_t[]){80}, 1);
  tv_manifest_free(&kept);
  tv_manifest_free(&m);
}

static int veto_30(void *ctx, const tv_manifest_entry *e) {
  (*(int *)ctx)++;
  return e->step == 30;
}

static void test_rules_together(void **state) {
  const char *dir = *state;
  tv_manifest m;
  make_manifest(&m, 8, 25.0);
  /* An evaluator of policy all at step 40 with its best at 20: 50..70 unreached. */
  char sub[4096], path[4200];
  assert_int_equal(tv_fs_join(sub, sizeof sub, dir, "eval"), TV_OK);
  assert_int_equal(tv_fs_mkdirs(sub), TV_OK);
  snprintf(path, sizeof path, "%s/%s", sub, TV_EVALSTATE_FILE);
  tv_evalstate s;
  tv_evalstate_init(&s);
  snprintf(s.name, sizeof s.name, "eval");
  s.cursor = 40;
  s.has_best = 1;
  s.best_step = 20;
  snprintf(s.best_file, sizeof s.best_file, "ckpt-00000020.h5");
  assert_int_equal(tv_evalstate_write(path, &s), TV_OK);
  tv_evalstate_free(&s);
  /* Eval-aware alone: the best, then the oldest unreached, at most max_unevaluated. */
  expect_drop(dir, &m, 90, &(tv_retention_policy){.max_to_keep = 1, .max_unevaluated = 10},
              (int64_t[]){10, 30, 40}, 3);
  expect_drop(dir, &m, 90, &(tv_retention_policy){.max_to_keep = 1, .max_unevaluated = 2},
              (int64_t[]){10, 30, 40, 60, 70, 80}, 6);
  /* All four rules: hourly keeps 10, 40, 70; evaluators 20 and 50; the veto 30. */
  int calls = 0;
  expect_drop(dir, &m, 90,
              &(tv_retention_policy){.max_to_keep = 1,
                                     .keep_every_hours = 1.0,
                                     .max_unevaluated = 2,
                                     .veto = veto_30,
                                     .veto_ctx = &calls},
              (int64_t[]){60, 80}, 2);
  assert_true(calls > 0);
  tv_manifest_free(&m);
}

static void test_policy_refused(void **state) {
  const char *dir = *state;
  tv_manifest m;
  make_manifest(&m, 3, 1.0);
  const tv_retention_policy bad[] = {{.max_to_keep = -1},
                                     {.max_to_keep = 1, .max_unevaluated = -1},
                                     {.max_to_keep = 1, .keep_every_hours = -2},
                                     {.max_to_keep = 1, .keep_every_hours = NAN}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t *drop = (int64_t *)1;
    int n = -1;
    assert_int_equal(tv_retention_select(dir, &m, 40, &bad[i], &drop, &n), TV_ERR_INVALID);
    assert_null(drop);
    assert_int_equal(n, 0);
    assert_non_null(strstr(tv_error_message(), dir));
  }
  tv_manifest_free(&m);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, tvt_setup_tmpdir, tvt_teardown_tmpdir)
  const struct CMUnitTest tests[] = {
      T(test_window),
      T(test_keep_every_hours),
      T(test_rules_together),
      T(test_policy_refused),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
