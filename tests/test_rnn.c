/* test_rnn.c — the sequence kernels of common/nn/layers/recurrent.h (embedding, lstm, gru).
 *
 * Reference: tests/fixtures/reference_rnn.txt, written by scripts/make_rnn_fixtures.py from
 * PyTorch in float64 (nn.Embedding -> nn.LSTM with two layers -> nn.GRU, batch_first, given
 * initial states; the loss is a fixed linear function of every output and last state, so every
 * path of the backward is exercised).  Stacking two of our lstm kernels must give PyTorch's
 * num_layers=2 (and so must the lstm forward and backward on the packed kernels of
 * nn/packgemm.h, where the CPU has them).  Tolerance for every element of a tensor t (ours are
 * float32): |ours - ref| <= 1e-5 * max|t| + 1e-5 * |ref| + 1e-6 Gradient checks: central
 * differences in float64 of the float32 kernels' loss (eps 1e-2 on values of order 0.5, relative
 * error <= 2e-2 of max |grad| + 1e-3), through several time steps and across a state carried from
 * one call to the next (truncated BPTT's two chunks). The per-token head: ids -> embedding -> lstm
 * or gru (carried h0) -> dense over every step -> the loss table's token_cross_entropy; every
 * parameter and h0 by central differences. Stepping the head one token at a time with carried state
 * (generation) gives the sequence's logits at each position (|diff| <= 1e-6). The time-distributed
 * dense: a (T, D) input gives the flat dense of N*T rows, with the same store, to float rounding
 * (the flat dense is gradient-checked in test_model.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/layers/recurrent.h"
#include "nn/packgemm.h"
#include "trainval/layers.h"
#include "trainval/loss.h"
#include "trainval/ops.h"
#include "trainval/varstore.h"

static const char *const FIXTURE = "tests/fixtures/reference_rnn.txt";
enum { MAX_REC = 64, NAME_CAP = 64 };

typedef struct rec {
  char name[NAME_CAP];
  size_t count;
  float *f;  /* the values as float32 (inputs, weights) */
  double *d; /* as written (references) */
} rec;

typedef struct fix {
  int n;
  rec r[MAX_REC];
} fix;

static void fix_load(fix *x) {
  memset(x, 0, sizeof *x);
  FILE *fp = fopen(FIXTURE, "r");
  if (!fp) fail_msg("%s: cannot open (run from the repository root)", FIXTURE);
  int c;
  while ((c = fgetc(fp)) != EOF) {
    if (c == '#') {
      while ((c = fgetc(fp)) != EOF && c != '\n') {
      }
      continue;
    }
    if (c == '\n') continue;
    ungetc(c, fp);
    assert_true(x->n < MAX_REC);
    rec *r = &x->r[x->n++];
    int ndim;
    assert_int_equal(fscanf(fp, "%63s %d", r->name, &ndim), 2);
    r->count = 1;
    for (int k = 0; k < ndim; k++) {
      int dim;
      assert_int_equal(fscanf(fp, "%d", &dim), 1);
      r->count *= (size_t)dim;
    }
    r->f = malloc(r->count * sizeof *r->f);
    r->d = malloc(r->count * sizeof *r->d);
    assert_true(r->f && r->d);
    for (size_t i = 0; i < r->count; i++) {
      if (fscanf(fp, "%lf", &r->d[i]) != 1)
        fail_msg("%s: %s: only %zu of %zu values", FIXTURE, r->name, i, r->count);
      r->f[i] = (float)r->d[i];
    }
  }
  fclose(fp);
}

static void fix_free(fix *x) {
  for (int i = 0; i < x->n; i++) free(x->r[i].f), free(x->r[i].d);
}

static const rec *get(const fix *x, const char *name, size_t count) {
  for (int i = 0; i < x->n; i++)
    if (!strcmp(x->r[i].name, name)) {
      if (x->r[i].count != count)
        fail_msg("%s: %s has %zu values, expected %zu", FIXTURE, name, x->r[i].count, count);
      return &x->r[i];
    }
  fail_msg("%s: no record %s", FIXTURE, name);
  return NULL;
}

static void check(const char *what, const float *got, const rec *r) {
  double scale = 0, worst = 0;
  for (size_t i = 0; i < r->count; i++) scale = fmax(scale, fabs(r->d[i]));
  for (size_t i = 0; i < r->count; i++) {
    double err = fabs(got[i] - r->d[i]);
    if (!(err <= 1e-5 * scale + 1e-5 * fabs(r->d[i]) + 1e-6))
      fail_msg("%s[%zu]: trainval %.9g, PyTorch %.9g (max |ref| %.3g)", what, i, got[i], r->d[i],
               scale);
    worst = fmax(worst, err / fmax(scale, 1e-30));
  }
  print_message("  %-24s %4zu values, max |ref| %8.3g, worst error %.2g of that\n", what, r->count,
                scale, worst);
}

static float *fzeros(size_t n) {
  float *p = calloc(n ? n : 1, sizeof *p);
  assert_non_null(p);
  return p;
}

/* One layer's weights from the fixture (prefix "lstm", suffix "_l0") and zeroed gradients. */
static void weights(const fix *x, const char *pre, const char *suf, int gates, tv_rnn_dims s,
                    tv_rnn_weights *w, tv_rnn_weights *g) {
  char name[NAME_CAP];
  size_t gh = (size_t)gates * s.h;
  snprintf(name, sizeof name, "%s.weight_ih%s", pre, suf);
  w->w_ih = get(x, name, gh * s.d)->f;
  snprintf(name, sizeof name, "%s.weight_hh%s", pre, suf);
  w->w_hh = get(x, name, gh * s.h)->f;
  snprintf(name, sizeof name, "%s.bias_ih%s", pre, suf);
  w->b_ih = get(x, name, gh)->f;
  snprintf(name, sizeof name, "%s.bias_hh%s", pre, suf);
  w->b_hh = get(x, name, gh)->f;
  g->w_ih = fzeros(gh * s.d), g->w_hh = fzeros(gh * s.h);
  g->b_ih = fzeros(gh), g->b_hh = fzeros(gh);
}

