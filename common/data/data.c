/* data.c — IDX reader, splits, subsets and the batch loader (see data.h).
 *
 * IDX element types other than uint8 are read as raw big-endian bytes and converted once, after
 * the body has arrived whole (features to float32, integer targets to int32 class ids, float
 * targets to float32), so the truncation and trailer checks are the same for every type.
 *
 * Every file goes through one reader (idx_file): a plain file is read as is, a gzip file (1f 8b)
 * through zlib's inflate, so plain and gzip share one set of checks.  gzip's data ends only at a
 * member's Z_STREAM_END, when inflate has verified the trailer (CRC-32 and ISIZE); input that
 * runs out before it is truncation, even where every byte of the body arrived (zlib's gzread
 * reported a plain end of file there).  Both headers are read before either body, so a missing
 * labels file or a count mismatch is reported before 47 MB of pixels are inflated, and a body is
 * never allocated beyond what the file can hold (its size for a plain file; growing as inflate
 * delivers for gzip), so a 41-byte file cannot ask for gigabytes.
 *
 * Loader invariants (of each cursor): perm is always a permutation of 0..m-1 holding the order
 * of epoch `epoch`; position < m (position + batch_size <= m with drop_last) is the next entry to
 * return; the shuffle generator has already drawn this epoch's order; the augmentation generator
 * has drawn for every example before position.  An epoch's end advances to the next epoch at
 * once, so a saved state never sits on an exhausted epoch.
 *
 * Prefetch: one producer thread, one consumer (the caller), a ring of slots under one mutex with
 * three condition variables (room for the producer, a batch for the consumer, the producer
 * parked for set_state).  The producer fills a slot outside the lock; ring indices, ready, held
 * and the flags change only under it.  The caller's cursor is the caller's alone, the producer's
 * cursor the producer's alone except while it is parked (busy 0 with pausing set, under the
 * lock).  Everything else is written before the thread starts and read-only after.
 */
#include "trainval/data.h"

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/blockorder.h"
#include "data/readers.h"
#include "data/stream.h"
#include "trainval/ckpt.h"
#include "trainval/dist.h"

/* ---- IDX files ---------------------------------------------------------------------------- */

enum {
  IN_BUFFER = 1 << 18,   /* bytes per read() of the file */
  OUT_CHUNK = 1u << 30,  /* z_stream counts in unsigned int */
  FIRST_BODY = 1u << 16, /* a gzip body's first allocation, at least (then it doubles) */
  GZ_EXPANSION = 4,      /* ... or this many times the file's size: typical IDX ratios */
};

/* One IDX file, plain or gzip (RFC 1952).  gzip goes through zlib's inflate directly, so that
 * the end of the data is only ever a member's Z_STREAM_END, after which inflate has checked the
 * trailer (CRC-32 and ISIZE); input that runs out before it is a cut stream (cut), however far
 * the deflate data went. */
typedef struct idx_file {
  const char *path;
  int fd;
  off_t size;        /* bytes on disk (fstat) */
  int regular;       /* a regular file: size is what read() will give */
  size_t header_len; /* bytes of IDX header (idx_header) */
  int gzip;          /* the file starts with 1f 8b */
  int eof;           /* read() has returned 0 */
  int done;          /* gzip: the last member ended; what follows is not gzip (ignored) */
  int cut;           /* gzip: the input ended inside a member */
  z_stream z;        /* gzip: live between open and close */
  unsigned char *in; /* IN_BUFFER bytes; unread input is in[at .. at + avail) */
  size_t at, avail;  /* plain files (and the two bytes of a gzip check) use these too */
} idx_file;

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Appends to the unread input (after moving it to the front); at end of file sets eof. */
static int fill(idx_file *f) {
  if (f->at > 0) {
    memmove(f->in, f->in + f->at, f->avail);
    f->at = 0;
  }
  while (f->avail < IN_BUFFER) {
    ssize_t r = read(f->fd, f->in + f->avail, IN_BUFFER - f->avail);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return tv_error_errno(TV_ERR_IO, errno, "%s: read", f->path);
    if (r == 0) f->eof = 1;
    f->avail += (size_t)r;
    break;
  }
  return TV_OK;
}

static int idx_open(idx_file *f, const char *path) {
  f->path = path;
  f->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (f->fd < 0) {
    int e = errno;
    return tv_error_errno(e == ENOENT || e == ENOTDIR ? TV_ERR_NOT_FOUND : TV_ERR_IO, e, "%s",
                          path);
  }
  struct stat st;
  if (fstat(f->fd, &st) != 0) return tv_error_errno(TV_ERR_IO, errno, "%s: fstat", path);
  f->size = st.st_size;
  f->regular = S_ISREG(st.st_mode);
  f->in = malloc(IN_BUFFER);
  if (!f->in) return tv_error(TV_ERR_NOMEM, "%s: out of memory opening the file", path);
  int rc = TV_OK;
  while (rc == TV_OK && f->avail < 2 && !f->eof) rc = fill(f);
  if (rc != TV_OK) return rc;
  f->gzip = f->avail >= 2 && f->in[0] == 0x1f && f->in[1] == 0x8b;
  if (!f->gzip) return TV_OK;
  /* 16 + MAX_WBITS: a gzip wrapper only; inflate checks each member's CRC-32 and ISIZE. */
  int z = inflateInit2(&f->z, 16 + MAX_WBITS);
  if (z != Z_OK) {
    f->gzip = 0;
    return tv_error(z == Z_MEM_ERROR ? TV_ERR_NOMEM : TV_ERR_IO, "%s: inflateInit2 failed (%d)",
                    path, z);
  }
  return TV_OK;
}

/* Closes the file and frees what idx_open took.  Safe on a file that failed to open. */
static void idx_close(idx_file *f) {
  if (f->gzip) (void)inflateEnd(&f->z);
  f->gzip = 0;
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  free(f->in);
  f->in = NULL;
}

/* After a member's end: another member follows (1f 8b) or the data is done. */
static int next_member(idx_file *f) {
  int rc = TV_OK;
  while (rc == TV_OK && f->avail < 2 && !f->eof) rc = fill(f);
  if (rc != TV_OK) return rc;
  if (f->avail >= 2 && f->in[f->at] == 0x1f && f->in[f->at + 1] == 0x8b) {
    if (inflateReset(&f->z) != Z_OK)
      return tv_error(TV_ERR_FORMAT, "%s: corrupt gzip stream: inflateReset failed", f->path);
    return TV_OK;
  }
  f->done = 1; /* bytes after the last member that are not gzip are ignored, as gzip(1) does */
  return TV_OK;
}

/* Inflates up to len bytes into p; *got says how many.  Stops early only at the data's end. */
static int gz_read(idx_file *f, unsigned char *p, size_t len, size_t *got) {
  size_t total = 0;
  int rc = TV_OK;
  while (rc == TV_OK && total < len && !f->done && !f->cut) {
    if (f->avail == 0 && !f->eof) {
      rc = fill(f);
      continue;
    }
    size_t want = len - total < OUT_CHUNK ? len - total : OUT_CHUNK;
    f->z.next_in = f->in + f->at;
    f->z.avail_in = (unsigned)f->avail;
    f->z.next_out = p + total;
    f->z.avail_out = (unsigned)want;
    int z = inflate(&f->z, Z_NO_FLUSH);
    size_t used = f->avail - f->z.avail_in, made = want - f->z.avail_out;
    f->at += used;
    f->avail -= used;
    total += made;
    if (z == Z_STREAM_END) {
      rc = next_member(f);
    } else if (z == Z_BUF_ERROR || (z == Z_OK && used == 0 && made == 0)) {
      /* No progress: only once the input is used up (the output has room: want > 0). */
      if (f->avail == 0 && f->eof)
        f->cut = 1; /* no Z_STREAM_END: the member is cut short */
      else if (f->avail > 0)
        rc = tv_error(TV_ERR_FORMAT, "%s: corrupt gzip stream: inflate makes no progress", f->path);
    } else if (z == Z_MEM_ERROR) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory in zlib", f->path);
    } else if (z != Z_OK) {
      rc = tv_error(TV_ERR_FORMAT, "%s: corrupt gzip stream: %s", f->path,
                    f->z.msg ? f->z.msg : "unknown zlib error");
    }
  }
  *got = total;
  return rc;
}

/* Reads len bytes or up to the end of the data; *got says how many arrived.  A cut gzip stream
 * also ends the data early (f->cut): the caller reports it as truncation. */
static int idx_read(idx_file *f, void *buf, size_t len, size_t *got) {
  if (f->gzip) return gz_read(f, buf, len, got);
  unsigned char *p = buf;
  size_t total = 0;
  int rc = TV_OK;
  while (rc == TV_OK && total < len) {
    if (f->avail == 0) {
      if (f->eof) break;
      rc = fill(f);
      continue;
    }
    size_t k = len - total < f->avail ? len - total : f->avail;
    memcpy(p + total, f->in + f->at, k);
    f->at += k;
    f->avail -= k;
    total += k;
  }
  *got = total;
  return rc;
}

/* ---- the shared byte stream (stream.h) over the same reader ---------------------------- */

struct tv_data_stream {
  idx_file f;
};

int tv_data_stream_open(const char *path, tv_data_stream **out) {
  *out = NULL;
  tv_data_stream *s = calloc(1, sizeof *s);
  if (!s) return tv_error(TV_ERR_NOMEM, "%s: out of memory opening the file", path);
  s->f.fd = -1;
  int rc = idx_open(&s->f, path);
  if (rc != TV_OK) {
    tv_data_stream_close(s);
    return rc;
  }
  *out = s;
  return TV_OK;
}

int tv_data_stream_read(tv_data_stream *s, void *buf, size_t len, size_t *got) {
  int rc = idx_read(&s->f, buf, len, got);
  if (rc == TV_OK && s->f.cut)
    rc = tv_error(TV_ERR_FORMAT, "%s: truncated gzip stream (it ends before its trailer)",
                  s->f.path);
  return rc;
}

size_t tv_data_stream_file_size(const tv_data_stream *s) {
  return s->f.regular && s->f.size > 0 ? (size_t)s->f.size : 0;
}

