/* pin.c — an evaluator's pins and best.h5 (see pin.h): hard links, or copies read through one
 * descriptor where links are refused, so retention unlinking a checkpoint never cuts a read
 * short.
 */
#include "trainval/pin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "trainval/manifest.h"

enum { PATH_CAP = 4096 };

static int gone_errno(int e) { return e == ENOENT || e == ESTALE; }

/* Errors for which a hard link will never work here: fall back to a copy. */
static int no_links_errno(int e) {
  return e == EPERM || e == EOPNOTSUPP || e == EXDEV || e == EMLINK || e == ENOSYS || e == EACCES;
}

/* Copies src to dst (created exclusively), reading through one descriptor so a concurrent
 * unlink of src cannot cut the copy short. */
static int copy_file(const char *src, const char *dst) {
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    int e = errno;
    return tv_error_errno(gone_errno(e) ? TV_ERR_NOT_FOUND : TV_ERR_IO, e, "%s", src);
  }
  int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) {
    int e = errno;
    close(in);
    return tv_error_errno(TV_ERR_IO, e, "%s: cannot create", dst);
  }
  char buf[1 << 16];
  int rc = TV_OK;
  for (;;) {
    ssize_t r = read(in, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = tv_error_errno(TV_ERR_IO, errno, "%s: read", src);
      break;
    }
    if (r == 0) break;
    for (ssize_t off = 0; off < r && rc == TV_OK;) {
      ssize_t w = write(out, buf + off, (size_t)(r - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0)
        rc = tv_error_errno(TV_ERR_IO, errno, "%s: write", dst);
      else
        off += w;
    }
    if (rc) break;
  }
  close(in);
  if (close(out) != 0 && rc == TV_OK) rc = tv_error_errno(TV_ERR_IO, errno, "%s: close", dst);
  if (rc) unlink(dst);
  return rc;
}

/* Hard link src as dst (dst must not exist), or a copy where links are refused. */
static int link_or_copy(const char *src, const char *dst) {
  if (link(src, dst) == 0) return TV_OK;
  int e = errno;
  if (gone_errno(e)) return tv_error_errno(TV_ERR_NOT_FOUND, e, "%s", src);
  if (no_links_errno(e)) return copy_file(src, dst);
  return tv_error_errno(TV_ERR_IO, e, "%s: cannot link as %s", src, dst);
}

static int join3(char *out, size_t cap, const char *a, const char *b, const char *c) {
  int n = snprintf(out, cap, "%s/%s/%s", a, b, c);
  if (n < 0 || (size_t)n >= cap)
    return tv_error(TV_ERR_INVALID, "%s/%s/%s: path too long", a, b, c);
  return TV_OK;
}

int tv_pin_create(const char *dir, const char *name, const char *file, char *pin, size_t cap) {
  char src[PATH_CAP], base[TV_MANIFEST_FILE_CAP + 8];
  snprintf(base, sizeof base, "%s%s", TV_PIN_PREFIX, file);
  int rc = tv_fs_join(src, sizeof src, dir, file);
  if (rc == TV_OK) rc = join3(pin, cap, dir, name, base);
  if (rc) return rc;
  if (unlink(pin) != 0 && errno != ENOENT)
    return tv_error_errno(TV_ERR_IO, errno, "%s: cannot remove a stale pin", pin);
  return link_or_copy(src, pin);
}

int tv_pin_clear(const char *dir, const char *name) {
  char sub[PATH_CAP];
  int rc = tv_fs_join(sub, sizeof sub, dir, name);
  if (rc) return rc;
  DIR *d = opendir(sub);
  if (!d) {
    if (errno == ENOENT) return TV_OK;
    return tv_error_errno(TV_ERR_IO, errno, "%s: cannot list", sub);
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, TV_PIN_PREFIX, strlen(TV_PIN_PREFIX)) != 0 &&
        strncmp(e->d_name, ".best.h5.tmp.", 13) != 0)
      continue;
    char p[PATH_CAP];
    if (tv_fs_join(p, sizeof p, sub, e->d_name) == TV_OK) unlink(p);
  }
  closedir(d);
  return TV_OK;
}

int tv_best_update(const char *dir, const char *name, const char *src) {
  char tmp[PATH_CAP], dst[PATH_CAP], base[64];
  snprintf(base, sizeof base, ".best.h5.tmp.%ld", (long)getpid());
  int rc = join3(tmp, sizeof tmp, dir, name, base);
  if (rc == TV_OK) rc = join3(dst, sizeof dst, dir, name, TV_BEST_FILE);
  if (rc) return rc;
  unlink(tmp);
  if ((rc = link_or_copy(src, tmp))) return rc;
  if (rename(tmp, dst) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot rename into place", dst);
    unlink(tmp);
    return rc;
  }
  return tv_fs_fsync_dir(dst);
}
