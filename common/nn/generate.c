/* generate.c — the generation graph and sampling (see generate.h). */
#include "trainval/generate.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/gemv.h"
#include "nn/genpace.h"
#include "nn/layers/recurrent.h"
#include "trainval/ops.h"

enum {
  LANES = TV_GEMV_LANES,
  GEN_MAX_RNN = 16,     /* recurrent layers the step handles (more: the graph runs) */
  GEN_MAX_THREADS = 16, /* threads sharing a step */
  GEN_SPIN = 20000,     /* pauses a helper spins for the next phase before it sleeps */
  GEN_WAIT_SPIN = 4000, /* pauses the caller spins for the helpers before it sleeps */
  GEN_SOLO_MIN = 16,    /* phases the caller then runs alone (doubling while waits stay long) */
  GEN_SOLO_MAX = 8192,
  GEN_MISSED = 64,     /* phases in a row a helper may miss before the caller runs alone */
  GEN_WINDOW = 512,    /* tokens per window of the pace (below) */
  GEN_PROBE_MIN = 8,   /* windows between two tries of the other way, at first ... */
  GEN_PROBE_MAX = 256, /* ... and at most (doubling while the tries lose) */
  HEAD_Q = 4           /* head rows per group: 4 panels of 16 */
};
/* The shared step's slowing (against its fastest window) past which the pace times the caller
 * alone: two threads take about 0.5 of one's time on a quiet machine. */
#define GEN_SLOWED 1.8
/* The largest first-layer table (vocab x gates x hidden floats) the step builds; a larger
 * vocabulary runs the graph. */
#define GEN_TABLE_MAX_BYTES ((size_t)64 << 20)

/* A layer's carried state: h of this token and of the previous one (by token parity), its bf16
 * pairs (tv_gemv_x_bf16, written with h), and an lstm's cell. */
typedef struct gen_state {
  float *hs[2];
  uint32_t *hb[2];
  float *c;
} gen_state;

/* One recurrent layer of the step.  Unit block u is hidden units [16u, 16u + 16); its packed
 * group(s) hold gate rows q * h + 16u + i (q < gates).  Layer 0 packs only W_hh (its input side
 * is the table); later layers pack W_ih (k = d) then W_hh (k = h): lstm into the same sums (one
 * group pair per block, both biases added after), gru into two sums (input and recurrent). */
typedef struct gen_rnn {
  int lstm, gates, h, d, nblk;
  int w_ih, w_hh, b_ih, b_hh; /* store indices */
  size_t seg_ih, seg_hh;      /* floats of a block's W_ih group, W_hh group */
  float *pk;                  /* nblk blocks of seg_ih + seg_hh floats (layer 0: seg_hh) */
  float *bias;                /* lstm: b_ih + b_hh (gates * h); gru: b_ih, then b_hh */
  /* the state; layer 0: one copy per part, each part computing all of layer 0's cells from
   * the table row and r (the same values in every copy), so no thread waits for another's */
  gen_state st[GEN_MAX_THREADS];
  float *table; /* layer 0: vocab rows of gates * h: emb W_ih^T + biases */
  float *r[2];  /* layer 0: h W_hh^T, gates * h, by the parity of the token it was computed at */
} gen_rnn;

/* The generation step's threads: threads - 1 helpers, helper t running part t of each phase
 * (unless the caller has taken it: the crew below). */
typedef struct crew_arg {
  tv_generator *g;
  int part;
} crew_arg;
typedef struct gen_crew {
  int n, started;
  pthread_t th[GEN_MAX_THREADS];
  crew_arg args[GEN_MAX_THREADS];
  pthread_mutex_t mu;
  pthread_cond_t wake, done_cv;
  atomic_uint go;                        /* the phase generation */
  atomic_uint claimed[GEN_MAX_THREADS];  /* the generation whose part t is taken */
  atomic_uint finished[GEN_MAX_THREADS]; /* the generation whose part t is done */
  atomic_int sleepers;                   /* helpers waiting on wake */
  atomic_int main_waiting;               /* the caller waits on done_cv */
  int missed;        /* phases in a row in which the caller took a helper's part */
  int solo, backoff; /* phases left to run alone, the next such run's length */
  /* the pace: tokens are timed by windows of GEN_WINDOW, each run one way, shared or alone,
   * and each way's seconds per token kept (averaged over its windows in a row, afresh at the
   * first of a run); crew_pace says when each way runs */
  int alone, run, win_left, since_alone; /* run: windows in a row of this way */
  int wait[2]; /* [alone]: windows of the other way before that way is tried again */
  double win_start, per_token[2]; /* [alone]; 0: not yet timed */
  double fastest;                 /* the fastest shared window's seconds per token */
  int troubles; /* this window's shared phases whose join took a part or waited long */
  int rule;     /* tv_gen_pace */
  long alone_windows;
  int stop;
} gen_crew;

