/* evallog.c — an evaluator's DIR/NAME/metrics.jsonl (see evallog.h for the line's format).
 *
 * Invariant: the file holds whole lines; an append that fails is taken back (ftruncate) where
 * it can be, and scan cuts off what a crash left torn.
 */
#include "trainval/evallog.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/yamlio.h"

/* Ends every line the same way: evaluator, host, "}\n"; hands b's text over as *line (b is
 * freed on failure). */
static int end_line(tv_text *b, const tv_evallog_record *r, char **line) {
  tv_text_printf(b, "\"evaluator\": ");
  tv_text_json_str(b, r->evaluator);
  tv_text_printf(b, ", \"host\": ");
  tv_text_json_str(b, r->host);
  tv_text_printf(b, "}\n");
  int rc = tv_text_check(b, "metrics line");
  if (rc) {
    tv_text_free(b);
    return rc;
  }
  *line = b->p;
  return TV_OK;
}

static const char *const per[] = {"precision", "recall", "f1", "support"};

/* ", per_label {precision, recall, f1, support}" of a multilabel run. */
static void per_label(tv_text *b, const tv_metrics *m, int k) {
  tv_text_printf(b, ", \"per_label\": {");
  for (int j = 0; j < 4; j++) {
    tv_text_printf(b, "%s\"%s\": [", j ? ", " : "", per[j]);
    for (int c = 0; c < k; c++) {
      double p, rc, f;
      uint64_t support;
      tv_metrics_label(m, c, &p, &rc, &f, &support);
      if (c) tv_text_printf(b, ", ");
      if (j == 3)
        tv_text_printf(b, "%llu", (unsigned long long)support);
      else
        tv_text_json_num(b, j == 0 ? p : j == 1 ? rc : f);
    }
    tv_text_printf(b, "]");
  }
  tv_text_printf(b, "}");
}

/* ", per_class {...}, confusion [...]" of a classification run. */
static void per_class(tv_text *b, const tv_metrics *m, int k, const uint64_t *conf) {
  tv_text_printf(b, ", \"per_class\": {");
  for (int j = 0; j < 4; j++) {
    tv_text_printf(b, "%s\"%s\": [", j ? ", " : "", per[j]);
    for (int c = 0; c < k; c++) {
      double p, rc, f;
      tv_metrics_class(m, c, &p, &rc, &f);
      if (c) tv_text_printf(b, ", ");
      if (j == 3) {
        uint64_t support = 0;
        for (int q = 0; q < k; q++) support += conf[(size_t)c * k + q];
        tv_text_printf(b, "%llu", (unsigned long long)support);
      } else {
        tv_text_json_num(b, j == 0 ? p : j == 1 ? rc : f);
      }
    }
    tv_text_printf(b, "]");
  }
  tv_text_printf(b, "}, \"confusion\": [");
  for (int c = 0; c < k; c++) {
    tv_text_printf(b, "%s[", c ? ", " : "");
    for (int q = 0; q < k; q++)
      tv_text_printf(b, "%s%llu", q ? ", " : "", (unsigned long long)conf[(size_t)c * k + q]);
    tv_text_printf(b, "]");
  }
  tv_text_printf(b, "]");
}

int tv_evallog_format(const tv_evallog_record *r, const tv_metrics *m, char **line) {
  *line = NULL;
  tv_metrics_summary s;
  tv_metrics_get(m, &s);
  int k = tv_metrics_num_classes(m);
  const uint64_t *conf = tv_metrics_confusion(m);
  tv_text b = {0};
  tv_text_printf(&b, "{\"step\": %lld, \"checkpoint\": ", (long long)r->step);
  tv_text_json_str(&b, r->checkpoint);
  tv_text_printf(&b, ", \"checksum\": \"crc32c:%08x\", \"split\": ", (unsigned)r->crc32c);
  tv_text_json_str(&b, r->split);
  tv_text_printf(
      &b, ", \"num_examples\": %llu, \"subset_hash\": \"fnv1a64:%016llx\", \"subset_seed\": ",
      (unsigned long long)s.n, (unsigned long long)r->subset_hash);
  if (r->has_subset_seed)
    tv_text_printf(&b, "%llu", (unsigned long long)r->subset_seed);
  else
    tv_text_printf(&b, "null");
  tv_task task = tv_metrics_task(m);
  for (int i = 0; i < TV_METRIC__COUNT; i++) {
    if (!tv_metric_applies((tv_metric_kind)i, task)) continue;
    tv_text_printf(&b, ", \"%s\": ", tv_metric_desc_for((tv_metric_kind)i)->name);
    tv_text_json_num(&b, tv_metric_value(&s, (tv_metric_kind)i));
  }
  if (task == TV_TASK_MULTILABEL) per_label(&b, m, k);
  if (task == TV_TASK_CLASSIFICATION) per_class(&b, m, k, conf);
  tv_text_printf(&b, ", \"checkpoint_wall_time\": %.6f, \"eval_wall_time\": %.6f, ",
                 r->checkpoint_wall_time, r->eval_wall_time);
  tv_text_printf(&b, "\"eval_seconds\": %.6f, \"lag_steps\": %lld, \"lag_seconds\": %.6f, ",
                 r->eval_seconds, (long long)r->lag_steps, r->lag_seconds);
  if (r->sample) {
    tv_text_printf(&b, "\"sample\": ");
    tv_text_json_str(&b, r->sample);
    tv_text_printf(&b, ", ");
  }
  return end_line(&b, r, line);
}

