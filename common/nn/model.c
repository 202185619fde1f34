/* model.c — graph construction and execution over a variable store (see model.h).
 * Invariants: layers are in config order, which is a topological order (inputs name earlier
 * layers only); root[i] is the node whose buffers layer i's output shares (itself unless the
 * layer aliases its input, as flatten does); y[root], dy[root] and every layer's keep scratch
 * are slices of one arena, the shared temp scratch another; logits is the node whose output
 * tv_model_forward returns and whose gradient the loss writes (the last layer, or the input of
 * a trailing softmax). */
#include "trainval/model.h"

#include <stdint.h>
#include <stdio.h>
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
  /* 1 if d(loss)/d(layer i's output) reaches a trainable variable: layer i or one it reads,
   * transitively, has one.  A backward that feeds no variable (a gradient w.r.t. the model
   * input, through a flatten of it, say) is skipped. */
  int need_grad[TV_MAX_LAYERS];
  float *arena;
  float *temp;    /* shared scratch: the largest temp_floats of any layer */
  const float *x; /* the current input batch */
  int input_size, num_classes;
  int output_size; /* floats per example of the logits: num_classes, or T * num_classes */
  float *ids;      /* tv_model_forward_ids: the ids as floats (max_batch * input_size) */
  int logits;      /* node of the logits */
  tv_varstore *store;
  tv_rng rng;    /* dropout */
  tv_pool *pool; /* the process's team, borrowed (NULL: the caller's thread alone) */
  /* tv_model_set_backward_hook: called after layer i's backward with ready_from[i] */
  tv_backward_hook hook;
  void *hook_arg;
  size_t ready_from[TV_MAX_LAYERS];
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
  if (node < 0) return tv_config_input_shape(&m->cfg);
  return m->layers[node].out;
}

/* The layer that layer i takes as input k, by name (-1: the model input, -2: none); no errors
 * (resolve_inputs reports them). */
static int input_of(const tv_model *m, int i, int k) {
  const tv_layer_config *lc = &m->cfg.model.layers[i];
  if (lc->n_inputs == 0) return k == 0 ? i - 1 : -2;
  if (k >= lc->n_inputs) return -2;
  if (strcmp(lc->inputs[k], "input") == 0) return -1;
  for (int j = 0; j < i; j++)
    if (strcmp(m->cfg.model.layers[j].name, lc->inputs[k]) == 0) return j;
  return -2;
}

/* Layers that read node i's output. */
static int consumers_of(const tv_model *m, int i) {
  int n = 0;
  for (int j = i + 1; j < m->n_layers; j++)
    for (int k = 0; k < TV_MAX_INPUTS; k++) n += input_of(m, j, k) == i;
  return n;
}

/* fuse[i] = 1 for a relu folded into a neighbour, its own pass gone: into the dense layer it
 * reads when that dense has no other consumer (the gemm's epilogue applies it, the dense's
 * backward masks its gradient; nobody sees the pre-activation), else into a max_pool2d that is
 * its only consumer (max and relu commute, so the pool applies the relu to its smaller output).
 * Not for the last layer or a relu of the model input. */
static void plan_fusion(const tv_model *m, int *fuse) {
  for (int i = 0; i < m->n_layers - 1; i++) {
    fuse[i] = 0;
    int src = input_of(m, i, 0);
    if (m->cfg.model.layers[i].kind != TV_LAYER_RELU || src < 0) continue;
    if (m->cfg.model.layers[src].kind == TV_LAYER_DENSE && consumers_of(m, src) == 1) {
      fuse[i] = 1;
      continue;
    }
    int pool = 0;
    for (int j = i + 1; j < m->n_layers; j++)
      for (int k = 0; k < TV_MAX_INPUTS; k++)
        if (input_of(m, j, k) == i) pool = m->cfg.model.layers[j].kind == TV_LAYER_MAX_POOL2D;
    fuse[i] = consumers_of(m, i) == 1 && pool;
  }
  fuse[m->n_layers - 1] = 0;
}

