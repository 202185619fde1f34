/* test_ooc.c — out-of-core data (data.h, OUT-OF-CORE DATA) with the real HDF5 reader: a chunked
 * file written here with the HDF5 API, opened under a budget it does not fit, read through the
 * row source, split, and walked by the loader in the block order of blockorder.h.  Each
 * example's first feature is its row number, so every batch says which rows it holds: each
 * epoch gives every training row once and no valid row, reproducibly from the seed and
 * differently per epoch; prefetch, a restored state and data-parallel parts give bitwise the
 * same batches; augmented images and float targets (multilabel indicators, class ids read as
 * floats) come with their rows; the streaming standardisation and the in-order evaluation walk
 * give what the in-memory dataset gives, as do the examples read back one by one and the targets an
 * evaluation pass keeps; a budget too small for a buffer and a chunk damaged
 * after the file was opened are one line naming the cause. */
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

#include <cmocka.h>

#include "testutil.h"
#include "trainval/config.h"
#include "trainval/metrics.h"
#include "trainval/model.h"
#include "trainval/pipeline.h"
#include "trainval/varstore.h"

enum { N = 1000, D = 6, CHUNK = 32, K = 7, BATCH = 16 };

static char g_path[512];

static const char *tpath(void **state, const char *name) {
  snprintf(g_path, sizeof g_path, "%s/%s", (const char *)*state, name);
  return g_path;
}

static float value(size_t i, size_t j) { return j == 0 ? (float)i : (float)i * 0.25f - (float)j; }

/* A new file at path: /x of `rank` dims dx (dx[0] = N rows, on disk as `type`, from x in
 * `mem`) in chunks of CHUNK rows (gzip when deflate), /y (N) int32 from y. */
