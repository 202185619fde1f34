/* ckpt.c — checkpoint files in HDF5 (see ckpt.h; their commit into the manifest is commit.c's).
 *
 * A checkpoint is built in memory with HDF5's core driver and written to its temporary file with
 * plain POSIX I/O.  HDF5 never touches the disk when writing, so a full disk is one failed
 * write() we report (HDF5 cannot close a sec2 file whose final flush fails: it would stay open,
 * holding the deleted temporary's blocks, for the life of the process), and the CRC comes from
 * the buffer without reading the file back.  The price: one checkpoint's bytes twice in memory
 * while it is saved.
 *
 * Every HDF5 id is held by one variable or field, starts as H5I_INVALID_HID and is closed on one
 * cleanup path.  HDF5's error stack is read right after a failing call (before any other HDF5
 * call clears it) and its innermost message goes into ours, so "disk full" or "truncated file"
 * reaches the user.  Paths inside a file are only followed through hard links: a soft or
 * external link in a foreign file never makes us open another file.
 */
#include "trainval/ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/bounded.h"
#include "base/fs.h"
#include "base/h5util.h"

enum {
  PATH_CAP = 4096,
  DETAIL_CAP = 160,
  MSG_CAP = 768,
  MAX_DIFFS = 4,  /* differences named in a TV_ERR_MISMATCH message */
  MAX_DEPTH = 16, /* group nesting followed under /variables */
  NAME_CAP = 256, /* a link name under /variables */
};

/* Growth step of the in-memory file being written. */
#define CORE_INCREMENT ((size_t)8 << 20)

/* Root attributes this module owns; tv_ckpt_writer_attr_* may not overwrite them. */
static const char *const reserved_attrs[] = {
    "format", "format_version", "step", "epoch", "wall_time", "config", "trainval_version"};

/* ---- HDF5 plumbing ---- */

static hid_t file_type(tv_ckpt_dtype t) {
  switch (t) {
  case TV_CKPT_F32:
    return H5T_IEEE_F32LE;
  case TV_CKPT_I64:
    return H5T_STD_I64LE;
  case TV_CKPT_U64:
    return H5T_STD_U64LE;
  case TV_CKPT_U32:
    return H5T_STD_U32LE;
  }
  return H5I_INVALID_HID;
}

static hid_t mem_type(tv_ckpt_dtype t) {
  switch (t) {
  case TV_CKPT_F32:
    return H5T_NATIVE_FLOAT;
  case TV_CKPT_I64:
    return H5T_NATIVE_INT64;
  case TV_CKPT_U64:
    return H5T_NATIVE_UINT64;
  case TV_CKPT_U32:
    return H5T_NATIVE_UINT32;
  }
  return H5I_INVALID_HID;
}

static const char *dtype_name(tv_ckpt_dtype t) {
  switch (t) {
  case TV_CKPT_F32:
    return "float32";
  case TV_CKPT_I64:
    return "int64";
  case TV_CKPT_U64:
    return "uint64";
  case TV_CKPT_U32:
    return "uint32";
  }
  return "?";
}

static int valid_dtype(tv_ckpt_dtype t) { return t >= TV_CKPT_F32 && t <= TV_CKPT_U32; }

/* Which tv_ckpt_dtype the file type ftype is, or -1. */
static int classify(hid_t ftype) {
  /* Exactly the standard layouts (either byte order): a damaged type message can declare a
   * "float" of 288 bits, or one with another exponent width, that HDF5 would convert to
   * nonsense. */
  if (H5Tequal(ftype, H5T_IEEE_F32LE) > 0 || H5Tequal(ftype, H5T_IEEE_F32BE) > 0)
    return TV_CKPT_F32;
  if (H5Tequal(ftype, H5T_STD_I64LE) > 0 || H5Tequal(ftype, H5T_STD_I64BE) > 0) return TV_CKPT_I64;
  if (H5Tequal(ftype, H5T_STD_U64LE) > 0 || H5Tequal(ftype, H5T_STD_U64BE) > 0) return TV_CKPT_U64;
  if (H5Tequal(ftype, H5T_STD_U32LE) > 0 || H5Tequal(ftype, H5T_STD_U32BE) > 0) return TV_CKPT_U32;
  return -1;
}

/* 1 if path is /variables or lies under it. */
static int under_variables(const char *path) {
  return strncmp(path, "/variables", 10) == 0 && (path[10] == '\0' || path[10] == '/');
}

/* ---- attributes ---- */

static hid_t vlen_string_type(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return t;
  if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
    H5Tclose(t);
    return H5I_INVALID_HID;
  }
  return t;
}

/* Writes scalar attribute name (ftype in the file) on loc from value (mtype in memory),
 * replacing one of that name.  file/where name the object in messages. */
static int put_attr(hid_t loc, const char *file, const char *where, const char *name, hid_t ftype,
                    hid_t mtype, const void *value) {
  int rc = TV_OK;
  hid_t space = H5I_INVALID_HID, attr = H5I_INVALID_HID;
  htri_t exists = H5Aexists(loc, name);
  if (exists < 0 || (exists > 0 && H5Adelete(loc, name) < 0) ||
      (space = H5Screate(H5S_SCALAR)) < 0 ||
      (attr = H5Acreate2(loc, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
      H5Awrite(attr, mtype, value) < 0) {
    rc = tv_h5_fail(TV_ERR_IO, "%s: %s: cannot write attribute %s", file, where, name);
    goto out;
  }
  herr_t st = H5Aclose(attr);
  attr = H5I_INVALID_HID;
  if (st < 0) rc = tv_h5_fail(TV_ERR_IO, "%s: %s: cannot write attribute %s", file, where, name);
out:
  tv_h5_close(&attr, H5Aclose);
  tv_h5_close(&space, H5Sclose);
  return rc;
}

static int put_str(hid_t loc, const char *file, const char *where, const char *name,
                   const char *value) {
  hid_t t = vlen_string_type();
  if (t < 0) return tv_h5_fail(TV_ERR_IO, "%s: %s: cannot write attribute %s", file, where, name);
  int rc = put_attr(loc, file, where, name, t, t, &value);
  H5Tclose(t);
  return rc;
}

/* Opens attribute name of loc, which must hold one element.  Returns TV_ERR_NOT_FOUND or
 * TV_ERR_MISMATCH with why set (no message recorded), or TV_OK. */
static int attr_open(hid_t loc, const char *name, hid_t *attr, const char **why) {
  *attr = H5I_INVALID_HID;
  if (H5Aexists(loc, name) <= 0) {
    *why = "missing";
    return TV_ERR_NOT_FOUND;
  }
  *attr = H5Aopen(loc, name, H5P_DEFAULT);
  hid_t space = *attr >= 0 ? H5Aget_space(*attr) : H5I_INVALID_HID;
  hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  tv_h5_close(&space, H5Sclose);
  if (n != 1) {
    tv_h5_close(attr, H5Aclose);
    *why = "not a single value";
    return TV_ERR_MISMATCH;
  }
  return TV_OK;
}

/* Reads a numeric attribute converted to mtype (an integer attribute for NATIVE_INT64, an
 * integer or float one for NATIVE_DOUBLE).  Codes and why as attr_open. */
static int attr_num(hid_t loc, const char *name, hid_t mtype, void *value, const char **why) {
  hid_t attr, t = H5I_INVALID_HID;
  int rc = attr_open(loc, name, &attr, why);
  if (rc) return rc;
  t = H5Aget_type(attr);
  H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  int want_int = H5Tequal(mtype, H5T_NATIVE_INT64) > 0;
  if (cls != H5T_INTEGER && (want_int || cls != H5T_FLOAT)) {
    *why = want_int ? "not an integer" : "not a number";
    rc = TV_ERR_MISMATCH;
  } else if (H5Aread(attr, mtype, value) < 0) {
    *why = "unreadable";
    rc = TV_ERR_FORMAT;
  }
  tv_h5_close(&t, H5Tclose);
  tv_h5_close(&attr, H5Aclose);
  return rc;
}

/* Reads a string attribute (variable or fixed length) into a malloc'd string *out. */
static int attr_str(hid_t loc, const char *name, char **out, const char **why) {
  hid_t attr, t = H5I_INVALID_HID, mt = H5I_INVALID_HID;
  *out = NULL;
  int rc = attr_open(loc, name, &attr, why);
  if (rc) return rc;
  t = H5Aget_type(attr);
  if (t < 0 || H5Tget_class(t) != H5T_STRING) {
    *why = "not a string";
    rc = TV_ERR_MISMATCH;
    goto out;
  }
  *why = "unreadable";
  rc = TV_ERR_FORMAT;
  if (H5Tis_variable_str(t) > 0) {
    char *s = NULL;
    mt = H5Tcopy(H5T_C_S1);
    if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(t)) < 0 ||
        H5Aread(attr, mt, &s) < 0)
      goto out;
    *out = strdup(s ? s : "");
    H5free_memory(s);
  } else {
    size_t n = H5Tget_size(t);
    *out = n > 0 ? calloc(n + 1, 1) : NULL;
    if (*out && H5Aread(attr, t, *out) < 0) {
      free(*out);
      *out = NULL;
      goto out;
    }
  }
  if (!*out) {
    *why = "out of memory";
    rc = TV_ERR_NOMEM;
    goto out;
  }
  rc = TV_OK;
out:
  tv_h5_close(&mt, H5Tclose);
  tv_h5_close(&t, H5Tclose);
  tv_h5_close(&attr, H5Aclose);
  return rc;
}

