/* test_estimate.c — what a data source will hold in memory, planned from its files' headers
 * before it is read (data.h tv_data_estimate, pipeline.h tv_split_estimate, budget.h
 * tv_budget_add_split): for each reader, on files written here, the counts its contract states
 * (held: the tv_dataset's buffers; peak: with the read's own buffers), which a load of the same
 * files then matches buffer for buffer; the train split's copy; out of core the budget; a file
 * that is missing or damaged is an error naming it, and adds nothing to a budget. */
#include "trainval/budget.h"

#include <hdf5.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "testutil.h"
#include "trainval/config.h"
#include "trainval/data.h"
#include "trainval/pipeline.h"

static char g_path[3][1024];

/* dir/name in one of three buffers (slot). */
static const char *tpath(void **state, int slot, const char *name) {
  snprintf(g_path[slot], sizeof g_path[slot], "%s/%s", (const char *)*state, name);
  return g_path[slot];
}

static void write_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static uint64_t file_size(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (uint64_t)st.st_size;
}

static void assert_need(const tv_data_spec *sp, uint64_t held, uint64_t peak, int ooc) {
  tv_data_need need;
  int rc = tv_data_estimate(sp, &need);
  if (rc != TV_OK) fail_msg("%s", tv_error_message());
  assert_int_equal(need.held, held);
  assert_int_equal(need.peak, peak);
  assert_int_equal(need.out_of_core, ooc);
}

/* IDX header: type, then the dimensions (big-endian), then count bytes of zeros. */
static void write_idx(const char *path, unsigned type, int ndim, const uint32_t *dim, size_t size) {
  unsigned char buf[4096] = {0, 0, (unsigned char)type, (unsigned char)ndim};
  size_t count = 1, at = 4;
  for (int k = 0; k < ndim; k++, at += 4) {
    for (int b = 0; b < 4; b++) buf[at + b] = (unsigned char)(dim[k] >> (24 - 8 * b));
    count *= dim[k];
  }
  assert_true(at + count * size <= sizeof buf);
  write_bytes(path, buf, at + count * size);
}

static void test_idx(void **state) {
  const uint32_t xd[3] = {10, 2, 3}, yd[1] = {10};
  tv_data_spec sp = {.format = "idx", .x = tpath(state, 0, "x"), .y = tpath(state, 1, "y")};
  write_idx(sp.x, 0x08, 3, xd, 1);
  write_idx(sp.y, 0x08, 1, yd, 1);
  /* uint8 images kept (60), labels as int32 (40) after their 10 raw bytes */
  assert_need(&sp, 60 + 40, 60 + 40 + 10, 0);
  tv_dataset ds;
  assert_int_equal(tv_data_load(&sp, &ds), TV_OK);
  assert_non_null(ds.images);
  tv_dataset_free(&ds);
  /* float64 features: 480 raw bytes read, then 240 of float32 */
  write_idx(sp.x, 0x0E, 3, xd, 8);
  assert_need(&sp, 240 + 40, 240 + 480, 0);
  tv_data_need need;
  sp.y = tpath(state, 1, "missing");
  assert_int_equal(tv_data_estimate(&sp, &need), TV_ERR_NOT_FOUND);
  assert_non_null(strstr(tv_error_message(), "missing"));
  assert_int_equal(need.peak, 0);
}

/* A version 1.0 .npy file of the given descr and shape text, count elements of size bytes. */
static void write_npy(const char *path, const char *descr, const char *shape, size_t bytes) {
  char head[128];
  int n = snprintf(head, sizeof head, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                   descr, shape);
  memset(head + n, ' ', sizeof head - (size_t)n);
  head[117] = '\n'; /* 10 bytes of prefix + 118 of header */
  unsigned char buf[4096] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 118, 0};
  memcpy(buf + 10, head, 118);
  assert_true(128 + bytes <= sizeof buf);
  write_bytes(path, buf, 128 + bytes);
}

static void test_npy(void **state) {
  tv_data_spec sp = {.format = "npy", .x = tpath(state, 0, "x.npy"), .y = tpath(state, 1, "y.npy")};
  write_npy(sp.x, "<f8", "(10, 3)", 240);
  write_npy(sp.y, "<i8", "(10,)", 80);
  /* both files read whole (368 + 208), then 120 + 40 bytes of float32 and int32 */
  assert_need(&sp, 160, file_size(sp.x) + file_size(sp.y) + 160, 0);
  tv_dataset ds;
  assert_int_equal(tv_data_load(&sp, &ds), TV_OK);
  assert_non_null(ds.features);
  tv_dataset_free(&ds);
  write_npy(sp.x, "|u1", "(10, 2, 3)", 60); /* uint8 stays uint8 */
  assert_need(&sp, 60 + 40, file_size(sp.x) + file_size(sp.y) + 100, 0);
  sp.features_only = 1;
  assert_need(&sp, 60, file_size(sp.x) + 60, 0);
  write_bytes(sp.x, "\x93NUMPX", 6);
  tv_data_need need;
  assert_int_equal(tv_data_estimate(&sp, &need), TV_ERR_FORMAT);
  assert_non_null(strstr(tv_error_message(), "x.npy: not a .npy file"));
}

