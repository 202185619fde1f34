/* npy.c — the NumPy .npy reader behind source.c's "npy" row (data.h, NPY FILES).
 *
 * A file is read whole through the shared byte stream (stream.h), its header parsed as the
 * restricted Python literal numpy.lib.format writes, and the body checked against it before any
 * value is converted: the body must be exactly prod(shape) * itemsize bytes, so a header that
 * claims more (or less) than the file holds is an error, never a short or padded array.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Parses the header at b (have bytes of a file of total bytes; have >= 12 or total) into f and
 * checks the body's size against it; *body_at is where the body starts.  TV_ERR_FORMAT for a
 * header that is not numpy's or a body of the wrong size; *need (when not NULL) gets the bytes
 * the header needs when have is short of them (then nothing else is checked). */
static int npy_header(npy *f, const unsigned char *b, size_t have, uint64_t total,
                      uint64_t *body_at, size_t *need) {
  const char *path = f->path;
  size_t pre, hl; /* have >= 12 or total: have short of pre is a file short of it */
  int rc = npy_prefix(path, b, have, &pre, &hl);
  if (rc != TV_OK) return rc;
  if (hl > total - pre)
    return tv_error(TV_ERR_FORMAT, "%s: truncated: a header of %zu bytes, %llu in the file", path,
                    hl, (unsigned long long)(total - pre));
  if (need) *need = 0;
  if (have < pre + hl) {
    *need = pre + hl;
    return TV_OK;
  }
  rc = parse_header(f, (const char *)b + pre, (const char *)b + pre + hl);
  if (rc != TV_OK) return rc;
  uint64_t want = f->count * (uint64_t)f->size, rest = total - pre - hl;
  if (want != rest)
    return tv_error(TV_ERR_FORMAT,
                    "%s: %s: the header's shape needs %llu bytes of data, the file "
                    "holds %llu",
                    path, want > rest ? "truncated" : "bytes after the data",
                    (unsigned long long)want, (unsigned long long)rest);
  *body_at = pre + hl;
  return TV_OK;
}

