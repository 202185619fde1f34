/* png.c — a chart as a PNG: drawn into an RGB raster here (axes, grid, tick marks, tick labels
 * in a built-in 3x5 font, dashed lines of width 2), encoded into memory (image.h), then written
 * atomically.  Same chart model and colours as the HTML report; no title or legend (the file is
 * named after its tag).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "trainval/files.h"
#include "trainval/image.h"

enum { SCALE = 2, GLYPH_W = TV_IMAGE_GLYPH_W * SCALE };

static void rect(tv_image *r, int x0, int y0, int x1, int y1, unsigned rgb) {
  tv_image_rect(r, x0, y0, x1, y1, rgb);
}

/* A line of width 2 from (x0,y0) to (x1,y1); *phase carries the dash pattern across segments so
 * a polyline's dashes run on. */
static void line(tv_image *r, double x0, double y0, double x1, double y1, unsigned rgb, int on,
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

static void text(tv_image *r, int x, int y, const char *s, unsigned rgb) {
  tv_image_text(r, x, y, s, SCALE, rgb);
}

static void draw(tv_image *r, const rp_chart *c) {
  const int ml = 70, mr = 16, mt = 16, mb = 36;
  int pw = r->w - ml - mr, ph = r->h - mt - mb;
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

int rp_png_write(const char *path, const rp_chart *c, int w, int h) {
  tv_image r = {0};
  unsigned char *png = NULL;
  size_t n = 0;
  int rc = tv_image_new(&r, w, h, 0xffffff);
  if (rc == TV_OK) {
    draw(&r, c);
    rc = tv_image_png(&r, &png, &n);
  }
  if (rc != TV_OK)
    tv_error_prefix(rc, "%s", path);
  else
    rc = tv_fs_write_atomic(path, png, n);
  tv_image_free(&r);
  free(png);
  return rc;
}
