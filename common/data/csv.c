/* csv.c — the CSV reader behind source.c's "csv" row (data.h, CSV FILES).
 *
 * A file is read whole through the shared byte stream (stream.h: plain or gzip), then split into
 * records in place: a quoted field is unescaped where it lies (never longer than its text), so a
 * field is a (pointer, length) into the one buffer with the line and column of its first byte
 * kept for messages.  Values are converted only for the chosen columns.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"
#include "data/stream.h"

enum { NUMBER_CAP = 128, LIST_CAP = 240 };

typedef struct field {
  char *p;
  size_t len;
  int line, col;
} field;

/* A parsed file: nrec records of ncol fields each (row-major in f), the header's fields apart. */
typedef struct table {
  const char *path;
  char *buf;
  field *f;
  size_t nf, cap;
  field *header; /* ncol fields, or NULL without a header */
  size_t ncol, nrec;
} table;

static void table_free(table *t) {
  free(t->buf);
  free(t->f);
  free(t->header);
  memset(t, 0, sizeof *t);
}

static int add_field(table *t, char *p, size_t len, int line, int col) {
  if (t->nf == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 1024;
    field *nf = realloc(t->f, cap * sizeof *nf);
    if (!nf) return tv_error(TV_ERR_NOMEM, "%s: out of memory for %zu fields", t->path, cap);
    t->f = nf;
    t->cap = cap;
  }
  t->f[t->nf++] = (field){p, len, line, col};
  return TV_OK;
}

/* Splits buf into records (RFC 4180; see data.h).  The first record is the header unless
 * no_header. */
