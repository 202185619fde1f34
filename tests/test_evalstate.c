/* test_evalstate.c — the evaluator's files and the trainer's view of them (rundir.h: evalstate.h,
 * evallog.h, pin.h, stop.h, retention.h):
 * state.yaml round trip and refusals, the best / patience rules, metrics.jsonl lines and their
 * recovery after a torn write, pins and best.h5 as hard links, DIR/STOP, and the retention plan
 * (priorities and the max_unevaluated bound).  Each test gets a fresh temporary directory.
 */
#include "trainval/rundir.h"

#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "base/fs.h"

static void write_text(const char *dir, const char *name, const char *text) {
  char p[4096];
  assert_int_equal(tv_fs_join(p, sizeof p, dir, name), TV_OK);
  assert_int_equal(tv_fs_write_atomic(p, text, strlen(text)), TV_OK);
}

static char *read_text(const char *path) {
  char *data = NULL;
  size_t n;
  assert_int_equal(tv_fs_read_all(path, &data, &n), TV_OK);
  return data;
}

static void add(tv_evalstate *s, int64_t step, tv_eval_outcome o, double v, const char *err,
                int *improved) {
  tv_evalstate_entry e = {.step = step, .outcome = o, .value = v};
  if (err) snprintf(e.error, sizeof e.error, "%s", err);
  char file[64];
  snprintf(file, sizeof file, "ckpt-%08lld.h5", (long long)step);
  assert_int_equal(tv_evalstate_add(s, &e, file, improved), TV_OK);
}

/* ---- state.yaml ---------------------------------------------------------------------------- */

static void test_names(void **state) {
  (void)state;
  assert_true(tv_eval_name_valid("eval"));
  assert_true(tv_eval_name_valid("valid-2.cpu_box"));
  assert_false(tv_eval_name_valid(""));
  assert_false(tv_eval_name_valid(".hidden"));
  assert_false(tv_eval_name_valid("a/b"));
  assert_false(tv_eval_name_valid("a b"));
  char longname[80];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  assert_false(tv_eval_name_valid(longname));
}

static void test_best_and_patience(void **state) {
  (void)state;
  tv_evalstate s;
  tv_evalstate_init(&s);
  assert_int_equal(s.cursor, -1);
  s.min_delta = 0.01;
  int imp;
  add(&s, 100, TV_EVAL_OUTCOME_OK, 0.50, NULL, &imp);
  assert_true(imp && s.has_best && s.best_step == 100);
  add(&s, 200, TV_EVAL_OUTCOME_OK, 0.505, NULL, &imp); /* better, but not by min_delta */
  assert_false(imp);
  assert_int_equal(s.since_best, 1);
  add(&s, 300, TV_EVAL_OUTCOME_FAILED, NAN, "checksum mismatch", &imp); /* not a result */
  assert_int_equal(s.since_best, 1);
  s.stop_requested = 300;
  add(&s, 400, TV_EVAL_OUTCOME_OK, 0.60, NULL, &imp);
  assert_true(imp);
  assert_int_equal(s.best_step, 400);
  assert_string_equal(s.best_file, "ckpt-00000400.h5");
  assert_int_equal(s.since_best, 0);
  assert_int_equal(s.stop_requested, -1); /* improving re-arms early stopping */
  assert_int_equal(s.cursor, 400);
  /* Out of order inserts keep steps ascending; the same step replaces. */
  add(&s, 250, TV_EVAL_OUTCOME_SKIPPED, NAN, "gone", NULL);
  add(&s, 250, TV_EVAL_OUTCOME_SKIPPED, NAN, "gone again", NULL);
  assert_int_equal(s.n, 5);
  assert_int_equal(s.entries[2].step, 250);
  assert_string_equal(tv_evalstate_find(&s, 250)->error, "gone again");
  assert_null(tv_evalstate_find(&s, 251));
  assert_int_equal(s.cursor, 400);
  /* mode min (loss). */
  tv_evalstate m;
  tv_evalstate_init(&m);
  m.mode_max = 0;
  add(&m, 1, TV_EVAL_OUTCOME_OK, 2.0, NULL, &imp);
  add(&m, 2, TV_EVAL_OUTCOME_OK, 2.5, NULL, &imp);
  assert_false(imp);
  add(&m, 3, TV_EVAL_OUTCOME_OK, 1.5, NULL, &imp);
  assert_true(imp);
  assert_false(tv_evalstate_improves(&m, NAN));
  tv_evalstate_free(&m);
  tv_evalstate_free(&s);
  tv_evalstate_free(NULL);
}