static void check_grads(const fix *x, const char *pre, const char *suf, const tv_rnn_weights *g,
                        tv_rnn_dims s, int gates) {
  char name[NAME_CAP];
  size_t gh = (size_t)gates * s.h;
  const char *part[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  const float *v[4] = {g->w_ih, g->w_hh, g->b_ih, g->b_hh};
  size_t n[4] = {gh * s.d, gh * s.h, gh, gh};
  for (int k = 0; k < 4; k++) {
    snprintf(name, sizeof name, "grad.%s.%s%s", pre, part[k], suf);
    check(name, v[k], get(x, name, n[k]));
  }
}

static void free_grads(tv_rnn_weights *g) {
  free(g->w_ih), free(g->w_hh), free(g->b_ih), free(g->b_hh);
}

/* tv_lstm_forward, or with packed its packed-kernel twin (packgemm.h), the gates kept. */
static void lstm_fwd(int packed, tv_rnn_dims s, const tv_rnn_weights *w, const float *x,
                     const float *h0, const float *c0, float *y, float *hn, float *cn,
                     float *keep) {
  if (!packed) {
    tv_lstm_forward(s, w, x, h0, c0, y, hn, cn, keep);
    return;
  }
  float *p = fzeros(tv_pg_lstm_pack_floats(s.h, s.d));
  tv_pg_lstm_pack(s.h, s.d, w->w_ih, w->w_hh, w->b_ih, w->b_hh, 0, tv_pg_lstm_panels(s.h), p);
  tv_lstm_forward_packed(s, p, x, h0, c0, y, hn, cn, keep, 1);
  free(p);
}

/* tv_lstm_backward (dx written), or with packed tv_lstm_backward_packed. */
static void lstm_bwd(int packed, tv_rnn_dims s, const tv_rnn_weights *w, const tv_rnn_weights *g,
                     const float *x, const float *h0, const float *c0, const float *y,
                     const float *keep, const float *dy, const float *dh_last, const float *dc_last,
                     float *dx, float *dh0, float *dc0, float *temp) {
  if (!packed) {
    tv_lstm_backward(s, w, g, x, h0, c0, y, keep, dy, dh_last, dc_last, dx, 0, dh0, dc0, temp);
    return;
  }
  float *p = fzeros(tv_pg_pack_floats(4 * s.h, s.h));
  tv_pg_pack(4 * s.h, s.h, w->w_hh, (size_t)s.h, p);
  tv_lstm_backward_packed(s, w, g, x, h0, c0, y, keep, dy, dh_last, dc_last, dx, 0, dh0, dc0, temp,
                          p);
  free(p);
}

/* Embedding -> 2 x LSTM -> GRU against PyTorch: outputs, last states, loss, every gradient;
 * the lstm forward and backward on tv_gemm or (packed) on the packed kernels. */
static void reference_rnn(int packed) {
  fix *x = malloc(sizeof *x);
  assert_non_null(x);
  fix_load(x);
  const int N = 3, T = 5, V = 7, D = 4, H = 6, G = 5;
  const size_t nt = (size_t)N * T, nh = (size_t)N * H, ng = (size_t)N * G;
  tv_rnn_dims s0 = {N, T, D, H}, s1 = {N, T, H, H}, sg = {N, T, H, G};
  tv_rnn_weights w0, g0, w1, g1, wg, gg;
  weights(x, "lstm", "_l0", 4, s0, &w0, &g0);
  weights(x, "lstm", "_l1", 4, s1, &w1, &g1);
  weights(x, "gru", "_l0", 3, sg, &wg, &gg);
  const float *ids = get(x, "ids", nt)->f, *table = get(x, "emb.weight", (size_t)V * D)->f;
  const float *h0 = get(x, "h0", 2 * nh)->f, *c0 = get(x, "c0", 2 * nh)->f;
  const float *gh0 = get(x, "gh0", ng)->f;
  size_t bad;
  assert_true(tv_embedding_ids_ok(ids, nt, V, &bad));

  float *in = fzeros(nt * D), *y0 = fzeros(nt * H), *y1 = fzeros(nt * H), *yg = fzeros(nt * G);
  float *hn = fzeros(2 * nh), *cn = fzeros(2 * nh), *gn = fzeros(ng);
  float *k0 = fzeros(tv_lstm_keep_floats(s0)), *k1 = fzeros(tv_lstm_keep_floats(s1));
  float *kg = fzeros(tv_gru_keep_floats(sg));
  size_t tmp = tv_lstm_temp_floats(s0);
  if (tv_gru_temp_floats(sg) > tmp) tmp = tv_gru_temp_floats(sg);
  float *temp = fzeros(tmp);
  tv_embedding_forward(ids, nt, D, table, in);
  check("x", in, get(x, "x", nt * D));
  lstm_fwd(packed, s0, &w0, in, h0, c0, y0, hn, cn, k0);
  lstm_fwd(packed, s1, &w1, y0, h0 + nh, c0 + nh, y1, hn + nh, cn + nh, k1);
  tv_gru_forward(sg, &wg, y1, gh0, yg, gn, kg);
  check("y (lstm, 2 layers)", y1, get(x, "y", nt * H));
  check("h_n", hn, get(x, "h_n", 2 * nh));
  check("c_n", cn, get(x, "c_n", 2 * nh));
  check("g (gru)", yg, get(x, "g", nt * G));
  check("g_n", gn, get(x, "g_n", ng));

  const float *p_y = get(x, "p_y", nt * H)->f, *p_hn = get(x, "p_hn", 2 * nh)->f;
  const float *p_cn = get(x, "p_cn", 2 * nh)->f, *p_g = get(x, "p_g", nt * G)->f;
  const float *p_gn = get(x, "p_gn", ng)->f;
  double loss = 0;
  for (size_t i = 0; i < nt * G; i++) loss += (double)yg[i] * p_g[i];
  for (size_t i = 0; i < ng; i++) loss += (double)gn[i] * p_gn[i];
  for (size_t i = 0; i < nt * H; i++) loss += (double)y1[i] * p_y[i];
  for (size_t i = 0; i < 2 * nh; i++) loss += (double)hn[i] * p_hn[i] + (double)cn[i] * p_cn[i];
  float lf = (float)loss;
  check("loss", &lf, get(x, "loss", 1));

  float *dy1 = fzeros(nt * H), *dy0 = fzeros(nt * H), *dx = fzeros(nt * D);
  float *dh0 = fzeros(2 * nh), *dc0 = fzeros(2 * nh), *dgh0 = fzeros(ng);
  float *dtable = fzeros((size_t)V * D);
  memcpy(dy1, p_y, nt * H * sizeof *dy1);
  tv_gru_backward(sg, &wg, &gg, y1, gh0, yg, kg, p_g, p_gn, dy1, 1, dgh0, temp);
  lstm_bwd(packed, s1, &w1, &g1, y0, h0 + nh, c0 + nh, y1, k1, dy1, p_hn + nh, p_cn + nh, dy0,
           dh0 + nh, dc0 + nh, temp);
  lstm_bwd(packed, s0, &w0, &g0, in, h0, c0, y0, k0, dy0, p_hn, p_cn, dx, dh0, dc0, temp);
  tv_embedding_backward(ids, nt, D, dx, dtable);
  check("grad.x", dx, get(x, "grad.x", nt * D));
  check("grad.emb.weight", dtable, get(x, "grad.emb.weight", (size_t)V * D));
  check_grads(x, "gru", "_l0", &gg, sg, 3);
  check_grads(x, "lstm", "_l1", &g1, s1, 4);
  check_grads(x, "lstm", "_l0", &g0, s0, 4);
  check("grad.h0", dh0, get(x, "grad.h0", 2 * nh));
  check("grad.c0", dc0, get(x, "grad.c0", 2 * nh));
  check("grad.gh0", dgh0, get(x, "grad.gh0", ng));

  free_grads(&g0), free_grads(&g1), free_grads(&gg);
  free(in), free(y0), free(y1), free(yg), free(hn), free(cn), free(gn), free(k0), free(k1);
  free(kg), free(temp), free(dy1), free(dy0), free(dx), free(dh0), free(dc0), free(dgh0);
  free(dtable);
  fix_free(x);
  free(x);
}

static void test_reference_rnn(void **state) {
  (void)state;
  reference_rnn(0);
}

/* H = 6 and N = 3: a part-filled panel and row tile of the kernel. */
static void test_reference_rnn_packed(void **state) {
  (void)state;
  if (!tv_pg_supported()) skip();
  reference_rnn(1);
}

/* ---- gradient checks: a sequence split into two calls with the state carried between ---- */

typedef struct gc {
  int lstm;                  /* 1 lstm, 0 gru */
  tv_rnn_dims s;             /* one chunk; the sequence is two chunks of s.t steps */
  float *x[2], *h0, *c0, *w; /* w: w_ih, w_hh, b_ih, b_hh back to back */
  float *p[2], *q, *r;       /* loss = sum y_k p_k + sum h_last q + sum c_last r */
} gc;

static size_t gc_wcount(const gc *c) {
  size_t gh = (size_t)(c->lstm ? 4 : 3) * c->s.h;
  return gh * c->s.d + gh * c->s.h + 2 * gh;
}

static tv_rnn_weights gc_view(const gc *c, float *w) {
  size_t gh = (size_t)(c->lstm ? 4 : 3) * c->s.h;
  tv_rnn_weights v = {w, w + gh * c->s.d, w + gh * c->s.d + gh * c->s.h, NULL};
  v.b_hh = v.b_ih + gh;
  return v;
}

static size_t gc_keep(const gc *c) {
  return c->lstm ? tv_lstm_keep_floats(c->s) : tv_gru_keep_floats(c->s);
}

/* Forward over both chunks; keeps each chunk's y, keep and the state between them. */
typedef struct gc_run {
  float *y[2], *keep[2], *hm, *cm, *hl, *cl;
} gc_run;

static void gc_run_new(const gc *c, gc_run *r) {
  size_t ny = (size_t)c->s.n * c->s.t * c->s.h, nh = (size_t)c->s.n * c->s.h;
  for (int k = 0; k < 2; k++) r->y[k] = fzeros(ny), r->keep[k] = fzeros(gc_keep(c));
  r->hm = fzeros(nh), r->cm = fzeros(nh), r->hl = fzeros(nh), r->cl = fzeros(nh);
}

static void gc_run_free(gc_run *r) {
  for (int k = 0; k < 2; k++) free(r->y[k]), free(r->keep[k]);
  free(r->hm), free(r->cm), free(r->hl), free(r->cl);
}

static double gc_forward(const gc *c, gc_run *r) {
  tv_rnn_weights w = gc_view(c, c->w);
  if (c->lstm) {
    tv_lstm_forward(c->s, &w, c->x[0], c->h0, c->c0, r->y[0], r->hm, r->cm, r->keep[0]);
    tv_lstm_forward(c->s, &w, c->x[1], r->hm, r->cm, r->y[1], r->hl, r->cl, r->keep[1]);
  } else {
    tv_gru_forward(c->s, &w, c->x[0], c->h0, r->y[0], r->hm, r->keep[0]);
    tv_gru_forward(c->s, &w, c->x[1], r->hm, r->y[1], r->hl, r->keep[1]);
  }
  size_t ny = (size_t)c->s.n * c->s.t * c->s.h, nh = (size_t)c->s.n * c->s.h;
  double loss = 0;
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < ny; i++) loss += (double)r->y[k][i] * c->p[k][i];
  for (size_t i = 0; i < nh; i++)
    loss += (double)r->hl[i] * c->q[i] + (c->lstm ? (double)r->cl[i] * c->r[i] : 0.0);
  return loss;
}

