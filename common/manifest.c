/* manifest.c — checkpoints.yaml (see manifest.h): read through libyaml's document API, written
 * as text and committed with tv_fs_write_atomic.
 * Invariant: a tv_manifest's entries are strictly ascending by step with valid, NUL-terminated
 * strings; read and append keep it, write checks it before anything reaches the disk. */
#include "trainval/manifest.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "trainval/fs.h"

enum { PATH_CAP = 4096, MSG_CAP = 512 };

void tv_manifest_init(tv_manifest *m) {
  memset(m, 0, sizeof *m);
  snprintf(m->status, sizeof m->status, "running");
}

void tv_manifest_free(tv_manifest *m) {
  if (!m) return;
  free(m->entries);
  tv_manifest_init(m);
}

const tv_manifest_entry *tv_manifest_latest(const tv_manifest *m) {
  return m->n > 0 ? &m->entries[m->n - 1] : NULL;
}

const tv_manifest_entry *tv_manifest_find(const tv_manifest *m, int64_t step) {
  for (int i = 0; i < m->n; i++)
    if (m->entries[i].step == step) return &m->entries[i];
  return NULL;
}

int tv_manifest_status_terminal(const char *status) {
  static const char *const terminal[] = {"final", "early_stopped", "aborted", "diverged"};
  for (size_t i = 0; i < sizeof terminal / sizeof terminal[0]; i++)
    if (strcmp(status, terminal[i]) == 0) return 1;
  return 0;
}

int tv_manifest_append(tv_manifest *m, const tv_manifest_entry *e) {
  if (e->step < 0)
    return tv_error(TV_ERR_INVALID, "manifest: step %lld is negative", (long long)e->step);
  int i = m->n;
  while (i > 0 && m->entries[i - 1].step > e->step) i--;
  if (i > 0 && m->entries[i - 1].step == e->step) {
    i--;
  } else {
    if (m->n == m->cap) {
      int cap = m->cap ? 2 * m->cap : 16;
      tv_manifest_entry *p = realloc(m->entries, (size_t)cap * sizeof *p);
      if (!p) return tv_error(TV_ERR_NOMEM, "manifest: out of memory");
      m->entries = p;
      m->cap = cap;
    }
    memmove(&m->entries[i + 1], &m->entries[i], (size_t)(m->n - i) * sizeof *m->entries);
    m->n++;
  }
  m->entries[i] = *e;
  m->entries[i].file[sizeof e->file - 1] = '\0';
  m->entries[i].reason[sizeof e->reason - 1] = '\0';
  return TV_OK;
}

/* ---- validation shared by read and write ---- */

/* 1 if s is a NUL-terminated string within cap bytes of printable ASCII. */
static int printable(const char *s, size_t cap) {
  if (!memchr(s, '\0', cap)) return 0;
  for (; *s; s++)
    if (*s < 0x20 || *s > 0x7e) return 0;
  return 1;
}

/* 1 if s can name a file inside train_dir: a base name, so a manifest cannot point outside. */
static int valid_file(const char *s, size_t cap) {
  return printable(s, cap) && s[0] != '\0' && !strchr(s, '/') && strcmp(s, ".") != 0 &&
         strcmp(s, "..") != 0;
}

/* ---- reading ---- */

typedef struct reader {
  const char *path;
  yaml_document_t *doc;
} reader;

/* Records "path:LINE:COL: message" at node (1-based, as editors count) and returns
 * TV_ERR_FORMAT. */
TV_PRINTF(3, 4) static int bad(const reader *r, const yaml_node_t *node, const char *fmt, ...) {
  char msg[MSG_CAP];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t line = node ? node->start_mark.line + 1 : 1, col = node ? node->start_mark.column + 1 : 1;
  return tv_error(TV_ERR_FORMAT, "%s:%zu:%zu: %s", r->path, line, col, msg);
}

static yaml_node_t *node_at(const reader *r, int index) {
  return yaml_document_get_node(r->doc, index);
}

static int get_scalar(const reader *r, const yaml_node_t *v, const char *key, const char **s) {
  if (v->type != YAML_SCALAR_NODE) return bad(r, v, "%s: expected a single value", key);
  *s = (const char *)v->data.scalar.value;
  return TV_OK;
}

static int get_i64(const reader *r, const yaml_node_t *v, const char *key, int64_t min,
                   int64_t *out) {
  const char *s = "";
  int rc = get_scalar(r, v, key, &s);
  if (rc) return rc;
  char *end;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (s[0] == '\0' || s[0] == ' ' || *end != '\0' || errno == ERANGE)
    return bad(r, v, "%s: expected an integer, got \"%s\"", key, s);
  if (x < min) return bad(r, v, "%s: %lld is below %lld", key, x, (long long)min);
  *out = (int64_t)x;
  return TV_OK;
}

