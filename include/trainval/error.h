/* error.h — status codes and the per-thread error record.
 *
 * Every fallible function in libtrainval returns int: TV_OK (0) or a TV_ERR_* code, and records a
 * one-line message naming the file and the problem in a per-thread buffer (no allocation, so it
 * works when memory is short).  Only the programs' main() read the message, print it and choose
 * an exit code.  A successful call does not clear the record; read it only after a failure.
 */
#ifndef TRAINVAL_ERROR_H
#define TRAINVAL_ERROR_H

#include <stddef.h>

#define TV_MUST_CHECK   __attribute__((warn_unused_result))
#define TV_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum tv_status {
  TV_OK = 0,
  TV_ERR_NOMEM,       /* an allocation failed */
  TV_ERR_IO,          /* open/read/write/fsync/rename failed (errno text in the message) */
  TV_ERR_NOT_FOUND,   /* a file, key or variable that must exist does not */
  TV_ERR_CONFIG,      /* a config is malformed or out of range (file:line:col in the message) */
  TV_ERR_FORMAT,      /* a data, checkpoint or manifest file is corrupt, truncated or foreign */
  TV_ERR_CHECKSUM,    /* a file's checksum or size disagrees with the manifest */
  TV_ERR_MISMATCH,    /* a checkpoint does not fit the model (names or shapes) */
  TV_ERR_INVALID,     /* an argument is out of range (a caller's mistake, not bad input) */
  TV_ERR_BUSY,        /* a resource is held by another process (train_dir lock) */
  TV_ERR_NONFINITE,   /* a loss or a tensor holds NaN or Inf */
  TV_ERR_INTERRUPTED, /* a blocking wait was cut short by a signal */
  TV_ERR__COUNT
};

/* Records "message" for this thread and returns code (so `return tv_error(...)` reads well).
 * Cannot fail; a message longer than the buffer (1 KiB) is truncated. */
int tv_error(int code, const char *fmt, ...) TV_PRINTF(2, 3);

/* Like tv_error, with ": <strerror(errnum)>" appended. */
int tv_error_errno(int code, int errnum, const char *fmt, ...) TV_PRINTF(3, 4);

/* Prepends "prefix: " to the current message, keeping the code; returns code.  Used where a
 * lower layer knows the problem and the caller knows the file. */
int tv_error_prefix(int code, const char *fmt, ...) TV_PRINTF(2, 3);

/* The message recorded last on this thread ("" if none).  Valid until the next tv_error*. */
const char *tv_error_message(void);

#endif
