/* ops.c — CPU kernels (see ops.h).  Hot element-wise loops are compiled for AVX2 and a generic
 * target (target_clones) so one binary runs everywhere and uses the wide units where present. */
#include "trainval/ops.h"

#include "nn/avx512.h"

/* GCC 12's -O2 vectorises a loop only when no scalar remainder is needed (the "very cheap" cost
 * model), which leaves every kernel here with a run-time length scalar.  The dynamic model is
 * what -O3 uses; it changes no semantics (no -ffast-math: reductions stay in order unless
 * written with explicit partial sums). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void tv_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
             const float *b, int ldb, float beta, float *c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void tv_gemm_ref(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                 int lda, const float *b, int ldb, float beta, float *c, int ldc) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int p = 0; p < k; p++) {
        float av = trans_a ? a[p * lda + i] : a[i * lda + p];
        float bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        s += (double)av * bv;
      }
      float prev = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
      c[i * ldc + j] = alpha * (float)s + prev;
    }
}

/* ---- thread pool ------------------------------------------------------------------------------
 * A job is [0, items) cut into `chunks` contiguous ranges (fixed by items and the team size);
 * every thread of the team, the caller included, claims chunks from one 64-bit word
 * work = gen << 32 | next << 16 | chunks by compare-and-swap, so a thread that is descheduled
 * (a busy core) holds at most the chunk it took, never a fixed share of the step.
 * Invariants: gen counts jobs; a claim succeeds only while the word still names the claimer's
 * generation and next < chunks, so a chunk is run once, by a thread that read fn/ctx/items after
 * the job was published (seq_cst); the job's fields are rewritten only after `done` reached
 * `chunks`, i.e. after every claimed chunk returned.  Waiting spins a bounded while (POOL_SPIN
 * pauses), then sleeps on a condition variable under mu, so no wake-up is lost and an idle or
 * descheduled team costs the machine nothing. */

/* POOL_SPIN: about 25 us of pauses on the Cooper Lake Xeon this was tuned on, longer than the
 * gaps between the jobs of a training step (so a step's threads do not sleep between its
 * layers) and short enough that a thread waiting for a descheduled teammate soon gives its core
 * back.  Measured with one core busy beside a loaded machine (load ~10 on 2 cores), MLP 300
 * steps --threads 2, 3 rounds interleaved: CPU time per step 6.3 ms at 4000 pauses, 5.4 ms at
 * 1000 and at 250, examples/s 11,832 / 13,521 / 14,180 (medians; the runs spread by a third);
 * the CNN's figures did not separate from the noise. */
enum { POOL_SPIN = 1000, POOL_CHUNKS_PER_THREAD = 4, POOL_MAX_CHUNKS = 0xffff };

struct tv_pool {
  int n;
  pthread_t *threads;
  struct pool_arg *args;
  pthread_mutex_t mu;
  pthread_cond_t wake, done_cv;
  _Atomic uint64_t work;
  atomic_int done;
  atomic_int sleeping; /* the caller waits on done_cv */
  int stop;
  void (*fn)(void *, int, int, int);
  void *ctx;
  int items, chunks;
};

typedef struct pool_arg {
  tv_pool *p;
  int t;
} pool_arg;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Claims and runs chunks of generation g until none is left. */
static void run_chunks(tv_pool *p, unsigned g, int t) {
  for (;;) {
    uint64_t v = atomic_load(&p->work);
    unsigned next = (unsigned)(v >> 16) & 0xffff, chunks = (unsigned)v & 0xffff;
    if ((unsigned)(v >> 32) != g || next >= chunks) return;
    if (!atomic_compare_exchange_weak(&p->work, &v, v + ((uint64_t)1 << 16))) continue;
    int begin = (int)((int64_t)p->items * next / chunks);
    int end = (int)((int64_t)p->items * (next + 1) / chunks);
    if (begin < end) p->fn(p->ctx, begin, end, t);
    if (atomic_fetch_add(&p->done, 1) + 1 == (int)chunks && atomic_load(&p->sleeping)) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->done_cv);
      pthread_mutex_unlock(&p->mu);
    }
  }
}

