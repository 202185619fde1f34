/* model.h — a graph built from the config in a mode, over a variable store.
 *
 * tv_model_new(cfg, TV_MODE_TRAIN, ...) and tv_model_new(cfg, TV_MODE_INFER, ...) over the same
 * store give two graphs that share every variable: the first build declares the variables, later
 * builds look them up by name (and fail with TV_ERR_MISMATCH if a shape disagrees).  The graph
 * owns its activation arena, sized for max_batch examples at build time, so forward and backward
 * never allocate.  Layers form a DAG given by each layer's `inputs` (default: the previous layer);
 * the last layer's output are the logits (num_classes per example).
 *
 * Loss: not part of the graph.  tv_model_forward returns the outputs a loss head (loss.h)
 * reads; the loss writes d(loss)/d(outputs), and tv_model_backward back-propagates from it.
 * Softmax as the last layer: it is the graph's OUTPUT activation, not part of what training
 * differentiates.  The logits are then its input: tv_model_forward returns them in both modes,
 * so softmax cross-entropy starts from them (one fused, stable softmax; never a log of a
 * probability), and tv_metrics_update on them gives the right loss.  Its probabilities are
 * available from tv_model_outputs after any forward.  A softmax elsewhere is an ordinary layer
 * with its own backward.

 * Modes: a TRAIN forward uses batch statistics in batch_norm and updates the moving averages
 * (the store's <bn>/moving_mean and moving_variance), and drops elements in dropout with a mask
 * drawn from the model's dropout generator; an INFER forward uses the moving averages, leaves
 * dropout out, and changes nothing in the store.  Where the graph has neither layer kind, TRAIN
 * and INFER graphs over one store give bit-identical logits for the same batch.
 *
 * Fusion: a relu that reads a dense layer with no other consumer is folded into the dense (its
 * gemm's epilogue applies it; the dense's backward masks the gradient), so its pass is skipped;
 * tv_model_layer_output of that dense then gives the relu's output.  Otherwise a relu whose only
 * consumer is a max_pool2d is folded into the pool (max and relu commute, gradients included);
 * tv_model_layer_output then gives that relu's input.  Nothing else observable changes: the
 * values are the same bits as the separate passes'.
 *
 * Threads: a model runs its layers on the thread team it is given (the process's one team,
 * ctx.h, shared by every graph and the optimizer; NULL: the caller's thread alone).  Results
 * do not depend on the team's size: the work is cut by the shapes (fixed slices of examples,
 * features or filters, each its own gemm) and every sum runs in a fixed order, so --threads 1,
 * 2 and 7 give bitwise-identical parameters and a run resumes exactly with another --threads
 * (tests/integration/threads_bitwise.sh).

 * The dropout generator starts at tv_rng_seed(cfg->train.seed, TV_RNG_DROPOUT); each TRAIN
 * forward through a dropout layer advances it.  For exact resume the TRAIN graph writes it into
 * a checkpoint and reads it back itself (tv_model_ckpt_write / tv_model_ckpt_read).
 *
 * SEQUENCE MODELS.  A token model (config.h: `input: [T]`, first layer embedding) takes T token
 * ids per example (tv_model_forward_ids) and gives (T, num_classes) logits per example,
 * batch-first; the loss is per token (TV_LOSS_TOKEN_XENT over n*T rows).  Its lstm and gru
 * layers carry their state: each forward starts from the last state the previous forward left
 * (rows 0..n-1, example e continuing example e; zeros after tv_model_new or
 * tv_model_reset_state), so consecutive batches of contiguous streams are one sequence
 * (truncated backpropagation through time: backward stops at the batch's first step, no
 * gradient flows into the carried state).  A graph built over the same store from the same
 * config with `input: [1]` (cfg.model.input[0] = 1) is the generation graph: one step per
 * forward, nothing unrolled.  The TRAIN graph writes its carried state into checkpoints
 * (tv_model_ckpt_write, /state/carry/<layer>) and reads it back.
 *
 * Typical use:   tv_model_new(cfg, TRAIN) -> tv_varstore_seal -> tv_varstore_init (or load a
 * checkpoint) -> per step: tv_model_forward, a loss (tv_loss_forward into
 * tv_model_output_grad), tv_varstore_zero_grads, tv_model_backward, optimizer step.
 */
