/* test_h5data.c — the HDF5 data source (data.h, HDF5 DATA FILES): every file is written at test
 * time with the HDF5 API in a fresh directory, then read back with tv_dataset_load_h5 (or from a
 * file image in memory) and compared with what was written, or with the IDX reader on the same
 * examples; and each refused input with its error code and the file and dataset in the message.
 */
#include "trainval/data.h"

#include <hdf5.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static char g_path[512];

static const char *tpath(void **state, const char *name) {
  snprintf(g_path, sizeof g_path, "%s/%s", (const char *)*state, name);
  return g_path;
}

static void assert_msg_has(const char *needle) {
  if (!strstr(tv_error_message(), needle))
    fail_msg("message \"%s\" lacks \"%s\"", tv_error_message(), needle);
}

static void assert_zeroed(const tv_dataset *ds) {
  static const tv_dataset zero = {0};
  assert_memory_equal(ds, &zero, sizeof zero);
}

/* Writes dataset name (file type ftype, memory type mtype, rank dims) from data into file f. */
static void put(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank, const hsize_t *dims,
                const void *data) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  assert_true(H5Pset_create_intermediate_group(lcpl, 1) >= 0);
  hid_t s = H5Screate_simple(rank, dims, NULL);
  hid_t d = H5Dcreate2(f, name, ftype, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(d >= 0);
  if (data) assert_true(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  H5Dclose(d);
  H5Sclose(s);
  H5Pclose(lcpl);
}

static hid_t create(const char *path) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  return f;
}

enum { N = 37, H = 5, W = 4 };

static uint8_t pixel(size_t i, size_t j) { return (uint8_t)(i * 31u + j * 17u + (i * j) % 7u); }

