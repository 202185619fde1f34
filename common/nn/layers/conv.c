/* conv.c — the windowed layers over (C, H, W) inputs: conv2d (im2col + gemm per chunk of
 * examples, the weight gradient by slices of channels and filters over the chunks in order),
 * max_pool2d (relu fusion, argmax kept for backward), avg_pool2d and global_avg_pool; all split
 * by example.
 * They share the window geometry: l->oh, ow, ph, pw from build. */
#include "nn/layers/layer.h"
#include "nn/winograd.h"

#include <stdint.h>
#include <string.h>

/* ---- conv2d: x (N, C, H, W) -> y (N, F, OH, OW);
 *      y[n,f] = sum_{c,i,j} W[f,c,i,j] x[n,c,oh*sh-ph+i,ow*sw-pw+j] + b[f]
 * The team takes the examples in chunks of B (B = 1 unless the output plane is
 * small), with single-threaded gemms on cache-resident scratch:
 *   col = im2col(x chunk) [K = C*kh*kw, B*P] (P = OH*OW);  Y [F, B*P] = W [F, K] col
 * written straight into y when B = 1 (else through a [F, B*P] buffer and a copy), bias added.
 * (Or by Winograd, see CONV_WINO_MIN_CHANNELS.)
 * Backward, pass 1 by chunk: dcol = W^T dY, dx (+)= col2im (or dx by Winograd, after pass 1); pass
 * 2 by weight-gradient slice (input channels x filters, fixed by the shapes): over the chunks in
 * order, col of the slice's channels = im2col (streamed through the thread's scratch: the slices'
 * im2col add up to one, and no col is kept for the batch), dW_p (+)= dY col^T, db_p (+)= rowsum dY;
 * then dW += dW_p.  The same gemms and sums in the same order for any team size, and as one thread
 * summed before the team took slices. ---- */

enum { CONV_MIN_COLS = 128 }; /* chunk examples until a gemm has this many columns */
/* the weight gradient's slices (fixed by the shapes): up to CONV_WGRAD_SLICES, by input channel
 * first, then by filter (at least CONV_WGRAD_MIN_FILTERS each) */
enum { CONV_WGRAD_SLICES = 2, CONV_WGRAD_MIN_FILTERS = 8 };
/* The forward goes by Winograd F(2x2, 3x3) (winograd.h) for 3x3 stride-1 windows over at least
 * CONV_WINO_MIN_CHANNELS input channels (fewer: the 16 gemms are too thin to win; the first
 * layer of an image model stays im2col), and so does the gradient w.r.t. the input when the
 * filters are at least as many too; the team takes chunks of examples of at least
 * CONV_WINO_MIN_TILES tiles (fixed by the shapes, so the bits do not depend on --threads). */
enum { CONV_WINO_MIN_CHANNELS = 16, CONV_WINO_MIN_TILES = 96 };

/* Output size and leading padding of one spatial dimension; 0 if it does not fit. */
static int out_size(int in, int k, int s, tv_padding mode, int pad, int *before) {
  if (mode == TV_PADDING_SAME) {
    int o = (in + s - 1) / s;
    int total = (o - 1) * s + k - in;
    *before = total > 0 ? total / 2 : 0;
    return o;
  }
  *before = mode == TV_PADDING_EXPLICIT ? pad : 0;
  int span = in + 2 * *before - k;
  return span < 0 ? 0 : span / s + 1;
}