static void test_csv(void **state) {
  tv_data_spec sp = {.format = "csv", .x = tpath(state, 0, "t.csv")};
  static const char text[] = "a,b,c\n1,2,0\n3,4,1\n";
  write_bytes(sp.x, text, sizeof text - 1);
  /* 9 fields (6 commas, 3 line ends) and one for a last line without its line end, a float each;
   * the text with its NUL; 1024 field records */
  size_t record = sizeof(char *) + sizeof(size_t) + 2 * sizeof(int);
  assert_need(&sp, 10 * 4, (sizeof text) + 1024 * record + 10 * 4, 0);
  tv_dataset ds; /* the 6 values it holds are within that */
  assert_int_equal(tv_data_load(&sp, &ds), TV_OK);
  assert_true(ds.n * (ds.c + 1) * 4 <= 10 * 4);
  tv_dataset_free(&ds);
  sp.delimiter = ';'; /* only the line ends delimit */
  assert_need(&sp, 4 * 4, (sizeof text) + 1024 * record + 4 * 4, 0);
}

static void test_imgdir(void **state) {
  tv_data_spec sp = {.format = "imgdir", .x = *state, .channels = 3, .height = 4, .width = 5};
  assert_int_equal(mkdir(tpath(state, 0, "ant"), 0755), 0);
  assert_int_equal(mkdir(tpath(state, 0, "bee"), 0755), 0);
  write_bytes(tpath(state, 0, "ant/1.png"), "", 0);
  write_bytes(tpath(state, 0, "ant/2.JPG"), "", 0);
  write_bytes(tpath(state, 0, "ant/notes.txt"), "", 0); /* not an image: the reader skips it */
  write_bytes(tpath(state, 0, "bee/.hidden.png"), "", 0);
  write_bytes(tpath(state, 0, "bee/3.jpeg"), "", 0);
  assert_need(&sp, 3 * (60 + 4), 3 * (60 + 4), 0);
}

/* /x of type xt (rows, D) in chunks of `chunk` rows (0: contiguous) and /y of type yt (rows) or
 * (rows, t), values 0, in file path. */
