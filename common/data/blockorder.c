/* blockorder.c — the out-of-core example order (see blockorder.h): a seeded block order and a
 * shuffle buffer of row indices.  Invariants: slots[0..count) hold rows, slots[count..cap) are
 * UINT32_MAX; (bpos, off) is the next input, row blocks[bpos] * block + off. */
#include "data/blockorder.h"

#include <stdlib.h>

#define NONE UINT32_MAX

struct tv_block_order {
  uint64_t n, block, nb, cap, seed;
  uint64_t epoch, position, inputs, count;
  uint64_t bpos, off;
  tv_rng rng;
  uint32_t *blocks; /* nb block ids, this epoch's order */
  uint32_t *slots;  /* cap rows */
  uint32_t *fill;   /* cap rows: the first step's fill */
};

static uint64_t block_rows(const tv_block_order *o, uint32_t b) {
  uint64_t start = (uint64_t)b * o->block;
  return o->n - start < o->block ? o->n - start : o->block;
}

static uint32_t next_input(tv_block_order *o) {
  uint32_t b = o->blocks[o->bpos];
  uint32_t row = (uint32_t)((uint64_t)b * o->block + o->off);
  if (++o->off == block_rows(o, b)) o->bpos++, o->off = 0;
  o->inputs++;
  return row;
}

static void begin_epoch(tv_block_order *o, uint64_t epoch) {
  o->epoch = epoch;
  o->position = o->inputs = o->count = o->bpos = o->off = 0;
  o->rng = tv_rng_seed(o->seed ^ (epoch * 0x9e3779b97f4a7c15ull), TV_RNG_SHUFFLE);
  for (uint64_t i = 0; i < o->nb; i++) o->blocks[i] = (uint32_t)i;
  tv_rng_shuffle(&o->rng, o->blocks, (uint32_t)o->nb);
  for (uint64_t i = 0; i < o->cap; i++) o->slots[i] = NONE;
}

int tv_block_order_new(uint64_t n, uint64_t block, uint64_t buffer, uint64_t seed,
                       tv_block_order **out) {
  *out = NULL;
  if (n == 0 || n > UINT32_MAX || block == 0 || buffer == 0)
    return tv_error(TV_ERR_INVALID, "block order: %llu rows in blocks of %llu, buffer %llu",
                    (unsigned long long)n, (unsigned long long)block, (unsigned long long)buffer);
  tv_block_order *o = calloc(1, sizeof *o);
  if (!o) return tv_error(TV_ERR_NOMEM, "block order: out of memory");
  o->n = n;
  o->block = block < n ? block : n;
  o->nb = (n + o->block - 1) / o->block;
  o->cap = buffer < n ? buffer : n;
  o->seed = seed;
  o->blocks = malloc(o->nb * sizeof *o->blocks);
  o->slots = malloc(o->cap * sizeof *o->slots);
  o->fill = malloc(o->cap * sizeof *o->fill);
  if (!o->blocks || !o->slots || !o->fill) {
    tv_block_order_free(o);
    return tv_error(TV_ERR_NOMEM, "block order: out of memory for %llu rows",
                    (unsigned long long)n);
  }
  begin_epoch(o, 0);
  *out = o;
  return TV_OK;
}

void tv_block_order_next(tv_block_order *o, tv_block_step *s, int *epoch_done) {
  *s = (tv_block_step){.fill_row = o->fill, .next_row = NONE, .move_from = NONE};
  if (o->position == 0) {
    for (uint64_t i = 0; i < o->cap; i++) o->fill[i] = o->slots[i] = next_input(o);
    o->count = o->cap;
    s->fill_n = (uint32_t)o->cap;
  }
  uint64_t j;
  if (o->inputs < o->n) {
    j = tv_rng_below(&o->rng, o->cap);
    s->row = o->slots[j];
    s->next_row = o->slots[j] = next_input(o);
  } else {
    j = tv_rng_below(&o->rng, o->count);
    s->row = o->slots[j];
    uint64_t last = --o->count;
    if (j != last) s->move_from = (uint32_t)last;
    o->slots[j] = o->slots[last];
    o->slots[last] = NONE;
  }
  s->slot = (uint32_t)j;
  *epoch_done = ++o->position == o->n;
  if (*epoch_done) begin_epoch(o, o->epoch + 1);
}

int tv_block_order_seek(tv_block_order *o, uint64_t epoch, uint64_t position) {
  if (position >= o->n)
    return tv_error(TV_ERR_MISMATCH, "block order: position %llu of an epoch of %llu rows",
                    (unsigned long long)position, (unsigned long long)o->n);
  begin_epoch(o, epoch);
  tv_block_step s;
  int done;
  for (uint64_t i = 0; i < position; i++) tv_block_order_next(o, &s, &done);
  return TV_OK;
}

void tv_block_order_slots(const tv_block_order *o, const uint32_t **rows, uint32_t *n) {
  *rows = o->slots;
  *n = (uint32_t)o->cap;
}

uint32_t tv_block_order_peek_block(const tv_block_order *o, uint64_t ahead) {
  return o->bpos + ahead < o->nb ? o->blocks[o->bpos + ahead] : NONE;
}

void tv_block_order_cursor(const tv_block_order *o, uint64_t *epoch, uint64_t *position) {
  *epoch = o->epoch;
  *position = o->position;
}

void tv_block_order_free(tv_block_order *o) {
  if (!o) return;
  free(o->blocks);
  free(o->slots);
  free(o->fill);
  free(o);
}
