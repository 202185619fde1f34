/* lock.h — single-writer locks of the train_dir: DIR/LOCK (the running train) and
 * DIR/NAME/LOCK (the running `eval --watch --name NAME`).
 *
 * A lock is held on two things: the directory itself (flock(2) on a descriptor of it), so that
 * removing or replacing the LOCK file cannot let a second writer in, and the LOCK file (flock on
 * it, as every version of trainval did, so an older binary is still kept out).  The file holds
 * one line, "host H pid P\n", the holder, for messages and for an evaluator to tell whether a
 * trainer on its host is alive.  Where a directory cannot be flock'd (NFS emulates flock with
 * POSIX locks, which need a writable descriptor), only the file is locked, and tv_lock_check
 * notices a LOCK file removed or replaced under the holder: the caller stops rather than share
 * the directory.  The locks go with the process (close or exit); nothing is left to clean up.
 */
#ifndef TRAINVAL_LOCK_H
#define TRAINVAL_LOCK_H

#include <stddef.h>

#include "trainval/error.h"

#define TV_LOCK_FILE "LOCK"

typedef struct tv_lock tv_lock;

/* What tv_lock_take says and does; designated initializers, fields may be added. */
typedef struct tv_lock_opts {
  const char *busy; /* the refusal, "another train holds this directory": the message is
                     * "DIR/LOCK: <busy> (<holder>)<hint>" */
  const char *hint; /* NULL: none */
  int file_only;    /* 1: do not lock the directory (what happens where it cannot be locked) */
} tv_lock_opts;

/* Takes the lock of dir (which must exist): the directory and dir/LOCK, created 0644 if
 * missing, then writes this process's "host H pid P" line into the file.  The previous holder's
 * line (a dead process's: flock dies with its holder) is copied to prev (cap bytes; "" if the
 * file was new or empty; prev may be NULL).  *out is NULL on failure, and then nothing is held.
 * Errors: TV_ERR_BUSY (another process holds it: the message names the file and the holder),
 * TV_ERR_IO (the message names the file and the call), TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_lock_take(const char *dir, const tv_lock_opts *o, tv_lock **out, char *prev,
                               size_t cap);

/* Checks that l still keeps every other writer out: always so while the directory is locked;
 * with the file only, dir/LOCK must still be the file l locked.  Cheap (one stat(2)), meant
 * for every commit.  Errors: TV_ERR_BUSY ("DIR/LOCK was removed or replaced while this process
 * held it: another writer may have started"). */
TV_MUST_CHECK int tv_lock_check(const tv_lock *l);

/* 1 if the directory itself is locked (not the file only).  Cannot fail. */
int tv_lock_holds_dir(const tv_lock *l);

/* What a holder line says about its process, as far as this process can see. */
typedef enum tv_lock_holder_state {
  TV_LOCK_HOLDER_UNKNOWN, /* not a holder line, or another host's process */
  TV_LOCK_HOLDER_ALIVE,   /* this host's, and the process exists */
  TV_LOCK_HOLDER_GONE     /* this host's, and no such process runs (a kill -9, a crash) */
} tv_lock_holder_state;

/* Reads dir/LOCK's holder line, without its newline, into buf (cap bytes; "" when there is no
 * file or no line).  Takes no lock.  Cannot fail. */
void tv_lock_holder(const char *dir, char *buf, size_t cap);

/* Parses a holder line ("host H pid P") and looks at its process: *pid receives P (0 when the
 * line is not a holder line).  Cannot fail. */
tv_lock_holder_state tv_lock_holder_state_of(const char *line, long *pid);

/* Releases the lock and frees l.  The file stays (its line names the last holder).  NULL-safe. */
void tv_lock_release(tv_lock *l);

/* Empties the lock file's holder line, for a clean exit just before tv_lock_release: an empty
 * file tells the next taker that nobody died holding it (so it has no take-over to report).
 * Best effort: a line left as it was only makes the next taker report a take-over.  NULL-safe,
 * cannot fail. */
void tv_lock_clear(tv_lock *l);

#endif
