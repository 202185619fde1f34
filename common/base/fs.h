/* fs.h — private to libtrainval: durable file operations shared by every writer of the
 * train_dir, whole-file reads and CRC-32C.  The part the programs use (join, mkdirs, atomic
 * replace, clocks) is public in trainval/path.h, included here.
 */
#ifndef TRAINVAL_BASE_FS_H
#define TRAINVAL_BASE_FS_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"
#include "trainval/path.h"

/* fsyncs the directory containing path (or path itself if it is a directory). */
TV_MUST_CHECK int tv_fs_fsync_dir(const char *path);

/* fsyncs an existing file by name. */
TV_MUST_CHECK int tv_fs_fsync_file(const char *path);

/* Reads a whole regular file of at most max bytes (0: no limit) into a malloc'd buffer with a NUL
 * appended (not counted in *len).  The caller frees *data; it is NULL on failure.  A FIFO, a
 * device or a directory is refused without reading or waiting ("path: not a regular file"), so
 * is a larger file ("path: larger than N bytes").  Errors: TV_ERR_NOT_FOUND (ENOENT), TV_ERR_IO,
 * TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_fs_read_file(const char *path, size_t max, char **data, size_t *len);

/* tv_fs_read_file without a size limit. */
TV_MUST_CHECK int tv_fs_read_all(const char *path, char **data, size_t *len);

/* CRC-32C (Castagnoli) of a buffer, continuing from crc (start with 0). */
uint32_t tv_crc32c(uint32_t crc, const void *data, size_t len);

/* CRC-32C and size of a whole file.  Errors: TV_ERR_NOT_FOUND, TV_ERR_IO. */
TV_MUST_CHECK int tv_fs_checksum(const char *path, uint32_t *crc, int64_t *size);

#endif
