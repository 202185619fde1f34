/* yamlio.c — the text and YAML stack (see yamlio.h for its rules): text building and quoting,
 * scalar parsing, and YAML document reading for every structured file trainval reads or writes.
 * Invariants: a tv_text's p is NULL or NUL-terminated at n < cap; once oom is set it never
 * changes again.  A tv_ydoc holds a parsed document or is never handed out. */
#include "base/yamlio.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/fs.h"

enum { MSG_CAP = 512 };

/* ---- text building ------------------------------------------------------------------------- */

void tv_text_printf(tv_text *t, const char *fmt, ...) {
  for (;;) {
    if (t->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->p ? t->p + t->n : NULL, t->p ? t->cap - t->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
      t->oom = 1;
      return;
    }
    if (t->p && (size_t)k < t->cap - t->n) {
      t->n += (size_t)k;
      return;
    }
    size_t cap = t->cap ? t->cap : 1024;
    while (cap - t->n <= (size_t)k) cap *= 2;
    char *p = realloc(t->p, cap);
    if (!p) {
      t->oom = 1;
      return;
    }
    t->p = p;
    t->cap = cap;
  }
}

int tv_text_is_word_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

void tv_yaml_one_line(char *buf, size_t cap, const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[5];
    int k = *p == '\n'                ? snprintf(esc, sizeof esc, "\\n")
            : *p == '\t'              ? snprintf(esc, sizeof esc, "\\t")
            : *p < 0x20 || *p == 0x7f ? snprintf(esc, sizeof esc, "\\x%02x", *p)
                                      : (esc[0] = (char)*p, 1);
    if (n + (size_t)k >= cap) break;
    memcpy(buf + n, esc, (size_t)k);
    n += (size_t)k;
  }
  buf[n] = '\0';
}

int tv_text_is_printable(const char *s, size_t cap) {
  if (!memchr(s, '\0', cap)) return 0;
  for (; *s; s++)
    if (*s < 0x20 || *s > 0x7e) return 0;
  return 1;
}

/* The code point of the UTF-8 sequence at p into *cp and its length (1..4), or 0 if the bytes at
 * p are not valid UTF-8 (a stray continuation byte, a truncated or overlong sequence, a
 * surrogate, a code point above U+10FFFF). */
