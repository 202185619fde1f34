/* image.c — the RGB raster, its bitmap font and its PNG encoder (format in image.h).
 *
 * The encoder writes filter type 0 on every row and leaves compression to zlib: the figures are
 * mostly flat colour, which deflate packs well without per-row filters.  Invariant: a tv_image
 * with px not NULL has 1 <= w, h <= TV_IMAGE_MAX_SIDE and w * h * 3 bytes at px.
 */
#include "trainval/image.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int tv_image_new(tv_image *img, int w, int h, unsigned rgb) {
  img->w = img->h = 0;
  img->px = NULL;
  if (w < 1 || h < 1 || w > TV_IMAGE_MAX_SIDE || h > TV_IMAGE_MAX_SIDE)
    return tv_error(TV_ERR_INVALID, "image: %dx%d is not a size from 1x1 to %dx%d", w, h,
                    TV_IMAGE_MAX_SIDE, TV_IMAGE_MAX_SIDE);
  size_t n = (size_t)w * (size_t)h;
  img->px = malloc(n * 3);
  if (!img->px) return tv_error(TV_ERR_NOMEM, "image: out of memory for %dx%d pixels", w, h);
  img->w = w;
  img->h = h;
  tv_image_rect(img, 0, 0, w - 1, h - 1, rgb);
  return TV_OK;
}

void tv_image_free(tv_image *img) {
  if (!img) return;
  free(img->px);
  img->px = NULL;
  img->w = img->h = 0;
}

void tv_image_rect(tv_image *img, int x0, int y0, int x1, int y1, unsigned rgb) {
  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x1 >= img->w) x1 = img->w - 1;
  if (y1 >= img->h) y1 = img->h - 1;
  unsigned char c[3] = {(unsigned char)(rgb >> 16), (unsigned char)(rgb >> 8), (unsigned char)rgb};
  for (int y = y0; y <= y1; y++) {
    unsigned char *p = img->px + ((size_t)y * (size_t)img->w + (size_t)x0) * 3;
    for (int x = x0; x <= x1; x++, p += 3) memcpy(p, c, 3);
  }
}

/* ---- the font ---------------------------------------------------------------------------- */

/* 3x5 glyphs, one entry per row, top first; bit 2 is the left column.  A character without an
 * entry (all rows 0, other than ' ') is drawn as '?'. */
static const unsigned char FONT[128][5] = {
    ['0'] = {7, 5, 5, 5, 7}, ['1'] = {2, 6, 2, 2, 7},  ['2'] = {7, 1, 7, 4, 7},
    ['3'] = {7, 1, 7, 1, 7}, ['4'] = {5, 5, 7, 1, 1},  ['5'] = {7, 4, 7, 1, 7},
    ['6'] = {7, 4, 7, 5, 7}, ['7'] = {7, 1, 1, 2, 2},  ['8'] = {7, 5, 7, 5, 7},
    ['9'] = {7, 5, 7, 1, 7}, ['A'] = {2, 5, 7, 5, 5},  ['B'] = {6, 5, 6, 5, 6},
    ['C'] = {3, 4, 4, 4, 3}, ['D'] = {6, 5, 5, 5, 6},  ['E'] = {7, 4, 6, 4, 7},
    ['F'] = {7, 4, 6, 4, 4}, ['G'] = {3, 4, 5, 5, 3},  ['H'] = {5, 5, 7, 5, 5},
    ['I'] = {7, 2, 2, 2, 7}, ['J'] = {1, 1, 1, 5, 2},  ['K'] = {5, 5, 6, 5, 5},
    ['L'] = {4, 4, 4, 4, 7}, ['M'] = {5, 7, 7, 5, 5},  ['N'] = {6, 5, 5, 5, 5},
    ['O'] = {2, 5, 5, 5, 2}, ['P'] = {6, 5, 6, 4, 4},  ['Q'] = {2, 5, 5, 6, 3},
    ['R'] = {6, 5, 6, 5, 5}, ['S'] = {3, 4, 2, 1, 6},  ['T'] = {7, 2, 2, 2, 2},
    ['U'] = {5, 5, 5, 5, 7}, ['V'] = {5, 5, 5, 5, 2},  ['W'] = {5, 5, 7, 7, 5},
    ['X'] = {5, 5, 2, 5, 5}, ['Y'] = {5, 5, 2, 2, 2},  ['Z'] = {7, 1, 2, 4, 7},
    ['e'] = {0, 7, 7, 4, 7}, ['k'] = {4, 5, 6, 5, 5},  ['.'] = {0, 0, 0, 0, 2},
    [','] = {0, 0, 0, 2, 4}, ['-'] = {0, 0, 7, 0, 0},  ['+'] = {0, 2, 7, 2, 0},
    ['/'] = {1, 1, 2, 4, 4}, [':'] = {0, 2, 0, 2, 0},  ['('] = {2, 4, 4, 4, 2},
    [')'] = {2, 1, 1, 1, 2}, ['_'] = {0, 0, 0, 0, 7},  ['='] = {0, 7, 0, 7, 0},
    ['%'] = {5, 1, 2, 4, 5}, ['<'] = {1, 2, 4, 2, 1},  ['>'] = {4, 2, 1, 2, 4},
    ['#'] = {5, 7, 5, 7, 5}, ['\\'] = {4, 4, 2, 1, 1}, ['\''] = {2, 2, 0, 0, 0},
    ['?'] = {7, 1, 2, 0, 2},
};

