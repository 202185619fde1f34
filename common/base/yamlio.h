/* yamlio.h — the one text and YAML stack of trainval: every structured file it reads or writes
 * (the run config, checkpoints.yaml, state.yaml, STOP, metrics.jsonl) goes through it.  A
 * growable text buffer with the quoting rules those files are written with, the scalar rules they
 * are read with, and a reader of one YAML document through libyaml's document API with typed,
 * range-checked field getters.
 *
 * This module owns no file format: each format is specified in its own header (config.h,
 * manifest.h, evalstate.h), which decides what is written and which keys are required.  What
 * lives here is how a string becomes a YAML or JSON scalar, how a scalar's text becomes a value,
 * and how a problem in a file is reported: "path:LINE:COL: problem" (1-based, as editors count).
 *
 * THE RULES (one set, tested in tests/test_yamlio.c):
 *  - A file holds exactly one YAML 1.1 document; a second one ("---") is refused.  An empty file
 *    is an empty document (no root).  Collections nest at most TV_YDOC_MAX_DEPTH deep, counted
 *    while the document is built from libyaml's events, so a hostile file fails fast.  Anchors
 *    and aliases resolve to the anchored node (a node may hold itself: readers never recurse
 *    through a document unbounded); an undefined alias or an anchor defined twice is refused.
 *  - Booleans: true/false, yes/no, on/off in any case (PyYAML's YAML 1.1 set).  y and n are not
 *    booleans when read, but the writer quotes them, since some YAML 1.1 readers take them so.
 *  - Null: a plain "", "~", null, Null or NULL.  A quoted "null" is the string.
 *  - Integers: an optional sign and decimal digits (no spaces, no 0x, no 1_000), in range.
 *    Unsigned integers: no minus sign.  Numbers: what strtod reads whole, starting with a digit, a
 *    sign, a point or a letter; NaN and infinities are refused as not finite.
 *  - A scalar holding a NUL byte (the \0 escape) is refused wherever it is read.
 *  - Writing a string: plain when it starts with a letter, '_' or '/', holds only
 *    [A-Za-z0-9._/-] and is not a bool or null look-alike (true false yes no on off y n null, any
 *    case; also none on request); double-quoted otherwise.  In quotes, " and \ are escaped, a
 *    newline and a tab as \n and \t, other control characters as \xHH, valid UTF-8 passes
 *    through as it is (so a path in any language reads back the same), code points YAML may not
 *    hold raw (C1 controls, the line breaks U+0085 U+2028 U+2029, U+FEFF, U+FFFE, U+FFFF) as
 *    \uXXXX, and bytes that are not valid UTF-8 as \ufffd (U+FFFD): the file is always valid
 *    UTF-8 that libyaml reads back.  JSON strings follow the same UTF-8 rule.
 *  - Writing a number (tv_text_yaml_f64; the config emitter's): the shortest of %.15g..%.17g
 *    that reads back to the same double, with a ".0" where the mantissa lacks a point (so a
 *    YAML 1.1 reader sees a float).  A format that fixes its own precision (times as %.6f) says
 *    so in its header; what it writes still reads back through the number rule above.
 *
 * Readers of the train_dir formats ignore keys they do not know: tv_ydoc_field looks up only the
 * key it is asked for, and refuses a key given twice in one mapping (libyaml keeps both).
 * Errors of a document are TV_ERR_FORMAT (train_dir files) or TV_ERR_CONFIG (a document parsed
 * with TV_YDOC_CONFIG), chosen when it is parsed.
 *
 * This header is private to libtrainval (common/): <yaml.h> is not part of the public API.  The
 * growable text and the JSON writer, which the programs use too, are public in trainval/text.h.
 */
#ifndef TRAINVAL_BASE_YAMLIO_H
#define TRAINVAL_BASE_YAMLIO_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "trainval/error.h"
#include "trainval/text.h"

/* ---- YAML writing (the text itself: trainval/text.h) ----------------------------------- */

/* Flags of tv_text_yaml_str. */
enum tv_text_yaml {
  TV_TEXT_YAML_QUOTE_NONE = 1 /* also quote "none" (a sentinel word in state.yaml) */
};

/* Appends s as a YAML scalar that reads back as s, by the writing rule at the top of this file
 * (plain or double-quoted).  Cannot fail (sets t->oom instead). */
void tv_text_yaml_str(tv_text *t, const char *s, unsigned flags);

/* Bytes that hold any tv_yaml_f64_str result, its NUL included. */
enum { TV_YAML_F64_CAP = 40 };

/* Writes x into buf as the shortest decimal that reads back to x, with ".0" in a mantissa that
 * lacks a point (1.0, 1.0e-05, 0.1); NaN and infinities as nan / inf.  Cannot fail. */
void tv_yaml_f64_str(char buf[TV_YAML_F64_CAP], double x);

/* Appends x as tv_yaml_f64_str writes it.  Cannot fail (sets t->oom instead). */
void tv_text_yaml_f64(tv_text *t, double x);

/* Copies s into buf (cap >= 1 bytes, cut to fit) with control characters written as \n, \t or
 * \xHH, so that a message quoting a file's text stays one line.  Cannot fail. */
void tv_yaml_one_line(char *buf, size_t cap, const char *s);

/* 1 if s has a NUL within cap bytes and every byte before it is printable ASCII (0x20..0x7e). */
int tv_text_is_printable(const char *s, size_t cap);

/* 1 if c is a word character: [A-Za-z0-9._-]. */
int tv_text_is_word_char(int c);

/* ---- scalar rules ------------------------------------------------------------------------- */

