/* tfevents.c — reads the scalars of a run's TensorBoard event files (format in events.h) for the
 * report: TFRecord framing with both CRCs checked, the Event fields wall_time/step/summary/
 * session_log, Summary.Value tag + simple_value, text summaries (plugin "text": the tensor's
 * string) and PR curves (plugin "pr_curves": the tensor's floats).  Everything else (histograms,
 * images, file_version) is skipped by wire type, as a protobuf reader does; the fields come
 * from trainval/pbwire.h.
 *
 * Invariant: a source's series hold, per tag, the values TensorBoard would show after reading
 * the same files in the same order (purge rule of events.h applied as records are read); so do
 * its blobs (texts and PR curves).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainval/pbwire.h"
#include "report.h"
#include "trainval/files.h"

static uint32_t masked_crc(const unsigned char *p, size_t n) {
  uint32_t c = tv_crc32c(0, p, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* What one Summary.Value holds, as far as the report reads it. */
typedef struct pb_value {
  char tag[RP_TAG_CAP];
  double value;                  /* VALUE_SCALAR */
  const unsigned char *data, *e; /* VALUE_TEXT: the string */
  const unsigned char *fs, *fe;  /* VALUE_PR: the packed float_val */
} pb_value;

enum { VALUE_OTHER = 0, VALUE_SCALAR, VALUE_TEXT, VALUE_PR };

/* Points v at the text of a TensorProto (its first string_val) and at its packed float_val, where
 * it has them.  -1 if malformed. */
static int tensor_string(const unsigned char *p, const unsigned char *end, pb_value *v) {
  tv_pb_field f;
  int r;
  while ((r = tv_pb_next(&p, end, &f)) == 1) {
    if (f.num == 8 && f.wire == 2 && !v->data) {
      v->data = f.s;
      v->e = f.e;
    } else if (f.num == 5 && f.wire == 2 && !v->fs) {
      v->fs = f.s;
      v->fe = f.e;
    }
  }
  return r;
}

/* The plugin a SummaryMetadata names: VALUE_TEXT ("text"), VALUE_PR ("pr_curves") or
 * VALUE_OTHER. */
static int plugin_of(const unsigned char *p, const unsigned char *end) {
  tv_pb_field f, g;
  while (tv_pb_next(&p, end, &f) == 1) {
    if (f.num != 1 || f.wire != 2) continue;
    const unsigned char *q = f.s;
    while (tv_pb_next(&q, f.e, &g) == 1) {
      if (g.num != 1 || g.wire != 2) continue;
      size_t n = (size_t)(g.e - g.s);
      if (n == 4 && !memcmp(g.s, "text", 4)) return VALUE_TEXT;
      if (n == 9 && !memcmp(g.s, "pr_curves", 9)) return VALUE_PR;
    }
  }
  return VALUE_OTHER;
}

/* Decodes one Summary.Value: its kind (VALUE_*), or -1 if malformed. */
static int decode_value(const unsigned char *p, const unsigned char *end, pb_value *v) {
  tv_pb_field f;
  int r, kind = VALUE_OTHER, plugin = VALUE_OTHER;
  memset(v, 0, sizeof *v);
  while ((r = tv_pb_next(&p, end, &f)) == 1) {
    if (f.num == 1 && f.wire == 2) {
      size_t n = (size_t)(f.e - f.s);
      if (n >= RP_TAG_CAP) n = RP_TAG_CAP - 1;
      memcpy(v->tag, f.s, n);
      v->tag[n] = '\0';
    } else if (f.num == 2 && f.wire == 5) {
      uint32_t u = (uint32_t)f.u;
      float x;
      memcpy(&x, &u, sizeof x);
      v->value = x;
      kind = VALUE_SCALAR;
    } else if (f.num == 8 && f.wire == 2) {
      if (tensor_string(f.s, f.e, v) < 0) return -1;
    } else if (f.num == 9 && f.wire == 2) {
      plugin = plugin_of(f.s, f.e);
    }
  }
  if (r < 0) return -1;
  if (kind == VALUE_OTHER && plugin == VALUE_TEXT && v->data) kind = VALUE_TEXT;
  /* a PR curve: 6 rows of at least 2 thresholds */
  if (kind == VALUE_OTHER && plugin == VALUE_PR && v->fs && (v->fe - v->fs) % 24 == 0 &&
      v->fe - v->fs >= 48)
    kind = VALUE_PR;
  return v->tag[0] ? kind : VALUE_OTHER;
}