static void *pool_worker(void *arg) {
  tv_pool *p = ((pool_arg *)arg)->p;
  int t = ((pool_arg *)arg)->t;
  unsigned seen = 0;
  for (;;) {
    unsigned g = (unsigned)(atomic_load(&p->work) >> 32);
    for (int i = 0; i < POOL_SPIN && g == seen; i++) {
      cpu_relax();
      g = (unsigned)(atomic_load(&p->work) >> 32);
    }
    if (g == seen) {
      pthread_mutex_lock(&p->mu);
      while ((g = (unsigned)(atomic_load(&p->work) >> 32)) == seen && !p->stop)
        pthread_cond_wait(&p->wake, &p->mu);
      int stop = p->stop;
      pthread_mutex_unlock(&p->mu);
      if (stop) return NULL;
    }
    seen = g;
    run_chunks(p, g, t);
  }
}

int tv_pool_new(int threads, tv_pool **out) {
  *out = NULL;
  if (threads < 1) threads = 1;
  tv_pool *p = calloc(1, sizeof *p);
  if (!p) return tv_error(TV_ERR_NOMEM, "thread pool: out of memory");
  p->n = 1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->done_cv, NULL);
  atomic_init(&p->work, 0);
  atomic_init(&p->done, 0);
  atomic_init(&p->sleeping, 0);
  if (threads > 1) {
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    p->args = calloc((size_t)threads, sizeof *p->args);
    if (!p->threads || !p->args) {
      tv_pool_free(p);
      return tv_error(TV_ERR_NOMEM, "thread pool: out of memory");
    }
    for (int t = 1; t < threads; t++) {
      p->args[t] = (pool_arg){p, t};
      int e = pthread_create(&p->threads[t], NULL, pool_worker, &p->args[t]);
      if (e != 0) {
        tv_pool_free(p);
        return tv_error_errno(TV_ERR_NOMEM, e, "thread pool: cannot start thread %d of %d", t + 1,
                              threads);
      }
      p->n = t + 1;
    }
  }
  *out = p;
  return TV_OK;
}

void tv_pool_free(tv_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int t = 1; t < p->n; t++) pthread_join(p->threads[t], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done_cv);
  free(p->threads);
  free(p->args);
  free(p);
}

int tv_pool_threads(const tv_pool *p) { return p ? p->n : 1; }

void tv_pool_for(tv_pool *p, int n, void (*fn)(void *ctx, int begin, int end, int thread),
                 void *ctx) {
  if (n <= 0) return;
  if (!p || p->n == 1 || n == 1) {
    fn(ctx, 0, n, 0);
    return;
  }
  int chunks = p->n * POOL_CHUNKS_PER_THREAD;
  if (chunks > n) chunks = n;
  if (chunks > POOL_MAX_CHUNKS) chunks = POOL_MAX_CHUNKS;
  p->fn = fn;
  p->ctx = ctx;
  p->items = n;
  p->chunks = chunks;
  atomic_store(&p->done, 0);
  unsigned g = (unsigned)(atomic_load(&p->work) >> 32) + 1;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->work, (uint64_t)g << 32 | (uint64_t)chunks);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  run_chunks(p, g, 0);
  for (int i = 0; i < POOL_SPIN && atomic_load(&p->done) < chunks; i++) cpu_relax();
  if (atomic_load(&p->done) < chunks) {
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->sleeping, 1);
    while (atomic_load(&p->done) < chunks) pthread_cond_wait(&p->done_cv, &p->mu);
    atomic_store(&p->sleeping, 0);
    pthread_mutex_unlock(&p->mu);
  }
}

void tv_rows_set(float *y, const float *b, int n, int d) {
  for (int i = 0; i < n; i++) memcpy(y + (size_t)i * d, b, (size_t)d * sizeof *y);
}

TV_VECTOR void tv_sum_over_rows(float *db, const float *dy, int n, int d, int accumulate) {
  if (!accumulate) memset(db, 0, (size_t)d * sizeof *db);
  for (int i = 0; i < n; i++) {
    const float *r = dy + (size_t)i * d;
    for (int j = 0; j < d; j++) db[j] += r[j];
  }
}

TV_VECTOR void tv_sum_over_cols(float *s, const float *a, int rows, size_t cols, int accumulate) {
  for (int i = 0; i < rows; i++) {
    const float *r = a + (size_t)i * cols;
    float acc[16] = {0}, t = 0.0f; /* 16 partial sums: vectorised, in a fixed order */
    size_t j = 0;
    for (; j + 16 <= cols; j += 16)
      for (int k = 0; k < 16; k++) acc[k] += r[j + k];
    for (int k = 0; k < 16; k++) t += acc[k];
    for (; j < cols; j++) t += r[j];
    s[i] = accumulate ? s[i] + t : t;
  }
}

