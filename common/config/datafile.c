/* datafile.c — a data file: a YAML file of data-section keys, turned into the "data.KEY=VALUE"
 * overrides that put them over another config's data section (see config.h, DATA FILES).
 *
 * The file is checked where it is read, so that its mistakes are reported at its own
 * file:line:col: the keys against the data section's table, each value by parsing a small
 * stand-in config with that one override (its model takes as many channels as a data.mean or
 * data.std list holds, so only what the real model decides is left for later).
 */
#include "config/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"

/* A minimal valid config: the stand-in the values are checked against. */
static const char STAND_IN[] =
    "model: {input: [%d, 1, 1], num_classes: 2, layers: [{type: flatten}, {type: dense, units: "
    "2}]}\n";

void tv_config_sets_free(tv_config_sets *s) {
  if (!s) return;
  for (int i = 0; i < s->n; i++) {
    free(s->sets[i]);
    if (s->where) free(s->where[i]);
  }
  free(s->sets);
  free(s->where);
  *s = (tv_config_sets){0};
}

/* The "--set <set>: " prefix of a message about override set, or 0 if msg is not one. */
static size_t set_prefix(const char *msg, const char *set) {
  size_t n = strlen(set);
  if (strncmp(msg, "--set ", 6) || strncmp(msg + 6, set, n) || strncmp(msg + 6 + n, ": ", 2))
    return 0;
  return 6 + n + 2;
}

int tv_config_sets_blame(const tv_config_sets *s, int rc) {
  if (!s || rc == TV_OK) return rc;
  const char *m = tv_error_message();
  for (int i = 0; i < s->n; i++) {
    size_t skip = set_prefix(m, s->sets[i]);
    if (!skip) continue;
    char why[768];
    snprintf(why, sizeof why, "%s", m + skip);
    return tv_error(rc, "%s: %s", s->where[i], why);
  }
  return rc;
}

/* Appends node n's value as YAML text: a scalar as written (plain) or double-quoted, a list of
 * scalars as a flow sequence.  0 when n is something else. */
static int render(const tv_ydoc *d, const yaml_node_t *n, tv_text *t) {
  if (n->type == YAML_SCALAR_NODE) {
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
      tv_text_printf(t, "%s", s);
    else
      tv_text_json_str(t, s);
    return 1;
  }
  if (n->type != YAML_SEQUENCE_NODE) return 0;
  tv_text_printf(t, "[");
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
    const yaml_node_t *item = tv_ydoc_node(d, *it);
    if (!item || item->type != YAML_SCALAR_NODE) return 0;
    if (it != n->data.sequence.items.start) tv_text_printf(t, ", ");
    render(d, item, t);
  }
  tv_text_printf(t, "]");
  return 1;
}

/* Parses the stand-in config with override set; on failure records the problem at node v of d. */
static int check_value(const tv_ydoc *d, const yaml_node_t *v, const char *set,
                       tv_config *scratch) {
  int channels = v->type == YAML_SEQUENCE_NODE
                     ? (int)(v->data.sequence.items.top - v->data.sequence.items.start)
                     : 1;
  char text[sizeof STAND_IN + 16];
  snprintf(text, sizeof text, STAND_IN, channels < 1 ? 1 : channels);
  const char *sets[1] = {set};
  int rc = tv_config_parse(text, strlen(text), "<data file>", sets, 1, scratch);
  if (rc != TV_ERR_CONFIG) return rc;
  /* "--set <set>: data.KEY: problem" -> "data.KEY: problem" at the value's position. */
  const char *m = tv_error_message();
  char why[512];
  snprintf(why, sizeof why, "%s", m + set_prefix(m, set));
  return tv_ydoc_error(d, v, "%s", why);
}

int tv_config_data_file(const char *path, tv_config_sets *out) {
  *out = (tv_config_sets){0};
  char *text = NULL;
  size_t len;
  tv_ydoc *d = NULL;
  tv_text t = {0}, allowed = {0};
  tv_config *scratch = malloc(sizeof *scratch);
  const section_desc *sec = tv_cfg_find_section("data");
  int rc = scratch ? TV_OK : tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
  if (rc == TV_OK) rc = tv_fs_read_file(path, TV_CONFIG_MAX_BYTES, &text, &len);
  if (rc == TV_OK) rc = tv_ydoc_parse(text, len, path, TV_YDOC_CONFIG, &d);
  if (rc != TV_OK) goto out;
  for (int k = 0; k < sec->n_keys; k++)
    tv_text_printf(&allowed, "%s%s", k ? ", " : "", sec->keys[k].name);
  if ((rc = tv_text_check(&allowed, path))) goto out;
  const yaml_node_t *m = tv_ydoc_root(d);
  if (m && m->type == YAML_MAPPING_NODE &&
      m->data.mapping.pairs.top - m->data.mapping.pairs.start == 1 &&
      tv_yaml_scalar_is(tv_ydoc_node(d, m->data.mapping.pairs.start->key), "data"))
    m = tv_ydoc_node(d, m->data.mapping.pairs.start->value);
  if (!m || m->type != YAML_MAPPING_NODE ||
      m->data.mapping.pairs.top == m->data.mapping.pairs.start) {
    rc = tv_ydoc_error(d, m, "expected a mapping of data keys (%s), or `data:` holding one",
                       allowed.p);
    goto out;
  }
  int bad, first;
  yaml_document_t *doc = tv_ydoc_document(d);
  if (tv_yaml_find_bad_key(doc, m, &bad, &first) != TV_YAML_KEYS_OK) {
    rc = tv_ydoc_error(d, tv_ydoc_node(d, m->data.mapping.pairs.start[bad].key),
                       "a key that is not a name, or one given twice");
    goto out;
  }
  int n = (int)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
  if (!(out->sets = calloc((size_t)n, sizeof *out->sets)) ||
      !(out->where = calloc((size_t)n, sizeof *out->where))) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
    goto out;
  }
  for (const yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
       p++) {
    const yaml_node_t *k = tv_ydoc_node(d, p->key), *v = tv_ydoc_node(d, p->value);
    const char *name = (const char *)k->data.scalar.value;
    if (!tv_cfg_find_key(sec->keys, sec->n_keys, name)) {
      rc = tv_ydoc_error(d, k, "data.%s: unknown key (allowed: %s)", name, allowed.p);
      goto out;
    }
    tv_text_free(&t);
    tv_text_printf(&t, "data.%s=", name);
    if (!render(d, v, &t)) {
      rc = tv_ydoc_error(d, v, "data.%s: expected a value or a list of values", name);
      goto out;
    }
    if ((rc = tv_text_check(&t, path)) || (rc = check_value(d, v, t.p, scratch))) goto out;
    char where[TV_PATH_CAP + 48];
    snprintf(where, sizeof where, "%s:%zu:%zu", path, v->start_mark.line + 1,
             v->start_mark.column + 1);
    if (!(out->where[out->n] = strdup(where))) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
      goto out;
    }
    out->sets[out->n++] = t.p;
    t = (tv_text){0};
  }
out:
  if (rc != TV_OK) tv_config_sets_free(out);
  tv_text_free(&t);
  tv_text_free(&allowed);
  tv_ydoc_free(d);
  free(text);
  free(scratch);
  return rc;
}