/* Keeps the text or PR curve record v (every one: the purge rule may drop the later ones). */
static int keep_blob(rp_source *src, int64_t step, const pb_value *v, rp_blob_kind kind) {
  const unsigned char *from = kind == RP_BLOB_PR ? v->fs : v->data;
  size_t n = (size_t)((kind == RP_BLOB_PR ? v->fe : v->e) - from);
  unsigned char *d = malloc(n + 1);
  if (!d) return TV_ERR_NOMEM;
  memcpy(d, from, n);
  d[n] = '\0';
  if (src->nblobs == src->cblobs) {
    int cap = src->cblobs ? 2 * src->cblobs : 4;
    rp_blob *nb = realloc(src->blobs, (size_t)cap * sizeof *nb);
    if (!nb) {
      free(d);
      return TV_ERR_NOMEM;
    }
    src->blobs = nb;
    src->cblobs = cap;
  }
  rp_blob *b = &src->blobs[src->nblobs++];
  snprintf(b->tag, sizeof b->tag, "%s", v->tag);
  b->kind = kind;
  b->data = d;
  b->len = n;
  b->step = step;
  return TV_OK;
}

/* Decodes one Event and applies it to src.  *starts counts the SessionLog STARTs seen in this
 * run.  -1 if malformed, TV_ERR_NOMEM, else TV_OK. */
static int apply_event(const unsigned char *p, const unsigned char *end, rp_source *src,
                       int *starts) {
  tv_pb_field f, g;
  int r;
  int64_t step = 0;
  const unsigned char *summary = NULL, *summary_end = NULL;
  int session_start = 0;
  while ((r = tv_pb_next(&p, end, &f)) == 1) {
    if (f.num == 2 && f.wire == 0) {
      step = (int64_t)f.u;
    } else if (f.num == 5 && f.wire == 2) {
      summary = f.s;
      summary_end = f.e;
    } else if (f.num == 7 && f.wire == 2) {
      const unsigned char *q = f.s;
      int rs;
      while ((rs = tv_pb_next(&q, f.e, &g)) == 1)
        if (g.num == 1 && g.wire == 0 && g.u == 1) session_start = 1;
      if (rs < 0) return -1;
    }
  }
  if (r < 0) return -1;
  if (session_start) {
    if ((*starts)++ > 0) rp_source_purge(src, (double)step);
    return TV_OK;
  }
  if (!summary) return TV_OK;
  const unsigned char *q = summary;
  while ((r = tv_pb_next(&q, summary_end, &g)) == 1) {
    if (g.num != 1 || g.wire != 2) continue;
    pb_value v;
    int k = decode_value(g.s, g.e, &v);
    if (k < 0) return -1;
    if (k == VALUE_SCALAR && rp_source_add(src, v.tag, (double)step, v.value) != TV_OK)
      return TV_ERR_NOMEM;
    if ((k == VALUE_TEXT || k == VALUE_PR) &&
        keep_blob(src, step, &v, k == VALUE_PR ? RP_BLOB_PR : RP_BLOB_TEXT) != TV_OK)
      return TV_ERR_NOMEM;
  }
  return r < 0 ? -1 : TV_OK;
}

int rp_read_or_note(const char *path, char **data, size_t *len, tv_text *notes) {
  int rc = tv_fs_read_all(path, data, len);
  if (rc == TV_OK || rc == TV_ERR_NOMEM) return rc;
  *data = NULL;
  tv_text_printf(notes, "%s: cannot be read (%s); skipped\n", path, tv_error_message());
  return TV_OK;
}

static void note(tv_text *notes, const char *path, const char *what, size_t at) {
  tv_text_printf(notes, "%s: %s at byte %zu; the rest of the file is skipped\n", path, what, at);
}

