/* evalstate.h — the evaluator's side of the train_dir protocol and the trainer's view of it:
 * the files an evaluator keeps in DIR/NAME/, the STOP request, and eval-aware retention.
 *
 * THE PROTOCOL (final form; DESIGN.md "train_dir protocol" is the summary, this is the contract)
 *
 *   DIR/checkpoints.yaml     the manifest (manifest.h): written by train only; the commit point.
 *   DIR/NAME/                one folder per evaluator, written by that evaluator only.  NAME is
 *                            1..63 bytes of [A-Za-z0-9._-], not starting with '.' ("eval" by
 *                            default); one folder name is one series of results on one split and
 *                            subset.
 *     LOCK                   flock'd by the running `eval --watch --name NAME` ("host H pid P"):
 *                            two evaluators of one NAME never run at once.
 *     state.yaml             the cursor (format below), replaced atomically after every
 *                            checkpoint dealt with.
 *     metrics.jsonl          one JSON object per line per checkpoint evaluated (format below),
 *                            appended and fsynced before state.yaml records the checkpoint.
 *     events.out.tfevents.*  TensorBoard scalars at the checkpoint's step (events.h), tags as
 *                            train's: loss, accuracy, top5, plus macro_f1, eval_lag_steps,
 *                            eval_lag_seconds.  TensorBoard pointed at DIR shows run "." (train)
 *                            and run NAME overlaid.
 *     pin-<ckpt file>        a hard link to the checkpoint being evaluated, made before its
 *                            checksum is verified and removed once it is recorded: the trainer's
 *                            retention may unlink DIR/<ckpt file>, the evaluator still reads the
 *                            same inode.  Where hard links are refused (some FUSE, SMB mounts)
 *                            the pin is a copy read through an open descriptor.  Pins left by a
 *                            crash are removed when the evaluator of that NAME starts again.
 *     best.h5                hard link (or copy, as above) to the best checkpoint so far by the
 *                            evaluator's metric, replaced atomically (link to a temporary name,
 *                            rename), kept across restarts.
 *   DIR/STOP                 a stop request (format below), written atomically by an evaluator
 *                            whose metric stopped improving; train stops at its next step's end
 *                            (saves a checkpoint, reason early_stop, status early_stopped), then
 *                            renames it to DIR/STOP.handled.  A STOP present when train starts
 *                            is stale (no trainer was there to act on it): train renames it to
 *                            STOP.handled and says so.
 *
 * EXACTLY ONCE.  For each checkpoint the evaluator: pins it; verifies size and CRC-32C against
 * the manifest entry; loads and evaluates it; appends the TensorBoard record (flushed); appends
 * the metrics.jsonl line (fsynced); replaces best.h5 if it is the new best; replaces state.yaml;
 * unpins.  A restarted evaluator reads state.yaml, then adopts every complete metrics.jsonl line
 * whose step state.yaml lacks (a crash fell between the two writes) and cuts off a torn last
 * line, so no checkpoint gets two lines and a crash during an evaluation re-evaluates only that
 * checkpoint.  (A crash between the event record and the metrics line may leave a second event
 * at that step, which TensorBoard draws as one point.)
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
 *                                    over by policy latest); -1: none yet
 *   best: {step: 1000, file: ckpt-00001000.h5, value: 0.8765}   absent until a first result
 *   since_best: 2                    results since the best last improved (early stopping)
 *   stop_requested: 1300             step whose result wrote DIR/STOP; -1: none
 *   evaluated:                       one item per checkpoint dealt with, ascending step:
 *     - {step: 100, outcome: ok, value: 0.81}            the metric's value
 *     - {step: 200, outcome: failed, error: "..."}       checksum mismatch, HDF5 error, ...
 *     - {step: 300, outcome: skipped, error: "..."}      gone before it could be pinned
 *
 * Numbers are written so that they read back exactly (%.17g).  VERSION AND COMPATIBILITY as in
 * manifest.h: keys may be added without a version change; readers ignore keys they do not know;
 * a reader refuses a newer format_version.
 *
 * METRICS LINE  DIR/NAME/metrics.jsonl, UTF-8 JSON, one object per line, keys in this order:
 *   step, checkpoint (file name), checksum ("crc32c:..."), split, num_examples, subset_hash,
 *   subset_seed (null or integer), loss, accuracy, top5, macro_f1,
 *   per_class {precision: [..], recall: [..], f1: [..], support: [..]} (one entry per class),
 *   confusion [[..], ..] (rows: true class, columns: predicted class),
 *   checkpoint_wall_time, eval_wall_time (unix seconds of the save and of the result),
 *   eval_seconds, lag_steps, lag_seconds (behind the newest committed checkpoint when the
 *   result was recorded), evaluator (NAME), host.
 * Readers find "step" first on each line; keys may be added at the end.
 *
 * STOP FILE  DIR/STOP, YAML:
 *   format: trainval.stop, format_version: 1, by (evaluator NAME), host, pid, time (unix
 *   seconds), reason (a sentence), metric, mode, best_step, best_value, step (the result that
 *   triggered it).
 *
 * RETENTION  (train's tv_ckpt_commit keep predicate, built by tv_retention_plan).  Of the
 * checkpoints max_to_keep would delete, train keeps, in this order of priority and at most
 * max_unevaluated of them in all (so the directory never holds more than max_to_keep +
 * max_unevaluated checkpoints): those an evaluator has pinned (a DIR/x/pin-<file> exists), each
 * evaluator's best (state.yaml best.file), and those an evaluator of policy all has not reached
 * (step > its cursor), oldest first, the next it will evaluate.  Unreadable or foreign state
 * files are ignored (never a reason to fail training); folders without a state.yaml are not
 * evaluators.  max_unevaluated 0 turns eval-aware retention off.
 */