/* Shared by conv2d and the pools: checks a (C, H, W) input and sets l->oh, ow, ph, pw. */
static int window_build(tv_layer *l, const char *what) {
  char s[64];
  if (l->in[0].ndim != 3)
    return tv_layer_error(l, "%s needs a (C, H, W) input, got %s", what,
                          tv_shape_str(l->in[0], s, sizeof s));
  const tv_layer_config *c = l->cfg;
  /* A parsed config never has these; a config built in code might. */
  if (c->kernel[0] < 1 || c->kernel[1] < 1 || c->stride[0] < 1 || c->stride[1] < 1 ||
      c->pad[0] < 0 || c->pad[1] < 0 || (unsigned)c->padding >= TV_PADDING__COUNT)
    return tv_layer_error(
        l, "%s: kernel [%d, %d], strides [%d, %d], padding %d [%d, %d] out of range", what,
        c->kernel[0], c->kernel[1], c->stride[0], c->stride[1], c->padding, c->pad[0], c->pad[1]);
  int ph, pw;
  int oh = out_size(l->in[0].dim[1], c->kernel[0], c->stride[0], c->padding, c->pad[0], &ph);
  int ow = out_size(l->in[0].dim[2], c->kernel[1], c->stride[1], c->padding, c->pad[1], &pw);
  if (oh < 1 || ow < 1)
    return tv_layer_error(l, "a %dx%d window does not fit the %s input %s (padding %s)",
                          c->kernel[0], c->kernel[1], what, tv_shape_str(l->in[0], s, sizeof s),
                          c->padding == TV_PADDING_SAME    ? "same"
                          : c->padding == TV_PADDING_VALID ? "valid"
                                                           : "explicit");
  l->oh = oh;
  l->ow = ow;
  l->ph = ph;
  l->pw = pw;
  return TV_OK;
}

static tv_conv_geom geom_of(const tv_layer *l) {
  return (tv_conv_geom){.c = l->in[0].dim[0],
                        .h = l->in[0].dim[1],
                        .w = l->in[0].dim[2],
                        .kh = l->cfg->kernel[0],
                        .kw = l->cfg->kernel[1],
                        .sh = l->cfg->stride[0],
                        .sw = l->cfg->stride[1],
                        .ph = l->ph,
                        .pw = l->pw,
                        .oh = l->oh,
                        .ow = l->ow};
}

/* Scratch of conv2d, in floats: Wb [F, K+1] = [W | b] (the bias as one more input row whose
 * col entries are 1, so the gemm adds it), then per thread: col [K+1, B*P], Y [F, B*P] (B > 1);
 * then, in TRAIN graphs, every chunk's dY gathered as [F, m*P] (B > 1 only; the chunk at n0 at
 * dys + n0*F*P) and the weight-gradient partials dW_p [F*K] and db_p [F]. */
typedef struct conv_dims {
  int f, k, p, b;
  int cs, fs; /* the weight-gradient slices: cs channel ranges times fs filter ranges */
  size_t wb, col, yt, per_thread, dys, dw, db, total;
  int wino_b, wino_bd; /* examples per Winograd chunk, forward and dx; 0: im2col */
  /* Winograd: U [16][F][C] at temp + wu (TRAIN) or at keep (INFER, see wino_filters), each
   * thread's scratch from temp + wscr; keep: the INFER layer's U, then the F C 9 weights it was
   * made from, then a flag (1 once they are set) */
  size_t wu, wscr, wino_per_thread, keep;
} conv_dims;

/* Examples per Winograd chunk of the geometry g: at least CONV_WINO_MIN_TILES tiles. */
static int wino_chunk(const tv_conv_geom *g, int max_batch) {
  size_t tiles = tv_winograd_tiles(g);
  int b = (int)((CONV_WINO_MIN_TILES + tiles - 1) / tiles);
  return b < max_batch ? b : max_batch;
}

