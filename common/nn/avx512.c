/* avx512.c — the narrow-row AVX-512 kernels (see avx512.h).  Compiled for AVX-512F by function
 * attribute (the rest of the build stays portable); tv_avx512_usable asks cpu.h.  A row of up
 * to 32 cells is lanes [0, 16) and [16, 32) of two vectors, with masks for the valid cells. */
#include "nn/avx512.h"

#include "nn/cpu.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define HAVE_AVX512 1
#include <immintrin.h>
#else
#define HAVE_AVX512 0
#endif

int tv_avx512_rows_fit(const tv_conv_geom *g) {
  return g->sh == 1 && g->sw == 1 && g->ow == g->w && g->w <= TV_AVX512_MAX_W;
}

#if HAVE_AVX512

/* The CPU check (cpu.h); this file is left out of ASan builds (HAVE_AVX512 above; why: cpu.h). */
int tv_avx512_usable(void) { return tv_cpu_has(TV_CPU_AVX512F); }

#define AVX512 __attribute__((target("avx512f")))

/* bits [lo, hi) of a 32-lane row mask */
static uint32_t lanes(int lo, int hi) {
  if (hi <= lo) return 0;
  uint32_t top = hi >= 32 ? 0xffffffffu : (1u << hi) - 1;
  return top & ~((1u << lo) - 1);
}

/* The output columns [lo, hi) whose input column ow + j - pw lies inside [0, w) (stride 1). */
static void valid_cols(const tv_conv_geom *g, int j, int *lo, int *hi) {
  int off = j - g->pw;
  *lo = off >= 0 ? 0 : -off;
  *hi = g->w - off < g->ow ? g->w - off : g->ow;
  if (*lo > *hi) *lo = *hi;
}

/* A row's store: unmasked when `room` cells from d on may be written (the spill past the row is
 * garbage a later row of the same pass overwrites), masked to the row's cells otherwise. */
AVX512 static void store_row(float *d, size_t room, int n, __m512 a, __m512 b) {
  if (room >= (size_t)(n > 16 ? 32 : 16)) {
    _mm512_storeu_ps(d, a);
    if (n > 16) _mm512_storeu_ps(d + 16, b);
    return;
  }
  uint32_t m = lanes(0, n);
  _mm512_mask_storeu_ps(d, (__mmask16)m, a);
  if (n > 16) _mm512_mask_storeu_ps(d + 16, (__mmask16)(m >> 16), b);
}

/* Each col row [oh][ow] is written in increasing oh: a row's spill lands in the next rows of the
 * same example's block (p = oh*ow cells), which follow. */
AVX512 void tv_avx512_im2col(const tv_conv_geom *g, const float *x, float *col, size_t ld) {
  size_t plane = (size_t)g->h * g->w, p = (size_t)g->oh * g->ow;
  __m512 zero = _mm512_setzero_ps();
  for (int c = 0; c < g->c; c++)
    for (int i = 0; i < g->kh; i++)
      for (int j = 0; j < g->kw; j++) {
        float *row = col + ((size_t)(c * g->kh + i) * g->kw + j) * ld;
        const float *xc = x + c * plane;
        int lo, hi, off = j - g->pw;
        valid_cols(g, j, &lo, &hi);
        uint32_t v = lanes(lo, hi);
        __mmask16 m0 = (__mmask16)v, m1 = (__mmask16)(v >> 16);
        for (int oh = 0; oh < g->oh; oh++) {
          size_t q = (size_t)oh * g->ow;
          int ih = oh - g->ph + i;
          __m512 a = zero, b = zero;
          if (ih >= 0 && ih < g->h) {
            /* lane L reads x[ih][L + off], masked to the valid L */
            const float *src = xc + (size_t)ih * g->w + off;
            a = _mm512_maskz_loadu_ps(m0, src);
            if (g->ow > 16) b = _mm512_maskz_loadu_ps(m1, src + 16);
          }
          store_row(row + q, p - q, g->ow, a, b);
        }
      }
}

