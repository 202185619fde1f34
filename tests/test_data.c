/* test_data.c — the data module: IDX reading (plain and gzip, every element type the format
 * defines, as uint8 images, float32 features, class ids or float targets) and its error paths,
 * the data-source table (tv_data_load), tv_data_find, float32 features through the loader,
 * splits, subsets and the loader (coverage, shuffling, drop_last, normalisation per image and per
 * channel, augmentation against a reference and by invariants, exact resume, prefetch bitwise
 * equal to the synchronous loader, resume and free with the thread running), plus the real
 * Fashion-MNIST files when the Debian package is installed (with a printed speed comparison).
 * The prefetch tests are also meant for ThreadSanitizer and helgrind runs.
 *
 * Every IDX file is built at test time in a mkdtemp directory that the group teardown removes.
 * Synthetic example i carries its id in its first two pixels (i & 0xff, i >> 8), so a batch read
 * with the identity normalisation names the examples it holds.
 */
#include "trainval/data.h"

#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "trainval/ckpt.h"
#include "trainval/dist.h"

#ifndef FMNIST_DIR /* -DFMNIST_DIR=\"/nonexistent\" skips the real data (under valgrind) */
#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#endif

static char g_dir[256];

static int group_setup(void **state) {
  (void)state;
  snprintf(g_dir, sizeof g_dir, "%s/tv_test_data.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  DIR *d = opendir(g_dir);
  if (!d) return -1;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
    unlink(p);
  }
  closedir(d);
  return rmdir(g_dir);
}

static const char *tpath(char *buf, const char *name) {
  snprintf(buf, 512, "%s/%s", g_dir, name);
  return buf;
}

static void assert_msg_has(const char *needle) {
  if (!strstr(tv_error_message(), needle))
    fail_msg("message \"%s\" lacks \"%s\"", tv_error_message(), needle);
}

static void assert_zeroed(const tv_dataset *ds) {
  static const tv_dataset zero = {0};
  assert_memory_equal(ds, &zero, sizeof zero);
}

/* ---- IDX builders ------------------------------------------------------------------------- */

static uint8_t pixel(uint32_t i, size_t j) {
  if (j == 0) return (uint8_t)(i & 0xff);
  if (j == 1) return (uint8_t)(i >> 8);
  return (uint8_t)(i * 31u + j * 17u + (i * j) % 7u);
}

static uint8_t label(uint32_t i) { return (uint8_t)(i % 10); }

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* An images file in memory: IDX3 when c == 0 (read back as c = 1), IDX4 otherwise. */
static uint8_t *idx_images(uint32_t n, int c, int h, int w, size_t *len) {
  int ndim = c ? 4 : 3;
  size_t d = (size_t)(c ? c : 1) * (size_t)h * (size_t)w;
  size_t hdr = 4 + 4 * (size_t)ndim;
  uint8_t *b = malloc(hdr + n * d);
  assert_non_null(b);
  put_be32(b, 0x00000800u | (uint32_t)ndim);
  put_be32(b + 4, n);
  int k = 8;
  if (c) {
    put_be32(b + k, (uint32_t)c);
    k += 4;
  }
  put_be32(b + k, (uint32_t)h);
  put_be32(b + k + 4, (uint32_t)w);
  for (uint32_t i = 0; i < n; i++)
    for (size_t j = 0; j < d; j++) b[hdr + i * d + j] = pixel(i, j);
  *len = hdr + n * d;
  return b;
}

static uint8_t *idx_labels(uint32_t n, size_t *len) {
  uint8_t *b = malloc(8 + n);
  assert_non_null(b);
  put_be32(b, 0x00000801u);
  put_be32(b + 4, n);
  for (uint32_t i = 0; i < n; i++) b[8 + i] = label(i);
  *len = 8 + n;
  return b;
}

static void write_plain(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static void write_gz(const char *path, const void *data, size_t len) {
  gzFile g = gzopen(path, "wb");
  assert_non_null(g);
  assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
  assert_int_equal(gzclose(g), Z_OK);
}

static void write_images(const char *path, int gz, uint32_t n, int c, int h, int w) {
  size_t len;
  uint8_t *b = idx_images(n, c, h, w, &len);
  (gz ? write_gz : write_plain)(path, b, len);
  free(b);
}

static void write_labels(const char *path, int gz, uint32_t n) {
  size_t len;
  uint8_t *b = idx_labels(n, &len);
  (gz ? write_gz : write_plain)(path, b, len);
  free(b);
}

static off_t file_size(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_size;
}

/* A synthetic dataset built in memory with c channels: example i's byte j is pixel(i, j) over the
 * whole c*h*w (for c = 1 the same contents as the files above). */
static tv_dataset make_ds_c(uint32_t n, int c, int h, int w) {
  tv_dataset ds = {.n = n, .c = c, .h = h, .w = w, .num_classes = n < 10 ? (int)n : 10};
  size_t d = (size_t)c * (size_t)h * (size_t)w;
  ds.images = malloc(n * d);
  ds.labels = malloc(n * sizeof *ds.labels);
  assert_non_null(ds.images);
  assert_non_null(ds.labels);
  for (uint32_t i = 0; i < n; i++) {
    for (size_t j = 0; j < d; j++) ds.images[i * d + j] = pixel(i, j);
    ds.labels[i] = label(i);
  }
  return ds;
}

static tv_dataset make_ds(uint32_t n, int h, int w) { return make_ds_c(n, 1, h, w); }

static void check_synthetic(const tv_dataset *ds, uint32_t n, int c, int h, int w) {
  assert_int_equal(ds->n, n);
  assert_int_equal(ds->c, c);
  assert_int_equal(ds->h, h);
  assert_int_equal(ds->w, w);
  assert_int_equal(ds->num_classes, n < 10 ? (int)n : 10);
  size_t d = (size_t)c * (size_t)h * (size_t)w;
  for (uint32_t i = 0; i < n; i++) {
    for (size_t j = 0; j < d; j++) assert_int_equal(ds->images[i * d + j], pixel(i, j));
    assert_int_equal(ds->labels[i], label(i));
  }
}

/* ---- loading ------------------------------------------------------------------------------ */

static void test_load_plain(void **state) {
  (void)state;
  char pi[512], pl[512];
  write_images(tpath(pi, "plain-images"), 0, 23, 0, 5, 4);
  write_labels(tpath(pl, "plain-labels"), 0, 23);
  tv_dataset ds;
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
  check_synthetic(&ds, 23, 1, 5, 4);
  tv_dataset_free(&ds);
  assert_zeroed(&ds);
  tv_dataset_free(&ds); /* again: a zeroed dataset */
  tv_dataset_free(NULL);
}

static void test_load_gzip(void **state) {
  (void)state;
  char pi[512], pl[512];
  write_images(tpath(pi, "gz-images.gz"), 1, 300, 0, 7, 6);
  write_labels(tpath(pl, "gz-labels.gz"), 1, 300);
  tv_dataset ds;
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
  check_synthetic(&ds, 300, 1, 7, 6);
  tv_dataset_free(&ds);

  /* Detected by magic, not by name: gzip without ".gz", mixed with a plain labels file. */
  write_images(tpath(pi, "gz-images-noext"), 1, 12, 0, 3, 3);
  write_labels(tpath(pl, "plain-labels-12"), 0, 12);
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
  check_synthetic(&ds, 12, 1, 3, 3);
  tv_dataset_free(&ds);
}

static void test_load_idx4(void **state) {
  (void)state;
  char pi[512], pl[512];
  write_images(tpath(pi, "idx4-images"), 0, 11, 3, 2, 5);
  write_labels(tpath(pl, "idx4-labels"), 0, 11);
  tv_dataset ds;
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
  check_synthetic(&ds, 11, 3, 2, 5);
  tv_dataset_free(&ds);
}

/* Loads expecting failure with code and a message naming path and needle; *ds must be zeroed. */
static void expect_fail(const char *pi, const char *pl, int code, const char *path,
                        const char *needle) {
  tv_dataset ds;
  memset(&ds, 0x5a, sizeof ds);
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), code);
  assert_zeroed(&ds);
  assert_msg_has(path);
  if (needle) assert_msg_has(needle);
}

static void test_wrong_magic(void **state) {
  (void)state;
  char pi[512], pl[512], bad[512];
  write_images(tpath(pi, "wm-images"), 0, 4, 0, 2, 2);
  write_labels(tpath(pl, "wm-labels"), 0, 4);
  /* The two files swapped: each has the other's magic. */
  expect_fail(pl, pi, TV_ERR_FORMAT, pl, "0x00000801");
  /* Element type float32 (0x0D) instead of unsigned byte. */
  size_t len;
  uint8_t *b = idx_images(4, 0, 2, 2, &len);
  b[2] = 0x0d;
  write_plain(tpath(bad, "wm-float"), b, len);
  free(b);
  expect_fail(bad, pl, TV_ERR_FORMAT, bad, "element type 0x0d");
  /* A zero dimension. */
  b = idx_images(4, 0, 2, 2, &len);
  put_be32(b + 8, 0);
  write_plain(tpath(bad, "wm-zero"), b, len);
  free(b);
  expect_fail(bad, pl, TV_ERR_FORMAT, bad, "dimension 1 is 0");
}

/* ---- IDX element types -------------------------------------------------------------------- */

/* An IDX file of element type `type` with dims[0..ndim) holding vals (count = prod(dims)),
 * each written big-endian in the type's encoding. */
static uint8_t *idx_typed(unsigned type, int ndim, const uint32_t *dims, const double *vals,
                          size_t *len) {
  size_t size = type == 0x0B ? 2 : type == 0x0C || type == 0x0D ? 4 : type == 0x0E ? 8 : 1;
  size_t count = 1;
  for (int i = 0; i < ndim; i++) count *= dims[i];
  size_t hdr = 4 + 4 * (size_t)ndim;
  uint8_t *b = malloc(hdr + count * size);
  assert_non_null(b);
  put_be32(b, type << 8 | (uint32_t)ndim);
  for (int i = 0; i < ndim; i++) put_be32(b + 4 + 4 * i, dims[i]);
  for (size_t i = 0; i < count; i++) {
    uint64_t u;
    if (type == 0x0D) {
      float f = (float)vals[i];
      uint32_t w;
      memcpy(&w, &f, 4);
      u = w;
    } else if (type == 0x0E) {
      memcpy(&u, &vals[i], 8);
    } else {
      u = (uint64_t)(int64_t)vals[i];
    }
    for (size_t k = 0; k < size; k++) b[hdr + i * size + k] = (uint8_t)(u >> (8 * (size - 1 - k)));
  }
  *len = hdr + count * size;
  return b;
}

static void write_typed(const char *path, unsigned type, int ndim, const uint32_t *dims,
                        const double *vals) {
  size_t len;
  uint8_t *b = idx_typed(type, ndim, dims, vals, &len);
  write_plain(path, b, len);
  free(b);
}

/* Every element type the IDX format defines, as features (converted to float32 unless uint8)
 * and as targets (integer types: class ids; float types: float targets), read back exactly. */
static void test_idx_types(void **state) {
  (void)state;
  static const unsigned types[] = {0x09, 0x0B, 0x0C, 0x0D, 0x0E};
  static const double fvals[3][6] = {
      {-128, 127, 0, -1, 5, 100},                    /* int8 */
      {-32768, 32767, -300, 1000, 7, 0},             /* int16 */
      {-2000000000, 2000000000, 16777216, -5, 3, 1}, /* int32: exact in float32 */
  };
  static const double real[6] = {0.5, -1.25, 3.0e30, -7.0e-3, 1.0, 0.0};
  char pi[512], pl[512];
  const uint32_t fd[4] = {2, 1, 1, 3}, ld[1] = {2};
  const double lv[2] = {3, 1};
  for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
    const double *v = types[t] >= 0x0D ? real : fvals[t];
    write_typed(tpath(pi, "types-x"), types[t], 4, fd, v);
    write_typed(tpath(pl, "types-y"), types[t] >= 0x0D ? 0x0C : types[t], 1, ld, lv);
    tv_dataset ds;
    assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
    assert_null(ds.images);
    assert_non_null(ds.features);
    assert_int_equal(tv_dataset_feature_size(&ds), 4);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.c, 1);
    assert_int_equal(ds.h, 1);
    assert_int_equal(ds.w, 3);
    for (int i = 0; i < 6; i++) assert_true(ds.features[i] == (float)v[i]);
    assert_int_equal(ds.labels[0], 3);
    assert_int_equal(ds.labels[1], 1);
    assert_int_equal(ds.num_classes, 4);
    assert_null(ds.targets);
    assert_int_equal(ds.target_dim, 0);
    tv_dataset_free(&ds);
  }
  /* (N, D) features read as C = D, H = W = 1; (N, T) float64 targets. */
  const uint32_t d2[2] = {2, 3};
  const double tv[6] = {0.25, -2, 1e-3, 4, 5, -6};
  write_typed(tpath(pi, "types-x2"), 0x0D, 2, d2, real);
  write_typed(tpath(pl, "types-t2"), 0x0E, 2, d2, tv);
  tv_dataset ds;
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
  assert_int_equal(ds.c, 3);
  assert_int_equal(ds.h, 1);
  assert_int_equal(ds.w, 1);
  assert_null(ds.labels);
  assert_int_equal(ds.target_dim, 3);
  assert_int_equal(ds.num_classes, 0);
  for (int i = 0; i < 6; i++) assert_true(ds.targets[i] == (float)tv[i]);
  tv_dataset_free(&ds);
  /* (N) float32 targets: one value each. */
  const double t1[2] = {1.5, -0.5};
  write_typed(tpath(pl, "types-t1"), 0x0D, 1, ld, t1);
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
  assert_int_equal(ds.target_dim, 1);
  assert_true(ds.targets[0] == 1.5f && ds.targets[1] == -0.5f);
  tv_dataset_free(&ds);
  /* uint8 int16 labels beyond 255 keep their value. */
  const double big[2] = {999, 0};
  write_typed(tpath(pl, "types-l16"), 0x0B, 1, ld, big);
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
  assert_int_equal(ds.labels[0], 999);
  assert_int_equal(ds.num_classes, 1000);
  tv_dataset_free(&ds);
}

