/* read.c — YAML text -> validated tv_config through the key tables (schema.h), and the --set
 * overrides (see config.h for the format and the messages).
 *
 * The text is parsed by the one YAML stack (base/yamlio.h): its scalar rules (booleans,
 * integers, numbers, null) are the ones every trainval file is read with.  What is the config's
 * own: the key tables, the "file:line:col: key: problem" messages (TV_ERR_CONFIG), and overrides.
 *
 * Invariants:
 *  - The document is untrusted: every node is type-checked before use.  libyaml keeps duplicate
 *    keys, so check_keys refuses them.  Aliases can make cycles, so nothing walks the document
 *    recursively except graft(), which only walks an override's own small document, bounded.
 *  - Overrides are grafted into the document before validation, so the tables validate them;
 *    ctx.origin tags every node an override added, and an error at such a node names
 *    "--set <text>" instead of a file position.
 *  - tv_config_parse leaves defaults in *c on any failure.
 */
#include "config/schema.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"

enum {
  MAX_SET_PARTS = 8,    /* components of an override's key path */
  MAX_GRAFT_DEPTH = 16, /* nesting of an override's value */
  MSG_CAP = 512,        /* one problem text, before the location is prepended */
};

static int is_digit(int ch) { return ch >= '0' && ch <= '9'; }
static int is_ident(int ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || is_digit(ch) || ch == '_' ||
         ch == '.' || ch == '-';
}

/* ---- the document and its error messages ----------------------------------------------------- */

typedef struct ctx {
  tv_ydoc *d;         /* the config's document, overrides grafted in */
  const char *source; /* the name in messages (the document's) */
  const char *const *sets;
  int *origin;  /* origin[i], node index i (1-based): -1 from the file, else the override's index */
  int n_origin; /* entries in origin: the node count + 1 */
} ctx;

static const yaml_node_t *node_at(const ctx *x, int idx) {
  return idx > 0 ? tv_ydoc_node(x->d, idx) : NULL;
}

static int from_set(const ctx *x, int idx) {
  return idx > 0 && idx < x->n_origin && x->origin[idx] >= 0 ? x->origin[idx] : -1;
}

static int fail(const ctx *x, int idx, const char *key, const char *fmt, ...) TV_PRINTF(4, 5);
/* Records "<where>: <key>: <problem>" where <where> is "source:line:col" of node idx (1:1 when
 * there is none) or "--set <text>" when an override added the node.  Returns TV_ERR_CONFIG. */
static int fail(const ctx *x, int idx, const char *key, const char *fmt, ...) {
  char msg[MSG_CAP];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int set = from_set(x, idx);
  if (set >= 0) {
    char full[MSG_CAP + 256], line_msg[MSG_CAP + 256];
    snprintf(full, sizeof full, "%s: %s", key, msg);
    tv_yaml_one_line(line_msg, sizeof line_msg, full); /* it may quote the override's text */
    return tv_error(TV_ERR_CONFIG, "--set %s: %s", x->sets[set], line_msg);
  }
  return tv_ydoc_error(x->d, node_at(x, idx), "%s: %s", key, msg); /* a TV_ERR_CONFIG document */
}

/* "line 7" or "--set <text>", for a second place named in a message. */
static void place(const ctx *x, int idx, char *buf, size_t cap) {
  int set = from_set(x, idx);
  const yaml_node_t *n = node_at(x, idx);
  if (set >= 0)
    snprintf(buf, cap, "--set %s", x->sets[set]);
  else
    snprintf(buf, cap, "line %zu", n ? n->start_mark.line + 1 : 1);
}

static const char *scalar_text(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* What a node is, for "got ..." in messages. */
static const char *describe(const yaml_node_t *n, char *buf, size_t cap) {
  if (tv_yaml_is_null(n)) return "nothing";
  if (n->type == YAML_SEQUENCE_NODE) return "a sequence";
  if (n->type == YAML_MAPPING_NODE) return "a mapping";
  const char *s = (const char *)n->data.scalar.value;
  snprintf(buf, cap, "'%.40s%s'", s, strlen(s) > 40 ? "..." : "");
  return buf;
}

/* The text of the scalar at idx, or an error "expected <what>, got ..." (also for null). */
static int want_scalar(const ctx *x, int idx, const char *key, const char *what, const char **s) {
  const yaml_node_t *n = node_at(x, idx);
  char buf[64];
  if (!n || n->type != YAML_SCALAR_NODE || tv_yaml_is_null(n))
    return fail(x, idx, key, "expected %s, got %s", what, describe(n, buf, sizeof buf));
  if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
    return fail(x, idx, key, "must not contain a NUL byte");
  *s = (const char *)n->data.scalar.value;
  return TV_OK;
}

static int read_int(const ctx *x, int idx, const char *key, int64_t lo, int64_t hi, int64_t *v) {
  const char *s;
  int rc = want_scalar(x, idx, key, "an integer", &s);
  if (rc) return rc;
  int r = tv_yaml_parse_i64(s, v);
  if (r == TV_YAML_PARSE_SYNTAX) return fail(x, idx, key, "expected an integer, got '%.40s'", s);
  if (r == TV_YAML_PARSE_RANGE || *v < lo || *v > hi)
    return fail(x, idx, key, "must be in [%" PRId64 ", %" PRId64 "], got %.40s", lo, hi, s);
  return TV_OK;
}

static int read_double(const ctx *x, const key_desc *d, int idx, const char *key, double *v) {
  const char *s, *what = d->flags & F_AUTO ? "a number or auto" : "a number";
  int rc = want_scalar(x, idx, key, what, &s);
  if (rc) return rc;
  int r = tv_yaml_parse_f64(s, v);
  if (r == TV_YAML_PARSE_SYNTAX) return fail(x, idx, key, "expected %s, got '%.40s'", what, s);
  if (r == TV_YAML_PARSE_RANGE) return fail(x, idx, key, "must be a finite number, got '%.40s'", s);
  int low = d->flags & F_OPEN_LO ? !(*v > d->dlo) : !(*v >= d->dlo);
  int high = d->flags & F_OPEN_HI ? !(*v < d->dhi) : !(*v <= d->dhi);
  if (low || high) {
    char lo[TV_YAML_F64_CAP], hi[TV_YAML_F64_CAP];
    tv_yaml_f64_str(lo, d->dlo);
    tv_yaml_f64_str(hi, d->dhi);
    return fail(x, idx, key, "must be in %c%s, %s%c, got %.40s", d->flags & F_OPEN_LO ? '(' : '[',
                lo, hi, d->flags & F_OPEN_HI ? ')' : ']', s);
  }
  return TV_OK;
}

static int read_string(const ctx *x, const key_desc *d, int idx, const char *key, char *out,
                       size_t cap) {
  const char *s;
  int rc = want_scalar(x, idx, key, "a string", &s);
  if (rc) return rc;
  size_t n = strlen(s);
  if (n >= cap) return fail(x, idx, key, "longer than %zu bytes", cap - 1);
  if (d && (d->flags & F_IDENT)) {
    for (const char *p = s; *p; p++)
      if (!is_ident((unsigned char)*p))
        return fail(x, idx, key, "must use only [A-Za-z0-9_.-], got '%.40s'", s);
  }
  memcpy(out, s, n + 1);
  return TV_OK;
}

static void key_printf(char *out, size_t cap, const char *fmt, ...) TV_PRINTF(3, 4);
/* Formats a key path for a message; a path too long for out is cut (it only names the key). */
static void key_printf(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, cap, fmt, ap);
  va_end(ap);
}