static int parse(table *t, char *buf, size_t len, const tv_data_spec *sp) {
  char delim = sp->delimiter ? sp->delimiter : ',';
  size_t pos = len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3) ? 3 : 0; /* a UTF-8 byte order mark */
  int line = 1, col = 1;
  for (int k = 0; k < sp->skip_rows && pos < len; k++) {
    while (pos < len && buf[pos] != '\n') pos++;
    if (pos < len) pos++;
    line++;
  }
  int have_first = 0;
  while (pos < len) {
    if (buf[pos] == '\n' || (buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n')) {
      pos += buf[pos] == '\r' ? 2 : 1; /* an empty line */
      line++;
      col = 1;
      continue;
    }
    if (sp->comment && buf[pos] == sp->comment) {
      while (pos < len && buf[pos] != '\n') pos++;
      if (pos < len) pos++;
      line++;
      col = 1;
      continue;
    }
    size_t first = t->nf;
    int rline = line, end = 0;
    while (!end) {
      int fline = line, fcol = col, rc;
      if (pos < len && buf[pos] == '"') {
        size_t out = ++pos;
        col++;
        char *start = buf + out;
        for (;;) {
          if (pos >= len)
            return tv_error(TV_ERR_FORMAT, "%s:%d:%d: a quoted field is not closed", t->path, fline,
                            fcol);
          char c = buf[pos];
          if (c == '"') {
            if (pos + 1 < len && buf[pos + 1] == '"') {
              buf[out++] = '"';
              pos += 2;
              col += 2;
              continue;
            }
            pos++;
            col++;
            break;
          }
          buf[out++] = c;
          pos++;
          if (c == '\n') {
            line++;
            col = 1;
          } else {
            col++;
          }
        }
        size_t flen = (size_t)(buf + out - start);
        if (pos < len && buf[pos] != delim && buf[pos] != '\n' &&
            !(buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n'))
          return tv_error(TV_ERR_FORMAT,
                          "%s:%d:%d: text after a quoted field's closing quote (a quote inside "
                          "a quoted field is written \"\")",
                          t->path, line, col);
        rc = add_field(t, start, flen, fline, fcol);
      } else {
        size_t s = pos;
        while (pos < len && buf[pos] != delim && buf[pos] != '\n') {
          if (buf[pos] == '"')
            return tv_error(TV_ERR_FORMAT,
                            "%s:%d:%d: a quote inside an unquoted field (quote the whole field "
                            "and double the quote)",
                            t->path, line, col);
          if (buf[pos] == '\r' && !(pos + 1 < len && buf[pos + 1] == '\n'))
            return tv_error(TV_ERR_FORMAT,
                            "%s:%d:%d: a carriage return not followed by a line feed", t->path,
                            line, col);
          if (buf[pos] == '\r') break;
          pos++;
          col++;
        }
        rc = add_field(t, buf + s, pos - s, fline, fcol);
      }
      if (rc != TV_OK) return rc;
      if (pos < len && buf[pos] == delim) {
        pos++;
        col++;
        continue;
      }
      if (pos < len) pos += buf[pos] == '\r' ? 2 : 1;
      line++;
      col = 1;
      end = 1;
    }
    size_t nf = t->nf - first;
    if (!have_first) {
      t->ncol = nf;
      have_first = 1;
    } else if (nf != t->ncol) {
      return tv_error(TV_ERR_FORMAT, "%s:%d:1: %zu fields, but the %s has %zu", t->path, rline, nf,
                      sp->no_header ? "first record" : "header", t->ncol);
    }
  }
  if (!have_first) return tv_error(TV_ERR_FORMAT, "%s: no records", t->path);
  if (!sp->no_header) {
    t->header = malloc(t->ncol * sizeof *t->header);
    if (!t->header) return tv_error(TV_ERR_NOMEM, "%s: out of memory", t->path);
    memcpy(t->header, t->f, t->ncol * sizeof *t->header);
    memmove(t->f, t->f + t->ncol, (t->nf - t->ncol) * sizeof *t->f);
    t->nf -= t->ncol;
  }
  t->nrec = t->nf / t->ncol;
  if (t->nrec == 0) return tv_error(TV_ERR_FORMAT, "%s: a header but no data records", t->path);
  if (t->nrec > UINT32_MAX) return tv_error(TV_ERR_FORMAT, "%s: too many records", t->path);
  return TV_OK;
}

static int load_table(const char *path, const tv_data_spec *sp, table *t) {
  memset(t, 0, sizeof *t);
  t->path = path;
  size_t len;
  int rc = tv_data_read_file(path, &t->buf, &len);
  const char *nul = rc == TV_OK ? memchr(t->buf, '\0', len) : NULL;
  if (nul)
    rc = tv_error(TV_ERR_FORMAT, "%s: byte %zu is NUL: not a text file", path,
                  (size_t)(nul - t->buf));
  if (rc == TV_OK) rc = parse(t, t->buf, len, sp);
  if (rc != TV_OK) table_free(t);
  return rc;
}

/* One file's part of tv_csv_estimate: its text bytes and its fields (a field per delimiter or
 * line end, and one at the end), read through the stream in slabs. */
static int count_fields(const char *path, char delim, uint64_t *bytes, uint64_t *fields) {
  enum { SLAB = 1 << 16 };
  *bytes = *fields = 0;
  tv_data_stream *s = NULL;
  char *buf = malloc(SLAB);
  int rc = buf ? tv_data_stream_open(path, &s) : tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
  for (size_t got = SLAB; rc == TV_OK && got == SLAB;) {
    rc = tv_data_stream_read(s, buf, SLAB, &got);
    for (size_t i = 0; rc == TV_OK && i < got; i++) *fields += buf[i] == delim || buf[i] == '\n';
    *bytes += got;
  }
  *fields += 1; /* the last field, when the text does not end in a line break */
  tv_data_stream_close(s);
  free(buf);
  return rc;
}

int tv_csv_estimate(const tv_data_spec *sp, tv_data_need *need) {
  memset(need, 0, sizeof *need);
  int two = !sp->features_only && sp->y && sp->y[0];
  uint64_t text = 0, records = 0, fields = 0;
  for (int f = 0; f <= two; f++) {
    uint64_t b, n, cap = 1024;
    int rc = count_fields(f ? sp->y : sp->x, sp->delimiter ? sp->delimiter : ',', &b, &n);
    if (rc != TV_OK) return rc;
    while (cap < n) cap *= 2; /* add_field's array */
    text += b + 1;
    records += cap * sizeof(field);
    fields += n;
  }
  need->held = fields * 4;
  need->peak = text + records + need->held;
  return TV_OK;
}

/* "a, b, c" of the header (cut at LIST_CAP bytes), or the column count without one. */
static void describe_columns(const table *t, char *out, size_t cap) {
  if (!t->header) {
    snprintf(out, cap, "no header: columns 0-%zu", t->ncol - 1);
    return;
  }
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < t->ncol && used + 8 < cap; i++) {
    int w = snprintf(out + used, cap - used, "%s%.*s", i ? ", " : "", (int)t->header[i].len,
                     t->header[i].p);
    if (w < 0) break;
    used += (size_t)w;
  }
  if (used >= cap - 8) snprintf(out + cap - 5, 5, " ...");
}

static int is_digits(const char *s, size_t n) {
  if (n == 0 || n > 9) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i])) return 0;
  return 1;
}