/* By rows of dx: row ih of channel c gathers its kernel rows' contributions in (i, j) order,
 * the order the portable loops add them in, and is stored once; two rows at a time, so that
 * two chains of adds overlap.  When accumulating, a full-width load and store carries the
 * next rows' cells through unchanged (the load comes before any store of the pair, the stores
 * go in row order, and later rows are summed later, by this call). */
AVX512 static void col2im_rows(const tv_conv_geom *g, const float *col, size_t ld, float *dx,
                               int accumulate, int c, int ih, int rows) {
  size_t plane = (size_t)g->h * g->w, in = (size_t)g->c * plane;
  int two = g->w > 16;
  uint32_t rm = lanes(0, g->w);
  __m512 a[2], b[2];
  int full[2];
  for (int r = 0; r < rows; r++) {
    float *d = dx + c * plane + (size_t)(ih + r) * g->w;
    full[r] = in - (size_t)(d - dx) >= (size_t)(two ? 32 : 16);
    a[r] = b[r] = _mm512_setzero_ps();
    if (!accumulate) {
      /* written, not read: the sums start from +0, as on a cleared dx (a full-width store's
       * spill is zeros in rows this call writes later) */
    } else if (full[r]) {
      a[r] = _mm512_loadu_ps(d);
      if (two) b[r] = _mm512_loadu_ps(d + 16);
    } else {
      a[r] = _mm512_maskz_loadu_ps((__mmask16)rm, d);
      if (two) b[r] = _mm512_maskz_loadu_ps((__mmask16)(rm >> 16), d + 16);
    }
  }
  for (int i = 0; i < g->kh; i++)
    for (int j = 0; j < g->kw; j++) {
      const float *row = col + ((size_t)(c * g->kh + i) * g->kw + j) * ld;
      int lo, hi, off = j - g->pw;
      valid_cols(g, j, &lo, &hi);
      /* dx lane X = ow + off takes r[X - off] for ow in [lo, hi) */
      uint32_t v = lanes(lo + off, hi + off);
      __mmask16 m0 = (__mmask16)v, m1 = (__mmask16)(v >> 16);
      for (int r = 0; r < 2; r++) {
        int oh = ih + r + g->ph - i;
        if (r >= rows || oh < 0 || oh >= g->oh) continue;
        const float *src = row + (size_t)oh * g->ow - off;
        a[r] = _mm512_mask_add_ps(a[r], m0, a[r], _mm512_maskz_loadu_ps(m0, src));
        if (two) b[r] = _mm512_mask_add_ps(b[r], m1, b[r], _mm512_maskz_loadu_ps(m1, src + 16));
      }
    }
  for (int r = 0; r < rows; r++) {
    float *d = dx + c * plane + (size_t)(ih + r) * g->w;
    if (full[r]) {
      _mm512_storeu_ps(d, a[r]);
      if (two) _mm512_storeu_ps(d + 16, b[r]);
    } else {
      _mm512_mask_storeu_ps(d, (__mmask16)rm, a[r]);
      if (two) _mm512_mask_storeu_ps(d + 16, (__mmask16)(rm >> 16), b[r]);
    }
  }
}

AVX512 void tv_avx512_col2im(const tv_conv_geom *g, const float *col, size_t ld, float *dx,
                             int accumulate) {
  for (int c = 0; c < g->c; c++)
    for (int ih = 0; ih < g->h; ih += 2)
      col2im_rows(g, col, ld, dx, accumulate, c, ih, g->h - ih < 2 ? 1 : 2);
}

