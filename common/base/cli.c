/* cli.c — texts built from a program's option table (see cli.h).  Invariant: everything here
 * is a function of its arguments (and, for tv_cli_version, of the linked libraries); nothing is
 * printed and nothing kept. */
#include "trainval/cli.h"

#include <cblas.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include <zlib.h>

#include "trainval/ckpt.h" /* TV_VERSION */

enum { HELP_COLUMN = 27, WIDTH = 79 };

int tv_cli_getopt(const tv_cli_option *opts, int n, struct option *longopts, char *shortopts,
                  size_t shortopts_cap) {
  if (n < 0 || n > TV_CLI_MAX_OPTIONS)
    return tv_error(TV_ERR_INVALID, "option table: %d rows, at most %d", n, TV_CLI_MAX_OPTIONS);
  if (shortopts_cap < 2)
    return tv_error(TV_ERR_INVALID, "option table: no room for the short options");
  size_t k = 0;
  shortopts[k++] = ':';
  for (int i = 0; i < n; i++) {
    longopts[i] = (struct option){opts[i].name, opts[i].has_arg, NULL, opts[i].id};
    if (!opts[i].short_name) continue;
    if (k + 4 > shortopts_cap)
      return tv_error(TV_ERR_INVALID, "option table: no room for the short options");
    shortopts[k++] = (char)opts[i].short_name;
    if (opts[i].has_arg != no_argument) shortopts[k++] = ':';
    if (opts[i].has_arg == optional_argument) shortopts[k++] = ':';
  }
  shortopts[k] = '\0';
  longopts[n] = (struct option){0};
  return TV_OK;
}

/* "-h, --help", "--poll[=SECONDS]", "--train-dir DIR" */
static void label(tv_text *t, const tv_cli_option *o) {
  if (o->short_name) tv_text_printf(t, "-%c, ", o->short_name);
  tv_text_printf(t, "--%s", o->name);
  if (o->arg && o->has_arg == optional_argument)
    tv_text_printf(t, "[=%s]", o->arg);
  else if (o->arg)
    tv_text_printf(t, " %s", o->arg);
}

/* Appends the words of text[0..len) filled to WIDTH columns, each line indented by indent;
 * *col is the column the text starts at (after a label), 0 at a line's start.  A bracketed
 * group counts as one word. */
static void fill(tv_text *t, const char *text, size_t len, int indent, int *col) {
  const char *p = text, *end = text + len;
  while (p < end) {
    while (p < end && *p == ' ') p++;
    size_t w = 0;
    int depth = 0; /* "[--set KEY=VALUE ...]" is kept on one line */
    for (; p + w < end && (p[w] != ' ' || depth > 0); w++) depth += (p[w] == '[') - (p[w] == ']');
    if (!w) break;
    if (*col > indent && *col + 1 + (int)w > WIDTH) {
      tv_text_printf(t, "\n");
      *col = 0;
    }
    if (*col < indent) {
      tv_text_printf(t, "%*s", indent - *col, "");
      *col = indent;
    } else if (*col > 0) {
      tv_text_printf(t, " ");
      (*col)++;
    }
    tv_text_printf(t, "%.*s", (int)w, p);
    *col += (int)w;
    p += w;
  }
}

static void options(tv_text *t, const tv_cli_option *opts, int n) {
  const char *group = NULL;
  for (int i = 0; i < n; i++) {
    const tv_cli_option *o = &opts[i];
    if (!o->help) continue;
    if (o->group && (!group || strcmp(group, o->group) != 0)) {
      tv_text_printf(t, "\n%s:\n", o->group);
      group = o->group;
    }
    size_t start = t->n;
    tv_text_printf(t, "  ");
    label(t, o);
    int col = (int)(t->n - start);
    if (col + 1 >= HELP_COLUMN) {
      tv_text_printf(t, "\n");
      col = 0;
    }
    fill(t, o->help, strlen(o->help), HELP_COLUMN, &col);
    tv_text_printf(t, "\n");
  }
}