static const unsigned char *glyph(unsigned char c) {
  if (c == ' ') return FONT[' '];
  if (c >= 'a' && c <= 'z' && c != 'e' && c != 'k') c = (unsigned char)(c - 'a' + 'A');
  if (c < 128) {
    const unsigned char *g = FONT[c];
    if (g[0] | g[1] | g[2] | g[3] | g[4]) return g;
  }
  return FONT['?'];
}

int tv_image_text_width(const char *s, int scale) {
  return (int)strlen(s) * TV_IMAGE_GLYPH_W * scale;
}

int tv_image_text(tv_image *img, int x, int y, const char *s, int scale, unsigned rgb) {
  if (scale < 1) scale = 1;
  int x0 = x;
  for (; *s; s++, x += TV_IMAGE_GLYPH_W * scale) {
    const unsigned char *g = glyph((unsigned char)*s);
    for (int row = 0; row < 5; row++)
      for (int col = 0; col < 3; col++)
        if (g[row] & (4 >> col))
          tv_image_rect(img, x + col * scale, y + row * scale, x + col * scale + scale - 1,
                        y + row * scale + scale - 1, rgb);
  }
  return x - x0;
}

/* ---- PNG --------------------------------------------------------------------------------- */

static unsigned char *put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
  return p + 4;
}

/* Writes the chunk of type (4 letters) whose data already lies at p + 8 (n bytes); returns the
 * end of the chunk. */
static unsigned char *put_chunk(unsigned char *p, const char *type, size_t n) {
  put_be32(p, (uint32_t)n);
  memcpy(p + 4, type, 4);
  uLong crc = crc32(0L, p + 4, (uInt)(n + 4));
  return put_be32(p + 8 + n, (uint32_t)crc);
}

int tv_image_png(const tv_image *img, unsigned char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (!img || !img->px) return tv_error(TV_ERR_INVALID, "image: no pixels to encode");
  static const unsigned char SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  size_t row = (size_t)img->w * 3 + 1, raw_n = row * (size_t)img->h;
  unsigned char *raw = malloc(raw_n), *png = NULL;
  uLongf zcap = compressBound((uLong)raw_n);
  int rc = TV_OK;
  if (raw) png = malloc(8 + 25 + 12 + (size_t)zcap + 12);
  if (!raw || !png) {
    rc = tv_error(TV_ERR_NOMEM, "image: out of memory encoding a %dx%d PNG", img->w, img->h);
    goto out;
  }
  for (int y = 0; y < img->h; y++) {
    raw[(size_t)y * row] = 0; /* filter type None */
    memcpy(raw + (size_t)y * row + 1, img->px + (size_t)y * (row - 1), row - 1);
  }
  unsigned char *p = png;
  memcpy(p, SIG, 8);
  p += 8;
  unsigned char *d = put_be32(put_be32(p + 8, (uint32_t)img->w), (uint32_t)img->h);
  memcpy(d, (const unsigned char[]){8, 2, 0, 0, 0}, 5); /* depth 8, RGB, deflate, 0, none */
  p = put_chunk(p, "IHDR", 13);
  uLongf zlen = zcap;
  int z = compress2(p + 8, &zlen, raw, (uLong)raw_n, 6);
  if (z != Z_OK) {
    rc = tv_error(z == Z_MEM_ERROR ? TV_ERR_NOMEM : TV_ERR_INVALID,
                  "image: zlib failed (%d) encoding a %dx%d PNG", z, img->w, img->h);
    goto out;
  }
  p = put_chunk(p, "IDAT", (size_t)zlen);
  p = put_chunk(p, "IEND", 0);
  *len = (size_t)(p - png);
  *out = png;
  png = NULL;
out:
  free(raw);
  free(png);
  return rc;
}
