/* rundir.h — the train_dir protocol: the contract between train and eval, and where each of
 * its files is specified.  Including this header gives the whole protocol.
 *
 * THE LAYOUT (final form; DESIGN.md "train_dir protocol" is the summary, these headers are the
 * contract)
 *
 *   DIR/config.yaml          the run's frozen config (config.h), written by train.
 *   DIR/LOCK                 the running train's lock ("host H pid P"; lock.h: DIR itself is
 *                            locked too).
 *   DIR/checkpoints.yaml     the manifest (manifest.h): written by train only; the commit point.
 *   DIR/ckpt-%08lld.h5       checkpoint files (ckpt.h), committed and deleted by commit.h under
 *                            the rules of retention.h.
 *   DIR/events.out.tfevents.*  train's TensorBoard scalars (events.h).
 *   DIR/NAME/                one folder per evaluator, written by that evaluator only.  NAME is
 *                            1..63 bytes of [A-Za-z0-9._-], not starting with '.' ("eval" by
 *                            default; tv_eval_name_valid); one folder name is one series of
 *                            results on one split and subset.
 *     LOCK                   the running `eval --watch --name NAME`'s lock (lock.h): two
 *                            evaluators of one NAME never run at once.
 *     state.yaml             the cursor (evalstate.h), replaced atomically after every
 *                            checkpoint dealt with.
 *     metrics.jsonl          one JSON object per line per checkpoint evaluated, or skipped
 *                            because retention deleted it first (evallog.h), appended and
 *                            fsynced before state.yaml records the checkpoint.
 *     events.out.tfevents.*  TensorBoard scalars at the checkpoint's step (events.h), tags as
 *                            train's: loss, accuracy, top5, plus macro_f1, eval_lag_steps,
 *                            eval_lag_seconds.  TensorBoard pointed at DIR shows run "." (train)
 *                            and run NAME overlaid.
 *     pin-<ckpt file>        the checkpoint being evaluated, held against retention (pin.h).
 *     best.h5                the best checkpoint so far by the evaluator's metric (pin.h).
 *   DIR/STOP                 an evaluator's stop request (stop.h); DIR/STOP.handled once train
 *                            acted on it.
 *
 * EXACTLY ONCE.  For each checkpoint the evaluator: pins it; verifies size and CRC-32C against
 * the manifest entry; loads and evaluates it; appends the TensorBoard records of the result (its
 * scalars, then its figures: eval/figures.c; flushed); appends
 * the metrics.jsonl line (fsynced); replaces best.h5 if it is the new best; replaces state.yaml;
 * unpins.  A restarted evaluator reads state.yaml, then adopts every complete metrics.jsonl line
 * whose step state.yaml lacks (a crash fell between the two writes) and cuts off a torn last
 * line, so no checkpoint gets two lines and a crash during an evaluation re-evaluates only that
 * checkpoint.  A crash between the event records and the metrics line leaves records past the
 * adopted cursor: the restarted evaluator removes every record past the cursor from its event
 * files (tv_events_purge_after) before it evaluates anything, and its new event file begins with
 * a SessionLog START at cursor + 1 (tv_events_session_start), so a fresh TensorBoard and one
 * that read the orphan before the restart both show each step once.
 *
 * VERSION AND COMPATIBILITY, for every structured file here: keys may be added without a
 * version change; readers ignore keys they do not know; a reader refuses a newer
 * format_version.  Each header states its file's version.
 */
#ifndef TRAINVAL_RUNDIR_H
#define TRAINVAL_RUNDIR_H

#include "trainval/ckpt.h"
#include "trainval/commit.h"
#include "trainval/evallog.h"
#include "trainval/evalstate.h"
#include "trainval/lock.h"
#include "trainval/manifest.h"
#include "trainval/pin.h"
#include "trainval/retention.h"
#include "trainval/stop.h"

#endif
