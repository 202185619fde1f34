/* test_generate.c — the generation graph (generate.h) against the training graph, and sampling.
 *
 * Agreement.  A token model's TRAIN graph over T = 24 steps (no dropout, so TRAIN equals INFER)
 * and its generation graph (one step, state carried) share one store.  Fed the same ids, the
 * generation graph's logits at step t equal the teacher-forced TRAIN graph's at position t to
 *     |gen - train| <= 1e-5 |train| + 1e-5          (written down once, here):
 * the same products over 1 row instead of T rows may be summed in another order by OpenBLAS's
 * kernels, a few float ulps.  Two lstm layers and a gru are checked, over 24 steps, from a state
 * carried across two batches of the TRAIN graph: both the generator's own step (generate.h,
 * THE STEP) and the generation graph, on a small model and on one whose layers span several
 * blocks of 16 units (shared out over the threads, tails included).
 *
 * Threads.  The step's logits are bit-identical with 1, 2 and 3 threads, and so is the text.
 *
 * bf16 (--generate-precision bf16).  Its logits against the fp32 step's, over the same 48 steps:
 *     |bf16 - fp32| <= 0.05 + 0.02 |fp32|                 (written down once, here)
 * a bound on what 8-bit weights and inputs, summed in fp32, give on these models (the test
 * prints the worst fraction of it seen); the text is deterministic and thread-independent.
 */
#include "trainval/generate.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/genpace.h"
#include "trainval/rng.h"

enum { T = 24, V = 11 };

static const char *const yaml = "model:\n  input: [24]\n  num_classes: 16\n  layers:\n"
                                "    - {type: embedding, vocab: 16, dim: 6}\n"
                                "    - {type: lstm, hidden: 10}\n    - {type: gru, hidden: 8}\n"
                                "    - {type: lstm, hidden: 9}\n    - {type: dense, units: 16}\n";
/* several blocks per layer (40 = 16 + 16 + 8 units, 33), a gru first, a dropout between (rate 0:
 * the TRAIN graph then equals INFER, which leaves dropout out), more head rows than one group
 * of 64 */
static const char *const wide = "model:\n  input: [24]\n  num_classes: 70\n  layers:\n"
                                "    - {type: embedding, vocab: 16, dim: 5}\n"
                                "    - {type: gru, hidden: 33}\n    - {type: dropout, rate: 0.0}\n"
                                "    - {type: lstm, hidden: 40}\n    - {type: lstm, hidden: 17}\n"
                                "    - {type: dense, units: 70}\n";
/* one recurrent layer: the head in the same phase as the layer's recurrent product */
static const char *const single =
    "model:\n  input: [24]\n  num_classes: 16\n  layers:\n"
    "    - {type: embedding, vocab: 16, dim: 7}\n"
    "    - {type: lstm, hidden: 20}\n    - {type: dense, units: 16}\n";
/* a relu between the recurrent layers and the head: the graph runs, not the step */
static const char *const other = "model:\n  input: [24]\n  num_classes: 16\n  layers:\n"
                                 "    - {type: embedding, vocab: 16, dim: 6}\n"
                                 "    - {type: lstm, hidden: 10}\n    - {type: dense, units: 12}\n"
                                 "    - {type: relu}\n    - {type: dense, units: 16}\n";

typedef struct fixture {
  tv_config cfg;
  tv_ctx *ctx;
  tv_varstore *store;
  tv_model *train;
  tv_generator *gen;
  tv_vocab vocab;
  int classes;
} fixture;

