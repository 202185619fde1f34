/* test_generate.c — the generation graph (generate.h) against the training graph, and sampling.
 *
 * Agreement.  A token model's TRAIN graph over T = 24 steps (no dropout, so TRAIN equals INFER)
 * and its generation graph (one step, state carried) share one store.  Fed the same ids, the
 * generation graph's logits at step t equal the teacher-forced TRAIN graph's at position t to
 *     |gen - train| <= 1e-5 |train| + 1e-5          (written down once, here):
 * the same products over 1 row instead of T rows may be summed in another order by OpenBLAS's
 * kernels, a few float ulps.  Two lstm layers and a gru are checked, over 24 steps, from a state
 * carried across two batches of the TRAIN graph.
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

#include "trainval/rng.h"

enum { T = 24, V = 11 };

static const char *const yaml = "model:\n  input: [24]\n  num_classes: 16\n  layers:\n"
                                "    - {type: embedding, vocab: 16, dim: 6}\n"
                                "    - {type: lstm, hidden: 10}\n    - {type: gru, hidden: 8}\n"
                                "    - {type: lstm, hidden: 9}\n    - {type: dense, units: 16}\n";

typedef struct fixture {
  tv_config cfg;
  tv_ctx *ctx;
  tv_varstore *store;
  tv_model *train, *gen;
  tv_vocab vocab;
} fixture;

static void fixture_new(fixture *f) {
  memset(f, 0, sizeof *f);
  assert_int_equal(tv_config_parse(yaml, strlen(yaml), "gen.yaml", NULL, 0, &f->cfg), TV_OK);
  assert_int_equal(tv_ctx_new(2, &f->ctx), TV_OK);
  assert_int_equal(tv_varstore_new(&f->store), TV_OK);
  assert_int_equal(
      tv_model_new(&f->cfg, TV_MODE_TRAIN, 1, f->store, tv_ctx_team(f->ctx), &f->train), TV_OK);
  assert_int_equal(tv_varstore_seal(f->store), TV_OK);
  tv_rng r = tv_rng_seed(3, TV_RNG_INIT);
  tv_varstore_init(f->store, &r);
  assert_int_equal(tv_generator_new(&f->cfg, f->store, tv_ctx_team(f->ctx), &f->gen), TV_OK);
  assert_int_equal(tv_model_steps(f->gen), 1);
  const char *text = "abcdefghij\n"; /* V = 11 bytes */
  tv_vocab_build((const uint8_t *)text, strlen(text), &f->vocab);
  assert_int_equal(f->vocab.size, V);
}

static void fixture_free(fixture *f) {
  tv_model_free(f->gen);
  tv_model_free(f->train);
  tv_varstore_free(f->store);
  tv_ctx_free(f->ctx);
}

static void test_generation_graph_agrees(void **state) {
  (void)state;
  static fixture f;
  fixture_new(&f);
  int32_t ids[2 * T];
  for (int i = 0; i < 2 * T; i++) ids[i] = (i * 7 + i / 5) % V;
  /* two consecutive TRAIN batches (the second starts from the first's carried state) against
   * 2T single steps of the generation graph */
  static float want[2 * T * 16];
  memcpy(want, tv_model_forward_ids(f.train, ids, 1), T * 16 * sizeof(float));
  memcpy(want + T * 16, tv_model_forward_ids(f.train, ids + T, 1), T * 16 * sizeof(float));
  tv_model_reset_state(f.gen);
  double worst = 0;
  for (int t = 0; t < 2 * T; t++) {
    const float *z = tv_model_forward_ids(f.gen, ids + t, 1);
    for (int k = 0; k < 16; k++) {
      double w = want[t * 16 + k], err = fabs(z[k] - w), tol = 1e-5 * fabs(w) + 1e-5;
      if (!(err <= tol))
        fail_msg("step %d class %d: generation %.9g, training %.9g", t, k, z[k], w);
      worst = fmax(worst, err / tol);
    }
  }
  print_message("  %d steps agree, worst difference %.3f of the tolerance\n", 2 * T, worst);
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
  tv_model *g = NULL;
  assert_int_equal(tv_generator_new(&img, NULL, NULL, &g), TV_ERR_CONFIG);
  assert_null(g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_generation_graph_agrees),
      cmocka_unit_test(test_same_seed_same_text),
      cmocka_unit_test(test_sample_rule),
      cmocka_unit_test(test_top_k_selection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
