/* html.c — the self-contained HTML report: inline CSS and SVG only (no script, no external
 * resource, no web font), so it opens offline and can be sent as one file.
 *
 * Structure (the browser test relies on it): one <svg class="chart" data-tag="TAG"> per chart
 * with exactly one <path class="series"> per series drawn and <text class="axis-label"> for the
 * axes ("step" and the tag); then one <section class="run"> per train_dir, side by side, with its
 * status, notes, evaluators' best checkpoints, confusion matrices, per-class tables, the table of
 * the latest misclassified examples, the latest PR curves and config.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"

enum { W = 440, H = 260, ML = 64, MR = 14, MT = 28, MB = 44, PW = W - ML - MR, PH = H - MT - MB };

static void esc(tv_text *o, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '<':
      tv_text_printf(o, "&lt;");
      break;
    case '>':
      tv_text_printf(o, "&gt;");
      break;
    case '&':
      tv_text_printf(o, "&amp;");
      break;
    case '"':
      tv_text_printf(o, "&quot;");
      break;
    default:
      tv_text_printf(o, "%c", *s);
    }
  }
}

static double px(const rp_chart *c, double x) { return ML + (x - c->x0) / (c->x1 - c->x0) * PW; }
static double py(const rp_chart *c, double y) { return MT + (c->y1 - y) / (c->y1 - c->y0) * PH; }

static void chart_svg(tv_text *o, const rp_chart *c) {
  tv_text_printf(o,
                 "<figure><svg class=\"%s\" data-tag=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
                 "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
                 c->svg_class ? c->svg_class : "chart", c->tag, W, H, W, H);
  tv_text_printf(o, "<text class=\"title\" x=\"%d\" y=\"18\">", ML);
  esc(o, c->title);
  tv_text_printf(o, "</text>\n");
  char lab[32];
  for (int i = 0; i < c->nyt; i++) {
    double y = py(c, c->yt[i]);
    rp_tick_label(c->yt[i], lab, sizeof lab);
    tv_text_printf(o,
                   "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                   "<line class=\"tick\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                   "<text class=\"tick-label\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                   ML, y, ML + PW, y, ML - 5, y, ML, y, ML - 8, y + 4, lab);
  }
  for (int i = 0; i < c->nxt; i++) {
    double x = px(c, c->xt[i]);
    rp_tick_label(c->xt[i], lab, sizeof lab);
    tv_text_printf(
        o,
        "<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
        "<text class=\"tick-label\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
        x, MT + PH, x, MT + PH + 5, x, MT + PH + 18, lab);
  }
  tv_text_printf(o,
                 "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
                 "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n",
                 ML, MT, ML, MT + PH, ML, MT + PH, ML + PW, MT + PH);
  tv_text_printf(o,
                 "<text class=\"axis-label\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n"
                 "<text class=\"axis-label\" x=\"14\" y=\"%d\" text-anchor=\"middle\" "
                 "transform=\"rotate(-90 14 %d)\">",
                 ML + PW / 2, H - 6, c->xlabel ? c->xlabel : "step", MT + PH / 2, MT + PH / 2);
  esc(o, c->tag);
  tv_text_printf(o, "</text>\n");
  for (int i = 0; i < c->nlines; i++) {
    const rp_line *l = &c->lines[i];
    const char *dash = rp_kind_dash(l->kind, NULL, NULL);
    tv_text_printf(o, "<path class=\"%s\" stroke=\"#%06x\"%s%s%s d=\"",
                   c->path_class ? c->path_class : "series", rp_run_colour(l->run),
                   *dash ? " stroke-dasharray=\"" : "", dash, *dash ? "\"" : "");
    int pen = 0;
    for (int j = 0; j < l->s->n; j++) {
      if (!isfinite(l->s->value[j])) {
        pen = 0;
        continue;
      }
      tv_text_printf(o, "%s%.1f %.1f", pen ? " L" : "M", px(c, l->s->step[j]),
                     py(c, l->s->value[j]));
      pen = 1;
    }
    tv_text_printf(o, "\"><title>");
    esc(o, l->label);
    tv_text_printf(o, "</title></path>\n");
    if (l->s->n <= 30)
      for (int j = 0; j < l->s->n; j++)
        if (isfinite(l->s->value[j]))
          tv_text_printf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"#%06x\"/>",
                         px(c, l->s->step[j]), py(c, l->s->value[j]), rp_run_colour(l->run));
  }
  tv_text_printf(o, "</svg><figcaption>");
  for (int i = 0; i < c->nlines; i++) {
    const rp_line *l = &c->lines[i];
    const char *dash = rp_kind_dash(l->kind, NULL, NULL);
    tv_text_printf(o,
                   "<span class=\"key\"><svg width=\"28\" height=\"10\"><line x1=\"0\" y1=\"5\" "
                   "x2=\"28\" y2=\"5\" stroke=\"#%06x\" stroke-width=\"2\"%s%s%s/></svg>",
                   rp_run_colour(l->run), *dash ? " stroke-dasharray=\"" : "", dash,
                   *dash ? "\"" : "");
    esc(o, l->label);
    tv_text_printf(o, "</span> ");
  }
  tv_text_printf(o, "</figcaption></figure>\n");
}

/* ---- one run's section ---------------------------------------------------------------------- */

