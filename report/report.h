/* report.h — the run report (bin/report, installed as trainval-report): what it reads from a
 * train_dir and how it draws it.  Internal to the report program; it uses libtrainval only
 * through the public headers.
 *
 * WHAT IS READ (every time a report is made; nothing is cached)
 *   DIR/checkpoints.yaml        status, heartbeat, committed checkpoints (manifest.h); required
 *   DIR/config.yaml             the run's effective config, shown as text (optional)
 *   DIR/events.out.tfevents.*   train scalars (run "train")
 *   DIR/validation/events...    in-process validation scalars (run "validation")
 *   DIR/NAME/metrics.jsonl      each evaluator's results (evallog.h METRICS LINE): the curves,
 *                               the confusion matrices and the per-class table; a skipped line
 *                               (a checkpoint retention deleted first) is not a result
 *   DIR/NAME/state.yaml         each evaluator's best checkpoint (optional)
 * Event files are read record by record with their CRCs checked and TensorBoard's purge rule
 * applied (a SessionLog START after a run's first drops values at its step or later, events.h).
 *
 * PARTIAL INPUT.  A file cut short or damaged is not an error: what reads cleanly is used, and a
 * note naming the file and the problem goes into the report ("skipped" notes) and to stderr.
 * That covers a torn last record of an event file, a record whose CRC fails (the rest of that
 * file is skipped), a torn last metrics.jsonl line (one being written) and a complete line that
 * does not parse (that line is skipped), an unreadable state.yaml.  A DIR that does not exist or
 * has no readable manifest is an error: the report is not written.
 */
#ifndef TRAINVAL_REPORT_H
#define TRAINVAL_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"
#include "trainval/evallog.h"
#include "trainval/evalstate.h"
#include "trainval/manifest.h"
#include "trainval/metrics.h"
#include "trainval/text.h"

enum { RP_TAG_CAP = 64, RP_NOTE_CAP = 512, RP_MAX_CLASSES = 256 };

/* One scalar series: points in the order read (steps ascending once the purge rule applied). */
typedef struct rp_series {
  char tag[RP_TAG_CAP];
  int n, cap;
  double *step, *value;
} rp_series;

/* A record of a text summary or a PR curve. */
typedef enum rp_blob_kind { RP_BLOB_TEXT, RP_BLOB_PR } rp_blob_kind;

typedef struct rp_blob {
  char tag[RP_TAG_CAP];
  rp_blob_kind kind;
  int64_t step;
  /* malloc'd: the text, NUL-terminated (not counted in len); or the PR curve's 6 * T floats
   * (events.h: rows TP, FP, TN, FN, precision, recall), len = 24 * T bytes */
  unsigned char *data;
  size_t len;
} rp_blob;

/* The scalar series of one source (train, validation or an evaluator), and its text and PR curve
 * records (the purge rule applied to them as well). */
typedef struct rp_source {
  char name[TV_EVAL_NAME_CAP]; /* "train", "validation" or the evaluator's NAME */
  int n, cap;
  rp_series *series;
  int nblobs, cblobs;
  rp_blob *blobs;
} rp_source;

/* One evaluated checkpoint of an evaluator, from its metrics.jsonl line. */
typedef struct rp_result {
  int64_t step;
  char checkpoint[TV_MANIFEST_FILE_CAP];
  int k;                           /* number of classes (0: the line had no per-class data) */
  double *conf;                    /* k*k confusion counts, rows true class (malloc'd) */
  double *per[4];                  /* precision, recall, f1, support: k each (malloc'd) */
  double metric[TV_METRIC__COUNT]; /* by tv_metric_kind (NaN if absent) */
} rp_result;

typedef struct rp_evaluator {
  rp_source src;  /* curves: the metric table's, eval_lag_steps, eval_lag_seconds */
  rp_source figs; /* its event files: texts and PR curves (figures.c's table and curves) */
  int n, cap;
  rp_result *results; /* ascending step */
  int has_state;
  tv_evalstate state; /* best checkpoint, metric, mode */
} rp_evaluator;

/* Everything read from one train_dir. */
typedef struct rp_run {
  char dir[4096];
  char label[128]; /* how the run is named in charts: the path as given */
  tv_manifest manifest;
  char *config; /* DIR/config.yaml text, NULL if absent (malloc'd) */
  rp_source train, validation;
  int nevals;
  rp_evaluator *evals;
  tv_text notes; /* "skipped" notes, one per line */
} rp_run;

/* ---- reading (rundata.c, tfevents.c) ------------------------------------------------------- */

/* Reads the train_dir dir into *r (which the caller zeroes first; free with rp_run_free).
 * Partial files become notes in r->notes (above).  Errors: TV_ERR_NOT_FOUND (dir or its
 * manifest missing: "dir: ..."), TV_ERR_IO, TV_ERR_FORMAT (an unreadable manifest), TV_ERR_NOMEM;
 * on failure *r holds what was read so far, still to be freed. */
