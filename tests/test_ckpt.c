/* test_ckpt.c — checkpoint files and the manifest: bit-exact round trips, the layout as HDF5,
 * h5dump and h5py see it, every error path with its code and message (checksum, truncated,
 * garbage, foreign, newer, mismatched, unwritable, full disk), commit with retention and its veto,
 * and resolution of "latest" / a step.  Every test runs in its own mkdtemp directory and ends
 * with no HDF5 object left open. */
#include "trainval/ckpt.h"

#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include <hdf5.h>

#include "base/fs.h"
#include "trainval/commit.h"
#include "trainval/manifest.h"
#include "trainval/varstore.h"

#define CHECKER "../shared/checkers/h5ckpt_check.py"
#define CONFIG  "model:\n  input: [1, 28, 28]\n  num_classes: 10\n# a comment: \"quoted\" \xc3\xa9\n"

enum { PATH = 4096 };

/* ---- fixtures ---------------------------------------------------------------------------- */

static int teardown_dir(void **state) {
  char *dir = *state;
  tvt_rmtree(dir);
  free(dir);
  /* No HDF5 file, group, dataset or attribute may outlive a test: error paths leak nothing. */
  ssize_t open_ids = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (open_ids != 0) fprintf(stderr, "teardown: %zd HDF5 objects left open\n", open_ids);
  return open_ids == 0 ? 0 : -1;
}

static void join(char *out, const char *dir, const char *name) {
  assert_int_equal(tv_fs_join(out, PATH, dir, name), TV_OK);
}

#define assert_msg_has(s) assert_msg_has_(s, __FILE__, __LINE__)
static void assert_msg_has_(const char *s, const char *file, int line) {
  if (!strstr(tv_error_message(), s))
    fail_msg("%s:%d: message \"%s\" lacks \"%s\"", file, line, tv_error_message(), s);
}

/* Entries of dir whose name starts with prefix. */
static int count_files(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
  closedir(d);
  return n;
}

static int exists(const char *dir, const char *name) {
  char p[PATH];
  join(p, dir, name);
  return access(p, F_OK) == 0;
}

