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
 * line; the rest of report/ does the reading and drawing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "trainval/files.h"

/* The option table: parsing and --help both come from it. */
static const struct opt {
  const char *name;
  int has_arg;
  int key;
  const char *arg, *help;
} OPTS[] = {
    {"out", required_argument, 'o', "FILE", "the HTML report to write (default report.html)"},
    {"png", required_argument, 'p', "OUTDIR", "also write each chart as OUTDIR/<tag>.png"},
    {"help", no_argument, 'h', NULL, "this text"},
};
enum { NOPTS = sizeof OPTS / sizeof OPTS[0] };

static void usage(FILE *f) {
  fputs("usage: report DIR... [--out FILE] [--png OUTDIR]\n"
        "\n"
        "Writes a self-contained HTML report (inline SVG, no scripts, no network) of one or more\n"
        "train_dirs: train, validation and evaluator curves on shared axes (one colour per run),\n"
        "each run's status (with the heartbeat age of a run in progress), its evaluators' best\n"
        "checkpoints, the confusion matrices of the best and the latest checkpoint, the\n"
        "per-class table and the config.  The files are read afresh each time.\n"
        "\n",
        f);
  for (int i = 0; i < NOPTS; i++) {
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", OPTS[i].name, OPTS[i].arg ? " " : "",
             OPTS[i].arg ? OPTS[i].arg : "");
    fprintf(f, "  %-20s %s\n", left, OPTS[i].help);
  }
  fputs("\nExit status: 0 ok, 1 error (one line on stderr), 2 usage error.\n", f);
}

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
  struct option longopts[NOPTS + 1];
  for (int i = 0; i < NOPTS; i++)
    longopts[i] = (struct option){OPTS[i].name, OPTS[i].has_arg, NULL, OPTS[i].key};
  longopts[NOPTS] = (struct option){0};
  const char *out = "report.html", *png = NULL;
  int c;
  opterr = 0; /* one line of our own instead of getopt's message */
  while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'o':
      out = optarg;
      break;
    case 'p':
      png = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      fprintf(stderr, "report: unrecognized option or missing argument: %s (--help lists them)\n",
              argv[optind - 1]);
      return 2;
    }
  }
  int nruns = argc - optind;
  if (nruns < 1) {
    fprintf(stderr, "report: no train_dir given (report DIR... [--out FILE]; --help for more)\n");
    return 2;
  }
  rp_run *runs = calloc((size_t)nruns, sizeof *runs);
  if (!runs) {
    fprintf(stderr, "report: out of memory\n");
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
          fprintf(stderr, "report: note: %.*s\n", len, p);
          p += len + (nl ? 1 : 0);
        }
      }
    rp_html_write(&html, runs, nruns, tv_now());
    rc = tv_text_check(&html, out);
  }
  if (rc == TV_OK) rc = tv_fs_write_output(out, html.p, html.n);
  if (rc == TV_OK && png) rc = write_pngs(png, runs, nruns);
  if (rc != TV_OK) fprintf(stderr, "report: %s\n", tv_error_message());
  tv_text_free(&html);
  for (int i = 0; i < n; i++) rp_run_free(&runs[i]);
  free(runs);
  return rc == TV_OK ? 0 : 1;
}