static void test_state_round_trip(void **state) {
  const char *dir = *state;
  char path[4096];
  assert_int_equal(tv_fs_join(path, sizeof path, dir, "state.yaml"), TV_OK);
  tv_evalstate s, r;
  tv_evalstate_init(&s);
  tv_evalstate_init(&r);
  snprintf(s.name, sizeof s.name, "valid-1");
  snprintf(s.split, sizeof s.split, "valid");
  s.num_examples = 2000;
  s.has_subset_seed = 1;
  s.subset_seed = 18446744073709551615ull;
  s.subset_hash = 0x0123456789abcdefull;
  snprintf(s.policy, sizeof s.policy, "latest");
  snprintf(s.metric, sizeof s.metric, "loss");
  s.mode_max = 0;
  s.min_delta = 0.001;
  s.patience = 3;
  add(&s, 10, TV_EVAL_OUTCOME_OK, 0.1 + 0.2, NULL, NULL);
  add(&s, 20, TV_EVAL_OUTCOME_FAILED, NAN,
      "x/ckpt-00000020.h5: checksum \"mismatch\"\n\tbytes: caf\xc3\xa9 \\ #: {", NULL);
  add(&s, 30, TV_EVAL_OUTCOME_SKIPPED, NAN, "deleted before it could be pinned", NULL);
  s.stop_requested = 30;
  s.has_retired_baseline = 1;
  s.retired_baseline = 5;
  assert_int_equal(tv_evalstate_write(path, &s), TV_OK);
  assert_int_equal(tv_evalstate_read(path, &r), TV_OK);
  assert_string_equal(r.name, "valid-1");
  assert_string_equal(r.split, "valid");
  assert_int_equal(r.num_examples, 2000);
  assert_true(r.has_subset_seed);
  assert_true(r.subset_seed == 18446744073709551615ull);
  assert_true(r.subset_hash == 0x0123456789abcdefull);
  assert_string_equal(r.policy, "latest");
  assert_string_equal(r.metric, "loss");
  assert_int_equal(r.mode_max, 0);
  assert_true(r.min_delta == 0.001);
  assert_int_equal(r.patience, 3);
  assert_int_equal(r.cursor, 30);
  assert_true(r.has_best);
  assert_int_equal(r.best_step, 10);
  assert_true(r.best_value == 0.1 + 0.2); /* exact: %.17g */
  assert_string_equal(r.best_file, "ckpt-00000010.h5");
  assert_int_equal(r.stop_requested, 30);
  assert_true(r.has_retired_baseline);
  assert_int_equal(r.retired_baseline, 5);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.entries[1].outcome, TV_EVAL_OUTCOME_FAILED);
  /* Quotes, a newline, a tab, a backslash and UTF-8 survive (yamlio.h's writing rule). */
  assert_string_equal(r.entries[1].error,
                      "x/ckpt-00000020.h5: checksum \"mismatch\"\n\tbytes: caf\xc3\xa9 \\ #: {");
  assert_int_equal(r.entries[2].outcome, TV_EVAL_OUTCOME_SKIPPED);
  assert_true(r.pid == (long)getpid());
  /* An empty state reads back empty. */
  tv_evalstate e;
  tv_evalstate_init(&e);
  snprintf(e.name, sizeof e.name, "eval");
  assert_int_equal(tv_evalstate_write(path, &e), TV_OK);
  assert_int_equal(tv_evalstate_read(path, &r), TV_OK);
  assert_int_equal(r.cursor, -1);
  assert_int_equal(r.n, 0);
  assert_false(r.has_best);
  assert_false(r.has_subset_seed);
  assert_false(r.has_retired_baseline); /* absent: a state from before the key */
  assert_int_equal(r.retired_baseline, -1);
  /* A bad name is refused before anything is written. */
  snprintf(e.name, sizeof e.name, "a/b");
  assert_int_equal(tv_evalstate_write(path, &e), TV_ERR_INVALID);
  assert_int_equal(tv_evalstate_read(path, &r), TV_OK);
  tv_evalstate_free(&e);
  tv_evalstate_free(&r);
  tv_evalstate_free(&s);
}