static int utf8_decode(const unsigned char *p, uint32_t *cp) {
  int n = p[0] < 0x80                    ? 1
          : p[0] >= 0xc2 && p[0] < 0xe0  ? 2
          : p[0] >= 0xe0 && p[0] < 0xf0  ? 3
          : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                         : 0;
  if (n == 0) return 0;
  uint32_t c = n == 1 ? p[0] : (uint32_t)p[0] & (0x7fu >> n);
  for (int k = 1; k < n; k++) {
    if ((p[k] & 0xc0) != 0x80) return 0;
    c = c << 6 | (p[k] & 0x3fu);
  }
  static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < least[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  *cp = c;
  return n;
}

/* Whether code point c (>= 0x20) may stand raw in a double-quoted scalar and read back as itself:
 * not a C1 control, not a YAML 1.1 line break (U+0085, U+2028, U+2029, which libyaml folds), not
 * a byte order mark or a non-character libyaml refuses (U+FEFF, U+FFFE, U+FFFF). */
static int yaml_raw_ok(uint32_t c) {
  return c != 0x7f && !(c >= 0x80 && c <= 0x9f) && c != 0x2028 && c != 0x2029 && c != 0xfeff &&
         c != 0xfffe && c != 0xffff;
}

/* Whether s may be written as a plain scalar (the writing rule in yamlio.h). */
static int plain_ok(const char *s, unsigned flags) {
  /* What YAML 1.1 readers would take for a bool or null if written plain. */
  static const char *const reserved[] = {"true", "false", "yes", "no", "on",
                                         "off",  "null",  "y",   "n"};
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_' || s[0] == '/'))
    return 0;
  for (const char *p = s; *p; p++)
    if (!tv_text_is_word_char(*p) && *p != '/') return 0;
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
    if (strcasecmp(s, reserved[i]) == 0) return 0;
  return !((flags & TV_TEXT_YAML_QUOTE_NONE) && strcasecmp(s, "none") == 0);
}

void tv_text_yaml_str(tv_text *t, const char *s, unsigned flags) {
  if (plain_ok(s, flags)) {
    tv_text_printf(t, "%s", s);
    return;
  }
  tv_text_printf(t, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    uint32_t c = 0;
    int u = utf8_decode(p, &c);
    if (*p == '"' || *p == '\\')
      tv_text_printf(t, "\\%c", *p);
    else if (*p == '\n')
      tv_text_printf(t, "\\n");
    else if (*p == '\t')
      tv_text_printf(t, "\\t");
    else if (u == 0)
      tv_text_printf(t, "\\ufffd");
    else if (c < 0x20 || c == 0x7f)
      tv_text_printf(t, "\\x%02x", (unsigned)c);
    else if (!yaml_raw_ok(c))
      tv_text_printf(t, "\\u%04x", (unsigned)c);
    else
      tv_text_printf(t, "%.*s", u, (const char *)p);
    if (u > 1) p += u - 1;
  }
  tv_text_printf(t, "\"");
}

void tv_yaml_f64_str(char buf[TV_YAML_F64_CAP], double x) {
  const size_t cap = TV_YAML_F64_CAP;
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) break;
  }
  /* A mantissa without '.' reads as an int (or, before an exponent, a string in YAML 1.1). */
  if (!strpbrk(buf, ".ni")) {
    char *e = strchr(buf, 'e');
    size_t n = strlen(buf), at = e ? (size_t)(e - buf) : n;
    if (n + 3 <= cap) {
      memmove(buf + at + 2, buf + at, n - at + 1);
      memcpy(buf + at, ".0", 2);
    }
  }
}

void tv_text_yaml_f64(tv_text *t, double x) {
  char buf[TV_YAML_F64_CAP];
  tv_yaml_f64_str(buf, x);
  tv_text_printf(t, "%s", buf);
}

void tv_text_json_str(tv_text *t, const char *s) {
  tv_text_printf(t, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    uint32_t c;
    int u = *p >= 0x80 ? utf8_decode(p, &c) : 0;
    if (*p == '"' || *p == '\\')
      tv_text_printf(t, "\\%c", *p);
    else if (u > 0) {
      tv_text_printf(t, "%.*s", u, (const char *)p);
      p += u - 1;
    } else if (*p >= 0x80)
      tv_text_printf(t, "\\ufffd");
    else if (*p < 0x20 || *p == 0x7f)
      tv_text_printf(t, "\\u%04x", *p);
    else
      tv_text_printf(t, "%c", *p);
  }
  tv_text_printf(t, "\"");
}

void tv_text_json_num(tv_text *t, double x) {
  if (isfinite(x))
    tv_text_printf(t, "%.9g", x);
  else
    tv_text_printf(t, "null");
}

int tv_text_check(const tv_text *t, const char *what) {
  return t->oom ? tv_error(TV_ERR_NOMEM, "%s: out of memory", what) : TV_OK;
}

void tv_text_free(tv_text *t) {
  if (!t) return;
  free(t->p);
  memset(t, 0, sizeof *t);
}

/* ---- scalar rules -------------------------------------------------------------------------- */

static int is_digit(int c) { return c >= '0' && c <= '9'; }

int tv_yaml_parse_i64(const char *s, int64_t *v) {
  if (!is_digit(s[*s == '+' || *s == '-'])) return TV_YAML_PARSE_SYNTAX;
  char *end;
  errno = 0;
  long long r = strtoll(s, &end, 10);
  if (*end) return TV_YAML_PARSE_SYNTAX;
  if (errno == ERANGE) return TV_YAML_PARSE_RANGE;
  *v = (int64_t)r;
  return TV_YAML_PARSE_OK;
}