/* Bad values and types: each a one-line error naming the file, *ds zeroed. */
static void test_idx_types_bad(void **state) {
  (void)state;
  char pi[512], pl[512], bad[512];
  const uint32_t fd[2] = {2, 2}, ld[1] = {2};
  const double ok[4] = {1, 2, 3, 4}, lv[2] = {0, 1};
  write_typed(tpath(pi, "tb-x"), 0x0D, 2, fd, ok);
  write_typed(tpath(pl, "tb-y"), 0x08, 1, ld, lv);
  /* An element type the format does not define. */
  size_t len;
  uint8_t *b = idx_typed(0x08, 2, fd, ok, &len);
  b[2] = 0x0a;
  write_plain(tpath(bad, "tb-type0a"), b, len);
  free(b);
  expect_fail(bad, pl, TV_ERR_FORMAT, bad, "element type 0x0a");
  /* A negative class id, and one beyond the limit. */
  const double neg[2] = {0, -1};
  write_typed(tpath(bad, "tb-neg"), 0x09, 1, ld, neg);
  expect_fail(pi, bad, TV_ERR_FORMAT, bad, "label -1 of example 1");
  const double huge[2] = {2000000, 0};
  write_typed(tpath(bad, "tb-huge"), 0x0C, 1, ld, huge);
  expect_fail(pi, bad, TV_ERR_FORMAT, bad, "label 2000000 of example 0");
  /* Features that are not finite, or beyond float32. */
  const double nan4[4] = {1, NAN, 3, 4}, inf4[4] = {1, 2, 3, 1e300};
  write_typed(tpath(bad, "tb-nan"), 0x0D, 2, fd, nan4);
  expect_fail(bad, pl, TV_ERR_FORMAT, bad, "element 1 is");
  write_typed(tpath(bad, "tb-f64"), 0x0E, 2, fd, inf4);
  expect_fail(bad, pl, TV_ERR_FORMAT, bad, "not a finite float32");
  /* Integer targets of two dimensions; features of one. */
  write_typed(tpath(bad, "tb-l2"), 0x0C, 2, fd, ok);
  expect_fail(pi, bad, TV_ERR_FORMAT, bad, "2 dimensions of int32");
  write_typed(tpath(bad, "tb-x1"), 0x0D, 1, ld, lv);
  expect_fail(bad, pl, TV_ERR_FORMAT, bad, "1 dimensions of float32");
  /* A float64 body cut short names its type. */
  b = idx_typed(0x0E, 2, fd, ok, &len);
  write_plain(tpath(bad, "tb-cut"), b, len - 3);
  free(b);
  expect_fail(bad, pl, TV_ERR_FORMAT, bad,
              "truncated: expected 32 bytes of pixel data (element type 0x0e, float64), got 29");
}

/* tv_data_load: the "idx" row gives what tv_dataset_load_idx gives; an unknown format lists the
 * readers. */
static void test_data_load(void **state) {
  (void)state;
  char pi[512], pl[512];
  write_images(tpath(pi, "dl-images"), 0, 23, 0, 5, 4);
  write_labels(tpath(pl, "dl-labels"), 0, 23);
  tv_dataset ds;
  tv_data_spec spec = {.format = "idx", .x = pi, .y = pl};
  assert_int_equal(tv_data_load(&spec, &ds), TV_OK);
  check_synthetic(&ds, 23, 1, 5, 4);
  assert_int_equal(tv_dataset_feature_size(&ds), 1);
  tv_dataset_free(&ds);
  spec.format = "parquet";
  memset(&ds, 0x5a, sizeof ds);
  assert_int_equal(tv_data_load(&spec, &ds), TV_ERR_INVALID);
  assert_zeroed(&ds);
  assert_msg_has("\"parquet\" has no reader (known: idx");
  assert_msg_has(pi);
}

static void test_truncated_plain(void **state) {
  (void)state;
  char pi[512], pl[512];
  size_t len;
  uint8_t *b = idx_images(5, 0, 3, 4, &len); /* 16 + 60 bytes */
  write_plain(tpath(pi, "tr-images"), b, len - 6);
  write_labels(tpath(pl, "tr-labels"), 0, 5);
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, "truncated: expected 60 bytes of pixel data, got 54");
  /* Cut inside the header. */
  write_plain(pi, b, 10);
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, "truncated: expected 16 bytes of IDX header, got 10");
  /* Trailing garbage. */
  uint8_t *more = malloc(len + 3);
  assert_non_null(more);
  memcpy(more, b, len);
  memcpy(more + len, "xyz", 3);
  write_plain(pi, more, len + 3);
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, "trailing garbage");
  free(more);
  /* Labels truncated. */
  write_plain(pi, b, len);
  size_t llen;
  uint8_t *lb = idx_labels(5, &llen);
  write_plain(pl, lb, llen - 1);
  expect_fail(pi, pl, TV_ERR_FORMAT, pl, "truncated: expected 5 bytes of label data, got 4");
  free(lb);
  free(b);
}

static void test_truncated_gzip(void **state) {
  (void)state;
  char pi[512], pl[512];
  write_labels(tpath(pl, "trgz-labels"), 0, 200);
  tpath(pi, "trgz-images.gz");
  /* Cut in the middle of the deflate stream. */
  write_images(pi, 1, 200, 0, 8, 8);
  assert_int_equal(truncate(pi, file_size(pi) / 2), 0);
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, "truncated: expected 12800 bytes of pixel data, got ");
  /* Every pixel present, the gzip trailer (CRC-32 and size) cut short. */
  write_images(pi, 1, 200, 0, 8, 8);
  assert_int_equal(truncate(pi, file_size(pi) - 3), 0);
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, "truncated: gzip stream ends before its trailer");
}

/* A real gzip file cut by 1 to 10 bytes (into its 8-byte trailer, CRC-32 and ISIZE, or just
 * before it) is truncated, never accepted: zlib's gzread reported a plain end of file there. */
static void test_truncated_real_gzip(void **state) {
  (void)state;
  const char *src = FMNIST_DIR "/t10k-images-idx3-ubyte.gz";
  FILE *f = fopen(src, "rb");
  if (!f) {
    print_message("%s not installed: skipped\n", src);
    skip();
  }
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long size = ftell(f);
  assert_true(size > 100);
  rewind(f);
  unsigned char *bytes = malloc((size_t)size);
  assert_non_null(bytes);
  assert_int_equal(fread(bytes, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  char pi[512], pl[512];
  snprintf(pl, sizeof pl, "%s/t10k-labels-idx1-ubyte.gz", FMNIST_DIR);
  tpath(pi, "t10k-cut.gz");
  for (long cut = 1; cut <= 10; cut++) {
    write_plain(pi, bytes, (size_t)(size - cut));
    tv_dataset ds;
    int rc = tv_dataset_load_idx(pi, pl, &ds);
    if (rc != TV_ERR_FORMAT)
      fail_msg("cut by %ld bytes: code %d (%s)", cut, rc, tv_error_message());
    assert_msg_has(pi);
    assert_msg_has("truncated");
  }
  write_plain(pi, bytes, (size_t)size); /* whole: it loads */
  tv_dataset ds;
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
  assert_int_equal(ds.n, 10000);
  tv_dataset_free(&ds);
  free(bytes);
}

/* A 41-byte file whose header promises 100000 x 256 x 256 pixels (6.5 GB) is truncated, found
 * without allocating what it promises: in a child process limited to 1 GiB more address space
 * than it holds, the load still reports TV_ERR_FORMAT (not TV_ERR_NOMEM), plain and gzip. */
static void test_header_promises_too_much(void **state) {
  (void)state;
  unsigned char b[41] = {0, 0, 8, 3, 0, 1, 0x86, 0xa0, 0, 0, 1, 0, 0, 0, 1, 0};
  for (int i = 16; i < 41; i++) b[i] = (unsigned char)i;
  char pl[512];
  write_labels(tpath(pl, "huge-labels"), 0, 100000);
  for (int gz = 0; gz < 2; gz++) {
    char pi[512];
    tpath(pi, gz ? "huge-images.gz" : "huge-images");
    (gz ? write_gz : write_plain)(pi, b, sizeof b);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
#if !defined(__SANITIZE_ADDRESS__) /* ASan reserves terabytes of shadow: no limit there */
      long pages = 0;
      FILE *st = fopen("/proc/self/statm", "r");
      if (st && fscanf(st, "%ld", &pages) == 1) {
        rlim_t lim = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)1 << 30);
        struct rlimit rl = {lim, lim};
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(3);
      }
      if (st) fclose(st);
#endif
      tv_dataset ds;
      int rc = tv_dataset_load_idx(pi, pl, &ds);
      const char *m = tv_error_message();
      int ok = rc == TV_ERR_FORMAT && strstr(m, pi) &&
               strstr(m, "truncated: expected 6553600000 bytes of pixel data, got 25");
      if (!ok) fprintf(stderr, "code %d: %s\n", rc, m);
      _exit(ok ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
}

/* Reads the whole file at path into a malloc'd buffer; *len gets its size. */
static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  uint8_t *b = malloc((size_t)n + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

/* data.h's gzip rules: concatenated members are one stream; bytes after the last member that
 * are not gzip are ignored; a second member cut short is truncated like the first. */
static void test_gzip_members(void **state) {
  (void)state;
  char pi[512], pl[512], part[512];
  write_labels(tpath(pl, "mem-labels"), 1, 50);
  size_t len;
  uint8_t *raw = idx_images(50, 0, 4, 4, &len);
  write_gz(tpath(part, "mem-a.gz"), raw, 15); /* the first member ends inside the header */
  size_t na, nb;
  uint8_t *a = slurp(part, &na);
  write_gz(part, raw + 15, len - 15);
  uint8_t *b = slurp(part, &nb);
  uint8_t *both = malloc(na + nb + 3);
  assert_non_null(both);
  memcpy(both, a, na);
  memcpy(both + na, b, nb);
  tpath(pi, "mem-images.gz");
  write_plain(pi, both, na + nb);
  tv_dataset ds;
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
  check_synthetic(&ds, 50, 1, 4, 4);
  tv_dataset_free(&ds);
  memcpy(both + na + nb, "xyz", 3); /* not gzip after the last member: ignored */
  write_plain(pi, both, na + nb + 3);
  assert_int_equal(tv_dataset_load_idx(pi, pl, &ds), TV_OK);
  check_synthetic(&ds, 50, 1, 4, 4);
  tv_dataset_free(&ds);
  for (size_t k = 1; k <= 8; k++) { /* the second member's trailer cut by k bytes */
    write_plain(pi, both, na + nb - k);
    expect_fail(pi, pl, TV_ERR_FORMAT, pi, "truncated: gzip stream ends before its trailer");
  }
  write_plain(pi, both, na + nb / 2); /* cut inside the second member's deflate data */
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, "truncated: expected 800 bytes of pixel data, got ");
  free(a);
  free(b);
  free(both);
  free(raw);
}

static void test_corrupt_gzip(void **state) {
  (void)state;
  char pi[512], pl[512];
  write_labels(tpath(pl, "cgz-labels"), 0, 50);
  tpath(pi, "cgz-images.gz");
  write_images(pi, 1, 50, 0, 4, 4);
  off_t size = file_size(pi);
  FILE *f = fopen(pi, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, (long)size - 8, SEEK_SET), 0); /* first byte of the CRC-32 */
  int c = fgetc(f);
  assert_int_equal(fseek(f, (long)size - 8, SEEK_SET), 0);
  assert_int_equal(fputc(c ^ 0xff, f), c ^ 0xff);
  assert_int_equal(fclose(f), 0);
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, "corrupt gzip stream: incorrect data check");
  /* An unknown compression method in the gzip header. */
  write_images(pi, 1, 50, 0, 4, 4);
  f = fopen(pi, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, 2, SEEK_SET), 0);
  assert_int_equal(fputc(7, f), 7);
  assert_int_equal(fclose(f), 0);
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, "corrupt gzip stream: ");
}

static void test_garbage(void **state) {
  (void)state;
  char pi[512], pl[512];
  write_labels(tpath(pl, "gb-labels"), 0, 4);
  const char text[] = "<html>not found</html>\n";
  write_plain(tpath(pi, "gb-images"), text, sizeof text - 1);
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, "not an IDX file");
  write_plain(pi, "", 0);
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, "empty file");
}

