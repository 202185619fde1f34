/* yamlio.h — the text and YAML plumbing shared by the train_dir's structured files
 * (checkpoints.yaml, state.yaml, STOP, metrics.jsonl): a growable text buffer with the quoting
 * rules those files are written with, and a reader of one YAML document through libyaml's
 * document API with typed, range-checked field getters.
 *
 * This module owns no file format: each format is specified in its own header (manifest.h,
 * evalstate.h), which decides what is written and which keys are required.  What lives here is
 * how a string becomes a YAML or JSON scalar, and how a problem in a file is reported:
 * "path:LINE:COL: problem" (1-based, as editors count) with TV_ERR_FORMAT.
 *
 * Readers of these formats ignore keys they do not know: tv_ydoc_field looks up only the key it
 * is asked for, and refuses a key given twice in one mapping (libyaml keeps both).
 */
#ifndef TRAINVAL_YAMLIO_H
#define TRAINVAL_YAMLIO_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "trainval/error.h"

/* ---- text building ------------------------------------------------------------------------- */

/* A growable NUL-terminated text.  A plain value: start it as `tv_text t = {0};`, append, check
 * with tv_text_check, use p[0..n), release with tv_text_free.  The appenders cannot fail: an
 * allocation failure sets oom, after which they do nothing; the text so far stays valid. */
typedef struct tv_text {
  char *p;    /* malloc'd, owned; NULL until the first append */
  size_t n;   /* bytes used, the NUL not counted */
  size_t cap; /* bytes allocated */
  int oom;    /* an append ran out of memory: the text is incomplete */
} tv_text;

/* Appends printf(fmt, ...).  Cannot fail (sets t->oom instead). */
void tv_text_printf(tv_text *t, const char *fmt, ...) TV_PRINTF(2, 3);

/* Flags of tv_text_yaml_str. */
enum tv_text_yaml {
  TV_TEXT_YAML_QUOTE_NONE = 1 /* also quote "none" (a sentinel word in state.yaml) */
};

/* Appends s as a YAML scalar that reads back as s: plain when s starts with a letter, holds only
 * [A-Za-z0-9._-] and is not a word YAML 1.1 reads as a bool or null (true false yes no on off
 * null y n, any case; also none with TV_TEXT_YAML_QUOTE_NONE), double-quoted otherwise with
 * \" \\ \n \t \xHH escapes.  Bytes >= 0x80 are written '?' so the file stays valid UTF-8.
 * Cannot fail (sets t->oom instead). */
void tv_text_yaml_str(tv_text *t, const char *s, unsigned flags);

/* Appends s as a JSON string: \" and \\ escaped, bytes below 0x20 and 0x7f as \u00XX, valid UTF-8
 * sequences as they are, any other byte from 0x80 up as \ufffd (so the result is valid JSON in
 * UTF-8 whatever s holds).
 * Cannot fail (sets t->oom instead). */
void tv_text_json_str(tv_text *t, const char *s);

/* Appends x as a JSON number (%.9g); NaN and Inf have no JSON form and are written null.
 * Cannot fail (sets t->oom instead). */
void tv_text_json_num(tv_text *t, double x);

/* TV_OK if every append succeeded, else TV_ERR_NOMEM with "<what>: out of memory".  t is left
 * as it is either way. */
TV_MUST_CHECK int tv_text_check(const tv_text *t, const char *what);

/* Frees t's text and leaves t as {0}.  NULL-safe. */
void tv_text_free(tv_text *t);

/* 1 if s has a NUL within cap bytes and every byte before it is printable ASCII (0x20..0x7e). */
int tv_text_is_printable(const char *s, size_t cap);

/* 1 if c is a word character: [A-Za-z0-9._-]. */
int tv_text_is_word_char(int c);

/* ---- YAML reading -------------------------------------------------------------------------- */

/* One loaded YAML document and the path its messages name.  Opaque; the nodes handed out point
 * into it and are valid until tv_ydoc_free. */
typedef struct tv_ydoc tv_ydoc;

/* Reads the file at path and parses its first document into *out (NULL on failure; the caller
 * frees it with tv_ydoc_free).  path is copied.  Errors: TV_ERR_NOT_FOUND (no file), TV_ERR_IO,
 * TV_ERR_NOMEM, TV_ERR_FORMAT (malformed YAML: "path:LINE:COL: problem context" at libyaml's
 * problem mark). */
TV_MUST_CHECK int tv_ydoc_load(const char *path, tv_ydoc **out);

