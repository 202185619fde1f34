/* retention.c — which checkpoints a commit deletes (the rules are at the top of retention.h).
 *
 * Invariant: the checkpoint being committed is never a candidate, and a candidate is kept if any
 * rule keeps it; the evaluators' files are only read, and what they hold can never make a
 * commit fail.
 */
#include "trainval/retention.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainval/evalstate.h"
#include "base/fs.h"
#include "trainval/pin.h"

enum { PATH_CAP = 4096 };

void tv_retention_free(tv_retention *r) {
  if (!r) return;
  free(r->keep);
  r->keep = NULL;
  r->n = 0;
}

int tv_retention_keep(void *ctx, const tv_manifest_entry *e) {
  const tv_retention *r = ctx;
  for (int i = 0; i < r->n; i++)
    if (r->keep[i] == e->step) return 1;
  return 0;
}

/* What one evaluator folder says about the candidates. */
typedef struct evaluator_view {
  int all;        /* policy all: reaches every checkpoint in order */
  int64_t cursor; /* -1: none */
  char best_file[TV_MANIFEST_FILE_CAP];
} evaluator_view;

enum { PRIO_PIN = 1, PRIO_BEST = 2, PRIO_UNREACHED = 3 };

typedef struct candidate {
  int64_t step;
  const char *file;
  int prio; /* 0: nobody needs it */
} candidate;

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int tv_retention_plan(const char *dir, const tv_manifest *m, int64_t new_step, int max_to_keep,
                      int max_unevaluated, tv_retention *r) {
  r->keep = NULL;
  r->n = 0;
  int total = m->n + (tv_manifest_find(m, new_step) ? 0 : 1);
  int n_cand = total - max_to_keep;
  if (max_to_keep <= 0 || max_unevaluated <= 0 || n_cand <= 0) return TV_OK;
  /* Dropping candidates: the oldest total - max_to_keep of m plus the new step, but never the
   * new step itself (tv_ckpt_commit keeps it whatever happens). */
  candidate *cand = calloc((size_t)n_cand, sizeof *cand);
  if (!cand) return tv_error(TV_ERR_NOMEM, "%s: out of memory planning retention", dir);
  int nc = 0, slot = 0, placed = total == m->n; /* placed: the new step has its slot */
  for (int i = 0; i < m->n && slot < n_cand; i++) {
    if (!placed && new_step < m->entries[i].step) {
      placed = 1;
      if (++slot >= n_cand) break;
    }
    if (m->entries[i].step != new_step)
      cand[nc++] = (candidate){m->entries[i].step, m->entries[i].file, 0};
    slot++;
  }
  int rc = TV_OK;
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char sub[PATH_CAP], state_path[PATH_CAP];
    struct stat st;
    if (tv_fs_join(sub, sizeof sub, dir, de->d_name) || stat(sub, &st) != 0 ||
        !S_ISDIR(st.st_mode) || tv_fs_join(state_path, sizeof state_path, sub, TV_EVALSTATE_FILE))
      continue;
    tv_evalstate s;
    tv_evalstate_init(&s);
    int src = tv_evalstate_read(state_path, &s);
    if (src == TV_ERR_NOMEM) {
      rc = src;
      break;
    }
    if (src != TV_OK) continue; /* not an evaluator, or not one we can read: no say */
    evaluator_view v = {.all = strcmp(s.policy, "latest") != 0, .cursor = s.cursor};
    if (s.has_best) snprintf(v.best_file, sizeof v.best_file, "%s", s.best_file);
    tv_evalstate_free(&s);
    for (int i = 0; i < nc; i++) {
      candidate *c = &cand[i];
      char pin[PATH_CAP];
      int pinned =
          snprintf(pin, sizeof pin, "%s/%s%s", sub, TV_PIN_PREFIX, c->file) < (int)sizeof pin &&
          access(pin, F_OK) == 0;
      int prio = pinned                          ? PRIO_PIN
                 : !strcmp(v.best_file, c->file) ? PRIO_BEST
                 : (v.all && c->step > v.cursor) ? PRIO_UNREACHED
                                                 : 0;
      if (prio && (!c->prio || prio < c->prio)) c->prio = prio;
    }
  }
  if (d) closedir(d);
  if (rc == TV_OK) {
    r->keep = malloc((size_t)(nc ? nc : 1) * sizeof *r->keep);
    if (!r->keep) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory planning retention", dir);
  }
  /* By priority, and within one the oldest first: the next an evaluator will read. */
  for (int prio = PRIO_PIN; rc == TV_OK && prio <= PRIO_UNREACHED; prio++)
    for (int i = 0; i < nc && r->n < max_unevaluated; i++)
      if (cand[i].prio == prio) r->keep[r->n++] = cand[i].step;
  if (rc == TV_OK) qsort(r->keep, (size_t)r->n, sizeof *r->keep, cmp_i64);
  free(cand);
  if (rc) tv_retention_free(r);
  return rc;
}

/* Rule 2: 1 if e is on the keep_every_hours chain of m (the first entry, then each first entry
 * at least every hours after the last one on the chain). */
static int keep_hourly(const tv_manifest *m, double hours, const tv_manifest_entry *e) {
  double every = hours * 3600.0;
  if (every <= 0 || m->n == 0) return 0;
  double last = m->entries[0].wall_time;
  if (e->step == m->entries[0].step) return 1;
  for (int i = 1; i < m->n; i++) {
    const tv_manifest_entry *x = &m->entries[i];
    if (x->wall_time - last >= every) {
      last = x->wall_time;
      if (x->step == e->step) return 1;
    }
  }
  return 0;
}

int tv_retention_select(const char *dir, const tv_manifest *m, int64_t new_step,
                        const tv_retention_policy *p, int64_t **drop, int *n_drop) {
  *drop = NULL;
  *n_drop = 0;
  if (!p) return TV_OK;
  if (p->max_to_keep < 0 || p->max_unevaluated < 0 || !(p->keep_every_hours >= 0))
    return tv_error(TV_ERR_INVALID,
                    "%s: retention: negative max_to_keep, max_unevaluated or "
                    "keep_every_hours",
                    dir);
  /* Rule 1: with new_step merged in, the entries before the newest max_to_keep. */
  int total = m->n + (tv_manifest_find(m, new_step) ? 0 : 1);
  int n_cand = total - p->max_to_keep;
  if (p->max_to_keep == 0 || n_cand <= 0) return TV_OK;
  tv_retention evals = {0};
  int rc = tv_retention_plan(dir, m, new_step, p->max_to_keep, p->max_unevaluated, &evals);
  if (rc) return rc;
  int64_t *out = malloc((size_t)n_cand * sizeof *out);
  if (!out) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory planning retention", dir);
    goto out;
  }
  int slot = 0, placed = total == m->n; /* placed: the new step has its slot */
  for (int i = 0; i < m->n && slot < n_cand; i++) {
    const tv_manifest_entry *x = &m->entries[i];
    if (!placed && new_step < x->step) {
      placed = 1;
      if (++slot >= n_cand) break;
    }
    slot++;
    if (x->step == new_step || keep_hourly(m, p->keep_every_hours, x) ||
        tv_retention_keep(&evals, x) || (p->veto && p->veto(p->veto_ctx, x)))
      continue;
    out[(*n_drop)++] = x->step;
  }
  *drop = out;
  out = NULL;
out:
  free(out);
  tv_retention_free(&evals);
  return rc;
}
