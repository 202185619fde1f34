/* h5data.c — the HDF5 data source: two named datasets (features and targets) of any integer or
 * IEEE float type into a tv_dataset (see data.h, HDF5 DATA FILES).
 *
 * Everything about a dataset is checked from its metadata before a byte of it is allocated or
 * read: the path (hard links only), the storage (no external files, no virtual datasets), the
 * type, the rank and the dimensions, and the size against what is stored and against the
 * machine's memory.  The data is then read in slabs of whole examples through HDF5's type
 * conversion (to uint8, double or int64), so a conversion buffer holds at most SLAB_VALUES
 * values, and each value is checked as it is converted to what tv_dataset holds.
 * Every HDF5 id lives in one variable or field, starts as H5I_INVALID_HID and is closed on the
 * one cleanup path of the function that opened it.
 */
#include "trainval/data.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bounded.h"
#include "base/h5util.h"
#include "data/readers.h"

enum {
  SLAB_VALUES = 1 << 20, /* values per HDF5 read (one conversion buffer) */
  MAX_RANK = 4,
  CORE_INCREMENT = 1 << 16, /* file images: the core driver's growth step (read-only: unused) */
};

/* One open dataset and what its metadata says. */
typedef struct dset {
  const char *file, *path; /* for messages */
  hid_t id, type, space;
  int rank;
  hsize_t dim[MAX_RANK];
  hsize_t chunk[MAX_RANK]; /* chunked layout: the chunk's shape (else zeros) */
  int is_float;            /* else an integer type */
  int is_u8;               /* an 8-bit unsigned integer: read as is */
  uint64_t per;            /* values per example: dim[1] * ... */
} dset;

static void dset_close(dset *d) {
  tv_h5_close(&d->space, H5Sclose);
  tv_h5_close(&d->type, H5Tclose);
  tv_h5_close(&d->id, H5Dclose);
}

static int open_path(const char *path, hid_t *file) {
  *file = H5I_INVALID_HID;
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT) return tv_error(TV_ERR_NOT_FOUND, "%s: no such file", path);
    return tv_error_errno(TV_ERR_IO, errno, "%s", path);
  }
  if (!S_ISREG(st.st_mode)) return tv_error(TV_ERR_FORMAT, "%s: not a regular file", path);
  if (access(path, R_OK) != 0) return tv_error_errno(TV_ERR_IO, errno, "%s", path);
  tv_h5_quiet();
  htri_t is = H5Fis_hdf5(path);
  if (is == 0) return tv_error(TV_ERR_FORMAT, "%s: not an HDF5 file (no HDF5 signature)", path);
  if (is < 0) return tv_h5_fail(TV_ERR_IO, "%s: cannot read", path);
  hid_t fapl = tv_h5_fapl();
  if (fapl < 0) return tv_h5_fail(TV_ERR_NOMEM, "%s: cannot make a file access list", path);
  *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  int rc = TV_OK;
  if (*file < 0) rc = tv_h5_fail(TV_ERR_FORMAT, "%s: damaged or truncated HDF5 file", path);
  H5Pclose(fapl);
  return rc;
}

static int open_image(const void *image, size_t len, const char *name, hid_t *file) {
  *file = H5I_INVALID_HID;
  if (!image || len == 0) return tv_error(TV_ERR_FORMAT, "%s: empty, not an HDF5 file", name);
  tv_h5_quiet();
  hid_t fapl = tv_h5_fapl();
  int rc = TV_OK;
  if (fapl < 0 || H5Pset_fapl_core(fapl, CORE_INCREMENT, 0) < 0 ||
      H5Pset_file_image(fapl, (void *)image, len) < 0)
    rc = tv_h5_fail(TV_ERR_NOMEM, "%s: cannot set up an in-memory HDF5 file", name);
  if (rc == TV_OK && (*file = H5Fopen(name, H5F_ACC_RDONLY, fapl)) < 0)
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: not an HDF5 file, or a damaged or truncated one", name);
  tv_h5_close(&fapl, H5Pclose);
  return rc;
}

