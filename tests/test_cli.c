/* test_cli.c — the option-table texts (cli.h): getopt_long's arguments built from a table (and
 * parsing through them), --help's layout (labels, the help column, filling to 79 columns, groups,
 * hidden rows), the machine-readable list's records, --version's lines and the program name.
 */
#include "trainval/cli.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

enum { OPT_DIR = 256, OPT_POLL, OPT_SECRET };

static const tv_cli_option OPTS[] = {
    {"dir", OPT_DIR, 0, required_argument, "DIR", "@dir", NULL, "the directory"},
    {"verbose", 'v', 'v', no_argument, NULL, NULL, NULL,
     "a help text long enough that it has to be filled over more than one line of the terminal, "
     "at seventy-nine columns"},
    {"secret", OPT_SECRET, 0, no_argument, NULL, NULL, NULL, NULL},
    {"poll", OPT_POLL, 'p', optional_argument, "SECONDS", NULL, "Watch options", "poll"},
};
static const tv_cli_example EX[] = {{"--dir d -v", "says more"}};
static const tv_cli_program PROG = {.name = "prog",
                                    .summary = "a test program",
                                    .synopsis = {"--dir DIR [options]"},
                                    .description = "First paragraph.\nSecond one.",
                                    .options = OPTS,
                                    .n_options = 4,
                                    .examples = EX,
                                    .n_examples = 1,
                                    .exit_status = "0 ok."};

static void test_getopt(void **state) {
  (void)state;
  struct option longopts[5];
  char shortopts[16];
  assert_int_equal(tv_cli_getopt(OPTS, 4, longopts, shortopts, sizeof shortopts), TV_OK);
  assert_string_equal(shortopts, ":vp::");
  assert_string_equal(longopts[0].name, "dir");
  assert_int_equal(longopts[0].has_arg, required_argument);
  assert_int_equal(longopts[3].val, OPT_POLL);
  assert_null(longopts[4].name);
  char small[3];
  assert_int_equal(tv_cli_getopt(OPTS, 4, longopts, small, sizeof small), TV_ERR_INVALID);

  char a0[] = "prog", a1[] = "--dir", a2[] = "d", a3[] = "-v", a4[] = "--poll=2", a5[] = "--",
       a6[] = "rest";
  char *argv[] = {a0, a1, a2, a3, a4, a5, a6, NULL};
  int seen = 0, c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(7, argv, shortopts, longopts, NULL)) != -1) {
    if (c == OPT_DIR)
      assert_string_equal(optarg, "d"), seen |= 1;
    else if (c == 'v')
      seen |= 2;
    else if (c == OPT_POLL)
      assert_string_equal(optarg, "2"), seen |= 4;
    else
      fail_msg("unexpected %d", c);
  }
  assert_int_equal(seen, 7);
  assert_int_equal(optind, 6);
  assert_string_equal(argv[optind], "rest");
}

static void test_help(void **state) {
  (void)state;
  tv_text t = {0};
  tv_cli_help(&t, "trainval-prog", &PROG);
  assert_false(t.oom);
  assert_non_null(strstr(t.p, "usage: trainval-prog --dir DIR [options]\n"));
  assert_non_null(strstr(t.p, "\nFirst paragraph.\n\nSecond one.\n"));
  assert_non_null(strstr(t.p, "  --dir DIR                the directory\n"));
  assert_non_null(strstr(t.p, "\nWatch options:\n  -p, --poll[=SECONDS]     poll\n"));
  assert_null(strstr(t.p, "secret"));
  assert_non_null(strstr(t.p, "  trainval-prog --dir d -v\n      says more\n"));
  assert_non_null(strstr(t.p, "Exit status: 0 ok.\n"));
  /* filled: no line over 79 columns, continuation lines start at the help column */
  const char *v = strstr(t.p, "  -v, --verbose");
  assert_non_null(v);
  const char *nl = strchr(v, '\n');
  assert_true(nl - v <= 79);
  assert_memory_equal(nl + 1, "                           ", 27);
  assert_true(nl[28] != ' ');
  for (const char *line = t.p; *line;) {
    size_t len = strcspn(line, "\n");
    assert_true(len <= 79);
    line += len + (line[len] == '\n');
  }
  tv_text_free(&t);
}

static void test_list(void **state) {
  (void)state;
  tv_text t = {0};
  tv_cli_list(&t, &PROG);
  assert_false(t.oom);
  assert_memory_equal(t.p, "format\ttrainval.options 1\nprogram\tprog\ta test program\n", 52);
  assert_non_null(strstr(t.p, "\nsynopsis\t--dir DIR [options]\n"));
  assert_non_null(strstr(t.p, "\ndescription\tFirst paragraph.\ndescription\tSecond one.\n"));
  assert_non_null(strstr(t.p, "\noption\tdir\t-\tDIR\trequired\t@dir\t-\tthe directory\n"));
  assert_non_null(strstr(t.p, "\noption\tpoll\tp\tSECONDS\toptional\t-\tWatch options\tpoll\n"));
  assert_null(strstr(t.p, "secret"));
  assert_non_null(strstr(t.p, "\nexample\t--dir d -v\tsays more\n"));
  assert_non_null(strstr(t.p, "\nexit\t0 ok.\n"));
  tv_text_free(&t);
  assert_ptr_equal(tv_cli_find(&PROG, OPT_POLL), &OPTS[3]);
  assert_null(tv_cli_find(&PROG, 12345));
}

