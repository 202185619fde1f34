/* test_report.c — the run report's readers and chart model (report/): event files written by
 * libtrainval's writer read back with TensorBoard's purge rule, torn and damaged files as notes,
 * metrics.jsonl lines (torn, malformed, out of order), a train_dir that is missing or has no
 * manifest (code and message), and the chart axes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../report/report.h"
#include "testutil.h"
#include "trainval/events.h"
#include "base/fs.h"

static void join(char *out, size_t cap, const char *dir, const char *name) {
  assert_int_equal(tv_fs_join(out, cap, dir, name), TV_OK);
}

static void write_file(const char *path, const char *text) {
  assert_int_equal(tv_fs_write_atomic(path, text, strlen(text)), TV_OK);
}

/* A run's first session writes steps 10..60 and dies; the resumed one starts at 31. */
static void test_purge_rule(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  assert_int_equal(tv_events_session_start(w, 1), TV_OK);
  for (int s = 10; s <= 60; s += 10)
    assert_int_equal(tv_events_scalar(w, s, "loss", (float)s), TV_OK);
  assert_int_equal(tv_events_histogram(w, 60, "w", (const float[]){1, 2}, 2), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  assert_int_equal(tv_events_session_start(w, 31), TV_OK);
  for (int s = 40; s <= 80; s += 20) {
    const char *tags[] = {"loss", "accuracy"};
    const float vals[] = {(float)s + 0.5f, 0.25f};
    assert_int_equal(tv_events_scalars(w, s, 2, tags, vals), TV_OK);
  }
  assert_int_equal(tv_events_close(w), TV_OK);

  rp_source src = {0};
  tv_text notes = {0};
  assert_int_equal(rp_events_read_dir(dir, &src, &notes), TV_OK);
  assert_int_equal((int)notes.n, 0);
  const rp_series *loss = rp_source_find(&src, "loss");
  assert_non_null(loss);
  const double want_step[] = {10, 20, 30, 40, 60, 80};
  const double want_val[] = {10, 20, 30, 40.5, 60.5, 80.5};
  assert_int_equal(loss->n, 6);
  for (int i = 0; i < 6; i++) {
    assert_true(loss->step[i] == want_step[i]);
    assert_true(loss->value[i] == want_val[i]);
  }
  assert_int_equal(rp_source_find(&src, "accuracy")->n, 3);
  assert_null(rp_source_find(&src, "w")); /* histograms are not scalars */
  rp_source_free(&src);
  tv_text_free(&notes);
}

/* The texts and PR curves, the purge rule applied: a restart at 31 drops step 40's table and
 * curve, so step 20's are the latest; images are skipped, scalars read as before. */
static void test_latest_text(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  assert_int_equal(tv_events_session_start(w, 1), TV_OK);
  assert_int_equal(tv_events_text(w, 10, "misclassified/labels", "ten"), TV_OK);
  assert_int_equal(tv_events_text(w, 20, "misclassified/labels", "twenty <b>"), TV_OK);
  assert_int_equal(tv_events_text(w, 20, "config", "c"), TV_OK);
  const float pr20[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0.5f, 0.25f};
  assert_int_equal(tv_events_pr_curve(w, 20, "pr_curve/1", pr20, 2), TV_OK);
  assert_int_equal(tv_events_text(w, 40, "misclassified/labels", "forty"), TV_OK);
  tv_image img = {0};
  assert_int_equal(tv_image_new(&img, 3, 2, 0), TV_OK);
  assert_int_equal(tv_events_image(w, 40, "misclassified", &img), TV_OK);
  tv_image_free(&img);
  float pr[12] = {0};
  assert_int_equal(tv_events_pr_curve(w, 40, "pr_curve/0", pr, 2), TV_OK);
  assert_int_equal(tv_events_scalar(w, 40, "loss", 1.5f), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  assert_int_equal(tv_events_session_start(w, 31), TV_OK);
  assert_int_equal(tv_events_scalar(w, 35, "loss", 2.5f), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);

  rp_source src = {0};
  tv_text notes = {0};
  assert_int_equal(rp_events_read_dir(dir, &src, &notes), TV_OK);
  assert_int_equal((int)notes.n, 0);
  const rp_blob *b = rp_source_blob(&src, "misclassified/labels");
  assert_non_null(b);
  assert_int_equal(b->step, 20);
  assert_string_equal((const char *)b->data, "twenty <b>");
  assert_int_equal(b->len, 10);
  assert_string_equal((const char *)rp_source_blob(&src, "config")->data, "c");
  assert_null(rp_source_blob(&src, "misclassified")); /* an image: not read */
  assert_null(rp_source_blob(&src, "pr_curve/0"));    /* step 40: purged */
  assert_null(rp_source_find(&src, "pr_curve/0"));
  const rp_blob *curve = rp_source_blob(&src, "pr_curve/1");
  assert_non_null(curve);
  assert_int_equal(curve->kind, RP_BLOB_PR);
  assert_int_equal(curve->step, 20);
  assert_int_equal(curve->len, sizeof pr20);
  assert_memory_equal(curve->data, pr20, sizeof pr20);
  assert_int_equal(b->kind, RP_BLOB_TEXT);
  const rp_series *loss = rp_source_find(&src, "loss");
  assert_int_equal(loss->n, 1);
  assert_true(loss->step[0] == 35);
  rp_source_free(&src);
  tv_text_free(&notes);
}

/* Files of a version that wrote no session starts, then a resumed session: its new file's
 * STARTs still purge what the old files held past the checkpoint. */
static void test_purge_rule_old_files(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  for (int s = 10; s <= 60; s += 10)
    assert_int_equal(tv_events_scalar(w, s, "loss", (float)s), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  assert_int_equal(tv_events_session_start(w, 31), TV_OK);
  assert_int_equal(tv_events_scalar(w, 40, "loss", 4.0f), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  rp_source src = {0};
  tv_text notes = {0};
  assert_int_equal(rp_events_read_dir(dir, &src, &notes), TV_OK);
  const rp_series *loss = rp_source_find(&src, "loss");
  assert_int_equal(loss->n, 4);
  assert_true(loss->step[2] == 30 && loss->step[3] == 40 && loss->value[3] == 4.0);
  rp_source_free(&src);
  tv_text_free(&notes);
}

static void test_damaged_events(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  for (int s = 1; s <= 20; s++)
    assert_int_equal(tv_events_scalar(w, s, "loss", 1.0f / (float)s), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  char *data;
  size_t len;
  assert_int_equal(tv_fs_read_all(path, &data, &len), TV_OK);

  /* A torn last record (kill -9 mid-write): every whole record is kept. */
  assert_int_equal(tv_fs_write_atomic(path, data, len - 3), TV_OK);
  rp_source src = {0};
  tv_text notes = {0};
  assert_int_equal(rp_events_read_dir(dir, &src, &notes), TV_OK);
  assert_int_equal(rp_source_find(&src, "loss")->n, 19);
  assert_non_null(strstr(notes.p, path));
  assert_non_null(strstr(notes.p, "torn record at byte"));
  rp_source_free(&src);
  tv_text_free(&notes);

  /* A flipped byte in the middle: the records before it are kept, the rest of the file skipped. */
  data[len / 2] ^= 0x55;
  assert_int_equal(tv_fs_write_atomic(path, data, len), TV_OK);
  memset(&src, 0, sizeof src);
  memset(&notes, 0, sizeof notes);
  assert_int_equal(rp_events_read_dir(dir, &src, &notes), TV_OK);
  int n = rp_source_find(&src, "loss")->n;
  assert_true(n > 3 && n < 19);
  assert_non_null(strstr(notes.p, "CRC mismatch at byte"));
  assert_non_null(strstr(notes.p, "the rest of the file is skipped"));
  rp_source_free(&src);
  tv_text_free(&notes);
  free(data);

  /* A missing directory: no series, no note. */
  char missing[4300];
  join(missing, sizeof missing, dir, "nope");
  memset(&src, 0, sizeof src);
  assert_int_equal(rp_events_read_dir(missing, &src, &notes), TV_OK);
  assert_int_equal(src.n, 0);
  assert_int_equal((int)notes.n, 0);
  tv_text_free(&notes);
}

static void test_run_errors(void **state) {
  const char *dir = *state;
  char missing[4300];
  join(missing, sizeof missing, dir, "nope");
  rp_run r;
  memset(&r, 0, sizeof r);
  assert_int_equal(rp_run_read(missing, "x", &r), TV_ERR_NOT_FOUND);
  assert_non_null(strstr(tv_error_message(), missing));
  rp_run_free(&r);
  memset(&r, 0, sizeof r);
  assert_int_equal(rp_run_read(dir, "x", &r), TV_ERR_NOT_FOUND);
  assert_non_null(strstr(tv_error_message(), "no checkpoints.yaml"));
  rp_run_free(&r);
  rp_run_free(NULL);
}

/* A train_dir with an empty manifest and one evaluator, eval, whose metrics.jsonl is text. */
static void write_metrics(const char *dir, const char *text) {
  char path[4300], sub[4300];
  tv_manifest m;
  tv_manifest_init(&m);
  assert_int_equal(tv_manifest_write(dir, &m), TV_OK);
  tv_manifest_free(&m);
  join(sub, sizeof sub, dir, "eval");
  assert_int_equal(tv_fs_mkdirs(sub), TV_OK);
  join(path, sizeof path, sub, "metrics.jsonl");
  write_file(path, text);
}

static void test_metrics_lines(void **state) {
  const char *dir = *state;
  write_metrics(
      dir, "{\"step\": 100, \"checkpoint\": \"ckpt-00000100.h5\", \"loss\": 0.5, \"accuracy\": "
           "0.75, \"top5\": null, \"macro_f1\": 0.7, \"per_class\": {\"precision\": [1, 0.5], "
           "\"recall\": [0.5, 1], \"f1\": [0.6667, 0.6667], \"support\": [2, 2]}, \"confusion\": "
           "[[1, 1], [0, 2]], \"lag_steps\": 0, \"lag_seconds\": 0.25}\n"
           "garbage\n"
           "{\"step\": 50, \"loss\": 9}\n"
           "{\"step\": 200, \"loss\": 0.25, \"confusion\": [[1], [2, 3]]}\n"
           "{\"step\": 300, \"loss\"");
  rp_run r;
  memset(&r, 0, sizeof r);
  assert_int_equal(rp_run_read(dir, "x", &r), TV_OK);
  assert_int_equal(r.nevals, 1);
  const rp_evaluator *e = &r.evals[0];
  assert_string_equal(e->src.name, "eval");
  assert_int_equal(e->n, 2);
  assert_int_equal(e->results[0].step, 100);
  assert_string_equal(e->results[0].checkpoint, "ckpt-00000100.h5");
  assert_int_equal(e->results[0].k, 2);
  assert_true(e->results[0].conf[1] == 1 && e->results[0].conf[3] == 2);
  assert_true(e->results[0].per[3][1] == 2);
  assert_true(isnan(e->results[0].metric[2])); /* null */
  assert_int_equal(e->results[1].k, 0);        /* ill-shaped confusion: no per-class data */
  const rp_series *loss = rp_source_find(&e->src, "loss");
  assert_int_equal(loss->n, 2);
  assert_true(loss->value[1] == 0.25);
  assert_int_equal(rp_source_find(&e->src, "eval_lag_seconds")->n, 1);
  assert_null(rp_source_find(&e->src, "top5"));
  assert_non_null(strstr(r.notes.p, "metrics.jsonl:2: not a metrics line; skipped"));
  assert_non_null(strstr(r.notes.p, "metrics.jsonl:3: step not above the line before; skipped"));
  assert_non_null(strstr(r.notes.p, "metrics.jsonl:5: last line incomplete"));
  assert_int_equal(e->has_state, 0);
  rp_run_free(&r);
}

/* A skipped line (a checkpoint retention deleted before the evaluator reached it, evallog.h)
 * is not a result: no point on a curve, no note. */
static void test_metrics_skipped_lines(void **state) {
  const char *dir = *state;
  write_metrics(dir,
                "{\"step\": 100, \"checkpoint\": \"ckpt-00000100.h5\", \"loss\": 0.5}\n"
                "{\"step\": 150, \"checkpoint\": \"ckpt-00000150.h5\", \"skipped\": \"deleted by "
                "retention before evaluation\", \"eval_wall_time\": 1.0, \"evaluator\": "
                "\"eval\", \"host\": \"box\"}\n"
                "{\"step\": 200, \"checkpoint\": \"ckpt-00000200.h5\", \"loss\": 0.25}\n");
  rp_run r;
  memset(&r, 0, sizeof r);
  assert_int_equal(rp_run_read(dir, "x", &r), TV_OK);
  assert_int_equal(r.nevals, 1);
  const rp_evaluator *e = &r.evals[0];
  assert_int_equal(e->n, 2);
  assert_int_equal(e->results[0].step, 100);
  assert_int_equal(e->results[1].step, 200);
  assert_int_equal(rp_source_find(&e->src, "loss")->n, 2);
  assert_true(!r.notes.p || !strstr(r.notes.p, "metrics.jsonl"));
  rp_run_free(&r);
}

static void test_chart_axes(void **state) {
  (void)state;
  rp_run runs[2];
  memset(runs, 0, sizeof runs);
  for (int s = 10; s <= 230; s += 10)
    assert_int_equal(rp_source_add(&runs[0].train, "loss", s, 2.0 / s), TV_OK);
  assert_int_equal(rp_source_add(&runs[1].validation, "loss", 50, 0.31), TV_OK);
  assert_int_equal(rp_source_add(&runs[1].validation, "loss", 100, NAN), TV_OK);
  rp_chart c;
  rp_chart_build(&c, &rp_chart_defs[0], runs, 2);
  assert_string_equal(c.tag, "loss");
  assert_int_equal(c.nlines, 2);
  assert_int_equal(c.lines[1].run, 1);
  assert_int_equal(c.lines[1].kind, 1);
  assert_true(c.x0 == 0 && c.x1 == 250); /* from step 0, widened to a tick */
  assert_true(c.y0 == 0 && c.y1 >= 0.31);
  for (int i = 0; i < c.nyt; i++) assert_true(c.yt[i] >= c.y0 && c.yt[i] <= c.y1 + 1e-12);
  assert_true(c.nxt >= 3 && c.xt[0] == 0 && c.xt[c.nxt - 1] == 250);
  rp_chart_build(&c, &rp_chart_defs[3], runs, 2); /* learning_rate: nobody has it */
  assert_int_equal(c.nlines, 0);
  char b[32];
  rp_tick_label(0.0005, b, sizeof b);
  assert_string_equal(b, "5e-04");
  rp_tick_label(20000, b, sizeof b);
  assert_string_equal(b, "20k");
  rp_tick_label(0.25, b, sizeof b);
  assert_string_equal(b, "0.25");
  rp_source_free(&runs[0].train);
  rp_source_free(&runs[1].validation);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_purge_rule, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_latest_text, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_purge_rule_old_files, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_damaged_events, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_run_errors, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_metrics_lines, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_metrics_skipped_lines, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test(test_chart_axes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
