/* watch.h — waiting for a file in a directory to be replaced: the reader's half of the
 * train_dir protocol's commit point (the writer replaces DIR/checkpoints.yaml by rename).
 *
 * WHAT A WAKE-UP MEANS.  Events are hints, never data: after tv_watch_wait returns
 * TV_WATCH_EVENT_CHANGED the caller re-reads the file and compares it with what it knew.  A wake-up
 * that turns out to change nothing is harmless; a change that produces no wake-up must not
 * happen, and the rules below make sure it cannot outlast one rescan interval:
 *
 *   inotify   (local file systems) a watch on DIR for IN_MOVED_TO and IN_CLOSE_WRITE of the
 *             file's name, added by tv_watch_new, before the caller's first read of the file, so
 *             nothing committed after that read goes unseen.  IN_Q_OVERFLOW (events were lost),
 *             IN_DELETE_SELF, IN_MOVE_SELF, IN_UNMOUNT and IN_IGNORED re-arm the watch from the
 *             path and wake the caller to rescan.
 *   missing   DIR does not exist (yet, or any more): the nearest existing ancestor is watched for
 *             IN_CREATE / IN_MOVED_TO; any event there re-arms from the path, so DIR created later
 *             (at any depth below the ancestor) is found, and so is a DIR deleted and recreated.
 *   polling   where inotify cannot see the writes: another host's writes on a network or FUSE
 *             file system never reach this kernel's inotify.  statfs(2) on DIR (or the ancestor)
 *             picks this mode for NFS, CIFS/SMB/SMB2, FUSE (sshfs, gcsfuse, s3fs, ...), 9p, Ceph,
 *             AFS, Lustre, GPFS, GFS2, OCFS2 and Coda; tv_watch_opts.force_poll picks it
 *             everywhere.  Every poll interval the caller is woken to re-read the file (an
 *             open() revalidates NFS's caches; a stat() alone may see a stale attribute cache).
 *   rescans   in every mode the caller is also woken at least every rescan interval, the safety
 *             net against a hint lost in some way not foreseen here (a bind mount, an overlay).
 *
 * THE DIRECTORY'S IDENTITY.  tv_watch_generation changes whenever the directory at the path
 * appears, disappears or is replaced by another (device and inode number differ), so a caller
 * that keeps files inside DIR knows to reopen them.
 *
 * A tv_watch is used by one thread.  It holds one inotify descriptor (close-on-exec).
 */
#ifndef TRAINVAL_WATCH_H
#define TRAINVAL_WATCH_H

#include <signal.h>
#include <stdint.h>

#include "trainval/error.h"

typedef struct tv_watch tv_watch;

typedef struct tv_watch_opts {
  const char *dir;        /* the directory to watch; it need not exist yet (copied) */
  const char *file;       /* base name whose replacement matters, "checkpoints.yaml" (copied) */
  int force_poll;         /* 1: poll even where inotify would work */
  double poll_interval;   /* seconds between polls; <= 0 means 1 */
  double rescan_interval; /* seconds between safety rescans; <= 0 means 30 */
} tv_watch_opts;

typedef enum tv_watch_event {
  TV_WATCH_EVENT_TIMEOUT, /* the timeout passed with nothing to report */
  TV_WATCH_EVENT_CHANGED  /* re-read the file: it may have changed (or a rescan is due) */
} tv_watch_event;

typedef enum tv_watch_mode { TV_WATCH_MODE_INOTIFY, TV_WATCH_MODE_POLL } tv_watch_mode;

/* Starts watching o->dir (see above) and hands the watcher back through *out (the caller owns
 * it: tv_watch_free).  The watch is in place when this returns: a change made after it is
 * reported by a later tv_watch_wait.  *out is NULL on failure.  Errors: TV_ERR_INVALID (NULL or
 * empty dir or file, a file name with '/', a path too long), TV_ERR_IO (inotify_init1 failed:
 * the message says which limit), TV_ERR_NOMEM.  A directory inotify cannot watch (limit of
 * watches reached, no permission) is not an error: the watcher polls and tv_watch_describe says
 * why. */
TV_MUST_CHECK int tv_watch_new(const tv_watch_opts *o, tv_watch **out);

/* Blocks until a change may have happened (*ev = TV_WATCH_EVENT_CHANGED), or timeout seconds
 * pass (*ev = TV_WATCH_EVENT_TIMEOUT; timeout < 0 waits without limit, 0 only collects what is
 * pending).  sigmask, if not NULL, is the signal mask in force while blocked (ppoll(2)): block
 * the stop signals, check the stop flag, then call this with the mask that unblocks them, and no
 * signal can slip in between the check and the wait.  Errors: TV_ERR_INTERRUPTED (a signal
 * handler ran; *ev is TIMEOUT), TV_ERR_IO (reading inotify failed; the watcher stays usable). */
TV_MUST_CHECK int tv_watch_wait(tv_watch *w, double timeout, const sigset_t *sigmask,
                                tv_watch_event *ev);

/* 1 if the directory existed when the watcher last looked (at tv_watch_new or the last wake-up
 * of tv_watch_wait), else 0.  Cannot fail. */
int tv_watch_dir_exists(const tv_watch *w);

/* Changes whenever the directory appears, disappears or is replaced; starts at 0 when it does
 * not exist and at 1 when it does.  Cannot fail. */
uint64_t tv_watch_generation(const tv_watch *w);

/* How the directory is watched now (it can change when the directory is recreated elsewhere). */
tv_watch_mode tv_watch_get_mode(const tv_watch *w);

/* A phrase for logs: "inotify", "inotify on /runs (waiting for runs/mlp to appear)",
 * "polling every 1 s (runs/mlp is on nfs)", "polling every 0.2 s (asked)".  Owned by w, valid
 * until the next tv_watch_wait or tv_watch_free. */
const char *tv_watch_describe(const tv_watch *w);

/* Name of a file system whose writes from other hosts inotify cannot see, from statfs's
 * f_type ("nfs", "cifs", "smb2", "fuse", ...), or NULL for a local one. */
const char *tv_watch_remote_fs_name(long f_type);

/* Removes the watches, closes the descriptor, frees w.  NULL-safe. */
void tv_watch_free(tv_watch *w);

#endif
