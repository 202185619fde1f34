/* emit.c — tv_config -> YAML text through the key tables (schema.h), and the comparisons of two
 * configs (model keys, settings keys) that train uses when a run is resumed.
 *
 * Every value is written by the one YAML stack's rules (base/yamlio.h): strings plain or
 * double-quoted by tv_text_yaml_str, numbers by tv_yaml_f64_str, so what is emitted reads back to
 * an equal struct (tests/test_config.c checks the round trip) and stays valid UTF-8.
 */
#include "config/schema.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DOC_COLUMN = 40 /* where emitted comments start */ };

#define COUNT TV_CFG_COUNT

/* ---- one writer per key type --------------------------------------------------------------- */

/* Each appends the value of key d stored in base as YAML (flow style). */
typedef void (*value_writer)(tv_text *b, const key_desc *d, const void *base);

static int load_int(const void *base, size_t off) {
  int v;
  memcpy(&v, (const char *)base + off, sizeof v);
  return v;
}

static void put_int(tv_text *b, const key_desc *d, const void *base) {
  tv_text_printf(b, "%d", load_int(base, d->off));
}

static void put_bool(tv_text *b, const key_desc *d, const void *base) {
  tv_text_printf(b, "%s", load_int(base, d->off) ? "true" : "false");
}

static void put_enum(tv_text *b, const key_desc *d, const void *base) {
  int v = load_int(base, d->off), n = 0;
  while (d->names[n]) n++;
  tv_text_printf(b, "%s", v >= 0 && v < n ? d->names[v] : "?");
}

static void put_int64(tv_text *b, const key_desc *d, const void *base) {
  int64_t v;
  memcpy(&v, (const char *)base + d->off, sizeof v);
  tv_text_printf(b, "%" PRId64, v);
}

static void put_uint64(tv_text *b, const key_desc *d, const void *base) {
  uint64_t v;
  memcpy(&v, (const char *)base + d->off, sizeof v);
  tv_text_printf(b, "%" PRIu64, v);
}

static void put_double(tv_text *b, const key_desc *d, const void *base) {
  double v;
  memcpy(&v, (const char *)base + d->off, sizeof v);
  if ((d->flags & F_AUTO) && isnan(v)) {
    tv_text_printf(b, "auto");
    return;
  }
  tv_text_yaml_f64(b, v);
}

static void put_string(tv_text *b, const key_desc *d, const void *base) {
  tv_text_yaml_str(b, (const char *)base + d->off, 0);
}

static void put_int_list(tv_text *b, const key_desc *d, const void *base) {
  size_t items = d->cap;
  if (d->flags & F_OR_ONE) { /* one item: the rest were stored as 0, which no item can be */
    int rest = 0;
    for (size_t i = 1; i < d->cap; i++) rest |= load_int(base, d->off + i * sizeof(int));
    if (!rest) items = 1;
  }
  tv_text_printf(b, "[");
  for (size_t i = 0; i < items; i++)
    tv_text_printf(b, "%s%d", i ? ", " : "", load_int(base, d->off + i * sizeof(int)));
  tv_text_printf(b, "]");
}

static void put_name_list(tv_text *b, const key_desc *d, const void *base) {
  int n = load_int(base, d->count_off);
  tv_text_printf(b, "[");
  for (int i = 0; i < n; i++) {
    tv_text_printf(b, "%s", i ? ", " : "");
    tv_text_yaml_str(b, (const char *)base + d->off + (size_t)i * d->elem, 0);
  }
  tv_text_printf(b, "]");
}

/* One integer when both are equal, else [a, b]. */
static void put_pair(tv_text *b, const void *base, size_t off) {
  int v0 = load_int(base, off), v1 = load_int(base, off + sizeof(int));
  if (v0 == v1)
    tv_text_printf(b, "%d", v0);
  else
    tv_text_printf(b, "[%d, %d]", v0, v1);
}

static void put_int_pair(tv_text *b, const key_desc *d, const void *base) {
  put_pair(b, base, d->off);
}

static void put_padding(tv_text *b, const key_desc *d, const void *base) {
  int mode = load_int(base, d->off);
  if (mode == TV_PADDING_VALID || mode == TV_PADDING_SAME)
    tv_text_printf(b, "%s", d->names[mode]);
  else
    put_pair(b, base, d->off2);
}

static void put_double_list(tv_text *b, const key_desc *d, const void *base) {
  int n = load_int(base, d->count_off);
  double v;
  if (n == 0) {
    put_double(b, d, base);
    return;
  }
  tv_text_printf(b, "[");
  for (int i = 0; i < n; i++) {
    memcpy(&v, (const char *)base + d->off2 + (size_t)i * sizeof v, sizeof v);
    tv_text_printf(b, "%s", i ? ", " : "");
    tv_text_yaml_f64(b, v);
  }
  tv_text_printf(b, "]");
}

static void put_layers(tv_text *b, const key_desc *d, const void *base) {
  (void)b, (void)d, (void)base; /* written by emit_layers, with its comments */
}

