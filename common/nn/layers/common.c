/* common.c — what the layer files share: config errors naming the layer, variable declaration,
 * element-wise work over the team, a reproducible vectorised sum. */
#include "nn/layers/layer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tv_layer_error(const tv_layer *l, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return tv_error(TV_ERR_CONFIG, "%s:%d:%d: layer %s: %s", l->source, l->cfg->line, l->cfg->col,
                  l->cfg->name, msg);
}

int tv_layer_declare(tv_layer *l, const char *var, tv_shape shape, int trainable, tv_init_kind init,
                     int fan_in, int fan_out) {
  char name[TV_VAR_NAME_CAP];
  snprintf(name, sizeof name, "%s/%s", l->cfg->name, var);
  int rc = tv_varstore_declare(l->store, name, shape, trainable, init, fan_in, fan_out,
                               &l->vars[l->n_vars]);
  if (rc == TV_OK) l->n_vars++;
  return rc;
}

static void ew_part(void *ctx, int b0, int b1, int t) {
  (void)t;
  const ew_job *j = ctx;
  size_t lo = (size_t)b0 * EW_BLOCK, hi = (size_t)b1 * EW_BLOCK;
  if (hi > j->total) hi = j->total;
  size_t n = hi - lo;
  float *o = j->out + lo;
  const float *a = j->a + lo, *b = j->b ? j->b + lo : NULL, *c = j->c ? j->c + lo : NULL;
  switch (j->op) {
  case EW_RELU:
    tv_relu(o, a, n);
    break; /* a = x */
  case EW_RELU_BACK:
    tv_relu_backward(o, a, b, n, j->acc);
    break; /* a = dy, b = y */
  case EW_LEAKY:
    tv_leaky_relu(o, a, n, j->alpha);
    break; /* a = x */
  case EW_LEAKY_BACK:
    tv_leaky_relu_backward(o, a, b, n, j->alpha, j->acc);
    break; /* b = x */
  case EW_ELU:
    tv_elu(o, a, n, j->alpha);
    break;
  case EW_ELU_BACK:
    tv_elu_backward(o, a, b, c, n, j->alpha, j->acc);
    break; /* b = x, c = y */
  case EW_GELU:
    tv_gelu(o, a, n);
    break;
  case EW_GELU_BACK:
    tv_gelu_backward(o, a, b, n, j->acc);
    break; /* b = x */
  case EW_SIGMOID:
    tv_sigmoid(o, a, n);
    break;
  case EW_SIGMOID_BACK:
    tv_sigmoid_backward(o, a, b, n, j->acc);
    break; /* b = y */
  case EW_TANH:
    tv_tanh(o, a, n);
    break;
  case EW_TANH_BACK:
    tv_tanh_backward(o, a, b, n, j->acc);
    break; /* b = y */
  case EW_MUL:
    tv_mul(o, a, b, n, j->acc);
    break; /* a = x, b = mask */
  case EW_ADD:
    tv_add(o, a, n, j->acc);
    break;
  }
}

void tv_layer_ew(const tv_layer *l, ew_job j) {
  tv_pool_for(l->pool, (int)((j.total + EW_BLOCK - 1) / EW_BLOCK), ew_part, &j);
}

/* (see layer.h) */
TV_VECTOR float tv_layer_sum16(const float *x, size_t n) {
  float acc[16] = {0};
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; k++) acc[k] += x[i + k];
  float s = 0.0f;
  for (int k = 0; k < 16; k++) s += acc[k];
  for (; i < n; i++) s += x[i];
  return s;
}