static int get_f64(const reader *r, const yaml_node_t *v, const char *key, double *out) {
  const char *s = "";
  int rc = get_scalar(r, v, key, &s);
  if (rc) return rc;
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (s[0] == '\0' || s[0] == ' ' || *end != '\0' || errno == ERANGE || !isfinite(x))
    return bad(r, v, "%s: expected a finite number, got \"%s\"", key, s);
  *out = x;
  return TV_OK;
}

static int get_bool(const reader *r, const yaml_node_t *v, const char *key, int *out) {
  static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
  const char *s = "";
  int rc = get_scalar(r, v, key, &s);
  if (rc) return rc;
  for (int i = 0; i < 3; i++) {
    if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
      *out = strcasecmp(s, yes[i]) == 0;
      return TV_OK;
    }
  }
  return bad(r, v, "%s: expected true or false, got \"%s\"", key, s);
}

static int get_str(const reader *r, const yaml_node_t *v, const char *key, char *buf, size_t cap) {
  const char *s = "";
  int rc = get_scalar(r, v, key, &s);
  if (rc) return rc;
  if (strlen(s) >= cap) return bad(r, v, "%s: longer than %zu bytes", key, cap - 1);
  snprintf(buf, cap, "%s", s);
  if (!printable(buf, cap)) return bad(r, v, "%s: holds a non-printable character", key);
  return TV_OK;
}

/* The value node of key in mapping map, or NULL.  A key given twice is an error (*rc). */
static yaml_node_t *lookup(const reader *r, const yaml_node_t *map, const char *key, int *rc) {
  yaml_node_t *found = NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = node_at(r, p->key);
    if (!k || k->type != YAML_SCALAR_NODE || strcmp((const char *)k->data.scalar.value, key) != 0)
      continue;
    if (found) {
      *rc = bad(r, k, "%s: given twice", key);
      return NULL;
    }
    found = node_at(r, p->value);
  }
  return found;
}

/* Fetches a required key (*v non-NULL on TV_OK) or an optional one (*v may be NULL). */
static int field(const reader *r, const yaml_node_t *map, const char *key, int required,
                 yaml_node_t **v) {
  int rc = TV_OK;
  *v = lookup(r, map, key, &rc);
  if (rc) return rc;
  if (!*v && required) return bad(r, map, "missing key \"%s\"", key);
  return TV_OK;
}

static int parse_checksum(const reader *r, const yaml_node_t *v, uint32_t *crc) {
  const char *s = "";
  int rc = get_scalar(r, v, "checksum", &s);
  if (rc) return rc;
  static const char prefix[] = "crc32c:";
  int ok = strncmp(s, prefix, sizeof prefix - 1) == 0 && strlen(s) == sizeof prefix - 1 + 8;
  for (size_t i = sizeof prefix - 1; ok && s[i]; i++)
    ok = strchr("0123456789abcdefABCDEF", s[i]) != NULL;
  if (!ok) return bad(r, v, "checksum: expected crc32c: and 8 hex digits, got \"%s\"", s);
  *crc = (uint32_t)strtoul(s + sizeof prefix - 1, NULL, 16);
  return TV_OK;
}

static int parse_entry(const reader *r, const yaml_node_t *item, tv_manifest_entry *e) {
  if (item->type != YAML_MAPPING_NODE)
    return bad(r, item, "checkpoints: each item must be a mapping (step, file, ...)");
  memset(e, 0, sizeof *e);
  yaml_node_t *v;
  int rc;
  if ((rc = field(r, item, "step", 1, &v)) || (rc = get_i64(r, v, "step", 0, &e->step))) return rc;
  if ((rc = field(r, item, "file", 1, &v)) || (rc = get_str(r, v, "file", e->file, sizeof e->file)))
    return rc;
  if (!valid_file(e->file, sizeof e->file))
    return bad(r, v, "file: \"%s\" is not a file name inside the directory", e->file);
  if ((rc = field(r, item, "size", 1, &v)) || (rc = get_i64(r, v, "size", 0, &e->size))) return rc;
  if ((rc = field(r, item, "checksum", 1, &v)) || (rc = parse_checksum(r, v, &e->crc32c)))
    return rc;
  if ((rc = field(r, item, "finite", 1, &v)) || (rc = get_bool(r, v, "finite", &e->finite)))
    return rc;
  if ((rc = field(r, item, "wall_time", 0, &v))) return rc;
  if (v && (rc = get_f64(r, v, "wall_time", &e->wall_time))) return rc;
  if ((rc = field(r, item, "reason", 0, &v))) return rc;
  if (v && (rc = get_str(r, v, "reason", e->reason, sizeof e->reason))) return rc;
  return TV_OK;
}

