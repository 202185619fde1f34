/* manifest.c — checkpoints.yaml (see manifest.h): read through yamlio's tv_ydoc, written as
 * tv_text and committed with tv_fs_write_atomic.
 * Invariant: a tv_manifest's entries are strictly ascending by step with valid, NUL-terminated
 * strings; read and append keep it, write checks it before anything reaches the disk. */
#include "trainval/manifest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "base/yamlio.h"
#include "rundir/identity.h"

enum { PATH_CAP = 4096 };

void tv_manifest_init(tv_manifest *m) {
  memset(m, 0, sizeof *m);
  snprintf(m->status, sizeof m->status, "running");
}

void tv_manifest_free(tv_manifest *m) {
  if (!m) return;
  free(m->entries);
  free(m->retired);
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
  for (int k = 0; k < m->n_retired; k++)
    if (m->retired[k] == e->step) {
      memmove(&m->retired[k], &m->retired[k + 1],
              (size_t)(m->n_retired - k - 1) * sizeof *m->retired);
      m->n_retired--;
      break;
    }
  return TV_OK;
}

int tv_manifest_retire(tv_manifest *m, int64_t step) {
  if (step < 0) return tv_error(TV_ERR_INVALID, "manifest: step %lld is negative", (long long)step);
  int i = m->n_retired;
  while (i > 0 && m->retired[i - 1] > step) i--;
  if (i > 0 && m->retired[i - 1] == step) return TV_OK;
  if (m->n_retired == TV_MANIFEST_RETIRED_MAX) { /* the oldest is forgotten */
    if (i == 0) return TV_OK;
    memmove(&m->retired[0], &m->retired[1], (size_t)(i - 1) * sizeof *m->retired);
    m->retired[i - 1] = step;
    return TV_OK;
  }
  int64_t *p = realloc(m->retired, (size_t)(m->n_retired + 1) * sizeof *p);
  if (!p) return tv_error(TV_ERR_NOMEM, "manifest: out of memory");
  m->retired = p;
  memmove(&p[i + 1], &p[i], (size_t)(m->n_retired - i) * sizeof *p);
  p[i] = step;
  m->n_retired++;
  return TV_OK;
}

/* ---- validation shared by read and write ---- */

/* 1 if s can name a file inside train_dir: a base name, so a manifest cannot point outside. */
static int valid_file(const char *s, size_t cap) {
  return tv_text_is_printable(s, cap) && s[0] != '\0' && !strchr(s, '/') && strcmp(s, ".") != 0 &&
         strcmp(s, "..") != 0;
}

/* ---- reading ---- */

static int parse_checksum(const tv_ydoc *d, const yaml_node_t *v, uint32_t *crc) {
  const char *s = "";
  int rc = tv_ydoc_scalar(d, v, "checksum", &s);
  if (rc) return rc;
  static const char prefix[] = "crc32c:";
  int ok = strncmp(s, prefix, sizeof prefix - 1) == 0 && strlen(s) == sizeof prefix - 1 + 8;
  for (size_t i = sizeof prefix - 1; ok && s[i]; i++)
    ok = strchr("0123456789abcdefABCDEF", s[i]) != NULL;
  if (!ok) return tv_ydoc_error(d, v, "checksum: expected crc32c: and 8 hex digits, got \"%s\"", s);
  *crc = (uint32_t)strtoul(s + sizeof prefix - 1, NULL, 16);
  return TV_OK;
}

static int parse_entry(const tv_ydoc *d, const yaml_node_t *item, tv_manifest_entry *e) {
  if (item->type != YAML_MAPPING_NODE)
    return tv_ydoc_error(d, item, "checkpoints: each item must be a mapping (step, file, ...)");
  memset(e, 0, sizeof *e);
  const yaml_node_t *v;
  int rc;
  if ((rc = tv_ydoc_field(d, item, "step", 1, &v)) || (rc = tv_ydoc_i64(d, v, "step", 0, &e->step)))
    return rc;
  if ((rc = tv_ydoc_field(d, item, "file", 1, &v)) ||
      (rc = tv_ydoc_str(d, v, "file", e->file, sizeof e->file, 1)))
    return rc;
  if (!valid_file(e->file, sizeof e->file))
    return tv_ydoc_error(d, v, "file: \"%s\" is not a file name inside the directory", e->file);
  if ((rc = tv_ydoc_field(d, item, "size", 1, &v)) || (rc = tv_ydoc_i64(d, v, "size", 0, &e->size)))
    return rc;
  if ((rc = tv_ydoc_field(d, item, "checksum", 1, &v)) || (rc = parse_checksum(d, v, &e->crc32c)))
    return rc;
  if ((rc = tv_ydoc_field(d, item, "finite", 1, &v)) ||
      (rc = tv_ydoc_bool(d, v, "finite", &e->finite)))
    return rc;
  if ((rc = tv_ydoc_opt_f64(d, item, "wall_time", &e->wall_time))) return rc;
  return tv_ydoc_opt_str(d, item, "reason", e->reason, sizeof e->reason, 1);
}

