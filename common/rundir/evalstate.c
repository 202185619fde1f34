/* evalstate.c — an evaluator's files in DIR/NAME/, DIR/STOP, and eval-aware retention (see
 * evalstate.h for every format and rule).
 *
 * Invariants: a tv_evalstate's entries are strictly ascending by step with NUL-terminated
 * strings, and cursor >= the last entry's step; add keeps it, read checks it, write refuses a
 * state that breaks it before anything reaches the disk.  Structured files are read through
 * yamlio's tv_ydoc and written as tv_text with tv_fs_write_atomic; messages name the file.
 */
#include "trainval/evalstate.h"

#include <dirent.h>
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

enum { PATH_CAP = 4096 };

static const char *const outcome_names[] = {"ok", "failed", "skipped"};

int tv_eval_name_valid(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n >= TV_EVAL_NAME_CAP || name[0] == '.') return 0;
  for (size_t i = 0; i < n; i++)
    if (!tv_text_is_word_char(name[i])) return 0;
  return 1;
}

/* ---- state.yaml ---------------------------------------------------------------------------- */

void tv_evalstate_init(tv_evalstate *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->policy, sizeof s->policy, "all");
  snprintf(s->metric, sizeof s->metric, "accuracy");
  s->mode_max = 1;
  s->cursor = -1;
  s->stop_requested = -1;
}

void tv_evalstate_free(tv_evalstate *s) {
  if (!s) return;
  free(s->entries);
  tv_evalstate_init(s);
}

const tv_evalstate_entry *tv_evalstate_find(const tv_evalstate *s, int64_t step) {
  int lo = 0, hi = s->n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (s->entries[mid].step < step)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->n && s->entries[lo].step == step ? &s->entries[lo] : NULL;
}

int tv_evalstate_improves(const tv_evalstate *s, double value) {
  if (!isfinite(value)) return 0;
  if (!s->has_best) return 1;
  return s->mode_max ? value > s->best_value + s->min_delta : value < s->best_value - s->min_delta;
}

int tv_evalstate_add(tv_evalstate *s, const tv_evalstate_entry *e, const char *file,
                     int *improved) {
  if (improved) *improved = 0;
  if (e->step < 0)
    return tv_error(TV_ERR_INVALID, "evaluator state: step %lld is negative", (long long)e->step);
  int i = s->n;
  while (i > 0 && s->entries[i - 1].step > e->step) i--;
  if (i > 0 && s->entries[i - 1].step == e->step) {
    i--;
  } else {
    if (s->n == s->cap) {
      int cap = s->cap ? 2 * s->cap : 32;
      tv_evalstate_entry *p = realloc(s->entries, (size_t)cap * sizeof *p);
      if (!p) return tv_error(TV_ERR_NOMEM, "evaluator state: out of memory");
      s->entries = p;
      s->cap = cap;
    }
    memmove(&s->entries[i + 1], &s->entries[i], (size_t)(s->n - i) * sizeof *s->entries);
    s->n++;
  }
  s->entries[i] = *e;
  s->entries[i].error[sizeof e->error - 1] = '\0';
  if (e->step > s->cursor) s->cursor = e->step;
  if (e->outcome != TV_EVAL_OUTCOME_OK) return TV_OK;
  if (tv_evalstate_improves(s, e->value)) {
    s->has_best = 1;
    s->best_step = e->step;
    s->best_value = e->value;
    snprintf(s->best_file, sizeof s->best_file, "%s", file ? file : "");
    s->since_best = 0;
    s->stop_requested = -1; /* improving again re-arms early stopping */
    if (improved) *improved = 1;
  } else {
    s->since_best++;
  }
  return TV_OK;
}

static int parse_hash(const char *s, uint64_t *h) {
  static const char prefix[] = "fnv1a64:";
  if (s[0] == '\0') {
    *h = 0;
    return 1;
  }
  if (strncmp(s, prefix, sizeof prefix - 1) != 0 || strlen(s) != sizeof prefix - 1 + 16) return 0;
  for (const char *p = s + sizeof prefix - 1; *p; p++)
    if (!strchr("0123456789abcdefABCDEF", *p)) return 0;
  *h = strtoull(s + sizeof prefix - 1, NULL, 16);
  return 1;
}