static void expect_state_error(const char *dir, const char *text, int code, const char *needle) {
  write_text(dir, "state.yaml", text);
  char path[4096];
  assert_int_equal(tv_fs_join(path, sizeof path, dir, "state.yaml"), TV_OK);
  tv_evalstate s;
  tv_evalstate_init(&s);
  assert_int_equal(tv_evalstate_read(path, &s), code);
  if (!strstr(tv_error_message(), needle)) fail_msg("message: %s", tv_error_message());
  assert_int_equal(s.n, 0);
  assert_int_equal(s.cursor, -1);
}

static void test_state_refusals(void **state) {
  const char *dir = *state;
  char path[4096];
  assert_int_equal(tv_fs_join(path, sizeof path, dir, "nothing.yaml"), TV_OK);
  tv_evalstate s;
  tv_evalstate_init(&s);
  assert_int_equal(tv_evalstate_read(path, &s), TV_ERR_NOT_FOUND);
  const char *head = "format: trainval.evalstate\nformat_version: 1\nname: eval\n";
  char t[1024];
  expect_state_error(dir, "format: trainval.evalstate\nformat_version: 2\nname: eval\ncursor: 1\n",
                     TV_ERR_FORMAT, "state.yaml:2:17: format_version 2 is newer");
  expect_state_error(dir, "format: other\nformat_version: 1\n", TV_ERR_FORMAT,
                     "format: \"other\" is not trainval.evalstate");
  snprintf(t, sizeof t, "%s", head);
  expect_state_error(dir, t, TV_ERR_FORMAT, "missing key \"cursor\"");
  snprintf(t, sizeof t, "%scursor: 5\nevaluated:\n  - {step: 7, outcome: ok, value: 1}\n", head);
  expect_state_error(dir, t, TV_ERR_FORMAT, "past the cursor");
  snprintf(t, sizeof t,
           "%scursor: 9\nevaluated:\n  - {step: 7, outcome: ok, value: 1}\n"
           "  - {step: 7, outcome: ok, value: 1}\n",
           head);
  expect_state_error(dir, t, TV_ERR_FORMAT, "steps must ascend");
  snprintf(t, sizeof t, "%scursor: 9\nevaluated:\n  - {step: 7, outcome: maybe}\n", head);
  expect_state_error(dir, t, TV_ERR_FORMAT, "outcome: expected ok, failed or skipped");
  snprintf(t, sizeof t, "%scursor: 9\nevaluated:\n  - {step: 7, outcome: ok}\n", head);
  expect_state_error(dir, t, TV_ERR_FORMAT, "ok but has no value");
  snprintf(t, sizeof t, "%scursor: [1\n", head);
  expect_state_error(dir, t, TV_ERR_FORMAT, "state.yaml:");
  /* Unknown keys are ignored (a newer writer's additions). */
  snprintf(t, sizeof t, "%scursor: 3\nsomething_new: {a: 1}\n", head);
  write_text(dir, "state.yaml", t);
  assert_int_equal(tv_fs_join(path, sizeof path, dir, "state.yaml"), TV_OK);
  assert_int_equal(tv_evalstate_read(path, &s), TV_OK);
  assert_int_equal(s.cursor, 3);
  tv_evalstate_free(&s);
}

/* ---- metrics.jsonl ------------------------------------------------------------------------- */

