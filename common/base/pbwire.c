/* pbwire.c — the protocol buffers wire format, read one field at a time (see pbwire.h).  Holds
 * no state: every function is a function of its arguments and the bytes they point at. */
#include "trainval/pbwire.h"

#include <stddef.h>

uint64_t tv_pb_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

int tv_pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) return 0;
    unsigned char b = *(*p)++;
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return 1;
  }
  return 0;
}

int tv_pb_next(const unsigned char **p, const unsigned char *end, tv_pb_field *f) {
  uint64_t key, len;
  if (*p >= end) return 0;
  if (!tv_pb_varint(p, end, &key) || (key >> 3) == 0) return -1;
  f->num = (unsigned)(key >> 3);
  f->wire = (unsigned)(key & 7);
  switch (f->wire) {
  case 0:
    return tv_pb_varint(p, end, &f->u) ? 1 : -1;
  case 1:
  case 5: {
    int n = f->wire == 1 ? 8 : 4;
    if (end - *p < n) return -1;
    f->u = tv_pb_le(*p, n);
    *p += n;
    return 1;
  }
  case 2:
    if (!tv_pb_varint(p, end, &len) || len > (uint64_t)(end - *p)) return -1;
    f->s = *p;
    f->e = *p + len;
    *p += len;
    return 1;
  default:
    return -1;
  }
}
