/* watch.c — inotify watcher with a polling fallback (see watch.h).
 *
 * Invariants: while the directory exists, wd_dir watches it and wd_anc its parent (for the
 * directory's own name being deleted, moved or created: IN_DELETE_SELF alone is not enough,
 * because the kernel sends it only once the last reference to the directory goes, and a caller
 * with files open inside it holds one); while it does not, wd_anc watches the nearest existing
 * ancestor and wd_dir is -1; in poll mode neither is set.  The directory's identity (exists,
 * dev, ino) is what the last arm() saw; generation counts changes of it.  Events of a watch
 * descriptor we removed are ignored (the kernel may still deliver queued ones).
 */
#include "trainval/watch.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"

enum { WATCH_PATH_CAP = 4096, DESCR_CAP = 2 * 4096 + 128, EVBUF = 64 * 1024 };

#define DIR_MASK    (IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define ANC_MASK    (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define PARENT_MASK (ANC_MASK | IN_DELETE | IN_MOVED_FROM | IN_MASK_ADD)
#define GONE_MASK   (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)

struct tv_watch {
  char dir[WATCH_PATH_CAP];
  char file[256];
  int force_poll;
  double poll_interval, rescan_interval;
  int fd;             /* inotify */
  int wd_dir, wd_anc; /* -1 when absent */
  tv_watch_mode mode;
  const char *remote; /* file system name that forced polling, or NULL */
  char anc[WATCH_PATH_CAP];
  char base[256]; /* the directory's last component ("" when it has no parent to watch) */
  int exists;
  dev_t dev;
  ino_t ino;
  uint64_t generation;
  double next_poll, next_rescan; /* monotonic seconds */
  char descr[DESCR_CAP];
};

static const struct {
  uint32_t magic;
  const char *name;
} remote_fs[] = {
    {0x6969u, "nfs"},          {0x517Bu, "smb"},        {0xFF534D42u, "cifs"},
    {0xFE534D42u, "smb2"},     {0x65735546u, "fuse"},   {0x01021997u, "9p"},
    {0x00C36400u, "ceph"},     {0x5346414Fu, "afs"},    {0x6B414653u, "afs"},
    {0x73757245u, "coda"},     {0x0BD00BD0u, "lustre"}, {0x47504653u, "gpfs"},
    {0x01161970u, "gfs2"},     {0x7461636Fu, "ocfs2"},  {0x564Cu, "ncp"},
    {0x20030528u, "orangefs"}, {0x786F4256u, "vboxsf"},
};

const char *tv_watch_remote_fs_name(long f_type) {
  uint32_t m = (uint32_t)(unsigned long)f_type;
  for (size_t i = 0; i < sizeof remote_fs / sizeof remote_fs[0]; i++)
    if (remote_fs[i].magic == m) return remote_fs[i].name;
  return NULL;
}

static const char *remote_of(const char *path) {
  struct statfs sf;
  if (statfs(path, &sf) != 0) return NULL;
  return tv_watch_remote_fs_name((long)sf.f_type);
}

/* The nearest existing ancestor of path into out ("." for a relative path with none). */
static void nearest_ancestor(const char *path, char *out, size_t cap) {
  snprintf(out, cap, "%s", path);
  for (;;) {
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/') out[--n] = '\0';
    char *slash = strrchr(out, '/');
    if (!slash) {
      snprintf(out, cap, ".");
      return;
    }
    if (slash == out)
      out[1] = '\0';
    else
      *slash = '\0';
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) return;
    if (strcmp(out, "/") == 0) return;
  }
}

/* The parent of w->dir into w->anc and its last component into w->base; base stays "" for
 * "/", "." and ".." (no parent worth watching: the rescans cover them). */
static void parent_of(tv_watch *w) {
  char p[WATCH_PATH_CAP];
  snprintf(p, sizeof p, "%s", w->dir);
  size_t n = strlen(p);
  while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
  w->base[0] = '\0';
  char *slash = strrchr(p, '/');
  const char *b = slash ? slash + 1 : p;
  size_t len = strlen(b);
  if (!len || !strcmp(b, ".") || !strcmp(b, "..") || len >= sizeof w->base) return;
  memcpy(w->base, b, len + 1);
  if (!slash)
    snprintf(w->anc, sizeof w->anc, ".");
  else if (slash == p)
    snprintf(w->anc, sizeof w->anc, "/");
  else
    *slash = '\0', snprintf(w->anc, sizeof w->anc, "%s", p);
}

static void drop_watches(tv_watch *w) {
  if (w->wd_dir >= 0) inotify_rm_watch(w->fd, w->wd_dir);
  if (w->wd_anc >= 0) inotify_rm_watch(w->fd, w->wd_anc);
  w->wd_dir = w->wd_anc = -1;
}