int tv_yaml_parse_u64(const char *s, uint64_t *v) {
  const char *p = s + (*s == '+');
  if (!is_digit(*p)) return TV_YAML_PARSE_SYNTAX; /* strtoull itself takes "-1" and wraps it */
  char *end;
  errno = 0;
  unsigned long long r = strtoull(p, &end, 10);
  if (*end) return TV_YAML_PARSE_SYNTAX;
  if (errno == ERANGE) return TV_YAML_PARSE_RANGE;
  *v = (uint64_t)r;
  return TV_YAML_PARSE_OK;
}

int tv_yaml_parse_f64(const char *s, double *v) {
  int c = (unsigned char)*s;
  if (!(is_digit(c) || c == '+' || c == '-' || c == '.' || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z')))
    return TV_YAML_PARSE_SYNTAX;
  char *end;
  errno = 0;
  double r = strtod(s, &end);
  if (end == s || *end) return TV_YAML_PARSE_SYNTAX;
  if (!isfinite(r)) return TV_YAML_PARSE_RANGE; /* also an overflow, which strtod makes inf */
  *v = r;
  return TV_YAML_PARSE_OK;
}

int tv_yaml_parse_bool(const char *s, int *v) {
  static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
  for (int i = 0; i < 3; i++) {
    if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
      *v = strcasecmp(s, yes[i]) == 0;
      return TV_YAML_PARSE_OK;
    }
  }
  return TV_YAML_PARSE_SYNTAX;
}

int tv_yaml_is_null(const yaml_node_t *n) {
  if (!n) return 1;
  if (n->type != YAML_SCALAR_NODE) return 0;
  if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
      n->data.scalar.style != YAML_ANY_SCALAR_STYLE)
    return 0;
  const char *s = (const char *)n->data.scalar.value;
  return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

int tv_yaml_scalar_is(const yaml_node_t *n, const char *s) {
  return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
         memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

int tv_yaml_find_bad_key(yaml_document_t *doc, const yaml_node_t *map, int *bad, int *first) {
  const yaml_node_pair_t *pairs = map->data.mapping.pairs.start;
  int n = (int)(map->data.mapping.pairs.top - pairs);
  *bad = *first = 0;
  for (int i = 0; i < n; i++) {
    const yaml_node_t *k = yaml_document_get_node(doc, pairs[i].key);
    *bad = i;
    if (!k || k->type != YAML_SCALAR_NODE || tv_yaml_is_null(k) ||
        strlen((const char *)k->data.scalar.value) != k->data.scalar.length)
      return TV_YAML_KEY_NOT_NAME;
    for (int j = 0; j < i; j++) {
      *first = j;
      if (tv_yaml_scalar_is(yaml_document_get_node(doc, pairs[j].key),
                            (const char *)k->data.scalar.value))
        return TV_YAML_KEY_TWICE;
    }
  }
  *bad = *first = 0;
  return TV_YAML_KEYS_OK;
}

/* ---- YAML reading -------------------------------------------------------------------------- */

struct tv_ydoc {
  yaml_document_t doc;
  int code;    /* the error code of this document's problems */
  char path[]; /* NUL-terminated copy */
};

int tv_ydoc_error(const tv_ydoc *d, const yaml_node_t *node, const char *fmt, ...) {
  char msg[MSG_CAP], line_msg[MSG_CAP];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  tv_yaml_one_line(line_msg, sizeof line_msg, msg); /* msg may quote the file's text */
  size_t line = node ? node->start_mark.line + 1 : 1, col = node ? node->start_mark.column + 1 : 1;
  return tv_error(d->code, "%s:%zu:%zu: %s", d->path, line, col, line_msg);
}

/* Translates a libyaml failure: "<name>:line:col: problem (context at line:col)", or without the
 * position for an inline text. */
static int parse_error(const yaml_parser_t *p, const char *name, unsigned flags, int code) {
  const char *problem = p->problem ? p->problem : "malformed YAML";
  char context[160] = "";
  if (p->error == YAML_MEMORY_ERROR) return tv_error(TV_ERR_NOMEM, "%s: out of memory", name);
  if (p->context)
    snprintf(context, sizeof context, " (%s at %zu:%zu)", p->context, p->context_mark.line + 1,
             p->context_mark.column + 1);
  if (flags & TV_YDOC_INLINE) return tv_error(code, "%s: %s%s", name, problem, context);
  if (p->error == YAML_READER_ERROR)
    return tv_error(code, "%s: byte %zu: %s", name, p->problem_offset, problem);
  return tv_error(code, "%s:%zu:%zu: %s%s", name, p->problem_mark.line + 1,
                  p->problem_mark.column + 1, problem, context);
}

/* Builds a document from parser events (libyaml's own loader, yaml_parser_load, recurses once
 * per level and, with its scanner, takes time quadratic in the depth: 100k levels took over a
 * minute to refuse).  Here nesting is counted as it is read and refused past TV_YDOC_MAX_DEPTH,
 * in the one pass that builds the document.  Nodes carry their events' marks, as libyaml's do. */
typedef struct anchor {
  char *name;
  int node;
} anchor;

typedef struct builder {
  yaml_parser_t *parser;
  yaml_document_t *doc;
  const char *name; /* for messages */
  unsigned flags;
  int code;
  int open[TV_YDOC_MAX_DEPTH]; /* node index of each open collection, outermost first */
  int key[TV_YDOC_MAX_DEPTH];  /* an open mapping's key still waiting for its value; 0: none */
  int depth;
  anchor *anchors;
  int n_anchors, cap_anchors;
} builder;

/* "name:LINE:COL: problem" at mark (no position for an inline text), the builder's code. */
static int build_error(const builder *b, yaml_mark_t at, const char *problem) {
  if (b->flags & TV_YDOC_INLINE) return tv_error(b->code, "%s: %s", b->name, problem);
  return tv_error(b->code, "%s:%zu:%zu: %s", b->name, at.line + 1, at.column + 1, problem);
}

static int nomem(const builder *b) { return tv_error(TV_ERR_NOMEM, "%s: out of memory", b->name); }

/* Records the anchor of node idx (NULL: none).  The name is copied. */
static int add_anchor(builder *b, const yaml_char_t *name, int idx, yaml_mark_t at) {
  if (!name) return TV_OK;
  for (int i = 0; i < b->n_anchors; i++)
    if (strcmp(b->anchors[i].name, (const char *)name) == 0)
      return build_error(b, at, "found duplicate anchor");
  if (b->n_anchors == b->cap_anchors) {
    int cap = b->cap_anchors ? 2 * b->cap_anchors : 16;
    anchor *a = realloc(b->anchors, (size_t)cap * sizeof *a);
    if (!a) return nomem(b);
    b->anchors = a;
    b->cap_anchors = cap;
  }
  char *copy = strdup((const char *)name);
  if (!copy) return nomem(b);
  b->anchors[b->n_anchors++] = (anchor){copy, idx};
  return TV_OK;
}

/* Puts node idx under the innermost open collection (as a mapping's key, then its value); the
 * first node of all is the root. */
static int attach(builder *b, int idx) {
  if (b->depth == 0) return TV_OK;
  int top = b->depth - 1, parent = b->open[top], ok;
  if (yaml_document_get_node(b->doc, parent)->type == YAML_SEQUENCE_NODE) {
    ok = yaml_document_append_sequence_item(b->doc, parent, idx);
  } else if (!b->key[top]) {
    b->key[top] = idx;
    ok = 1;
  } else {
    ok = yaml_document_append_mapping_pair(b->doc, parent, b->key[top], idx);
    b->key[top] = 0;
  }
  return ok ? TV_OK : nomem(b);
}

/* Applies one node event: adds its node (or finds an alias's), attaches it, opens or closes a
 * collection. */
static int build_event(builder *b, const yaml_event_t *ev) {
  int idx = 0, rc;
  const yaml_char_t *anchor_name = NULL;
  switch (ev->type) {
  case YAML_SCALAR_EVENT:
    idx = yaml_document_add_scalar(b->doc, NULL, ev->data.scalar.value, (int)ev->data.scalar.length,
                                   ev->data.scalar.style);
    anchor_name = ev->data.scalar.anchor;
    break;
  case YAML_SEQUENCE_START_EVENT:
  case YAML_MAPPING_START_EVENT:
    if (b->depth == TV_YDOC_MAX_DEPTH) {
      char problem[64];
      snprintf(problem, sizeof problem, "nested deeper than %d levels", TV_YDOC_MAX_DEPTH);
      return build_error(b, ev->start_mark, problem);
    }
    if (ev->type == YAML_SEQUENCE_START_EVENT) {
      idx = yaml_document_add_sequence(b->doc, NULL, ev->data.sequence_start.style);
      anchor_name = ev->data.sequence_start.anchor;
    } else {
      idx = yaml_document_add_mapping(b->doc, NULL, ev->data.mapping_start.style);
      anchor_name = ev->data.mapping_start.anchor;
    }
    break;
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT:
    b->depth--;
    yaml_document_get_node(b->doc, b->open[b->depth])->end_mark = ev->end_mark;
    return TV_OK;
  case YAML_ALIAS_EVENT:
    for (int i = 0; i < b->n_anchors && !idx; i++)
      if (strcmp(b->anchors[i].name, (const char *)ev->data.alias.anchor) == 0)
        idx = b->anchors[i].node;
    if (!idx) return build_error(b, ev->start_mark, "found undefined alias");
    return attach(b, idx);
  default:
    return TV_OK;
  }
  if (!idx) return nomem(b);
  yaml_node_t *n = yaml_document_get_node(b->doc, idx);
  n->start_mark = ev->start_mark;
  n->end_mark = ev->end_mark;
  if ((rc = add_anchor(b, anchor_name, idx, ev->start_mark)) || (rc = attach(b, idx))) return rc;
  if (ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT) {
    b->key[b->depth] = 0;
    b->open[b->depth++] = idx;
  }
  return TV_OK;
}

/* Reads the first document of the parser's input into b->doc (initialized, maybe empty) and
 * refuses a second one. */
static int build_document(builder *b) {
  yaml_event_t ev;
  int rc = TV_OK, in_doc = 0, docs = 0;
  for (;;) {
    if (!yaml_parser_parse(b->parser, &ev))
      return parse_error(b->parser, b->name, b->flags, b->code);
    yaml_event_type_t t = ev.type;
    if (t == YAML_DOCUMENT_START_EVENT) {
      in_doc = 1;
      docs++;
    } else if (t == YAML_DOCUMENT_END_EVENT) {
      in_doc = 0;
    } else if (in_doc && docs == 1) {
      rc = build_event(b, &ev);
    } else if (in_doc) { /* the first node of a second document */
      rc = build_error(b, ev.start_mark, "more than one YAML document");
    }
    yaml_event_delete(&ev);
    if (rc || t == YAML_STREAM_END_EVENT) return rc;
  }
}

int tv_ydoc_parse(const char *text, size_t len, const char *name, unsigned flags, tv_ydoc **out) {
  *out = NULL;
  yaml_parser_t parser;
  int have_parser = 0, have_doc = 0, rc = TV_OK;
  size_t name_len = strlen(name);
  builder b = {.parser = &parser, .name = name, .flags = flags};
  tv_ydoc *d = malloc(sizeof *d + name_len + 1);
  if (!d) return tv_error(TV_ERR_NOMEM, "%s: out of memory", name);
  memcpy(d->path, name, name_len + 1);
  d->code = b.code = flags & TV_YDOC_CONFIG ? TV_ERR_CONFIG : TV_ERR_FORMAT;
  b.doc = &d->doc;
  if (!yaml_parser_initialize(&parser)) {
    rc = tv_error(TV_ERR_NOMEM, "%s: cannot start the YAML parser", name);
    goto out;
  }
  have_parser = 1;
  if (!yaml_document_initialize(&d->doc, NULL, NULL, NULL, 1, 1)) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", name);
    goto out;
  }
  have_doc = 1;
  yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), text ? len : 0);
  if ((rc = build_document(&b))) goto out;
  *out = d;
  d = NULL;