static void fill(float *p, size_t n, unsigned *seed, float scale) {
  for (size_t i = 0; i < n; i++) {
    *seed = *seed * 1103515245u + 12345u;
    p[i] = scale * ((float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f);
  }
}

/* d loss / d v[i] by central differences vs the analytic g[i], over all i. */
static void gc_compare(const char *what, gc *c, float *v, const float *g, size_t n) {
  const float eps = 1e-2f;
  double gmax = 0;
  for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
  assert_true(gmax > 1e-3); /* the check is not vacuous */
  gc_run r;
  gc_run_new(c, &r);
  for (size_t i = 0; i < n; i++) {
    float keep = v[i];
    v[i] = keep + eps;
    double lp = gc_forward(c, &r);
    v[i] = keep - eps;
    double lm = gc_forward(c, &r);
    v[i] = keep;
    double num = (lp - lm) / (2.0 * eps);
    if (!(fabs(num - g[i]) <= 2e-2 * gmax + 1e-3))
      fail_msg("%s %s[%zu]: analytic %.6g, central difference %.6g (max |grad| %.3g)",
               c->lstm ? "lstm" : "gru", what, i, g[i], num, gmax);
  }
  gc_run_free(&r);
}

static void gradcheck(int lstm) {
  gc c = {.lstm = lstm, .s = {2, 3, 3, 4}};
  unsigned seed = lstm ? 7u : 8u;
  size_t nx = (size_t)c.s.n * c.s.t * c.s.d, ny = (size_t)c.s.n * c.s.t * c.s.h;
  size_t nh = (size_t)c.s.n * c.s.h, nw = gc_wcount(&c);
  for (int k = 0; k < 2; k++) {
    c.x[k] = fzeros(nx), c.p[k] = fzeros(ny);
    fill(c.x[k], nx, &seed, 1.0f), fill(c.p[k], ny, &seed, 1.0f);
  }
  c.h0 = fzeros(nh), c.c0 = fzeros(nh), c.w = fzeros(nw), c.q = fzeros(nh), c.r = fzeros(nh);
  fill(c.h0, nh, &seed, 0.5f), fill(c.c0, nh, &seed, 0.5f), fill(c.w, nw, &seed, 0.6f);
  fill(c.q, nh, &seed, 1.0f), fill(c.r, nh, &seed, 1.0f);

  gc_run r;
  gc_run_new(&c, &r);
  gc_forward(&c, &r);
  float *gw = fzeros(nw), *dx[2] = {fzeros(nx), fzeros(nx)}, *dhm = fzeros(nh), *dcm = fzeros(nh);
  float *dh0 = fzeros(nh), *dc0 = fzeros(nh);
  float *temp = fzeros(lstm ? tv_lstm_temp_floats(c.s) : tv_gru_temp_floats(c.s));
  tv_rnn_weights w = gc_view(&c, c.w), g = gc_view(&c, gw);
  /* the second chunk first; its initial-state gradient is the first chunk's last-state one */
  if (lstm) {
    tv_lstm_backward(c.s, &w, &g, c.x[1], r.hm, r.cm, r.y[1], r.keep[1], c.p[1], c.q, c.r, dx[1], 0,
                     dhm, dcm, temp);
    tv_lstm_backward(c.s, &w, &g, c.x[0], c.h0, c.c0, r.y[0], r.keep[0], c.p[0], dhm, dcm, dx[0], 0,
                     dh0, dc0, temp);
  } else {
    tv_gru_backward(c.s, &w, &g, c.x[1], r.hm, r.y[1], r.keep[1], c.p[1], c.q, dx[1], 0, dhm, temp);
    tv_gru_backward(c.s, &w, &g, c.x[0], c.h0, r.y[0], r.keep[0], c.p[0], dhm, dx[0], 0, dh0, temp);
  }
  gc_compare("weights", &c, c.w, gw, nw);
  gc_compare("x (chunk 1)", &c, c.x[0], dx[0], nx);
  gc_compare("x (chunk 2)", &c, c.x[1], dx[1], nx);
  gc_compare("h0", &c, c.h0, dh0, nh);
  if (lstm) gc_compare("c0", &c, c.c0, dc0, nh);

  /* backward adds into the weight gradients: a second backward doubles them */
  float *g1 = malloc(nw * sizeof *g1);
  assert_non_null(g1);
  memcpy(g1, gw, nw * sizeof *g1);
  if (lstm)
    tv_lstm_backward(c.s, &w, &g, c.x[0], c.h0, c.c0, r.y[0], r.keep[0], c.p[0], dhm, dcm, dx[0], 1,
                     dh0, dc0, temp);
  else
    tv_gru_backward(c.s, &w, &g, c.x[0], c.h0, r.y[0], r.keep[0], c.p[0], dhm, dx[0], 1, dh0, temp);
  int grew = 0;
  for (size_t i = 0; i < nw; i++) grew |= gw[i] != g1[i];
  assert_true(grew);

  /* two chunks with the state carried give the one-call sequence of 2T steps */
  tv_rnn_dims s2 = c.s;
  s2.t = 2 * c.s.t;
  float *x2 = fzeros(2 * nx), *y2 = fzeros(2 * ny), *hl = fzeros(nh);
  float *k2 = fzeros(lstm ? tv_lstm_keep_floats(s2) : tv_gru_keep_floats(s2));
  for (int e = 0; e < c.s.n; e++)
    for (int k = 0; k < 2; k++)
      memcpy(x2 + ((size_t)e * s2.t + (size_t)k * c.s.t) * c.s.d,
             c.x[k] + (size_t)e * c.s.t * c.s.d, (size_t)c.s.t * c.s.d * sizeof *x2);
  if (lstm)
    tv_lstm_forward(s2, &w, x2, c.h0, c.c0, y2, hl, NULL, k2);
  else
    tv_gru_forward(s2, &w, x2, c.h0, y2, hl, k2);
  for (size_t i = 0; i < nh; i++) assert_true(fabsf(hl[i] - r.hl[i]) <= 1e-6f);
  for (int e = 0; e < c.s.n; e++)
    for (int k = 0; k < 2; k++)
      for (int i = 0; i < c.s.t * c.s.h; i++)
        assert_true(fabsf(y2[((size_t)e * s2.t + (size_t)k * c.s.t) * c.s.h + i] -
                          r.y[k][(size_t)e * c.s.t * c.s.h + i]) <= 1e-6f);

  free(x2), free(y2), free(hl), free(k2), free(g1);
  gc_run_free(&r);
  free(gw), free(dx[0]), free(dx[1]), free(dhm), free(dcm), free(dh0), free(dc0), free(temp);
  for (int k = 0; k < 2; k++) free(c.x[k]), free(c.p[k]);
  free(c.h0), free(c.c0), free(c.w), free(c.q), free(c.r);
}

static void test_gradcheck_lstm(void **state) {
  (void)state;
  gradcheck(1);
}

static void test_gradcheck_gru(void **state) {
  (void)state;
  gradcheck(0);
}

/* Embedding: its backward sums repeated ids; ids out of range or fractional are found. */
static void test_embedding(void **state) {
  (void)state;
  const float table[6] = {1, 2, 3, 4, 5, 6}; /* V 3, D 2 */
  const float ids[4] = {2, 0, 2, 1};
  float y[8], dt[6] = {0}, dy[8] = {1, 1, 2, 2, 3, 3, 4, 4};
  tv_embedding_forward(ids, 4, 2, table, y);
  const float want[8] = {5, 6, 1, 2, 5, 6, 3, 4};
  for (int i = 0; i < 8; i++) assert_true(y[i] == want[i]);
  tv_embedding_backward(ids, 4, 2, dy, dt);
  const float dwant[6] = {2, 2, 4, 4, 4, 4};
  for (int i = 0; i < 6; i++) assert_true(dt[i] == dwant[i]);
  size_t bad = 99;
  assert_true(tv_embedding_ids_ok(ids, 4, 3, &bad));
  const float b1[3] = {0, 3, 1}, b2[3] = {0, 1, -1}, b3[3] = {0.5f, 1, 1};
  assert_false(tv_embedding_ids_ok(b1, 3, 3, &bad));
  assert_int_equal(bad, 1);
  assert_false(tv_embedding_ids_ok(b2, 3, 3, &bad));
  assert_int_equal(bad, 2);
  assert_false(tv_embedding_ids_ok(b3, 3, 3, &bad));
  assert_int_equal(bad, 0);
}

/* ---- the per-token head: a character model's training graph, kernel by kernel ---- */

enum { HN = 2, HT = 4, HV = 5, HD = 3, HH = 4 };

typedef struct head {
  int lstm;
  float ids[HN * HT];
  int32_t tgt[HN * HT];
  float h0[HN * HH], c0[HN * HH];
  float p[HV * HD + 4 * HH * HD + 4 * HH * HH + 8 * HH + HV * HH + HV]; /* all parameters */
  float x[HN * HT * HD], y[HN * HT * HH], keep[HT * HN * 6 * HH], z[HN * HT * HV];
} head;

static float *head_table(head *m) { return m->p; }
static tv_rnn_weights head_rnn(head *m, float *base) {
  int gh = (m->lstm ? 4 : 3) * HH;
  float *w = base + HV * HD;
  return (tv_rnn_weights){w, w + gh * HD, w + gh * HD + gh * HH, w + gh * HD + gh * HH + gh};
}
static float *head_dense(float *base) {
  return base + HV * HD + 4 * HH * HD + 4 * HH * HH + 8 * HH;
}

static float head_forward(head *m, float *dz) {
  tv_rnn_dims s = {HN, HT, HD, HH};
  tv_rnn_weights w = head_rnn(m, m->p);
  const float *dw = head_dense(m->p), *db = dw + HV * HH;
  tv_embedding_forward(m->ids, HN * HT, HD, head_table(m), m->x);
  if (m->lstm)
    tv_lstm_forward(s, &w, m->x, m->h0, m->c0, m->y, NULL, NULL, m->keep);
  else
    tv_gru_forward(s, &w, m->x, m->h0, m->y, NULL, m->keep);
  tv_rows_set(m->z, db, HN * HT, HV);
  tv_gemm(0, 1, HN * HT, HV, HH, 1.0f, m->y, HH, dw, HH, 1.0f, m->z, HV);
  tv_loss loss = {.kind = TV_LOSS_TOKEN_XENT};
  return tv_loss_forward(&loss, m->z, (tv_targets){.classes = m->tgt}, HN * HT, HV, dz);
}

static void head_check(int lstm) {
  head *m = calloc(1, sizeof *m);
  assert_non_null(m);
  m->lstm = lstm;
  unsigned seed = 21u + (unsigned)lstm;
  for (int i = 0; i < HN * HT; i++) {
    m->ids[i] = (float)((i * 3 + 1) % HV);
    m->tgt[i] = (int32_t)((i * 2 + 3) % HV);
  }
  fill(m->h0, HN * HH, &seed, 0.5f), fill(m->c0, HN * HH, &seed, 0.5f);
  size_t np = sizeof m->p / sizeof m->p[0];
  fill(m->p, np, &seed, 0.7f);
  float g[sizeof m->p / sizeof m->p[0]] = {0}, dz[HN * HT * HV], dy[HN * HT * HH];
  float dx[HN * HT * HD], dh0[HN * HH], temp[HN * 2 * HH + HN * HT * 4 * HH];
  head_forward(m, dz);
  tv_rnn_dims s = {HN, HT, HD, HH};
  assert_true(tv_lstm_temp_floats(s) <= sizeof temp / sizeof temp[0] &&
              tv_gru_temp_floats(s) <= sizeof temp / sizeof temp[0]);
  tv_rnn_weights w = head_rnn(m, m->p), gw = head_rnn(m, g);
  float *gd = head_dense(g);
  /* dW_dense += dz^T y; db += sum dz; dy = dz W */
  tv_gemm(1, 0, HV, HH, HN * HT, 1.0f, dz, HV, m->y, HH, 1.0f, gd, HH);
  tv_sum_over_rows(gd + HV * HH, dz, HN * HT, HV, 1);
  tv_gemm(0, 0, HN * HT, HH, HV, 1.0f, dz, HV, head_dense(m->p), HH, 0.0f, dy, HH);
  if (lstm)
    tv_lstm_backward(s, &w, &gw, m->x, m->h0, m->c0, m->y, m->keep, dy, NULL, NULL, dx, 0, dh0,
                     NULL, temp);
  else
    tv_gru_backward(s, &w, &gw, m->x, m->h0, m->y, m->keep, dy, NULL, dx, 0, dh0, temp);
  tv_embedding_backward(m->ids, HN * HT, HD, dx, g); /* the table is p's (and g's) head */
  const float eps = 1e-2f;
  double gmax = 0;
  for (size_t i = 0; i < np; i++) gmax = fmax(gmax, fabs(g[i]));
  assert_true(gmax > 1e-3);
  /* every parameter (a gru leaves the lstm-sized block's last rows unused: gradient 0, and
   * central difference 0), then h0 */
  float *vals[2] = {m->p, m->h0};
  const float *grads[2] = {g, dh0};
  size_t counts[2] = {np, HN * HH};
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; i < counts[k]; i++) {
      float v0 = vals[k][i];
      vals[k][i] = v0 + eps;
      double up = head_forward(m, NULL);
      vals[k][i] = v0 - eps;
      double down = head_forward(m, NULL);
      vals[k][i] = v0;
      double num = (up - down) / (2.0 * eps);
      if (!(fabs(num - grads[k][i]) <= 2e-2 * gmax + 1e-3))
        fail_msg("%s head: d loss / d %s[%zu]: analytic %.6g, central difference %.6g",
                 lstm ? "lstm" : "gru", k ? "h0" : "params", i, grads[k][i], num);
    }
  free(m);
}

