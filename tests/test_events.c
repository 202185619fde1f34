/* test_events.c — the TensorBoard event writer: CRC-32C vectors, round trips through the
 * independent reader in tests/tfrecord.c, error paths (code and message), and the shared
 * checker tfevents_check.py when it is installed. */
#include "trainval/events.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "testutil.h"

#include "tfrecord.h"
#include "base/fs.h"

enum { MAX_EVENTS = 512 };

/* ---- fixtures: a fresh temp dir per test, removed afterwards ----------------------------- */

static void join(char *out, size_t cap, const char *dir, const char *name) {
  assert_int_equal(tv_fs_join(out, cap, dir, name), TV_OK);
}

static int count_event_files(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) n += strstr(e->d_name, "tfevents") != NULL;
  closedir(d);
  return n;
}

static tvt_event *read_events(const char *path, int *n) {
  tvt_event *ev = calloc(MAX_EVENTS, sizeof *ev);
  assert_non_null(ev);
  int rc = tvt_read_file(path, ev, MAX_EVENTS, n);
  if (rc != TV_OK) fail_msg("%s: %s", path, tv_error_message());
  return ev;
}

/* ---- CRC ---------------------------------------------------------------------------------- */

static void test_crc32c_vectors(void **state) {
  (void)state;
  unsigned char zeros[32] = {0}, ones[32], inc[32];
  memset(ones, 0xff, sizeof ones);
  for (int i = 0; i < 32; i++) inc[i] = (unsigned char)i;
  assert_int_equal(tv_crc32c(0, "123456789", 9), 0xE3069283u);
  assert_int_equal(tv_crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720 B.4 */
  assert_int_equal(tv_crc32c(0, ones, 32), 0x62A8AB43u);
  assert_int_equal(tv_crc32c(0, inc, 32), 0x46DD794Eu);
  assert_int_equal(tv_crc32c(0, "", 0), 0u);
  /* continuing from a previous CRC equals one pass over the concatenation */
  assert_int_equal(tv_crc32c(tv_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
  /* masked values, from tfevents_check.py's masked_crc32c */
  assert_int_equal(tvt_masked_crc32c("123456789", 9), 0xC78AB0E5u);
  assert_int_equal(tvt_masked_crc32c(zeros, 8), 0x07980329u);
}

/* ---- round trips -------------------------------------------------------------------------- */

static void test_first_record_is_file_version(void **state) {
  const char *dir = *state;
  double t0 = tv_now();
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  assert_non_null(w);
  const char *path = tv_events_path(w);
  char prefix[4200];
  join(prefix, sizeof prefix, dir, "events.out.tfevents.");
  assert_memory_equal(path, prefix, strlen(prefix));
  char pid[32];
  snprintf(pid, sizeof pid, ".%ld.", (long)getpid());
  assert_non_null(strstr(path + strlen(prefix), pid));
  /* written and flushed by open: another reader sees it before any scalar */
  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 1);
  assert_true(ev[0].has_file_version);
  assert_string_equal(ev[0].file_version, "brain.Event:2");
  assert_int_equal(ev[0].step, 0);
  assert_false(ev[0].has_summary);
  assert_true(ev[0].wall_time >= t0 - 1 && ev[0].wall_time <= tv_now() + 1);
  free(ev);
  assert_int_equal(tv_events_close(w), TV_OK);
  assert_int_equal(tv_events_close(NULL), TV_OK);
}

static void test_scalars_round_trip(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  for (int i = 0; i < 300; i++)
    assert_int_equal(tv_events_scalar(w, i * 10, "train/loss", 2.0f / (float)(i + 1)), TV_OK);
  const char *tags[] = {"eval/accuracy", "eval/loss", "eval/top5_\xc3\xa9"};
  const float vals[] = {0.875f, 0.3333333f, -1e-30f};
  assert_int_equal(tv_events_scalars(w, 3000, 3, tags, vals), TV_OK);
  assert_int_equal(tv_events_flush(w), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);

  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 1 + 300 + 1);
  for (int i = 0; i < 300; i++) {
    const tvt_event *e = &ev[1 + i];
    assert_true(e->has_summary);
    assert_false(e->has_file_version);
    assert_int_equal(e->step, i * 10);
    assert_int_equal(e->nvalues, 1);
    assert_string_equal(e->values[0].tag, "train/loss");
    assert_true(e->values[0].has_simple_value);
    assert_true(e->values[0].simple_value == 2.0f / (float)(i + 1)); /* bit-exact float */
    assert_true(e->wall_time >= ev[i].wall_time);                    /* never decreasing */
  }
  const tvt_event *last = &ev[n - 1];
  assert_int_equal(last->step, 3000);
  assert_int_equal(last->nvalues, 3);
  for (int i = 0; i < 3; i++) {
    assert_string_equal(last->values[i].tag, tags[i]);
    assert_true(last->values[i].simple_value == vals[i]);
  }
  free(ev);
}

static void test_histogram_round_trip(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));

  float same[10];
  for (int i = 0; i < 10; i++) same[i] = 0.5f;
  assert_int_equal(tv_events_histogram(w, 1, "w/same", same, 10), TV_OK);

  /* wide spread, both signs, zeros: many non-empty buckets, a record bigger than the buffer's
   * spare room */
  enum { N = 20000 };
  float *x = malloc(N * sizeof *x);
  assert_non_null(x);
  double sum = 0, sumsq = 0, mn = 0, mx = 0;
  for (int i = 0; i < N; i++) {
    float v = (i % 3 == 0) ? 0.0f : (float)((i % 2 ? 1 : -1) * pow(10.0, (i % 400) / 20.0 - 10));
    x[i] = v;
    sum += v;
    sumsq += (double)v * v;
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  for (int s = 2; s < 12; s++) assert_int_equal(tv_events_histogram(w, s, "w/wide", x, N), TV_OK);
  assert_int_equal(tv_events_histogram(w, 12, "w/empty", NULL, 0), TV_OK);

  /* a non-finite input is refused and nothing is written */
  x[7] = NAN;
  assert_int_equal(tv_events_histogram(w, 13, "w/nan", x, N), TV_ERR_NONFINITE);
  assert_non_null(strstr(tv_error_message(), "w/nan"));
  assert_non_null(strstr(tv_error_message(), "x[7]"));
  x[7] = INFINITY;
  assert_int_equal(tv_events_histogram(w, 13, "w/inf", x, N), TV_ERR_NONFINITE);
  assert_int_equal(tv_events_close(w), TV_OK);

  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 1 + 1 + 10 + 1);
  const tvt_histo *h = &ev[1].values[0].histo;
  assert_true(ev[1].values[0].has_histo);
  assert_false(ev[1].values[0].has_simple_value);
  assert_string_equal(ev[1].values[0].tag, "w/same");
  assert_true(h->min == 0.5 && h->max == 0.5 && h->num == 10);
  assert_true(h->sum == 5.0 && h->sum_squares == 2.5);
  /* empty run below, the bucket holding 0.5, empty run up to DBL_MAX */
  assert_int_equal(h->nlimits, 3);
  assert_int_equal(h->nbuckets, 3);
  assert_true(h->bucket_total == 10);
  assert_true(h->limits_increasing);
  assert_true(h->last_limit == DBL_MAX);

  for (int s = 2; s < 12; s++) {
    h = &ev[s].values[0].histo;
    assert_int_equal(ev[s].step, s);
    assert_string_equal(ev[s].values[0].tag, "w/wide");
    assert_true(h->num == N && h->bucket_total == N);
    assert_true(h->min == mn && h->max == mx);
    assert_true(mn < -1e9 && mx > 1e9);
    /* sums in double in both places, maybe in another order: equal to rounding */
    assert_true(fabs(h->sum - sum) <= 1e-9 * sqrt(sumsq) * N);
    assert_true(fabs(h->sum_squares - sumsq) <= 1e-12 * sumsq);
    assert_int_equal(h->nlimits, h->nbuckets);
    assert_true(h->nbuckets > 100);
    assert_true(h->limits_increasing);
    assert_true(h->last_limit == DBL_MAX);
  }
  h = &ev[12].values[0].histo;
  assert_string_equal(ev[12].values[0].tag, "w/empty");
  assert_true(h->num == 0 && h->bucket_total == 0);
  assert_int_equal(h->nbuckets, 1);
  free(ev);
  free(x);
}