static void write_xy(const char *path, int rank, const hsize_t *dx, hid_t type, hid_t mem,
                     const void *x, const int32_t *y, int deflate) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  hsize_t cx[3] = {CHUNK, dx[1], rank > 2 ? dx[2] : 0}, dy[1] = {N};
  hid_t sx = H5Screate_simple(rank, dx, NULL), sy = H5Screate_simple(1, dy, NULL);
  hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
  assert_true(H5Pset_chunk(pl, rank, cx) >= 0);
  if (deflate) assert_true(H5Pset_deflate(pl, 6) >= 0);
  hid_t a = H5Dcreate2(f, "/x", type, sx, H5P_DEFAULT, pl, H5P_DEFAULT);
  hid_t b = H5Dcreate2(f, "/y", H5T_STD_I32LE, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(a >= 0 && b >= 0);
  assert_true(H5Dwrite(a, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
  assert_true(H5Dwrite(b, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) >= 0);
  H5Dclose(a);
  H5Dclose(b);
  H5Pclose(pl);
  H5Sclose(sx);
  H5Sclose(sy);
  H5Fclose(f);
}

/* /x (N, D) float32 in chunks of CHUNK rows (gzip when deflate), /y (N) int32 labels i % K. */
static void write_file(const char *path, int deflate) {
  static float x[N * D];
  static int32_t y[N];
  for (size_t i = 0; i < N; i++) {
    y[i] = (int32_t)(i % K);
    for (size_t j = 0; j < D; j++) x[i * D + j] = value(i, j);
  }
  hsize_t dx[2] = {N, D};
  write_xy(path, 2, dx, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, x, y, deflate);
}

/* The file at path under a budget of `budget` bytes (0: none). */
static void open_ds(const char *path, uint64_t budget, tv_dataset *ds) {
  int rc = tv_dataset_open_h5(path, "/x", path, "/y", 0, budget, ds);
  if (rc != TV_OK) fail_msg("%s", tv_error_message());
}

/* The file at path under budget, and its train and valid splits (valid_fraction 0.1). */
typedef struct splits {
  tv_dataset full, tr, va;
} splits;

static void open_split(const char *path, uint64_t budget, uint64_t seed, splits *s) {
  open_ds(path, budget, &s->full);
  assert_int_equal(tv_dataset_split(&s->full, 0.1, seed, &s->tr, &s->va), TV_OK);
}

/* 16 KiB: a block of 64 rows (two chunks), a reader buffer, and a shuffle buffer of 449 rows. */
#define BUDGET (16u << 10)

/* The test's file `name` (in its temporary folder) as write_file(., deflate) makes it: the path. */
static const char *new_file(void **state, const char *name, int deflate) {
  const char *p = tpath(state, name);
  write_file(p, deflate);
  return p;
}

/* new_file(state, name, deflate) opened as the splits of `seed` out of core (under BUDGET) into
 * *ooc and, unless mem is NULL, in memory (no budget) into *mem. */
static void open_splits(void **state, const char *name, int deflate, uint64_t seed, splits *ooc,
                        splits *mem) {
  const char *p = new_file(state, name, deflate);
  open_split(p, BUDGET, seed, ooc);
  if (mem) open_split(p, 0, seed, mem);
}

/* The splits' shares are released first: the source closes with full. */
static void free_split(splits *s) {
  tv_dataset_free(&s->tr);
  tv_dataset_free(&s->va);
  tv_dataset_free(&s->full);
}

static void test_rows_source(void **state) {
  const char *p = new_file(state, "rows.h5", 0);
  tv_dataset ds, mem, big;
  open_ds(p, BUDGET, &ds);
  assert_non_null(ds.rows);
  assert_null(ds.features);
  assert_null(ds.labels);
  assert_int_equal(ds.n, N);
  assert_int_equal(ds.c, D);
  assert_int_equal(ds.num_classes, K);
  assert_int_equal(ds.target_dim, 0);
  assert_true(tv_dataset_has_labels(&ds));
  assert_int_equal(tv_dataset_feature_size(&ds), 4);
  assert_int_equal(tv_rows_chunk(ds.rows), CHUNK);
  assert_true(tv_rows_work_bytes(ds.rows) <= BUDGET / 8);
  float x[70 * D];
  int32_t y[70];
  assert_int_equal(tv_rows_read(ds.rows, 100, 170, x, y, NULL), TV_OK);
  for (size_t i = 0; i < 70; i++) {
    assert_int_equal(y[i], (int32_t)((100 + i) % K));
    for (size_t j = 0; j < D; j++) assert_true(x[i * D + j] == value(100 + i, j));
  }
  assert_int_equal(tv_rows_read(ds.rows, 10, 10, x, y, NULL), TV_ERR_INVALID);
  assert_int_equal(tv_rows_read(ds.rows, 990, 1001, x, y, NULL), TV_ERR_INVALID);
  open_ds(p, 0, &mem); /* no budget: in memory, as before data.memory_mb */
  assert_null(mem.rows);
  assert_non_null(mem.features);
  open_ds(p, 1u << 20, &big); /* fits: in memory */
  assert_null(big.rows);
  assert_memory_equal(big.features, mem.features, sizeof(float) * N * D);
  tv_dataset_free(&ds);
  tv_dataset_free(&mem);
  tv_dataset_free(&big);
}

/* Takes `batches` batches of l into rows (the first feature: the row number) and labels. */
static void take(tv_loader *l, uint32_t batches, uint32_t *rows, int32_t *labels, uint32_t *got) {
  *got = 0;
  for (uint32_t b = 0; b < batches; b++) {
    tv_batch bt;
    tv_loader_next_batch(l, &bt);
    assert_int_equal(tv_loader_status(l), TV_OK);
    for (uint32_t i = 0; i < bt.n; i++) {
      rows[*got] = (uint32_t)bt.x[(size_t)i * D];
      labels[*got] = bt.labels[i];
      (*got)++;
    }
  }
}

static tv_loader_opts train_opts(uint64_t seed, uint32_t prefetch) {
  return (tv_loader_opts){.batch_size = BATCH,
                          .shuffle = 1,
                          .seed = seed,
                          .norm = {.scale = 1, .mean = 0, .std = 1},
                          .prefetch = prefetch};
}

static void test_epochs(void **state) {
  splits o_, m_;
  open_splits(state, "epochs.h5", 0, 5, &o_, &m_);
  tv_dataset tr = o_.tr, va = o_.va, mtr = m_.tr, mva = m_.va;
  /* the split selects the in-memory split's rows */
  assert_int_equal(tr.n, mtr.n);
  assert_int_equal(va.n, mva.n);
  assert_non_null(tr.rows);
  for (uint32_t i = 0; i < tr.n; i++) assert_true((float)tr.rowmap[i] == mtr.features[i * D]);
  for (uint32_t i = 0; i < va.n; i++) assert_true((float)va.rowmap[i] == mva.features[i * D]);
  uint8_t *is_valid = calloc(N, 1);
  assert_non_null(is_valid);
  for (uint32_t i = 0; i < va.n; i++) is_valid[va.rowmap[i]] = 1;

  enum { EPOCHS = 3 };
  uint32_t per = (tr.n + BATCH - 1) / BATCH, m = tr.n;
  uint32_t *rows = malloc(sizeof *rows * m * EPOCHS), *again = malloc(sizeof *again * m * EPOCHS);
  int32_t *labels = malloc(sizeof *labels * m * EPOCHS), *l2 = malloc(sizeof *l2 * m * EPOCHS);
  assert_true(rows && again && labels && l2);
  tv_loader_opts o = train_opts(11, 2);
  tv_loader *a = NULL, *b = NULL, *c = NULL;
  assert_int_equal(tv_loader_new(&tr, &o, &a), TV_OK);
  assert_int_equal(tv_loader_batches_per_epoch(a), per);
  uint32_t got;
  take(a, per * EPOCHS, rows, labels, &got);
  assert_int_equal(got, m * EPOCHS);
  for (int e = 0; e < EPOCHS; e++) {
    uint8_t *seen = calloc(N, 1);
    assert_non_null(seen);
    for (uint32_t i = 0; i < m; i++) {
      uint32_t r = rows[e * m + i];
      assert_true(r < N);
      assert_false(is_valid[r]); /* the train walk skips the valid rows */
      assert_int_equal(seen[r], 0);
      seen[r] = 1;
      assert_int_equal(labels[e * m + i], (int32_t)(r % K));
    }
    free(seen);
  }
  assert_memory_not_equal(rows, rows + m, m * sizeof *rows); /* another order each epoch */
  assert_memory_not_equal(rows + m, rows + 2 * m, m * sizeof *rows);
  /* reproducible from the seed, synchronous or prefetching */
  o.prefetch = 0;
  assert_int_equal(tv_loader_new(&tr, &o, &b), TV_OK);
  take(b, per * EPOCHS, again, l2, &got);
  assert_memory_equal(rows, again, sizeof *rows * m * EPOCHS);
  assert_memory_equal(labels, l2, sizeof *labels * m * EPOCHS);
  o = train_opts(12, 0);
  assert_int_equal(tv_loader_new(&tr, &o, &c), TV_OK);
  take(c, per, again, l2, &got);
  assert_memory_not_equal(rows, again, sizeof *rows * m); /* another seed, another order */
  tv_loader_free(a);
  tv_loader_free(b);
  tv_loader_free(c);
  free(rows);
  free(again);
  free(labels);
  free(l2);
  free(is_valid);
  free_split(&o_);
  free_split(&m_);
}

/* Data-parallel parts (tv_loader_opts.part/parts) of the out-of-core walk: each part's rows are
 * its slice of the whole loader's batch, in every batch. */
static void test_parts(void **state) {
  splits o_;
  open_splits(state, "parts.h5", 0, 5, &o_, NULL);
  tv_dataset tr = o_.tr;
  tv_loader_opts o = train_opts(4, 1);
  tv_loader *whole = NULL, *part[3] = {NULL, NULL, NULL};
  assert_int_equal(tv_loader_new(&tr, &o, &whole), TV_OK);
  o.parts = 3;
  for (uint32_t k = 0; k < 3; k++) {
    o.part = k;
    o.prefetch = k; /* synchronous and prefetching parts alike */
    assert_int_equal(tv_loader_new(&tr, &o, &part[k]), TV_OK);
  }
  for (uint32_t b = 0; b < 2 * tv_loader_batches_per_epoch(whole); b++) {
    tv_batch w;
    tv_loader_next_batch(whole, &w);
    uint32_t at = 0;
    for (uint32_t k = 0; k < 3; k++) {
      tv_batch q;
      tv_loader_next_batch(part[k], &q);
      assert_int_equal(q.whole, w.n);
      assert_memory_equal(q.x, w.x + (size_t)at * D, sizeof(float) * q.n * D);
      assert_memory_equal(q.labels, w.labels + at, sizeof(int32_t) * q.n);
      at += q.n;
    }
    assert_int_equal(at, w.n);
  }
  tv_loader_free(whole);
  for (int k = 0; k < 3; k++) tv_loader_free(part[k]);
  free_split(&o_);
}

/* uint8 images out of core, augmented: the batches of a prefetching loader, a synchronous one and
 * one restored from a state (with the augmentation generator) are the same, and each image is a
 * flip and a shift of the one a loader without augmentation gives in the same place. */
static void test_images_augmented(void **state) {
  const char *p = tpath(state, "images.h5");
  enum { HH = 4, WW = 5 };
  static uint8_t px[N * HH * WW];
  static int32_t lab[N];
  for (size_t i = 0; i < N; i++) {
    lab[i] = (int32_t)(i % K);
    for (size_t j = 0; j < HH * WW; j++) px[i * HH * WW + j] = (uint8_t)(i * 7 + j * 13 + 1);
  }
  hsize_t dx[3] = {N, HH, WW};
  write_xy(p, 3, dx, H5T_STD_U8LE, H5T_NATIVE_UINT8, px, lab, 0);
  tv_dataset ds;
  open_ds(p, 4096, &ds);
  assert_non_null(ds.rows);
  assert_int_equal(tv_dataset_feature_size(&ds), 1);
  tv_loader_opts o = train_opts(8, 2);
  o.augment = (tv_augment){.flip = 1, .pad = 1};
  o.norm = (tv_norm){.scale = 1, .mean = 0, .std = 1};
  tv_loader *l[4] = {NULL, NULL, NULL, NULL};
  assert_int_equal(tv_loader_new(&ds, &o, &l[0]), TV_OK);
  o.prefetch = 0;
  assert_int_equal(tv_loader_new(&ds, &o, &l[1]), TV_OK);
  assert_int_equal(tv_loader_new(&ds, &o, &l[2]), TV_OK);
  o.augment = (tv_augment){0};
  assert_int_equal(tv_loader_new(&ds, &o, &l[3]), TV_OK);
  enum { B = 90 };
  tv_loader_state st;
  int changed = 0;
  for (int i = 0; i < B; i++) {
    if (i == 30) {
      const uint32_t *perm;
      uint32_t pn;
      tv_loader_get_state(l[1], &st, &perm, &pn);
      assert_int_equal(tv_loader_set_state(l[2], &st, NULL, 0), TV_OK);
    }
    tv_batch x[3];
    for (int k = 0; k < 3; k++) tv_loader_next_batch(l[k], &x[k]);
    assert_int_equal(x[0].n, x[1].n);
    assert_memory_equal(x[0].x, x[1].x, sizeof(float) * x[0].n * HH * WW);
    assert_memory_equal(x[0].labels, x[1].labels, sizeof(int32_t) * x[0].n);
    if (i >= 30) assert_memory_equal(x[1].x, x[2].x, sizeof(float) * x[1].n * HH * WW);
    tv_batch plain;
    tv_loader_next_batch(l[3], &plain); /* the same rows (the order does not draw augmentations) */
    assert_int_equal(plain.n, x[0].n);
    for (uint32_t r = 0; r < x[0].n; r++) {
      assert_int_equal(plain.labels[r], x[0].labels[r]);
      const float *in = plain.x + (size_t)r * HH * WW, *out = x[0].x + (size_t)r * HH * WW;
      int found = 0; /* some flip and shift in [-1, 1] of the stored image (0 outside) */
      for (int t = 0; t < 18 && !found; t++) {
        int flip = t / 9, oy = t % 9 / 3 - 1, ox = t % 3 - 1, same = 1;
        for (int yy = 0; yy < HH; yy++)
          for (int xx = 0; xx < WW; xx++) {
            int iy = yy + oy, ix = (flip ? WW - 1 - xx : xx) + ox;
            float want = iy < 0 || iy >= HH || ix < 0 || ix >= WW ? 0.0f : in[iy * WW + ix];
            same &= out[yy * WW + xx] == want;
          }
        found = same;
      }
      assert_true(found);
      changed += memcmp(in, out, sizeof(float) * HH * WW) != 0;
    }
  }
  assert_true(changed > B * BATCH / 2); /* one draw in 18 leaves an image as it is */
  for (int k = 0; k < 4; k++) tv_loader_free(l[k]);
  tv_dataset_free(&ds);
}

/* A state read after some batches restores another loader (prefetching or not) to the same next
 * batches, across an epoch's end; a state with an order position out of range is refused. */
static void test_resume(void **state) {
  splits o_;
  open_splits(state, "resume.h5", 0, 5, &o_, NULL);
  tv_dataset tr = o_.tr;
  enum { FIRST = 50, NEXT = 40 };
  tv_loader_opts o = train_opts(3, 2);
  o.drop_last = 1;
  tv_loader *a = NULL, *b = NULL, *c = NULL;
  assert_int_equal(tv_loader_new(&tr, &o, &a), TV_OK);
  static uint32_t r1[(FIRST + NEXT) * BATCH], r2[NEXT * BATCH], r3[NEXT * BATCH];
  static int32_t y1[(FIRST + NEXT) * BATCH], y2[NEXT * BATCH], y3[NEXT * BATCH];
  uint32_t g1, g2, g3;
  take(a, FIRST, r1, y1, &g1);
  tv_loader_state st;
  const uint32_t *perm;
  uint32_t perm_n;
  tv_loader_get_state(a, &st, &perm, &perm_n);
  assert_int_equal(perm_n, 0);
  assert_int_equal(st.epoch, 0);
  assert_true(st.order_position > st.position); /* valid rows were passed */
  take(a, NEXT, r1, y1, &g1);                   /* the epoch (56 batches) ends inside these */
  o.prefetch = 3;
  assert_int_equal(tv_loader_new(&tr, &o, &b), TV_OK);
  assert_int_equal(tv_loader_set_state(b, &st, NULL, 0), TV_OK);
  take(b, NEXT, r2, y2, &g2);
  assert_int_equal(g1, g2);
  assert_memory_equal(r1, r2, sizeof *r1 * g1);
  assert_memory_equal(y1, y2, sizeof *y1 * g1);
  o.prefetch = 0;
  assert_int_equal(tv_loader_new(&tr, &o, &c), TV_OK);
  take(c, 7, r3, y3, &g3); /* a loader already under way is moved back */
  assert_int_equal(tv_loader_set_state(c, &st, NULL, 0), TV_OK);
  take(c, NEXT, r3, y3, &g3);
  assert_memory_equal(r1, r3, sizeof *r1 * g1);
  tv_loader_state bad = st;
  bad.order_position = N;
  assert_int_equal(tv_loader_set_state(c, &bad, NULL, 0), TV_ERR_MISMATCH);
  bad.order_position = st.position - 1;
  assert_int_equal(tv_loader_set_state(c, &bad, NULL, 0), TV_ERR_MISMATCH);
  tv_loader_free(a);
  tv_loader_free(b);
  tv_loader_free(c);
  free_split(&o_);
}

/* The standardisation fitted in one streaming pass over the training rows, and an evaluation walk
 * (no shuffle, a subset, in order) over the valid split, give what the data in memory gives. */
static void test_stream_fit_and_eval(void **state) {
  splits o_, m_;
  open_splits(state, "fit.h5", 1, 9, &o_, &m_);
  tv_dataset tr = o_.tr, va = o_.va, mtr = m_.tr, mva = m_.va;
  tv_norm norm = {.scale = 0.5f, .mean = 1.0f, .std = 2.0f};
  tv_standardize zs, zm;
  assert_int_equal(tv_standardize_fit(&tr, norm, &zs), TV_OK);
  assert_int_equal(tv_standardize_fit(&mtr, norm, &zm), TV_OK);
  for (int j = 0; j < D; j++) {
    assert_float_equal(zs.mean[j], zm.mean[j], 1e-6 * (1 + fabs(zm.mean[j])));
    assert_float_equal(zs.std[j], zm.std[j], 1e-6 * (1 + fabs(zm.std[j])));
  }
  uint32_t idx[40];
  for (uint32_t i = 0; i < 40; i++) idx[i] = i * 2 + (i % 3);
  tv_loader_opts o = {.batch_size = 16,
                      .norm = tv_norm_with_standardize(norm, &zm),
                      .subset = idx,
                      .subset_n = 40,
                      .prefetch = 1};
  tv_loader *a = NULL, *b = NULL;
  assert_int_equal(tv_loader_new(&va, &o, &a), TV_OK);
  assert_int_equal(tv_loader_new(&mva, &o, &b), TV_OK);
  for (int done = 0; !done;) {
    tv_batch x, y;
    tv_loader_next_batch(a, &x);
    tv_loader_next_batch(b, &y);
    assert_int_equal(tv_loader_status(a), TV_OK);
    assert_int_equal(x.n, y.n);
    assert_int_equal(x.epoch_done, y.epoch_done);
    assert_memory_equal(x.x, y.x, sizeof(float) * x.n * D);
    assert_memory_equal(x.labels, y.labels, sizeof(int32_t) * x.n);
    done = x.epoch_done;
  }
  tv_loader_free(a);
  tv_loader_free(b);
  tv_standardize_free(&zs);
  tv_standardize_free(&zm);
  free_split(&o_);
  free_split(&m_);
}

/* tv_dataset_read_examples: chosen examples of the valid split (rows through its row map), in
 * any order and repeated, read from the file are those of the split in memory; an index past
 * the split is refused. */
static void test_read_examples(void **state) {
  const char *p = tpath(state, "some.h5");
  write_file(p, 1);
  splits o_, m_;
  open_split(p, BUDGET, 4, &o_);
  open_split(p, 0, 4, &m_);
  assert_non_null(o_.va.rows);
  assert_non_null(o_.va.rowmap);
  assert_null(m_.va.rows);
  const uint32_t at[5] = {7, 0, o_.va.n - 1, 7, 42};
  float a[5 * D], b[5 * D];
  assert_int_equal(tv_dataset_read_examples(&o_.va, at, 5, a), TV_OK);
  assert_int_equal(tv_dataset_read_examples(&m_.va, at, 5, b), TV_OK);
  assert_memory_equal(a, b, sizeof a);
  for (int j = 0; j < 5; j++) /* the first feature is the source row's number */
    assert_true(a[j * D] == (float)o_.va.rowmap[at[j]]);
  const uint32_t past[1] = {o_.va.n};
  assert_int_equal(tv_dataset_read_examples(&o_.va, past, 1, a), TV_ERR_INVALID);
  assert_non_null(strstr(tv_error_message(), "example 100 of a dataset of 100"));
  free_split(&o_);
  free_split(&m_);
}

/* tv_eval_pass_keep: a pass over a subset of the valid split keeps the subset's class ids in
 * subset order, out of core as in memory, beside the same logits (a linear model with fixed
 * weights). */
static void test_eval_pass_keep(void **state) {
  const char *p = tpath(state, "pass.h5");
  write_file(p, 0);
  static const char text[] = "model:\n  input: [6, 1, 1]\n  num_classes: 7\n  layers:\n"
                             "    - {type: flatten}\n    - {type: dense, units: 7}\n";
  tv_config c;
  assert_int_equal(tv_config_parse(text, sizeof text - 1, "lin.yaml", NULL, 0, &c), TV_OK);
  tv_varstore *s = NULL;
  tv_model *m = NULL;
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  assert_int_equal(tv_model_new(&c, TV_MODE_INFER, BATCH, s, NULL, &m), TV_OK);
  assert_int_equal(tv_varstore_seal(s), TV_OK);
  for (size_t i = 0; i < tv_varstore_size(s); i++) tv_varstore_values(s)[i] = sinf((float)i);
  splits o_, m_;
  open_split(p, BUDGET, 6, &o_);
  open_split(p, 0, 6, &m_);
  enum { M = 37 };
  uint32_t idx[M];
  for (uint32_t i = 0; i < M; i++) idx[i] = i * 2 + (i % 2);
  int32_t kept[2][M];
  float logits[2][M * K];
  const tv_dataset *va[2] = {&o_.va, &m_.va};
  tv_norm norm = {.scale = 1, .mean = 0, .std = 1};
  for (int k = 0; k < 2; k++) {
    tv_metrics *met = NULL;
    tv_eval_pass *pass = NULL;
    assert_int_equal(tv_metrics_new(K, &met), TV_OK);
    assert_int_equal(tv_eval_pass_new(m, va[k], idx, M, norm, TV_TASK_CLASSIFICATION, &pass),
                     TV_OK);
    tv_eval_pass_keep(pass, kept[k], NULL);
    assert_int_equal(tv_eval_pass_next(pass, 2 * BATCH, met, logits[k], NULL), TV_OK);
    assert_int_equal(tv_eval_pass_next(pass, M, met, logits[k] + 2 * BATCH * K, NULL), TV_OK);
    tv_eval_pass_free(pass);
    tv_metrics_free(met);
  }
  for (uint32_t i = 0; i < M; i++) /* row r's label is r % K */
    assert_int_equal(kept[0][i], (int32_t)(o_.va.rowmap[idx[i]] % K));
  assert_memory_equal(kept[0], kept[1], sizeof kept[0]);
  assert_memory_equal(logits[0], logits[1], sizeof logits[0]);
  free_split(&o_);
  free_split(&m_);
  tv_model_free(m);
  tv_varstore_free(s);
}

/* Float targets out of core: /x features and /t (N, 3) 0/1 indicators (multilabel), or integer
 * class ids read as one float target (regression): the batches of the in-order walk are those of
 * the data in memory, and a shuffled epoch pairs every row with its own targets. */
static void test_float_targets(void **state) {
  const char *p = new_file(state, "targets.h5", 0);
  static float t[N * 3];
  for (size_t i = 0; i < N * 3; i++) t[i] = (float)((i * 7 / 3) % 2);
  hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  hsize_t dt[2] = {N, 3};
  hid_t st = H5Screate_simple(2, dt, NULL);
  hid_t d = H5Dcreate2(f, "/t", H5T_IEEE_F32LE, st, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t) >= 0);
  H5Dclose(d);
  H5Sclose(st);
  H5Fclose(f);
  static const struct {
    const char *y;
    int dim;
  } kinds[] = {{"/t", 3}, {"/y", 1}};
  for (size_t k = 0; k < 2; k++) {
    tv_dataset ds, mem;
    int dim = kinds[k].dim;
    assert_int_equal(tv_dataset_open_h5(p, "/x", p, kinds[k].y, 1, BUDGET, &ds), TV_OK);
    assert_int_equal(tv_dataset_open_h5(p, "/x", p, kinds[k].y, 1, 0, &mem), TV_OK);
    assert_non_null(ds.rows);
    assert_false(tv_dataset_has_labels(&ds));
    assert_int_equal(ds.target_dim, dim);
    if (k == 1) { /* source.c's conversion of the in-memory class ids, as the reader makes it */
      mem.targets = malloc(sizeof(float) * N);
      assert_non_null(mem.targets);
      for (uint32_t i = 0; i < N; i++) mem.targets[i] = (float)mem.labels[i];
      free(mem.labels);
      mem.labels = NULL;
      mem.target_dim = 1;
    }
    tv_loader_opts o = {.batch_size = 64, .norm = {.scale = 1, .mean = 0, .std = 1}};
    tv_loader *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(tv_loader_new(&ds, &o, &a), TV_OK);
    assert_int_equal(tv_loader_new(&mem, &o, &b), TV_OK);
    for (int done = 0; !done;) {
      tv_batch x, y;
      tv_loader_next_batch(a, &x);
      tv_loader_next_batch(b, &y);
      assert_int_equal(tv_loader_status(a), TV_OK);
      assert_null(x.labels);
      assert_memory_equal(x.x, y.x, sizeof(float) * x.n * D);
      assert_memory_equal(x.targets, y.targets, sizeof(float) * x.n * (size_t)dim);
      done = x.epoch_done;
    }
    o = train_opts(6, 2);
    assert_int_equal(tv_loader_new(&ds, &o, &c), TV_OK);
    for (int done = 0; !done;) {
      tv_batch x;
      tv_loader_next_batch(c, &x);
      for (uint32_t i = 0; i < x.n; i++) {
        uint32_t r = (uint32_t)x.x[(size_t)i * D];
        assert_memory_equal(x.targets + (size_t)i * dim, mem.targets + (size_t)r * dim,
                            sizeof(float) * (size_t)dim);
      }
      done = x.epoch_done;
    }
    tv_loader_free(a);
    tv_loader_free(b);
    tv_loader_free(c);
    tv_dataset_free(&ds);
    tv_dataset_free(&mem);
  }
}

static void test_budget_too_small(void **state) {
  const char *p = new_file(state, "small.h5", 0);
  tv_dataset ds;
  open_ds(p, 1000, &ds); /* a chunk of 32 rows is 896 bytes, the reader's buffer 96 */
  assert_non_null(ds.rows);
  tv_loader_opts o = train_opts(1, 0);
  tv_loader *l = (tv_loader *)&o;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_ERR_INVALID);
  assert_null(l);
  if (!strstr(tv_error_message(), "data.memory_mb"))
    fail_msg("message \"%s\" lacks data.memory_mb", tv_error_message());
  o.shuffle = 0; /* an evaluation walk needs only the block */
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  tv_loader_free(l);
  tv_dataset_free(&ds);
}

