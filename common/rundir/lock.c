/* lock.c — DIR/LOCK and DIR/NAME/LOCK (see lock.h).
 *
 * Invariant: a tv_lock holds a flock on its LOCK file's descriptor and, unless dir_fd is -1, on a
 * descriptor of the directory; dev/ino name the file locked, for tv_lock_check.  The directory
 * is locked first, so a process refused never creates or changes the LOCK file.
 */
#include "trainval/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rundir/identity.h"
#include "base/fs.h"
#include "trainval/manifest.h"

enum { PATH_CAP = 4096, HOLDER_CAP = 256 };

struct tv_lock {
  int dir_fd;  /* -1: the directory is not locked */
  int file_fd; /* flock'd */
  dev_t dev;
  ino_t ino;
  char path[PATH_CAP];
};

/* The holder's line of the LOCK file at path ("" if none), without its newline. */
static void read_holder(const char *path, int fd, char *out, size_t cap) {
  out[0] = '\0';
  int own = fd < 0;
  if (own) fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = pread(fd, out, cap - 1, 0);
  out[n > 0 ? n : 0] = '\0';
  out[strcspn(out, "\n")] = '\0';
  if (own) close(fd);
}

static int busy(const char *path, const tv_lock_opts *o, const char *holder) {
  return tv_error(TV_ERR_BUSY, "%s: %s (%s)%s", path,
                  o->busy ? o->busy : "locked by another process",
                  holder[0] ? holder : "holder unknown", o->hint ? o->hint : "");
}

/* Locks the directory itself; *fd is -1 where directories cannot be locked. */
static int lock_dir(const char *dir, const char *path, const tv_lock_opts *o, int *fd) {
  *fd = -1;
  if (o->file_only) return TV_OK;
  int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) return tv_error_errno(TV_ERR_IO, errno, "%s: cannot open the directory", dir);
  if (flock(d, LOCK_EX | LOCK_NB) == 0) {
    *fd = d;
    return TV_OK;
  }
  int e = errno;
  close(d);
  if (e == EWOULDBLOCK) {
    char holder[HOLDER_CAP];
    read_holder(path, -1, holder, sizeof holder);
    return busy(path, o, holder);
  }
  return TV_OK; /* EBADF, ENOLCK, EINVAL: no directory locks here; the file and check remain */
}

int tv_lock_take(const char *dir, const tv_lock_opts *o, tv_lock **out, char *prev, size_t cap) {
  *out = NULL;
  if (prev && cap) prev[0] = '\0';
  static const tv_lock_opts defaults = {0};
  if (!o) o = &defaults;
  tv_lock *l = calloc(1, sizeof *l);
  if (!l) return tv_error(TV_ERR_NOMEM, "%s: out of memory", dir);
  l->dir_fd = l->file_fd = -1;
  char holder[HOLDER_CAP] = "";
  int rc = tv_fs_join(l->path, sizeof l->path, dir, TV_LOCK_FILE);
  if (rc == TV_OK) rc = lock_dir(dir, l->path, o, &l->dir_fd);
  if (rc) goto out;
  l->file_fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (l->file_fd < 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot create lock file", l->path);
    goto out;
  }
  int locked = flock(l->file_fd, LOCK_EX | LOCK_NB), e = errno;
  read_holder(l->path, l->file_fd, holder, sizeof holder);
  if (locked != 0) {
    rc = e == EWOULDBLOCK ? busy(l->path, o, holder)
                          : tv_error_errno(TV_ERR_IO, e, "%s: flock", l->path);
    goto out;
  }
  struct stat st;
  if (fstat(l->file_fd, &st) != 0) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: fstat", l->path);
    goto out;
  }
  l->dev = st.st_dev;
  l->ino = st.st_ino;
  char host[TV_MANIFEST_HOST_CAP], line[HOLDER_CAP];
  long pid;
  tv_rundir_identity(host, sizeof host, &pid);
  int len = snprintf(line, sizeof line, "host %s pid %ld\n", host, pid);
  if (ftruncate(l->file_fd, 0) != 0 || pwrite(l->file_fd, line, (size_t)len, 0) != len) {
    rc = tv_error_errno(TV_ERR_IO, errno, "%s: write", l->path);
    goto out;
  }
  if (prev && cap) snprintf(prev, cap, "%s", holder);
  *out = l;
  l = NULL;
out:
  tv_lock_release(l);
  return rc;
}

int tv_lock_check(const tv_lock *l) {
  if (l->dir_fd >= 0) return TV_OK;
  struct stat st;
  if (stat(l->path, &st) != 0 || st.st_dev != l->dev || st.st_ino != l->ino)
    return tv_error(TV_ERR_BUSY,
                    "%s was removed or replaced while this process held it: another writer may "
                    "have started in the directory; stopping",
                    l->path);
  return TV_OK;
}

int tv_lock_holds_dir(const tv_lock *l) { return l->dir_fd >= 0; }

void tv_lock_holder(const char *dir, char *buf, size_t cap) {
  char path[PATH_CAP];
  buf[0] = '\0';
  if (tv_fs_join(path, sizeof path, dir, TV_LOCK_FILE) == TV_OK) read_holder(path, -1, buf, cap);
}

tv_lock_holder_state tv_lock_holder_state_of(const char *line, long *pid) {
  char host[TV_MANIFEST_HOST_CAP], me[TV_MANIFEST_HOST_CAP];
  long my_pid;
  *pid = 0;
  if (sscanf(line, "host %63s pid %ld", host, pid) != 2 || *pid <= 0) {
    *pid = 0;
    return TV_LOCK_HOLDER_UNKNOWN;
  }
  tv_rundir_identity(me, sizeof me, &my_pid);
  if (strcmp(host, me) != 0) return TV_LOCK_HOLDER_UNKNOWN; /* not ours to see */
  return kill((pid_t)*pid, 0) == 0 || errno != ESRCH ? TV_LOCK_HOLDER_ALIVE : TV_LOCK_HOLDER_GONE;
}

void tv_lock_clear(tv_lock *l) {
  if (!l || l->file_fd < 0) return;
  int rc = ftruncate(l->file_fd, 0);
  (void)rc; /* best effort, see lock.h */
}

void tv_lock_release(tv_lock *l) {
  if (!l) return;
  if (l->file_fd >= 0) close(l->file_fd);
  if (l->dir_fd >= 0) close(l->dir_fd);
  free(l);
}