/* Copies src to dst: at most limit bytes (-1: all), with byte flip_at inverted (-1: none). */
static void copy_file(const char *src, const char *dst, long limit, long flip_at) {
  char *data;
  size_t len;
  assert_int_equal(tv_fs_read_all(src, &data, &len), TV_OK);
  if (limit >= 0 && (size_t)limit < len) len = (size_t)limit;
  if (flip_at >= 0 && (size_t)flip_at < len) data[flip_at] = (char)~data[flip_at];
  FILE *f = fopen(dst, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  free(data);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
}

/* ---- a small model's store --------------------------------------------------------------- */

typedef struct spec {
  const char *name;
  tv_shape shape;
} spec;

/* A sealed store of the given variables with values that exercise bit-exactness: -0, a
 * denormal, FLT_MAX, then a pattern that differs per seed. */
static tv_varstore *make_store(const spec *vars, int n, float seed) {
  tv_varstore *s;
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  for (int i = 0; i < n; i++) {
    int index;
    assert_int_equal(
        tv_varstore_declare(s, vars[i].name, vars[i].shape, i != 2, TV_INIT_ZEROS, 1, 1, &index),
        TV_OK);
  }
  assert_int_equal(tv_varstore_seal(s), TV_OK);
  for (int i = 0; i < n; i++) {
    tv_var *v = tv_varstore_var(s, i);
    for (size_t k = 0; k < v->count; k++) v->value[k] = seed + (float)(i * 100 + (int)k) * 0.37f;
    if (v->count >= 3) {
      v->value[0] = -0.0f;
      v->value[1] = 1e-40f;
      v->value[2] = FLT_MAX;
    }
  }
  return s;
}

static const spec model[] = {
    {"dense_1/kernel", {2, {4, 3}}},
    {"dense_1/bias", {1, {4}}},
    {"bn_1/moving_mean", {1, {4}}},
};

static tv_varstore *model_store(float seed) { return make_store(model, 3, seed); }

static const float adam_m[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -12.5f};
static const uint32_t perm[5] = {4, 0, 3, 1, 2};
static const uint64_t rng_words[4] = {0x0123456789abcdefULL, UINT64_MAX, 0, 42};
static const int64_t cursor[2] = {-7, INT64_MAX};

/* Saves model_store(seed) at step with the extra arrays above; fills info. */
static void save_model(const char *dir, int64_t step, float seed, tv_ckpt_info *info) {
  tv_varstore *s = model_store(seed);
  tv_ckpt_array extra[] = {
      {.path = "/optimizer/m/dense_1/kernel", .dtype = TV_CKPT_F32, .count = 12, .data = adam_m},
      {.path = "/state/loader/perm", .dtype = TV_CKPT_U32, .count = 5, .data = perm},
      {.path = "/state/rng", .dtype = TV_CKPT_U64, .count = 4, .data = rng_words},
      {.path = "/state/cursor", .dtype = TV_CKPT_I64, .count = 2, .data = cursor},
      {.path = "/state/empty", .dtype = TV_CKPT_F32, .count = 0, .data = NULL},
  };
  tv_ckpt_header h = {.step = step, .epoch = 3, .wall_time = 1732634096.25, .config_text = CONFIG};
  int rc = tv_ckpt_save(dir, &h, s, extra, 5, info);
  if (rc) fail_msg("save: %s", tv_error_message());
  tv_varstore_free(s);
}

/* ---- checkpoint files -------------------------------------------------------------------- */

static void test_save_roundtrip(void **state) {
  const char *dir = *state;
  tv_ckpt_info info;
  save_model(dir, 1000, 0.5f, &info);
  assert_string_equal(info.file, "ckpt-00001000.h5");
  assert_int_equal(info.step, 1000);
  assert_true(info.finite);
  assert_true(info.wall_time == 1732634096.25);
  char path[PATH];
  join(path, dir, info.file);
  uint32_t crc;
  int64_t size;
  assert_int_equal(tv_fs_checksum(path, &crc, &size), TV_OK);
  assert_int_equal(info.size, size);
  assert_int_equal(info.crc32c, crc);
  assert_int_equal(count_files(dir, ".ckpt-"), 0); /* no temporary left behind */

  tv_ckpt *c;
  assert_int_equal(tv_ckpt_open(path, &info, &c), TV_OK);
  assert_int_equal(tv_ckpt_step(c), 1000);
  assert_int_equal(tv_ckpt_epoch(c), 3);
  assert_true(tv_ckpt_wall_time(c) == 1732634096.25);
  assert_int_equal(tv_ckpt_format_version(c), TV_CKPT_VERSION);
  assert_string_equal(tv_ckpt_config_text(c), CONFIG);
  assert_string_equal(tv_ckpt_trainval_version(c), TV_VERSION);
  assert_string_equal(tv_ckpt_path(c), path);

  tv_varstore *want = model_store(0.5f), *got = model_store(9.0f);
  assert_int_equal(tv_ckpt_read_variables(c, got), TV_OK);
  for (int i = 0; i < 3; i++) {
    const tv_var *a = tv_varstore_cvar(want, i), *b = tv_varstore_cvar(got, i);
    assert_memory_equal(a->value, b->value, a->count * sizeof(float));
  }
  float m[12];
  uint32_t p[5];
  uint64_t r[4];
  int64_t cur[2];
  assert_int_equal(tv_ckpt_read_array(c, "/optimizer/m/dense_1/kernel", TV_CKPT_F32, 12, m), TV_OK);
  assert_memory_equal(m, adam_m, sizeof m);
  assert_int_equal(tv_ckpt_read_array(c, "/state/loader/perm", TV_CKPT_U32, 5, p), TV_OK);
  assert_memory_equal(p, perm, sizeof p);
  assert_int_equal(tv_ckpt_read_array(c, "/state/rng", TV_CKPT_U64, 4, r), TV_OK);
  assert_memory_equal(r, rng_words, sizeof r);
  assert_int_equal(tv_ckpt_read_array(c, "/state/cursor", TV_CKPT_I64, 2, cur), TV_OK);
  assert_memory_equal(cur, cursor, sizeof cur);
  assert_int_equal(tv_ckpt_read_array(c, "/state/empty", TV_CKPT_F32, 0, NULL), TV_OK);

  tv_ckpt_dtype dt;
  size_t n;
  assert_int_equal(tv_ckpt_array_info(c, "/state/loader/perm", &dt, &n), TV_OK);
  assert_int_equal(dt, TV_CKPT_U32);
  assert_int_equal(n, 5);
  assert_true(tv_ckpt_has(c, "/state/rng"));
  assert_true(tv_ckpt_has(c, "/optimizer/m"));
  assert_false(tv_ckpt_has(c, "/state/nothing"));
  assert_false(tv_ckpt_has(c, "/state/rng/deeper"));
  assert_false(tv_ckpt_has(c, "state/rng"));

  /* Error paths of read_array: absent, wrong dtype, wrong count, a group, a bad path. */
  assert_int_equal(tv_ckpt_read_array(c, "/state/nothing", TV_CKPT_U64, 4, r), TV_ERR_NOT_FOUND);
  assert_msg_has("/state/nothing");
  assert_int_equal(tv_ckpt_read_array(c, "/state/rng", TV_CKPT_I64, 4, cur), TV_ERR_MISMATCH);
  assert_msg_has("dtype uint64 in file, int64 expected");
  assert_int_equal(tv_ckpt_read_array(c, "/state/rng", TV_CKPT_U64, 3, r), TV_ERR_MISMATCH);
  assert_msg_has("4 elements in file, 3 expected");
  assert_int_equal(tv_ckpt_read_array(c, "/state", TV_CKPT_U64, 4, r), TV_ERR_MISMATCH);
  assert_int_equal(tv_ckpt_read_array(c, "/state/../state/rng", TV_CKPT_U64, 4, r), TV_ERR_INVALID);
  /* Variables stay readable as arrays too (h5py users see the same data). */
  float k[12];
  assert_int_equal(tv_ckpt_read_array(c, "/variables/dense_1/kernel", TV_CKPT_F32, 12, k), TV_OK);
  assert_memory_equal(k, tv_varstore_cvar(want, 0)->value, sizeof k);

  tv_ckpt_close(c);
  tv_ckpt_close(NULL);
  tv_varstore_free(want);
  tv_varstore_free(got);
}

static void test_writer_attrs_and_rules(void **state) {
  const char *dir = *state;
  tv_varstore *s = model_store(1.0f);
  tv_ckpt_header h = {.step = 7, .epoch = 0, .wall_time = 1.5, .config_text = NULL};
  tv_ckpt_writer *w;
  assert_int_equal(tv_ckpt_writer_open(dir, &h, &w), TV_OK);
  assert_int_equal(count_files(dir, ".ckpt-00000007."), 1);
  assert_int_equal(tv_ckpt_writer_variables(w, s), TV_OK);
  assert_int_equal(tv_ckpt_writer_variables(w, s), TV_ERR_INVALID);
  assert_int_equal(tv_ckpt_writer_attr_str(w, "/optimizer", "type", "adam"), TV_OK);
  assert_int_equal(tv_ckpt_writer_attr_i64(w, "/optimizer", "t", 41), TV_OK);
  assert_int_equal(tv_ckpt_writer_attr_i64(w, "/optimizer", "t", 42), TV_OK); /* replaced */
  assert_int_equal(tv_ckpt_writer_attr_f64(w, "/optimizer", "lr", 1e-3), TV_OK);
  assert_int_equal(tv_ckpt_writer_attr_str(w, "/", "note", "hello"), TV_OK);
  /* Refused before anything is written, and the writer stays usable. */
  assert_int_equal(tv_ckpt_writer_attr_i64(w, "/", "step", 9), TV_ERR_INVALID);
  assert_msg_has("reserved");
  float x = 1;
  tv_ckpt_array bad[] = {
      {.path = "/variables/extra", .dtype = TV_CKPT_F32, .count = 1, .data = &x},
      {.path = "state/x", .dtype = TV_CKPT_F32, .count = 1, .data = &x},
      {.path = "/state//x", .dtype = TV_CKPT_F32, .count = 1, .data = &x},
      {.path = "/", .dtype = TV_CKPT_F32, .count = 1, .data = &x},
      {.path = "/state/x", .dtype = (tv_ckpt_dtype)9, .count = 1, .data = &x},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(tv_ckpt_writer_array(w, &bad[i]), TV_ERR_INVALID);
  tv_shape kshape = tv_shape2(4, 3);
  tv_ckpt_array a = {.path = "/state/x", .dtype = TV_CKPT_F32, .count = 1, .data = &x};
  tv_ckpt_array m = {.path = "/optimizer/m/dense_1/kernel",
                     .dtype = TV_CKPT_F32,
                     .count = 12,
                     .data = adam_m,
                     .shape = &kshape};
  a.shape = &kshape; /* 12 elements in the shape, 1 in the data */
  assert_int_equal(tv_ckpt_writer_array(w, &a), TV_ERR_INVALID);
  a.shape = NULL;
  assert_int_equal(tv_ckpt_writer_array(w, &m), TV_OK);
  assert_int_equal(tv_ckpt_writer_array(w, &a), TV_OK);
  assert_int_equal(tv_ckpt_writer_array(w, &a), TV_ERR_INVALID);
  assert_msg_has("written twice");
  tv_ckpt_info info;
  assert_int_equal(tv_ckpt_writer_finish(w, &info), TV_OK);
  assert_int_equal(count_files(dir, ".ckpt-"), 0);

  char path[PATH], buf[16];
  join(path, dir, info.file);
  tv_ckpt *c;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d, sp;
  assert_true((d = H5Dopen2(f, "/optimizer/m/dense_1/kernel", H5P_DEFAULT)) >= 0);
  sp = H5Dget_space(d);
  assert_int_equal(H5Sget_simple_extent_ndims(sp), 2); /* as its variable, for h5py users */
  H5Sclose(sp);
  H5Dclose(d);
  H5Fclose(f);
  assert_int_equal(tv_ckpt_open(path, NULL, &c), TV_OK);
  assert_string_equal(tv_ckpt_config_text(c), "");
  float mm[12];
  assert_int_equal(tv_ckpt_read_array(c, "/optimizer/m/dense_1/kernel", TV_CKPT_F32, 12, mm),
                   TV_OK);
  assert_memory_equal(mm, adam_m, sizeof mm);
  int64_t t;
  double lr;
  assert_int_equal(tv_ckpt_read_attr_str(c, "/optimizer", "type", buf, sizeof buf), TV_OK);
  assert_string_equal(buf, "adam");
  assert_int_equal(tv_ckpt_read_attr_i64(c, "/optimizer", "t", &t), TV_OK);
  assert_int_equal(t, 42);
  assert_int_equal(tv_ckpt_read_attr_f64(c, "/optimizer", "lr", &lr), TV_OK);
  assert_true(lr == 1e-3);
  assert_int_equal(tv_ckpt_read_attr_i64(c, "/", "step", &t), TV_OK);
  assert_int_equal(t, 7);
  assert_int_equal(tv_ckpt_read_attr_str(c, "/", "note", buf, 3), TV_ERR_MISMATCH);
  assert_int_equal(tv_ckpt_read_attr_i64(c, "/optimizer", "type", &t), TV_ERR_MISMATCH);
  assert_msg_has("not an integer");
  assert_int_equal(tv_ckpt_read_attr_i64(c, "/optimizer", "nope", &t), TV_ERR_NOT_FOUND);
  assert_int_equal(tv_ckpt_read_attr_i64(c, "/nowhere", "t", &t), TV_ERR_NOT_FOUND);
  tv_ckpt_close(c);

  /* abort removes the temporary; a negative step is refused. */
  assert_int_equal(tv_ckpt_writer_open(dir, &h, &w), TV_OK);
  tv_ckpt_writer_abort(w);
  tv_ckpt_writer_abort(NULL);
  assert_int_equal(count_files(dir, ".ckpt-"), 0);
  h.step = -1;
  assert_int_equal(tv_ckpt_writer_open(dir, &h, &w), TV_ERR_INVALID);
  assert_null(w);
  tv_varstore_free(s);
}

static void test_layout_as_hdf5_sees_it(void **state) {
  const char *dir = *state;
  tv_ckpt_info info;
  save_model(dir, 1000, 0.5f, &info);
  char path[PATH];
  join(path, dir, info.file);

  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  assert_true(H5Lexists(f, "/variables", H5P_DEFAULT) > 0);
  assert_true(H5Lexists(f, "/variables/dense_1", H5P_DEFAULT) > 0);
  assert_true(H5Lexists(f, "/variables/dense_1/kernel", H5P_DEFAULT) > 0);
  assert_true(H5Lexists(f, "/variables/bn_1/moving_mean", H5P_DEFAULT) > 0);
  hid_t d = H5Dopen2(f, "/variables/dense_1/kernel", H5P_DEFAULT);
  assert_true(d >= 0);
  hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
  hsize_t dims[2];
  assert_int_equal(H5Sget_simple_extent_ndims(sp), 2);
  H5Sget_simple_extent_dims(sp, dims, NULL);
  assert_int_equal(dims[0], 4);
  assert_int_equal(dims[1], 3);
  assert_true(H5Tequal(t, H5T_IEEE_F32LE) > 0);
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  d = H5Dopen2(f, "/optimizer/m/dense_1/kernel", H5P_DEFAULT);
  sp = H5Dget_space(d);
  assert_int_equal(H5Sget_simple_extent_ndims(sp), 1); /* a tv_ckpt_array is 1-D */
  H5Sclose(sp);
  H5Dclose(d);
  assert_true(H5Aexists(f, "format") > 0);
  assert_true(H5Aexists(f, "config") > 0);
  H5Fclose(f);
}

/* h5dump, HDF5's own tool, sees the same layout (skipped where h5dump is not installed). */
static void test_layout_as_h5dump_sees_it(void **state) {
  const char *dir = *state;
  if (access("/usr/bin/h5dump", X_OK) != 0) skip();
  tv_ckpt_info info;
  save_model(dir, 1000, 0.5f, &info);
  char path[PATH];
  join(path, dir, info.file);
  char cmd[3 * PATH], out[PATH];
  join(out, dir, "dump.txt");
  snprintf(cmd, sizeof cmd, "/usr/bin/h5dump -H '%s' > '%s' 2>&1", path, out);
  assert_int_equal(system(cmd), 0);
  char *text;
  size_t len;
  assert_int_equal(tv_fs_read_all(out, &text, &len), TV_OK);
  const char *want[] = {"GROUP \"variables\"",
                        "GROUP \"dense_1\"",
                        "DATASET \"kernel\"",
                        "H5T_IEEE_F32LE",
                        "( 4, 3 )",
                        "ATTRIBUTE \"format\"",
                        "ATTRIBUTE \"config\"",
                        "ATTRIBUTE \"format_version\"",
                        "GROUP \"state\""};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(text, want[i])) fail_msg("h5dump -H lacks %s:\n%s", want[i], text);
  free(text);
}

static void test_h5py_checker(void **state) {
  const char *dir = *state;
  if (access("/usr/bin/python3", X_OK) != 0 || access(CHECKER, R_OK) != 0 ||
      system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) {
    skip();
    return;
  }
  tv_ckpt_info info;
  save_model(dir, 1000, 0.5f, &info);
  char cmd[3 * PATH], path[PATH], out[PATH];
  join(path, dir, info.file);
  join(out, dir, "check.txt");
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 " CHECKER " --require /variables/dense_1/kernel:4x3 "
           "--require /variables/dense_1/bias:4 --require /state/loader/perm:5 '%s' > '%s' 2>&1",
           path, out);
  int rc = system(cmd);
  if (rc != 0) {
    char *text;
    size_t len;
    assert_int_equal(tv_fs_read_all(out, &text, &len), TV_OK);
    fail_msg("h5ckpt_check exited %d:\n%s", rc, text);
  }
}