static conv_dims conv_dims_of(const tv_layer *l) {
  conv_dims d;
  int ch = l->in[0].dim[0];
  d.f = l->cfg->filters;
  d.k = ch * l->cfg->kernel[0] * l->cfg->kernel[1];
  d.p = l->oh * l->ow;
  d.b = l->chunk;
  d.cs = ch < CONV_WGRAD_SLICES ? ch : CONV_WGRAD_SLICES;
  d.fs = CONV_WGRAD_SLICES / d.cs;
  if (d.fs > d.f / CONV_WGRAD_MIN_FILTERS) d.fs = d.f / CONV_WGRAD_MIN_FILTERS;
  if (d.fs < 1) d.fs = 1;
  d.wb = ((size_t)d.f * (d.k + 1) + 15) & ~(size_t)15;
  d.col = 0;
  d.yt = d.col + (size_t)(d.k + 1) * d.b * d.p;
  d.per_thread = (d.yt + (d.b > 1 ? (size_t)d.f * d.b * d.p : 0) + 15) & ~(size_t)15;
  size_t nb = l->mode == TV_MODE_TRAIN ? (size_t)l->max_batch : 0;
  d.dys = d.wb + d.per_thread * (size_t)l->threads;
  d.dw = d.dys + (d.b > 1 ? nb * d.f * d.p : 0);
  d.db = d.dw + (nb ? (size_t)d.f * d.k : 0);
  d.total = d.db + (nb ? (size_t)d.f : 0);
  tv_conv_geom g = geom_of(l);
  d.wino_b = d.wino_bd = 0;
  d.wu = d.wscr = d.wino_per_thread = d.keep = 0;
  if (tv_winograd_fits(&g) && ch >= CONV_WINO_MIN_CHANNELS) {
    d.wino_b = wino_chunk(&g, l->max_batch);
    size_t need = tv_winograd_scratch(&g, d.f, d.wino_b);
    if (d.f >= CONV_WINO_MIN_CHANNELS && l->mode == TV_MODE_TRAIN) {
      tv_conv_geom gd;
      tv_winograd_dx_geom(&g, d.f, &gd);
      d.wino_bd = wino_chunk(&gd, l->max_batch);
      size_t nd = tv_winograd_scratch(&gd, ch, d.wino_bd);
      if (nd > need) need = nd;
    }
    size_t u = ((size_t)TV_WINO_POS * d.f * ch + 15) & ~(size_t)15;
    d.wu = (d.total + 15) & ~(size_t)15;
    d.wscr = l->mode == TV_MODE_TRAIN ? d.wu + u : d.wu;
    if (l->mode != TV_MODE_TRAIN) d.keep = u + (size_t)d.f * d.k + 1;
    d.wino_per_thread = (need + 15) & ~(size_t)15;
    d.total = d.wscr + d.wino_per_thread * (size_t)l->threads;
  }
  return d;
}

static float *conv_share(const tv_layer *l, const conv_dims *d, int t) {
  return l->temp + d->wb + (size_t)t * d->per_thread;
}

static int conv2d_build(tv_layer *l) {
  if (l->cfg->filters < 1) return tv_layer_error(l, "conv2d needs filters >= 1");
  int rc = window_build(l, "conv2d");
  if (rc != TV_OK) return rc;
  const tv_layer_config *c = l->cfg;
  int ch = l->in[0].dim[0], f = c->filters, p = l->oh * l->ow;
  int b = (CONV_MIN_COLS + p - 1) / p;
  l->chunk = b < l->max_batch ? b : l->max_batch;
  l->out = tv_shape3(f, l->oh, l->ow);
  conv_dims d = conv_dims_of(l);
  l->temp_floats = d.total;
  l->keep_floats = d.keep;
  int k = ch * c->kernel[0] * c->kernel[1], fan_out = f * c->kernel[0] * c->kernel[1];
  rc = tv_layer_declare(l, "kernel", tv_shape4(f, ch, c->kernel[0], c->kernel[1]), 1,
                        TV_INIT_HE_NORMAL, k, fan_out);
  if (rc == TV_OK && c->use_bias)
    rc = tv_layer_declare(l, "bias", tv_shape1(f), 1, TV_INIT_ZEROS, k, fan_out);
  return rc;
}

typedef struct conv_job {
  tv_layer *l;
  tv_conv_geom g;
  conv_dims d;
  int n;
  const float *x, *dy;
  float *y, *dx;
  int acc;
  const float *u; /* the Winograd forward's U */
} conv_job;