/* Physical memory in bytes (0 when the system does not say). */
static uint64_t physical_memory(void) {
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* An unfiltered chunked dataset whose bytes are all stored holds every chunk whole: its stored
 * size is at least the chunk count times the chunk's bytes (more where it shrank).  A damaged chunk
 * shape in the layout message breaks that, and libhdf5 would copy chunks of the wrong shape past
 * its buffers. */
static int check_chunks(const dset *d, uint64_t size, uint64_t stored) {
  double chunks = 1, chunk_bytes = (double)size;
  for (int k = 0; k < d->rank; k++) {
    if (d->chunk[k] == 0)
      return tv_error(TV_ERR_FORMAT, "%s: %s: a chunk dimension is 0 (damaged)", d->file, d->path);
    chunks *= (double)((d->dim[k] + d->chunk[k] - 1) / d->chunk[k]);
    chunk_bytes *= (double)d->chunk[k];
  }
  if (chunks * chunk_bytes > (double)stored)
    return tv_error(TV_ERR_FORMAT,
                    "%s: %s: %.0f chunks of %.0f bytes do not make its %llu stored bytes (damaged "
                    "chunk shape)",
                    d->file, d->path, chunks, chunk_bytes, (unsigned long long)stored);
  return TV_OK;
}

/* Checks the layout of d (no external or virtual storage) and that its bytes are stored. */
static int check_storage(dset *d) {
  hid_t dcpl = H5Dget_create_plist(d->id);
  if (dcpl < 0)
    return tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable creation list", d->file, d->path);
  H5D_layout_t layout = H5Pget_layout(dcpl);
  int external = H5Pget_external_count(dcpl);
  int filters = H5Pget_nfilters(dcpl);
  int crank = layout == H5D_CHUNKED ? H5Pget_chunk(dcpl, MAX_RANK, d->chunk) : 0;
  H5Pclose(dcpl);
  if (layout == H5D_CHUNKED && crank != d->rank)
    return tv_error(TV_ERR_FORMAT, "%s: %s: chunks of rank %d for a dataset of rank %d (damaged)",
                    d->file, d->path, crank, d->rank);
  int rc = TV_OK;
  if (layout == H5D_VIRTUAL || external != 0)
    return tv_error(TV_ERR_FORMAT,
                    "%s: %s: %s storage is refused (a data file may not read other files)", d->file,
                    d->path, layout == H5D_VIRTUAL ? "virtual" : "external");
  if (layout < 0 || filters < 0)
    return tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable storage layout", d->file, d->path);
  uint64_t count = (uint64_t)d->dim[0] * d->per, size = H5Tget_size(d->type);
  if (size == 0 || count > UINT64_MAX / size)
    return tv_error(TV_ERR_FORMAT, "%s: %s: size overflows", d->file, d->path);
  uint64_t bytes = count * size, stored = H5Dget_storage_size(d->id);
  if (filters == 0 && stored < bytes)
    return tv_error(TV_ERR_FORMAT,
                    "%s: %s: only %llu of its %llu bytes are stored (truncated or never written)",
                    d->file, d->path, (unsigned long long)stored, (unsigned long long)bytes);
  if (layout == H5D_CHUNKED && filters == 0) {
    rc = check_chunks(d, size, stored);
    if (rc != TV_OK) return rc;
  }
  if (filters > 0 && bytes / TV_H5_MAX_EXPANSION > stored)
    return tv_error(TV_ERR_FORMAT,
                    "%s: %s: claims %llu bytes from %llu compressed bytes (more than %d:1; "
                    "truncated or damaged)",
                    d->file, d->path, (unsigned long long)bytes, (unsigned long long)stored,
                    TV_H5_MAX_EXPANSION);
  return TV_OK;
}

/* Opens dataset path of file as features (targets 0) or targets and checks its metadata. */
static int dset_open(hid_t file, const char *fname, const char *path, int targets, dset *d) {
  *d = (dset){.file = fname,
              .path = path,
              .id = H5I_INVALID_HID,
              .type = H5I_INVALID_HID,
              .space = H5I_INVALID_HID};
  const char *role = targets ? "targets" : "features";
  if (!path || !tv_h5_valid_abs(path) || strcmp(path, "/") == 0)
    return tv_error(TV_ERR_INVALID, "%s: the %s dataset '%s' is not an absolute path (/group/name)",
                    fname, role, path ? path : "");
  int found = tv_h5_lookup_checked(file, path);
  if (found == -2) return tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable links", fname, path);
  if (found == 0)
    return tv_error(TV_ERR_NOT_FOUND, "%s: no dataset %s (the %s)", fname, path, role);
  if (found < 0)
    return tv_error(TV_ERR_FORMAT, "%s: %s goes through a soft or external link (refused)", fname,
                    path);
  hid_t obj = H5Oopen(file, path, H5P_DEFAULT);
  if (obj < 0) return tv_h5_fail(TV_ERR_FORMAT, "%s: %s: cannot open", fname, path);
  if (H5Iget_type(obj) != H5I_DATASET) {
    H5Oclose(obj);
    return tv_error(TV_ERR_FORMAT, "%s: %s is a group, not a dataset", fname, path);
  }
  d->id = obj;
  char tn[64];
  int rc = TV_OK;
  if ((d->type = H5Dget_type(d->id)) < 0 || (d->space = H5Dget_space(d->id)) < 0) {
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable type or shape", fname, path);
    goto out;
  }
  H5T_class_t cls = H5Tget_class(d->type);
  d->is_float = cls == H5T_FLOAT;
  if (!(cls == H5T_INTEGER && H5Tget_size(d->type) <= 8) &&
      !(d->is_float && tv_h5_ieee_float(d->type))) {
    rc = tv_error(TV_ERR_FORMAT, "%s: %s holds %s, not integers or IEEE floats", fname, path,
                  tv_h5_type_name(d->type, tn, sizeof tn));
    goto out;
  }
  d->is_u8 =
      cls == H5T_INTEGER && H5Tget_size(d->type) == 1 && H5Tget_sign(d->type) == H5T_SGN_NONE;
  if (H5Sget_simple_extent_type(d->space) != H5S_SIMPLE) {
    rc =
        tv_error(TV_ERR_FORMAT, "%s: %s is a scalar or empty dataspace, not an array", fname, path);
    goto out;
  }
  d->rank = H5Sget_simple_extent_ndims(d->space);
  int lo = targets ? 1 : 2, hi = targets ? (d->is_float ? 2 : 1) : 4;
  if (d->rank < lo || d->rank > hi) {
    rc = tv_error(TV_ERR_FORMAT, "%s: %s has rank %d; %s must be %s", fname, path, d->rank, role,
                  !targets      ? "(N, D), (N, H, W) or (N, C, H, W)"
                  : d->is_float ? "(N) or (N, T) of floats"
                                : "(N) class ids");
    goto out;
  }
  if (H5Sget_simple_extent_dims(d->space, d->dim, NULL) != d->rank) {
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable dimensions", fname, path);
    goto out;
  }
  if (d->dim[0] == 0) {
    rc = tv_error(TV_ERR_FORMAT, "%s: %s holds no examples", fname, path);
    goto out;
  }
  d->per = 1;
  for (int k = 1; k < d->rank; k++) {
    if (d->dim[k] == 0 || d->dim[k] > INT_MAX || d->per * d->dim[k] > INT_MAX) {
      rc = tv_error(TV_ERR_FORMAT, "%s: %s: an example of %s values is too large or empty", fname,
                    path, d->dim[k] == 0 ? "0" : "over INT_MAX");
      goto out;
    }
    d->per *= d->dim[k];
  }
  if (d->dim[0] > UINT32_MAX) {
    rc = tv_error(TV_ERR_FORMAT, "%s: %s holds %llu examples, more than %u", fname, path,
                  (unsigned long long)d->dim[0], UINT32_MAX);
    goto out;
  }
  rc = check_storage(d);
out:
  if (rc != TV_OK) dset_close(d);
  return rc;
}

/* Reads examples [row, row + rows) of d, converted to mtype, into buf. */
static int read_rows(const dset *d, hid_t mtype, uint64_t row, uint64_t rows, void *buf) {
  hsize_t start[MAX_RANK] = {0}, count[MAX_RANK];
  for (int k = 0; k < d->rank; k++) count[k] = d->dim[k];
  start[0] = row;
  count[0] = rows;
  hid_t fs = H5Scopy(d->space), ms = H5Screate_simple(d->rank, count, NULL);
  int rc = TV_OK;
  if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
      H5Dread(d->id, mtype, ms, fs, H5P_DEFAULT, buf) < 0)
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: %s: cannot read examples %llu..%llu", d->file, d->path,
                    (unsigned long long)row, (unsigned long long)(row + rows - 1));
  tv_h5_close(&ms, H5Sclose);
  tv_h5_close(&fs, H5Sclose);
  return rc;
}

