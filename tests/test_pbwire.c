/* test_pbwire.c — the protocol buffers wire reader (pbwire.h) against bytes encoded by hand
 * from protobuf's encoding guide: each wire type read back with its number and value, and every
 * malformed case refused. */
#include "trainval/pbwire.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* A message of four fields, one of each wire type read: 1: varint 150, 2: "testing",
 * 3: fixed64 0x0102030405060708, 4: fixed32 1.0f; then field 2047 as a varint of 10 bytes. */
static void test_fields(void **state) {
  (void)state;
  static const unsigned char msg[] = {
      0x08, 0x96, 0x01,                                                       /* 1: varint 150 */
      0x12, 0x07, 't',  'e',  's',  't',  'i',  'n',  'g',                    /* 2: length 7 */
      0x19, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,                   /* 3: fixed64 */
      0x25, 0x00, 0x00, 0x80, 0x3f,                                           /* 4: fixed32 1.0f */
      0xf8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, /* 2047: 2^64-1 */
  };
  const unsigned char *p = msg, *end = msg + sizeof msg;
  tv_pb_field f;
  assert_int_equal(tv_pb_next(&p, end, &f), 1);
  assert_true(f.num == 1 && f.wire == 0 && f.u == 150);
  assert_int_equal(tv_pb_next(&p, end, &f), 1);
  assert_true(f.num == 2 && f.wire == 2 && f.e - f.s == 7);
  assert_memory_equal(f.s, "testing", 7);
  assert_int_equal(tv_pb_next(&p, end, &f), 1);
  assert_true(f.num == 3 && f.wire == 1 && f.u == 0x0102030405060708ull);
  assert_int_equal(tv_pb_next(&p, end, &f), 1);
  float one;
  uint32_t bits = (uint32_t)f.u;
  memcpy(&one, &bits, sizeof one);
  assert_true(f.num == 4 && f.wire == 5 && one == 1.0f);
  assert_int_equal(tv_pb_next(&p, end, &f), 1);
  assert_true(f.num == 2047 && f.wire == 0 && f.u == UINT64_MAX);
  assert_int_equal(tv_pb_next(&p, end, &f), 0); /* the end */
  assert_ptr_equal(p, end);
  assert_true(tv_pb_le((const unsigned char *)"\x01\x02\x03\x04", 4) == 0x04030201u);
}

static int reads(const unsigned char *b, size_t n) {
  const unsigned char *p = b;
  tv_pb_field f;
  return tv_pb_next(&p, b + n, &f);
}

/* Cut short, too long, field 0, a length past the end, groups and unknown wire types. */
static void test_malformed(void **state) {
  (void)state;
  static const unsigned char cut_key[] = {0x88};              /* key's varint unfinished */
  static const unsigned char cut_varint[] = {0x08, 0x96};     /* value's varint unfinished */
  static const unsigned char field0[] = {0x00, 0x01};         /* field number 0 */
  static const unsigned char past[] = {0x12, 0x05, 'a', 'b'}; /* 5 bytes announced, 2 there */
  static const unsigned char cut64[] = {0x19, 1, 2, 3, 4, 5, 6, 7};
  static const unsigned char cut32[] = {0x25, 1, 2, 3};
  static const unsigned char group[] = {0x0b, 0x0c}; /* wire 3 and 4 */
  static const unsigned char wire6[] = {0x0e, 0x00};
  static const unsigned char eleven[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  assert_int_equal(reads(cut_key, sizeof cut_key), -1);
  assert_int_equal(reads(cut_varint, sizeof cut_varint), -1);
  assert_int_equal(reads(field0, sizeof field0), -1);
  assert_int_equal(reads(past, sizeof past), -1);
  assert_int_equal(reads(cut64, sizeof cut64), -1);
  assert_int_equal(reads(cut32, sizeof cut32), -1);
  assert_int_equal(reads(group, sizeof group), -1);
  assert_int_equal(reads(wire6, sizeof wire6), -1);
  assert_int_equal(reads(eleven, sizeof eleven), -1);
  assert_int_equal(reads(past, 0), 0); /* nothing: the end */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fields),
      cmocka_unit_test(test_malformed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