/* Parses a column list ("a, 3, 5-7") against t into cols (allocated, *n entries). */
static int select_columns(const table *t, const char *list, const char *what, size_t **cols,
                          size_t *n) {
  *cols = NULL;
  *n = 0;
  size_t cap = 0;
  const char *p = list;
  int rc = TV_OK;
  while (rc == TV_OK && *p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    while (len > 0 && p[len - 1] == ' ') len--;
    size_t lo = SIZE_MAX, hi = 0;
    for (size_t i = 0; t->header && i < t->ncol; i++)
      if (t->header[i].len == len && memcmp(t->header[i].p, p, len) == 0) lo = hi = i;
    const char *dash = memchr(p, '-', len);
    if (lo == SIZE_MAX && is_digits(p, len)) {
      lo = hi = (size_t)strtoul(p, NULL, 10);
    } else if (lo == SIZE_MAX && dash && is_digits(p, (size_t)(dash - p)) &&
               is_digits(dash + 1, len - (size_t)(dash - p) - 1)) {
      lo = (size_t)strtoul(p, NULL, 10);
      hi = (size_t)strtoul(dash + 1, NULL, 10);
    }
    if (lo == SIZE_MAX || hi < lo || hi >= t->ncol) {
      char names[LIST_CAP];
      describe_columns(t, names, sizeof names);
      rc = tv_error(TV_ERR_INVALID, "%s: %s column \"%.*s\" is not in the file (%s)", t->path, what,
                    (int)len, p, names);
      break;
    }
    for (size_t c = lo; c <= hi; c++) {
      if (*n == cap) {
        cap = cap ? cap * 2 : 16;
        size_t *nc = realloc(*cols, cap * sizeof *nc);
        if (!nc) {
          rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", t->path);
          break;
        }
        *cols = nc;
      }
      (*cols)[(*n)++] = c;
    }
    p += e ? (size_t)(e - p) + 1 : strlen(p);
  }
  if (rc == TV_OK && *n == 0)
    rc = tv_error(TV_ERR_INVALID, "%s: the %s columns list \"%s\" names no column", t->path, what,
                  list);
  if (rc != TV_OK) {
    free(*cols);
    *cols = NULL;
    *n = 0;
  }
  return rc;
}

static void column_name(const table *t, size_t c, char *out, size_t cap) {
  if (t->header)
    snprintf(out, cap, "column \"%.*s\"", (int)(t->header[c].len > 60 ? 60 : t->header[c].len),
             t->header[c].p);
  else
    snprintf(out, cap, "column %zu", c);
}

/* The number in field f of column c, or the fill for an empty one. */
static int number(const table *t, const field *f, size_t c, const tv_data_spec *sp, float *out) {
  char name[96];
  if (f->len == 0) {
    if (sp->has_fill) {
      *out = (float)sp->fill;
      return TV_OK;
    }
    column_name(t, c, name, sizeof name);
    return tv_error(TV_ERR_FORMAT,
                    "%s:%d:%d: %s: missing value (set data.missing: fill to read it as "
                    "data.fill_value)",
                    t->path, f->line, f->col, name);
  }
  char tmp[NUMBER_CAP];
  size_t n = f->len < sizeof tmp - 1 ? f->len : sizeof tmp - 1;
  memcpy(tmp, f->p, n);
  tmp[n] = '\0';
  char *end;
  errno = 0;
  double v = strtod(tmp, &end);
  if (f->len >= sizeof tmp || end == tmp || *end != '\0' || isspace((unsigned char)tmp[0]) ||
      !isfinite(v) || fabs(v) > 3.4028234663852886e38) {
    column_name(t, c, name, sizeof name);
    return tv_error(TV_ERR_FORMAT, "%s:%d:%d: %s: \"%.*s\" is not a finite number", t->path,
                    f->line, f->col, name, (int)(f->len > 40 ? 40 : f->len), f->p);
  }
  *out = (float)v;
  return TV_OK;
}

