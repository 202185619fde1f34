/* image.h — an 8-bit RGB raster the programs draw figures into (charts, confusion matrices, grids
 * of examples), a built-in bitmap font for their labels, and a PNG encoder for it.  The event
 * writer (events.h, tv_events_image), eval's figures and the run report's --png charts share it.
 *
 * FILE FORMAT (PNG, ISO/IEC 15948; we write a subset of it)
 *   89 50 4E 47 0D 0A 1A 0A                the signature
 *   chunk IHDR  width, height (uint32 big-endian), bit depth 8, colour type 2 (RGB),
 *               compression 0, filter 0, interlace 0
 *   chunk IDAT  one chunk: the zlib stream (zlib's compress2) of the rows, each row a filter-type
 *               byte 0 (None) followed by width * 3 bytes R, G, B
 *   chunk IEND  empty
 *   a chunk is uint32 length (big-endian) | 4-byte type | data | uint32 CRC-32 (ISO 3309, zlib's
 *   crc32) of type and data.
 * VERSION AND COMPATIBILITY: PNG has one version; every PNG reader reads this subset.
 *
 * THE FONT: glyphs 3 pixels wide and 5 high (scaled by an integer factor), advancing 4 pixels
 * (times the scale) per character: digits, upper-case letters (lower case is drawn upper case,
 * except 'e' and 'k', which tick labels use as exponent and thousands marks), space and
 * . , - + / \ : ( ) _ = % < > # ' ?  Any other character is drawn as '?'.
 */
#ifndef TRAINVAL_IMAGE_H
#define TRAINVAL_IMAGE_H

#include <stddef.h>

#include "trainval/error.h"

/* A w x h raster, px row-major with 3 bytes (R, G, B) per pixel; px is owned by the image. */
typedef struct tv_image {
  int w, h;
  unsigned char *px;
} tv_image;

enum { TV_IMAGE_MAX_SIDE = 16384, TV_IMAGE_GLYPH_W = 4, TV_IMAGE_GLYPH_H = 5 };

/* Allocates a w x h raster filled with the colour rgb (0xRRGGBB) into *img.  On failure img->px
 * is NULL.  Errors: TV_ERR_INVALID (w or h outside 1..TV_IMAGE_MAX_SIDE), TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_image_new(tv_image *img, int w, int h, unsigned rgb);

/* Frees img->px and zeroes img.  NULL-safe, and safe on a zeroed image. */
void tv_image_free(tv_image *img);

/* Fills the rectangle with corners (x0, y0) and (x1, y1), both included, clipped to the image.
 * Cannot fail. */
void tv_image_rect(tv_image *img, int x0, int y0, int x1, int y1, unsigned rgb);

/* Draws s with its top-left corner at (x, y), each font pixel a scale x scale square (scale >= 1),
 * clipped to the image.  Returns the width drawn, tv_image_text_width(s, scale).  Cannot fail. */
int tv_image_text(tv_image *img, int x, int y, const char *s, int scale, unsigned rgb);

/* Width in pixels tv_image_text takes for s: strlen(s) * 4 * scale. */
int tv_image_text_width(const char *s, int scale);

/* Encodes img as a PNG (format above) into *out (malloc'd, the caller frees) of *len bytes.
 * *out is NULL on failure.  Errors: TV_ERR_INVALID (img NULL or without pixels), TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_image_png(const tv_image *img, unsigned char **out, size_t *len);

#endif