/* Releases d and its nodes.  NULL-safe. */
void tv_ydoc_free(tv_ydoc *d);

/* The path d was loaded from (d's copy). */
const char *tv_ydoc_path(const tv_ydoc *d);

/* The root node, or NULL for an empty document. */
const yaml_node_t *tv_ydoc_root(const tv_ydoc *d);

/* The node of a libyaml node index (a pair's key or value, a sequence item), or NULL. */
const yaml_node_t *tv_ydoc_node(const tv_ydoc *d, int index);

/* Records "path:LINE:COL: <message>" at node (1:1 when node is NULL) and returns TV_ERR_FORMAT. */
int tv_ydoc_error(const tv_ydoc *d, const yaml_node_t *node, const char *fmt, ...) TV_PRINTF(3, 4);

/* Sets *root to the root node when it is a mapping, as every train_dir file's is.  Errors:
 * TV_ERR_FORMAT ("expected a mapping (format: ...)" at the root, or 1:1 for an empty document;
 * *root NULL). */
TV_MUST_CHECK int tv_ydoc_root_map(const tv_ydoc *d, const yaml_node_t **root);

/* Checks that root's format: is exactly format ("format: \"x\" is not <format>") and that its
 * format_version: is an integer from 1 up to version ("format_version N is newer than this
 * trainval reads (V); upgrade trainval"), before anything else is read, so that a newer file is
 * refused before its content is judged.  Errors: TV_ERR_FORMAT. */
TV_MUST_CHECK int tv_ydoc_format(const tv_ydoc *d, const yaml_node_t *root, const char *format,
                                 int version);

/* Sets *v to the value of key in the mapping map.  An absent key leaves *v NULL, which is an
 * error ("missing key \"key\"" at map) when required is set.  Errors: TV_ERR_FORMAT (absent and
 * required, key given twice, map not a mapping). */
TV_MUST_CHECK int tv_ydoc_field(const tv_ydoc *d, const yaml_node_t *map, const char *key,
                                int required, const yaml_node_t **v);

/* The typed getters read the scalar node v, the value of key (key names it in messages).  On
 * failure *out is unchanged and the error is TV_ERR_FORMAT at v. */

/* *s = v's text ("key: expected a single value" when v is not a scalar; "key: holds a NUL
 * byte" when a "\0" escape put one inside it, which every C string would cut short).  Points
 * into d. */
TV_MUST_CHECK int tv_ydoc_scalar(const tv_ydoc *d, const yaml_node_t *v, const char *key,
                                 const char **s);

/* A decimal integer >= min ("expected an integer", "N is below MIN"). */
TV_MUST_CHECK int tv_ydoc_i64(const tv_ydoc *d, const yaml_node_t *v, const char *key, int64_t min,
                              int64_t *out);

/* A decimal integer without a sign, up to UINT64_MAX ("expected an unsigned integer"). */
TV_MUST_CHECK int tv_ydoc_u64(const tv_ydoc *d, const yaml_node_t *v, const char *key,
                              uint64_t *out);

/* A finite number ("expected a finite number"). */
TV_MUST_CHECK int tv_ydoc_f64(const tv_ydoc *d, const yaml_node_t *v, const char *key, double *out);

/* true/yes/on -> 1, false/no/off -> 0, any case ("expected true or false"). */
TV_MUST_CHECK int tv_ydoc_bool(const tv_ydoc *d, const yaml_node_t *v, const char *key, int *out);

/* A string of at most cap - 1 bytes copied into buf ("longer than N bytes"); with printable set,
 * printable ASCII only ("holds a non-printable character").  On failure buf may hold a copy of
 * the refused text. */
TV_MUST_CHECK int tv_ydoc_str(const tv_ydoc *d, const yaml_node_t *v, const char *key, char *buf,
                              size_t cap, int printable);

/* Optional keys of map: tv_ydoc_field then the getter above; an absent key leaves *out (buf) as
 * it is and returns TV_OK. */
TV_MUST_CHECK int tv_ydoc_opt_i64(const tv_ydoc *d, const yaml_node_t *map, const char *key,
                                  int64_t min, int64_t *out);
TV_MUST_CHECK int tv_ydoc_opt_f64(const tv_ydoc *d, const yaml_node_t *map, const char *key,
                                  double *out);
TV_MUST_CHECK int tv_ydoc_opt_str(const tv_ydoc *d, const yaml_node_t *map, const char *key,
                                  char *buf, size_t cap, int printable);

#endif
