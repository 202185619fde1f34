/* files.h — the file and clock helpers the programs (train, eval, report) share with the
 * library: joining a path, making a directory tree, replacing a file atomically, reading one
 * whole, CRC-32C, and the two clocks.  The rest of the library's file plumbing (fsyncs, file
 * checksums) is private to common/ (common/base/fs.h, which includes this header).
 *
 * The commit rule of the train_dir protocol is tv_fs_write_atomic's: write to a unique temporary
 * name in the same directory, fsync the file, rename over the target, fsync the directory.  A
 * reader sees the old file or the new one, never a torn one, and after a crash the old one is
 * still there.
 */
#ifndef TRAINVAL_FILES_H
#define TRAINVAL_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"

/* Replaces path with data[0..len) atomically (temp + fsync + rename + dir fsync).  On failure
 * the temporary is removed and path is unchanged.  Errors: TV_ERR_IO (message names path). */
TV_MUST_CHECK int tv_fs_write_atomic(const char *path, const void *data, size_t len);

/* Writes a user-named output (eval --out, trainval-report --out): a regular file or a new name is
 * replaced atomically as tv_fs_write_atomic does, through a symbolic link to its target (the link
 * stays a link); an existing FIFO, character device or socket (/dev/null, /dev/stdout, a pipe made
 * with mkfifo) is opened and written in place, never replaced by a rename.  A directory is refused
 * ("path: is a directory").  Errors: TV_ERR_IO / TV_ERR_INVALID naming path. */
TV_MUST_CHECK int tv_fs_write_output(const char *path, const void *data, size_t len);

/* The same written as it is produced (eval --predict streams its rows): tv_fs_output_open
 * decides as tv_fs_write_output does, creating the unique temporary "TARGET.tmp.PID" beside a
 * regular file or a new name (TARGET: the file a symbolic link leads to) or opening a FIFO, device
 * or socket in place; tv_fs_output_write appends (retrying short writes and EINTR);
 * tv_fs_output_commit fsyncs the temporary, renames it over the target and fsyncs the directory
 * (in place: closes), and frees the handle whatever it returns; tv_fs_output_abort removes the
 * temporary, so the target is as it was (in place, what was written stays written) and frees the
 * handle (NULL-safe).  Errors: those of tv_fs_write_output, naming the temporary for a write,
 * fsync or close of it. */
typedef struct tv_fs_output tv_fs_output;
TV_MUST_CHECK int tv_fs_output_open(const char *path, tv_fs_output **out);
TV_MUST_CHECK int tv_fs_output_write(tv_fs_output *o, const void *data, size_t len);
TV_MUST_CHECK int tv_fs_output_commit(tv_fs_output *o);
void tv_fs_output_abort(tv_fs_output *o);

/* mkdir -p with mode 0777 & ~umask.  Errors: TV_ERR_IO naming the component that failed. */
TV_MUST_CHECK int tv_fs_mkdirs(const char *path);

/* Joins dir and name into out (cap bytes).  Errors: TV_ERR_INVALID if it does not fit. */
TV_MUST_CHECK int tv_fs_join(char *out, size_t cap, const char *dir, const char *name);

/* Reads a whole regular file of at most max bytes (0: no limit) into a malloc'd buffer with a NUL
 * appended (not counted in *len).  The caller frees *data; it is NULL on failure.  A FIFO, a
 * device or a directory is refused without reading or waiting ("path: not a regular file"), so
 * is a larger file ("path: larger than N bytes").  Errors: TV_ERR_NOT_FOUND (ENOENT), TV_ERR_IO,
 * TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_fs_read_file(const char *path, size_t max, char **data, size_t *len);

/* tv_fs_read_file without a size limit. */
TV_MUST_CHECK int tv_fs_read_all(const char *path, char **data, size_t *len);

/* CRC-32C (Castagnoli) of a buffer, continuing from crc (start with 0).  Cannot fail. */
uint32_t tv_crc32c(uint32_t crc, const void *data, size_t len);

/* Wall-clock seconds since the epoch (CLOCK_REALTIME) and monotonic seconds.  Cannot fail. */
double tv_now(void);
double tv_monotonic(void);

#endif