/* What the data of d needs in memory as tv_dataset holds it (out_size bytes per value); refused
 * when it cannot fit. */
static int check_memory(const dset *d, size_t out_size) {
  uint64_t count = (uint64_t)d->dim[0] * d->per, mem = physical_memory();
  if (count > SIZE_MAX / out_size || (mem && count * out_size > mem))
    return tv_error(TV_ERR_NOMEM,
                    "%s: %s: %llu values need %.1f GiB, more than this machine's %.1f GiB of "
                    "memory",
                    d->file, d->path, (unsigned long long)count,
                    (double)count * (double)out_size / (1 << 30), (double)mem / (1 << 30));
  return TV_OK;
}

/* Reads examples [r0, r0 + k) of d, checking every value as tv_dataset holds it: as uint8 into
 * out (as_u8: straight from libhdf5), as class ids through int64 (as_labels: each in range; *max
 * the largest so far), or through double as float32 (each finite within float32).  tmp holds
 * tmp_rows examples of 8-byte values (unused with as_u8 and out).  out NULL: checked, not kept.
 * Values are numbered from example `first` in messages. */
static int read_span(const dset *d, int as_u8, int as_labels, uint64_t r0, uint64_t k, void *out,
                     void *tmp, uint64_t tmp_rows, int32_t *max) {
  size_t per = (size_t)d->per;
  int rc = TV_OK, as_f32 = !as_u8 && !as_labels && H5Tequal(d->type, H5T_NATIVE_FLOAT) > 0;
  int as_i32 = as_labels && per == 1 && H5Tequal(d->type, H5T_NATIVE_INT32) > 0;
  for (uint64_t r = r0; rc == TV_OK && r < r0 + k; r += tmp_rows) {
    uint64_t q = r0 + k - r < tmp_rows ? r0 + k - r : tmp_rows;
    size_t base = (size_t)(r - r0) * per; /* into out */
    if (as_u8) {
      rc = read_rows(d, H5T_NATIVE_UINT8, r, q, out ? (uint8_t *)out + base : tmp);
      continue;
    }
    if (as_f32) { /* float32 as stored: no conversion buffer inside libhdf5, then checked */
      float *f = out ? (float *)out + base : tmp;
      rc = read_rows(d, H5T_NATIVE_FLOAT, r, q, f);
      for (size_t i = 0; rc == TV_OK && i < (size_t)q * per; i++)
        if (!isfinite(f[i]))
          rc = tv_error(TV_ERR_FORMAT,
                        "%s: %s: value %zu of example %llu is %g, not a finite float32", d->file,
                        d->path, i % per, (unsigned long long)(r + i / per), (double)f[i]);
      continue;
    }
    if (as_i32) { /* int32 class ids as stored: no conversion buffer either */
      int32_t *v = out ? (int32_t *)out + base : tmp;
      rc = read_rows(d, H5T_NATIVE_INT32, r, q, v);
      for (size_t i = 0; rc == TV_OK && i < (size_t)q; i++) {
        if (v[i] < 0 || v[i] >= TV_DATA_MAX_CLASSES)
          rc = tv_error(TV_ERR_FORMAT, "%s: %s: label %lld of example %llu is not in [0, %d)",
                        d->file, d->path, (long long)v[i], (unsigned long long)(r + i),
                        TV_DATA_MAX_CLASSES);
        else if (max && v[i] > *max)
          *max = v[i];
      }
      continue;
    }
    rc = read_rows(d, as_labels ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, r, q, tmp);
    for (size_t i = 0; rc == TV_OK && i < (size_t)q * per; i++) {
      if (as_labels) {
        int64_t v = ((const int64_t *)tmp)[i];
        if (v < 0 || v >= TV_DATA_MAX_CLASSES)
          rc = tv_error(TV_ERR_FORMAT, "%s: %s: label %lld of example %llu is not in [0, %d)",
                        d->file, d->path, (long long)v, (unsigned long long)(r + i),
                        TV_DATA_MAX_CLASSES);
        else {
          if (out) ((int32_t *)out)[base + i] = (int32_t)v;
          if (max && v > *max) *max = (int32_t)v;
        }
        continue;
      }
      double v = ((const double *)tmp)[i];
      if (!isfinite(v) || fabs(v) > FLT_MAX)
        rc =
            tv_error(TV_ERR_FORMAT, "%s: %s: value %zu of example %llu is %g, not a finite float32",
                     d->file, d->path, i % per, (unsigned long long)(r + i / per), v);
      else if (out)
        ((float *)out)[base + i] = (float)v;
    }
  }
  return rc;
}

