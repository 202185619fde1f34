/* chart.c — the chart model the HTML and PNG writers share: which series a chart holds, its
 * shared axes and "nice" ticks, run colours and source dash patterns.
 *
 * Invariant: x0 < x1 and y0 < y1 for a chart with lines, every tick inside its axis range, so a
 * writer may map values to pixels without further checks.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

const rp_chart_def rp_chart_defs[] = {
    {"loss", "loss"},
    {"accuracy", "accuracy"},
    {"macro_f1", "macro F1"},
    {"learning_rate", "learning rate"},
    {"examples_per_sec", "examples / s"},
    {"eval_lag_steps", "eval lag (steps)"},
    {"eval_lag_seconds", "eval lag (seconds)"},
};
const int rp_chart_ndefs = (int)(sizeof rp_chart_defs / sizeof rp_chart_defs[0]);

/* Colour-blind-safe palette (Okabe-Ito), then a few more. */
static const unsigned PALETTE[] = {0x0072b2, 0xd55e00, 0x009e73, 0xcc79a7,
                                   0xe69f00, 0x56b4e9, 0x000000, 0x999933};

unsigned rp_run_colour(int i) { return PALETTE[i % (int)(sizeof PALETTE / sizeof PALETTE[0])]; }

const char *rp_kind_dash(int kind, int *on, int *off) {
  static const struct {
    const char *dash;
    int on, off;
  } k[] = {{"", 1, 0}, {"7 4", 7, 4}, {"2 3", 2, 3}, {"10 3 2 3", 10, 5}};
  int i = kind < 3 ? kind : 3;
  if (on) *on = k[i].on;
  if (off) *off = k[i].off;
  return k[i].dash;
}

static void add_line(rp_chart *c, const rp_source *src, int run, int kind, const char *run_label) {
  const rp_series *s = rp_source_find(src, c->tag);
  if (!s || s->n == 0 || c->nlines == RP_MAX_LINES) return;
  rp_line *l = &c->lines[c->nlines++];
  l->s = s;
  l->run = run;
  l->kind = kind;
  snprintf(l->label, sizeof l->label, "%s %s", run_label, src->name);
}

/* Ticks at multiples of a 1/2/5 x 10^k step covering [lo, hi]; widens lo and hi to them. */
static int nice_ticks(double *lo, double *hi, double *t, int max) {
  double span = *hi - *lo;
  double raw = span / 5;
  double mag = pow(10, floor(log10(raw)));
  double r = raw / mag;
  double step = (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
  double a = floor(*lo / step + 1e-9) * step, b = ceil(*hi / step - 1e-9) * step;
  int n = 0;
  for (double v = a; v <= b + step * 1e-6 && n < max; v += step)
    t[n++] = fabs(v) < step * 1e-9 ? 0 : v;
  *lo = a;
  *hi = b;
  return n;
}

void rp_chart_build(rp_chart *c, const rp_chart_def *def, const rp_run *runs, int nruns) {
  memset(c, 0, sizeof *c);
  c->tag = def->tag;
  c->title = def->title;
  for (int r = 0; r < nruns; r++) {
    add_line(c, &runs[r].train, r, 0, runs[r].label);
    add_line(c, &runs[r].validation, r, 1, runs[r].label);
    for (int e = 0; e < runs[r].nevals; e++)
      add_line(c, &runs[r].evals[e].src, r, 2 + e, runs[r].label);
  }
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (int i = 0; i < c->nlines; i++) {
    const rp_series *s = c->lines[i].s;
    for (int j = 0; j < s->n; j++) {
      if (!isfinite(s->value[j])) continue;
      x0 = fmin(x0, s->step[j]);
      x1 = fmax(x1, s->step[j]);
      y0 = fmin(y0, s->value[j]);
      y1 = fmax(y1, s->value[j]);
    }
  }
  if (!(x0 <= x1)) x0 = 0, x1 = 1;
  if (!(y0 <= y1)) y0 = 0, y1 = 1;
  x0 = fmin(x0, 0); /* steps from 0, so that runs line up */
  if (x1 - x0 < 1) x1 = x0 + 1;
  if (y1 - y0 < 1e-12 * fmax(1, fabs(y1))) {
    double d = fabs(y1) > 0 ? fabs(y1) * 0.05 : 1;
    y0 -= d;
    y1 += d;
  }
  c->nxt = nice_ticks(&x0, &x1, c->xt, RP_MAX_TICKS);
  c->nyt = nice_ticks(&y0, &y1, c->yt, RP_MAX_TICKS);
  c->x0 = x0;
  c->x1 = x1;
  c->y0 = y0;
  c->y1 = y1;
}

void rp_tick_label(double v, char *buf, size_t cap) {
  double a = fabs(v);
  if (a == 0)
    snprintf(buf, cap, "0");
  else if (a >= 1e6 || a < 1e-3)
    snprintf(buf, cap, "%.0e", v);
  else if (a >= 1e4 && fmod(a, 1000) == 0)
    snprintf(buf, cap, "%gk", v / 1000);
  else
    snprintf(buf, cap, "%g", v);
}
