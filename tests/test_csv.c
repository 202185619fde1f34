/* test_csv.c — the CSV reader (data.h, CSV FILES) on real files written to a temporary
 * directory, plain and gzip (written by zlib's gzip writer): RFC 4180 quoting, CRLF, embedded
 * line breaks, headers, delimiters, comments, column lists, class labels and names, missing
 * values, a separate targets file, scikit-learn's bundled CSVs when installed, and every
 * malformed input as one "file:line:col: problem" error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "testutil.h"
#include "trainval/data.h"

static char *path_in(void **state, const char *name) {
  static char p[1024];
  snprintf(p, sizeof p, "%s/%s", (const char *)*state, name);
  return p;
}

static const char *write_file(void **state, const char *name, const char *text) {
  const char *p = path_in(state, name);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  assert_int_equal(fclose(f), 0);
  return p;
}

#define assert_msg_has(s) assert_msg_has_(s, __FILE__, __LINE__)
static void assert_msg_has_(const char *s, const char *file, int line) {
  if (!strstr(tv_error_message(), s))
    fail_msg("%s:%d: message \"%s\" lacks \"%s\"", file, line, tv_error_message(), s);
}

static int load(const char *x, const char *y, tv_data_spec sp, tv_dataset *ds) {
  sp.format = "csv";
  sp.x = x;
  sp.y = y;
  return tv_data_load(&sp, ds);
}

/* Quoted fields with doubled quotes and an embedded line break, CRLF records,
 * columns by name, string labels to sorted ids with the names kept. */
static void test_rfc4180(void **state) {
  const char *p = write_file(state, "a.csv",
                             "name,\"x \"\"q\"\"\",y,kind\r\n"
                             "\"say \"\"hi\"\"\",1.5,-2,cat\r\n"
                             "\"two\nlines\",2.5,3e1,ant\r\n"
                             "plain,0x10,4,cat");
  tv_dataset ds;
  tv_data_spec sp = {.features = "x \"q\", y", .target = "kind"};
  assert_int_equal(load(p, NULL, sp, &ds), TV_OK);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.c, 2);
  assert_true(ds.h == 1 && ds.w == 1 && ds.features && !ds.images);
  const float want[] = {1.5f, -2, 2.5f, 30, 16, 4};
  for (int i = 0; i < 6; i++) assert_true(ds.features[i] == want[i]);
  assert_int_equal(ds.num_classes, 2);
  assert_string_equal(ds.names[0], "ant");
  assert_string_equal(ds.names[1], "cat");
  assert_int_equal(ds.labels[0], 1);
  assert_int_equal(ds.labels[1], 0);
  assert_int_equal(ds.labels[2], 1);
  tv_dataset_free(&ds);
  /* first-seen order; the quoted text itself as a label, unescaped */
  sp = (tv_data_spec){.features = "1-2", .target = "0", .first_seen = 1};
  assert_int_equal(load(p, NULL, sp, &ds), TV_OK);
  assert_int_equal(ds.num_classes, 3);
  assert_string_equal(ds.names[0], "say \"hi\"");
  assert_string_equal(ds.names[1], "two\nlines");
  assert_string_equal(ds.names[2], "plain");
  tv_dataset_free(&ds);
}

/* Integer labels are class ids as written; no header, another delimiter, comments, empty lines,
 * skip_rows; default columns (features: all but the target, the last). */
static void test_options(void **state) {
  const char *p = write_file(state, "b.txt",
                             "a junk line; with \"quotes\n"
                             "# a comment\n"
                             "1;2;0\n"
                             "\n"
                             "3;4;2\n"
                             "# another\n"
                             "5;6;1\n");
  tv_dataset ds;
  tv_data_spec sp = {.delimiter = ';', .comment = '#', .no_header = 1, .skip_rows = 1};
  assert_int_equal(load(p, NULL, sp, &ds), TV_OK);
  assert_int_equal(ds.n, 3);
  assert_int_equal(ds.c, 2);
  assert_null(ds.names);
  assert_int_equal(ds.num_classes, 3);
  assert_int_equal(ds.labels[0], 0);
  assert_int_equal(ds.labels[1], 2);
  assert_int_equal(ds.labels[2], 1);
  assert_true(ds.features[4] == 5 && ds.features[5] == 6);
  tv_dataset_free(&ds);
  /* float targets: two target columns by number */
  sp.float_targets = 1;
  sp.target = "1-2";
  sp.features = "0";
  assert_int_equal(load(p, NULL, sp, &ds), TV_OK);
  assert_int_equal(ds.target_dim, 2);
  assert_null(ds.labels);
  assert_true(ds.targets[2] == 4 && ds.targets[3] == 2);
  tv_dataset_free(&ds);
}