/* Examples of per values a conversion buffer holds: a slab of SLAB_VALUES, or under a budget
 * (data.memory_mb, bytes) an eighth of it in 8-byte values; at least one. */
static uint64_t slab_rows(uint64_t per, uint64_t budget) {
  uint64_t rows = SLAB_VALUES / per;
  if (budget && budget / 64 / per < rows) rows = budget / 64 / per;
  return rows ? rows : 1;
}

/* Reads d whole: as uint8 into *u8 (d->is_u8 and u8 not NULL), else through double into *f32
 * (float values, each finite within float32) or, for integer targets (labels not NULL), through
 * int64 into *labels (each a class id; *max the largest).  With keep 0 every read and check is
 * the same but nothing is kept (the bounded child's pass): memory is one slab (slab_rows of
 * budget). */
static int read_all(const dset *d, int keep, uint64_t budget, uint8_t **u8, float **f32,
                    int32_t **labels, int32_t *max) {
  int as_u8 = u8 && d->is_u8, as_labels = labels && !d->is_float;
  size_t out_size = as_u8 ? 1 : 4, n = (size_t)d->dim[0], per = (size_t)d->per;
  int rc = keep ? check_memory(d, out_size) : TV_OK;
  if (rc != TV_OK) return rc;
  size_t rows = (size_t)slab_rows(per, budget);
  void *out = keep ? malloc(n * per * out_size) : NULL;
  void *tmp = as_u8 && keep ? NULL : malloc((rows < n ? rows : n) * per * 8);
  if ((keep && !out) || (!(as_u8 && keep) && !tmp)) {
    rc = tv_error(TV_ERR_NOMEM, "%s: %s: out of memory for %zu values", d->file, d->path, n * per);
    goto out;
  }
  if (max) *max = 0;
  rc = read_span(d, as_u8, as_labels, 0, n, out, tmp, rows, max);
out:
  free(tmp);
  if (rc != TV_OK || !keep) {
    free(out);
    return rc;
  }
  if (as_u8)
    *u8 = out;
  else if (as_labels)
    *labels = out;
  else
    *f32 = out;
  return TV_OK;
}

/* ---- out of core: the row source behind a tv_dataset (data.h, OUT-OF-CORE DATA) ---- */

struct tv_rows {
  pthread_mutex_t mu; /* one read at a time: the splits' shares are read from several threads */
  int refs;
  hid_t xf, yf; /* yf: H5I_INVALID_HID when both datasets are in xf */
  dset x, y;
  char *names; /* the file names and dataset paths of x and y (dset's strings point here) */
  int float_targets;
  int fd; /* the features file's descriptor (libhdf5's, borrowed) for read-ahead hints, or -1 */
  uint64_t budget, tmp_rows;
  void *tmp;          /* tmp_rows examples of 8-byte values of the wider dataset */
  size_t cache_bytes; /* libhdf5's chunk cache of the targets (one chunk), 0 for the features */
};

/* Bytes the in-memory tv_dataset of x and y would hold. */
static double memory_need(const dset *x, const dset *y) {
  double n = (double)x->dim[0];
  return n * ((double)x->per * (x->is_u8 ? 1 : 4) + (y->id >= 0 ? (double)y->per * 4 : 0));
}

/* A row source holding x and y (moved in: closed in the caller's variables); the file ids are
 * the caller's to move in after. */
