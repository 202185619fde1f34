/* gemv.c — the packed matrix-vector products of gemv.h. */
#include "nn/gemv.h"

#include <string.h>

#include "nn/cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define GEMV_X86 1
#else
#define GEMV_X86 0
#endif

enum { L = TV_GEMV_LANES };

static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

size_t tv_gemv_group_floats(int q, int k, int bf16) {
  size_t n = bf16 ? (size_t)q * L * (size_t)((k + 1) / 2) : (size_t)q * L * (size_t)k;
  return (n + 15) / 16 * 16;
}

void tv_gemv_pack(float *p, int q, const float *const *rows, const int *nrows, int ld, int k,
                  int bf16) {
  memset(p, 0, tv_gemv_group_floats(q, k, bf16) * sizeof *p);
  uint16_t *h = (uint16_t *)p;
  for (int j = 0; j < q; j++)
    for (int i = 0; i < nrows[j]; i++)
      for (int c = 0; c < k; c++) {
        float w = rows[j][(size_t)i * ld + c];
        if (bf16)
          h[((size_t)(c / 2) * q + j) * 2 * L + 2 * i + c % 2] = to_bf16(w);
        else
          p[((size_t)c * q + j) * L + i] = w;
      }
}

void tv_gemv_x_bf16(uint32_t *xb, const float *x, int n) {
  for (int m = 0; m < (n + 1) / 2; m++) {
    uint32_t hi = 2 * m + 1 < n ? to_bf16(x[2 * m + 1]) : 0;
    xb[m] = to_bf16(x[2 * m]) | hi << 16;
  }
}

/* ---- portable C ---- */

static void f32_c(const float *p, int k, const float *x, int q, float *y) {
  for (int c = 0; c < k; c++)
    for (int j = 0; j < q; j++)
      for (int i = 0; i < L; i++) y[j * L + i] += p[((size_t)c * q + j) * L + i] * x[c];
}

/* vdpbf16ps's order: the odd column's product, then the even one's (products of two bf16 are
 * exact in fp32, so only the additions round); column pairs m alternate between two sums per
 * row, as the AVX-512 kernel's, added at the end (s: 2 * q * 16 floats, zeroed, carried over
 * the segments). */
static void bf16_c(const float *p, int k, const uint32_t *x, int q, float *s) {
  const uint16_t *h = (const uint16_t *)p;
  for (int m = 0; m < (k + 1) / 2; m++) {
    float x0 = from_bf16((uint16_t)(x[m] & 0xffff)), x1 = from_bf16((uint16_t)(x[m] >> 16));
    float *y = s + (m % 2) * q * L;
    for (int j = 0; j < q; j++)
      for (int i = 0; i < L; i++) {
        const uint16_t *w = h + ((size_t)m * q + j) * 2 * L + 2 * i;
        y[j * L + i] += from_bf16(w[1]) * x1;
        y[j * L + i] += from_bf16(w[0]) * x0;
      }
  }
}

/* ---- AVX-512: q accumulators of 16 lanes, one per panel, each a chain over the columns ---- */

#if GEMV_X86
#define GEMV_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))
#define GEMV_BF16   __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma")))

static GEMV_AVX512 inline __attribute__((always_inline)) void
f32_seg(const float *p, int k, const float *x, int q, __m512 *acc) {
  switch (q) {
  case 4:
    for (int c = 0; c < k; c++, p += 4 * L) {
      __m512 b = _mm512_set1_ps(x[c]);
      acc[0] = _mm512_fmadd_ps(_mm512_load_ps(p), b, acc[0]);
      acc[1] = _mm512_fmadd_ps(_mm512_load_ps(p + L), b, acc[1]);
      acc[2] = _mm512_fmadd_ps(_mm512_load_ps(p + 2 * L), b, acc[2]);
      acc[3] = _mm512_fmadd_ps(_mm512_load_ps(p + 3 * L), b, acc[3]);
    }
    break;
  case 3:
    for (int c = 0; c < k; c++, p += 3 * L) {
      __m512 b = _mm512_set1_ps(x[c]);
      acc[0] = _mm512_fmadd_ps(_mm512_load_ps(p), b, acc[0]);
      acc[1] = _mm512_fmadd_ps(_mm512_load_ps(p + L), b, acc[1]);
      acc[2] = _mm512_fmadd_ps(_mm512_load_ps(p + 2 * L), b, acc[2]);
    }
    break;
  default:
    for (int c = 0; c < k; c++, p += q * L) {
      __m512 b = _mm512_set1_ps(x[c]);
      for (int j = 0; j < q; j++) acc[j] = _mm512_fmadd_ps(_mm512_load_ps(p + j * L), b, acc[j]);
    }
  }
}

static GEMV_AVX512 void f32_avx512(const float *p1, int k1, const float *x1, const float *p2,
                                   int k2, const float *x2, int q, float *y) {
  __m512 acc[TV_GEMV_MAX_Q];
  for (int j = 0; j < q; j++) acc[j] = _mm512_loadu_ps(y + j * L);
  f32_seg(p1, k1, x1, q, acc);
  if (k2) f32_seg(p2, k2, x2, q, acc);
  for (int j = 0; j < q; j++) _mm512_storeu_ps(y + j * L, acc[j]);
}