/* A checkpoint written by h5py alone, as a PyTorch export script would (float64 weights,
 * Python strings and ints), loads: the format is the contract, not our writer. */
static void test_h5py_written_loads(void **state) {
  const char *dir = *state;
  if (access("/usr/bin/python3", X_OK) != 0 ||
      system("/usr/bin/python3 -c 'import h5py, numpy' >/dev/null 2>&1") != 0) {
    skip();
    return;
  }
  char path[PATH], script[PATH], cmd[3 * PATH];
  join(path, dir, "torch.h5");
  join(script, dir, "export.py");
  write_text(script, "import sys, h5py, numpy as np\n"
                     "with h5py.File(sys.argv[1], 'w') as f:\n"
                     "    f.attrs['format'] = 'trainval.checkpoint'\n"
                     "    f.attrs['format_version'] = 1\n"
                     "    f.attrs['step'] = 77\n"
                     "    f.attrs['epoch'] = 2\n"
                     "    f.attrs['wall_time'] = 1.5\n"
                     "    f.attrs['config'] = 'model: {}\\n'\n"
                     "    k = np.arange(12, dtype=np.float64).reshape(4, 3) / 8\n"
                     "    f['variables/dense_1/kernel'] = k\n"
                     "    f['variables/dense_1/bias'] = np.float32([1, 2, 3, 4])\n"
                     "    f['variables/bn_1/moving_mean'] = np.float32([-1, -2, -3, -4])\n");
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script, path);
  assert_int_equal(system(cmd), 0);
  tv_ckpt *c;
  if (tv_ckpt_open(path, NULL, &c)) fail_msg("%s", tv_error_message());
  assert_int_equal(tv_ckpt_step(c), 77);
  assert_string_equal(tv_ckpt_config_text(c), "model: {}\n");
  assert_string_equal(tv_ckpt_trainval_version(c), "");
  tv_varstore *s = model_store(0.0f);
  if (tv_ckpt_read_variables(c, s)) fail_msg("%s", tv_error_message());
  for (int k = 0; k < 12; k++) assert_true(tv_varstore_cvar(s, 0)->value[k] == (float)k / 8);
  assert_true(tv_varstore_cvar(s, 2)->value[3] == -4.0f);
  tv_varstore_free(s);
  tv_ckpt_close(c);
}

static void test_checksum_verified(void **state) {
  const char *dir = *state;
  tv_ckpt_info info;
  save_model(dir, 5, 0.5f, &info);
  char path[PATH], bad[PATH];
  join(path, dir, info.file);
  join(bad, dir, "flipped.h5");
  copy_file(path, bad, -1, info.size / 2);
  tv_ckpt *c = (tv_ckpt *)1;
  assert_int_equal(tv_ckpt_open(bad, &info, &c), TV_ERR_CHECKSUM);
  assert_null(c);
  assert_msg_has(bad);
  assert_msg_has("crc32c:");
  char want[32];
  snprintf(want, sizeof want, "crc32c:%08x", (unsigned)info.crc32c);
  assert_msg_has(want); /* the expected value is named */
  /* A longer file: the size alone is wrong. */
  copy_file(path, bad, -1, -1);
  FILE *f = fopen(bad, "ab");
  assert_non_null(f);
  fputc('x', f);
  fclose(f);
  assert_int_equal(tv_ckpt_open(bad, &info, &c), TV_ERR_CHECKSUM);
  /* The original passes. */
  assert_int_equal(tv_ckpt_open(path, &info, &c), TV_OK);
  tv_ckpt_close(c);
  join(bad, dir, "absent.h5");
  assert_int_equal(tv_ckpt_open(bad, &info, &c), TV_ERR_NOT_FOUND);
  assert_msg_has(bad);
}