/* ---- writing ---- */

struct tv_ckpt_writer {
  hid_t file; /* in memory (core driver); H5I_INVALID_HID once closed */
  hid_t lcpl; /* creates intermediate groups, UTF-8 link names */
  int fd;     /* the temporary, open from writer_open to finish; -1 once closed */
  int64_t step;
  double wall_time;
  int finite;    /* every float32 written so far was finite */
  int have_vars; /* writer_variables was called */
  int failed;    /* the first I/O-class error, returned again by later calls */
  char msg[MSG_CAP];
  char dir[PATH_CAP], tmp[PATH_CAP], final[PATH_CAP];
  char name[TV_CKPT_FILE_CAP];
};

int tv_ckpt_file_name(int64_t step, char *name, size_t cap) {
  if (step < 0)
    return tv_error(TV_ERR_INVALID, "checkpoint step %lld is negative", (long long)step);
  int n = snprintf(name, cap, "ckpt-%08lld.h5", (long long)step);
  if (n < 0 || (size_t)n >= cap) return tv_error(TV_ERR_INVALID, "checkpoint name too long");
  return TV_OK;
}

/* Poisons w after an error that may have left the file half-written (not after TV_ERR_INVALID,
 * which is refused before anything is written); returns rc. */
static int writer_fail(tv_ckpt_writer *w, int rc) {
  if (rc != TV_OK && rc != TV_ERR_INVALID && !w->failed) {
    w->failed = rc;
    snprintf(w->msg, sizeof w->msg, "%s", tv_error_message());
  }
  return rc;
}

static int writer_failed(const tv_ckpt_writer *w) { return tv_error(w->failed, "%s", w->msg); }

/* Creates the temporary exclusively, at open so that a bad directory fails before any work: a
 * stale one of the same name (a dead process whose pid was reused) is never truncated, another
 * suffix is tried. */
static int create_temp(tv_ckpt_writer *w) {
  for (int k = 0; k < 100; k++) {
    char base[128];
    if (k == 0)
      snprintf(base, sizeof base, ".ckpt-%08lld.%ld.tmp", (long long)w->step, (long)getpid());
    else
      snprintf(base, sizeof base, ".ckpt-%08lld.%ld.%d.tmp", (long long)w->step, (long)getpid(), k);
    int rc = tv_fs_join(w->tmp, sizeof w->tmp, w->dir, base);
    if (rc) {
      w->tmp[0] = '\0';
      return rc;
    }
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0 && errno == EEXIST) continue;
    if (w->fd < 0) {
      rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot create checkpoint", w->tmp);
      w->tmp[0] = '\0';
      return rc;
    }
    return TV_OK;
  }
  w->tmp[0] = '\0';
  return tv_error(TV_ERR_IO, "%s: cannot create a temporary checkpoint: 100 stale ones in the way",
                  w->dir);
}