typedef struct label_ref {
  const field *f;
  uint32_t row;
} label_ref;

static int text_cmp(const field *a, const field *b) {
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->p, b->p, n);
  if (c == 0 && a->len != b->len) c = a->len < b->len ? -1 : 1;
  return c;
}

static int by_text_then_row(const void *a, const void *b) {
  const label_ref *x = a, *y = b;
  int c = text_cmp(x->f, y->f);
  return c ? c : (x->row > y->row) - (x->row < y->row);
}

typedef struct group {
  uint32_t first_row;
  size_t at; /* index into the sorted refs of its first member */
} group;

static int by_first_row(const void *a, const void *b) {
  const group *x = a, *y = b;
  return (x->first_row > y->first_row) - (x->first_row < y->first_row);
}

/* Class labels of column c of t into ds->labels (and names when they are strings). */
static int class_labels(const table *t, size_t c, const tv_data_spec *sp, tv_dataset *ds) {
  uint32_t n = (uint32_t)t->nrec;
  ds->labels = malloc((size_t)n * sizeof *ds->labels);
  if (!ds->labels) return tv_error(TV_ERR_NOMEM, "%s: out of memory", t->path);
  int ints = 1;
  int32_t max = -1;
  for (uint32_t i = 0; i < n && ints; i++) {
    const field *f = &t->f[(size_t)i * t->ncol + c];
    if (!is_digits(f->p, f->len) || strtoul(f->p, NULL, 10) >= TV_DATA_MAX_CLASSES) {
      ints = 0;
      break;
    }
    ds->labels[i] = (int32_t)strtol(f->p, NULL, 10);
    if (ds->labels[i] > max) max = ds->labels[i];
  }
  if (ints) {
    ds->num_classes = max + 1;
    return TV_OK;
  }
  label_ref *ref = malloc((size_t)n * sizeof *ref);
  group *g = malloc((size_t)n * sizeof *g);
  int rc = TV_OK;
  if (!ref || !g) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", t->path);
  for (uint32_t i = 0; rc == TV_OK && i < n; i++) {
    ref[i] = (label_ref){&t->f[(size_t)i * t->ncol + c], i};
    if (ref[i].f->len == 0 && !sp->has_fill) {
      char name[96];
      column_name(t, c, name, sizeof name);
      rc = tv_error(TV_ERR_FORMAT, "%s:%d:%d: %s: missing class label", t->path, ref[i].f->line,
                    ref[i].f->col, name);
    }
  }
  size_t ng = 0;
  if (rc == TV_OK) {
    qsort(ref, n, sizeof *ref, by_text_then_row);
    for (uint32_t i = 0; i < n; i++)
      if (i == 0 || text_cmp(ref[i].f, ref[i - 1].f)) g[ng++] = (group){ref[i].row, i};
    if (ng > TV_DATA_MAX_CLASSES)
      rc = tv_error(TV_ERR_FORMAT, "%s: %zu distinct class labels (at most %d)", t->path, ng,
                    TV_DATA_MAX_CLASSES);
  }
  if (rc == TV_OK && sp->first_seen) qsort(g, ng, sizeof *g, by_first_row);
  if (rc == TV_OK) {
    ds->names = calloc(ng, sizeof *ds->names);
    if (!ds->names) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", t->path);
  }
  if (rc == TV_OK) ds->num_classes = (int)ng; /* so that tv_dataset_free frees the names */
  for (size_t k = 0; rc == TV_OK && k < ng; k++) {
    const field *f = ref[g[k].at].f;
    ds->names[k] = strndup(f->p, f->len);
    if (!ds->names[k]) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", t->path);
    for (size_t i = g[k].at; rc == TV_OK && i < n && !text_cmp(ref[i].f, f); i++)
      ds->labels[ref[i].row] = (int32_t)k;
  }
  free(ref);
  free(g);
  return rc;
}

