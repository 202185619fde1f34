/* test_figures.c — eval's figures (eval/figures.c) on a result built here: a dataset with class
 * names (the integration tests' Fashion-MNIST files have none), known probabilities and the
 * metrics they give.  The records are read back with tests/tfrecord.c: their tags and order, the
 * images' sizes, the misclassified table word for word, the PR curves' counts; a result with
 * too many classes or without images gets what it can have. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../eval/eval.h"
#include "testutil.h"
#include "tfrecord.h"
#include "trainval/events.h"
#include "trainval/metrics.h"

enum { N = 6, K = 3 };

/* Six 2x2 grey examples of three classes; examples 1, 3 and 4 are predicted wrong. */
typedef struct fixture {
  tv_dataset ds;
  uint8_t images[N * 4];
  int32_t labels[N];
  char *names[K];
  uint32_t idx[N];
  float probs[N * K];
  tv_metrics *m;
  evaluator_result res;
} fixture;

static void make(fixture *f, int with_names) {
  memset(f, 0, sizeof *f);
  static const int32_t labels[N] = {0, 0, 1, 1, 2, 2};
  static const float probs[N * K] = {0.8f, 0.1f, 0.1f, 0.2f,  0.7f, 0.1f,  0.1f, 0.6f, 0.3f,
                                     0.5f, 0.2f, 0.3f, 0.45f, 0.3f, 0.25f, 0.1f, 0.1f, 0.8f};
  memcpy(f->probs, probs, sizeof probs);
  memcpy(f->labels, labels, sizeof labels);
  for (int i = 0; i < N * 4; i++) f->images[i] = (uint8_t)(i * 10);
  static const char *const names[K] = {"T-shirt/top", "Trouser", "A very long class name here"};
  for (int c = 0; c < K; c++) f->names[c] = (char *)names[c];
  for (uint32_t i = 0; i < N; i++) f->idx[i] = i;
  f->ds = (tv_dataset){.images = f->images,
                       .labels = f->labels,
                       .names = with_names ? f->names : NULL,
                       .n = N,
                       .c = 1,
                       .h = 2,
                       .w = 2,
                       .num_classes = K};
  assert_int_equal(tv_metrics_new(K, &f->m), TV_OK);
  float logits[N * K];
  for (int i = 0; i < N * K; i++) logits[i] = logf(f->probs[i]);
  tv_metrics_update(f->m, logits, f->labels, N);
  f->res = (evaluator_result){.step = 7,
                              .n = N,
                              .metrics = f->m,
                              .ds = &f->ds,
                              .idx = f->idx,
                              .probs = f->probs,
                              .labels = f->labels}; /* the subset is every example, in order */
}

static tvt_event *write_and_read(const char *dir, const evaluator_result *res,
                                 const figures_opts *fo, int *n) {
  tv_events *w = NULL;
  assert_int_equal(tv_events_open(dir, &w), TV_OK);
  char path[4200];
  snprintf(path, sizeof path, "%s", tv_events_path(w));
  assert_int_equal(figures_write(w, res->step, res, fo), TV_OK);
  assert_int_equal(tv_events_close(w), TV_OK);
  tvt_event *ev = calloc(64, sizeof *ev);
  assert_non_null(ev);
  assert_int_equal(tvt_read_file(path, ev, 64, n), TV_OK);
  return ev;
}