#ifndef TRAINVAL_MODEL_H
#define TRAINVAL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/ckpt.h"
#include "trainval/config.h"
#include "trainval/error.h"
#include "trainval/layers.h"
#include "trainval/rng.h"
#include "trainval/tensor.h"
#include "trainval/varstore.h"

typedef struct tv_model tv_model;

/* Builds the graph of cfg->model.  cfg is copied; store and team (may be NULL) are borrowed and
 * must outlive the model; per-thread scratch is sized for the team.  Errors: TV_ERR_CONFIG (a layer
 * that does not fit its input, an unused layer, logits of the wrong size: "file:line:col: layer
 * NAME: problem"), TV_ERR_MISMATCH (the store holds a variable of that name with another shape),
 * TV_ERR_INVALID (sealed store lacks a variable), TV_ERR_NOMEM.  *out is NULL on failure; variables
 * declared before the failure stay declared. */
TV_MUST_CHECK int tv_model_new(const tv_config *cfg, tv_mode mode, int max_batch,
                               tv_varstore *store, tv_pool *team, tv_model **out);
void tv_model_free(tv_model *m); /* NULL-safe */

/* What tv_model_new would build, without allocating its arena: the layers are built and their
 * variables declared in store exactly as tv_model_new declares them (so a later tv_model_new over
 * the same store finds them), and *bytes is what the graph's activation arena and scratch would
 * take.  Lets a caller compare the variables with a checkpoint (tv_ckpt_check_variables) and the
 * whole need with a memory limit before anything large is allocated.  Errors and the state after
 * a failure are tv_model_new's (TV_ERR_NOMEM aside from the arena); *bytes is 0 on failure. */
TV_MUST_CHECK int tv_model_plan(const tv_config *cfg, tv_mode mode, int max_batch,
                                tv_varstore *store, tv_pool *team, size_t *bytes);

/* Runs the graph on n <= max_batch examples x (n * input size floats, borrowed until the next
 * call).  Returns the logits, n * num_classes floats owned by the model, valid until the next
 * forward.  The store must be sealed.  TRAIN: updates batch-norm moving statistics and advances
 * the dropout generator (see above).  Never allocates.  Cannot fail. */
const float *tv_model_forward(tv_model *m, const float *x, int n);

/* What the last tv_model_forward returned (the logits), for a loss computed after it. */
const float *tv_model_logits(const tv_model *m);

/* The last layer's output of the last forward (n * num_classes floats, owned by the model):
 * the probabilities when the model ends in softmax, else the logits. */
const float *tv_model_outputs(const tv_model *m);

/* Layer i's output of the last forward (n examples of its per-example shape; i = -1: the
 * input).  Read only; for tests, probes and feature extraction. */
const float *tv_model_layer_output(const tv_model *m, int i);

/* TRAIN mode: where a loss writes d(loss)/d(outputs) of the last forward for tv_model_backward
 * (max_batch * num_classes floats, owned by the model, overwritten by each backward's
 * propagation; passing it to tv_model_backward saves a copy).  NULL for an INFER graph. */
float *tv_model_output_grad(tv_model *m);

/* TRAIN mode, after tv_model_forward on the same n examples: back-propagates dy = d(loss)/d(the
 * outputs tv_model_forward returned), n * num_classes floats (borrowed; may be
 * tv_model_output_grad(m)), through the graph and ADDS d(loss)/d(variable) to every trainable
 * variable's gradient (zero them first with tv_varstore_zero_grads; two backwards without
 * zeroing give twice the gradient).  Work that feeds no trainable variable (the gradient w.r.t.
 * the model input, a layer of the input that has no variable) is skipped.  Never allocates.
 * Cannot fail. */
void tv_model_backward(tv_model *m, const float *dy, int n);

/* Called by tv_model_backward after each layer's backward with ready_from: every gradient at
 * slab offset >= ready_from (tv_var.offset) is final for this backward (no layer still to run
 * adds to it).  ready_from does not increase within one backward.  For the gradient exchange of
 * data-parallel training (dist.h), which starts on the last layers' gradients while the first
 * layers compute.  The hook runs on the thread that called tv_model_backward. */
typedef void (*tv_backward_hook)(void *arg, size_t ready_from);

/* TRAIN mode, sealed store: installs fn (NULL: none) with arg (borrowed).  Cannot fail. */
void tv_model_set_backward_hook(tv_model *m, tv_backward_hook fn, void *arg);

/* The dropout generator's state (for checkpoints) and its restoration (exact resume; also how
 * a test fixes the dropout mask: set the same state before each forward). */
