/* cli.h — the option table both programs' command lines are built from, and the texts made from
 * it.  Each program keeps one table of tv_cli_option rows; from it come getopt_long's arguments
 * (tv_cli_getopt), the option list of --help (tv_cli_help), the machine-readable list that
 * scripts/gen-man.sh turns into the man pages and the bash completion (tv_cli_list), and
 * --version (tv_cli_version).  Parsing a value and deciding what an option means stay in the
 * programs: this module never sees argv, prints nothing and never exits; it only builds text.
 *
 * The machine-readable list, one record per line, fields separated by one TAB, no field holding
 * a TAB or a newline, records in this order:
 *   format       trainval.options 1
 *   program      NAME  SUMMARY
 *   synopsis     ARGS                  (one per usage form, after the program's name)
 *   description  PARAGRAPH             (one per paragraph)
 *   option       LONG  SHORT  ARG  ARGMODE  VALUES  GROUP  HELP
 *   note         PARAGRAPH
 *   example      COMMAND  WHAT         (COMMAND: the arguments after the program's name)
 *   exit         PARAGRAPH
 * LONG is the name without "--"; SHORT a letter or "-"; ARG the value's placeholder or "-";
 * ARGMODE none | required | optional; VALUES what completion offers: a space-separated word list,
 * "@dir", "@file", "@ckpt" (a file, latest, or the steps of the --train-dir given), "@number"
 * or "-"; GROUP the heading the option stands under in --help ("-"
 * for the first, unnamed one); HELP the help text joined into one line.  Hidden rows are left
 * out.  Readers ignore record kinds they do not know.
 */
#ifndef TRAINVAL_CLI_H
#define TRAINVAL_CLI_H

#include <getopt.h>
#include <stddef.h>

#include "trainval/error.h"
#include "trainval/text.h"

/* One option.  id is what getopt_long returns for it: the short letter when there is one,
 * otherwise a value >= 256 of the program's choice. */
typedef struct tv_cli_option {
  const char *name;   /* long name without "--" */
  int id;             /* getopt_long's return value */
  int short_name;     /* 'h', or 0 */
  int has_arg;        /* no_argument, required_argument, optional_argument */
  const char *arg;    /* the value's placeholder ("DIR"), or NULL */
  const char *values; /* completion: "all latest", "@dir", "@file", "@ckpt", "@number", NULL */
  const char *group;  /* --help heading ("Watch options"), or NULL for the first block */
  const char *help;   /* one paragraph, filled to the terminal's width; NULL: hidden */
} tv_cli_option;

/* The options every program has, with these ids: put TV_CLI_STANDARD_OPTIONS in the table and
 * let tv_cli_standard answer them. */
enum { TV_CLI_ID_HELP = 'h', TV_CLI_ID_VERSION = 0x10000, TV_CLI_ID_LIST };
#define TV_CLI_STANDARD_OPTIONS                                                                    \
  {"help", TV_CLI_ID_HELP, 'h', no_argument, NULL, NULL, NULL, "print this text and exit"},        \
      {"version", TV_CLI_ID_VERSION,                                                               \
       0,         no_argument,                                                                     \
       NULL,      NULL,                                                                            \
       NULL,      "print the version and the libraries' versions and exit"},                       \
  {                                                                                                \
    "list-options", TV_CLI_ID_LIST, 0, no_argument, NULL, NULL, NULL, NULL                         \
  } /* gen-man.sh */

/* One line of the EXAMPLES block of --help and the man page. */
typedef struct tv_cli_example {
  const char *command; /* the arguments as typed after the program's name */
  const char *what;    /* one sentence */
} tv_cli_example;

enum { TV_CLI_MAX_OPTIONS = 48, TV_CLI_MAX_SYNOPSIS = 6 };

/* A program's whole command line: what --help, the man page and the completion are made of.
 * Paragraph texts hold one paragraph per line ('\n'-separated). */
typedef struct tv_cli_program {
  const char *name;                          /* the name in the list: "train" */
  const char *summary;                       /* one phrase: the man page's NAME line */
  const char *synopsis[TV_CLI_MAX_SYNOPSIS]; /* usage forms after the name; NULL ends */
  const char *description;                   /* paragraphs before the options */
  const char *notes;                         /* paragraphs after the options */
  const tv_cli_option *options;
  int n_options;
  const tv_cli_example *examples;
  int n_examples;
  const char *exit_status; /* one paragraph */
} tv_cli_program;

