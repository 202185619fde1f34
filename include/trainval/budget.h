/* budget.h — what a run will allocate, planned before it allocates anything large, and the limit
 * (--max-memory of train and eval) it is held to.
 *
 * A plan adds up, in bytes:
 *   activations  every graph's arena and scratch (tv_model_plan, model.h)
 *   variables    the store's values and gradients (two floats per element: the store allocates
 *                both, model.h) and the optimizer's slots (one float per trainable element for
 *                SGD with momentum, two for Adam and AdamW)
 *   data         what loading the split will hold at its most (tv_budget_add_split; train and
 *                eval both count it this way), planned from the files' headers before a value is
 *                read (data.h tv_data_estimate, per reader): the in-memory size after conversion
 *                (uint8 features 1 byte a value, every other feature and target 4), plus what the
 *                reader holds while it reads (IDX and .npy: the raw values or the whole file
 *                before conversion; HDF5: a conversion slab where libhdf5 converts; image
 *                folders: nothing more), and for the train and valid splits twice the dataset
 *                (tv_dataset_split copies the training file's dataset into both).  HDF5 data
 *                larger than data.memory_mb stays on disk and counts the budget itself (the
 *                loader's block and shuffle buffer and the reader's buffer fit in it).  CSV is
 *                text, so its file's bytes say little about its values: it is counted from one
 *                streaming pass over the text, as the text itself (read whole), one field record
 *                (pointer, length, line, column) and one 4-byte value per field (a delimiter or a
 *                line end ends one), an upper bound since every column counts whether chosen or
 *                not.  A token model's corpus is not counted.
 *                tv_budget_add_data counts a file's uncompressed bytes instead: a plain file's
 *                size, a gzip file's ISIZE trailer (RFC 1952: the uncompressed length of its last
 *                member mod 2^32, read without inflating)
 * and is refused when the sum exceeds the limit, with the figures, before any of it exists.
 * What is not counted: the process's code and libraries, HDF5's checkpoint buffers (a file's
 * size), the loader's prefetch batches (a few batches).
 */
#ifndef TRAINVAL_BUDGET_H
#define TRAINVAL_BUDGET_H

#include <stddef.h>

#include "trainval/config.h"
#include "trainval/error.h"
#include "trainval/pipeline.h"
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

/* Adds to b->data what loading split s of cfg's data will hold at its most (tv_split_estimate,
 * pipeline.h: each reader's in-memory size from the files' headers, the split's copy, the budget
 * out of core).  Data that cannot be planned (a missing or damaged file) adds nothing: loading it
 * then reports the problem.  Cannot fail. */
void tv_budget_add_split(tv_budget *b, const tv_config *cfg, tv_split s);

/* TV_OK if the sum of b is at most limit_mb MiB (0: no limit); otherwise TV_ERR_NOMEM with
 * "WHAT: needs N MiB (activations A, variables V, data D MiB), above --max-memory L MiB (raise
 * it, or lower the batch size)".  what names the config or the checkpoint. */
TV_MUST_CHECK int tv_budget_check(const tv_budget *b, size_t limit_mb, const char *what);

#endif