static int npy_open(const char *path, npy *f) {
  memset(f, 0, sizeof *f);
  f->path = path;
  int rc = tv_data_read_file(path, &f->buf, &f->len);
  if (rc != TV_OK) return rc;
  uint64_t at = 0;
  rc = npy_header(f, (const unsigned char *)f->buf, f->len, f->len, &at, NULL);
  if (rc == TV_OK) f->body = (const unsigned char *)f->buf + at;
  return rc;
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

/* f's elements as float32 into *out; base numbers them in messages (a block's first element in
 * the whole file). */
static int to_float(const npy *f, uint64_t base, float **out) {
  *out = malloc((size_t)f->count * sizeof **out);
  if (!*out) return tv_error(TV_ERR_NOMEM, "%s: out of memory", f->path);
  for (uint64_t k = 0; k < f->count; k++) {
    double v = element(f, k);
    if (!isfinite(v) || fabs(v) > 3.4028234663852886e38) {
      free(*out);
      *out = NULL;
      return tv_error(TV_ERR_FORMAT, "%s: element %llu is %g, not a finite float32", f->path,
                      (unsigned long long)(base + k), v);
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

/* The example shape of features x: (N) -> 1 feature; (N, D) -> C = D; (N, H, W) -> C = 1;
 * (N, C, H, W).  Sets d's n, c, h and w. */
static int shape_of(const npy *x, tv_dataset *d) {
  uint64_t c = x->ndim == 4 ? x->dim[1] : x->ndim == 3 ? 1 : x->ndim == 2 ? x->dim[1] : 1;
  uint64_t h = x->ndim >= 3 ? x->dim[x->ndim - 2] : 1, w = x->ndim >= 3 ? x->dim[x->ndim - 1] : 1;
  if (c * h * w > INT_MAX || c > INT_MAX)
    return tv_error(TV_ERR_FORMAT, "%s: examples of %llu values are too large", x->path,
                    (unsigned long long)(c * h * w));
  d->n = (uint32_t)x->dim[0];
  d->c = (int)c, d->h = (int)h, d->w = (int)w;
  return TV_OK;
}

/* x's values as d's features: uint8 stays uint8 (data.scale auto: 1/255), any other dtype
 * float32; base as for to_float. */
static int features_of(const npy *x, uint64_t base, tv_dataset *d) {
  if (x->kind != 'u' || x->size != 1) return to_float(x, base, &d->features);
  d->images = malloc((size_t)x->count);
  if (!d->images) return tv_error(TV_ERR_NOMEM, "%s: out of memory", x->path);
  if (!x->fortran)
    memcpy(d->images, x->body, (size_t)x->count);
  else
    for (uint64_t k = 0; k < x->count; k++) d->images[k] = (uint8_t)element(x, k);
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
  rc = shape_of(&x, &d);
  if (rc == TV_OK) rc = features_of(&x, 0, &d);
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
    rc = to_float(&y, 0, &d.targets);
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

/* ---- row blocks of a plain .npy file (data.h, tv_npy_rows) ---- */

struct tv_npy_rows {
  npy f;      /* the header (f.path: path below; no body) */
  char *path; /* owned */
  int fd;
  uint64_t body_at, per; /* the body's offset; values per example */
};

/* Reads len bytes at off of r's file into buf. */
static int pread_all(const tv_npy_rows *r, void *buf, size_t len, uint64_t off) {
  char *p = buf;
  while (len > 0) {
    ssize_t got = pread(r->fd, p, len, (off_t)off);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return tv_error_errno(TV_ERR_IO, errno, "%s: read", r->path);
    if (got == 0)
      return tv_error(TV_ERR_FORMAT, "%s: truncated (the file shrank while it was read)", r->path);
    p += got;
    len -= (size_t)got;
    off += (uint64_t)got;
  }
  return TV_OK;
}

void tv_npy_rows_close(tv_npy_rows *r) {
  if (!r) return;
  if (r->fd >= 0) close(r->fd);
  free(r->path);
  free(r);
}

int tv_npy_rows_open(const char *path, tv_npy_rows **out) {
  *out = NULL;
  tv_npy_rows *r = calloc(1, sizeof *r);
  unsigned char *head = NULL;
  int rc = TV_OK;
  if (!r || !(r->path = strdup(path))) {
    free(r);
    return tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
  }
  r->f.path = r->path;
  r->fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (r->fd < 0) {
    rc = tv_error_errno(errno == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO, errno, "%s", path);
    goto out;
  }
  if (fstat(r->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = tv_error(TV_ERR_IO, "%s: not a regular file", path);
    goto out;
  }
  /* the prefix, then as much as the header says it needs */
  size_t have = 0, need = st.st_size < 12 ? (size_t)st.st_size : 12;
  while (rc == TV_OK && need > have) {
    unsigned char *more = realloc(head, need);
    if (!more) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory for its header", path);
      break;
    }
    head = more;
    rc = pread_all(r, head + have, need - have, have);
    have = need;
    if (rc == TV_OK) rc = npy_header(&r->f, head, have, (uint64_t)st.st_size, &r->body_at, &need);
  }
  if (rc == TV_OK && have == 0) /* an empty file */
    rc = npy_header(&r->f, head, have, (uint64_t)st.st_size, &r->body_at, &need);
  tv_dataset shape = {0};
  if (rc == TV_OK) rc = shape_of(&r->f, &shape);
  if (rc == TV_OK) r->per = r->f.count / r->f.dim[0];
out:
  free(head);
  if (rc != TV_OK) {
    tv_npy_rows_close(r);
    return rc;
  }
  *out = r;
  return TV_OK;
}

void tv_npy_rows_shape(const tv_npy_rows *r, tv_dataset *shape) {
  memset(shape, 0, sizeof *shape);
  (void)shape_of(&r->f, shape); /* checked by tv_npy_rows_open */
}

int tv_npy_rows_read(tv_npy_rows *r, uint64_t first, uint32_t n, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  uint64_t rows = r->f.dim[0], size = (uint64_t)r->f.size;
  if (n == 0 || first > rows || n > rows - first)
    return tv_error(TV_ERR_INVALID, "%s: rows %llu..%llu of %llu", r->path,
                    (unsigned long long)first, (unsigned long long)(first + n),
                    (unsigned long long)rows);
  npy v = r->f; /* the block as a C-order array of n examples */
  v.dim[0] = n;
  v.count = (uint64_t)n * r->per;
  v.fortran = 0;
  unsigned char *raw = malloc((size_t)(v.count * size)), *col = NULL;
  int rc = raw ? TV_OK : tv_error(TV_ERR_NOMEM, "%s: out of memory for %u rows", r->path, n);
  if (rc == TV_OK && !r->f.fortran) {
    rc = pread_all(r, raw, (size_t)(v.count * size), r->body_at + first * r->per * size);
  } else if (rc == TV_OK) {
    /* column-major: feature j (its C index) of every example is a run of `rows` elements at
     * offset rows * jf, jf its index laid out column-major over dims 1.. */
    col = malloc((size_t)(n * size));
    if (!col) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory for %u rows", r->path, n);
    for (uint64_t j = 0; rc == TV_OK && j < r->per; j++) {
      uint64_t rest = j, jf = 0;
      for (int d = r->f.ndim - 1; d >= 1; d--) {
        uint64_t c = rest % r->f.dim[d];
        rest /= r->f.dim[d];
        uint64_t s = 1;
        for (int e = 1; e < d; e++) s *= r->f.dim[e];
        jf += c * s;
      }
      rc = pread_all(r, col, (size_t)(n * size), r->body_at + (rows * jf + first) * size);
      for (uint32_t i = 0; rc == TV_OK && i < n; i++)
        memcpy(raw + ((uint64_t)i * r->per + j) * size, col + (uint64_t)i * size, (size_t)size);
    }
  }
  v.body = raw;
  tv_dataset d = {0};
  if (rc == TV_OK) rc = shape_of(&v, &d);
  if (rc == TV_OK) rc = features_of(&v, first * r->per, &d);
  free(col);
  free(raw);
  if (rc != TV_OK) {
    tv_dataset_free(&d);
    return rc;
  }
  *ds = d;
  return TV_OK;
}