/* The file offset of the object header at path (HDF5 addresses start after the user block). */
static long header_offset(const char *file, const char *path) {
  hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  assert_true(f >= 0);
  haddr_t addr;
#if H5_VERSION_GE(1, 12, 0)
  H5O_info2_t oi;
  assert_true(H5Oget_info_by_name3(f, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0);
  assert_true(H5VLnative_token_to_addr(f, oi.token, &addr) >= 0);
#else
  H5O_info_t oi;
  assert_true(H5Oget_info_by_name2(f, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0);
  addr = oi.addr;
#endif
  H5Fclose(f);
  return TV_CKPT_USERBLOCK + (long)addr;
}

/* A file whose group /optimizer/m exists but whose object header (which holds its links) is
 * damaged, opened as if the manifest vouched for it: what lies under the group is unreadable, an
 * error naming the file and the object, never reported as absent; what is really absent, and what
 * lies elsewhere, keep their answers. */
static void test_unreadable_links(void **state) {
  const char *dir = *state;
  tv_ckpt_info info;
  save_model(dir, 5, 0.5f, &info);
  char path[PATH], bad[PATH];
  join(path, dir, info.file);
  join(bad, dir, "damaged.h5");
  /* Its first byte inverted: the signature of a version-2 header, the version of a version-1. */
  copy_file(path, bad, -1, header_offset(path, "/optimizer/m"));
  tv_ckpt_info damaged = info;
  assert_int_equal(tv_fs_checksum(bad, &damaged.crc32c, &damaged.size), TV_OK);
  tv_ckpt *c;
  assert_int_equal(tv_ckpt_open(bad, &damaged, &c), TV_OK);
  assert_int_equal(tv_ckpt_has(c, "/optimizer/m"), 1); /* its link, in /optimizer, reads */
  assert_int_equal(tv_ckpt_has(c, "/optimizer/m/dense_1/kernel"), -1);
  assert_msg_has(bad);
  assert_msg_has("/optimizer/m/dense_1/kernel: unreadable links");
  assert_null(strchr(tv_error_message(), '\n'));
  float m[12];
  assert_int_equal(tv_ckpt_read_array(c, "/optimizer/m/dense_1/kernel", TV_CKPT_F32, 12, m),
                   TV_ERR_FORMAT);
  assert_msg_has(bad);
  assert_msg_has("/optimizer/m/dense_1/kernel: unreadable links");
  tv_ckpt_dtype dt;
  size_t n;
  assert_int_equal(tv_ckpt_array_info(c, "/optimizer/m/dense_1/kernel", &dt, &n), TV_ERR_FORMAT);
  int64_t v;
  assert_int_equal(tv_ckpt_read_attr_i64(c, "/optimizer/m/dense_1", "x", &v), TV_ERR_FORMAT);
  assert_msg_has("/optimizer/m/dense_1: unreadable links");
  /* Absence stays absence; the undamaged parts read as before. */
  assert_int_equal(tv_ckpt_has(c, "/optimizer/nothing"), 0);
  assert_int_equal(tv_ckpt_read_array(c, "/state/nothing", TV_CKPT_F32, 1, m), TV_ERR_NOT_FOUND);
  uint32_t p[5];
  assert_int_equal(tv_ckpt_read_array(c, "/state/loader/perm", TV_CKPT_U32, 5, p), TV_OK);
  assert_memory_equal(p, perm, sizeof p);
  tv_varstore *s = model_store(0.5f);
  assert_int_equal(tv_ckpt_check_variables(c, s), TV_OK);
  tv_varstore_free(s);
  tv_ckpt_close(c);
}

static void test_truncated_and_garbage(void **state) {
  const char *dir = *state;
  tv_ckpt_info info;
  save_model(dir, 5, 0.5f, &info);
  char path[PATH], bad[PATH];
  join(path, dir, info.file);
  tv_ckpt *c;

  long cuts[] = {info.size / 2, info.size - 1, 100, 8, 0};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    join(bad, dir, "truncated.h5");
    copy_file(path, bad, cuts[i], -1);
    assert_int_equal(tv_ckpt_open(bad, NULL, &c), TV_ERR_FORMAT);
    assert_null(c);
    assert_msg_has(bad);
    assert_msg_has("not a trainval checkpoint");
  }
  join(bad, dir, "garbage.h5");
  char junk[4096];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(1 + (i * 7919) % 251);
  junk[sizeof junk - 1] = '\0';
  write_text(bad, junk);
  assert_int_equal(tv_ckpt_open(bad, NULL, &c), TV_ERR_FORMAT);
  assert_msg_has(bad);
  assert_msg_has("not an HDF5 file");
  /* A directory is not a checkpoint either. */
  assert_int_equal(tv_ckpt_open(dir, NULL, &c), TV_ERR_FORMAT);
}

static void write_bytes(const char *path, const char *data, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

/* Saves save_model(dir, step, 0.5) and returns the file's bytes (the caller frees them), its
 * length in *len and, if path is not NULL, its path there (PATH bytes). */
static char *saved_bytes(const char *dir, int64_t step, char *path, size_t *len) {
  tv_ckpt_info info;
  save_model(dir, step, 0.5f, &info);
  char p[PATH];
  join(p, dir, info.file);
  if (path) memcpy(path, p, PATH);
  char *data;
  assert_int_equal(tv_fs_read_all(p, &data, len), TV_OK);
  return data;
}

/* A saved checkpoint carries its user block (magic, size, CRC-32C of the rest, then zeros; the
 * HDF5 superblock at 512), and every single-bit flip anywhere in it is refused when the file is
 * opened alone (no manifest), before HDF5 reads a value. */
static void test_self_verifying(void **state) {
  const char *dir = *state;
  char bad[PATH];
  join(bad, dir, "flipped.h5");
  size_t len;
  char *data = saved_bytes(dir, 7, NULL, &len);
  assert_true(len > 2 * TV_CKPT_USERBLOCK);
  assert_memory_equal(data, "trainval ckpt 1\n", 16);
  assert_memory_equal(data + TV_CKPT_USERBLOCK, "\x89HDF\r\n\x1a\n", 8);
  uint64_t size = 0;
  for (int i = 7; i >= 0; i--) size = size << 8 | (unsigned char)data[16 + i];
  assert_int_equal(size, len);
  tv_ckpt *c;
  int refused = 0, tried = 0;
  for (size_t at = 0; at < len; at += at < 64 ? 1 : len / 300 + 1) {
    int bit = (int)(at % 8);
    data[at] ^= (char)(1 << bit);
    write_bytes(bad, data, len);
    data[at] ^= (char)(1 << bit);
    tried++;
    int rc = tv_ckpt_open(bad, NULL, &c);
    if (rc == TV_ERR_FORMAT && strstr(tv_error_message(), "not a trainval checkpoint (damaged"))
      refused++;
    else
      fail_msg("bit %d of byte %zu flipped: rc %d, \"%s\"", bit, at, rc,
               rc ? tv_error_message() : "opened");
    assert_null(c);
  }
  assert_int_equal(refused, tried);
  /* A cut, or bytes appended, are refused with the sizes. */
  write_bytes(bad, data, len - 1);
  assert_int_equal(tv_ckpt_open(bad, NULL, &c), TV_ERR_FORMAT);
  assert_msg_has("damaged");
  data = realloc(data, len + 1);
  data[len] = 0;
  write_bytes(bad, data, len + 1);
  assert_int_equal(tv_ckpt_open(bad, NULL, &c), TV_ERR_FORMAT);
  assert_msg_has("bytes on disk");
  /* The untouched copy opens and reads. */
  write_bytes(bad, data, len);
  assert_int_equal(tv_ckpt_open(bad, NULL, &c), TV_OK);
  tv_varstore *s = model_store(0.0f);
  assert_int_equal(tv_ckpt_read_variables(c, s), TV_OK);
  tv_varstore_free(s);
  tv_ckpt_close(c);
  free(data);
}

/* A file without the user block (as h5py or an older trainval writes it) is parsed in a child
 * process first and then read as before; a damaged one of those is one error, never a crash. */
static void test_without_userblock(void **state) {
  const char *dir = *state;
  char path[PATH], bare[PATH];
  join(bare, dir, "bare.h5");
  size_t len;
  char *data = saved_bytes(dir, 8, path, &len);
  write_bytes(bare, data + TV_CKPT_USERBLOCK, len - TV_CKPT_USERBLOCK);
  tv_ckpt *c, *ref;
  assert_int_equal(tv_ckpt_open(bare, NULL, &c), TV_OK);
  assert_int_equal(tv_ckpt_open(path, NULL, &ref), TV_OK);
  assert_int_equal(tv_ckpt_step(c), 8);
  assert_string_equal(tv_ckpt_config_text(c), tv_ckpt_config_text(ref));
  tv_varstore *a = model_store(0.0f), *b = model_store(1.0f);
  assert_int_equal(tv_ckpt_read_variables(c, a), TV_OK);
  assert_int_equal(tv_ckpt_read_variables(ref, b), TV_OK);
  assert_memory_equal(tv_varstore_values(a), tv_varstore_values(b),
                      tv_varstore_size(a) * sizeof(float));
  tv_varstore_free(a);
  tv_varstore_free(b);
  tv_ckpt_close(c);
  tv_ckpt_close(ref);
  /* Damaged bytes in the HDF5 metadata of a bare file: refused or read, never a crash here. */
  char *body = data + TV_CKPT_USERBLOCK;
  size_t n = len - TV_CKPT_USERBLOCK;
  for (size_t at = 0; at < 2048 && at < n; at += 37) {
    body[at] = (char)~body[at];
    write_bytes(bare, body, n);
    body[at] = (char)~body[at];
    int rc = tv_ckpt_open(bare, NULL, &c);
    if (rc) {
      assert_msg_has(bare);
      assert_null(strchr(tv_error_message(), '\n'));
    }
    tv_ckpt_close(c);
  }
  free(data);
}

/* A file on which libhdf5 itself segfaults (tests/fixtures/hdf5-segfault.h5: h5dump crashes
 * on it) is one error from the child's parse; this process goes on. */
static void test_hdf5_crash_contained(void **state) {
  (void)state;
  const char *path = "tests/fixtures/hdf5-segfault.h5";
  tv_ckpt *c;
  assert_int_equal(tv_ckpt_open(path, NULL, &c), TV_ERR_FORMAT);
  assert_null(c);
  assert_msg_has(path);
  assert_msg_has("HDF5 crashed parsing it");
  assert_null(strchr(tv_error_message(), '\n'));
}

/* Creates an HDF5 file at path with a random dataset and, if format is not NULL, trainval-like
 * root attributes with that format and version. */
static void make_foreign(const char *path, const char *format, int version) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(f >= 0);
  hsize_t dims[1] = {16};
  double data[16];
  for (int i = 0; i < 16; i++) data[i] = rand() / (double)RAND_MAX;
  hid_t sp = H5Screate_simple(1, dims, NULL);
  hid_t d = H5Dcreate2(f, "/data", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  H5Dclose(d);
  H5Sclose(sp);
  if (format) {
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, strlen(format)); /* fixed-length, as other tools write it */
    sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "format", st, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, st, format) >= 0);
    H5Aclose(a);
    H5Tclose(st);
    a = H5Acreate2(f, "format_version", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_INT, &version) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
  }
  assert_true(H5Fclose(f) >= 0);
}

