/* h5util.c — HDF5 plumbing shared by the checkpoint and data readers (see h5util.h). */
#include "base/h5util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { DETAIL_CAP = 160, MSG_CAP = 768, PATH_CAP = 4096 };

void tv_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct detail {
  char *buf;
  size_t cap;
} detail;

static herr_t detail_cb(unsigned n, const H5E_error2_t *e, void *ctx) {
  detail *d = ctx;
  (void)n;
  if (d->buf[0] != '\0' || !e->desc || e->desc[0] == '\0') return 0;
  const char *s = e->desc;
  size_t len = strlen(s);
  const char *errmsg = strstr(s, "error message = '"); /* low-level I/O: keep strerror only */
  if (errmsg) {
    s = errmsg + strlen("error message = '");
    const char *end = strchr(s, '\'');
    len = end ? (size_t)(end - s) : strlen(s);
  }
  if (len > d->cap - 1) len = d->cap - 1;
  memcpy(d->buf, s, len);
  d->buf[len] = '\0';
  return 0;
}

const char *tv_h5_detail(char *buf, size_t cap) {
  buf[0] = '\0';
  detail ctx = {buf, cap};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, detail_cb, &ctx);
  return buf;
}

int tv_h5_fail(int code, const char *fmt, ...) {
  char d[DETAIL_CAP];
  tv_h5_detail(d, sizeof d);
  char msg[MSG_CAP];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (d[0]) return tv_error(code, "%s (HDF5: %s)", msg, d);
  return tv_error(code, "%s", msg);
}

void tv_h5_close(hid_t *id, herr_t (*fn)(hid_t)) {
  if (*id >= 0) fn(*id);
  *id = H5I_INVALID_HID;
}

hid_t tv_h5_fapl(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return fapl;
  if (H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
    H5Pclose(fapl);
    return H5I_INVALID_HID;
  }
#if H5_VERSION_GE(1, 10, 7)
  if (H5Pset_file_locking(fapl, 0, 1) < 0) {
    H5Pclose(fapl);
    return H5I_INVALID_HID;
  }
#endif
  return fapl;
}

int tv_h5_ieee_float(hid_t ftype) {
  return H5Tequal(ftype, H5T_IEEE_F32LE) > 0 || H5Tequal(ftype, H5T_IEEE_F32BE) > 0 ||
         H5Tequal(ftype, H5T_IEEE_F64LE) > 0 || H5Tequal(ftype, H5T_IEEE_F64BE) > 0;
}

const char *tv_h5_type_name(hid_t ftype, char *buf, size_t cap) {
  size_t bits = H5Tget_size(ftype) * 8;
  switch (H5Tget_class(ftype)) {
  case H5T_FLOAT:
    snprintf(buf, cap, "%sfloat%zu", tv_h5_ieee_float(ftype) ? "" : "a non-IEEE ", bits);
    break;
  case H5T_INTEGER:
    snprintf(buf, cap, "%sint%zu", H5Tget_sign(ftype) == H5T_SGN_2 ? "" : "u", bits);
    break;
  case H5T_STRING:
    snprintf(buf, cap, "string");
    break;
  default:
    snprintf(buf, cap, "a non-numeric type");
    break;
  }
  return buf;
}

int tv_h5_valid_rel(const char *s) {
  for (;;) {
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    if (!slash) return 1;
    s = slash + 1;
  }
}

int tv_h5_valid_abs(const char *path) {
  return path && path[0] == '/' && (path[1] == '\0' || tv_h5_valid_rel(path + 1));
}

int tv_h5_lookup_checked(hid_t file, const char *path) {
  if (strcmp(path, "/") == 0) return 1;
  char buf[PATH_CAP];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return 0;
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char c = *p;
    *p = '\0';
    htri_t there = H5Lexists(file, buf, H5P_DEFAULT);
    if (there < 0) return -2;
    if (there == 0) return 0;
    H5L_info_t info;
    if (H5Lget_info(file, buf, &info, H5P_DEFAULT) < 0) return -2;
    if (info.type != H5L_TYPE_HARD) return -1;
    if (c == '\0') return 1;
    /* Below a dataset there is nothing (libhdf5 would fail H5Lexists there, not answer "no"). */
    hid_t obj = H5Oopen(file, buf, H5P_DEFAULT);
    if (obj < 0) return -2;
    H5I_type_t type = H5Iget_type(obj);
    H5Oclose(obj);
    if (type != H5I_GROUP) return 0;
    *p = c;
  }
}