static void test_evallog(void **state) {
  const char *dir = *state;
  char path[4096];
  assert_int_equal(tv_fs_join(path, sizeof path, dir, "metrics.jsonl"), TV_OK);
  tv_metrics *m = NULL;
  assert_int_equal(tv_metrics_new(3, &m), TV_OK);
  /* 4 examples: true 0 0 1 2; predicted 0 1 1 2. */
  const float logits[] = {5, 0, 0, 0, 5, 0, 0, 5, 0, 0, 0, 5};
  const int32_t labels[] = {0, 0, 1, 2};
  tv_metrics_update(m, logits, labels, 4);
  tv_evallog_record r = {.step = 1000,
                         .checkpoint = "ckpt-00001000.h5",
                         .crc32c = 0x1a2b3c4du,
                         .split = "test",
                         .subset_hash = 0xabcdefull,
                         .checkpoint_wall_time = 1.5,
                         .eval_wall_time = 2.5,
                         .lag_steps = 3,
                         .evaluator = "eval",
                         .host = "box"};
  char *line = NULL;
  assert_int_equal(tv_evallog_format(&r, m, &line), TV_OK);
  assert_non_null(strstr(line,
                         "{\"step\": 1000, \"checkpoint\": \"ckpt-00001000.h5\", "
                         "\"checksum\": \"crc32c:1a2b3c4d\", \"split\": \"test\", "
                         "\"num_examples\": 4, \"subset_hash\": \"fnv1a64:0000000000abcdef\", "
                         "\"subset_seed\": null, \"loss\": "));
  assert_non_null(strstr(line, "\"accuracy\": 0.75, "));
  assert_non_null(strstr(line, "\"precision\": [1, 0.5, 1], \"recall\": [0.5, 1, 1]"));
  assert_non_null(strstr(line, "\"support\": [2, 1, 1]"));
  assert_non_null(strstr(line, "\"confusion\": [[1, 1, 0], [0, 1, 0], [0, 0, 1]]"));
  assert_non_null(strstr(line, "\"lag_steps\": 3, "));
  assert_non_null(strstr(line, "\"evaluator\": \"eval\", \"host\": \"box\"}\n"));
  assert_int_equal(strchr(line, '\n') - line, (long)strlen(line) - 1);
  assert_int_equal(tv_evallog_append(path, line), TV_OK);
  r.step = 2000;
  r.checkpoint = "ckpt-00002000.h5";
  free(line);
  assert_int_equal(tv_evallog_format(&r, m, &line), TV_OK);
  assert_int_equal(tv_evallog_append(path, line), TV_OK);
  /* A crash in the middle of the third line leaves it torn. */
  int fd = open(path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "{\"step\": 3000, \"checkp", 22), 22);
  close(fd);
  tv_evallog_line *lines = NULL;
  int n = 0;
  assert_int_equal(tv_evallog_scan(path, "accuracy", 0, &lines, &n), TV_OK);
  assert_int_equal(n, 2);
  free(lines);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  off_t torn = st.st_size;
  assert_int_equal(tv_evallog_scan(path, "accuracy", 1, &lines, &n), TV_OK);
  assert_int_equal(n, 2);
  assert_int_equal(lines[0].step, 1000);
  assert_int_equal(lines[1].step, 2000);
  assert_string_equal(lines[1].checkpoint, "ckpt-00002000.h5");
  assert_true(lines[0].value == 0.75);
  free(lines);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, torn - 22); /* cut back to the last whole line */
  assert_int_equal(tv_evallog_scan(path, "nonexistent_key", 0, &lines, &n), TV_OK);
  assert_true(isnan(lines[0].value));
  free(lines);
  /* A garbled complete line in the middle is an error naming the line. */
  fd = open(path, O_WRONLY | O_APPEND);
  assert_int_equal(write(fd, "garbage\n", 8), 8);
  assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
  close(fd);
  assert_int_equal(tv_evallog_scan(path, "accuracy", 1, &lines, &n), TV_ERR_FORMAT);
  assert_non_null(strstr(tv_error_message(), "metrics.jsonl:3: not a metrics line"));
  assert_null(lines);
  /* No file: no lines. */
  assert_int_equal(tv_fs_join(path, sizeof path, dir, "none.jsonl"), TV_OK);
  assert_int_equal(tv_evallog_scan(path, "accuracy", 1, &lines, &n), TV_OK);
  assert_int_equal(n, 0);
  free(line);
  tv_metrics_free(m);
}