static void test_count_mismatch(void **state) {
  (void)state;
  char pi[512], pl[512];
  write_images(tpath(pi, "cm-images"), 0, 6, 0, 2, 2);
  write_labels(tpath(pl, "cm-labels.gz"), 1, 5);
  expect_fail(pi, pl, TV_ERR_FORMAT, pi, pl);
  assert_msg_has("6 images");
  assert_msg_has("5 labels");
}

static void test_missing(void **state) {
  (void)state;
  char pi[512], pl[512];
  write_labels(tpath(pl, "ms-labels"), 0, 4);
  tpath(pi, "ms-no-such-images");
  expect_fail(pi, pl, TV_ERR_NOT_FOUND, pi, NULL);
  write_images(pi, 0, 4, 0, 2, 2);
  tpath(pl, "ms-no-such-labels");
  expect_fail(pi, pl, TV_ERR_NOT_FOUND, pl, NULL);
}

static void test_find(void **state) {
  (void)state;
  char p[512], out[512], want[512];
  write_plain(tpath(p, "fd-a"), "x", 1);
  write_plain(tpath(p, "fd-b.gz"), "x", 1);
  write_plain(tpath(p, "fd-c"), "x", 1);
  write_plain(tpath(p, "fd-c.gz"), "x", 1);
  assert_int_equal(tv_data_find(g_dir, "fd-a", out, sizeof out), TV_OK);
  assert_string_equal(out, tpath(want, "fd-a"));
  assert_int_equal(tv_data_find(g_dir, "fd-a.gz", out, sizeof out), TV_OK);
  assert_string_equal(out, tpath(want, "fd-a"));
  assert_int_equal(tv_data_find(g_dir, "fd-b", out, sizeof out), TV_OK);
  assert_string_equal(out, tpath(want, "fd-b.gz"));
  assert_int_equal(tv_data_find(g_dir, "fd-b.gz", out, sizeof out), TV_OK);
  assert_string_equal(out, tpath(want, "fd-b.gz"));
  /* Both present: the name as given wins. */
  assert_int_equal(tv_data_find(g_dir, "fd-c", out, sizeof out), TV_OK);
  assert_string_equal(out, tpath(want, "fd-c"));
  assert_int_equal(tv_data_find(g_dir, "fd-c.gz", out, sizeof out), TV_OK);
  assert_string_equal(out, tpath(want, "fd-c.gz"));
  /* No directory: the stem alone. */
  assert_int_equal(tv_data_find(NULL, tpath(p, "fd-b"), out, sizeof out), TV_OK);
  assert_string_equal(out, tpath(want, "fd-b.gz"));
  /* Neither. */
  assert_int_equal(tv_data_find(g_dir, "fd-none", out, sizeof out), TV_ERR_NOT_FOUND);
  assert_string_equal(out, "");
  assert_msg_has(tpath(want, "fd-none"));
  assert_msg_has(tpath(want, "fd-none.gz"));
  /* Too small an output buffer. */
  char tiny[8];
  assert_int_equal(tv_data_find(g_dir, "fd-a", tiny, sizeof tiny), TV_ERR_INVALID);
}

/* ---- split and subset --------------------------------------------------------------------- */

static size_t g_row;

static int cmp_row(const void *a, const void *b) { return memcmp(a, b, g_row); }

/* All rows (pixels then label) of the given datasets, sorted: a multiset in canonical form. */
static uint8_t *sorted_rows(const tv_dataset *a, const tv_dataset *b, size_t *count) {
  size_t d = (size_t)a->c * (size_t)a->h * (size_t)a->w;
  size_t n = a->n + (b ? b->n : 0);
  uint8_t *rows = malloc(n * (d + 1) + 1);
  assert_non_null(rows);
  size_t k = 0;
  for (int s = 0; s < 2; s++) {
    const tv_dataset *ds = s ? b : a;
    if (!ds) continue;
    for (uint32_t i = 0; i < ds->n; i++, k++) {
      memcpy(rows + k * (d + 1), ds->images + i * d, d);
      rows[k * (d + 1) + d] = (uint8_t)ds->labels[i];
    }
  }
  g_row = d + 1;
  qsort(rows, n, d + 1, cmp_row);
  *count = n;
  return rows;
}

static uint32_t row_id(const tv_dataset *ds, uint32_t i) {
  size_t d = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
  return ds->images[i * d] | (uint32_t)ds->images[i * d + 1] << 8;
}

static void test_split(void **state) {
  (void)state;
  tv_dataset full = make_ds(1000, 4, 4);
  tv_dataset tr, va;
  assert_int_equal(tv_dataset_split(&full, 0.2, 42, &tr, &va), TV_OK);
  assert_int_equal(va.n, 200);
  assert_int_equal(tr.n, 800);
  assert_int_equal(tr.h, 4);
  assert_int_equal(va.w, 4);
  assert_int_equal(va.num_classes, 10);
  /* Disjoint, and each side keeps the order of full. */
  uint8_t seen[1000] = {0};
  for (uint32_t i = 0; i < tr.n; i++) {
    uint32_t id = row_id(&tr, i);
    assert_true(id < 1000);
    assert_int_equal(seen[id], 0);
    seen[id] = 1;
    if (i > 0) assert_true(row_id(&tr, i - 1) < id);
  }
  for (uint32_t i = 0; i < va.n; i++) {
    uint32_t id = row_id(&va, i);
    assert_int_equal(seen[id], 0);
    seen[id] = 2;
    if (i > 0) assert_true(row_id(&va, i - 1) < id);
  }
  /* train + valid == full as a multiset of (image, label) rows. */
  size_t n1, n2;
  uint8_t *a = sorted_rows(&full, NULL, &n1);
  uint8_t *b = sorted_rows(&tr, &va, &n2);
  assert_int_equal(n1, n2);
  assert_memory_equal(a, b, n1 * 17);
  free(a);
  free(b);
  /* Deterministic for a seed, different for another. */
  tv_dataset tr2, va2;
  assert_int_equal(tv_dataset_split(&full, 0.2, 42, &tr2, &va2), TV_OK);
  assert_int_equal(va2.n, va.n);
  assert_memory_equal(va2.images, va.images, (size_t)va.n * 16);
  assert_memory_equal(va2.labels, va.labels, va.n * sizeof *va.labels);
  assert_memory_equal(tr2.images, tr.images, (size_t)tr.n * 16);
  tv_dataset_free(&tr2);
  tv_dataset_free(&va2);
  assert_int_equal(tv_dataset_split(&full, 0.2, 43, &tr2, &va2), TV_OK);
  assert_int_equal(va2.n, 200);
  assert_memory_not_equal(va2.images, va.images, (size_t)va.n * 16);
  tv_dataset_free(&tr2);
  tv_dataset_free(&va2);
  tv_dataset_free(&tr);
  tv_dataset_free(&va);
  /* Rounding: 0.25 of 10 is 2.5 -> 3. */
  tv_dataset small = make_ds(10, 2, 2);
  assert_int_equal(tv_dataset_split(&small, 0.25, 1, &tr, &va), TV_OK);
  assert_int_equal(va.n, 3);
  assert_int_equal(tr.n, 7);
  tv_dataset_free(&tr);
  tv_dataset_free(&va);
  tv_dataset_free(&small);
  /* Fraction 0: valid empty, train a copy. */
  assert_int_equal(tv_dataset_split(&full, 0.0, 42, &tr, &va), TV_OK);
  assert_int_equal(va.n, 0);
  assert_null(va.images);
  assert_null(va.labels);
  assert_int_equal(va.h, 4);
  assert_int_equal(tr.n, 1000);
  assert_memory_equal(tr.images, full.images, 1000 * 16);
  assert_memory_equal(tr.labels, full.labels, 1000 * sizeof *full.labels);
  tv_dataset_free(&tr);
  tv_dataset_free(&va);
  /* Bad fractions. */
  memset(&tr, 0x5a, sizeof tr);
  assert_int_equal(tv_dataset_split(&full, 1.0, 42, &tr, &va), TV_ERR_INVALID);
  assert_zeroed(&tr);
  assert_zeroed(&va);
  assert_int_equal(tv_dataset_split(&full, -0.1, 42, &tr, &va), TV_ERR_INVALID);
  assert_int_equal(tv_dataset_split(&full, 0.9999, 42, &tr, &va), TV_ERR_INVALID);
  assert_msg_has("leaves none for training");
  tv_dataset_free(&full);
}

