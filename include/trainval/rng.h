/* rng.h — the one random number generator (xoshiro256**), seeded per purpose.
 *
 * A tv_rng is a plain value: copying it forks the stream, and its four words are what a
 * checkpoint stores for exact resume.  Each purpose (init, shuffle, dropout, augmentation, split)
 * owns its own generator derived from the run seed with tv_rng_seed(seed, stream), so adding a
 * consumer never shifts another's sequence.  No global state.
 */
#ifndef TRAINVAL_RNG_H
#define TRAINVAL_RNG_H

#include <stdint.h>

typedef struct tv_rng {
  uint64_t s[4];
} tv_rng;

/* Streams (the second argument of tv_rng_seed). */
enum tv_rng_stream {
  TV_RNG_INIT = 1,
  TV_RNG_SHUFFLE = 2,
  TV_RNG_DROPOUT = 3,
  TV_RNG_AUGMENT = 4,
  TV_RNG_SPLIT = 5,
  TV_RNG_SUBSET = 6,
  TV_RNG_SAMPLE = 7, /* token sampling (generate.h) */
};

/* A generator for (seed, stream), expanded with splitmix64.  Cannot fail. */
tv_rng tv_rng_seed(uint64_t seed, uint64_t stream);

uint64_t tv_rng_u64(tv_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t tv_rng_below(tv_rng *r, uint64_t n);
/* Uniform float in [0, 1) with 24 random bits. */
float tv_rng_uniform(tv_rng *r);
/* Standard normal (Box-Muller, no cached second value so the state alone defines the stream). */
float tv_rng_normal(tv_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void tv_rng_shuffle(tv_rng *r, uint32_t *idx, uint32_t n);

#endif