/* The generation graph's way of running the head, one step at a time (T = 1, the state carried
 * in two (N, H) buffers, no unrolled activations kept: keep holds one step), gives at every
 * step the logits of the teacher-forced sequence at that position, over the same parameters. */
static void step_check(int lstm) {
  head *m = calloc(1, sizeof *m);
  assert_non_null(m);
  m->lstm = lstm;
  unsigned seed = 31u + (unsigned)lstm;
  for (int i = 0; i < HN * HT; i++) m->ids[i] = (float)((i * 3 + 2) % HV);
  fill(m->h0, HN * HH, &seed, 0.5f), fill(m->c0, HN * HH, &seed, 0.5f);
  fill(m->p, sizeof m->p / sizeof m->p[0], &seed, 0.7f);
  head_forward(m, NULL); /* m->z: the training graph's logits (N, T, V) */
  tv_rnn_dims s1 = {HN, 1, HD, HH};
  tv_rnn_weights w = head_rnn(m, m->p);
  const float *dw = head_dense(m->p), *db = dw + HV * HH;
  float h[HN * HH], c[HN * HH], ids[HN], x[HN * HD], y[HN * HH], z[HN * HV];
  float keep[6 * HN * HH];
  memcpy(h, m->h0, sizeof h), memcpy(c, m->c0, sizeof c);
  for (int t = 0; t < HT; t++) {
    for (int e = 0; e < HN; e++) ids[e] = m->ids[e * HT + t];
    tv_embedding_forward(ids, HN, HD, head_table(m), x);
    if (lstm)
      tv_lstm_forward(s1, &w, x, h, c, y, h, c, keep);
    else
      tv_gru_forward(s1, &w, x, h, y, h, keep);
    tv_rows_set(z, db, HN, HV);
    tv_gemm(0, 1, HN, HV, HH, 1.0f, y, HH, dw, HH, 1.0f, z, HV);
    for (int e = 0; e < HN; e++)
      for (int v = 0; v < HV; v++)
        if (!(fabsf(z[e * HV + v] - m->z[(e * HT + t) * HV + v]) <= 1e-6f))
          fail_msg("%s: step %d example %d logit %d: stepped %.9g, sequence %.9g",
                   lstm ? "lstm" : "gru", t, e, v, z[e * HV + v], m->z[(e * HT + t) * HV + v]);
  }
  free(m);
}