static void set_identity(tv_watch *w, int exists, dev_t dev, ino_t ino) {
  if (exists != w->exists || (exists && (dev != w->dev || ino != w->ino))) w->generation++;
  w->exists = exists;
  w->dev = exists ? dev : 0;
  w->ino = exists ? ino : 0;
}

static void describe(tv_watch *w) {
  if (w->mode == TV_WATCH_MODE_POLL) {
    if (w->force_poll)
      snprintf(w->descr, sizeof w->descr, "polling every %g s (asked)", w->poll_interval);
    else if (w->remote)
      snprintf(w->descr, sizeof w->descr, "polling every %g s (%s is on %s)", w->poll_interval,
               w->exists ? w->dir : w->anc, w->remote);
    else
      snprintf(w->descr, sizeof w->descr, "polling every %g s (inotify cannot watch %s)",
               w->poll_interval, w->exists ? w->dir : w->anc);
  } else if (w->exists) {
    snprintf(w->descr, sizeof w->descr, "inotify");
  } else {
    snprintf(w->descr, sizeof w->descr, "inotify on %s (waiting for %s to appear)", w->anc, w->dir);
  }
}

/* Re-establishes the watch from the path and records the directory's identity.  Never fails:
 * whatever inotify refuses is polled instead. */
static void arm(tv_watch *w) {
  drop_watches(w);
  w->remote = NULL;
  w->anc[0] = '\0';
  for (int tries = 0;; tries++) {
    struct stat st;
    if (stat(w->dir, &st) == 0 && S_ISDIR(st.st_mode)) {
      w->remote = w->force_poll ? NULL : remote_of(w->dir);
      if (!w->force_poll && !w->remote) w->wd_dir = inotify_add_watch(w->fd, w->dir, DIR_MASK);
      if (w->wd_dir >= 0) {
        parent_of(w);
        if (w->base[0]) w->wd_anc = inotify_add_watch(w->fd, w->anc, PARENT_MASK);
        if (w->wd_anc == w->wd_dir) w->wd_anc = -1; /* one inode (a bind mount): no parent */
      }
      /* Identity after the watch is added: a replacement in between shows as a new generation
       * at the next event, never as a missed one. */
      struct stat st2;
      if (stat(w->dir, &st2) == 0 && S_ISDIR(st2.st_mode))
        set_identity(w, 1, st2.st_dev, st2.st_ino);
      else
        set_identity(w, 0, 0, 0);
      if (w->exists || tries >= 3) break;
      drop_watches(w);
      continue;
    }
    set_identity(w, 0, 0, 0);
    w->base[0] = '\0';
    nearest_ancestor(w->dir, w->anc, sizeof w->anc);
    if (!w->force_poll) {
      w->remote = remote_of(w->anc);
      if (!w->remote) w->wd_anc = inotify_add_watch(w->fd, w->anc, ANC_MASK);
    }
    /* Created between the stat and the watch?  Then arm on it now. */
    if (stat(w->dir, &st) == 0 && S_ISDIR(st.st_mode) && tries < 3) {
      drop_watches(w);
      continue;
    }
    break;
  }
  w->mode =
      (w->exists ? w->wd_dir >= 0 : w->wd_anc >= 0) ? TV_WATCH_MODE_INOTIFY : TV_WATCH_MODE_POLL;
  describe(w);
}

int tv_watch_new(const tv_watch_opts *o, tv_watch **out) {
  *out = NULL;
  if (!o || !o->dir || !o->dir[0] || !o->file || !o->file[0] || strchr(o->file, '/'))
    return tv_error(TV_ERR_INVALID, "watch: a directory and a plain file name are required");
  tv_watch *w = calloc(1, sizeof *w);
  if (!w) return tv_error(TV_ERR_NOMEM, "watch: out of memory");
  if (snprintf(w->dir, sizeof w->dir, "%s", o->dir) >= (int)sizeof w->dir ||
      snprintf(w->file, sizeof w->file, "%s", o->file) >= (int)sizeof w->file) {
    free(w);
    return tv_error(TV_ERR_INVALID, "%s: path too long to watch", o->dir);
  }
  w->force_poll = o->force_poll;
  w->poll_interval = o->poll_interval > 0 ? o->poll_interval : 1.0;
  w->rescan_interval = o->rescan_interval > 0 ? o->rescan_interval : 30.0;
  w->wd_dir = w->wd_anc = -1;
  w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w->fd < 0) {
    int e = errno;
    free(w);
    return tv_error_errno(TV_ERR_IO, e,
                          "%s: inotify_init1 (see fs.inotify.max_user_instances; --poll works "
                          "without inotify)",
                          o->dir);
  }
  arm(w);
  w->generation = w->exists ? 1 : 0;
  double now = tv_monotonic();
  w->next_poll = now + w->poll_interval;
  w->next_rescan = now + w->rescan_interval;
  *out = w;
  return TV_OK;
}

