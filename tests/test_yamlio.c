/* test_yamlio.c — the shared text and YAML plumbing (yamlio.h): the quoting rules the
 * train_dir's files are written with (plain words, quoted bool/null look-alikes, escapes), JSON
 * strings and numbers, and the document reader's typed getters and error positions
 * ("path:LINE:COL: problem", TV_ERR_FORMAT).  Each reader test gets a fresh temporary directory.
 */
#include "base/yamlio.h"

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

#include "base/fs.h"

/* ---- text building ------------------------------------------------------------------------- */

static void expect_yaml(const char *s, unsigned flags, const char *want) {
  tv_text t = {0};
  tv_text_yaml_str(&t, s, flags);
  assert_int_equal(tv_text_check(&t, "x"), TV_OK);
  assert_string_equal(t.p, want);
  assert_int_equal(t.n, strlen(want));
  tv_text_free(&t);
}

static void test_yaml_str(void **state) {
  (void)state;
  expect_yaml("running", 0, "running");
  expect_yaml("ckpt-00001000.h5", 0, "ckpt-00001000.h5");
  expect_yaml("x.y_z-w", 0, "x.y_z-w");
  expect_yaml("", 0, "\"\"");
  expect_yaml("1abc", 0, "\"1abc\"");
  expect_yaml("a b", 0, "\"a b\"");
  /* Words YAML 1.1 reads as bools or null are quoted, in any case. */
  static const char *const reserved[] = {"true", "False", "YES", "no", "On",
                                         "off",  "null",  "y",   "N"};
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
    char want[32];
    snprintf(want, sizeof want, "\"%s\"", reserved[i]);
    expect_yaml(reserved[i], 0, want);
  }
  /* "none": plain by default (checkpoints.yaml), quoted on request (state.yaml, STOP). */
  expect_yaml("none", 0, "none");
  expect_yaml("None", TV_TEXT_YAML_QUOTE_NONE, "\"None\"");
  expect_yaml("nones", TV_TEXT_YAML_QUOTE_NONE, "nones");
  /* Valid UTF-8 passes through (it reads back the same); an invalid byte becomes \ufffd. */
  expect_yaml("a\"b\\c\n\t\x01\x7f\xc3\xa9", 0, "\"a\\\"b\\\\c\\n\\t\\x01\\x7f\xc3\xa9\"");
  expect_yaml("d\xc3", 0, "\"d\\ufffd\"");
  /* Paths are plain; a leading '_' too; what starts otherwise is quoted. */
  expect_yaml("/usr/share/datasets/fashion-mnist", 0, "/usr/share/datasets/fashion-mnist");
  expect_yaml("_x", 0, "_x");
  expect_yaml(".inf", 0, "\".inf\"");
  expect_yaml("-x", 0, "\"-x\"");
  expect_yaml("a:b", 0, "\"a:b\"");
}