static void test_foreign_hdf5(void **state) {
  const char *dir = *state;
  char path[PATH];
  tv_ckpt *c;
  join(path, dir, "random.h5");
  make_foreign(path, NULL, 0);
  assert_int_equal(tv_ckpt_open(path, NULL, &c), TV_ERR_FORMAT);
  assert_msg_has(path);
  assert_msg_has("not a trainval checkpoint");
  assert_msg_has("format");

  join(path, dir, "other.h5");
  make_foreign(path, "keras.model", 1);
  assert_int_equal(tv_ckpt_open(path, NULL, &c), TV_ERR_FORMAT);
  assert_msg_has("keras.model");

  join(path, dir, "newer.h5");
  make_foreign(path, TV_CKPT_FORMAT, TV_CKPT_VERSION + 1);
  assert_int_equal(tv_ckpt_open(path, NULL, &c), TV_ERR_FORMAT);
  assert_msg_has("newer");
  assert_msg_has(path);

  /* The right format and version but none of the other root attributes. */
  join(path, dir, "hollow.h5");
  make_foreign(path, TV_CKPT_FORMAT, TV_CKPT_VERSION);
  assert_int_equal(tv_ckpt_open(path, NULL, &c), TV_ERR_FORMAT);
  assert_msg_has("step");
}

static void test_variables_mismatch(void **state) {
  const char *dir = *state;
  tv_ckpt_info info;
  save_model(dir, 5, 0.5f, &info);
  char path[PATH];
  join(path, dir, info.file);
  tv_ckpt *c;
  assert_int_equal(tv_ckpt_open(path, &info, &c), TV_OK);

  /* Another shape for dense_1/kernel and a variable the file lacks. */
  const spec other[] = {
      {"dense_1/kernel", {2, {5, 3}}},
      {"dense_1/bias", {1, {4}}},
      {"bn_1/moving_mean", {1, {4}}},
      {"dense_3/bias", {1, {2}}},
  };
  tv_varstore *s = make_store(other, 4, 7.0f), *ref = make_store(other, 4, 7.0f);
  assert_int_equal(tv_ckpt_read_variables(c, s), TV_ERR_MISMATCH);
  assert_msg_has(path);
  assert_msg_has("dense_1/kernel: shape [4, 3] in file, [5, 3] in model");
  assert_msg_has("dense_3/bias: missing in file");
  for (int i = 0; i < 4; i++) /* the store is unchanged, even the variables that matched */
    assert_memory_equal(tv_varstore_cvar(s, i)->value, tv_varstore_cvar(ref, i)->value,
                        tv_varstore_cvar(s, i)->count * sizeof(float));
  tv_varstore_free(s);
  tv_varstore_free(ref);

  /* A model without bn_1: the file holds a variable the model does not. */
  s = make_store(model, 2, 7.0f);
  assert_int_equal(tv_ckpt_read_variables(c, s), TV_ERR_MISMATCH);
  assert_msg_has("bn_1/moving_mean: in file, not in model");
  assert_true(tv_varstore_cvar(s, 0)->value[3] == 7.0f + 3 * 0.37f);
  tv_varstore_free(s);

  /* A rank difference and a name that is a group in the file. */
  const spec ranks[] = {
      {"dense_1/kernel", {1, {12}}},
      {"dense_1/bias", {1, {4}}},
      {"bn_1/moving_mean", {1, {4}}},
      {"dense_1", {1, {1}}},
  };
  s = make_store(ranks, 4, 7.0f);
  assert_int_equal(tv_ckpt_read_variables(c, s), TV_ERR_MISMATCH);
  assert_msg_has("dense_1/kernel: shape [4, 3] in file, [12] in model");
  assert_msg_has("dense_1: a group in file");
  tv_varstore_free(s);

  /* An unsealed store is a caller's mistake. */
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  int index;
  assert_int_equal(
      tv_varstore_declare(s, "dense_1/bias", tv_shape1(4), 1, TV_INIT_ZEROS, 1, 1, &index), TV_OK);
  assert_int_equal(tv_ckpt_read_variables(c, s), TV_ERR_INVALID);
  tv_varstore_free(s);
  tv_ckpt_close(c);
}

static void test_save_errors(void **state) {
  const char *dir = *state;
  tv_varstore *s = model_store(0.5f);
  tv_ckpt_header h = {.step = 1, .config_text = CONFIG};
  tv_ckpt_info info;
  char missing[PATH], file[PATH];
  join(missing, dir, "no/such/dir");
  assert_int_equal(tv_ckpt_save(missing, &h, s, NULL, 0, &info), TV_ERR_IO);
  assert_msg_has(missing);
  join(file, dir, "plain");
  write_text(file, "x");
  assert_int_equal(tv_ckpt_save(file, &h, s, NULL, 0, &info), TV_ERR_IO);
  assert_msg_has(file);
  if (geteuid() != 0) { /* root writes anywhere: the permission case needs a normal user */
    assert_int_equal(chmod(dir, 0500), 0);
    assert_int_equal(tv_ckpt_save(dir, &h, s, NULL, 0, &info), TV_ERR_IO);
    assert_msg_has(dir);
    assert_int_equal(chmod(dir, 0700), 0);
  }
  /* A bad array refuses the whole save and leaves nothing. */
  float x = 0;
  tv_ckpt_array bad = {.path = "/variables/x", .dtype = TV_CKPT_F32, .count = 1, .data = &x};
  assert_int_equal(tv_ckpt_save(dir, &h, s, &bad, 1, &info), TV_ERR_INVALID);
  assert_int_equal(count_files(dir, ".ckpt-"), 0);
  assert_int_equal(count_files(dir, "ckpt-"), 0);
  tv_varstore_free(s);
}

/* A full disk, simulated with RLIMIT_FSIZE in a child (writes past the limit fail with EFBIG):
 * an error, not a crash, and nothing left behind. */
