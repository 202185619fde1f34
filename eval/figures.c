/* figures.c — what the evaluator draws for TensorBoard beside its scalars (see eval.h): the
 * confusion matrix image, the grid of the first misclassified examples with its text table, and
 * one PR curve per class (per label for a multilabel model).  Everything is a function of the
 * result alone (counts, the subset in order, the probabilities), so the same checkpoint always
 * gives the same records.
 */
#include "eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainval/image.h"
#include "trainval/metrics.h"
#include "trainval/text.h"

enum {
  SCALE = 2,                         /* font pixels per glyph pixel */
  CHAR_W = TV_IMAGE_GLYPH_W * SCALE, /* 8 */
  CHAR_H = TV_IMAGE_GLYPH_H * SCALE, /* 10 */
  NAME_CHARS = 16,                   /* class names are cut to this many characters */
  GRID_COLS = 8,                     /* tiles per row of the misclassified grid */
  INK = 0x222222,
  PAPER = 0xffffff,
  RULE = 0xbbbbbb,
  WRONG = 0xd55e00,
  RIGHT = 0x0072b2,
};

static int has_name(const tv_dataset *ds, int c) {
  return ds->names && c < ds->num_classes && ds->names[c] && ds->names[c][0];
}

/* "i name" (the name from the dataset, cut to NAME_CHARS), or "i" where it has none. */
static void class_label(const tv_dataset *ds, int c, char *buf, size_t cap) {
  if (has_name(ds, c))
    snprintf(buf, cap, "%d %.*s", c, NAME_CHARS, ds->names[c]);
  else
    snprintf(buf, cap, "%d", c);
}

/* 0xRRGGBB between white (f = 0) and a dark blue (f = 1). */
static unsigned shade(double f) {
  static const int lo[3] = {0xff, 0xff, 0xff}, hi[3] = {0x08, 0x30, 0x6b};
  unsigned rgb = 0;
  for (int i = 0; i < 3; i++)
    rgb = rgb << 8 | (unsigned)(lo[i] + (hi[i] - lo[i]) * (f < 0 ? 0 : f > 1 ? 1 : f) + 0.5);
  return rgb;
}

/* Rows true class (labelled "i name"), columns predicted class (labelled i), each cell its
 * count, shaded by the count's share of its row. */
static int confusion_image(const evaluator_result *res, int k, tv_image *img) {
  const uint64_t *cm = tv_metrics_confusion(res->metrics);
  uint64_t most = 0;
  int label_w = 0;
  char buf[NAME_CHARS + 32];
  for (int i = 0; i < k * k; i++) most = cm[i] > most ? cm[i] : most;
  for (int c = 0; c < k; c++) {
    class_label(res->ds, c, buf, sizeof buf);
    int w = tv_image_text_width(buf, SCALE);
    label_w = w > label_w ? w : label_w;
  }
  snprintf(buf, sizeof buf, "%llu", (unsigned long long)most);
  int cell = tv_image_text_width(buf, SCALE) + 8;
  cell = cell < 28 ? 28 : cell;
  static const char corner[] = "TRUE \\ PRED";
  int corner_w = tv_image_text_width(corner, SCALE);
  int left = 8 + (label_w > corner_w ? label_w : corner_w) + 8, top = 8 + CHAR_H + 8;
  int rc = tv_image_new(img, left + k * cell + 8, top + k * cell + 8, PAPER);
  if (rc != TV_OK) return rc;
  tv_image_text(img, 8, 8, corner, SCALE, INK);
  for (int c = 0; c < k; c++) {
    snprintf(buf, sizeof buf, "%d", c);
    tv_image_text(img, left + c * cell + (cell - tv_image_text_width(buf, SCALE)) / 2, 8, buf,
                  SCALE, INK);
    class_label(res->ds, c, buf, sizeof buf);
    tv_image_text(img, 8, top + c * cell + (cell - CHAR_H) / 2, buf, SCALE, INK);
  }
  for (int t = 0; t < k; t++) {
    uint64_t row = 0;
    for (int p = 0; p < k; p++) row += cm[(size_t)t * k + p];
    for (int p = 0; p < k; p++) {
      uint64_t n = cm[(size_t)t * k + p];
      double f = row ? (double)n / (double)row : 0;
      int x = left + p * cell, y = top + t * cell;
      tv_image_rect(img, x, y, x + cell - 1, y + cell - 1, RULE);
      tv_image_rect(img, x + 1, y + 1, x + cell - 2, y + cell - 2, shade(f));
      snprintf(buf, sizeof buf, "%llu", (unsigned long long)n);
      tv_image_text(img, x + (cell - tv_image_text_width(buf, SCALE)) / 2, y + (cell - CHAR_H) / 2,
                    buf, SCALE, f > 0.5 ? PAPER : INK);
    }
  }
  return TV_OK;
}

