/* stop.h — DIR/STOP: cross-process early stopping, an evaluator's request to the trainer.
 *
 * An evaluator whose metric stopped improving (patience results without beating the best by
 * more than min_delta, evalstate.h) writes DIR/STOP atomically; train stops at its next step's
 * end (saves a checkpoint, reason early_stop, status early_stopped), then renames it to
 * DIR/STOP.handled.  A STOP present when train starts is stale (no trainer was there to act on
 * it): train renames it to STOP.handled and says so.
 *
 * STOP FILE  DIR/STOP, YAML 1.1, one block mapping:
 *   format: trainval.stop            required, exactly this string
 *   format_version: 1                required, integer >= 1
 *   by: eval                         required, the evaluator NAME
 *   host, pid, time                  the writer and unix seconds of the write
 *   reason                           a sentence for the trainer to print
 *   metric, mode                     what the evaluator follows (max | min)
 *   best_step, best_value            its best result
 *   step                             the result that triggered the request
 *
 * VERSION AND COMPATIBILITY: format_version is 1; keys may be added without a version change;
 * readers ignore keys they do not know and refuse a newer format_version.  Only the file's
 * presence carries the request (tv_stop_requested): a STOP train cannot read still stops it.
 */
#ifndef TRAINVAL_STOP_H
#define TRAINVAL_STOP_H

#include <stdint.h>

#include "trainval/error.h"
#include "trainval/evalstate.h"
#include "trainval/manifest.h"

#define TV_STOP_FILE         "STOP"
#define TV_STOP_HANDLED_FILE "STOP.handled"
#define TV_STOP_FORMAT       "trainval.stop"
#define TV_STOP_VERSION      1

typedef struct tv_stop_request {
  char by[TV_EVAL_NAME_CAP];
  char host[TV_MANIFEST_HOST_CAP];
  long pid;
  double time;
  char reason[TV_EVAL_ERROR_CAP];
  char metric[TV_EVAL_WORD_CAP];
  int mode_max;
  int64_t best_step;
  double best_value;
  int64_t step;
} tv_stop_request;

/* Writes dir/STOP atomically from r (host, pid and time are set here).  Errors: TV_ERR_IO,
 * TV_ERR_NOMEM, TV_ERR_INVALID (a field not printable). */
TV_MUST_CHECK int tv_stop_write(const char *dir, tv_stop_request *r);

/* Reads dir/STOP.  Errors: TV_ERR_NOT_FOUND, TV_ERR_IO, TV_ERR_NOMEM, TV_ERR_FORMAT. */
TV_MUST_CHECK int tv_stop_read(const char *dir, tv_stop_request *r);

/* 1 if dir/STOP exists: one stat(2), cheap enough for every training step.  Cannot fail. */
int tv_stop_requested(const char *dir);

/* Renames dir/STOP to dir/STOP.handled (replacing an older one) once train has acted on it.
 * A STOP already gone is not an error.  Errors: TV_ERR_IO. */
TV_MUST_CHECK int tv_stop_consume(const char *dir);

#endif