static int parse(const reader *r, const yaml_node_t *root, tv_manifest *m) {
  if (root->type != YAML_MAPPING_NODE) return bad(r, root, "expected a mapping (format: ...)");
  yaml_node_t *v;
  const char *s = "";
  int rc;
  /* Format and version first: a newer file is refused before its content is judged. */
  if ((rc = field(r, root, "format", 1, &v)) || (rc = get_scalar(r, v, "format", &s))) return rc;
  if (strcmp(s, TV_MANIFEST_FORMAT) != 0)
    return bad(r, v, "format: \"%s\" is not %s", s, TV_MANIFEST_FORMAT);
  int64_t version;
  if ((rc = field(r, root, "format_version", 1, &v)) ||
      (rc = get_i64(r, v, "format_version", 1, &version)))
    return rc;
  if (version > TV_MANIFEST_VERSION)
    return bad(r, v, "format_version %lld is newer than this trainval reads (%d); upgrade trainval",
               (long long)version, TV_MANIFEST_VERSION);
  if ((rc = field(r, root, "status", 1, &v)) ||
      (rc = get_str(r, v, "status", m->status, sizeof m->status)))
    return rc;
  if (m->status[0] == '\0') return bad(r, v, "status: empty");
  if ((rc = field(r, root, "heartbeat", 1, &v)) || (rc = get_f64(r, v, "heartbeat", &m->heartbeat)))
    return rc;
  if ((rc = field(r, root, "host", 1, &v)) || (rc = get_str(r, v, "host", m->host, sizeof m->host)))
    return rc;
  int64_t pid;
  if ((rc = field(r, root, "pid", 1, &v)) || (rc = get_i64(r, v, "pid", 0, &pid))) return rc;
  m->pid = (long)pid;
  yaml_node_t *seq;
  if ((rc = field(r, root, "checkpoints", 1, &seq))) return rc;
  if (seq->type == YAML_SCALAR_NODE && seq->data.scalar.length == 0 &&
      seq->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
    return TV_OK; /* "checkpoints:" with nothing after it: none yet */
  if (seq->type != YAML_SEQUENCE_NODE) return bad(r, seq, "checkpoints: expected a sequence");
  yaml_node_item_t *it = seq->data.sequence.items.start;
  int n = (int)(seq->data.sequence.items.top - it);
  if (n == 0) return TV_OK;
  m->entries = calloc((size_t)n, sizeof *m->entries);
  if (!m->entries) return tv_error(TV_ERR_NOMEM, "%s: out of memory", r->path);
  m->cap = n;
  for (int i = 0; i < n; i++) {
    yaml_node_t *item = node_at(r, it[i]);
    tv_manifest_entry *e = &m->entries[i];
    if ((rc = parse_entry(r, item, e))) return rc;
    if (i > 0 && e->step <= e[-1].step)
      return bad(r, item, "checkpoints: step %lld after step %lld (steps must ascend)",
                 (long long)e->step, (long long)e[-1].step);
    m->n = i + 1;
  }
  return TV_OK;
}

int tv_manifest_read(const char *dir, tv_manifest *m) {
  tv_manifest_free(m);
  char path[PATH_CAP];
  int rc = tv_fs_join(path, sizeof path, dir, TV_MANIFEST_FILE);
  if (rc) return rc;
  char *text = NULL;
  size_t len = 0;
  yaml_parser_t parser;
  yaml_document_t doc;
  int have_parser = 0, have_doc = 0;
  tv_manifest tmp;
  tv_manifest_init(&tmp);
  if ((rc = tv_fs_read_all(path, &text, &len))) goto out;
  if (!yaml_parser_initialize(&parser)) {
    rc = tv_error(TV_ERR_NOMEM, "%s: cannot start the YAML parser", path);
    goto out;
  }
  have_parser = 1;
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    if (parser.error == YAML_MEMORY_ERROR)
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
    else
      rc = tv_error(TV_ERR_FORMAT, "%s:%zu:%zu: %s%s%s", path, parser.problem_mark.line + 1,
                    parser.problem_mark.column + 1, parser.problem ? parser.problem : "bad YAML",
                    parser.context ? " " : "", parser.context ? parser.context : "");
    goto out;
  }
  have_doc = 1;
  reader r = {path, &doc};
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root) {
    rc = tv_error(TV_ERR_FORMAT, "%s:1:1: empty file, expected a manifest", path);
    goto out;
  }
  if ((rc = parse(&r, root, &tmp))) goto out;
  *m = tmp;
  tv_manifest_init(&tmp);