static void fixture_new_of(fixture *f, const char *text_yaml, int threads) {
  memset(f, 0, sizeof *f);
  assert_int_equal(tv_config_parse(text_yaml, strlen(text_yaml), "gen.yaml", NULL, 0, &f->cfg),
                   TV_OK);
  f->classes = f->cfg.model.num_classes;
  assert_int_equal(tv_ctx_new(threads, &f->ctx), TV_OK);
  assert_int_equal(tv_varstore_new(&f->store), TV_OK);
  assert_int_equal(
      tv_model_new(&f->cfg, TV_MODE_TRAIN, 1, f->store, tv_ctx_team(f->ctx), &f->train), TV_OK);
  assert_int_equal(tv_varstore_seal(f->store), TV_OK);
  tv_rng r = tv_rng_seed(3, TV_RNG_INIT);
  tv_varstore_init(f->store, &r);
  assert_int_equal(tv_generator_new(&f->cfg, f->store, tv_ctx_team(f->ctx), &f->gen), TV_OK);
  assert_int_equal(tv_model_steps(tv_generator_model(f->gen)), 1);
  const char *text = "abcdefghij\n"; /* V = 11 bytes */
  tv_vocab_build((const uint8_t *)text, strlen(text), &f->vocab);
  assert_int_equal(f->vocab.size, V);
}

static void fixture_new(fixture *f) { fixture_new_of(f, yaml, 2); }

static void fixture_free(fixture *f) {
  tv_generator_free(f->gen);
  tv_model_free(f->train);
  tv_varstore_free(f->store);
  tv_ctx_free(f->ctx);
}

enum { C_MAX = 70 };

/* The 2T steps' logits of the generator's step (graph 0) or of its graph (graph 1), from a
 * reset state in precision p, into z (2T x classes). */
static void run_steps(fixture *f, const int32_t *ids, int graph, tv_gen_precision p, float *z) {
  tv_generator_reset(f->gen, p);
  for (int t = 0; t < 2 * T; t++) {
    const float *y = graph ? tv_model_forward_ids(tv_generator_model(f->gen), ids + t, 1)
                           : tv_generator_step(f->gen, ids[t], f->classes);
    memcpy(z + t * f->classes, y, (size_t)f->classes * sizeof *z);
  }
}

/* Two consecutive TRAIN batches (the second starts from the first's carried state) against 2T
 * single steps of the step and of the generation graph. */
static void check_agreement(const char *text_yaml, int threads) {
  static fixture f;
  fixture_new_of(&f, text_yaml, threads);
  assert_true(tv_generator_fast(f.gen));
  int c = f.classes;
  int32_t ids[2 * T];
  for (int i = 0; i < 2 * T; i++) ids[i] = (i * 7 + i / 5) % V;
  static float want[2 * T * C_MAX], got[2 * T * C_MAX];
  memcpy(want, tv_model_forward_ids(f.train, ids, 1), (size_t)T * c * sizeof(float));
  memcpy(want + T * c, tv_model_forward_ids(f.train, ids + T, 1), (size_t)T * c * sizeof(float));
  for (int graph = 0; graph < 2; graph++) {
    run_steps(&f, ids, graph, TV_GEN_FP32, got);
    double worst = 0;
    for (int t = 0; t < 2 * T; t++)
      for (int k = 0; k < c; k++) {
        double w = want[t * c + k], z = got[t * c + k], err = fabs(z - w);
        double tol = 1e-5 * fabs(w) + 1e-5;
        if (!(err <= tol))
          fail_msg("%s step %d class %d: generation %.9g, training %.9g", graph ? "graph" : "step",
                   t, k, z, w);
        worst = fmax(worst, err / tol);
      }
    print_message("  %s, %d classes, %d threads: %d steps agree, worst difference %.3f of the "
                  "tolerance\n",
                  graph ? "graph" : "step", c, threads, 2 * T, worst);
  }
  fixture_free(&f);
}

static void test_generation_graph_agrees(void **state) {
  (void)state;
  check_agreement(yaml, 2);
  check_agreement(wide, 2);
  check_agreement(wide, 3);
  check_agreement(single, 2);
}