/* Results of the tv_yaml_parse_* functions (the rules at the top of this file). */
enum tv_yaml_parse {
  TV_YAML_PARSE_OK = 0,
  TV_YAML_PARSE_SYNTAX = 1, /* not written as the type asks */
  TV_YAML_PARSE_RANGE = 2   /* written right, but it does not fit (or, for a number, not finite) */
};

/* Each reads the whole of s; on anything but TV_YAML_PARSE_OK *v is unchanged.  Cannot fail. */
int tv_yaml_parse_i64(const char *s, int64_t *v);
int tv_yaml_parse_u64(const char *s, uint64_t *v);
int tv_yaml_parse_f64(const char *s, double *v);
int tv_yaml_parse_bool(const char *s, int *v); /* never TV_YAML_PARSE_RANGE */

/* 1 if n is a plain null scalar ("", ~, null, Null, NULL) or n is NULL. */
int tv_yaml_is_null(const yaml_node_t *n);

/* 1 if n is a scalar whose text is exactly s (NUL bytes in n included in the comparison). */
int tv_yaml_scalar_is(const yaml_node_t *n, const char *s);

/* What tv_yaml_find_bad_key found. */
enum tv_yaml_key_problem {
  TV_YAML_KEYS_OK = 0,  /* every key is a name, none repeated */
  TV_YAML_KEY_NOT_NAME, /* a key that is not a name: not a scalar, null, or holding a NUL byte */
  TV_YAML_KEY_TWICE     /* a key whose text an earlier key of the same mapping has */
};

/* Looks at the keys of the mapping node map of doc in order and reports the first problem: its
 * pair's position in *bad and, for TV_YAML_KEY_TWICE, the earlier pair's in *first (both
 * 0-based indices into map's pairs).  The rule for a strict reader (the config); the train_dir
 * readers apply the twice rule per key they read (tv_ydoc_field).  Cannot fail. */
int tv_yaml_find_bad_key(yaml_document_t *doc, const yaml_node_t *map, int *bad, int *first);

/* ---- YAML reading -------------------------------------------------------------------------- */

/* One loaded YAML document and the path its messages name.  Opaque; the nodes handed out point
 * into it and are valid until tv_ydoc_free. */
typedef struct tv_ydoc tv_ydoc;

/* The deepest nesting of mappings and sequences a document may have (the run config needs 4). */
enum { TV_YDOC_MAX_DEPTH = 64 };

/* Flags of tv_ydoc_parse. */
enum tv_ydoc_flag {
  TV_YDOC_CONFIG = 1u << 0, /* errors are TV_ERR_CONFIG (a run config) instead of TV_ERR_FORMAT */
  TV_YDOC_INLINE = 1u << 1  /* name is not a file but a command-line text ("--set a.b=1"):
                             * messages are "name: problem", without a position */
};

/* Parses text[0..len) (NUL bytes allowed; libyaml refuses them) as exactly one YAML document
 * named name in messages (copied) into *out (NULL on failure; the caller frees it with
 * tv_ydoc_free).  Errors (the flags' code, TV_ERR_FORMAT by default): malformed YAML
 * ("name:LINE:COL: problem (context at LINE:COL)" at libyaml's problem mark; "name: byte N:
 * problem" for bytes that are not UTF-8), a second document ("name:LINE:COL: more than one YAML
 * document"), nesting deeper than TV_YDOC_MAX_DEPTH ("name:LINE:COL: nested deeper than 64
 * levels"); TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_ydoc_parse(const char *text, size_t len, const char *name, unsigned flags,
                                tv_ydoc **out);

/* Reads the file at path and parses it as tv_ydoc_parse does (no flags) into *out (NULL on
 * failure).  Errors: TV_ERR_NOT_FOUND (no file), TV_ERR_IO (also: not a regular file, which is
 * refused without waiting on it; see tv_fs_read_file), TV_ERR_NOMEM, TV_ERR_FORMAT. */
TV_MUST_CHECK int tv_ydoc_load(const char *path, tv_ydoc **out);

/* Releases d and its nodes.  NULL-safe. */
void tv_ydoc_free(tv_ydoc *d);

/* The name d was parsed under: the path it was loaded from (d's copy). */
const char *tv_ydoc_path(const tv_ydoc *d);

/* The root node, or NULL for an empty document. */
const yaml_node_t *tv_ydoc_root(const tv_ydoc *d);

/* The node of a libyaml node index (a pair's key or value, a sequence item), or NULL. */
const yaml_node_t *tv_ydoc_node(const tv_ydoc *d, int index);

/* The libyaml document itself, for a reader that edits it before reading it (config's --set
 * grafts).  Valid until tv_ydoc_free; nodes added to it are freed with it. */
yaml_document_t *tv_ydoc_document(tv_ydoc *d);

/* The number of nodes in d (node indices run from 1 to it). */
int tv_ydoc_node_count(const tv_ydoc *d);

/* Records "path:LINE:COL: <message>" at node (1:1 when node is NULL) and returns d's error code
 * (TV_ERR_FORMAT, or TV_ERR_CONFIG for a TV_YDOC_CONFIG document). */
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

/* An integer >= min ("expected an integer", "N is below MIN"). */
TV_MUST_CHECK int tv_ydoc_i64(const tv_ydoc *d, const yaml_node_t *v, const char *key, int64_t min,
                              int64_t *out);

/* An unsigned integer, up to UINT64_MAX ("expected an unsigned integer"). */
TV_MUST_CHECK int tv_ydoc_u64(const tv_ydoc *d, const yaml_node_t *v, const char *key,
                              uint64_t *out);

/* A finite number ("expected a finite number"). */
TV_MUST_CHECK int tv_ydoc_f64(const tv_ydoc *d, const yaml_node_t *v, const char *key, double *out);

/* A boolean ("expected true or false"). */
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
