/* budget.h — what a run will allocate, planned before it allocates anything large, and the limit
 * (--max-memory of train and eval) it is held to.
 *
 * A plan adds up, in bytes:
 *   activations  every graph's arena and scratch (tv_model_plan, model.h)
 *   variables    the store's values and gradients (two floats per element: the store allocates
 *                both, model.h) and the optimizer's slots (one float per trainable element for
 *                SGD with momentum, two for Adam and AdamW)
 *   data         the data files' uncompressed bytes: a plain file's size, a gzip file's ISIZE
 *                trailer (RFC 1952: the uncompressed length of its last member mod 2^32, read
 *                without inflating).  An estimate of the datasets in memory (uint8 IDX images as
 *                they are; float types the same bytes); the readers themselves never allocate more
 *                than the file can hold (data.h)
 * and is refused when the sum exceeds the limit, with the figures, before any of it exists.
 * What is not counted: the process's code and libraries, HDF5's checkpoint buffers (a file's
 * size), the loader's prefetch batches (a few batches).
 */
#ifndef TRAINVAL_BUDGET_H
#define TRAINVAL_BUDGET_H

#include <stddef.h>

#include "trainval/config.h"
#include "trainval/error.h"
#include "trainval/varstore.h"

typedef struct tv_budget {
  size_t activations, variables, data; /* bytes */
} tv_budget;

/* The default limit in MiB: three quarters of the machine's physical memory (sysconf), 4096 if it
 * cannot be read.  Cannot fail. */
size_t tv_budget_default_mb(void);

/* Adds the variables of store (declared; sealed or not) and the optimizer slots cfg's optimizer
 * keeps for its trainable ones to b->variables.  Cannot fail. */
void tv_budget_add_variables(tv_budget *b, const tv_varstore *store, const tv_config *cfg);

/* Adds the uncompressed bytes of the data file "<cfg->data.dir>/<stem>" (resolved as the loader
 * does, tv_data_find) to b->data.  A file that cannot be found or read adds nothing: loading it
 * then reports the problem.  Cannot fail. */
void tv_budget_add_data(tv_budget *b, const tv_config *cfg, const char *stem);

/* TV_OK if the sum of b is at most limit_mb MiB (0: no limit); otherwise TV_ERR_NOMEM with
 * "WHAT: needs N MiB (activations A, variables V, data D MiB), above --max-memory L MiB (raise
 * it, or lower the batch size)".  what names the config or the checkpoint. */
TV_MUST_CHECK int tv_budget_check(const tv_budget *b, size_t limit_mb, const char *what);

#endif