struct tv_generator {
  tv_model *model;
  tv_varstore *store;
  int fast; /* the step below applies */
  /* the step: */
  int n_rnn, vocab, emb; /* emb: the embedding's store index */
  gen_rnn rnn[GEN_MAX_RNN];
  int head_in, head_out, head_groups, head_w, head_b; /* head_b -1: no bias */
  size_t head_seg;
  float *head_pk, *head_bias, *logits;
  float *scratch[GEN_MAX_THREADS]; /* per part: gate sums (layer 0's: 2 * gates * h) */
  void *mem;                       /* every array above, one allocation */
  int bf16, cur, n_logits, phase, id;
  gen_crew crew;
};

/* ---- the plan: which configs the step runs ---- */

/* Layer i reads the previous layer alone. */
static int plain_input(const tv_layer_config *ls, int i) {
  return ls[i].n_inputs == 0 || (ls[i].n_inputs == 1 && !strcmp(ls[i].inputs[0], ls[i - 1].name));
}

/* Fills g's shapes from cfg when the step applies (1), else 0. */
static int plan(tv_generator *g, const tv_config *cfg) {
  const tv_layer_config *ls = cfg->model.layers;
  int n = cfg->model.n_layers;
  while (n > 1 && ls[n - 1].kind == TV_LAYER_SOFTMAX) n--; /* the output activation */
  if (n < 3 || ls[0].kind != TV_LAYER_EMBEDDING || ls[n - 1].kind != TV_LAYER_DENSE) return 0;
  g->vocab = ls[0].vocab;
  int d = ls[0].dim;
  for (int i = 1; i < n - 1; i++) {
    if (!plain_input(ls, i)) return 0;
    if (ls[i].kind == TV_LAYER_DROPOUT) continue;
    if (ls[i].kind != TV_LAYER_LSTM && ls[i].kind != TV_LAYER_GRU) return 0;
    if (g->n_rnn == GEN_MAX_RNN) return 0;
    gen_rnn *r = &g->rnn[g->n_rnn++];
    r->lstm = ls[i].kind == TV_LAYER_LSTM;
    r->gates = r->lstm ? 4 : 3;
    r->h = ls[i].hidden;
    r->d = d;
    r->nblk = (r->h + LANES - 1) / LANES;
    d = r->h;
  }
  if (!g->n_rnn || !plain_input(ls, n - 1)) return 0;
  size_t table = (size_t)g->vocab * g->rnn[0].gates * g->rnn[0].h * sizeof(float);
  if (table > GEN_TABLE_MAX_BYTES) return 0;
  g->head_in = d;
  g->head_out = ls[n - 1].units;
  g->head_groups = (g->head_out + HEAD_Q * LANES - 1) / (HEAD_Q * LANES);
  return 1;
}

/* The store indices of the step's variables (the graph has declared them). */
static int find_vars(tv_generator *g, const tv_config *cfg) {
  const tv_layer_config *ls = cfg->model.layers;
  char name[TV_VAR_NAME_CAP];
#define GEN_FIND(dst, layer, var)                                                                  \
  do {                                                                                             \
    snprintf(name, sizeof name, "%s/%s", (layer)->name, var);                                      \
    if (((dst) = tv_varstore_find(g->store, name)) < 0) return 0;                                  \
  } while (0)
  GEN_FIND(g->emb, &ls[0], "weight");
  int k = 0, last = 0;
  for (int i = 1; i < cfg->model.n_layers && k < g->n_rnn; i++) {
    if (ls[i].kind != TV_LAYER_LSTM && ls[i].kind != TV_LAYER_GRU) continue;
    gen_rnn *r = &g->rnn[k++];
    GEN_FIND(r->w_ih, &ls[i], "weight_ih");
    GEN_FIND(r->w_hh, &ls[i], "weight_hh");
    GEN_FIND(r->b_ih, &ls[i], "bias_ih");
    GEN_FIND(r->b_hh, &ls[i], "bias_hh");
    last = i;
  }
  int h = last + 1;
  while (ls[h].kind != TV_LAYER_DENSE) h++;
  GEN_FIND(g->head_w, &ls[h], "kernel");
  g->head_b = -1;
  if (ls[h].use_bias) GEN_FIND(g->head_b, &ls[h], "bias");
#undef GEN_FIND
  return 1;
}