/* A checkpoint retention deleted first: a skipped line, told apart by scan, without metrics. */
static void test_evallog_skipped_line(void **state) {
  const char *dir = *state;
  char path[4096];
  assert_int_equal(tv_fs_join(path, sizeof path, dir, TV_EVALLOG_FILE), TV_OK);
  tv_evallog_record r = {.step = 15,
                         .checkpoint = "ckpt-00000015.h5",
                         .eval_wall_time = 2.5,
                         .evaluator = "eval",
                         .host = "box"};
  char *line = NULL;
  assert_int_equal(tv_evallog_format_skipped(&r, "deleted by retention before evaluation", &line),
                   TV_OK);
  assert_string_equal(line, "{\"step\": 15, \"checkpoint\": \"ckpt-00000015.h5\", \"skipped\": "
                            "\"deleted by retention before evaluation\", \"eval_wall_time\": "
                            "2.500000, \"evaluator\": \"eval\", \"host\": \"box\"}\n");
  assert_int_equal(tv_evallog_append(path, line), TV_OK);
  free(line);
  tv_evallog_line *lines = NULL;
  int n = 0;
  assert_int_equal(tv_evallog_scan(path, "accuracy", 1, &lines, &n), TV_OK);
  assert_int_equal(n, 1);
  assert_int_equal(lines[0].step, 15);
  assert_string_equal(lines[0].checkpoint, "ckpt-00000015.h5");
  assert_true(lines[0].skipped);
  assert_true(isnan(lines[0].value));
  free(lines);
}

/* ---- pins, best.h5, STOP ------------------------------------------------------------------- */

static ino_t inode_of(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_ino;
}

static void test_pins_and_best(void **state) {
  const char *dir = *state;
  char sub[4096], src[4096], pin[4096], best[4200];
  assert_int_equal(tv_fs_join(sub, sizeof sub, dir, "eval"), TV_OK);
  assert_int_equal(tv_fs_mkdirs(sub), TV_OK);
  write_text(dir, "ckpt-00000010.h5", "ten");
  write_text(dir, "ckpt-00000020.h5", "twenty");
  assert_int_equal(tv_fs_join(src, sizeof src, dir, "ckpt-00000010.h5"), TV_OK);
  assert_int_equal(tv_pin_create(dir, "eval", "ckpt-00000010.h5", pin, sizeof pin), TV_OK);
  assert_non_null(strstr(pin, "/eval/pin-ckpt-00000010.h5"));
  assert_true(inode_of(pin) == inode_of(src));
  /* Retention unlinks the checkpoint: the pin still reads it. */
  assert_int_equal(unlink(src), 0);
  char *text = read_text(pin);
  assert_string_equal(text, "ten");
  free(text);
  /* best.h5 from the pin; later replaced by another. */
  assert_int_equal(tv_best_update(dir, "eval", pin), TV_OK);
  snprintf(best, sizeof best, "%s/best.h5", sub);
  assert_true(inode_of(best) == inode_of(pin));
  assert_int_equal(tv_fs_join(src, sizeof src, dir, "ckpt-00000020.h5"), TV_OK);
  assert_int_equal(tv_best_update(dir, "eval", src), TV_OK);
  assert_true(inode_of(best) == inode_of(src));
  char missing[4200];
  snprintf(missing, sizeof missing, "%s/ckpt-00000099.h5", dir);
  assert_int_equal(tv_best_update(dir, "eval", missing), TV_ERR_NOT_FOUND);
  assert_true(inode_of(best) == inode_of(src)); /* unchanged after a failure */
  /* A checkpoint already gone cannot be pinned, and nothing is left behind. */
  assert_int_equal(tv_pin_create(dir, "eval", "ckpt-00000099.h5", pin, sizeof pin),
                   TV_ERR_NOT_FOUND);
  assert_int_equal(access(pin, F_OK), -1);
  /* A stale pin of the same name is replaced. */
  assert_int_equal(tv_pin_create(dir, "eval", "ckpt-00000020.h5", pin, sizeof pin), TV_OK);
  assert_int_equal(tv_pin_create(dir, "eval", "ckpt-00000020.h5", pin, sizeof pin), TV_OK);
  /* Clearing removes the pins (and only them). */
  assert_int_equal(tv_pin_clear(dir, "eval"), TV_OK);
  assert_int_equal(access(pin, F_OK), -1);
  assert_int_equal(access(best, F_OK), 0);
  assert_int_equal(tv_pin_clear(dir, "nobody"), TV_OK);
}