/* Elements one example's activation may hold: every size product a layer's build forms (int
 * loops over H*W*C, conv geometry) stays far inside int, and max_batch times it inside size_t.  A
 * crafted config (a checkpoint's, input [1, 65536, 65536]) is refused here, before any product
 * overflows. */
#define MAX_EXAMPLE_ELEMS ((int64_t)1 << 28)

/* 1 if every dimension of s is in [1, MAX_EXAMPLE_ELEMS] and so is their product. */
static int sane_shape(tv_shape s) {
  int64_t n = 1;
  for (int i = 0; i < s.ndim; i++) {
    if (s.dim[i] < 1 || s.dim[i] > MAX_EXAMPLE_ELEMS) return 0;
    n *= s.dim[i];
    if (n > MAX_EXAMPLE_ELEMS) return 0;
  }
  return 1;
}

static int too_large(const tv_model *m, const tv_layer *l, tv_shape s, const char *what) {
  char b[96];
  if (!l)
    return tv_error(TV_ERR_CONFIG, "%s: model.input %s: more than %lld values per example",
                    m->cfg.source, tv_shape_str(s, b, sizeof b), (long long)MAX_EXAMPLE_ELEMS);
  return tv_error(TV_ERR_CONFIG, "%s:%d:%d: layer %s: %s %s: more than %lld values per example",
                  m->cfg.source, l->cfg->line, l->cfg->col, l->cfg->name, what,
                  tv_shape_str(s, b, sizeof b), (long long)MAX_EXAMPLE_ELEMS);
}

