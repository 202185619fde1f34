/* data.c — IDX reader, splits, subsets and the batch loader (see data.h).
 *
 * Every file goes through one zlib gzFile: gzread detects the gzip magic itself and reads a plain
 * file unchanged, so plain and gzip share one path and one set of checks.  Both headers are read
 * before either body, so a missing labels file or a count mismatch is reported before 47 MB of
 * pixels are inflated.
 *
 * Loader invariants: perm is always a permutation of 0..m-1 holding the order of epoch `epoch`;
 * position < m (position + batch_size <= m with drop_last) is the next entry to return; the
 * shuffle generator has already drawn this epoch's order.  An epoch's end advances to the next
 * epoch at once, so a saved state never sits on an exhausted epoch.
 */
#include "trainval/data.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- IDX files ---------------------------------------------------------------------------- */

enum {
  IDX_TYPE_UBYTE = 0x08,
  READ_CHUNK = 1 << 30, /* gzread takes an unsigned and returns an int */
  GZ_BUFFER = 1 << 18,  /* bigger than zlib's 8 KiB default: fewer read() calls */
};

typedef struct idx_file {
  const char *path;
  gzFile gz;
} idx_file;

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* zlib prefixes its messages with the file name it was given, "<fd:N>" for gzdopen. */
static const char *zlib_message(const char *msg) {
  if (msg && strncmp(msg, "<fd:", 4) == 0) {
    const char *p = strstr(msg, ": ");
    if (p) return p + 2;
  }
  return msg ? msg : "unknown zlib error";
}

/* Translates the gzFile's error state into a status at the zlib boundary. */
static int gz_fail(const idx_file *f) {
  int err = Z_OK;
  const char *msg = zlib_message(gzerror(f->gz, &err));
  if (err == Z_ERRNO) return tv_error(TV_ERR_IO, "%s: read: %s", f->path, msg);
  if (err == Z_MEM_ERROR) return tv_error(TV_ERR_NOMEM, "%s: out of memory in zlib", f->path);
  return tv_error(TV_ERR_FORMAT, "%s: corrupt gzip stream: %s", f->path, msg);
}

static int idx_open(idx_file *f, const char *path) {
  f->path = path;
  f->gz = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return tv_error_errno(e == ENOENT || e == ENOTDIR ? TV_ERR_NOT_FOUND : TV_ERR_IO, e, "%s",
                          path);
  }
  f->gz = gzdopen(fd, "rb");
  if (!f->gz) {
    close(fd);
    return tv_error(TV_ERR_NOMEM, "%s: out of memory opening the file", path);
  }
  if (gzbuffer(f->gz, GZ_BUFFER) != 0) return tv_error(TV_ERR_NOMEM, "%s: gzbuffer failed", path);
  return TV_OK;
}

/* Closes without reporting: for cleanup after an error already recorded. */
static void idx_discard(idx_file *f) {
  if (f->gz) (void)gzclose_r(f->gz);
  f->gz = NULL;
}

static int idx_close(idx_file *f) {
  int z = gzclose_r(f->gz);
  f->gz = NULL;
  if (z != Z_OK) return tv_error(TV_ERR_IO, "%s: close failed (zlib error %d)", f->path, z);
  return TV_OK;
}

/* Reads len bytes or up to the end of the data; *got says how many arrived.  A cut gzip stream
 * (zlib's Z_BUF_ERROR, "unexpected end of file") also ends the data early: the caller reports it
 * as truncation. */
static int idx_read(idx_file *f, void *buf, size_t len, size_t *got) {
  unsigned char *p = buf;
  size_t total = 0;
  while (total < len) {
    size_t want = len - total < READ_CHUNK ? len - total : READ_CHUNK;
    int r = gzread(f->gz, p + total, (unsigned)want);
    if (r < 0) return gz_fail(f);
    if (r == 0) break;
    total += (size_t)r;
  }
  *got = total;
  int err = Z_OK;
  (void)gzerror(f->gz, &err);
  if (err != Z_OK && err != Z_BUF_ERROR) return gz_fail(f);
  return TV_OK;
}

static int gz_cut(const idx_file *f) {
  int err = Z_OK;
  (void)gzerror(f->gz, &err);
  return err == Z_BUF_ERROR;
}