int tv_data_read_file(const char *path, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  tv_data_stream *s = NULL;
  int rc = tv_data_stream_open(path, &s);
  if (rc != TV_OK) return rc;
  size_t cap = tv_data_stream_file_size(s) + 1, used = 0;
  if (cap < FIRST_BODY) cap = FIRST_BODY;
  char *buf = malloc(cap);
  if (!buf) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory reading the file", path);
  while (rc == TV_OK) {
    if (cap - used < 2) {
      char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
      if (!nb) {
        rc = tv_error(TV_ERR_NOMEM, "%s: out of memory reading the file", path);
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t want = cap - used - 1, got;
    rc = tv_data_stream_read(s, buf + used, want, &got);
    used += got;
    if (got < want) break; /* the data ended */
  }
  tv_data_stream_close(s);
  if (rc != TV_OK) {
    free(buf);
    return rc;
  }
  buf[used] = '\0';
  *out = buf;
  *len = used;
  return TV_OK;
}

void tv_data_stream_close(tv_data_stream *s) {
  if (!s) return;
  idx_close(&s->f);
  free(s);
}

/* An IDX element type: its code, its size in bytes and its name. */
typedef struct idx_type {
  unsigned code;
  size_t size;
  const char *name;
  int is_float;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, 1, "uint8", 0}, {0x09, 1, "int8", 0},    {0x0B, 2, "int16", 0},
    {0x0C, 4, "int32", 0}, {0x0D, 4, "float32", 1}, {0x0E, 8, "float64", 1},
};

static const idx_type *idx_type_find(unsigned code) {
  for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
    if (idx_types[i].code == code) return &idx_types[i];
  return NULL;
}

/* An IDX header as read: element type, dimensions. */
typedef struct idx_head {
  const idx_type *type;
  int ndim;
  uint32_t dim[255];
} idx_head;

/* Reads and checks the header of a features (labels == 0) or targets file: a known element type,
 * a dimension count the role allows (features 2, 3 or 4; targets 1, or 2 for a float type), no
 * zero dimension. */
static int idx_header(idx_file *f, int labels, idx_head *hd) {
  unsigned char h[4 + 4 * 255];
  size_t got;
  int rc = idx_read(f, h, 4, &got);
  if (rc != TV_OK) return rc;
  if (got == 0 && f->cut)
    return tv_error(TV_ERR_FORMAT, "%s: truncated: gzip stream ends before any data", f->path);
  if (got == 0) return tv_error(TV_ERR_FORMAT, "%s: empty file, not an IDX file", f->path);
  if (got < 4)
    return tv_error(TV_ERR_FORMAT, "%s: truncated: expected a 4-byte IDX magic number, got %zu",
                    f->path, got);
  uint32_t magic = be32(h);
  const char *want = labels ? "0x00000801 (IDX labels: 1 dimension, 2 for float targets)"
                            : "0x00000803 or 0x00000804 (IDX images), or 2 dimensions";
  if (h[0] != 0 || h[1] != 0)
    return tv_error(TV_ERR_FORMAT, "%s: not an IDX file: magic 0x%08x, expected %s", f->path,
                    (unsigned)magic, want);
  hd->type = idx_type_find(h[2]);
  if (!hd->type)
    return tv_error(TV_ERR_FORMAT,
                    "%s: magic 0x%08x: IDX element type 0x%02x is not one the format defines "
                    "(0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e)",
                    f->path, (unsigned)magic, (unsigned)h[2]);
  int ndim = h[3];
  int ok = labels ? ndim == 1 || (ndim == 2 && hd->type->is_float) : ndim >= 2 && ndim <= 4;
  if (!ok)
    return tv_error(TV_ERR_FORMAT, "%s: wrong magic 0x%08x (%d dimensions of %s), expected %s",
                    f->path, (unsigned)magic, ndim, hd->type->name, want);
  rc = idx_read(f, h + 4, 4 * (size_t)ndim, &got);
  if (rc != TV_OK) return rc;
  if (got < 4 * (size_t)ndim)
    return tv_error(TV_ERR_FORMAT, "%s: truncated: expected %d bytes of IDX header, got %zu",
                    f->path, 4 + 4 * ndim, 4 + got);
  f->header_len = 4 + 4 * (size_t)ndim;
  hd->ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    hd->dim[i] = be32(h + 4 + 4 * i);
    if (hd->dim[i] == 0) return tv_error(TV_ERR_FORMAT, "%s: IDX dimension %d is 0", f->path, i);
  }
  return TV_OK;
}

/* Element i of a big-endian IDX body of type t, as a double (exact for every IDX type). */
static double idx_value(const idx_type *t, const uint8_t *raw, size_t i) {
  const uint8_t *p = raw + i * t->size;
  uint64_t u = 0;
  for (size_t k = 0; k < t->size; k++) u = u << 8 | p[k];
  switch (t->code) {
  case 0x08:
    return (double)(uint8_t)u;
  case 0x09:
    return (double)(int8_t)(uint8_t)u;
  case 0x0B:
    return (double)(int16_t)(uint16_t)u;
  case 0x0C:
    return (double)(int32_t)(uint32_t)u;
  case 0x0D: {
    uint32_t b = (uint32_t)u;
    float v;
    memcpy(&v, &b, sizeof v);
    return (double)v;
  }
  default: {
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
  }
  }
}

/* Converts count elements of raw (type t) into a new float32 array *out (malloc'd; NULL on
 * failure).  A value that is NaN, infinite, or beyond float32's range is an error naming the
 * file and the element. */
static int idx_to_float(const char *path, const idx_type *t, const uint8_t *raw, size_t count,
                        float **out) {
  *out = malloc((count ? count : 1) * sizeof **out);
  if (!*out) return tv_error(TV_ERR_NOMEM, "%s: out of memory for %zu float32 values", path, count);
  for (size_t i = 0; i < count; i++) {
    double v = idx_value(t, raw, i);
    if (!isfinite(v) || fabs(v) > FLT_MAX) {
      free(*out);
      *out = NULL;
      return tv_error(TV_ERR_FORMAT, "%s: element %zu is %g, not a finite float32 value", path, i,
                      v);
    }
    (*out)[i] = (float)v;
  }
  return TV_OK;
}

/* Converts count integer class ids of raw (type t) into a new int32 array *out, each checked to
 * be in [0, TV_DATA_MAX_CLASSES); *max gets the largest. */
static int idx_to_labels(const char *path, const idx_type *t, const uint8_t *raw, size_t count,
                         int32_t **out, int32_t *max) {
  *max = 0;
  *out = malloc((count ? count : 1) * sizeof **out);
  if (!*out) return tv_error(TV_ERR_NOMEM, "%s: out of memory for %zu labels", path, count);
  for (size_t i = 0; i < count; i++) {
    double v = idx_value(t, raw, i);
    if (v < 0 || v >= TV_DATA_MAX_CLASSES) {
      free(*out);
      *out = NULL;
      return tv_error(TV_ERR_FORMAT, "%s: label %.0f of example %zu is not in [0, %d)", path, v, i,
                      TV_DATA_MAX_CLASSES);
    }
    (*out)[i] = (int32_t)v;
    *max = (*out)[i] > *max ? (*out)[i] : *max;
  }
  return TV_OK;
}

/* Reads exactly len bytes of body into a buffer of its own (*out, malloc'd, for the caller to
 * free; NULL on failure) and checks that nothing follows them.  Nothing is allocated for data
 * the file cannot hold: a plain regular file's size must cover the header and body (checked
 * before anything is allocated), and a gzip body's buffer starts at what the compressed size
 * suggests and doubles as data arrives, up to len. */
static int idx_body(idx_file *f, size_t len, const char *what, uint8_t **out) {
  *out = NULL;
  int sized = !f->gzip && f->regular;
  if (sized) {
    uint64_t have = (uint64_t)f->size > f->header_len ? (uint64_t)f->size - f->header_len : 0;
    if (have < len)
      return tv_error(TV_ERR_FORMAT, "%s: truncated: expected %zu bytes of %s, got %llu", f->path,
                      len, what, (unsigned long long)have);
  }
  size_t cap = len;
  if (!sized) {
    uint64_t guess = (uint64_t)f->size * GZ_EXPANSION;
    if (guess < FIRST_BODY) guess = FIRST_BODY;
    if (guess < cap) cap = (size_t)guess;
  }
  uint8_t *buf = malloc(cap ? cap : 1);
  if (!buf)
    return tv_error(TV_ERR_NOMEM, "%s: out of memory for %zu bytes of %s", f->path, cap, what);
  size_t total = 0;
  int rc = TV_OK;
  for (;;) {
    size_t got;
    rc = idx_read(f, buf + total, cap - total, &got);
    total += got;
    if (rc != TV_OK || total < cap || cap == len) break; /* done, or the data ended early */
    size_t grown = cap > len / 2 ? len : cap * 2;
    uint8_t *more = realloc(buf, grown);
    if (!more) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory for %zu bytes of %s", f->path, grown, what);
      break;
    }
    buf = more;
    cap = grown;
  }
  if (rc == TV_OK && total < len)
    rc = tv_error(TV_ERR_FORMAT, "%s: truncated: expected %zu bytes of %s, got %zu", f->path, len,
                  what, total);
  unsigned char extra[1];
  size_t got = 0;
  if (rc == TV_OK) rc = idx_read(f, extra, sizeof extra, &got);
  if (rc == TV_OK && got > 0)
    rc = tv_error(TV_ERR_FORMAT, "%s: trailing garbage after the %zu bytes of %s", f->path, len,
                  what);
  if (rc == TV_OK && f->cut)
    rc = tv_error(TV_ERR_FORMAT, "%s: truncated: gzip stream ends before its trailer", f->path);
  if (rc != TV_OK) {
    free(buf);
    return rc;
  }
  *out = buf;
  return TV_OK;
}

int tv_dataset_load_idx(const char *images_path, const char *labels_path, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  idx_file fi = {.path = images_path, .fd = -1}, fl = {.path = labels_path, .fd = -1};
  tv_dataset d = {0};
  idx_head hi, hl;
  uint8_t *raw = NULL;
  char what[96];
  int rc = idx_open(&fi, images_path);
  if (rc != TV_OK) goto out;
  rc = idx_open(&fl, labels_path);
  if (rc != TV_OK) goto out;
  rc = idx_header(&fi, 0, &hi);
  if (rc != TV_OK) goto out;
  rc = idx_header(&fl, 1, &hl);
  if (rc != TV_OK) goto out;
  if (hi.dim[0] != hl.dim[0]) {
    rc = tv_error(TV_ERR_FORMAT, "%s holds %u images but %s holds %u labels", images_path,
                  (unsigned)hi.dim[0], labels_path, (unsigned)hl.dim[0]);
    goto out;
  }
  /* (N, D) -> C = D, H = W = 1; (N, H, W) -> C = 1; (N, C, H, W) as is. */
  uint32_t c = hi.ndim == 4 ? hi.dim[1] : hi.ndim == 2 ? hi.dim[1] : 1;
  uint32_t hh = hi.ndim == 2 ? 1 : hi.dim[hi.ndim - 2], ww = hi.ndim == 2 ? 1 : hi.dim[hi.ndim - 1];
  uint64_t per = (uint64_t)c * hh;
  if (c > INT_MAX || hh > INT_MAX || ww > INT_MAX || per > INT_MAX || per * ww > INT_MAX) {
    rc = tv_error(TV_ERR_FORMAT, "%s: image shape %u x %u x %u is too large", images_path,
                  (unsigned)c, (unsigned)hh, (unsigned)ww);
    goto out;
  }
  uint64_t count = (uint64_t)hi.dim[0] * (per * ww);
  if (count > SIZE_MAX / hi.type->size) {
    rc = tv_error(TV_ERR_NOMEM, "%s: %llu values of pixel data do not fit in memory", images_path,
                  (unsigned long long)count);
    goto out;
  }
  d.n = hi.dim[0];
  d.c = (int)c;
  d.h = (int)hh;
  d.w = (int)ww;
  snprintf(what, sizeof what, "pixel data (element type 0x%02x, %s)", hi.type->code, hi.type->name);
  if (hi.type->code == 0x08) {
    rc = idx_body(&fi, (size_t)count, "pixel data", &d.images);
    if (rc != TV_OK) goto out;
  } else {
    rc = idx_body(&fi, (size_t)count * hi.type->size, what, &raw);
    if (rc == TV_OK) rc = idx_to_float(images_path, hi.type, raw, (size_t)count, &d.features);
    free(raw);
    raw = NULL;
    if (rc != TV_OK) goto out;
  }
  uint64_t tdim = hl.ndim == 2 ? hl.dim[1] : 1;
  if (tdim > INT_MAX || (uint64_t)d.n * tdim > SIZE_MAX / hl.type->size) {
    rc = tv_error(TV_ERR_FORMAT, "%s: %u x %llu targets are too many", labels_path, d.n,
                  (unsigned long long)tdim);
    goto out;
  }
  size_t tcount = (size_t)d.n * (size_t)tdim;
  snprintf(what, sizeof what, "label data (element type 0x%02x, %s)", hl.type->code, hl.type->name);
  rc = idx_body(&fl, tcount * hl.type->size, hl.type->code == 0x08 ? "label data" : what, &raw);
  if (rc != TV_OK) goto out;
  if (hl.type->is_float) {
    rc = idx_to_float(labels_path, hl.type, raw, tcount, &d.targets);
    d.target_dim = (int)tdim;
  } else {
    int32_t max;
    rc = idx_to_labels(labels_path, hl.type, raw, tcount, &d.labels, &max);
    d.num_classes = 1 + max;
  }
  if (rc != TV_OK) goto out;
  *ds = d;
  d = (tv_dataset){0};
out:
  free(raw);
  idx_close(&fi);
  idx_close(&fl);
  tv_dataset_free(&d);
  return rc;
}