static void status_table(tv_text *o, const rp_run *r, double now) {
  const tv_manifest *m = &r->manifest;
  const tv_manifest_entry *last = tv_manifest_latest(m);
  tv_text_printf(o, "<table class=\"status\"><tr><th>status</th><td class=\"st-%s\">", m->status);
  esc(o, m->status);
  double age = now - m->heartbeat;
  if (!tv_manifest_status_terminal(m->status)) {
    tv_text_printf(o, " (in progress: heartbeat %.0f s ago", age < 0 ? 0 : age);
    if (age > 120) tv_text_printf(o, "; no heartbeat for a while, the trainer may be gone");
    tv_text_printf(o, ")");
  }
  tv_text_printf(o, "</td></tr><tr><th>trainer</th><td>");
  esc(o, m->host);
  tv_text_printf(o, " pid %ld</td></tr><tr><th>checkpoints</th><td>%d committed", m->pid, m->n);
  if (last) {
    tv_text_printf(o, ", latest step %lld (", (long long)last->step);
    esc(o, last->file);
    tv_text_printf(o, ")");
  }
  tv_text_printf(o, "</td></tr></table>\n");
}

static const rp_result *find_result(const rp_evaluator *e, int64_t step) {
  for (int i = 0; i < e->n; i++)
    if (e->results[i].step == step) return &e->results[i];
  return NULL;
}

static void confusion(tv_text *o, const rp_result *res, const char *what) {
  tv_text_printf(o, "<div class=\"cm\"><h4>%s: step %lld", what, (long long)res->step);
  if (res->checkpoint[0]) {
    tv_text_printf(o, " (");
    esc(o, res->checkpoint);
    tv_text_printf(o, ")");
  }
  tv_text_printf(o, "</h4>");
  if (res->k == 0) {
    tv_text_printf(o, "<p>no per-class data in this result</p></div>\n");
    return;
  }
  int k = res->k;
  tv_text_printf(o, "<table class=\"confusion\"><tr><th>true \\ predicted</th>");
  for (int q = 0; q < k; q++) tv_text_printf(o, "<th>%d</th>", q);
  tv_text_printf(o, "</tr>\n");
  for (int i = 0; i < k; i++) {
    double rowsum = 0;
    for (int q = 0; q < k; q++) rowsum += res->conf[(size_t)i * (size_t)k + (size_t)q];
    tv_text_printf(o, "<tr><th>%d</th>", i);
    for (int q = 0; q < k; q++) {
      double v = res->conf[(size_t)i * (size_t)k + (size_t)q];
      double a = rowsum > 0 ? v / rowsum : 0;
      tv_text_printf(o, "<td style=\"background:rgba(%d,%d,%d,%.2f)%s\">%.0f</td>",
                     i == q ? 0 : 213, i == q ? 114 : 94, i == q ? 178 : 0, a,
                     a > 0.5 ? ";color:#fff" : "", v);
    }
    tv_text_printf(o, "</tr>\n");
  }
  tv_text_printf(o, "</table>\n<table class=\"per-class\"><tr><th>class</th><th>precision</th>"
                    "<th>recall</th><th>F1</th><th>support</th></tr>\n");
  for (int i = 0; i < k; i++)
    tv_text_printf(o, "<tr><td>%d</td><td>%.4f</td><td>%.4f</td><td>%.4f</td><td>%.0f</td></tr>\n",
                   i, res->per[0][i], res->per[1][i], res->per[2][i], res->per[3][i]);
  tv_text_printf(o, "</table></div>\n");
}