/* Carves the step's arrays out of one 64-byte aligned allocation (mem NULL: counts them). */
static size_t carve(tv_generator *g, float *mem) {
  size_t at = 0;
#define GEN_TAKE(dst, floats)                                                                      \
  do {                                                                                             \
    if (mem) (dst) = (void *)(mem + at);                                                           \
    at += ((size_t)(floats) + 15) / 16 * 16;                                                       \
  } while (0)
  for (int l = 0; l < g->n_rnn; l++) {
    gen_rnn *r = &g->rnn[l];
    size_t gh = (size_t)r->gates * r->h, hp = (size_t)r->nblk * LANES;
    r->seg_ih = l ? tv_gemv_group_floats(r->gates, r->d, 0) : 0;
    r->seg_hh = tv_gemv_group_floats(r->gates, r->h, 0);
    GEN_TAKE(r->pk, (size_t)r->nblk * (r->seg_ih + r->seg_hh));
    GEN_TAKE(r->bias, 2 * gh);
    for (int p = 0; p < (l ? 1 : g->crew.n); p++) {
      gen_state *st = &r->st[p];
      GEN_TAKE(st->hs[0], hp);
      GEN_TAKE(st->hs[1], hp);
      GEN_TAKE(st->hb[0], hp / 2);
      GEN_TAKE(st->hb[1], hp / 2);
      GEN_TAKE(st->c, hp);
    }
    if (l == 0) {
      GEN_TAKE(r->table, (size_t)g->vocab * gh);
      GEN_TAKE(r->r[0], gh);
      GEN_TAKE(r->r[1], gh);
    }
  }
  g->head_seg = tv_gemv_group_floats(HEAD_Q, g->head_in, 0);
  GEN_TAKE(g->head_pk, (size_t)g->head_groups * g->head_seg);
  GEN_TAKE(g->head_bias, (size_t)g->head_groups * HEAD_Q * LANES);
  GEN_TAKE(g->logits, (size_t)g->head_groups * HEAD_Q * LANES);
  size_t scr = 2 * (size_t)g->rnn[0].gates * g->rnn[0].h;
  if (scr < 2 * TV_GEMV_MAX_Q * LANES) scr = 2 * TV_GEMV_MAX_Q * LANES;
  for (int t = 0; t < g->crew.n; t++) GEN_TAKE(g->scratch[t], scr);
#undef GEN_TAKE
  return at;
}

/* ---- the crew: spin briefly, then sleep; a part nobody has taken, the caller runs ----
 * Phase generation v: the caller publishes v (go), runs part 0, then claims and runs every part
 * whose helper has not claimed it yet (a helper descheduled on a busy machine then costs no
 * wait), and waits for the parts the helpers took.  Where that wait outlasts GEN_WAIT_SPIN (a
 * helper descheduled mid-part: a machine busier than its cores), or it took a helper's part
 * GEN_MISSED phases in a row (descheduled before it claimed), the caller runs the next
 * `backoff` phases alone, doubling it each time the first shared phase after is slow again.
 * Which thread runs a part changes nothing in its values. */

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void run_part(tv_generator *g, int part);

/* Part p of generation v, for whoever claims it first; never for a helper that saw v late,
 * after the caller had claimed p for a later generation (the wrap-safe "older than v"). */
static int claim(gen_crew *c, int p, unsigned v) {
  unsigned old = atomic_load(&c->claimed[p]);
  while ((int)(v - old) > 0)
    if (atomic_compare_exchange_weak(&c->claimed[p], &old, v)) return 1;
  return 0;
}

static void *crew_main(void *arg) {
  tv_generator *g = ((crew_arg *)arg)->g;
  int part = ((crew_arg *)arg)->part;
  gen_crew *c = &g->crew;
  unsigned seen = 0;
  for (;;) {
    unsigned v = atomic_load(&c->go);
    for (int i = 0; i < GEN_SPIN && v == seen; i++) {
      cpu_relax();
      v = atomic_load(&c->go);
    }
    if (v == seen) {
      pthread_mutex_lock(&c->mu);
      atomic_fetch_add(&c->sleepers, 1);
      while ((v = atomic_load(&c->go)) == seen && !c->stop) pthread_cond_wait(&c->wake, &c->mu);
      atomic_fetch_sub(&c->sleepers, 1);
      int stop = c->stop;
      pthread_mutex_unlock(&c->mu);
      if (stop) return NULL;
    }
    seen = v;
    if (!claim(c, part, v)) continue; /* the caller ran it */
    run_part(g, part);
    atomic_store(&c->finished[part], v);
    if (atomic_load(&c->main_waiting)) {
      pthread_mutex_lock(&c->mu);
      pthread_cond_signal(&c->done_cv);
      pthread_mutex_unlock(&c->mu);
    }
  }
}

static int all_finished(gen_crew *c, unsigned v) {
  for (int p = 1; p < c->n; p++)
    if ((int)(atomic_load(&c->finished[p]) - v) < 0) return 0; /* older than v */
  return 1;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The pace, at each token (above): a machine busier than its cores can make the shared step
 * slower than the caller's alone (a helper that is descheduled, or that takes the caller's
 * core), which the waits alone do not always tell. */