static int read_file(const char *path, rp_source *src, tv_text *notes, int *starts) {
  char *data;
  size_t len;
  int rc = rp_read_or_note(path, &data, &len, notes);
  if (rc != TV_OK || !data) return rc;
  const unsigned char *p = (const unsigned char *)data;
  size_t at = 0;
  while (at < len) {
    if (len - at < 12) {
      note(notes, path, "torn record header", at);
      break;
    }
    uint64_t n = tv_pb_le(p + at, 8);
    if ((uint32_t)tv_pb_le(p + at + 8, 4) != masked_crc(p + at, 8)) {
      note(notes, path, "record length CRC mismatch", at);
      break;
    }
    if (n > len - at - 12 || len - at - 12 - n < 4) {
      note(notes, path, "torn record", at);
      break;
    }
    const unsigned char *payload = p + at + 12;
    if ((uint32_t)tv_pb_le(payload + n, 4) != masked_crc(payload, (size_t)n)) {
      note(notes, path, "record payload CRC mismatch", at);
      break;
    }
    int r = apply_event(payload, payload + n, src, starts);
    if (r == TV_ERR_NOMEM) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
      break;
    }
    if (r < 0) {
      note(notes, path, "malformed Event record", at);
      break;
    }
    at += 12 + (size_t)n + 4;
  }
  free(data);
  return rc;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int rp_events_read_dir(const char *dir, rp_source *src, tv_text *notes) {
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return TV_OK;
    return tv_error_errno(TV_ERR_IO, errno, "%s: cannot list", dir);
  }
  char **names = NULL;
  int n = 0, cap = 0, rc = TV_OK;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (strncmp(e->d_name, "events.out.tfevents.", 20) != 0 || strstr(e->d_name, ".tmp.")) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      char **nn = realloc(names, (size_t)cap * sizeof *nn);
      if (!nn) {
        rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", dir);
        goto out;
      }
      names = nn;
    }
    if (!(names[n] = strdup(e->d_name))) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", dir);
      goto out;
    }
    n++;
  }
  if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_names);
  int starts = 0;
  for (int i = 0; rc == TV_OK && i < n; i++) {
    char path[8192];
    rc = tv_fs_join(path, sizeof path, dir, names[i]);
    if (rc == TV_OK) rc = read_file(path, src, notes, &starts);
  }
out:
  closedir(d);
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

/* ---- series ----------------------------------------------------------------------------- */

int rp_source_add(rp_source *src, const char *tag, double step, double value) {
  rp_series *s = (rp_series *)rp_source_find(src, tag);
  if (!s) {
    if (src->n == src->cap) {
      int cap = src->cap ? 2 * src->cap : 8;
      rp_series *ns = realloc(src->series, (size_t)cap * sizeof *ns);
      if (!ns) return tv_error(TV_ERR_NOMEM, "out of memory for series %s", tag);
      src->series = ns;
      src->cap = cap;
    }
    s = &src->series[src->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->tag, sizeof s->tag, "%s", tag);
  }
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    double *a = realloc(s->step, (size_t)cap * sizeof *a);
    if (!a) return tv_error(TV_ERR_NOMEM, "out of memory for series %s", tag);
    s->step = a;
    double *b = realloc(s->value, (size_t)cap * sizeof *b);
    if (!b) return tv_error(TV_ERR_NOMEM, "out of memory for series %s", tag);
    s->value = b;
    s->cap = cap;
  }
  s->step[s->n] = step;
  s->value[s->n] = value;
  s->n++;
  return TV_OK;
}

const rp_series *rp_source_find(const rp_source *src, const char *tag) {
  for (int i = 0; i < src->n; i++)
    if (!strcmp(src->series[i].tag, tag)) return &src->series[i];
  return NULL;
}

const rp_blob *rp_source_blob(const rp_source *src, const char *tag) {
  const rp_blob *latest = NULL; /* of equal steps, the one read last (TensorBoard's) */
  for (int i = 0; i < src->nblobs; i++)
    if (!strcmp(src->blobs[i].tag, tag) && (!latest || src->blobs[i].step >= latest->step))
      latest = &src->blobs[i];
  return latest;
}

void rp_source_purge(rp_source *src, double step) {
  int kept = 0;
  for (int i = 0; i < src->nblobs; i++) {
    if ((double)src->blobs[i].step >= step)
      free(src->blobs[i].data);
    else
      src->blobs[kept++] = src->blobs[i];
  }
  src->nblobs = kept;
  for (int i = 0; i < src->n; i++) {
    rp_series *s = &src->series[i];
    int k = 0;
    for (int j = 0; j < s->n; j++) {
      if (s->step[j] >= step) continue;
      s->step[k] = s->step[j];
      s->value[k] = s->value[j];
      k++;
    }
    s->n = k;
  }
}

void rp_source_free(rp_source *src) {
  if (!src) return;
  for (int i = 0; i < src->n; i++) {
    free(src->series[i].step);
    free(src->series[i].value);
  }
  free(src->series);
  src->series = NULL;
  src->n = src->cap = 0;
  for (int i = 0; i < src->nblobs; i++) free(src->blobs[i].data);
  free(src->blobs);
  src->blobs = NULL;
  src->nblobs = src->cblobs = 0;
}
