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
