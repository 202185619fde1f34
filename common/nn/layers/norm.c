/* norm.c — the layers whose TRAIN and INFER graphs differ: batch_norm (batch statistics and
 * moving averages) and dropout (a mask from the model's dropout generator; INFER aliases its
 * input). */
#include "nn/layers/layer.h"

#include <math.h>
#include <stdint.h>

/* ---- batch_norm: x (N, C, H, W) or (N, D) -> same; per channel c (or feature):
 *   TRAIN  mu, var = mean and biased variance over N (and H, W);  xhat = (x - mu) / sqrt(var+eps)
 *          y = gamma xhat + beta;  moving = momentum moving + (1 - momentum) batch (unbiased var)
 *   INFER  y = gamma (x - moving_mean) / sqrt(moving_variance + eps) + beta
 *   backward (TRAIN): dgamma += sum dy xhat, dbeta += sum dy,
 *          dx = gamma / sqrt(var+eps) (dy - dbeta/M - xhat dgamma/M), M = N H W
 * keep holds mu[C] and 1/sqrt(var+eps)[C] of the last TRAIN forward.  Threads split the
 * channels; each channel's sums run over all examples in one thread, in a fixed order. ---- */

enum { BN_GAMMA, BN_BETA, BN_MEAN, BN_VAR };

static int batch_norm_build(tv_layer *l) {
  char s[64];
  if (l->in[0].ndim != 1 && l->in[0].ndim != 3)
    return tv_layer_error(l, "batch_norm needs a (C, H, W) or (D) input, got %s",
                          tv_shape_str(l->in[0], s, sizeof s));
  if (!(l->cfg->epsilon > 0) || !(l->cfg->momentum >= 0 && l->cfg->momentum <= 1))
    return tv_layer_error(l, "batch_norm needs epsilon > 0 and momentum in [0, 1], got %g and %g",
                          l->cfg->epsilon, l->cfg->momentum);
  int c = l->in[0].dim[0];
  l->out = l->in[0];
  if (l->mode == TV_MODE_TRAIN) l->keep_floats = 2 * (size_t)c;
  int rc = tv_layer_declare(l, "gamma", tv_shape1(c), 1, TV_INIT_ONES, c, c);
  if (rc == TV_OK) rc = tv_layer_declare(l, "beta", tv_shape1(c), 1, TV_INIT_ZEROS, c, c);
  if (rc == TV_OK) rc = tv_layer_declare(l, "moving_mean", tv_shape1(c), 0, TV_INIT_ZEROS, c, c);
  if (rc == TV_OK) rc = tv_layer_declare(l, "moving_variance", tv_shape1(c), 0, TV_INIT_ONES, c, c);
  return rc;
}

typedef struct bn_job {
  const tv_layer *l;
  int n, c;
  size_t s; /* spatial size, 1 for (N, D) */
  const float *x, *dy;
  float *y, *dx;
  int acc;
} bn_job;

TV_VECTOR static float sum_sq_dev(const float *x, size_t n, float mu) {
  float acc[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) acc[k] += (x[i + k] - mu) * (x[i + k] - mu);
  float s = 0.0f;
  for (int k = 0; k < 16; k++) s += acc[k];
  for (; i < n; i++) s += (x[i] - mu) * (x[i] - mu);
  return s;
}

/* sum dy and sum dy (x - mu) */
TV_VECTOR static void sum_dy_dyx(const float *dy, const float *x, size_t n, float mu, float *a,
                                 float *b) {
  float sa[16] = {0}, sb[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) {
      sa[k] += dy[i + k];
      sb[k] += dy[i + k] * (x[i + k] - mu);
    }
  float ta = 0.0f, tb = 0.0f;
  for (int k = 0; k < 16; k++) ta += sa[k], tb += sb[k];
  for (; i < n; i++) ta += dy[i], tb += dy[i] * (x[i] - mu);
  *a = ta;
  *b = tb;
}

TV_VECTOR static void affine(float *y, const float *x, size_t n, float a, float b) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] * a + b;
}

/* y (+)= k dy + k2 x + k3 */
TV_VECTOR static void bn_dx(float *d, const float *dy, const float *x, size_t n, float k, float k2,
                            float k3, int acc) {
  if (acc)
    for (size_t i = 0; i < n; i++) d[i] += k * dy[i] + k2 * x[i] + k3;
  else
    for (size_t i = 0; i < n; i++) d[i] = k * dy[i] + k2 * x[i] + k3;
}

/* Per channel j in [j0, j1): the scale a and shift b of y = a x + b; TRAIN also the batch
 * statistics (kept) and the moving-average update. */