/* Each case: the bytes, what the YAML writer makes of them, and what libyaml reads back. */
static void test_yaml_str_utf8(void **state) {
  (void)state;
  static const struct {
    const char *in, *out, *back;
  } cases[] = {
      {"\xc3\xa9t\xc3\xa9", "\"\xc3\xa9t\xc3\xa9\"", "\xc3\xa9t\xc3\xa9"}, /* 2-byte */
      {"\xe2\x82\xac", "\"\xe2\x82\xac\"", "\xe2\x82\xac"},                /* 3-byte: euro */
      {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"", "\xf0\x9f\x98\x80"},    /* 4-byte */
      {"\xc2\x85", "\"\\u0085\"", "\xc2\x85"},                        /* NEL: a line break if raw */
      {"\xe2\x80\xa8", "\"\\u2028\"", "\xe2\x80\xa8"},                /* line separator */
      {"\xef\xbb\xbf", "\"\\ufeff\"", "\xef\xbb\xbf"},                /* byte order mark */
      {"\xc2\x9f", "\"\\u009f\"", "\xc2\x9f"},                        /* C1 control */
      {"\xc0\xaf", "\"\\ufffd\\ufffd\"", "\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong '/' */
      {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"", NULL},            /* a surrogate */
      {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"", NULL}, /* above U+10FFFF */
      {"\xe2\x82", "\"\\ufffd\\ufffd\"", NULL},                       /* truncated */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tv_text t = {0};
    tv_text_yaml_str(&t, cases[i].in, 0);
    assert_int_equal(tv_text_check(&t, "x"), TV_OK);
    assert_string_equal(t.p, cases[i].out);
    tv_text_printf(&t, "\n");
    tv_ydoc *d = NULL;
    if (tv_ydoc_parse(t.p, t.n, "s.yaml", 0, &d) != TV_OK)
      fail_msg("case %zu: %s does not read back: %s", i, t.p, tv_error_message());
    const yaml_node_t *root = tv_ydoc_root(d);
    assert_non_null(root);
    assert_int_equal(root->type, YAML_SCALAR_NODE);
    if (cases[i].back) assert_string_equal((const char *)root->data.scalar.value, cases[i].back);
    tv_ydoc_free(d);
    tv_text_free(&t);
  }
}

static void test_yaml_f64(void **state) {
  (void)state;
  static const struct {
    double x;
    const char *want;
  } cases[] = {{1, "1.0"},
               {0.1, "0.1"},
               {1e-5, "1.0e-05"},
               {-0.0, "-0.0"},
               {1.0 / 3, "0.3333333333333333"},
               {3e-4, "0.0003"},
               {1e300, "1.0e+300"},
               {INFINITY, "inf"},
               {NAN, "nan"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[TV_YAML_F64_CAP];
    tv_yaml_f64_str(buf, cases[i].x);
    assert_string_equal(buf, cases[i].want);
    double back = 0;
    if (isfinite(cases[i].x)) {
      assert_int_equal(tv_yaml_parse_f64(buf, &back), TV_YAML_PARSE_OK);
      assert_memory_equal(&back, &cases[i].x, sizeof back);
    }
  }
  tv_text t = {0};
  tv_text_yaml_f64(&t, 2.5);
  assert_string_equal(t.p, "2.5");
  tv_text_free(&t);
}

/* The scalar rules every reader (config, manifest, state, STOP) shares. */
static void test_scalar_rules(void **state) {
  (void)state;
  int64_t i = 7;
  uint64_t u = 7;
  double f = 7;
  int b = 7;
  assert_int_equal(tv_yaml_parse_i64("-12", &i), TV_YAML_PARSE_OK);
  assert_int_equal(i, -12);
  assert_int_equal(tv_yaml_parse_i64("+3", &i), TV_YAML_PARSE_OK);
  assert_int_equal(i, 3);
  static const char *const not_int[] = {"", " 1", "1 ", "0x10", "1_000", "1.0", "--1", "+", "a"};
  for (size_t k = 0; k < sizeof not_int / sizeof not_int[0]; k++)
    assert_int_equal(tv_yaml_parse_i64(not_int[k], &i), TV_YAML_PARSE_SYNTAX);
  assert_int_equal(i, 3);
  assert_int_equal(tv_yaml_parse_i64("9223372036854775807", &i), TV_YAML_PARSE_OK);
  assert_true(i == INT64_MAX);
  assert_int_equal(tv_yaml_parse_i64("9223372036854775808", &i), TV_YAML_PARSE_RANGE);
  assert_int_equal(tv_yaml_parse_u64("18446744073709551615", &u), TV_YAML_PARSE_OK);
  assert_true(u == UINT64_MAX);
  assert_int_equal(tv_yaml_parse_u64("+1", &u), TV_YAML_PARSE_OK);
  assert_true(u == 1);
  assert_int_equal(tv_yaml_parse_u64("-1", &u), TV_YAML_PARSE_SYNTAX);
  assert_int_equal(tv_yaml_parse_u64("18446744073709551616", &u), TV_YAML_PARSE_RANGE);
  assert_true(u == 1);
  assert_int_equal(tv_yaml_parse_f64("1e-3", &f), TV_YAML_PARSE_OK);
  assert_true(f == 1e-3);
  assert_int_equal(tv_yaml_parse_f64(".5", &f), TV_YAML_PARSE_OK);
  assert_true(f == 0.5);
  assert_int_equal(tv_yaml_parse_f64("inf", &f), TV_YAML_PARSE_RANGE);
  assert_int_equal(tv_yaml_parse_f64("nan", &f), TV_YAML_PARSE_RANGE);
  assert_int_equal(tv_yaml_parse_f64("1e999", &f), TV_YAML_PARSE_RANGE);
  assert_int_equal(tv_yaml_parse_f64(".inf", &f), TV_YAML_PARSE_SYNTAX);
  assert_int_equal(tv_yaml_parse_f64(" 1", &f), TV_YAML_PARSE_SYNTAX);
  assert_int_equal(tv_yaml_parse_f64("1x", &f), TV_YAML_PARSE_SYNTAX);
  assert_int_equal(tv_yaml_parse_f64("", &f), TV_YAML_PARSE_SYNTAX);
  assert_true(f == 0.5);
  /* YAML 1.1 booleans, any case; y and n are not booleans. */
  static const char *const yes[] = {"true", "True", "YES", "on", "On", "ON"};
  static const char *const no[] = {"false", "FALSE", "no", "No", "off", "OFF"};
  for (size_t k = 0; k < 6; k++) {
    assert_int_equal(tv_yaml_parse_bool(yes[k], &b), TV_YAML_PARSE_OK);
    assert_int_equal(b, 1);
    assert_int_equal(tv_yaml_parse_bool(no[k], &b), TV_YAML_PARSE_OK);
    assert_int_equal(b, 0);
  }
  static const char *const not_bool[] = {"y", "n", "1", "0", "", "truee", "o"};
  for (size_t k = 0; k < sizeof not_bool / sizeof not_bool[0]; k++)
    assert_int_equal(tv_yaml_parse_bool(not_bool[k], &b), TV_YAML_PARSE_SYNTAX);
  assert_int_equal(b, 0);
}

static void test_null_and_keys(void **state) {
  (void)state;
  tv_ydoc *d;
  const char *text = "[~, null, Null, NULL, {k: }, \"null\", 'null', nul, {a: 1}, \"a\\0b\"]\n";
  assert_int_equal(tv_ydoc_parse(text, strlen(text), "n.yaml", 0, &d), TV_OK);
  const yaml_node_t *seq = tv_ydoc_root(d);
  const int want[] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0};
  assert_int_equal(seq->data.sequence.items.top - seq->data.sequence.items.start, 10);
  for (int k = 0; k < 10; k++)
    assert_int_equal(tv_yaml_is_null(tv_ydoc_node(d, seq->data.sequence.items.start[k])), want[k]);
  /* `k:` with nothing after it is a null value. */
  const yaml_node_t *empty;
  assert_int_equal(
      tv_ydoc_field(d, tv_ydoc_node(d, seq->data.sequence.items.start[4]), "k", 1, &empty), TV_OK);
  assert_true(tv_yaml_is_null(empty));
  assert_true(tv_yaml_is_null(NULL));
  assert_true(tv_yaml_scalar_is(tv_ydoc_node(d, seq->data.sequence.items.start[7]), "nul"));
  assert_false(tv_yaml_scalar_is(tv_ydoc_node(d, seq->data.sequence.items.start[7]), "nu"));
  assert_false(tv_yaml_scalar_is(tv_ydoc_node(d, seq->data.sequence.items.start[8]), "a"));
  /* "a\0b" is not "a": the NUL is compared too, and a getter refuses it. */
  const yaml_node_t *nul = tv_ydoc_node(d, seq->data.sequence.items.start[9]);
  assert_false(tv_yaml_scalar_is(nul, "a"));
  const char *s = NULL;
  assert_int_equal(tv_ydoc_scalar(d, nul, "k", &s), TV_ERR_FORMAT);
  assert_null(s);
  assert_string_equal(tv_error_message(), "n.yaml:1:59: k: holds a NUL byte");
  assert_int_equal(tv_ydoc_node_count(d), 15); /* the list, 10 items, 2 pairs */
  tv_ydoc_free(d);
}

/* The strict key rule: names only, none twice (the NUL byte counts in the comparison). */
static void test_bad_keys(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int want, bad, first;
  } cases[] = {
      {"{a: 1, b: 2, c: 3}", TV_YAML_KEYS_OK, 0, 0},
      {"{a: 1, b: 2, a: 3}", TV_YAML_KEY_TWICE, 2, 0},
      {"{a: 1, b: 2, \"b\": 3, a: 4}", TV_YAML_KEY_TWICE, 2, 1},
      {"{a: 1, [x]: 2}", TV_YAML_KEY_NOT_NAME, 1, 0},
      {"{a: 1, ~: 2}", TV_YAML_KEY_NOT_NAME, 1, 0},
      {"{\"a\\0\": 1}", TV_YAML_KEY_NOT_NAME, 0, 0},
      {"{\"null\": 1, 'a': 2, a: 3}", TV_YAML_KEY_TWICE, 2, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tv_ydoc *d;
    assert_int_equal(tv_ydoc_parse(cases[i].text, strlen(cases[i].text), "k.yaml", 0, &d), TV_OK);
    int bad = -1, first = -1;
    int got = tv_yaml_find_bad_key(tv_ydoc_document(d), tv_ydoc_root(d), &bad, &first);
    if (got != cases[i].want || bad != cases[i].bad || first != cases[i].first)
      fail_msg("%s: got %d at %d (first %d)", cases[i].text, got, bad, first);
    tv_ydoc_free(d);
  }
}

/* tv_ydoc_parse: one document, errors in the code and form the flags ask for. */
static void test_parse_flags(void **state) {
  (void)state;
  tv_ydoc *d = (tv_ydoc *)1;
  const char *two = "a: 1\n---\nb: 2\n";
  assert_int_equal(tv_ydoc_parse(two, strlen(two), "two.yaml", 0, &d), TV_ERR_FORMAT);
  assert_null(d);
  assert_string_equal(tv_error_message(), "two.yaml:3:1: more than one YAML document");
  assert_int_equal(tv_ydoc_parse(two, strlen(two), "two.yaml", TV_YDOC_CONFIG, &d), TV_ERR_CONFIG);
  assert_int_equal(tv_ydoc_parse(two, strlen(two), "--set x=y", TV_YDOC_INLINE, &d), TV_ERR_FORMAT);
  assert_string_equal(tv_error_message(), "--set x=y: more than one YAML document");
  const char *bad = "a: [1\n";
  assert_int_equal(
      tv_ydoc_parse(bad, strlen(bad), "--set a=[1", TV_YDOC_CONFIG | TV_YDOC_INLINE, &d),
      TV_ERR_CONFIG);
  assert_string_equal(tv_error_message(), "--set a=[1: did not find expected ',' or ']' (while "
                                          "parsing a flow sequence at 1:4)");
  assert_int_equal(tv_ydoc_parse(bad, strlen(bad), "b.yaml", 0, &d), TV_ERR_FORMAT);
  assert_string_equal(tv_error_message(), "b.yaml:2:1: did not find expected ',' or ']' (while "
                                          "parsing a flow sequence at 1:4)");
  /* Bytes that are not UTF-8 are refused by libyaml's reader, by offset. */
  assert_int_equal(tv_ydoc_parse("a: \xff\n", 6, "u.yaml", 0, &d), TV_ERR_FORMAT);
  assert_non_null(strstr(tv_error_message(), "u.yaml: byte 3: "));
  /* A CONFIG document's own errors carry its code; an empty text is an empty document. */
  assert_int_equal(tv_ydoc_parse("x: 1\n", 5, "c.yaml", TV_YDOC_CONFIG, &d), TV_OK);
  assert_int_equal(tv_ydoc_error(d, tv_ydoc_root(d), "x: %s", "bad"), TV_ERR_CONFIG);
  assert_string_equal(tv_error_message(), "c.yaml:1:1: x: bad");
  assert_non_null(tv_ydoc_document(d));
  tv_ydoc_free(d);
  assert_int_equal(tv_ydoc_parse(NULL, 0, "e.yaml", 0, &d), TV_OK);
  assert_null(tv_ydoc_root(d));
  tv_ydoc_free(d);
}

/* The document is built from events: anchors and aliases resolve to the anchored node, node
 * positions are their text's, and alias mistakes are refused with a position. */
static void test_anchors_and_marks(void **state) {
  (void)state;
  tv_ydoc *d;
  const char *text = "base: &b {x: 1}\nlist: [*b, &s two, *s]\n";
  assert_int_equal(tv_ydoc_parse(text, strlen(text), "a.yaml", 0, &d), TV_OK);
  const yaml_node_t *root = tv_ydoc_root(d), *base, *list;
  assert_int_equal(tv_ydoc_field(d, root, "base", 1, &base), TV_OK);
  assert_int_equal(tv_ydoc_field(d, root, "list", 1, &list), TV_OK);
  assert_int_equal(list->type, YAML_SEQUENCE_NODE);
  assert_int_equal(list->data.sequence.items.top - list->data.sequence.items.start, 3);
  assert_ptr_equal(tv_ydoc_node(d, list->data.sequence.items.start[0]), base);
  const yaml_node_t *two = tv_ydoc_node(d, list->data.sequence.items.start[1]);
  assert_ptr_equal(tv_ydoc_node(d, list->data.sequence.items.start[2]), two);
  assert_string_equal((const char *)two->data.scalar.value, "two");
  assert_int_equal(base->start_mark.line, 0);
  assert_int_equal(base->start_mark.column, 6);
  assert_int_equal(two->start_mark.line, 1);
  assert_int_equal(two->start_mark.column, 11);
  assert_int_equal(list->end_mark.column, 22); /* just after the closing bracket */
  tv_ydoc_free(d);
  const char *undefined = "a: 1\nb: *nope\n";
  assert_int_equal(tv_ydoc_parse(undefined, strlen(undefined), "u.yaml", 0, &d), TV_ERR_FORMAT);
  assert_string_equal(tv_error_message(), "u.yaml:2:4: found undefined alias");
  const char *twice = "a: &x 1\nb: &x 2\n";
  assert_int_equal(tv_ydoc_parse(twice, strlen(twice), "t.yaml", TV_YDOC_CONFIG, &d),
                   TV_ERR_CONFIG);
  assert_string_equal(tv_error_message(), "t.yaml:2:4: found duplicate anchor");
  /* An alias may make a cycle (a node holding itself); the document still loads and frees. */
  const char *cycle = "&c [*c]\n";
  assert_int_equal(tv_ydoc_parse(cycle, strlen(cycle), "c.yaml", 0, &d), TV_OK);
  const yaml_node_t *c = tv_ydoc_root(d);
  assert_ptr_equal(tv_ydoc_node(d, c->data.sequence.items.start[0]), c);
  tv_ydoc_free(d);
}

/* Nesting deeper than TV_YDOC_MAX_DEPTH is refused, at the collection that goes too deep, and
 * fast: 100000 levels once took libyaml over a minute to refuse. */
static void test_depth_limit(void **state) {
  (void)state;
  enum { DEEP = 100000 };
  char *text = malloc(2 * DEEP + 16);
  assert_non_null(text);
  size_t n = 0;
  n += (size_t)sprintf(text, "a: ");
  for (int i = 0; i < TV_YDOC_MAX_DEPTH - 1; i++) text[n++] = '[';
  for (int i = 0; i < TV_YDOC_MAX_DEPTH - 1; i++) text[n++] = ']';
  text[n++] = '\n';
  tv_ydoc *d = NULL;
  assert_int_equal(tv_ydoc_parse(text, n, "ok.yaml", 0, &d), TV_OK); /* the root is level 1 */
  tv_ydoc_free(d);
  n = (size_t)sprintf(text, "a: ");
  for (int i = 0; i < DEEP; i++) text[n++] = '[';
  for (int i = 0; i < DEEP; i++) text[n++] = ']';
  text[n++] = '\n';
  double t0 = tv_monotonic();
  assert_int_equal(tv_ydoc_parse(text, n, "deep.yaml", TV_YDOC_CONFIG, &d), TV_ERR_CONFIG);
  assert_true(tv_monotonic() - t0 < 5);
  assert_null(d);
  assert_string_equal(tv_error_message(), "deep.yaml:1:67: nested deeper than 64 levels");
  assert_int_equal(tv_ydoc_parse(text, n, "--set a=[[", TV_YDOC_INLINE, &d), TV_ERR_FORMAT);
  assert_string_equal(tv_error_message(), "--set a=[[: nested deeper than 64 levels");
  free(text);
}

static void test_json_and_growth(void **state) {
  (void)state;
  tv_text t = {0};
  tv_text_json_str(&t, "a\"b\\c\n\x7f\xc3 \xc3\xa9");
  tv_text_printf(&t, " ");
  tv_text_json_num(&t, 0.1);
  tv_text_printf(&t, " ");
  tv_text_json_num(&t, NAN);
  tv_text_printf(&t, " ");
  tv_text_json_num(&t, -INFINITY);
  assert_int_equal(tv_text_check(&t, "x"), TV_OK);
  assert_string_equal(t.p, "\"a\\\"b\\\\c\\u000a\\u007f\\ufffd \xc3\xa9\" 0.1 null null");
  tv_text_free(&t);
  assert_null(t.p);
  assert_int_equal(t.n, 0);
  tv_text_free(NULL);
  /* Past the first allocation: the text grows and stays whole. */
  for (int i = 0; i < 1000; i++) tv_text_printf(&t, "%04d,", i);
  assert_int_equal(tv_text_check(&t, "x"), TV_OK);
  assert_int_equal(t.n, 5000);
  assert_int_equal(strlen(t.p), 5000);
  assert_memory_equal(t.p + 4995, "0999,", 5);
  tv_text_free(&t);
  /* An out-of-memory text is refused by check, naming what it was for. */
  t.oom = 1;
  tv_text_printf(&t, "ignored");
  assert_null(t.p);
  assert_int_equal(tv_text_check(&t, "some/file"), TV_ERR_NOMEM);
  assert_string_equal(tv_error_message(), "some/file: out of memory");
}

static void test_char_classes(void **state) {
  (void)state;
  assert_true(tv_text_is_printable("a b~", 5));
  assert_true(tv_text_is_printable("", 1));
  assert_false(tv_text_is_printable("a\tb", 4));
  assert_false(tv_text_is_printable("a\xc3", 3));
  assert_false(tv_text_is_printable("abcd", 4)); /* no NUL within cap */
  assert_true(tv_text_is_word_char('Z'));
  assert_true(tv_text_is_word_char('.'));
  assert_false(tv_text_is_word_char('/'));
  assert_false(tv_text_is_word_char(' '));
}

/* ---- YAML reading -------------------------------------------------------------------------- */

/* Writes text to dir/f.yaml and loads it; path gets the file's name. */
static int load(const char *dir, const char *text, char *path, size_t cap, tv_ydoc **d) {
  assert_int_equal(tv_fs_join(path, cap, dir, "f.yaml"), TV_OK);
  assert_int_equal(tv_fs_write_atomic(path, text, strlen(text)), TV_OK);
  return tv_ydoc_load(path, d);
}

static void expect_msg(const char *path, const char *where_what) {
  char want[4400];
  snprintf(want, sizeof want, "%s:%s", path, where_what);
  if (strcmp(tv_error_message(), want) != 0)
    fail_msg("message \"%s\", expected \"%s\"", tv_error_message(), want);
}

static void test_load_errors(void **state) {
  const char *dir = *state;
  char path[4096];
  tv_ydoc *d = (tv_ydoc *)1;
  assert_int_equal(tv_fs_join(path, sizeof path, dir, "none.yaml"), TV_OK);
  assert_int_equal(tv_ydoc_load(path, &d), TV_ERR_NOT_FOUND);
  assert_null(d);
  assert_int_equal(load(dir, "a: [1\n", path, sizeof path, &d), TV_ERR_FORMAT);
  assert_null(d);
  assert_non_null(strstr(tv_error_message(), path));
  assert_non_null(strstr(tv_error_message(), ":2:1: "));
  /* An empty document loads; it has no root, and it is not a mapping. */
  const yaml_node_t *root = (const yaml_node_t *)1;
  assert_int_equal(load(dir, "", path, sizeof path, &d), TV_OK);
  assert_string_equal(tv_ydoc_path(d), path);
  assert_null(tv_ydoc_root(d));
  assert_int_equal(tv_ydoc_root_map(d, &root), TV_ERR_FORMAT);
  assert_null(root);
  expect_msg(path, "1:1: expected a mapping (format: ...)");
  tv_ydoc_free(d);
  assert_int_equal(load(dir, "\n- a\n", path, sizeof path, &d), TV_OK);
  assert_int_equal(tv_ydoc_root_map(d, &root), TV_ERR_FORMAT);
  expect_msg(path, "2:1: expected a mapping (format: ...)");
  tv_ydoc_free(d);
  tv_ydoc_free(NULL);
}

static void test_format(void **state) {
  const char *dir = *state;
  char path[4096];
  tv_ydoc *d;
  const yaml_node_t *root;
  struct {
    const char *text, *want;
  } cases[] = {
      {"format_version: 1\n", "1:1: missing key \"format\""},
      {"format: other\nformat_version: 1\n", "1:9: format: \"other\" is not x.fmt"},
      {"format: [x.fmt]\n", "1:9: format: expected a single value"},
      {"format: x.fmt\n", "1:1: missing key \"format_version\""},
      {"format: x.fmt\nformat_version: 0\n", "2:17: format_version: 0 is below 1"},
      {"format: x.fmt\nformat_version: 3\n",
       "2:17: format_version 3 is newer than this trainval reads (2); upgrade trainval"},
      {"format: x.fmt\nformat: x.fmt\nformat_version: 1\n", "2:1: format: given twice"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal(load(dir, cases[i].text, path, sizeof path, &d), TV_OK);
    assert_int_equal(tv_ydoc_root_map(d, &root), TV_OK);
    assert_int_equal(tv_ydoc_format(d, root, "x.fmt", 2), TV_ERR_FORMAT);
    expect_msg(path, cases[i].want);
    tv_ydoc_free(d);
  }
  assert_int_equal(
      load(dir, "format: x.fmt\nformat_version: 2\nnew_key: 1\n", path, sizeof path, &d), TV_OK);
  assert_int_equal(tv_ydoc_root_map(d, &root), TV_OK);
  assert_int_equal(tv_ydoc_format(d, root, "x.fmt", 2), TV_OK);
  tv_ydoc_free(d);
}

static void test_getters(void **state) {
  const char *dir = *state;
  char path[4096];
  tv_ydoc *d;
  const yaml_node_t *root, *v;
  const char *text = "i: -5\n"
                     "big: 99999999999999999999\n"
                     "u: 18446744073709551615\n"
                     "neg: -1\n"
                     "f: 0.25\n"
                     "inf: .inf\n"
                     "b: Off\n"
                     "s: hello\n"
                     "tab: \"a\\tb\"\n"
                     "seq: [1]\n"
                     "spaced: \" 1\"\n";
  assert_int_equal(load(dir, text, path, sizeof path, &d), TV_OK);
  assert_int_equal(tv_ydoc_root_map(d, &root), TV_OK);
  int64_t i = 7;
  uint64_t u = 7;
  double f = 7;
  int b = 7;
  char s[6] = "";
  assert_int_equal(tv_ydoc_field(d, root, "i", 1, &v), TV_OK);
  assert_int_equal(tv_ydoc_i64(d, v, "i", -5, &i), TV_OK);
  assert_int_equal(i, -5);
  assert_int_equal(tv_ydoc_i64(d, v, "i", 0, &i), TV_ERR_FORMAT);
  expect_msg(path, "1:4: i: -5 is below 0");
  assert_int_equal(tv_ydoc_field(d, root, "big", 1, &v), TV_OK);
  assert_int_equal(tv_ydoc_i64(d, v, "big", 0, &i), TV_ERR_FORMAT);
  expect_msg(path, "2:6: big: expected an integer, got \"99999999999999999999\"");
  assert_int_equal(i, -5); /* unchanged on failure */
  assert_int_equal(tv_ydoc_field(d, root, "spaced", 1, &v), TV_OK);
  assert_int_equal(tv_ydoc_i64(d, v, "spaced", 0, &i), TV_ERR_FORMAT);
  assert_int_equal(tv_ydoc_field(d, root, "u", 1, &v), TV_OK);
  assert_int_equal(tv_ydoc_u64(d, v, "u", &u), TV_OK);
  assert_true(u == UINT64_MAX);
  assert_int_equal(tv_ydoc_field(d, root, "neg", 1, &v), TV_OK);
  assert_int_equal(tv_ydoc_u64(d, v, "neg", &u), TV_ERR_FORMAT);
  expect_msg(path, "4:6: neg: expected an unsigned integer, got \"-1\"");
  assert_int_equal(tv_ydoc_opt_f64(d, root, "f", &f), TV_OK);
  assert_true(f == 0.25);
  assert_int_equal(tv_ydoc_opt_f64(d, root, "absent", &f), TV_OK);
  assert_true(f == 0.25);
  assert_int_equal(tv_ydoc_opt_f64(d, root, "inf", &f), TV_ERR_FORMAT);
  expect_msg(path, "6:6: inf: expected a finite number, got \".inf\"");
  assert_int_equal(tv_ydoc_field(d, root, "b", 1, &v), TV_OK);
  assert_int_equal(tv_ydoc_bool(d, v, "b", &b), TV_OK);
  assert_int_equal(b, 0);
  assert_int_equal(tv_ydoc_field(d, root, "s", 1, &v), TV_OK);
  assert_int_equal(tv_ydoc_bool(d, v, "s", &b), TV_ERR_FORMAT);
  expect_msg(path, "8:4: s: expected true or false, got \"hello\"");
  assert_int_equal(tv_ydoc_opt_str(d, root, "s", s, sizeof s, 1), TV_OK);
  assert_string_equal(s, "hello");
  assert_int_equal(tv_ydoc_opt_str(d, root, "s", s, 5, 1), TV_ERR_FORMAT);
  expect_msg(path, "8:4: s: longer than 4 bytes");
  assert_int_equal(tv_ydoc_opt_str(d, root, "tab", s, sizeof s, 0), TV_OK);
  assert_string_equal(s, "a\tb");
  assert_int_equal(tv_ydoc_opt_str(d, root, "tab", s, sizeof s, 1), TV_ERR_FORMAT);
  expect_msg(path, "9:6: tab: holds a non-printable character");
  assert_int_equal(tv_ydoc_opt_i64(d, root, "seq", 0, &i), TV_ERR_FORMAT);
  expect_msg(path, "10:6: seq: expected a single value");
  assert_int_equal(tv_ydoc_field(d, root, "absent", 1, &v), TV_ERR_FORMAT);
  assert_null(v);
  expect_msg(path, "1:1: missing key \"absent\"");
  assert_int_equal(tv_ydoc_field(d, root, "absent", 0, &v), TV_OK);
  assert_null(v);
  /* A field of something that is not a mapping is refused, not read. */
  assert_int_equal(tv_ydoc_field(d, root, "seq", 1, &v), TV_OK);
  const yaml_node_t *seq = v;
  assert_int_equal(tv_ydoc_field(d, seq, "x", 0, &v), TV_ERR_FORMAT);
  expect_msg(path, "10:6: expected a mapping holding \"x\"");
  assert_non_null(tv_ydoc_node(d, seq->data.sequence.items.start[0]));
  assert_null(tv_ydoc_node(d, 0));
  tv_ydoc_free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_yaml_str),
      cmocka_unit_test(test_yaml_str_utf8),
      cmocka_unit_test(test_yaml_f64),
      cmocka_unit_test(test_scalar_rules),
      cmocka_unit_test(test_null_and_keys),
      cmocka_unit_test(test_parse_flags),
      cmocka_unit_test(test_bad_keys),
      cmocka_unit_test(test_depth_limit),
      cmocka_unit_test(test_anchors_and_marks),
      cmocka_unit_test(test_json_and_growth),
      cmocka_unit_test(test_char_classes),
      cmocka_unit_test_setup_teardown(test_load_errors, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_format, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_getters, tvt_setup_tmpdir, tvt_teardown_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