static int rows_new(dset *x, dset *y, int float_targets, uint64_t budget, tv_rows **out) {
  *out = NULL;
  const char *str[4] = {x->file, x->path, y->file ? y->file : "", y->path ? y->path : ""};
  size_t len[4], total = 0;
  for (int i = 0; i < 4; i++) total += (len[i] = strlen(str[i])) + 1;
  tv_rows *r = calloc(1, sizeof *r);
  char *names = malloc(total);
  uint64_t per = x->per > y->per ? x->per : y->per;
  uint64_t rows = slab_rows(per, budget); /* one conversion buffer */
  void *tmp = malloc(rows * per * 8);
  if (!r || !names || !tmp) {
    free(r);
    free(names);
    free(tmp);
    return tv_error(TV_ERR_NOMEM, "%s: out of memory for its row reader", x->file);
  }
  char *p = names;
  const char **dst[4] = {&x->file, &x->path, &y->file, &y->path};
  for (int i = 0; i < 4; i++) {
    memcpy(p, str[i], len[i] + 1);
    *dst[i] = p;
    p += len[i] + 1;
  }
  pthread_mutex_init(&r->mu, NULL);
  r->refs = 1;
  r->fd = -1;
  r->xf = r->yf = H5I_INVALID_HID;
  r->x = *x;
  r->y = *y;
  r->names = names;
  r->float_targets = float_targets;
  r->budget = budget;
  r->tmp_rows = rows;
  r->tmp = tmp;
  x->id = x->type = x->space = H5I_INVALID_HID;
  y->id = y->type = y->space = H5I_INVALID_HID;
  *out = r;
  return TV_OK;
}

uint64_t tv_rows_count(const tv_rows *r) { return r->x.dim[0]; }

size_t tv_rows_feature_size(const tv_rows *r) { return r->x.is_u8 ? 1 : 4; }

uint64_t tv_rows_chunk(const tv_rows *r) { return r->x.chunk[0]; }

uint64_t tv_rows_budget(const tv_rows *r) { return r->budget; }

size_t tv_rows_cache_bytes(const tv_rows *r) { return r->cache_bytes; }

size_t tv_rows_work_bytes(const tv_rows *r) {
  uint64_t per = r->x.per > r->y.per ? r->x.per : r->y.per;
  return (size_t)(r->tmp_rows * per * 8);
}

/* tv_rows_read's work, under r->mu. */
static int rows_read(tv_rows *r, uint64_t a, uint64_t b, void *x, int32_t *labels, float *targets) {
  tv_h5_quiet();
  int rc = TV_OK;
  if (x) rc = read_span(&r->x, r->x.is_u8, 0, a, b - a, x, r->tmp, r->tmp_rows, NULL);
  if (rc == TV_OK && r->y.id < 0 && labels) /* features alone: every example class 0 */
    memset(labels, 0, (size_t)(b - a) * sizeof *labels);
  if (rc != TV_OK || r->y.id < 0) return rc;
  if (labels && !r->y.is_float)
    return read_span(&r->y, 0, 1, a, b - a, labels, r->tmp, r->tmp_rows, NULL);
  if (!targets) return TV_OK;
  if (r->y.is_float) return read_span(&r->y, 0, 0, a, b - a, targets, r->tmp, r->tmp_rows, NULL);
  /* class ids as float targets (one per example), as source.c converts them in memory */
  int32_t *ids = (int32_t *)(void *)targets;
  rc = read_span(&r->y, 0, 1, a, b - a, ids, r->tmp, r->tmp_rows, NULL);
  for (uint64_t i = 0; rc == TV_OK && i < b - a; i++) {
    int32_t v;
    memcpy(&v, &ids[i], sizeof v);
    float f = (float)v;
    memcpy(&targets[i], &f, sizeof f);
  }
  return rc;
}

int tv_rows_read(tv_rows *r, uint64_t a, uint64_t b, void *x, int32_t *labels, float *targets) {
  if (a >= b || b > r->x.dim[0])
    return tv_error(TV_ERR_INVALID, "%s: %s: rows %llu..%llu of %llu", r->x.file, r->x.path,
                    (unsigned long long)a, (unsigned long long)b, (unsigned long long)r->x.dim[0]);
  pthread_mutex_lock(&r->mu);
  int rc = rows_read(r, a, b, x, labels, targets);
  /* libhdf5 keeps what a read frees on its free lists; with checkpoints written by another
   * thread meanwhile they grew by 8 MiB over a 600-step run under a 1 MiB budget (measured) */
  H5garbage_collect();
  pthread_mutex_unlock(&r->mu);
  return rc;
}

void tv_rows_will_need(tv_rows *r, uint64_t a, uint64_t b) {
  if (b > r->x.dim[0]) b = r->x.dim[0];
  if (a >= b) return;
  pthread_mutex_lock(&r->mu);
  if (r->fd < 0) {
    void *h = NULL; /* the default (sec2) driver's handle is its int descriptor */
    r->fd = H5Fget_vfd_handle(r->xf, H5P_DEFAULT, &h) >= 0 && h ? *(int *)h : -2;
  }
  uint64_t chunk = r->x.chunk[0], row_bytes = r->x.per * H5Tget_size(r->x.type);
  if (r->fd >= 0 && chunk == 0) {
    haddr_t at = H5Dget_offset(r->x.id);
    if (at != HADDR_UNDEF)
      (void)posix_fadvise(r->fd, (off_t)(at + a * row_bytes), (off_t)((b - a) * row_bytes),
                          POSIX_FADV_WILLNEED);
  }
  for (uint64_t c = a - a % (chunk ? chunk : 1); r->fd >= 0 && chunk && c < b; c += chunk) {
    hsize_t at[MAX_RANK] = {c};
    unsigned mask;
    haddr_t addr;
    hsize_t size;
    if (H5Dget_chunk_info_by_coord(r->x.id, at, &mask, &addr, &size) >= 0 && addr != HADDR_UNDEF)
      (void)posix_fadvise(r->fd, (off_t)addr, (off_t)size, POSIX_FADV_WILLNEED);
  }
  H5Eclear2(H5E_DEFAULT);
  pthread_mutex_unlock(&r->mu);
}

