/* model.c — graph construction and execution over a variable store (see model.h).
 * Invariants: layers are in config order, which is a topological order (inputs name earlier
 * layers only); root[i] is the node whose buffers layer i's output shares (itself unless the
 * layer aliases its input, as flatten does); y[root] and dy[root] are slices of one arena. */
#include "trainval/model.h"

#include <stdlib.h>
#include <string.h>

#include "trainval/ops.h"

struct tv_model {
  tv_config cfg;
  tv_mode mode;
  int max_batch;
  int n_layers;
  tv_layer layers[TV_MAX_LAYERS];
  const tv_layer_ops *ops[TV_MAX_LAYERS];
  int root[TV_MAX_LAYERS];
  float *y[TV_MAX_LAYERS];  /* outputs, by root */
  float *dy[TV_MAX_LAYERS]; /* gradients of the outputs, by root (TRAIN) */
  int written[TV_MAX_LAYERS];
  float *arena;
  const float *x; /* the current input batch */
  int input_size, num_classes;
  tv_varstore *store;
};

static int resolve_inputs(tv_model *m, int i) {
  tv_layer *l = &m->layers[i];
  const tv_layer_config *lc = l->cfg;
  if (lc->n_inputs == 0) {
    l->n_inputs = 1;
    l->inputs[0] = i - 1;
    return TV_OK;
  }
  l->n_inputs = lc->n_inputs;
  for (int k = 0; k < lc->n_inputs; k++) {
    int found = strcmp(lc->inputs[k], "input") == 0 ? -1 : -2;
    for (int j = 0; j < i && found == -2; j++)
      if (strcmp(m->cfg.model.layers[j].name, lc->inputs[k]) == 0) found = j;
    if (found == -2)
      return tv_error(TV_ERR_CONFIG, "%s:%d:%d: layer %s: input '%s' is not an earlier layer",
                      m->cfg.source, lc->line, lc->col, lc->name, lc->inputs[k]);
    l->inputs[k] = found;
  }
  return TV_OK;
}

static tv_shape node_shape(const tv_model *m, int node) {
  if (node < 0)
    return tv_shape3(m->cfg.model.input[0], m->cfg.model.input[1], m->cfg.model.input[2]);
  return m->layers[node].out;
}

static int build_layers(tv_model *m) {
  int used[TV_MAX_LAYERS] = {0};
  for (int i = 0; i < m->n_layers; i++) {
    tv_layer *l = &m->layers[i];
    l->cfg = &m->cfg.model.layers[i];
    l->source = m->cfg.source;
    l->mode = m->mode;
    l->store = m->store;
    m->ops[i] = tv_layer_ops_for(l->cfg->kind);
    int rc = resolve_inputs(m, i);
    if (rc != TV_OK) return rc;
    for (int k = 0; k < l->n_inputs; k++) {
      l->in[k] = node_shape(m, l->inputs[k]);
      if (l->inputs[k] >= 0) used[l->inputs[k]] = 1;
    }
    rc = m->ops[i]->build(l);
    if (rc != TV_OK) return rc;
    m->root[i] = (l->aliases_input && l->inputs[0] >= 0) ? m->root[l->inputs[0]] : i;
  }
  const tv_layer *last = &m->layers[m->n_layers - 1];
  for (int i = 0; i < m->n_layers - 1; i++)
    if (!used[i])
      return tv_error(TV_ERR_CONFIG, "%s:%d:%d: layer %s: its output is never used", m->cfg.source,
                      m->layers[i].cfg->line, m->layers[i].cfg->col, m->layers[i].cfg->name);
  if (last->out.ndim != 1 || last->out.dim[0] != m->num_classes) {
    char s[64];
    return tv_error(TV_ERR_CONFIG,
                    "%s:%d:%d: layer %s: the last layer gives %s per example, "
                    "but model.num_classes is %d",
                    m->cfg.source, last->cfg->line, last->cfg->col, last->cfg->name,
                    tv_shape_str(last->out, s, sizeof s), m->num_classes);
  }
  return TV_OK;
}

static int alloc_arena(tv_model *m) {
  size_t total = 0, off[TV_MAX_LAYERS];
  int bufs = m->mode == TV_MODE_TRAIN ? 2 : 1;
  for (int i = 0; i < m->n_layers; i++) {
    off[i] = total;
    if (m->root[i] == i && !m->layers[i].aliases_input)
      total += bufs * ((m->max_batch * tv_shape_count(m->layers[i].out) + 15) & ~(size_t)15);
  }
  m->arena = aligned_alloc(64, (total ? total : 16) * sizeof(float));
  if (!m->arena) return tv_error(TV_ERR_NOMEM, "model: cannot allocate %zu activations", total);
  memset(m->arena, 0, (total ? total : 16) * sizeof(float));
  for (int i = 0; i < m->n_layers; i++) {
    if (m->root[i] != i || m->layers[i].aliases_input) continue;
    size_t one = (m->max_batch * tv_shape_count(m->layers[i].out) + 15) & ~(size_t)15;
    m->y[i] = m->arena + off[i];
    if (bufs == 2) m->dy[i] = m->arena + off[i] + one;
  }
  return TV_OK;
}