static int parse_state_entry(const tv_ydoc *d, const yaml_node_t *item, tv_evalstate_entry *e) {
  if (item->type != YAML_MAPPING_NODE)
    return tv_ydoc_error(d, item, "evaluated: each item must be a mapping (step, outcome, ...)");
  memset(e, 0, sizeof *e);
  const yaml_node_t *v;
  int rc;
  const char *s = "";
  if ((rc = tv_ydoc_field(d, item, "step", 1, &v)) || (rc = tv_ydoc_i64(d, v, "step", 0, &e->step)))
    return rc;
  if ((rc = tv_ydoc_field(d, item, "outcome", 1, &v)) || (rc = tv_ydoc_scalar(d, v, "outcome", &s)))
    return rc;
  int o = -1;
  for (int k = 0; k < 3; k++)
    if (!strcmp(s, outcome_names[k])) o = k;
  if (o < 0) return tv_ydoc_error(d, v, "outcome: expected ok, failed or skipped, got \"%s\"", s);
  e->outcome = (tv_eval_outcome)o;
  e->value = NAN;
  if ((rc = tv_ydoc_opt_f64(d, item, "value", &e->value))) return rc;
  if (e->outcome == TV_EVAL_OUTCOME_OK && !isfinite(e->value))
    return tv_ydoc_error(d, item, "evaluated: step %lld is ok but has no value",
                         (long long)e->step);
  return tv_ydoc_opt_str(d, item, "error", e->error, sizeof e->error, 0);
}