tv_rows *tv_rows_share(tv_rows *r) {
  if (r) r->refs++;
  return r;
}

void tv_rows_release(tv_rows *r) {
  if (!r || --r->refs > 0) return;
  dset_close(&r->x);
  dset_close(&r->y);
  tv_h5_close(&r->yf, H5Fclose);
  tv_h5_close(&r->xf, H5Fclose);
  free(r->tmp);
  free(r->names);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

/* What a job loads: keep 0 reads and checks everything, keeping nothing (the bounded child);
 * keep 1 into memory, or, with budget > 0 and data that does not fit it, a row source. */
typedef struct h5load {
  int keep, float_targets;
  uint64_t budget;
  tv_rows *rows; /* set when the data stays on disk (its file ids still the caller's) */
} h5load;

/* Reopens d with a chunk cache of cache_bytes: the row source reads the features in whole
 * chunks and needs none (0), the targets keep one chunk (their chunks hold many blocks' rows), so
 * libhdf5 holds no more than that beside the budget. */
static int reopen_cached(hid_t file, dset *d, size_t cache_bytes) {
  hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS), id = H5I_INVALID_HID;
  if (dapl >= 0 && H5Pset_chunk_cache(dapl, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, cache_bytes, 1.0) >= 0)
    id = H5Dopen2(file, d->path, dapl);
  tv_h5_close(&dapl, H5Pclose);
  if (id < 0) return tv_h5_fail(TV_ERR_FORMAT, "%s: %s: cannot open", d->file, d->path);
  tv_h5_close(&d->id, H5Dclose);
  d->id = id;
  return TV_OK;
}

/* Bytes of one chunk of d (0 when it is not chunked). */
static size_t chunk_bytes(const dset *d) {
  if (d->chunk[0] == 0) return 0;
  size_t b = H5Tget_size(d->type);
  for (int k = 0; k < d->rank; k++) b *= (size_t)d->chunk[k];
  return b;
}

/* The largest class id of integer targets y, streamed through the row source's buffer. */
static int rows_max_label(tv_rows *r, int32_t *max) {
  *max = 0;
  if (r->y.id < 0 || r->y.is_float) return TV_OK;
  return read_span(&r->y, 0, 1, 0, r->y.dim[0], NULL, r->tmp, r->tmp_rows, max);
}

/* Opens and checks the features x_dataset of xf and the targets y_dataset of yf (NULL: none, y
 * then holds no ids) and that their example counts agree; on failure both are closed. */
static int open_pair(hid_t xf, const char *xname, const char *x_dataset, hid_t yf,
                     const char *yname, const char *y_dataset, dset *x, dset *y) {
  *y = (dset){.id = H5I_INVALID_HID, .type = H5I_INVALID_HID, .space = H5I_INVALID_HID};
  int rc = dset_open(xf, xname, x_dataset, 0, x);
  if (rc != TV_OK) return rc;
  if (y_dataset) rc = dset_open(yf, yname, y_dataset, 1, y);
  if (rc == TV_OK && y_dataset && x->dim[0] != y->dim[0])
    rc = tv_error(TV_ERR_FORMAT, "%s: %s holds %llu examples but %s: %s holds %llu targets", xname,
                  x_dataset, (unsigned long long)x->dim[0], yname, y_dataset,
                  (unsigned long long)y->dim[0]);
  if (rc != TV_OK) {
    dset_close(x);
    dset_close(y);
  }
  return rc;
}

/* Reads both datasets of the open files into *ds (zeroed on failure) as h5load says; with keep 0,
 * reads and checks all of them but keeps nothing (*ds untouched). */
static int load(hid_t xf, const char *xname, const char *x_dataset, hid_t yf, const char *yname,
                const char *y_dataset, h5load *how, tv_dataset *ds) {
  int keep = how->keep;
  dset x, y;
  tv_dataset d = {0};
  int rc = open_pair(xf, xname, x_dataset, yf, yname, y_dataset, &x, &y);
  if (rc != TV_OK) return rc;
  d.n = (uint32_t)x.dim[0];
  d.c = (int)(x.rank == 3 ? 1 : x.dim[1]);
  d.h = (int)(x.rank == 2 ? 1 : x.dim[x.rank - 2]);
  d.w = (int)(x.rank == 2 ? 1 : x.dim[x.rank - 1]);
  if (keep && how->budget > 0 && memory_need(&x, &y) > (double)how->budget) {
    int float_y = y.is_float || how->float_targets;
    d.target_dim = float_y ? (int)y.per : 0;
    rc = reopen_cached(xf, &x, 0);
    size_t cache = y_dataset ? chunk_bytes(&y) : 0;
    if (rc == TV_OK && y_dataset) rc = reopen_cached(yf, &y, cache);
    if (rc == TV_OK) rc = rows_new(&x, &y, how->float_targets, how->budget, &d.rows);
    if (rc == TV_OK) d.rows->cache_bytes = cache;
    int32_t max = 0;
    if (rc == TV_OK) rc = rows_max_label(d.rows, &max);
    if (rc == TV_OK && !float_y) d.num_classes = 1 + max;
    if (rc == TV_OK) {
      how->rows = d.rows;
      *ds = d;
      d = (tv_dataset){0};
    }
    goto out;
  }
  rc = read_all(&x, keep, how->budget, &d.images, &d.features, NULL, NULL);
  if (rc != TV_OK) goto out;
  int32_t max = 0;
  if (y_dataset) rc = read_all(&y, keep, how->budget, NULL, &d.targets, &d.labels, &max);
  if (rc != TV_OK || !keep) goto out;
  if (d.labels)
    d.num_classes = 1 + max;
  else if (d.targets)
    d.target_dim = (int)y.per;
  *ds = d;
  d = (tv_dataset){0};
out:
  dset_close(&x);
  dset_close(&y);
  tv_dataset_free(&d);
  return rc;
}