/* chunks [c0, c1) of j->d.b examples */
static void conv_forward_part(void *ctx, int c0, int c1, int t) {
  const conv_job *j = ctx;
  const conv_dims *d = &j->d;
  size_t in = (size_t)j->g.c * j->g.h * j->g.w, out = (size_t)d->f * d->p;
  float *col = conv_share(j->l, d, t) + d->col, *yt = conv_share(j->l, d, t) + d->yt;
  int kb = j->l->cfg->use_bias ? d->k + 1 : d->k; /* gemm depth: the ones row adds the bias */
  const float *wb = j->l->temp;
  for (int c = c0; c < c1; c++) {
    int n0 = c * d->b, m = j->n - n0 < d->b ? j->n - n0 : d->b;
    size_t ld = (size_t)m * d->p;
    for (int e = 0; e < m; e++)
      tv_im2col(&j->g, j->x + (size_t)(n0 + e) * in, col + (size_t)e * d->p, ld);
    if (kb > d->k)
      for (size_t q = 0; q < ld; q++) col[(size_t)d->k * ld + q] = 1.0f;
    if (m == 1) {
      tv_gemm(0, 0, d->f, d->p, kb, 1.0f, wb, d->k + 1, col, d->p, 0.0f, j->y + (size_t)n0 * out,
              d->p);
      continue;
    }
    tv_gemm(0, 0, d->f, (int)ld, kb, 1.0f, wb, d->k + 1, col, (int)ld, 0.0f, yt, (int)ld);
    for (int e = 0; e < m; e++)
      for (int q = 0; q < d->f; q++)
        memcpy(j->y + (size_t)(n0 + e) * out + (size_t)q * d->p,
               yt + (size_t)q * ld + (size_t)e * d->p, (size_t)d->p * sizeof *yt);
  }
}

/* The thread's Winograd scratch. */
static float *wino_scratch(const conv_job *j, int t) {
  return j->l->temp + j->d.wscr + (size_t)t * j->d.wino_per_thread;
}

/* Winograd chunks [c0, c1) of j->d.wino_b examples: y = conv(x) + b */
static void conv_wino_part(void *ctx, int c0, int c1, int t) {
  const conv_job *j = ctx;
  const conv_dims *d = &j->d;
  size_t in = (size_t)j->g.c * j->g.h * j->g.w, out = (size_t)d->f * d->p;
  const float *u = j->u, *bias = j->l->cfg->use_bias ? var_value(j->l, 1) : NULL;
  for (int c = c0; c < c1; c++) {
    int n0 = c * d->wino_b, m = j->n - n0 < d->wino_b ? j->n - n0 : d->wino_b;
    tv_winograd_forward(&j->g, d->f, m, u, bias, j->x + (size_t)n0 * in, j->y + (size_t)n0 * out, 0,
                        wino_scratch(j, t));
  }
}

/* Winograd chunks [c0, c1) of j->d.wino_bd examples: dx (+)= conv'(dy) (winograd.h) */
static void conv_wino_dx_part(void *ctx, int c0, int c1, int t) {
  const conv_job *j = ctx;
  const conv_dims *d = &j->d;
  size_t in = (size_t)j->g.c * j->g.h * j->g.w, out = (size_t)d->f * d->p;
  tv_conv_geom gd;
  tv_winograd_dx_geom(&j->g, d->f, &gd);
  for (int c = c0; c < c1; c++) {
    int n0 = c * d->wino_bd, m = j->n - n0 < d->wino_bd ? j->n - n0 : d->wino_bd;
    tv_winograd_forward(&gd, j->g.c, m, j->l->temp + d->wu, NULL, j->dy + (size_t)n0 * out,
                        j->dx + (size_t)n0 * in, j->acc, wino_scratch(j, t));
  }
}

/* U = tv_winograd_filter(w).  TRAIN: made in temp on every forward (the weights change every
 * step).  INFER: kept in keep with a copy of the weights it was made from, and made again only
 * when w's bytes differ from that copy (another checkpoint loaded, training steps between two
 * validations).  An eval pass runs many forwards of one checkpoint; U is a function of w's bits
 * alone, so the outputs are bitwise those of making it every time. */
static const float *wino_filters(const conv_job *j, const float *w) {
  tv_layer *l = j->l;
  if (l->mode == TV_MODE_TRAIN) {
    tv_winograd_filter(&j->g, j->d.f, w, l->temp + j->d.wu);
    return l->temp + j->d.wu;
  }
  size_t nw = (size_t)j->d.f * j->d.k, u = j->d.keep - nw - 1;
  float *made_from = l->keep + u, *set = made_from + nw;
  if (*set != 1.0f || memcmp(made_from, w, nw * sizeof *w) != 0) {
    tv_winograd_filter(&j->g, j->d.f, w, l->keep);
    memcpy(made_from, w, nw * sizeof *w);
    *set = 1.0f;
  }
  return l->keep;
}

