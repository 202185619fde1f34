/* test_data.c — the data module: IDX reading (plain and gzip) and its error paths, tv_data_find,
 * splits, subsets and the loader (coverage, shuffling, drop_last, normalisation, exact resume),
 * plus the real Fashion-MNIST files when the Debian package is installed.
 *
 * Every IDX file is built at test time in a mkdtemp directory that the group teardown removes.
 * Synthetic example i carries its id in its first two pixels (i & 0xff, i >> 8), so a batch read
 * with the identity normalisation names the examples it holds.
 */
#include "trainval/data.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

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

/* A synthetic dataset built in memory, same contents as the files above (IDX3). */
static tv_dataset make_ds(uint32_t n, int h, int w) {
  tv_dataset ds = {.n = n, .c = 1, .h = h, .w = w, .num_classes = n < 10 ? (int)n : 10};
  size_t d = (size_t)h * (size_t)w;
  ds.images = malloc(n * d);
  ds.labels = malloc(n);
  assert_non_null(ds.images);
  assert_non_null(ds.labels);
  for (uint32_t i = 0; i < n; i++) {
    for (size_t j = 0; j < d; j++) ds.images[i * d + j] = pixel(i, j);
    ds.labels[i] = label(i);
  }
  return ds;
}

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
      rows[k * (d + 1) + d] = ds->labels[i];
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
  assert_memory_equal(va2.labels, va.labels, va.n);
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
  assert_memory_equal(tr.labels, full.labels, 1000);
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
  ds.labels = malloc(256);
  assert_non_null(ds.images);
  assert_non_null(ds.labels);
  for (int i = 0; i < 256; i++) {
    ds.images[i] = (uint8_t)(255 - i);
    ds.labels[i] = (uint8_t)(i % 10);
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
  tv_dataset_free(&train);
  tv_dataset_free(&test);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_load_plain),
      cmocka_unit_test(test_load_gzip),
      cmocka_unit_test(test_load_idx4),
      cmocka_unit_test(test_wrong_magic),
      cmocka_unit_test(test_truncated_plain),
      cmocka_unit_test(test_truncated_gzip),
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
      cmocka_unit_test(test_fashion_mnist),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