out:
  for (int i = 0; i < b.n_anchors; i++) free(b.anchors[i].name);
  free(b.anchors);
  if (d && have_doc) yaml_document_delete(&d->doc);
  free(d);
  if (have_parser) yaml_parser_delete(&parser);
  return rc;
}

int tv_ydoc_load(const char *path, tv_ydoc **out) {
  char *text = NULL;
  size_t len = 0;
  *out = NULL;
  int rc = tv_fs_read_all(path, &text, &len);
  if (rc == TV_OK) rc = tv_ydoc_parse(text, len, path, 0, out);
  free(text);
  return rc;
}

void tv_ydoc_free(tv_ydoc *d) {
  if (!d) return;
  yaml_document_delete(&d->doc);
  free(d);
}

const char *tv_ydoc_path(const tv_ydoc *d) { return d->path; }

yaml_document_t *tv_ydoc_document(tv_ydoc *d) { return &d->doc; }

int tv_ydoc_node_count(const tv_ydoc *d) { return (int)(d->doc.nodes.top - d->doc.nodes.start); }

const yaml_node_t *tv_ydoc_root(const tv_ydoc *d) {
  return yaml_document_get_root_node((yaml_document_t *)&d->doc);
}

const yaml_node_t *tv_ydoc_node(const tv_ydoc *d, int index) {
  return yaml_document_get_node((yaml_document_t *)&d->doc, index);
}