/* FNV-1a written out independently of data.c, as the header specifies it. */
static uint64_t ref_hash(uint32_t ds_n, const uint32_t *idx, uint32_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  uint32_t words[2] = {ds_n, n};
  for (uint32_t k = 0; k < n + 2; k++) {
    uint32_t v = k < 2 ? words[k] : idx[k - 2];
    uint8_t bytes[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    for (int i = 0; i < 4; i++) h = (h ^ bytes[i]) * 0x100000001b3ULL;
  }
  return h;
}

static void test_subset(void **state) {
  (void)state;
  tv_dataset ds = make_ds(500, 2, 2);
  uint32_t *first, *r1, *r2, *r3;
  uint64_t hf, h1, h2, h3;
  assert_int_equal(tv_dataset_subset(&ds, 100, 0, 7, &first, &hf), TV_OK);
  for (uint32_t i = 0; i < 100; i++) assert_int_equal(first[i], i);
  assert_int_equal(hf, ref_hash(500, first, 100));
  assert_int_equal(tv_dataset_subset(&ds, 100, 1, 7, &r1, &h1), TV_OK);
  assert_int_equal(tv_dataset_subset(&ds, 100, 1, 7, &r2, &h2), TV_OK);
  assert_int_equal(tv_dataset_subset(&ds, 100, 1, 8, &r3, &h3), TV_OK);
  /* Random: increasing (so distinct) indices in range, not the first 100. */
  for (uint32_t i = 0; i < 100; i++) {
    assert_true(r1[i] < 500);
    if (i > 0) assert_true(r1[i - 1] < r1[i]);
  }
  assert_true(r1[99] >= 100);
  assert_memory_equal(r1, r2, 100 * sizeof *r1);
  assert_int_equal(h1, h2);
  assert_int_equal(h1, ref_hash(500, r1, 100));
  assert_memory_not_equal(r1, r3, 100 * sizeof *r1);
  assert_int_not_equal(h1, h3);
  assert_int_not_equal(h1, hf);
  /* The seed does not matter for first-n, the dataset size does. */
  uint32_t *f2;
  uint64_t hf2;
  assert_int_equal(tv_dataset_subset(&ds, 100, 0, 99, &f2, &hf2), TV_OK);
  assert_int_equal(hf2, hf);
  free(f2);
  tv_dataset big = make_ds(501, 2, 2);
  assert_int_equal(tv_dataset_subset(&big, 100, 0, 7, &f2, &hf2), TV_OK);
  assert_int_not_equal(hf2, hf);
  free(f2);
  tv_dataset_free(&big);
  /* All of them, randomly chosen, is the whole set. */
  assert_int_equal(tv_dataset_subset(&ds, 500, 1, 3, &f2, &hf2), TV_OK);
  for (uint32_t i = 0; i < 500; i++) assert_int_equal(f2[i], i);
  free(f2);
  /* Bad sizes. */
  uint32_t *bad = (uint32_t *)1;
  uint64_t hb = 1;
  assert_int_equal(tv_dataset_subset(&ds, 501, 1, 3, &bad, &hb), TV_ERR_INVALID);
  assert_null(bad);
  assert_int_equal(hb, 0);
  assert_int_equal(tv_dataset_subset(&ds, 0, 0, 3, &bad, &hb), TV_ERR_INVALID);
  free(first);
  free(r1);
  free(r2);
  free(r3);
  tv_dataset_free(&ds);
}

/* ---- loader ------------------------------------------------------------------------------- */

enum { LH = 3, LW = 3, LD = LH * LW };

static const tv_norm ident = {.scale = 1.0f, .mean = 0.0f, .std = 1.0f};

/* Runs one batch and returns the example ids in it (from pixels 0 and 1), checking labels. */
static uint32_t batch_ids(tv_loader *l, uint32_t bs, uint32_t *ids, int *done) {
  float *x = malloc((size_t)bs * LD * sizeof *x);
  int32_t *y = malloc(bs * sizeof *y);
  assert_non_null(x);
  assert_non_null(y);
  uint32_t n;
  tv_loader_next(l, x, y, &n, done);
  for (uint32_t i = 0; i < n; i++) {
    ids[i] = (uint32_t)x[i * LD] + 256u * (uint32_t)x[i * LD + 1];
    assert_int_equal(y[i], label(ids[i]));
    for (int j = 2; j < LD; j++) assert_true(x[i * LD + j] == (float)pixel(ids[i], (size_t)j));
  }
  free(x);
  free(y);
  return n;
}

/* One epoch's ids in order; checks the batch sizes and that only the last batch ends it. */
static uint32_t epoch_ids(tv_loader *l, uint32_t bs, uint32_t *ids) {
  uint32_t total = 0, nb = tv_loader_batches_per_epoch(l);
  for (uint32_t b = 0; b < nb; b++) {
    int done;
    uint32_t n = batch_ids(l, bs, ids + total, &done);
    assert_int_equal(done, b + 1 == nb);
    if (b + 1 < nb) assert_int_equal(n, bs);
    total += n;
  }
  return total;
}

static void test_loader_epochs(void **state) {
  (void)state;
  tv_dataset ds = make_ds(10, LH, LW);
  tv_loader_opts o = {.batch_size = 3, .shuffle = 0, .seed = 5, .norm = ident};
  tv_loader *l;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  assert_int_equal(tv_loader_batches_per_epoch(l), 4);
  uint32_t ids[10];
  for (int e = 0; e < 3; e++) {
    assert_int_equal(epoch_ids(l, 3, ids), 10);
    for (uint32_t i = 0; i < 10; i++) assert_int_equal(ids[i], i); /* no shuffle: in order */
  }
  tv_loader_free(l);
  tv_loader_free(NULL);

  /* Shuffled: every example exactly once per epoch, a new order each epoch. */
  tv_dataset big = make_ds(1000, LH, LW);
  o = (tv_loader_opts){.batch_size = 64, .shuffle = 1, .seed = 5, .norm = ident};
  assert_int_equal(tv_loader_new(&big, &o, &l), TV_OK);
  assert_int_equal(tv_loader_batches_per_epoch(l), 16);
  static uint32_t e0[1000], e1[1000], again[1000];
  assert_int_equal(epoch_ids(l, 64, e0), 1000);
  assert_int_equal(epoch_ids(l, 64, e1), 1000);
  uint8_t seen0[1000] = {0}, seen1[1000] = {0};
  for (int i = 0; i < 1000; i++) {
    assert_true(e0[i] < 1000 && e1[i] < 1000);
    seen0[e0[i]]++;
    seen1[e1[i]]++;
  }
  for (int i = 0; i < 1000; i++) {
    assert_int_equal(seen0[i], 1);
    assert_int_equal(seen1[i], 1);
  }
  assert_memory_not_equal(e0, e1, sizeof e0);
  tv_loader_free(l);
  /* The same seed reproduces both epochs; another seed does not. */
  assert_int_equal(tv_loader_new(&big, &o, &l), TV_OK);
  assert_int_equal(epoch_ids(l, 64, again), 1000);
  assert_memory_equal(again, e0, sizeof e0);
  assert_int_equal(epoch_ids(l, 64, again), 1000);
  assert_memory_equal(again, e1, sizeof e1);
  tv_loader_free(l);
  o.seed = 6;
  assert_int_equal(tv_loader_new(&big, &o, &l), TV_OK);
  assert_int_equal(epoch_ids(l, 64, again), 1000);
  assert_memory_not_equal(again, e0, sizeof e0);
  tv_loader_free(l);
  tv_dataset_free(&big);
  tv_dataset_free(&ds);
}

static void test_loader_drop_last(void **state) {
  (void)state;
  tv_dataset ds = make_ds(10, LH, LW);
  tv_loader_opts o = {.batch_size = 3, .shuffle = 1, .drop_last = 1, .seed = 9, .norm = ident};
  tv_loader *l;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  assert_int_equal(tv_loader_batches_per_epoch(l), 3);
  for (int e = 0; e < 4; e++) {
    uint32_t ids[9];
    assert_int_equal(epoch_ids(l, 3, ids), 9); /* three full batches, the tenth example dropped */
    uint8_t seen[10] = {0};
    for (int i = 0; i < 9; i++) assert_int_equal(seen[ids[i]]++, 0);
  }
  tv_loader_free(l);
  /* Exact multiple: drop_last changes nothing. */
  o.batch_size = 5;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  assert_int_equal(tv_loader_batches_per_epoch(l), 2);
  tv_loader_free(l);
  /* No full batch at all. */
  o.batch_size = 11;
  l = (tv_loader *)1;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_null(l);
  o.drop_last = 0; /* without drop_last: one short batch per epoch */
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  assert_int_equal(tv_loader_batches_per_epoch(l), 1);
  uint32_t ids[11];
  assert_int_equal(epoch_ids(l, 11, ids), 10);
  tv_loader_free(l);
  /* Other misuse. */
  o.batch_size = 0;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  o.batch_size = 2;
  o.norm.std = 0.0f;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  tv_dataset_free(&ds);
}

static void test_loader_norm(void **state) {
  (void)state;
  /* 256 examples of 1x1 pixel covering every byte value. */
  tv_dataset ds = {.n = 256, .c = 1, .h = 1, .w = 1, .num_classes = 10};
  ds.images = malloc(256);
  ds.labels = malloc(256 * sizeof *ds.labels);
  assert_non_null(ds.images);
  assert_non_null(ds.labels);
  for (int i = 0; i < 256; i++) {
    ds.images[i] = (uint8_t)(255 - i);
    ds.labels[i] = i % 10;
  }
  const tv_norm nm = {.scale = 1.0f / 255.0f, .mean = 0.2860f, .std = 0.3530f};
  tv_loader_opts o = {.batch_size = 256, .norm = nm};
  tv_loader *l;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  float x[256];
  int32_t y[256];
  uint32_t n;
  int done;
  tv_loader_next(l, x, y, &n, &done);
  assert_int_equal(n, 256);
  assert_int_equal(done, 1);
  for (int i = 0; i < 256; i++) {
    double p = 255 - i;
    double want = (p / 255.0 - 0.2860) / 0.3530;
    assert_float_equal(x[i], want, 1e-5);
    assert_int_equal(y[i], i % 10);
  }
  assert_float_equal(x[255], -0.2860 / 0.3530, 1e-6);
  tv_loader_free(l);
  o.norm = TV_NORM_UNIT;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  tv_loader_next(l, x, y, &n, &done);
  assert_float_equal(x[0], 1.0, 1e-6);
  assert_float_equal(x[255], 0.0, 0.0);
  tv_loader_free(l);
  tv_dataset_free(&ds);
}

static void test_loader_subset(void **state) {
  (void)state;
  tv_dataset ds = make_ds(50, LH, LW);
  const uint32_t sub[5] = {7, 2, 49, 30, 11};
  tv_loader_opts o = {.batch_size = 2, .shuffle = 1, .seed = 1, .norm = ident};
  o.subset = sub;
  o.subset_n = 5;
  tv_loader *l;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  assert_int_equal(tv_loader_batches_per_epoch(l), 3);
  for (int e = 0; e < 3; e++) {
    uint32_t ids[5];
    assert_int_equal(epoch_ids(l, 2, ids), 5);
    int hits = 0;
    for (int i = 0; i < 5; i++)
      for (int k = 0; k < 5; k++) hits += ids[i] == sub[k];
    assert_int_equal(hits, 5);
    for (int i = 0; i < 5; i++)
      for (int k = 0; k < i; k++) assert_int_not_equal(ids[i], ids[k]);
  }
  tv_loader_free(l);
  const uint32_t out_of_range[2] = {3, 50};
  o.subset = out_of_range;
  o.subset_n = 2;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_msg_has("subset index 50");
  tv_dataset_free(&ds);
}

static void test_loader_resume(void **state) {
  (void)state;
  tv_dataset ds = make_ds(100, LH, LW);
  for (int drop = 0; drop < 2; drop++) {
    tv_loader_opts o = {
        .batch_size = 16, .shuffle = 1, .drop_last = drop, .seed = 77, .norm = ident};
    tv_loader *a, *b;
    assert_int_equal(tv_loader_new(&ds, &o, &a), TV_OK);
    uint32_t ids[16], want[20][16], wn[20];
    int done;
    for (int i = 0; i < 9; i++) (void)batch_ids(a, 16, ids, &done); /* into the second epoch */
    tv_loader_state st;
    const uint32_t *perm;
    uint32_t perm_n;
    tv_loader_get_state(a, &st, &perm, &perm_n);
    assert_int_equal(st.epoch, 1);
    assert_int_equal(perm_n, 100);
    uint32_t *saved = malloc(perm_n * sizeof *saved);
    assert_non_null(saved);
    memcpy(saved, perm, perm_n * sizeof *saved);
    for (int i = 0; i < 20; i++) wn[i] = batch_ids(a, 16, want[i], &done);

    /* A fresh loader with the same options, restored, continues identically. */
    assert_int_equal(tv_loader_new(&ds, &o, &b), TV_OK);
    (void)batch_ids(b, 16, ids, &done); /* its own position is overwritten */
    assert_int_equal(tv_loader_set_state(b, &st, saved, perm_n), TV_OK);
    for (int i = 0; i < 20; i++) {
      assert_int_equal(batch_ids(b, 16, ids, &done), wn[i]);
      assert_memory_equal(ids, want[i], wn[i] * sizeof *ids);
    }
    tv_loader_state sa, sb;
    const uint32_t *pa, *pb;
    uint32_t na, nb;
    tv_loader_get_state(a, &sa, &pa, &na);
    tv_loader_get_state(b, &sb, &pb, &nb);
    assert_memory_equal(&sa, &sb, sizeof sa);
    assert_memory_equal(pa, pb, na * sizeof *pa);

    /* Bad states are refused and leave the loader as it was. */
    assert_int_equal(tv_loader_set_state(b, &st, saved, perm_n - 1), TV_ERR_MISMATCH);
    uint32_t keep = saved[3];
    saved[3] = saved[4];
    assert_int_equal(tv_loader_set_state(b, &st, saved, perm_n), TV_ERR_MISMATCH);
    assert_msg_has("not a permutation");
    saved[3] = 100;
    assert_int_equal(tv_loader_set_state(b, &st, saved, perm_n), TV_ERR_MISMATCH);
    saved[3] = keep;
    tv_loader_state far = st;
    far.position = 100;
    assert_int_equal(tv_loader_set_state(b, &far, saved, perm_n), TV_ERR_MISMATCH);
    tv_loader_get_state(b, &sb, &pb, &nb);
    assert_memory_equal(&sa, &sb, sizeof sa);
    assert_memory_equal(pa, pb, na * sizeof *pa);
    free(saved);
    tv_loader_free(a);
    tv_loader_free(b);
  }
  tv_dataset_free(&ds);
}

/* ---- augmentation and per-channel normalisation ------------------------------------------ */

/* The augmentation as torchvision describes it, built another way than the loader: paste the
 * image into a zeroed (h+2P) x (w+2P) canvas, cut the h x w window at (oy, ox), mirror it. */
static void ref_augment(const uint8_t *img, int c, int h, int w, int pad, int oy, int ox, int flip,
                        uint8_t *out) {
  int ph = h + 2 * pad, pw = w + 2 * pad;
  uint8_t *canvas = malloc((size_t)ph * (size_t)pw);
  assert_non_null(canvas);
  for (int ch = 0; ch < c; ch++) {
    memset(canvas, 0, (size_t)ph * (size_t)pw);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) canvas[(y + pad) * pw + x + pad] = img[(ch * h + y) * w + x];
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        out[(ch * h + y) * w + (flip ? w - 1 - x : x)] = canvas[(y + oy) * pw + x + ox];
  }
  free(canvas);
}

static float norm_of(tv_norm nm, int ch, uint8_t v) {
  float mean = nm.channels ? nm.channel_mean[ch] : nm.mean;
  float std = nm.channels ? nm.channel_std[ch] : nm.std;
  return ((float)v * nm.scale - mean) / std;
}

/* float32 features: each value normalised by (v * scale - mean) / std, per channel or with one
 * pair; float targets and augmentation of float features are refused. */
static void test_loader_float(void **state) {
  (void)state;
  enum { N = 5, C = 2, D = C * 3 };
  tv_dataset ds = {.n = N, .c = C, .h = 1, .w = 3, .num_classes = 3};
  float feat[N * D];
  int32_t lab[N];
  for (int i = 0; i < N * D; i++) feat[i] = (float)i * 0.37f - 4.0f;
  for (int i = 0; i < N; i++) lab[i] = i % 3;
  ds.features = feat;
  ds.labels = lab;
  tv_norm nm = {.scale = 2.0f, .channels = 2};
  nm.channel_mean[0] = 0.5f;
  nm.channel_std[0] = 3.0f;
  nm.channel_mean[1] = -1.0f;
  nm.channel_std[1] = 0.25f;
  tv_loader_opts o = {.batch_size = N, .norm = nm};
  tv_loader *l;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  float x[N * D];
  int32_t y[N];
  uint32_t n;
  int done;
  tv_loader_next(l, x, y, &n, &done);
  assert_int_equal(n, N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(y[i], i % 3);
    for (int j = 0; j < D; j++) {
      int ch = j / 3;
      float want = (feat[i * D + j] * 2.0f - nm.channel_mean[ch]) / nm.channel_std[ch];
      assert_true(x[i * D + j] == want);
    }
  }
  tv_loader_free(l);
  o.norm = (tv_norm){.scale = 1.0f, .mean = 1.0f, .std = 2.0f};
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  tv_loader_next(l, x, y, &n, &done);
  for (int i = 0; i < N * D; i++) assert_true(x[i] == (feat[i] * 1.0f - 1.0f) / 2.0f);
  tv_loader_free(l);
  o.augment.flip = 1;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_null(l);
  assert_msg_has("needs uint8 images");
  o.augment.flip = 0;
  float targ[N];
  ds.labels = NULL;
  ds.targets = targ;
  ds.target_dim = 0; /* float targets need at least one value per example */
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_null(l);
  assert_msg_has("float targets");
}

/* Float targets: each batch's rows are the targets of its examples in the epoch's order,
 * synchronous and prefetching loaders agree bitwise, next_ptr lends no class ids, and a state
 * saved mid-epoch restores the same later batches. */
