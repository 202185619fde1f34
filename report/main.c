/* report — the run report without TensorBoard (installed as trainval-report):
 *
 *   report DIR... [--out report.html] [--png OUTDIR]
 *
 * Reads each train_dir afresh (report.h says what), writes one self-contained HTML file with
 * the curves of every run on shared axes and each run's status, evaluators, confusion matrices
 * and config, and with --png the same curves as PNG files OUTDIR/<tag>.png.  Partial input files
 * are reported as "skipped" notes (in the report and as "report: note: ..." lines on stderr);
 * a missing DIR or manifest is an error and nothing is written.
 * Exit status: 0 ok, 1 error (one line on stderr), 2 usage error.  This file owns the command
 * line (one tv_cli table, cli.h); the rest of report/ does the reading and drawing.  The program
 * calls itself by the name it was started as (trainval-report once installed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "trainval/cli.h"
#include "trainval/files.h"

static const char *prog = "report";

enum { OPT_OUT = 'o', OPT_PNG = 256 };

/* The option table (cli.h): getopt_long, --help, --version and the list that scripts/gen-man.sh
 * turns into man/trainval-report.1 and the bash completion all come from it. */
static const tv_cli_option OPTIONS[] = {
    {"out", OPT_OUT, 'o', required_argument, "FILE", "@file", NULL,
     "the HTML report to write (default report.html)"},
    {"png", OPT_PNG, 0, required_argument, "OUTDIR", "@dir", NULL,
     "also write each chart as OUTDIR/<tag>.png"},
    TV_CLI_STANDARD_OPTIONS,
};
#define N_OPTIONS TV_CLI_COUNT(OPTIONS)
_Static_assert(N_OPTIONS <= TV_CLI_MAX_OPTIONS, "option table too long");

static const tv_cli_example EXAMPLES[] = {
    {"runs/mlp runs/lr --out compare.html", "one report of two runs, their curves on shared axes"},
    {"runs/mlp --png charts", "report.html, and each chart as charts/<tag>.png (640 x 360)"},
};

static const tv_cli_program PROGRAM = {
    .name = "report",
    .summary = "write an HTML report of trainval runs, without TensorBoard",
    .synopsis = {"DIR... [--out FILE] [--png OUTDIR]", "--help | --version"},
    .description =
        "Writes a self-contained HTML report (inline SVG, no scripts, no network) of one or more "
        "train_dirs: train, validation and evaluator curves on shared axes (one colour per run), "
        "each run's status (with the heartbeat age of a run in progress), its evaluators' best "
        "checkpoints, the confusion matrices of the best and the latest checkpoint, the "
        "per-class table and the config.  The files are read afresh each time.",
    .notes = "Partial input (an event record cut short or damaged, a malformed metrics line) is "
             "skipped with a note, in the report and as a `report: note: ...` line on stderr.  "
             "A missing DIR or a DIR without a manifest is an error, and nothing is written.",
    TV_CLI_TABLES(OPTIONS, EXAMPLES),
    .exit_status = "0 ok, 1 error (one line on stderr), 2 usage error.",
};

static int write_pngs(const char *outdir, const rp_run *runs, int nruns) {
  int rc = tv_fs_mkdirs(outdir);
  for (int d = 0; rc == TV_OK && d < rp_chart_ndefs; d++) {
    rp_chart *c = malloc(sizeof *c);
    if (!c) return tv_error(TV_ERR_NOMEM, "out of memory");
    rp_chart_build(c, &rp_chart_defs[d], runs, nruns);
    if (c->nlines > 0) {
      char name[96], path[8192];
      snprintf(name, sizeof name, "%s.png", c->tag);
      rc = tv_fs_join(path, sizeof path, outdir, name);
      if (rc == TV_OK) rc = rp_png_write(path, c, 640, 360);
    }
    free(c);
  }
  return rc;
}

int main(int argc, char **argv) {
  prog = tv_cli_progname(argv[0], "report");
  struct option longopts[N_OPTIONS + 1];
  char shortopts[16];
  if (tv_cli_getopt(OPTIONS, N_OPTIONS, longopts, shortopts, sizeof shortopts) != TV_OK) {
    fprintf(stderr, "%s: %s\n", prog, tv_error_message());
    return 2;
  }
  const char *out = "report.html", *png = NULL;
  int c;
  opterr = 0; /* one line of our own instead of getopt's message */
  while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    tv_text t = {0};
    if (tv_cli_standard(&t, prog, &PROGRAM, c)) { /* --help, --version, --list-options */
      fputs(t.oom ? "out of memory\n" : t.p, stdout);
      tv_text_free(&t);
      return 0;
    }
    switch (c) {
    case OPT_OUT:
      out = optarg;
      break;
    case OPT_PNG:
      png = optarg;
      break;
    default: /* '?' or ':' */
      fprintf(stderr, "%s: unrecognized option or missing argument: %s (--help lists them)\n", prog,
              argv[optind - 1]);
      return 2;
    }
  }
  int nruns = argc - optind;
  if (nruns < 1) {
    fprintf(stderr, "%s: no train_dir given (%s DIR... [--out FILE]; --help for more)\n", prog,
            prog);
    return 2;
  }
  rp_run *runs = calloc((size_t)nruns, sizeof *runs);
  if (!runs) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return 1;
  }
  int rc = TV_OK, n = 0;
  for (; rc == TV_OK && n < nruns; n++)
    rc = rp_run_read(argv[optind + n], argv[optind + n], &runs[n]);
  tv_text html = {0};
  if (rc == TV_OK) {
    for (int i = 0; i < nruns; i++)
      if (runs[i].notes.n > 0) {
        const char *p = runs[i].notes.p;
        while (*p) {
          const char *nl = strchr(p, '\n');
          int len = nl ? (int)(nl - p) : (int)strlen(p);
          fprintf(stderr, "%s: note: %.*s\n", prog, len, p);
          p += len + (nl ? 1 : 0);
        }
      }
    rp_html_write(&html, runs, nruns, tv_now());
    rc = tv_text_check(&html, out);
  }
  if (rc == TV_OK) rc = tv_fs_write_output(out, html.p, html.n);
  if (rc == TV_OK && png) rc = write_pngs(png, runs, nruns);
  if (rc != TV_OK) fprintf(stderr, "%s: %s\n", prog, tv_error_message());
  tv_text_free(&html);
  for (int i = 0; i < n; i++) rp_run_free(&runs[i]);
  free(runs);
  return rc == TV_OK ? 0 : 1;
}