int tv_ydoc_field(const tv_ydoc *d, const yaml_node_t *map, const char *key, int required,
                  const yaml_node_t **v) {
  *v = NULL;
  if (map->type != YAML_MAPPING_NODE)
    return tv_ydoc_error(d, map, "expected a mapping holding \"%s\"", key);
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    const yaml_node_t *k = tv_ydoc_node(d, p->key);
    if (!tv_yaml_scalar_is(k, key)) continue;
    if (*v) {
      *v = NULL;
      return tv_ydoc_error(d, k, "%s: given twice", key);
    }
    *v = tv_ydoc_node(d, p->value);
  }
  if (!*v && required) return tv_ydoc_error(d, map, "missing key \"%s\"", key);
  return TV_OK;
}

int tv_ydoc_scalar(const tv_ydoc *d, const yaml_node_t *v, const char *key, const char **s) {
  if (v->type != YAML_SCALAR_NODE) return tv_ydoc_error(d, v, "%s: expected a single value", key);
  /* A "\0" escape would cut every string read after it short: refuse it here, once. */
  if (memchr(v->data.scalar.value, '\0', v->data.scalar.length))
    return tv_ydoc_error(d, v, "%s: holds a NUL byte", key);
  *s = (const char *)v->data.scalar.value;
  return TV_OK;
}