int tv_model_new(const tv_config *cfg, tv_mode mode, int max_batch, tv_varstore *store,
                 tv_model **out) {
  *out = NULL;
  if (cfg->model.n_layers < 1 || cfg->model.n_layers > TV_MAX_LAYERS)
    return tv_error(TV_ERR_CONFIG, "%s: model.layers: needs 1 to %d layers", cfg->source,
                    TV_MAX_LAYERS);
  if (max_batch < 1) return tv_error(TV_ERR_INVALID, "model: max_batch must be >= 1");
  tv_model *m = calloc(1, sizeof *m);
  if (!m) return tv_error(TV_ERR_NOMEM, "model: out of memory");
  m->cfg = *cfg;
  m->mode = mode;
  m->max_batch = max_batch;
  m->n_layers = cfg->model.n_layers;
  m->store = store;
  m->num_classes = cfg->model.num_classes;
  m->input_size = cfg->model.input[0] * cfg->model.input[1] * cfg->model.input[2];
  int rc = build_layers(m);
  if (rc == TV_OK) rc = alloc_arena(m);
  if (rc != TV_OK) {
    tv_model_free(m);
    return rc;
  }
  *out = m;
  return TV_OK;
}

void tv_model_free(tv_model *m) {
  if (!m) return;
  free(m->arena);
  free(m);
}

static const float *node_out(const tv_model *m, int node) {
  return node < 0 ? m->x : m->y[m->root[node]];
}

const float *tv_model_forward(tv_model *m, const float *x, int n) {
  m->x = x;
  for (int i = 0; i < m->n_layers; i++) {
    tv_layer *l = &m->layers[i];
    const float *in[TV_MAX_INPUTS];
    for (int k = 0; k < l->n_inputs; k++) in[k] = node_out(m, l->inputs[k]);
    if (l->aliases_input) {
      if (l->inputs[0] < 0) m->y[i] = (float *)x; /* aliasing the caller's input: read only */
      continue;
    }
    m->ops[i]->forward(l, n, in, m->y[i]);
  }
  return node_out(m, m->n_layers - 1);
}

float tv_model_backward(tv_model *m, const int32_t *labels, int n) {
  int last = m->n_layers - 1;
  memset(m->written, 0, sizeof m->written);
  float loss = tv_softmax_xent(node_out(m, last), labels, n, m->num_classes, m->dy[m->root[last]]);
  m->written[m->root[last]] = 1;
  for (int i = last; i >= 0; i--) {
    tv_layer *l = &m->layers[i];
    if (l->aliases_input) continue;
    const float *in[TV_MAX_INPUTS];
    float *dx[TV_MAX_INPUTS];
    int acc[TV_MAX_INPUTS];
    for (int k = 0; k < l->n_inputs; k++) {
      int src = l->inputs[k];
      in[k] = node_out(m, src);
      dx[k] = src < 0 ? NULL : m->dy[m->root[src]];
      acc[k] = src < 0 ? 0 : m->written[m->root[src]];
    }
    m->ops[i]->backward(l, n, in, m->y[i], m->dy[i], dx, acc);
    for (int k = 0; k < l->n_inputs; k++)
      if (l->inputs[k] >= 0) m->written[m->root[l->inputs[k]]] = 1;
  }
  return loss;
}

tv_mode tv_model_mode(const tv_model *m) { return m->mode; }
int tv_model_max_batch(const tv_model *m) { return m->max_batch; }
int tv_model_input_size(const tv_model *m) { return m->input_size; }
int tv_model_num_classes(const tv_model *m) { return m->num_classes; }
int tv_model_num_layers(const tv_model *m) { return m->n_layers; }

void tv_model_layer_info(const tv_model *m, int i, tv_layer_info *info) {
  const tv_layer *l = &m->layers[i];
  memset(info, 0, sizeof *info);
  info->name = l->cfg->name;
  info->kind = m->ops[i]->name;
  info->out = l->out;
  for (int k = 0; k < l->n_vars; k++) {
    const tv_var *v = tv_varstore_cvar(m->store, l->vars[k]);
    if (v->trainable)
      info->params += v->count;
    else
      info->non_trainable += v->count;
  }
  info->flops = m->ops[i]->flops(l);
}