static void test_loader_float_targets(void **state) {
  (void)state;
  enum { N = 23, D = 4, T = 3, B = 5 };
  tv_dataset ds = {.n = N, .c = D, .h = 1, .w = 1, .target_dim = T};
  float feat[N * D], targ[N * T];
  for (int i = 0; i < N * D; i++) feat[i] = (float)i * 0.5f - 3.0f;
  for (int i = 0; i < N * T; i++) targ[i] = (float)(i / T) * 10.0f + (float)(i % T);
  ds.features = feat;
  ds.targets = targ;
  tv_loader_opts o = {.batch_size = B, .shuffle = 1, .seed = 7, .norm = {.scale = 1, .std = 1}};
  tv_loader *sync, *pre, *resumed;
  assert_int_equal(tv_loader_new(&ds, &o, &sync), TV_OK);
  assert_int_equal(tv_loader_target_dim(sync), T);
  o.prefetch = 3;
  assert_int_equal(tv_loader_new(&ds, &o, &pre), TV_OK);
  o.prefetch = 0;
  assert_int_equal(tv_loader_new(&ds, &o, &resumed), TV_OK);
  tv_loader_state saved = {0};
  uint32_t saved_perm[N];
  for (int b = 0; b < 12; b++) {
    if (b == 7) {
      const uint32_t *perm;
      uint32_t pn;
      tv_loader_get_state(sync, &saved, &perm, &pn);
      assert_int_equal(pn, N);
      memcpy(saved_perm, perm, sizeof saved_perm);
      assert_int_equal(tv_loader_set_state(resumed, &saved, saved_perm, N), TV_OK);
    }
    const uint32_t *perm;
    uint32_t pn;
    tv_loader_state st;
    tv_loader_get_state(sync, &st, &perm, &pn);
    uint32_t order[B];
    for (int i = 0; i < B && st.position + (uint64_t)i < N; i++) order[i] = perm[st.position + i];
    tv_batch a, p;
    tv_loader_next_batch(sync, &a);
    tv_loader_next_batch(pre, &p);
    assert_null(a.labels);
    assert_non_null(a.targets);
    assert_int_equal(a.n, p.n);
    assert_int_equal(a.epoch_done, p.epoch_done);
    for (uint32_t i = 0; i < a.n; i++)
      for (int t = 0; t < T; t++) assert_true(a.targets[i * T + t] == targ[order[i] * T + t]);
    assert_memory_equal(a.x, p.x, a.n * D * sizeof(float));
    assert_memory_equal(a.targets, p.targets, a.n * T * sizeof(float));
    if (b >= 7) {
      float want_x[B * D], want_t[B * T];
      uint32_t want_n = a.n;
      memcpy(want_x, a.x, a.n * D * sizeof(float));
      memcpy(want_t, a.targets, a.n * T * sizeof(float));
      tv_batch r;
      tv_loader_next_batch(resumed, &r);
      assert_int_equal(r.n, want_n);
      assert_memory_equal(r.x, want_x, want_n * D * sizeof(float));
      assert_memory_equal(r.targets, want_t, want_n * T * sizeof(float));
    }
  }
  const float *x;
  const int32_t *y = (const int32_t *)1;
  uint32_t n;
  int done;
  tv_loader_next_ptr(sync, &x, &y, &n, &done);
  assert_null(y);
  tv_loader_free(sync);
  tv_loader_free(pre);
  tv_loader_free(resumed);
}

/* Standardisation: the mean and population std of each feature after the channel
 * normalisation, a constant feature's std stored as 1; the loader applies it after the
 * normalisation; half a pair of arrays and a non-positive std are refused. */
static void test_standardize(void **state) {
  (void)state;
  enum { N = 7, D = 3 };
  uint8_t img[N * D];
  int32_t lab[N];
  for (int i = 0; i < N; i++) {
    img[i * D + 0] = (uint8_t)(i * 30);
    img[i * D + 1] = (uint8_t)(200 - i * i);
    img[i * D + 2] = 9; /* constant */
    lab[i] = i % 2;
  }
  tv_dataset ds = {.images = img, .labels = lab, .n = N, .c = D, .h = 1, .w = 1, .num_classes = 2};
  tv_norm nm = {.scale = 0.5f, .mean = 1.0f, .std = 2.0f};
  tv_standardize z;
  assert_int_equal(tv_standardize_fit(&ds, nm, &z), TV_OK);
  assert_int_equal(z.d, D);
  for (int j = 0; j < D; j++) {
    double sum = 0, sq = 0;
    for (int i = 0; i < N; i++) sum += ((float)img[i * D + j] * 0.5f - 1.0f) / 2.0f;
    double mean = sum / N;
    for (int i = 0; i < N; i++) {
      double v = ((float)img[i * D + j] * 0.5f - 1.0f) / 2.0f - mean;
      sq += v * v;
    }
    double sd = sqrt(sq / N);
    assert_true(fabs(z.mean[j] - mean) <= 1e-5 * fabs(mean) + 1e-6);
    if (j == 2)
      assert_true(z.std[j] == 1.0f);
    else
      assert_true(fabs(z.std[j] - sd) <= 1e-5 * sd);
  }
  tv_loader_opts o = {.batch_size = N, .norm = tv_norm_with_standardize(nm, &z)};
  tv_loader *l;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  tv_batch b;
  tv_loader_next_batch(l, &b);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < D; j++) {
      float v = (((float)img[i * D + j] * 0.5f - 1.0f) / 2.0f - z.mean[j]) / z.std[j];
      assert_true(b.x[i * D + j] == v);
    }
  tv_loader_free(l);
  o.norm.feature_std = NULL;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_msg_has("both means and stds");
  z.std[1] = 0;
  o.norm = tv_norm_with_standardize(nm, &z);
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_msg_has("standardisation of feature 1");
  tv_standardize_free(&z);
  tv_standardize_free(&z); /* zeroed: safe twice */
  ds.n = 0;
  assert_int_equal(tv_standardize_fit(&ds, nm, &z), TV_ERR_INVALID);
  assert_null(z.mean);
}

/* A split keeps float features, float targets and class names (each side its own copy). */
static void test_split_float(void **state) {
  (void)state;
  enum { N = 50, D = 3, T = 2 };
  tv_dataset full = {.n = N, .c = D, .h = 1, .w = 1, .target_dim = T, .num_classes = 2};
  full.features = malloc(N * D * sizeof(float));
  full.targets = malloc(N * T * sizeof(float));
  full.names = calloc(2, sizeof *full.names);
  assert_non_null(full.features);
  assert_non_null(full.targets);
  assert_non_null(full.names);
  full.names[0] = strdup("setosa");
  full.names[1] = strdup("a \"quoted\" name");
  for (int i = 0; i < N * D; i++) full.features[i] = (float)(i / D) + 0.125f * (float)(i % D);
  for (int i = 0; i < N * T; i++) full.targets[i] = (float)(i / T) * -1.5f + (float)(i % T);
  tv_dataset tr, va;
  assert_int_equal(tv_dataset_split(&full, 0.3, 7, &tr, &va), TV_OK);
  assert_int_equal(va.n, 15);
  assert_int_equal(tr.n, 35);
  const tv_dataset *sides[2] = {&tr, &va};
  int seen[N] = {0};
  for (int s = 0; s < 2; s++) {
    const tv_dataset *d = sides[s];
    assert_null(d->images);
    assert_null(d->labels);
    assert_int_equal(d->target_dim, T);
    assert_int_equal(d->c, D);
    assert_non_null(d->names);
    assert_true(d->names != full.names && d->names[0] != full.names[0]);
    assert_string_equal(d->names[0], "setosa");
    assert_string_equal(d->names[1], "a \"quoted\" name");
    for (uint32_t i = 0; i < d->n; i++) {
      int id = (int)d->features[i * D];
      assert_true(id >= 0 && id < N);
      seen[id]++;
      assert_memory_equal(d->features + i * D, full.features + id * D, D * sizeof(float));
      assert_memory_equal(d->targets + i * T, full.targets + id * T, T * sizeof(float));
    }
  }
  for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
  tv_dataset_free(&tr);
  tv_dataset_free(&va);
  tv_dataset_free(&full);
}

/* A hand-checked case: a 3x3 image 1..9, pad 1, with a seed whose first draw is oy = 2, ox = 0
 * (shift dy = +1, dx = -1) and a flip. */