enum { N = 100, D = 8, T = 3 };
static void write_h5_rows(const char *path, hsize_t rows, hsize_t chunk, hid_t xt, hid_t yt,
                          int t) {
  double *zeros = calloc(rows * D, sizeof *zeros);
  assert_non_null(zeros);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  hsize_t dx[2] = {rows, D}, dy[2] = {rows, (hsize_t)t}, cx[2] = {chunk, D};
  hid_t sx = H5Screate_simple(2, dx, NULL), sy = H5Screate_simple(t ? 2 : 1, dy, NULL);
  hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
  if (chunk) assert_true(H5Pset_chunk(pl, 2, cx) >= 0);
  hid_t a = H5Dcreate2(f, "/x", xt, sx, H5P_DEFAULT, pl, H5P_DEFAULT);
  hid_t b = H5Dcreate2(f, "/y", yt, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(a >= 0 && b >= 0);
  assert_true(H5Dwrite(a, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros) >= 0);
  assert_true(H5Dwrite(b, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros) >= 0);
  H5Dclose(a);
  H5Dclose(b);
  H5Pclose(pl);
  H5Sclose(sx);
  H5Sclose(sy);
  H5Fclose(f);
  free(zeros);
}

static void write_h5(const char *path, hid_t xt, hid_t yt, int t) {
  write_h5_rows(path, N, 0, xt, yt, t);
}

static void test_hdf5(void **state) {
  const char *p = tpath(state, 0, "d.h5");
  tv_data_spec sp = {.format = "hdf5", .x = p, .y = p, .x_dataset = "/x", .y_dataset = "/y"};
  /* float32 features and int32 class ids are read as stored: no conversion slab */
  write_h5(p, H5T_IEEE_F32LE, H5T_STD_I32LE, 0);
  assert_need(&sp, N * D * 4 + N * 4, N * D * 4 + N * 4, 0);
  sp.float_targets = 1; /* class ids, then float targets beside them (source.c) */
  assert_need(&sp, N * D * 4 + N * 4, N * D * 4 + 2 * N * 4, 0);
  sp.float_targets = 0;
  /* uint8 features kept as uint8; int16 features converted through a slab of doubles */
  write_h5(p, H5T_STD_U8LE, H5T_STD_I32LE, 0);
  assert_need(&sp, N * D + N * 4, N * D + N * 4, 0);
  write_h5(p, H5T_STD_I16BE, H5T_IEEE_F64LE, T);
  assert_need(&sp, N * D * 4 + N * T * 4, N * D * 4 + N * D * 8, 0);
  tv_dataset ds;
  sp.float_targets = 1;
  assert_int_equal(tv_data_load(&sp, &ds), TV_OK);
  assert_int_equal(ds.target_dim, T);
  tv_dataset_free(&ds);
  /* more than data.memory_mb: out of core, the budget */
  sp.memory_bytes = 1000;
  assert_need(&sp, 0, 1000, 1);
  sp.memory_bytes = (uint64_t)N * D * 4 + N * T * 4; /* fits exactly: in memory */
  assert_need(&sp, N * D * 4 + N * T * 4, N * D * 4 + N * D * 8, 0);
  tv_data_need need;
  sp.x_dataset = "/nope";
  assert_int_equal(tv_data_estimate(&sp, &need), TV_ERR_NOT_FOUND);
  assert_non_null(strstr(tv_error_message(), "d.h5: no dataset /nope"));
  write_bytes(p, "not hdf5", 8);
  sp.x_dataset = "/x";
  assert_int_equal(tv_data_estimate(&sp, &need), TV_ERR_FORMAT);
  assert_non_null(strstr(tv_error_message(), "d.h5: not an HDF5 file"));
  assert_int_equal(need.peak, 0);
}

/* The splits of a config over an HDF5 file, and the budget they add. */
static void test_split_budget(void **state) {
  write_h5(tpath(state, 0, "d.h5"), H5T_IEEE_F32LE, H5T_STD_I32LE, 0);
  tv_config c;
  tv_config_defaults(&c);
  c.data.format = TV_DATA_FORMAT_HDF5;
  snprintf(c.data.dir, sizeof c.data.dir, "%s", (const char *)*state);
  snprintf(c.data.train_images, sizeof c.data.train_images, "d.h5:/x");
  snprintf(c.data.train_labels, sizeof c.data.train_labels, "d.h5:/y");
  snprintf(c.data.test_images, sizeof c.data.test_images, "d.h5:/x");
  snprintf(c.data.test_labels, sizeof c.data.test_labels, "d.h5:/y");
  uint64_t held = N * D * 4 + N * 4, bytes;
  assert_int_equal(tv_split_estimate(&c, TV_SPLIT_TEST, &bytes), TV_OK);
  assert_int_equal(bytes, held);
  /* the training file and its two splits, copied from it */
  assert_int_equal(tv_split_estimate(&c, TV_SPLIT_TRAIN, &bytes), TV_OK);
  assert_int_equal(bytes, 2 * held);
  tv_budget b = {0};
  tv_budget_add_split(&b, &c, TV_SPLIT_VALID);
  assert_int_equal(b.data, 2 * held);
  c.data.memory_mb = 1; /* 3.6 KB fit 1 MiB: in memory */
  assert_int_equal(tv_split_estimate(&c, TV_SPLIT_TEST, &bytes), TV_OK);
  assert_int_equal(bytes, held);
  snprintf(c.data.test_labels, sizeof c.data.test_labels, "d.h5");
  assert_int_equal(tv_split_estimate(&c, TV_SPLIT_TEST, &bytes), TV_ERR_CONFIG);
  assert_non_null(strstr(tv_error_message(), "names no dataset"));
  b = (tv_budget){0};
  tv_budget_add_split(&b, &c, TV_SPLIT_TEST); /* loading it reports the problem */
  assert_int_equal(b.data, 0);
}

/* Out of core in a config: a file larger than data.memory_mb counts the budget. */
static void test_split_out_of_core(void **state) {
  enum { ROWS = 40000 }; /* 1.4 MB */
  write_h5_rows(tpath(state, 0, "big.h5"), ROWS, 1024, H5T_IEEE_F32LE, H5T_STD_I32LE, 0);
  tv_config c;
  tv_config_defaults(&c);
  c.data.format = TV_DATA_FORMAT_HDF5;
  c.data.memory_mb = 1;
  snprintf(c.data.dir, sizeof c.data.dir, "%s", (const char *)*state);
  snprintf(c.data.train_images, sizeof c.data.train_images, "big.h5:/x");
  snprintf(c.data.train_labels, sizeof c.data.train_labels, "big.h5:/y");
  uint64_t bytes;
  if (tv_split_estimate(&c, TV_SPLIT_TRAIN, &bytes) != TV_OK) fail_msg("%s", tv_error_message());
  assert_int_equal(bytes, 1u << 20);
  c.data.memory_mb = 0;
  assert_int_equal(tv_split_estimate(&c, TV_SPLIT_TRAIN, &bytes), TV_OK);
  assert_int_equal(bytes, 2 * (uint64_t)ROWS * (D * 4 + 4));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_idx, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_npy, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_csv, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_imgdir, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_hdf5, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_split_budget, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_split_out_of_core, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