/* The step's logits and text with 1, 2 and 3 threads: the same bits; fp32 and bf16. */
static void test_threads_same_bits(void **state) {
  (void)state;
  int32_t ids[2 * T];
  for (int i = 0; i < 2 * T; i++) ids[i] = (i * 5 + i / 3) % V;
  static float z[3][2 * T * C_MAX];
  char text[3][300];
  for (int p = 0; p < TV_GEN__COUNT; p++) {
    for (int th = 1; th <= 3; th++) {
      static fixture f;
      fixture_new_of(&f, wide, th);
      run_steps(&f, ids, 0, (tv_gen_precision)p, z[th - 1]);
      tv_sample_opts o = {.temperature = 1.0, .seed = 5, .precision = (tv_gen_precision)p};
      assert_int_equal(tv_generate(f.gen, &f.vocab, "ab", sizeof text[0], &o, text[th - 1]), TV_OK);
      fixture_free(&f);
    }
    assert_memory_equal(z[0], z[1], sizeof z[0]);
    assert_memory_equal(z[0], z[2], sizeof z[0]);
    assert_memory_equal(text[0], text[1], sizeof text[0]);
    assert_memory_equal(text[0], text[2], sizeof text[0]);
  }
}

/* A text long enough for several of the pace's windows (512 tokens), run shared and by the
 * caller alone by turns (nn/genpace.h), and by the pace as timed: the same bytes at 1, 2 and 3
 * threads, for a model of three recurrent layers and one of a single layer. */
static void test_threads_same_text_long(void **state) {
  (void)state;
  enum { N = 2600 };
  static char text[3][N];
  const char *const models[] = {wide, single};
  for (int m = 0; m < 2; m++)
    for (int rule = TV_GEN_PACE_TIMED; rule < TV_GEN_PACE__COUNT; rule++) {
      for (int th = 1; th <= 3; th++) {
        static fixture f;
        fixture_new_of(&f, models[m], th);
        assert_true(tv_generator_fast(f.gen));
        tv_generator_pace(f.gen, (tv_gen_pace)rule);
        tv_sample_opts o = {.temperature = 1.0, .seed = 11};
        assert_int_equal(tv_generate(f.gen, &f.vocab, "ab", N, &o, text[th - 1]), TV_OK);
        long alone = tv_generator_alone_windows(f.gen);
        if (th > 1 && rule == TV_GEN_PACE_FLIP) assert_true(alone >= 2);
        if (th > 1 && rule == TV_GEN_PACE_SHARED) assert_int_equal(alone, 0);
        fixture_free(&f);
      }
      assert_memory_equal(text[0], text[1], N);
      assert_memory_equal(text[0], text[2], N);
    }
}

/* bf16 against fp32 (the tolerance at the top); its text deterministic, and not fp32's. */
static void test_bf16_within_tolerance(void **state) {
  (void)state;
  const char *const models[] = {yaml, wide};
  for (int m = 0; m < 2; m++) {
    static fixture f;
    fixture_new_of(&f, models[m], 2);
    int c = f.classes;
    int32_t ids[2 * T];
    for (int i = 0; i < 2 * T; i++) ids[i] = (i * 7 + i / 5) % V;
    static float ref[2 * T * C_MAX], got[2 * T * C_MAX];
    run_steps(&f, ids, 0, TV_GEN_FP32, ref);
    run_steps(&f, ids, 0, TV_GEN_BF16, got);
    double worst = 0, largest = 0;
    for (int i = 0; i < 2 * T * c; i++) {
      double err = fabs((double)got[i] - ref[i]), tol = 0.05 + 0.02 * fabs(ref[i]);
      if (!(err <= tol)) fail_msg("bf16 logit %d: %.6g, fp32 %.6g", i, got[i], ref[i]);
      worst = fmax(worst, err / tol);
      largest = fmax(largest, err);
    }
    print_message("  bf16, %d classes: worst %.3f of the tolerance (largest difference %.2g)\n", c,
                  worst, largest);
    char a[400], b[400], d[400];
    tv_sample_opts o = {.temperature = 1.0, .seed = 3, .precision = TV_GEN_BF16};
    assert_int_equal(tv_generate(f.gen, &f.vocab, "a", sizeof a, &o, a), TV_OK);
    assert_int_equal(tv_generate(f.gen, &f.vocab, "a", sizeof b, &o, b), TV_OK);
    assert_memory_equal(a, b, sizeof a);
    o.precision = TV_GEN_FP32;
    assert_int_equal(tv_generate(f.gen, &f.vocab, "a", sizeof d, &o, d), TV_OK);
    for (size_t i = 0; i < sizeof a; i++) assert_true(f.vocab.ids[(uint8_t)a[i]] >= 0);
    fixture_free(&f);
  }
}

