/* evallog.h — an evaluator's results DIR/NAME/metrics.jsonl: one JSON line per checkpoint
 * evaluated, appended and fsynced before state.yaml (evalstate.h) records the checkpoint; a
 * restarted evaluator adopts lines state.yaml lacks and cuts off a torn last line (rundir.h,
 * EXACTLY ONCE).
 *
 * METRICS LINE  DIR/NAME/metrics.jsonl, UTF-8 JSON, one object per line, keys in this order:
 *   step, checkpoint (file name), checksum ("crc32c:..."), split, num_examples, subset_hash,
 *   subset_seed (null or integer), then the metric-table rows of the run's model.task in table
 *   order (metrics.h): classification loss, accuracy, top5, macro_f1, then
 *   per_class {precision: [..], recall: [..], f1: [..], support: [..]} (one entry per class),
 *   confusion [[..], ..] (rows: true class, columns: predicted class);
 *   regression loss, mae, rmse, r2 (no per-class keys);
 *   multilabel loss, macro_f1, micro_f1, map, then
 *   per_label {precision: [..], recall: [..], f1: [..], support: [..]} (one entry per label);
 *   and for every task
 *   checkpoint_wall_time, eval_wall_time (unix seconds of the save and of the result),
 *   eval_seconds, lag_steps, lag_seconds (behind the newest committed checkpoint when the
 *   result was recorded), sample (only with a generated sample: a token model evaluated with
 *   --generate; the text as a JSON string), evaluator (NAME), host.
 * Strings are JSON-escaped by yamlio's one JSON writer; non-finite numbers are null.
 *
 * SKIPPED LINE  a committed checkpoint the evaluator could not evaluate because retention deleted
 *   it first (the manifest's retired list, or gone from the manifest when it came to pin it):
 *   step, checkpoint, skipped (why: "deleted by retention before evaluation"), eval_wall_time,
 *   evaluator, host.  It has no metrics; a reader tells it by its "skipped" key.
 *
 * VERSION AND COMPATIBILITY: the line has no version key.  Readers find "step" first on each
 * line and look keys up by name; keys may be added at the end, never removed or renamed.
 */
#ifndef TRAINVAL_EVALLOG_H
#define TRAINVAL_EVALLOG_H

#include <stdint.h>

#include "trainval/error.h"
#include "trainval/manifest.h"
#include "trainval/metrics.h"

#define TV_EVALLOG_FILE "metrics.jsonl"

/* What one metrics line records besides the metrics themselves. */
typedef struct tv_evallog_record {
  int64_t step;
  const char *checkpoint; /* file name */
  uint32_t crc32c;
  const char *split;
  uint64_t subset_hash;
  int has_subset_seed;
  uint64_t subset_seed;
  double checkpoint_wall_time, eval_wall_time, eval_seconds;
  int64_t lag_steps;
  double lag_seconds;
  const char *evaluator, *host;
  const char *sample; /* a token model's generated sample (eval --generate), or NULL: none */
} tv_evallog_record;

/* Formats the line (keys as above, ending in '\n') into a malloc'd string *line (caller frees).
 * Errors: TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_evallog_format(const tv_evallog_record *r, const tv_metrics *m, char **line);

/* Formats the skipped line (SKIPPED LINE above, ending in '\n') of r's step, checkpoint,
 * eval_wall_time, evaluator and host, with why, into a malloc'd string *line (caller frees).
 * Errors: TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_evallog_format_skipped(const tv_evallog_record *r, const char *why,
                                            char **line);

/* Appends line to the file at path (created 0644), fsyncs and closes it.  On failure the file
 * may end in a partial line, which tv_evallog_scan cuts off.  Errors: TV_ERR_IO. */
TV_MUST_CHECK int tv_evallog_append(const char *path, const char *line);

/* One complete line of metrics.jsonl as tv_evallog_scan reads it. */
typedef struct tv_evallog_line {
  int64_t step;
  char checkpoint[TV_MANIFEST_FILE_CAP];
  double value; /* the asked key's number; NaN if the line has none */
  int skipped;  /* 1 for a skipped line (no metrics) */
} tv_evallog_line;

/* Reads the file at path: each complete line's step, checkpoint, whether it is a skipped line
 * and the number under key (say "accuracy") into a malloc'd array *lines of *n (caller frees; NULL
 * when 0).  A last line without its newline or not starting {"step": is torn: when truncate is set
 * the file is cut back to the end of the last complete line.  A missing file gives 0 lines. Errors:
 * TV_ERR_IO, TV_ERR_NOMEM, TV_ERR_FORMAT (a complete line that does not start {"step": N). */
TV_MUST_CHECK int tv_evallog_scan(const char *path, const char *key, int truncate,
                                  tv_evallog_line **lines, int *n);

#endif