/* Reads and checks the header of an images (labels == 0) or labels file.  dims gets (N, C, H, W)
 * for images (C = 1 for IDX3) or (N) for labels. */
static int idx_header(idx_file *f, int labels, uint32_t dims[4]) {
  unsigned char h[4 + 4 * 4];
  size_t got;
  int rc = idx_read(f, h, 4, &got);
  if (rc != TV_OK) return rc;
  if (got == 0) return tv_error(TV_ERR_FORMAT, "%s: empty file, not an IDX file", f->path);
  if (got < 4)
    return tv_error(TV_ERR_FORMAT, "%s: truncated: expected a 4-byte IDX magic number, got %zu",
                    f->path, got);
  uint32_t magic = be32(h);
  const char *want = labels ? "0x00000801 (IDX labels)" : "0x00000803 or 0x00000804 (IDX images)";
  if (h[0] != 0 || h[1] != 0)
    return tv_error(TV_ERR_FORMAT, "%s: not an IDX file: magic 0x%08x, expected %s", f->path,
                    (unsigned)magic, want);
  if (h[2] != IDX_TYPE_UBYTE)
    return tv_error(TV_ERR_FORMAT,
                    "%s: magic 0x%08x: IDX element type 0x%02x is not unsigned byte (0x08)",
                    f->path, (unsigned)magic, (unsigned)h[2]);
  int ndim = h[3];
  if (labels ? ndim != 1 : ndim != 3 && ndim != 4)
    return tv_error(TV_ERR_FORMAT, "%s: wrong magic 0x%08x (%d dimensions), expected %s", f->path,
                    (unsigned)magic, ndim, want);
  rc = idx_read(f, h + 4, 4 * (size_t)ndim, &got);
  if (rc != TV_OK) return rc;
  if (got < 4 * (size_t)ndim)
    return tv_error(TV_ERR_FORMAT, "%s: truncated: expected %d bytes of IDX header, got %zu",
                    f->path, 4 + 4 * ndim, 4 + got);
  for (int i = 0; i < ndim; i++) {
    if (be32(h + 4 + 4 * i) == 0)
      return tv_error(TV_ERR_FORMAT, "%s: IDX dimension %d is 0", f->path, i);
  }
  if (labels) {
    dims[0] = be32(h + 4);
  } else if (ndim == 3) {
    dims[0] = be32(h + 4);
    dims[1] = 1;
    dims[2] = be32(h + 8);
    dims[3] = be32(h + 12);
  } else {
    for (int i = 0; i < 4; i++) dims[i] = be32(h + 4 + 4 * i);
  }
  return TV_OK;
}

/* Reads exactly len bytes of body and checks that nothing follows them. */
static int idx_body(idx_file *f, void *buf, size_t len, const char *what) {
  size_t got;
  int rc = idx_read(f, buf, len, &got);
  if (rc != TV_OK) return rc;
  if (got < len)
    return tv_error(TV_ERR_FORMAT, "%s: truncated: expected %zu bytes of %s, got %zu", f->path, len,
                    what, got);
  unsigned char extra[1];
  rc = idx_read(f, extra, sizeof extra, &got);
  if (rc != TV_OK) return rc;
  if (got > 0)
    return tv_error(TV_ERR_FORMAT, "%s: trailing garbage after the %zu bytes of %s", f->path, len,
                    what);
  if (gz_cut(f))
    return tv_error(TV_ERR_FORMAT, "%s: truncated: gzip stream ends before its trailer", f->path);
  return TV_OK;
}

