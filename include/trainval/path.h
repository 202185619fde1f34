/* path.h — the few file and clock helpers the programs share with the library: joining a path,
 * making a directory tree, replacing a file atomically, and the two clocks.  The rest of the
 * library's file plumbing (fsyncs, whole-file reads, CRC-32C, checksums) is private to common/
 * (common/base/fs.h, which includes this header).
 *
 * The commit rule of the train_dir protocol is tv_fs_write_atomic's: write to a unique temporary
 * name in the same directory, fsync the file, rename over the target, fsync the directory.  A
 * reader sees the old file or the new one, never a torn one, and after a crash the old one is
 * still there.
 */
#ifndef TRAINVAL_PATH_H
#define TRAINVAL_PATH_H

#include <stddef.h>

#include "trainval/error.h"

/* Replaces path with data[0..len) atomically (temp + fsync + rename + dir fsync).  On failure
 * the temporary is removed and path is unchanged.  Errors: TV_ERR_IO (message names path). */
TV_MUST_CHECK int tv_fs_write_atomic(const char *path, const void *data, size_t len);

/* mkdir -p with mode 0777 & ~umask.  Errors: TV_ERR_IO naming the component that failed. */
TV_MUST_CHECK int tv_fs_mkdirs(const char *path);

/* Joins dir and name into out (cap bytes).  Errors: TV_ERR_INVALID if it does not fit. */
TV_MUST_CHECK int tv_fs_join(char *out, size_t cap, const char *dir, const char *name);

/* Wall-clock seconds since the epoch (CLOCK_REALTIME) and monotonic seconds.  Cannot fail. */
double tv_now(void);
double tv_monotonic(void);

#endif