int tv_csv_load(const tv_data_spec *sp, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  table x = {0}, y = {0};
  size_t *fc = NULL, *tc = NULL, nfc = 0, ntc = 0;
  tv_dataset d = {0};
  int only = sp->features_only, two = !only && sp->y && sp->y[0];
  int rc = load_table(sp->x, sp, &x);
  if (rc == TV_OK && two) rc = load_table(sp->y, sp, &y);
  if (rc != TV_OK) goto out;
  table *yt = two ? &y : &x;
  if (two && y.nrec != x.nrec) {
    rc = tv_error(TV_ERR_FORMAT, "%s holds %zu records but %s holds %zu", sp->x, x.nrec, sp->y,
                  y.nrec);
    goto out;
  }
  const char *target = sp->target ? sp->target : "";
  if (only) {
    /* no target columns */
  } else if (target[0]) {
    rc = select_columns(yt, target, "target", &tc, &ntc);
  } else if (two && sp->float_targets) { /* every column of the targets file */
    char all[32];
    snprintf(all, sizeof all, "0-%zu", y.ncol - 1);
    rc = select_columns(yt, all, "target", &tc, &ntc);
  } else {
    char last[24];
    snprintf(last, sizeof last, "%zu", yt->ncol - 1);
    rc = select_columns(yt, last, "target", &tc, &ntc);
  }
  if (rc != TV_OK) goto out;
  if (!only && !sp->float_targets && ntc != 1) {
    rc = tv_error(TV_ERR_INVALID, "%s: class labels come from one column; \"%s\" names %zu",
                  yt->path, target, ntc);
    goto out;
  }
  if (sp->features && sp->features[0]) {
    rc = select_columns(&x, sp->features, "feature", &fc, &nfc);
  } else {
    fc = malloc(x.ncol * sizeof *fc);
    if (!fc) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", sp->x);
    for (size_t c = 0; rc == TV_OK && c < x.ncol; c++) {
      int is_target = 0;
      for (size_t k = 0; !two && k < ntc; k++) is_target |= tc[k] == c;
      if (!is_target) fc[nfc++] = c;
    }
    if (rc == TV_OK && nfc == 0)
      rc = tv_error(TV_ERR_INVALID, "%s: no feature columns are left beside the targets", sp->x);
  }
  if (rc != TV_OK) goto out;
  for (size_t i = 0; i < nfc; i++)
    for (size_t j = 0; j < i; j++)
      if (fc[i] == fc[j]) {
        char name[96];
        column_name(&x, fc[i], name, sizeof name);
        rc = tv_error(TV_ERR_INVALID, "%s: feature columns name %s twice", sp->x, name);
        goto out;
      }
  if (nfc > INT32_MAX || ntc > INT32_MAX) {
    rc = tv_error(TV_ERR_FORMAT, "%s: too many columns", sp->x);
    goto out;
  }
  d.n = (uint32_t)x.nrec;
  d.c = (int)nfc;
  d.h = d.w = 1;
  d.features = malloc((size_t)d.n * nfc * sizeof *d.features);
  if (!d.features) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory for %u x %zu features", sp->x, d.n, nfc);
    goto out;
  }
  for (size_t i = 0; rc == TV_OK && i < d.n; i++)
    for (size_t j = 0; rc == TV_OK && j < nfc; j++)
      rc = number(&x, &x.f[i * x.ncol + fc[j]], fc[j], sp, &d.features[i * nfc + j]);
  if (rc != TV_OK) goto out;
  if (only) {
    /* the features alone */
  } else if (sp->float_targets) {
    d.target_dim = (int)ntc;
    d.targets = malloc((size_t)d.n * ntc * sizeof *d.targets);
    if (!d.targets) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", yt->path);
      goto out;
    }
    for (size_t i = 0; rc == TV_OK && i < d.n; i++)
      for (size_t j = 0; rc == TV_OK && j < ntc; j++)
        rc = number(yt, &yt->f[i * yt->ncol + tc[j]], tc[j], sp, &d.targets[i * ntc + j]);
  } else {
    rc = class_labels(yt, tc[0], sp, &d);
  }
  if (rc != TV_OK) goto out;
  *ds = d;
  d = (tv_dataset){0};
out:
  tv_dataset_free(&d);
  free(fc);
  free(tc);
  table_free(&x);
  table_free(&y);
  return rc;
}
