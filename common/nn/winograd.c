/* winograd.c — F(2x2, 3x3) convolution (see winograd.h), channel-last inside so that every
 * transform is a loop over contiguous channels: each example goes to a zero-padded (h, w, C)
 * copy (every tile reads 4x4 cells without bounds checks), V_p [T, C]; the 16 gemms
 * M_p [T, F] = V_p U_p [C, F]; the output tiles to a (2 th, 2 tw, F) buffer, then to (F, oh, ow)
 * (odd sizes copy only the cells inside). */
#include "nn/winograd.h"

#include <string.h>

/* See ops.c: the dynamic vectoriser cost model for the kernels' loops (GCC 12 at -O2). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

int tv_winograd_fits(const tv_conv_geom *g) {
  return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->ph <= 2 && g->pw <= 2 &&
         g->oh >= 1 && g->ow >= 1;
}

static int tiles_h(const tv_conv_geom *g) { return (g->oh + 1) / 2; }
static int tiles_w(const tv_conv_geom *g) { return (g->ow + 1) / 2; }

size_t tv_winograd_tiles(const tv_conv_geom *g) { return (size_t)tiles_h(g) * tiles_w(g); }

/* The padded channel-last input: (2 th + 2) x (2 tw + 2) cells of C; the channel-last output
 * tiles: 2 th x 2 tw cells of F. */
static size_t pad_in(const tv_conv_geom *g) {
  return (size_t)(2 * tiles_h(g) + 2) * (2 * tiles_w(g) + 2) * g->c;
}
static size_t pad_out(const tv_conv_geom *g, int f) {
  return 4 * tv_winograd_tiles(g) * f + (size_t)f; /* and f zeros, the bias of none */
}

/* V [16][T][C], M [16][T][F], then the padded input and the output tiles of one example. */
size_t tv_winograd_scratch(const tv_conv_geom *g, int f, int examples) {
  size_t t = tv_winograd_tiles(g) * (size_t)examples;
  return TV_WINO_POS * ((size_t)g->c + (size_t)f) * t + pad_in(g) + pad_out(g, f);
}

/* One 3x3 filter k (its cell (i, j) at k[i * si + j * sj]) -> G k G^T, position p at o[p * ps]. */
static void filter_one(const float *k, int si, int sj, float *o, size_t ps) {
  float t[4][3]; /* G k */
  for (int j = 0; j < 3; j++) {
    float k0 = k[j * sj], k1 = k[si + j * sj], k2 = k[2 * si + j * sj];
    t[0][j] = k0;
    t[1][j] = 0.5f * (k0 + k1 + k2);
    t[2][j] = 0.5f * (k0 - k1 + k2);
    t[3][j] = k2;
  }
  for (int i = 0; i < 4; i++) { /* (G k) G^T */
    o[(size_t)(i * 4 + 0) * ps] = t[i][0];
    o[(size_t)(i * 4 + 1) * ps] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
    o[(size_t)(i * 4 + 2) * ps] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
    o[(size_t)(i * 4 + 3) * ps] = t[i][2];
  }
}

void tv_winograd_filter(const tv_conv_geom *g, int f, const float *w, float *u) {
  size_t fc = (size_t)f * g->c;
  for (int q = 0; q < f; q++)
    for (int c = 0; c < g->c; c++) /* U_p [C][F] */
      filter_one(w + ((size_t)q * g->c + c) * 9, 3, 1, u + (size_t)c * f + q, fc);
}

void tv_winograd_filter_dx(int c, int f, const float *w, float *u) {
  size_t fc = (size_t)f * c;
  for (int q = 0; q < f; q++)
    for (int ch = 0; ch < c; ch++) /* U'_p [F][C] of W'[ch][q] = W[q][ch] turned 180 degrees */
      filter_one(w + ((size_t)q * c + ch) * 9 + 8, -3, -1, u + (size_t)q * c + ch, fc);
}

void tv_winograd_dx_geom(const tv_conv_geom *g, int f, tv_conv_geom *out) {
  *out = (tv_conv_geom){.c = f,
                        .h = g->oh,
                        .w = g->ow,
                        .kh = 3,
                        .kw = 3,
                        .sh = 1,
                        .sw = 1,
                        .ph = 2 - g->ph,
                        .pw = 2 - g->pw,
                        .oh = g->h,
                        .ow = g->w};
}

typedef float v8 __attribute__((vector_size(32), aligned(4))); /* 8 lanes, any alignment */

#define INPUT_TILE(T, k)                                                                           \
  do {                                                                                             \
    const float *q = p + (k);                                                                      \
    T t[16];                                                                                       \
    for (int j = 0; j < 4; j++) { /* B^T d, column j */                                            \
      T a0 = *(const T *)(q + j * n), a1 = *(const T *)(q + row + j * n);                          \
      T a2 = *(const T *)(q + 2 * row + j * n), a3 = *(const T *)(q + 3 * row + j * n);            \
      t[j] = a0 - a2;                                                                              \
      t[4 + j] = a1 + a2;                                                                          \
      t[8 + j] = a2 - a1;                                                                          \
      t[12 + j] = a1 - a3;                                                                         \
    }                                                                                              \
    for (int i = 0; i < 4; i++) { /* (B^T d) B, row i */                                           \
      float *o = v + (size_t)(4 * i) * stride + (k);                                               \
      *(T *)o = t[4 * i] - t[4 * i + 2];                                                           \
      *(T *)(o + stride) = t[4 * i + 1] + t[4 * i + 2];                                            \
      *(T *)(o + 2 * stride) = t[4 * i + 2] - t[4 * i + 1];                                        \
      *(T *)(o + 3 * stride) = t[4 * i + 1] - t[4 * i + 3];                                        \
    }                                                                                              \
  } while (0)

