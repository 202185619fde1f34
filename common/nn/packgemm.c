/* packgemm.c — the recurrent layers' packed small-M kernel (see packgemm.h).
 *
 * The step works panel by panel (16 hidden units, all four gates: 64 columns of the product)
 * and, inside a panel, on tiles of 4 rows: 16 accumulators of 16 lanes (4 rows x 4 gates), so
 * every weight vector loaded serves 4 rows and every broadcast input 4 gates.  A panel of
 * K x 64 floats (128 KiB at K = 512) is read from memory once per step and then from the
 * core's L2 for the chunk's other row tiles; the inputs of a tile (4 K floats) stay in L1.
 * A tile of fewer than 4 rows repeats its first row and stores only the real ones.
 */
#include "nn/packgemm.h"

#include <string.h>

#include "nn/cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PG_X86    1
#define PG_TARGET __attribute__((target("avx512f")))
#else
#define PG_X86 0
#endif

enum { NU = TV_PG_UNITS, NC = 4 * TV_PG_UNITS, MR = 4 };

static int panels_of(int h) { return (h + NU - 1) / NU; }

size_t tv_pg_lstm_pack_floats(int h, int d) {
  return (size_t)NC * (size_t)panels_of(h) * (size_t)(1 + d + h);
}

/* Written in order (a panel's rows one after another); the reads walk 64 rows of W at once. */
int tv_pg_lstm_panels(int h) { return panels_of(h); }

void tv_pg_lstm_pack(int h, int d, const float *w_ih, const float *w_hh, const float *b_ih,
                     const float *b_hh, int q0, int q1, float *p) {
  int np = panels_of(h), k = d + h;
  for (int q = q0; q < q1; q++)
    for (int c = -1; c < k; c++) {
      float *dst = c < 0 ? p + (size_t)q * NC : p + (size_t)NC * np + ((size_t)q * k + c) * NC;
      for (int g = 0; g < 4; g++)
        for (int l = 0; l < NU; l++) {
          size_t row = (size_t)g * h + (size_t)q * NU + l; /* the row of W (PyTorch's gate row) */
          float v = 0.0f;
          if (q * NU + l < h)
            v = c < 0 ? b_ih[row] + b_hh[row] : c < d ? w_ih[row * d + c] : w_hh[row * h + c - d];
          dst[g * NU + l] = v;
        }
    }
}

size_t tv_pg_pack_floats(int k, int n) { return (size_t)NC * (size_t)((n + NC - 1) / NC) * k; }

void tv_pg_pack(int k, int n, const float *b, size_t ldb, float *p) {
  int np = (n + NC - 1) / NC;
  for (int q = 0; q < np; q++)
    for (int c = 0; c < k; c++) {
      float *dst = p + ((size_t)q * k + c) * NC;
      int w = n - q * NC < NC ? n - q * NC : NC;
      memcpy(dst, b + (size_t)c * ldb + (size_t)q * NC, (size_t)w * sizeof *dst);
      memset(dst + w, 0, (size_t)(NC - w) * sizeof *dst);
    }
}

#if PG_X86

/* The CPU check (cpu.h): kept on under ASan. */
int tv_pg_supported(void) { return tv_cpu_has(TV_CPU_AVX512F); }

/* e^x, as recurrent.c's vexp (x clamped to [-87.3, 88.3], x = n ln2 + r, Cephes's polynomial
 * for e^r), 2^n applied by scalef. */
PG_TARGET static inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3f)), _mm512_set1_ps(-87.3f));
  __m512 fn = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(fn, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 q = _mm512_set1_ps(1.9875691500e-4f);
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.3981999507e-3f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(8.3334519073e-3f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(4.1665795894e-2f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.6666665459e-1f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(5.0000001201e-1f));
  q = _mm512_fmadd_ps(q, _mm512_mul_ps(r, r), r);
  q = _mm512_add_ps(q, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(q, fn);
}

/* 1 / (1 + e^-a) and 1 - 2 / (1 + e^2a) */
PG_TARGET static inline __m512 sigm16(__m512 a) {
  __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), a))));
}
PG_TARGET static inline __m512 tanh16(__m512 a) {
  __m512 one = _mm512_set1_ps(1.0f);
  __m512 e = exp16(_mm512_add_ps(a, a));
  return _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(one, e)));
}

/* acc[r][g] += a_r[k] W[k][g] over k < kn, W's rows 64 floats apart */
#define PG_FMA4(R, A)                                                                              \
  do {                                                                                             \
    __m512 a_ = _mm512_set1_ps((A)[kk]);                                                           \
    c##R##0 = _mm512_fmadd_ps(a_, w0, c##R##0);                                                    \
    c##R##1 = _mm512_fmadd_ps(a_, w1, c##R##1);                                                    \
    c##R##2 = _mm512_fmadd_ps(a_, w2, c##R##2);                                                    \
    c##R##3 = _mm512_fmadd_ps(a_, w3, c##R##3);                                                    \
  } while (0)