/* A gzip file reads as its text; a cut one is an error, never a short table. */
static void test_gzip(void **state) {
  const char *text = "f,t\n1,0\n2,1\n3,0\n";
  const char *p = path_in(state, "c.csv.gz");
  gzFile g = gzopen(p, "wb");
  assert_non_null(g);
  assert_int_equal(gzputs(g, text), (int)strlen(text));
  assert_int_equal(gzclose(g), Z_OK);
  tv_dataset ds;
  assert_int_equal(load(p, NULL, (tv_data_spec){0}, &ds), TV_OK);
  assert_int_equal(ds.n, 3);
  assert_true(ds.features[2] == 3);
  tv_dataset_free(&ds);
  FILE *f = fopen(p, "rb");
  assert_non_null(f);
  unsigned char buf[256];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  char cut[1024];
  snprintf(cut, sizeof cut, "%s", path_in(state, "cut.csv.gz"));
  f = fopen(cut, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(buf, 1, n - 6, f), n - 6);
  fclose(f);
  assert_int_equal(load(cut, NULL, (tv_data_spec){0}, &ds), TV_ERR_FORMAT);
  assert_msg_has("truncated gzip stream");
  assert_null(ds.features);
}

/* A UTF-8 byte order mark before the header is not part of the first column's name. */
static void test_bom(void **state) {
  const char *p = write_file(state, "bom.csv",
                             "\xef\xbb\xbf"
                             "a,b\n1,0\n");
  tv_dataset ds;
  assert_int_equal(load(p, NULL, (tv_data_spec){.features = "a", .target = "b"}, &ds), TV_OK);
  assert_true(ds.n == 1 && ds.features[0] == 1);
  tv_dataset_free(&ds);
}

/* Missing values: an error naming file:line:col and the column, or the fill value. */
static void test_missing(void **state) {
  const char *p = write_file(state, "d.csv", "u,v,w\n1,,0\n2,3,1\n");
  tv_dataset ds;
  assert_int_equal(load(p, NULL, (tv_data_spec){0}, &ds), TV_ERR_FORMAT);
  char want[1100];
  snprintf(want, sizeof want, "%s:2:3: column \"v\": missing value", p);
  assert_msg_has(want);
  assert_null(ds.features);
  assert_int_equal(load(p, NULL, (tv_data_spec){.has_fill = 1, .fill = -7}, &ds), TV_OK);
  assert_true(ds.features[1] == -7);
  tv_dataset_free(&ds);
}

/* Features in one file, targets in another (scikit-learn's diabetes layout). */
static void test_separate_targets(void **state) {
  char x[1024];
  snprintf(x, sizeof x, "%s", write_file(state, "x.txt", "1 2\n3 4\n5 6\n"));
  const char *y = write_file(state, "y.txt", "10\n20\n30\n");
  tv_dataset ds;
  tv_data_spec sp = {.delimiter = ' ', .no_header = 1, .float_targets = 1};
  assert_int_equal(load(x, y, sp, &ds), TV_OK);
  assert_int_equal(ds.c, 2);
  assert_int_equal(ds.target_dim, 1);
  assert_true(ds.targets[2] == 30 && ds.features[5] == 6);
  tv_dataset_free(&ds);
  const char *y2 = write_file(state, "y2.txt", "10\n20\n");
  assert_int_equal(load(x, y2, sp, &ds), TV_ERR_FORMAT);
  assert_msg_has("holds 3 records but");
}

