/* pbwire.h — reading the protocol buffers wire format, one field at a time over a byte range,
 * without allocating: what a reader of TensorBoard's event files (the Event, Summary and
 * TensorProto messages, events.h) decodes records with.  report/tfevents.c, tests/tfrecord.c and
 * the resume-time purge of common/rundir/events.c (each record's step) read through it; the
 * writer in events.c encodes by hand.
 *
 * The encoding (protobuf's "Encoding" guide): a message is a sequence of fields, each a varint
 * key (field number << 3 | wire type) followed by its value:
 *   wire 0  a varint (7 bits a byte, least significant group first, the top bit set on every
 *           byte but the last; at most 10 bytes);
 *   wire 1  8 bytes, little-endian (fixed64, double);
 *   wire 2  a varint length, then that many bytes (strings, nested messages, packed repeats);
 *   wire 5  4 bytes, little-endian (fixed32, float).
 * Wire types 3 and 4 (groups, deprecated, used by no TensorBoard message) and 6, 7 are refused
 * as malformed, as is field number 0.  Unknown field numbers are the caller's to skip: a field
 * comes back whole, whatever its number.
 */
#ifndef TRAINVAL_PBWIRE_H
#define TRAINVAL_PBWIRE_H

#include <stdint.h>

/* One field as read: its number and wire type, and its value. */
typedef struct tv_pb_field {
  unsigned num, wire;
  uint64_t u;                 /* wire 0: the varint; 1 and 5: the raw little-endian bits */
  const unsigned char *s, *e; /* wire 2: the bytes [s, e), inside the range read */
} tv_pb_field;

/* Reads the varint at *p (before end) into *v and moves *p past it: 1; 0 when it is cut short by
 * end or longer than 10 bytes (*p then undefined, *v partial).  Cannot fail otherwise. */
int tv_pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v);

/* Reads the field at *p (before end) into *f and moves *p past it: 1; 0 at the end (*p == end);
 * -1 when malformed (a key or value cut short, field number 0, a length past end, a wire type
 * other than 0, 1, 2, 5); *p and *f are then undefined. */
int tv_pb_next(const unsigned char **p, const unsigned char *end, tv_pb_field *f);

/* The n <= 8 bytes at p as a little-endian unsigned number (fixed32, fixed64, the TFRecord
 * length).  Cannot fail. */
uint64_t tv_pb_le(const unsigned char *p, int n);

#endif
