/* stream.h — private to common/data/: one data file read as a byte stream, plain or gzip, the
 * one reader every format shares (IDX's in data.c, CSV's in csv.c).
 *
 * gzip (RFC 1952) is recognised by the first two bytes 1f 8b, never by the name, and inflated
 * by zlib directly: concatenated members are one stream, bytes after the last member that are
 * not gzip are ignored (as gzip(1) does), and a member's trailer (CRC-32, ISIZE) must arrive and
 * agree; a stream cut short is TV_ERR_FORMAT "<path>: truncated gzip stream". */
#ifndef TRAINVAL_DATA_STREAM_H
#define TRAINVAL_DATA_STREAM_H

#include <stddef.h>

#include "trainval/error.h"

typedef struct tv_data_stream tv_data_stream;

/* Opens path (borrowed; it must outlive the stream).  *out NULL on failure.
 * Errors: TV_ERR_NOT_FOUND, TV_ERR_IO, TV_ERR_NOMEM (each naming path). */
TV_MUST_CHECK int tv_data_stream_open(const char *path, tv_data_stream **out);

/* Reads up to len bytes into buf; *got < len only at the end of the data.
 * Errors: TV_ERR_IO, TV_ERR_FORMAT (corrupt or truncated gzip), TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_data_stream_read(tv_data_stream *s, void *buf, size_t len, size_t *got);

/* Size of the file on disk in bytes (for a first allocation; gzip grows beyond it). */
size_t tv_data_stream_file_size(const tv_data_stream *s);

void tv_data_stream_close(tv_data_stream *s); /* NULL-safe */

/* The whole of the data of path (decompressed) into *out, malloc'd with a NUL after the *len
 * bytes (the data may hold NULs of its own).  On failure *out is NULL.  Errors: those of
 * tv_data_stream_open and tv_data_stream_read. */
TV_MUST_CHECK int tv_data_read_file(const char *path, char **out, size_t *len);

#endif