static void test_step_matches_sequence(void **state) {
  (void)state;
  step_check(1);
  step_check(0);
}

static void test_gradcheck_token_head(void **state) {
  (void)state;
  head_check(1);
  head_check(0);
}

/* A dense layer over per-example input `in`, units 3, its variables in store s (not sealed). */
static void dense_layer(tv_layer *l, tv_layer_config *lc, tv_shape in, tv_varstore *s) {
  memset(l, 0, sizeof *l);
  memset(lc, 0, sizeof *lc);
  lc->kind = TV_LAYER_DENSE;
  lc->units = 3;
  lc->use_bias = 1;
  strcpy(lc->name, "fc");
  l->cfg = lc;
  l->source = "test.yaml";
  l->mode = TV_MODE_TRAIN;
  l->max_batch = 8;
  l->n_inputs = 1;
  l->inputs[0] = -1;
  l->in[0] = in;
  l->store = s;
  l->threads = 1;
  assert_int_equal(tv_layer_ops_for(TV_LAYER_DENSE)->build(l), TV_OK);
}

static void test_dense_time_distributed(void **state) {
  (void)state;
  enum { N = 2, T = 4, D = 5, U = 3 };
  tv_varstore *s;
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  tv_layer seq, flat;
  tv_layer_config cs, cf;
  dense_layer(&seq, &cs, tv_shape2(T, D), s);
  dense_layer(&flat, &cf, tv_shape1(D), s); /* the same variables, "fc/kernel", "fc/bias" */
  assert_int_equal(seq.out.ndim, 2);
  assert_int_equal(seq.out.dim[0], T);
  assert_int_equal(seq.out.dim[1], U);
  assert_true(seq.vars[0] == flat.vars[0] && seq.vars[1] == flat.vars[1]);
  assert_true(tv_layer_ops_for(TV_LAYER_DENSE)->flops(&seq) ==
              T * tv_layer_ops_for(TV_LAYER_DENSE)->flops(&flat));
  assert_int_equal(tv_varstore_seal(s), TV_OK);
  unsigned seed = 3;
  tv_var *w = tv_varstore_var(s, seq.vars[0]), *b = tv_varstore_var(s, seq.vars[1]);
  fill(w->value, w->count, &seed, 1.0f), fill(b->value, b->count, &seed, 1.0f);
  float x[N * T * D], dy[N * T * U], y1[N * T * U], y2[N * T * U], dx1[N * T * D], dx2[N * T * D];
  float g1[U * D + U];
  fill(x, N * T * D, &seed, 1.0f), fill(dy, N * T * U, &seed, 1.0f);
  const float *xs[1] = {x};
  const int acc[1] = {0};
  float *d1[1] = {dx1}, *d2[1] = {dx2};
  const tv_layer_ops *ops = tv_layer_ops_for(TV_LAYER_DENSE);
  tv_varstore_zero_grads(s);
  ops->forward(&seq, N, xs, y1);
  ops->backward(&seq, N, xs, y1, dy, d1, acc);
  memcpy(g1, w->grad, U * D * sizeof *g1), memcpy(g1 + U * D, b->grad, U * sizeof *g1);
  tv_varstore_zero_grads(s);
  ops->forward(&flat, N * T, xs, y2);
  ops->backward(&flat, N * T, xs, y2, dy, d2, acc);
  for (int i = 0; i < N * T * U; i++) assert_true(fabsf(y1[i] - y2[i]) <= 1e-6f);
  for (int i = 0; i < N * T * D; i++) assert_true(fabsf(dx1[i] - dx2[i]) <= 1e-6f);
  for (int i = 0; i < U * D; i++) assert_true(fabsf(g1[i] - w->grad[i]) <= 1e-5f);
  for (int i = 0; i < U; i++) assert_true(fabsf(g1[U * D + i] - b->grad[i]) <= 1e-5f);
  int nonzero = 0;
  for (int i = 0; i < U * D; i++) nonzero |= g1[i] != 0.0f;
  assert_true(nonzero);
  /* on a team of 3 (5 output features, 2 examples: uneven shares, one thread without examples) */
  tv_pool *team;
  assert_int_equal(tv_pool_new(3, &team), TV_OK);
  seq.pool = team;
  seq.threads = 3;
  tv_varstore_zero_grads(s);
  ops->forward(&seq, N, xs, y2);
  ops->backward(&seq, N, xs, y2, dy, d2, acc);
  for (int i = 0; i < N * T * U; i++) assert_true(fabsf(y1[i] - y2[i]) <= 1e-6f);
  for (int i = 0; i < N * T * D; i++) assert_true(fabsf(dx1[i] - dx2[i]) <= 1e-6f);
  for (int i = 0; i < U * D; i++) assert_true(fabsf(g1[i] - w->grad[i]) <= 1e-5f);
  tv_pool_free(team);
  tv_varstore_free(s);
}