static void conv2d_forward(tv_layer *l, int n, const float *const *x, float *y) {
  conv_job j = {.l = l, .g = geom_of(l), .d = conv_dims_of(l), .n = n, .x = x[0], .y = y};
  const float *w = var_value(l, 0), *bias = l->cfg->use_bias ? var_value(l, 1) : NULL;
  if (j.d.wino_b) { /* U (wino_filters), then the chunks */
    j.u = wino_filters(&j, w);
    tv_pool_for(l->pool, (n + j.d.wino_b - 1) / j.d.wino_b, conv_wino_part, &j);
    return;
  }
  for (int q = 0; q < j.d.f; q++) { /* Wb = [W | b] */
    memcpy(l->temp + (size_t)q * (j.d.k + 1), w + (size_t)q * j.d.k, (size_t)j.d.k * sizeof *w);
    l->temp[(size_t)q * (j.d.k + 1) + j.d.k] = bias ? bias[q] : 0.0f;
  }
  tv_pool_for(l->pool, (n + j.d.b - 1) / j.d.b, conv_forward_part, &j);
}

/* The chunk at n0 of m examples: its dY as [F, m*P] (in dy itself when m is 1). */
static const float *chunk_dy(const conv_job *j, int n0, int m) {
  if (m == 1) return j->dy + (size_t)n0 * j->d.f * j->d.p;
  return j->l->temp + j->d.dys + (size_t)n0 * j->d.f * j->d.p;
}

/* Pass 1, chunks [c0, c1): dY gathered as [F, m*P] (B > 1, kept for pass 2); dcol = W^T dY and
 * dx (+)= col2im (per example: no sums across examples). */
static void conv_backward_part(void *ctx, int c0, int c1, int t) {
  const conv_job *j = ctx;
  const conv_dims *d = &j->d;
  size_t in = (size_t)j->g.c * j->g.h * j->g.w, out = (size_t)d->f * d->p;
  float *dcol = conv_share(j->l, d, t) + d->col;
  const float *w = var_value(j->l, 0);
  for (int c = c0; c < c1; c++) {
    int n0 = c * d->b, m = j->n - n0 < d->b ? j->n - n0 : d->b;
    size_t ld = (size_t)m * d->p;
    float *dyc = (float *)chunk_dy(j, n0, m);
    if (m > 1)
      for (int e = 0; e < m; e++)
        for (int q = 0; q < d->f; q++)
          memcpy(dyc + (size_t)q * ld + (size_t)e * d->p,
                 j->dy + (size_t)(n0 + e) * out + (size_t)q * d->p, (size_t)d->p * sizeof *dyc);
    if (!j->dx || d->wino_bd) continue;
    tv_gemm(1, 0, d->k, (int)ld, d->f, 1.0f, w, d->k, dyc, (int)ld, 0.0f, dcol, (int)ld);
    for (int e = 0; e < m; e++) {
      tv_col2im(&j->g, dcol + (size_t)e * d->p, ld, j->dx + (size_t)(n0 + e) * in, j->acc);
    }
  }
}

/* Pass 2, slice s: input channels [ch0, ch1) (kernel entries [k0, k1) of each filter: K is
 * channel-major) of filters [f0, f1).  Over the chunks in order: col_s = im2col of those
 * channels only (streamed through the thread's scratch), dW_p[f0:f1, k0:k1] (+)= dY col_s^T,
 * db_p[f0:f1] (+)= rowsum dY (channel slice 0); then dW += dW_p, db += db_p.  Every entry's sum
 * runs over the chunks in order whatever the team size (one thread's order before the team
 * took slices), so the result does not depend on --threads. */