int tv_idx_estimate(const tv_data_spec *spec, tv_data_need *need) {
  memset(need, 0, sizeof *need);
  idx_file fi = {.path = spec->x, .fd = -1}, fl = {.path = spec->y, .fd = -1};
  idx_head hi, hl;
  int rc = idx_open(&fi, spec->x);
  if (rc == TV_OK) rc = idx_open(&fl, spec->y);
  if (rc == TV_OK) rc = idx_header(&fi, 0, &hi);
  if (rc == TV_OK) rc = idx_header(&fl, 1, &hl);
  if (rc == TV_OK) {
    uint64_t nx = 1, ny = 1;
    for (int k = 0; k < hi.ndim; k++) nx *= hi.dim[k];
    for (int k = 0; k < hl.ndim; k++) ny *= hl.dim[k];
    int keep = hi.type->code == 0x08; /* uint8 features are kept as read */
    uint64_t hx = nx * (keep ? 1 : 4), raw_x = keep ? 0 : nx * hi.type->size;
    uint64_t hy = ny * 4, raw_y = ny * hl.type->size;
    need->held = hx + hy;
    need->peak = hx + (raw_x > hy + raw_y ? raw_x : hy + raw_y);
  }
  idx_close(&fi);
  idx_close(&fl);
  return rc;
}

static int path_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int tv_data_find(const char *dir, const char *stem, char *out, size_t cap) {
  char alt[4096];
  size_t len = strlen(stem);
  int has_gz = len > 3 && strcmp(stem + len - 3, ".gz") == 0;
  const char *sep = dir && dir[0] ? "/" : "";
  if (!dir) dir = "";
  int n = has_gz ? snprintf(alt, sizeof alt, "%s%s%.*s", dir, sep, (int)(len - 3), stem)
                 : snprintf(alt, sizeof alt, "%s%s%s.gz", dir, sep, stem);
  if (cap > 0) out[0] = '\0';
  if (n < 0 || (size_t)n >= sizeof alt)
    return tv_error(TV_ERR_INVALID, "%s%s%s: path too long", dir, sep, stem);
  int m = snprintf(out, cap, "%s%s%s", dir, sep, stem);
  if (m < 0 || (size_t)m >= cap) {
    if (cap > 0) out[0] = '\0';
    return tv_error(TV_ERR_INVALID, "%s%s%s: path too long", dir, sep, stem);
  }
  if (path_exists(out)) return TV_OK;
  if (path_exists(alt)) {
    if ((size_t)n >= cap) {
      out[0] = '\0';
      return tv_error(TV_ERR_INVALID, "%s: path too long", alt);
    }
    memcpy(out, alt, (size_t)n + 1);
    return TV_OK;
  }
  int e = errno;
  tv_error_errno(TV_ERR_NOT_FOUND, e, "%s (also tried %s)", out, alt);
  out[0] = '\0';
  return TV_ERR_NOT_FOUND;
}

void tv_dataset_free(tv_dataset *ds) {
  if (!ds) return;
  free(ds->images);
  free(ds->features);
  free(ds->labels);
  free(ds->targets);
  if (ds->names)
    for (int k = 0; k < ds->num_classes; k++) free(ds->names[k]);
  free(ds->names);
  tv_rows_release(ds->rows);
  free(ds->rowmap);
  memset(ds, 0, sizeof *ds);
}

size_t tv_dataset_feature_size(const tv_dataset *ds) {
  if (ds->rows) return tv_rows_feature_size(ds->rows);
  return ds->features ? sizeof *ds->features : 1;
}

int tv_dataset_has_labels(const tv_dataset *ds) {
  return ds->labels != NULL || (ds->rows && ds->target_dim == 0);
}

static size_t example_values(const tv_dataset *ds) {
  return (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
}

/* A copy of full's class names (out->num_classes of them) into out->names; NULL stays NULL. */
static int copy_names(const tv_dataset *full, tv_dataset *out) {
  if (!full->names) return TV_OK;
  out->names = calloc((size_t)full->num_classes, sizeof *out->names);
  if (!out->names) return TV_ERR_NOMEM;
  for (int k = 0; k < full->num_classes; k++) {
    out->names[k] = strdup(full->names[k]);
    if (!out->names[k]) return TV_ERR_NOMEM;
  }
  return TV_OK;
}

/* An empty dataset of full's shape and types with room for n examples (no example buffers when n
 * is 0; the class names are copied either way). */
static int dataset_alloc_like(const tv_dataset *full, uint32_t n, tv_dataset *out) {
  *out = (tv_dataset){.n = n,
                      .c = full->c,
                      .h = full->h,
                      .w = full->w,
                      .num_classes = full->num_classes,
                      .target_dim = full->target_dim};
  int rc = copy_names(full, out);
  if (rc == TV_OK && n > 0) {
    size_t d = example_values(full), t = (size_t)full->target_dim;
    if (full->features)
      out->features = malloc((size_t)n * d * sizeof *out->features);
    else
      out->images = malloc((size_t)n * d);
    if (full->targets)
      out->targets = malloc((size_t)n * t * sizeof *out->targets);
    else
      out->labels = malloc((size_t)n * sizeof *out->labels);
    if (!(out->features || out->images) || !(out->targets || out->labels)) rc = TV_ERR_NOMEM;
  }
  if (rc != TV_OK) {
    tv_dataset_free(out);
    return tv_error(TV_ERR_NOMEM, "out of memory for a split of %u examples", (unsigned)n);
  }
  return TV_OK;
}

/* Copies example i of src to example k of dst (same shape and types). */
static void copy_example(const tv_dataset *src, uint32_t i, tv_dataset *dst, uint32_t k) {
  size_t d = example_values(src), t = (size_t)src->target_dim;
  if (src->features)
    memcpy(dst->features + (size_t)k * d, src->features + (size_t)i * d, d * sizeof(float));
  else
    memcpy(dst->images + (size_t)k * d, src->images + (size_t)i * d, d);
  if (src->targets)
    memcpy(dst->targets + (size_t)k * t, src->targets + (size_t)i * t, t * sizeof(float));
  else
    dst->labels[k] = src->labels[i];
}

/* Out of core: train and valid share full's row source, each selecting its rows (in_valid marks
 * nv of them) in ascending order; no example is read. */
static int split_rows(const tv_dataset *full, const uint8_t *in_valid, uint32_t nv, tv_dataset *tr,
                      tv_dataset *va) {
  uint32_t n = full->n;
  int rc = dataset_alloc_like(full, 0, tr);
  if (rc == TV_OK) rc = dataset_alloc_like(full, 0, va);
  if (rc != TV_OK) return rc;
  tr->n = n - nv;
  va->n = nv;
  tr->rows = tv_rows_share(full->rows);
  va->rows = tv_rows_share(full->rows);
  tr->rowmap = malloc((size_t)(n - nv) * sizeof *tr->rowmap);
  va->rowmap = nv ? malloc((size_t)nv * sizeof *va->rowmap) : NULL;
  if (!tr->rowmap || (nv && !va->rowmap))
    return tv_error(TV_ERR_NOMEM, "out of memory splitting %u examples", (unsigned)n);
  uint32_t it = 0, iv = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t row = full->rowmap ? full->rowmap[i] : i;
    if (in_valid[i])
      va->rowmap[iv++] = row;
    else
      tr->rowmap[it++] = row;
  }
  if (nv == 0) { /* every row: the identity, as full has it */
    free(tr->rowmap);
    tr->rowmap = NULL;
    if (full->rowmap) {
      tr->rowmap = malloc((size_t)n * sizeof *tr->rowmap);
      if (!tr->rowmap) return tv_error(TV_ERR_NOMEM, "out of memory splitting %u examples", n);
      memcpy(tr->rowmap, full->rowmap, (size_t)n * sizeof *tr->rowmap);
    }
  }
  return TV_OK;
}

int tv_dataset_split(const tv_dataset *full, double valid_fraction, uint64_t seed,
                     tv_dataset *train, tv_dataset *valid) {
  memset(train, 0, sizeof *train);
  memset(valid, 0, sizeof *valid);
  if (!(valid_fraction >= 0.0 && valid_fraction < 1.0))
    return tv_error(TV_ERR_INVALID, "validation fraction %g is not in [0, 1)", valid_fraction);
  uint32_t n = full->n;
  uint32_t nv = (uint32_t)llround((double)n * valid_fraction);
  if (nv >= n)
    return tv_error(TV_ERR_INVALID,
                    "validation fraction %g of %u examples leaves none for training",
                    valid_fraction, (unsigned)n);
  int rc = TV_OK;
  uint32_t *perm = malloc((size_t)n * sizeof *perm);
  uint8_t *in_valid = calloc(n, 1);
  tv_dataset tr = {0}, va = {0};
  if (!perm || !in_valid) {
    rc = tv_error(TV_ERR_NOMEM, "out of memory splitting %u examples", (unsigned)n);
    goto out;
  }
  for (uint32_t i = 0; i < n; i++) perm[i] = i;
  tv_rng rng = tv_rng_seed(seed, TV_RNG_SPLIT);
  tv_rng_shuffle(&rng, perm, n);
  for (uint32_t i = 0; i < nv; i++) in_valid[perm[i]] = 1;
  if (full->rows) {
    rc = split_rows(full, in_valid, nv, &tr, &va);
    if (rc != TV_OK) goto out;
    *train = tr;
    *valid = va;
    tr = (tv_dataset){0};
    va = (tv_dataset){0};
    goto out;
  }
  rc = dataset_alloc_like(full, n - nv, &tr);
  if (rc != TV_OK) goto out;
  rc = dataset_alloc_like(full, nv, &va);
  if (rc != TV_OK) goto out;
  uint32_t it = 0, iv = 0;
  for (uint32_t i = 0; i < n; i++) {
    tv_dataset *dst = in_valid[i] ? &va : &tr;
    uint32_t *k = in_valid[i] ? &iv : &it;
    copy_example(full, i, dst, *k);
    (*k)++;
  }
  *train = tr;
  *valid = va;
  tr = (tv_dataset){0};
  va = (tv_dataset){0};
out:
  tv_dataset_free(&tr);
  tv_dataset_free(&va);
  free(perm);
  free(in_valid);
  return rc;
}