static int parse_checkpoints(const tv_ydoc *d, const yaml_node_t *seq, tv_manifest *m);

/* retired: an optional flow or block sequence of ascending steps. */
static int parse_retired(const tv_ydoc *d, const yaml_node_t *root, tv_manifest *m) {
  const yaml_node_t *seq;
  int rc = tv_ydoc_field(d, root, "retired", 0, &seq);
  if (rc || !seq) return rc;
  if (seq->type != YAML_SEQUENCE_NODE) return tv_ydoc_error(d, seq, "retired: expected a sequence");
  yaml_node_item_t *it = seq->data.sequence.items.start;
  int n = (int)(seq->data.sequence.items.top - it);
  if (n > TV_MANIFEST_RETIRED_MAX)
    return tv_ydoc_error(d, seq, "retired: %d steps, at most %d", n, TV_MANIFEST_RETIRED_MAX);
  if (n == 0) return TV_OK;
  m->retired = malloc((size_t)n * sizeof *m->retired);
  if (!m->retired) return tv_error(TV_ERR_NOMEM, "%s: out of memory", tv_ydoc_path(d));
  for (int i = 0; i < n; i++) {
    const yaml_node_t *item = tv_ydoc_node(d, it[i]);
    if ((rc = tv_ydoc_i64(d, item, "retired", 0, &m->retired[i]))) return rc;
    if (i > 0 && m->retired[i] <= m->retired[i - 1])
      return tv_ydoc_error(d, item, "retired: step %lld after step %lld (steps must ascend)",
                           (long long)m->retired[i], (long long)m->retired[i - 1]);
    m->n_retired = i + 1;
  }
  for (int i = 0; i < n; i++)
    if (tv_manifest_find(m, m->retired[i]))
      return tv_ydoc_error(d, seq, "retired: step %lld is also a committed checkpoint",
                           (long long)m->retired[i]);
  return TV_OK;
}

static int parse(const tv_ydoc *d, tv_manifest *m) {
  const yaml_node_t *root, *v;
  int rc;
  /* An empty file gets its own word; anything else that is not a manifest, format's. */
  if (!tv_ydoc_root(d))
    return tv_error(TV_ERR_FORMAT, "%s:1:1: empty file, expected a manifest", tv_ydoc_path(d));
  if ((rc = tv_ydoc_root_map(d, &root)) ||
      (rc = tv_ydoc_format(d, root, TV_MANIFEST_FORMAT, TV_MANIFEST_VERSION)))
    return rc;
  if ((rc = tv_ydoc_field(d, root, "status", 1, &v)) ||
      (rc = tv_ydoc_str(d, v, "status", m->status, sizeof m->status, 1)))
    return rc;
  if (m->status[0] == '\0') return tv_ydoc_error(d, v, "status: empty");
  if ((rc = tv_ydoc_field(d, root, "heartbeat", 1, &v)) ||
      (rc = tv_ydoc_f64(d, v, "heartbeat", &m->heartbeat)))
    return rc;
  if ((rc = tv_ydoc_field(d, root, "host", 1, &v)) ||
      (rc = tv_ydoc_str(d, v, "host", m->host, sizeof m->host, 1)))
    return rc;
  int64_t pid;
  if ((rc = tv_ydoc_field(d, root, "pid", 1, &v)) || (rc = tv_ydoc_i64(d, v, "pid", 0, &pid)))
    return rc;
  m->pid = (long)pid;
  const yaml_node_t *seq;
  if ((rc = tv_ydoc_field(d, root, "checkpoints", 1, &seq)) || (rc = parse_checkpoints(d, seq, m)))
    return rc;
  return parse_retired(d, root, m);
}

