/* pipeline.h — the glue both programs share between a config and the data: which files make a
 * split, how pixels are normalised, and the evaluation loop over an INFER graph.
 *
 * Splits: "train" and "valid" come from the config's training files, divided by a seeded shuffle
 * (data.valid_fraction, data.split_seed), so train and eval agree on which examples are held
 * out without sharing anything but the config; "test" is the config's test files.
 */
#ifndef TRAINVAL_PIPELINE_H
#define TRAINVAL_PIPELINE_H

#include <stdint.h>

#include <stddef.h>

#include "trainval/config.h"
#include "trainval/data.h"
#include "trainval/error.h"
#include "trainval/metrics.h"
#include "trainval/model.h"

typedef enum tv_split { TV_SPLIT_TRAIN, TV_SPLIT_VALID, TV_SPLIT_TEST, TV_SPLIT__COUNT } tv_split;

const char *tv_split_name(tv_split s);
/* Parses "train" | "valid" | "test"; -1 if none. */
int tv_split_parse(const char *name);

/* Loads split s of the config's data into *ds (caller frees with tv_dataset_free), through
 * tv_data_load (data.h), and checks it with tv_dataset_check_model.
 * Errors: TV_ERR_NOT_FOUND (the message says to install dataset-fashion-mnist or to point
 * data.dir at other files), TV_ERR_FORMAT, TV_ERR_MISMATCH, TV_ERR_IO, TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_split_load(const tv_config *cfg, tv_split s, tv_dataset *ds);

/* The most bytes loading split s of the config's data will hold at once, planned from the files'
 * headers (tv_data_estimate, data.h) before anything is read: the reader's peak, and for the
 * train and valid splits (read from the training files and split by copying, tv_dataset_split)
 * at least twice the dataset it holds; out of core (data.memory_mb) the budget.  The files are
 * resolved as tv_split_load resolves them.  Errors: those of tv_split_load's resolution
 * (TV_ERR_CONFIG, TV_ERR_NOT_FOUND, TV_ERR_INVALID) and of tv_data_estimate; on failure *bytes
 * is 0. */
TV_MUST_CHECK int tv_split_estimate(const tv_config *cfg, tv_split s, uint64_t *bytes);

/* Both halves of the training files at once (one read of the files): *train and *valid as
 * tv_split_load gives them, except that an empty valid split is not an error here (check it with
 * tv_split_check_valid where one is needed).  On failure both are zeroed. */
TV_MUST_CHECK int tv_split_load_train_valid(const tv_config *cfg, tv_dataset *train,
                                            tv_dataset *valid);

/* Checks a loaded dataset against the model the config builds: the examples' shape against
 * model.input; for classification, class ids below model.num_classes; for regression and
 * multilabel, float targets, target_dim equal to model.num_classes (the last layer's outputs),
 * and for multilabel each target exactly 0 or 1.  The paths name the files in messages.
 * Errors: TV_ERR_MISMATCH ("<file>: ... but model.num_classes in <config> is K"). */
TV_MUST_CHECK int tv_dataset_check_model(const tv_config *cfg, const tv_dataset *ds,
                                         const char *features_path, const char *targets_path);

/* TV_ERR_INVALID naming the config when valid is empty (data.valid_fraction 0), else TV_OK. */
TV_MUST_CHECK int tv_split_check_valid(const tv_config *cfg, const tv_dataset *valid);

/* The loader's normalisation of ds (borrowed for the call) from data.scale, data.mean and
 * data.std: the scale is tv_config_data_scale's for ds's feature type (auto: 1/255 for uint8
 * images, 1 for float features); one mean and std for every channel, or, when either key is a
 * list, channels = model.input[0] with each channel's pair (tv_config_data_mean / _std).  A
 * config read from a file never has more channels than TV_NORM_MAX_CHANNELS (its lists are
 * capped by it); one with more keeps its count, which tv_loader_new refuses.  Cannot fail. */
tv_norm tv_norm_from_config(const tv_config *cfg, const tv_dataset *ds);