int tv_dataset_read_examples(const tv_dataset *ds, const uint32_t *at, uint32_t m, void *x) {
  size_t d = example_values(ds), bytes = d * tv_dataset_feature_size(ds);
  for (uint32_t j = 0; j < m; j++) {
    uint32_t e = at[j];
    if (e >= ds->n)
      return tv_error(TV_ERR_INVALID, "example %u of a dataset of %u", (unsigned)e,
                      (unsigned)ds->n);
    uint8_t *dst = (uint8_t *)x + (size_t)j * bytes;
    if (ds->rows) {
      uint64_t row = ds->rowmap ? ds->rowmap[e] : e;
      int rc = tv_rows_read(ds->rows, row, row + 1, dst, NULL, NULL);
      if (rc != TV_OK) return rc;
    } else if (ds->features) {
      memcpy(dst, ds->features + (size_t)e * d, bytes);
    } else {
      memcpy(dst, ds->images + (size_t)e * d, bytes);
    }
  }
  return TV_OK;
}

static uint64_t fnv1a_u32(uint64_t h, uint32_t v) {
  for (int i = 0; i < 4; i++) {
    h ^= (v >> (8 * i)) & 0xffu;
    h *= 0x100000001b3ULL;
  }
  return h;
}

int tv_dataset_subset(const tv_dataset *ds, uint32_t n, int random, uint64_t seed, uint32_t **idx,
                      uint64_t *hash) {
  *idx = NULL;
  *hash = 0;
  if (n == 0 || n > ds->n)
    return tv_error(TV_ERR_INVALID, "subset of %u examples from a dataset of %u", (unsigned)n,
                    (unsigned)ds->n);
  uint32_t *out = malloc((size_t)n * sizeof *out);
  if (!out) return tv_error(TV_ERR_NOMEM, "out of memory for a subset of %u", (unsigned)n);
  if (!random || n == ds->n) {
    for (uint32_t i = 0; i < n; i++) out[i] = i;
  } else {
    /* Floyd's sampling: n draws, one mark per example, then a scan yields increasing order. */
    uint8_t *mark = calloc(ds->n, 1);
    if (!mark) {
      free(out);
      return tv_error(TV_ERR_NOMEM, "out of memory for a subset of %u", (unsigned)n);
    }
    tv_rng rng = tv_rng_seed(seed, TV_RNG_SUBSET);
    for (uint32_t j = ds->n - n; j < ds->n; j++) {
      uint32_t t = (uint32_t)tv_rng_below(&rng, (uint64_t)j + 1);
      mark[mark[t] ? j : t] = 1;
    }
    uint32_t k = 0;
    for (uint32_t i = 0; i < ds->n; i++)
      if (mark[i]) out[k++] = i;
    free(mark);
  }
  uint64_t h = 0xcbf29ce484222325ULL;
  h = fnv1a_u32(h, ds->n);
  h = fnv1a_u32(h, n);
  for (uint32_t i = 0; i < n; i++) h = fnv1a_u32(h, out[i]);
  *idx = out;
  *hash = h;
  return TV_OK;
}

/* ---- loader ------------------------------------------------------------------------------- */

/* Where an iteration stands: epoch, the next entry of perm, both generators.  The caller's cursor
 * (cons) is what get_state reports; a prefetching loader's thread runs a second one (prod) ahead
 * of it over the same code, and the caller replays each batch it takes on cons without touching
 * pixels (the order and the augmentation draws only: microseconds per batch, plus one reshuffle
 * per epoch), so cons is always exactly the synchronous loader's state. */
typedef struct cursor {
  uint64_t epoch, position;
  tv_rng shuffle, augment;
  uint32_t *perm;        /* m entries: this epoch's order, positions into the subset; NULL out of
                          * core with shuffle */
  tv_block_order *order; /* out of core with shuffle: the order over the source's rows */
} cursor;

/* Out of core: the rows the building cursor holds (prod with prefetch, else cons), touched only
 * by the thread that builds batches.  A block buffer of block rows (block `cur` of the source)
 * and, with shuffle, the shuffle buffer's slots; features and targets as tv_rows_read gives
 * them. */
typedef struct ooc_io {
  uint8_t *bx, *by;
  int64_t cur; /* -1: none */
  uint8_t *sx, *sy;
  uint64_t *pairs;             /* buffer slots: (row << 32 | slot) sorted, for a reload */
  const tv_block_order *order; /* the building cursor's order (shuffle), for read-ahead */
  int reload;                  /* load the slots from the order's slot table before the next step */
  int rc;                      /* the first read error (then the batches hold zeros) */
  char msg[512]; /* its message; written once, before the batch that carries it is handed out */
} ooc_io;

/* One batch buffer of the ring: rows x rows_cap examples. */
typedef struct slot {
  float *x;
  int32_t *y;        /* class ids, or NULL with float targets */
  float *t;          /* float targets (rows x target_dim), or NULL with class ids */
  uint32_t n, whole; /* this part's rows, of the global batch's whole */
  int done;
  int rc; /* out of core: a read error at or before this batch */
} slot;

/* One example's augmentation: the crop offset minus pad (in [-pad, pad]) and the flip. */
typedef struct aug_draw {
  int dy, dx, flip;
} aug_draw;

struct tv_loader {
  const tv_dataset *ds; /* borrowed */
  uint32_t *subset;     /* owned copy, NULL = identity */
  uint32_t m, batch_size;
  uint32_t part, parts; /* this loader's rows of each global batch (tv_dist_slice); parts >= 1 */
  int shuffle, drop_last;
  int c, h, w;
  size_t d, plane; /* bytes (and floats) per example and per channel */
  size_t tdim;     /* float targets per example; 0: class ids */
  int per_channel; /* lut has a row per channel; otherwise row 0 serves all */
  tv_augment aug;
  int augments;
  float lut[TV_NORM_MAX_CHANNELS][256]; /* normalised value of each pixel byte */
  float fscale, fmean[TV_NORM_MAX_CHANNELS], fstd[TV_NORM_MAX_CHANNELS]; /* float32 features */
  float *zmean, *zstd; /* per-feature standardisation (d each), or NULL */
  int float_x;         /* float32 features (else uint8 images) */
  /* out of core (ds->rows): data.h, OUT-OF-CORE DATA */
  tv_rows *src;                 /* borrowed from ds, NULL in memory */
  const uint32_t *rowmap;       /* ds->rowmap (borrowed) */
  uint8_t *selected;            /* shuffle with a rowmap: a bit per source row, set for examples */
  uint64_t nsrc, block, buffer; /* source rows, rows per block, shuffle slots (0: no shuffle) */
  size_t xbytes, ybytes;        /* per row: features, target */
  uint64_t seed;
  ooc_io io;
  int failed;  /* the caller has seen a batch with a read error */
  cursor cons; /* the caller's position */
  /* Batch buffers: prefetch + 1 slots (one lent by next_ptr), or 1 for a synchronous
   * next_ptr.  Ring: ready slots are head .. head+ready-1, the lent one (held) is head-1, the
   * producer fills head+ready. */
  slot *slots;
  float *slot_x;
  int32_t *slot_y;
  float *slot_t;
  uint32_t nslots;
  /* prefetch; mu guards everything below and the hand-over of slots and of prod */
  uint32_t prefetch;
  cursor prod; /* the thread's position; touched by set_state only while the thread is parked */
  pthread_t thread;
  int running;
  pthread_mutex_t mu;
  pthread_cond_t wake_producer, wake_consumer, producer_idle;
  uint32_t head, ready;
  int held;    /* a slot is with the caller (taken, not yet released) */
  int busy;    /* the thread is filling a slot outside the lock */
  int pausing; /* set_state is resetting: the thread must not start a batch */
  int quit;
};

static void draw_order(const tv_loader *l, cursor *c) {
  for (uint32_t i = 0; i < l->m; i++) c->perm[i] = i;
  if (l->shuffle) tv_rng_shuffle(&c->shuffle, c->perm, l->m);
}

static aug_draw draw_augment(const tv_loader *l, tv_rng *r) {
  aug_draw a = {0, 0, 0};
  if (l->aug.pad > 0) {
    uint64_t span = 2 * (uint64_t)l->aug.pad + 1;
    a.dy = (int)tv_rng_below(r, span) - l->aug.pad;
    a.dx = (int)tv_rng_below(r, span) - l->aug.pad;
  }
  if (l->aug.flip) a.flip = (int)(tv_rng_u64(r) >> 63);
  return a;
}

static void convert_plain(const tv_loader *l, const uint8_t *restrict src, float *restrict dst) {
  if (!l->per_channel) {
    const float *lut = l->lut[0];
    for (size_t j = 0; j < l->d; j++) dst[j] = lut[src[j]];
    return;
  }
  for (int ch = 0; ch < l->c; ch++) {
    const float *lut = l->lut[ch];
    size_t o = (size_t)ch * l->plane;
    for (size_t j = 0; j < l->plane; j++) dst[o + j] = lut[src[o + j]];
  }
}

/* float32 features: dst = (src * scale - mean) / std, channel by channel. */
static void convert_float(const tv_loader *l, const float *restrict src, float *restrict dst) {
  for (int ch = 0; ch < l->c; ch++) {
    int k = l->per_channel ? ch : 0;
    float scale = l->fscale, mean = l->fmean[k], std = l->fstd[k];
    size_t o = (size_t)ch * l->plane;
    for (size_t j = 0; j < l->plane; j++) dst[o + j] = (src[o + j] * scale - mean) / std;
  }
}

/* dst(ch, y, x) = src(ch, y + dy, (flip ? w-1-x : x) + dx), or byte 0 outside the image. */
static void convert_augmented(const tv_loader *l, const uint8_t *restrict src, float *restrict dst,
                              aug_draw a) {
  int h = l->h, w = l->w;
  /* Columns whose source lies inside: x + dx in [0, w), or w-1-x + dx in [0, w) when flipped. */
  int x0 = a.flip ? a.dx : -a.dx, x1 = a.flip ? w + a.dx : w - a.dx;
  x0 = x0 < 0 ? 0 : x0;
  x1 = x1 > w ? w : x1;
  int base = a.flip ? w - 1 + a.dx : a.dx, step = a.flip ? -1 : 1;
  for (int ch = 0; ch < l->c; ch++) {
    const float *lut = l->lut[l->per_channel ? ch : 0];
    float zero = lut[0];
    for (int y = 0; y < h; y++) {
      float *o = dst + ((size_t)ch * (size_t)h + (size_t)y) * (size_t)w;
      int sy = y + a.dy;
      if (sy < 0 || sy >= h) {
        for (int x = 0; x < w; x++) o[x] = zero;
        continue;
      }
      const uint8_t *row = src + ((size_t)ch * (size_t)h + (size_t)sy) * (size_t)w;
      for (int x = 0; x < x0; x++) o[x] = zero;
      for (int x = x0; x < x1; x++) o[x] = lut[row[base + step * x]];
      for (int x = x1 > x0 ? x1 : x0; x < w; x++) o[x] = zero;
    }
  }
}

/* ---- out of core: blocks and the shuffle buffer (data.h, OUT-OF-CORE DATA) ---- */

static void io_fail(tv_loader *l, int rc) {
  if (l->io.rc != TV_OK) return;
  snprintf(l->io.msg, sizeof l->io.msg, "%s", tv_error_message());
  l->io.rc = rc;
}

/* Makes block k of the source the one in the block buffer: one sequential read of its rows.  A
 * failed read leaves zeros (class 0) and records the error. */