/* Two sums per panel (column pairs m even into acc[j], odd into acc[q + j]: twice the chains
 * that hide vdpbf16ps's latency), added at the end. */
static GEMV_BF16 inline __attribute__((always_inline)) void
bf16_seg(const float *p, int k, const uint32_t *x, int q, __m512 *acc) {
  int m2 = (k + 1) / 2, m = 0;
  if (q == 4) {
    for (; m + 1 < m2; m += 2, p += 8 * L) {
      __m512bh b0 = (__m512bh)_mm512_set1_epi32((int)x[m]);
      __m512bh b1 = (__m512bh)_mm512_set1_epi32((int)x[m + 1]);
      acc[0] = _mm512_dpbf16_ps(acc[0], (__m512bh)_mm512_load_si512(p), b0);
      acc[1] = _mm512_dpbf16_ps(acc[1], (__m512bh)_mm512_load_si512(p + L), b0);
      acc[2] = _mm512_dpbf16_ps(acc[2], (__m512bh)_mm512_load_si512(p + 2 * L), b0);
      acc[3] = _mm512_dpbf16_ps(acc[3], (__m512bh)_mm512_load_si512(p + 3 * L), b0);
      acc[4] = _mm512_dpbf16_ps(acc[4], (__m512bh)_mm512_load_si512(p + 4 * L), b1);
      acc[5] = _mm512_dpbf16_ps(acc[5], (__m512bh)_mm512_load_si512(p + 5 * L), b1);
      acc[6] = _mm512_dpbf16_ps(acc[6], (__m512bh)_mm512_load_si512(p + 6 * L), b1);
      acc[7] = _mm512_dpbf16_ps(acc[7], (__m512bh)_mm512_load_si512(p + 7 * L), b1);
    }
  } else {
    for (; m + 1 < m2; m += 2, p += 2 * q * L) {
      __m512bh b0 = (__m512bh)_mm512_set1_epi32((int)x[m]);
      __m512bh b1 = (__m512bh)_mm512_set1_epi32((int)x[m + 1]);
      for (int j = 0; j < q; j++) {
        acc[j] = _mm512_dpbf16_ps(acc[j], (__m512bh)_mm512_load_si512(p + j * L), b0);
        acc[q + j] = _mm512_dpbf16_ps(acc[q + j], (__m512bh)_mm512_load_si512(p + (q + j) * L), b1);
      }
    }
  }
  if (m < m2) {
    __m512bh b0 = (__m512bh)_mm512_set1_epi32((int)x[m]);
    for (int j = 0; j < q; j++)
      acc[j] = _mm512_dpbf16_ps(acc[j], (__m512bh)_mm512_load_si512(p + j * L), b0);
  }
}

static GEMV_BF16 void bf16_avx512(const float *p1, int k1, const uint32_t *x1, const float *p2,
                                  int k2, const uint32_t *x2, int q, float *y) {
  __m512 acc[2 * TV_GEMV_MAX_Q];
  for (int j = 0; j < 2 * q; j++) acc[j] = _mm512_setzero_ps();
  bf16_seg(p1, k1, x1, q, acc);
  if (k2) bf16_seg(p2, k2, x2, q, acc);
  for (int j = 0; j < q; j++) _mm512_storeu_ps(y + j * L, _mm512_add_ps(acc[j], acc[q + j]));
}

/* The CPU checks (cpu.h): kept on under ASan. */
enum { GEMV_SETS = TV_CPU_AVX512F | TV_CPU_AVX512BW | TV_CPU_AVX512VL | TV_CPU_FMA };
static int have_avx512(void) { return tv_cpu_has(GEMV_SETS); }

int tv_gemv_bf16_native(void) { return tv_cpu_has(GEMV_SETS | TV_CPU_AVX512BF16); }
#else
int tv_gemv_bf16_native(void) { return 0; }
#endif

void tv_gemv_f32(const float *p1, int k1, const float *x1, const float *p2, int k2, const float *x2,
                 int q, float *y) {
  memset(y, 0, (size_t)q * L * sizeof *y);
#if GEMV_X86
  if (have_avx512()) {
    f32_avx512(p1, k1, x1, p2, k2, x2, q, y);
    return;
  }
#endif
  f32_c(p1, k1, x1, q, y);
  if (k2) f32_c(p2, k2, x2, q, y);
}

void tv_gemv_bf16(const float *p1, int k1, const uint32_t *x1, const float *p2, int k2,
                  const uint32_t *x2, int q, float *y) {
  memset(y, 0, (size_t)q * L * sizeof *y);
#if GEMV_X86
  if (tv_gemv_bf16_native()) {
    bf16_avx512(p1, k1, x1, p2, k2, x2, q, y);
    return;
  }
#endif
  float s[2 * TV_GEMV_MAX_Q * L] = {0};
  bf16_c(p1, k1, x1, q, s);
  if (k2) bf16_c(p2, k2, x2, q, s);
  for (int i = 0; i < q * L; i++) y[i] = s[i] + s[q * L + i];
}