static void crew_pace(gen_crew *c) {
  if (c->n == 1 || --c->win_left > 0) return;
  double t = now_s(), per = (t - c->win_start) / GEN_WINDOW, *e = &c->per_token[c->alone];
  *e = *e > 0 && c->run > 0 ? 0.5 * (*e + per) : per; /* a way's first window: afresh */
  c->run++;
  c->alone_windows += c->alone;
  double sh = c->per_token[0], al = c->per_token[1];
  int next;
  if (c->rule != TV_GEN_PACE_TIMED) {
    next = c->rule == TV_GEN_PACE_ALONE || (c->rule == TV_GEN_PACE_FLIP && !c->alone);
  } else if (!c->alone) {
    if (c->fastest <= 0 || per < c->fastest) c->fastest = per;
    c->since_alone++;
    /* alone when it was faster, or (now and then) to time it once the shared step has slowed
     * past what alone could be, or has often had to take parts or wait long */
    int slowed = sh > GEN_SLOWED * c->fastest || c->troubles >= GEN_WINDOW / 4;
    next = (al > 0 && al < sh) || (slowed && c->since_alone >= c->wait[1]);
  } else {
    c->since_alone = 0;
    next = !((sh > 0 && sh < al) || c->run >= c->wait[0]); /* back, or time the shared step */
  }
  if (next != c->alone) {
    /* a try of this way that lost after one window: the next waits twice as long; one that
     * held: the next as soon as may be */
    int *w = &c->wait[c->alone];
    *w = c->run == 1 ? (*w < GEN_PROBE_MAX ? 2 * *w : GEN_PROBE_MAX) : GEN_PROBE_MIN;
    c->alone = next;
    c->run = 0;
  }
  c->win_left = GEN_WINDOW;
  c->win_start = t;
  c->troubles = 0;
}

/* Starts a window afresh (a generation begins: the time before it is none of the step's). */
static void crew_pace_restart(gen_crew *c) {
  c->win_left = GEN_WINDOW;
  c->win_start = now_s();
  c->troubles = 0;
}

/* Runs the current phase: part 0 on the caller, the others on their helpers or the caller. */
static void crew_run(tv_generator *g) {
  gen_crew *c = &g->crew;
  if (c->n == 1 || c->solo > 0 || c->alone) {
    for (int p = 0; p < c->n; p++) run_part(g, p);
    if (c->solo > 0) c->solo--;
    return;
  }
  unsigned v = atomic_fetch_add(&c->go, 1) + 1;
  if (atomic_load(&c->sleepers)) {
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->mu);
  }
  run_part(g, 0);
  int took = 0;
  for (int p = 1; p < c->n; p++)
    if (claim(c, p, v)) {
      run_part(g, p);
      atomic_store(&c->finished[p], v);
      took = 1;
    }
  for (int i = 0; i < GEN_WAIT_SPIN && !all_finished(c, v); i++) cpu_relax();
  /* parts the caller had to take are a sign of a busy machine GEN_MISSED phases in a row (a
   * helper waking from its sleep takes a while) */
  c->missed = took ? c->missed + 1 : 0;
  c->troubles += took;
  int busy = c->missed > GEN_MISSED;
  if (all_finished(c, v) && !busy) {
    if (!took) c->backoff = GEN_SOLO_MIN;
    return;
  }
  c->missed = 0;
  c->troubles += !took;
  c->solo = c->backoff;
  c->backoff = c->backoff < GEN_SOLO_MAX ? 2 * c->backoff : GEN_SOLO_MAX;
  pthread_mutex_lock(&c->mu);
  atomic_store(&c->main_waiting, 1);
  while (!all_finished(c, v)) pthread_cond_wait(&c->done_cv, &c->mu);
  atomic_store(&c->main_waiting, 0);
  pthread_mutex_unlock(&c->mu);
}

static int crew_start(tv_generator *g, int threads) {
  gen_crew *c = &g->crew;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->wake, NULL);
  pthread_cond_init(&c->done_cv, NULL);
  c->started = 1;
  atomic_init(&c->go, 0);
  atomic_init(&c->sleepers, 0);
  atomic_init(&c->main_waiting, 0);
  c->backoff = GEN_SOLO_MIN;
  c->wait[0] = c->wait[1] = GEN_PROBE_MIN;
  crew_pace_restart(c);
  for (int t = 0; t < GEN_MAX_THREADS; t++) {
    atomic_init(&c->claimed[t], 0);
    atomic_init(&c->finished[t], 0);
  }
  for (int t = 1; t < threads; t++) {
    c->args[t] = (crew_arg){g, t};
    int e = pthread_create(&c->th[t], NULL, crew_main, &c->args[t]);
    if (e != 0)
      return tv_error_errno(TV_ERR_NOMEM, e, "generate: cannot start thread %d of %d", t + 1,
                            threads);
    c->n = t + 1;
  }
  return TV_OK;
}

static void crew_stop(gen_crew *c) {
  if (!c->started) return;
  pthread_mutex_lock(&c->mu);
  c->stop = 1;
  pthread_cond_broadcast(&c->wake);
  pthread_mutex_unlock(&c->mu);
  for (int t = 1; t < c->n; t++) pthread_join(c->th[t], NULL);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->wake);
  pthread_cond_destroy(&c->done_cv);
}

