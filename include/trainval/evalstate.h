/* evalstate.h — an evaluator's cursor DIR/NAME/state.yaml, and the evaluator NAME rule.
 *
 * The evaluator's folder and the exactly-once procedure it follows are laid out in rundir.h;
 * metrics.jsonl is evallog.h's, pins and best.h5 pin.h's, DIR/STOP stop.h's.  The trainer reads
 * state files (never writes them) for eval-aware retention (retention.h).
 *
 * STATE FILE  DIR/NAME/state.yaml, YAML 1.1, one block mapping:
 *
 *   # trainval evaluator state (written by eval --watch only; readers ignore unknown keys)
 *   format: trainval.evalstate       required, exactly this string
 *   format_version: 1                required, integer >= 1
 *   name: eval                       required, the evaluator's NAME
 *   host: cpu-box                    last writer's host name and process id
 *   pid: 4242
 *   updated: 1732634096.123456       unix seconds of the write
 *   split: test                      the split, the number of examples asked (0: all of the
 *   num_examples: 1000               split), the subset seed (none: the first num_examples) and
 *   subset_seed: none                the subset's hash (tv_dataset_subset, "fnv1a64:" + 16 hex
 *   subset_hash: fnv1a64:0123456789abcdef   digits; "" before the first evaluation).  A
 *                                    restarted evaluator with other values is refused: results
 *                                    on another subset belong under another NAME.
 *   policy: all                      all | latest (what to do with a backlog; may change)
 *   metric: accuracy                 loss | accuracy | top5 | macro_f1, and max | min
 *   mode: max
 *   min_delta: 0                     an improvement must beat the best by more than this
 *   patience: 3                      0: no early stopping
 *   cursor: 1200                     required; every committed checkpoint with step <= cursor
 *                                    has been dealt with (evaluated, failed, skipped or passed
 *                                    over by policy latest); -1: none yet.  It is also the
 *                                    evaluator's event-file cursor: on restart every event record
 *                                    past it is an orphan of a crash before the metrics line and
 *                                    is purged, and the new event file opens with a SessionLog
 *                                    START at cursor + 1 (rundir.h, EXACTLY ONCE)
 *   best: {step: 1000, file: ckpt-00001000.h5, value: 0.8765}   absent until a first result
 *   since_best: 2                    results since the best last improved (early stopping)
 *   stop_requested: 1300             step whose result wrote DIR/STOP; -1: none
 *   retired_baseline: 400            optional: the newest step of the manifest's retired list
 *                                    (manifest.h) when this evaluator first started (-1: none
 *                                    then).  Checkpoints retention deleted before the evaluator
 *                                    existed are not its to report; those past the baseline
 *                                    and the cursor are recorded skipped (evallog.h).  Absent
 *                                    (a state from before the key): set when the evaluator
 *                                    next starts, as for a fresh one.
 *   evaluated:                       one item per checkpoint dealt with, ascending step:
 *     - {step: 100, outcome: ok, value: 0.81}            the metric's value
 *     - {step: 200, outcome: failed, error: "..."}       checksum mismatch, HDF5 error, ...
 *     - {step: 300, outcome: skipped, error: "..."}      gone before it could be pinned
 *
 * Numbers are written so that they read back exactly (%.17g).  VERSION AND COMPATIBILITY as in
 * manifest.h: keys may be added without a version change; readers ignore keys they do not know;
 * a reader refuses a newer format_version.
 */
#ifndef TRAINVAL_EVALSTATE_H
#define TRAINVAL_EVALSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"
#include "trainval/manifest.h"

#define TV_EVALSTATE_FILE    "state.yaml"
#define TV_EVALSTATE_FORMAT  "trainval.evalstate"
#define TV_EVALSTATE_VERSION 1

enum { TV_EVAL_NAME_CAP = 64, TV_EVAL_WORD_CAP = 16, TV_EVAL_ERROR_CAP = 256 };

/* 1 if name is a valid evaluator NAME (rundir.h: 1..63 bytes of [A-Za-z0-9._-], not starting
 * with '.'), else 0. */