static void test_save_disk_full(void **state) {
  const char *dir = *state;
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = 64 * 1024, .rlim_max = 64 * 1024};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(90);
    const spec big[] = {{"dense_1/kernel", {2, {512, 784}}}, {"dense_1/bias", {1, {512}}}};
    tv_varstore *s = make_store(big, 2, 0.5f);
    tv_ckpt_header h = {.step = 3, .config_text = CONFIG};
    tv_ckpt_info info;
    int rc = tv_ckpt_save(dir, &h, s, NULL, 0, &info);
    int ok = rc == TV_ERR_IO && strstr(tv_error_message(), dir) != NULL;
    if (!ok) fprintf(stderr, "disk full: rc %d: %s\n", rc, tv_error_message());
    /* A small checkpoint still fits: the library is usable after the failure. */
    tv_varstore *small = model_store(0.5f);
    h.step = 4;
    int rc2 = tv_ckpt_save(dir, &h, small, NULL, 0, &info);
    _exit(ok && rc2 == TV_OK ? 0 : 91);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(count_files(dir, ".ckpt-"), 0);
  assert_false(exists(dir, "ckpt-00000003.h5"));
  assert_true(exists(dir, "ckpt-00000004.h5"));
}

static void test_nonfinite_flag(void **state) {
  const char *dir = *state;
  tv_varstore *s = model_store(0.5f);
  tv_varstore_var(s, 1)->value[2] = NAN;
  tv_ckpt_header h = {.step = 2};
  tv_ckpt_info info;
  assert_int_equal(tv_ckpt_save(dir, &h, s, NULL, 0, &info), TV_OK);
  assert_false(info.finite);
  tv_varstore_var(s, 1)->value[2] = 0;
  float inf = INFINITY;
  tv_ckpt_array a = {.path = "/optimizer/v/x", .dtype = TV_CKPT_F32, .count = 1, .data = &inf};
  h.step = 3;
  assert_int_equal(tv_ckpt_save(dir, &h, s, &a, 1, &info), TV_OK);
  assert_false(info.finite);
  h.step = 4;
  assert_int_equal(tv_ckpt_save(dir, &h, s, NULL, 0, &info), TV_OK);
  assert_true(info.finite);
  tv_varstore_free(s);
}

/* ---- the manifest ------------------------------------------------------------------------ */

static tv_manifest_entry entry(int64_t step, uint32_t crc, const char *reason) {
  tv_manifest_entry e = {.step = step,
                         .size = 1000 + step,
                         .crc32c = crc,
                         .finite = step != 3,
                         .wall_time = 1732634000.5 + (double)step};
  assert_int_equal(tv_ckpt_file_name(step, e.file, sizeof e.file), TV_OK);
  snprintf(e.reason, sizeof e.reason, "%s", reason);
  return e;
}

static void test_manifest_roundtrip(void **state) {
  const char *dir = *state;
  tv_manifest m, r;
  tv_manifest_init(&m);
  tv_manifest_init(&r);
  assert_int_equal(tv_manifest_read(dir, &r), TV_ERR_NOT_FOUND);
  assert_int_equal(r.n, 0);
  assert_null(tv_manifest_latest(&m));
  tv_manifest_entry es[] = {entry(30, 0xdeadbeef, "periodic"), entry(10, 0x0000abcd, "signal"),
                            entry(20, 1, ""), entry(3, 2, "has: colon #"), entry(10, 7, "final")};
  for (int i = 0; i < 5; i++) assert_int_equal(tv_manifest_append(&m, &es[i]), TV_OK);
  assert_int_equal(m.n, 4);
  assert_int_equal(m.entries[0].step, 3);
  assert_int_equal(m.entries[1].crc32c, 7); /* step 10 replaced */
  assert_int_equal(tv_manifest_latest(&m)->step, 30);
  tv_manifest_entry neg = entry(0, 0, "");
  neg.step = -1;
  assert_int_equal(tv_manifest_append(&m, &neg), TV_ERR_INVALID);
  snprintf(m.status, sizeof m.status, "early_stopped");
  double before = tv_now();
  assert_int_equal(tv_manifest_write(dir, &m), TV_OK);
  assert_true(m.heartbeat >= before - 1e-3);
  assert_int_equal(m.pid, (long)getpid());

  assert_int_equal(tv_manifest_read(dir, &r), TV_OK);
  assert_string_equal(r.status, "early_stopped");
  assert_true(fabs(r.heartbeat - m.heartbeat) < 1e-5);
  assert_string_equal(r.host, m.host);
  char host[64] = "";
  gethostname(host, sizeof host - 1);
  if (host[0]) assert_string_equal(r.host, host);
  assert_int_equal(r.pid, (long)getpid());
  assert_int_equal(r.n, 4);
  for (int i = 0; i < 4; i++) {
    const tv_manifest_entry *a = &m.entries[i], *b = &r.entries[i];
    assert_int_equal(a->step, b->step);
    assert_string_equal(a->file, b->file);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->crc32c, b->crc32c);
    assert_true(fabs(a->wall_time - b->wall_time) < 1e-5);
    assert_int_equal(a->finite, b->finite);
    assert_string_equal(a->reason, b->reason);
  }
  assert_non_null(tv_manifest_find(&r, 20));
  assert_null(tv_manifest_find(&r, 21));

  /* The text is the documented, human-readable YAML. */
  char path[PATH], *text;
  size_t len;
  join(path, dir, TV_MANIFEST_FILE);
  assert_int_equal(tv_fs_read_all(path, &text, &len), TV_OK);
  const char *want[] = {"format: trainval.manifest\n",     "format_version: 1\n",
                        "status: early_stopped\n",         "  - step: 3\n",
                        "    file: ckpt-00000003.h5\n",    "    checksum: crc32c:00000007\n",
                        "    checksum: crc32c:deadbeef\n", "    finite: false\n",
                        "    reason: periodic\n"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(text, want[i])) fail_msg("manifest lacks \"%s\":\n%s", want[i], text);
  free(text);
  assert_int_equal(count_files(dir, TV_MANIFEST_FILE ".tmp"), 0);

  /* Empty manifest round trip, then an invalid one is refused before writing. */
  tv_manifest_free(&m);
  assert_int_equal(tv_manifest_write(dir, &m), TV_OK);
  assert_int_equal(tv_manifest_read(dir, &r), TV_OK);
  assert_int_equal(r.n, 0);
  assert_string_equal(r.status, "running");
  m.status[0] = '\0';
  assert_int_equal(tv_manifest_write(dir, &m), TV_ERR_INVALID);
  tv_manifest_free(&m);
  tv_manifest_free(&r);
  tv_manifest_free(NULL);
}

static const char good_head[] = "format: trainval.manifest\n"
                                "format_version: 1\n"
                                "status: running\n"
                                "heartbeat: 1732634096.5\n"
                                "host: box\n"
                                "pid: 42\n";

/* Writes good_head + rest as the manifest and reads it; returns the code. */
static int read_text(const char *dir, const char *head, const char *rest, tv_manifest *m) {
  char path[PATH], text[4096];
  join(path, dir, TV_MANIFEST_FILE);
  snprintf(text, sizeof text, "%s%s", head, rest);
  write_text(path, text);
  return tv_manifest_read(dir, m);
}

static void test_manifest_forward_compatible(void **state) {
  const char *dir = *state;
  tv_manifest m;
  tv_manifest_init(&m);
  assert_int_equal(read_text(dir, good_head,
                             "future: {a: 1, b: [2, 3]}\n"
                             "checkpoints:\n"
                             "- {step: 5, file: ckpt-00000005.h5, size: 9, checksum: "
                             "'crc32c:0A0B0C0D', finite: yes, new_field: x}\n"
                             "- step: 6\n  file: \"ckpt 6.h5\"\n  size: 10\n"
                             "  checksum: crc32c:00000001\n  finite: false\n",
                             &m),
                   TV_OK);
  assert_int_equal(m.n, 2);
  assert_int_equal(m.entries[0].crc32c, 0x0a0b0c0d);
  assert_int_equal(m.entries[0].finite, 1);
  assert_string_equal(m.entries[1].file, "ckpt 6.h5");
  assert_string_equal(m.entries[1].reason, "");
  assert_int_equal(m.pid, 42);
  /* An unknown status is kept; a trailing empty "checkpoints:" means none. */
  const char *head2 = "format: trainval.manifest\nformat_version: 1\nstatus: paused_v2\n"
                      "heartbeat: 1\nhost: box\npid: 1\n";
  assert_int_equal(read_text(dir, head2, "checkpoints:\n", &m), TV_OK);
  assert_string_equal(m.status, "paused_v2");
  assert_int_equal(m.n, 0);
  tv_manifest_free(&m);
}