static void conv_wgrad_slice(const conv_job *j, int s, int t) {
  const conv_dims *d = &j->d;
  int cs = s % d->cs, fsl = s / d->cs, c = j->g.c, kk = j->g.kh * j->g.kw;
  int ch0 = c * cs / d->cs, ch1 = c * (cs + 1) / d->cs;
  int f0 = d->f * fsl / d->fs, f1 = d->f * (fsl + 1) / d->fs, k0 = ch0 * kk, k1 = ch1 * kk;
  tv_conv_geom gs = j->g;
  gs.c = ch1 - ch0;
  size_t in = (size_t)c * j->g.h * j->g.w, plane = (size_t)j->g.h * j->g.w;
  float *col = conv_share(j->l, d, t) + d->col;
  float *pdw = j->l->temp + d->dw, *pdb = j->l->temp + d->db;
  int bias = j->l->cfg->use_bias && cs == 0;
  for (int n0 = 0; n0 < j->n; n0 += d->b) {
    int m = j->n - n0 < d->b ? j->n - n0 : d->b, first = n0 == 0;
    size_t ld = (size_t)m * d->p;
    const float *dyc = chunk_dy(j, n0, m) + (size_t)f0 * ld;
    for (int e = 0; e < m; e++)
      tv_im2col(&gs, j->x + (size_t)(n0 + e) * in + (size_t)ch0 * plane, col + (size_t)e * d->p,
                ld);
    tv_gemm(0, 1, f1 - f0, k1 - k0, (int)ld, 1.0f, dyc, (int)ld, col, (int)ld, first ? 0.0f : 1.0f,
            pdw + (size_t)f0 * d->k + k0, d->k);
    if (bias) tv_sum_over_cols(pdb + f0, dyc, f1 - f0, ld, !first);
  }
  float *dw = var_grad(j->l, 0);
  for (int q = f0; q < f1; q++)
    tv_add(dw + (size_t)q * d->k + k0, pdw + (size_t)q * d->k + k0, (size_t)(k1 - k0), 1);
  if (bias) tv_add(var_grad(j->l, 1) + f0, pdb + f0, (size_t)(f1 - f0), 1);
}

/* Slices [s0, s1) of the cs * fs weight-gradient slices, each its own gemms: the gemm calls, and
 * so their bits, are the same whichever thread takes which slice. */
static void conv_wgrad_part(void *ctx, int s0, int s1, int t) {
  for (int s = s0; s < s1; s++) conv_wgrad_slice(ctx, s, t);
}

static void conv2d_backward(tv_layer *l, int n, const float *const *x, const float *y,
                            const float *dy, float *const *dx, const int *acc) {
  (void)y;
  conv_job j = {.l = l,
                .g = geom_of(l),
                .d = conv_dims_of(l),
                .n = n,
                .x = x[0],
                .dy = dy,
                .dx = dx[0],
                .acc = acc[0]};
  tv_pool_for(l->pool, (n + j.d.b - 1) / j.d.b, conv_backward_part, &j);
  if (j.dx && j.d.wino_bd) { /* U' once per backward, then the chunks */
    tv_winograd_filter_dx(j.g.c, j.d.f, var_value(l, 0), l->temp + j.d.wu);
    tv_pool_for(l->pool, (n + j.d.wino_bd - 1) / j.d.wino_bd, conv_wino_dx_part, &j);
  }
  tv_pool_for(l->pool, j.d.cs * j.d.fs, conv_wgrad_part, &j);
}

static double conv2d_flops(const tv_layer *l) {
  double k = (double)l->in[0].dim[0] * l->cfg->kernel[0] * l->cfg->kernel[1];
  double outs = (double)tv_shape_count(l->out);
  return 2.0 * k * outs + (l->cfg->use_bias ? outs : 0.0);
}

/* ---- max_pool2d: x (N, C, H, W) -> y (N, C, OH, OW); y = max over the window (the first
 * maximum in row-major order takes the gradient, as PyTorch); avg_pool2d: y = mean over the
 * window's cells inside the input ---- */

static int pool_build(tv_layer *l) {
  const tv_layer_config *c = l->cfg;
  int rc = window_build(l, tv_layer_kind_name(c->kind));
  if (rc != TV_OK) return rc;
  if (c->padding == TV_PADDING_EXPLICIT &&
      (2 * c->pad[0] > c->kernel[0] || 2 * c->pad[1] > c->kernel[1]))
    return tv_layer_error(l, "padding [%d, %d] is more than half the %dx%d window", c->pad[0],
                          c->pad[1], c->kernel[0], c->kernel[1]);
  l->out = tv_shape3(l->in[0].dim[0], l->oh, l->ow);
  if (c->kind == TV_LAYER_MAX_POOL2D && l->mode == TV_MODE_TRAIN)
    l->keep_floats = (size_t)l->max_batch * tv_shape_count(l->out); /* int32 argmax */
  return TV_OK;
}

