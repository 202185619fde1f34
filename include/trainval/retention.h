/* retention.h — which committed checkpoints a commit deletes: every retention rule, in one place.
 *
 * tv_ckpt_commit (commit.h) asks tv_retention_select, once per commit, which entries of the
 * manifest go; it then writes the manifest without them and only after that unlinks their files.
 * The trainer fills a tv_retention_policy from its config (train.max_to_keep,
 * retention.keep_every_hours, retention.max_unevaluated) and passes it to the commit; it knows
 * nothing of the rules.
 *
 * THE RULES, for a commit of step S into DIR whose manifest (before the commit) is M:
 *   1. Candidates.  Of M plus S (S replaces an entry of its step), the newest max_to_keep stay;
 *      the older ones are candidates for deletion.  max_to_keep 0 keeps everything.  S itself is
 *      never a candidate, whatever its place.
 *   2. keep_every_hours (TensorFlow's keep_checkpoint_every_n_hours).  A candidate is kept for
 *      good when it is the first entry of M whose wall time is at least that many hours after
 *      the last one so kept (M's first entry starts the chain).  Derived from the manifest
 *      alone, so every process computes the same set.  0 turns it off.
 *   3. Eval-aware keep.  Of the candidates, at most max_unevaluated are kept for evaluators, in
 *      this order of priority: those an evaluator has pinned (a DIR/x/pin-<file> exists,
 *      pin.h), each evaluator's best (DIR/x/state.yaml best.file, evalstate.h), and those an
 *      evaluator of policy all has not reached (step > its cursor), oldest first, the next it
 *      will evaluate.  So the directory never holds more than max_to_keep + max_unevaluated
 *      checkpoints besides the hourly ones.  Unreadable or foreign state files are ignored
 *      (never a reason to fail training); folders without a state.yaml are not evaluators.
 *      max_unevaluated 0 turns eval-aware keep off.
 *   4. A caller's veto (policy.veto, NULL for none) keeps any other candidate it returns
 *      non-zero for.
 *   Kept candidates do not count against max_to_keep (TensorFlow's CheckpointManager rule:
 *   keeping the best never costs a recent checkpoint).  Every other candidate is deleted.
 */
#ifndef TRAINVAL_RETENTION_H
#define TRAINVAL_RETENTION_H

#include <stdint.h>

#include "trainval/error.h"
#include "trainval/manifest.h"

/* A caller's own veto (rule 4): non-zero keeps e.  Called for candidates only, during
 * tv_retention_select. */
typedef int (*tv_retention_veto_fn)(void *ctx, const tv_manifest_entry *e);

/* What a commit keeps: a plain value; designated initializers, fields may be added. */
typedef struct tv_retention_policy {
  int max_to_keep;           /* >= 0; the newest this many stay; 0 = keep every checkpoint */
  double keep_every_hours;   /* >= 0; 0 = off */
  int max_unevaluated;       /* >= 0; 0 = no eval-aware keep */
  tv_retention_veto_fn veto; /* NULL: none */
  void *veto_ctx;
} tv_retention_policy;

/* Decides, by the rules above, which entries of m a commit of new_step into dir deletes: a
 * malloc'd array *drop of *n_drop steps, ascending (caller frees; NULL when 0).  p NULL keeps
 * everything.  Reads dir/x/state.yaml and dir/x/pin-* of every subfolder x only when rule 3
 * has candidates to judge.  Errors: TV_ERR_INVALID (a negative field in p), TV_ERR_NOMEM; *drop
 * is NULL and *n_drop 0 on failure.  Nothing an evaluator wrote can make it fail. */
TV_MUST_CHECK int tv_retention_select(const char *dir, const tv_manifest *m, int64_t new_step,
                                      const tv_retention_policy *p, int64_t **drop, int *n_drop);

/* ---- rule 3 on its own ------------------------------------------------------------------- */

/* The candidates one commit keeps for evaluators: a plain value, keep malloc'd. */
typedef struct tv_retention {
  int64_t *keep; /* steps to keep, ascending */
  int n;
} tv_retention;

/* Plans rule 3 for a commit of new_step into dir whose manifest is m (before the commit): of
 * the candidates of rule 1 for max_to_keep, at most max_unevaluated to keep.  r is overwritten
 * (empty when max_to_keep or max_unevaluated is 0).  Errors: TV_ERR_NOMEM (r empty); nothing an
 * evaluator wrote can make it fail. */
TV_MUST_CHECK int tv_retention_plan(const char *dir, const tv_manifest *m, int64_t new_step,
                                    int max_to_keep, int max_unevaluated, tv_retention *r);

/* 1 if the plan ctx (a planned tv_retention) keeps e, else 0.  Cannot fail. */
int tv_retention_keep(void *ctx, const tv_manifest_entry *e);

/* Frees r's array and leaves it empty.  NULL-safe. */
void tv_retention_free(tv_retention *r);

#endif