/* --help, --version and the list come from tv_cli_standard; other ids append nothing. */
static void test_standard(void **state) {
  (void)state;
  static const tv_cli_option opts[] = {
      {"dir", OPT_DIR, 0, required_argument, "DIR", NULL, NULL, "the directory"},
      TV_CLI_STANDARD_OPTIONS};
  tv_cli_program p = PROG;
  p.options = opts;
  p.n_options = 4;
  tv_text t = {0};
  assert_int_equal(tv_cli_standard(&t, "x", &p, OPT_DIR), 0);
  assert_null(t.p);
  assert_int_equal(tv_cli_standard(&t, "x", &p, TV_CLI_ID_HELP), 1);
  assert_non_null(strstr(t.p, "  -h, --help               print this text and exit\n"));
  assert_non_null(strstr(t.p, "  --version                print the version"));
  assert_null(strstr(t.p, "list-options"));
  tv_text_free(&t);
  assert_int_equal(tv_cli_standard(&t, "x", &p, TV_CLI_ID_VERSION), 1);
  assert_memory_equal(t.p, "x (trainval) ", 13);
  tv_text_free(&t);
  assert_int_equal(tv_cli_standard(&t, "x", &p, TV_CLI_ID_LIST), 1);
  assert_non_null(strstr(t.p, "\noption\tversion\t-\t-\tnone\t"));
  assert_null(strstr(t.p, "list-options"));
  tv_text_free(&t);
  struct option longopts[5];
  char shortopts[8];
  assert_int_equal(tv_cli_getopt(opts, 4, longopts, shortopts, sizeof shortopts), TV_OK);
  assert_string_equal(shortopts, ":h");
  assert_string_equal(longopts[3].name, "list-options");
}

static void test_version_and_name(void **state) {
  (void)state;
  tv_text t = {0};
  tv_cli_version(&t, "trainval-eval");
  assert_false(t.oom);
  assert_memory_equal(t.p, "trainval-eval (trainval) ", 25);
  assert_non_null(strstr(t.p, "\nOpenBLAS "));
  assert_null(strstr(t.p, "OpenBLAS OpenBLAS"));
  assert_non_null(strstr(t.p, "\nHDF5 1."));
  assert_non_null(strstr(t.p, "\nlibyaml 0."));
  assert_non_null(strstr(t.p, "\nzlib 1."));
  tv_text_free(&t);
  assert_string_equal(tv_cli_progname("/usr/bin/trainval-train", "train"), "trainval-train");
  assert_string_equal(tv_cli_progname("bin/eval", "x"), "eval");
  assert_string_equal(tv_cli_progname("eval", "x"), "eval");
  assert_string_equal(tv_cli_progname("", "train"), "train");
  assert_string_equal(tv_cli_progname(NULL, "train"), "train");
}

/* What a refused option was: unknown, ambiguous (the candidates named), or given a value it does
 * not take. */
static void expect_refused(const char *arg, int optopt, const char *want) {
  tv_text t = {0};
  tv_cli_refused(&t, &PROG, arg, optopt);
  assert_string_equal(t.p, want);
  tv_text_free(&t);
}

static void test_refused(void **state) {
  (void)state;
  expect_refused("--bogus", 0, "unknown option --bogus");
  expect_refused("--bogus=1", 0, "unknown option --bogus");
  expect_refused("-x", 'x', "unknown option -x");
  expect_refused("-vx", 'x', "unknown option -x");
  expect_refused("--verbose=1", 'v', "option --verbose takes no value");
  expect_refused("--s", OPT_SECRET, "unknown option --s"); /* one match: not ambiguous */
  static const tv_cli_option two[] = {{"train-dir", 1, 0, required_argument, "D", NULL, NULL, "a"},
                                      {"threads", 2, 0, required_argument, "N", NULL, NULL, "b"}};
  tv_cli_program p = PROG;
  p.options = two;
  p.n_options = 2;
  tv_text t = {0};
  tv_cli_refused(&t, &p, "--t", 0);
  assert_string_equal(t.p, "option --t is ambiguous (--train-dir, --threads)");
  tv_text_free(&t);
}

/* A usage error is one line naming the program, with the hint, and the usage exit status; a
 * refused option is such a line with tv_cli_refused's reason.  Lines append. */
static void test_usage_lines(void **state) {
  (void)state;
  tv_text t = {0};
  assert_int_equal(tv_cli_usage(&t, "trainval-prog", "give --dir %s once", "DIR"), 2);
  assert_string_equal(t.p, "trainval-prog: give --dir DIR once (try 'trainval-prog --help')\n");
  assert_int_equal(tv_cli_usage_refused(&t, "prog", &PROG, "--verbose=1", 'v'), TV_CLI_EXIT_USAGE);
  assert_string_equal(t.p, "trainval-prog: give --dir DIR once (try 'trainval-prog --help')\n"
                           "prog: option --verbose takes no value (try 'prog --help')\n");
  assert_false(t.oom);
  tv_text_free(&t);
  char long_path[3000];
  memset(long_path, 'a', sizeof long_path - 1);
  long_path[sizeof long_path - 1] = '\0';
  assert_int_equal(tv_cli_usage(&t, "p", "unexpected argument '%s'", long_path), 2);
  assert_int_equal(t.n, strlen("p: unexpected argument '' (try 'p --help')\n") + 2999);
  tv_text_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_getopt),      cmocka_unit_test(test_help),
      cmocka_unit_test(test_list),        cmocka_unit_test(test_version_and_name),
      cmocka_unit_test(test_standard),    cmocka_unit_test(test_refused),
      cmocka_unit_test(test_usage_lines),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