/* The 4-row tile's products over one input segment (a0..a3: the rows, kn terms, W from wk). */
#define PG_SEGMENT(a0, a1, a2, a3, kn, wk)                                                         \
  for (int kk = 0; kk < (kn); kk++) {                                                              \
    const float *wr_ = (wk) + (size_t)kk * NC;                                                     \
    __m512 w0 = _mm512_loadu_ps(wr_), w1 = _mm512_loadu_ps(wr_ + NU);                              \
    __m512 w2 = _mm512_loadu_ps(wr_ + 2 * NU), w3 = _mm512_loadu_ps(wr_ + 3 * NU);                 \
    PG_FMA4(0, a0);                                                                                \
    PG_FMA4(1, a1);                                                                                \
    PG_FMA4(2, a2);                                                                                \
    PG_FMA4(3, a3);                                                                                \
  }

/* Row r's epilogue at units u0.. (mask m): the gates from its four pre-activations, the cell,
 * the output. */
PG_TARGET static inline void lstm_epilogue(const tv_pg_lstm_io *io, int h, int r, int u0,
                                           __mmask16 m, __m512 ai, __m512 af, __m512 ag,
                                           __m512 ao) {
  __m512 i = sigm16(ai), f = sigm16(af), g = tanh16(ag), o = sigm16(ao);
  __m512 cp =
      io->c ? _mm512_maskz_loadu_ps(m, io->c + (size_t)r * io->ldc + u0) : _mm512_setzero_ps();
  __m512 c = _mm512_fmadd_ps(f, cp, _mm512_mul_ps(i, g));
  _mm512_mask_storeu_ps(io->cell + (size_t)r * io->ldcell + u0, m, c);
  _mm512_mask_storeu_ps(io->y + (size_t)r * io->ldy + u0, m, _mm512_mul_ps(o, tanh16(c)));
  if (io->gates) {
    float *ge = io->gates + (size_t)r * io->ldg + u0;
    _mm512_mask_storeu_ps(ge, m, i);
    _mm512_mask_storeu_ps(ge + h, m, f);
    _mm512_mask_storeu_ps(ge + 2 * (size_t)h, m, g);
    _mm512_mask_storeu_ps(ge + 3 * (size_t)h, m, o);
  }
}

PG_TARGET static void lstm_step512(int h, int d, const float *p, int rows,
                                   const tv_pg_lstm_io *io) {
  int np = panels_of(h);
  size_t k = (size_t)d + (size_t)h;
  const float *wall = p + (size_t)NC * np;
  for (int q = 0; q < np; q++) {
    const float *b = p + (size_t)q * NC, *wq = wall + (size_t)q * k * NC;
    int u0 = q * NU, nu = h - u0 < NU ? h - u0 : NU;
    __mmask16 m = (__mmask16)(nu == NU ? 0xffffu : (1u << nu) - 1u);
    for (int r0 = 0; r0 < rows; r0 += MR) {
      int nr = rows - r0 < MR ? rows - r0 : MR, rr[MR];
      for (int i = 0; i < MR; i++) rr[i] = r0 + (i < nr ? i : 0);
      __m512 c00 = _mm512_loadu_ps(b), c01 = _mm512_loadu_ps(b + NU);
      __m512 c02 = _mm512_loadu_ps(b + 2 * NU), c03 = _mm512_loadu_ps(b + 3 * NU);
      __m512 c10 = c00, c11 = c01, c12 = c02, c13 = c03;
      __m512 c20 = c00, c21 = c01, c22 = c02, c23 = c03;
      __m512 c30 = c00, c31 = c01, c32 = c02, c33 = c03;
      {
        const float *x0 = io->x + (size_t)rr[0] * io->ldx, *x1 = io->x + (size_t)rr[1] * io->ldx;
        const float *x2 = io->x + (size_t)rr[2] * io->ldx, *x3 = io->x + (size_t)rr[3] * io->ldx;
        PG_SEGMENT(x0, x1, x2, x3, d, wq)
      }
      if (io->h) {
        const float *h0 = io->h + (size_t)rr[0] * io->ldh, *h1 = io->h + (size_t)rr[1] * io->ldh;
        const float *h2 = io->h + (size_t)rr[2] * io->ldh, *h3 = io->h + (size_t)rr[3] * io->ldh;
        PG_SEGMENT(h0, h1, h2, h3, h, wq + (size_t)d * NC)
      }
      lstm_epilogue(io, h, rr[0], u0, m, c00, c01, c02, c03);
      if (nr > 1) lstm_epilogue(io, h, rr[1], u0, m, c10, c11, c12, c13);
      if (nr > 2) lstm_epilogue(io, h, rr[2], u0, m, c20, c21, c22, c23);
      if (nr > 3) lstm_epilogue(io, h, rr[3], u0, m, c30, c31, c32, c33);
    }
  }
}