/* ---- packing ---- */

static const float *val(const tv_generator *g, int index) {
  return tv_varstore_cvar(g->store, index)->value;
}

/* Packs the groups of rows [16u, 16u + 16) of each gate q of w (gates * h rows of k). */
static void pack_block(float *p, const float *w, int gates, int h, int u, int k, int bf16) {
  const float *rows[TV_GEMV_MAX_Q];
  for (int q = 0; q < gates; q++) rows[q] = w + ((size_t)q * h + (size_t)u * LANES) * k;
  int n = h - u * LANES < LANES ? h - u * LANES : LANES, nrows[TV_GEMV_MAX_Q] = {n, n, n, n};
  tv_gemv_pack(p, gates, rows, nrows, k, k, bf16);
}

static void pack(tv_generator *g) {
  int bf = g->bf16;
  for (int l = 0; l < g->n_rnn; l++) {
    gen_rnn *r = &g->rnn[l];
    int gh = r->gates * r->h;
    size_t sih = l ? tv_gemv_group_floats(r->gates, r->d, bf) : 0;
    size_t shh = tv_gemv_group_floats(r->gates, r->h, bf);
    r->seg_ih = sih, r->seg_hh = shh;
    for (int u = 0; u < r->nblk; u++) {
      float *p = r->pk + (size_t)u * (sih + shh);
      if (l) pack_block(p, val(g, r->w_ih), r->gates, r->h, u, r->d, bf);
      pack_block(p + sih, val(g, r->w_hh), r->gates, r->h, u, r->h, bf);
    }
    const float *bi = val(g, r->b_ih), *bh = val(g, r->b_hh);
    for (int j = 0; j < gh; j++) {
      r->bias[j] = r->lstm ? bi[j] + bh[j] : bi[j];
      r->bias[gh + j] = bh[j];
    }
    if (l == 0) { /* table[id] = emb[id] W_ih^T + b_ih (+ b_hh for lstm) */
      tv_rows_set(r->table, r->bias, g->vocab, gh);
      tv_gemm(0, 1, g->vocab, gh, r->d, 1.0f, val(g, g->emb), r->d, val(g, r->w_ih), r->d, 1.0f,
              r->table, gh);
    }
  }
  g->head_seg = tv_gemv_group_floats(HEAD_Q, g->head_in, bf);
  const float *w = val(g, g->head_w);
  for (int u = 0; u < g->head_groups; u++) {
    const float *rows[HEAD_Q];
    int nrows[HEAD_Q];
    for (int q = 0; q < HEAD_Q; q++) { /* rows past the last: zeros */
      int r0 = (u * HEAD_Q + q) * LANES, left = g->head_out - r0;
      nrows[q] = left < 0 ? 0 : left < LANES ? left : LANES;
      rows[q] = w + (size_t)(left > 0 ? r0 : 0) * g->head_in;
    }
    tv_gemv_pack(g->head_pk + (size_t)u * g->head_seg, HEAD_Q, rows, nrows, g->head_in, g->head_in,
                 bf);
  }
  size_t hb = (size_t)g->head_groups * HEAD_Q * LANES;
  memset(g->head_bias, 0, hb * sizeof *g->head_bias);
  if (g->head_b >= 0)
    memcpy(g->head_bias, val(g, g->head_b), (size_t)g->head_out * sizeof *g->head_bias);
}

/* ---- the step ---- */

/* [lo, hi) of n items for part p of P. */
static void share(int n, int p, int parts, int *lo, int *hi) {
  *lo = (int)((int64_t)n * p / parts);
  *hi = (int)((int64_t)n * (p + 1) / parts);
}

/* A layer's h of one token as both operands: floats for fp32, bf16 pairs for bf16. */
typedef struct gen_vec {
  const float *f;
  const uint32_t *b;
} gen_vec;

/* Layer l's state as part `part` reads it (layer 0: the part's own copy). */
static gen_state *state_of(tv_generator *g, int l, int part) { return &g->rnn[l].st[l ? 0 : part]; }

static gen_vec h_of(const gen_state *st, int parity) {
  return (gen_vec){st->hs[parity], st->hb[parity]};
}

/* y (q * 16) = the block's products with x1 (and x2 when k2 > 0), in the generator's precision. */
static void block_gemv(const tv_generator *g, const float *p1, int k1, gen_vec x1, const float *p2,
                       int k2, gen_vec x2, int q, float *y) {
  if (g->bf16)
    tv_gemv_bf16(p1, k1, x1.b, p2, k2, x2.b, q, y);
  else
    tv_gemv_f32(p1, k1, x1.f, p2, k2, x2.f, q, y);
}

