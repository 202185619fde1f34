/* optim.c — SGD (momentum, Nesterov), Adam and AdamW, clipping and schedules over the store's
 * slabs (see optim.h). */
#include "trainval/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainval/ops.h" /* TV_VECTOR */

enum { MAX_SLOTS = 2 };

struct tv_optim {
  tv_optim_kind kind;
  double lr, momentum, beta1, beta2, epsilon, min_lr, weight_decay, clip_norm, decay_rate;
  int64_t decay_steps;
  int nesterov;
  tv_schedule_kind schedule;
  int64_t warmup, total;
  int64_t t;
  int n_slots;
  const char *slot_names[MAX_SLOTS];
  float *slots[MAX_SLOTS];
  tv_varstore *store;
  tv_pool *pool; /* borrowed; NULL: the caller's thread alone */
  int n_chunks;  /* the trainable elements cut into pieces of at most CHUNK, var by var */
  struct chunk {
    int var;
    size_t begin, end;
  } * chunks;
  double *partial; /* n_chunks: tv_optim_grad_norm's sum of squares of each chunk */
};

enum { CHUNK = 16384 };

int tv_optim_new(const tv_config *cfg, int64_t total_steps, tv_varstore *store, tv_optim **out) {
  *out = NULL;
  if (!tv_varstore_values(store) && tv_varstore_size(store) > 0)
    return tv_error(TV_ERR_INVALID, "optimizer: variable store is not sealed");
  tv_optim *o = calloc(1, sizeof *o);
  if (!o) return tv_error(TV_ERR_NOMEM, "optimizer: out of memory");
  o->kind = cfg->optimizer.type;
  o->lr = cfg->optimizer.learning_rate;
  o->momentum = cfg->optimizer.momentum;
  o->nesterov = cfg->optimizer.nesterov;
  o->beta1 = cfg->optimizer.beta1;
  o->beta2 = cfg->optimizer.beta2;
  o->epsilon = cfg->optimizer.epsilon;
  o->schedule = cfg->optimizer.schedule;
  o->warmup = cfg->optimizer.warmup_steps;
  o->min_lr = cfg->optimizer.min_learning_rate;
  o->weight_decay = cfg->optimizer.weight_decay;
  o->clip_norm = cfg->optimizer.clip_norm;
  o->decay_steps = cfg->optimizer.decay_steps > 0 ? cfg->optimizer.decay_steps : 1;
  o->decay_rate = cfg->optimizer.decay_rate;
  o->total = total_steps;
  o->store = store;
  if (o->kind == TV_OPTIM_ADAM || o->kind == TV_OPTIM_ADAMW) {
    o->n_slots = 2;
    o->slot_names[0] = "m";
    o->slot_names[1] = "v";
  } else if (o->momentum > 0) {
    o->n_slots = 1;
    o->slot_names[0] = "momentum";
  }
  for (int pass = 0; pass < 2; pass++) {
    int n = 0;
    for (int i = 0; i < tv_varstore_count(store); i++) {
      const tv_var *v = tv_varstore_cvar(store, i);
      for (size_t b = 0; v->trainable && b < v->count; b += CHUNK, n++)
        if (pass) o->chunks[n] = (struct chunk){i, b, b + CHUNK < v->count ? b + CHUNK : v->count};
    }
    if (!pass) {
      o->n_chunks = n;
      o->chunks = malloc((size_t)(n ? n : 1) * sizeof *o->chunks);
      o->partial = malloc((size_t)(n ? n : 1) * sizeof *o->partial);
      if (!o->chunks || !o->partial) {
        tv_optim_free(o);
        return tv_error(TV_ERR_NOMEM, "optimizer: out of memory");
      }
    }
  }
  size_t bytes =
      ((tv_varstore_size(store) ? tv_varstore_size(store) : 1) * sizeof(float) + 63) & ~(size_t)63;
  for (int k = 0; k < o->n_slots; k++) {
    o->slots[k] = aligned_alloc(64, bytes);
    if (!o->slots[k]) {
      int rc = tv_error(TV_ERR_NOMEM, "optimizer: cannot allocate slot %s", o->slot_names[k]);
      tv_optim_free(o);
      return rc;
    }
    memset(o->slots[k], 0, bytes);
  }
  *out = o;
  return TV_OK;
}

void tv_optim_free(tv_optim *o) {
  if (!o) return;
  for (int k = 0; k < o->n_slots; k++) free(o->slots[k]);
  free(o->chunks);
  free(o->partial);
  free(o);
}

void tv_optim_set_horizon(tv_optim *o, int64_t total_steps) { o->total = total_steps; }
int64_t tv_optim_horizon(const tv_optim *o) { return o->total; }