typedef struct pool_job {
  const tv_layer *l;
  tv_conv_geom g;
  const float *x, *dy;
  float *y, *dx;
  int acc;
} pool_job;

static void max_pool_forward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const pool_job *j = ctx;
  size_t in = in_count(j->l), out = tv_shape_count(j->l->out);
  int32_t *argmax = j->l->mode == TV_MODE_TRAIN ? (int32_t *)(void *)j->l->keep : NULL;
  for (int e = e0; e < e1; e++)
    tv_max_pool2d(&j->g, j->x + (size_t)e * in, j->y + (size_t)e * out,
                  argmax ? argmax + (size_t)e * out : NULL, j->l->fused_relu);
}

static void max_pool2d_forward(tv_layer *l, int n, const float *const *x, float *y) {
  pool_job j = {.l = l, .g = geom_of(l), .x = x[0], .y = y};
  tv_pool_for(l->pool, n, max_pool_forward_part, &j);
}

static void max_pool_backward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const pool_job *j = ctx;
  size_t in = in_count(j->l), out = tv_shape_count(j->l->out);
  const int32_t *argmax = (const int32_t *)(const void *)j->l->keep;
  for (int e = e0; e < e1; e++)
    tv_max_pool2d_backward(&j->g, j->dy + (size_t)e * out, argmax + (size_t)e * out,
                           j->l->fused_relu ? j->y + (size_t)e * out : NULL, j->dx + (size_t)e * in,
                           j->acc);
}

/* dx[argmax] (+)= dy (fused relu: where y > 0) */
static void max_pool2d_backward(tv_layer *l, int n, const float *const *x, const float *y,
                                const float *dy, float *const *dx, const int *acc) {
  (void)x;
  if (!dx[0]) return;
  pool_job j = {.l = l, .g = geom_of(l), .dy = dy, .y = (float *)y, .dx = dx[0], .acc = acc[0]};
  tv_pool_for(l->pool, n, max_pool_backward_part, &j);
}

static void avg_pool_forward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const pool_job *j = ctx;
  size_t in = in_count(j->l), out = tv_shape_count(j->l->out);
  for (int e = e0; e < e1; e++) tv_avg_pool2d(&j->g, j->x + (size_t)e * in, j->y + (size_t)e * out);
}

static void avg_pool2d_forward(tv_layer *l, int n, const float *const *x, float *y) {
  pool_job j = {.l = l, .g = geom_of(l), .x = x[0], .y = y};
  tv_pool_for(l->pool, n, avg_pool_forward_part, &j);
}

static void avg_pool_backward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const pool_job *j = ctx;
  size_t in = in_count(j->l), out = tv_shape_count(j->l->out);
  if (!j->acc) memset(j->dx + (size_t)e0 * in, 0, (size_t)(e1 - e0) * in * sizeof(float));
  for (int e = e0; e < e1; e++)
    tv_avg_pool2d_backward(&j->g, j->dy + (size_t)e * out, j->dx + (size_t)e * in);
}

/* dx[window] (+)= dy / cells */
static void avg_pool2d_backward(tv_layer *l, int n, const float *const *x, const float *y,
                                const float *dy, float *const *dx, const int *acc) {
  (void)x, (void)y;
  if (!dx[0]) return;
  pool_job j = {.l = l, .g = geom_of(l), .dy = dy, .dx = dx[0], .acc = acc[0]};
  tv_pool_for(l->pool, n, avg_pool_backward_part, &j);
}

static double pool_flops(const tv_layer *l) {
  return (double)tv_shape_count(l->out) * l->cfg->kernel[0] * l->cfg->kernel[1];
}

/* ---- global_avg_pool: x (N, C, H, W) -> y (N, C); y[n,c] = mean_{h,w} x[n,c,h,w] ---- */

static int gap_build(tv_layer *l) {
  if (l->in[0].ndim != 3) {
    char s[64];
    return tv_layer_error(l, "global_avg_pool needs a (C, H, W) input, got %s",
                          tv_shape_str(l->in[0], s, sizeof s));
  }
  l->out = tv_shape1(l->in[0].dim[0]);
  return TV_OK;
}