/* A chunk damaged after the file was checked and opened: the batches that needed it carry the
 * read error, one line naming the file and the dataset, and nothing crashes. */
static void test_damaged_after_open(void **state) {
  const char *p = new_file(state, "damaged.h5", 1);
  hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5Dopen2(f, "/x", H5P_DEFAULT);
  hsize_t at[2] = {CHUNK * 20, 0};
  haddr_t addr;
  hsize_t size;
  unsigned mask;
  assert_true(H5Dget_chunk_info_by_coord(d, at, &mask, &addr, &size) >= 0);
  H5Dclose(d);
  H5Fclose(f);
  tv_dataset ds;
  open_ds(p, BUDGET, &ds);
  FILE *fp = fopen(p, "r+b");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, (long)addr, SEEK_SET), 0);
  for (hsize_t i = 0; i < size; i++) fputc(0x5a, fp);
  fclose(fp);
  tv_loader_opts o = {.batch_size = 16, .norm = {.scale = 1, .mean = 0, .std = 1}, .prefetch = 2};
  tv_loader *l = NULL;
  assert_int_equal(tv_loader_new(&ds, &o, &l), TV_OK);
  int rc = TV_OK;
  for (int done = 0; !done && rc == TV_OK;) {
    tv_batch b;
    tv_loader_next_batch(l, &b);
    done = b.epoch_done;
    rc = tv_loader_status(l);
  }
  assert_int_equal(rc, TV_ERR_FORMAT);
  if (!strstr(tv_error_message(), "damaged.h5: /x: cannot read examples"))
    fail_msg("message \"%s\" does not name the file, dataset and rows", tv_error_message());
  tv_loader_free(l);
  tv_dataset_free(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rows_source, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_epochs, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_parts, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_resume, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_images_augmented, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_stream_fit_and_eval, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_float_targets, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_read_examples, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_eval_pass_keep, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_budget_too_small, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_damaged_after_open, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