AVX512 void tv_avx512_max_pool_row(const float *r0, const float *r1, int w, int ow, float *y,
                                   int32_t *arg, int32_t base, int relu, size_t room) {
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  uint32_t in = lanes(0, 2 * ow);
  __mmask16 i0 = (__mmask16)in, i1 = (__mmask16)(in >> 16), om = (__mmask16)lanes(0, ow);
  __m512 p0 = _mm512_maskz_loadu_ps(i0, r0), p1 = _mm512_maskz_loadu_ps(i1, r0 + 16);
  __m512 q0 = _mm512_maskz_loadu_ps(i0, r1), q1 = _mm512_maskz_loadu_ps(i1, r1 + 16);
  __m512 a = _mm512_permutex2var_ps(p0, even, p1), b = _mm512_permutex2var_ps(p0, odd, p1);
  __m512 c = _mm512_permutex2var_ps(q0, even, q1), d = _mm512_permutex2var_ps(q0, odd, q1);
  /* m1 = b > a ? b : a, m2 = d > c ? d : c, y = m2 > m1 ? m2 : m1 (the portable selects) */
  __mmask16 c1 = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), c2 = _mm512_cmp_ps_mask(d, c, _CMP_GT_OQ);
  __m512 m1 = _mm512_mask_blend_ps(c1, a, b), m2 = _mm512_mask_blend_ps(c2, c, d);
  __mmask16 c3 = _mm512_cmp_ps_mask(m2, m1, _CMP_GT_OQ);
  __m512 v = _mm512_mask_blend_ps(c3, m1, m2);
  if (relu) v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
  int full = room >= 16;
  if (full)
    _mm512_storeu_ps(y, v);
  else
    _mm512_mask_storeu_ps(y, om, v);
  if (arg) {
    const __m512i one = _mm512_set1_epi32(1);
    __m512i t = _mm512_add_epi32(_mm512_set1_epi32(base), even); /* base + 2 o */
    __m512i top = _mm512_mask_add_epi32(t, c1, t, one);
    __m512i bot = _mm512_add_epi32(t, _mm512_set1_epi32(w));
    bot = _mm512_mask_add_epi32(bot, c2, bot, one);
    __m512i k = _mm512_mask_blend_epi32(c3, top, bot);
    if (full)
      _mm512_storeu_si512(arg, k);
    else
      _mm512_mask_storeu_epi32(arg, om, k);
  }
}

AVX512 void tv_avx512_max_pool_backward_row(float *d0, const float *dy, const int32_t *argmax,
                                            const float *y, int ow, int w, int32_t base,
                                            size_t room) {
  const __m512i dup_lo = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i dup_hi = _mm512_add_epi32(dup_lo, _mm512_set1_epi32(8));
  const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  __mmask16 om = (__mmask16)lanes(0, ow);
  __m512 v = _mm512_maskz_loadu_ps(om, dy);
  if (y)
    v = _mm512_maskz_mov_ps(
        _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(om, y), _mm512_setzero_ps(), _CMP_GT_OQ), v);
  __m512i k = _mm512_maskz_loadu_epi32(om, argmax);
  /* cell L of a dx row belongs to window L / 2 */
  __m512 vl = _mm512_permutexvar_ps(dup_lo, v), vh = _mm512_permutexvar_ps(dup_hi, v);
  __m512i kl = _mm512_permutexvar_epi32(dup_lo, k), kh = _mm512_permutexvar_epi32(dup_hi, k);
  for (int r = 0; r < 2; r++) {
    __m512i at = _mm512_add_epi32(iota, _mm512_set1_epi32(base + r * w));
    __m512 a = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(kl, at), vl);
    at = _mm512_add_epi32(at, _mm512_set1_epi32(16));
    __m512 b = _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(kh, at), vh);
    store_row(d0 + (size_t)r * w, room - (size_t)r * w, w, a, b);
  }
}

#else /* no AVX-512 in this build: tv_avx512_usable() is 0, so nothing below is ever called */

int tv_avx512_usable(void) { return 0; }

void tv_avx512_im2col(const tv_conv_geom *g, const float *x, float *col, size_t ld) {
  (void)g, (void)x, (void)col, (void)ld;
}
void tv_avx512_col2im(const tv_conv_geom *g, const float *col, size_t ld, float *dx,
                      int accumulate) {
  (void)g, (void)col, (void)ld, (void)dx, (void)accumulate;
}
void tv_avx512_max_pool_row(const float *r0, const float *r1, int w, int ow, float *y, int32_t *arg,
                            int32_t base, int relu, size_t room) {
  (void)r0, (void)r1, (void)w, (void)ow, (void)y, (void)arg, (void)base, (void)relu, (void)room;
}
void tv_avx512_max_pool_backward_row(float *d0, const float *dy, const int32_t *argmax,
                                     const float *y, int ow, int w, int32_t base, size_t room) {
  (void)d0, (void)dy, (void)argmax, (void)y, (void)ow, (void)w, (void)base, (void)room;
}

#endif