static void gap_forward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const rows_job *j = ctx;
  size_t c = (size_t)j->l->in[0].dim[0], hw = (size_t)j->l->in[0].dim[1] * j->l->in[0].dim[2];
  for (size_t r = (size_t)e0 * c; r < (size_t)e1 * c; r++)
    j->out[r] = tv_layer_sum16(j->x + r * hw, hw) / (float)hw;
}

static void gap_forward(tv_layer *l, int n, const float *const *x, float *y) {
  rows_job j = {.l = l, .x = x[0], .out = y};
  tv_pool_for(l->pool, n, gap_forward_part, &j);
}

static void gap_backward_part(void *ctx, int e0, int e1, int t) {
  (void)t;
  const rows_job *j = ctx;
  size_t c = (size_t)j->l->in[0].dim[0], hw = (size_t)j->l->in[0].dim[1] * j->l->in[0].dim[2];
  for (size_t r = (size_t)e0 * c; r < (size_t)e1 * c; r++) {
    float v = j->dy[r] / (float)hw, *d = j->out + r * hw;
    if (j->acc)
      for (size_t i = 0; i < hw; i++) d[i] += v;
    else
      for (size_t i = 0; i < hw; i++) d[i] = v;
  }
}

/* dx[n,c,:] (+)= dy[n,c] / (H W) */
static void gap_backward(tv_layer *l, int n, const float *const *x, const float *y, const float *dy,
                         float *const *dx, const int *acc) {
  (void)x, (void)y;
  if (!dx[0]) return;
  rows_job j = {.l = l, .dy = dy, .out = dx[0], .acc = acc[0]};
  tv_pool_for(l->pool, n, gap_backward_part, &j);
}

static double gap_flops(const tv_layer *l) { return (double)tv_shape_count(l->in[0]); }

// clang-format off
static const key_desc conv2d_keys[] = {
  ROW_INT(LC, "filters", filters, 1, 1 << 20, 0, F_REQUIRED | F_MODEL, "output channels"),
  ROW_INT_PAIR(LC, "kernel_size", kernel, 1, 65536, 0, F_REQUIRED | F_MODEL, "k or [kh, kw]"),
  ROW_INT_PAIR(LC, "strides", stride, 1, 65536, 1, F_MODEL, "s or [sh, sw]"),
  ROW_PADDING(LC, "padding", padding, pad, F_MODEL, "valid | same | p | [ph, pw]"),
  ROW_BOOL(LC, "use_bias", use_bias, 1, F_MODEL, "add a learned bias per filter"),
};

/* strides' default 0 stands for "= pool_size" (F_DEFAULT_KERNEL), resolved when read, so a
 * config read back from tv_config_emit states it. */
static const key_desc pool_keys[] = {
  ROW_INT_PAIR(LC, "pool_size", kernel, 1, 65536, 2, F_MODEL, "k or [kh, kw]"),
  ROW_INT_PAIR(LC, "strides", stride, 1, 65536, 0, F_MODEL | F_DEFAULT_KERNEL, "default pool_size"),
  ROW_PADDING(LC, "padding", padding, pad, F_MODEL, "valid | same | p | [ph, pw]"),
};
// clang-format on

const tv_layer_ops tv_layer_conv2d = {"conv2d",       conv2d_build,
                                      conv2d_forward, conv2d_backward,
                                      conv2d_flops,   .config = TV_CFG_LAYER_KEYS(conv2d_keys)};
const tv_layer_ops tv_layer_max_pool2d = {
    "max_pool2d",        pool_build, max_pool2d_forward,
    max_pool2d_backward, pool_flops, .config = TV_CFG_LAYER_KEYS(pool_keys)};
const tv_layer_ops tv_layer_avg_pool2d = {
    "avg_pool2d",        pool_build, avg_pool2d_forward,
    avg_pool2d_backward, pool_flops, .config = TV_CFG_LAYER_KEYS(pool_keys)};
const tv_layer_ops tv_layer_global_avg_pool = {"global_avg_pool", gap_build, gap_forward,
                                               gap_backward,      gap_flops, NULL};