static void test_stop_file(void **state) {
  const char *dir = *state;
  assert_false(tv_stop_requested(dir));
  tv_stop_request r = {.mode_max = 0, .best_step = 300, .best_value = 0.25, .step = 600};
  snprintf(r.by, sizeof r.by, "valid");
  snprintf(r.metric, sizeof r.metric, "loss");
  snprintf(r.reason, sizeof r.reason, "loss has not improved: \"x\"");
  assert_int_equal(tv_stop_write(dir, &r), TV_OK);
  assert_true(tv_stop_requested(dir));
  tv_stop_request q;
  assert_int_equal(tv_stop_read(dir, &q), TV_OK);
  assert_string_equal(q.by, "valid");
  assert_string_equal(q.reason, "loss has not improved: \"x\"");
  assert_string_equal(q.metric, "loss");
  assert_int_equal(q.mode_max, 0);
  assert_int_equal(q.best_step, 300);
  assert_true(q.best_value == 0.25);
  assert_int_equal(q.step, 600);
  assert_int_equal(q.pid, (long)getpid());
  assert_int_equal(tv_stop_consume(dir), TV_OK);
  assert_false(tv_stop_requested(dir));
  char handled[4096];
  assert_int_equal(tv_fs_join(handled, sizeof handled, dir, "STOP.handled"), TV_OK);
  assert_int_equal(access(handled, F_OK), 0);
  assert_int_equal(tv_stop_consume(dir), TV_OK); /* nothing there: fine */
  assert_int_equal(tv_stop_read(dir, &q), TV_ERR_NOT_FOUND);
  write_text(dir, "STOP", "format: trainval.stop\nformat_version: 1\n");
  assert_int_equal(tv_stop_read(dir, &q), TV_ERR_FORMAT);
  assert_non_null(strstr(tv_error_message(), "missing key \"by\""));
  assert_true(tv_stop_requested(dir)); /* a request even if unreadable */
}

/* ---- retention ----------------------------------------------------------------------------- */

/* A manifest of checkpoints at steps 10, 20, ..., 10 n. */
static void make_manifest(tv_manifest *m, int n) {
  tv_manifest_init(m);
  for (int i = 1; i <= n; i++) {
    tv_manifest_entry e = {.step = 10 * i, .finite = 1};
    snprintf(e.file, sizeof e.file, "ckpt-%08d.h5", 10 * i);
    assert_int_equal(tv_manifest_append(m, &e), TV_OK);
  }
}

static void make_evaluator(const char *dir, const char *name, const char *policy, int64_t cursor,
                           int64_t best) {
  char sub[4096], path[4200];
  assert_int_equal(tv_fs_join(sub, sizeof sub, dir, name), TV_OK);
  assert_int_equal(tv_fs_mkdirs(sub), TV_OK);
  snprintf(path, sizeof path, "%s/state.yaml", sub);
  tv_evalstate s;
  tv_evalstate_init(&s);
  snprintf(s.name, sizeof s.name, "%s", name);
  snprintf(s.policy, sizeof s.policy, "%s", policy);
  s.cursor = cursor;
  if (best >= 0) {
    s.has_best = 1;
    s.best_step = best;
    snprintf(s.best_file, sizeof s.best_file, "ckpt-%08lld.h5", (long long)best);
  }
  assert_int_equal(tv_evalstate_write(path, &s), TV_OK);
  tv_evalstate_free(&s);
}

static void expect_keep(const tv_retention *r, const int64_t *want, int n) {
  if (r->n != n) {
    char got[256] = "";
    for (int i = 0; i < r->n; i++)
      snprintf(got + strlen(got), sizeof got - strlen(got), " %lld", (long long)r->keep[i]);
    fail_msg("kept %d:%s, want %d", r->n, got, n);
  }
  for (int i = 0; i < n; i++) assert_int_equal(r->keep[i], want[i]);
}

