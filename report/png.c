/* png.c — a chart as a PNG: drawn into an RGB raster here (axes, grid, tick marks, tick labels
 * in a built-in 3x5 font, dashed lines of width 2), encoded by libpng into memory, then written
 * atomically.  Same chart model and colours as the HTML report; no title or legend (the file is
 * named after its tag).
 */
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "trainval/files.h"

typedef struct raster {
  int w, h;
  unsigned char *px; /* w*h*3, row-major RGB */
} raster;

static void plot(raster *r, int x, int y, unsigned rgb) {
  if (x < 0 || y < 0 || x >= r->w || y >= r->h) return;
  unsigned char *p = r->px + ((size_t)y * (size_t)r->w + (size_t)x) * 3;
  p[0] = (unsigned char)(rgb >> 16);
  p[1] = (unsigned char)(rgb >> 8);
  p[2] = (unsigned char)rgb;
}

static void rect(raster *r, int x0, int y0, int x1, int y1, unsigned rgb) {
  for (int y = y0; y <= y1; y++)
    for (int x = x0; x <= x1; x++) plot(r, x, y, rgb);
}

/* A line of width 2 from (x0,y0) to (x1,y1); *phase carries the dash pattern across segments so
 * a polyline's dashes run on. */
static void line(raster *r, double x0, double y0, double x1, double y1, unsigned rgb, int on,
                 int off, double *phase) {
  double dx = x1 - x0, dy = y1 - y0;
  double len = sqrt(dx * dx + dy * dy);
  int n = (int)ceil(len * 2) + 1;
  double period = on + off;
  for (int i = 0; i <= n; i++) {
    double t = n > 0 ? (double)i / n : 0;
    double d = *phase + t * len;
    if (off > 0 && fmod(d, period) >= on * 1.0) continue;
    int x = (int)lround(x0 + t * dx), y = (int)lround(y0 + t * dy);
    rect(r, x, y, x + 1, y + 1, rgb);
  }
  *phase += len;
}

/* 3x5 glyphs, one row per entry, bit 2 = left column. */
static const struct {
  char c;
  unsigned char rows[5];
} FONT[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 2, 2}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'+', {0, 2, 7, 2, 0}}, {'e', {0, 7, 7, 4, 7}}, {'k', {4, 5, 6, 5, 5}},
};

enum { SCALE = 2, GLYPH_W = 4 * SCALE };

static void text(raster *r, int x, int y, const char *s, unsigned rgb) {
  for (; *s; s++, x += GLYPH_W) {
    for (size_t g = 0; g < sizeof FONT / sizeof FONT[0]; g++) {
      if (FONT[g].c != *s) continue;
      for (int row = 0; row < 5; row++)
        for (int col = 0; col < 3; col++)
          if (FONT[g].rows[row] & (4 >> col))
            rect(r, x + col * SCALE, y + row * SCALE, x + col * SCALE + SCALE - 1,
                 y + row * SCALE + SCALE - 1, rgb);
    }
  }
}

static void draw(raster *r, const rp_chart *c) {
  const int ml = 70, mr = 16, mt = 16, mb = 36;
  int pw = r->w - ml - mr, ph = r->h - mt - mb;
  memset(r->px, 0xff, (size_t)r->w * (size_t)r->h * 3);
#define PX(x) (ml + ((x)-c->x0) / (c->x1 - c->x0) * pw)
#define PY(y) (mt + (c->y1 - (y)) / (c->y1 - c->y0) * ph)
  char lab[32];
  for (int i = 0; i < c->nyt; i++) {
    int y = (int)lround(PY(c->yt[i]));
    rect(r, ml, y, ml + pw, y, 0xeeeeee);
    rect(r, ml - 5, y, ml, y, 0x333333);
    rp_tick_label(c->yt[i], lab, sizeof lab);
    text(r, ml - 8 - (int)strlen(lab) * GLYPH_W, y - 5, lab, 0x333333);
  }
  for (int i = 0; i < c->nxt; i++) {
    int x = (int)lround(PX(c->xt[i]));
    rect(r, x, mt + ph, x, mt + ph + 5, 0x333333);
    rp_tick_label(c->xt[i], lab, sizeof lab);
    text(r, x - (int)strlen(lab) * GLYPH_W / 2, mt + ph + 10, lab, 0x333333);
  }
  rect(r, ml, mt, ml, mt + ph, 0x333333);
  rect(r, ml, mt + ph, ml + pw, mt + ph, 0x333333);
  for (int i = 0; i < c->nlines; i++) {
    const rp_line *l = &c->lines[i];
    int on, off;
    rp_kind_dash(l->kind, &on, &off);
    on *= 2; /* the raster's pixels are smaller than a CSS pixel looks */
    off *= 2;
    unsigned rgb = rp_run_colour(l->run);
    double phase = 0, lx = 0, ly = 0;
    int pen = 0;
    for (int j = 0; j < l->s->n; j++) {
      if (!isfinite(l->s->value[j])) {
        pen = 0;
        continue;
      }
      double x = PX(l->s->step[j]), y = PY(l->s->value[j]);
      if (pen) line(r, lx, ly, x, y, rgb, on, off, &phase);
      if (l->s->n <= 30) rect(r, (int)x - 2, (int)y - 2, (int)x + 2, (int)y + 2, rgb);
      lx = x;
      ly = y;
      pen = 1;
    }
  }
#undef PX
#undef PY
}

/* ---- encoding ------------------------------------------------------------------------------- */

typedef struct membuf {
  unsigned char *p;
  size_t n, cap;
  int oom;
} membuf;

static void mem_write(png_structp png, png_bytep data, png_size_t len) {
  membuf *b = png_get_io_ptr(png);
  if (b->oom) return;
  if (b->n + len > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 65536;
    while (cap < b->n + len) cap *= 2;
    unsigned char *np = realloc(b->p, cap);
    if (!np) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->n, data, len);
  b->n += len;
}

static void mem_flush(png_structp png) { (void)png; }

/* Encodes r as an 8-bit RGB PNG into b.  0, or -1 if libpng reported an error. */
static int encode(const raster *r, membuf *b) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  if (!png) return -1;
  png_infop info = png_create_info_struct(png);
  png_bytep *volatile rows = NULL;
  if (!info || setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, info ? &info : NULL);
    free(rows);
    return -1;
  }
  rows = malloc((size_t)r->h * sizeof *rows);
  if (!rows) png_error(png, "out of memory");
  for (int y = 0; y < r->h; y++) rows[y] = r->px + (size_t)y * (size_t)r->w * 3;
  png_set_write_fn(png, b, mem_write, mem_flush);
  png_set_IHDR(png, info, (png_uint_32)r->w, (png_uint_32)r->h, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_rows(png, info, rows);
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
  png_destroy_write_struct(&png, &info);
  free(rows);
  return 0;
}

int rp_png_write(const char *path, const rp_chart *c, int w, int h) {
  raster r = {w, h, malloc((size_t)w * (size_t)h * 3)};
  membuf b = {0};
  int rc = TV_OK;
  if (!r.px) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory for a %dx%d image", path, w, h);
    goto out;
  }
  draw(&r, c);
  if (encode(&r, &b) != 0 || b.oom) {
    rc = tv_error(b.oom ? TV_ERR_NOMEM : TV_ERR_IO, "%s: PNG encoding failed", path);
    goto out;
  }
  rc = tv_fs_write_atomic(path, b.p, b.n);
out:
  free(r.px);
  free(b.p);
  return rc;
}