TV_MUST_CHECK int rp_run_read(const char *dir, const char *label, rp_run *r);

/* Frees everything r holds and zeroes it.  NULL-safe. */
void rp_run_free(rp_run *r);

/* Reads every events.out.tfevents.* file directly in dir, in name order, into src (scalars, text
 * summaries and PR curves; other records are skipped), applying
 * TensorBoard's purge rule.  A missing dir gives no
 * series.  Torn or damaged files add a note to notes and keep what read before the damage.
 * Errors: TV_ERR_IO (dir cannot be listed), TV_ERR_NOMEM. */
TV_MUST_CHECK int rp_events_read_dir(const char *dir, rp_source *src, tv_text *notes);

/* Reads the file at path whole (tv_fs_read_all: *data malloc'd, the caller frees).  A file that
 * cannot be read is a note ("path: cannot be read (why); skipped"), TV_OK with *data NULL.
 * Errors: TV_ERR_NOMEM. */
TV_MUST_CHECK int rp_read_or_note(const char *path, char **data, size_t *len, tv_text *notes);

/* Appends (step, value) to src's series named tag (created on first use).  Errors:
 * TV_ERR_NOMEM. */
TV_MUST_CHECK int rp_source_add(rp_source *src, const char *tag, double step, double value);

/* The series named tag, or NULL. */
const rp_series *rp_source_find(const rp_source *src, const char *tag);

/* The record of tag at its latest step (of equal steps the one read last), or NULL. */
const rp_blob *rp_source_blob(const rp_source *src, const char *tag);

/* Drops from every series of src the points with step >= step, and the blobs (the purge rule). */
void rp_source_purge(rp_source *src, double step);

void rp_source_free(rp_source *src);

/* ---- charts (chart.c) ----------------------------------------------------------------------- */

enum { RP_MAX_TICKS = 12, RP_MAX_LINES = 64 };

/* One line of a chart: a series, with the run it belongs to (colour) and its source kind
 * (dash pattern: 0 train, 1 validation, 2.. evaluators). */
typedef struct rp_line {
  const rp_series *s;
  int run, kind;
  char label[256];
} rp_line;

/* A chart: the lines of one tag over every run, on shared axes. */
typedef struct rp_chart {
  const char *tag, *title;
  const char *xlabel;     /* NULL: "step" */
  const char *path_class; /* the SVG paths' class; NULL: "series" */
  const char *svg_class;  /* the svg's class; NULL: "chart" */
  int nlines;
  rp_line lines[RP_MAX_LINES];
  double x0, x1, y0, y1; /* axis ranges (x: step) */
  int nxt, nyt;
  double xt[RP_MAX_TICKS], yt[RP_MAX_TICKS];
} rp_chart;

/* The charts a report draws, in order: tag and title. */
typedef struct rp_chart_def {
  const char *tag, *title;
} rp_chart_def;
extern const rp_chart_def rp_chart_defs[];
extern const int rp_chart_ndefs;

/* Fills c with every series of tag in runs[0..nruns) (train, validation, evaluators) and
 * computes shared axes with "nice" ticks.  c->nlines is 0 when no run has that tag.  Cannot
 * fail (lines beyond RP_MAX_LINES are left out). */
void rp_chart_build(rp_chart *c, const rp_chart_def *def, const rp_run *runs, int nruns);

/* Formats a tick value compactly ("0.25", "1e-05", "12k"). */
void rp_tick_label(double v, char *buf, size_t cap);

/* The colour of run i as 0xRRGGBB, and the dash pattern of a source kind (SVG dasharray, "" for
 * solid) with its on/off lengths in pixels for rasters (off 0 for solid). */
unsigned rp_run_colour(int i);
const char *rp_kind_dash(int kind, int *on, int *off);

/* ---- output (html.c, png.c) ----------------------------------------------------------------- */

/* Writes the self-contained HTML report (inline SVG and CSS, no scripts, no external resource)
 * of runs[0..nruns) into *out.  now is the time heartbeat ages are measured against.  Cannot
 * fail (out->oom says the text is incomplete). */
void rp_html_write(tv_text *out, const rp_run *runs, int nruns, double now);

/* Draws chart c into a w x h RGB raster and writes it to path as a PNG (image.h), atomically
 * (tv_fs_write_atomic).  Tick labels use image.h's built-in font; titles and legends are left
 * out (the file is named after the tag, colours are the HTML report's).  Errors: TV_ERR_NOMEM,
 * TV_ERR_IO (message names path). */
TV_MUST_CHECK int rp_png_write(const char *path, const rp_chart *c, int w, int h);

#endif
