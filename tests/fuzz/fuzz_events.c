/* fuzz_events.c — libFuzzer target: an event file through tv_events_purge_after, the reader that
 * cuts a dead run's records off on resume (TFRecord framing, CRC-32C, the Event's step varint).
 * Byte 0 picks the form: even, the rest is the file as is (framing and CRC checks); odd, the
 * rest is a list of payloads (a length byte, then that many bytes) that the target frames with
 * correct lengths and CRCs, so the protobuf walk behind the checks is reached too.  Bytes 1..2
 * give the step to cut after. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "trainval/events.h"
#include "trainval/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t masked(const uint8_t *p, size_t n) {
  uint32_t c = tv_crc32c(0, p, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static void put_le(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  int framed = data[0] & 1;
  int64_t step = (int64_t)data[1] | (int64_t)data[2] << 8;
  data += 3;
  size -= 3;
  uint8_t *file = malloc(size * 17 + 1);
  if (!file) return 0;
  size_t len = 0;
  if (!framed) {
    memcpy(file, data, size);
    len = size;
  } else {
    for (size_t at = 0; at < size;) {
      size_t n = data[at++];
      if (n > size - at) n = size - at;
      put_le(file + len, n, 8);
      put_le(file + len + 8, masked(file + len, 8), 4);
      memcpy(file + len + 12, data + at, n);
      put_le(file + len + 12 + n, masked(data + at, n), 4);
      len += 16 + n;
      at += n;
    }
  }
  char path[4200];
  fuzz_write("events.out.tfevents.1.fuzz", file, len, path, sizeof path);
  free(file);
  long dropped;
  (void)tv_events_purge_after(fuzz_dir(), step, &dropped);
  return 0;
}