int tv_dataset_load_idx(const char *images_path, const char *labels_path, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  idx_file fi = {images_path, NULL}, fl = {labels_path, NULL};
  tv_dataset d = {0};
  uint32_t idims[4], ldims[4];
  int rc = idx_open(&fi, images_path);
  if (rc != TV_OK) goto out;
  rc = idx_open(&fl, labels_path);
  if (rc != TV_OK) goto out;
  rc = idx_header(&fi, 0, idims);
  if (rc != TV_OK) goto out;
  rc = idx_header(&fl, 1, ldims);
  if (rc != TV_OK) goto out;
  if (idims[0] != ldims[0]) {
    rc = tv_error(TV_ERR_FORMAT, "%s holds %u images but %s holds %u labels", images_path,
                  (unsigned)idims[0], labels_path, (unsigned)ldims[0]);
    goto out;
  }
  uint64_t per = (uint64_t)idims[1] * idims[2];
  if (idims[1] > INT_MAX || idims[2] > INT_MAX || idims[3] > INT_MAX || per > INT_MAX ||
      per * idims[3] > INT_MAX) {
    rc = tv_error(TV_ERR_FORMAT, "%s: image shape %u x %u x %u is too large", images_path,
                  (unsigned)idims[1], (unsigned)idims[2], (unsigned)idims[3]);
    goto out;
  }
  uint64_t bytes = (uint64_t)idims[0] * (per * idims[3]);
  if (bytes > SIZE_MAX) {
    rc = tv_error(TV_ERR_NOMEM, "%s: %llu bytes of pixel data do not fit in memory", images_path,
                  (unsigned long long)bytes);
    goto out;
  }
  d.n = idims[0];
  d.c = (int)idims[1];
  d.h = (int)idims[2];
  d.w = (int)idims[3];
  d.images = malloc((size_t)bytes);
  d.labels = malloc(d.n);
  if (!d.images || !d.labels) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory for %llu bytes of pixel data", images_path,
                  (unsigned long long)bytes);
    goto out;
  }
  rc = idx_body(&fi, d.images, (size_t)bytes, "pixel data");
  if (rc != TV_OK) goto out;
  rc = idx_body(&fl, d.labels, d.n, "label data");
  if (rc != TV_OK) goto out;
  rc = idx_close(&fi);
  if (rc != TV_OK) goto out;
  rc = idx_close(&fl);
  if (rc != TV_OK) goto out;
  uint8_t max = 0;
  for (uint32_t i = 0; i < d.n; i++) max = d.labels[i] > max ? d.labels[i] : max;
  d.num_classes = 1 + max;
  *ds = d;
  d = (tv_dataset){0};
out:
  idx_discard(&fi);
  idx_discard(&fl);
  tv_dataset_free(&d);
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
  free(ds->labels);
  memset(ds, 0, sizeof *ds);
}