static void test_two_writers_distinct_files(void **state) {
  const char *dir = *state;
  tv_events *a = NULL, *b = NULL;
  assert_int_equal(tv_events_open(dir, &a), TV_OK);
  assert_int_equal(tv_events_open(dir, &b), TV_OK);
  assert_string_not_equal(tv_events_path(a), tv_events_path(b));
  assert_int_equal(tv_events_scalar(a, 1, "a", 1.0f), TV_OK);
  assert_int_equal(tv_events_scalar(b, 1, "b", 2.0f), TV_OK);
  char pa[4200], pb[4200];
  snprintf(pa, sizeof pa, "%s", tv_events_path(a));
  snprintf(pb, sizeof pb, "%s", tv_events_path(b));
  assert_int_equal(tv_events_close(a), TV_OK);
  assert_int_equal(tv_events_close(b), TV_OK);
  assert_int_equal(count_event_files(dir), 2);
  int n = 0;
  tvt_event *ev = read_events(pa, &n);
  assert_int_equal(n, 2);
  assert_string_equal(ev[1].values[0].tag, "a");
  free(ev);
  ev = read_events(pb, &n);
  assert_int_equal(n, 2);
  assert_string_equal(ev[1].values[0].tag, "b");
  free(ev);
}

/* ---- the reader really checks ------------------------------------------------------------- */