/* ---- the bounded pass: libhdf5 parses a data file first in a child process ---- */

/* The child's CPU time: 20 s plus 1 s per 16 MiB of file (every byte of it is read and
 * converted once, far faster than that), or -DTV_CHILD_CPU_S in the fuzz build; and its address
 * space: one conversion slab and libhdf5's chunk cache need far less. */
#ifdef TV_CHILD_CPU_S
#define CHILD_CPU_S(bytes) ((void)(bytes), TV_CHILD_CPU_S)
#else
#define CHILD_CPU_S(bytes) (20 + (unsigned)((bytes) >> 24))
#endif
#define CHILD_AS_BYTES ((uint64_t)4 << 30)

/* What the child opens: the files (image NULL) or one file image. */
typedef struct h5job {
  const char *x_path, *x_dataset, *y_path, *y_dataset;
  const void *image;
  size_t len;
  uint64_t budget; /* data.memory_mb in bytes (0: none): also sizes the child's slab */
} h5job;

/* Opens the job's file(s); *yf is *xf when both datasets come from one. */
static int job_open(const h5job *j, hid_t *xf, hid_t *yf) {
  *yf = H5I_INVALID_HID;
  if (j->image) return open_image(j->image, j->len, j->x_path, xf);
  int rc = open_path(j->x_path, xf);
  if (rc == TV_OK && strcmp(j->x_path, j->y_path) != 0) rc = open_path(j->y_path, yf);
  return rc;
}

/* Opens and reads everything as how says (keep: into *ds; else only to see that libhdf5 can);
 * a row source takes the file ids. */
static int job_run(const h5job *j, h5load *how, tv_dataset *ds) {
  hid_t xf = H5I_INVALID_HID, yf = H5I_INVALID_HID;
  int rc = job_open(j, &xf, &yf);
  if (rc == TV_OK)
    rc = load(xf, j->x_path, j->x_dataset, yf >= 0 ? yf : xf, j->y_path, j->y_dataset, how, ds);
  if (rc == TV_OK && how->rows) {
    how->rows->xf = xf;
    how->rows->yf = yf;
    xf = yf = H5I_INVALID_HID;
  }
  tv_h5_close(&yf, H5Fclose);
  tv_h5_close(&xf, H5Fclose);
  return rc;
}

static int child_pass(void *job) {
  h5load how = {.budget = ((const h5job *)job)->budget};
  return job_run(job, &how, NULL);
}

/* The bytes the child reads: both files (or the image). */
static uint64_t job_bytes(const h5job *j) {
  if (j->image) return j->len;
  struct stat a, b;
  uint64_t n = stat(j->x_path, &a) == 0 ? (uint64_t)a.st_size : 0;
  if (strcmp(j->x_path, j->y_path) != 0 && stat(j->y_path, &b) == 0) n += (uint64_t)b.st_size;
  return n;
}

/* Runs the job's whole read in a bounded child (base/bounded.h), then, if it came back, in this
 * process: a crash or a hang inside libhdf5 on a damaged file is one error naming the file. */
static int job_load(const h5job *j, h5load *what, tv_dataset *ds) {
  const tv_bounded_limits lim = {CHILD_CPU_S(job_bytes(j)), CHILD_AS_BYTES};
  tv_bounded_end end;
  int rc = tv_run_bounded(child_pass, (void *)j, &lim, j->x_path, &end);
  if (rc != TV_OK && end.kind != TV_BOUNDED_RETURNED) {
    char how[128];
    int two = !j->image && strcmp(j->x_path, j->y_path) != 0;
    return tv_error(TV_ERR_FORMAT, "%s%s%s: damaged HDF5 data file (HDF5 %s)", j->x_path,
                    two ? ", " : "", two ? j->y_path : "",
                    tv_bounded_describe(&end, &lim, how, sizeof how));
  }
  if (rc == TV_OK) rc = job_run(j, what, ds);
  return rc;
}

int tv_dataset_load_h5(const char *x_path, const char *x_dataset, const char *y_path,
                       const char *y_dataset, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  if (!y_path || !y_dataset) y_path = x_path, y_dataset = NULL;
  const h5job j = {x_path, x_dataset, y_path, y_dataset, NULL, 0, 0};
  h5load how = {.keep = 1};
  return job_load(&j, &how, ds);
}