static void join_key(char *out, size_t cap, const char *path, const char *key) {
  key_printf(out, cap, "%s%s%s", path, *path ? "." : "", key);
}

/* ---- one reader per key type --------------------------------------------------------------- */

/* Each reads the value node idx of key d (message name `key`) into its field(s) in base. */
typedef int (*value_reader)(const ctx *x, const key_desc *d, int idx, const char *key, void *base);

static void store_int(void *base, size_t off, int v) { memcpy((char *)base + off, &v, sizeof v); }

static int read_int_key(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  int64_t v;
  int rc = read_int(x, idx, key, d->lo, d->hi, &v);
  if (rc == TV_OK) store_int(base, d->off, (int)v);
  return rc;
}

static int read_int64_key(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  int64_t v;
  int rc = read_int(x, idx, key, d->lo, d->hi, &v);
  if (rc == TV_OK) memcpy((char *)base + d->off, &v, sizeof v);
  return rc;
}

static int read_uint64_key(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  const char *s;
  uint64_t v;
  int rc = want_scalar(x, idx, key, "an integer", &s);
  if (rc) return rc;
  int r = tv_yaml_parse_u64(s, &v);
  if (r == TV_YAML_PARSE_SYNTAX)
    return fail(x, idx, key, "expected a non-negative integer, got '%.40s'", s);
  if (r == TV_YAML_PARSE_RANGE)
    return fail(x, idx, key, "must be in [0, %" PRIu64 "], got %.40s", UINT64_MAX, s);
  memcpy((char *)base + d->off, &v, sizeof v);
  return TV_OK;
}

static int read_double_key(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  double v = 0;
  const yaml_node_t *n = node_at(x, idx);
  if ((d->flags & F_AUTO) && n && n->type == YAML_SCALAR_NODE &&
      !strcmp((const char *)n->data.scalar.value, "auto")) {
    v = NAN;
    memcpy((char *)base + d->off, &v, sizeof v);
    return TV_OK;
  }
  int rc = read_double(x, d, idx, key, &v);
  if (rc == TV_OK) memcpy((char *)base + d->off, &v, sizeof v);
  return rc;
}

static int read_bool_key(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  const char *s;
  int v, rc = want_scalar(x, idx, key, "true or false", &s);
  if (rc) return rc;
  if (tv_yaml_parse_bool(s, &v) != TV_YAML_PARSE_OK)
    return fail(x, idx, key, "expected true or false, got '%.40s'", s);
  store_int(base, d->off, v);
  return TV_OK;
}