tv_rng tv_model_rng(const tv_model *m);
void tv_model_set_rng(tv_model *m, tv_rng rng);

/* The model's part of a checkpoint (ckpt.h, STATE LAYOUT): /state/dropout_rng, uint64 [4], the
 * dropout generator's words s[0..3]; and for each layer that carries state (lstm, gru),
 * /state/carry/<layer>, float32 [max_batch * H] (gru: h) or [2 * max_batch * H] (lstm: h then
 * c), example-major.  One graph per checkpoint writes it (train's TRAIN graph;
 * an INFER graph draws nothing).  Borrows w; m is not changed.  Errors: those of
 * tv_ckpt_writer_array (TV_ERR_INVALID when the path exists already, TV_ERR_IO). */
TV_MUST_CHECK int tv_model_ckpt_write(const tv_model *m, tv_ckpt_writer *w);

/* Restores the dropout generator and the carried states from the open checkpoint c
 * (borrowed).  Errors (the message
 * names the file): TV_ERR_NOT_FOUND (absent), TV_ERR_MISMATCH (another dtype or length),
 * TV_ERR_FORMAT.  On failure m is unchanged. */
TV_MUST_CHECK int tv_model_ckpt_read(tv_model *m, tv_ckpt *c);

/* Data-parallel token models over contiguous streams (dist.h): p TRAIN graphs of max_batch rows
 * each, graph q owning rows [q * max_batch, (q + 1) * max_batch) of the global batch.
 * tv_model_ckpt_write_parts writes what tv_model_ckpt_write writes (m's dropout generator), with
 * each /state/carry/<layer> holding the p graphs' states as one of p * max_batch rows (gru: h
 * (p * max_batch, H); lstm: h then c), the layout a one-graph run of the global batch writes:
 * parts is p snapshots of tv_model_get_state, in part order (borrowed).  Errors: those of
 * tv_model_ckpt_write, TV_ERR_NOMEM.  tv_model_ckpt_read_part reads such a checkpoint into
 * graph `part` of p (its rows of each carry); tv_model_ckpt_read is part 0 of 1.  Errors and the
 * state after failure as tv_model_ckpt_read. */
TV_MUST_CHECK int tv_model_ckpt_write_parts(const tv_model *m, tv_ckpt_writer *w,
                                            const float *parts, int p);
TV_MUST_CHECK int tv_model_ckpt_read_part(tv_model *m, tv_ckpt *c, int part, int p);

tv_mode tv_model_mode(const tv_model *m);
int tv_model_max_batch(const tv_model *m);
int tv_model_input_size(const tv_model *m); /* floats per example */
int tv_model_num_classes(const tv_model *m);
/* Floats per example of the logits: num_classes, or T * num_classes for a token model. */
int tv_model_output_size(const tv_model *m);
/* T, the time steps per example of a token model (model.input [T]); 1 for any other. */
int tv_model_steps(const tv_model *m);

/* ---- sequence models (SEQUENCE MODELS above) ---- */

/* tv_model_forward on int32 token ids: n * tv_model_input_size ids (borrowed), converted into
 * a buffer of the model's own (token models only: the first layer is an embedding).  An id
 * outside [0, vocab) looks up a zero vector.  Never allocates.  Cannot fail. */
const float *tv_model_forward_ids(tv_model *m, const int32_t *ids, int n);

/* Floats of carried state of all layers together (lstm, gru: for max_batch examples); 0 when
 * no layer carries state. */
size_t tv_model_state_floats(const tv_model *m);

/* Copies every carried state out to dst / in from src (tv_model_state_floats floats, layer
 * order; borrowed).  A snapshot to return to (a prompt's state, a gradient check).  Cannot
 * fail. */
void tv_model_get_state(const tv_model *m, float *dst);
void tv_model_set_state(tv_model *m, const float *src);

/* Zeroes every carried state (the start of a sequence).  Cannot fail. */
void tv_model_reset_state(tv_model *m);

typedef struct tv_layer_info {
  const char *name;
  const char *kind;
  tv_shape out;         /* per example */
  size_t params;        /* trainable elements */
  size_t non_trainable; /* e.g. moving statistics */
  double flops;         /* forward, per example */
} tv_layer_info;

int tv_model_num_layers(const tv_model *m);
void tv_model_layer_info(const tv_model *m, int i, tv_layer_info *info);

#endif