static void bn_forward_part(void *ctx, int j0, int j1, int t) {
  (void)t;
  const bn_job *jb = ctx;
  const tv_layer *l = jb->l;
  int n = jb->n, c = jb->c;
  size_t s = jb->s;
  const float *gamma = var_value(l, BN_GAMMA), *beta = var_value(l, BN_BETA);
  float *mmean = var_value(l, BN_MEAN), *mvar = var_value(l, BN_VAR);
  int train = l->mode == TV_MODE_TRAIN;
  double m = (double)n * (double)s, eps = l->cfg->epsilon, mom = l->cfg->momentum;
  double unbias = m > 1 ? m / (m - 1) : 1.0;
  float *a = l->temp, *b = l->temp + c; /* (N, D): per feature, then one pass over rows */
  for (int j = j0; j < j1; j++) {
    float mean, inv;
    if (train) {
      double sum = 0, sq = 0;
      if (s == 1) {
        for (int i = 0; i < n; i++) sum += jb->x[(size_t)i * c + j];
        mean = (float)(sum / m);
        for (int i = 0; i < n; i++) {
          float dv = jb->x[(size_t)i * c + j] - mean;
          sq += (double)dv * dv;
        }
      } else {
        for (int i = 0; i < n; i++) sum += tv_layer_sum16(jb->x + ((size_t)i * c + j) * s, s);
        mean = (float)(sum / m);
        for (int i = 0; i < n; i++) sq += sum_sq_dev(jb->x + ((size_t)i * c + j) * s, s, mean);
      }
      double var = sq / m;
      inv = (float)(1.0 / sqrt(var + eps));
      l->keep[j] = mean;
      l->keep[c + j] = inv;
      mmean[j] = (float)(mom * mmean[j] + (1 - mom) * mean);
      mvar[j] = (float)(mom * mvar[j] + (1 - mom) * var * unbias);
    } else {
      mean = mmean[j];
      inv = (float)(1.0 / sqrt((double)mvar[j] + eps));
    }
    float aj = gamma[j] * inv, bj = beta[j] - mean * aj;
    if (s == 1) {
      a[j] = aj;
      b[j] = bj;
      continue;
    }
    for (int i = 0; i < n; i++) {
      size_t o = ((size_t)i * c + j) * s;
      affine(jb->y + o, jb->x + o, s, aj, bj);
    }
  }
}

/* (N, D): rows [r0, r1) of y = a x + b with the per-feature a, b of bn_forward_part */
static void bn_rows_part(void *ctx, int r0, int r1, int t) {
  (void)t;
  const bn_job *jb = ctx;
  int c = jb->c;
  const float *a = jb->l->temp, *b = jb->l->temp + c;
  for (int i = r0; i < r1; i++) {
    const float *xr = jb->x + (size_t)i * c;
    float *yr = jb->y + (size_t)i * c;
    for (int j = 0; j < c; j++) yr[j] = xr[j] * a[j] + b[j];
  }
}

static void batch_norm_forward(tv_layer *l, int n, const float *const *x, float *y) {
  bn_job j = {.l = l, .n = n, .c = l->in[0].dim[0], .x = x[0], .y = y};
  j.s = l->in[0].ndim == 3 ? (size_t)l->in[0].dim[1] * l->in[0].dim[2] : 1;
  tv_pool_for(l->pool, j.c, bn_forward_part, &j);
  if (j.s == 1) tv_pool_for(l->pool, n, bn_rows_part, &j);
}

static void bn_backward_part(void *ctx, int j0, int j1, int t) {
  (void)t;
  const bn_job *jb = ctx;
  const tv_layer *l = jb->l;
  int n = jb->n, c = jb->c;
  size_t s = jb->s;
  const float *gamma = var_value(l, BN_GAMMA), *mu = l->keep, *inv = l->keep + c;
  float *dgamma = var_grad(l, BN_GAMMA), *dbeta = var_grad(l, BN_BETA);
  double m = (double)n * (double)s;
  for (int j = j0; j < j1; j++) {
    double sdy = 0, sdyx = 0;
    for (int i = 0; i < n; i++) {
      size_t o = ((size_t)i * c + j) * s;
      float a, b;
      if (s == 1) {
        a = jb->dy[o];
        b = jb->dy[o] * (jb->x[o] - mu[j]);
      } else {
        sum_dy_dyx(jb->dy + o, jb->x + o, s, mu[j], &a, &b);
      }
      sdy += a;
      sdyx += b;
    }
    sdyx *= inv[j];
    dgamma[j] += (float)sdyx;
    dbeta[j] += (float)sdy;
    if (!jb->dx) continue;
    /* dx = k (dy - sdy/M - xhat sdyx/M) = k dy + k2 x + k3, with xhat = (x - mu) inv */
    float k = gamma[j] * inv[j];
    float k2 = -k * inv[j] * (float)(sdyx / m);
    float k3 = -k * (float)(sdy / m) - k2 * mu[j];
    for (int i = 0; i < n; i++) {
      size_t o = ((size_t)i * c + j) * s;
      bn_dx(jb->dx + o, jb->dy + o, jb->x + o, s, k, k2, k3, jb->acc);
    }
  }
}

