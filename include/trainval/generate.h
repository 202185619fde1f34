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

/* The arithmetic of the generation step.  TV_GEN_FP32 (the default): fp32 throughout, the
 * training graph's logits to float tolerance.  TV_GEN_BF16 (`eval --generate-precision bf16`):
 * the recurrent and head weights, and the vectors they multiply, rounded to bf16 (8 significant
 * bits), products summed in fp32: half the bytes per token, logits within 0.05 + 2% of the
 * fp32 ones (tests/test_generate.c), the text deterministic but not the fp32 text. */
typedef enum tv_gen_precision { TV_GEN_FP32, TV_GEN_BF16, TV_GEN__COUNT } tv_gen_precision;

/* "fp32", "bf16"; NULL for a value that is none.  Cannot fail. */
const char *tv_gen_precision_name(tv_gen_precision p);

typedef struct tv_sample_opts {
  double temperature; /* >= 0; 1 samples the model's distribution */
  int top_k;          /* 0: every id */
  uint64_t seed;
  tv_gen_precision precision; /* 0: TV_GEN_FP32 */
} tv_sample_opts;

typedef struct tv_generator tv_generator;

/* The generation graph of cfg (a token model) over store (borrowed; declares its variables in a
 * fresh store, looks them up in a sealed one), and the step that runs it.  team (borrowed, may
 * be NULL) gives the thread count: that many threads share each step (the caller and
 * threads - 1 of the generator's own, which sleep between calls).  Errors: those of
 * tv_model_new; TV_ERR_CONFIG when cfg is not a token model; TV_ERR_NOMEM.  *out is NULL on
 * failure.
 *
 * THE STEP.  Where the model is an embedding, then lstm and gru layers (dropout between them:
 * nothing in INFER mode), then one dense head, tv_generate and tv_generator_step run their
 * own step, not the graph's layers: the weights packed (gemv.h) at tv_generator_reset from the
 * store's current values, the embedding folded into the first recurrent layer's input weights
 * (a table of emb W_ih^T + biases, one row per id), each layer's gate rows cut in blocks of 16
 * hidden units and the blocks shared out in fixed ranges, one range per thread, the same
 * range to the same thread every token (so its weights stay in that core's cache; odd tokens
 * walk their range backwards, starting with what is still cached), one wait per layer per token
 * (a range whose thread has not started on it the caller runs itself, and after a long wait it
 * runs a while alone: a machine busier than its cores).  The first layer's cells every thread
 * computes, into its own copy of that state.  The step times itself by windows of 512
 * tokens: once the shared windows have slowed past 1.8 times the fastest one, or have often had
 * to take parts or wait long, it times a window run by the caller alone and runs the faster
 * way, timing the other again now and then (on a machine busier than its cores the shared step
 * can be the slower one).  Every value comes from the same
 * arithmetic whichever thread computes it, so the text does not depend on the thread count.  Any
 * other token model (or one whose first-layer table would pass 64 MiB) runs the generation graph
 * itself (tv_model_forward_ids, one step at a time). */
TV_MUST_CHECK int tv_generator_new(const tv_config *cfg, tv_varstore *store, tv_pool *team,
                                   tv_generator **out);
void tv_generator_free(tv_generator *g); /* NULL-safe; joins its threads */

/* The generation graph (one step, state carried), for its shapes and state. */
tv_model *tv_generator_model(tv_generator *g);
/* 1 when the generator runs its own step (THE STEP above), 0 when it runs the graph. */
int tv_generator_fast(const tv_generator *g);

/* Zeroes the state and packs the store's current weights in precision p (sealed store).
 * Never allocates.  Cannot fail. */
void tv_generator_reset(tv_generator *g, tv_gen_precision p);
/* Feeds token id (in [0, vocab)) and returns the next token's logits, the first n_logits of
 * the num_classes (1 <= n_logits <= num_classes; the rest are not computed), valid until the
 * next call.  Never allocates.  Cannot fail. */
const float *tv_generator_step(tv_generator *g, int32_t id, int n_logits);

/* Feeds the prompt's bytes (their ids in v) one step each into gen from a reset state
 * (tv_generator_reset with o->precision), then samples n bytes into out (n bytes, not
 * NUL-terminated), each fed back as the next input.  An empty prompt starts from '\n' (or id 0
 * when the vocabulary lacks it).  Errors: TV_ERR_INVALID (a prompt byte outside the
 * vocabulary: the message shows it, a temperature below 0, a precision that is none).  Never
 * allocates. */
TV_MUST_CHECK int tv_generate(tv_generator *gen, const tv_vocab *v, const char *prompt, size_t n,
                              const tv_sample_opts *o, char *out);

/* One draw from logits[0..v), v <= 256, as above; r advances by one.  Cannot fail. */
int tv_sample(const float *logits, int v, double temperature, int top_k, tv_rng *r);

#endif