/* The table fields of a tv_cli_program initializer from a program's two arrays (not pointers):
 *   static const tv_cli_program PROGRAM = {.name = "x", ..., TV_CLI_TABLES(OPTIONS, EXAMPLES)}; */
#define TV_CLI_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define TV_CLI_TABLES(opt_rows, example_rows)                                                      \
  .options = (opt_rows), .n_options = TV_CLI_COUNT(opt_rows), .examples = (example_rows),          \
  .n_examples = TV_CLI_COUNT(example_rows)

/* Fills longopts (n + 1 rows, the last all zeros) and shortopts (":" first, so that a missing
 * value is reported as ':' rather than '?') from opts[0..n).  Borrowed strings: longopts points
 * into opts.  Errors: TV_ERR_INVALID (n > TV_CLI_MAX_OPTIONS or shortopts_cap too small);
 * nothing is left to free. */
TV_MUST_CHECK int tv_cli_getopt(const tv_cli_option *opts, int n, struct option *longopts,
                                char *shortopts, size_t shortopts_cap);

/* Appends the whole --help text of p under the name prog (the name it was started as): usage
 * lines, description, the options (each row "  -h, --help ARG" padded to a column, its help
 * filled to 79 columns beside it, a heading before each new group; hidden rows left out),
 * notes, examples, exit status.  Cannot fail (t->oom on allocation failure). */
void tv_cli_help(tv_text *t, const char *prog, const tv_cli_program *p);

/* Appends the machine-readable list (format above) of p.  Cannot fail. */
void tv_cli_list(tv_text *t, const tv_cli_program *p);

/* For getopt_long's result id: when it is one of the standard options, appends what that option
 * prints (--help under the name prog, --version, the list) and returns 1; otherwise appends
 * nothing and returns 0.  Cannot fail. */
int tv_cli_standard(tv_text *t, const char *prog, const tv_cli_program *p, int id);

/* Why getopt_long refused arg (its '?' result; optopt as getopt left it): appends "unknown
 * option --x", "option --t is ambiguous (--train-dir, --threads)" or "option --json takes no
 * value".  Cannot fail. */
void tv_cli_refused(tv_text *t, const tv_cli_program *p, const char *arg, int opt);

/* The exit statuses of every program: 0 done, 1 an error (one line on stderr), 2 a usage error
 * (one line on stderr). */
enum { TV_CLI_EXIT_OK = 0, TV_CLI_EXIT_ERROR = 1, TV_CLI_EXIT_USAGE = 2 };

/* A usage error: appends the line "PROG: MESSAGE (try 'PROG --help')\n" (MESSAGE: fmt, ...) and
 * returns TV_CLI_EXIT_USAGE, so that a parser can `return tv_cli_usage(...)` and its main print
 * the text on stderr.  Cannot fail (t->oom). */
int tv_cli_usage(tv_text *t, const char *prog, const char *fmt, ...) TV_PRINTF(3, 4);

/* getopt_long refused arg (its '?' result; opt: optopt as getopt left it): tv_cli_usage with
 * tv_cli_refused's reason ("bad option" where that text ran out of memory).  Returns
 * TV_CLI_EXIT_USAGE.  Cannot fail. */
int tv_cli_usage_refused(tv_text *t, const char *prog, const tv_cli_program *p, const char *arg,
                         int opt);

/* The row of p whose id is id, or NULL. */
const tv_cli_option *tv_cli_find(const tv_cli_program *p, int id);

/* Appends the --version text: "PROG (trainval) VERSION" and one line per library this build
 * runs with (OpenBLAS's configuration, HDF5, libyaml, zlib), as the libraries report themselves
 * at run time.  Cannot fail. */
void tv_cli_version(tv_text *t, const char *prog);

/* The name a program calls itself by: the last component of argv0 ("trainval-train" once
 * installed, "train" from bin/); fallback when argv0 is NULL or empty.  Points into argv0. */
const char *tv_cli_progname(const char *argv0, const char *fallback);

#endif