/* The table of the evaluator's latest misclassified examples (its event files'
 * "misclassified/labels" text, figures.c), when it wrote one.  The grid image itself stays in
 * TensorBoard: the report embeds no image (it has no <img>, no data: URI). */
static void misclassified(tv_text *o, const rp_source *figs) {
  const rp_blob *t = rp_source_blob(figs, "misclassified/labels");
  if (!t || t->kind != RP_BLOB_TEXT) return;
  tv_text_printf(o, "<div class=\"mis\"><h4>misclassified: step %lld</h4><pre>",
                 (long long)t->step);
  esc(o, (const char *)t->data);
  tv_text_printf(o, "</pre></div>\n");
}

/* The evaluator's PR curves at their latest step (its event files' "pr_curves" records,
 * figures.c): precision over recall, one line per class. */
static void pr_curves(tv_text *o, const rp_source *figs) {
  int64_t step = -1;
  for (int i = 0; i < figs->nblobs; i++)
    if (figs->blobs[i].kind == RP_BLOB_PR && figs->blobs[i].step > step) step = figs->blobs[i].step;
  if (step < 0) return;
  char title[64];
  snprintf(title, sizeof title, "PR curves: step %lld", (long long)step);
  rp_chart c = {.tag = "precision",
                .title = title,
                .xlabel = "recall",
                .path_class = "pr",
                .svg_class = "pr-chart",
                .x1 = 1,
                .y1 = 1,
                .nxt = 5,
                .nyt = 5};
  for (int i = 0; i < 5; i++) c.xt[i] = c.yt[i] = i * 0.25;
  rp_series ser[RP_MAX_LINES];
  int ok = 1;
  for (int i = 0; i < figs->nblobs && c.nlines < RP_MAX_LINES; i++) {
    const rp_blob *b = &figs->blobs[i];
    if (b->kind != RP_BLOB_PR || rp_source_blob(figs, b->tag) != b) continue; /* the latest */
    int t = (int)(b->len / 24);
    rp_series *s = &ser[c.nlines];
    memset(s, 0, sizeof *s);
    s->n = t;
    s->step = malloc((size_t)t * sizeof *s->step);
    s->value = malloc((size_t)t * sizeof *s->value);
    rp_line *l = &c.lines[c.nlines++];
    *l = (rp_line){.s = s, .run = c.nlines - 1, .kind = 0};
    snprintf(l->label, sizeof l->label, "%s", b->tag);
    if (!s->step || !s->value) {
      ok = 0;
      break;
    }
    for (int j = 0; j < t; j++) {
      float pr, rc;
      memcpy(&pr, b->data + (size_t)(4 * t + j) * 4, 4);
      memcpy(&rc, b->data + (size_t)(5 * t + j) * 4, 4);
      s->step[j] = rc;
      s->value[j] = pr;
    }
  }
  if (ok)
    chart_svg(o, &c);
  else
    o->oom = 1;
  for (int i = 0; i < c.nlines; i++) {
    free(ser[i].step);
    free(ser[i].value);
  }
}

static void evaluator(tv_text *o, const rp_evaluator *e) {
  tv_text_printf(o, "<h3>evaluator ");
  esc(o, e->src.name);
  tv_text_printf(o, "</h3>\n<p>%d checkpoint%s evaluated", e->n, e->n == 1 ? "" : "s");
  const rp_result *best = NULL, *latest = e->n > 0 ? &e->results[e->n - 1] : NULL;
  if (e->has_state && e->state.has_best) {
    best = find_result(e, e->state.best_step);
    tv_text_printf(o, "; best by %s (%s): <b>step %lld</b> (", e->state.metric,
                   e->state.mode_max ? "max" : "min", (long long)e->state.best_step);
    esc(o, e->state.best_file);
    tv_text_printf(o, "), %s %.4f", e->state.metric, e->state.best_value);
  } else {
    tv_text_printf(o, "; no best checkpoint recorded yet");
  }
  if (latest)
    tv_text_printf(o, "; latest step %lld: loss %.4f, accuracy %.4f", (long long)latest->step,
                   latest->metric[TV_METRIC_LOSS], latest->metric[TV_METRIC_ACCURACY]);
  tv_text_printf(o, "</p>\n<div class=\"cms\">");
  if (best) confusion(o, best, "best");
  if (latest && latest != best) confusion(o, latest, "latest");
  misclassified(o, &e->figs);
  pr_curves(o, &e->figs);
  tv_text_printf(o, "</div>\n");
}