static void io_block(tv_loader *l, uint64_t k) {
  ooc_io *io = &l->io;
  if (io->cur == (int64_t)k) return;
  uint64_t a = k * l->block, b = a + l->block < l->nsrc ? a + l->block : l->nsrc;
  int rc = tv_rows_read(l->src, a, b, io->bx, l->tdim ? NULL : (int32_t *)(void *)io->by,
                        l->tdim ? (float *)(void *)io->by : NULL);
  /* read-ahead: the block after this one (in the block order, or the next in the file) */
  uint64_t next = k + 1;
  for (uint64_t ahead = 0; io->order && ahead < 2; ahead++) {
    next = tv_block_order_peek_block(io->order, ahead);
    if (next != k) break;
  }
  if (next != UINT32_MAX && next * l->block < l->nsrc)
    tv_rows_will_need(l->src, next * l->block, (next + 1) * l->block);
  if (rc != TV_OK) {
    io_fail(l, rc);
    memset(io->bx, 0, (size_t)(b - a) * l->xbytes);
    memset(io->by, 0, (size_t)(b - a) * l->ybytes);
  }
  io->cur = (int64_t)k;
}

/* Features and target of source row r, from its block (read when it is not the one held). */
static void io_row(tv_loader *l, uint64_t r, const uint8_t **x, const uint8_t **y) {
  io_block(l, r / l->block);
  uint64_t i = r - (uint64_t)l->io.cur * l->block;
  *x = l->io.bx + i * l->xbytes;
  *y = l->io.by + i * l->ybytes;
}