TV_VECTOR void tv_relu(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

TV_VECTOR void tv_relu_backward(float *dx, const float *dy, const float *y, size_t n,
                                int accumulate) {
  if (accumulate)
    for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
  else
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ---- activations ------------------------------------------------------------------------------
 */

TV_VECTOR void tv_leaky_relu(float *y, const float *x, size_t n, float alpha) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
}

TV_VECTOR void tv_leaky_relu_backward(float *dx, const float *dy, const float *x, size_t n,
                                      float alpha, int accumulate) {
  if (accumulate)
    for (size_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : alpha * dy[i];
  else
    for (size_t i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : alpha * dy[i];
}

void tv_elu(float *y, const float *x, size_t n, float alpha) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : alpha * expm1f(x[i]);
}

TV_VECTOR void tv_elu_backward(float *dx, const float *dy, const float *x, const float *y, size_t n,
                               float alpha, int accumulate) {
  for (size_t i = 0; i < n; i++) {
    float g = x[i] > 0.0f ? dy[i] : dy[i] * (y[i] + alpha);
    dx[i] = accumulate ? dx[i] + g : g;
  }
}

void tv_gelu(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void tv_gelu_backward(float *dx, const float *dy, const float *x, size_t n, int accumulate) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
    float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
    float g = dy[i] * (cdf + v * pdf);
    dx[i] = accumulate ? dx[i] + g : g;
  }
}

void tv_sigmoid(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    /* exp of a non-positive number only: no overflow */
    float e = expf(-fabsf(x[i]));
    y[i] = x[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
  }
}

TV_VECTOR void tv_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n,
                                   int accumulate) {
  for (size_t i = 0; i < n; i++) {
    float g = dy[i] * y[i] * (1.0f - y[i]);
    dx[i] = accumulate ? dx[i] + g : g;
  }
}

