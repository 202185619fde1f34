/* test_image.c — the raster, its font and its PNG encoder (image.h): the PNG read back here from
 * the PNG specification (chunk framing, CRC-32 of each chunk, IHDR fields, the zlib stream of
 * filter-0 rows) gives the raster's bytes exactly; glyphs land where the font says; sizes out of
 * range are refused. */
#include "trainval/image.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Decodes png (RGB, 8-bit, filter 0 rows, as image.h says) into a fresh w*h*3 buffer. */
static unsigned char *decode(const unsigned char *png, size_t len, int *w, int *h) {
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  assert_true(len > 8);
  assert_memory_equal(png, sig, 8);
  size_t pos = 8;
  unsigned char *idat = NULL, *rgb = NULL;
  size_t idat_n = 0;
  int seen_end = 0, chunks = 0;
  while (pos < len) {
    assert_true(len - pos >= 12);
    uint32_t n = be32(png + pos);
    assert_true(len - pos - 12 >= n);
    const unsigned char *type = png + pos + 4, *data = png + pos + 8;
    assert_int_equal(be32(data + n), (uint32_t)crc32(0L, type, n + 4));
    if (chunks++ == 0) {
      assert_memory_equal(type, "IHDR", 4);
      assert_int_equal(n, 13);
      *w = (int)be32(data);
      *h = (int)be32(data + 4);
      assert_int_equal(data[8], 8); /* depth */
      assert_int_equal(data[9], 2); /* RGB */
      assert_int_equal(data[10] | data[11] | data[12], 0);
    } else if (!memcmp(type, "IDAT", 4)) {
      idat = realloc(idat, idat_n + n + 1);
      assert_non_null(idat);
      memcpy(idat + idat_n, data, n);
      idat_n += n;
    } else if (!memcmp(type, "IEND", 4)) {
      assert_int_equal(n, 0);
      seen_end = 1;
    }
    pos += 12 + n;
  }
  assert_true(seen_end);
  size_t row = (size_t)*w * 3 + 1;
  uLongf raw_n = (uLongf)(row * (size_t)*h);
  unsigned char *raw = malloc(raw_n);
  assert_non_null(raw);
  assert_int_equal(uncompress(raw, &raw_n, idat, (uLong)idat_n), Z_OK);
  assert_int_equal(raw_n, row * (size_t)*h);
  rgb = malloc((size_t)*w * (size_t)*h * 3);
  assert_non_null(rgb);
  for (int y = 0; y < *h; y++) {
    assert_int_equal(raw[(size_t)y * row], 0); /* filter None */
    memcpy(rgb + (size_t)y * (row - 1), raw + (size_t)y * row + 1, row - 1);
  }
  free(raw);
  free(idat);
  return rgb;
}

static void test_png_round_trip(void **state) {
  (void)state;
  tv_image img = {0};
  assert_int_equal(tv_image_new(&img, 37, 5, 0x102030), TV_OK);
  static const unsigned char fill[3] = {0x10, 0x20, 0x30};
  for (int i = 0; i < 37 * 5 * 3; i++) assert_int_equal(img.px[i], fill[i % 3]);
  for (int y = 0; y < 5; y++)
    for (int x = 0; x < 37; x++) {
      unsigned char *p = img.px + ((size_t)y * 37 + (size_t)x) * 3;
      p[0] = (unsigned char)(x * 7);
      p[1] = (unsigned char)(y * 50);
      p[2] = (unsigned char)(x ^ y);
    }
  unsigned char *png = NULL;
  size_t len = 0;
  assert_int_equal(tv_image_png(&img, &png, &len), TV_OK);
  int w = 0, h = 0;
  unsigned char *rgb = decode(png, len, &w, &h);
  assert_int_equal(w, 37);
  assert_int_equal(h, 5);
  assert_memory_equal(rgb, img.px, 37 * 5 * 3);
  free(rgb);
  free(png);
  tv_image_free(&img);
  tv_image_free(&img); /* twice: a zeroed image */
  tv_image_free(NULL);
}

static void test_sizes_refused(void **state) {
  (void)state;
  tv_image img;
  assert_int_equal(tv_image_new(&img, 0, 5, 0), TV_ERR_INVALID);
  assert_null(img.px);
  assert_non_null(strstr(tv_error_message(), "image: 0x5 is not a size from 1x1 to 16384x16384"));
  assert_int_equal(tv_image_new(&img, 5, TV_IMAGE_MAX_SIDE + 1, 0), TV_ERR_INVALID);
  unsigned char *png = (unsigned char *)&img;
  size_t len = 1;
  tv_image none = {0};
  assert_int_equal(tv_image_png(&none, &png, &len), TV_ERR_INVALID);
  assert_null(png);
  assert_int_equal(len, 0);
}

/* '1' is rows 010 110 010 010 111; at scale 2 each is a 2x2 block; '~' (no glyph) is '?'. */
static void test_font(void **state) {
  (void)state;
  tv_image img = {0};
  assert_int_equal(tv_image_new(&img, 20, 12, 0xffffff), TV_OK);
  assert_int_equal(tv_image_text(&img, 1, 1, "1~", 2, 0x000000), 16);
  assert_int_equal(tv_image_text_width("1~", 2), 16);
  static const char *one[5] = {".#.", "##.", ".#.", ".#.", "###"};
  static const char *question[5] = {"###", "..#", ".#.", "...", ".#."};
  for (int g = 0; g < 2; g++)
    for (int row = 0; row < 10; row++)
      for (int col = 0; col < 6; col++) {
        const char *const *glyph = g ? question : one;
        int ink = glyph[row / 2][col / 2] == '#';
        const unsigned char *p = img.px + ((size_t)(1 + row) * 20 + (size_t)(1 + 8 * g + col)) * 3;
        assert_int_equal(p[0], ink ? 0 : 255);
      }
  /* lower case is drawn upper case, except e and k */
  tv_image a = {0}, b = {0};
  assert_int_equal(tv_image_new(&a, 30, 7, 0xffffff), TV_OK);
  assert_int_equal(tv_image_new(&b, 30, 7, 0xffffff), TV_OK);
  tv_image_text(&a, 0, 0, "bag", 1, 0);
  tv_image_text(&b, 0, 0, "BAG", 1, 0);
  assert_memory_equal(a.px, b.px, 30 * 7 * 3);
  tv_image_text(&a, 0, 0, "e", 1, 0x0000ff);
  tv_image_text(&b, 0, 0, "E", 1, 0x0000ff);
  assert_memory_not_equal(a.px, b.px, 30 * 7 * 3);
  /* clipped at every edge, nothing written outside */
  tv_image_text(&img, -5, -3, "888", 3, 0x00ff00);
  tv_image_rect(&img, 15, 10, 40, 40, 0xff0000);
  assert_int_equal(img.px[(11 * 20 + 19) * 3], 0xff);
  tv_image_free(&a);
  tv_image_free(&b);
  tv_image_free(&img);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_png_round_trip),
      cmocka_unit_test(test_sizes_refused),
      cmocka_unit_test(test_font),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