#ifndef TRAINVAL_EVALSTATE_H
#define TRAINVAL_EVALSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"
#include "trainval/manifest.h"
#include "trainval/metrics.h"

#define TV_EVALSTATE_FILE    "state.yaml"
#define TV_EVALSTATE_FORMAT  "trainval.evalstate"
#define TV_EVALSTATE_VERSION 1
#define TV_EVALLOG_FILE      "metrics.jsonl"
#define TV_STOP_FILE         "STOP"
#define TV_STOP_HANDLED_FILE "STOP.handled"
#define TV_STOP_FORMAT       "trainval.stop"
#define TV_STOP_VERSION      1
#define TV_PIN_PREFIX        "pin-"
#define TV_BEST_FILE         "best.h5"

enum { TV_EVAL_NAME_CAP = 64, TV_EVAL_WORD_CAP = 16, TV_EVAL_ERROR_CAP = 256 };

/* 1 if name is a valid evaluator NAME (see above), else 0. */
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
  int n, cap;
  tv_evalstate_entry *entries; /* ascending step */
} tv_evalstate;

/* Sets s empty: name "", policy "all", metric "accuracy", mode max, cursor -1, no best,
 * stop_requested -1, no entries.  Frees nothing.  Cannot fail. */
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

/* ---- metrics.jsonl ------------------------------------------------------------------------- */

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
} tv_evallog_record;

/* Formats the line (keys as above, ending in '\n') into a malloc'd string *line (caller frees).
 * Errors: TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_evallog_format(const tv_evallog_record *r, const tv_metrics *m, char **line);

/* Appends line to the file at path (created 0644), fsyncs and closes it.  On failure the file
 * may end in a partial line, which tv_evallog_scan cuts off.  Errors: TV_ERR_IO. */
TV_MUST_CHECK int tv_evallog_append(const char *path, const char *line);

/* One complete line of metrics.jsonl as tv_evallog_scan reads it. */
typedef struct tv_evallog_line {
  int64_t step;
  char checkpoint[TV_MANIFEST_FILE_CAP];
  double value; /* the asked key's number; NaN if the line has none */
} tv_evallog_line;

/* Reads the file at path: each complete line's step, checkpoint and the number under key (say
 * "accuracy") into a malloc'd array *lines of *n (caller frees; NULL when 0).  A last line
 * without its newline or not starting {"step": is torn: when truncate is set the file is cut
 * back to the end of the last complete line.  A missing file gives 0 lines.  Errors: TV_ERR_IO,
 * TV_ERR_NOMEM, TV_ERR_FORMAT (a complete line that does not start {"step": N). */
TV_MUST_CHECK int tv_evallog_scan(const char *path, const char *key, int truncate,
                                  tv_evallog_line **lines, int *n);

/* ---- pins and best.h5 ---------------------------------------------------------------------- */

/* Pins dir/file as dir/name/pin-<file> (hard link; a copy read through one open descriptor
 * where links are refused), replacing a stale pin of that name, and writes its path to pin
 * (cap bytes).  Errors: TV_ERR_NOT_FOUND (dir/file is gone: ENOENT or ESTALE; nothing left
 * behind), TV_ERR_IO, TV_ERR_INVALID (path too long). */
TV_MUST_CHECK int tv_pin_create(const char *dir, const char *name, const char *file, char *pin,
                                size_t cap);

/* Removes every dir/name/pin-* (an evaluator's own stale pins after a crash).  Errors:
 * TV_ERR_IO (the folder cannot be read; pins that cannot be removed are skipped). */
TV_MUST_CHECK int tv_pin_clear(const char *dir, const char *name);

/* Replaces dir/name/best.h5 atomically with a hard link to (or copy of) the file at src.
 * Errors: TV_ERR_NOT_FOUND (src is gone), TV_ERR_IO; best.h5 is unchanged on failure. */
TV_MUST_CHECK int tv_best_update(const char *dir, const char *name, const char *src);

/* ---- DIR/STOP ------------------------------------------------------------------------------ */

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

/* ---- eval-aware retention (train's side) --------------------------------------------------- */

/* The checkpoints one commit keeps for evaluators: a plain value, keep malloc'd. */
typedef struct tv_retention {
  int64_t *keep; /* steps to keep, ascending */
  int n;
} tv_retention;

/* Plans the vetoes for a commit of new_step into dir whose manifest is m (before the commit):
 * reads dir/x/state.yaml and dir/x/pin-* of every subfolder x, and picks, of the checkpoints
 * max_to_keep would drop, at most max_unevaluated to keep (rules at RETENTION above).  r is
 * overwritten (empty when max_to_keep or max_unevaluated is 0).  Errors: TV_ERR_NOMEM (r empty);
 * nothing an evaluator wrote can make it fail. */
TV_MUST_CHECK int tv_retention_plan(const char *dir, const tv_manifest *m, int64_t new_step,
                                    int max_to_keep, int max_unevaluated, tv_retention *r);

/* The tv_ckpt_keep_fn for tv_ckpt_commit: ctx is a planned tv_retention. */
int tv_retention_keep(void *ctx, const tv_manifest_entry *e);

/* Frees r's array and leaves it empty.  NULL-safe. */
void tv_retention_free(tv_retention *r);

#endif