void tv_tanh(float *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

TV_VECTOR void tv_tanh_backward(float *dx, const float *dy, const float *y, size_t n,
                                int accumulate) {
  for (size_t i = 0; i < n; i++) {
    float g = dy[i] * (1.0f - y[i] * y[i]);
    dx[i] = accumulate ? dx[i] + g : g;
  }
}

TV_VECTOR void tv_mul(float *y, const float *x, const float *mask, size_t n, int accumulate) {
  if (accumulate)
    for (size_t i = 0; i < n; i++) y[i] += x[i] * mask[i];
  else
    for (size_t i = 0; i < n; i++) y[i] = x[i] * mask[i];
}

TV_VECTOR void tv_add(float *y, const float *x, size_t n, int accumulate) {
  if (accumulate)
    for (size_t i = 0; i < n; i++) y[i] += x[i];
  else
    memcpy(y, x, n * sizeof *y);
}

void tv_softmax_rows(float *y, const float *x, int n, int k) {
  for (int i = 0; i < n; i++) {
    const float *z = x + (size_t)i * k;
    float *p = y + (size_t)i * k;
    float mx = z[0];
    for (int j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
    double sum = 0;
    for (int j = 0; j < k; j++) {
      p[j] = expf(z[j] - mx);
      sum += p[j];
    }
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < k; j++) p[j] *= inv;
  }
}

void tv_softmax_rows_backward(float *dx, const float *dy, const float *y, int n, int k,
                              int accumulate) {
  for (int i = 0; i < n; i++) {
    const float *g = dy + (size_t)i * k, *p = y + (size_t)i * k;
    float *d = dx + (size_t)i * k;
    double dot = 0;
    for (int j = 0; j < k; j++) dot += (double)g[j] * p[j];
    for (int j = 0; j < k; j++) {
      float v = p[j] * (g[j] - (float)dot);
      d[j] = accumulate ? d[j] + v : v;
    }
  }
}

/* ---- im2col and pooling -----------------------------------------------------------------------
 */

/* The output columns [lo, hi) whose input column ow*sw - pw + j lies inside [0, w). */
static void valid_cols(const tv_conv_geom *g, int j, int *lo, int *hi) {
  int off = j - g->pw; /* iw = ow*sw + off */
  int a = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
  int b = g->w - off <= 0 ? 0 : (g->w - off + g->sw - 1) / g->sw; /* first ow with iw >= w */
  if (b > g->ow) b = g->ow;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

TV_VECTOR void tv_im2col(const tv_conv_geom *g, const float *x, float *col, size_t ld) {
  if (tv_avx512_rows_fit(g) && tv_avx512_usable()) {
    tv_avx512_im2col(g, x, col, ld);
    return;
  }
  size_t plane = (size_t)g->h * g->w;
  for (int c = 0; c < g->c; c++)
    for (int i = 0; i < g->kh; i++)
      for (int j = 0; j < g->kw; j++) {
        float *row = col + ((size_t)(c * g->kh + i) * g->kw + j) * ld;
        const float *xc = x + c * plane;
        int lo, hi;
        valid_cols(g, j, &lo, &hi);
        int off = j - g->pw;
        if (g->sh == 1 && g->sw == 1 && g->ow == g->w) {
          /* Stride 1, output as wide as the input ('same'): consecutive output rows read
           * consecutive input rows, so the valid rows [a, b) are one copy; then the border
           * cells the copy filled from neighbouring rows are zeroed.  The source range
           * [(a-ph+i) w + lo + off, (b-1-ph+i) w + hi + off) lies inside the plane. */
          int a = g->ph - i > 0 ? g->ph - i : 0, b = g->h + g->ph - i;
          if (b > g->oh) b = g->oh;
          if (a > b) a = b;
          memset(row, 0, (size_t)a * g->ow * sizeof *row);
          memset(row + (size_t)b * g->ow, 0, (size_t)(g->oh - b) * g->ow * sizeof *row);
          if (a < b && lo < hi) {
            memcpy(row + (size_t)a * g->ow + lo, xc + (size_t)(a - g->ph + i) * g->w + lo + off,
                   ((size_t)(b - a - 1) * g->ow + (size_t)(hi - lo)) * sizeof *row);
            for (int oh = a; oh < b; oh++) {
              float *r = row + (size_t)oh * g->ow;
              for (int ow = 0; ow < lo; ow++) r[ow] = 0.0f;
              for (int ow = hi; ow < g->ow; ow++) r[ow] = 0.0f;
            }
          } else if (a < b) {
            memset(row + (size_t)a * g->ow, 0, (size_t)(b - a) * g->ow * sizeof *row);
          }
          continue;
        }
        for (int oh = 0; oh < g->oh; oh++) {
          float *r = row + (size_t)oh * g->ow;
          int ih = oh * g->sh - g->ph + i;
          if (ih < 0 || ih >= g->h) {
            memset(r, 0, (size_t)g->ow * sizeof *r);
            continue;
          }
          const float *xr = xc + (size_t)ih * g->w; /* index ow*sw + off >= 0 for ow >= lo */
          for (int ow = 0; ow < lo; ow++) r[ow] = 0.0f;
          if (g->sw == 1)
            memcpy(r + lo, xr + lo + off, (size_t)(hi - lo) * sizeof *r);
          else
            for (int ow = lo; ow < hi; ow++) r[ow] = xr[ow * g->sw + off];
          for (int ow = hi; ow < g->ow; ow++) r[ow] = 0.0f;
        }
      }
}

TV_VECTOR void tv_col2im(const tv_conv_geom *g, const float *col, size_t ld, float *dx,
                         int accumulate) {
  if (tv_avx512_rows_fit(g) && tv_avx512_usable()) {
    tv_avx512_col2im(g, col, ld, dx, accumulate);
    return;
  }
  size_t plane = (size_t)g->h * g->w;
  if (!accumulate) memset(dx, 0, (size_t)g->c * plane * sizeof *dx);
  for (int c = 0; c < g->c; c++)
    for (int i = 0; i < g->kh; i++)
      for (int j = 0; j < g->kw; j++) {
        const float *row = col + ((size_t)(c * g->kh + i) * g->kw + j) * ld;
        float *dc = dx + c * plane;
        int lo, hi;
        valid_cols(g, j, &lo, &hi);
        int off = j - g->pw;
        for (int oh = 0; oh < g->oh; oh++) {
          int ih = oh * g->sh - g->ph + i;
          if (ih < 0 || ih >= g->h) continue;
          const float *r = row + (size_t)oh * g->ow;
          float *dr = dc + (size_t)ih * g->w;
          if (g->sw == 1) {
            float *d = dr + lo + off;
            const float *rr = r + lo;
            for (int k = 0; k < hi - lo; k++) d[k] += rr[k];
          } else {
            for (int ow = lo; ow < hi; ow++) dr[ow * g->sw + off] += r[ow];
          }
        }
      }
}

/* The window of output (oh, ow) clipped to the input: rows [*i0, *i1), columns [*j0, *j1). */
static void window(const tv_conv_geom *g, int oh, int ow, int *i0, int *i1, int *j0, int *j1) {
  int a = oh * g->sh - g->ph, b = ow * g->sw - g->pw;
  *i0 = a < 0 ? 0 : a;
  *i1 = a + g->kh > g->h ? g->h : a + g->kh;
  *j0 = b < 0 ? 0 : b;
  *j1 = b + g->kw > g->w ? g->w : b + g->kw;
}

static int is_2x2(const tv_conv_geom *g) {
  return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
         g->oh * 2 <= g->h && g->ow * 2 <= g->w;
}

/* One output row of the 2x2 stride-2 pool: rows r0, r1 of the input; first maximum in
 * row-major order (strict >), index relative to r0 plus base.  Branch-free selects in loops
 * without control flow, so the compiler vectorises them. */
TV_VECTOR static void max_pool_row_2x2(const float *r0, const float *r1, int w, int ow, float *y,
                                       int32_t *arg, int32_t base, int relu) {
  if (arg) {
    for (int o = 0; o < ow; o++) {
      float a = r0[2 * o], b = r0[2 * o + 1], c = r1[2 * o], d = r1[2 * o + 1];
      float m1 = b > a ? b : a, m2 = d > c ? d : c;
      int32_t c1 = b > a, c2 = d > c, c3 = m2 > m1; /* 0/1: arithmetic, not branches */
      y[o] = m2 > m1 ? m2 : m1;
      arg[o] = base + 2 * o + c1 + c3 * (w + c2 - c1);
    }
  } else {
    for (int o = 0; o < ow; o++) {
      float a = r0[2 * o], b = r0[2 * o + 1], c = r1[2 * o], d = r1[2 * o + 1];
      float m1 = b > a ? b : a, m2 = d > c ? d : c;
      y[o] = m2 > m1 ? m2 : m1;
    }
  }
  if (relu)
    for (int o = 0; o < ow; o++) y[o] = y[o] > 0.0f ? y[o] : 0.0f;
}

void tv_max_pool2d(const tv_conv_geom *g, const float *x, float *y, int32_t *argmax, int relu) {
  size_t plane = (size_t)g->h * g->w, out = (size_t)g->oh * g->ow;
  if (is_2x2(g)) {
    int wide = 2 * g->ow <= TV_AVX512_MAX_W && tv_avx512_usable();
    for (int c = 0; c < g->c; c++)
      for (int oh = 0; oh < g->oh; oh++) {
        const float *r0 = x + c * plane + (size_t)(2 * oh) * g->w;
        size_t o = c * out + (size_t)oh * g->ow;
        int32_t *arg = argmax ? argmax + o : NULL,
                base = (int32_t)(c * plane + (size_t)(2 * oh) * g->w);
        if (wide)
          tv_avx512_max_pool_row(r0, r0 + g->w, g->w, g->ow, y + o, arg, base, relu,
                                 g->c * out - o);
        else
          max_pool_row_2x2(r0, r0 + g->w, g->w, g->ow, y + o, arg, base, relu);
      }
    return;
  }
  for (int c = 0; c < g->c; c++)
    for (int oh = 0; oh < g->oh; oh++)
      for (int ow = 0; ow < g->ow; ow++) {
        int i0, i1, j0, j1;
        window(g, oh, ow, &i0, &i1, &j0, &j1);
        float m = -INFINITY;
        int32_t k = (int32_t)(c * plane + (size_t)i0 * g->w + j0);
        for (int i = i0; i < i1; i++)
          for (int j = j0; j < j1; j++) {
            float v = x[c * plane + (size_t)i * g->w + j];
            if (v > m || v != v) { /* NaN propagates, as in PyTorch */
              m = v;
              k = (int32_t)(c * plane + (size_t)i * g->w + j);
            }
          }
        y[c * out + (size_t)oh * g->ow + ow] = relu && !(m > 0.0f) ? 0.0f : m;
        if (argmax) argmax[c * out + (size_t)oh * g->ow + ow] = k;
      }
}

/* One output row of a tiling 2x2 window: dx rows d0, d1 (width w) get v = dy (0 where the
 * relu-fused y is not positive) at the argmax cell, 0 elsewhere; branch-free, so it vectorizes. */
TV_VECTOR static void max_pool_backward_row_2x2(float *restrict d0, float *restrict d1,
                                                const float *restrict dy,
                                                const int32_t *restrict argmax,
                                                const float *restrict y, int ow, int w,
                                                int32_t base) {
  for (int q = 0; q < ow; q++) {
    float v = dy[q];
    if (y) v = y[q] > 0.0f ? v : 0.0f;
    int32_t k = argmax[q] - base - 2 * q;
    d0[2 * q] = k == 0 ? v : 0.0f;
    d0[2 * q + 1] = k == 1 ? v : 0.0f;
    d1[2 * q] = k == w ? v : 0.0f;
    d1[2 * q + 1] = k == w + 1 ? v : 0.0f;
  }
}

void tv_max_pool2d_backward(const tv_conv_geom *g, const float *dy, const int32_t *argmax,
                            const float *y, float *dx, int accumulate) {
  size_t out = (size_t)g->c * g->oh * g->ow, plane = (size_t)g->h * g->w;
  if (!accumulate && is_2x2(g) && 2 * g->oh == g->h && 2 * g->ow == g->w) {
    /* the windows tile the input: every cell is written once, no clearing pass */
    int wide = g->w <= TV_AVX512_MAX_W && tv_avx512_usable();
    for (int c = 0; c < g->c; c++)
      for (int oh = 0; oh < g->oh; oh++) {
        size_t o = (size_t)c * g->oh * g->ow + (size_t)oh * g->ow;
        int32_t base = (int32_t)(c * plane + (size_t)(2 * oh) * g->w);
        if (wide) {
          tv_avx512_max_pool_backward_row(dx + base, dy + o, argmax + o, y ? y + o : NULL, g->ow,
                                          g->w, base, g->c * plane - (size_t)base);
          continue;
        }
        max_pool_backward_row_2x2(dx + base, dx + base + g->w, dy + o, argmax + o, y ? y + o : NULL,
                                  g->ow, g->w, base);
      }
    return;
  }
  if (!accumulate) memset(dx, 0, (size_t)g->c * plane * sizeof *dx);
  if (y) {
    for (size_t o = 0; o < out; o++)
      if (y[o] > 0.0f) dx[argmax[o]] += dy[o];
    return;
  }
  for (size_t o = 0; o < out; o++) dx[argmax[o]] += dy[o];
}

void tv_avg_pool2d(const tv_conv_geom *g, const float *x, float *y) {
  size_t plane = (size_t)g->h * g->w, out = (size_t)g->oh * g->ow;
  for (int c = 0; c < g->c; c++)
    for (int oh = 0; oh < g->oh; oh++)
      for (int ow = 0; ow < g->ow; ow++) {
        int i0, i1, j0, j1;
        window(g, oh, ow, &i0, &i1, &j0, &j1);
        float s = 0.0f;
        for (int i = i0; i < i1; i++)
          for (int j = j0; j < j1; j++) s += x[c * plane + (size_t)i * g->w + j];
        int cnt = (i1 - i0) * (j1 - j0);
        y[c * out + (size_t)oh * g->ow + ow] = cnt > 0 ? s / (float)cnt : 0.0f;
      }
}

void tv_avg_pool2d_backward(const tv_conv_geom *g, const float *dy, float *dx) {
  size_t plane = (size_t)g->h * g->w, out = (size_t)g->oh * g->ow;
  for (int c = 0; c < g->c; c++)
    for (int oh = 0; oh < g->oh; oh++)
      for (int ow = 0; ow < g->ow; ow++) {
        int i0, i1, j0, j1;
        window(g, oh, ow, &i0, &i1, &j0, &j1);
        int cnt = (i1 - i0) * (j1 - j0);
        if (cnt <= 0) continue;
        float v = dy[c * out + (size_t)oh * g->ow + ow] / (float)cnt;
        for (int i = i0; i < i1; i++)
          for (int j = j0; j < j1; j++) dx[c * plane + (size_t)i * g->w + j] += v;
      }
}

int tv_all_finite(const float *x, size_t n) {
  float acc = 0.0f;
  for (size_t i = 0; i < n; i++) acc += x[i] * 0.0f; /* NaN/Inf make the product NaN */
  return acc == 0.0f;
}