/* h[u0 .. u0 + n) of layer r's token `parity` has been written: its bf16 pairs too. */
static void h_written(const tv_generator *g, gen_state *st, int parity, int u0, int n) {
  if (g->bf16) tv_gemv_x_bf16(st->hb[parity] + u0 / 2, st->hs[parity] + u0, n);
}

/* Layer 0's cells for token id into part's own state, from the table row and r. */
static void layer0_cells(tv_generator *g, float *scr, int part) {
  gen_rnn *r = &g->rnn[0];
  gen_state *st = &r->st[part];
  int gh = r->gates * r->h;
  const float *t = r->table + (size_t)g->id * gh, *rp = r->r[!g->cur];
  float *a = scr, *b = scr + gh;
  if (r->lstm) {
    for (int j = 0; j < gh; j++) a[j] = t[j] + rp[j];
    tv_lstm_step_cells(r->h, r->h, a, st->c, st->hs[g->cur]);
  } else {
    for (int j = 0; j < gh; j++) a[j] = t[j], b[j] = rp[j] + r->bias[gh + j];
    tv_gru_step_cells(r->h, r->h, a, b, st->hs[!g->cur], st->hs[g->cur]);
  }
  h_written(g, st, g->cur, 0, r->h);
}

/* Layer 0's recurrent product for the next token: block u's rows of r[cur] from this token's
 * h (part's copy). */
static void r0_block(tv_generator *g, float *scr, int part, int u) {
  gen_rnn *r = &g->rnn[0];
  float *y = scr;
  gen_vec none = {NULL, NULL};
  block_gemv(g, r->pk + (size_t)u * r->seg_hh, r->h, h_of(&r->st[part], g->cur), NULL, 0, none,
             r->gates, y);
  int n = r->h - u * LANES < LANES ? r->h - u * LANES : LANES;
  for (int q = 0; q < r->gates; q++)
    memcpy(r->r[g->cur] + (size_t)q * r->h + (size_t)u * LANES, y + q * LANES,
           (size_t)n * sizeof *y);
}

/* Block u of layer l >= 1: its gates from layer l-1's h of this token and its own of the last,
 * then its cells. */
static void rnn_block(tv_generator *g, float *scr, int part, int l, int u) {
  gen_rnn *r = &g->rnn[l];
  gen_state *st = &r->st[0];
  gen_vec x = h_of(state_of(g, l - 1, part), g->cur), hp = h_of(st, !g->cur), none = {NULL, NULL};
  const float *p = r->pk + (size_t)u * (r->seg_ih + r->seg_hh);
  int gh = r->gates * r->h, u0 = u * LANES, n = r->h - u0 < LANES ? r->h - u0 : LANES;
  float *a = scr, *b = scr + TV_GEMV_MAX_Q * LANES;
  if (r->lstm) {
    block_gemv(g, p, r->d, x, p + r->seg_ih, r->h, hp, 4, a);
    for (int q = 0; q < 4; q++)
      for (int i = 0; i < n; i++) a[q * LANES + i] += r->bias[q * r->h + u0 + i];
    tv_lstm_step_cells(LANES, n, a, st->c + u0, st->hs[g->cur] + u0);
  } else {
    block_gemv(g, p, r->d, x, NULL, 0, none, 3, a);
    block_gemv(g, p + r->seg_ih, r->h, hp, NULL, 0, none, 3, b);
    for (int q = 0; q < 3; q++)
      for (int i = 0; i < n; i++) {
        a[q * LANES + i] += r->bias[q * r->h + u0 + i];
        b[q * LANES + i] += r->bias[gh + q * r->h + u0 + i];
      }
    tv_gru_step_cells(LANES, n, a, b, hp.f + u0, st->hs[g->cur] + u0);
  }
  h_written(g, st, g->cur, u0, n);
}

static void head_group(tv_generator *g, int part, int u) {
  gen_vec none = {NULL, NULL};
  float *y = g->logits + (size_t)u * HEAD_Q * LANES;
  block_gemv(g, g->head_pk + (size_t)u * g->head_seg, g->head_in,
             h_of(state_of(g, g->n_rnn - 1, part), g->cur), NULL, 0, none, HEAD_Q, y);
  for (int i = 0; i < HEAD_Q * LANES; i++) y[i] += g->head_bias[(size_t)u * HEAD_Q * LANES + i];
}

/* Phase ph of a token, part p's share: phase ph < n_rnn - 1 computes layer ph + 1, the last
 * the head; phase 0 first layer 0's cells (every part, into its own copy), and also layer 0's
 * recurrent product for the next token.  Odd tokens take the items in reverse order, so what a
 * core read last (still in its cache) it reads first. */