/* N examples of H x W uint8 pixels at /train/images and labels i % 10 at /train/labels. */
static void write_u8(const char *path) {
  static uint8_t px[N * H * W], lab[N];
  for (size_t i = 0; i < N; i++) {
    lab[i] = (uint8_t)(i % 10);
    for (size_t j = 0; j < H * W; j++) px[i * H * W + j] = pixel(i, j);
  }
  hid_t f = create(path);
  hsize_t dx[3] = {N, H, W}, dy[1] = {N};
  put(f, "/train/images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, dx, px);
  put(f, "/train/labels", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, dy, lab);
  H5Fclose(f);
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  assert_int_equal(fclose(fp), 0);
}

/* The same examples as IDX files, read by the IDX reader: the two datasets must be equal. */
static void test_u8_equals_idx(void **state) {
  write_u8(tpath(state, "u8.h5"));
  static uint8_t img[16 + N * H * W], lab[8 + N];
  put_be32(img, 0x803);
  put_be32(img + 4, N);
  put_be32(img + 8, H);
  put_be32(img + 12, W);
  put_be32(lab, 0x801);
  put_be32(lab + 4, N);
  for (size_t i = 0; i < N; i++) {
    lab[8 + i] = (uint8_t)(i % 10);
    for (size_t j = 0; j < H * W; j++) img[16 + i * H * W + j] = pixel(i, j);
  }
  char ip[512], lp[512];
  snprintf(ip, sizeof ip, "%s", tpath(state, "u8-images"));
  snprintf(lp, sizeof lp, "%s", tpath(state, "u8-labels"));
  write_file(ip, img, sizeof img);
  write_file(lp, lab, sizeof lab);
  tv_dataset a, b;
  assert_int_equal(tv_dataset_load_idx(ip, lp, &a), TV_OK);
  const char *h5 = tpath(state, "u8.h5");
  tv_data_spec spec = {.format = "hdf5",
                       .x = h5,
                       .y = h5,
                       .x_dataset = "/train/images",
                       .y_dataset = "/train/labels"};
  assert_int_equal(tv_data_load(&spec, &b), TV_OK);
  assert_int_equal(b.n, a.n);
  assert_int_equal(b.c, 1);
  assert_int_equal(b.h, H);
  assert_int_equal(b.w, W);
  assert_int_equal(b.num_classes, a.num_classes);
  assert_non_null(b.images);
  assert_null(b.features);
  assert_memory_equal(b.images, a.images, (size_t)N * H * W);
  assert_memory_equal(b.labels, a.labels, N * sizeof *a.labels);
  tv_dataset_free(&a);
  tv_dataset_free(&b);
}

/* Other types and shapes: int16 big-endian (N, C, H, W) and float64 (N, D) features become
 * float32 exactly; int64 labels; float32 (N, T) targets; two files. */
static void test_types_and_shapes(void **state) {
  enum { C = 2, T = 3 };
  static int16_t s16[N * C * H * W];
  static double f64[N * 6];
  static int64_t l64[N];
  static float tg[N * T];
  for (size_t i = 0; i < N * C * H * W; i++) s16[i] = (int16_t)((int)i * 97 % 20001 - 10000);
  for (size_t i = 0; i < N * 6; i++) f64[i] = (double)i / 7.0 - 3.0;
  for (size_t i = 0; i < N; i++) l64[i] = (int64_t)(i * 13 % 1000);
  for (size_t i = 0; i < N * T; i++) tg[i] = (float)i * 0.25f;
  char xp[512], yp[512];
  snprintf(xp, sizeof xp, "%s", tpath(state, "x.h5"));
  snprintf(yp, sizeof yp, "%s", tpath(state, "y.h5"));
  hid_t f = create(xp);
  hsize_t d4[4] = {N, C, H, W}, d2[2] = {N, 6}, d1[1] = {N}, dt[2] = {N, T};
  put(f, "/s16", H5T_STD_I16BE, H5T_NATIVE_INT16, 4, d4, s16);
  put(f, "/a/b/f64", H5T_IEEE_F64BE, H5T_NATIVE_DOUBLE, 2, d2, f64);
  H5Fclose(f);
  f = create(yp);
  put(f, "/l64", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, l64);
  put(f, "/targets", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, dt, tg);
  H5Fclose(f);

  tv_dataset ds;
  assert_int_equal(tv_dataset_load_h5(xp, "/s16", yp, "/l64", &ds), TV_OK);
  assert_int_equal(ds.c, C);
  assert_int_equal(ds.h, H);
  assert_int_equal(ds.w, W);
  assert_null(ds.images);
  for (size_t i = 0; i < N * C * H * W; i++) assert_true(ds.features[i] == (float)s16[i]);
  assert_int_equal(ds.num_classes, 1 + 36 * 13 % 1000);
  for (size_t i = 0; i < N; i++) assert_int_equal(ds.labels[i], l64[i]);
  tv_dataset_free(&ds);

  assert_int_equal(tv_dataset_load_h5(xp, "/a/b/f64", yp, "/targets", &ds), TV_OK);
  assert_int_equal(ds.c, 6);
  assert_int_equal(ds.h, 1);
  assert_int_equal(ds.w, 1);
  for (size_t i = 0; i < N * 6; i++) assert_true(ds.features[i] == (float)f64[i]);
  assert_null(ds.labels);
  assert_int_equal(ds.target_dim, T);
  assert_int_equal(ds.num_classes, 0);
  assert_memory_equal(ds.targets, tg, sizeof tg);
  tv_dataset_free(&ds);
}

/* The in-memory entry point reads a file image exactly as the file. */
static void test_image_in_memory(void **state) {
  const char *p = tpath(state, "u8.h5");
  write_u8(p);
  FILE *fp = fopen(p, "rb");
  assert_non_null(fp);
  static uint8_t buf[1 << 16];
  size_t len = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  assert_true(len > 0 && len < sizeof buf);
  tv_dataset a, b;
  assert_int_equal(tv_dataset_load_h5(p, "/train/images", p, "/train/labels", &a), TV_OK);
  assert_int_equal(
      tv_dataset_load_h5_image(buf, len, "mem.h5", "/train/images", "/train/labels", &b), TV_OK);
  assert_int_equal(a.n, b.n);
  assert_memory_equal(a.images, b.images, (size_t)N * H * W);
  assert_memory_equal(a.labels, b.labels, N * sizeof *a.labels);
  tv_dataset_free(&a);
  tv_dataset_free(&b);
  /* A cut image is one error naming it, never a crash. */
  assert_int_equal(
      tv_dataset_load_h5_image(buf, len / 2, "cut.h5", "/train/images", "/train/labels", &b),
      TV_ERR_FORMAT);
  assert_msg_has("cut.h5");
  assert_zeroed(&b);
  assert_int_equal(tv_dataset_load_h5_image(buf, 0, "empty.h5", "/x", "/y", &b), TV_ERR_FORMAT);
}

#if defined(__SANITIZE_ADDRESS__)
#define TVT_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TVT_UNDER_ASAN 1
#endif
#endif
#ifndef TVT_UNDER_ASAN
#define TVT_UNDER_ASAN 0
#endif

/* Reads tests/fuzz/regress/fuzz_h5data/<name> (fuzz_h5data's input: a flag byte, bit 0 for
 * features only, then the file image) and expects code and a one-line message holding has. */
static void regress_refused(const char *name, int code, const char *has) {
  char p[256];
  snprintf(p, sizeof p, "tests/fuzz/regress/fuzz_h5data/%s", name);
  FILE *fp = fopen(p, "rb");
  assert_non_null(fp);
  static uint8_t buf[1 << 16];
  size_t len = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  assert_true(len > 1 && len < sizeof buf);
  tv_dataset ds;
  memset(&ds, 0x5a, sizeof ds);
  int rc = tv_dataset_load_h5_image(buf + 1, len - 1, "damaged.h5", "/x",
                                    (buf[0] & 1) ? NULL : "/y", &ds);
  if (rc != code) fail_msg("%s: code %d, want %d: %s", name, rc, code, tv_error_message());
  assert_msg_has(has);
  assert_null(strchr(tv_error_message(), '\n'));
  assert_zeroed(&ds);
}

/* Files found by fuzz_h5data.  A segfault inside libhdf5; a damaged object header of /y, which
 * libhdf5 fails to open (leaking a block of its own, tests/fuzz/lsan.supp); links whose damaged
 * metadata makes libhdf5 ask for 0xffffffff00000000 bytes, once reported as "no dataset /x" (not
 * under ASan, which aborts on such a request unless told otherwise, as tests/fuzz/run.sh does). */
static void test_damaged_files(void **state) {
  (void)state;
  regress_refused("libhdf5-leak-damaged-object-header.h5", TV_ERR_FORMAT,
                  "damaged.h5: /y: cannot open");
  /* libhdf5 segfaults on this one (a shared message of a damaged dataset header): the bounded
   * child it is parsed in first dies, and the caller gets one line. */
  regress_refused("libhdf5-segv-shared-message-heap.h5", TV_ERR_FORMAT,
                  "damaged.h5: damaged HDF5 data file (HDF5 crashed parsing it: ");
#if !TVT_UNDER_ASAN
  regress_refused("libhdf5-huge-allocation-in-links.h5", TV_ERR_FORMAT,
                  "damaged.h5: /x: unreadable links");
#endif
}

/* One refused input: the code, and the message naming what it must. */
static void refuse(const char *xp, const char *xd, const char *yp, const char *yd, int code,
                   const char *has1, const char *has2) {
  tv_dataset ds;
  memset(&ds, 0x5a, sizeof ds);
  int rc = tv_dataset_load_h5(xp, xd, yp, yd, &ds);
  if (rc != code) fail_msg("code %d, want %d: %s", rc, code, tv_error_message());
  assert_msg_has(has1);
  if (has2) assert_msg_has(has2);
  assert_null(strchr(tv_error_message(), '\n'));
  assert_zeroed(&ds);
}

static void test_errors(void **state) {
  char p[512], q[512], r[512];
  snprintf(p, sizeof p, "%s", tpath(state, "bad.h5"));
  hid_t f = create(p);
  hsize_t d1[1] = {N}, d3[3] = {N, H, W}, d0[1] = {0}, d5[5] = {N, 1, 1, 1, 1}, dm[1] = {N - 1};
  static uint8_t px[N * H * W];
  static int32_t lab[N];
  static float nanv[N * H * W];
  for (size_t i = 0; i < N; i++) lab[i] = (int32_t)(i % 3);
  lab[5] = -1;
  nanv[17] = NAN;
  put(f, "/x", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, d3, px);
  put(f, "/y", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, lab);
  put(f, "/nan", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, d3, nanv);
  put(f, "/short", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, dm, px);
  put(f, "/empty", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, d0, px);
  put(f, "/rank5", H5T_STD_U8LE, H5T_NATIVE_UINT8, 5, d5, px);
  put(f, "/unwritten", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, d3, NULL);
  hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, 4);
  put(f, "/str", str, str, 1, d1, px);
  H5Tclose(str);
  hsize_t good_y = N;
  static uint8_t ok_lab[N];
  put(f, "/ok_y", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, &good_y, ok_lab);
  hid_t g = H5Gcreate2(f, "/group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(g >= 0);
  H5Gclose(g);
  assert_true(H5Lcreate_soft("/x", f, "/soft", H5P_DEFAULT, H5P_DEFAULT) >= 0);
  H5Fclose(f);

  snprintf(q, sizeof q, "%s", tpath(state, "missing.h5"));
  refuse(q, "/x", q, "/y", TV_ERR_NOT_FOUND, "missing.h5", "no such file");
  refuse(p, "/nope", p, "/ok_y", TV_ERR_NOT_FOUND, "bad.h5", "/nope");
  refuse(p, "x", p, "/ok_y", TV_ERR_INVALID, "bad.h5", "not an absolute path");
  refuse(p, "/group", p, "/ok_y", TV_ERR_FORMAT, "/group", "not a dataset");
  refuse(p, "/soft", p, "/ok_y", TV_ERR_FORMAT, "/soft", "soft or external link");
  refuse(p, "/x", p, "/str", TV_ERR_FORMAT, "/str", "string");
  refuse(p, "/rank5", p, "/ok_y", TV_ERR_FORMAT, "/rank5", "rank 5");
  refuse(p, "/empty", p, "/ok_y", TV_ERR_FORMAT, "/empty", "rank 1");
  refuse(p, "/x", p, "/empty", TV_ERR_FORMAT, "/empty", "no examples");
  refuse(p, "/x", p, "/short", TV_ERR_FORMAT, "/short", "36 targets");
  refuse(p, "/x", p, "/y", TV_ERR_FORMAT, "/y", "label -1 of example 5");
  refuse(p, "/nan", p, "/ok_y", TV_ERR_FORMAT, "/nan", "example 0 is nan");
  refuse(p, "/unwritten", p, "/ok_y", TV_ERR_FORMAT, "/unwritten", "only 0 of its 740 bytes");

  /* Not HDF5; truncated HDF5. */
  snprintf(r, sizeof r, "%s", tpath(state, "text.h5"));
  write_file(r, "hello, this is not HDF5\n", 24);
  refuse(r, "/x", r, "/y", TV_ERR_FORMAT, "text.h5", "not an HDF5 file");
  snprintf(r, sizeof r, "%s", tpath(state, "cut.h5"));
  write_u8(r);
  assert_int_equal(truncate(r, 3000), 0);
  refuse(r, "/train/images", r, "/train/labels", TV_ERR_FORMAT, "cut.h5", NULL);
}

/* A dataset far larger than memory is refused from its metadata, before anything is allocated:
 * a chunked, compressed dataset of 2^40 bytes holding one chunk. */
static void test_absurd_size(void **state) {
  const char *p = tpath(state, "huge.h5");
  hid_t f = create(p);
  hsize_t dims[2] = {(hsize_t)1 << 24, (hsize_t)1 << 16}, chunk[2] = {1, 1 << 16};
  hid_t s = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  assert_true(H5Pset_chunk(dcpl, 2, chunk) >= 0);
  assert_true(H5Pset_deflate(dcpl, 1) >= 0);
  hid_t d = H5Dcreate2(f, "/x", H5T_STD_U8LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  static uint8_t row[1 << 16];
  hsize_t start[2] = {0, 0}, cnt[2] = {1, 1 << 16};
  hid_t ms = H5Screate_simple(2, cnt, NULL);
  assert_true(H5Sselect_hyperslab(s, H5S_SELECT_SET, start, NULL, cnt, NULL) >= 0);
  assert_true(H5Dwrite(d, H5T_NATIVE_UINT8, ms, s, H5P_DEFAULT, row) >= 0);
  H5Sclose(ms);
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(s);
  static uint8_t lab[1];
  hsize_t d1[1] = {1};
  put(f, "/y", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, d1, lab);
  H5Fclose(f);
  refuse(p, "/x", p, "/y", TV_ERR_FORMAT, "/x", "compressed bytes");
}

int main(void) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_u8_equals_idx, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_types_and_shapes, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_image_in_memory, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_errors, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test(test_damaged_files),
      cmocka_unit_test_setup_teardown(test_absurd_size, tvt_setup_tmpdir, tvt_teardown_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