/* Each line of text as a paragraph, a blank line before it. */
static void paragraphs(tv_text *t, const char *text) {
  for (const char *line = text; line && *line;) {
    size_t len = strcspn(line, "\n");
    int col = 0;
    tv_text_printf(t, "\n");
    fill(t, line, len, 0, &col);
    tv_text_printf(t, "\n");
    line += len + (line[len] == '\n');
  }
}

void tv_cli_help(tv_text *t, const char *prog, const tv_cli_program *p) {
  for (int i = 0; i < TV_CLI_MAX_SYNOPSIS && p->synopsis[i]; i++) {
    size_t start = t->n;
    tv_text_printf(t, "%s %s", i ? "      " : "usage:", prog);
    int col = (int)(t->n - start), indent = col + 1;
    fill(t, p->synopsis[i], strlen(p->synopsis[i]), indent, &col);
    tv_text_printf(t, "\n");
  }
  paragraphs(t, p->description);
  tv_text_printf(t, "\n");
  options(t, p->options, p->n_options);
  paragraphs(t, p->notes);
  if (p->n_examples > 0) tv_text_printf(t, "\nExamples:\n");
  for (int i = 0; i < p->n_examples; i++) {
    int col = 0;
    tv_text_printf(t, "  %s %s\n", prog, p->examples[i].command);
    fill(t, p->examples[i].what, strlen(p->examples[i].what), 6, &col);
    tv_text_printf(t, "\n");
  }
  if (p->exit_status) {
    tv_text_printf(t, "\nExit status:");
    int col = 12;
    fill(t, p->exit_status, strlen(p->exit_status), 0, &col);
    tv_text_printf(t, "\n");
  }
}

/* A TAB, then s with each newline or TAB as one space (the list's fields hold neither); "-" for
 * an empty or absent field. */
static void field(tv_text *t, const char *s) {
  tv_text_printf(t, "\t");
  if (!s || !*s) s = "-";
  for (; *s; s++) tv_text_printf(t, "%c", *s == '\n' || *s == '\t' ? ' ' : *s);
}

/* One record of kind per line of text. */
static void records(tv_text *t, const char *kind, const char *text) {
  for (const char *line = text; line && *line;) {
    size_t len = strcspn(line, "\n");
    tv_text_printf(t, "%s\t%.*s\n", kind, (int)len, line);
    line += len + (line[len] == '\n');
  }
}

void tv_cli_list(tv_text *t, const tv_cli_program *p) {
  static const char *const modes[] = {"none", "required", "optional"};
  tv_text_printf(t, "format\ttrainval.options 1\nprogram");
  field(t, p->name);
  field(t, p->summary);
  tv_text_printf(t, "\n");
  for (int i = 0; i < TV_CLI_MAX_SYNOPSIS && p->synopsis[i]; i++)
    records(t, "synopsis", p->synopsis[i]);
  records(t, "description", p->description);
  for (int i = 0; i < p->n_options; i++) {
    const tv_cli_option *o = &p->options[i];
    char s[2] = {(char)o->short_name, 0};
    if (!o->help) continue;
    tv_text_printf(t, "option");
    field(t, o->name);
    field(t, s);
    field(t, o->arg);
    field(t, modes[o->has_arg % 3]);
    field(t, o->values);
    field(t, o->group);
    field(t, o->help);
    tv_text_printf(t, "\n");
  }
  records(t, "note", p->notes);
  for (int i = 0; i < p->n_examples; i++) {
    tv_text_printf(t, "example");
    field(t, p->examples[i].command);
    field(t, p->examples[i].what);
    tv_text_printf(t, "\n");
  }
  records(t, "exit", p->exit_status);
}