static int parse_state(const tv_ydoc *d, const yaml_node_t *root, tv_evalstate *s) {
  int rc;
  const yaml_node_t *v;
  const char *str = "";
  if ((rc = tv_ydoc_format(d, root, TV_EVALSTATE_FORMAT, TV_EVALSTATE_VERSION))) return rc;
  if ((rc = tv_ydoc_field(d, root, "name", 1, &v)) ||
      (rc = tv_ydoc_str(d, v, "name", s->name, sizeof s->name, 1)))
    return rc;
  if ((rc = tv_ydoc_field(d, root, "cursor", 1, &v)) ||
      (rc = tv_ydoc_i64(d, v, "cursor", -1, &s->cursor)))
    return rc;
  if ((rc = tv_ydoc_opt_str(d, root, "host", s->host, sizeof s->host, 1))) return rc;
  int64_t pid = 0;
  if ((rc = tv_ydoc_opt_i64(d, root, "pid", 0, &pid))) return rc;
  s->pid = (long)pid;
  if ((rc = tv_ydoc_opt_f64(d, root, "updated", &s->updated))) return rc;
  if ((rc = tv_ydoc_opt_str(d, root, "split", s->split, sizeof s->split, 1))) return rc;
  if ((rc = tv_ydoc_opt_i64(d, root, "num_examples", 0, &s->num_examples))) return rc;
  if ((rc = tv_ydoc_field(d, root, "subset_seed", 0, &v))) return rc;
  if (v) {
    if ((rc = tv_ydoc_scalar(d, v, "subset_seed", &str))) return rc;
    if (strcmp(str, "none") != 0) {
      if ((rc = tv_ydoc_u64(d, v, "subset_seed", &s->subset_seed))) return rc;
      s->has_subset_seed = 1;
    }
  }
  if ((rc = tv_ydoc_field(d, root, "subset_hash", 0, &v))) return rc;
  if (v) {
    if ((rc = tv_ydoc_scalar(d, v, "subset_hash", &str))) return rc;
    if (!parse_hash(str, &s->subset_hash))
      return tv_ydoc_error(d, v, "subset_hash: expected fnv1a64: and 16 hex digits, got \"%s\"",
                           str);
  }
  if ((rc = tv_ydoc_opt_str(d, root, "policy", s->policy, sizeof s->policy, 1))) return rc;
  if ((rc = tv_ydoc_opt_str(d, root, "metric", s->metric, sizeof s->metric, 1))) return rc;
  char mode[TV_EVAL_WORD_CAP] = "max";
  if ((rc = tv_ydoc_opt_str(d, root, "mode", mode, sizeof mode, 1))) return rc;
  s->mode_max = strcmp(mode, "min") != 0;
  if ((rc = tv_ydoc_opt_f64(d, root, "min_delta", &s->min_delta))) return rc;
  if ((rc = tv_ydoc_opt_i64(d, root, "patience", 0, &s->patience))) return rc;
  if ((rc = tv_ydoc_opt_i64(d, root, "since_best", 0, &s->since_best))) return rc;
  if ((rc = tv_ydoc_opt_i64(d, root, "stop_requested", -1, &s->stop_requested))) return rc;
  if ((rc = tv_ydoc_field(d, root, "best", 0, &v))) return rc;
  if (v && !(v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)) {
    if (v->type != YAML_MAPPING_NODE)
      return tv_ydoc_error(d, v, "best: expected a mapping (step, ...)");
    const yaml_node_t *x;
    if ((rc = tv_ydoc_field(d, v, "step", 1, &x)) ||
        (rc = tv_ydoc_i64(d, x, "step", 0, &s->best_step)) ||
        (rc = tv_ydoc_field(d, v, "value", 1, &x)) ||
        (rc = tv_ydoc_f64(d, x, "value", &s->best_value)) ||
        (rc = tv_ydoc_opt_str(d, v, "file", s->best_file, sizeof s->best_file, 1)))
      return rc;
    s->has_best = 1;
  }
  const yaml_node_t *seq;
  if ((rc = tv_ydoc_field(d, root, "evaluated", 0, &seq))) return rc;
  if (!seq || (seq->type == YAML_SCALAR_NODE && seq->data.scalar.length == 0)) return TV_OK;
  if (seq->type != YAML_SEQUENCE_NODE)
    return tv_ydoc_error(d, seq, "evaluated: expected a sequence");
  yaml_node_item_t *it = seq->data.sequence.items.start;
  int n = (int)(seq->data.sequence.items.top - it);
  if (n == 0) return TV_OK;
  s->entries = calloc((size_t)n, sizeof *s->entries);
  if (!s->entries) return tv_error(TV_ERR_NOMEM, "%s: out of memory", tv_ydoc_path(d));
  s->cap = n;
  for (int i = 0; i < n; i++) {
    const yaml_node_t *item = tv_ydoc_node(d, it[i]);
    tv_evalstate_entry *e = &s->entries[i];
    if ((rc = parse_state_entry(d, item, e))) return rc;
    if (i > 0 && e->step <= e[-1].step)
      return tv_ydoc_error(d, item, "evaluated: step %lld after step %lld (steps must ascend)",
                           (long long)e->step, (long long)e[-1].step);
    s->n = i + 1;
  }
  if (s->entries[n - 1].step > s->cursor)
    return tv_ydoc_error(d, seq, "evaluated: step %lld is past the cursor %lld",
                         (long long)s->entries[n - 1].step, (long long)s->cursor);
  return TV_OK;
}

int tv_evalstate_read(const char *path, tv_evalstate *s) {
  tv_evalstate_free(s);
  tv_ydoc *d;
  const yaml_node_t *root;
  int rc = tv_ydoc_load(path, &d);
  if (rc) return rc;
  tv_evalstate tmp;
  tv_evalstate_init(&tmp);
  if ((rc = tv_ydoc_root_map(d, &root)) == TV_OK) rc = parse_state(d, root, &tmp);
  tv_ydoc_free(d);
  if (rc) {
    tv_evalstate_free(&tmp);
    return rc;
  }
  *s = tmp;
  return TV_OK;
}

static void self_identity(char *host, size_t cap, long *pid) {
  *pid = (long)getpid();
  if (gethostname(host, cap) != 0 || !tv_text_is_printable(host, cap) || !host[0])
    snprintf(host, cap, "unknown");
}