out:
  tv_manifest_free(&tmp);
  if (have_doc) yaml_document_delete(&doc);
  if (have_parser) yaml_parser_delete(&parser);
  free(text);
  return rc;
}

/* ---- writing ---- */

typedef struct sbuf {
  char *p;
  size_t n, cap;
  int oom;
} sbuf;

TV_PRINTF(2, 3) static void sb_printf(sbuf *b, const char *fmt, ...) {
  for (;;) {
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
      b->oom = 1;
      return;
    }
    if (b->p && (size_t)k < b->cap - b->n) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = b->cap ? b->cap : 1024;
    while (cap - b->n <= (size_t)k) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

/* Writes s as a YAML scalar that reads back as the same string: plain where that is safe,
 * double-quoted otherwise (s is printable ASCII, checked by the caller). */
static void sb_str(sbuf *b, const char *s) {
  static const char *const reserved[] = {"true", "false", "yes", "no", "on",
                                         "off",  "null",  "y",   "n"};
  int plain = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z');
  for (const char *p = s; plain && *p; p++)
    plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p) != NULL;
  for (size_t i = 0; plain && i < sizeof reserved / sizeof reserved[0]; i++)
    plain = strcasecmp(s, reserved[i]) != 0;
  if (plain) {
    sb_printf(b, "%s", s);
    return;
  }
  sb_printf(b, "\"");
  for (const char *p = s; *p; p++) sb_printf(b, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
  sb_printf(b, "\"");
}

static int check(const char *dir, const tv_manifest *m) {
  if (!printable(m->status, sizeof m->status) || m->status[0] == '\0')
    return tv_error(TV_ERR_INVALID, "%s: manifest status is empty or not printable", dir);
  if (!printable(m->host, sizeof m->host))
    return tv_error(TV_ERR_INVALID, "%s: manifest host is not printable", dir);
  for (int i = 0; i < m->n; i++) {
    const tv_manifest_entry *e = &m->entries[i];
    if (e->step < 0 || (i > 0 && e->step <= e[-1].step))
      return tv_error(TV_ERR_INVALID, "%s: manifest entry %d: step %lld out of order", dir, i,
                      (long long)e->step);
    if (!valid_file(e->file, sizeof e->file))
      return tv_error(TV_ERR_INVALID, "%s: manifest step %lld: bad file name", dir,
                      (long long)e->step);
    if (!printable(e->reason, sizeof e->reason) || e->size < 0 || !isfinite(e->wall_time))
      return tv_error(TV_ERR_INVALID, "%s: manifest step %lld: bad reason, size or wall_time", dir,
                      (long long)e->step);
  }
  return TV_OK;
}

int tv_manifest_write(const char *dir, tv_manifest *m) {
  m->heartbeat = tv_now();
  m->pid = (long)getpid();
  if (gethostname(m->host, sizeof m->host) != 0 || !printable(m->host, sizeof m->host) ||
      m->host[0] == '\0')
    snprintf(m->host, sizeof m->host, "unknown");
  char path[PATH_CAP];
  int rc = tv_fs_join(path, sizeof path, dir, TV_MANIFEST_FILE);
  if (rc || (rc = check(dir, m))) return rc;
  sbuf b = {0};
  sb_printf(&b,
            "# trainval checkpoint manifest: the checkpoints listed here are committed.\n"
            "# Written by train only (atomically); readers ignore keys they do not know.\n"
            "format: %s\nformat_version: %d\nstatus: ",
            TV_MANIFEST_FORMAT, TV_MANIFEST_VERSION);
  sb_str(&b, m->status);
  sb_printf(&b, "\nheartbeat: %.6f\nhost: ", m->heartbeat);
  sb_str(&b, m->host);
  sb_printf(&b, "\npid: %ld\ncheckpoints:%s\n", m->pid, m->n ? "" : " []");
  for (int i = 0; i < m->n; i++) {
    const tv_manifest_entry *e = &m->entries[i];
    sb_printf(&b, "  - step: %lld\n    file: ", (long long)e->step);
    sb_str(&b, e->file);
    sb_printf(&b,
              "\n    size: %lld\n    checksum: crc32c:%08x\n    wall_time: %.6f\n"
              "    finite: %s\n    reason: ",
              (long long)e->size, (unsigned)e->crc32c, e->wall_time, e->finite ? "true" : "false");
    sb_str(&b, e->reason);
    sb_printf(&b, "\n");
  }
  if (b.oom)
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
  else
    rc = tv_fs_write_atomic(path, b.p, b.n);
  free(b.p);
  return rc;
}