double tv_optim_lr(const tv_optim *o, int64_t step) {
  if (o->warmup > 0 && step < o->warmup) return o->lr * (double)(step + 1) / (double)o->warmup;
  double s = (double)(step - o->warmup);
  switch (o->schedule) {
  case TV_SCHEDULE_COSINE:
    if (o->total > o->warmup) {
      double p = s / (double)(o->total - o->warmup);
      if (p > 1.0) p = 1.0;
      return o->min_lr + 0.5 * (o->lr - o->min_lr) * (1.0 + cos(3.141592653589793 * p));
    }
    return o->lr;
  case TV_SCHEDULE_STEP:
    return o->lr * pow(o->decay_rate, floor(s / (double)o->decay_steps));
  case TV_SCHEDULE_EXPONENTIAL:
    return o->lr * pow(o->decay_rate, s / (double)o->decay_steps);
  default:
    return o->lr;
  }
}

TV_VECTOR static float sum_squares(const float *restrict g, size_t n) {
  float acc[8] = {0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) acc[k] += g[i + k] * g[i + k];
  float s = 0;
  for (; i < n; i++) s += g[i] * g[i];
  for (int k = 0; k < 8; k++) s += acc[k];
  return s;
}

static void norm_part(void *ctx, int begin, int end, int thread) {
  (void)thread;
  const tv_optim *o = ctx;
  for (int c = begin; c < end; c++) {
    const struct chunk *ch = &o->chunks[c];
    const tv_var *v = tv_varstore_cvar(o->store, ch->var);
    o->partial[c] = (double)sum_squares(v->grad + ch->begin, ch->end - ch->begin);
  }
}

/* Over the team, chunk by chunk (the optimizer's fixed chunks), the chunks' sums added in chunk
 * order: the same bits for any team. */
double tv_optim_grad_norm(const tv_optim *o) {
  tv_pool_for(o->pool, o->n_chunks, norm_part, (void *)o);
  double total = 0;
  for (int c = 0; c < o->n_chunks; c++) total += o->partial[c];
  return sqrt(total);
}

TV_VECTOR static void scale_add(float *restrict g, const float *restrict p, size_t n, float scale,
                                float wd) {
  for (size_t i = 0; i < n; i++) g[i] = scale * g[i] + wd * p[i];
}

TV_VECTOR static void sgd_update(float *restrict p, const float *restrict g, float *restrict buf,
                                 size_t n, float lr, float mu, int nesterov) {
  if (!buf) {
    for (size_t i = 0; i < n; i++) p[i] -= lr * g[i];
  } else if (nesterov) {
    for (size_t i = 0; i < n; i++) {
      buf[i] = mu * buf[i] + g[i];
      p[i] -= lr * (g[i] + mu * buf[i]);
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      buf[i] = mu * buf[i] + g[i];
      p[i] -= lr * buf[i];
    }
  }
}