/* A model the step does not take runs its graph, fp32 only. */
static void test_other_models_run_the_graph(void **state) {
  (void)state;
  static fixture f;
  fixture_new_of(&f, other, 2);
  assert_false(tv_generator_fast(f.gen));
  int32_t ids[2 * T];
  for (int i = 0; i < 2 * T; i++) ids[i] = (i * 3) % V;
  static float want[2 * T * 16], got[2 * T * 16];
  memcpy(want, tv_model_forward_ids(f.train, ids, 1), T * 16 * sizeof(float));
  memcpy(want + T * 16, tv_model_forward_ids(f.train, ids + T, 1), T * 16 * sizeof(float));
  run_steps(&f, ids, 0, TV_GEN_FP32, got);
  for (int i = 0; i < 2 * T * 16; i++)
    assert_true(fabs(got[i] - want[i]) <= 1e-5 * fabs(want[i]) + 1e-5);
  char a[50];
  tv_sample_opts o = {.temperature = 1.0, .seed = 3, .precision = TV_GEN_BF16};
  assert_int_equal(tv_generate(f.gen, &f.vocab, "a", sizeof a, &o, a), TV_ERR_INVALID);
  assert_non_null(strstr(tv_error_message(), "--generate-precision bf16: this model runs its"));
  o.precision = TV_GEN_FP32;
  assert_int_equal(tv_generate(f.gen, &f.vocab, "a", sizeof a, &o, a), TV_OK);
  fixture_free(&f);
}

static void test_same_seed_same_text(void **state) {
  (void)state;
  static fixture f;
  fixture_new(&f);
  char a[200], b[200], c[200];
  tv_sample_opts o = {.temperature = 1.0, .seed = 7};
  assert_int_equal(tv_generate(f.gen, &f.vocab, "abc", sizeof a, &o, a), TV_OK);
  assert_int_equal(tv_generate(f.gen, &f.vocab, "abc", sizeof b, &o, b), TV_OK);
  assert_memory_equal(a, b, sizeof a);
  for (size_t i = 0; i < sizeof a; i++) assert_true(f.vocab.ids[(uint8_t)a[i]] >= 0);
  o.seed = 8;
  assert_int_equal(tv_generate(f.gen, &f.vocab, "abc", sizeof c, &o, c), TV_OK);
  assert_true(memcmp(a, c, sizeof a) != 0);
  /* temperature 0 and top_k 1 both take the most likely byte */
  tv_sample_opts greedy = {.temperature = 0, .seed = 1}, top1 = {.temperature = 1, .top_k = 1};
  assert_int_equal(tv_generate(f.gen, &f.vocab, "", sizeof a, &greedy, a), TV_OK);
  assert_int_equal(tv_generate(f.gen, &f.vocab, "", sizeof b, &top1, b), TV_OK);
  assert_memory_equal(a, b, sizeof a);
  /* a prompt byte the vocabulary lacks, a negative temperature */
  assert_int_equal(tv_generate(f.gen, &f.vocab, "abz", 5, &o, a), TV_ERR_INVALID);
  assert_non_null(strstr(tv_error_message(), "byte 2 (0x7a, 'z') is not in the checkpoint's"));
  o.temperature = -1;
  assert_int_equal(tv_generate(f.gen, &f.vocab, "a", 5, &o, a), TV_ERR_INVALID);
  fixture_free(&f);
}

/* top_k by the rule as generate.h writes it (id i stays when fewer than k ids have a larger
 * logit, or an equal one and a smaller id), counted pair by pair: the same draws as tv_sample
 * (which selects the cut instead), logits with many ties, every k, two temperatures. */