static size_t example_bytes(const tv_dataset *ds) {
  return (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
}

/* An empty dataset of full's shape with room for n examples (no buffers when n is 0). */
static int dataset_alloc_like(const tv_dataset *full, uint32_t n, tv_dataset *out) {
  *out = (tv_dataset){
      .n = n, .c = full->c, .h = full->h, .w = full->w, .num_classes = full->num_classes};
  if (n == 0) return TV_OK;
  out->images = malloc((size_t)n * example_bytes(full));
  out->labels = malloc(n);
  if (!out->images || !out->labels) {
    tv_dataset_free(out);
    return tv_error(TV_ERR_NOMEM, "out of memory for a split of %u examples", (unsigned)n);
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
  rc = dataset_alloc_like(full, n - nv, &tr);
  if (rc != TV_OK) goto out;
  rc = dataset_alloc_like(full, nv, &va);
  if (rc != TV_OK) goto out;
  size_t d = example_bytes(full);
  uint32_t it = 0, iv = 0;
  for (uint32_t i = 0; i < n; i++) {
    tv_dataset *dst = in_valid[i] ? &va : &tr;
    uint32_t *k = in_valid[i] ? &iv : &it;
    memcpy(dst->images + (size_t)*k * d, full->images + (size_t)i * d, d);
    dst->labels[*k] = full->labels[i];
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

struct tv_loader {
  const tv_dataset *ds; /* borrowed */
  uint32_t *subset;     /* owned copy, NULL = identity */
  uint32_t *perm;       /* m entries: this epoch's order, positions into the subset */
  uint32_t m, batch_size;
  int shuffle, drop_last;
  size_t d; /* bytes (and floats) per example */
  uint64_t epoch, position;
  tv_rng rng;
  float lut[256]; /* normalised value of each pixel byte */
};

static void draw_order(tv_loader *l) {
  for (uint32_t i = 0; i < l->m; i++) l->perm[i] = i;
  if (l->shuffle) tv_rng_shuffle(&l->rng, l->perm, l->m);
}

int tv_loader_new(const tv_dataset *ds, const tv_loader_opts *o, tv_loader **out) {
  *out = NULL;
  uint32_t m = o->subset ? o->subset_n : ds->n;
  if (o->batch_size == 0) return tv_error(TV_ERR_INVALID, "loader: batch size 0");
  if (!(isfinite(o->norm.scale) && isfinite(o->norm.mean) && isfinite(o->norm.std) &&
        o->norm.std > 0.0f))
    return tv_error(TV_ERR_INVALID,
                    "loader: normalisation scale %g mean %g std %g: std must be > 0",
                    (double)o->norm.scale, (double)o->norm.mean, (double)o->norm.std);
  if (m == 0 || !ds->images || !ds->labels || ds->c <= 0 || ds->h <= 0 || ds->w <= 0)
    return tv_error(TV_ERR_INVALID, "loader: no examples to iterate over");
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
  tv_loader *l = calloc(1, sizeof *l);
  if (!l) return tv_error(TV_ERR_NOMEM, "loader: out of memory");
  l->perm = malloc((size_t)m * sizeof *l->perm);
  if (o->subset) l->subset = malloc((size_t)m * sizeof *l->subset);
  if (!l->perm || (o->subset && !l->subset)) {
    tv_loader_free(l);
    return tv_error(TV_ERR_NOMEM, "loader: out of memory for %u indices", (unsigned)m);
  }
  if (o->subset) memcpy(l->subset, o->subset, (size_t)m * sizeof *l->subset);
  l->ds = ds;
  l->m = m;
  l->batch_size = o->batch_size;
  l->shuffle = o->shuffle != 0;
  l->drop_last = o->drop_last != 0;
  l->d = example_bytes(ds);
  l->rng = tv_rng_seed(o->seed, TV_RNG_SHUFFLE);
  for (int v = 0; v < 256; v++) l->lut[v] = ((float)v * o->norm.scale - o->norm.mean) / o->norm.std;
  draw_order(l);
  *out = l;
  return TV_OK;
}

void tv_loader_next(tv_loader *l, float *x, int32_t *y, uint32_t *n, int *epoch_done) {
  uint64_t left = l->m - l->position;
  uint32_t k = left < l->batch_size ? (uint32_t)left : l->batch_size;
  const uint32_t *order = l->perm + l->position;
  const uint8_t *images = l->ds->images, *labels = l->ds->labels;
  const float *lut = l->lut;
  size_t d = l->d;
  for (uint32_t i = 0; i < k; i++) {
    uint32_t e = l->subset ? l->subset[order[i]] : order[i];
    const uint8_t *restrict src = images + (size_t)e * d;
    float *restrict dst = x + (size_t)i * d;
    for (size_t j = 0; j < d; j++) dst[j] = lut[src[j]];
    y[i] = labels[e];
  }
  l->position += k;
  int done = l->drop_last ? l->m - l->position < l->batch_size : l->position == l->m;
  if (done) {
    l->epoch++;
    l->position = 0;
    draw_order(l);
  }
  *n = k;
  *epoch_done = done;
}

uint32_t tv_loader_batches_per_epoch(const tv_loader *l) {
  return l->drop_last ? l->m / l->batch_size : (l->m + l->batch_size - 1) / l->batch_size;
}

void tv_loader_get_state(const tv_loader *l, tv_loader_state *st, const uint32_t **perm,
                         uint32_t *perm_n) {
  st->epoch = l->epoch;
  st->position = l->position;
  st->rng = l->rng;
  *perm = l->perm;
  *perm_n = l->m;
}

int tv_loader_set_state(tv_loader *l, const tv_loader_state *st, const uint32_t *perm,
                        uint32_t perm_n) {
  if (perm_n != l->m)
    return tv_error(TV_ERR_MISMATCH, "loader state: order of %u examples, the loader has %u",
                    (unsigned)perm_n, (unsigned)l->m);
  int fits = l->drop_last ? st->position <= (uint64_t)(l->m - l->batch_size) : st->position < l->m;
  if (!fits)
    return tv_error(TV_ERR_MISMATCH,
                    "loader state: position %llu leaves no batch in an epoch of %u examples",
                    (unsigned long long)st->position, (unsigned)l->m);
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
  memcpy(l->perm, perm, (size_t)perm_n * sizeof *perm);
  l->epoch = st->epoch;
  l->position = st->position;
  l->rng = st->rng;
  return TV_OK;
}

void tv_loader_free(tv_loader *l) {
  if (!l) return;
  free(l->subset);
  free(l->perm);
  free(l);
}