static void test_retention_plan(void **state) {
  const char *dir = *state;
  tv_manifest m;
  make_manifest(&m, 8); /* 10..80; committing 90 with max_to_keep 2 drops 10..70 */
  tv_retention r;
  /* No evaluators (and folders that are not: validation/, garbage state): nothing kept. */
  char v[4096];
  assert_int_equal(tv_fs_join(v, sizeof v, dir, "validation"), TV_OK);
  assert_int_equal(tv_fs_mkdirs(v), TV_OK);
  assert_int_equal(tv_fs_join(v, sizeof v, dir, "broken"), TV_OK);
  assert_int_equal(tv_fs_mkdirs(v), TV_OK);
  write_text(v, "state.yaml", "format: [unclosed\n");
  assert_int_equal(tv_retention_plan(dir, &m, 90, 2, 10, &r), TV_OK);
  assert_int_equal(r.n, 0);
  tv_retention_free(&r);
  /* A policy-all evaluator at step 30 has not reached 40..70: kept, with its best (20). */
  make_evaluator(dir, "eval", "all", 30, 20);
  assert_int_equal(tv_retention_plan(dir, &m, 90, 2, 10, &r), TV_OK);
  expect_keep(&r, (int64_t[]){20, 40, 50, 60, 70}, 5);
  assert_true(tv_retention_keep(&r, &m.entries[1]));  /* 20 */
  assert_false(tv_retention_keep(&r, &m.entries[2])); /* 30 */
  tv_retention_free(&r);
  /* The bound: at most max_unevaluated vetoes; pins first, then bests, then the oldest
   * unreached (the next the evaluator reads). */
  char pin[4200];
  snprintf(pin, sizeof pin, "%s/eval/pin-ckpt-00000060.h5", dir);
  write_text(dir, "eval/pin-ckpt-00000060.h5", "");
  assert_int_equal(access(pin, F_OK), 0);
  assert_int_equal(tv_retention_plan(dir, &m, 90, 2, 3, &r), TV_OK);
  expect_keep(&r, (int64_t[]){20, 40, 60}, 3);
  tv_retention_free(&r);
  assert_int_equal(tv_retention_plan(dir, &m, 90, 2, 1, &r), TV_OK);
  expect_keep(&r, (int64_t[]){60}, 1);
  tv_retention_free(&r);
  /* max_unevaluated 0 or max_to_keep 0 (keep all anyway): no plan. */
  assert_int_equal(tv_retention_plan(dir, &m, 90, 2, 0, &r), TV_OK);
  assert_int_equal(r.n, 0);
  assert_int_equal(tv_retention_plan(dir, &m, 90, 0, 10, &r), TV_OK);
  assert_int_equal(r.n, 0);
  /* Nothing to drop: no plan. */
  assert_int_equal(tv_retention_plan(dir, &m, 90, 20, 10, &r), TV_OK);
  assert_int_equal(r.n, 0);
  unlink(pin);
  /* A policy-latest evaluator never reads a backlog: only its best counts. */
  char sub[4096];
  assert_int_equal(tv_fs_join(sub, sizeof sub, dir, "eval"), TV_OK);
  make_evaluator(dir, "eval", "latest", 30, 20);
  assert_int_equal(tv_retention_plan(dir, &m, 90, 2, 10, &r), TV_OK);
  expect_keep(&r, (int64_t[]){20}, 1);
  tv_retention_free(&r);
  /* Two evaluators: the union, the slowest decides.  An evaluator not started (cursor -1). */
  make_evaluator(dir, "valid", "all", 60, -1);
  make_evaluator(dir, "test", "all", -1, -1);
  assert_int_equal(tv_retention_plan(dir, &m, 90, 2, 10, &r), TV_OK);
  expect_keep(&r, (int64_t[]){10, 20, 30, 40, 50, 60, 70}, 7);
  tv_retention_free(&r);
  /* The candidates are what commit would drop when the new step sorts among the old (a
   * resumed run replaying a step): the newest max_to_keep of the merged list stay. */
  assert_int_equal(tv_retention_plan(dir, &m, 75, 2, 10, &r), TV_OK); /* drops 10..70 */
  expect_keep(&r, (int64_t[]){10, 20, 30, 40, 50, 60, 70}, 7);
  tv_retention_free(&r);
  assert_int_equal(tv_retention_plan(dir, &m, 5, 2, 10, &r), TV_OK); /* 5 stays: 10..60 */
  expect_keep(&r, (int64_t[]){10, 20, 30, 40, 50, 60}, 6);
  tv_retention_free(&r);
  assert_int_equal(tv_retention_plan(dir, &m, 80, 2, 10, &r), TV_OK); /* 80 replaced */
  expect_keep(&r, (int64_t[]){10, 20, 30, 40, 50, 60}, 6);
  tv_retention_free(&r);
  tv_retention_free(NULL);
  tv_manifest_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_best_and_patience),
      cmocka_unit_test_setup_teardown(test_state_round_trip, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_state_refusals, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_evallog, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_pins_and_best, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_stop_file, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_retention_plan, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_evallog_skipped_line, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