static void test_manifest_malformed(void **state) {
  const char *dir = *state;
  tv_manifest m;
  tv_manifest_init(&m);
  char path[PATH];
  join(path, dir, TV_MANIFEST_FILE);
  struct {
    const char *head, *rest, *want;
  } cases[] = {
      /* YAML syntax: the parser's position. */
      {good_head, "checkpoints: [\n  {step: 1\n", ":9:1:"},
      {"format: trainval.manifest\n\tstatus: x\n", "", ":2:1:"},
      /* Valid YAML, wrong content: the offending node's position. */
      {good_head, "checkpoints:\n  - step: abc\n", ":8:11: step: expected an integer"},
      {good_head,
       "checkpoints:\n  - {step: 1, file: ../../etc/passwd, size: 1, checksum: crc32c:00000000, "
       "finite: true}\n",
       ":8:"},
      {good_head,
       "checkpoints:\n  - {step: 1, file: a.h5, size: 1, checksum: md5:00, finite: true}\n",
       "checksum"},
      {good_head,
       "checkpoints:\n  - {step: 2, file: a.h5, size: 1, checksum: crc32c:00000000, finite: true}\n"
       "  - {step: 1, file: b.h5, size: 1, checksum: crc32c:00000000, finite: true}\n",
       ":9:5: checkpoints: step 1 after step 2"},
      {good_head, "checkpoints:\n  - {step: 1, file: a.h5, size: 1, finite: true}\n",
       "missing key \"checksum\""},
      {good_head, "checkpoints: {}\n", "expected a sequence"},
      {good_head, "checkpoints: []\nretired: [3, 2]\n", ":8:14: retired: step 2 after step 3"},
      {good_head, "checkpoints: []\nretired: 5\n", "retired: expected a sequence"},
      {good_head,
       "checkpoints:\n  - {step: 1, file: a.h5, size: 1, checksum: crc32c:00000000, finite: true}\n"
       "retired: [1]\n",
       "retired: step 1 is also a committed checkpoint"},
      /* A NUL inside a scalar is refused, not cut short there ("a.h5" is a fine name). */
      {good_head,
       "checkpoints:\n  - {step: 1, file: \"a.h5\\0.evil\", size: 1, checksum: crc32c:00000000, "
       "finite: true}\n",
       ":8:21: file: holds a NUL byte"},
      {good_head,
       "checkpoints:\n  - {step: \"1\\0\", file: a.h5, size: 1, checksum: crc32c:00000000, "
       "finite: true}\n",
       ":8:12: step: holds a NUL byte"},
      {good_head, "pid: 7\ncheckpoints: []\n", "pid: given twice"},
      {"format: trainval.manifest\nformat_version: 2\n", "status: [whatever]\n", "newer"},
      {"format: something.else\nformat_version: 1\n", "", "something.else"},
      {"- just\n- a list\n", "", ":1:1:"},
      {"", "", ":1:1: empty"},
      {"format: trainval.manifest\nformat_version: 1\n", "checkpoints: []\n", "status"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = read_text(dir, cases[i].head, cases[i].rest, &m);
    if (rc != TV_ERR_FORMAT) fail_msg("case %zu: rc %d: %s", i, rc, tv_error_message());
    assert_msg_has(path);
    if (!strstr(tv_error_message(), cases[i].want))
      fail_msg("case %zu: \"%s\" lacks \"%s\"", i, tv_error_message(), cases[i].want);
    assert_int_equal(m.n, 0);
    assert_null(m.entries);
  }
  tv_manifest_free(&m);
}

/* retired: the steps retention deleted, ascending, bounded, never also committed. */
static void test_manifest_retired(void **state) {
  const char *dir = *state;
  tv_manifest m, r;
  tv_manifest_init(&m);
  tv_manifest_init(&r);
  tv_manifest_entry e = entry(40, 1, "periodic");
  assert_int_equal(tv_manifest_append(&m, &e), TV_OK);
  assert_int_equal(tv_manifest_write(dir, &m), TV_OK);
  char path[PATH];
  join(path, dir, TV_MANIFEST_FILE);
  char *text;
  size_t len;
  assert_int_equal(tv_fs_read_all(path, &text, &len), TV_OK);
  assert_null(strstr(text, "retired")); /* absent while empty: older manifests read the same */
  free(text);
  int64_t steps[] = {30, 10, 20, 20};
  for (int i = 0; i < 4; i++) assert_int_equal(tv_manifest_retire(&m, steps[i]), TV_OK);
  assert_int_equal(tv_manifest_retire(&m, -1), TV_ERR_INVALID);
  assert_int_equal(m.n_retired, 3);
  assert_int_equal(tv_manifest_write(dir, &m), TV_OK);
  assert_int_equal(tv_fs_read_all(path, &text, &len), TV_OK);
  assert_non_null(strstr(text, "\nretired: [10, 20, 30]\ncheckpoints:\n"));
  free(text);
  assert_int_equal(tv_manifest_read(dir, &r), TV_OK);
  assert_int_equal(r.n_retired, 3);
  assert_int_equal(r.retired[0], 10);
  assert_int_equal(r.retired[1], 20);
  assert_int_equal(r.retired[2], 30);
  /* Committing a retired step again takes it off the list. */
  e = entry(20, 2, "periodic");
  assert_int_equal(tv_manifest_append(&m, &e), TV_OK);
  assert_int_equal(m.n_retired, 2);
  assert_int_equal(m.retired[1], 30);
  /* The list keeps the newest TV_MANIFEST_RETIRED_MAX. */
  for (int64_t s = 100; s < 100 + TV_MANIFEST_RETIRED_MAX; s++)
    assert_int_equal(tv_manifest_retire(&m, s), TV_OK);
  assert_int_equal(m.n_retired, TV_MANIFEST_RETIRED_MAX);
  assert_int_equal(m.retired[0], 100);
  assert_int_equal(tv_manifest_retire(&m, 5), TV_OK); /* older than all: forgotten at once */
  assert_int_equal(m.retired[0], 100);
  assert_int_equal(tv_manifest_write(dir, &m), TV_OK);
  assert_int_equal(tv_manifest_read(dir, &r), TV_OK);
  assert_int_equal(r.n_retired, TV_MANIFEST_RETIRED_MAX);
  tv_manifest_free(&r);
  tv_manifest_free(&m);
  assert_null(m.retired);
}

/* ---- commit, retention, resolution ------------------------------------------------------- */

/* A commit that keeps the newest n (0: all) and nothing else. */
#define KEEP(n) (&(tv_retention_policy){.max_to_keep = (n)})

static int keep_step_1(void *ctx, const tv_manifest_entry *e) {
  (*(int *)ctx)++;
  return e->step == 1;
}

static void test_commit_retention(void **state) {
  const char *dir = *state;
  tv_manifest m;
  tv_manifest_init(&m);
  for (int64_t step = 1; step <= 5; step++) {
    tv_ckpt_info info;
    save_model(dir, step, (float)step, &info);
    assert_int_equal(
        tv_ckpt_commit(dir, &m, &info, info.step, info.wall_time, 1, "periodic", KEEP(2)), TV_OK);
    assert_int_equal(m.n, step < 2 ? step : 2);
    assert_int_equal(tv_manifest_latest(&m)->step, step);
  }
  assert_int_equal(count_files(dir, "ckpt-"), 2);
  assert_true(exists(dir, "ckpt-00000004.h5"));
  assert_true(exists(dir, "ckpt-00000005.h5"));
  tv_manifest r;
  tv_manifest_init(&r);
  assert_int_equal(tv_manifest_read(dir, &r), TV_OK);
  assert_int_equal(r.n, 2);
  assert_int_equal(r.entries[0].step, 4);
  assert_int_equal(r.entries[1].step, 5);
  assert_string_equal(r.entries[1].reason, "periodic");
  /* What retention deleted, the manifest remembers (for evaluators that had not reached it). */
  assert_int_equal(r.n_retired, 3);
  assert_int_equal(r.retired[0], 1);
  assert_int_equal(r.retired[2], 3);
  assert_int_equal(m.n_retired, 3);
  /* The committed entry describes the file on disk. */
  char path[PATH];
  join(path, dir, r.entries[1].file);
  tv_ckpt_info expect = {.size = r.entries[1].size, .crc32c = r.entries[1].crc32c};
  tv_ckpt *c;
  assert_int_equal(tv_ckpt_open(path, &expect, &c), TV_OK);
  assert_int_equal(tv_ckpt_step(c), 5);
  tv_ckpt_close(c);
  tv_manifest_free(&r);

  /* max_to_keep 0 keeps everything; a bad reason is refused. */
  tv_ckpt_info info;
  save_model(dir, 6, 6.0f, &info);
  assert_int_equal(
      tv_ckpt_commit(dir, &m, &info, info.step, info.wall_time, 1, "a reason too long", KEEP(0)),
      TV_ERR_INVALID);
  assert_int_equal(
      tv_ckpt_commit(dir, &m, &info, info.step + 1, info.wall_time, 1, "final", KEEP(0)),
      TV_ERR_INVALID); /* the step must be the saved one */
  assert_int_equal(tv_ckpt_commit(dir, &m, &info, info.step, info.wall_time, 1, "final", KEEP(-1)),
                   TV_ERR_INVALID); /* a bad retention policy, refused before anything changes */
  assert_int_equal(m.n, 2);
  assert_int_equal(tv_ckpt_commit(dir, &m, &info, info.step, 123.5, 0, "final", KEEP(0)), TV_OK);
  assert_int_equal(m.n, 3);
  assert_false(tv_manifest_latest(&m)->finite); /* the caller's verdict is recorded */
  assert_true(tv_manifest_latest(&m)->wall_time == 123.5);
  info.finite = 0; /* and so is the save's own scan: finite = finite && info.finite */
  assert_int_equal(tv_ckpt_commit(dir, &m, &info, info.step, 1.0, 1, "final", KEEP(0)), TV_OK);
  assert_int_equal(m.n, 3); /* the same step replaced */
  assert_false(tv_manifest_latest(&m)->finite);
  info.finite = 1;
  assert_int_equal(tv_ckpt_commit(dir, &m, &info, info.step, 1.0, 1, "final", KEEP(0)), TV_OK);
  assert_true(tv_manifest_latest(&m)->finite);
  /* A failed manifest write leaves m and the files alone. */
  char missing[PATH];
  join(missing, dir, "gone");
  save_model(dir, 7, 7.0f, &info);
  assert_int_equal(tv_ckpt_commit(missing, &m, &info, info.step, info.wall_time, 1, "x", KEEP(1)),
                   TV_ERR_IO);
  assert_int_equal(m.n, 3);
  assert_int_equal(count_files(dir, "ckpt-"), 4);
  tv_manifest_free(&m);
}

static void test_commit_keep_veto(void **state) {
  const char *dir = *state;
  tv_manifest m;
  tv_manifest_init(&m);
  int calls = 0;
  for (int64_t step = 1; step <= 5; step++) {
    tv_ckpt_info info;
    save_model(dir, step, (float)step, &info);
    assert_int_equal(tv_ckpt_commit(dir, &m, &info, info.step, info.wall_time, 1, "periodic",
                                    &(tv_retention_policy){
                                        .max_to_keep = 2, .veto = keep_step_1, .veto_ctx = &calls}),
                     TV_OK);
  }
  assert_true(calls > 0);
  assert_int_equal(m.n, 3);
  assert_int_equal(m.entries[0].step, 1);
  assert_int_equal(m.entries[1].step, 4);
  assert_int_equal(m.entries[2].step, 5);
  assert_int_equal(count_files(dir, "ckpt-"), 3);
  assert_true(exists(dir, "ckpt-00000001.h5"));
  assert_false(exists(dir, "ckpt-00000002.h5"));
  assert_false(exists(dir, "ckpt-00000003.h5"));
  /* A file already gone is not an error when retention drops its entry. */
  char path[PATH];
  join(path, dir, "ckpt-00000004.h5");
  assert_int_equal(unlink(path), 0);
  tv_ckpt_info info;
  save_model(dir, 6, 6.0f, &info);
  assert_int_equal(tv_ckpt_commit(dir, &m, &info, info.step, info.wall_time, 1, "periodic",
                                  &(tv_retention_policy){
                                      .max_to_keep = 2, .veto = keep_step_1, .veto_ctx = &calls}),
                   TV_OK);
  assert_int_equal(m.n, 3);
  assert_int_equal(m.entries[1].step, 5);
  tv_manifest_free(&m);
}

static void test_resolve(void **state) {
  const char *dir = *state;
  char path[PATH], want[PATH];
  tv_manifest_entry e;
  assert_int_equal(tv_ckpt_resolve(dir, "latest", path, sizeof path, &e), TV_ERR_NOT_FOUND);
  tv_manifest m;
  tv_manifest_init(&m);
  assert_int_equal(tv_manifest_write(dir, &m), TV_OK);
  assert_int_equal(tv_ckpt_resolve(dir, "latest", path, sizeof path, &e), TV_ERR_NOT_FOUND);
  assert_msg_has("no checkpoint");
  tv_ckpt_info infos[3];
  for (int i = 0; i < 3; i++) {
    save_model(dir, 1000 * (i + 1), 1.0f, &infos[i]);
    assert_int_equal(tv_ckpt_commit(dir, &m, &infos[i], infos[i].step, 0, 1, "periodic", KEEP(0)),
                     TV_OK);
  }
  assert_int_equal(tv_ckpt_resolve(dir, "latest", path, sizeof path, &e), TV_OK);
  join(want, dir, "ckpt-00003000.h5");
  assert_string_equal(path, want);
  assert_int_equal(e.step, 3000);
  assert_int_equal(e.crc32c, infos[2].crc32c);
  assert_int_equal(tv_ckpt_resolve(dir, "2000", path, sizeof path, NULL), TV_OK);
  join(want, dir, "ckpt-00002000.h5");
  assert_string_equal(path, want);
  assert_int_equal(tv_ckpt_resolve(dir, "ckpt-00001000.h5", path, sizeof path, &e), TV_OK);
  assert_int_equal(e.step, 1000);
  assert_int_equal(tv_ckpt_resolve(dir, "2500", path, sizeof path, &e), TV_ERR_NOT_FOUND);
  assert_msg_has("2500");
  assert_int_equal(tv_ckpt_resolve(dir, "ckpt-00000001.h5", path, sizeof path, &e),
                   TV_ERR_NOT_FOUND);
  assert_int_equal(tv_ckpt_resolve(dir, "newest", path, sizeof path, &e), TV_ERR_INVALID);
  assert_int_equal(tv_ckpt_resolve(dir, "latest", path, 8, &e), TV_ERR_INVALID);
  /* The resolved entry opens with its checksum verified. */
  assert_int_equal(tv_ckpt_resolve(dir, "latest", path, sizeof path, &e), TV_OK);
  tv_ckpt *c;
  tv_ckpt_info expect = {.size = e.size, .crc32c = e.crc32c};
  assert_int_equal(tv_ckpt_open(path, &expect, &c), TV_OK);
  tv_ckpt_close(c);
  tv_manifest_free(&m);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, tvt_setup_tmpdir, teardown_dir)
  const struct CMUnitTest tests[] = {
      T(test_save_roundtrip),
      T(test_writer_attrs_and_rules),
      T(test_layout_as_hdf5_sees_it),
      T(test_layout_as_h5dump_sees_it),
      T(test_h5py_checker),
      T(test_h5py_written_loads),
      T(test_checksum_verified),
      T(test_unreadable_links),
      T(test_truncated_and_garbage),
      T(test_self_verifying),
      T(test_without_userblock),
      T(test_hdf5_crash_contained),
      T(test_foreign_hdf5),
      T(test_variables_mismatch),
      T(test_save_errors),
      T(test_save_disk_full),
      T(test_nonfinite_flag),
      T(test_manifest_roundtrip),
      T(test_manifest_forward_compatible),
      T(test_manifest_malformed),
      T(test_manifest_retired),
      T(test_commit_retention),
      T(test_commit_keep_veto),
      T(test_resolve),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