int tv_ckpt_writer_open(const char *dir, const tv_ckpt_header *h, tv_ckpt_writer **out) {
  *out = NULL;
  if (!dir || !h) return tv_error(TV_ERR_INVALID, "checkpoint: NULL directory or header");
  if (h->step < 0)
    return tv_error(TV_ERR_INVALID, "%s: checkpoint step %lld is negative", dir,
                    (long long)h->step);
  tv_h5_quiet();
  tv_ckpt_writer *w = calloc(1, sizeof *w);
  if (!w) return tv_error(TV_ERR_NOMEM, "%s: out of memory", dir);
  w->file = w->lcpl = H5I_INVALID_HID;
  w->fd = -1;
  w->step = h->step;
  w->wall_time = h->wall_time;
  w->finite = 1;
  hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID, group = H5I_INVALID_HID;
  int rc;
  if (snprintf(w->dir, sizeof w->dir, "%s", dir) >= (int)sizeof w->dir) {
    rc = tv_error(TV_ERR_INVALID, "%s: path too long", dir);
    goto fail;
  }
  if ((rc = tv_ckpt_file_name(h->step, w->name, sizeof w->name)) ||
      (rc = tv_fs_join(w->final, sizeof w->final, dir, w->name)) || (rc = create_temp(w)))
    goto fail;
  if ((fapl = tv_h5_fapl()) < 0 || H5Pset_fapl_core(fapl, CORE_INCREMENT, 0) < 0 ||
      (fcpl = H5Pcreate(H5P_FILE_CREATE)) < 0 || H5Pset_userblock(fcpl, TV_CKPT_USERBLOCK) < 0 ||
      (w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl, fapl)) < 0) {
    rc = tv_h5_fail(TV_ERR_IO, "%s: cannot create HDF5 file", w->tmp);
    goto fail;
  }
  if ((w->lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 ||
      H5Pset_create_intermediate_group(w->lcpl, 1) < 0 ||
      H5Pset_char_encoding(w->lcpl, H5T_CSET_UTF8) < 0) {
    rc = tv_h5_fail(TV_ERR_IO, "%s: HDF5 property list", w->tmp);
    goto fail;
  }
  int32_t version = TV_CKPT_VERSION;
  int64_t step = h->step, epoch = h->epoch;
  double wall = h->wall_time;
  if ((rc = put_str(w->file, w->tmp, "/", "format", TV_CKPT_FORMAT)) ||
      (rc = put_attr(w->file, w->tmp, "/", "format_version", H5T_STD_I32LE, H5T_NATIVE_INT32,
                     &version)) ||
      (rc = put_attr(w->file, w->tmp, "/", "step", H5T_STD_I64LE, H5T_NATIVE_INT64, &step)) ||
      (rc = put_attr(w->file, w->tmp, "/", "epoch", H5T_STD_I64LE, H5T_NATIVE_INT64, &epoch)) ||
      (rc =
           put_attr(w->file, w->tmp, "/", "wall_time", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &wall)) ||
      (rc = put_str(w->file, w->tmp, "/", "config", h->config_text ? h->config_text : "")) ||
      (rc = put_str(w->file, w->tmp, "/", "trainval_version", TV_VERSION)))
    goto fail;
  if ((group = H5Gcreate2(w->file, "/variables", w->lcpl, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
      H5Gclose(group) < 0) {
    group = H5I_INVALID_HID;
    rc = tv_h5_fail(TV_ERR_IO, "%s: cannot create /variables", w->tmp);
    goto fail;
  }
  tv_h5_close(&fapl, H5Pclose);
  tv_h5_close(&fcpl, H5Pclose);
  *out = w;
  return TV_OK;
fail:
  tv_h5_close(&group, H5Gclose);
  tv_h5_close(&fapl, H5Pclose);
  tv_h5_close(&fcpl, H5Pclose);
  tv_ckpt_writer_abort(w);
  return rc;
}

/* Whether the count float32 values at data are all finite (exponent bits not all ones): one
 * branch-free pass the compiler vectorizes, on the save's critical path. */
static int all_finite(const void *data, size_t count) {
  const unsigned char *p = data;
  uint32_t bad = 0;
  for (size_t i = 0; i < count; i++) {
    uint32_t u;
    memcpy(&u, p + 4 * i, 4);
    bad |= (u & 0x7f800000u) == 0x7f800000u;
  }
  return !bad;
}

/* Writes count elements of dtype at path, with shape (NULL: 1-D). */
static int write_dataset(tv_ckpt_writer *w, const char *path, tv_ckpt_dtype dtype, size_t count,
                         const void *data, const tv_shape *shape) {
  hsize_t dims[TV_MAX_DIMS];
  int rank = 1;
  dims[0] = count;
  if (shape) {
    if (shape->ndim < 0 || shape->ndim > TV_MAX_DIMS)
      return tv_error(TV_ERR_INVALID, "%s: %s: rank %d", w->tmp, path, shape->ndim);
    rank = shape->ndim;
    for (int i = 0; i < rank; i++) {
      if (shape->dim[i] < 0)
        return tv_error(TV_ERR_INVALID, "%s: %s: negative dimension", w->tmp, path);
      dims[i] = (hsize_t)shape->dim[i];
    }
    if (tv_shape_count(*shape) != count)
      return tv_error(TV_ERR_INVALID, "%s: %s: shape holds %zu elements, data %zu", w->tmp, path,
                      tv_shape_count(*shape), count);
  }
  if (count > 0 && !data) return tv_error(TV_ERR_INVALID, "%s: %s: no data", w->tmp, path);
  int found = tv_h5_lookup_checked(w->file, path);
  if (found == -2) return tv_h5_fail(TV_ERR_IO, "%s: %s: cannot read the links", w->tmp, path);
  if (found != 0) return tv_error(TV_ERR_INVALID, "%s: %s: written twice", w->tmp, path);
  int rc = TV_OK;
  hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
  if ((space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL)) < 0 ||
      (dset = H5Dcreate2(w->file, path, file_type(dtype), space, w->lcpl, H5P_DEFAULT,
                         H5P_DEFAULT)) < 0 ||
      (count > 0 && H5Dwrite(dset, mem_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)) {
    rc = tv_h5_fail(TV_ERR_IO, "%s: %s: cannot write", w->tmp, path);
    goto out;
  }
  herr_t st = H5Dclose(dset);
  dset = H5I_INVALID_HID;
  if (st < 0) {
    rc = tv_h5_fail(TV_ERR_IO, "%s: %s: cannot write", w->tmp, path);
    goto out;
  }
  if (dtype == TV_CKPT_F32 && w->finite) w->finite = all_finite(data, count);
out:
  tv_h5_close(&dset, H5Dclose);
  tv_h5_close(&space, H5Sclose);
  return rc;
}

int tv_ckpt_writer_variables(tv_ckpt_writer *w, const tv_varstore *vars) {
  if (w->failed) return writer_failed(w);
  if (w->have_vars) return tv_error(TV_ERR_INVALID, "%s: variables written twice", w->tmp);
  int n = tv_varstore_count(vars);
  for (int i = 0; i < n; i++) {
    const tv_var *v = tv_varstore_cvar(vars, i);
    if (!tv_h5_valid_rel(v->name))
      return tv_error(TV_ERR_INVALID, "%s: variable name \"%s\" is not a valid path", w->tmp,
                      v->name);
    if (v->count > 0 && !v->value)
      return tv_error(TV_ERR_INVALID, "%s: variable store is not sealed", w->tmp);
  }
  w->have_vars = 1;
  tv_h5_quiet();
  for (int i = 0; i < n; i++) {
    const tv_var *v = tv_varstore_cvar(vars, i);
    char path[PATH_CAP];
    snprintf(path, sizeof path, "/variables/%s", v->name);
    int rc = write_dataset(w, path, TV_CKPT_F32, v->count, v->value, &v->shape);
    if (rc) return writer_fail(w, rc);
  }
  return TV_OK;
}

int tv_ckpt_writer_array(tv_ckpt_writer *w, const tv_ckpt_array *a) {
  if (w->failed) return writer_failed(w);
  if (!a || !tv_h5_valid_abs(a->path) || strcmp(a->path, "/") == 0 || under_variables(a->path))
    return tv_error(TV_ERR_INVALID,
                    "%s: array path \"%s\": expected /group/name outside /variables", w->tmp,
                    a && a->path ? a->path : "(null)");
  if (!valid_dtype(a->dtype))
    return tv_error(TV_ERR_INVALID, "%s: %s: unknown dtype %d", w->tmp, a->path, (int)a->dtype);
  tv_h5_quiet();
  return writer_fail(w, write_dataset(w, a->path, a->dtype, a->count, a->data, a->shape));
}

/* Opens (creating groups if nothing is there) the object at path for an attribute. */
static int attr_target(tv_ckpt_writer *w, const char *path, const char *name, hid_t *obj) {
  *obj = H5I_INVALID_HID;
  if (!tv_h5_valid_abs(path) || !name || name[0] == '\0')
    return tv_error(TV_ERR_INVALID, "%s: attribute \"%s\" on \"%s\": bad path or name", w->tmp,
                    name ? name : "(null)", path ? path : "(null)");
  if (strcmp(path, "/") == 0)
    for (size_t i = 0; i < sizeof reserved_attrs / sizeof reserved_attrs[0]; i++)
      if (strcmp(name, reserved_attrs[i]) == 0)
        return tv_error(TV_ERR_INVALID, "%s: root attribute %s is reserved", w->tmp, name);
  int found = tv_h5_lookup_checked(w->file, path);
  if (found == -2) return tv_h5_fail(TV_ERR_IO, "%s: %s: cannot read the links", w->tmp, path);
  if (found < 0) return tv_error(TV_ERR_INVALID, "%s: %s: is a link", w->tmp, path);
  *obj = found ? H5Oopen(w->file, path, H5P_DEFAULT)
               : H5Gcreate2(w->file, path, w->lcpl, H5P_DEFAULT, H5P_DEFAULT);
  if (*obj < 0) return tv_h5_fail(TV_ERR_IO, "%s: %s: cannot open or create", w->tmp, path);
  return TV_OK;
}

static int writer_attr(tv_ckpt_writer *w, const char *path, const char *name, hid_t ftype,
                       hid_t mtype, const void *value, const char *str) {
  if (w->failed) return writer_failed(w);
  tv_h5_quiet();
  hid_t obj;
  int rc = attr_target(w, path, name, &obj);
  if (rc) return writer_fail(w, rc);
  if (str)
    rc = put_str(obj, w->tmp, path, name, str);
  else
    rc = put_attr(obj, w->tmp, path, name, ftype, mtype, value);
  if (H5Oclose(obj) < 0 && !rc) rc = tv_h5_fail(TV_ERR_IO, "%s: %s: close", w->tmp, path);
  return writer_fail(w, rc);
}

int tv_ckpt_writer_attr_str(tv_ckpt_writer *w, const char *path, const char *name,
                            const char *value) {
  if (!value) return tv_error(TV_ERR_INVALID, "%s: attribute %s: NULL string", w->tmp, name);
  return writer_attr(w, path, name, H5I_INVALID_HID, H5I_INVALID_HID, NULL, value);
}

int tv_ckpt_writer_attr_i64(tv_ckpt_writer *w, const char *path, const char *name, int64_t value) {
  return writer_attr(w, path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value, NULL);
}

int tv_ckpt_writer_attr_f64(tv_ckpt_writer *w, const char *path, const char *name, double value) {
  return writer_attr(w, path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value, NULL);
}

void tv_ckpt_writer_abort(tv_ckpt_writer *w) {
  if (!w) return;
  tv_h5_close(&w->lcpl, H5Pclose);
  tv_h5_close(&w->file, H5Fclose);
  if (w->fd >= 0) close(w->fd);
  if (w->tmp[0]) unlink(w->tmp);
  free(w);
}

static int write_all(int fd, const unsigned char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* ---- the user block: a checkpoint that verifies itself ---- */

/* Bytes 0..15 of a checkpoint: the user block's magic. */
static const unsigned char ub_magic[16] = "trainval ckpt 1\n";

enum { UB_SIZE_AT = 16, UB_BODY_CRC_AT = 24, UB_CRC_AT = 28 };

static void put_le(unsigned char *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* CRC-32C of the user block but its own CRC field. */
static uint32_t ub_crc(const unsigned char *ub) {
  uint32_t crc = tv_crc32c(0, ub, UB_CRC_AT);
  return tv_crc32c(crc, ub + UB_CRC_AT + 4, TV_CKPT_USERBLOCK - UB_CRC_AT - 4);
}

/* Fills the user block of image[0..size) (zeros so far) as ckpt.h specifies. */
static void seal_userblock(unsigned char *image, size_t size) {
  memcpy(image, ub_magic, sizeof ub_magic);
  put_le(image + UB_SIZE_AT, (uint64_t)size, 8);
  put_le(image + UB_BODY_CRC_AT, tv_crc32c(0, image + TV_CKPT_USERBLOCK, size - TV_CKPT_USERBLOCK),
         4);
  put_le(image + UB_CRC_AT, ub_crc(image), 4);
}

int tv_ckpt_writer_finish(tv_ckpt_writer *w, tv_ckpt_info *info) {
  memset(info, 0, sizeof *info);
  if (w->failed) {
    int rc = writer_failed(w);
    tv_ckpt_writer_abort(w);
    return rc;
  }
  tv_h5_quiet();
  int rc = TV_OK, renamed = 0;
  unsigned char *image = NULL;
  tv_h5_close(&w->lcpl, H5Pclose);
  ssize_t size = -1, body = -1;
  if (H5Fflush(w->file, H5F_SCOPE_LOCAL) >= 0) body = H5Fget_file_image(w->file, NULL, 0);
  if (body > 0) size = body + TV_CKPT_USERBLOCK;
  if (size > 0 && !(image = calloc(1, (size_t)size))) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory for a %zd-byte checkpoint", w->tmp, size);
    goto fail;
  }
  /* The core driver's image starts at the superblock; the user block reserved at create time
   * is ours to prepend. */
  if (size <= 0 || H5Fget_file_image(w->file, image + TV_CKPT_USERBLOCK, (size_t)body) != body) {
    rc = tv_h5_fail(TV_ERR_IO, "%s: cannot build the checkpoint image", w->tmp);
    goto fail;
  }
  seal_userblock(image, (size_t)size);
  herr_t st = H5Fclose(w->file);
  w->file = H5I_INVALID_HID;
  if (st < 0) {
    rc = tv_h5_fail(TV_ERR_IO, "%s: cannot close the checkpoint image", w->tmp);
    goto fail;
  }
  if (write_all(w->fd, image, (size_t)size) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot write checkpoint", w->tmp);
    goto fail;
  }
  if (fsync(w->fd) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: fsync", w->tmp);
    goto fail;
  }
  int closed = close(w->fd);
  w->fd = -1;
  if (closed != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: close", w->tmp);
    goto fail;
  }
  if (rename(w->tmp, w->final) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot rename into place", w->final);
    goto fail;
  }
  renamed = 1;
  w->tmp[0] = '\0';
  if ((rc = tv_fs_fsync_dir(w->dir))) goto fail;
  snprintf(info->file, sizeof info->file, "%s", w->name);
  info->step = w->step;
  info->size = (int64_t)size;
  info->crc32c = tv_crc32c(0, image, (size_t)size);
  info->wall_time = w->wall_time;
  info->finite = w->finite;
  free(image);
  free(w);
  return TV_OK;
fail:
  if (renamed) unlink(w->final); /* not durable: take it back rather than leave it half-known */
  free(image);
  tv_ckpt_writer_abort(w);
  return rc;
}

int tv_ckpt_save(const char *dir, const tv_ckpt_header *h, const tv_varstore *vars,
                 const tv_ckpt_array *extra, int n_extra, tv_ckpt_info *info) {
  memset(info, 0, sizeof *info);
  if (n_extra < 0 || (n_extra > 0 && !extra))
    return tv_error(TV_ERR_INVALID, "%s: bad extra arrays", dir ? dir : "(null)");
  tv_ckpt_writer *w;
  int rc = tv_ckpt_writer_open(dir, h, &w);
  if (rc) return rc;
  if (vars && (rc = tv_ckpt_writer_variables(w, vars))) goto fail;
  for (int i = 0; i < n_extra; i++)
    if ((rc = tv_ckpt_writer_array(w, &extra[i]))) goto fail;
  return tv_ckpt_writer_finish(w, info);
fail:
  tv_ckpt_writer_abort(w);
  return rc;
}

/* ---- reading ---- */

struct tv_ckpt {
  hid_t file;
  int64_t step, epoch;
  double wall_time;
  int format_version;
  char *config, *version;
  char path[PATH_CAP];
};

/* 1 if the HDF5 signature is at offset 0 or a power of two from 512 (where HDF5 looks, after a
 * user block), 0 if not, -1 with errno on a read error. */
static int hdf5_signature(const char *path, int64_t size) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int found = 0;
  for (int64_t off = 0; off + 8 <= size && !found; off = off ? 2 * off : 512) {
    unsigned char buf[8];
    ssize_t r = pread(fd, buf, sizeof buf, (off_t)off);
    if (r < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    found = r == 8 && memcmp(buf, sig, 8) == 0;
  }
  close(fd);
  return found;
}

/* Records "path: not a trainval checkpoint (why)". */
static int not_ours(const tv_ckpt *c, const char *attr, const char *why) {
  return tv_error(TV_ERR_FORMAT, "%s: not a trainval checkpoint (root attribute %s: %s)", c->path,
                  attr, why);
}

static int read_header(tv_ckpt *c) {
  const char *why = "";
  char *format = NULL;
  int64_t version = 0;
  int rc = attr_str(c->file, "format", &format, &why);
  if (rc == TV_ERR_NOMEM) return tv_error(rc, "%s: out of memory", c->path);
  if (rc) return not_ours(c, "format", why);
  if (strcmp(format, TV_CKPT_FORMAT) != 0) {
    rc = tv_error(TV_ERR_FORMAT, "%s: not a trainval checkpoint (format is \"%.64s\", not %s)",
                  c->path, format, TV_CKPT_FORMAT);
    free(format);
    return rc;
  }
  free(format);
  if (attr_num(c->file, "format_version", H5T_NATIVE_INT64, &version, &why))
    return not_ours(c, "format_version", why);
  if (version > TV_CKPT_VERSION)
    return tv_error(TV_ERR_FORMAT,
                    "%s: checkpoint format_version %lld is newer than this trainval (%s) reads "
                    "(%d); upgrade trainval",
                    c->path, (long long)version, TV_VERSION, TV_CKPT_VERSION);
  if (version < 1) return not_ours(c, "format_version", "below 1");
  c->format_version = (int)version;
  if (attr_num(c->file, "step", H5T_NATIVE_INT64, &c->step, &why)) return not_ours(c, "step", why);
  if (c->step < 0) return not_ours(c, "step", "negative");
  if (attr_num(c->file, "epoch", H5T_NATIVE_INT64, &c->epoch, &why))
    return not_ours(c, "epoch", why);
  if (attr_num(c->file, "wall_time", H5T_NATIVE_DOUBLE, &c->wall_time, &why))
    return not_ours(c, "wall_time", why);
  rc = attr_str(c->file, "config", &c->config, &why);
  if (rc == TV_ERR_NOMEM) return tv_error(rc, "%s: out of memory", c->path);
  if (rc) return not_ours(c, "config", why);
  rc = attr_str(c->file, "trainval_version", &c->version, &why);
  if (rc == TV_ERR_NOMEM) return tv_error(rc, "%s: out of memory", c->path);
  if (rc && !(c->version = strdup(""))) return tv_error(TV_ERR_NOMEM, "%s: out of memory", c->path);
  return TV_OK;
}

/* Checks path's user block (size bytes on disk).  *verified is 1 if it holds ours and every
 * byte checks out, 0 if the file has none of ours (written by h5py or an older trainval); a
 * damaged one is TV_ERR_FORMAT.  A magic within a few bits of ours is a damaged one of ours,
 * never a foreign file. */
static int self_check(const char *path, int64_t size, int *verified) {
  *verified = 0;
  unsigned char ub[TV_CKPT_USERBLOCK], buf[1 << 16];
  int rc = TV_OK;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tv_error_errno(TV_ERR_IO, errno, "%s", path);
  ssize_t got = pread(fd, ub, sizeof ub, 0);
  if (got < 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s", path);
    goto out;
  }
  if ((size_t)got < sizeof ub_magic) goto out; /* too short to be ours: HDF5 refuses it */
  int flipped = 0;
  for (size_t i = 0; i < sizeof ub_magic; i++)
    for (unsigned x = ub[i] ^ ub_magic[i]; x; x &= x - 1) flipped++;
  if (flipped > 8) goto out;
  if (flipped) {
    rc = tv_error(TV_ERR_FORMAT,
                  "%s: not a trainval checkpoint (damaged: %d bits of its magic flipped)", path,
                  flipped);
    goto out;
  }
  if ((size_t)got < sizeof ub) {
    rc = tv_error(TV_ERR_FORMAT, "%s: not a trainval checkpoint (damaged: truncated to %lld bytes)",
                  path, (long long)size);
    goto out;
  }
  if (get_le(ub + UB_CRC_AT, 4) != ub_crc(ub)) {
    rc = tv_error(TV_ERR_FORMAT,
                  "%s: not a trainval checkpoint (damaged: its user block fails its checksum)",
                  path);
    goto out;
  }
  int64_t want = (int64_t)get_le(ub + UB_SIZE_AT, 8);
  if (want != size) {
    rc = tv_error(TV_ERR_FORMAT,
                  "%s: not a trainval checkpoint (damaged: %lld bytes on disk, written as %lld)",
                  path, (long long)size, (long long)want);
    goto out;
  }
  uint32_t crc = 0;
  for (off_t off = TV_CKPT_USERBLOCK;;) {
    ssize_t r = pread(fd, buf, sizeof buf, off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = tv_error_errno(TV_ERR_IO, errno, "%s: read", path);
      goto out;
    }
    if (r == 0) break;
    crc = tv_crc32c(crc, buf, (size_t)r);
    off += r;
  }
  uint32_t stored = (uint32_t)get_le(ub + UB_BODY_CRC_AT, 4);
  if (crc != stored) {
    rc = tv_error(TV_ERR_FORMAT,
                  "%s: not a trainval checkpoint (damaged: crc32c:%08x of its contents, written as "
                  "crc32c:%08x)",
                  path, (unsigned)crc, (unsigned)stored);
    goto out;
  }
  *verified = 1;
out:
  close(fd);
  return rc;
}

/* ---- parsing a file that cannot verify itself, in a child process ---- */

/* CPU seconds and address space the child may use: far above what a real checkpoint needs
 * (every dataset read once), far below a hang or a runaway allocation.  The fuzz build
 * (make fuzz) lowers the CPU time with -DTV_CHILD_CPU_S=2: a hang then costs it 2 s. */
#ifdef TV_CHILD_CPU_S
#define CHILD_CPU_S TV_CHILD_CPU_S
#else
#define CHILD_CPU_S 20
#endif
#define CHILD_AS_BYTES ((uint64_t)8 << 30)

static int open_hdf5(tv_ckpt *c);

typedef struct visit_ctx {
  tv_ckpt *c;
  int rc;
} visit_ctx;

/* Reads every attribute of obj as tv_ckpt_read_attr_* would. */
static herr_t visit_attr(hid_t obj, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  (void)data;
  hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
  hid_t t = attr >= 0 ? H5Aget_type(attr) : H5I_INVALID_HID;
  H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  tv_h5_close(&t, H5Tclose);
  tv_h5_close(&attr, H5Aclose);
  const char *why;
  int64_t i;
  double d;
  char *str = NULL;
  if (cls == H5T_INTEGER) (void)attr_num(obj, name, H5T_NATIVE_INT64, &i, &why);
  if (cls == H5T_FLOAT) (void)attr_num(obj, name, H5T_NATIVE_DOUBLE, &d, &why);
  if (cls == H5T_STRING) (void)attr_str(obj, name, &str, &why);
  free(str);
  return 0;
}

/* Opens every object, reads its attributes and, for a dataset of a type trainval reads, all its
 * data. */
#if H5_VERSION_GE(1, 12, 0)
static herr_t visit_obj(hid_t root, const char *name, const H5O_info2_t *info, void *data) {
#else
static herr_t visit_obj(hid_t root, const char *name, const H5O_info_t *info, void *data) {
#endif
  visit_ctx *v = data;
  hid_t obj = H5Oopen(root, name, H5P_DEFAULT), t = H5I_INVALID_HID, space = H5I_INVALID_HID;
  void *buf = NULL;
  if (obj < 0) goto out;
  hsize_t at = 0;
  (void)H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &at, visit_attr, NULL);
  if (info->type != H5O_TYPE_DATASET) goto out;
  if ((t = H5Dget_type(obj)) < 0 || (space = H5Dget_space(obj)) < 0) goto out;
  int known = classify(t) >= 0 || tv_h5_ieee_float(t);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (!known || n <= 0) goto out;
  int f64 = tv_h5_ieee_float(t) && H5Tget_size(t) == 8;
  int dt = classify(t);
  hid_t mt = f64 ? H5T_NATIVE_DOUBLE : mem_type((tv_ckpt_dtype)(dt >= 0 ? dt : TV_CKPT_F32));
  /* Held to the child's memory limit here too: a sanitizer build runs the child without it. */
  buf = (uint64_t)n <= CHILD_AS_BYTES / 8 ? malloc((size_t)n * 8) : NULL;
  if (!buf) {
    v->rc = tv_error(TV_ERR_NOMEM, "%s: /%s: out of memory for %lld values", v->c->path, name,
                     (long long)n);
    goto out;
  }
  (void)H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
out:
  free(buf);
  tv_h5_close(&space, H5Sclose);
  tv_h5_close(&t, H5Tclose);
  tv_h5_close(&obj, H5Oclose);
  return v->rc ? -1 : 0;
}

/* The child's work: everything the parent may parse later. */
static int parse_all(tv_ckpt *c) {
  int rc = open_hdf5(c);
  if (rc) return rc;
  visit_ctx v = {c, TV_OK};
#if H5_VERSION_GE(1, 12, 0)
  (void)H5Ovisit3(c->file, H5_INDEX_NAME, H5_ITER_INC, visit_obj, &v, H5O_INFO_BASIC);
#else
  (void)H5Ovisit2(c->file, H5_INDEX_NAME, H5_ITER_INC, visit_obj, &v, H5O_INFO_BASIC);
#endif
  return v.rc;
}

static int parse_all_fn(void *c) { return parse_all(c); }

/* Parses c's file in a child process limited in CPU time and memory (base/bounded.h): a crash or
 * a hang inside libhdf5 on a crafted file becomes one error here.  TV_OK means the child read
 * every object (and the parent, doing less, may); otherwise the child's error or what stopped
 * it. */
static int parse_in_child(tv_ckpt *c) {
  const tv_bounded_limits lim = {CHILD_CPU_S, CHILD_AS_BYTES};
  tv_bounded_end end;
  int rc = tv_run_bounded(parse_all_fn, c, &lim, c->path, &end);
  if (rc == TV_OK || end.kind == TV_BOUNDED_RETURNED) return rc;
  char how[128];
  return tv_error(TV_ERR_FORMAT, "%s: not a trainval checkpoint (HDF5 %s%s)", c->path,
                  tv_bounded_describe(&end, &lim, how, sizeof how),
                  end.kind == TV_BOUNDED_EXITED ? ""
                  : end.kind == TV_BOUNDED_CPU  ? ": corrupt or crafted"
                                                : "; corrupt or crafted");
}

/* Opens c->path with HDF5 and reads the root attributes. */
static int open_hdf5(tv_ckpt *c) {
  hid_t fapl = tv_h5_fapl();
  if (fapl >= 0) c->file = H5Fopen(c->path, H5F_ACC_RDONLY, fapl);
  if (c->file < 0) {
    char d[DETAIL_CAP];
    int rc = tv_error(TV_ERR_FORMAT, "%s: not a trainval checkpoint (HDF5 cannot open it: %s)",
                      c->path, tv_h5_detail(d, sizeof d)[0] ? d : "corrupt");
    tv_h5_close(&fapl, H5Pclose);
    return rc;
  }
  tv_h5_close(&fapl, H5Pclose);
  return read_header(c);
}

int tv_ckpt_open(const char *path, const tv_ckpt_info *expect, tv_ckpt **out) {
  *out = NULL;
  tv_h5_quiet();
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    return tv_error_errno(e == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO, e, "%s", path);
  }
  if (!S_ISREG(st.st_mode))
    return tv_error(TV_ERR_FORMAT, "%s: not a trainval checkpoint (not a regular file)", path);
  int64_t size = (int64_t)st.st_size;
  if (expect) {
    uint32_t crc;
    int rc = tv_fs_checksum(path, &crc, &size);
    if (rc) return rc;
    if (size != expect->size || crc != expect->crc32c)
      return tv_error(
          TV_ERR_CHECKSUM,
          "%s: checksum mismatch: %lld bytes, crc32c:%08x on disk; the manifest says %lld bytes, "
          "crc32c:%08x",
          path, (long long)size, (unsigned)crc, (long long)expect->size, (unsigned)expect->crc32c);
  }
  /* The manifest's checksum covers every byte; without it, the file's own user block must. */
  int verified = expect != NULL;
  if (!expect) {
    int rc = self_check(path, size, &verified);
    if (rc) return rc;
  }
  int sig = hdf5_signature(path, size);
  if (sig < 0) return tv_error_errno(TV_ERR_IO, errno, "%s", path);
  if (sig == 0)
    return tv_error(TV_ERR_FORMAT, "%s: not a trainval checkpoint (not an HDF5 file)", path);
  tv_ckpt *c = calloc(1, sizeof *c);
  if (!c) return tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
  c->file = H5I_INVALID_HID;
  int rc = TV_OK;
  if (snprintf(c->path, sizeof c->path, "%s", path) >= (int)sizeof c->path) {
    rc = tv_error(TV_ERR_INVALID, "%s: path too long", path);
    goto fail;
  }
  if (!verified && (rc = parse_in_child(c))) goto fail;
  if ((rc = open_hdf5(c))) goto fail;
  *out = c;
  return TV_OK;
fail:
  tv_ckpt_close(c);
  return rc;
}

void tv_ckpt_close(tv_ckpt *c) {
  if (!c) return;
  tv_h5_close(&c->file, H5Fclose);
  free(c->config);
  free(c->version);
  free(c);
}

int64_t tv_ckpt_step(const tv_ckpt *c) { return c->step; }
int64_t tv_ckpt_epoch(const tv_ckpt *c) { return c->epoch; }
double tv_ckpt_wall_time(const tv_ckpt *c) { return c->wall_time; }
int tv_ckpt_format_version(const tv_ckpt *c) { return c->format_version; }
const char *tv_ckpt_config_text(const tv_ckpt *c) { return c->config; }
const char *tv_ckpt_trainval_version(const tv_ckpt *c) { return c->version; }
const char *tv_ckpt_path(const tv_ckpt *c) { return c->path; }

/* A lookup on the way to path that libhdf5 could not read: a damaged file, never "absent". */
static int unreadable_links(const tv_ckpt *c, const char *path) {
  return tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable links", c->path, path);
}

int tv_ckpt_has(tv_ckpt *c, const char *path) {
  tv_h5_quiet();
  if (!tv_h5_valid_abs(path)) return 0;
  int found = tv_h5_lookup_checked(c->file, path);
  if (found == -2) {
    (void)unreadable_links(c, path);
    return -1;
  }
  return found == 1;
}

/* Differences between a file's /variables and a store, the first MAX_DIFFS spelled out. */
typedef struct diffs {
  char text[MSG_CAP / 2];
  size_t len;
  int n;
} diffs;

TV_PRINTF(2, 3) static void diff_add(diffs *d, const char *fmt, ...) {
  if (d->n++ >= MAX_DIFFS || d->len + 3 >= sizeof d->text) return;
  if (d->len) {
    memcpy(d->text + d->len, "; ", 3);
    d->len += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(d->text + d->len, sizeof d->text - d->len, fmt, ap);
  va_end(ap);
  if (k > 0)
    d->len += (size_t)k < sizeof d->text - d->len ? (size_t)k : sizeof d->text - d->len - 1;
}

/* "[512, 784]" for a dataspace; "null" for an empty one. */
static const char *space_str(hid_t space, char *buf, size_t cap) {
  hsize_t dims[H5S_MAX_RANK];
  int rank = H5Sget_simple_extent_ndims(space);
  if (H5Sget_simple_extent_type(space) == H5S_NULL || rank < 0 || rank > H5S_MAX_RANK ||
      H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
    snprintf(buf, cap, "%s", H5Sget_simple_extent_type(space) == H5S_NULL ? "null" : "?");
    return buf;
  }
  size_t at = 0;
  buf[0] = '\0';
  for (int i = -1; i <= rank && at < cap; i++) {
    int k = i < 0 ? snprintf(buf + at, cap - at, "[")
            : i == rank
                ? snprintf(buf + at, cap - at, "]")
                : snprintf(buf + at, cap - at, i ? ", %llu" : "%llu", (unsigned long long)dims[i]);
    if (k < 0) break;
    at += (size_t)k;
  }
  return buf;
}

/* 1 if the dataspace is exactly shape s. */
static int space_is(hid_t space, tv_shape s) {
  H5S_class_t cls = H5Sget_simple_extent_type(space);
  if (cls == H5S_SCALAR) return s.ndim == 0;
  if (cls != H5S_SIMPLE || H5Sget_simple_extent_ndims(space) != s.ndim) return 0;
  hsize_t dims[TV_MAX_DIMS];
  if (H5Sget_simple_extent_dims(space, dims, NULL) < 0) return 0;
  for (int i = 0; i < s.ndim; i++)
    if (dims[i] != (hsize_t)s.dim[i]) return 0;
  return 1;
}

/* Checks one store variable against the file and, if everything so far matches, reads it into
 * scratch.  Differences go to d; only unreadable data is an error. */
static int check_var(tv_ckpt *c, const tv_var *v, float *scratch, diffs *d) {
  char path[PATH_CAP], a[96], b[96];
  snprintf(path, sizeof path, "/variables/%s", v->name);
  int found = tv_h5_valid_rel(v->name) ? tv_h5_lookup_checked(c->file, path) : 0;
  if (found == -2) return unreadable_links(c, path);
  if (found == 0) {
    diff_add(d, "%s: missing in file", v->name);
    return TV_OK;
  }
  if (found < 0) {
    diff_add(d, "%s: a link in file, not a dataset", v->name);
    return TV_OK;
  }
  int rc = TV_OK;
  hid_t obj = H5Oopen(c->file, path, H5P_DEFAULT), t = H5I_INVALID_HID, space = H5I_INVALID_HID;
  if (obj < 0) {
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable", c->path, path);
    goto out;
  }
  if (H5Iget_type(obj) != H5I_DATASET) {
    diff_add(d, "%s: a group in file, not a dataset", v->name);
    goto out;
  }
  if ((t = H5Dget_type(obj)) < 0 || (space = H5Dget_space(obj)) < 0) {
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable", c->path, path);
    goto out;
  }
  if (!tv_h5_ieee_float(t)) {
    diff_add(d, "%s: dtype %s in file, float32 in model", v->name, tv_h5_type_name(t, a, sizeof a));
    goto out;
  }
  if (!space_is(space, v->shape)) {
    diff_add(d, "%s: shape %s in file, %s in model", v->name, space_str(space, a, sizeof a),
             tv_shape_str(v->shape, b, sizeof b));
    goto out;
  }
  if (scratch && d->n == 0 && v->count > 0 &&
      H5Dread(obj, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, scratch + v->offset) < 0)
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: %s: cannot read data", c->path, path);
out:
  tv_h5_close(&space, H5Sclose);
  tv_h5_close(&t, H5Tclose);
  tv_h5_close(&obj, H5Oclose);
  return rc;
}

/* Adds a difference for every object under group (whose name relative to /variables is prefix,
 * "" at the top) that is not a store variable. */
static int scan_extra(tv_ckpt *c, hid_t group, const char *prefix, int depth,
                      const tv_varstore *vars, diffs *d) {
  H5G_info_t gi;
  if (H5Gget_info(group, &gi) < 0)
    return tv_h5_fail(TV_ERR_FORMAT, "%s: /variables/%s: unreadable group", c->path, prefix);
  for (hsize_t i = 0; i < gi.nlinks; i++) {
    char name[NAME_CAP], rel[PATH_CAP];
    ssize_t len = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                                     H5P_DEFAULT);
    if (len < 0)
      return tv_h5_fail(TV_ERR_FORMAT, "%s: /variables/%s: unreadable group", c->path, prefix);
    if ((size_t)len >= sizeof name) {
      diff_add(d, "%s%s%.32s...: in file, not in model", prefix, *prefix ? "/" : "", name);
      continue;
    }
    snprintf(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "", name);
    if (tv_varstore_find(vars, rel) >= 0) continue; /* judged by check_var */
    H5L_info_t li;
    if (H5Lget_info(group, name, &li, H5P_DEFAULT) < 0)
      return tv_h5_fail(TV_ERR_FORMAT, "%s: /variables/%s: unreadable link", c->path, rel);
    hid_t obj = li.type == H5L_TYPE_HARD ? H5Oopen(group, name, H5P_DEFAULT) : H5I_INVALID_HID;
    if (obj >= 0 && H5Iget_type(obj) == H5I_GROUP && depth < MAX_DEPTH) {
      int rc = scan_extra(c, obj, rel, depth + 1, vars, d);
      H5Oclose(obj);
      if (rc) return rc;
      continue;
    }
    tv_h5_close(&obj, H5Oclose);
    diff_add(d, "%s: in file, not in model", rel);
  }
  return TV_OK;
}

/* Compares /variables with the store's declared variables; with scratch, also reads each value
 * (at its store offset) while no difference has been found. */
static int compare_vars(tv_ckpt *c, const tv_varstore *vars, float *scratch) {
  diffs d = {.len = 0};
  int rc = TV_OK;
  hid_t group = H5I_INVALID_HID;
  int n = tv_varstore_count(vars);
  for (int i = 0; i < n && !rc; i++) rc = check_var(c, tv_varstore_cvar(vars, i), scratch, &d);
  if (rc) goto out;
  int found = tv_h5_lookup_checked(c->file, "/variables");
  if (found == -2) {
    rc = unreadable_links(c, "/variables");
    goto out;
  }
  if (found == 1) {
    group = H5Oopen(c->file, "/variables", H5P_DEFAULT);
    if (group < 0 || H5Iget_type(group) != H5I_GROUP) {
      rc = tv_error(TV_ERR_FORMAT, "%s: /variables is not a group", c->path);
      goto out;
    }
    if ((rc = scan_extra(c, group, "", 0, vars, &d))) goto out;
  } else if (found < 0) {
    rc = tv_error(TV_ERR_FORMAT, "%s: /variables is a link", c->path);
    goto out;
  }
  if (d.n > MAX_DIFFS)
    rc = tv_error(TV_ERR_MISMATCH, "%s: %s; and %d more differences", c->path, d.text,
                  d.n - MAX_DIFFS);
  else if (d.n > 0)
    rc = tv_error(TV_ERR_MISMATCH, "%s: %s", c->path, d.text);
out:
  tv_h5_close(&group, H5Oclose);
  return rc;
}

int tv_ckpt_check_variables(tv_ckpt *c, const tv_varstore *vars) {
  tv_h5_quiet();
  return compare_vars(c, vars, NULL);
}

int tv_ckpt_read_variables(tv_ckpt *c, tv_varstore *vars) {
  tv_h5_quiet();
  int n = tv_varstore_count(vars);
  if (n > 0 && !tv_varstore_values(vars))
    return tv_error(TV_ERR_INVALID, "%s: variable store is not sealed", c->path);
  /* Shapes first: a file that disagrees costs no allocation. */
  int rc = compare_vars(c, vars, NULL);
  if (rc != TV_OK) return rc;
  size_t total = tv_varstore_size(vars);
  float *scratch = malloc((total ? total : 1) * sizeof *scratch);
  if (!scratch) return tv_error(TV_ERR_NOMEM, "%s: out of memory for %zu values", c->path, total);
  rc = compare_vars(c, vars, scratch);
  for (int i = 0; rc == TV_OK && i < n; i++) {
    tv_var *v = tv_varstore_var(vars, i);
    if (v->count) memcpy(v->value, scratch + v->offset, v->count * sizeof *scratch);
  }
  free(scratch);
  return rc;
}

/* Opens the dataset at path and reports its dtype (-1 if none of ours) and element count. */
static int open_array(tv_ckpt *c, const char *path, hid_t *dset, int *dtype, size_t *count) {
  *dset = H5I_INVALID_HID;
  if (!tv_h5_valid_abs(path) || strcmp(path, "/") == 0)
    return tv_error(TV_ERR_INVALID, "%s: \"%s\" is not an array path", c->path,
                    path ? path : "(null)");
  tv_h5_quiet();
  int found = tv_h5_lookup_checked(c->file, path);
  if (found == -2) return unreadable_links(c, path);
  if (found == 0) return tv_error(TV_ERR_NOT_FOUND, "%s: %s: not in the checkpoint", c->path, path);
  if (found < 0) return tv_error(TV_ERR_MISMATCH, "%s: %s: a link, not an array", c->path, path);
  int rc = TV_OK;
  hid_t obj = H5Oopen(c->file, path, H5P_DEFAULT), t = H5I_INVALID_HID, space = H5I_INVALID_HID;
  if (obj < 0) {
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable", c->path, path);
    goto out;
  }
  if (H5Iget_type(obj) != H5I_DATASET) {
    rc = tv_error(TV_ERR_MISMATCH, "%s: %s: a group, not an array", c->path, path);
    goto out;
  }
  if ((t = H5Dget_type(obj)) < 0 || (space = H5Dget_space(obj)) < 0) {
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable", c->path, path);
    goto out;
  }
  hssize_t np =
      H5Sget_simple_extent_type(space) == H5S_NULL ? 0 : H5Sget_simple_extent_npoints(space);
  if (np < 0) {
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable", c->path, path);
    goto out;
  }
  *dtype = classify(t);
  *count = (size_t)np;
  if (*dtype < 0) {
    char a[32];
    rc = tv_error(TV_ERR_MISMATCH, "%s: %s: dtype %s is not one trainval stores", c->path, path,
                  tv_h5_type_name(t, a, sizeof a));
    goto out;
  }
  *dset = obj;
  obj = H5I_INVALID_HID;
out:
  tv_h5_close(&space, H5Sclose);
  tv_h5_close(&t, H5Tclose);
  tv_h5_close(&obj, H5Oclose);
  return rc;
}

int tv_ckpt_array_info(tv_ckpt *c, const char *path, tv_ckpt_dtype *dtype, size_t *count) {
  hid_t dset;
  int t;
  int rc = open_array(c, path, &dset, &t, count);
  if (rc) return rc;
  *dtype = (tv_ckpt_dtype)t;
  H5Dclose(dset);
  return TV_OK;
}

int tv_ckpt_read_array(tv_ckpt *c, const char *path, tv_ckpt_dtype dtype, size_t count,
                       void *data) {
  if (!valid_dtype(dtype) || (count > 0 && !data))
    return tv_error(TV_ERR_INVALID, "%s: %s: bad dtype or buffer", c->path, path ? path : "(null)");
  hid_t dset;
  int t;
  size_t n;
  int rc = open_array(c, path, &dset, &t, &n);
  if (rc) return rc;
  if (t != (int)dtype)
    rc = tv_error(TV_ERR_MISMATCH, "%s: %s: dtype %s in file, %s expected", c->path, path,
                  dtype_name((tv_ckpt_dtype)t), dtype_name(dtype));
  else if (n != count)
    rc = tv_error(TV_ERR_MISMATCH, "%s: %s: %zu elements in file, %zu expected", c->path, path, n,
                  count);
  else if (count > 0 && H5Dread(dset, mem_type(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    rc = tv_h5_fail(TV_ERR_FORMAT, "%s: %s: cannot read data", c->path, path);
  H5Dclose(dset);
  return rc;
}

/* Opens the object at path for reading an attribute. */
static int attr_source(tv_ckpt *c, const char *path, hid_t *obj) {
  *obj = H5I_INVALID_HID;
  if (!tv_h5_valid_abs(path))
    return tv_error(TV_ERR_INVALID, "%s: \"%s\" is not a path", c->path, path ? path : "(null)");
  tv_h5_quiet();
  int found = tv_h5_lookup_checked(c->file, path);
  if (found == -2) return unreadable_links(c, path);
  if (found != 1) return tv_error(TV_ERR_NOT_FOUND, "%s: %s: not in the checkpoint", c->path, path);
  *obj = H5Oopen(c->file, path, H5P_DEFAULT);
  if (*obj < 0) return tv_h5_fail(TV_ERR_FORMAT, "%s: %s: unreadable", c->path, path);
  return TV_OK;
}

static int attr_result(const tv_ckpt *c, int rc, const char *path, const char *name,
                       const char *why) {
  if (rc) return tv_error(rc, "%s: %s: attribute %s: %s", c->path, path, name, why);
  return TV_OK;
}

int tv_ckpt_read_attr_i64(tv_ckpt *c, const char *path, const char *name, int64_t *value) {
  hid_t obj;
  const char *why = "";
  int rc = attr_source(c, path, &obj);
  if (rc) return rc;
  rc = attr_num(obj, name, H5T_NATIVE_INT64, value, &why);
  H5Oclose(obj);
  return attr_result(c, rc, path, name, why);
}

int tv_ckpt_read_attr_f64(tv_ckpt *c, const char *path, const char *name, double *value) {
  hid_t obj;
  const char *why = "";
  int rc = attr_source(c, path, &obj);
  if (rc) return rc;
  rc = attr_num(obj, name, H5T_NATIVE_DOUBLE, value, &why);
  H5Oclose(obj);
  return attr_result(c, rc, path, name, why);
}

int tv_ckpt_read_attr_str(tv_ckpt *c, const char *path, const char *name, char *buf, size_t cap) {
  hid_t obj;
  const char *why = "";
  char *s = NULL;
  int rc = attr_source(c, path, &obj);
  if (rc) return rc;
  rc = attr_str(obj, name, &s, &why);
  H5Oclose(obj);
  if (!rc && strlen(s) >= cap) {
    rc = TV_ERR_MISMATCH;
    why = "longer than the buffer";
  }
  if (!rc) snprintf(buf, cap, "%s", s);
  free(s);
  return attr_result(c, rc, path, name, why);
}
