/* npy.c — the NumPy .npy reader behind source.c's "npy" row (data.h, NPY FILES).
 *
 * A file is read whole through the shared byte stream (stream.h), its header parsed as the
 * restricted Python literal numpy.lib.format writes, and the body checked against it before any
 * value is converted: the body must be exactly prod(shape) * itemsize bytes, so a header that
 * claims more (or less) than the file holds is an error, never a short or padded array.
 */
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"
#include "data/stream.h"

enum { MAX_DIMS = 4 };

typedef struct npy {
  const char *path;
  char *buf; /* the whole file */
  size_t len;
  char kind;   /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
  int size;    /* bytes per element */
  int big;     /* big-endian elements */
  int fortran; /* column-major body */
  int ndim;
  uint64_t dim[MAX_DIMS];
  uint64_t count; /* prod(dim) */
  const unsigned char *body;
} npy;

/* Skips spaces; returns the next byte or 0 at the end. */
static char peek(const char **p, const char *end) {
  while (*p < end && (**p == ' ' || **p == '\t')) (*p)++;
  return *p < end ? **p : 0;
}

static int header_error(const npy *f, const char *what) {
  return tv_error(TV_ERR_FORMAT, "%s: not a .npy header numpy writes: %s", f->path, what);
}

/* A quoted Python string into out (cap bytes). */
static int read_str(const npy *f, const char **p, const char *end, char *out, size_t cap) {
  char q = peek(p, end);
  if (q != '\'' && q != '"') return header_error(f, "expected a quoted string");
  (*p)++;
  size_t n = 0;
  while (*p < end && **p != q) {
    if (n + 1 >= cap) return header_error(f, "a string is too long");
    out[n++] = *(*p)++;
  }
  if (*p >= end) return header_error(f, "an unterminated string");
  (*p)++;
  out[n] = '\0';
  return TV_OK;
}

static int parse_descr(npy *f, const char *d) {
  static const struct {
    char kind;
    int size;
  } ok[] = {{'u', 1}, {'i', 1}, {'i', 2}, {'i', 4}, {'i', 8}, {'f', 4}, {'f', 8}, {'b', 1}};
  if (strlen(d) < 3 || !strchr("<>|=", d[0]) || !isdigit((unsigned char)d[2]) || strlen(d) > 3)
    goto bad;
  f->kind = d[1];
  f->size = d[2] - '0';
  f->big = d[0] == '>';
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (ok[i].kind == f->kind && ok[i].size == f->size) return TV_OK;
bad:
  return tv_error(TV_ERR_FORMAT,
                  "%s: dtype '%s' is not one the reader takes (u1 i1 i2 i4 i8 f4 f8 b1, any "
                  "byte order)",
                  f->path, d);
}