/* The predicted class of example i (the first of the largest probabilities, as the metrics'
 * argmax) and its probability. */
static int predicted(const float *p, int k, float *prob) {
  int best = 0;
  for (int c = 1; c < k; c++)
    if (p[c] > p[best]) best = c;
  *prob = p[best];
  return best;
}

/* Examples of the subset, in subset order, whose prediction is wrong: up to cap positions into
 * the subset in at[]; returns how many. */
static int find_misclassified(const evaluator_result *res, int k, int cap, uint32_t *at) {
  int m = 0;
  for (uint32_t i = 0; i < res->n && m < cap; i++) {
    float prob;
    int p = predicted(res->probs + (size_t)i * k, k, &prob);
    if (p != res->labels[i]) at[m++] = i;
  }
  return m;
}

/* A grid of the examples at[0..m), whose pixels are px (m images of the dataset's shape, in
 * that order): each image at twice its size over the caption "T<true> P<predicted>" (the true
 * class in blue, the prediction in orange). */
static int misclassified_image(const evaluator_result *res, int k, const uint32_t *at, int m,
                               const uint8_t *px, tv_image *img) {
  const tv_dataset *ds = res->ds;
  int iw = ds->w * 2, ih = ds->h * 2;
  int tile_w = (iw > 11 * CHAR_W ? iw : 11 * CHAR_W) + 8, tile_h = ih + CHAR_H + 12;
  int cols = m < GRID_COLS ? m : GRID_COLS, rows = (m + cols - 1) / cols;
  int rc = tv_image_new(img, cols * tile_w + 8, rows * tile_h + 8, PAPER);
  if (rc != TV_OK) return rc;
  size_t plane = (size_t)ds->h * (size_t)ds->w, d = plane * (size_t)ds->c;
  for (int j = 0; j < m; j++) {
    const uint8_t *src = px + (size_t)j * d;
    int x0 = 8 + (j % cols) * tile_w, y0 = 8 + (j / cols) * tile_h;
    for (int y = 0; y < ds->h; y++)
      for (int x = 0; x < ds->w; x++) {
        size_t o = (size_t)y * (size_t)ds->w + (size_t)x;
        unsigned r = src[o], g = ds->c == 3 ? src[plane + o] : r,
                 b = ds->c == 3 ? src[2 * plane + o] : r;
        tv_image_rect(img, x0 + 2 * x, y0 + 2 * y, x0 + 2 * x + 1, y0 + 2 * y + 1,
                      r << 16 | g << 8 | b);
      }
    float prob;
    int p = predicted(res->probs + (size_t)at[j] * k, k, &prob);
    char buf[32];
    snprintf(buf, sizeof buf, "T%d ", (int)res->labels[at[j]]);
    int w = tv_image_text(img, x0, y0 + ih + 4, buf, SCALE, RIGHT);
    snprintf(buf, sizeof buf, "P%d", p);
    tv_image_text(img, x0 + w, y0 + ih + 4, buf, SCALE, WRONG);
  }
  return TV_OK;
}

/* The markdown table beside the grid: position in the grid, example index in the split, true
 * and predicted class with names, the predicted class's probability. */
static int misclassified_text(const evaluator_result *res, int k, const uint32_t *at, int m,
                              char **out) {
  tv_text t = {0};
  tv_text_printf(
      &t,
      "first %d misclassified of %u examples (grid left to right, top to "
      "bottom)\n\n| # | example | true | predicted | p(predicted) |\n|---|---|---|---|---|\n",
      m, res->n);
  for (int j = 0; j < m; j++) {
    uint32_t e = res->idx[at[j]];
    float prob;
    int p = predicted(res->probs + (size_t)at[j] * k, k, &prob);
    char tn[NAME_CHARS + 16], pn[NAME_CHARS + 16];
    class_label(res->ds, res->labels[at[j]], tn, sizeof tn);
    class_label(res->ds, p, pn, sizeof pn);
    tv_text_printf(&t, "| %d | %u | %s | %s | %.3f |\n", j, e, tn, pn, prob);
  }
  int rc = tv_text_check(&t, "the misclassified table");
  if (rc != TV_OK) {
    tv_text_free(&t);
    return rc;
  }
  *out = t.p;
  return TV_OK;
}

