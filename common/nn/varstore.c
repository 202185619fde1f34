/* varstore.c — named variables in two slabs (see varstore.h).
 * Invariant: vars[i].offset is the running sum of counts, each rounded up to 16 floats so every
 * variable starts 64-byte aligned within the slab. */
#include "trainval/varstore.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tv_varstore {
  tv_var *vars;
  int n, cap;
  size_t size; /* slab floats, including alignment padding */
  size_t trainable;
  float *values, *grads;
  int sealed;
};

int tv_varstore_new(tv_varstore **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return tv_error(TV_ERR_NOMEM, "variable store: out of memory");
  return TV_OK;
}

void tv_varstore_free(tv_varstore *s) {
  if (!s) return;
  free(s->vars);
  free(s->values);
  free(s->grads);
  free(s);
}

int tv_varstore_find(const tv_varstore *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->vars[i].name, name) == 0) return i;
  return -1;
}

int tv_varstore_declare(tv_varstore *s, const char *name, tv_shape shape, int trainable,
                        tv_init_kind init, int fan_in, int fan_out, int *index) {
  int i = tv_varstore_find(s, name);
  if (i >= 0) {
    char a[64], b[64];
    if (!tv_shape_equal(s->vars[i].shape, shape) || s->vars[i].trainable != trainable)
      return tv_error(TV_ERR_MISMATCH, "variable %s: declared as %s, reused as %s", name,
                      tv_shape_str(s->vars[i].shape, a, sizeof a),
                      tv_shape_str(shape, b, sizeof b));
    *index = i;
    return TV_OK;
  }
  if (s->sealed) return tv_error(TV_ERR_INVALID, "variable %s: store is sealed", name);
  if (strlen(name) >= TV_VAR_NAME_CAP) return tv_error(TV_ERR_INVALID, "%s: name too long", name);
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 16;
    tv_var *v = realloc(s->vars, (size_t)cap * sizeof *v);
    if (!v) return tv_error(TV_ERR_NOMEM, "variable store: out of memory");
    s->vars = v;
    s->cap = cap;
  }
  tv_var *v = &s->vars[s->n];
  memset(v, 0, sizeof *v);
  snprintf(v->name, sizeof v->name, "%s", name);
  v->shape = shape;
  v->count = tv_shape_count(shape);
  v->offset = s->size;
  v->trainable = trainable;
  v->init = init;
  v->fan_in = fan_in;
  v->fan_out = fan_out;
  s->size += (v->count + 15) & ~(size_t)15;
  if (trainable) s->trainable += v->count;
  *index = s->n++;
  return TV_OK;
}

static float *slab(size_t n) {
  size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
  float *p = aligned_alloc(64, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

int tv_varstore_seal(tv_varstore *s) {
  if (s->sealed) return TV_OK;
  s->values = slab(s->size);
  s->grads = slab(s->size);
  if (!s->values || !s->grads) {
    free(s->values);
    free(s->grads);
    s->values = s->grads = NULL;
    return tv_error(TV_ERR_NOMEM, "variable store: cannot allocate %zu parameters", s->size);
  }
  for (int i = 0; i < s->n; i++) {
    s->vars[i].value = s->values + s->vars[i].offset;
    s->vars[i].grad = s->grads + s->vars[i].offset;
  }
  s->sealed = 1;
  return TV_OK;
}

void tv_varstore_zero_grads(tv_varstore *s) {
  if (s->grads) memset(s->grads, 0, s->size * sizeof *s->grads);
}

void tv_varstore_init(tv_varstore *s, tv_rng *rng) {
  for (int i = 0; i < s->n; i++) {
    tv_var *v = &s->vars[i];
    switch (v->init) {
    case TV_INIT_ZEROS:
      memset(v->value, 0, v->count * sizeof(float));
      break;
    case TV_INIT_ONES:
      for (size_t k = 0; k < v->count; k++) v->value[k] = 1.0f;
      break;
    case TV_INIT_HE_NORMAL: {
      float sd = sqrtf(2.0f / (float)(v->fan_in > 0 ? v->fan_in : 1));
      for (size_t k = 0; k < v->count; k++) v->value[k] = sd * tv_rng_normal(rng);
      break;
    }
    case TV_INIT_NORMAL:
      for (size_t k = 0; k < v->count; k++) v->value[k] = tv_rng_normal(rng);
      break;
    case TV_INIT_UNIFORM_FAN: {
      float a = 1.0f / sqrtf((float)(v->fan_in > 0 ? v->fan_in : 1));
      for (size_t k = 0; k < v->count; k++) v->value[k] = a * (2.0f * tv_rng_uniform(rng) - 1.0f);
      break;
    }
    }
  }
}

int tv_varstore_count(const tv_varstore *s) { return s->n; }
tv_var *tv_varstore_var(tv_varstore *s, int index) { return &s->vars[index]; }
const tv_var *tv_varstore_cvar(const tv_varstore *s, int index) { return &s->vars[index]; }
size_t tv_varstore_size(const tv_varstore *s) { return s->size; }
size_t tv_varstore_trainable_size(const tv_varstore *s) { return s->trainable; }
float *tv_varstore_values(tv_varstore *s) { return s->values; }
float *tv_varstore_grads(tv_varstore *s) { return s->grads; }