/* One tile of the channel-last padded input (cell (i, j) of its 4x4 patch at p + (i pw2 + j) c)
 * -> V_p[.][0, c) at v + p * stride: 8 channels at a time, then one (the same operations per
 * lane, so the same bits either way). */
TV_VECTOR static void input_tile(const float *p, int pw2, int c, float *v, size_t stride) {
  size_t n = (size_t)c, row = (size_t)pw2 * n, k = 0;
  for (; k + 8 <= n; k += 8) INPUT_TILE(v8, k);
  for (; k < n; k++) INPUT_TILE(float, k);
}
#undef INPUT_TILE

/* M_p[t][0, f) at m + p * stride -> the tile's 2x2 cells of f at y0, y0 + f (row 0) and y1,
 * y1 + f (row 1), + bias. */
TV_VECTOR static void output_tile(const float *restrict m, size_t stride, int f,
                                  const float *restrict bias, float *restrict y0,
                                  float *restrict y1) {
  for (int k = 0; k < f; k++) {
#define AT(j, s0, s1)                                                                              \
  float s0 = m[(size_t)(j)*stride + k] + m[(size_t)(4 + (j)) * stride + k] +                       \
             m[(size_t)(8 + (j)) * stride + k];                                                    \
  float s1 = m[(size_t)(4 + (j)) * stride + k] - m[(size_t)(8 + (j)) * stride + k] -               \
             m[(size_t)(12 + (j)) * stride + k]
    AT(0, p0, q0); /* A^T M: rows p, q */
    AT(1, p1, q1);
    AT(2, p2, q2);
    AT(3, p3, q3);
#undef AT
    float b = bias[k];
    y0[k] = p0 + p1 + p2 + b; /* (A^T M) A */
    y0[f + k] = p1 - p2 - p3 + b;
    y1[k] = q0 + q1 + q2 + b;
    y1[f + k] = q1 - q2 - q3 + b;
  }
}

void tv_winograd_forward(const tv_conv_geom *g, int f, int m, const float *u, const float *bias,
                         const float *x, float *y, int accumulate, float *scratch) {
  int th = tiles_h(g), tw = tiles_w(g), c = g->c, pw2 = 2 * tw + 2, ow2 = 2 * tw;
  size_t tiles = tv_winograd_tiles(g), t = tiles * (size_t)m;
  size_t plane = (size_t)g->h * g->w, oplane = (size_t)g->oh * g->ow;
  float *v = scratch, *mm = v + TV_WINO_POS * (size_t)c * t;
  float *xt = mm + TV_WINO_POS * (size_t)f * t, *yt = xt + pad_in(g);
  memset(xt, 0, pad_in(g) * sizeof *xt); /* the border stays 0 for every example */
  if (!bias) {
    float *zeros = yt + pad_out(g, f) - f;
    memset(zeros, 0, (size_t)f * sizeof *zeros);
    bias = zeros;
  }
  int r1 = g->h < 2 * th + 2 - g->ph ? g->h : 2 * th + 2 - g->ph;
  int c1 = g->w < pw2 - g->pw ? g->w : pw2 - g->pw;
  for (int e = 0; e < m; e++) {
    for (int ch = 0; ch < c; ch++) { /* (C, h, w) -> padded (h, w, C) */
      const float *xp = x + ((size_t)e * c + ch) * plane;
      for (int r = 0; r < r1; r++) {
        float *o = xt + ((size_t)(r + g->ph) * pw2 + g->pw) * c + ch;
        for (int q = 0; q < c1; q++) o[(size_t)q * c] = xp[(size_t)r * g->w + q];
      }
    }
    for (int ty = 0; ty < th; ty++)
      for (int tx = 0; tx < tw; tx++)
        input_tile(xt + ((size_t)(2 * ty) * pw2 + 2 * tx) * c, pw2, c,
                   v + ((size_t)e * tiles + (size_t)ty * tw + tx) * c, t * c);
  }
  for (int p = 0; p < TV_WINO_POS; p++)
    tv_gemm(0, 0, (int)t, f, c, 1.0f, v + p * t * c, c, u + (size_t)p * c * f, f, 0.0f,
            mm + p * t * f, f);
  for (int e = 0; e < m; e++) {
    for (int ty = 0; ty < th; ty++)
      for (int tx = 0; tx < tw; tx++) {
        float *y0 = yt + ((size_t)(2 * ty) * ow2 + 2 * tx) * f;
        output_tile(mm + ((size_t)e * tiles + (size_t)ty * tw + tx) * f, t * f, f, bias, y0,
                    y0 + (size_t)ow2 * f);
      }
    for (int q = 0; q < f; q++) { /* (2 th, 2 tw, F) -> (F, oh, ow) */
      float *yp = y + ((size_t)e * f + q) * oplane;
      for (int r = 0; r < g->oh; r++)
        if (accumulate)
          for (int col = 0; col < g->ow; col++)
            yp[(size_t)r * g->ow + col] += yt[((size_t)r * ow2 + col) * f + q];
        else
          for (int col = 0; col < g->ow; col++)
            yp[(size_t)r * g->ow + col] = yt[((size_t)r * ow2 + col) * f + q];
    }
  }
}
