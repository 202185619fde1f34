/* optim.h — optimizers and learning-rate schedules over a sealed variable store.
 *
 * Update rules (PyTorch's, so runs can be compared step for step):
 *   clipping: with clip_norm c > 0 and global norm n = sqrt(sum of every trainable g^2) > c,
 *             every g is scaled by c / n first (torch.nn.utils.clip_grad_norm_)
 *   L2:       g += wd * p                      (sgd, adam: weight_decay as PyTorch's SGD/Adam)
 *   SGD:      buf = mu*buf + g;  p -= lr * (nesterov ? g + mu*buf : buf)   (mu = 0: plain SGD)
 *   Adam:     m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *             p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   AdamW:    p -= lr * wd * p, then Adam without L2 (decoupled weight decay)
 * Schedules: linear warmup from lr/warmup to lr over warmup_steps, then constant; cosine from
 * lr down to min_learning_rate at total_steps; step: lr * decay_rate^floor(s / decay_steps);
 * exponential: lr * decay_rate^(s / decay_steps), s counted from the end of the warmup.
 * g is the store's gradient as the step's backward passes left it (they add; the trainer zeroes
 * the slab once per step), so accumulation over micro-batches is nothing more than several
 * backwards before one update.  Slots (momentum buffer; Adam and AdamW m and v) are slabs with
 * the store's layout, so slot k of variable v is tv_optim_slot(o, k) + v->offset.  Only
 * trainable variables are touched.
 *
 * Adding an optimizer (say LAMB): 1. the config side, its tv_optim_kind constant and name, as
 * config.h's header says; 2. optim.c: its slots in tv_optim_new (named, so checkpoints carry
 * them) and its rule as one TV_VECTOR function called from update_part, with the formula in
 * this header's list above.
 */
#ifndef TRAINVAL_OPTIM_H
#define TRAINVAL_OPTIM_H

#include <stdint.h>

#include "trainval/ckpt.h"
#include "trainval/config.h"
#include "trainval/error.h"
#include "trainval/ops.h"
#include "trainval/varstore.h"

typedef struct tv_optim tv_optim;

/* store must be sealed and is borrowed.  total_steps fixes the cosine schedule's length.
 * Errors: TV_ERR_NOMEM, TV_ERR_INVALID (unsealed store). *out NULL on failure. */
TV_MUST_CHECK int tv_optim_new(const tv_config *cfg, int64_t total_steps, tv_varstore *store,
                               tv_optim **out);
void tv_optim_free(tv_optim *o); /* NULL-safe */

/* The step at which the cosine schedule reaches min_learning_rate (tv_optim_new's total_steps
 * until set).  A resumed run sets the horizon it was planned with, so that a longer run goes on
 * at the floor instead of climbing back up the curve.  Cannot fail. */
void tv_optim_set_horizon(tv_optim *o, int64_t total_steps);
int64_t tv_optim_horizon(const tv_optim *o);

/* Learning rate used for the update that takes the run from step to step + 1. */
double tv_optim_lr(const tv_optim *o, int64_t step);

/* Global L2 norm of the trainable gradients (accumulated in double); NaN or Inf if any gradient
 * is not finite.  Computed over the team (tv_optim_set_pool) in the update's fixed chunks, their
 * sums added in chunk order: the same bits for any team.  Never allocates. */
double tv_optim_grad_norm(const tv_optim *o);

/* Applies one update from the store's gradients with the learning rate of `step`; increments
 * the update counter t.  grad_norm is tv_optim_grad_norm()'s value, used for clipping (pass a
 * negative value to have it computed here when clipping is on).  Cannot fail, never allocates. */
void tv_optim_apply(tv_optim *o, int64_t step, double grad_norm);

/* Lets tv_optim_apply split its element-wise work over pool's threads (the process's team,
 * ctx.h; borrowed: it must outlive the optimizer or be replaced; NULL: the caller's thread
 * alone).  The result is the same bits with or without a pool. */
void tv_optim_set_pool(tv_optim *o, tv_pool *pool);

/* tv_optim_apply(o, step, -1). */
void tv_optim_step(tv_optim *o, int64_t step);

/* Slot access (checkpoints go through tv_optim_ckpt_write / _read below): names "momentum" (SGD
 * with mu > 0), "m" and "v" (Adam, AdamW). */
int tv_optim_num_slots(const tv_optim *o);
const char *tv_optim_slot_name(const tv_optim *o, int k);
float *tv_optim_slot(tv_optim *o, int k);
const char *tv_optim_name(const tv_optim *o); /* "sgd" | "adam" | "adamw" */
int64_t tv_optim_t(const tv_optim *o);
void tv_optim_set_t(tv_optim *o, int64_t t);

/* ---- the optimizer's part of a checkpoint (ckpt.h, STATE LAYOUT) ------------------------- */

/* Writes the optimizer's resume state into the checkpoint being written:
 *   /optimizer/<slot>/<var>  float32, the variable's shape: slot k of every trainable variable
 *                            (slots as tv_optim_slot_name names them; none for plain SGD)
 *   /optimizer               attributes type (string, tv_optim_name) and t (int64)
 *   /state/optimizer_t       int64 [1]: t, the update counter (what tv_optim_ckpt_read reads)
 * Borrows w; o is not changed.  Errors: those of tv_ckpt_writer_array and _attr_* (TV_ERR_INVALID
 * when a path exists already, TV_ERR_IO). */
TV_MUST_CHECK int tv_optim_ckpt_write(const tv_optim *o, tv_ckpt_writer *w);

/* Restores the slots of every trainable variable and t from the open checkpoint c (borrowed).
 * The checkpoint must hold this optimizer's slots (Adam's m and v serve AdamW and back; the
 * type attribute is not compared).  Errors (the message names the file and the array):
 * TV_ERR_NOT_FOUND (a slot or /state/optimizer_t absent: another optimizer, or momentum turned
 * on; when the file's type differs, the message says which it holds), TV_ERR_MISMATCH (another
 * dtype or size), TV_ERR_FORMAT.  On failure o is as new: every slot zero and t 0. */
TV_MUST_CHECK int tv_optim_ckpt_read(tv_optim *o, tv_ckpt *c);

#endif