static int sample_by_rule(const float *z, int v, double temp, int k, tv_rng *r) {
  int best = 0, keep[256];
  for (int i = 1; i < v; i++)
    if (z[i] > z[best]) best = i;
  double p[256], total = 0;
  for (int i = 0; i < v; i++) {
    int above = 0;
    for (int j = 0; j < v; j++) above += z[j] > z[i] || (z[j] == z[i] && j < i);
    keep[i] = k <= 0 || above < k;
    p[i] = keep[i] ? exp(((double)z[i] - z[best]) / temp) : 0.0;
    total += p[i];
  }
  double u = (double)(tv_rng_u64(r) >> 11) * 0x1.0p-53 * total, c = 0;
  int last = best;
  for (int i = 0; i < v; i++) {
    if (!keep[i]) continue;
    c += p[i];
    last = i;
    if (u < c) return i;
  }
  return last;
}

static void test_top_k_selection(void **state) {
  (void)state;
  tv_rng g = tv_rng_seed(3, TV_RNG_AUGMENT);
  float z[114];
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 114; i++) z[i] = (float)(int)(tv_rng_normal(&g) * 3.0f); /* ties */
    for (int k = 1; k <= 114; k += round % 2 ? 7 : 1) {
      double temp = round % 3 ? 1.0 : 0.5;
      tv_rng a = tv_rng_seed((uint64_t)(round * 1000 + k), TV_RNG_SAMPLE), b = a;
      for (int d = 0; d < 4; d++)
        assert_int_equal(tv_sample(z, 114, temp, k, &a), sample_by_rule(z, 114, temp, k, &b));
    }
  }
}

/* The draw follows the written-down rule: ids beyond v never, top_k keeps the k largest. */
static void test_sample_rule(void **state) {
  (void)state;
  const float z[6] = {0.0f, 2.0f, 1.0f, 2.0f, -1.0f, 50.0f};
  tv_rng r = tv_rng_seed(1, TV_RNG_SAMPLE);
  int seen[6] = {0};
  for (int i = 0; i < 2000; i++) seen[tv_sample(z, 5, 1.0, 0, &r)]++;
  assert_true(seen[1] > 0 && seen[3] > 0 && seen[0] > 0 && seen[4] > 0);
  assert_int_equal(seen[5], 0); /* beyond v */
  memset(seen, 0, sizeof seen);
  for (int i = 0; i < 2000; i++) seen[tv_sample(z, 5, 1.0, 2, &r)]++;
  assert_int_equal(seen[0] + seen[2] + seen[4], 0); /* only the two largest */
  assert_true(seen[1] > 800 && seen[3] > 800);
  /* the same generator state gives the same draw */
  tv_rng a = tv_rng_seed(9, TV_RNG_SAMPLE), b = a;
  assert_int_equal(tv_sample(z, 5, 0.7, 0, &a), tv_sample(z, 5, 0.7, 0, &b));
  /* an image model has no generation graph */
  static tv_config img;
  const char *cnn = "model:\n  input: [1, 2, 2]\n  num_classes: 2\n  layers:\n"
                    "    - {type: flatten}\n    - {type: dense, units: 2}\n";
  assert_int_equal(tv_config_parse(cnn, strlen(cnn), "img.yaml", NULL, 0, &img), TV_OK);
  tv_generator *g = NULL;
  assert_int_equal(tv_generator_new(&img, NULL, NULL, &g), TV_ERR_CONFIG);
  assert_null(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generation_graph_agrees),
      cmocka_unit_test(test_threads_same_bits),
      cmocka_unit_test(test_threads_same_text_long),
      cmocka_unit_test(test_bf16_within_tolerance),
      cmocka_unit_test(test_other_models_run_the_graph),
      cmocka_unit_test(test_same_seed_same_text),
      cmocka_unit_test(test_sample_rule),
      cmocka_unit_test(test_top_k_selection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