int tv_eval_name_valid(const char *name);

/* ---- state.yaml ---------------------------------------------------------------------------- */

typedef enum tv_eval_outcome {
  TV_EVAL_OUTCOME_OK,
  TV_EVAL_OUTCOME_FAILED,
  TV_EVAL_OUTCOME_SKIPPED
} tv_eval_outcome;

typedef struct tv_evalstate_entry {
  int64_t step;
  tv_eval_outcome outcome;
  double value;                  /* the metric, for ok */
  char error[TV_EVAL_ERROR_CAP]; /* why, for failed and skipped */
} tv_evalstate_entry;

/* An evaluator's state: a plain value owned by its user (entries malloc'd; tv_evalstate_free). */
typedef struct tv_evalstate {
  char name[TV_EVAL_NAME_CAP];
  char host[TV_MANIFEST_HOST_CAP];
  long pid;
  double updated;
  char split[TV_EVAL_WORD_CAP];
  int64_t num_examples; /* asked; 0 = the whole split */
  int has_subset_seed;
  uint64_t subset_seed;
  uint64_t subset_hash; /* 0 = not known yet */
  char policy[TV_EVAL_WORD_CAP];
  char metric[TV_EVAL_WORD_CAP];
  int mode_max; /* 1: larger is better */
  double min_delta;
  int64_t patience;
  int64_t cursor; /* -1: nothing dealt with */
  int has_best;
  int64_t best_step;
  char best_file[TV_MANIFEST_FILE_CAP];
  double best_value;
  int64_t since_best;
  int64_t stop_requested; /* -1: none */
  int has_retired_baseline;
  int64_t retired_baseline; /* -1: nothing retired when the evaluator first started */
  int n, cap;
  tv_evalstate_entry *entries; /* ascending step */
} tv_evalstate;

/* Sets s empty: name "", policy "all", metric "accuracy", mode max, cursor -1, no best,
 * stop_requested -1, no retired baseline (-1), no entries.  Frees nothing.  Cannot fail. */
void tv_evalstate_init(tv_evalstate *s);

/* Frees the entries and leaves s as tv_evalstate_init does.  NULL-safe. */
void tv_evalstate_free(tv_evalstate *s);

/* Reads the state file at path into s (freed first; on failure left as after init).
 * Errors: TV_ERR_NOT_FOUND (no file), TV_ERR_IO, TV_ERR_NOMEM, TV_ERR_FORMAT ("path:LINE:COL:
 * problem": malformed YAML, a missing or ill-typed key, a newer format_version). */
TV_MUST_CHECK int tv_evalstate_read(const char *path, tv_evalstate *s);

/* Sets updated, host and pid, then replaces the file at path atomically (tv_fs_write_atomic).
 * Errors: TV_ERR_INVALID (a field breaks the format: nothing written), TV_ERR_IO, TV_ERR_NOMEM;
 * the file on disk is unchanged on failure. */
TV_MUST_CHECK int tv_evalstate_write(const char *path, tv_evalstate *s);

/* The entry for step, or NULL.  Points into s: valid until s changes. */
const tv_evalstate_entry *tv_evalstate_find(const tv_evalstate *s, int64_t step);

/* 1 if value beats the best by more than min_delta in the state's mode (always, without a best). */
int tv_evalstate_improves(const tv_evalstate *s, double value);

/* Records a checkpoint dealt with: inserts e (keeping steps ascending; an entry of that step is
 * replaced), raises cursor to e->step, and for an ok result updates best (to e->step, file,
 * e->value, when tv_evalstate_improves) and since_best (0 on improvement, else +1).  *improved
 * (may be NULL) says whether the best changed.  Errors: TV_ERR_NOMEM (s unchanged),
 * TV_ERR_INVALID (step < 0). */
TV_MUST_CHECK int tv_evalstate_add(tv_evalstate *s, const tv_evalstate_entry *e, const char *file,
                                   int *improved);

#endif