static void rewrite(const char *path, const char *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void test_reader_detects_damage(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  for (int i = 0; i < 10; i++) assert_int_equal(tv_events_scalar(w, i, "loss", 1.0f), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  char *orig = NULL;
  size_t len = 0;
  assert_int_equal(tv_fs_read_all(path, &orig, &len), TV_OK);
  tvt_event *ev = calloc(MAX_EVENTS, sizeof *ev);
  assert_non_null(ev);
  int n = 0;
  assert_int_equal(tvt_read_file(path, ev, MAX_EVENTS, &n), TV_OK);
  assert_int_equal(n, 11);

  /* cut short in the last record's payload CRC */
  rewrite(path, orig, len - 3);
  assert_int_equal(tvt_read_file(path, ev, MAX_EVENTS, &n), TV_ERR_FORMAT);
  assert_int_equal(n, 10);
  assert_non_null(strstr(tv_error_message(), "truncated"));
  /* cut inside a header */
  size_t first = 12 + (size_t)orig[0] + 4; /* the file_version record (length < 256) */
  rewrite(path, orig, first + 5);
  assert_int_equal(tvt_read_file(path, ev, MAX_EVENTS, &n), TV_ERR_FORMAT);
  assert_int_equal(n, 1);
  /* one flipped bit in the second record's payload */
  orig[first + 12 + 3] ^= 0x10;
  rewrite(path, orig, len);
  assert_int_equal(tvt_read_file(path, ev, MAX_EVENTS, &n), TV_ERR_FORMAT);
  assert_int_equal(n, 1);
  assert_non_null(strstr(tv_error_message(), "payload CRC"));
  orig[first + 12 + 3] ^= 0x10;
  /* one flipped bit in the second record's length */
  orig[first] ^= 0x01;
  rewrite(path, orig, len);
  assert_int_equal(tvt_read_file(path, ev, MAX_EVENTS, &n), TV_ERR_FORMAT);
  assert_non_null(strstr(tv_error_message(), "length CRC"));
  free(ev);
  free(orig);
}

/* ---- error paths -------------------------------------------------------------------------- */

static void test_unwritable_dir(void **state) {
  const char *dir = *state;
  char file[4200], sub[4300];
  join(file, sizeof file, dir, "plain_file");
  rewrite(file, "x", 1);
  join(sub, sizeof sub, file, "run");
  tv_events *w = (tv_events *)&w; /* must come back NULL */
  assert_int_equal(tv_events_open(sub, &w), TV_ERR_IO);
  assert_null(w);
  assert_non_null(strstr(tv_error_message(), file));
}

static void test_invalid_arguments(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(NULL, &w), TV_ERR_INVALID);
  assert_int_equal(tv_events_open("", &w), TV_ERR_INVALID);
  assert_null(w);
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  assert_int_equal(tv_events_scalar(w, -1, "loss", 1.0f), TV_ERR_INVALID);
  assert_non_null(strstr(tv_error_message(), path));
  assert_int_equal(tv_events_scalar(w, 1, "", 1.0f), TV_ERR_INVALID);
  assert_int_equal(tv_events_scalar(w, 1, NULL, 1.0f), TV_ERR_INVALID);
  assert_int_equal(tv_events_scalar(w, 1, "bad\xff", 1.0f), TV_ERR_INVALID);
  assert_int_equal(tv_events_scalar(w, 1, "surrogate\xed\xa0\x80", 1.0f), TV_ERR_INVALID);
  assert_int_equal(tv_events_scalar(w, 1, "overlong\xc0\xaf", 1.0f), TV_ERR_INVALID);
  const char *tags[] = {"ok", ""};
  const float vals[] = {1, 2};
  assert_int_equal(tv_events_scalars(w, 1, 0, tags, vals), TV_ERR_INVALID);
  assert_int_equal(tv_events_scalars(w, 1, 2, tags, vals), TV_ERR_INVALID);
  assert_int_equal(tv_events_histogram(w, 1, "h", NULL, 3), TV_ERR_INVALID);
  assert_int_equal(tv_events_scalar(NULL, 1, "loss", 1.0f), TV_ERR_INVALID);
  assert_int_equal(tv_events_flush(NULL), TV_ERR_INVALID);
  /* the writer is still good, and nothing was written by the refused calls */
  assert_int_equal(tv_events_scalar(w, 1, "loss", 1.0f), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 2);
  free(ev);
}

/* A real failing write(2): RLIMIT_FSIZE with SIGXFSZ ignored makes writes past the limit fail
 * with EFBIG, in this process, on an ordinary file (more faithful than /dev/full, which the
 * writer cannot be pointed at since it creates its own file). */
static void test_write_error_reported(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));

  struct rlimit old;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit lim = old;
  lim.rlim_cur = 8192;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  int rc = TV_OK, i;
  for (i = 0; i < 100000 && rc == TV_OK; i++) rc = tv_events_scalar(w, i, "loss", (float)i);
  if (rc == TV_OK) rc = tv_events_flush(w);
  char msg[1100];
  snprintf(msg, sizeof msg, "%s", tv_error_message());
  int rc_after = tv_events_scalar(w, i, "loss", 0.0f);
  int rc_close = tv_events_close(w);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, old_handler);

  assert_int_equal(rc, TV_ERR_IO);
  assert_non_null(strstr(msg, path));
  assert_non_null(strstr(msg, "write"));
  assert_non_null(strstr(msg, "File too large"));
  assert_int_equal(rc_after, TV_ERR_IO); /* the writer stays failed */
  assert_int_equal(rc_close, TV_ERR_IO); /* close reports the first error */
  /* the file was cut back to a record boundary: every record in it is whole */
  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_true(n >= 1);
  assert_string_equal(ev[0].file_version, "brain.Event:2");
  free(ev);
}