int tv_ydoc_i64(const tv_ydoc *d, const yaml_node_t *v, const char *key, int64_t min,
                int64_t *out) {
  const char *s = "";
  int64_t x;
  int rc = tv_ydoc_scalar(d, v, key, &s);
  if (rc) return rc;
  if (tv_yaml_parse_i64(s, &x) != TV_YAML_PARSE_OK)
    return tv_ydoc_error(d, v, "%s: expected an integer, got \"%s\"", key, s);
  if (x < min)
    return tv_ydoc_error(d, v, "%s: %lld is below %lld", key, (long long)x, (long long)min);
  *out = x;
  return TV_OK;
}

int tv_ydoc_u64(const tv_ydoc *d, const yaml_node_t *v, const char *key, uint64_t *out) {
  const char *s = "";
  int rc = tv_ydoc_scalar(d, v, key, &s);
  if (rc) return rc;
  if (tv_yaml_parse_u64(s, out) != TV_YAML_PARSE_OK)
    return tv_ydoc_error(d, v, "%s: expected an unsigned integer, got \"%s\"", key, s);
  return TV_OK;
}

int tv_ydoc_f64(const tv_ydoc *d, const yaml_node_t *v, const char *key, double *out) {
  const char *s = "";
  int rc = tv_ydoc_scalar(d, v, key, &s);
  if (rc) return rc;
  if (tv_yaml_parse_f64(s, out) != TV_YAML_PARSE_OK)
    return tv_ydoc_error(d, v, "%s: expected a finite number, got \"%s\"", key, s);
  return TV_OK;
}