/* The index of s in the NULL-terminated names, or -1. */
static int name_index(const char *const *names, const char *s) {
  for (int i = 0; names[i]; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return -1;
}

static int read_enum_key(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  const char *s;
  int rc = want_scalar(x, idx, key, "a name", &s);
  if (rc) return rc;
  int v = name_index(d->names, s);
  if (v >= 0) {
    store_int(base, d->off, v);
    return TV_OK;
  }
  tv_text known = {0};
  for (int i = 0; d->names[i]; i++) tv_text_printf(&known, "%s%s", i ? ", " : "", d->names[i]);
  rc = fail(x, idx, key, "expected one of %s, got '%.40s'", known.p ? known.p : "", s);
  tv_text_free(&known);
  return rc;
}

static int read_string_key(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  return read_string(x, d, idx, key, (char *)base + d->off, d->cap);
}

/* The items of the sequence node n. */
static ptrdiff_t seq_len(const yaml_node_t *n) {
  return n->data.sequence.items.top - n->data.sequence.items.start;
}

static int read_int_list_key(const ctx *x, const key_desc *d, int idx, const char *key,
                             void *base) {
  const yaml_node_t *n = node_at(x, idx);
  char buf[64], item_key[160];
  if (!n || n->type != YAML_SEQUENCE_NODE)
    return fail(x, idx, key, "expected a list of %zu integers like [1, 28, 28], got %s", d->cap,
                describe(n, buf, sizeof buf));
  size_t items = (size_t)seq_len(n);
  if (items != d->cap && !(items == 1 && (d->flags & F_OR_ONE)))
    return fail(x, idx, key, "expected a list of %zu integers, got %td%s", d->cap, seq_len(n),
                d->flags & F_OR_ONE ? " (or a list of one, [T])" : "");
  for (size_t i = items; i < d->cap; i++) store_int(base, d->off + i * sizeof(int), 0);
  for (size_t i = 0; i < items; i++) {
    int64_t v;
    key_printf(item_key, sizeof item_key, "%s[%zu]", key, i);
    n = node_at(x, idx); /* unchanged: nothing adds nodes while validating */
    int rc = read_int(x, n->data.sequence.items.start[i], item_key, d->lo, d->hi, &v);
    if (rc) return rc;
    store_int(base, d->off + i * sizeof(int), (int)v);
  }
  return TV_OK;
}

static int read_name_list_key(const ctx *x, const key_desc *d, int idx, const char *key,
                              void *base) {
  const yaml_node_t *n = node_at(x, idx);
  char *field = (char *)base + d->off, buf[64], item_key[160];
  int count = 0, rc;
  memset(field, 0, d->cap * d->elem);
  if (n && n->type == YAML_SCALAR_NODE && !tv_yaml_is_null(n)) {
    if ((rc = read_string(x, NULL, idx, key, field, d->elem))) return rc;
    count = 1;
  } else if (n && n->type == YAML_SEQUENCE_NODE) {
    ptrdiff_t len = seq_len(n);
    if (len > (ptrdiff_t)d->cap)
      return fail(x, idx, key, "at most %zu names, got %td", d->cap, len);
    for (ptrdiff_t i = 0; i < len; i++) {
      key_printf(item_key, sizeof item_key, "%s[%td]", key, i);
      if ((rc = read_string(x, NULL, n->data.sequence.items.start[i], item_key,
                            field + (size_t)i * d->elem, d->elem)))
        return rc;
    }
    count = (int)len;
  } else {
    return fail(x, idx, key, "expected a name or a list of names, got %s",
                describe(n, buf, sizeof buf));
  }
  store_int(base, d->count_off, count);
  return TV_OK;
}

/* An integer for both (v[0] = v[1]) or a list of exactly two, each in [d->lo, d->hi]; what
 * else is expected is named by `what` in the message. */
static int read_pair(const ctx *x, const key_desc *d, int idx, const char *key, const char *what,
                     int v[2]) {
  const yaml_node_t *n = node_at(x, idx);
  char buf[64], item_key[160];
  int64_t w;
  int rc;
  if (n && n->type == YAML_SEQUENCE_NODE && seq_len(n) == 2) {
    for (int i = 0; i < 2; i++) {
      key_printf(item_key, sizeof item_key, "%s[%d]", key, i);
      n = node_at(x, idx); /* unchanged: nothing adds nodes while validating */
      if ((rc = read_int(x, n->data.sequence.items.start[i], item_key, d->lo, d->hi, &w)))
        return rc;
      v[i] = (int)w;
    }
    return TV_OK;
  }
  if (n && n->type == YAML_SEQUENCE_NODE)
    return fail(x, idx, key, "expected a list of 2 integers, got %td", seq_len(n));
  if (n && n->type == YAML_SCALAR_NODE && !tv_yaml_is_null(n)) {
    if ((rc = read_int(x, idx, key, d->lo, d->hi, &w))) return rc;
    v[0] = v[1] = (int)w;
    return TV_OK;
  }
  return fail(x, idx, key, "expected %s, got %s", what, describe(n, buf, sizeof buf));
}

static int read_int_pair_key(const ctx *x, const key_desc *d, int idx, const char *key,
                             void *base) {
  int v[2];
  int rc = read_pair(x, d, idx, key, "an integer or a list of 2 integers", v);
  if (rc == TV_OK) memcpy((char *)base + d->off, v, sizeof v);
  return rc;
}

static int read_padding_key(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  const yaml_node_t *n = node_at(x, idx);
  const char *s = n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
  int v[2] = {0, 0}, mode = TV_PADDING_EXPLICIT, rc;
  if (s && !tv_yaml_is_null(n) && !is_digit(s[0]) && s[0] != '-' && s[0] != '+') {
    if ((mode = name_index(d->names, s)) < 0)
      return fail(x, idx, key, "expected valid, same, p or [ph, pw], got '%.40s'", s);
  } else if ((rc = read_pair(x, d, idx, key, "valid, same, p or [ph, pw]", v))) {
    return rc;
  }
  store_int(base, d->off, mode);
  memcpy((char *)base + d->off2, v, sizeof v);
  return TV_OK;
}

static int read_double_list_key(const ctx *x, const key_desc *d, int idx, const char *key,
                                void *base) {
  const yaml_node_t *n = node_at(x, idx);
  double v = 0, list[TV_NORM_MAX_CHANNELS] = {0};
  char item_key[160];
  int count = 0, rc;
  if (d->cap > TV_NORM_MAX_CHANNELS) return tv_error(TV_ERR_INVALID, "%s: list too long", key);
  if (n && n->type == YAML_SEQUENCE_NODE) {
    ptrdiff_t len = seq_len(n);
    if (len < 1 || len > (ptrdiff_t)d->cap)
      return fail(x, idx, key, "expected a number or a list of 1 to %zu numbers, got %td", d->cap,
                  len);
    for (ptrdiff_t i = 0; i < len; i++) {
      key_printf(item_key, sizeof item_key, "%s[%td]", key, i);
      n = node_at(x, idx);
      if ((rc = read_double(x, d, n->data.sequence.items.start[i], item_key, &list[i]))) return rc;
    }
    count = (int)len;
    v = list[0];
  } else if ((rc = read_double(x, d, idx, key, &v))) {
    return rc;
  }
  memcpy((char *)base + d->off, &v, sizeof v);
  memcpy((char *)base + d->off2, list, d->cap * sizeof(double));
  store_int(base, d->count_off, count);
  return TV_OK;
}

static int read_layers(const ctx *x, int idx, const char *path, tv_config *c);

static int read_layers_key(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  (void)d;
  return read_layers(x, idx, key, base);
}

static const value_reader readers[] = {
    [KEY_INT] = read_int_key,
    [KEY_INT64] = read_int64_key,
    [KEY_UINT64] = read_uint64_key,
    [KEY_DOUBLE] = read_double_key,
    [KEY_BOOL] = read_bool_key,
    [KEY_STRING] = read_string_key,
    [KEY_ENUM] = read_enum_key,
    [KEY_INT_LIST] = read_int_list_key,
    [KEY_NAME_LIST] = read_name_list_key,
    [KEY_LAYERS] = read_layers_key,
    [KEY_INT_PAIR] = read_int_pair_key,
    [KEY_PADDING] = read_padding_key,
    [KEY_DOUBLE_LIST] = read_double_list_key,
};
_Static_assert(TV_CFG_COUNT(readers) == KEY__COUNT, "one reader per key type");

/* Reads the value node idx of key d (message name `key`) into base: the reader of its type. */
static int read_value(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  return readers[d->type](x, d, idx, key, base);
}

/* Refuses keys that are not names and keys given twice in the mapping at idx (libyaml keeps
 * duplicates), by yamlio's key rule. */
static int check_keys(const ctx *x, int idx, const char *path) {
  const yaml_node_t *m = node_at(x, idx);
  const yaml_node_pair_t *pairs = m->data.mapping.pairs.start;
  char buf[64], key[256], where[300];
  int bad, first;
  switch (tv_yaml_find_bad_key(tv_ydoc_document(x->d), m, &bad, &first)) {
  case TV_YAML_KEY_NOT_NAME:
    return fail(x, pairs[bad].key, *path ? path : "top level", "expected a key name, got %s",
                describe(node_at(x, pairs[bad].key), buf, sizeof buf));
  case TV_YAML_KEY_TWICE:
    join_key(key, sizeof key, path, scalar_text(node_at(x, pairs[bad].key)));
    place(x, pairs[first].key, where, sizeof where);
    return fail(x, pairs[bad].key, key, "duplicate key (first at %s)", where);
  default:
    return TV_OK;
  }
}

/* The value node index of `key` in the mapping m, 0 if absent. */
static int find_value(const yaml_node_t *m, const ctx *x, const char *key) {
  for (const yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
    if (tv_yaml_scalar_is(node_at(x, p->key), key)) return p->value;
  return 0;
}

static void list_keys(tv_text *t, const key_desc *keys, int n) {
  for (int i = 0; i < n; i++) tv_text_printf(t, "%s%s", t->n ? ", " : "", keys[i].name);
}

/* ---- layers ---------------------------------------------------------------------------------- */

typedef struct layer_nodes {
  int item, name, inputs; /* node indices; 0 where the key is absent */
} layer_nodes;

/* The kind named by the layer mapping m's `type` (path names the layer in messages). */
static int read_kind(const ctx *x, int idx, const yaml_node_t *m, const char *path,
                     tv_layer_kind *kind) {
  char key[256];
  const char *type;
  join_key(key, sizeof key, path, "type");
  int type_idx = find_value(m, x, "type"), rc;
  if (!type_idx) return fail(x, idx, key, "missing required key");
  if ((rc = want_scalar(x, type_idx, key, "a layer type", &type))) return rc;
  for (int k = 0; k < TV_LAYER__COUNT; k++) {
    if (strcmp(tv_layer_kind_name((tv_layer_kind)k), type) == 0) {
      *kind = (tv_layer_kind)k;
      return TV_OK;
    }
  }
  tv_text known = {0};
  tv_cfg_list_layer_kinds(&known);
  rc = fail(x, type_idx, key, "unknown layer type '%.40s' (known: %s)", type,
            known.p ? known.p : "");
  tv_text_free(&known);
  return rc;
}

/* Keys of kind lk that a layer states through others: F_DEFAULT_KERNEL pairs left 0 take the
 * kernel. */
static void resolve_defaults(const layer_kind_desc *lk, tv_layer_config *l) {
  for (int k = 0; k < lk->n_keys; k++) {
    int pair[2];
    if (!(lk->keys[k].flags & F_DEFAULT_KERNEL) || lk->keys[k].type != KEY_INT_PAIR) continue;
    memcpy(pair, (char *)l + lk->keys[k].off, sizeof pair);
    if (pair[0] == 0) memcpy((char *)l + lk->keys[k].off, l->kernel, sizeof l->kernel);
  }
}

/* The layer's input count against its kind's arity (the implicit previous layer counts one). */
static int check_arity(const ctx *x, int idx, const char *path, const tv_layer_config *l,
                       const layer_nodes *ln) {
  const layer_kind_desc *lk = tv_cfg_layer_kind(l->kind);
  const char *kind_name = tv_layer_kind_name(l->kind);
  char key[256];
  int n_in = l->n_inputs ? l->n_inputs : 1;
  int lo = lk->min_inputs ? lk->min_inputs : 1, hi = lk->max_inputs ? lk->max_inputs : 1;
  if (n_in >= lo && n_in <= hi) return TV_OK;
  join_key(key, sizeof key, path, "inputs");
  if (lo == hi)
    return fail(x, ln->inputs ? ln->inputs : idx, key, "%s takes %d input%s, got %d", kind_name, lo,
                lo == 1 ? "" : "s", n_in);
  return fail(x, ln->inputs ? ln->inputs : idx, key, "%s takes %d to %d inputs, got %d", kind_name,
              lo, hi, n_in);
}

static int read_layer(const ctx *x, int idx, const char *path, tv_layer_config *l,
                      layer_nodes *ln) {
  const yaml_node_t *m = node_at(x, idx);
  char buf[64], key[256];
  ln->item = idx;
  if (!m || m->type != YAML_MAPPING_NODE)
    return fail(x, idx, path, "expected a mapping like {type: dense, units: 10}, got %s",
                describe(m, buf, sizeof buf));
  tv_layer_kind kind = TV_LAYER_DENSE;
  int rc = check_keys(x, idx, path);
  if (rc || (rc = read_kind(x, idx, m, path, &kind))) return rc;
  const layer_kind_desc *lk = tv_cfg_layer_kind(kind);
  const char *kind_name = tv_layer_kind_name(kind);

  tv_cfg_layer_defaults(l, kind);
  if (from_set(x, idx) < 0) {
    l->line = (int)m->start_mark.line + 1;
    l->col = (int)m->start_mark.column + 1;
  }
  for (const yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
       p++) {
    const char *name = scalar_text(node_at(x, p->key));
    if (strcmp(name, "type") == 0) continue;
    join_key(key, sizeof key, path, name);
    const key_desc *d = tv_cfg_find_key(tv_cfg_layer_common_keys, tv_cfg_n_layer_common_keys, name);
    if (!d) d = tv_cfg_find_key(lk->keys, lk->n_keys, name);
    if (!d) {
      tv_text allowed = {0};
      tv_text_printf(&allowed, "type");
      list_keys(&allowed, tv_cfg_layer_common_keys, tv_cfg_n_layer_common_keys);
      list_keys(&allowed, lk->keys, lk->n_keys);
      rc = fail(x, p->key, key, "unknown key for %s (allowed: %s)", kind_name,
                allowed.p ? allowed.p : "");
      tv_text_free(&allowed);
      return rc;
    }
    if ((rc = read_value(x, d, p->value, key, l))) return rc;
  }
  for (int k = 0; k < lk->n_keys; k++) {
    if ((lk->keys[k].flags & F_REQUIRED) && !find_value(m, x, lk->keys[k].name)) {
      join_key(key, sizeof key, path, lk->keys[k].name);
      return fail(x, idx, key, "missing required key (%s needs it)", kind_name);
    }
  }
  resolve_defaults(lk, l);
  ln->name = find_value(m, x, "name");
  ln->inputs = find_value(m, x, "inputs");
  return check_arity(x, idx, path, l, ln);
}

/* The node of inputs entry j of a layer (the scalar itself when `inputs: name`). */
static int input_node(const ctx *x, int inputs_idx, int j) {
  const yaml_node_t *n = node_at(x, inputs_idx);
  if (n && n->type == YAML_SEQUENCE_NODE) return n->data.sequence.items.start[j];
  return inputs_idx;
}

static int read_layers(const ctx *x, int idx, const char *path, tv_config *c) {
  const yaml_node_t *seq = node_at(x, idx);
  char buf[64], lpath[128], key[160];
  if (!seq || seq->type != YAML_SEQUENCE_NODE)
    return fail(x, idx, path, "expected a sequence of layers, got %s",
                describe(seq, buf, sizeof buf));
  ptrdiff_t n = seq->data.sequence.items.top - seq->data.sequence.items.start;
  if (n == 0) return fail(x, idx, path, "must list at least one layer");
  if (n > TV_MAX_LAYERS) return fail(x, idx, path, "at most %d layers, got %td", TV_MAX_LAYERS, n);

  layer_nodes ln[TV_MAX_LAYERS];
  int per_kind[TV_LAYER__COUNT] = {0};
  tv_layer_config *ls = c->model.layers;
  for (int i = 0; i < (int)n; i++) {
    key_printf(lpath, sizeof lpath, "%s[%d]", path, i);
    int rc = read_layer(x, seq->data.sequence.items.start[i], lpath, &ls[i], &ln[i]);
    if (rc) return rc;
    int k = ++per_kind[ls[i].kind];
    if (!ls[i].name[0])
      snprintf(ls[i].name, sizeof ls[i].name, "%s_%d", tv_layer_kind_name(ls[i].kind), k);
  }
  c->model.n_layers = (int)n;

  for (int i = 0; i < (int)n; i++) {
    int at = ln[i].name ? ln[i].name : ln[i].item;
    key_printf(key, sizeof key, "%s[%d].name", path, i);
    if (strcmp(ls[i].name, "input") == 0)
      return fail(x, at, key, "'input' is reserved for the model input");
    for (int j = 0; j < i; j++)
      if (strcmp(ls[i].name, ls[j].name) == 0)
        return fail(x, at, key, "duplicate layer name '%s'%s (also %s[%d]%s)", ls[i].name,
                    ln[i].name ? "" : " by default", path, j, ln[j].name ? "" : " by default");
  }
  for (int i = 0; i < (int)n; i++) {
    key_printf(key, sizeof key, "%s[%d].inputs", path, i);
    for (int j = 0; j < ls[i].n_inputs; j++) {
      const char *in = ls[i].inputs[j];
      int k = 0;
      if (strcmp(in, "input") == 0) continue;
      while (k < (int)n && strcmp(ls[k].name, in) != 0) k++;
      if (k < i) continue;
      int at = input_node(x, ln[i].inputs, j);
      if (k < (int)n)
        return fail(x, at, key,
                    "layer %s: '%s' is %s[%d], not an earlier layer (inputs name earlier layers "
                    "only, so the graph cannot have a cycle)",
                    ls[i].name, in, path, k);
      return fail(x, at, key,
                  "layer %s: '%.40s' names no earlier layer (nor 'input', the model input)",
                  ls[i].name, in);
    }
  }
  return TV_OK;
}

/* ---- sections -------------------------------------------------------------------------------- */

static int read_section(const ctx *x, const section_desc *sec, int idx, tv_config *c) {
  const yaml_node_t *m = node_at(x, idx);
  char buf[64], key[256];
  int rc;
  if (m && m->type == YAML_MAPPING_NODE) {
    if ((rc = check_keys(x, idx, sec->name))) return rc;
    for (const yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
         p++) {
      const char *name = scalar_text(node_at(x, p->key));
      const key_desc *d = tv_cfg_find_key(sec->keys, sec->n_keys, name);
      join_key(key, sizeof key, sec->name, name);
      if (!d) {
        tv_text allowed = {0};
        list_keys(&allowed, sec->keys, sec->n_keys);
        rc = fail(x, p->key, key, "unknown key (allowed: %s)", allowed.p ? allowed.p : "");
        tv_text_free(&allowed);
        return rc;
      }
      if ((rc = read_value(x, d, p->value, key, c))) return rc;
    }
  } else if (!tv_yaml_is_null(m)) { /* `data:` with nothing under it is an empty section */
    return fail(x, idx, sec->name, "expected a mapping of keys, got %s",
                describe(m, buf, sizeof buf));
  }
  for (int k = 0; k < sec->n_keys; k++) {
    if ((sec->keys[k].flags & F_REQUIRED) &&
        !(m && m->type == YAML_MAPPING_NODE && find_value(m, x, sec->keys[k].name))) {
      join_key(key, sizeof key, sec->name, sec->keys[k].name);
      return fail(x, idx, key, "missing required key");
    }
  }
  return TV_OK;
}

/* The value node of section.key (0 if absent) and of the section (*sec_at, 0 if absent). */
static int find_in_section(const ctx *x, int root, const char *section, const char *key,
                           int *sec_at) {
  const yaml_node_t *r = node_at(x, root);
  *sec_at = r && r->type == YAML_MAPPING_NODE ? find_value(r, x, section) : 0;
  const yaml_node_t *o = node_at(x, *sec_at);
  return o && o->type == YAML_MAPPING_NODE ? find_value(o, x, key) : 0;
}

/* Rules that tie keys together (each key alone was checked by its row). */
static int check_relations(const ctx *x, int root, const tv_config *c) {
  const int lists[2] = {c->data.n_mean, c->data.n_std};
  for (int k = 0; k < 2; k++) {
    if (lists[k] == 0 || lists[k] == c->model.input[0]) continue;
    const char *key = k ? "std" : "mean";
    int data_at, at = find_in_section(x, root, "data", key, &data_at);
    return fail(x, at ? at : data_at, k ? "data.std" : "data.mean",
                "expected one number or %d (one per channel of model.input), got a list of %d",
                c->model.input[0], lists[k]);
  }
  const char *const bytes[2] = {c->data.delimiter, c->data.comment};
  for (int k = 0; k < 2; k++) {
    const char *v = bytes[k];
    size_t n = strlen(v);
    if ((k == 0 ? n == 1 : n <= 1) && (n == 0 || (v[0] != '"' && v[0] != '\n' && v[0] != '\r')) &&
        !(k == 1 && n == 1 && v[0] == c->data.delimiter[0]))
      continue;
    int d, at = find_in_section(x, root, "data", k ? "comment" : "delimiter", &d);
    return fail(x, at ? at : d, k ? "data.comment" : "data.delimiter",
                "must be %s, not a quote or a line break%s", k ? "one byte or \"\"" : "one byte",
                k ? " or the delimiter" : "");
  }
  tv_task task = c->model.task;
  if (task == TV_TASK_CLASSIFICATION && c->model.num_classes < 2) {
    int m, at = find_in_section(x, root, "model", "num_classes", &m);
    return fail(x, at ? at : m, "model.num_classes",
                "must be in [2, 1000000], got %d (a classification needs two classes; one output "
                "is model.task: regression)",
                c->model.num_classes);
  }
  if (tv_config_is_sequence(c) && task != TV_TASK_CLASSIFICATION) {
    int m, at = find_in_section(x, root, "model", "task", &m);
    return fail(x, at ? at : m, "model.task",
                "a token model classifies the next token: model.task classification, got %s",
                tv_task_names[task]);
  }
  /* A token model reads a text corpus; the other readers and the text keys do not mix with it. */
  if (tv_config_is_sequence(c) && c->data.format != TV_DATA_FORMAT_IDX) {
    int d, at = find_in_section(x, root, "data", "format", &d);
    return fail(x, at ? at : d, "data.format",
                "a token model reads the text of data.corpus, not data.format %s (that reader is "
                "for models of examples: model.input [C, H, W] or [D])",
                scalar_text(node_at(x, at)));
  }
  if (!tv_config_is_sequence(c)) {
    static const char *const text_keys[][2] = {
        {"data", "corpus"}, {"data", "valid_tokens"}, {"train", "windows"}};
    for (int k = 0; k < 3; k++) {
      int sec, at = find_in_section(x, root, text_keys[k][0], text_keys[k][1], &sec);
      if (!at) continue;
      char key[64];
      snprintf(key, sizeof key, "%s.%s", text_keys[k][0], text_keys[k][1]);
      return fail(x, at, key,
                  "applies to token models only (model.input [T] and an embedding first); this "
                  "model reads examples (data.dir, data.format)");
    }
  }
  /* The losses each task can train with (config.h, train.loss). */
  static const unsigned fits[TV_TASK__COUNT] = {
      [TV_TASK_CLASSIFICATION] = 1u << TV_LOSS_CHOICE_SOFTMAX_XENT,
      [TV_TASK_REGRESSION] =
          1u << TV_LOSS_CHOICE_MSE | 1u << TV_LOSS_CHOICE_MAE | 1u << TV_LOSS_CHOICE_HUBER,
      [TV_TASK_MULTILABEL] = 1u << TV_LOSS_CHOICE_SIGMOID_XENT};
  if (c->train.loss != TV_LOSS_CHOICE_AUTO && !((fits[task] >> c->train.loss) & 1u)) {
    int t, at = find_in_section(x, root, "train", "loss", &t);
    return fail(x, at ? at : t, "train.loss", "does not fit model.task %s (%s)",
                tv_task_names[task],
                task == TV_TASK_CLASSIFICATION ? "softmax_cross_entropy"
                : task == TV_TASK_REGRESSION   ? "mse, mae or huber"
                                               : "sigmoid_cross_entropy");
  }
  if (task != TV_TASK_CLASSIFICATION && c->train.label_smoothing > 0) {
    int t, at = find_in_section(x, root, "train", "label_smoothing", &t);
    return fail(x, at ? at : t, "train.label_smoothing",
                "applies to model.task classification only");
  }
  if (!tv_metric_applies(c->train.early_stop_metric, task)) {
    char names[160];
    int t, at = find_in_section(x, root, "train", "early_stop_metric", &t);
    return fail(x, at ? at : t, "train.early_stop_metric",
                "%s does not apply to model.task %s (%s)",
                tv_metric_names[c->train.early_stop_metric], tv_task_names[task],
                tv_metric_list_task(task, names, sizeof names));
  }
  if (c->optimizer.min_learning_rate > c->optimizer.learning_rate) {
    int opt, at = find_in_section(x, root, "optimizer", "min_learning_rate", &opt);
    char lr[TV_YAML_F64_CAP];
    tv_yaml_f64_str(lr, c->optimizer.learning_rate);
    return fail(x, at ? at : opt, "optimizer.min_learning_rate",
                "must not exceed learning_rate (%s)", lr);
  }
  return TV_OK;
}

static int validate(const ctx *x, tv_config *c) {
  const yaml_node_t *root = tv_ydoc_root(x->d);
  char buf[64];
  int rc;
  if (root && !tv_yaml_is_null(root)) {
    if (root->type != YAML_MAPPING_NODE) {
      tv_text names = {0};
      tv_cfg_list_sections(&names);
      rc = fail(x, 1, "top level", "expected a mapping of sections (%s), got %s",
                names.p ? names.p : "", describe(root, buf, sizeof buf));
      tv_text_free(&names);
      return rc;
    }
    if ((rc = check_keys(x, 1, ""))) return rc;
    for (const yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
      const char *name = scalar_text(node_at(x, p->key));
      const section_desc *sec = tv_cfg_find_section(name);
      if (!sec) {
        tv_text names = {0};
        tv_cfg_list_sections(&names);
        rc = fail(x, p->key, name, "unknown section (allowed: %s)", names.p ? names.p : "");
        tv_text_free(&names);
        return rc;
      }
      if ((rc = read_section(x, sec, p->value, c))) return rc;
    }
  }
  for (int s = 0; s < tv_cfg_n_sections; s++) {
    const section_desc *sec = &tv_cfg_sections[s];
    if (sec->required &&
        !(root && root->type == YAML_MAPPING_NODE && find_value(root, x, sec->name)))
      return fail(x, root ? 1 : 0, sec->name, "missing required section");
  }
  return check_relations(x, 1, c);
}

/* ---- overrides ------------------------------------------------------------------------------ */

/* Copies node idx of src (and what is under it) into dst; *out is its index there. */
static int graft(yaml_document_t *dst, yaml_document_t *src, int idx, int depth, const char *set,
                 int *out) {
  yaml_node_t *n = yaml_document_get_node(src, idx);
  if (depth > MAX_GRAFT_DEPTH)
    return tv_error(TV_ERR_CONFIG, "--set %s: value nested too deeply", set);
  int r = 0, rc;
  switch (n->type) {
  case YAML_SCALAR_NODE:
    r = yaml_document_add_scalar(dst, NULL, n->data.scalar.value, (int)n->data.scalar.length,
                                 n->data.scalar.style);
    break;
  case YAML_SEQUENCE_NODE:
    r = yaml_document_add_sequence(dst, NULL, YAML_FLOW_SEQUENCE_STYLE);
    for (yaml_node_item_t *it = n->data.sequence.items.start; r && it < n->data.sequence.items.top;
         it++) {
      int item;
      if ((rc = graft(dst, src, *it, depth + 1, set, &item))) return rc;
      if (!yaml_document_append_sequence_item(dst, r, item)) r = 0;
    }
    break;
  case YAML_MAPPING_NODE:
    r = yaml_document_add_mapping(dst, NULL, YAML_FLOW_MAPPING_STYLE);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; r && p < n->data.mapping.pairs.top;
         p++) {
      int k, v;
      if ((rc = graft(dst, src, p->key, depth + 1, set, &k))) return rc;
      if ((rc = graft(dst, src, p->value, depth + 1, set, &v))) return rc;
      if (!yaml_document_append_mapping_pair(dst, r, k, v)) r = 0;
    }
    break;
  case YAML_NO_NODE:
    break;
  }
  if (!r) return tv_error(TV_ERR_NOMEM, "--set %s: out of memory", set);
  *out = r;
  return TV_OK;
}

/* The slot that holds child `name` of node parent: a mapping's pair value (*pair, NULL when the
 * key is absent) or a sequence's item (*item; `name` is a 0-based index).  Errors: TV_ERR_CONFIG
 * (an index out of range, a scalar parent). */
static int find_slot(yaml_document_t *doc, const char *set, int parent, const char *name,
                     yaml_node_pair_t **pair, yaml_node_item_t **item) {
  yaml_node_t *n = yaml_document_get_node(doc, parent);
  *pair = NULL;
  *item = NULL;
  if (n->type == YAML_MAPPING_NODE) {
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
      if (tv_yaml_scalar_is(yaml_document_get_node(doc, p->key), name)) *pair = p;
    return TV_OK;
  }
  if (n->type == YAML_SEQUENCE_NODE) {
    ptrdiff_t len = n->data.sequence.items.top - n->data.sequence.items.start;
    int64_t j;
    if (!is_digit(name[0]) || tv_yaml_parse_i64(name, &j) != TV_YAML_PARSE_OK || j >= len)
      return tv_error(TV_ERR_CONFIG, "--set %s: index '%s' out of range (%td items)", set, name,
                      len);
    *item = &n->data.sequence.items.start[j];
    return TV_OK;
  }
  return tv_error(TV_ERR_CONFIG, "--set %s: nothing to index with '%s' (not a mapping or a list)",
                  set, name);
}

/* Puts node value under `name` in the mapping parent (replacing an existing value) or at index
 * `name` of the sequence parent. */
static int put_child(yaml_document_t *doc, const char *set, int parent, const char *name,
                     int value) {
  yaml_node_pair_t *pair;
  yaml_node_item_t *item;
  int rc = find_slot(doc, set, parent, name, &pair, &item);
  if (rc) return rc;
  if (pair)
    pair->value = value;
  else if (item)
    *item = value;
  else {
    int key =
        yaml_document_add_scalar(doc, NULL, (const yaml_char_t *)name, -1, YAML_PLAIN_SCALAR_STYLE);
    if (!key || !yaml_document_append_mapping_pair(doc, parent, key, value))
      return tv_error(TV_ERR_NOMEM, "--set %s: out of memory", set);
  }
  return TV_OK;
}

/* Splits the key of override text (before eq, spaces trimmed) into part[0..*n) at the dots,
 * in path (cap bytes), and checks that part[0] names a section and a key follows it. */
static int split_key(const char *text, const char *eq, char *path, size_t cap,
                     char *part[MAX_SET_PARTS], int *n) {
  size_t skip = strspn(text, " "), end = (size_t)(eq - text);
  int rc;
  *n = 0;
  while (end > skip && text[end - 1] == ' ') end--;
  if (end - skip >= cap) return tv_error(TV_ERR_CONFIG, "--set %s: key too long", text);
  memcpy(path, text + skip, end - skip);
  path[end - skip] = '\0';
  for (char *p = path;;) {
    char *dot = strchr(p, '.');
    if (dot) *dot = '\0';
    if (!*p)
      return tv_error(TV_ERR_CONFIG, "--set %s: empty part in the key (expected section.key=value)",
                      text);
    if (*n == MAX_SET_PARTS)
      return tv_error(TV_ERR_CONFIG, "--set %s: key nested too deeply", text);
    part[(*n)++] = p;
    if (!dot) break;
    p = dot + 1;
  }
  const section_desc *sec = tv_cfg_find_section(part[0]);
  if (!sec) {
    tv_text names = {0};
    tv_cfg_list_sections(&names);
    rc = tv_error(TV_ERR_CONFIG, "--set %s: unknown section '%s' (allowed: %s)", text, part[0],
                  names.p ? names.p : "");
    tv_text_free(&names);
    return rc;
  }
  if (*n < 2)
    return tv_error(TV_ERR_CONFIG, "--set %s: expected section.key=value, e.g. %s.%s=...", text,
                    part[0], sec->keys[0].name);
  return TV_OK;
}

/* Walks doc from its root to the node that holds part[n - 1] (*parent).  Only the section may
 * be created: deeper parts must exist, so a typo cannot build a tree the tables then reject far
 * from its cause.  A file without a top-level mapping gets an empty one. */
static int walk_to_parent(yaml_document_t *doc, const char *text, char *const *part, int n,
                          int *parent) {
  int rc;
  if (!yaml_document_get_root_node(doc) &&
      !yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE))
    return tv_error(TV_ERR_NOMEM, "--set %s: out of memory", text);
  if (yaml_document_get_root_node(doc)->type != YAML_MAPPING_NODE)
    return tv_error(TV_ERR_CONFIG, "--set %s: the config's top level is not a mapping", text);
  int cur = 1;
  for (int i = 0; i < n - 1; i++) {
    yaml_node_pair_t *pair;
    yaml_node_item_t *item;
    if ((rc = find_slot(doc, text, cur, part[i], &pair, &item))) return rc;
    if (item) {
      cur = *item;
    } else if (pair && !(i == 0 && tv_yaml_is_null(yaml_document_get_node(doc, pair->value)))) {
      cur = pair->value;
    } else if (i == 0) {
      int m = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
      if (!m) return tv_error(TV_ERR_NOMEM, "--set %s: out of memory", text);
      if ((rc = put_child(doc, text, cur, part[i], m))) return rc;
      cur = m;
    } else {
      return tv_error(TV_ERR_CONFIG, "--set %s: '%s' is not in the config", text, part[i]);
    }
  }
  *parent = cur;
  return TV_OK;
}