static void run_part(tv_generator *g, int part) {
  float *scr = g->scratch[part];
  int parts = g->crew.n, ph = g->phase, rev = g->cur;
  int a0 = 0, a1 = 0, b0, b1;
  if (ph == 0) {
    layer0_cells(g, scr, part);
    share(g->rnn[0].nblk, part, parts, &a0, &a1);
  }
  int head = ph == g->n_rnn - 1;
  int nb = head ? (g->n_logits + HEAD_Q * LANES - 1) / (HEAD_Q * LANES) : g->rnn[ph + 1].nblk;
  share(nb, part, parts, &b0, &b1);
  int na = a1 - a0, n = na + b1 - b0;
  for (int k = 0; k < n; k++) {
    int i = rev ? n - 1 - k : k;
    if (i < na)
      r0_block(g, scr, part, a0 + i);
    else if (head)
      head_group(g, part, b0 + i - na);
    else
      rnn_block(g, scr, part, ph + 1, b0 + i - na);
  }
}

/* One token: its phases, layer 0 inside the first. */
static const float *fast_step(tv_generator *g, int32_t id, int n_logits) {
  crew_pace(&g->crew);
  g->cur = !g->cur;
  g->id = id;
  g->n_logits = n_logits;
  for (g->phase = 0; g->phase < g->n_rnn; g->phase++) crew_run(g);
  return g->logits;
}

int tv_generator_new(const tv_config *cfg, tv_varstore *store, tv_pool *team, tv_generator **out) {
  *out = NULL;
  if (!tv_config_is_sequence(cfg))
    return tv_error(TV_ERR_CONFIG, "%s: not a token model (its first layer is no embedding)",
                    cfg->source);
  tv_generator *g = calloc(1, sizeof *g);
  tv_config *one = malloc(sizeof *one);
  int rc = TV_OK;
  if (!g || !one) {
    rc = tv_error(TV_ERR_NOMEM, "generate: out of memory");
    goto out;
  }
  *one = *cfg;
  one->model.input[0] = 1; /* one step per forward: the state carries the rest */
  g->store = store;
  rc = tv_model_new(one, TV_MODE_INFER, 1, store, team, &g->model);
  if (rc != TV_OK) goto out;
  g->fast = plan(g, cfg) && find_vars(g, cfg);
  if (!g->fast) goto out;
  int threads = tv_pool_threads(team);
  g->crew.n = threads < GEN_MAX_THREADS ? threads : GEN_MAX_THREADS;
  size_t floats = carve(g, NULL);
  g->mem = aligned_alloc(64, floats * sizeof(float));
  if (!g->mem) {
    rc = tv_error(TV_ERR_NOMEM, "generate: out of memory (%zu bytes of packed weights)",
                  floats * sizeof(float));
    goto out;
  }
  memset(g->mem, 0, floats * sizeof(float));
  carve(g, g->mem);
  int want = g->crew.n;
  g->crew.n = 1;
  rc = crew_start(g, want);
out:
  free(one);
  if (rc != TV_OK) {
    tv_generator_free(g);
    return rc;
  }
  *out = g;
  return TV_OK;
}

void tv_generator_free(tv_generator *g) {
  if (!g) return;
  crew_stop(&g->crew);
  free(g->mem);
  tv_model_free(g->model);
  free(g);
}

tv_model *tv_generator_model(tv_generator *g) { return g->model; }

void tv_generator_pace(tv_generator *g, tv_gen_pace p) {
  if ((unsigned)p < TV_GEN_PACE__COUNT) g->crew.rule = (int)p;
}

long tv_generator_alone_windows(const tv_generator *g) { return g->crew.alone_windows; }
int tv_generator_fast(const tv_generator *g) { return g->fast; }

void tv_generator_reset(tv_generator *g, tv_gen_precision p) {
  tv_model_reset_state(g->model);
  if (!g->fast) return;
  g->bf16 = p == TV_GEN_BF16;
  pack(g);
  for (int l = 0; l < g->n_rnn; l++) {
    gen_rnn *r = &g->rnn[l];
    size_t hp = (size_t)r->nblk * LANES;
    for (int part = 0; part < (l ? 1 : g->crew.n); part++) {
      gen_state *st = &r->st[part];
      memset(st->hs[0], 0, hp * sizeof(float));
      memset(st->hs[1], 0, hp * sizeof(float));
      memset(st->hb[0], 0, hp / 2 * sizeof(uint32_t));
      memset(st->hb[1], 0, hp / 2 * sizeof(uint32_t));
      memset(st->c, 0, hp * sizeof(float));
    }
    if (l == 0) {
      memset(r->r[0], 0, (size_t)r->gates * r->h * sizeof(float));
      memset(r->r[1], 0, (size_t)r->gates * r->h * sizeof(float));
    }
  }
  g->cur = 0;
  crew_pace_restart(&g->crew);
}

const float *tv_generator_step(tv_generator *g, int32_t id, int n_logits) {
  if (!g->fast) return tv_model_forward_ids(g->model, &id, 1);
  if (id < 0 || id >= g->vocab) id = 0;
  return fast_step(g, id, n_logits);
}

