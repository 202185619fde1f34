/* fs.h — private to libtrainval: fsyncs and file checksums, the durable-write plumbing shared by
 * every writer of the train_dir.  The part the programs use too (join, mkdirs, atomic replace,
 * whole-file reads, CRC-32C, clocks) is public in trainval/files.h, included here.
 */
#ifndef TRAINVAL_BASE_FS_H
#define TRAINVAL_BASE_FS_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"
#include "trainval/files.h"

/* fsyncs the directory containing path (or path itself if it is a directory). */
TV_MUST_CHECK int tv_fs_fsync_dir(const char *path);

/* fsyncs an existing file by name. */
TV_MUST_CHECK int tv_fs_fsync_file(const char *path);

/* CRC-32C and size of a whole file.  Errors: TV_ERR_NOT_FOUND, TV_ERR_IO. */
TV_MUST_CHECK int tv_fs_checksum(const char *path, uint32_t *crc, int64_t *size);

#endif
