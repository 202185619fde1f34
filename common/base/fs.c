/* fs.c — durable writes, whole-file reads, CRC-32C (see fs.h). */
#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int tv_fs_join(char *out, size_t cap, const char *dir, const char *name) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= cap) return tv_error(TV_ERR_INVALID, "%s/%s: path too long", dir, name);
  return TV_OK;
}

static int fsync_path(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0) return tv_error_errno(TV_ERR_IO, errno, "%s: cannot open for fsync", path);
  int rc = TV_OK;
  if (fsync(fd) != 0 && errno != EINVAL) rc = tv_error_errno(TV_ERR_IO, errno, "%s: fsync", path);
  close(fd);
  return rc;
}

int tv_fs_fsync_file(const char *path) { return fsync_path(path, O_RDONLY); }

int tv_fs_fsync_dir(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return fsync_path(path, O_RDONLY | O_DIRECTORY);
  char copy[4096];
  if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy)
    return tv_error(TV_ERR_INVALID, "%s: path too long", path);
  return fsync_path(dirname(copy), O_RDONLY | O_DIRECTORY);
}

/* Writes data to an already open descriptor, retrying short writes and EINTR. */
static int write_all(int fd, const char *path, const char *p, size_t left) {
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return tv_error_errno(TV_ERR_IO, errno, "%s: write", path);
    p += w;
    left -= (size_t)w;
  }
  return TV_OK;
}

/* An output being written: to tmp (renamed over path by commit) or, in place, to path itself. */
struct tv_fs_output {
  int fd;
  int in_place;        /* a FIFO, a device or a socket: written where it is */
  char path[4096];     /* the target (through links: the link's target) */
  char tmp[4096 + 32]; /* path.tmp.PID, or "" in place */
};

/* Creates path.tmp.PID for a replace of path. */
static int temp_open(const char *path, tv_fs_output **out) {
  *out = NULL;
  tv_fs_output *o = calloc(1, sizeof *o);
  if (!o) return tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
  int n = snprintf(o->path, sizeof o->path, "%s", path);
  int m = snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid());
  if (n < 0 || (size_t)n >= sizeof o->path || m < 0 || (size_t)m >= sizeof o->tmp) {
    free(o);
    return tv_error(TV_ERR_INVALID, "%s: path too long", path);
  }
  o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (o->fd < 0) {
    int e = errno;
    int rc = tv_error_errno(TV_ERR_IO, e, "%s: cannot create", o->tmp);
    free(o);
    return rc;
  }
  *out = o;
  return TV_OK;
}

int tv_fs_output_write(tv_fs_output *o, const void *data, size_t len) {
  return write_all(o->fd, o->in_place ? o->path : o->tmp, data, len);
}

void tv_fs_output_abort(tv_fs_output *o) {
  if (!o) return;
  if (o->fd >= 0) close(o->fd);
  if (!o->in_place) unlink(o->tmp);
  free(o);
}

int tv_fs_output_commit(tv_fs_output *o) {
  int rc = TV_OK;
  if (o->in_place) {
    if (close(o->fd) != 0) rc = tv_error_errno(TV_ERR_IO, errno, "%s: close", o->path);
    free(o);
    return rc;
  }
  if (fsync(o->fd) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: fsync", o->tmp);
    goto fail;
  }
  int fd = o->fd;
  o->fd = -1;
  if (close(fd) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: close", o->tmp);
    goto fail;
  }
  if (rename(o->tmp, o->path) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot rename into place", o->path);
    goto fail;
  }
  rc = tv_fs_fsync_dir(o->path);
  free(o);
  return rc;
fail:
  tv_fs_output_abort(o);
  return rc;
}

/* Writes data to o (opened with rc) and commits it, or aborts it on the first failure. */
static int write_whole(int rc, tv_fs_output *o, const void *data, size_t len) {
  if (rc == TV_OK) rc = tv_fs_output_write(o, data, len);
  if (rc == TV_OK) return tv_fs_output_commit(o);
  tv_fs_output_abort(o);
  return rc;
}

int tv_fs_write_atomic(const char *path, const void *data, size_t len) {
  tv_fs_output *o = NULL;
  int rc = temp_open(path, &o);
  return write_whole(rc, o, data, len);
}