/* ---- the independent checker -------------------------------------------------------------- */

static void test_shared_checker_accepts(void **state) {
  const char *dir = *state;
  const char *checker = getenv("TV_TFEVENTS_CHECK");
  if (!checker) checker = "/work/shared/checkers/tfevents_check.py";
  if (access("/usr/bin/python3", X_OK) != 0 || access(checker, R_OK) != 0) skip();

  char val[4200];
  join(val, sizeof val, dir, "validation");
  tv_events *w = NULL, *v = NULL, *w2 = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  assert_int_equal(tv_events_open(val, &v), TV_OK);
  float x[1000];
  for (int i = 0; i < 1000; i++) x[i] = (float)sin(i * 0.37) * (float)(i % 7);
  for (int s = 0; s < 50; s++) {
    assert_int_equal(tv_events_scalar(w, s, "train/loss", 1.0f / (float)(s + 1)), TV_OK);
    if (s % 10 == 0) {
      const char *tags[] = {"val/loss", "val/accuracy"};
      const float vals[] = {0.5f / (float)(s + 1), 0.01f * (float)s};
      assert_int_equal(tv_events_scalars(v, s, 2, tags, vals), TV_OK);
      assert_int_equal(tv_events_histogram(w, s, "dense_1/kernel", x, 1000), TV_OK);
    }
  }
  assert_int_equal(tv_events_histogram(w, 50, "empty", x, 0), TV_OK);
  assert_int_equal(tv_events_open(dir, &w2), TV_OK); /* a second file in the same run */
  assert_int_equal(tv_events_scalar(w2, 60, "train/loss", 0.01f), TV_OK);
  assert_int_equal(tv_events_close(w2), TV_OK);
  assert_int_equal(tv_events_close(v), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);

  char cmd[9000];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --strict --quiet '%s' >/dev/null", checker, dir);
  int st = system(cmd);
  if (st != 0) {
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --strict --quiet '%s' >&2", checker, dir);
    (void)system(cmd);
  }
  assert_int_equal(st, 0);
}

/* ---- resume: purge records past a step ----------------------------------------------------- */

static void test_purge_after(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  for (int i = 1; i <= 10; i++)
    assert_int_equal(tv_events_scalar(w, i * 10, "loss", (float)i), TV_OK);
  assert_int_equal(tv_events_histogram(w, 100, "w", (const float[]){1, 2, 3}, 3), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  /* A torn record at the end, as a kill -9 mid-write leaves it. */
  FILE *f = fopen(path, "ab");
  assert_non_null(f);
  fwrite("\x20\0\0\0\0\0\0\0\1\2", 1, 10, f);
  fclose(f);

  long dropped = -1;
  assert_int_equal(tv_events_purge_after(dir, 50, &dropped), TV_OK);
  assert_int_equal(dropped, 5 + 1 + 1); /* steps 60..100, the histogram, the torn tail */
  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 1 + 5);
  assert_true(ev[0].has_file_version);
  for (int i = 1; i <= 5; i++) assert_int_equal(ev[i].step, i * 10);
  free(ev);

  /* Nothing to drop: the file is left alone (same inode). */
  struct stat before, after;
  assert_int_equal(stat(path, &before), 0);
  assert_int_equal(tv_events_purge_after(dir, 50, &dropped), TV_OK);
  assert_int_equal(dropped, 0);
  assert_int_equal(stat(path, &after), 0);
  assert_true(before.st_ino == after.st_ino);

  /* A damaged record in the middle is reported, never rewritten. */
  f = fopen(path, "r+b");
  assert_non_null(f);
  fseek(f, 70, SEEK_SET);
  fputc('#', f);
  fclose(f);
  assert_int_equal(tv_events_purge_after(dir, 20, &dropped), TV_ERR_FORMAT);
  assert_non_null(strstr(tv_error_message(), path));

  /* A missing directory is not an error. */
  char missing[4300];
  join(missing, sizeof missing, dir, "nope");
  assert_int_equal(tv_events_purge_after(missing, 0, NULL), TV_OK);
}