int tv_ydoc_bool(const tv_ydoc *d, const yaml_node_t *v, const char *key, int *out) {
  const char *s = "";
  int rc = tv_ydoc_scalar(d, v, key, &s);
  if (rc) return rc;
  if (tv_yaml_parse_bool(s, out) != TV_YAML_PARSE_OK)
    return tv_ydoc_error(d, v, "%s: expected true or false, got \"%s\"", key, s);
  return TV_OK;
}

int tv_ydoc_str(const tv_ydoc *d, const yaml_node_t *v, const char *key, char *buf, size_t cap,
                int printable) {
  const char *s = "";
  int rc = tv_ydoc_scalar(d, v, key, &s);
  if (rc) return rc;
  if (strlen(s) >= cap) return tv_ydoc_error(d, v, "%s: longer than %zu bytes", key, cap - 1);
  snprintf(buf, cap, "%s", s);
  if (printable && !tv_text_is_printable(buf, cap))
    return tv_ydoc_error(d, v, "%s: holds a non-printable character", key);
  return TV_OK;
}

int tv_ydoc_opt_i64(const tv_ydoc *d, const yaml_node_t *map, const char *key, int64_t min,
                    int64_t *out) {
  const yaml_node_t *v;
  int rc = tv_ydoc_field(d, map, key, 0, &v);
  return rc ? rc : v ? tv_ydoc_i64(d, v, key, min, out) : TV_OK;
}

int tv_ydoc_opt_f64(const tv_ydoc *d, const yaml_node_t *map, const char *key, double *out) {
  const yaml_node_t *v;
  int rc = tv_ydoc_field(d, map, key, 0, &v);
  return rc ? rc : v ? tv_ydoc_f64(d, v, key, out) : TV_OK;
}

int tv_ydoc_opt_str(const tv_ydoc *d, const yaml_node_t *map, const char *key, char *buf,
                    size_t cap, int printable) {
  const yaml_node_t *v;
  int rc = tv_ydoc_field(d, map, key, 0, &v);
  return rc ? rc : v ? tv_ydoc_str(d, v, key, buf, cap, printable) : TV_OK;
}

int tv_ydoc_root_map(const tv_ydoc *d, const yaml_node_t **root) {
  *root = tv_ydoc_root(d);
  if (*root && (*root)->type == YAML_MAPPING_NODE) return TV_OK;
  int rc = tv_ydoc_error(d, *root, "expected a mapping (format: ...)");
  *root = NULL;
  return rc;
}

int tv_ydoc_format(const tv_ydoc *d, const yaml_node_t *root, const char *format, int version) {
  const yaml_node_t *v;
  const char *s = "";
  int rc;
  if ((rc = tv_ydoc_field(d, root, "format", 1, &v)) || (rc = tv_ydoc_scalar(d, v, "format", &s)))
    return rc;
  if (strcmp(s, format) != 0) return tv_ydoc_error(d, v, "format: \"%s\" is not %s", s, format);
  int64_t got;
  if ((rc = tv_ydoc_field(d, root, "format_version", 1, &v)) ||
      (rc = tv_ydoc_i64(d, v, "format_version", 1, &got)))
    return rc;
  if (got > version)
    return tv_ydoc_error(
        d, v, "format_version %lld is newer than this trainval reads (%d); upgrade trainval",
        (long long)got, version);
  return TV_OK;
}
