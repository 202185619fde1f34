/* test_budget.c — planning before allocating: tv_model_plan declares exactly the variables
 * tv_model_new declares and reports its arena, tv_ckpt_check_variables compares a file with an
 * unsealed store, and tv_budget_check refuses a plan above the limit with the figures. */
#include "trainval/budget.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trainval/ckpt.h"
#include "trainval/config.h"
#include "trainval/files.h"
#include "trainval/model.h"
#include "trainval/varstore.h"
#include "testutil.h"

static const char MLP[] = "model:\n"
                          "  input: [1, 4, 4]\n"
                          "  num_classes: 3\n"
                          "  layers:\n"
                          "    - {type: flatten}\n"
                          "    - {type: dense, units: UNITS}\n"
                          "    - {type: relu}\n"
                          "    - {type: dense, units: 3}\n"
                          "optimizer:\n"
                          "  type: adam\n";

/* The MLP config with a hidden layer of units. */
static void mlp(int units, tv_config *c, char *text, size_t cap) {
  const char *at = strstr(MLP, "UNITS");
  snprintf(text, cap, "%.*s%d%s", (int)(at - MLP), MLP, units, at + 5);
  if (tv_config_parse(text, strlen(text), "mlp.yaml", NULL, 0, c) != TV_OK)
    fail_msg("parse: %s", tv_error_message());
}

static void assert_msg_has(const char *s) {
  if (!strstr(tv_error_message(), s))
    fail_msg("message \"%s\" lacks \"%s\"", tv_error_message(), s);
}

static void test_plan_matches_build(void **state) {
  (void)state;
  tv_config c;
  char text[512];
  mlp(8, &c, text, sizeof text);
  tv_varstore *planned, *built;
  assert_int_equal(tv_varstore_new(&planned), TV_OK);
  assert_int_equal(tv_varstore_new(&built), TV_OK);
  size_t bytes, infer;
  assert_int_equal(tv_model_plan(&c, TV_MODE_TRAIN, 5, planned, NULL, &bytes), TV_OK);
  assert_int_equal(tv_model_plan(&c, TV_MODE_INFER, 5, planned, NULL, &infer), TV_OK);
  /* y and dy per layer in TRAIN (flatten aliases its input: a gradient only; the relu is folded
   * into the dense before it, model.h: its y and dy are the dense's, and the dense's masked
   * gradient takes 8 floats a row of scratch), y in INFER. */
  assert_true(bytes >= 5 * (16 + 8 + 8 + 8 + 3 + 3) * sizeof(float));
  assert_true(infer < bytes && infer >= 5 * (8 + 3) * sizeof(float));
  assert_null(tv_varstore_values(planned)); /* nothing allocated */
  tv_model *m;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 5, built, NULL, &m), TV_OK);
  assert_int_equal(tv_varstore_count(planned), tv_varstore_count(built));
  for (int i = 0; i < tv_varstore_count(built); i++) {
    const tv_var *a = tv_varstore_cvar(planned, i), *b = tv_varstore_cvar(built, i);
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->count, b->count);
  }
  /* A graph built over the planned store finds its variables there. */
  tv_model *again;
  assert_int_equal(tv_model_new(&c, TV_MODE_TRAIN, 5, planned, NULL, &again), TV_OK);
  assert_int_equal(tv_varstore_count(planned), tv_varstore_count(built));
  tv_model_free(again);
  tv_model_free(m);
  tv_budget b = {.activations = bytes};
  tv_budget_add_variables(&b, planned, &c);
  /* values and grads over the store's slab, Adam's m and v per trainable element */
  assert_int_equal(b.variables,
                   (2 * tv_varstore_size(planned) + 2 * tv_varstore_trainable_size(planned)) *
                       sizeof(float));
  assert_true(tv_varstore_trainable_size(planned) >= 16 * 8 + 8 + 8 * 3 + 3);
  tv_varstore_free(planned);
  tv_varstore_free(built);
}