static const value_writer writers[] = {
    [KEY_INT] = put_int,
    [KEY_INT64] = put_int64,
    [KEY_UINT64] = put_uint64,
    [KEY_DOUBLE] = put_double,
    [KEY_BOOL] = put_bool,
    [KEY_STRING] = put_string,
    [KEY_ENUM] = put_enum,
    [KEY_INT_LIST] = put_int_list,
    [KEY_NAME_LIST] = put_name_list,
    [KEY_LAYERS] = put_layers,
    [KEY_INT_PAIR] = put_int_pair,
    [KEY_PADDING] = put_padding,
    [KEY_DOUBLE_LIST] = put_double_list,
};
_Static_assert(TV_CFG_COUNT(writers) == KEY__COUNT, "one writer per key type");

/* Writes the value of key d stored in base as YAML (flow style): the writer of its type. */
static void put_value(tv_text *b, const key_desc *d, const void *base) {
  writers[d->type](b, d, base);
}

/* ---- emitting ------------------------------------------------------------------------------ */

/* The keys of layer l, the common ones first (name, inputs), then its kind's. */
static int layer_keys(const tv_layer_config *l, int pass, const key_desc **keys) {
  const layer_kind_desc *lk = tv_cfg_layer_kind(l->kind);
  *keys = pass ? lk->keys : tv_cfg_layer_common_keys;
  return pass ? lk->n_keys : tv_cfg_n_layer_common_keys;
}

static void emit_layers(tv_text *b, const tv_config *c) {
  tv_text_printf(b, "  # each layer: type (");
  int tokens = tv_config_is_sequence(c);
  tv_cfg_list_layer_kinds_for(b, tokens);
  tv_text_printf(b, "), name (default <type>_<k>),\n  #   inputs (default: the previous layer)\n");
  for (int k = 0; k < TV_LAYER__COUNT; k++) {
    const layer_kind_desc *lk = tv_cfg_layer_kind((tv_layer_kind)k);
    if (!lk->n_keys || (lk->token_only && !tokens)) continue;
    tv_text_printf(b, "  #   %s also: ", tv_layer_kind_name((tv_layer_kind)k));
    for (int j = 0; j < lk->n_keys; j++)
      tv_text_printf(b, "%s%s (%s)", j ? ", " : "", lk->keys[j].name, lk->keys[j].doc);
    tv_text_printf(b, "\n");
  }
  tv_text_printf(b, "  layers:%s\n", c->model.n_layers ? "" : " []");
  for (int i = 0; i < c->model.n_layers; i++) {
    const tv_layer_config *l = &c->model.layers[i];
    tv_text_printf(b, "    - {type: %s", tv_layer_kind_name(l->kind));
    for (int pass = 0; pass < 2; pass++) {
      const key_desc *keys;
      int n = layer_keys(l, pass, &keys);
      for (int k = 0; k < n; k++) {
        if (keys[k].type == KEY_NAME_LIST) {
          int count;
          memcpy(&count, (const char *)l + keys[k].count_off, sizeof count);
          if (!count) continue; /* the default, spelled by leaving it out */
        }
        tv_text_printf(b, ", %s: ", keys[k].name);
        put_value(b, &keys[k], l);
      }
    }
    tv_text_printf(b, "}\n");
  }
}

static int same_value(const key_desc *d, const void *a, const void *b);

int tv_config_emit(const tv_config *c, char **text, size_t *len) {
  tv_config defaults;
  tv_config_defaults(&defaults);
  tv_text b = {0};
  *text = NULL;
  *len = 0;
  tv_text_printf(&b, "# trainval configuration: every key written out, defaults included.\n");
  for (int s = 0; s < tv_cfg_n_sections; s++) {
    const section_desc *sec = &tv_cfg_sections[s];
    tv_text_printf(&b, "%s:\n", sec->name);
    for (int k = 0; k < sec->n_keys; k++) {
      const key_desc *d = &sec->keys[k];
      if (d->type == KEY_LAYERS) {
        emit_layers(&b, c);
        continue;
      }
      if ((d->flags & F_LATER) && same_value(d, c, &defaults) &&
          !((d->flags & F_TOKEN) && tv_config_is_sequence(c)))
        continue;
      size_t start = b.n;
      tv_text_printf(&b, "  %s: ", d->name);
      put_value(&b, d, c);
      size_t used = b.n - start;
      tv_text_printf(&b, "%*s# %s\n", used + 2 < DOC_COLUMN ? (int)(DOC_COLUMN - used) : 2, "",
                     d->doc);
    }
  }
  int rc = tv_text_check(&b, "config emit");
  if (rc) {
    tv_text_free(&b);
    return rc;
  }
  *text = b.p;
  *len = b.n;
  return TV_OK;
}