int tv_dataset_open_h5(const char *x_path, const char *x_dataset, const char *y_path,
                       const char *y_dataset, int float_targets, uint64_t memory_bytes,
                       tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  if (!y_path || !y_dataset) y_path = x_path, y_dataset = NULL;
  const h5job j = {x_path, x_dataset, y_path, y_dataset, NULL, 0, memory_bytes};
  h5load how = {.keep = 1, .float_targets = float_targets != 0, .budget = memory_bytes};
  return job_load(&j, &how, ds);
}

int tv_dataset_load_h5_image(const void *image, size_t len, const char *name, const char *x_dataset,
                             const char *y_dataset, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  const h5job j = {name, x_dataset, name, y_dataset, image, len, 0};
  h5load how = {.keep = 1};
  return job_load(&j, &how, ds);
}

/* ---- planning a read before it happens (tv_h5_estimate) ---- */

/* The conversion slab read_all touches reading d into memory: none for uint8 features, float32
 * values and int32 class ids (read as stored), else slab_rows examples of 8-byte values. */
static uint64_t slab_bytes(const dset *d, int targets) {
  int as_f32 = (d->is_float || !targets) && H5Tequal(d->type, H5T_NATIVE_FLOAT) > 0;
  int as_i32 = !d->is_float && targets && d->per == 1 && H5Tequal(d->type, H5T_NATIVE_INT32) > 0;
  if ((!targets && d->is_u8) || as_f32 || as_i32) return 0;
  uint64_t rows = slab_rows(d->per, 0);
  return (rows < d->dim[0] ? rows : d->dim[0]) * d->per * 8;
}

/* What the in-memory read of x and y holds (tv_dataset's buffers) and the most it holds at once:
 * read_all reads x, then y, each through its conversion slab, and integer targets wanted as
 * floats are copied once more (source.c). */
static void plan(const dset *x, const dset *y, int float_targets, uint64_t *held, uint64_t *peak) {
  uint64_t n = x->dim[0], hx = n * x->per * (x->is_u8 ? 1 : 4), hy = 0, more_y = 0;
  if (y->id >= 0) {
    hy = n * y->per * 4;
    more_y = slab_bytes(y, 1) + (!y->is_float && float_targets ? hy : 0);
  }
  uint64_t at_x = hx + slab_bytes(x, 0), at_y = hx + hy + more_y;
  *held = hx + hy;
  *peak = at_x > at_y ? at_x : at_y;
}

/* The planning child's job: a page shared with the parent gets the figures. */
typedef struct plan_job {
  h5job j;
  int float_targets;
  uint64_t *shared; /* [0] held, [1] peak, [2] the in-memory need memory_need compares */
} plan_job;

static int child_plan(void *arg) {
  const plan_job *p = arg;
  hid_t xf = H5I_INVALID_HID, yf = H5I_INVALID_HID;
  dset x, y;
  int rc = job_open(&p->j, &xf, &yf);
  if (rc == TV_OK)
    rc = open_pair(xf, p->j.x_path, p->j.x_dataset, yf >= 0 ? yf : xf, p->j.y_path, p->j.y_dataset,
                   &x, &y);
  if (rc == TV_OK) {
    plan(&x, &y, p->float_targets, &p->shared[0], &p->shared[1]);
    p->shared[2] = (uint64_t)memory_need(&x, &y);
    dset_close(&x);
    dset_close(&y);
  }
  tv_h5_close(&yf, H5Fclose);
  tv_h5_close(&xf, H5Fclose);
  return rc;
}

int tv_h5_estimate(const char *x_path, const char *x_dataset, const char *y_path,
                   const char *y_dataset, int float_targets, uint64_t memory_bytes,
                   tv_data_need *need) {
  memset(need, 0, sizeof *need);
  if (!y_path || !y_dataset) y_path = x_path, y_dataset = NULL;
  uint64_t *shared =
      mmap(NULL, 3 * sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED)
    return tv_error_errno(TV_ERR_NOMEM, errno, "%s: cannot plan its read", x_path);
  plan_job p = {
      {x_path, x_dataset, y_path, y_dataset, NULL, 0, memory_bytes}, float_targets, shared};
  /* metadata alone, which takes milliseconds: a file libhdf5 loops on costs 5 s here, and the
   * read that follows reports it */
  const tv_bounded_limits lim = {CHILD_CPU_S(0) < 5 ? CHILD_CPU_S(0) : 5, CHILD_AS_BYTES};
  tv_bounded_end end;
  int rc = tv_run_bounded(child_plan, &p, &lim, x_path, &end);
  if (rc != TV_OK && end.kind != TV_BOUNDED_RETURNED) {
    char how[128];
    rc = tv_error(TV_ERR_FORMAT, "%s: damaged HDF5 data file (HDF5 %s)", x_path,
                  tv_bounded_describe(&end, &lim, how, sizeof how));
  }
  if (rc == TV_OK && memory_bytes > 0 && y_dataset && shared[2] > memory_bytes)
    *need = (tv_data_need){.held = 0, .peak = memory_bytes, .out_of_core = 1};
  else if (rc == TV_OK)
    *need = (tv_data_need){.held = shared[0], .peak = shared[1]};
  munmap(shared, 3 * sizeof *shared);
  return rc;
}
