/* test_npy.c — the NumPy reader (data.h, NPY FILES) on files numpy.save wrote
 * (tests/fixtures/npy, made by scripts/make_npy_fixtures.py): every dtype, both byte orders,
 * Fortran order, header versions 1.0, 2.0 and 3.0, class ids, float and bool targets, and the
 * truncated, lying and foreign files as one-line errors naming the file.  Run from the
 * repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "trainval/data.h"

#define DIR "tests/fixtures/npy/"

static int load(const char *x, const char *y, int float_targets, tv_dataset *ds) {
  tv_data_spec sp = {.format = "npy", .x = x, .y = y, .float_targets = float_targets};
  return tv_data_load(&sp, ds);
}

/* value(i, j) = 10 i + j for example i, element j (the fixture script's formula). */
static void check_values(const tv_dataset *ds, int d) {
  for (uint32_t i = 0; i < ds->n; i++)
    for (int j = 0; j < d; j++) {
      float want = (float)(10 * i + (uint32_t)j);
      float got = ds->features ? ds->features[i * d + j] : (float)ds->images[i * d + j];
      if (got != want) fail_msg("example %u element %d: %g, want %g", i, j, got, want);
    }
}

static void test_dtypes_and_orders(void **state) {
  (void)state;
  static const char *const files[] = {"x_f4.npy", "x_f8_be_F.npy", "x_i2_be.npy", "x_i8.npy",
                                      "x_i1.npy", "x_v2.npy",      "x_v3.npy"};
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
    char p[256];
    snprintf(p, sizeof p, DIR "%s", files[k]);
    tv_dataset ds;
    if (load(p, DIR "y_i4.npy", 0, &ds) != TV_OK) fail_msg("%s: %s", p, tv_error_message());
    assert_int_equal(ds.n, 6);
    assert_true(ds.c == 4 && ds.h == 1 && ds.w == 1);
    assert_non_null(ds.features);
    check_values(&ds, 4);
    assert_int_equal(ds.num_classes, 3);
    for (int i = 0; i < 6; i++) assert_int_equal(ds.labels[i], i % 3);
    tv_dataset_free(&ds);
  }
  /* uint8 (N, H, W) stays bytes, C = 1; uint8 labels are class ids */
  tv_dataset ds;
  assert_int_equal(load(DIR "x_u1.npy", DIR "y_u1.npy", 0, &ds), TV_OK);
  assert_true(ds.c == 1 && ds.h == 2 && ds.w == 2 && ds.images && !ds.features);
  check_values(&ds, 4);
  tv_dataset_free(&ds);
}

static void test_targets(void **state) {
  (void)state;
  tv_dataset ds;
  assert_int_equal(load(DIR "x_f4.npy", DIR "y_f4.npy", 1, &ds), TV_OK);
  assert_int_equal(ds.target_dim, 2);
  assert_null(ds.labels);
  for (int i = 0; i < 6; i++) assert_true(ds.targets[2 * i] == i && ds.targets[2 * i + 1] == -i);
  tv_dataset_free(&ds);
  assert_int_equal(load(DIR "x_f4.npy", DIR "y_b1.npy", 1, &ds), TV_OK);
  assert_int_equal(ds.target_dim, 3);
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 3; j++) assert_true(ds.targets[3 * i + j] == (float)((i + j) % 2));
  tv_dataset_free(&ds);
  /* float targets are not class ids */
  assert_int_equal(load(DIR "x_f4.npy", DIR "y_f4.npy", 0, &ds), TV_ERR_FORMAT);
  assert_non_null(strstr(tv_error_message(), DIR "y_f4.npy: class ids need an integer array"));
}