/* Source row r into shuffle slot j. */
static void io_put(tv_loader *l, uint64_t r, uint32_t j) {
  const uint8_t *x, *y;
  io_row(l, r, &x, &y);
  memcpy(l->io.sx + (size_t)j * l->xbytes, x, l->xbytes);
  memcpy(l->io.sy + (size_t)j * l->ybytes, y, l->ybytes);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* After a seek: loads every row the order's buffer holds into its slot, block by block. */
static void io_reload(tv_loader *l, const tv_block_order *o) {
  const uint32_t *rows;
  uint32_t n, k = 0;
  tv_block_order_slots(o, &rows, &n);
  for (uint32_t j = 0; j < n; j++)
    if (rows[j] != UINT32_MAX) l->io.pairs[k++] = (uint64_t)rows[j] << 32 | j;
  qsort(l->io.pairs, k, sizeof *l->io.pairs, cmp_u64);
  for (uint32_t i = 0; i < k; i++)
    io_put(l, l->io.pairs[i] >> 32, (uint32_t)(l->io.pairs[i] & 0xffffffffu));
  l->io.reload = 0;
}

/* Whether source row r is one of the dataset's examples (the train walk skips the others). */
static int io_selected(const tv_loader *l, uint32_t r) {
  return !l->selected || (l->selected[r >> 3] >> (r & 7) & 1);
}

/* Example e's features and target: in memory, or its source row's out of core. */
static void row_at(tv_loader *l, uint32_t e, const uint8_t **x, const uint8_t **y) {
  if (l->src) {
    io_row(l, l->rowmap ? l->rowmap[e] : e, x, y);
    return;
  }
  const tv_dataset *ds = l->ds;
  *x = ds->features ? (const uint8_t *)(ds->features + (size_t)e * l->d)
                    : ds->images + (size_t)e * l->d;
  *y = ds->targets ? (const uint8_t *)(ds->targets + (size_t)e * l->tdim)
                   : (const uint8_t *)(ds->labels + e);
}

/* One example (features x, target y as the dataset holds them) into row i of the batch. */
static void emit_row(const tv_loader *l, const uint8_t *xs, const uint8_t *ys, aug_draw a,
                     uint32_t i, float *x, int32_t *y, float *t) {
  size_t d = l->d, td = l->tdim;
  float *row = x + (size_t)i * d;
  if (l->float_x)
    convert_float(l, (const float *)(const void *)xs, row);
  else if (l->augments)
    convert_augmented(l, xs, row, a);
  else
    convert_plain(l, xs, row);
  if (l->zmean)
    for (size_t j = 0; j < d; j++) row[j] = (row[j] - l->zmean[j]) / l->zstd[j];
  if (td)
    memcpy(t + (size_t)i * td, ys, td * sizeof *t);
  else
    memcpy(&y[i], ys, sizeof *y);
}

/* Ends the epoch at c: the next starts (reshuffled). */
static void next_epoch(const tv_loader *l, cursor *c);

/* Out of core with shuffle: the next global batch at c, k train rows of the block order (rows
 * that are not examples pass through the order and are skipped).  Builds rows [off, off+count)
 * into x, y, t unless x is NULL (a replay: the order and the draws only). */
static void ooc_shuffle_batch(tv_loader *l, cursor *c, uint32_t k, uint32_t off, uint32_t count,
                              float *x, int32_t *y, float *t) {
  int build = x != NULL;
  if (build) l->io.order = c->order;
  if (build && l->io.reload) io_reload(l, c->order);
  for (uint32_t i = 0; i < k;) {
    tv_block_step s;
    int edone;
    tv_block_order_next(c->order, &s, &edone);
    if (build)
      for (uint32_t f = 0; f < s.fill_n; f++) io_put(l, s.fill_row[f], f);
    if (io_selected(l, s.row)) {
      aug_draw a = {0, 0, 0};
      if (l->augments) a = draw_augment(l, &c->augment);
      if (build && i >= off && i < off + count)
        emit_row(l, l->io.sx + (size_t)s.slot * l->xbytes, l->io.sy + (size_t)s.slot * l->ybytes, a,
                 i - off, x, y, t);
      i++;
    }
    if (!build) continue;
    if (s.next_row != UINT32_MAX)
      io_put(l, s.next_row, s.slot);
    else if (s.move_from != UINT32_MAX) {
      memcpy(l->io.sx + (size_t)s.slot * l->xbytes, l->io.sx + (size_t)s.move_from * l->xbytes,
             l->xbytes);
      memcpy(l->io.sy + (size_t)s.slot * l->ybytes, l->io.sy + (size_t)s.move_from * l->ybytes,
             l->ybytes);
    }
  }
}

/* Takes the next global batch at cursor c: writes this part's rows of it to x and y unless they
 * are NULL (a replay, which moves c exactly as the real batch does), then advances c, starting
 * the next epoch at its end.  Returns this part's row count; *whole gets the global batch's, and
 * *done says whether it ended an epoch.  The augmentation draws are made for every row of the
 * global batch, so each row is augmented as it is without parts. */
static uint32_t cursor_batch(tv_loader *l, cursor *c, float *x, int32_t *y, float *t,
                             uint32_t *whole, int *done) {
  uint64_t left = l->m - c->position;
  uint32_t k = left < l->batch_size ? (uint32_t)left : l->batch_size;
  int off = 0, count = (int)k;
  if (l->parts > 1) tv_dist_slice((int)k, (int)l->parts, (int)l->part, &off, &count);
  if (c->order) {
    ooc_shuffle_batch(l, c, k, (uint32_t)off, (uint32_t)count, x, y, t);
  } else {
    const uint32_t *order = c->perm + c->position + off;
    for (uint32_t r = 0; l->augments && r < (uint32_t)off; r++) /* the rows of parts before */
      (void)draw_augment(l, &c->augment);
    for (uint32_t i = 0; i < (uint32_t)count; i++) {
      aug_draw a = {0, 0, 0};
      if (l->augments) a = draw_augment(l, &c->augment);
      if (!x) continue;
      const uint8_t *xs, *ys;
      row_at(l, l->subset ? l->subset[order[i]] : order[i], &xs, &ys);
      emit_row(l, xs, ys, a, i, x, y, t);
    }
    for (uint32_t r = (uint32_t)(off + count); l->augments && r < k; r++) /* the parts after */
      (void)draw_augment(l, &c->augment);
  }
  c->position += k;
  int end = l->drop_last ? l->m - c->position < l->batch_size : c->position == l->m;
  if (end) next_epoch(l, c);
  *done = end;
  *whole = k;
  return (uint32_t)count;
}

static void next_epoch(const tv_loader *l, cursor *c) {
  c->epoch++;
  c->position = 0;
  if (c->order) { /* position 0 is always in range: cannot fail */
    int rc = tv_block_order_seek(c->order, c->epoch, 0);
    assert(rc == TV_OK);
    (void)rc;
  } else {
    draw_order(l, c);
  }
}

static void copy_cursor(const tv_loader *l, cursor *dst, const cursor *src) {
  uint32_t *perm = dst->perm;
  tv_block_order *order = dst->order;
  *dst = *src;
  dst->perm = perm;
  dst->order = order;
  if (perm) memcpy(perm, src->perm, (size_t)l->m * sizeof *perm);
  if (order) { /* a position the source's order reached: in range, cannot fail */
    uint64_t e, p;
    tv_block_order_cursor(src->order, &e, &p);
    int rc = tv_block_order_seek(order, e, p);
    assert(rc == TV_OK);
    (void)rc;
  }
}

/* The prefetch thread: fills the ring while there is room, sleeps otherwise. */
static void *producer_main(void *arg) {
  tv_loader *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->quit && (l->pausing || l->ready >= l->prefetch))
      pthread_cond_wait(&l->wake_producer, &l->mu);
    if (l->quit) break;
    slot *s = &l->slots[(l->head + l->ready) % l->nslots];
    l->busy = 1;
    pthread_mutex_unlock(&l->mu);
    s->n = cursor_batch(l, &l->prod, s->x, s->y, s->t, &s->whole, &s->done);
    s->rc = l->io.rc;
    pthread_mutex_lock(&l->mu);
    l->busy = 0;
    if (l->pausing) {
      pthread_cond_signal(&l->producer_idle); /* the batch is dropped: set_state resets prod */
    } else {
      l->ready++;
      pthread_cond_signal(&l->wake_consumer);
    }
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

static int opts_check(const tv_dataset *ds, const tv_loader_opts *o, uint32_t m) {
  const tv_norm *nm = &o->norm;
  if (o->batch_size == 0) return tv_error(TV_ERR_INVALID, "loader: batch size 0");
  if (o->parts > o->batch_size || (o->parts > 1 && o->part >= o->parts))
    return tv_error(TV_ERR_INVALID, "loader: part %u of %u parts of a batch of %u",
                    (unsigned)o->part, (unsigned)o->parts, (unsigned)o->batch_size);
  int on_disk = ds->rows != NULL;
  if (m == 0 || !(on_disk || ds->images || ds->features) ||
      !(on_disk || ds->labels || ds->targets) || ds->c <= 0 || ds->h <= 0 || ds->w <= 0)
    return tv_error(TV_ERR_INVALID, "loader: no examples to iterate over");
  if (!tv_dataset_has_labels(ds) && ds->target_dim < 1)
    return tv_error(TV_ERR_INVALID, "loader: float targets with %d values per example",
                    ds->target_dim);
  if (on_disk && o->shuffle && o->subset)
    return tv_error(TV_ERR_INVALID, "loader: a shuffled subset of data on disk (out of core)");
  if (tv_dataset_feature_size(ds) == 4 && (o->augment.flip || o->augment.pad > 0))
    return tv_error(
        TV_ERR_INVALID,
        "loader: augmentation (flip, pad) needs uint8 images, the examples are float32");
  if (!isfinite(nm->scale))
    return tv_error(TV_ERR_INVALID, "loader: normalisation scale %g is not finite",
                    (double)nm->scale);
  if (nm->channels == 0) {
    if (!(isfinite(nm->mean) && isfinite(nm->std) && nm->std > 0.0f))
      return tv_error(TV_ERR_INVALID,
                      "loader: normalisation scale %g mean %g std %g: std must be > 0",
                      (double)nm->scale, (double)nm->mean, (double)nm->std);
  } else {
    if (nm->channels < 0 || nm->channels > TV_NORM_MAX_CHANNELS || nm->channels != ds->c)
      return tv_error(TV_ERR_INVALID,
                      "loader: normalisation for %d channels, the examples have %d (at most %d "
                      "per-channel values)",
                      nm->channels, ds->c, TV_NORM_MAX_CHANNELS);
    for (int k = 0; k < nm->channels; k++) {
      if (!(isfinite(nm->channel_mean[k]) && isfinite(nm->channel_std[k]) &&
            nm->channel_std[k] > 0.0f))
        return tv_error(TV_ERR_INVALID,
                        "loader: normalisation of channel %d: mean %g std %g: std must be > 0", k,
                        (double)nm->channel_mean[k], (double)nm->channel_std[k]);
    }
  }
  if (!nm->feature_mean != !nm->feature_std)
    return tv_error(TV_ERR_INVALID, "loader: standardisation needs both means and stds");
  for (size_t j = 0; nm->feature_std && j < example_values(ds); j++)
    if (!(isfinite(nm->feature_mean[j]) && isfinite(nm->feature_std[j]) && nm->feature_std[j] > 0))
      return tv_error(TV_ERR_INVALID, "loader: standardisation of feature %zu: mean %g std %g", j,
                      (double)nm->feature_mean[j], (double)nm->feature_std[j]);
  int side = ds->h < ds->w ? ds->h : ds->w;
  if (o->augment.pad < 0 || o->augment.pad > side)
    return tv_error(TV_ERR_INVALID, "loader: augmentation padding %d is not in [0, %d]",
                    o->augment.pad, side);
  if (o->prefetch > TV_LOADER_MAX_PREFETCH)
    return tv_error(TV_ERR_INVALID, "loader: prefetch %u is over the limit of %d batches",
                    (unsigned)o->prefetch, TV_LOADER_MAX_PREFETCH);
  if (o->drop_last && m < o->batch_size)
    return tv_error(TV_ERR_INVALID,
                    "loader: batch size %u exceeds the %u examples and drop_last leaves no batch",
                    (unsigned)o->batch_size, (unsigned)m);
  if (o->subset) {
    for (uint32_t i = 0; i < m; i++) {
      if (o->subset[i] >= ds->n)
        return tv_error(TV_ERR_INVALID, "loader: subset index %u out of range (%u examples)",
                        (unsigned)o->subset[i], (unsigned)ds->n);
    }
  }
  return TV_OK;
}

/* Starts the thread with every signal blocked, so that signals reach the caller's threads. */
static int start_producer(tv_loader *l) {
  int e = pthread_mutex_init(&l->mu, NULL);
  if (e != 0) return tv_error_errno(TV_ERR_NOMEM, e, "loader: pthread_mutex_init");
  e = pthread_cond_init(&l->wake_producer, NULL);
  if (e == 0 && (e = pthread_cond_init(&l->wake_consumer, NULL)) != 0)
    pthread_cond_destroy(&l->wake_producer);
  if (e == 0 && (e = pthread_cond_init(&l->producer_idle, NULL)) != 0) {
    pthread_cond_destroy(&l->wake_producer);
    pthread_cond_destroy(&l->wake_consumer);
  }
  if (e != 0) {
    pthread_mutex_destroy(&l->mu);
    return tv_error_errno(TV_ERR_NOMEM, e, "loader: pthread_cond_init");
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  e = pthread_create(&l->thread, NULL, producer_main, l);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    pthread_cond_destroy(&l->wake_producer);
    pthread_cond_destroy(&l->wake_consumer);
    pthread_cond_destroy(&l->producer_idle);
    pthread_mutex_destroy(&l->mu);
    return tv_error_errno(TV_ERR_NOMEM, e, "loader: cannot start the prefetch thread");
  }
  l->running = 1;
  return TV_OK;
}

enum {
  OOC_BLOCK_MAX = 8 << 20, /* bytes of a block at most (one chunk when chunks are larger) */
  /* bytes a shuffle slot costs beside its row: its entry in the reload list (8) and in the two
   * orders' slot and fill tables (4 + 4 each) */
  OOC_SLOT_INDEX = 8 + 2 * 8,
};

/* Out of core: the block (whole chunks, about an eighth of the budget, at most OOC_BLOCK_MAX
 * bytes), the shuffle buffer (what the budget leaves beside the block and the reader's
 * conversion buffer), their memory and the orders (data.h, tv_loader_new). */
static int ooc_setup(tv_loader *l, const tv_dataset *ds, const tv_loader_opts *o) {
  tv_rows *src = ds->rows;
  l->src = src;
  l->rowmap = ds->rowmap;
  l->nsrc = tv_rows_count(src);
  l->xbytes = l->d * tv_rows_feature_size(src);
  l->ybytes = (l->tdim ? l->tdim : 1) * 4;
  l->seed = o->seed;
  l->io.cur = -1;
  size_t row = l->xbytes + l->ybytes;
  uint64_t budget = tv_rows_budget(src), chunk = tv_rows_chunk(src);
  uint64_t want = budget / 8 < OOC_BLOCK_MAX ? budget / 8 : OOC_BLOCK_MAX;
  uint64_t unit = chunk ? chunk : 1, units = want / (unit * row);
  l->block = unit * (units ? units : 1);
  if (l->block > l->nsrc) l->block = l->nsrc;
  uint64_t used = l->block * row + tv_rows_work_bytes(src) + tv_rows_cache_bytes(src);
  if (o->shuffle) {
    /* Everything else the data holds comes out of the budget before the slots (data.h,
     * tv_loader_new), as a function of the file, the budget and the split alone: the order must
     * not depend on prefetch, parts or the batch size. */
    uint64_t nb = (l->nsrc + l->block - 1) / l->block;
    used += 2 * 4 * nb; /* two orders' block ids (the caller's and the prefetch thread's) */
    if (ds->rowmap)     /* a split: the bitmap, both shares' row maps, one validation pass */
      used += l->nsrc / 8 + 1 + 4 * l->nsrc + l->block * row + 12 * (l->nsrc - ds->n);
    l->buffer = budget > used ? (budget - used) / (row + OOC_SLOT_INDEX) : 0;
    if (l->buffer == 0)
      return tv_error(TV_ERR_INVALID,
                      "data.memory_mb: %.2f MiB leave no room for a shuffle buffer beside a "
                      "block of %llu rows (%.2f MiB with the reader's buffer); give it more",
                      (double)budget / (1 << 20), (unsigned long long)l->block,
                      (double)used / (1 << 20));
    if (l->buffer > l->nsrc) l->buffer = l->nsrc;
  }
  l->io.bx = malloc(l->block * l->xbytes);
  l->io.by = malloc(l->block * l->ybytes);
  if (l->buffer) {
    l->io.sx = malloc(l->buffer * l->xbytes);
    l->io.sy = malloc(l->buffer * l->ybytes);
    l->io.pairs = malloc(l->buffer * sizeof *l->io.pairs);
  }
  if (l->buffer && l->rowmap) {
    l->selected = calloc((size_t)(l->nsrc / 8 + 1), 1);
    for (uint32_t i = 0; l->selected && i < ds->n; i++)
      l->selected[l->rowmap[i] >> 3] |= (uint8_t)(1u << (l->rowmap[i] & 7));
  }
  if (!l->io.bx || !l->io.by || (l->buffer && (!l->io.sx || !l->io.sy || !l->io.pairs)) ||
      (l->buffer && l->rowmap && !l->selected))
    return tv_error(TV_ERR_NOMEM, "loader: out of memory for a block of %llu rows",
                    (unsigned long long)l->block);
  int rc = TV_OK;
  if (o->shuffle) rc = tv_block_order_new(l->nsrc, l->block, l->buffer, o->seed, &l->cons.order);
  if (rc == TV_OK && o->shuffle && o->prefetch)
    rc = tv_block_order_new(l->nsrc, l->block, l->buffer, o->seed, &l->prod.order);
  return rc;
}

int tv_loader_new(const tv_dataset *ds, const tv_loader_opts *o, tv_loader **out) {
  *out = NULL;
  uint32_t m = o->subset ? o->subset_n : ds->n;
  int rc = opts_check(ds, o, m);
  if (rc != TV_OK) return rc;
  size_t d = example_values(ds);
  uint32_t rows = o->batch_size < m ? o->batch_size : m;
  if (o->parts > 1) rows = (rows + o->parts - 1) / o->parts; /* the largest part of any batch */
  uint32_t nslots = o->prefetch + 1;
  if ((size_t)rows * nslots > SIZE_MAX / sizeof(float) / d)
    return tv_error(TV_ERR_NOMEM, "loader: %u batch buffers of %u x %zu floats do not fit",
                    (unsigned)nslots, (unsigned)rows, d);
  tv_loader *l = calloc(1, sizeof *l);
  if (!l) return tv_error(TV_ERR_NOMEM, "loader: out of memory");
  size_t tdim = tv_dataset_has_labels(ds) ? 0 : (size_t)ds->target_dim;
  l->tdim = tdim;
  l->d = d;
  l->m = m;
  int ooc_shuffle = ds->rows && o->shuffle;
  if (ds->rows) {
    rc = ooc_setup(l, ds, o);
    if (rc != TV_OK) {
      tv_loader_free(l);
      return rc;
    }
  }
  if (!ooc_shuffle) {
    l->cons.perm = malloc((size_t)m * sizeof *l->cons.perm);
    if (o->prefetch) l->prod.perm = malloc((size_t)m * sizeof *l->prod.perm);
  }
  if (o->subset) l->subset = malloc((size_t)m * sizeof *l->subset);
  l->slots = calloc(nslots, sizeof *l->slots);
  l->slot_x = malloc((size_t)rows * nslots * d * sizeof *l->slot_x);
  if (tdim)
    l->slot_t = malloc((size_t)rows * nslots * tdim * sizeof *l->slot_t);
  else
    l->slot_y = malloc((size_t)rows * nslots * sizeof *l->slot_y);
  if ((!ooc_shuffle && (!l->cons.perm || (o->prefetch && !l->prod.perm))) ||
      (o->subset && !l->subset) || !l->slots || !l->slot_x ||
      !(tdim ? (void *)l->slot_t : (void *)l->slot_y)) {
    tv_loader_free(l);
    return tv_error(TV_ERR_NOMEM, "loader: out of memory for %u indices and %u batch buffers",
                    (unsigned)m, (unsigned)nslots);
  }
  for (uint32_t i = 0; i < nslots; i++) {
    l->slots[i].x = l->slot_x + (size_t)i * rows * d;
    if (tdim)
      l->slots[i].t = l->slot_t + (size_t)i * rows * tdim;
    else
      l->slots[i].y = l->slot_y + (size_t)i * rows;
  }
  l->tdim = tdim;
  l->nslots = nslots;
  if (o->subset) memcpy(l->subset, o->subset, (size_t)m * sizeof *l->subset);
  l->ds = ds;
  l->m = m;
  l->batch_size = o->batch_size;
  l->parts = o->parts > 1 ? o->parts : 1;
  l->part = l->parts > 1 ? o->part : 0;
  l->shuffle = o->shuffle != 0;
  l->drop_last = o->drop_last != 0;
  l->float_x = tv_dataset_feature_size(ds) == 4;
  l->c = ds->c;
  l->h = ds->h;
  l->w = ds->w;
  l->d = d;
  l->plane = (size_t)ds->h * (size_t)ds->w;
  l->aug = (tv_augment){.flip = o->augment.flip != 0, .pad = o->augment.pad};
  l->augments = l->aug.flip || l->aug.pad > 0;
  const tv_norm *nm = &o->norm;
  l->per_channel = nm->channels > 0;
  for (int k = 0; k < (l->per_channel ? nm->channels : 1); k++) {
    float mean = l->per_channel ? nm->channel_mean[k] : nm->mean;
    float std = l->per_channel ? nm->channel_std[k] : nm->std;
    for (int v = 0; v < 256; v++) l->lut[k][v] = ((float)v * nm->scale - mean) / std;
    l->fmean[k] = mean;
    l->fstd[k] = std;
  }
  l->fscale = nm->scale;
  if (nm->feature_mean) {
    l->zmean = malloc(d * sizeof *l->zmean);
    l->zstd = malloc(d * sizeof *l->zstd);
    if (!l->zmean || !l->zstd) {
      tv_loader_free(l);
      return tv_error(TV_ERR_NOMEM, "loader: out of memory");
    }
    memcpy(l->zmean, nm->feature_mean, d * sizeof *l->zmean);
    memcpy(l->zstd, nm->feature_std, d * sizeof *l->zstd);
  }
  l->cons.shuffle = tv_rng_seed(o->seed, TV_RNG_SHUFFLE);
  l->cons.augment = tv_rng_seed(o->seed, TV_RNG_AUGMENT);
  if (!ooc_shuffle) draw_order(l, &l->cons);
  l->prefetch = o->prefetch;
  if (l->prefetch) {
    copy_cursor(l, &l->prod, &l->cons);
    rc = start_producer(l);
    if (rc != TV_OK) {
      tv_loader_free(l);
      return rc;
    }
  }
  *out = l;
  return TV_OK;
}

/* Prefetch: waits for the next ready slot and lends it to the caller (held), replaying the batch
 * on the caller's cursor.  A slot lent before is released first. */
static const slot *take_slot(tv_loader *l) {
  pthread_mutex_lock(&l->mu);
  if (l->held) {
    l->held = 0;
    pthread_cond_signal(&l->wake_producer);
  }
  while (l->ready == 0) pthread_cond_wait(&l->wake_consumer, &l->mu);
  const slot *s = &l->slots[l->head];
  l->head = (l->head + 1) % l->nslots;
  l->ready--;
  l->held = 1;
  pthread_mutex_unlock(&l->mu);
  int done;
  uint32_t whole, k = cursor_batch(l, &l->cons, NULL, NULL, NULL, &whole, &done);
  assert(k == s->n && whole == s->whole && done == s->done);
  (void)k;
  if (s->rc != TV_OK) l->failed = s->rc;
  return s;
}

/* Without prefetch: the next batch built in the loader's own slot. */
static const slot *build_own(tv_loader *l) {
  slot *own = &l->slots[0];
  own->n = cursor_batch(l, &l->cons, own->x, own->y, own->t, &own->whole, &own->done);
  if (l->io.rc != TV_OK) l->failed = l->io.rc;
  return own;
}

void tv_loader_next(tv_loader *l, float *x, int32_t *y, uint32_t *n, int *epoch_done) {
  if (!l->prefetch) {
    if (l->tdim) {
      /* Float targets go only through tv_loader_next_batch: build in the own slot, copy x. */
      const slot *own = build_own(l);
      memcpy(x, own->x, (size_t)own->n * l->d * sizeof *x);
      *n = own->n;
      *epoch_done = own->done;
      return;
    }
    uint32_t whole;
    *n = cursor_batch(l, &l->cons, x, y, NULL, &whole, epoch_done);
    if (l->io.rc != TV_OK) l->failed = l->io.rc;
    return;
  }
  const slot *s = take_slot(l);
  memcpy(x, s->x, (size_t)s->n * l->d * sizeof *x);
  if (s->y) memcpy(y, s->y, (size_t)s->n * sizeof *y);
  *n = s->n;
  *epoch_done = s->done;
  pthread_mutex_lock(&l->mu);
  l->held = 0;
  pthread_cond_signal(&l->wake_producer);
  pthread_mutex_unlock(&l->mu);
}

void tv_loader_next_ptr(tv_loader *l, const float **x, const int32_t **y, uint32_t *n,
                        int *epoch_done) {
  tv_batch b;
  tv_loader_next_batch(l, &b);
  *x = b.x;
  *y = b.labels;
  *n = b.n;
  *epoch_done = b.epoch_done;
}

void tv_loader_next_batch(tv_loader *l, tv_batch *b) {
  const slot *s = l->prefetch ? take_slot(l) : build_own(l);
  *b = (tv_batch){.x = s->x,
                  .labels = s->y,
                  .targets = s->t,
                  .n = s->n,
                  .epoch_done = s->done,
                  .whole = s->whole};
}

int tv_loader_target_dim(const tv_loader *l) { return (int)l->tdim; }

int tv_loader_status(const tv_loader *l) {
  return l->failed == TV_OK ? TV_OK : tv_error(l->failed, "%s", l->io.msg);
}

uint32_t tv_loader_batches_per_epoch(const tv_loader *l) {
  return l->drop_last ? l->m / l->batch_size : (l->m + l->batch_size - 1) / l->batch_size;
}

void tv_loader_get_state(const tv_loader *l, tv_loader_state *st, const uint32_t **perm,
                         uint32_t *perm_n) {
  st->epoch = l->cons.epoch;
  st->position = l->cons.position;
  st->rng = l->cons.shuffle;
  st->augment = l->cons.augment;
  st->order_position = 0;
  *perm = l->cons.perm;
  *perm_n = l->cons.order ? 0 : l->m;
  if (l->cons.order) {
    uint64_t e;
    tv_block_order_cursor(l->cons.order, &e, &st->order_position);
  }
}

/* Parks the prefetch thread after the batch it is on (set_state), with the lock held. */
static void park_producer(tv_loader *l) {
  if (!l->prefetch) return;
  pthread_mutex_lock(&l->mu);
  l->pausing = 1;
  while (l->busy) pthread_cond_wait(&l->producer_idle, &l->mu);
}

/* Restarts it from the caller's cursor, its ring emptied, and releases the lock. */
static void restart_producer(tv_loader *l) {
  if (!l->prefetch) return;
  copy_cursor(l, &l->prod, &l->cons);
  l->head = 0;
  l->ready = 0;
  l->held = 0;
  l->pausing = 0;
  pthread_cond_signal(&l->wake_producer);
  pthread_mutex_unlock(&l->mu);
}

/* set_state out of core with shuffle: the order is seeked to st's place in it (the rows of its
 * buffer are read again before the next batch). */
static int ooc_set_state(tv_loader *l, const tv_loader_state *st) {
  if (st->order_position < st->position || st->order_position >= l->nsrc)
    return tv_error(TV_ERR_MISMATCH,
                    "loader state: %llu examples into an epoch but %llu rows into an order of "
                    "%llu rows",
                    (unsigned long long)st->position, (unsigned long long)st->order_position,
                    (unsigned long long)l->nsrc);
  int rc = tv_block_order_seek(l->cons.order, st->epoch, st->order_position);
  if (rc != TV_OK) return rc;
  park_producer(l);
  l->cons.epoch = st->epoch;
  l->cons.position = st->position;
  l->cons.shuffle = st->rng;
  if (l->augments) l->cons.augment = st->augment;
  l->io.reload = 1;
  restart_producer(l);
  return TV_OK;
}

int tv_loader_set_state(tv_loader *l, const tv_loader_state *st, const uint32_t *perm,
                        uint32_t perm_n) {
  if (perm_n != (l->cons.order ? 0 : l->m))
    return tv_error(TV_ERR_MISMATCH, "loader state: order of %u examples, the loader has %u",
                    (unsigned)perm_n, (unsigned)(l->cons.order ? 0 : l->m));
  int fits = l->drop_last ? st->position <= (uint64_t)(l->m - l->batch_size) : st->position < l->m;
  if (!fits)
    return tv_error(TV_ERR_MISMATCH,
                    "loader state: position %llu leaves no batch in an epoch of %u examples",
                    (unsigned long long)st->position, (unsigned)l->m);
  const uint64_t *g = st->augment.s;
  if (l->augments && (g[0] | g[1] | g[2] | g[3]) == 0)
    return tv_error(TV_ERR_MISMATCH, "loader state: the augmentation generator is missing (all "
                                     "zero), so augmented batches cannot be resumed exactly");
  if (l->cons.order) return ooc_set_state(l, st);
  uint8_t *seen = calloc(l->m, 1);
  if (!seen) return tv_error(TV_ERR_NOMEM, "loader state: out of memory");
  int rc = TV_OK;
  for (uint32_t i = 0; i < perm_n; i++) {
    if (perm[i] >= l->m || seen[perm[i]]) {
      rc = tv_error(TV_ERR_MISMATCH, "loader state: order is not a permutation (entry %u is %u)",
                    (unsigned)i, (unsigned)perm[i]);
      break;
    }
    seen[perm[i]] = 1;
  }
  free(seen);
  if (rc != TV_OK) return rc;
  /* Park the thread after its current batch, then restart it from the restored state. */
  park_producer(l);
  memcpy(l->cons.perm, perm, (size_t)perm_n * sizeof *perm);
  l->cons.epoch = st->epoch;
  l->cons.position = st->position;
  l->cons.shuffle = st->rng;
  if (l->augments) l->cons.augment = st->augment;
  restart_producer(l);
  return TV_OK;
}

/* ---- checkpoint state ---------------------------------------------------------------------- */

enum {
  CURSOR_WORDS = 6, /* epoch, position, the shuffle generator's four words */
  ORDER_WORDS = 5,  /* out of core: source rows, block rows, buffer slots, seed, order position */
};

int tv_loader_ckpt_write(const tv_loader *l, tv_ckpt_writer *w) {
  const cursor *c = &l->cons;
  uint64_t words[CURSOR_WORDS] = {c->epoch, c->position};
  memcpy(&words[2], c->shuffle.s, sizeof c->shuffle.s);
  uint64_t order[ORDER_WORDS] = {l->nsrc, l->block, l->buffer, l->seed, 0};
  if (c->order) {
    uint64_t e;
    tv_block_order_cursor(c->order, &e, &order[4]);
  }
  const tv_ckpt_array parts[] = {
      {.path = "/state/loader/cursor", .dtype = TV_CKPT_U64, .count = CURSOR_WORDS, .data = words},
      {.path = "/state/loader/augment_rng", .dtype = TV_CKPT_U64, .count = 4, .data = c->augment.s},
      c->order ? (tv_ckpt_array){.path = "/state/loader/block_order",
                                 .dtype = TV_CKPT_U64,
                                 .count = ORDER_WORDS,
                                 .data = order}
               : (tv_ckpt_array){.path = "/state/loader/perm",
                                 .dtype = TV_CKPT_U32,
                                 .count = l->m,
                                 .data = c->perm},
  };
  int rc = TV_OK;
  for (size_t i = 0; rc == TV_OK && i < sizeof parts / sizeof parts[0]; i++)
    rc = tv_ckpt_writer_array(w, &parts[i]);
  return rc;
}

/* The shuffle slots the version before the budget counted everything gave a loader: what the
 * budget left beside the block and the reader's conversion buffer, at most the source's rows. */
static uint64_t ooc_slots_before(const tv_loader *l) {
  uint64_t row = l->xbytes + l->ybytes, budget = tv_rows_budget(l->src);
  uint64_t used = l->block * row + tv_rows_work_bytes(l->src);
  uint64_t n = budget > used ? (budget - used) / row : 0;
  return n < l->nsrc ? n : l->nsrc;
}

/* Gives the shuffle buffer `slots` slots: new slot buffers and orders (at the start of epoch 0;
 * the caller seeks them), the prefetch thread parked meanwhile.  On failure l is unchanged. */
static int ooc_resize(tv_loader *l, uint64_t slots) {
  uint8_t *sx = malloc(slots * l->xbytes), *sy = malloc(slots * l->ybytes);
  uint64_t *pairs = malloc(slots * sizeof *pairs);
  tv_block_order *co = NULL, *po = NULL;
  int rc = sx && sy && pairs
               ? TV_OK
               : tv_error(TV_ERR_NOMEM, "loader: out of memory for %llu shuffle slots",
                          (unsigned long long)slots);
  if (rc == TV_OK) rc = tv_block_order_new(l->nsrc, l->block, slots, l->seed, &co);
  if (rc == TV_OK && l->prod.order) rc = tv_block_order_new(l->nsrc, l->block, slots, l->seed, &po);
  if (rc != TV_OK) {
    free(sx);
    free(sy);
    free(pairs);
    tv_block_order_free(co);
    return rc;
  }
  park_producer(l);
  free(l->io.sx);
  free(l->io.sy);
  free(l->io.pairs);
  l->io.sx = sx, l->io.sy = sy, l->io.pairs = pairs;
  tv_block_order_free(l->cons.order);
  l->cons.order = co;
  if (po) {
    tv_block_order_free(l->prod.order);
    l->prod.order = po;
  }
  l->buffer = slots;
  l->io.reload = 1;
  restart_producer(l);
  return TV_OK;
}

/* Out of core: /state/loader/block_order into st, checked against this loader's order.  An order
 * written by the version before the budget counted everything (its slots ooc_slots_before) is
 * taken as it is: the run resumes exactly, its shuffle buffer as large as it was then. */
static int ooc_ckpt_read(tv_loader *l, tv_ckpt *c, tv_loader_state *st) {
  uint64_t w[ORDER_WORDS];
  int rc = tv_ckpt_read_array(c, "/state/loader/block_order", TV_CKPT_U64, ORDER_WORDS, w);
  if (rc == TV_ERR_NOT_FOUND)
    return tv_error(TV_ERR_MISMATCH,
                    "%s: the loader state is an in-memory order, but this run reads the data out "
                    "of core (data.memory_mb): resume with the data.memory_mb it was written with",
                    tv_ckpt_path(c));
  if (rc != TV_OK) return rc;
  if (w[0] == l->nsrc && w[1] == l->block && w[3] == l->seed && w[2] != l->buffer &&
      w[2] == ooc_slots_before(l) && (rc = ooc_resize(l, w[2])) != TV_OK)
    return rc;
  if (w[0] != l->nsrc || w[1] != l->block || w[2] != l->buffer || w[3] != l->seed)
    return tv_error(TV_ERR_MISMATCH,
                    "%s: the out-of-core order of %llu rows in blocks of %llu with %llu buffer "
                    "slots and seed %llu; this run's is of %llu rows, blocks of %llu, %llu slots, "
                    "seed %llu (resume with the same data, data.memory_mb and train.seed)",
                    tv_ckpt_path(c), (unsigned long long)w[0], (unsigned long long)w[1],
                    (unsigned long long)w[2], (unsigned long long)w[3], (unsigned long long)l->nsrc,
                    (unsigned long long)l->block, (unsigned long long)l->buffer,
                    (unsigned long long)l->seed);
  st->order_position = w[4];
  return TV_OK;
}

int tv_loader_ckpt_read(tv_loader *l, tv_ckpt *c) {
  uint64_t words[CURSOR_WORDS];
  tv_loader_state st = {0};
  uint32_t *perm = l->cons.order ? NULL : malloc((size_t)l->m * sizeof *perm);
  if (!l->cons.order && !perm) return tv_error(TV_ERR_NOMEM, "loader state: out of memory");
  int rc = tv_ckpt_read_array(c, "/state/loader/cursor", TV_CKPT_U64, CURSOR_WORDS, words);
  if (rc != TV_OK) goto out;
  if (l->cons.order)
    rc = ooc_ckpt_read(l, c, &st);
  else
    rc = tv_ckpt_read_array(c, "/state/loader/perm", TV_CKPT_U32, l->m, perm);
  if (rc == TV_ERR_NOT_FOUND && !l->cons.order) {
    char why[512];
    snprintf(why, sizeof why, "%s", tv_error_message());
    uint64_t w[ORDER_WORDS];
    if (tv_ckpt_read_array(c, "/state/loader/block_order", TV_CKPT_U64, ORDER_WORDS, w) == TV_OK)
      rc = tv_error(TV_ERR_MISMATCH,
                    "%s: the loader state is an out-of-core order (data.memory_mb), but this run "
                    "holds the data in memory: resume with the data.memory_mb it was written with",
                    tv_ckpt_path(c));
    else
      rc = tv_error(TV_ERR_NOT_FOUND, "%s", why);
  }
  if (rc != TV_OK) goto out;
  rc = tv_ckpt_read_array(c, "/state/loader/augment_rng", TV_CKPT_U64, 4, st.augment.s);
  if (rc == TV_ERR_NOT_FOUND) {
    memset(st.augment.s, 0, sizeof st.augment.s);
    rc = TV_OK;
  }
  if (rc != TV_OK) goto out;
  st.epoch = words[0];
  st.position = words[1];
  memcpy(st.rng.s, &words[2], sizeof st.rng.s);
  rc = tv_loader_set_state(l, &st, perm, l->cons.order ? 0 : l->m);
  if (rc != TV_OK) rc = tv_error_prefix(rc, "%s", tv_ckpt_path(c));
out:
  free(perm);
  return rc;
}

void tv_loader_free(tv_loader *l) {
  if (!l) return;
  if (l->running) {
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    pthread_cond_signal(&l->wake_producer);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_cond_destroy(&l->wake_producer);
    pthread_cond_destroy(&l->wake_consumer);
    pthread_cond_destroy(&l->producer_idle);
    pthread_mutex_destroy(&l->mu);
  }
  free(l->subset);
  free(l->cons.perm);
  free(l->prod.perm);
  tv_block_order_free(l->cons.order);
  tv_block_order_free(l->prod.order);
  free(l->io.bx);
  free(l->io.by);
  free(l->io.sx);
  free(l->io.sy);
  free(l->io.pairs);
  free(l->selected);
  free(l->slots);
  free(l->slot_x);
  free(l->slot_y);
  free(l->slot_t);
  free(l->zmean);
  free(l->zstd);
  free(l);
}

/* ---- standardisation ------------------------------------------------------------------------ */

void tv_standardize_free(tv_standardize *s) {
  if (!s) return;
  free(s->mean);
  free(s->std);
  memset(s, 0, sizeof *s);
}

tv_norm tv_norm_with_standardize(tv_norm norm, const tv_standardize *s) {
  norm.feature_mean = s->mean;
  norm.feature_std = s->std;
  return norm;
}

static int standardize_alloc(int d, tv_standardize *out) {
  out->d = d;
  out->mean = malloc((size_t)d * sizeof *out->mean);
  out->std = malloc((size_t)d * sizeof *out->std);
  if (out->mean && out->std) return TV_OK;
  tv_standardize_free(out);
  return tv_error(TV_ERR_NOMEM, "standardisation: out of memory for %d features", d);
}

int tv_standardize_fit(const tv_dataset *ds, tv_norm norm, tv_standardize *out) {
  memset(out, 0, sizeof *out);
  norm.feature_mean = norm.feature_std = NULL;
  size_t d = example_values(ds);
  if (ds->n == 0 || d == 0 || d > INT_MAX)
    return tv_error(TV_ERR_INVALID, "standardisation: no examples to fit on");
  /* The loader normalises: one synchronous pass over the data in its order. */
  tv_loader_opts o = {.batch_size = ds->n < 256 ? ds->n : 256, .norm = norm};
  tv_loader *l = NULL;
  double *sum = calloc(2 * d, sizeof *sum);
  int rc =
      sum ? tv_loader_new(ds, &o, &l) : tv_error(TV_ERR_NOMEM, "standardisation: out of memory");
  if (rc == TV_OK) rc = standardize_alloc((int)d, out);
  double *mean = sum, *m2 = sum ? sum + d : NULL;
  uint64_t k = 0;
  for (int done = 0; rc == TV_OK && !done;) {
    tv_batch b;
    tv_loader_next_batch(l, &b);
    done = b.epoch_done;
    if ((rc = tv_loader_status(l)) != TV_OK) break; /* out of core: a failed read */
    for (uint32_t i = 0; i < b.n; i++) {            /* Welford, per feature */
      k++;
      const float *row = b.x + (size_t)i * d;
      for (size_t j = 0; j < d; j++) {
        double v = row[j], delta = v - mean[j];
        mean[j] += delta / (double)k;
        m2[j] += delta * (v - mean[j]);
      }
    }
  }
  for (size_t j = 0; rc == TV_OK && j < d; j++) {
    double sd = sqrt(m2[j] / (double)k);
    out->mean[j] = (float)mean[j];
    out->std[j] = sd > 0 && isfinite(sd) && (float)sd > 0 ? (float)sd : 1.0f;
  }
  if (rc != TV_OK) tv_standardize_free(out);
  tv_loader_free(l);
  free(sum);
  return rc;
}

int tv_standardize_ckpt_write(const tv_standardize *s, tv_ckpt_writer *w) {
  const tv_ckpt_array parts[] = {
      {.path = "/data/standardize/mean",
       .dtype = TV_CKPT_F32,
       .count = (size_t)s->d,
       .data = s->mean},
      {.path = "/data/standardize/std",
       .dtype = TV_CKPT_F32,
       .count = (size_t)s->d,
       .data = s->std},
  };
  int rc = TV_OK;
  for (size_t i = 0; rc == TV_OK && i < sizeof parts / sizeof parts[0]; i++)
    rc = tv_ckpt_writer_array(w, &parts[i]);
  return rc;
}

int tv_standardize_ckpt_read(tv_ckpt *c, int d, tv_standardize *out) {
  memset(out, 0, sizeof *out);
  int rc = standardize_alloc(d, out);
  if (rc == TV_OK)
    rc = tv_ckpt_read_array(c, "/data/standardize/mean", TV_CKPT_F32, (size_t)d, out->mean);
  if (rc == TV_OK)
    rc = tv_ckpt_read_array(c, "/data/standardize/std", TV_CKPT_F32, (size_t)d, out->std);
  for (int j = 0; rc == TV_OK && j < d; j++)
    if (!(isfinite(out->mean[j]) && isfinite(out->std[j]) && out->std[j] > 0))
      rc = tv_error(TV_ERR_FORMAT, "%s: /data/standardize: feature %d has mean %g std %g",
                    tv_ckpt_path(c), j, (double)out->mean[j], (double)out->std[j]);
  if (rc != TV_OK) tv_standardize_free(out);
  return rc;
}