/* The packed lstm forward (packgemm.h) beside tv_lstm_forward on 3 panels (the last part-filled)
 * and 7 rows (a part-filled row tile): outputs, last states and keep within 1e-5; and a row's
 * bits are its own: each example run alone, and the forward without its gates kept, give the
 * same bits as the 7 together (so no result depends on the chunking or the threads). */
static void test_lstm_packed_rows(void **state) {
  (void)state;
  if (!tv_pg_supported()) skip();
  enum { N = 7, T = 4, D = 9, H = 40, G = 4 * H };
  tv_rnn_dims s = {N, T, D, H}, s1 = {1, T, D, H};
  unsigned seed = 11;
  float *wv = fzeros((size_t)G * (D + H + 2));
  tv_rnn_weights w = {wv, wv + G * D, wv + G * (D + H), wv + G * (D + H + 1)};
  fill(wv, (size_t)G * (D + H + 2), &seed, 0.3f);
  float *x = fzeros(N * T * D), *h0 = fzeros(N * H), *c0 = fzeros(N * H);
  fill(x, N * T * D, &seed, 1.0f), fill(h0, N * H, &seed, 0.5f), fill(c0, N * H, &seed, 1.0f);
  size_t nk = tv_lstm_keep_floats(s), ng = (size_t)N * T * G;
  float *y0 = fzeros(N * T * H), *hn0 = fzeros(N * H), *cn0 = fzeros(N * H), *k0 = fzeros(nk);
  float *y = fzeros(N * T * H), *hn = fzeros(N * H), *cn = fzeros(N * H), *k = fzeros(nk);
  float *y1 = fzeros(N * T * H), *k1 = fzeros(nk), *p = fzeros(tv_pg_lstm_pack_floats(H, D));
  tv_lstm_forward(s, &w, x, h0, c0, y0, hn0, cn0, k0);
  tv_pg_lstm_pack(H, D, w.w_ih, w.w_hh, w.b_ih, w.b_hh, 0, 2, p); /* in two parts */
  tv_pg_lstm_pack(H, D, w.w_ih, w.w_hh, w.b_ih, w.b_hh, 2, tv_pg_lstm_panels(H), p);
  tv_lstm_forward_packed(s, p, x, h0, c0, y, hn, cn, k, 1);
  for (size_t i = 0; i < N * T * H; i++) assert_true(fabsf(y[i] - y0[i]) <= 1e-5f);
  for (size_t i = 0; i < N * H; i++) assert_true(fabsf(hn[i] - hn0[i]) <= 1e-5f);
  for (size_t i = 0; i < N * H; i++) assert_true(fabsf(cn[i] - cn0[i]) <= 1e-5f);
  for (size_t i = 0; i < nk; i++) assert_true(fabsf(k[i] - k0[i]) <= 1e-5f);
  assert_memory_equal(hn, y + (size_t)(T - 1) * H, H * sizeof *y);
  for (int e = 0; e < N; e++) {
    float *ke = k1 + (size_t)e * T * G; /* the one-example keep: its gates, then its cells */
    tv_lstm_forward_packed(s1, p, x + e * T * D, h0 + e * H, c0 + e * H, y1 + e * T * H, NULL, NULL,
                           ke, 1);
    assert_memory_equal(ke, k + (size_t)e * T * G, (size_t)T * G * sizeof *k);
    assert_memory_equal(ke + (size_t)T * G, k + ng + (size_t)e * T * H, (size_t)T * H * sizeof *k);
  }
  assert_memory_equal(y1, y, (size_t)N * T * H * sizeof *y);
  memset(k1, 0, nk * sizeof *k1);
  tv_lstm_forward_packed(s, p, x, h0, c0, y1, NULL, NULL, k1, 0);
  assert_memory_equal(y1, y, (size_t)N * T * H * sizeof *y);
  assert_memory_equal(k1 + ng, k + ng, (size_t)N * T * H * sizeof *k);
  for (size_t i = 0; i < ng; i++) assert_true(k1[i] == 0.0f); /* no gates written */
  free(wv), free(x), free(h0), free(c0), free(y0), free(hn0), free(cn0), free(k0), free(y);
  free(hn), free(cn), free(k), free(y1), free(k1), free(p);
}