int tv_fs_output_open(const char *path, tv_fs_output **out) {
  *out = NULL;
  struct stat st;
  if (stat(path, &st) != 0) return temp_open(path, out); /* new, or a dangling link */
  if (S_ISDIR(st.st_mode)) return tv_error(TV_ERR_INVALID, "%s: is a directory", path);
  if (S_ISREG(st.st_mode)) {
    char *target = realpath(path, NULL); /* through links: the link stays, its target changes */
    if (!target) return tv_error_errno(TV_ERR_IO, errno, "%s: cannot resolve", path);
    int rc = temp_open(target, out);
    free(target);
    return rc;
  }
  tv_fs_output *o = calloc(1, sizeof *o);
  if (!o) return tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
  if (snprintf(o->path, sizeof o->path, "%s", path) >= (int)sizeof o->path) {
    free(o);
    return tv_error(TV_ERR_INVALID, "%s: path too long", path);
  }
  o->in_place = 1;
  o->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (o->fd < 0) {
    int rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot open", path);
    free(o);
    return rc;
  }
  *out = o;
  return TV_OK;
}

int tv_fs_write_output(const char *path, const void *data, size_t len) {
  tv_fs_output *o = NULL;
  int rc = tv_fs_output_open(path, &o);
  return write_whole(rc, o, data, len);
}

int tv_fs_read_file(const char *path, size_t max, char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return tv_error_errno(e == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO, e, "%s", path);
  }
  int rc = TV_OK;
  size_t cap = 4096, n = 0;
  char *buf = NULL;
  FILE *f = NULL;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: stat", path);
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = tv_error(TV_ERR_IO, "%s: not a regular file", path);
    goto out;
  }
  if (max && (uintmax_t)st.st_size > max) {
    rc = tv_error(TV_ERR_IO, "%s: larger than %zu bytes", path, max);
    goto out;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: fcntl", path);
    goto out;
  }
  if (!(f = fdopen(fd, "rb"))) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: fdopen", path);
    goto out;
  }
  fd = -1; /* f owns it */
  if (!(buf = malloc(cap))) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
    goto out;
  }
  for (;;) {
    if (cap - n < 2) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
        goto out;
      }
      buf = nb;
      cap *= 2;
    }
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0) break;
    if (max && n > max) { /* it grew after the fstat */
      rc = tv_error(TV_ERR_IO, "%s: larger than %zu bytes", path, max);
      goto out;
    }
  }
  if (ferror(f)) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: read", path);
    goto out;
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  buf = NULL;
out:
  free(buf);
  if (f) fclose(f);
  if (fd >= 0) close(fd);
  return rc;
}

int tv_fs_read_all(const char *path, char **data, size_t *len) {
  return tv_fs_read_file(path, 0, data, len);
}

int tv_fs_mkdirs(const char *path) {
  char buf[4096];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
    return tv_error(TV_ERR_INVALID, "%s: path too long", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return tv_error_errno(TV_ERR_IO, errno, "%s: cannot create directory", buf);
      struct stat st;
      if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return tv_error(TV_ERR_IO, "%s: exists and is not a directory", buf);
      *p = c;
      if (c == '\0') break;
    }
  }
  return TV_OK;
}

/* CRC-32C, slicing-by-8 over a table built once per call site lazily (a constant after init;
 * the race on first use is benign because every thread writes identical values). */
static uint32_t crc_table[8][256];
static int crc_ready;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    crc_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
  __atomic_store_n(&crc_ready, 1, __ATOMIC_RELEASE);
}

uint32_t tv_crc32c(uint32_t crc, const void *data, size_t len) {
  if (!__atomic_load_n(&crc_ready, __ATOMIC_ACQUIRE)) crc_init();
  const unsigned char *p = data;
  crc = ~crc;
  while (len >= 8) {
    uint32_t lo =
        crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    uint32_t hi =
        (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
          crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
          crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    p += 8;
    len -= 8;
  }
  while (len--) crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

int tv_fs_checksum(const char *path, uint32_t *crc, int64_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    return tv_error_errno(e == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO, e, "%s", path);
  }
  unsigned char buf[1 << 16];
  uint32_t c = 0;
  int64_t n = 0;
  size_t r;
  while ((r = fread(buf, 1, sizeof buf, f)) > 0) {
    c = tv_crc32c(c, buf, r);
    n += (int64_t)r;
  }
  int rc = ferror(f) ? tv_error_errno(TV_ERR_IO, errno, "%s: read", path) : TV_OK;
  fclose(f);
  *crc = c;
  *size = n;
  return rc;
}

double tv_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double tv_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