/* Parses the value of override text (after its '=') as YAML, named "--set <text>" in messages,
 * and copies it into doc as node *value (an empty scalar for an empty value). */
static int graft_value(yaml_document_t *doc, const char *text, const char *value_text, int *value) {
  tv_ydoc *vdoc = NULL;
  tv_text name = {0};
  tv_text_printf(&name, "--set %s", text);
  int rc = tv_text_check(&name, "--set");
  if (rc == TV_OK)
    rc = tv_ydoc_parse(value_text, strlen(value_text), name.p, TV_YDOC_CONFIG | TV_YDOC_INLINE,
                       &vdoc);
  tv_text_free(&name);
  if (rc) return rc;
  if (tv_ydoc_root(vdoc))
    rc = graft(doc, tv_ydoc_document(vdoc), 1, 0, text, value);
  else if (!(*value = yaml_document_add_scalar(doc, NULL, (const yaml_char_t *)"", 0,
                                               YAML_PLAIN_SCALAR_STYLE)))
    rc = tv_error(TV_ERR_NOMEM, "--set %s: out of memory", text);
  tv_ydoc_free(vdoc);
  return rc;
}

/* Applies override k ("a.b=value", "model.layers.<i>.key=value") to the document before
 * validation: the value (parsed as YAML) replaces the value of an existing key or sequence item,
 * or goes under a new key.  A section the file lacks (or leaves empty) is created. */