int tv_evallog_format_skipped(const tv_evallog_record *r, const char *why, char **line) {
  *line = NULL;
  tv_text b = {0};
  tv_text_printf(&b, "{\"step\": %lld, \"checkpoint\": ", (long long)r->step);
  tv_text_json_str(&b, r->checkpoint);
  tv_text_printf(&b, ", \"skipped\": ");
  tv_text_json_str(&b, why);
  tv_text_printf(&b, ", \"eval_wall_time\": %.6f, ", r->eval_wall_time);
  return end_line(&b, r, line);
}

int tv_evallog_append(const char *path, const char *line) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return tv_error_errno(TV_ERR_IO, errno, "%s: cannot open for appending", path);
  struct stat st;
  off_t before = fstat(fd, &st) == 0 ? st.st_size : -1;
  size_t left = strlen(line);
  int rc = TV_OK;
  while (left > 0 && rc == TV_OK) {
    ssize_t w = write(fd, line, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      rc = tv_error_errno(TV_ERR_IO, errno, "%s: write", path);
      break;
    }
    line += w;
    left -= (size_t)w;
  }
  if (rc == TV_OK && fsync(fd) != 0) rc = tv_error_errno(TV_ERR_IO, errno, "%s: fsync", path);
  /* Best effort: take a partial line back, so the file stays whole lines. */
  if (rc != TV_OK && before >= 0 && ftruncate(fd, before) != 0) (void)0;
  if (close(fd) != 0 && rc == TV_OK) rc = tv_error_errno(TV_ERR_IO, errno, "%s: close", path);
  return rc;
}

/* The number after "key": on line (a top-level key: the nested per_class keys differ), or NaN. */
static double json_number(const char *line, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\": ", key);
  const char *p = strstr(line, pat);
  if (!p) return NAN;
  char *end;
  double x = strtod(p + strlen(pat), &end);
  return end == p + strlen(pat) ? NAN : x;
}

int tv_evallog_scan(const char *path, const char *key, int truncate_torn, tv_evallog_line **lines,
                    int *n) {
  *lines = NULL;
  *n = 0;
  char *text = NULL;
  size_t len = 0;
  int rc = tv_fs_read_all(path, &text, &len);
  if (rc == TV_ERR_NOT_FOUND) return TV_OK;
  if (rc) return rc;
  int cap = 0;
  size_t pos = 0, good_end = 0;
  int lineno = 0;
  static const char head[] = "{\"step\": ";
  while (pos < len) {
    char *nl = memchr(text + pos, '\n', len - pos);
    if (!nl) break; /* torn: no newline */
    *nl = '\0';
    char *ln = text + pos;
    lineno++;
    size_t next = (size_t)(nl - text) + 1;
    if (ln[0] == '\0') { /* an empty line carries nothing */
      pos = good_end = next;
      continue;
    }
    char *end = NULL;
    long long step = -1;
    if (strncmp(ln, head, sizeof head - 1) == 0) step = strtoll(ln + sizeof head - 1, &end, 10);
    if (!end || end == ln + sizeof head - 1 || step < 0) {
      if (next >= len) break; /* a garbled last line is torn too */
      rc = tv_error(TV_ERR_FORMAT, "%s:%d: not a metrics line (expected {\"step\": N, ...)", path,
                    lineno);
      goto out;
    }
    if (*n == cap) {
      cap = cap ? 2 * cap : 64;
      tv_evallog_line *p = realloc(*lines, (size_t)cap * sizeof *p);
      if (!p) {
        rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
        goto out;
      }
      *lines = p;
    }
    tv_evallog_line *l = &(*lines)[(*n)++];
    memset(l, 0, sizeof *l);
    l->step = step;
    l->value = key ? json_number(ln, key) : NAN;
    l->skipped = strstr(ln, "\"skipped\": ") != NULL;
    const char *c = strstr(ln, "\"checkpoint\": \"");
    if (c) {
      c += strlen("\"checkpoint\": \"");
      size_t k = strcspn(c, "\"");
      if (k < sizeof l->checkpoint) memcpy(l->checkpoint, c, k), l->checkpoint[k] = '\0';
    }
    pos = good_end = next;
  }
  if (good_end < len && truncate_torn && truncate(path, (off_t)good_end) != 0)
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot cut off a torn last line", path);
out:
  free(text);
  if (rc) {
    free(*lines);
    *lines = NULL;
    *n = 0;
  }
  return rc;
}