/* tv_pg_gemm against tv_gemm_ref on a part-filled panel and row tile (m 7, n 70, k 13; C's
 * rows wider than n), written and accumulated: within 1e-5, columns past n untouched. */
static void test_pg_gemm(void **state) {
  (void)state;
  if (!tv_pg_supported()) skip();
  enum { M = 7, N = 70, K = 13, LDA = 15, LDB = 72, LDC = 75 };
  unsigned seed = 5;
  float *a = fzeros(M * LDA), *b = fzeros(K * LDB), *c = fzeros(M * LDC), *r = fzeros(M * LDC);
  float *p = fzeros(tv_pg_pack_floats(K, N));
  fill(a, M * LDA, &seed, 1.0f), fill(b, K * LDB, &seed, 1.0f), fill(c, M * LDC, &seed, 1.0f);
  memcpy(r, c, M * LDC * sizeof *r);
  tv_pg_pack(K, N, b, LDB, p);
  for (int acc = 0; acc < 2; acc++) {
    tv_pg_gemm(M, N, K, a, LDA, p, c, LDC, acc);
    tv_gemm_ref(0, 0, M, N, K, 1.0f, a, LDA, b, LDB, acc ? 1.0f : 0.0f, r, LDC);
    for (int i = 0; i < M * LDC; i++) assert_true(fabsf(c[i] - r[i]) <= 1e-5f * (1 + fabsf(r[i])));
  }
  free(a), free(b), free(c), free(r), free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_rnn),          cmocka_unit_test(test_gradcheck_lstm),
      cmocka_unit_test(test_gradcheck_gru),          cmocka_unit_test(test_embedding),
      cmocka_unit_test(test_gradcheck_token_head),   cmocka_unit_test(test_step_matches_sequence),
      cmocka_unit_test(test_dense_time_distributed), cmocka_unit_test(test_reference_rnn_packed),
      cmocka_unit_test(test_lstm_packed_rows),       cmocka_unit_test(test_pg_gemm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