static int build_layers(tv_model *m) {
  int used[TV_MAX_LAYERS] = {0}, fuse[TV_MAX_LAYERS];
  plan_fusion(m, fuse);
  for (int i = 0; i < m->n_layers; i++) {
    tv_layer *l = &m->layers[i];
    l->cfg = &m->cfg.model.layers[i];
    l->source = m->cfg.source;
    l->mode = m->mode;
    l->store = m->store;
    l->max_batch = m->max_batch;
    l->rng = &m->rng;
    l->pool = m->pool;
    l->threads = tv_pool_threads(m->pool);
    m->ops[i] = tv_layer_ops_for(l->cfg->kind);
    int rc = resolve_inputs(m, i);
    if (rc != TV_OK) return rc;
    for (int k = 0; k < l->n_inputs; k++) {
      l->in[k] = node_shape(m, l->inputs[k]);
      if (l->inputs[k] >= 0) used[l->inputs[k]] = 1;
    }
    l->fused_relu = l->cfg->kind == TV_LAYER_MAX_POOL2D && l->inputs[0] >= 0 && fuse[l->inputs[0]];
    /* a dense whose one consumer is a fused relu applies it (plan_fusion) */
    for (int j = i + 1; j < m->n_layers && l->cfg->kind == TV_LAYER_DENSE; j++)
      if (fuse[j] && input_of(m, j, 0) == i) l->fused_relu = 1;
    rc = m->ops[i]->build(l);
    if (rc != TV_OK) return rc;
    if (!sane_shape(l->out)) return too_large(m, l, l->out, "output");
    if (fuse[i]) l->aliases_input = 1; /* its pool applies it */
    m->root[i] = (l->aliases_input && l->inputs[0] >= 0) ? m->root[l->inputs[0]] : i;
    m->need_grad[i] = 0;
    for (int k = 0; k < l->n_vars; k++)
      m->need_grad[i] |= tv_varstore_cvar(m->store, l->vars[k])->trainable;
    for (int k = 0; k < l->n_inputs; k++)
      if (l->inputs[k] >= 0) m->need_grad[i] |= m->need_grad[l->inputs[k]];
  }
  const tv_layer *last = &m->layers[m->n_layers - 1];
  m->logits = m->n_layers - 1;
  if (last->cfg->kind == TV_LAYER_SOFTMAX) {
    m->logits = last->inputs[0];
    if (m->logits < 0)
      return tv_error(TV_ERR_CONFIG,
                      "%s:%d:%d: layer %s: a softmax output layer needs a layer before it "
                      "(its input are the logits)",
                      m->cfg.source, last->cfg->line, last->cfg->col, last->cfg->name);
  }
  for (int i = 0; i < m->n_layers - 1; i++)
    if (!used[i])
      return tv_error(TV_ERR_CONFIG, "%s:%d:%d: layer %s: its output is never used", m->cfg.source,
                      m->layers[i].cfg->line, m->layers[i].cfg->col, m->layers[i].cfg->name);
  int per_token = tv_config_is_sequence(&m->cfg) && last->out.ndim == 2; /* (T, classes) */
  if ((last->out.ndim != 1 && !per_token) || last->out.dim[last->out.ndim - 1] != m->num_classes) {
    char s[64];
    return tv_error(TV_ERR_CONFIG,
                    "%s:%d:%d: layer %s: the last layer gives %s per example, "
                    "but model.num_classes is %d",
                    m->cfg.source, last->cfg->line, last->cfg->col, last->cfg->name,
                    tv_shape_str(last->out, s, sizeof s), m->num_classes);
  }
  return TV_OK;
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

static float *alloc_floats(size_t n) {
  size_t bytes = round16(n ? n : 16) * sizeof(float); /* aligned_alloc: a multiple of 64 */
  float *p = aligned_alloc(64, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

/* One arena for outputs, output gradients (TRAIN) and keep scratch; one shared temp.  A layer
 * that aliases the model input has no output buffer of its own but, in TRAIN, a gradient one
 * (its consumers write there; nothing reads it).  This gives each layer's offsets (outputs,
 * gradients, keep, carried state) and the arena's and the temp's sizes in floats; alloc_arena
 * allocates them. */
static void arena_layout(const tv_model *m, size_t *arena, size_t *scratch, size_t *y_off,
                         size_t *dy_off, size_t *k_off, size_t *s_off) {
  size_t total = 0, temp = 0;
  int train = m->mode == TV_MODE_TRAIN;
  for (int i = 0; i < m->n_layers; i++) {
    const tv_layer *l = &m->layers[i];
    size_t one = round16((size_t)m->max_batch * tv_shape_count(l->out));
    y_off[i] = dy_off[i] = SIZE_MAX;
    if (m->root[i] == i && !l->aliases_input) {
      y_off[i] = total;
      total += one;
    }
    if (m->root[i] == i && train) {
      dy_off[i] = total;
      total += one;
    }
    k_off[i] = total;
    total += round16(l->keep_floats);
    s_off[i] = total;
    total += round16(l->state_floats);
    if (l->temp_floats > temp) temp = l->temp_floats;
  }
  *arena = total;
  *scratch = temp;
}

static int alloc_arena(tv_model *m) {
  size_t total, temp, y_off[TV_MAX_LAYERS], dy_off[TV_MAX_LAYERS], k_off[TV_MAX_LAYERS],
      s_off[TV_MAX_LAYERS];
  arena_layout(m, &total, &temp, y_off, dy_off, k_off, s_off);
  m->arena = alloc_floats(total);
  m->temp = alloc_floats(temp);
  if (tv_config_is_sequence(&m->cfg))
    m->ids = alloc_floats((size_t)m->max_batch * (size_t)m->input_size);
  if (!m->arena || !m->temp || (tv_config_is_sequence(&m->cfg) && !m->ids))
    return tv_error(TV_ERR_NOMEM, "model: cannot allocate %zu activations and %zu scratch", total,
                    temp);
  for (int i = 0; i < m->n_layers; i++) {
    tv_layer *l = &m->layers[i];
    if (y_off[i] != SIZE_MAX) m->y[i] = m->arena + y_off[i];
    if (dy_off[i] != SIZE_MAX) m->dy[i] = m->arena + dy_off[i];
    l->keep = l->keep_floats ? m->arena + k_off[i] : NULL;
    l->temp = l->temp_floats ? m->temp : NULL;
    l->state = l->state_floats ? m->arena + s_off[i] : NULL;
  }
  return TV_OK;
}

/* tv_model_new up to the arena: the layers built, their variables declared in store. */
static int model_build(const tv_config *cfg, tv_mode mode, int max_batch, tv_varstore *store,
                       tv_pool *team, tv_model **out) {
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
  m->rng = tv_rng_seed(cfg->train.seed, TV_RNG_DROPOUT);
  m->pool = team;
  tv_shape in = tv_config_input_shape(cfg);
  int rc = sane_shape(in) ? TV_OK : too_large(m, NULL, in, "");
  if (rc == TV_OK) m->input_size = (int)tv_shape_count(in);
  if (rc == TV_OK) rc = build_layers(m);
  if (rc == TV_OK) m->output_size = (int)tv_shape_count(node_shape(m, m->logits));
  if (rc != TV_OK) {
    tv_model_free(m);
    return rc;
  }
  *out = m;
  return TV_OK;
}

int tv_model_new(const tv_config *cfg, tv_mode mode, int max_batch, tv_varstore *store,
                 tv_pool *team, tv_model **out) {
  int rc = model_build(cfg, mode, max_batch, store, team, out);
  if (rc == TV_OK && (rc = alloc_arena(*out)) != TV_OK) {
    tv_model_free(*out);
    *out = NULL;
  }
  return rc;
}

int tv_model_plan(const tv_config *cfg, tv_mode mode, int max_batch, tv_varstore *store,
                  tv_pool *team, size_t *bytes) {
  *bytes = 0;
  tv_model *m;
  int rc = model_build(cfg, mode, max_batch, store, team, &m);
  if (rc != TV_OK) return rc;
  size_t total, temp, y_off[TV_MAX_LAYERS], dy_off[TV_MAX_LAYERS], k_off[TV_MAX_LAYERS],
      s_off[TV_MAX_LAYERS];
  arena_layout(m, &total, &temp, y_off, dy_off, k_off, s_off);
  *bytes = (total + temp + (tv_config_is_sequence(cfg) ? (size_t)max_batch * m->input_size : 0)) *
           sizeof(float);
  tv_model_free(m);
  return TV_OK;
}

void tv_model_free(tv_model *m) {
  if (!m) return;
  free(m->arena);
  free(m->temp);
  free(m->ids);
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
  return node_out(m, m->logits);
}

const float *tv_model_forward_ids(tv_model *m, const int32_t *ids, int n) {
  size_t count = (size_t)n * (size_t)m->input_size;
  for (size_t k = 0; k < count; k++) m->ids[k] = (float)ids[k];
  return tv_model_forward(m, m->ids, n);
}

const float *tv_model_logits(const tv_model *m) { return node_out(m, m->logits); }

const float *tv_model_outputs(const tv_model *m) { return node_out(m, m->n_layers - 1); }

const float *tv_model_layer_output(const tv_model *m, int i) { return node_out(m, i); }

float *tv_model_output_grad(tv_model *m) {
  return m->mode == TV_MODE_TRAIN ? m->dy[m->root[m->logits]] : NULL;
}

void tv_model_backward(tv_model *m, const float *dy, int n) {
  int top = m->logits;
  float *dtop = m->dy[m->root[top]];
  if (dy != dtop) memcpy(dtop, dy, (size_t)n * m->output_size * sizeof *dtop);
  memset(m->written, 0, sizeof m->written);
  m->written[m->root[top]] = 1;
  for (int i = top; i >= 0; i--) {
    tv_layer *l = &m->layers[i];
    if (l->aliases_input) continue;
    if (!m->need_grad[i]) { /* nothing below it learns */
      if (m->hook) m->hook(m->hook_arg, m->ready_from[i]);
      continue;
    }
    const float *in[TV_MAX_INPUTS];
    float *dx[TV_MAX_INPUTS];
    int acc[TV_MAX_INPUTS];
    for (int k = 0; k < l->n_inputs; k++) {
      int src = l->inputs[k];
      in[k] = node_out(m, src);
      dx[k] = src < 0 || !m->need_grad[src] ? NULL : m->dy[m->root[src]];
      acc[k] = src < 0 ? 0 : m->written[m->root[src]];
      for (int j = 0; j < k && src >= 0 && !acc[k]; j++) /* add [a, a]: the second adds */
        acc[k] = l->inputs[j] >= 0 && m->root[l->inputs[j]] == m->root[src];
    }
    m->ops[i]->backward(l, n, in, m->y[i], m->dy[i], dx, acc);
    for (int k = 0; k < l->n_inputs; k++)
      if (l->inputs[k] >= 0) m->written[m->root[l->inputs[k]]] = 1;
    if (m->hook) m->hook(m->hook_arg, m->ready_from[i]);
  }
}

void tv_model_set_backward_hook(tv_model *m, tv_backward_hook fn, void *arg) {
  m->hook = fn;
  m->hook_arg = arg;
  /* After layer i, only layers j < i still add to gradients: everything past their last
   * variable's end is final. */
  size_t end = 0;
  for (int i = 0; i < m->n_layers; i++) {
    m->ready_from[i] = end;
    const tv_layer *l = &m->layers[i];
    for (int k = 0; k < l->n_vars; k++) {
      const tv_var *v = tv_varstore_cvar(m->store, l->vars[k]);
      if (v->offset + v->count > end) end = v->offset + v->count;
    }
  }
}

tv_mode tv_model_mode(const tv_model *m) { return m->mode; }
int tv_model_max_batch(const tv_model *m) { return m->max_batch; }
int tv_model_input_size(const tv_model *m) { return m->input_size; }
int tv_model_num_classes(const tv_model *m) { return m->num_classes; }
int tv_model_output_size(const tv_model *m) { return m->output_size; }
int tv_model_steps(const tv_model *m) {
  return tv_config_is_sequence(&m->cfg) ? m->cfg.model.input[0] : 1;
}

void tv_model_reset_state(tv_model *m) {
  for (int i = 0; i < m->n_layers; i++)
    if (m->layers[i].state)
      memset(m->layers[i].state, 0, m->layers[i].state_floats * sizeof(float));
}

size_t tv_model_state_floats(const tv_model *m) {
  size_t n = 0;
  for (int i = 0; i < m->n_layers; i++) n += m->layers[i].state_floats;
  return n;
}

void tv_model_get_state(const tv_model *m, float *dst) {
  for (int i = 0; i < m->n_layers; i++) {
    const tv_layer *l = &m->layers[i];
    if (!l->state_floats) continue;
    memcpy(dst, l->state, l->state_floats * sizeof *dst);
    dst += l->state_floats;
  }
}

void tv_model_set_state(tv_model *m, const float *src) {
  for (int i = 0; i < m->n_layers; i++) {
    tv_layer *l = &m->layers[i];
    if (!l->state_floats) continue;
    memcpy(l->state, src, l->state_floats * sizeof *src);
    src += l->state_floats;
  }
}
int tv_model_num_layers(const tv_model *m) { return m->n_layers; }
tv_rng tv_model_rng(const tv_model *m) { return m->rng; }
void tv_model_set_rng(tv_model *m, tv_rng rng) { m->rng = rng; }

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

/* ---- checkpoint state (model.h) ----------------------------------------------------------- */

/* "/state/carry/<layer>" for layer i; 0 when it does not fit. */
static int carry_path(const tv_model *m, int i, char *path, size_t cap) {
  int k = snprintf(path, cap, "/state/carry/%s", m->layers[i].cfg->name);
  return k > 0 && (size_t)k < cap;
}

int tv_model_ckpt_write(const tv_model *m, tv_ckpt_writer *w) {
  tv_ckpt_array a = {
      .path = "/state/dropout_rng", .dtype = TV_CKPT_U64, .count = 4, .data = m->rng.s};
  int rc = tv_ckpt_writer_array(w, &a);
  for (int i = 0; i < m->n_layers && rc == TV_OK; i++) {
    const tv_layer *l = &m->layers[i];
    char path[TV_NAME_CAP + 32];
    if (!l->state_floats || !carry_path(m, i, path, sizeof path)) continue;
    tv_ckpt_array s = {
        .path = path, .dtype = TV_CKPT_F32, .count = l->state_floats, .data = l->state};
    rc = tv_ckpt_writer_array(w, &s);
  }
  return rc;
}

/* Floats of one segment of a layer's carried state (gru: h; lstm: h, then c): max_batch x H. */
static size_t carry_segment(const tv_layer *l) {
  return (size_t)l->max_batch * (size_t)l->cfg->hidden;
}

int tv_model_ckpt_write_parts(const tv_model *m, tv_ckpt_writer *w, const float *parts, int p) {
  tv_ckpt_array a = {
      .path = "/state/dropout_rng", .dtype = TV_CKPT_U64, .count = 4, .data = m->rng.s};
  int rc = tv_ckpt_writer_array(w, &a);
  size_t total = tv_model_state_floats(m), at = 0;
  float *glob = NULL;
  if (rc == TV_OK && total && !(glob = malloc(total * (size_t)p * sizeof *glob)))
    rc = tv_error(TV_ERR_NOMEM, "model: cannot allocate %zu floats of carried state", total);
  for (int i = 0; i < m->n_layers && rc == TV_OK; i++) {
    const tv_layer *l = &m->layers[i];
    char path[TV_NAME_CAP + 32];
    if (!l->state_floats) continue;
    size_t z = carry_segment(l), segs = l->state_floats / z, o = 0;
    for (size_t g = 0; g < segs; g++) /* segment g of every part, in part order */
      for (int q = 0; q < p; q++, o += z)
        memcpy(glob + o, parts + (size_t)q * total + at + g * z, z * sizeof *glob);
    at += l->state_floats;
    if (!carry_path(m, i, path, sizeof path)) continue;
    tv_ckpt_array s = {
        .path = path, .dtype = TV_CKPT_F32, .count = l->state_floats * (size_t)p, .data = glob};
    rc = tv_ckpt_writer_array(w, &s);
  }
  free(glob);
  return rc;
}

int tv_model_ckpt_read(tv_model *m, tv_ckpt *c) { return tv_model_ckpt_read_part(m, c, 0, 1); }

int tv_model_ckpt_read_part(tv_model *m, tv_ckpt *c, int part, int p) {
  tv_rng r;
  int rc = tv_ckpt_read_array(c, "/state/dropout_rng", TV_CKPT_U64, 4, r.s);
  size_t total = tv_model_state_floats(m) * (size_t)p, at = 0;
  float *saved = NULL;
  if (rc == TV_OK && total && !(saved = malloc(total * sizeof *saved)))
    rc = tv_error(TV_ERR_NOMEM, "model: cannot allocate %zu floats of carried state", total);
  /* every carried state is read before any is changed, so a failure leaves m unchanged */
  for (int i = 0; i < m->n_layers && rc == TV_OK; i++) {
    const tv_layer *l = &m->layers[i];
    char path[TV_NAME_CAP + 32];
    if (!l->state_floats || !carry_path(m, i, path, sizeof path)) continue;
    rc = tv_ckpt_read_array(c, path, TV_CKPT_F32, l->state_floats * (size_t)p, saved + at);
    at += l->state_floats * (size_t)p;
  }
  if (rc == TV_OK) {
    m->rng = r;
    at = 0;
    for (int i = 0; i < m->n_layers; i++) {
      tv_layer *l = &m->layers[i];
      char path[TV_NAME_CAP + 32];
      if (!l->state_floats || !carry_path(m, i, path, sizeof path)) continue;
      size_t z = carry_segment(l), segs = l->state_floats / z;
      for (size_t g = 0; g < segs; g++) /* this part's rows of segment g */
        memcpy(l->state + g * z, saved + at + (g * (size_t)p + (size_t)part) * z,
               z * sizeof *saved);
      at += l->state_floats * (size_t)p;
    }
  }
  free(saved);
  return rc;
}
