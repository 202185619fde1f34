/* ctx.h — the process's compute context: the one thread team that every graph, the optimizer
 * and any other data-parallel work of the process share.
 *
 * A program creates one context at start (train's trainer, eval's evaluator) and lends its team
 * to everything that computes: tv_model_new (TRAIN and INFER graphs alike), tv_optim_set_pool.
 * So train with in-process validation has one team, not one per graph, and no team waits
 * spinning while another works.  The team's threads each call gemm, so the context holds
 * OpenBLAS to one thread per call for the rest of the process (set once here; nothing toggles
 * it around a forward or backward): two levels of threads would only fight over the cores.
 *
 * Determinism: results do not depend on the team's size (work cut by the shapes, not by the
 * threads; fixed summation order), so --threads 1, 2 and 7 give the same bits and a run
 * resumes exactly with another --threads.
 *
 * No globals: the thread count lives here, not in OpenBLAS's setting, and a later home for what
 * a process shares (an MPI communicator, logging) is this object.
 */
#ifndef TRAINVAL_CTX_H
#define TRAINVAL_CTX_H

#include "trainval/error.h"
#include "trainval/ops.h"

typedef struct tv_ctx tv_ctx;

/* A context whose team has `threads` threads (the caller is thread 0); threads <= 0: OpenBLAS's
 * own count as it stands (its default: OPENBLAS_NUM_THREADS, else the cores; a context made
 * earlier in the process has set it to 1).  Sets OpenBLAS to one thread.  *out NULL on failure.
 * Errors: TV_ERR_NOMEM (memory, or a thread that would not start). */
TV_MUST_CHECK int tv_ctx_new(int threads, tv_ctx **out);
void tv_ctx_free(tv_ctx *c); /* NULL-safe; joins the team; after everything that borrowed it */

/* The team, borrowed by models and the optimizer; valid until tv_ctx_free. */
tv_pool *tv_ctx_team(const tv_ctx *c);
int tv_ctx_threads(const tv_ctx *c);

#endif
