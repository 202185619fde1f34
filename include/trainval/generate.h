/* generate.h — the generation graph of a token model and sampling from it.
 *
 * The generation graph is built from the training config in INFER mode over the same variable
 * store, with one time step (model.input [1]) and one sequence: each step feeds one token id and
 * gives the next token's logits, the lstm and gru layers carrying their state from step to step
 * (model.h, SEQUENCE MODELS), so nothing is unrolled and nothing but the state is kept.  Because
 * the graphs share the variables, its logits at each step are the teacher-forced training
 * graph's at the same position of the same text (tests/test_generate.c states the tolerance).
 *
 * Sampling.  The distribution over the vocabulary's V ids (logits beyond V, the model's unused
 * classes, are never drawn) is softmax(logits / temperature), restricted to the top_k most
 * likely ids when top_k > 0 (ties: the smaller id first); temperature 0 takes the most likely
 * id.  One draw per token: u = (tv_rng_u64 >> 11) * 2^-53 from tv_rng_seed(seed, TV_RNG_SAMPLE),
 * and the id is the first whose cumulative probability (in id order, summed in double) exceeds
 * u.  So a checkpoint, prompt and seed always give the same text.
 */
#ifndef TRAINVAL_GENERATE_H
#define TRAINVAL_GENERATE_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/config.h"
#include "trainval/corpus.h"
#include "trainval/ctx.h"
#include "trainval/error.h"
#include "trainval/model.h"
#include "trainval/varstore.h"

typedef struct tv_sample_opts {
  double temperature; /* >= 0; 1 samples the model's distribution */
  int top_k;          /* 0: every id */
  uint64_t seed;
} tv_sample_opts;

/* The generation graph of cfg (a token model) over store (borrowed; declares its variables in a
 * fresh store, looks them up in a sealed one).  Errors: those of tv_model_new; TV_ERR_CONFIG
 * when cfg is not a token model.  *out is NULL on failure. */
TV_MUST_CHECK int tv_generator_new(const tv_config *cfg, tv_varstore *store, tv_pool *team,
                                   tv_model **out);

/* Feeds the prompt's bytes (their ids in v) one step each into gen from a reset state, then
 * samples n bytes into out (n bytes, not NUL-terminated), each fed back as the next input.  An
 * empty prompt starts from '\n' (or id 0 when the vocabulary lacks it).  Errors:
 * TV_ERR_INVALID (a prompt byte outside the vocabulary: the message shows it, or a temperature
 * below 0).  Never allocates. */
TV_MUST_CHECK int tv_generate(tv_model *gen, const tv_vocab *v, const char *prompt, size_t n,
                              const tv_sample_opts *o, char *out);

/* One draw from logits[0..v), v <= 256, as above; r advances by one.  Cannot fail. */
int tv_sample(const float *logits, int v, double temperature, int top_k, tv_rng *r);

#endif
