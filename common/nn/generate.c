/* generate.c — the generation graph and sampling (see generate.h). */
#include "trainval/generate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tv_generator_new(const tv_config *cfg, tv_varstore *store, tv_pool *team, tv_model **out) {
  *out = NULL;
  if (!tv_config_is_sequence(cfg))
    return tv_error(TV_ERR_CONFIG, "%s: not a token model (its first layer is no embedding)",
                    cfg->source);
  tv_config *one = malloc(sizeof *one);
  if (!one) return tv_error(TV_ERR_NOMEM, "generate: out of memory");
  *one = *cfg;
  one->model.input[0] = 1; /* one step per forward: the state carries the rest */
  int rc = tv_model_new(one, TV_MODE_INFER, 1, store, team, out);
  free(one);
  return rc;
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

int tv_generate(tv_model *gen, const tv_vocab *v, const char *prompt, size_t n,
                const tv_sample_opts *o, char *out) {
  if (!(o->temperature >= 0))
    return tv_error(TV_ERR_INVALID, "generate: temperature must be >= 0, got %g", o->temperature);
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
  tv_model_reset_state(gen);
  tv_rng r = tv_rng_seed(o->seed, TV_RNG_SAMPLE);
  int32_t id = v->ids['\n'] >= 0 ? v->ids['\n'] : 0;
  const float *z = NULL;
  for (size_t i = 0; i < plen; i++) {
    id = v->ids[(uint8_t)prompt[i]];
    z = tv_model_forward_ids(gen, &id, 1);
  }
  if (!plen) z = tv_model_forward_ids(gen, &id, 1);
  for (size_t k = 0; k < n; k++) {
    id = tv_sample(z, v->size, o->temperature, o->top_k, &r);
    out[k] = (char)v->bytes[id];
    if (k + 1 < n) z = tv_model_forward_ids(gen, &id, 1);
  }
  return TV_OK;
}