int tv_cli_standard(tv_text *t, const char *prog, const tv_cli_program *p, int id) {
  if (id == TV_CLI_ID_HELP)
    tv_cli_help(t, prog, p);
  else if (id == TV_CLI_ID_VERSION)
    tv_cli_version(t, prog);
  else if (id == TV_CLI_ID_LIST)
    tv_cli_list(t, p);
  else
    return 0;
  return 1;
}

void tv_cli_refused(tv_text *t, const tv_cli_program *p, const char *arg, int opt) {
  /* (for a long option glibc sets optopt to the option's id, so the argument decides) */
  if (!arg || strncmp(arg, "--", 2) != 0) {
    if (opt > 0 && opt < 128)
      tv_text_printf(t, "unknown option -%c", opt);
    else
      tv_text_printf(t, "unknown option %s", arg ? arg : "");
    return;
  }
  const char *name = arg + 2;
  size_t len = strcspn(name, "=");
  int matches = 0, exact = -1;
  for (int i = 0; i < p->n_options; i++) {
    if (strncmp(p->options[i].name, name, len) != 0) continue;
    matches++;
    if (p->options[i].name[len] == '\0') exact = i;
  }
  if (exact >= 0 && name[len] == '=') {
    tv_text_printf(t, "option --%s takes no value", p->options[exact].name);
  } else if (matches > 1 && exact < 0) {
    tv_text_printf(t, "option --%.*s is ambiguous (", (int)len, name);
    for (int i = 0, k = 0; i < p->n_options; i++)
      if (!strncmp(p->options[i].name, name, len) && p->options[i].help)
        tv_text_printf(t, "%s--%s", k++ ? ", " : "", p->options[i].name);
    tv_text_printf(t, ")");
  } else {
    tv_text_printf(t, "unknown option --%.*s", (int)len, name);
  }
}

int tv_cli_usage(tv_text *t, const char *prog, const char *fmt, ...) {
  va_list ap, aq;
  va_start(ap, fmt);
  va_copy(aq, ap);
  int len = vsnprintf(NULL, 0, fmt, ap);
  char *m = len >= 0 ? malloc((size_t)len + 1) : NULL;
  if (m) vsnprintf(m, (size_t)len + 1, fmt, aq);
  va_end(aq);
  va_end(ap);
  if (m)
    tv_text_printf(t, "%s: %s (try '%s --help')\n", prog, m, prog);
  else
    t->oom = 1;
  free(m);
  return TV_CLI_EXIT_USAGE;
}

int tv_cli_usage_refused(tv_text *t, const char *prog, const tv_cli_program *p, const char *arg,
                         int opt) {
  tv_text why = {0};
  tv_cli_refused(&why, p, arg, opt);
  int rc = tv_cli_usage(t, prog, "%s", why.oom || !why.p ? "bad option" : why.p);
  tv_text_free(&why);
  return rc;
}

const tv_cli_option *tv_cli_find(const tv_cli_program *p, int id) {
  for (int i = 0; i < p->n_options; i++)
    if (p->options[i].id == id) return &p->options[i];
  return NULL;
}

void tv_cli_version(tv_text *t, const char *prog) {
  unsigned maj = 0, min = 0, rel = 0;
  if (H5get_libversion(&maj, &min, &rel) < 0) maj = min = rel = 0;
  const char *blas = openblas_get_config();
  if (!blas) blas = "(configuration unknown)";
  if (!strncmp(blas, "OpenBLAS ", 9)) blas += 9;
  tv_text_printf(t,
                 "%s (trainval) %s\n"
                 "OpenBLAS %s\n"
                 "HDF5 %u.%u.%u\n"
                 "libyaml %s\n"
                 "zlib %s\n",
                 prog, TV_VERSION, blas, maj, min, rel, yaml_get_version_string(), zlibVersion());
}

const char *tv_cli_progname(const char *argv0, const char *fallback) {
  if (!argv0 || !*argv0) return fallback;
  const char *slash = strrchr(argv0, '/');
  return slash && slash[1] ? slash + 1 : argv0;
}
