/* fuzz_image.c — libFuzzer target: one PNG or JPEG image, from memory, through tv_imgdir_decode
 * (libpng and libjpeg, the conversions and the bilinear resize).  Byte 0 holds the options (bit 0
 * three channels, else one; bit 1 TV_RESIZE_BILINEAR, else TV_RESIZE_NONE), bytes 1 and 2 the
 * output height and width (1..64: value % 64 + 1); the image is every byte from 3.  The seeds are
 * the image fixtures of tests/fixtures/images (grey, RGB, RGBA, palette, 16-bit PNG; grey and RGB
 * JPEG) at their own size and resized. */
#include <stdint.h>
#include <stdlib.h>

#include "trainval/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  tv_imgdir_opts o = {.channels = (data[0] & 1) ? 3 : 1,
                      .height = data[1] % 64 + 1,
                      .width = data[2] % 64 + 1,
                      .resize = (data[0] & 2) ? TV_RESIZE_BILINEAR : TV_RESIZE_NONE};
  uint8_t *out = malloc((size_t)o.channels * (size_t)o.height * (size_t)o.width);
  if (!out) abort();
  (void)tv_imgdir_decode(data + 3, size - 3, "fuzz.img", &o, out);
  free(out);
  return 0;
}