static void test_check_variables_unsealed(void **state) {
  const char *dir = *state;
  tv_config c;
  char text[512];
  mlp(8, &c, text, sizeof text);
  tv_varstore *s;
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  tv_model *m;
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, 2, s, NULL, &m), TV_OK);
  assert_int_equal(tv_varstore_seal(s), TV_OK);
  tv_ckpt_header h = {.step = 1, .config_text = text};
  tv_ckpt_info info;
  assert_int_equal(tv_ckpt_save(dir, &h, s, NULL, 0, &info), TV_OK);
  tv_model_free(m);
  tv_varstore_free(s);
  char path[4096];
  assert_int_equal(tv_fs_join(path, sizeof path, dir, info.file), TV_OK);
  tv_ckpt *ck;
  assert_int_equal(tv_ckpt_open(path, NULL, &ck), TV_OK);
  /* the same model, planned only: agrees */
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  size_t bytes;
  assert_int_equal(tv_model_plan(&c, TV_MODE_INFER, 2, s, NULL, &bytes), TV_OK);
  assert_int_equal(tv_ckpt_check_variables(ck, s), TV_OK);
  tv_varstore_free(s);
  /* a config that says 1,000,000 units: refused with both shapes, nothing allocated */
  tv_config big;
  char big_text[512];
  mlp(1000000, &big, big_text, sizeof big_text);
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  assert_int_equal(tv_model_plan(&big, TV_MODE_INFER, 500, s, NULL, &bytes), TV_OK);
  assert_true(bytes >= (size_t)500 * 1000000 * sizeof(float));
  assert_int_equal(tv_ckpt_check_variables(ck, s), TV_ERR_MISMATCH);
  assert_msg_has(path);
  assert_msg_has("dense_1/kernel: shape [8, 16] in file, [1000000, 16] in model");
  assert_null(tv_varstore_values(s));
  tv_varstore_free(s);
  tv_ckpt_close(ck);
}

static void test_budget_check(void **state) {
  (void)state;
  tv_budget b = {.activations = (size_t)3 << 20, .variables = (size_t)8 << 20, .data = 7 << 20};
  assert_int_equal(tv_budget_check(&b, 18, "x.h5"), TV_OK);
  assert_int_equal(tv_budget_check(&b, 0, "x.h5"), TV_OK);
  assert_int_equal(tv_budget_check(&b, 17, "x.h5"), TV_ERR_NOMEM);
  assert_msg_has("x.h5: needs 18 MiB (activations 3, variables 8, data 7 MiB), above --max-memory "
                 "17 MiB");
  assert_true(tv_budget_default_mb() > 0);
}

static void test_budget_data(void **state) {
  const char *dir = *state;
  tv_config c;
  tv_config_defaults(&c);
  snprintf(c.data.dir, sizeof c.data.dir, "%s", dir);
  char path[4096];
  assert_int_equal(tv_fs_join(path, sizeof path, dir, "plain"), TV_OK);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (int i = 0; i < 1000; i++) fputc(i, f);
  fclose(f);
  /* a gzip file's ISIZE (the last 4 bytes, little-endian) is what it inflates to */
  static const unsigned char gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0,
                                     0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  assert_int_equal(tv_fs_join(path, sizeof path, dir, "packed.gz"), TV_OK);
  f = fopen(path, "wb");
  assert_non_null(f);
  fwrite(gz, 1, sizeof gz, f);
  fclose(f);
  tv_budget b = {0};
  tv_budget_add_data(&b, &c, "plain");
  assert_int_equal(b.data, 1000);
  tv_budget_add_data(&b, &c, "packed"); /* found as packed.gz, as the loader finds it */
  assert_int_equal(b.data, 1000 + 65536);
  tv_budget_add_data(&b, &c, "missing");
  assert_int_equal(b.data, 1000 + 65536);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plan_matches_build),
      cmocka_unit_test_setup_teardown(test_check_variables_unsealed, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test(test_budget_check),
      cmocka_unit_test_setup_teardown(test_budget_data, tvt_setup_tmpdir, tvt_teardown_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
