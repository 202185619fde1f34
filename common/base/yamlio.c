/* yamlio.c — text building and YAML document reading for the train_dir's files (see yamlio.h).
 * Invariants: a tv_text's p is NULL or NUL-terminated at n < cap; once oom is set it never
 * changes again.  A tv_ydoc holds a parsed document (have_doc) or is never handed out. */
#include "trainval/yamlio.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "trainval/fs.h"

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

int tv_text_is_printable(const char *s, size_t cap) {
  if (!memchr(s, '\0', cap)) return 0;
  for (; *s; s++)
    if (*s < 0x20 || *s > 0x7e) return 0;
  return 1;
}

void tv_text_yaml_str(tv_text *t, const char *s, unsigned flags) {
  /* What YAML 1.1 would read as a bool or null if written plain. */
  static const char *const reserved[] = {"true", "false", "yes", "no", "on",
                                         "off",  "null",  "y",   "n"};
  int plain = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z');
  for (const char *p = s; plain && *p; p++) plain = tv_text_is_word_char(*p);
  for (size_t i = 0; plain && i < sizeof reserved / sizeof reserved[0]; i++)
    plain = strcasecmp(s, reserved[i]) != 0;
  if (plain && (flags & TV_TEXT_YAML_QUOTE_NONE)) plain = strcasecmp(s, "none") != 0;
  if (plain) {
    tv_text_printf(t, "%s", s);
    return;
  }
  tv_text_printf(t, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      tv_text_printf(t, "\\%c", *p);
    else if (*p == '\n')
      tv_text_printf(t, "\\n");
    else if (*p == '\t')
      tv_text_printf(t, "\\t");
    else if (*p < 0x20 || *p == 0x7f)
      tv_text_printf(t, "\\x%02x", *p);
    else
      tv_text_printf(t, "%c", *p >= 0x80 ? '?' : *p);
  }
  tv_text_printf(t, "\"");
}

/* Length of the valid UTF-8 sequence starting at p (2..4), or 0 if there is none. */
static int utf8_len(const unsigned char *p) {
  int n = p[0] >= 0xf0 && p[0] <= 0xf4  ? 4
          : p[0] >= 0xe0 && p[0] < 0xf0 ? 3
          : p[0] >= 0xc2 && p[0] < 0xe0 ? 2
                                        : 0;
  for (int k = 1; k < n; k++)
    if ((p[k] & 0xc0) != 0x80) return 0;
  return n;
}

void tv_text_json_str(tv_text *t, const char *s) {
  tv_text_printf(t, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    int u = *p >= 0x80 ? utf8_len(p) : 0;
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

/* ---- YAML reading -------------------------------------------------------------------------- */

struct tv_ydoc {
  yaml_document_t doc;
  char path[]; /* NUL-terminated copy */
};

int tv_ydoc_error(const tv_ydoc *d, const yaml_node_t *node, const char *fmt, ...) {
  char msg[MSG_CAP];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t line = node ? node->start_mark.line + 1 : 1, col = node ? node->start_mark.column + 1 : 1;
  return tv_error(TV_ERR_FORMAT, "%s:%zu:%zu: %s", d->path, line, col, msg);
}

int tv_ydoc_load(const char *path, tv_ydoc **out) {
  *out = NULL;
  char *text = NULL;
  size_t len = 0;
  yaml_parser_t parser;
  int have_parser = 0;
  size_t path_len = strlen(path);
  tv_ydoc *d = malloc(sizeof *d + path_len + 1);
  if (!d) return tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
  memcpy(d->path, path, path_len + 1);
  int rc = tv_fs_read_all(path, &text, &len);
  if (rc) goto out;
  if (!yaml_parser_initialize(&parser)) {
    rc = tv_error(TV_ERR_NOMEM, "%s: cannot start the YAML parser", path);
    goto out;
  }
  have_parser = 1;
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &d->doc)) {
    if (parser.error == YAML_MEMORY_ERROR)
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", path);
    else
      rc = tv_error(TV_ERR_FORMAT, "%s:%zu:%zu: %s%s%s", path, parser.problem_mark.line + 1,
                    parser.problem_mark.column + 1, parser.problem ? parser.problem : "bad YAML",
                    parser.context ? " " : "", parser.context ? parser.context : "");
    goto out;
  }
  *out = d;
  d = NULL;
out:
  free(d); /* holds no document: only a successful load hands one out */
  if (have_parser) yaml_parser_delete(&parser);
  free(text);
  return rc;
}

void tv_ydoc_free(tv_ydoc *d) {
  if (!d) return;
  yaml_document_delete(&d->doc);
  free(d);
}

const char *tv_ydoc_path(const tv_ydoc *d) { return d->path; }

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
    if (!k || k->type != YAML_SCALAR_NODE || strcmp((const char *)k->data.scalar.value, key) != 0)
      continue;
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
  int rc = tv_ydoc_scalar(d, v, key, &s);
  if (rc) return rc;
  char *end;
  errno = 0;
  long long x = strtoll(s, &end, 10);
  if (s[0] == '\0' || s[0] == ' ' || *end != '\0' || errno == ERANGE)
    return tv_ydoc_error(d, v, "%s: expected an integer, got \"%s\"", key, s);
  if (x < min) return tv_ydoc_error(d, v, "%s: %lld is below %lld", key, x, (long long)min);
  *out = (int64_t)x;
  return TV_OK;
}

int tv_ydoc_u64(const tv_ydoc *d, const yaml_node_t *v, const char *key, uint64_t *out) {
  const char *s = "";
  int rc = tv_ydoc_scalar(d, v, key, &s);
  if (rc) return rc;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  /* strtoull takes a sign (and wraps "-1"): only digits may start the text. */
  if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno == ERANGE)
    return tv_ydoc_error(d, v, "%s: expected an unsigned integer, got \"%s\"", key, s);
  *out = (uint64_t)x;
  return TV_OK;
}

int tv_ydoc_f64(const tv_ydoc *d, const yaml_node_t *v, const char *key, double *out) {
  const char *s = "";
  int rc = tv_ydoc_scalar(d, v, key, &s);
  if (rc) return rc;
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (s[0] == '\0' || s[0] == ' ' || *end != '\0' || errno == ERANGE || !isfinite(x))
    return tv_ydoc_error(d, v, "%s: expected a finite number, got \"%s\"", key, s);
  *out = x;
  return TV_OK;
}

int tv_ydoc_bool(const tv_ydoc *d, const yaml_node_t *v, const char *key, int *out) {
  static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
  const char *s = "";
  int rc = tv_ydoc_scalar(d, v, key, &s);
  if (rc) return rc;
  for (int i = 0; i < 3; i++) {
    if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
      *out = strcasecmp(s, yes[i]) == 0;
      return TV_OK;
    }
  }
  return tv_ydoc_error(d, v, "%s: expected true or false, got \"%s\"", key, s);
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