void tv_watch_free(tv_watch *w) {
  if (!w) return;
  drop_watches(w);
  close(w->fd);
  free(w);
}

int tv_watch_dir_exists(const tv_watch *w) { return w->exists; }
uint64_t tv_watch_generation(const tv_watch *w) { return w->generation; }
tv_watch_mode tv_watch_get_mode(const tv_watch *w) { return w->mode; }
const char *tv_watch_describe(const tv_watch *w) { return w->descr; }

/* Drains the inotify queue.  *changed: the file was replaced or a rescan is needed; *rearm: the
 * watched directory (or ancestor) went away or events were lost. */
static int drain(tv_watch *w, int *changed, int *rearm) {
  _Alignas(struct inotify_event) char buf[EVBUF];
  for (;;) {
    ssize_t n = read(w->fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return TV_OK;
    if (n < 0) return tv_error_errno(TV_ERR_IO, errno, "%s: reading inotify events", w->dir);
    if (n == 0) return TV_OK;
    for (char *p = buf; p < buf + n;) {
      const struct inotify_event *ev = (const struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        *changed = *rearm = 1;
      } else if (ev->wd >= 0 && ev->wd == w->wd_dir) {
        if (ev->mask & GONE_MASK) *rearm = *changed = 1;
        if ((ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) && ev->len && !strcmp(ev->name, w->file))
          *changed = 1;
      } else if (ev->wd >= 0 && ev->wd == w->wd_anc) {
        /* Waiting for the directory: anything that appears may lead to it.  Watching its
         * parent: only its own name being deleted, moved or created matters. */
        if (!w->base[0] || (ev->mask & GONE_MASK) || (ev->len && !strcmp(ev->name, w->base)))
          *rearm = 1;
      }
    }
  }
}

/* Polling: the directory's identity by stat, and a wake-up to re-read the file. */
static void poll_tick(tv_watch *w) {
  struct stat st;
  if (stat(w->dir, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (!w->exists || st.st_dev != w->dev || st.st_ino != w->ino) {
      arm(w); /* on another file system now, perhaps a local one */
      return;
    }
  } else if (w->exists) {
    arm(w);
  }
}

int tv_watch_wait(tv_watch *w, double timeout, const sigset_t *sigmask, tv_watch_event *ev) {
  *ev = TV_WATCH_EVENT_TIMEOUT;
  double start = tv_monotonic();
  double deadline = timeout < 0 ? INFINITY : start + timeout;
  for (;;) {
    double now = tv_monotonic();
    /* The wake-ups this mode owes: a poll tick (also while waiting in inotify mode for a
     * directory whose ancestor could not be watched) and the periodic rescan. */
    double due = w->next_rescan;
    if (w->mode == TV_WATCH_MODE_POLL && w->next_poll < due) due = w->next_poll;
    double until = due < deadline ? due : deadline;
    double left = until - now;
    if (left < 0) left = 0;
    struct timespec ts = {.tv_sec = (time_t)left, .tv_nsec = (long)((left - floor(left)) * 1e9)};
    struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
    int r = ppoll(&pfd, 1, &ts, sigmask);
    if (r < 0 && errno == EINTR) return TV_ERR_INTERRUPTED;
    if (r < 0) return tv_error_errno(TV_ERR_IO, errno, "%s: ppoll", w->dir);
    int changed = 0, rearm = 0;
    if (r > 0) {
      int rc = drain(w, &changed, &rearm);
      if (rc != TV_OK) return rc;
    }
    now = tv_monotonic();
    uint64_t gen = w->generation;
    if (rearm) arm(w);
    if (w->generation != gen) changed = 1;
    if (w->mode == TV_WATCH_MODE_POLL && now >= w->next_poll) {
      poll_tick(w);
      w->next_poll = now + w->poll_interval;
      changed = 1;
    }
    if (now >= w->next_rescan) {
      /* The safety net: check the identity too (a replaced directory whose events we missed). */
      struct stat st;
      int exists = stat(w->dir, &st) == 0 && S_ISDIR(st.st_mode);
      if (exists != w->exists || (exists && (st.st_dev != w->dev || st.st_ino != w->ino))) arm(w);
      w->next_rescan = now + w->rescan_interval;
      changed = 1;
    }
    if (changed) {
      *ev = TV_WATCH_EVENT_CHANGED;
      return TV_OK;
    }
    if (now >= deadline) return TV_OK;
  }
}