/* Runs model (INFER, sealed store) over examples idx[0..n) of ds (idx NULL: the first n) in
 * batches of the model's max batch, adding to metrics (tv_metrics_add: class ids or float
 * targets, as metrics' task needs).  Allocates a loader per call (tv_eval_pass: one per pass).
 * Errors: TV_ERR_NOMEM, TV_ERR_INVALID (n larger than the dataset), TV_ERR_MISMATCH (targets of
 * the other kind than metrics' task, or examples of another size than the model's input). */
TV_MUST_CHECK int tv_evaluate(tv_model *m, const tv_dataset *ds, const uint32_t *idx, uint32_t n,
                              tv_norm norm, tv_metrics *metrics);

/* tv_evaluate, and when logits is not NULL also copies each example's logits there: n rows of
 * the model's num_classes floats, in idx order (the caller's buffer).  When forward_seconds is
 * not NULL, adds to it the wall time of the forward passes alone (tv_model_forward, without the
 * batches' decoding and normalisation, the metrics or the copies).  Errors as tv_evaluate. */
TV_MUST_CHECK int tv_evaluate_logits(tv_model *m, const tv_dataset *ds, const uint32_t *idx,
                                     uint32_t n, tv_norm norm, tv_metrics *metrics, float *logits,
                                     double *forward_seconds);

/* One evaluation pass (tv_evaluate_logits's) over examples idx[0..n) of ds (idx NULL: the first
 * n; idx borrowed until the pass is freed) with one loader, taken in calls of any size, so that a
 * caller that looks at something between chunks (a cancel flag) reads the data once: out of
 * core a loader per chunk would read the block at each chunk's edge again.  task is the metrics'
 * (tv_metrics_task).  Errors of _new: as tv_evaluate's; on failure *out is NULL. */
typedef struct tv_eval_pass tv_eval_pass;
TV_MUST_CHECK int tv_eval_pass_new(tv_model *m, const tv_dataset *ds, const uint32_t *idx,
                                   uint32_t n, tv_norm norm, tv_task task, tv_eval_pass **out);

/* Evaluates the pass's next examples, batch by batch, until count of them (a multiple of the
 * model's max batch, or all that are left) are done, adding to metrics, and copying their logits
 * to logits (when not NULL) and the forward passes' time to *forward_seconds (when not NULL), as
 * tv_evaluate_logits does.  Errors: TV_ERR_MISMATCH from the metrics, and out of core a failed
 * read of the data file (tv_loader_status). */
TV_MUST_CHECK int tv_eval_pass_next(tv_eval_pass *p, uint32_t count, tv_metrics *metrics,
                                    float *logits, double *forward_seconds);

/* From the next tv_eval_pass_next on, also copies each evaluated example's target, in pass
 * order from the pass's first example: its class id to labels[i] (class ids), or its target_dim
 * floats to targets[i * target_dim ..) (float targets); the buffer of the other kind is not
 * touched and may be NULL.  Each holds the pass's n examples (borrowed until the pass is freed).
 * These are the targets the metrics were given, so a caller that needs them after the pass (eval's
 * figures) has them without the dataset's buffers, which out of core do not exist.  Cannot
 * fail. */
void tv_eval_pass_keep(tv_eval_pass *p, int32_t *labels, float *targets);

/* Frees the pass.  NULL-safe. */
void tv_eval_pass_free(tv_eval_pass *p);

/* Runs the token model m (INFER, sealed store) over the text ids[0..n) read as B contiguous
 * streams, B = its max batch (corpus.h, BATCHES), in windows of its T steps with the state
 * carried across windows (reset first), adding every scored token (B * T per window) to
 * metrics: the first `windows` windows, or all with windows 0.  *tokens gets the count.
 * Allocates its buffers per call.  Errors: TV_ERR_INVALID (the text holds no window),
 * TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_evaluate_tokens(tv_model *m, const int32_t *ids, size_t n, uint64_t windows,
                                     tv_metrics *metrics, uint64_t *tokens);

#endif