void tv_pg_lstm_step(int h, int d, const float *p, int rows, const tv_pg_lstm_io *io) {
  lstm_step512(h, d, p, rows, io);
}

/* Row r's 64 columns at c (masks m0..m3 of the four vectors): loaded (acc) or zeros. */
#define PG_CLOAD(R, row)                                                                           \
  do {                                                                                             \
    const float *c_ = c + (size_t)(row)*ldc + c0;                                                  \
    c##R##0 = acc ? _mm512_maskz_loadu_ps(m0, c_) : _mm512_setzero_ps();                           \
    c##R##1 = acc ? _mm512_maskz_loadu_ps(m1, c_ + NU) : _mm512_setzero_ps();                      \
    c##R##2 = acc ? _mm512_maskz_loadu_ps(m2, c_ + 2 * NU) : _mm512_setzero_ps();                  \
    c##R##3 = acc ? _mm512_maskz_loadu_ps(m3, c_ + 3 * NU) : _mm512_setzero_ps();                  \
  } while (0)
#define PG_CSTORE(R, row)                                                                          \
  do {                                                                                             \
    float *c_ = c + (size_t)(row)*ldc + c0;                                                        \
    _mm512_mask_storeu_ps(c_, m0, c##R##0);                                                        \
    _mm512_mask_storeu_ps(c_ + NU, m1, c##R##1);                                                   \
    _mm512_mask_storeu_ps(c_ + 2 * NU, m2, c##R##2);                                               \
    _mm512_mask_storeu_ps(c_ + 3 * NU, m3, c##R##3);                                               \
  } while (0)

static __mmask16 lanes(int n) {
  return (__mmask16)(n >= NU ? 0xffffu : n <= 0 ? 0u : (1u << n) - 1u);
}

PG_TARGET static void gemm512(int m, int n, int k, const float *a, size_t lda, const float *p,
                              float *c, size_t ldc, int acc) {
  for (int q = 0; q * NC < n; q++) {
    const float *wq = p + (size_t)q * k * NC;
    int c0 = q * NC;
    __mmask16 m0 = lanes(n - c0), m1 = lanes(n - c0 - NU), m2 = lanes(n - c0 - 2 * NU);
    __mmask16 m3 = lanes(n - c0 - 3 * NU);
    for (int r0 = 0; r0 < m; r0 += MR) {
      int nr = m - r0 < MR ? m - r0 : MR, rr[MR];
      for (int i = 0; i < MR; i++) rr[i] = r0 + (i < nr ? i : 0);
      __m512 c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
      PG_CLOAD(0, rr[0]);
      PG_CLOAD(1, rr[1]);
      PG_CLOAD(2, rr[2]);
      PG_CLOAD(3, rr[3]);
      const float *a0 = a + (size_t)rr[0] * lda, *a1 = a + (size_t)rr[1] * lda;
      const float *a2 = a + (size_t)rr[2] * lda, *a3 = a + (size_t)rr[3] * lda;
      PG_SEGMENT(a0, a1, a2, a3, k, wq)
      PG_CSTORE(0, rr[0]);
      if (nr > 1) PG_CSTORE(1, rr[1]);
      if (nr > 2) PG_CSTORE(2, rr[2]);
      if (nr > 3) PG_CSTORE(3, rr[3]);
    }
  }
}

void tv_pg_gemm(int m, int n, int k, const float *a, size_t lda, const float *p, float *c,
                size_t ldc, int acc) {
  gemm512(m, n, k, a, lda, p, c, ldc, acc);
}

#else

int tv_pg_supported(void) { return 0; }

/* Never called where tv_pg_supported is 0 (the layers keep their tv_gemm path there). */
void tv_pg_gemm(int m, int n, int k, const float *a, size_t lda, const float *p, float *c,
                size_t ldc, int acc) {
  (void)m, (void)n, (void)k, (void)a, (void)lda, (void)p, (void)c, (void)ldc, (void)acc;
}
void tv_pg_lstm_step(int h, int d, const float *p, int rows, const tv_pg_lstm_io *io) {
  (void)h, (void)d, (void)p, (void)rows, (void)io;
}

#endif
