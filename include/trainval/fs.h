/* fs.h — durable file operations shared by every writer of the train_dir.
 *
 * The commit rule of the train_dir protocol lives here: write to a unique temporary name in the
 * same directory, fsync the file, rename over the target, fsync the directory.  A reader sees the
 * old file or the new one, never a torn one, and after a crash the old one is still there.
 */
#ifndef TRAINVAL_FS_H
#define TRAINVAL_FS_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"

/* Replaces path with data[0..len) atomically (temp + fsync + rename + dir fsync).  On failure
 * the temporary is removed and path is unchanged.  Errors: TV_ERR_IO (message names path). */
TV_MUST_CHECK int tv_fs_write_atomic(const char *path, const void *data, size_t len);

/* fsyncs the directory containing path (or path itself if it is a directory). */
TV_MUST_CHECK int tv_fs_fsync_dir(const char *path);

/* fsyncs an existing file by name. */
TV_MUST_CHECK int tv_fs_fsync_file(const char *path);

/* Reads a whole file into a malloc'd buffer with a NUL appended (not counted in *len).  The
 * caller frees *data.  Errors: TV_ERR_NOT_FOUND (ENOENT), TV_ERR_IO, TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_fs_read_all(const char *path, char **data, size_t *len);

/* mkdir -p with mode 0777 & ~umask.  Errors: TV_ERR_IO naming the component that failed. */
TV_MUST_CHECK int tv_fs_mkdirs(const char *path);

/* Joins dir and name into out (cap bytes).  Errors: TV_ERR_INVALID if it does not fit. */
TV_MUST_CHECK int tv_fs_join(char *out, size_t cap, const char *dir, const char *name);

/* CRC-32C (Castagnoli) of a buffer, continuing from crc (start with 0). */
uint32_t tv_crc32c(uint32_t crc, const void *data, size_t len);

/* CRC-32C and size of a whole file.  Errors: TV_ERR_NOT_FOUND, TV_ERR_IO. */
TV_MUST_CHECK int tv_fs_checksum(const char *path, uint32_t *crc, int64_t *size);

/* Wall-clock seconds since the epoch (CLOCK_REALTIME) and monotonic seconds. */
double tv_now(void);
double tv_monotonic(void);

#endif