static void test_figures_with_names(void **state) {
  fixture f;
  make(&f, 1);
  figures_opts fo = {.misclassified = 16, .pr_thresholds = 11};
  int n = 0;
  tvt_event *ev = write_and_read(*state, &f.res, &fo, &n);
  const char *tags[] = {"confusion_matrix",     "misclassified",
                        "misclassified/labels", "pr_curve/0 T-shirt/top",
                        "pr_curve/1 Trouser",   "pr_curve/2 A very long clas"};
  assert_int_equal(n, 1 + 6);
  for (int i = 0; i < 6; i++) {
    assert_int_equal(ev[1 + i].step, 7);
    assert_int_equal(ev[1 + i].nvalues, 1);
    assert_string_equal(ev[1 + i].values[0].tag, tags[i]);
  }
  /* confusion: the widest row label is "2 A VERY LONG CLAS" (18 characters of 8 px); cells 28 */
  const tvt_image *cm = &ev[1].values[0].image;
  assert_true(ev[1].values[0].has_image);
  assert_int_equal(cm->width, 8 + 18 * 8 + 8 + 3 * 28 + 8);
  assert_int_equal(cm->height, 26 + 3 * 28 + 8);
  assert_int_equal(cm->colorspace, 3);
  /* the grid: 3 tiles of 11 characters' width + 8, one row */
  const tvt_image *g = &ev[2].values[0].image;
  assert_int_equal(g->width, 3 * (11 * 8 + 8) + 8);
  assert_int_equal(g->height, 2 * 2 + 10 + 12 + 8);
  const tvt_tensor *t = &ev[3].values[0].tensor;
  assert_string_equal(t->plugin, "text");
  assert_string_equal(t->string,
                      "first 3 misclassified of 6 examples (grid left to right, top to bottom)\n\n"
                      "| # | example | true | predicted | p(predicted) |\n|---|---|---|---|---|\n"
                      "| 0 | 1 | 0 T-shirt/top | 1 Trouser | 0.700 |\n"
                      "| 1 | 3 | 1 Trouser | 0 T-shirt/top | 0.500 |\n"
                      "| 2 | 4 | 2 A very long clas | 0 T-shirt/top | 0.450 |\n");
  /* class 0's PR curve at 11 thresholds: positives 0 and 1 (scores .8, .2), negatives .1 .5 .45
   * .1: TP at threshold 0 is 2, at 0.5 (j = 5) 1 (.8), FP at 0.5: 1 (.5) */
  const tvt_tensor *p = &ev[4].values[0].tensor;
  assert_string_equal(p->plugin, "pr_curves");
  assert_int_equal(p->ndims, 2);
  assert_int_equal(p->dims[1], 11);
  assert_int_equal(p->nfloats, 66);
  assert_true(p->floats[0] == 2 && p->floats[5] == 1);   /* TP */
  assert_true(p->floats[11] == 4 && p->floats[16] == 1); /* FP */
  assert_true(p->floats[27] == 3 && p->floats[38] == 1); /* TN, FN at j = 5 */
  free(ev);
  tv_metrics_free(f.m);
}

static void test_figures_without_names_or_images(void **state) {
  fixture f;
  make(&f, 0);
  f.ds.images = NULL; /* float features: no grid, no table */
  float feats[N * 4] = {0};
  f.ds.features = feats;
  figures_opts fo = {.misclassified = 16, .pr_thresholds = 5};
  int n = 0;
  tvt_event *ev = write_and_read(*state, &f.res, &fo, &n);
  assert_int_equal(n, 1 + 1 + 3);
  assert_string_equal(ev[1].values[0].tag, "confusion_matrix");
  assert_int_equal(ev[1].values[0].image.width, 8 + 11 * 8 + 8 + 3 * 28 + 8); /* "TRUE \ PRED" */
  for (int c = 0; c < 3; c++) {
    char tag[32];
    snprintf(tag, sizeof tag, "pr_curve/%d", c);
    assert_string_equal(ev[2 + c].values[0].tag, tag);
  }
  free(ev);
  /* no PR curves, no grid: the confusion matrix alone */
  fo = (figures_opts){.misclassified = 0, .pr_thresholds = 0};
  f.ds.images = f.images;
  ev = write_and_read(*state, &f.res, &fo, &n);
  assert_int_equal(n, 2);
  free(ev);
  tv_metrics_free(f.m);
}

static void test_figures_too_many_classes(void **state) {
  fixture f;
  make(&f, 0);
  tv_metrics_free(f.m);
  assert_int_equal(tv_metrics_new(FIGURES_MAX_CLASSES + 1, &f.m), TV_OK);
  f.res.metrics = f.m;
  figures_opts fo = {.misclassified = 16, .pr_thresholds = 5};
  int n = 0;
  tvt_event *ev = write_and_read(*state, &f.res, &fo, &n);
  assert_int_equal(n, 1); /* the file_version record alone */
  free(ev);
  tv_metrics_free(f.m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_figures_with_names, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_figures_without_names_or_images, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_figures_too_many_classes, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