const char *tv_gen_precision_name(tv_gen_precision p) {
  static const char *const names[] = {"fp32", "bf16"};
  _Static_assert(sizeof names / sizeof *names == TV_GEN__COUNT, "a name per precision");
  return (unsigned)p < TV_GEN__COUNT ? names[p] : NULL;
}

/* The k-th largest of z[0..v) (1 <= k <= v <= 256), by quickselect on a copy (Hoare's
 * partition, the middle element as the pivot). */
static float kth_largest(const float *z, int v, int k) {
  float a[256];
  memcpy(a, z, (size_t)v * sizeof *a);
  int lo = 0, hi = v - 1, want = k - 1; /* the index of the answer in descending order */
  while (lo < hi) {
    float pivot = a[lo + (hi - lo) / 2];
    int i = lo, j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        float t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (want <= j)
      hi = j;
    else if (want >= i)
      lo = i;
    else
      return a[want];
  }
  return a[want];
}

int tv_sample(const float *logits, int v, double temperature, int top_k, tv_rng *r) {
  double p[256];
  int best = 0;
  for (int i = 1; i < v; i++)
    if (logits[i] > logits[best]) best = i;
  if (temperature <= 0 || v == 1) {
    (void)tv_rng_u64(r); /* one draw per token whatever the settings */
    return best;
  }
  /* top_k: the k-th largest logit is the cut (ids below it drop; at it, the smaller ids stay,
   * as many as make k): id i stays when fewer than k ids have a larger logit or an equal one
   * and a smaller id.  The cut by selection, not by sorting. */
  int keep[256];
  for (int i = 0; i < v; i++) keep[i] = 1;
  if (top_k > 0 && top_k < v) {
    float cut = kth_largest(logits, v, top_k);
    int room = top_k;
    for (int i = 0; i < v; i++) room -= logits[i] > cut;
    for (int i = 0; i < v; i++) {
      keep[i] = logits[i] > cut || (logits[i] == cut && room > 0);
      room -= logits[i] == cut && keep[i];
    }
  }
  double total = 0, top = logits[best];
  for (int i = 0; i < v; i++) {
    p[i] = keep[i] ? exp(((double)logits[i] - top) / temperature) : 0.0;
    total += p[i];
  }
  double u = (double)(tv_rng_u64(r) >> 11) * 0x1.0p-53 * total, c = 0;
  int last = best;
  for (int i = 0; i < v; i++) {
    if (!keep[i]) continue;
    c += p[i];
    last = i;
    if (u < c) return i;
  }
  return last; /* rounding at the top end */
}

int tv_generate(tv_generator *gen, const tv_vocab *v, const char *prompt, size_t n,
                const tv_sample_opts *o, char *out) {
  if (!(o->temperature >= 0))
    return tv_error(TV_ERR_INVALID, "generate: temperature must be >= 0, got %g", o->temperature);
  if (!tv_gen_precision_name(o->precision))
    return tv_error(TV_ERR_INVALID, "generate: no precision %d", (int)o->precision);
  if (o->precision != TV_GEN_FP32 && !gen->fast)
    return tv_error(TV_ERR_INVALID,
                    "--generate-precision %s: this model runs its generation graph, fp32 only "
                    "(the %s step takes an embedding, lstm/gru layers and a dense head)",
                    tv_gen_precision_name(o->precision), tv_gen_precision_name(o->precision));
  size_t plen = prompt ? strlen(prompt) : 0;
  for (size_t i = 0; i < plen; i++) {
    uint8_t b = (uint8_t)prompt[i];
    if (v->ids[b] >= 0) continue;
    char shown[8] = "";
    if (b >= 0x20 && b < 0x7f) snprintf(shown, sizeof shown, ", '%c'", b);
    return tv_error(TV_ERR_INVALID,
                    "--prompt: byte %zu (0x%02x%s) is not in the checkpoint's vocabulary of %d "
                    "bytes",
                    i, b, shown, v->size);
  }
  tv_generator_reset(gen, o->precision);
  int nz = v->size < tv_model_num_classes(gen->model) ? v->size : tv_model_num_classes(gen->model);
  tv_rng r = tv_rng_seed(o->seed, TV_RNG_SAMPLE);
  int32_t id = v->ids['\n'] >= 0 ? v->ids['\n'] : 0;
  const float *z = NULL;
  for (size_t i = 0; i < plen; i++) {
    id = v->ids[(uint8_t)prompt[i]];
    z = tv_generator_step(gen, id, nz);
  }
  if (!plen) z = tv_generator_step(gen, id, nz);
  for (size_t k = 0; k < n; k++) {
    id = tv_sample(z, v->size, o->temperature, o->top_k, &r);
    out[k] = (char)v->bytes[id];
    if (k + 1 < n) z = tv_generator_step(gen, id, nz);
  }
  return TV_OK;
}