/* One TFRecord of payload p[0, n) appended at out (the framing of events.h): its size. */
static size_t frame(unsigned char *out, const unsigned char *p, size_t n) {
  for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)n >> (8 * i));
  uint32_t c = tvt_masked_crc32c(out, 8), d = tvt_masked_crc32c(p, n);
  for (int i = 0; i < 4; i++) out[8 + i] = (unsigned char)(c >> (8 * i));
  memcpy(out + 12, p, n);
  for (int i = 0; i < 4; i++) out[12 + n + i] = (unsigned char)(d >> (8 * i));
  return 16 + n;
}

/* Events another writer may make (fields in another order, unknown fields of every wire type,
 * steps of several varint bytes, no step, a malformed tail after the step): the purge reads each
 * record's step as a protobuf reader does and keeps exactly the records at or before it. */
static void test_purge_foreign_fields(void **state) {
  static const unsigned char version[] = {0x09, 0,    0,   0,   0,   0,   0,   0xf0,
                                          0x3f, 0x1a, 13,  'b', 'r', 'a', 'i', 'n',
                                          '.',  'E',  'v', 'e', 'n', 't', ':', '2'};
  /* summary (5, an empty value) first, wall_time, an unknown fixed32 (9), then step 30 */
  static const unsigned char at30[] = {0x2a, 2,    0x0a, 0,    0x09, 0, 0, 0, 0,    0,
                                       0,    0xf0, 0x3f, 0x4d, 1,    2, 3, 4, 0x10, 30};
  /* an unknown varint (10) of 2^40, then step 300 in two bytes: past the purge step */
  static const unsigned char at300[] = {0x50, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x10, 0xac, 0x02};
  static const unsigned char nostep[] = {0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f}; /* step 0 */
  /* step 200, then a key of wire type 7 (malformed): the step before it counts */
  static const unsigned char at200[] = {0x10, 0xc8, 0x01, 0x0f, 1};
  unsigned char all[512], kept[512];
  size_t n = 0, k = 0;
  n += frame(all + n, version, sizeof version);
  k += frame(kept + k, version, sizeof version);
  n += frame(all + n, at30, sizeof at30);
  k += frame(kept + k, at30, sizeof at30);
  n += frame(all + n, at300, sizeof at300);
  n += frame(all + n, nostep, sizeof nostep);
  k += frame(kept + k, nostep, sizeof nostep);
  n += frame(all + n, at200, sizeof at200);
  char path[4300];
  join(path, sizeof path, *state, "events.out.tfevents.1.foreign");
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(all, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  long dropped = -1;
  assert_int_equal(tv_events_purge_after(*state, 100, &dropped), TV_OK);
  assert_int_equal(dropped, 2);
  char *data = NULL;
  size_t len = 0;
  assert_int_equal(tv_fs_read_all(path, &data, &len), TV_OK);
  assert_int_equal(len, k);
  assert_memory_equal(data, kept, k);
  free(data);
}

/* ---- session start: TensorBoard's restart marker --------------------------------------------- */

static void test_session_start(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  assert_int_equal(tv_events_session_start(w, 101), TV_OK);
  /* flushed by the call: another process sees it at once */
  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 2);
  assert_true(ev[1].has_session_log);
  assert_int_equal(ev[1].session_status, 1); /* SessionLog.START */
  assert_int_equal(ev[1].step, 101);
  assert_false(ev[1].has_summary);
  assert_false(ev[1].has_file_version);
  assert_true(ev[1].wall_time >= ev[0].wall_time);
  free(ev);
  assert_int_equal(tv_events_session_start(w, -1), TV_ERR_INVALID);
  assert_non_null(strstr(tv_error_message(), "negative step"));
  assert_int_equal(tv_events_session_start(NULL, 1), TV_ERR_INVALID);
  assert_int_equal(tv_events_scalar(w, 150, "loss", 0.5f), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  ev = read_events(path, &n);
  assert_int_equal(n, 3);
  assert_false(ev[2].has_session_log);
  assert_int_equal(ev[2].step, 150);
  free(ev);

  /* A session start past the purge step is an orphan like any other record. */
  long dropped = -1;
  assert_int_equal(tv_events_purge_after(dir, 100, &dropped), TV_OK);
  assert_int_equal(dropped, 2);
  ev = read_events(path, &n);
  assert_int_equal(n, 1);
  free(ev);

  const char *checker = getenv("TV_TFEVENTS_CHECK");
  if (!checker) checker = "/work/shared/checkers/tfevents_check.py";
  if (access("/usr/bin/python3", X_OK) != 0 || access(checker, R_OK) != 0) skip();
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  assert_int_equal(tv_events_session_start(w, 101), TV_OK);
  assert_int_equal(tv_events_scalar(w, 101, "loss", 0.25f), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --strict --quiet '%s' >&2", checker, dir);
  assert_int_equal(system(cmd), 0);
}

/* The shared checker passes dir's files with --strict; the test is skipped where the checker is
 * not installed. */
static void checker_strict(const char *dir) {
  const char *checker = getenv("TV_TFEVENTS_CHECK");
  if (!checker) checker = "/work/shared/checkers/tfevents_check.py";
  if (access("/usr/bin/python3", X_OK) != 0 || access(checker, R_OK) != 0) skip();
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' --strict --quiet '%s' >&2", checker, dir);
  assert_int_equal(system(cmd), 0);
}

/* Text summaries decode against tensor.proto / summary.proto: plugin "text", DATA_CLASS_TENSOR,
 * a scalar DT_STRING tensor holding the text byte for byte; bad arguments write nothing. */
static void test_text_summary(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  const char *md = "```yaml\nmodel:\n  num_classes: 10  # caf\xc3\xa9\n```\n";
  char big[3000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(tv_events_text(w, 0, "config", md), TV_OK);
  assert_int_equal(tv_events_text(w, 7, "model", ""), TV_OK);
  assert_int_equal(tv_events_text(w, 8, "big", big), TV_OK);
  assert_int_equal(tv_events_text(w, 9, "bad", "\xff\xfe"), TV_ERR_INVALID);
  assert_non_null(strstr(tv_error_message(), "bad: text is not valid UTF-8"));
  assert_int_equal(tv_events_text(w, 9, "bad", NULL), TV_ERR_INVALID);
  assert_int_equal(tv_events_text(w, -1, "bad", "x"), TV_ERR_INVALID);
  assert_int_equal(tv_events_text(w, 9, "", "x"), TV_ERR_INVALID);
  assert_int_equal(tv_events_close(w), TV_OK);
  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 4); /* file_version + 3 */
  const char *tags[] = {"config", "model", "big"};
  const int64_t steps[] = {0, 7, 8};
  const char *texts[] = {md, "", big};
  for (int i = 0; i < 3; i++) {
    const tvt_value *v = &ev[1 + i].values[0];
    assert_int_equal(ev[1 + i].step, steps[i]);
    assert_int_equal(ev[1 + i].nvalues, 1);
    assert_string_equal(v->tag, tags[i]);
    assert_true(v->has_metadata && v->has_tensor);
    assert_false(v->has_simple_value || v->has_histo);
    assert_string_equal(v->tensor.plugin, "text");
    assert_int_equal(v->tensor.data_class, 2); /* DATA_CLASS_TENSOR */
    assert_int_equal(v->tensor.dtype, 7);      /* DT_STRING */
    assert_int_equal(v->tensor.ndims, 0);      /* a scalar */
    assert_int_equal(v->tensor.nstrings, 1);
    assert_int_equal(v->tensor.string_len, strlen(texts[i]));
    assert_memory_equal(v->tensor.string, texts[i],
                        strlen(texts[i]) < TVT_TEXT_CAP ? strlen(texts[i]) : TVT_TEXT_CAP - 1);
  }
  free(ev);
  checker_strict(dir);
}

/* HParams session start / end decode against summary.proto and plugin_data.proto. */
static void test_hparams_summaries(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  const tv_hparam hp[] = {{"optimizer", "adam", 0}, {"lr", NULL, 0.5}};
  assert_int_equal(tv_events_hparams_start(w, 0, hp, 2, "g", 1000.0), TV_OK);
  assert_int_equal(tv_events_hparams_end(w, 9, TV_HPARAMS_STATUS_SUCCESS, 1001.0), TV_OK);
  const tv_hparam bad[] = {{"", NULL, 1}};
  assert_int_equal(tv_events_hparams_start(w, 0, bad, 1, "", 0), TV_ERR_INVALID);
  assert_int_equal(tv_events_hparams_start(w, 0, hp, -1, "", 0), TV_ERR_INVALID);
  assert_int_equal(tv_events_hparams_start(w, 0, hp, 1, NULL, 0), TV_ERR_INVALID);
  assert_int_equal(tv_events_hparams_end(w, 9, (tv_hparams_status)7, 0), TV_ERR_INVALID);
  assert_non_null(strstr(tv_error_message(), "status 7 out of range"));
  assert_int_equal(tv_events_hparams_end(w, -1, TV_HPARAMS_STATUS_SUCCESS, 0), TV_ERR_INVALID);
  /* flushed by each call */
  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 3);
  const tvt_value *s0 = &ev[1].values[0], *e0 = &ev[2].values[0];
  assert_string_equal(s0->tag, "_hparams_/session_start_info");
  assert_string_equal(e0->tag, "_hparams_/session_end_info");
  assert_int_equal(ev[2].step, 9);
  for (int i = 0; i < 2; i++) {
    const tvt_tensor *t = i ? &e0->tensor : &s0->tensor;
    assert_string_equal(t->plugin, "hparams");
    assert_int_equal(t->dtype, 1); /* DT_FLOAT: TensorBoard's NULL tensor */
    assert_int_equal(t->ndims, 0);
    assert_int_equal(t->nfloats, 1);
    assert_true(t->float0 == 0.0f);
  }
  /* HParamsPluginData{session_start_info(3){hparams(1){key, value{string_value(3)}},
   * hparams(1){key, value{number_value(2)}}, group_name(4) "g", start_time_secs(5)}} */
  static const unsigned char want_start[] = {
      0x1a, 50,   0x0a, 19,   0x0a, 9,    'o', 'p', 't', 'i', 'm',  'i',  'z',
      'e',  'r',  0x12, 6,    0x1a, 4,    'a', 'd', 'a', 'm', 0x0a, 15,   0x0a,
      2,    'l',  'r',  0x12, 9,    0x11, 0,   0,   0,   0,   0,    0,    0xe0,
      0x3f, 0x22, 1,    'g',  0x29, 0,    0,   0,   0,   0,   0x40, 0x8f, 0x40};
  assert_int_equal(s0->tensor.content_len, sizeof want_start);
  assert_memory_equal(s0->tensor.content, want_start, sizeof want_start);
  /* {session_end_info(4){status(1) = 1, end_time_secs(2) = 1001}} */
  static const unsigned char want_end[] = {0x22, 11, 0x08, 1,    0x11, 0,   0,
                                           0,    0,  0,    0x48, 0x8f, 0x40};
  assert_int_equal(e0->tensor.content_len, sizeof want_end);
  assert_memory_equal(e0->tensor.content, want_end, sizeof want_end);
  free(ev);
  assert_int_equal(tv_events_close(w), TV_OK);
}

/* A resumed run's new file: two STARTs, so TensorBoard takes it for a restart even when the
 * run's earlier files hold no START (written before session starts existed). */
static void test_session_start_resumed(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  assert_int_equal(tv_events_scalar(w, 10, "loss", 1.0f), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  assert_int_equal(tv_events_session_start(w, 11), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 3);
  for (int i = 1; i <= 2; i++) {
    assert_true(ev[i].has_session_log);
    assert_int_equal(ev[i].session_status, 1);
    assert_int_equal(ev[i].step, 11);
  }
  free(ev);
}

/* An image summary decodes against summary.proto's Summary.Image: height, width, colorspace 3
 * (RGB) and the PNG tv_image_png makes of the same raster, byte for byte. */
static void test_image_summary(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  tv_image img = {0};
  assert_int_equal(tv_image_new(&img, 40, 12, 0xffffff), TV_OK);
  tv_image_text(&img, 1, 1, "CM 42", 2, 0x08306b);
  unsigned char *png = NULL;
  size_t len = 0;
  assert_int_equal(tv_image_png(&img, &png, &len), TV_OK);
  assert_int_equal(tv_events_image(w, 5, "confusion_matrix", &img), TV_OK);
  tv_image none = {0};
  assert_int_equal(tv_events_image(w, 5, "x", &none), TV_ERR_INVALID);
  assert_non_null(strstr(tv_error_message(), "x: no image"));
  assert_int_equal(tv_events_image(w, 5, "x", NULL), TV_ERR_INVALID);
  assert_int_equal(tv_events_image(w, -1, "x", &img), TV_ERR_INVALID);
  assert_int_equal(tv_events_image(w, 5, "", &img), TV_ERR_INVALID);
  assert_int_equal(tv_events_close(w), TV_OK);
  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 2);
  const tvt_value *v = &ev[1].values[0];
  assert_int_equal(ev[1].step, 5);
  assert_string_equal(v->tag, "confusion_matrix");
  assert_true(v->has_image);
  assert_false(v->has_tensor || v->has_metadata || v->has_simple_value || v->has_histo);
  assert_int_equal(v->image.height, 12);
  assert_int_equal(v->image.width, 40);
  assert_int_equal(v->image.colorspace, 3);
  assert_int_equal(v->image.len, len);
  assert_memory_equal(v->image.head, png, TVT_PNG_HEAD);
  assert_int_equal(v->image.crc, (uint32_t)crc32(0L, png, (uInt)len));
  free(ev);
  free(png);
  tv_image_free(&img);
  checker_strict(dir);
}

/* tv_pr_curve against TensorBoard's definition worked by hand (summary.py): 5 thresholds 0,
 * .25, .5, .75, 1; scores .9 .6 .4 .1 .6 with labels 1 0 1 0 1 (class 1): buckets 3 2 1 0 2, so
 * TP 3 3 2 1 0, FP 2 1 1 0 0, TN 0 1 1 2 2, FN 0 0 1 2 3; precision 3/5 3/4 2/3 1 1 (eps/eps at the
 * top), recall 1 1 2/3 1/3 0. */
static void test_pr_curve_values(void **state) {
  (void)state;
  const float scores[] = {0.9f, 0.6f, 0.4f, 0.1f, 0.6f};
  const int32_t labels[] = {1, 0, 1, 0, 1};
  float d[30];
  assert_int_equal(tv_pr_curve(scores, 1, labels, 1, 5, 5, d), TV_OK);
  const float want[30] = {3,        3,        2,        1, 0, 2, 1, 1,        0,        0,
                          0,        1,        1,        2, 2, 0, 0, 1,        2,        3,
                          3.0f / 5, 3.0f / 4, 2.0f / 3, 1, 1, 1, 1, 2.0f / 3, 1.0f / 3, 0};
  for (int i = 0; i < 30; i++) assert_float_equal(d[i], want[i], 1e-6);
  /* Every second score of a 2-class table (stride 2), NaN counted in bucket 0, 7 clamped to 1. */
  const float table[] = {0.2f, NAN, 0.5f, 7.0f};
  const int32_t two[] = {0, 1};
  assert_int_equal(tv_pr_curve(table + 1, 2, two, 1, 2, 3, d), TV_OK);
  const float want2[18] = {1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0.5f, 1, 1, 1, 1, 1};
  for (int i = 0; i < 18; i++) assert_float_equal(d[i], want2[i], 1e-6);
  assert_int_equal(tv_pr_curve(scores, 1, labels, 1, 5, 1, d), TV_ERR_INVALID);
  assert_int_equal(tv_pr_curve(scores, 1, labels, 1, 5, TV_PR_CURVE_MAX_THRESHOLDS + 1, d),
                   TV_ERR_INVALID);
  assert_int_equal(tv_pr_curve(NULL, 1, labels, 1, 5, 5, d), TV_ERR_INVALID);
  assert_int_equal(tv_pr_curve(scores, 0, labels, 1, 5, 5, d), TV_ERR_INVALID);
  assert_int_equal(tv_pr_curve(NULL, 1, NULL, 1, 0, 5, d), TV_OK); /* no examples */
}

/* A PR curve summary decodes against pr_curve/plugin_data.proto and tensor.proto: plugin
 * "pr_curves", content PrCurvePluginData{version 0, num_thresholds}, a DT_FLOAT [6, T] tensor
 * holding the data in order. */
static void test_pr_curve_summary(void **state) {
  const char *dir = *state;
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  float d[6 * 7];
  for (int i = 0; i < 6 * 7; i++) d[i] = (float)i * 0.5f;
  assert_int_equal(tv_events_pr_curve(w, 3, "pr_curve/2 bag", d, 7), TV_OK);
  assert_int_equal(tv_events_pr_curve(w, 3, "x", d, 1), TV_ERR_INVALID);
  assert_non_null(
      strstr(tv_error_message(), "x: a PR curve needs data and 2..1024 thresholds (1)"));
  assert_int_equal(tv_events_pr_curve(w, 3, "x", NULL, 7), TV_ERR_INVALID);
  assert_int_equal(tv_events_pr_curve(w, -3, "x", d, 7), TV_ERR_INVALID);
  assert_int_equal(tv_events_close(w), TV_OK);
  int n = 0;
  tvt_event *ev = read_events(path, &n);
  assert_int_equal(n, 2);
  const tvt_value *v = &ev[1].values[0];
  assert_int_equal(ev[1].step, 3);
  assert_string_equal(v->tag, "pr_curve/2 bag");
  assert_true(v->has_metadata && v->has_tensor);
  const tvt_tensor *t = &v->tensor;
  assert_string_equal(t->plugin, "pr_curves");
  assert_int_equal(t->data_class, 2);
  assert_int_equal(t->dtype, 1);
  assert_int_equal(t->ndims, 2);
  assert_int_equal(t->dims[0], 6);
  assert_int_equal(t->dims[1], 7);
  assert_int_equal(t->nfloats, 42);
  for (int i = 0; i < 42; i++) assert_true(t->floats[i] == d[i]);
  static const unsigned char want_content[] = {0x08, 0, 0x10, 7}; /* version 0, 7 thresholds */
  assert_int_equal(t->content_len, sizeof want_content);
  assert_memory_equal(t->content, want_content, sizeof want_content);
  free(ev);
  checker_strict(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc32c_vectors),
      cmocka_unit_test_setup_teardown(test_first_record_is_file_version, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_scalars_round_trip, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_histogram_round_trip, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_two_writers_distinct_files, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_reader_detects_damage, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_unwritable_dir, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_invalid_arguments, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_write_error_reported, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_shared_checker_accepts, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_purge_after, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_purge_foreign_fields, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_session_start, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_text_summary, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_hparams_summaries, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_image_summary, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test(test_pr_curve_values),
      cmocka_unit_test_setup_teardown(test_pr_curve_summary, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_session_start_resumed, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