static void run_section(tv_text *o, const rp_run *r, int i, double now) {
  tv_text_printf(o,
                 "<section class=\"run\"><h2><span class=\"swatch\" style=\"background:#%06x\">"
                 "</span>",
                 rp_run_colour(i));
  esc(o, r->label);
  tv_text_printf(o, "</h2>\n");
  status_table(o, r, now);
  if (r->notes.n > 0) {
    tv_text_printf(o, "<div class=\"notes\"><h4>skipped</h4><ul>");
    const char *p = r->notes.p;
    while (*p) {
      const char *nl = strchr(p, '\n');
      size_t n = nl ? (size_t)(nl - p) : strlen(p);
      char line[RP_NOTE_CAP + 8192];
      snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
      tv_text_printf(o, "<li>");
      esc(o, line);
      tv_text_printf(o, "</li>");
      p += n + (nl ? 1 : 0);
    }
    tv_text_printf(o, "</ul></div>\n");
  }
  if (r->nevals == 0) tv_text_printf(o, "<p>no evaluator has results in this run yet</p>\n");
  for (int e = 0; e < r->nevals; e++) evaluator(o, &r->evals[e]);
  tv_text_printf(o, "<details open><summary>config.yaml</summary>");
  if (r->config) {
    tv_text_printf(o, "<pre class=\"config\">");
    esc(o, r->config);
    tv_text_printf(o, "</pre>");
  } else {
    tv_text_printf(o, "<p>no config.yaml</p>");
  }
  tv_text_printf(o, "</details></section>\n");
}

static const char CSS[] =
    "body{font:14px/1.4 sans-serif;margin:16px;color:#222}"
    "h1{font-size:20px}h2{font-size:17px}h3{font-size:15px;margin:12px 0 4px}"
    "h4{font-size:13px;margin:6px 0}"
    ".charts{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}"
    "figcaption{font-size:12px;max-width:440px}.key{white-space:nowrap;margin-right:8px}"
    "svg.chart,svg.pr-chart{background:#fff;border:1px solid #ddd}"
    "svg .title{font-size:14px;font-weight:bold}svg .tick-label{font-size:11px}"
    "svg .axis-label{font-size:12px}svg .axis,svg .tick{stroke:#333}"
    "svg "
    ".grid{stroke:#eee}path.series{fill:none;stroke-width:1.8}path.pr{fill:none;stroke-width:1.4}"
    ".runs{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}"
    ".run{border:1px solid #ccc;padding:8px 12px;flex:1 1 480px;min-width:0}"
    ".swatch{display:inline-block;width:14px;height:14px;margin-right:6px}"
    "table{border-collapse:collapse;margin:4px 0}th,td{border:1px solid #ddd;padding:2px 6px}"
    "table.confusion td{text-align:right;min-width:28px;font-size:12px}"
    "table.per-class td{text-align:right;font-size:12px}.cms{display:flex;flex-wrap:wrap;gap:12px}"
    ".notes{background:#fff4e0;padding:4px 8px}"
    "pre.config{background:#f6f6f6;padding:6px;font-size:12px;max-height:400px;overflow:auto}";

void rp_html_write(tv_text *o, const rp_run *runs, int nruns, double now) {
  char when[64];
  time_t t = (time_t)now;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  tv_text_printf(o,
                 "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<title>trainval report</title><style>%s</style></head><body>\n",
                 CSS);
  tv_text_printf(o, "<h1>trainval run report</h1>\n<p>made %s from", when);
  for (int i = 0; i < nruns; i++) {
    tv_text_printf(o, "%s <code>", i ? "," : "");
    esc(o, runs[i].dir);
    tv_text_printf(o, "</code>");
  }
  tv_text_printf(o, ". Lines: solid train, dashed validation, dotted and dash-dot evaluators; "
                    "one colour per run.</p>\n<div class=\"charts\">\n");
  int drawn = 0;
  for (int d = 0; d < rp_chart_ndefs; d++) {
    rp_chart c;
    rp_chart_build(&c, &rp_chart_defs[d], runs, nruns);
    if (c.nlines == 0) continue;
    chart_svg(o, &c);
    drawn++;
  }
  if (!drawn) tv_text_printf(o, "<p>no scalars recorded yet</p>\n");
  tv_text_printf(o, "</div>\n<div class=\"runs\">\n");
  for (int i = 0; i < nruns; i++) run_section(o, &runs[i], i, now);
  tv_text_printf(o, "</div>\n</body></html>\n");
}