/* {'descr': '<f4', 'fortran_order': False, 'shape': (6, 4), } in any key order. */
static int parse_header(npy *f, const char *p, const char *end) {
  int seen[3] = {0, 0, 0};
  if (peek(&p, end) != '{') return header_error(f, "it does not start with '{'");
  p++;
  for (;;) {
    char c = peek(&p, end);
    if (c == '}') break;
    char key[32], val[32];
    int rc = read_str(f, &p, end, key, sizeof key);
    if (rc != TV_OK) return rc;
    if (peek(&p, end) != ':') return header_error(f, "expected ':' after a key");
    p++;
    if (!strcmp(key, "descr")) {
      if ((rc = read_str(f, &p, end, val, sizeof val)) || (rc = parse_descr(f, val))) return rc;
      seen[0] = 1;
    } else if (!strcmp(key, "fortran_order")) {
      peek(&p, end);
      if (end - p >= 4 && !memcmp(p, "True", 4)) {
        f->fortran = 1;
        p += 4;
      } else if (end - p >= 5 && !memcmp(p, "False", 5)) {
        p += 5;
      } else {
        return header_error(f, "fortran_order is neither True nor False");
      }
      seen[1] = 1;
    } else if (!strcmp(key, "shape")) {
      if (peek(&p, end) != '(') return header_error(f, "shape is not a tuple");
      p++;
      f->ndim = 0;
      while (peek(&p, end) != ')') {
        if (!isdigit((unsigned char)peek(&p, end)))
          return header_error(f, "a shape entry is not a number");
        if (f->ndim == MAX_DIMS)
          return tv_error(TV_ERR_FORMAT, "%s: more than %d dimensions", f->path, MAX_DIMS);
        char *e;
        unsigned long long v = strtoull(p, &e, 10);
        if (v > UINT32_MAX) return tv_error(TV_ERR_FORMAT, "%s: a dimension of %llu", f->path, v);
        f->dim[f->ndim++] = v;
        p = e;
        if (peek(&p, end) == ',') p++;
      }
      p++;
      seen[2] = 1;
    } else {
      return tv_error(TV_ERR_FORMAT, "%s: unknown header key '%s'", f->path, key);
    }
    if (peek(&p, end) == ',') p++;
  }
  if (!seen[0] || !seen[1] || !seen[2])
    return header_error(f, "descr, fortran_order and shape must all be there");
  if (f->ndim == 0)
    return tv_error(TV_ERR_FORMAT, "%s: a scalar, not an array of examples", f->path);
  f->count = 1;
  for (int i = 0; i < f->ndim; i++) {
    if (f->dim[i] == 0) return tv_error(TV_ERR_FORMAT, "%s: dimension %d is 0", f->path, i);
    if (f->count > UINT64_MAX / f->dim[i] / 8)
      return tv_error(TV_ERR_FORMAT, "%s: the shape is too large", f->path);
    f->count *= f->dim[i];
  }
  return TV_OK;
}

