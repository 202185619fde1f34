/* text.h — a growable text and the JSON writer: how trainval builds every structured file it
 * writes (metrics.jsonl lines, eval --json; the YAML files through the private
 * common/base/yamlio.h, whose rules, UTF-8 handling included, the JSON writer shares).
 */
#ifndef TRAINVAL_TEXT_H
#define TRAINVAL_TEXT_H

#include <stddef.h>

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

#endif