int tv_evalstate_write(const char *path, tv_evalstate *s) {
  s->updated = tv_now();
  self_identity(s->host, sizeof s->host, &s->pid);
  if (!tv_eval_name_valid(s->name) || !tv_text_is_printable(s->split, sizeof s->split) ||
      !tv_text_is_printable(s->policy, sizeof s->policy) ||
      !tv_text_is_printable(s->metric, sizeof s->metric) ||
      !tv_text_is_printable(s->best_file, sizeof s->best_file) || s->cursor < -1)
    return tv_error(TV_ERR_INVALID, "%s: evaluator state has a bad name, word or cursor", path);
  for (int i = 0; i < s->n; i++)
    if (s->entries[i].step < 0 || (i > 0 && s->entries[i].step <= s->entries[i - 1].step) ||
        s->entries[i].step > s->cursor || !memchr(s->entries[i].error, '\0', TV_EVAL_ERROR_CAP))
      return tv_error(TV_ERR_INVALID, "%s: evaluator state entry %d out of order", path, i);
  tv_text b = {0};
  tv_text_printf(
      &b,
      "# trainval evaluator state: the cursor of eval --watch --name %s.\n"
      "# Written by that evaluator only (atomically); readers ignore keys they do not know.\n"
      "format: %s\nformat_version: %d\nname: ",
      s->name, TV_EVALSTATE_FORMAT, TV_EVALSTATE_VERSION);
  tv_text_yaml_str(&b, s->name, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nhost: ");
  tv_text_yaml_str(&b, s->host, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\npid: %ld\nupdated: %.6f\nsplit: ", s->pid, s->updated);
  tv_text_yaml_str(&b, s->split[0] ? s->split : "test", TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nnum_examples: %lld\nsubset_seed: ", (long long)s->num_examples);
  if (s->has_subset_seed)
    tv_text_printf(&b, "%llu", (unsigned long long)s->subset_seed);
  else
    tv_text_printf(&b, "none");
  if (s->subset_hash)
    tv_text_printf(&b, "\nsubset_hash: fnv1a64:%016llx", (unsigned long long)s->subset_hash);
  else
    tv_text_printf(&b, "\nsubset_hash: \"\"");
  tv_text_printf(&b, "\npolicy: ");
  tv_text_yaml_str(&b, s->policy, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nmetric: ");
  tv_text_yaml_str(&b, s->metric, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nmode: %s\nmin_delta: %.17g\npatience: %lld\ncursor: %lld\n",
                 s->mode_max ? "max" : "min", s->min_delta, (long long)s->patience,
                 (long long)s->cursor);
  if (s->has_best) {
    tv_text_printf(&b, "best: {step: %lld, file: ", (long long)s->best_step);
    tv_text_yaml_str(&b, s->best_file, TV_TEXT_YAML_QUOTE_NONE);
    tv_text_printf(&b, ", value: %.17g}\n", s->best_value);
  }
  tv_text_printf(&b, "since_best: %lld\nstop_requested: %lld\nevaluated:%s\n",
                 (long long)s->since_best, (long long)s->stop_requested, s->n ? "" : " []");
  for (int i = 0; i < s->n; i++) {
    const tv_evalstate_entry *e = &s->entries[i];
    tv_text_printf(&b, "  - {step: %lld, outcome: %s", (long long)e->step,
                   outcome_names[e->outcome]);
    if (e->outcome == TV_EVAL_OUTCOME_OK) tv_text_printf(&b, ", value: %.17g", e->value);
    if (e->error[0]) {
      tv_text_printf(&b, ", error: ");
      tv_text_yaml_str(&b, e->error, TV_TEXT_YAML_QUOTE_NONE);
    }
    tv_text_printf(&b, "}\n");
  }
  int rc = tv_text_check(&b, path);
  if (rc == TV_OK) rc = tv_fs_write_atomic(path, b.p, b.n);
  tv_text_free(&b);
  return rc;
}

/* ---- metrics.jsonl ------------------------------------------------------------------------- */

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
  const char *names[] = {"loss", "accuracy", "top5", "macro_f1"};
  double vals[] = {s.loss, s.accuracy, s.top5, s.macro_f1};
  for (int i = 0; i < 4; i++) {
    tv_text_printf(&b, ", \"%s\": ", names[i]);
    tv_text_json_num(&b, vals[i]);
  }
  static const char *const per[] = {"precision", "recall", "f1", "support"};
  tv_text_printf(&b, ", \"per_class\": {");
  for (int j = 0; j < 4; j++) {
    tv_text_printf(&b, "%s\"%s\": [", j ? ", " : "", per[j]);
    for (int c = 0; c < k; c++) {
      double p, rc, f;
      tv_metrics_class(m, c, &p, &rc, &f);
      if (c) tv_text_printf(&b, ", ");
      if (j == 3) {
        uint64_t support = 0;
        for (int q = 0; q < k; q++) support += conf[(size_t)c * k + q];
        tv_text_printf(&b, "%llu", (unsigned long long)support);
      } else {
        tv_text_json_num(&b, j == 0 ? p : j == 1 ? rc : f);
      }
    }
    tv_text_printf(&b, "]");
  }
  tv_text_printf(&b, "}, \"confusion\": [");
  for (int c = 0; c < k; c++) {
    tv_text_printf(&b, "%s[", c ? ", " : "");
    for (int q = 0; q < k; q++)
      tv_text_printf(&b, "%s%llu", q ? ", " : "", (unsigned long long)conf[(size_t)c * k + q]);
    tv_text_printf(&b, "]");
  }
  tv_text_printf(&b, "], \"checkpoint_wall_time\": %.6f, \"eval_wall_time\": %.6f, ",
                 r->checkpoint_wall_time, r->eval_wall_time);
  tv_text_printf(&b, "\"eval_seconds\": %.6f, \"lag_steps\": %lld, \"lag_seconds\": %.6f, ",
                 r->eval_seconds, (long long)r->lag_steps, r->lag_seconds);
  tv_text_printf(&b, "\"evaluator\": ");
  tv_text_json_str(&b, r->evaluator);
  tv_text_printf(&b, ", \"host\": ");
  tv_text_json_str(&b, r->host);
  tv_text_printf(&b, "}\n");
  int rc = tv_text_check(&b, "metrics line");
  if (rc) {
    tv_text_free(&b);
    return rc;
  }
  *line = b.p;
  return TV_OK;
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

/* ---- pins and best.h5 ---------------------------------------------------------------------- */

static int gone_errno(int e) { return e == ENOENT || e == ESTALE; }

/* Errors for which a hard link will never work here: fall back to a copy. */
static int no_links_errno(int e) {
  return e == EPERM || e == EOPNOTSUPP || e == EXDEV || e == EMLINK || e == ENOSYS || e == EACCES;
}

/* Copies src to dst (created exclusively), reading through one descriptor so a concurrent
 * unlink of src cannot cut the copy short. */
static int copy_file(const char *src, const char *dst) {
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    int e = errno;
    return tv_error_errno(gone_errno(e) ? TV_ERR_NOT_FOUND : TV_ERR_IO, e, "%s", src);
  }
  int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    int e = errno;
    close(in);
    return tv_error_errno(TV_ERR_IO, e, "%s: cannot create", dst);
  }
  char buf[1 << 16];
  int rc = TV_OK;
  for (;;) {
    ssize_t r = read(in, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = tv_error_errno(TV_ERR_IO, errno, "%s: read", src);
      break;
    }
    if (r == 0) break;
    for (ssize_t off = 0; off < r && rc == TV_OK;) {
      ssize_t w = write(out, buf + off, (size_t)(r - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0)
        rc = tv_error_errno(TV_ERR_IO, errno, "%s: write", dst);
      else
        off += w;
    }
    if (rc) break;
  }
  close(in);
  if (close(out) != 0 && rc == TV_OK) rc = tv_error_errno(TV_ERR_IO, errno, "%s: close", dst);
  if (rc) unlink(dst);
  return rc;
}

/* Hard link src as dst (dst must not exist), or a copy where links are refused. */
static int link_or_copy(const char *src, const char *dst) {
  if (link(src, dst) == 0) return TV_OK;
  int e = errno;
  if (gone_errno(e)) return tv_error_errno(TV_ERR_NOT_FOUND, e, "%s", src);
  if (no_links_errno(e)) return copy_file(src, dst);
  return tv_error_errno(TV_ERR_IO, e, "%s: cannot link as %s", src, dst);
}

static int join3(char *out, size_t cap, const char *a, const char *b, const char *c) {
  int n = snprintf(out, cap, "%s/%s/%s", a, b, c);
  if (n < 0 || (size_t)n >= cap)
    return tv_error(TV_ERR_INVALID, "%s/%s/%s: path too long", a, b, c);
  return TV_OK;
}

int tv_pin_create(const char *dir, const char *name, const char *file, char *pin, size_t cap) {
  char src[PATH_CAP], base[TV_MANIFEST_FILE_CAP + 8];
  snprintf(base, sizeof base, "%s%s", TV_PIN_PREFIX, file);
  int rc = tv_fs_join(src, sizeof src, dir, file);
  if (rc == TV_OK) rc = join3(pin, cap, dir, name, base);
  if (rc) return rc;
  if (unlink(pin) != 0 && errno != ENOENT)
    return tv_error_errno(TV_ERR_IO, errno, "%s: cannot remove a stale pin", pin);
  return link_or_copy(src, pin);
}

int tv_pin_clear(const char *dir, const char *name) {
  char sub[PATH_CAP];
  int rc = tv_fs_join(sub, sizeof sub, dir, name);
  if (rc) return rc;
  DIR *d = opendir(sub);
  if (!d) {
    if (errno == ENOENT) return TV_OK;
    return tv_error_errno(TV_ERR_IO, errno, "%s: cannot list", sub);
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, TV_PIN_PREFIX, strlen(TV_PIN_PREFIX)) != 0 &&
        strncmp(e->d_name, ".best.h5.tmp.", 13) != 0)
      continue;
    char p[PATH_CAP];
    if (tv_fs_join(p, sizeof p, sub, e->d_name) == TV_OK) unlink(p);
  }
  closedir(d);
  return TV_OK;
}

int tv_best_update(const char *dir, const char *name, const char *src) {
  char tmp[PATH_CAP], dst[PATH_CAP], base[64];
  snprintf(base, sizeof base, ".best.h5.tmp.%ld", (long)getpid());
  int rc = join3(tmp, sizeof tmp, dir, name, base);
  if (rc == TV_OK) rc = join3(dst, sizeof dst, dir, name, TV_BEST_FILE);
  if (rc) return rc;
  unlink(tmp);
  if ((rc = link_or_copy(src, tmp))) return rc;
  if (rename(tmp, dst) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot rename into place", dst);
    unlink(tmp);
    return rc;
  }
  return tv_fs_fsync_dir(dst);
}

/* ---- DIR/STOP ------------------------------------------------------------------------------ */

int tv_stop_write(const char *dir, tv_stop_request *r) {
  char path[PATH_CAP];
  int rc = tv_fs_join(path, sizeof path, dir, TV_STOP_FILE);
  if (rc) return rc;
  r->time = tv_now();
  self_identity(r->host, sizeof r->host, &r->pid);
  if (!tv_eval_name_valid(r->by) || !tv_text_is_printable(r->metric, sizeof r->metric) ||
      !memchr(r->reason, '\0', sizeof r->reason))
    return tv_error(TV_ERR_INVALID, "%s: stop request has a bad name or metric", path);
  tv_text b = {0};
  tv_text_printf(
      &b,
      "# trainval stop request: train stops at its next step's end, saves a checkpoint,\n"
      "# marks the run early_stopped and renames this file to %s.\n"
      "format: %s\nformat_version: %d\nby: ",
      TV_STOP_HANDLED_FILE, TV_STOP_FORMAT, TV_STOP_VERSION);
  tv_text_yaml_str(&b, r->by, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nhost: ");
  tv_text_yaml_str(&b, r->host, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\npid: %ld\ntime: %.6f\nreason: ", r->pid, r->time);
  tv_text_yaml_str(&b, r->reason, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nmetric: ");
  tv_text_yaml_str(&b, r->metric, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nmode: %s\nbest_step: %lld\nbest_value: %.17g\nstep: %lld\n",
                 r->mode_max ? "max" : "min", (long long)r->best_step, r->best_value,
                 (long long)r->step);
  if ((rc = tv_text_check(&b, path)) == TV_OK) rc = tv_fs_write_atomic(path, b.p, b.n);
  tv_text_free(&b);
  return rc;
}

int tv_stop_read(const char *dir, tv_stop_request *r) {
  memset(r, 0, sizeof *r);
  char path[PATH_CAP];
  int rc = tv_fs_join(path, sizeof path, dir, TV_STOP_FILE);
  if (rc) return rc;
  tv_ydoc *d;
  const yaml_node_t *root, *v;
  if ((rc = tv_ydoc_load(path, &d))) return rc;
  if ((rc = tv_ydoc_root_map(d, &root))) {
    tv_ydoc_free(d);
    return rc;
  }
  int64_t pid = 0;
  char mode[TV_EVAL_WORD_CAP] = "max";
  if ((rc = tv_ydoc_format(d, root, TV_STOP_FORMAT, TV_STOP_VERSION)) ||
      (rc = tv_ydoc_field(d, root, "by", 1, &v)) ||
      (rc = tv_ydoc_str(d, v, "by", r->by, sizeof r->by, 1)) ||
      (rc = tv_ydoc_opt_str(d, root, "host", r->host, sizeof r->host, 1)) ||
      (rc = tv_ydoc_opt_i64(d, root, "pid", 0, &pid)) ||
      (rc = tv_ydoc_opt_f64(d, root, "time", &r->time)) ||
      (rc = tv_ydoc_opt_str(d, root, "reason", r->reason, sizeof r->reason, 0)) ||
      (rc = tv_ydoc_opt_str(d, root, "metric", r->metric, sizeof r->metric, 1)) ||
      (rc = tv_ydoc_opt_str(d, root, "mode", mode, sizeof mode, 1)) ||
      (rc = tv_ydoc_opt_i64(d, root, "best_step", -1, &r->best_step)) ||
      (rc = tv_ydoc_opt_f64(d, root, "best_value", &r->best_value)) ||
      (rc = tv_ydoc_opt_i64(d, root, "step", -1, &r->step)))
    memset(r, 0, sizeof *r);
  r->pid = (long)pid;
  r->mode_max = strcmp(mode, "min") != 0;
  tv_ydoc_free(d);
  return rc;
}

int tv_stop_requested(const char *dir) {
  char path[PATH_CAP];
  struct stat st;
  return tv_fs_join(path, sizeof path, dir, TV_STOP_FILE) == TV_OK && stat(path, &st) == 0;
}

int tv_stop_consume(const char *dir) {
  char from[PATH_CAP], to[PATH_CAP];
  int rc = tv_fs_join(from, sizeof from, dir, TV_STOP_FILE);
  if (rc == TV_OK) rc = tv_fs_join(to, sizeof to, dir, TV_STOP_HANDLED_FILE);
  if (rc) return rc;
  if (rename(from, to) != 0) {
    if (errno == ENOENT) return TV_OK;
    return tv_error_errno(TV_ERR_IO, errno, "%s: cannot rename to %s", from, TV_STOP_HANDLED_FILE);
  }
  return tv_fs_fsync_dir(to);
}

/* ---- eval-aware retention ------------------------------------------------------------------ */

void tv_retention_free(tv_retention *r) {
  if (!r) return;
  free(r->keep);
  r->keep = NULL;
  r->n = 0;
}

int tv_retention_keep(void *ctx, const tv_manifest_entry *e) {
  const tv_retention *r = ctx;
  for (int i = 0; i < r->n; i++)
    if (r->keep[i] == e->step) return 1;
  return 0;
}

/* What one evaluator folder says about the candidates. */
typedef struct evaluator_view {
  int all;        /* policy all: reaches every checkpoint in order */
  int64_t cursor; /* -1: none */
  char best_file[TV_MANIFEST_FILE_CAP];
} evaluator_view;

enum { PRIO_PIN = 1, PRIO_BEST = 2, PRIO_UNREACHED = 3 };

typedef struct candidate {
  int64_t step;
  const char *file;
  int prio; /* 0: nobody needs it */
} candidate;

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int tv_retention_plan(const char *dir, const tv_manifest *m, int64_t new_step, int max_to_keep,
                      int max_unevaluated, tv_retention *r) {
  r->keep = NULL;
  r->n = 0;
  int total = m->n + (tv_manifest_find(m, new_step) ? 0 : 1);
  int n_cand = total - max_to_keep;
  if (max_to_keep <= 0 || max_unevaluated <= 0 || n_cand <= 0) return TV_OK;
  /* Dropping candidates: the oldest total - max_to_keep of m plus the new step, but never the
   * new step itself (tv_ckpt_commit keeps it whatever happens). */
  candidate *cand = calloc((size_t)n_cand, sizeof *cand);
  if (!cand) return tv_error(TV_ERR_NOMEM, "%s: out of memory planning retention", dir);
  int nc = 0, slot = 0, placed = total == m->n; /* placed: the new step has its slot */
  for (int i = 0; i < m->n && slot < n_cand; i++) {
    if (!placed && new_step < m->entries[i].step) {
      placed = 1;
      if (++slot >= n_cand) break;
    }
    if (m->entries[i].step != new_step)
      cand[nc++] = (candidate){m->entries[i].step, m->entries[i].file, 0};
    slot++;
  }
  int rc = TV_OK;
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char sub[PATH_CAP], state_path[PATH_CAP];
    struct stat st;
    if (tv_fs_join(sub, sizeof sub, dir, de->d_name) || stat(sub, &st) != 0 ||
        !S_ISDIR(st.st_mode) || tv_fs_join(state_path, sizeof state_path, sub, TV_EVALSTATE_FILE))
      continue;
    tv_evalstate s;
    tv_evalstate_init(&s);
    int src = tv_evalstate_read(state_path, &s);
    if (src == TV_ERR_NOMEM) {
      rc = src;
      break;
    }
    if (src != TV_OK) continue; /* not an evaluator, or not one we can read: no say */
    evaluator_view v = {.all = strcmp(s.policy, "latest") != 0, .cursor = s.cursor};
    if (s.has_best) snprintf(v.best_file, sizeof v.best_file, "%s", s.best_file);
    tv_evalstate_free(&s);
    for (int i = 0; i < nc; i++) {
      candidate *c = &cand[i];
      char pin[PATH_CAP];
      int pinned =
          snprintf(pin, sizeof pin, "%s/%s%s", sub, TV_PIN_PREFIX, c->file) < (int)sizeof pin &&
          access(pin, F_OK) == 0;
      int prio = pinned                          ? PRIO_PIN
                 : !strcmp(v.best_file, c->file) ? PRIO_BEST
                 : (v.all && c->step > v.cursor) ? PRIO_UNREACHED
                                                 : 0;
      if (prio && (!c->prio || prio < c->prio)) c->prio = prio;
    }
  }
  if (d) closedir(d);
  if (rc == TV_OK) {
    r->keep = malloc((size_t)(nc ? nc : 1) * sizeof *r->keep);
    if (!r->keep) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory planning retention", dir);
  }
  /* By priority, and within one the oldest first: the next an evaluator will read. */
  for (int prio = PRIO_PIN; rc == TV_OK && prio <= PRIO_UNREACHED; prio++)
    for (int i = 0; i < nc && r->n < max_unevaluated; i++)
      if (cand[i].prio == prio) r->keep[r->n++] = cand[i].step;
  if (rc == TV_OK) qsort(r->keep, (size_t)r->n, sizeof *r->keep, cmp_i64);
  free(cand);
  if (rc) tv_retention_free(r);
  return rc;
}