static void batch_norm_backward(tv_layer *l, int n, const float *const *x, const float *y,
                                const float *dy, float *const *dx, const int *acc) {
  (void)y;
  bn_job j = {
      .l = l, .n = n, .c = l->in[0].dim[0], .x = x[0], .dy = dy, .dx = dx[0], .acc = acc[0]};
  j.s = l->in[0].ndim == 3 ? (size_t)l->in[0].dim[1] * l->in[0].dim[2] : 1;
  tv_pool_for(l->pool, j.c, bn_backward_part, &j);
}

static double batch_norm_flops(const tv_layer *l) { return 2.0 * (double)tv_shape_count(l->out); }

static int batch_norm_build_scratch(tv_layer *l) {
  int rc = batch_norm_build(l);
  if (rc == TV_OK) l->temp_floats = 2 * (size_t)l->in[0].dim[0];
  return rc;
}

/* ---- dropout: x (N, ...) -> y (N, ...); TRAIN y = x * mask, mask_i = [u_i >= rate] / (1-rate);
 * INFER y = x (an alias of the input) ---- */

static int dropout_build(tv_layer *l) {
  if (!(l->cfg->rate >= 0 && l->cfg->rate < 1))
    return tv_layer_error(l, "dropout rate must be in [0, 1), got %g", l->cfg->rate);
  l->out = l->in[0];
  if (l->mode == TV_MODE_INFER)
    l->aliases_input = 1;
  else
    l->keep_floats = (size_t)l->max_batch * tv_shape_count(l->out);
  return TV_OK;
}

typedef struct mask_job {
  float *mask;
  size_t total;
  uint64_t key;
  uint64_t thr;
  float scale;
} mask_job;

/* Block b of the mask comes from its own generator tv_rng_seed(key, b), 32 bits per element,
 * so the mask depends on the model's generator (one draw per forward) and not on the threads. */
static void mask_part(void *ctx, int b0, int b1, int t) {
  (void)t;
  const mask_job *j = ctx;
  for (int b = b0; b < b1; b++) {
    tv_rng r = tv_rng_seed(j->key, (uint64_t)b);
    size_t lo = (size_t)b * EW_BLOCK, hi = lo + EW_BLOCK < j->total ? lo + EW_BLOCK : j->total;
    for (size_t i = lo; i < hi; i += 2) {
      uint64_t u = tv_rng_u64(&r);
      j->mask[i] = (u & 0xffffffffu) >= j->thr ? j->scale : 0.0f;
      if (i + 1 < hi) j->mask[i + 1] = (u >> 32) >= j->thr ? j->scale : 0.0f;
    }
  }
}

static void dropout_forward(tv_layer *l, int n, const float *const *x, float *y) {
  size_t m = count(l, n);
  double rate = l->cfg->rate;
  uint64_t thr = (uint64_t)(rate * 4294967296.0);
  mask_job j = {.mask = l->keep,
                .total = m,
                .key = tv_rng_u64(l->rng),
                .thr = thr > UINT32_MAX ? UINT32_MAX : thr,
                .scale = (float)(1.0 / (1.0 - rate))};
  tv_pool_for(l->pool, (int)((m + EW_BLOCK - 1) / EW_BLOCK), mask_part, &j);
  tv_layer_ew(l, (ew_job){.op = EW_MUL, .total = m, .out = y, .a = x[0], .b = l->keep});
}

/* dx (+)= dy * mask */
static void dropout_backward(tv_layer *l, int n, const float *const *x, const float *y,
                             const float *dy, float *const *dx, const int *acc) {
  (void)x, (void)y;
  if (dx[0])
    tv_layer_ew(l, (ew_job){.op = EW_MUL,
                            .total = count(l, n),
                            .out = dx[0],
                            .a = dy,
                            .b = l->keep,
                            .acc = acc[0]});
}

static double dropout_flops(const tv_layer *l) {
  return l->mode == TV_MODE_TRAIN ? (double)tv_shape_count(l->out) : 0.0;
}

// clang-format off
static const key_desc batch_norm_keys[] = {
  ROW_DOUBLE(LC, "momentum", momentum, 0, 1, 0.9, 0,
             "moving = momentum * moving + (1 - momentum) * batch"),
  ROW_DOUBLE(LC, "epsilon", epsilon, 0, 1, 1e-5, F_OPEN_LO | F_MODEL, "added to the variance"),
};

static const key_desc dropout_keys[] = {
  ROW_DOUBLE(LC, "rate", rate, 0, 1, 0.5, F_OPEN_HI, "probability of dropping an element"),
};
// clang-format on

const tv_layer_ops tv_layer_batch_norm = {
    "batch_norm",        batch_norm_build_scratch, batch_norm_forward,
    batch_norm_backward, batch_norm_flops,         .config = TV_CFG_LAYER_KEYS(batch_norm_keys)};
const tv_layer_ops tv_layer_dropout = {"dropout",       dropout_build,
                                       dropout_forward, dropout_backward,
                                       dropout_flops,   .config = TV_CFG_LAYER_KEYS(dropout_keys)};