static void test_augment_hand(void **state) {
  (void)state;
  tv_dataset ds = {.n = 1, .c = 1, .h = 3, .w = 3, .num_classes = 1};
  uint8_t img[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  int32_t lab = 0;
  ds.images = img;
  ds.labels = &lab;
  uint64_t seed = 0;
  for (;; seed++) { /* the first seed whose first example draws (2, 0, flip) */
    tv_rng r = tv_rng_seed(seed, TV_RNG_AUGMENT);
    uint64_t oy = tv_rng_below(&r, 3), ox = tv_rng_below(&r, 3), f = tv_rng_u64(&r) >> 63;
    if (oy == 2 && ox == 0 && f == 1) break;
  }
  tv_loader_opts o = {.batch_size = 1, .seed = seed, .norm = ident, .augment = {1, 1}};
  tv_loader *l;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  float x[9];
  int32_t y;
  uint32_t n;
  int done;
  tv_loader_next(l, x, &y, &n, &done);
  /* Shifted: rows 4 5 6 / 7 8 9 / pad moved up, columns moved right by one; then mirrored. */
  const float want[9] = {5, 4, 0, 8, 7, 0, 0, 0, 0};
  assert_memory_equal(x, want, sizeof want);
  tv_loader_free(l);
}

/* Every batch, in several configurations, equals the reference augmentation of the same example
 * with the draws the header specifies; shuffling is unaffected by augmentation. */
static void test_augment_exact(void **state) {
  (void)state;
  enum { N = 40, C = 2, H = 3, W = 4, D = C * H * W, BS = 6 };
  tv_dataset ds = make_ds_c(N, C, H, W);
  const tv_norm odd = {.scale = 1.0f / 255.0f, .mean = 0.25f, .std = 0.5f};
  for (int pad = 0; pad <= 3; pad++) {
    for (int flip = 0; flip <= 1; flip++) {
      if (!pad && !flip) continue;
      tv_norm nm = pad == 2 ? odd : ident;
      tv_loader_opts o = {.batch_size = BS, .shuffle = 1, .seed = 11, .norm = nm};
      tv_loader *plain, *aug;
      assert_int_equal(tv_loader_new(&ds, &o, &plain), TV_OK);
      o.augment = (tv_augment){.flip = flip, .pad = pad};
      assert_int_equal(tv_loader_new(&ds, &o, &aug), TV_OK);
      tv_rng r = tv_rng_seed(11, TV_RNG_AUGMENT);
      float xp[BS * D], xa[BS * D];
      int32_t yp[BS], ya[BS];
      int flips = 0, total = 0, offsets[7] = {0};
      for (int b = 0; b < 3 * 7; b++) { /* three epochs of 7 batches */
        uint32_t np, na;
        int dp, da;
        tv_loader_next(plain, xp, yp, &np, &dp);
        tv_loader_next(aug, xa, ya, &na, &da);
        assert_int_equal(np, na);
        assert_int_equal(dp, da);
        assert_memory_equal(yp, ya, np * sizeof *yp); /* same order */
        for (uint32_t i = 0; i < na; i++) {
          uint32_t e = (uint32_t)(pad == 2 ? lroundf((xp[i * D] * 0.5f + 0.25f) * 255.0f)
                                           : xp[i * D]); /* the id from the plain twin */
          int oy = pad, ox = pad, f = 0;
          if (pad) {
            oy = (int)tv_rng_below(&r, 2 * (uint64_t)pad + 1);
            ox = (int)tv_rng_below(&r, 2 * (uint64_t)pad + 1);
          }
          if (flip) f = (int)(tv_rng_u64(&r) >> 63);
          uint8_t want[D];
          ref_augment(ds.images + (size_t)e * D, C, H, W, pad, oy, ox, f, want);
          for (int j = 0; j < D; j++)
            assert_float_equal(xa[i * D + j], norm_of(nm, 0, want[j]), 1e-6);
          flips += f;
          offsets[oy]++;
          total++;
        }
      }
      assert_int_equal(total, 3 * N);
      if (flip) assert_true(flips > total / 4 && flips < 3 * total / 4);
      for (int k = 0; k <= 2 * pad; k++) assert_true(offsets[k] > 0); /* every shift occurs */
      tv_loader_free(plain);
      tv_loader_free(aug);
    }
  }
  tv_dataset_free(&ds);
}

/* Whatever the draws, an augmented example is the original shifted by some (dy, dx) in
 * [-P, P], maybe mirrored, with padding normalised as pixel 0; the flip is fair. */
static void test_augment_invariants(void **state) {
  (void)state;
  enum { N = 500, H = 5, W = 6, D = H * W, P = 2 };
  tv_dataset ds = make_ds_c(N, 1, H, W);
  for (uint32_t i = 0; i < N; i++) /* no zero pixels, so padding is unambiguous */
    for (int j = 0; j < D; j++) ds.images[i * D + j] |= 1;
  tv_loader_opts o = {
      .batch_size = 50, .shuffle = 0, .seed = 4, .norm = ident, .augment = {.flip = 1, .pad = P}};
  tv_loader *l;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  float x[50 * D];
  int32_t y[50];
  int flips = 0;
  for (int b = 0; b < 10; b++) {
    uint32_t n;
    int done;
    tv_loader_next(l, x, y, &n, &done);
    for (uint32_t i = 0; i < n; i++) {
      const uint8_t *src = ds.images + (size_t)(b * 50 + i) * D;
      int found = 0;
      for (int f = 0; f <= 1 && !found; f++)
        for (int dy = -P; dy <= P && !found; dy++)
          for (int dx = -P; dx <= P && !found; dx++) {
            int ok = 1;
            for (int yy = 0; yy < H && ok; yy++)
              for (int xx = 0; xx < W && ok; xx++) {
                int sy = yy + dy, sx = (f ? W - 1 - xx : xx) + dx;
                float want = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[sy * W + sx] : 0.0f;
                ok = x[i * D + yy * W + xx] == want;
              }
            if (ok) {
              found = 1;
              flips += f;
            }
          }
      if (!found) fail_msg("batch %d example %u is no shifted/mirrored copy", b, (unsigned)i);
    }
  }
  assert_true(flips > 175 && flips < 325); /* 500 fair flips: 250 +- 3.4 sigma */
  tv_loader_free(l);
  tv_dataset_free(&ds);
}

/* Parts (data-parallel ranks): P loaders of parts 0..P-1 over one global order return, together
 * and in part order, bitwise the rows of the one whole-batch loader, augmentation included,
 * over epochs and a short last batch (43 = 3 x 13 + 4 with P = 3: parts of 2, 1, 1 rows), with
 * and without prefetch; their states equal the whole loader's, and a state from another number
 * of parts restores them.  Bad parts are refused. */
static void test_loader_parts(void **state) {
  (void)state;
  enum { H = 4, W = 4, D = H * W, N = 43, BS = 13, P = 3, STEPS = 10 };
  tv_dataset ds = make_ds_c(N, 1, H, W);
  tv_loader_opts o = {
      .batch_size = BS, .shuffle = 1, .seed = 8, .norm = ident, .augment = {.flip = 1, .pad = 2}};
  for (int pre = 0; pre <= 2; pre += 2) {
    tv_loader *whole, *part[P];
    o.prefetch = (uint32_t)pre;
    o.parts = 0;
    assert_int_equal(tv_loader_new(&ds, &o, &whole), TV_OK);
    for (int r = 0; r < P; r++) {
      o.part = (uint32_t)r;
      o.parts = P;
      assert_int_equal(tv_loader_new(&ds, &o, &part[r]), TV_OK);
    }
    for (int step = 0; step < STEPS; step++) {
      tv_batch w, b;
      tv_loader_next_batch(whole, &w);
      assert_int_equal(w.whole, w.n);
      uint32_t row = 0;
      for (int r = 0; r < P; r++) {
        tv_loader_next_batch(part[r], &b);
        int off, count;
        tv_dist_slice((int)w.n, P, r, &off, &count);
        assert_int_equal(b.whole, w.n);
        assert_int_equal(b.n, (uint32_t)count);
        assert_int_equal(b.epoch_done, w.epoch_done);
        assert_int_equal(row, (uint32_t)off);
        assert_memory_equal(b.x, w.x + (size_t)row * D, (size_t)b.n * D * sizeof *b.x);
        assert_memory_equal(b.labels, w.labels + row, b.n * sizeof *b.labels);
        row += b.n;
        tv_loader_state sw, sp;
        const uint32_t *pw, *pp;
        uint32_t nw, np;
        tv_loader_get_state(whole, &sw, &pw, &nw);
        tv_loader_get_state(part[r], &sp, &pp, &np);
        assert_memory_equal(&sw, &sp, sizeof sw);
        assert_int_equal(nw, np);
        assert_memory_equal(pw, pp, nw * sizeof *pw);
      }
      assert_int_equal(row, w.n);
    }
    /* The whole loader's state restores part 1, which then continues as part 1 did. */
    tv_loader_state st;
    const uint32_t *perm;
    uint32_t pn, saved[N];
    tv_loader_get_state(whole, &st, &perm, &pn);
    memcpy(saved, perm, sizeof saved);
    tv_loader *again;
    o.part = 1;
    assert_int_equal(tv_loader_new(&ds, &o, &again), TV_OK);
    assert_int_equal(tv_loader_set_state(again, &st, saved, N), TV_OK);
    for (int step = 0; step < 4; step++) {
      tv_batch a, b;
      tv_loader_next_batch(part[1], &b);
      tv_loader_next_batch(again, &a);
      assert_int_equal(a.n, b.n);
      assert_memory_equal(a.x, b.x, (size_t)a.n * D * sizeof *a.x);
    }
    tv_loader_free(again);
    tv_loader_free(whole);
    for (int r = 0; r < P; r++) tv_loader_free(part[r]);
  }
  tv_loader *l = NULL;
  o.parts = BS + 1;
  o.part = 0;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_null(l);
  assert_msg_has("part 0 of 14 parts");
  o.parts = 2;
  o.part = 2;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_null(l);
  tv_dataset_free(&ds);
}

static void test_augment_resume(void **state) {
  (void)state;
  enum { H = 4, W = 4, D = H * W, BS = 8 };
  tv_dataset ds = make_ds_c(30, 1, H, W);
  tv_loader_opts o = {
      .batch_size = BS, .shuffle = 1, .seed = 21, .norm = ident, .augment = {.flip = 1, .pad = 2}};
  tv_loader *a, *b;
  assert_int_equal(tv_loader_new(&ds, &o, &a), TV_OK);
  assert_int_equal(tv_loader_new(&ds, &o, &b), TV_OK);
  float xa[BS * D], xb[BS * D];
  int32_t ya[BS], yb[BS];
  uint32_t na, nb;
  int da, db;
  for (int i = 0; i < 5; i++) { /* same seed: same augmented batches */
    tv_loader_next(a, xa, ya, &na, &da);
    tv_loader_next(b, xb, yb, &nb, &db);
    assert_memory_equal(xa, xb, na * D * sizeof *xa);
  }
  tv_loader_state st;
  const uint32_t *perm;
  uint32_t perm_n;
  tv_loader_get_state(a, &st, &perm, &perm_n);
  tv_rng fresh = tv_rng_seed(21, TV_RNG_AUGMENT);
  assert_memory_not_equal(&st.augment, &fresh, sizeof fresh); /* it has moved */
  uint32_t saved[30];
  memcpy(saved, perm, sizeof saved);
  float want[12][BS * D];
  for (int i = 0; i < 12; i++) tv_loader_next(a, want[i], ya, &na, &da);
  tv_loader_free(b);
  assert_int_equal(tv_loader_new(&ds, &o, &b), TV_OK);
  assert_int_equal(tv_loader_set_state(b, &st, saved, 30), TV_OK);
  for (int i = 0; i < 12; i++) {
    tv_loader_next(b, xb, yb, &nb, &db);
    assert_memory_equal(xb, want[i], nb * D * sizeof *xb);
  }
  /* A state without the augmentation generator (as saved before it existed) is refused by an
   * augmenting loader and accepted by a plain one. */
  tv_loader_state old = {.epoch = st.epoch, .position = st.position, .rng = st.rng};
  assert_int_equal(tv_loader_set_state(b, &old, saved, 30), TV_ERR_MISMATCH);
  assert_msg_has("augmentation generator");
  tv_loader_opts po = o;
  po.augment = (tv_augment){0};
  tv_loader *p;
  assert_int_equal(tv_loader_new(&ds, &po, &p), TV_OK);
  assert_int_equal(tv_loader_set_state(p, &old, saved, 30), TV_OK);
  tv_loader_free(p);
  /* Another seed augments differently. */
  o.seed = 22;
  tv_loader_free(b);
  assert_int_equal(tv_loader_new(&ds, &o, &b), TV_OK);
  tv_loader_next(b, xb, yb, &nb, &db);
  tv_loader_free(a);
  assert_int_equal(tv_loader_new(&ds,
                                 &(tv_loader_opts){.batch_size = BS,
                                                   .shuffle = 1,
                                                   .seed = 21,
                                                   .norm = ident,
                                                   .augment = {.flip = 1, .pad = 2}},
                                 &a),
                   TV_OK);
  tv_loader_next(a, xa, ya, &na, &da);
  assert_memory_not_equal(xa, xb, sizeof xa);
  /* Bad options. */
  tv_loader *bad = (tv_loader *)1;
  o.augment.pad = -1;
  assert_int_equal(tv_loader_new(&ds, &o, &bad), TV_ERR_INVALID);
  assert_null(bad);
  o.augment.pad = 5;
  assert_int_equal(tv_loader_new(&ds, &o, &bad), TV_ERR_INVALID);
  assert_msg_has("padding 5 is not in [0, 4]");
  o.augment.pad = 4;
  assert_int_equal(tv_loader_new(&ds, &o, &bad), TV_OK);
  tv_loader_free(bad);
  tv_loader_free(a);
  tv_loader_free(b);
  tv_dataset_free(&ds);
}

/* ---- the loader's part of a checkpoint ---------------------------------------------------- */

/* Writes a checkpoint of step into g_dir holding l's part (l not NULL) and extra; its path goes
 * to path (512 bytes). */
static void ckpt_with(int64_t step, tv_loader *l, const tv_ckpt_array *extra, int n_extra,
                      char *path) {
  tv_ckpt_header h = {.step = step, .epoch = 0, .wall_time = 1.0, .config_text = NULL};
  tv_ckpt_writer *w;
  assert_int_equal(tv_ckpt_writer_open(g_dir, &h, &w), TV_OK);
  if (l) assert_int_equal(tv_loader_ckpt_write(l, w), TV_OK);
  for (int i = 0; i < n_extra; i++) assert_int_equal(tv_ckpt_writer_array(w, &extra[i]), TV_OK);
  tv_ckpt_info info;
  assert_int_equal(tv_ckpt_writer_finish(w, &info), TV_OK);
  tpath(path, info.file);
}

/* tv_loader_ckpt_write then tv_loader_ckpt_read into a fresh loader (synchronous, where the
 * writer prefetched) continues with the very batches the first loader returns, augmentation
 * included; a checkpoint of another dataset size or without the cursor is refused, naming the
 * file, and leaves the loader as it was. */
static void test_loader_ckpt(void **state) {
  (void)state;
  enum { H = 4, W = 4, D = H * W, BS = 8, AHEAD = 5, CHECK = 10 };
  tv_dataset ds = make_ds_c(30, 1, H, W);
  tv_loader_opts o = {.batch_size = BS,
                      .shuffle = 1,
                      .seed = 5,
                      .norm = ident,
                      .augment = {.flip = 1, .pad = 1},
                      .prefetch = 2};
  tv_loader *a, *b;
  assert_int_equal(tv_loader_new(&ds, &o, &a), TV_OK);
  float x[BS * D], want[CHECK][BS * D];
  int32_t y[BS], want_y[CHECK][BS];
  uint32_t n, want_n[CHECK];
  int done;
  for (int i = 0; i < AHEAD; i++) tv_loader_next(a, x, y, &n, &done); /* into epoch 2 */
  char path[512];
  ckpt_with(AHEAD, a, NULL, 0, path);
  for (int i = 0; i < CHECK; i++) tv_loader_next(a, want[i], want_y[i], &want_n[i], &done);

  o.prefetch = 0;
  assert_int_equal(tv_loader_new(&ds, &o, &b), TV_OK);
  tv_ckpt *c;
  assert_int_equal(tv_ckpt_open(path, NULL, &c), TV_OK);
  assert_int_equal(tv_loader_ckpt_read(b, c), TV_OK);
  for (int i = 0; i < CHECK; i++) {
    tv_loader_next(b, x, y, &n, &done);
    assert_int_equal(n, want_n[i]);
    assert_memory_equal(x, want[i], n * D * sizeof *x);
    assert_memory_equal(y, want_y[i], n * sizeof *y);
  }

  /* 29 examples: the saved order of 30 does not fit; the loader still starts at epoch 0. */
  tv_dataset small = make_ds_c(29, 1, H, W);
  tv_loader *s, *fresh;
  assert_int_equal(tv_loader_new(&small, &o, &s), TV_OK);
  assert_int_equal(tv_loader_new(&small, &o, &fresh), TV_OK);
  assert_int_equal(tv_loader_ckpt_read(s, c), TV_ERR_MISMATCH);
  assert_msg_has(path);
  assert_msg_has("/state/loader/perm: 30 elements in file, 29 expected");
  float xs[BS * D], xf[BS * D];
  tv_loader_next(s, xs, y, &n, &done);
  tv_loader_next(fresh, xf, y, &n, &done);
  assert_memory_equal(xs, xf, sizeof xs);
  tv_ckpt_close(c);

  /* A position past the epoch's end is what set_state refuses: the file is named. */
  tv_loader_state st;
  const uint32_t *perm;
  uint32_t perm_n;
  tv_loader_get_state(b, &st, &perm, &perm_n);
  uint64_t cur[6] = {st.epoch, 30};
  memcpy(&cur[2], st.rng.s, sizeof st.rng.s);
  tv_ckpt_array bad[] = {
      {.path = "/state/loader/cursor", .dtype = TV_CKPT_U64, .count = 6, .data = cur},
      {.path = "/state/loader/perm", .dtype = TV_CKPT_U32, .count = perm_n, .data = perm}};
  ckpt_with(AHEAD + 1, NULL, bad, 2, path);
  assert_int_equal(tv_ckpt_open(path, NULL, &c), TV_OK);
  assert_int_equal(tv_loader_ckpt_read(b, c), TV_ERR_MISMATCH);
  assert_msg_has(path);
  assert_msg_has("position 30 leaves no batch");
  /* The same file with a valid position but no augment_rng: refused while b augments, read by a
   * loader that does not. */
  tv_ckpt_close(c);
  cur[1] = 0;
  ckpt_with(AHEAD + 2, NULL, bad, 2, path);
  assert_int_equal(tv_ckpt_open(path, NULL, &c), TV_OK);
  assert_int_equal(tv_loader_ckpt_read(b, c), TV_ERR_MISMATCH);
  assert_msg_has("augmentation generator");
  tv_loader_opts plain = o;
  plain.augment = (tv_augment){0};
  tv_loader *p;
  assert_int_equal(tv_loader_new(&ds, &plain, &p), TV_OK);
  assert_int_equal(tv_loader_ckpt_read(p, c), TV_OK);
  tv_ckpt_close(c);

  /* No cursor at all. */
  ckpt_with(AHEAD + 3, NULL, bad + 1, 1, path);
  assert_int_equal(tv_ckpt_open(path, NULL, &c), TV_OK);
  assert_int_equal(tv_loader_ckpt_read(p, c), TV_ERR_NOT_FOUND);
  assert_msg_has("/state/loader/cursor: not in the checkpoint");
  tv_ckpt_close(c);

  tv_loader_free(a);
  tv_loader_free(b);
  tv_loader_free(s);
  tv_loader_free(fresh);
  tv_loader_free(p);
  tv_dataset_free(&ds);
  tv_dataset_free(&small);
}

/* One limit for per-channel statistics (TV_NORM_MAX_CHANNELS, which the config's lists share):
 * a 5-channel dataset, beyond the old limit of 4, is normalised channel by channel; 64 channels
 * work; 65 are refused with the limit in the message. */
static void test_loader_norm_many_channels(void **state) {
  (void)state;
  assert_int_equal(TV_NORM_MAX_CHANNELS, 64);
  const int counts[] = {5, TV_NORM_MAX_CHANNELS};
  for (int t = 0; t < 2; t++) {
    int c = counts[t];
    tv_dataset ds = make_ds_c(4, c, 2, 3);
    tv_norm nm = {.scale = 1.0f, .channels = c};
    for (int k = 0; k < c; k++) {
      nm.channel_mean[k] = (float)k;
      nm.channel_std[k] = 1.0f + (float)k;
    }
    tv_loader_opts o = {.batch_size = 4, .norm = nm};
    tv_loader *l;
    assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
    size_t d = (size_t)c * 6;
    float *x = malloc(4 * d * sizeof *x);
    assert_non_null(x);
    int32_t y[4];
    uint32_t n;
    int done;
    tv_loader_next(l, x, y, &n, &done);
    for (size_t i = 0; i < 4 * d; i++) {
      int k = (int)(i % d / 6);
      assert_true(x[i] == ((float)ds.images[i] - (float)k) / (1.0f + (float)k));
    }
    free(x);
    tv_loader_free(l);
    tv_dataset_free(&ds);
  }
  tv_dataset wide = make_ds_c(2, TV_NORM_MAX_CHANNELS + 1, 1, 1);
  tv_loader_opts o = {.batch_size = 2,
                      .norm = {.scale = 1.0f, .channels = TV_NORM_MAX_CHANNELS + 1}};
  tv_loader *l;
  assert_int_equal(tv_loader_new(&wide, &o, &l), TV_ERR_INVALID);
  assert_msg_has("normalisation for 65 channels, the examples have 65 (at most 64");
  tv_dataset_free(&wide);
}

static void test_loader_norm_channels(void **state) {
  (void)state;
  enum { C = 3, H = 1, W = 2, D = C * H * W };
  tv_dataset ds = {.n = 256, .c = C, .h = H, .w = W, .num_classes = 10};
  ds.images = malloc(256 * D);
  ds.labels = malloc(256 * sizeof *ds.labels);
  assert_non_null(ds.images);
  assert_non_null(ds.labels);
  for (int i = 0; i < 256; i++) {
    for (int k = 0; k < C; k++)
      for (int j = 0; j < W; j++) ds.images[i * D + k * W + j] = (uint8_t)(i + 85 * k + 7 * j);
    ds.labels[i] = i % 10;
  }
  /* CIFAR-10's channel statistics; the scalar std 0 is ignored. */
  tv_norm nm = {.scale = 1.0f / 255.0f,
                .channels = 3,
                .channel_mean = {0.4914f, 0.4822f, 0.4465f},
                .channel_std = {0.2470f, 0.2435f, 0.2616f}};
  tv_loader_opts o = {.batch_size = 256, .norm = nm};
  tv_loader *l;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  static float x[256 * D];
  int32_t y[256];
  uint32_t n;
  int done;
  tv_loader_next(l, x, y, &n, &done);
  assert_int_equal(n, 256);
  const double mean[C] = {0.4914, 0.4822, 0.4465}, sd[C] = {0.2470, 0.2435, 0.2616};
  for (int i = 0; i < 256; i++)
    for (int k = 0; k < C; k++)
      for (int j = 0; j < W; j++) {
        double p = (uint8_t)(i + 85 * k + 7 * j);
        assert_float_equal(x[i * D + k * W + j], (p / 255.0 - mean[k]) / sd[k], 1e-5);
      }
  tv_loader_free(l);
  /* With a crop, each channel's padding is its own normalised black. */
  o.batch_size = 1;
  o.augment = (tv_augment){.pad = 1};
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  int seen_pad[C] = {0};
  for (int b = 0; b < 40; b++) {
    tv_loader_next(l, x, y, &n, &done);
    for (int k = 0; k < C; k++)
      for (int j = 0; j < W; j++) {
        float v = x[k * W + j];
        if (v == norm_of(nm, k, 0) && b != 0) seen_pad[k]++; /* example 0 has real zeros */
      }
  }
  for (int k = 0; k < C; k++) assert_true(seen_pad[k] > 0);
  tv_loader_free(l);
  o.augment = (tv_augment){0};
  /* Misuse. */
  o.norm.channels = 1;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_msg_has("normalisation for 1 channels, the examples have 3");
  o.norm.channels = 5;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  o.norm.channels = -1;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  o.norm.channels = 3;
  o.norm.channel_std[1] = 0.0f;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_msg_has("channel 1");
  o.norm.channel_std[1] = 1.0f;
  o.norm.channel_mean[2] = NAN;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_msg_has("channel 2");
  /* channels 0: the scalar statistics for every channel, as before. */
  o.norm = (tv_norm){.scale = 1.0f, .mean = 1.0f, .std = 2.0f};
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  tv_loader_next(l, x, y, &n, &done);
  for (int j = 0; j < D; j++) assert_true(x[j] == ((float)ds.images[j] - 1.0f) / 2.0f);
  tv_loader_free(l);
  tv_dataset_free(&ds);
}

/* ---- prefetch ----------------------------------------------------------------------------- */

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t len) {
  const uint8_t *b = p;
  for (size_t i = 0; i < len; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

/* What a batch and the state after it hash to. */
typedef struct batch_rec {
  uint32_t n;
  int done;
  uint64_t data;  /* x rows and y */
  uint64_t state; /* tv_loader_state and perm after the batch */
} batch_rec;

static uint64_t state_hash(const tv_loader *l) {
  tv_loader_state st;
  const uint32_t *perm;
  uint32_t pn;
  tv_loader_get_state(l, &st, &perm, &pn);
  uint64_t h = fnv_bytes(0xcbf29ce484222325ULL, &st, sizeof st);
  return fnv_bytes(h, perm, pn * sizeof *perm);
}

/* Takes a batch by copy (mode 0) or by pointer (mode 1) and records it.  In copy mode, x and y
 * are prefilled with 0xab and the rows past n must keep it. */
static batch_rec take(tv_loader *l, int mode, float *x, int32_t *y, uint32_t bs, size_t d) {
  batch_rec r;
  const float *px;
  const int32_t *py;
  if (mode == 0) {
    memset(x, 0xab, bs * d * sizeof *x);
    memset(y, 0xab, bs * sizeof *y);
    tv_loader_next(l, x, y, &r.n, &r.done);
    for (size_t j = r.n * d; j < bs * d; j++) assert_int_equal(((uint8_t *)&x[j])[0], 0xab);
    px = x;
    py = y;
  } else {
    tv_loader_next_ptr(l, &px, &py, &r.n, &r.done);
  }
  r.data =
      fnv_bytes(fnv_bytes(0xcbf29ce484222325ULL, px, r.n * d * sizeof *px), py, r.n * sizeof *py);
  r.state = state_hash(l);
  return r;
}

static void assert_rec_equal(batch_rec a, batch_rec b, int i) {
  if (a.n != b.n || a.done != b.done || a.data != b.data || a.state != b.state)
    fail_msg("batch %d differs: n %u/%u done %d/%d data %s state %s", i, (unsigned)a.n,
             (unsigned)b.n, a.done, b.done, a.data == b.data ? "same" : "differs",
             a.state == b.state ? "same" : "differs");
}

/* Records `count` batches of a synchronous loader with options o. */
static batch_rec *record(const tv_dataset *ds, tv_loader_opts o, int count) {
  o.prefetch = 0;
  tv_loader *l;
  assert_int_equal(tv_loader_new(ds, &o, &l), TV_OK);
  size_t d = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
  batch_rec *r = malloc((size_t)count * sizeof *r);
  float *x = malloc(o.batch_size * d * sizeof *x);
  int32_t *y = malloc(o.batch_size * sizeof *y);
  assert_non_null(r);
  assert_non_null(x);
  assert_non_null(y);
  for (int i = 0; i < count; i++) r[i] = take(l, 0, x, y, o.batch_size, d);
  free(x);
  free(y);
  tv_loader_free(l);
  return r;
}

/* Prefetch returns bitwise the synchronous batches and states, whatever K, drop_last,
 * augmentation, subset, and however the batches are taken. */
static void test_prefetch_equivalence(void **state) {
  (void)state;
  tv_dataset ds = make_ds_c(100, 2, 4, 5);
  const size_t d = 40;
  const uint32_t sub[7] = {3, 99, 41, 0, 57, 12, 8};
  const struct {
    uint32_t bs, subset_n;
    int drop;
  } shapes[] = {{16, 0, 0}, {16, 0, 1}, {8, 7, 0}, {3, 7, 1}, {128, 0, 0}, {100, 0, 1}};
  const uint32_t ks[] = {1, 2, 5};
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (int aug = 0; aug < 2; aug++)
      for (size_t ki = 0; ki < 3; ki++) {
        tv_loader_opts o = {.batch_size = shapes[si].bs,
                            .shuffle = 1,
                            .drop_last = shapes[si].drop,
                            .seed = 1234 + si,
                            .norm = TV_NORM_UNIT,
                            .subset = shapes[si].subset_n ? sub : NULL,
                            .subset_n = shapes[si].subset_n};
        if (aug) o.augment = (tv_augment){.flip = 1, .pad = 2};
        tv_loader *l;
        tv_loader_free(NULL);
        assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
        int count = 6 * (int)tv_loader_batches_per_epoch(l); /* six epochs */
        tv_loader_free(l);
        batch_rec *want = record(&ds, o, count);
        o.prefetch = ks[ki];
        assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
        float *x = malloc(o.batch_size * d * sizeof *x);
        int32_t *y = malloc(o.batch_size * sizeof *y);
        assert_non_null(x);
        assert_non_null(y);
        assert_int_equal(state_hash(l), state_hash(l)); /* a fresh state is stable */
        for (int i = 0; i < count; i++) {
          int mode = (i / 2 + (int)ki) % 3 == 0 ? 0 : 1; /* copies, lends and mixtures */
          assert_rec_equal(take(l, mode, x, y, o.batch_size, d), want[i], i);
        }
        free(x);
        free(y);
        free(want);
        tv_loader_free(l);
      }
  tv_dataset_free(&ds);
}

/* Takes batches from+1 .. to (state after batch `from` restored) and compares with want. */
static void expect_from(tv_loader *l, const batch_rec *want, int from, int to, float *x, int32_t *y,
                        uint32_t bs, size_t d) {
  for (int i = from + 1; i <= to; i++) assert_rec_equal(take(l, i % 2, x, y, bs, d), want[i], i);
}

typedef struct saved_state {
  tv_loader_state st;
  uint32_t *perm;
  uint32_t perm_n;
} saved_state;

static saved_state save_state(const tv_loader *l) {
  saved_state s;
  const uint32_t *perm;
  tv_loader_get_state(l, &s.st, &perm, &s.perm_n);
  s.perm = malloc(s.perm_n * sizeof *s.perm);
  assert_non_null(s.perm);
  memcpy(s.perm, perm, s.perm_n * sizeof *s.perm);
  return s;
}

static void test_prefetch_resume(void **state) {
  (void)state;
  enum { COUNT = 60 };
  tv_dataset ds = make_ds_c(300, 3, 16, 16); /* 768-byte examples: batches take real time */
  const size_t d = 768;
  for (int drop = 0; drop < 2; drop++) {
    tv_loader_opts o = {.batch_size = 64,
                        .shuffle = 1,
                        .drop_last = drop,
                        .seed = 99,
                        .norm = TV_NORM_UNIT,
                        .augment = {.flip = 1, .pad = 3}};
    batch_rec *want = record(&ds, o, COUNT);
    /* Sync states after each batch, the reference for set_state. */
    saved_state st[COUNT];
    tv_loader *ref;
    assert_int_equal(tv_loader_new(&ds, &o, &ref), TV_OK);
    float *x = malloc(o.batch_size * d * sizeof *x);
    int32_t *y = malloc(o.batch_size * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (int i = 0; i < COUNT; i++) {
      (void)take(ref, 0, x, y, o.batch_size, d);
      st[i] = save_state(ref);
    }
    tv_loader_free(ref);
    o.prefetch = 3;
    int bpe = drop ? 4 : 5, boundary = 2 * bpe - 1; /* the batch that ends epoch 1 */
    assert_int_equal(want[boundary].done, 1);

    /* A checkpoint taken mid-epoch with prefetch describes the caller's position. */
    tv_loader *a, *b;
    assert_int_equal(tv_loader_new(&ds, &o, &a), TV_OK);
    expect_from(a, want, -1, 6, x, y, o.batch_size, d);
    struct timespec ms = {0, 2000000};
    nanosleep(&ms, NULL); /* let the thread run ahead, into the next epoch */
    saved_state mid = save_state(a);
    assert_memory_equal(&mid.st, &st[6].st, sizeof mid.st);
    assert_memory_equal(mid.perm, st[6].perm, mid.perm_n * sizeof *mid.perm);
    /* ... and a fresh prefetching loader restored from it continues identically. */
    assert_int_equal(tv_loader_new(&ds, &o, &b), TV_OK);
    (void)take(b, 1, x, y, o.batch_size, d);
    assert_int_equal(tv_loader_set_state(b, &mid.st, mid.perm, mid.perm_n), TV_OK);
    expect_from(b, want, 6, 20, x, y, o.batch_size, d);
    /* Across an epoch boundary: the state after an epoch's last batch is the next epoch's start. */
    expect_from(a, want, 6, boundary, x, y, o.batch_size, d);
    saved_state edge = save_state(a);
    assert_int_equal(edge.st.epoch, 2);
    assert_int_equal(edge.st.position, 0);
    assert_int_equal(tv_loader_set_state(b, &edge.st, edge.perm, edge.perm_n), TV_OK);
    expect_from(b, want, boundary, COUNT - 1, x, y, o.batch_size, d);
    /* set_state on a running prefetcher, at random points and random moments (mid-batch too):
     * rewinds and jumps forward alike. */
    uint32_t lcg = 12345;
    for (int t = 0; t < 150; t++) {
      lcg = lcg * 1103515245u + 12345u;
      int k = (int)((lcg >> 8) % (COUNT - 4));
      assert_int_equal(tv_loader_set_state(a, &st[k].st, st[k].perm, st[k].perm_n), TV_OK);
      int steps = 1 + (int)((lcg >> 20) % 3);
      expect_from(a, want, k, k + steps, x, y, o.batch_size, d);
      if (t % 3 == 0) {
        struct timespec pause = {0, (long)((lcg >> 4) % 200) * 1000};
        nanosleep(&pause, NULL);
      }
    }
    /* A refused state leaves the running loader where it was. */
    assert_int_equal(tv_loader_set_state(a, &st[10].st, st[10].perm, st[10].perm_n), TV_OK);
    tv_loader_state bad = st[20].st;
    memset(&bad.augment, 0, sizeof bad.augment);
    assert_int_equal(tv_loader_set_state(a, &bad, st[20].perm, st[20].perm_n), TV_ERR_MISMATCH);
    bad = st[20].st;
    bad.position = 300;
    assert_int_equal(tv_loader_set_state(a, &bad, st[20].perm, st[20].perm_n), TV_ERR_MISMATCH);
    expect_from(a, want, 10, 15, x, y, o.batch_size, d);
    tv_loader_free(a);
    tv_loader_free(b);
    for (int i = 0; i < COUNT; i++) free(st[i].perm);
    free(mid.perm);
    free(edge.perm);
    free(x);
    free(y);
    free(want);
  }
  tv_dataset_free(&ds);
}

/* Freeing while the thread is mid-batch, waiting on a full ring, or just started never hangs
 * (the test finishes) and leaks nothing (checked under ASan and valgrind). */
static void test_prefetch_free(void **state) {
  (void)state;
  tv_dataset ds = make_ds_c(512, 3, 32, 32);
  tv_loader_opts o = {.batch_size = 128,
                      .shuffle = 1,
                      .seed = 5,
                      .norm = TV_NORM_UNIT,
                      .augment = {.flip = 1, .pad = 4},
                      .prefetch = 4};
  float *x = malloc(128 * 3072 * sizeof *x);
  int32_t y[128];
  assert_non_null(x);
  for (int i = 0; i < 40; i++) {
    tv_loader *l;
    assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
    uint32_t n;
    int done;
    const float *px;
    const int32_t *py;
    switch (i % 5) {
    case 0:
      break; /* at once: the thread is on its first batch */
    case 1:
      tv_loader_next(l, x, y, &n, &done);
      break;
    case 2:
      tv_loader_next_ptr(l, &px, &py, &n, &done);
      break;
    case 3: { /* the ring full, the thread asleep */
      struct timespec pause = {0, 20000000};
      nanosleep(&pause, NULL);
      break;
    }
    default: { /* straight after a set_state restarted it */
      tv_loader_state st;
      const uint32_t *perm;
      uint32_t pn;
      tv_loader_next(l, x, y, &n, &done);
      tv_loader_get_state(l, &st, &perm, &pn);
      uint32_t *copy = malloc(pn * sizeof *copy);
      assert_non_null(copy);
      memcpy(copy, perm, pn * sizeof *copy);
      assert_int_equal(tv_loader_set_state(l, &st, copy, pn), TV_OK);
      free(copy);
    }
    }
    tv_loader_free(l);
  }
  o.prefetch = TV_LOADER_MAX_PREFETCH + 1;
  tv_loader *l = (tv_loader *)1;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_null(l);
  assert_msg_has("prefetch 65");
  free(x);
  tv_dataset_free(&ds);
}

/* ---- real data ---------------------------------------------------------------------------- */

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void load_real(const char *prefix, uint32_t n, tv_dataset *ds) {
  char stem[128], pi[512], pl[512];
  snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", prefix);
  assert_int_equal(tv_data_find(FMNIST_DIR, stem, pi, sizeof pi), TV_OK);
  snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", prefix);
  assert_int_equal(tv_data_find(FMNIST_DIR, stem, pl, sizeof pl), TV_OK);
  double t = seconds();
  int rc = tv_dataset_load_idx(pi, pl, ds);
  if (rc != TV_OK) fail_msg("%s", tv_error_message());
  print_message("loaded %s (%u images) in %.3f s\n", pi, (unsigned)ds->n, seconds() - t);
  assert_int_equal(ds->n, n);
  assert_int_equal(ds->c, 1);
  assert_int_equal(ds->h, 28);
  assert_int_equal(ds->w, 28);
  assert_int_equal(ds->num_classes, 10);
  uint32_t count[10] = {0};
  for (uint32_t i = 0; i < ds->n; i++) count[ds->labels[i]]++;
  for (int k = 0; k < 10; k++) assert_int_equal(count[k], n / 10); /* balanced classes */
}

/* Stands in for a training step: reads the batch and does about `work` multiply-adds per
 * float (a dependency chain, so it takes time rather than bandwidth). */
static float fake_step(const float *x, size_t len, int work) {
  float acc = 0.0f;
  for (size_t j = 0; j < len; j++)
    for (int k = 0; k < work; k++) acc = acc * 0.999f + x[j];
  return acc;
}

/* Batches per second over two epochs of 128, synchronous and with prefetch 2 (copied and lent),
 * without and with augmentation, alone and beside a fake step.  Printed, never asserted: the
 * figures depend on the machine and its load. */
static void loader_speed(const tv_dataset *train) {
  float *x = malloc(128 * 784 * sizeof *x);
  int32_t y[128];
  assert_non_null(x);
  volatile float sink = 0.0f;
  double step_us = 0.0;
  for (int work = 0; work <= 2; work += 2) {
    if (work) { /* the fake step alone */
      double t = seconds();
      for (int i = 0; i < 200; i++) sink += fake_step(x, 128 * 784, work);
      step_us = (seconds() - t) / 200 * 1e6;
      print_message("fake step alone: %.0f us\n", step_us);
    }
    for (int aug = 0; aug < 2; aug++)
      for (int mode = 0; mode < 3; mode++) {
        tv_loader_opts o = {.batch_size = 128,
                            .shuffle = 1,
                            .drop_last = 1,
                            .seed = 1,
                            .norm = TV_NORM_UNIT,
                            .prefetch = mode ? 2 : 0};
        if (aug) o.augment = (tv_augment){.flip = 1, .pad = 2};
        tv_loader *l;
        assert_int_equal(tv_loader_new(train, &o, &l), TV_OK);
        int batches = 2 * (int)tv_loader_batches_per_epoch(l);
        double t = seconds();
        for (int i = 0; i < batches; i++) {
          uint32_t n;
          int done;
          const float *px = x;
          const int32_t *py;
          if (mode == 2)
            tv_loader_next_ptr(l, &px, &py, &n, &done);
          else
            tv_loader_next(l, x, y, &n, &done);
          if (work) sink += fake_step(px, (size_t)n * 784, work);
        }
        double secs = seconds() - t;
        print_message("%-9s %-12s %s: %6.0f batches/s, %6.1f us per batch%s\n",
                      aug ? "flip+crop" : "plain",
                      mode == 0   ? "synchronous"
                      : mode == 1 ? "prefetch 2"
                                  : "prefetch ptr",
                      work ? "with step" : "alone    ", batches / secs, secs / batches * 1e6,
                      work ? " (step included)" : "");
        tv_loader_free(l);
      }
  }
  (void)sink;
  free(x);
}

static void test_fashion_mnist(void **state) {
  (void)state;
  if (access(FMNIST_DIR, R_OK) != 0) {
    print_message("%s not installed: skipped\n", FMNIST_DIR);
    skip();
  }
  tv_dataset train, test;
  load_real("train", 60000, &train);
  load_real("t10k", 10000, &test);
  assert_int_equal(train.labels[0], 9); /* the first training image is an ankle boot */

  tv_loader_opts o = {.batch_size = 128, .shuffle = 1, .seed = 1, .norm = TV_NORM_UNIT};
  tv_loader *l;
  assert_int_equal(tv_loader_new(&train, &o, &l), TV_OK);
  assert_int_equal(tv_loader_batches_per_epoch(l), 469);
  float *x = malloc(128 * 784 * sizeof *x);
  int32_t y[128];
  assert_non_null(x);
  uint32_t n, batches = 0;
  int done = 0;
  double t = seconds();
  while (!done) {
    tv_loader_next(l, x, y, &n, &done);
    batches++;
  }
  print_message("one epoch of 128 x 784 batches: %.1f us per batch\n",
                (seconds() - t) / batches * 1e6);
  assert_int_equal(batches, 469);
  assert_int_equal(n, 60000 % 128);
  free(x);
  tv_loader_free(l);
  loader_speed(&train);
  tv_dataset_free(&train);
  tv_dataset_free(&test);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_plain),
      cmocka_unit_test(test_load_gzip),
      cmocka_unit_test(test_load_idx4),
      cmocka_unit_test(test_wrong_magic),
      cmocka_unit_test(test_idx_types),
      cmocka_unit_test(test_idx_types_bad),
      cmocka_unit_test(test_data_load),
      cmocka_unit_test(test_loader_float),
      cmocka_unit_test(test_loader_float_targets),
      cmocka_unit_test(test_standardize),
      cmocka_unit_test(test_split_float),
      cmocka_unit_test(test_truncated_plain),
      cmocka_unit_test(test_truncated_gzip),
      cmocka_unit_test(test_truncated_real_gzip),
      cmocka_unit_test(test_header_promises_too_much),
      cmocka_unit_test(test_gzip_members),
      cmocka_unit_test(test_corrupt_gzip),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_count_mismatch),
      cmocka_unit_test(test_missing),
      cmocka_unit_test(test_find),
      cmocka_unit_test(test_split),
      cmocka_unit_test(test_subset),
      cmocka_unit_test(test_loader_epochs),
      cmocka_unit_test(test_loader_drop_last),
      cmocka_unit_test(test_loader_norm),
      cmocka_unit_test(test_loader_subset),
      cmocka_unit_test(test_loader_resume),
      cmocka_unit_test(test_augment_hand),
      cmocka_unit_test(test_augment_exact),
      cmocka_unit_test(test_augment_invariants),
      cmocka_unit_test(test_augment_resume),
      cmocka_unit_test(test_loader_parts),
      cmocka_unit_test(test_loader_ckpt),
      cmocka_unit_test(test_loader_norm_channels),
      cmocka_unit_test(test_loader_norm_many_channels),
      cmocka_unit_test(test_prefetch_equivalence),
      cmocka_unit_test(test_prefetch_resume),
      cmocka_unit_test(test_prefetch_free),
      cmocka_unit_test(test_fashion_mnist),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