/* The magic, the version and the header's length (*hl) after the *pre bytes of len at b. */
static int npy_prefix(const char *path, const unsigned char *b, size_t len, size_t *pre,
                      size_t *hl) {
  if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
    return tv_error(TV_ERR_FORMAT, "%s: not a .npy file (no \\x93NUMPY magic)", path);
  int major = b[6];
  *pre = major == 1 ? 10 : 12;
  if (major < 1 || major > 3)
    return tv_error(TV_ERR_FORMAT, "%s: .npy format version %d.%d (the reader takes 1.0-3.0)", path,
                    major, b[7]);
  if (len < *pre) return tv_error(TV_ERR_FORMAT, "%s: truncated header", path);
  *hl = major == 1 ? (size_t)b[8] | (size_t)b[9] << 8
                   : (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
  return TV_OK;
}

static int npy_open(const char *path, npy *f) {
  memset(f, 0, sizeof *f);
  f->path = path;
  int rc = tv_data_read_file(path, &f->buf, &f->len);
  if (rc != TV_OK) return rc;
  size_t pre, hl;
  rc = npy_prefix(path, (const unsigned char *)f->buf, f->len, &pre, &hl);
  if (rc != TV_OK) return rc;
  const unsigned char *b = (const unsigned char *)f->buf;
  if (hl > f->len - pre)
    return tv_error(TV_ERR_FORMAT, "%s: truncated: a header of %zu bytes, %zu in the file", path,
                    hl, f->len - pre);
  rc = parse_header(f, f->buf + pre, f->buf + pre + hl);
  if (rc != TV_OK) return rc;
  uint64_t want = f->count * (uint64_t)f->size, have = f->len - pre - hl;
  if (want != have)
    return tv_error(TV_ERR_FORMAT,
                    "%s: %s: the header's shape needs %llu bytes of data, the file "
                    "holds %llu",
                    path, want > have ? "truncated" : "bytes after the data",
                    (unsigned long long)want, (unsigned long long)have);
  f->body = b + pre + hl;
  return TV_OK;
}

/* Element k of the body, in C (row-major) order, as a double. */
static double element(const npy *f, uint64_t k) {
  uint64_t at = k;
  if (f->fortran && f->ndim > 1) { /* the C index's coordinates, laid out column-major */
    uint64_t rest = k;
    at = 0;
    for (int d = f->ndim - 1; d >= 0; d--) {
      uint64_t c = rest % f->dim[d], stride = 1;
      rest /= f->dim[d];
      for (int e = 0; e < d; e++) stride *= f->dim[e];
      at += c * stride;
    }
  }
  const unsigned char *p = f->body + at * (uint64_t)f->size;
  unsigned char b[8];
  for (int i = 0; i < f->size; i++) b[i] = p[f->big ? f->size - 1 - i : i]; /* to little */
  uint64_t u = 0;
  for (int i = f->size - 1; i >= 0; i--) u = u << 8 | b[i];
  switch (f->kind) {
  case 'f':
    if (f->size == 4) {
      uint32_t w = (uint32_t)u;
      float v;
      memcpy(&v, &w, 4);
      return v;
    } else {
      double v;
      memcpy(&v, &u, 8);
      return v;
    }
  case 'i': {
    int shift = 64 - 8 * f->size;
    return (double)((int64_t)(u << shift) >> shift);
  }
  default:
    return (double)u;
  }
}

static int to_float(const npy *f, float **out) {
  *out = malloc((size_t)f->count * sizeof **out);
  if (!*out) return tv_error(TV_ERR_NOMEM, "%s: out of memory", f->path);
  for (uint64_t k = 0; k < f->count; k++) {
    double v = element(f, k);
    if (!isfinite(v) || fabs(v) > 3.4028234663852886e38) {
      free(*out);
      *out = NULL;
      return tv_error(TV_ERR_FORMAT, "%s: element %llu is %g, not a finite float32", f->path,
                      (unsigned long long)k, v);
    }
    (*out)[k] = (float)v;
  }
  return TV_OK;
}

/* The header of the .npy file at path, read through the stream (no more than it): f's kind, size
 * and count as npy_open gives them, *bytes the file's whole length (header and body). */
static int npy_head(const char *path, npy *f, uint64_t *bytes) {
  enum { HEADER_CAP = 1 << 16 }; /* numpy writes a few hundred bytes */
  memset(f, 0, sizeof *f);
  f->path = path;
  tv_data_stream *s = NULL;
  unsigned char *b = malloc(12 + HEADER_CAP);
  size_t got = 0, pre = 0, hl = 0;
  int rc = b ? tv_data_stream_open(path, &s) : tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
  if (rc == TV_OK) rc = tv_data_stream_read(s, b, 12, &got);
  if (rc == TV_OK) rc = npy_prefix(path, b, got, &pre, &hl);
  if (rc == TV_OK && hl > HEADER_CAP)
    rc = tv_error(TV_ERR_FORMAT, "%s: a header of %zu bytes", path, hl);
  size_t more = 0;
  if (rc == TV_OK && got > pre) memmove(b, b + pre, got - pre); /* 1.0: two header bytes read */
  if (rc == TV_OK && hl > got - pre)
    rc = tv_data_stream_read(s, b + (got - pre), hl - (got - pre), &more);
  if (rc == TV_OK && (got - pre) + more < hl)
    rc = tv_error(TV_ERR_FORMAT, "%s: truncated header", path);
  if (rc == TV_OK) rc = parse_header(f, (const char *)b, (const char *)b + hl);
  if (rc == TV_OK) *bytes = pre + hl + f->count * (uint64_t)f->size;
  tv_data_stream_close(s);
  free(b);
  return rc;
}

int tv_npy_estimate(const tv_data_spec *sp, tv_data_need *need) {
  memset(need, 0, sizeof *need);
  npy x, y;
  uint64_t bx = 0, by = 0, hy = 0;
  int rc = npy_head(sp->x, &x, &bx);
  if (rc == TV_OK && !sp->features_only) rc = npy_head(sp->y, &y, &by);
  if (rc != TV_OK) return rc;
  if (!sp->features_only) hy = y.count * 4;
  need->held = x.count * (x.kind == 'u' && x.size == 1 ? 1 : 4) + hy;
  need->peak = bx + by + need->held; /* both files are read whole, then converted */
  return TV_OK;
}

int tv_npy_load(const tv_data_spec *sp, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  npy x, y;
  tv_dataset d = {0};
  int rc = npy_open(sp->x, &x);
  if (rc == TV_OK && !sp->features_only)
    rc = npy_open(sp->y, &y);
  else
    memset(&y, 0, sizeof y);
  if (rc != TV_OK) goto out;
  if (!sp->features_only && x.dim[0] != y.dim[0]) {
    rc = tv_error(TV_ERR_FORMAT, "%s holds %llu examples but %s holds %llu", sp->x,
                  (unsigned long long)x.dim[0], sp->y, (unsigned long long)y.dim[0]);
    goto out;
  }
  /* (N) -> 1 feature; (N, D) -> C = D; (N, H, W) -> C = 1; (N, C, H, W) */
  uint64_t c = x.ndim == 4 ? x.dim[1] : x.ndim == 3 ? 1 : x.ndim == 2 ? x.dim[1] : 1;
  uint64_t h = x.ndim >= 3 ? x.dim[x.ndim - 2] : 1, w = x.ndim >= 3 ? x.dim[x.ndim - 1] : 1;
  if (c * h * w > INT_MAX || c > INT_MAX) {
    rc = tv_error(TV_ERR_FORMAT, "%s: examples of %llu values are too large", sp->x,
                  (unsigned long long)(c * h * w));
    goto out;
  }
  d.n = (uint32_t)x.dim[0];
  d.c = (int)c, d.h = (int)h, d.w = (int)w;
  if (x.kind == 'u' && x.size == 1) { /* uint8 stays uint8 (data.scale auto: 1/255) */
    d.images = malloc((size_t)x.count);
    if (!d.images)
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", sp->x);
    else if (!x.fortran)
      memcpy(d.images, x.body, (size_t)x.count);
    else
      for (uint64_t k = 0; k < x.count; k++) d.images[k] = (uint8_t)element(&x, k);
  } else {
    rc = to_float(&x, &d.features);
  }
  if (rc != TV_OK) goto out;
  if (sp->features_only) {
    *ds = d;
    d = (tv_dataset){0};
    goto out;
  }
  if (y.ndim > 2) {
    rc = tv_error(TV_ERR_FORMAT, "%s: targets of %d dimensions (one or two: (N) or (N, T))", sp->y,
                  y.ndim);
    goto out;
  }
  if (sp->float_targets) {
    d.target_dim = y.ndim == 2 ? (int)y.dim[1] : 1;
    rc = to_float(&y, &d.targets);
  } else if (y.kind == 'f' || y.kind == 'b' || y.ndim != 1) {
    rc = tv_error(TV_ERR_FORMAT,
                  "%s: class ids need an integer array of shape (N); this one is %c%d of %d "
                  "dimensions",
                  sp->y, y.kind, y.size, y.ndim);
  } else {
    d.labels = malloc((size_t)d.n * sizeof *d.labels);
    if (!d.labels) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", sp->y);
    int32_t max = -1;
    for (uint32_t i = 0; rc == TV_OK && i < d.n; i++) {
      double v = element(&y, i);
      if (v < 0 || v >= TV_DATA_MAX_CLASSES) {
        rc = tv_error(TV_ERR_FORMAT, "%s: example %u: class id %.0f is not in [0, %d)", sp->y, i, v,
                      TV_DATA_MAX_CLASSES);
        break;
      }
      d.labels[i] = (int32_t)v;
      if (d.labels[i] > max) max = d.labels[i];
    }
    d.num_classes = max + 1;
  }
  if (rc != TV_OK) goto out;
  *ds = d;
  d = (tv_dataset){0};
out:
  tv_dataset_free(&d);
  free(x.buf);
  free(y.buf);
  return rc;
}