/* Every malformed input is one error naming file:line:col. */
static void test_malformed(void **state) {
  static const struct {
    const char *text, *want;
    tv_data_spec sp;
  } cases[] = {
      {"a,b\n1,\"2\n", ":2:3: a quoted field is not closed", {0}},
      {"a,b\n1,\"2\"x\n", ":2:6: text after a quoted field's closing quote", {0}},
      {"a,b\n1,2\"\n", ":2:4: a quote inside an unquoted field", {0}},
      {"a,b\n1,2\n3\n", ":3:1: 1 fields, but the header has 2", {0}},
      {"a,b\n1,2,3\n", ":2:1: 3 fields, but the header has 2", {0}},
      {"a,b\n1x,2\n", ":2:1: column \"a\": \"1x\" is not a finite number", {0}},
      {"a,b\nnan,2\n", ":2:1: column \"a\": \"nan\" is not a finite number", {0}},
      {"a,b\n1e39,2\n", ":2:1: column \"a\": \"1e39\" is not a finite number", {0}},
      {"a,b\n 1,2\n", ":2:1: column \"a\": \" 1\" is not a finite number", {0}},
      {"a,b\n1\r2,3\n", ":2:2: a carriage return not followed by a line feed", {0}},
      {"a,b\n", ": a header but no data records", {0}},
      {"", ": no records", {0}},
      {"a,b\n1,2\n", ": feature column \"zz\" is not in the file (a, b)", {.features = "zz"}},
      {"a,b\n1,2\n", ": target column \"9\" is not in the file", {.target = "9"}},
      {"a,b\n1,2\n",
       ": feature columns name column \"a\" twice",
       {.features = "a,0", .target = "b"}},
      {"a,b\n1,2\n", ": class labels come from one column", {.target = "a,b"}},
      {"a\n1\n", ": no feature columns are left beside the targets", {0}},
      {"a,b\n1,x\n2,\n", ":3:3: column \"b\": missing class label", {0}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "bad%zu.csv", i);
    char p[1024];
    snprintf(p, sizeof p, "%s", write_file(state, name, cases[i].text));
    tv_dataset ds;
    int rc = load(p, NULL, cases[i].sp, &ds);
    if (rc == TV_OK) fail_msg("case %zu (%s) loaded", i, cases[i].want);
    char want[1200];
    snprintf(want, sizeof want, "%s%s", p, cases[i].want);
    if (!strstr(tv_error_message(), want))
      fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, tv_error_message(), want);
    assert_null(strchr(tv_error_message(), '\n'));
    assert_true(ds.n == 0 && !ds.features && !ds.labels && !ds.names);
  }
  tv_dataset ds;
  assert_int_equal(load(path_in(state, "none.csv"), NULL, (tv_data_spec){0}, &ds),
                   TV_ERR_NOT_FOUND);
}

/* scikit-learn's bundled files as the example configs read them. */
static void test_sklearn_files(void **state) {
  (void)state;
  const char *dir = "/usr/lib/python3/dist-packages/sklearn/datasets/data";
  char p[512], q[512];
  snprintf(p, sizeof p, "%s/iris.csv", dir);
  if (access(p, R_OK) != 0) skip();
  tv_dataset ds;
  assert_int_equal(load(p, NULL, (tv_data_spec){.no_header = 1, .skip_rows = 1}, &ds), TV_OK);
  assert_int_equal(ds.n, 150);
  assert_int_equal(ds.c, 4);
  assert_int_equal(ds.num_classes, 3);
  assert_true(ds.features[0] == 5.1f && ds.labels[149] == 2);
  tv_dataset_free(&ds);
  snprintf(p, sizeof p, "%s/digits.csv.gz", dir);
  assert_int_equal(load(p, NULL, (tv_data_spec){.no_header = 1}, &ds), TV_OK);
  assert_int_equal(ds.n, 1797);
  assert_int_equal(ds.c, 64);
  assert_int_equal(ds.num_classes, 10);
  tv_dataset_free(&ds);
  snprintf(p, sizeof p, "%s/diabetes_data_raw.csv.gz", dir);
  snprintf(q, sizeof q, "%s/diabetes_target.csv.gz", dir);
  tv_data_spec sp = {.no_header = 1, .delimiter = ' ', .float_targets = 1};
  assert_int_equal(load(p, q, sp, &ds), TV_OK);
  assert_int_equal(ds.n, 442);
  assert_int_equal(ds.c, 10);
  assert_int_equal(ds.target_dim, 1);
  assert_true(ds.targets[0] == 151.0f && ds.features[0] == 59.0f);
  tv_dataset_free(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_rfc4180, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_options, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_gzip, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_missing, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_bom, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_separate_targets, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_malformed, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test(test_sklearn_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