TV_VECTOR static void adam_update(float *restrict p, const float *restrict g, float *restrict m,
                                  float *restrict v, size_t n, float step_size, float b1, float b2,
                                  float one_minus_b1, float one_minus_b2, float inv_sqrt_bc2,
                                  float eps) {
  for (size_t i = 0; i < n; i++) {
    m[i] = b1 * m[i] + one_minus_b1 * g[i];
    v[i] = b2 * v[i] + one_minus_b2 * g[i] * g[i];
    p[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
  }
}

/* One update's constants, shared by the threads that apply it chunk by chunk. */
typedef struct update_job {
  tv_optim *o;
  float lr, scale, l2, keep, step_size, inv_sqrt_bc2;
} update_job;

static void update_part(void *ctx, int begin, int end, int thread) {
  (void)thread;
  const update_job *j = ctx;
  tv_optim *o = j->o;
  for (int c = begin; c < end; c++) {
    const struct chunk *ch = &o->chunks[c];
    tv_var *v = tv_varstore_var(o->store, ch->var);
    size_t at = ch->begin, n = ch->end - ch->begin, slot = v->offset + at;
    float *p = v->value + at, *g = v->grad + at;
    if (j->scale != 1.0f || j->l2 != 0.0f) scale_add(g, p, n, j->scale, j->l2);
    if (j->keep != 1.0f)
      for (size_t k = 0; k < n; k++) p[k] *= j->keep;
    if (o->kind == TV_OPTIM_SGD)
      sgd_update(p, g, o->n_slots ? o->slots[0] + slot : NULL, n, j->lr, (float)o->momentum,
                 o->nesterov);
    else
      adam_update(p, g, o->slots[0] + slot, o->slots[1] + slot, n, j->step_size, (float)o->beta1,
                  (float)o->beta2, (float)(1.0 - o->beta1), (float)(1.0 - o->beta2),
                  j->inv_sqrt_bc2, (float)o->epsilon);
  }
}

void tv_optim_apply(tv_optim *o, int64_t step, double grad_norm) {
  o->t++;
  update_job j = {.o = o, .lr = (float)tv_optim_lr(o, step), .scale = 1.0f, .keep = 1.0f};
  if (o->clip_norm > 0) {
    if (grad_norm < 0) grad_norm = tv_optim_grad_norm(o);
    if (grad_norm > o->clip_norm) j.scale = (float)(o->clip_norm / grad_norm);
  }
  if (o->kind == TV_OPTIM_ADAMW)
    j.keep = 1.0f - j.lr * (float)o->weight_decay;
  else
    j.l2 = (float)o->weight_decay;
  if (o->kind != TV_OPTIM_SGD) {
    j.step_size = (float)(j.lr / (1.0 - pow(o->beta1, (double)o->t)));
    j.inv_sqrt_bc2 = (float)(1.0 / sqrt(1.0 - pow(o->beta2, (double)o->t)));
  }
  /* Element-wise rules: any split over threads gives the same bits. */
  tv_pool_for(o->pool, o->n_chunks, update_part, &j);
}

void tv_optim_set_pool(tv_optim *o, tv_pool *pool) { o->pool = pool; }

void tv_optim_step(tv_optim *o, int64_t step) { tv_optim_apply(o, step, -1.0); }

int tv_optim_num_slots(const tv_optim *o) { return o->n_slots; }
const char *tv_optim_slot_name(const tv_optim *o, int k) { return o->slot_names[k]; }
float *tv_optim_slot(tv_optim *o, int k) { return o->slots[k]; }
const char *tv_optim_name(const tv_optim *o) {
  static const char *const names[TV_OPTIM__COUNT] = {"sgd", "adam", "adamw"};
  return names[o->kind];
}
int64_t tv_optim_t(const tv_optim *o) { return o->t; }
void tv_optim_set_t(tv_optim *o, int64_t t) { o->t = t; }

/* ---- checkpoint state (optim.h) ----------------------------------------------------------- */

/* "/optimizer/<slot>/<var>" into buf. */
static int slot_path(char *buf, size_t cap, const char *slot, const char *var) {
  int n = snprintf(buf, cap, "/optimizer/%s/%s", slot, var);
  if (n < 0 || (size_t)n >= cap)
    return tv_error(TV_ERR_INVALID, "optimizer: checkpoint path for %s/%s too long", slot, var);
  return TV_OK;
}

enum { SLOT_PATH_CAP = TV_VAR_NAME_CAP + 32 };

int tv_optim_ckpt_write(const tv_optim *o, tv_ckpt_writer *w) {
  char path[SLOT_PATH_CAP];
  int rc = TV_OK;
  for (int k = 0; rc == TV_OK && k < o->n_slots; k++)
    for (int i = 0; rc == TV_OK && i < tv_varstore_count(o->store); i++) {
      const tv_var *v = tv_varstore_cvar(o->store, i);
      if (!v->trainable) continue;
      rc = slot_path(path, sizeof path, o->slot_names[k], v->name);
      tv_ckpt_array a = {.path = path,
                         .dtype = TV_CKPT_F32,
                         .count = v->count,
                         .data = o->slots[k] + v->offset,
                         .shape = &v->shape};
      if (rc == TV_OK) rc = tv_ckpt_writer_array(w, &a);
    }
  tv_ckpt_array t = {.path = "/state/optimizer_t", .dtype = TV_CKPT_I64, .count = 1, .data = &o->t};
  if (rc == TV_OK) rc = tv_ckpt_writer_array(w, &t);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_str(w, "/optimizer", "type", tv_optim_name(o));
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/optimizer", "t", o->t);
  return rc;
}

int tv_optim_ckpt_read(tv_optim *o, tv_ckpt *c) {
  char path[SLOT_PATH_CAP];
  int64_t t = 0;
  int rc = tv_ckpt_read_array(c, "/state/optimizer_t", TV_CKPT_I64, 1, &t);
  for (int k = 0; rc == TV_OK && k < o->n_slots; k++)
    for (int i = 0; rc == TV_OK && i < tv_varstore_count(o->store); i++) {
      const tv_var *v = tv_varstore_cvar(o->store, i);
      if (!v->trainable) continue;
      rc = slot_path(path, sizeof path, o->slot_names[k], v->name);
      if (rc == TV_OK)
        rc = tv_ckpt_read_array(c, path, TV_CKPT_F32, v->count, o->slots[k] + v->offset);
    }
  char type[16];
  if (rc == TV_ERR_NOT_FOUND &&
      tv_ckpt_read_attr_str(c, "/optimizer", "type", type, sizeof type) == TV_OK &&
      strcmp(type, tv_optim_name(o)) != 0) /* say why the slot is missing */
    rc = tv_error(TV_ERR_NOT_FOUND,
                  "%s: %s: not in the checkpoint, which holds %s's state; this "
                  "run's optimizer is %s",
                  tv_ckpt_path(c), path, type, tv_optim_name(o));
  if (rc != TV_OK) {
    t = 0;
    for (int k = 0; k < o->n_slots; k++)
      memset(o->slots[k], 0, tv_varstore_size(o->store) * sizeof(float));
  }
  o->t = t;
  return rc;
}