static int apply_set(ctx *x, int k) {
  const char *text = x->sets[k];
  const char *eq = text ? strchr(text, '=') : NULL;
  char path[256];
  char *part[MAX_SET_PARTS];
  int n_parts = 0, parent = 0, value = 0, rc;
  if (!text) return tv_error(TV_ERR_INVALID, "--set: a NULL override");
  if (!eq)
    return tv_error(TV_ERR_CONFIG, "--set %s: expected key=value (e.g. train.batch_size=64)", text);
  yaml_document_t *doc = tv_ydoc_document(x->d);
  if ((rc = split_key(text, eq, path, sizeof path, part, &n_parts)) ||
      (rc = walk_to_parent(doc, text, part, n_parts, &parent)) ||
      (rc = graft_value(doc, text, eq + 1, &value)))
    return rc;
  return put_child(doc, text, parent, part[n_parts - 1], value);
}

/* ---- entry points ------------------------------------------------------------------------- */

int tv_config_parse(const char *text, size_t len, const char *source, const char *const *sets,
                    int n_sets, tv_config *c) {
  tv_config_defaults(c);
  if (!source) source = "<config>";
  if (n_sets < 0 || (n_sets > 0 && !sets))
    return tv_error(TV_ERR_INVALID, "tv_config_parse: %d overrides without an array", n_sets);
  ctx x = {.source = source, .sets = sets};
  int rc = tv_ydoc_parse(text, len, source, TV_YDOC_CONFIG, &x.d);
  if (rc) return rc;

  x.n_origin = tv_ydoc_node_count(x.d) + 1;
  x.origin = malloc((size_t)x.n_origin * sizeof *x.origin);
  if (!x.origin) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", source);
    goto out;
  }
  for (int i = 0; i < x.n_origin; i++) x.origin[i] = -1;
  int had_root = tv_ydoc_root(x.d) != NULL;
  for (int k = 0; k < n_sets; k++) {
    if ((rc = apply_set(&x, k))) goto out;
    int n = tv_ydoc_node_count(x.d) + 1;
    int *no = realloc(x.origin, (size_t)n * sizeof *no);
    if (!no) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", source);
      goto out;
    }
    for (int i = x.n_origin; i < n; i++) no[i] = k;
    x.origin = no;
    x.n_origin = n;
  }
  /* The top-level mapping an override made for an empty file stands for the file: what is
   * missing from it (the model section) is the file's fault, not the override's. */
  if (!had_root && x.n_origin > 1) x.origin[1] = -1;
  if ((rc = validate(&x, c))) goto out;
  size_t n = strlen(source);
  if (n >= sizeof c->source) n = sizeof c->source - 1;
  memcpy(c->source, source, n);
  c->source[n] = '\0';
out:
  if (rc) tv_config_defaults(c);
  free(x.origin);
  tv_ydoc_free(x.d);
  return rc;
}

int tv_config_parse_ckpt(const char *text, size_t len, const char *source, const char *const *sets,
                         int n_sets, tv_config *c) {
  int rc = tv_config_parse(text, len, source, sets, n_sets, c);
  if (rc != TV_OK || !tv_config_data_scale_is_auto(c)) return rc;
  for (int k = 0; k < n_sets; k++)
    if (!strncmp(sets[k], "data.scale=", 11)) return TV_OK; /* auto asked for: the data's */
  c->data.scale = 1.0 / 255;
  return TV_OK;
}

int tv_config_load(const char *path, const char *const *sets, int n_sets, tv_config *c) {
  char *text;
  size_t len;
  tv_config_defaults(c);
  int rc = tv_fs_read_file(path, TV_CONFIG_MAX_BYTES, &text, &len);
  if (rc) return rc;
  rc = tv_config_parse(text, len, path, sets, n_sets, c);
  free(text);
  return rc;
}