static void test_bad_files(void **state) {
  (void)state;
  static const struct {
    const char *x, *y, *want;
  } cases[] = {
      {"bad_truncated.npy", "y_i4.npy",
       "bad_truncated.npy: truncated: the header's shape needs 96 bytes of data, the file holds "
       "91"},
      {"bad_shape.npy", "y_i4.npy",
       "bad_shape.npy: truncated: the header's shape needs 144 bytes of data, the file holds 96"},
      {"bad_magic.npy", "y_i4.npy", "bad_magic.npy: not a .npy file"},
      {"bad_descr.npy", "y_i4.npy", "bad_descr.npy: dtype '<c8' is not one the reader takes"},
      {"bad_header.npy", "y_i4.npy", "bad_header.npy: not a .npy header numpy writes"},
      {"bad_nan.npy", "y_i4.npy", "bad_nan.npy: element 9 is nan, not a finite float32"},
      {"x_f4.npy", "y_b1.npy", "y_b1.npy: class ids need an integer array"},
      {"x_f4.npy", "x_u1.npy", "x_u1.npy: targets of 3 dimensions"},
      {"x_f4.npy", "missing.npy", "missing.npy"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char x[256], y[256];
    snprintf(x, sizeof x, DIR "%s", cases[k].x);
    snprintf(y, sizeof y, DIR "%s", cases[k].y);
    tv_dataset ds;
    int rc = load(x, y, 0, &ds);
    if (rc == TV_OK) fail_msg("case %zu loaded", k);
    if (!strstr(tv_error_message(), cases[k].want))
      fail_msg("case %zu: message \"%s\" lacks \"%s\"", k, tv_error_message(), cases[k].want);
    assert_null(strchr(tv_error_message(), '\n'));
    assert_true(ds.n == 0 && !ds.features && !ds.images && !ds.labels && !ds.targets);
  }
}

/* tv_npy_rows: every fixture read in blocks of 1, 4 and 6 rows gives the whole-file reader's
 * features; the header errors are the reader's; a bad value is numbered in the whole array;
 * rows out of range are refused. */
static void test_rows_in_blocks(void **state) {
  (void)state;
  static const char *const files[] = {"x_f4.npy", "x_f8_be_F.npy", "x_i2_be.npy", "x_i8.npy",
                                      "x_i1.npy", "x_v2.npy",      "x_v3.npy",    "x_u1.npy"};
  for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
    char p[256];
    snprintf(p, sizeof p, DIR "%s", files[k]);
    tv_data_spec sp = {.format = "npy", .x = p, .features_only = 1};
    tv_dataset whole, shape;
    if (tv_data_load(&sp, &whole) != TV_OK) fail_msg("%s: %s", p, tv_error_message());
    tv_npy_rows *r = NULL;
    if (tv_npy_rows_open(p, &r) != TV_OK) fail_msg("%s: %s", p, tv_error_message());
    tv_npy_rows_shape(r, &shape);
    assert_true(shape.n == whole.n && shape.c == whole.c && shape.h == whole.h &&
                shape.w == whole.w && !shape.features && !shape.images);
    size_t d = (size_t)whole.c * whole.h * whole.w;
    for (uint32_t block = 1; block <= 6; block += block < 4 ? 3 : 2) {
      for (uint32_t first = 0; first < whole.n; first += block) {
        uint32_t n = whole.n - first < block ? whole.n - first : block;
        tv_dataset b;
        if (tv_npy_rows_read(r, first, n, &b) != TV_OK) fail_msg("%s: %s", p, tv_error_message());
        assert_int_equal(b.n, n);
        assert_true(!b.features == !whole.features && !b.images == !whole.images);
        if (b.features)
          assert_memory_equal(b.features, whole.features + first * d, n * d * sizeof(float));
        else
          assert_memory_equal(b.images, whole.images + first * d, n * d);
        tv_dataset_free(&b);
      }
    }
    tv_dataset b;
    assert_int_equal(tv_npy_rows_read(r, 5, 2, &b), TV_ERR_INVALID);
    assert_int_equal(tv_npy_rows_read(r, 0, 0, &b), TV_ERR_INVALID);
    assert_true(b.n == 0 && !b.features && !b.images);
    tv_npy_rows_close(r);
    tv_dataset_free(&whole);
  }
  static const struct {
    const char *x, *want;
  } bad[] = {
      {"bad_truncated.npy",
       "bad_truncated.npy: truncated: the header's shape needs 96 bytes of data, the file holds "
       "91"},
      {"bad_magic.npy", "bad_magic.npy: not a .npy file"},
      {"bad_descr.npy", "bad_descr.npy: dtype '<c8' is not one the reader takes"},
      {"bad_header.npy", "bad_header.npy: not a .npy header numpy writes"},
      {"missing.npy", "missing.npy"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    char p[256];
    snprintf(p, sizeof p, DIR "%s", bad[k].x);
    tv_npy_rows *r = (tv_npy_rows *)p;
    if (tv_npy_rows_open(p, &r) == TV_OK) fail_msg("%s opened", p);
    assert_null(r);
    if (!strstr(tv_error_message(), bad[k].want))
      fail_msg("%s: message \"%s\" lacks \"%s\"", p, tv_error_message(), bad[k].want);
  }
  tv_npy_rows *r = NULL;
  assert_int_equal(tv_npy_rows_open(DIR "bad_nan.npy", &r), TV_OK);
  tv_dataset b;
  assert_int_equal(tv_npy_rows_read(r, 1, 2, &b), TV_ERR_FORMAT);
  if (!strstr(tv_error_message(), "bad_nan.npy: element 9 is nan"))
    fail_msg("message \"%s\"", tv_error_message());
  tv_npy_rows_close(r);
  tv_npy_rows_close(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dtypes_and_orders),
      cmocka_unit_test(test_targets),
      cmocka_unit_test(test_bad_files),
      cmocka_unit_test(test_rows_in_blocks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
