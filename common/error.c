/* error.c — the per-thread error record (see error.h).  The buffer is thread-local so the
 * loader's prefetch thread and the main thread never overwrite each other's messages. */
#include "trainval/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { MSG_CAP = 1024 };
static _Thread_local char g_msg[MSG_CAP];

int tv_error(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  return code;
}

int tv_error_errno(int code, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof g_msg)
    snprintf(g_msg + n, sizeof g_msg - (size_t)n, ": %s", strerror(errnum));
  return code;
}

int tv_error_prefix(int code, const char *fmt, ...) {
  char old[MSG_CAP];
  memcpy(old, g_msg, sizeof old);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n + 2 >= sizeof g_msg) return code;
  size_t at = (size_t)n, room = sizeof g_msg - at - 1;
  old[sizeof old - 1] = '\0';
  size_t len = strlen(old);
  g_msg[at++] = ':';
  g_msg[at++] = ' ';
  room -= 2;
  if (len > room) len = room;
  memcpy(g_msg + at, old, len);
  g_msg[at + len] = '\0';
  return code;
}

const char *tv_error_message(void) { return g_msg; }

const char *tv_status_name(int code) {
  static const char *const names[] = {
      [TV_OK] = "ok",
      [TV_ERR_NOMEM] = "out of memory",
      [TV_ERR_IO] = "I/O error",
      [TV_ERR_NOT_FOUND] = "not found",
      [TV_ERR_CONFIG] = "config error",
      [TV_ERR_FORMAT] = "format error",
      [TV_ERR_CHECKSUM] = "checksum mismatch",
      [TV_ERR_MISMATCH] = "model mismatch",
      [TV_ERR_INVALID] = "invalid argument",
      [TV_ERR_BUSY] = "busy",
      [TV_ERR_NONFINITE] = "non-finite value",
      [TV_ERR_INTERRUPTED] = "interrupted",
  };
  _Static_assert(sizeof names / sizeof names[0] == TV_ERR__COUNT, "one name per status");
  if (code < 0 || code >= TV_ERR__COUNT) return "unknown error";
  return names[code];
}