/* Multilabel: one PR curve per label ("pr_curve/<j>"), its sigmoid score against its 0/1
 * target (a positive above 0.5, as the metrics count it). */
static int label_pr_curves(tv_events *w, int64_t step, const evaluator_result *res, int k,
                           int thresholds) {
  const tv_dataset *ds = res->ds;
  if (thresholds < 2 || !res->targets || ds->target_dim != k) return TV_OK;
  float *pr = malloc((size_t)6 * (size_t)thresholds * sizeof *pr);
  int32_t *pos = malloc((size_t)res->n * sizeof *pos + 1);
  int rc = pr && pos ? TV_OK : tv_error(TV_ERR_NOMEM, "PR curves: out of memory");
  for (int j = 0; rc == TV_OK && j < k; j++) {
    char tag[32];
    for (uint32_t i = 0; i < res->n; i++)
      pos[i] = res->targets[(size_t)i * (size_t)k + (size_t)j] > 0.5f;
    snprintf(tag, sizeof tag, "pr_curve/%d", j);
    rc = tv_pr_curve(res->probs + j, (size_t)k, pos, 1, res->n, thresholds, pr);
    if (rc == TV_OK) rc = tv_events_pr_curve(w, step, tag, pr, thresholds);
  }
  free(pr);
  free(pos);
  return rc;
}

int figures_write(tv_events *w, int64_t step, const evaluator_result *res, const figures_opts *fo) {
  int k = tv_metrics_num_classes(res->metrics);
  if (k < 1 || k > FIGURES_MAX_CLASSES || !res->ds || !res->probs) return TV_OK;
  if (tv_metrics_task(res->metrics) == TV_TASK_MULTILABEL)
    return label_pr_curves(w, step, res, k, fo->pr_thresholds);
  if (k < 2 || !res->labels) return TV_OK; /* nothing legible to draw */
  const tv_dataset *ds = res->ds;
  tv_image img = {0};
  uint32_t *at = NULL, *rows = NULL;
  uint8_t *px = NULL;
  char *text = NULL;
  float *pr = NULL;
  int rc = confusion_image(res, k, &img);
  if (rc == TV_OK) rc = tv_events_image(w, step, "confusion_matrix", &img);
  tv_image_free(&img);
  if (rc == TV_OK && fo->misclassified > 0 && tv_dataset_feature_size(ds) == 1 &&
      (ds->c == 1 || ds->c == 3)) {
    at = malloc((size_t)fo->misclassified * sizeof *at);
    rows = malloc((size_t)fo->misclassified * sizeof *rows);
    if (!at || !rows) rc = tv_error(TV_ERR_NOMEM, "misclassified: out of memory");
    int m = rc == TV_OK ? find_misclassified(res, k, fo->misclassified, at) : 0;
    if (m > 0) { /* their pixels, read back from the file out of core */
      for (int j = 0; j < m; j++) rows[j] = res->idx[at[j]];
      px = malloc((size_t)m * (size_t)ds->c * (size_t)ds->h * (size_t)ds->w);
      rc = px ? tv_dataset_read_examples(ds, rows, (uint32_t)m, px)
              : tv_error(TV_ERR_NOMEM, "misclassified: out of memory");
      if (rc == TV_OK) rc = misclassified_image(res, k, at, m, px, &img);
      if (rc == TV_OK) rc = tv_events_image(w, step, "misclassified", &img);
      if (rc == TV_OK) rc = misclassified_text(res, k, at, m, &text);
      if (rc == TV_OK) rc = tv_events_text(w, step, "misclassified/labels", text);
      tv_image_free(&img);
    }
  }
  if (rc == TV_OK && fo->pr_thresholds >= 2) {
    /* tv_pr_curve pairs score i with label i: the subset's labels, as the pass gathered them */
    pr = malloc((size_t)6 * (size_t)fo->pr_thresholds * sizeof *pr);
    if (!pr) rc = tv_error(TV_ERR_NOMEM, "PR curves: out of memory");
    for (int c = 0; rc == TV_OK && c < k; c++) {
      char label[NAME_CHARS + 16], tag[NAME_CHARS + 32];
      class_label(ds, c, label, sizeof label);
      snprintf(tag, sizeof tag, "pr_curve/%s", label);
      rc = tv_pr_curve(res->probs + c, (size_t)k, res->labels, c, res->n, fo->pr_thresholds, pr);
      if (rc == TV_OK) rc = tv_events_pr_curve(w, step, tag, pr, fo->pr_thresholds);
    }
  }
  free(pr);
  free(text);
  free(px);
  free(rows);
  free(at);
  return rc;
}