/* checkpoints: a sequence of entries, strictly ascending by step. */
static int parse_checkpoints(const tv_ydoc *d, const yaml_node_t *seq, tv_manifest *m) {
  int rc;
  if (seq->type == YAML_SCALAR_NODE && seq->data.scalar.length == 0 &&
      seq->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
    return TV_OK; /* "checkpoints:" with nothing after it: none yet */
  if (seq->type != YAML_SEQUENCE_NODE)
    return tv_ydoc_error(d, seq, "checkpoints: expected a sequence");
  yaml_node_item_t *it = seq->data.sequence.items.start;
  int n = (int)(seq->data.sequence.items.top - it);
  if (n == 0) return TV_OK;
  m->entries = calloc((size_t)n, sizeof *m->entries);
  if (!m->entries) return tv_error(TV_ERR_NOMEM, "%s: out of memory", tv_ydoc_path(d));
  m->cap = n;
  for (int i = 0; i < n; i++) {
    const yaml_node_t *item = tv_ydoc_node(d, it[i]);
    tv_manifest_entry *e = &m->entries[i];
    if ((rc = parse_entry(d, item, e))) return rc;
    if (i > 0 && e->step <= e[-1].step)
      return tv_ydoc_error(d, item, "checkpoints: step %lld after step %lld (steps must ascend)",
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
  tv_ydoc *d = NULL;
  tv_manifest tmp;
  tv_manifest_init(&tmp);
  if ((rc = tv_ydoc_load(path, &d)) || (rc = parse(d, &tmp))) goto out;
  *m = tmp;
  tv_manifest_init(&tmp);
out:
  tv_manifest_free(&tmp);
  tv_ydoc_free(d);
  return rc;
}

/* ---- writing ---- */

static int check(const char *dir, const tv_manifest *m) {
  if (!tv_text_is_printable(m->status, sizeof m->status) || m->status[0] == '\0')
    return tv_error(TV_ERR_INVALID, "%s: manifest status is empty or not printable", dir);
  if (!tv_text_is_printable(m->host, sizeof m->host))
    return tv_error(TV_ERR_INVALID, "%s: manifest host is not printable", dir);
  for (int i = 0; i < m->n; i++) {
    const tv_manifest_entry *e = &m->entries[i];
    if (e->step < 0 || (i > 0 && e->step <= e[-1].step))
      return tv_error(TV_ERR_INVALID, "%s: manifest entry %d: step %lld out of order", dir, i,
                      (long long)e->step);
    if (!valid_file(e->file, sizeof e->file))
      return tv_error(TV_ERR_INVALID, "%s: manifest step %lld: bad file name", dir,
                      (long long)e->step);
    if (!tv_text_is_printable(e->reason, sizeof e->reason) || e->size < 0 ||
        !isfinite(e->wall_time))
      return tv_error(TV_ERR_INVALID, "%s: manifest step %lld: bad reason, size or wall_time", dir,
                      (long long)e->step);
  }
  for (int i = 0; i < m->n_retired; i++)
    if (m->retired[i] < 0 || (i > 0 && m->retired[i] <= m->retired[i - 1]) ||
        i >= TV_MANIFEST_RETIRED_MAX || tv_manifest_find(m, m->retired[i]))
      return tv_error(TV_ERR_INVALID, "%s: manifest retired step %lld out of order or committed",
                      dir, (long long)m->retired[i]);
  return TV_OK;
}

int tv_manifest_write(const char *dir, tv_manifest *m) {
  m->heartbeat = tv_now();
  tv_rundir_identity(m->host, sizeof m->host, &m->pid);
  char path[PATH_CAP];
  int rc = tv_fs_join(path, sizeof path, dir, TV_MANIFEST_FILE);
  if (rc || (rc = check(dir, m))) return rc;
  tv_text b = {0};
  tv_text_printf(&b,
                 "# trainval checkpoint manifest: the checkpoints listed here are committed.\n"
                 "# Written by train only (atomically); readers ignore keys they do not know.\n"
                 "format: %s\nformat_version: %d\nstatus: ",
                 TV_MANIFEST_FORMAT, TV_MANIFEST_VERSION);
  tv_text_yaml_str(&b, m->status, 0);
  tv_text_printf(&b, "\nheartbeat: %.6f\nhost: ", m->heartbeat);
  tv_text_yaml_str(&b, m->host, 0);
  tv_text_printf(&b, "\npid: %ld\n", m->pid);
  /* Before checkpoints, so the file still ends with the newest entry; absent when empty, so a
   * manifest without deletions reads as before. */
  if (m->n_retired) {
    tv_text_printf(&b, "retired: [");
    for (int i = 0; i < m->n_retired; i++)
      tv_text_printf(&b, "%s%lld", i ? ", " : "", (long long)m->retired[i]);
    tv_text_printf(&b, "]\n");
  }
  tv_text_printf(&b, "checkpoints:%s\n", m->n ? "" : " []");
  for (int i = 0; i < m->n; i++) {
    const tv_manifest_entry *e = &m->entries[i];
    tv_text_printf(&b, "  - step: %lld\n    file: ", (long long)e->step);
    tv_text_yaml_str(&b, e->file, 0);
    tv_text_printf(&b,
                   "\n    size: %lld\n    checksum: crc32c:%08x\n    wall_time: %.6f\n"
                   "    finite: %s\n    reason: ",
                   (long long)e->size, (unsigned)e->crc32c, e->wall_time,
                   e->finite ? "true" : "false");
    tv_text_yaml_str(&b, e->reason, 0);
    tv_text_printf(&b, "\n");
  }
  if ((rc = tv_text_check(&b, path)) == TV_OK) rc = tv_fs_write_atomic(path, b.p, b.n);
  tv_text_free(&b);
  return rc;
}