static int same_value(const key_desc *d, const void *a, const void *b) {
  const char *fa = (const char *)a + d->off, *fb = (const char *)b + d->off;
  switch (d->type) {
  case KEY_INT:
  case KEY_BOOL:
  case KEY_ENUM:
    return memcmp(fa, fb, sizeof(int)) == 0;
  case KEY_INT64:
  case KEY_UINT64:
    return memcmp(fa, fb, sizeof(int64_t)) == 0;
  case KEY_DOUBLE: {
    double va, vb;
    memcpy(&va, fa, sizeof va);
    memcpy(&vb, fb, sizeof vb);
    return va == vb || (isnan(va) && isnan(vb)); /* NaN: F_AUTO's auto */
  }
  case KEY_STRING:
    return strcmp(fa, fb) == 0;
  case KEY_INT_LIST:
    return memcmp(fa, fb, d->cap * sizeof(int)) == 0;
  case KEY_NAME_LIST: {
    int na, nb;
    memcpy(&na, (const char *)a + d->count_off, sizeof na);
    memcpy(&nb, (const char *)b + d->count_off, sizeof nb);
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
      if (strcmp(fa + (size_t)i * d->elem, fb + (size_t)i * d->elem) != 0) return 0;
    return 1;
  }
  case KEY_INT_PAIR:
    return memcmp(fa, fb, 2 * sizeof(int)) == 0;
  case KEY_PADDING:
    return memcmp(fa, fb, sizeof(int)) == 0 &&
           memcmp((const char *)a + d->off2, (const char *)b + d->off2, 2 * sizeof(int)) == 0;
  case KEY_DOUBLE_LIST: {
    int na, nb;
    double va, vb;
    memcpy(&na, (const char *)a + d->count_off, sizeof na);
    memcpy(&nb, (const char *)b + d->count_off, sizeof nb);
    if (na != nb) return 0;
    for (int i = 0; i < (na ? na : 1); i++) {
      memcpy(&va, (na ? (const char *)a + d->off2 : fa) + (size_t)i * sizeof va, sizeof va);
      memcpy(&vb, (nb ? (const char *)b + d->off2 : fb) + (size_t)i * sizeof vb, sizeof vb);
      if (va != vb) return 0;
    }
    return 1;
  }
  case KEY_LAYERS:
    return 1;
  }
  return 1;
}

/* Appends "; key: <a's value> -> <b's value>" (no "; " before the first) if they differ. */
static void note_diff(tv_text *out, int *same, const key_desc *d, const char *key, const void *a,
                      const void *b) {
  if (same_value(d, a, b)) return;
  tv_text_printf(out, "%s%s: ", *same ? "" : "; ", key);
  put_value(out, d, a);
  tv_text_printf(out, " -> ");
  put_value(out, d, b);
  *same = 0;
}

/* Copies the differences into the caller's diff[cap] (cut to fit) and frees them. */
static void hand_over(tv_text *out, char *diff, size_t cap) {
  if (diff && cap) snprintf(diff, cap, "%s", out->p && !out->oom ? out->p : "");
  tv_text_free(out);
}

int tv_config_same_settings(const tv_config *a, const tv_config *b, char *diff, size_t cap) {
  tv_text out = {0};
  char key[160];
  int same = 1;
  for (int s = 0; s < tv_cfg_n_sections; s++) {
    const section_desc *sec = &tv_cfg_sections[s];
    if (strcmp(sec->name, "model") == 0) continue;
    for (int k = 0; k < sec->n_keys; k++) {
      const key_desc *d = &sec->keys[k];
      if (d->flags & F_MODEL) continue;
      snprintf(key, sizeof key, "%s.%s", sec->name, d->name);
      note_diff(&out, &same, d, key, a, b);
    }
  }
  hand_over(&out, diff, cap);
  return same;
}

int tv_config_same_model(const tv_config *a, const tv_config *b, char *diff, size_t cap) {
  tv_text out = {0};
  char key[160];
  int same = 1;
  const section_desc *model = tv_cfg_find_section("model");
  for (int k = 0; k < model->n_keys; k++) {
    const key_desc *d = &model->keys[k];
    if (!(d->flags & F_MODEL) || d->type == KEY_LAYERS) continue;
    snprintf(key, sizeof key, "model.%s", d->name);
    note_diff(&out, &same, d, key, a, b);
  }
  int na = a->model.n_layers, nb = b->model.n_layers;
  if (na != nb) {
    tv_text_printf(&out, "%smodel.layers: %d layers -> %d layers", same ? "" : "; ", na, nb);
    same = 0;
  }
  for (int i = 0; i < na && i < nb; i++) {
    const tv_layer_config *la = &a->model.layers[i], *lb = &b->model.layers[i];
    if (la->kind != lb->kind) {
      tv_text_printf(&out, "%smodel.layers[%d].type: %s -> %s", same ? "" : "; ", i,
                     tv_layer_kind_name(la->kind), tv_layer_kind_name(lb->kind));
      same = 0;
      continue;
    }
    for (int pass = 0; pass < 2; pass++) {
      const key_desc *keys;
      int n = layer_keys(la, pass, &keys);
      for (int k = 0; k < n; k++) {
        if (!(keys[k].flags & F_MODEL)) continue;
        snprintf(key, sizeof key, "model.layers[%d].%s", i, keys[k].name);
        note_diff(&out, &same, &keys[k], key, la, lb);
      }
    }
  }
  hand_over(&out, diff, cap);
  return same;
}
