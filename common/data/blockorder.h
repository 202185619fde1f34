/* blockorder.h — private to libtrainval: the example order of an out-of-core pass over a dataset
 * too large for memory (data.memory_mb), as tf.data's Dataset.shuffle gives it: rows read in
 * blocks, the blocks in a seeded order, each row passing through a shuffle buffer.
 *
 * ORDER.  n rows are cut into blocks of `block` rows (block k: rows [k*block, min(n, (k+1)*block)),
 * aligned to the dataset's HDF5 chunking where it has one, so a block is whole chunks).  Epoch e
 * draws from r = tv_rng_seed(seed ^ (e * 0x9e3779b97f4a7c15), TV_RNG_SHUFFLE):
 *   1. the block order: tv_rng_shuffle(r, blocks, nb) of 0..nb-1;
 *   2. the input sequence: the rows of the blocks in that order, each block's rows ascending;
 *   3. the buffer (capacity S = min(buffer, n) slots) takes the first S inputs into slots 0..S-1;
 *      then, while inputs remain, j = tv_rng_below(r, S): slot j's row is the next output and
 *      the next input takes slot j; then, with c rows left, j = tv_rng_below(r, c): slot j's row
 *      is the next output and slot c-1's row moves into slot j.
 * The outputs of an epoch are a permutation of 0..n-1 that depends only on (n, block, buffer,
 * seed, e), so the position within an epoch (the global example cursor) is all a resume needs:
 * tv_block_order_seek replays the draws without reading a row.  buffer >= n is a uniform shuffle
 * of all rows (the blocks then only decide the order rows enter).
 *
 * A caller that holds rows keeps them in the slots this order names: each step says which input
 * row enters which slot (fetch) and which slot is output, so S rows of features are the buffer's
 * whole memory, and inputs arrive in block order (sequential reads of whole chunks).
 */
#ifndef TRAINVAL_DATA_BLOCKORDER_H
#define TRAINVAL_DATA_BLOCKORDER_H

#include <stdint.h>

#include "trainval/error.h"
#include "trainval/rng.h"

typedef struct tv_block_order tv_block_order;

/* An order over n rows (1..UINT32_MAX) in blocks of `block` rows (>= 1) with a buffer of `buffer`
 * slots (>= 1), for run seed `seed`, at the start of epoch 0.  Holds nb = ceil(n / block) block
 * ids and min(buffer, n) slots (4 bytes each).  Errors: TV_ERR_INVALID (a zero argument),
 * TV_ERR_NOMEM.  On failure *out is NULL. */
TV_MUST_CHECK int tv_block_order_new(uint64_t n, uint64_t block, uint64_t buffer, uint64_t seed,
                                     tv_block_order **out);

/* One step of the order, for a caller that holds rows in slots: first fill_n rows enter slots
 * 0..fill_n-1 (fill_row[i] into slot i: the whole buffer at an epoch's first step, else none);
 * then slot `slot`, holding row `row`, is output; then either row next_row enters `slot` (while
 * inputs remain) or, in the drain, the row in slot move_from moves into `slot` (UINT32_MAX: none).
 */
typedef struct tv_block_step {
  uint32_t fill_n;
  const uint32_t *fill_row; /* fill_n rows in input order (runs of consecutive rows) */
  uint32_t row, slot;
  uint32_t next_row;  /* UINT32_MAX: none */
  uint32_t move_from; /* UINT32_MAX: none */
} tv_block_step;

/* The next output of the current epoch into *s (its arrays point into o, valid until the next
 * call); at the end of an epoch the next call starts the next epoch.  *epoch_done is 1 on the
 * epoch's last output.  Cannot fail. */
void tv_block_order_next(tv_block_order *o, tv_block_step *s, int *epoch_done);

/* Moves o to output `position` (0..n-1) of epoch `epoch`, as if every earlier step had been
 * taken: O(position) draws, no rows read.  Errors: TV_ERR_MISMATCH for position >= n.  On
 * failure o is unchanged. */
TV_MUST_CHECK int tv_block_order_seek(tv_block_order *o, uint64_t epoch, uint64_t position);

/* The rows in the buffer now, by slot: *rows gets min(buffer, n) entries (UINT32_MAX for a free
 * slot), pointing into o (valid until the next call on o).  With seek, what a resuming reader
 * must load into its slots.  Cannot fail. */
void tv_block_order_slots(const tv_block_order *o, const uint32_t **rows, uint32_t *n);

/* The block `ahead` places after the one the next input comes from in this epoch's block order
 * (ahead 0: that block itself), or UINT32_MAX past the epoch's last block: for a caller that reads
 * ahead.  Cannot fail. */
uint32_t tv_block_order_peek_block(const tv_block_order *o, uint64_t ahead);

/* Epoch and position of the next output.  Cannot fail. */
void tv_block_order_cursor(const tv_block_order *o, uint64_t *epoch, uint64_t *position);

/* Frees o.  NULL-safe. */
void tv_block_order_free(tv_block_order *o);

#endif
