/* watch_loop.c — eval --watch: follows a train_dir and evaluates each committed checkpoint
 * exactly once (the protocol is laid out in include/trainval/rundir.h; the waiting in
 * include/trainval/watch.h).
 *
 * The loop: read the manifest; if a checkpoint is due (policy all: the oldest past the cursor;
 * latest: the newest, if past the cursor) and --min-interval allows, deal with it and read
 * again; otherwise end if the trainer's status is terminal or --timeout has passed, else wait
 * for a hint.  A session is the evaluator's hold on DIR/NAME/ (its LOCK, state, event file): it
 * opens when DIR exists and closes when DIR disappears or is replaced, so a deleted and
 * recreated DIR starts a fresh series.
 *
 * Invariants: state.yaml on disk always describes what metrics.jsonl holds up to one line (the
 * line is appended first; startup adopts it); at most one pin exists outside handle(); signals
 * stop the loop only at a wait or between chunks of an evaluation, never between the writes of
 * one result.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval.h"
#include "trainval/evallog.h"
#include "trainval/evalstate.h"
#include "trainval/events.h"
#include "trainval/files.h"
#include "trainval/lock.h"
#include "trainval/manifest.h"
#include "trainval/pin.h"
#include "trainval/stop.h"
#include "trainval/watch.h"

enum { PATH_CAP = 4096 };

/* Why a checkpoint retention deleted first is skipped (evallog.h, SKIPPED LINE). */
static const char RETIRED_WHY[] = "deleted by retention before evaluation";

/* Thresholds of each PR curve: steps of 0.01 in the probability. */
enum { PR_THRESHOLDS = 101 };

static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = sig; }

typedef struct watcher {
  const eval_options *o;
  const char *dir, *name;
  char sub[PATH_CAP], state_path[PATH_CAP], log_path[PATH_CAP];
  char host[TV_MANIFEST_HOST_CAP];
  tv_watch *w;
  evaluator *ev;
  tv_manifest m;
  int have_manifest;
  char manifest_problem[256]; /* the last unreadable-manifest message, said once */
  /* the session */
  int open;
  uint64_t gen;
  tv_lock *lock; /* DIR/NAME/LOCK */
  tv_evalstate st;
  tv_events *events;
  int64_t
      session_cursor; /* the cursor when the session opened: its event file's START is past it */
  /* The best value of each metric of the table over the session's results (metrics.jsonl's and
   * those recorded since), written as best/<metric> with each result. */
  int has_best[TV_METRIC__COUNT];
  double best[TV_METRIC__COUNT];
  char best_tag[TV_METRIC__COUNT][64];
  /* timing */
  int64_t newest_seen;
  double last_news;       /* monotonic: a new checkpoint seen or a result recorded */
  double last_eval_start; /* monotonic; -INFINITY before the first */
  double wake_time;       /* wall clock of the last wake-up, for --trace */
  FILE *trace;
  int n_ok, n_failed, n_skipped;
  int n_retired; /* of n_skipped: deleted by retention before evaluation */
  long gone_pid; /* a trainer reported gone (so it is said once per trainer) */
} watcher;

/* Progress lines go to stdout, or to stderr when stdout carries --json lines. */
TV_PRINTF(2, 3) static void say(const watcher *wt, const char *fmt, ...) {
  FILE *f = wt->o->json ? stderr : stdout;
  va_list ap;
  va_start(ap, fmt);
  fprintf(f, "%s: ", wt->o->prog);
  vfprintf(f, fmt, ap);
  fputc('\n', f);
  va_end(ap);
  fflush(f);
}

/* With nothing to do and a status that is not terminal, tells once whether the trainer that
 * holds (held) DIR/LOCK is still alive, when it ran on this host: a run killed with kill -9 stays
 * "running" until train resumes it, and the user should know the evaluator is waiting for that.
 * Returns 1 while the answer is still unknown on this host (the caller re-checks soon). */
static int check_trainer(watcher *wt) {
  char text[256];
  long pid;
  tv_lock_holder(wt->dir, text, sizeof text);
  tv_lock_holder_state s = tv_lock_holder_state_of(text, &pid);
  if (s == TV_LOCK_HOLDER_UNKNOWN || pid == wt->gone_pid) return 0; /* another host's: not ours */
  if (s == TV_LOCK_HOLDER_ALIVE) return 1;
  wt->gone_pid = pid;
  say(wt,
      "the trainer (pid %ld) is no longer running and the run's status is %s; waiting for "
      "train to resume it (--timeout to stop waiting)",
      pid, wt->m.status);
  return 0;
}

TV_PRINTF(2, 3) static void warn(const watcher *wt, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", wt->o->prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ---- the session: DIR/NAME/ ---------------------------------------------------------------- */

/* DIR/NAME/LOCK (lock.h): one evaluator per NAME. */
static int take_lock(watcher *wt) {
  char busy[2 * PATH_CAP];
  snprintf(busy, sizeof busy, "another eval --name %s is watching %s", wt->name, wt->dir);
  tv_lock_opts lo = {.busy = busy, .hint = "; give this one another --name"};
  return tv_lock_take(wt->sub, &lo, &wt->lock, NULL, 0);
}

static void describe_subset(char *out, size_t cap, const char *split, long long n, int seeded,
                            unsigned long long seed) {
  char count[64];
  if (n)
    snprintf(count, sizeof count, "%lld examples", n);
  else
    snprintf(count, sizeof count, "all examples");
  if (seeded)
    snprintf(out, cap, "split %s, %s drawn with seed %llu", split, count, seed);
  else
    snprintf(out, cap, "split %s, %s%s", split, n ? "the first " : "", count);
}

/* Brings the options into the state read from disk, refusing a different series. */
static int adopt_options(watcher *wt) {
  const eval_options *o = wt->o;
  tv_evalstate *s = &wt->st;
  const char *split = tv_split_name(o->split);
  int started = s->cursor >= 0 || s->n > 0;
  if (started && (strcmp(s->split, split) != 0 || s->num_examples != o->num_examples ||
                  s->has_subset_seed != o->has_subset_seed ||
                  (o->has_subset_seed && s->subset_seed != o->subset_seed))) {
    char was[160], asked[160];
    describe_subset(was, sizeof was, s->split, (long long)s->num_examples, s->has_subset_seed,
                    (unsigned long long)s->subset_seed);
    describe_subset(asked, sizeof asked, split, o->num_examples, o->has_subset_seed,
                    (unsigned long long)o->subset_seed);
    return tv_error(TV_ERR_MISMATCH,
                    "%s: evaluator %s has results on %s; asked for %s: give these results "
                    "another --name",
                    wt->state_path, wt->name, was, asked);
  }
  if (started && s->has_best && (strcmp(s->metric, o->metric) != 0 || s->mode_max != o->mode_max))
    return tv_error(TV_ERR_MISMATCH,
                    "%s: evaluator %s follows %s (%s); asked for --metric %s --mode %s: give "
                    "these results another --name",
                    wt->state_path, wt->name, s->metric, s->mode_max ? "max" : "min", o->metric,
                    o->mode_max ? "max" : "min");
  snprintf(s->name, sizeof s->name, "%s", wt->name);
  snprintf(s->split, sizeof s->split, "%s", split);
  s->num_examples = o->num_examples;
  s->has_subset_seed = o->has_subset_seed;
  s->subset_seed = o->has_subset_seed ? o->subset_seed : 0;
  snprintf(s->policy, sizeof s->policy, "%s", o->policy_latest ? "latest" : "all");
  snprintf(s->metric, sizeof s->metric, "%s", o->metric);
  s->mode_max = o->mode_max;
  s->min_delta = o->min_delta;
  s->patience = o->patience;
  return TV_OK;
}

/* A crash between the metrics line and the state write: the line is the truth, adopt it. */
static int reconcile(watcher *wt) {
  tv_evallog_line *lines = NULL;
  int n = 0;
  int rc = tv_evallog_scan(wt->log_path, wt->o->metric, 1, &lines, &n);
  for (int i = 0; rc == TV_OK && i < n; i++) {
    if (tv_evalstate_find(&wt->st, lines[i].step)) continue;
    tv_evalstate_entry e = {
        .step = lines[i].step, .outcome = TV_EVAL_OUTCOME_OK, .value = lines[i].value};
    if (lines[i].skipped) {
      e.outcome = TV_EVAL_OUTCOME_SKIPPED;
      snprintf(e.error, sizeof e.error, "%s", RETIRED_WHY);
    } else if (!isfinite(e.value)) {
      e.outcome = TV_EVAL_OUTCOME_FAILED;
      snprintf(e.error, sizeof e.error, "recorded in %s without a finite %s", TV_EVALLOG_FILE,
               wt->o->metric);
    }
    int improved = 0;
    rc = tv_evalstate_add(&wt->st, &e, lines[i].checkpoint, &improved);
    say(wt,
        "step %lld: adopted the result %s already holds (the last run stopped before "
        "recording it)",
        (long long)e.step, TV_EVALLOG_FILE);
    if (rc == TV_OK && improved) {
      /* The pin is still there if the crash came before the unpin; else the file itself. */
      char pin[2 * PATH_CAP], src[2 * PATH_CAP];
      snprintf(pin, sizeof pin, "%s/%s%s", wt->sub, TV_PIN_PREFIX, lines[i].checkpoint);
      snprintf(src, sizeof src, "%s/%s", wt->dir, lines[i].checkpoint);
      if (tv_best_update(wt->dir, wt->name, pin) != TV_OK &&
          tv_best_update(wt->dir, wt->name, src) != TV_OK)
        warn(wt, "step %lld is the best so far but its checkpoint is gone; %s not updated",
             (long long)e.step, TV_BEST_FILE);
    }
  }
  free(lines);
  return rc;
}

/* A fresh evaluator (and one whose state predates the key, from now on) does not report what
 * retention deleted before it started: the newest retired step of the manifest as it is now. */
static int set_retired_baseline(watcher *wt) {
  tv_manifest m;
  tv_manifest_init(&m);
  int rc = tv_manifest_read(wt->dir, &m);
  if (rc == TV_ERR_NOMEM) return rc;
  wt->st.has_retired_baseline = 1;
  wt->st.retired_baseline = rc == TV_OK && m.n_retired ? m.retired[m.n_retired - 1] : -1;
  tv_manifest_free(&m);
  return TV_OK;
}

/* A crash after a checkpoint's event record and before its metrics line leaves a record past
 * the adopted cursor; the checkpoint is evaluated again, so the record goes (rundir.h, EXACTLY
 * ONCE).  The session's event file starts with a SessionLog START past the cursor (open_events)
 * for a TensorBoard that read the orphan before it went. */
static int purge_orphans(watcher *wt) {
  long dropped = 0;
  int rc = tv_events_purge_after(wt->sub, wt->st.cursor, &dropped);
  if (rc == TV_ERR_FORMAT) { /* a damaged file is reported and left as it is; results go on */
    warn(wt, "%s (left as it is)", tv_error_message());
    return TV_OK;
  }
  if (rc == TV_OK && dropped > 0)
    say(wt,
        "%s: dropped %ld event record%s past step %lld (the last run stopped before "
        "recording the result in %s)",
        wt->sub, dropped, dropped == 1 ? "" : "s", (long long)wt->st.cursor, TV_EVALLOG_FILE);
  return rc;
}

/* HParams' best metrics: the dashboard shows the last value of each scalar of a session, so each
 * result also carries best/<metric>, the best value of that metric (in its better direction, the
 * metric table's) over every result so far.  The results before this session are metrics.jsonl's
 * lines (reconcile has adopted them all). */
static int load_bests(watcher *wt) {
  int rc = TV_OK;
  for (int k = 0; rc == TV_OK && k < TV_METRIC__COUNT; k++) {
    const tv_metric_desc *d = tv_metric_desc_for((tv_metric_kind)k);
    tv_evallog_line *lines = NULL;
    int n = 0;
    wt->has_best[k] = 0;
    snprintf(wt->best_tag[k], sizeof wt->best_tag[k], "best/%s", d->name);
    rc = tv_evallog_scan(wt->log_path, d->name, 0, &lines, &n);
    for (int i = 0; rc == TV_OK && i < n; i++) {
      double v = lines[i].value;
      if (lines[i].skipped || !isfinite(v)) continue;
      if (!wt->has_best[k] || tv_metric_better(d->maximize, v, wt->best[k], 0)) wt->best[k] = v;
      wt->has_best[k] = 1;
    }
    free(lines);
  }
  return rc;
}

/* Opens the session's event file on its first record, with its SessionLog START. */
static int open_events(watcher *wt) {
  if (wt->events) return TV_OK;
  int rc = tv_events_open(wt->sub, &wt->events);
  if (rc == TV_OK) rc = tv_events_session_start(wt->events, wt->session_cursor + 1);
  return rc;
}

/* Test hook: TV_TEST_EVAL_KILL_AFTER_EVENT=STEP kills the evaluator (SIGKILL) right after the
 * event record of STEP is flushed, before its metrics line: the crash purge_orphans mends. */
static void test_kill_after_event(int64_t step) {
  const char *v = getenv("TV_TEST_EVAL_KILL_AFTER_EVENT");
  if (v && *v && strtoll(v, NULL, 10) == step) raise(SIGKILL);
}

static void close_session(watcher *wt) {
  if (!wt->open) return;
  int rc = tv_events_close(wt->events);
  if (rc != TV_OK) warn(wt, "%s", tv_error_message());
  wt->events = NULL;
  tv_lock_release(wt->lock);
  wt->lock = NULL;
  tv_evalstate_free(&wt->st);
  wt->open = 0;
}

static int open_session(watcher *wt) {
  int rc = tv_fs_join(wt->sub, sizeof wt->sub, wt->dir, wt->name);
  if (rc == TV_OK)
    rc = tv_fs_join(wt->state_path, sizeof wt->state_path, wt->sub, TV_EVALSTATE_FILE);
  if (rc == TV_OK) rc = tv_fs_join(wt->log_path, sizeof wt->log_path, wt->sub, TV_EVALLOG_FILE);
  if (rc == TV_OK) rc = tv_fs_mkdirs(wt->sub);
  if (rc == TV_OK) rc = take_lock(wt);
  if (rc != TV_OK) return rc;
  tv_evalstate_init(&wt->st);
  wt->open = 1;
  wt->gen = tv_watch_generation(wt->w);
  rc = tv_evalstate_read(wt->state_path, &wt->st);
  if (rc == TV_ERR_NOT_FOUND) {
    tv_evalstate_init(&wt->st);
    rc = TV_OK;
  } else if (rc == TV_ERR_FORMAT) {
    tv_error_prefix(rc, "cannot go on from this evaluator state (move %s aside to start over)",
                    wt->sub);
  }
  if (rc == TV_OK) rc = adopt_options(wt);
  if (rc == TV_OK) rc = reconcile(wt);
  if (rc == TV_OK && !wt->st.has_retired_baseline) rc = set_retired_baseline(wt);
  if (rc == TV_OK) rc = tv_pin_clear(wt->dir, wt->name);
  if (rc == TV_OK) rc = purge_orphans(wt);
  if (rc == TV_OK) rc = load_bests(wt);
  if (rc == TV_OK) rc = tv_evalstate_write(wt->state_path, &wt->st);
  if (rc != TV_OK) return rc;
  wt->session_cursor = wt->st.cursor;
  if (wt->st.cursor >= 0)
    say(wt, "%s: going on after step %lld (%d checkpoints dealt with)", wt->sub,
        (long long)wt->st.cursor, wt->st.n);
  return TV_OK;
}

/* ---- one checkpoint ------------------------------------------------------------------------ */

static int record(watcher *wt, const tv_manifest_entry *me, tv_eval_outcome outcome, double value,
                  const char *error, int *improved) {
  tv_evalstate_entry e = {.step = me->step, .outcome = outcome, .value = value};
  if (error) snprintf(e.error, sizeof e.error, "%s", error);
  int rc = tv_evalstate_add(&wt->st, &e, me->file, improved);
  if (rc == TV_OK && outcome != TV_EVAL_OUTCOME_OK)
    rc = tv_evalstate_write(wt->state_path, &wt->st);
  if (outcome == TV_EVAL_OUTCOME_FAILED) wt->n_failed++;
  if (outcome == TV_EVAL_OUTCOME_SKIPPED) wt->n_skipped++;
  return rc;
}

/* Records a committed checkpoint retention deleted before it could be evaluated: its skipped
 * line in metrics.jsonl (fsynced; on stdout too with --json), then state.yaml, then the scalar
 * skipped_checkpoints at its step in the evaluator's event file: how many of the run's
 * checkpoints this evaluator has skipped so far, all sessions together (state.yaml's count). */
static int skip_retired(watcher *wt, const tv_manifest_entry *me) {
  warn(wt, "step %lld: %s was deleted by retention before it could be evaluated (skipped)",
       (long long)me->step, me->file);
  tv_evallog_record r = {.step = me->step,
                         .checkpoint = me->file,
                         .eval_wall_time = tv_now(),
                         .evaluator = wt->name,
                         .host = wt->host};
  char *line = NULL;
  int rc = tv_evallog_format_skipped(&r, RETIRED_WHY, &line);
  if (rc == TV_OK) rc = tv_evallog_append(wt->log_path, line);
  if (rc == TV_OK) rc = record(wt, me, TV_EVAL_OUTCOME_SKIPPED, NAN, RETIRED_WHY, NULL);
  if (rc == TV_OK) rc = open_events(wt);
  if (rc == TV_OK) {
    int total = 0;
    for (int i = 0; i < wt->st.n; i++)
      total += wt->st.entries[i].outcome == TV_EVAL_OUTCOME_SKIPPED;
    rc = tv_events_scalar(wt->events, me->step, "skipped_checkpoints", (float)total);
    if (rc == TV_OK) rc = tv_events_flush(wt->events);
  }
  if (rc == TV_OK) {
    wt->n_retired++;
    if (wt->o->json) {
      fputs(line, stdout);
      fflush(stdout);
    }
  }
  free(line);
  return rc;
}

/* The oldest step of the manifest's retired list the evaluator has not dealt with and that
 * comes before next (the checkpoint due; NULL: none), or -1.  Policy latest passes a backlog
 * over, so it has none. */
static int64_t retired_due(const watcher *wt, const tv_manifest_entry *next) {
  if (wt->o->policy_latest) return -1;
  for (int i = 0; i < wt->m.n_retired; i++) {
    int64_t s = wt->m.retired[i];
    if (s > wt->st.cursor && s > wt->st.retired_baseline && (!next || s < next->step)) return s;
  }
  return -1;
}

/* o->metric was checked against the metric table when the options were read. */
static double metric_value(const char *metric, const tv_metrics_summary *s) {
  int k = tv_metric_find(metric);
  return tv_metric_value(s, k >= 0 ? (tv_metric_kind)k : TV_METRIC_ACCURACY);
}

static int maybe_request_stop(watcher *wt, int64_t step) {
  tv_evalstate *s = &wt->st;
  const eval_options *o = wt->o;
  if (o->patience <= 0 || s->since_best < o->patience || s->stop_requested >= 0 || !s->has_best)
    return TV_OK;
  if (tv_manifest_status_terminal(wt->m.status)) return TV_OK; /* nobody left to stop */
  tv_stop_request r = {.mode_max = s->mode_max,
                       .best_step = s->best_step,
                       .best_value = s->best_value,
                       .step = step};
  snprintf(r.by, sizeof r.by, "%s", wt->name);
  snprintf(r.metric, sizeof r.metric, "%s", s->metric);
  snprintf(r.reason, sizeof r.reason,
           "%s has not improved by more than %g for %lld evaluations (best %.6g at step %lld)",
           s->metric, s->min_delta, (long long)s->since_best, s->best_value,
           (long long)s->best_step);
  int rc = tv_stop_write(wt->dir, &r);
  if (rc != TV_OK) return rc;
  s->stop_requested = step;
  say(wt, "wrote %s/%s: %s", wt->dir, TV_STOP_FILE, r.reason);
  return TV_OK;
}

/* A token model's sample at step, on TensorBoard's text dashboard (tag "sample"): the text as a
 * markdown code block, so that its spaces and line breaks show as they are. */
static int write_sample(watcher *wt, int64_t step, const char *sample) {
  size_t n = strlen(sample);
  char *md = malloc(n + 16);
  if (!md) return tv_error(TV_ERR_NOMEM, "no memory for the sample's text summary");
  snprintf(md, n + 16, "```\n%s\n```\n", sample);
  int rc = tv_events_text(wt->events, step, "sample", md);
  free(md);
  return rc;
}

/* Writes the result of me everywhere it goes; pin is the file it was read from. */
static int publish(watcher *wt, const tv_manifest_entry *me, const evaluator_result *res,
                   const char *pin, double started) {
  const tv_manifest_entry *newest = tv_manifest_latest(&wt->m);
  int64_t lag_steps = newest && newest->step > me->step ? newest->step - me->step : 0;
  double lag_seconds =
      newest && newest->wall_time > me->wall_time ? newest->wall_time - me->wall_time : 0.0;
  tv_task task = tv_metrics_task(res->metrics);
  int followed = tv_metric_find(wt->o->metric);
  if (followed >= 0 && !tv_metric_applies((tv_metric_kind)followed, task)) {
    char names[160];
    return tv_error(TV_ERR_MISMATCH,
                    "%s: --metric %s does not apply to model.task %s of this run (give --metric "
                    "%s)",
                    me->file, wt->o->metric, tv_task_names[task],
                    tv_metric_list_task(task, names, sizeof names));
  }
  int rc = open_events(wt);
  if (rc == TV_OK) {
    enum { N_TAGS = 2 * TV_METRIC__COUNT + 2 };
    const char *tags[N_TAGS];
    float vals[N_TAGS];
    int nt = 0;
    for (int k = 0; k < TV_METRIC__COUNT; k++) {
      if (!tv_metric_applies((tv_metric_kind)k, task)) continue;
      tags[nt] = tv_metric_desc_for((tv_metric_kind)k)->name;
      vals[nt++] = (float)tv_metric_value(&res->s, (tv_metric_kind)k);
    }
    tags[nt] = "eval_lag_steps";
    vals[nt++] = (float)lag_steps;
    tags[nt] = "eval_lag_seconds";
    vals[nt++] = (float)lag_seconds;
    for (int k = 0; k < TV_METRIC__COUNT; k++) {
      if (!tv_metric_applies((tv_metric_kind)k, task)) continue;
      const tv_metric_desc *d = tv_metric_desc_for((tv_metric_kind)k);
      double v = tv_metric_value(&res->s, (tv_metric_kind)k);
      if (isfinite(v) && (!wt->has_best[k] || tv_metric_better(d->maximize, v, wt->best[k], 0))) {
        wt->best[k] = v;
        wt->has_best[k] = 1;
      }
      if (!wt->has_best[k]) continue;
      tags[nt] = wt->best_tag[k];
      vals[nt++] = (float)wt->best[k];
    }
    rc = tv_events_scalars(wt->events, me->step, nt, tags, vals);
    figures_opts fo = {.misclassified = wt->o->misclassified, .pr_thresholds = PR_THRESHOLDS};
    if (rc == TV_OK && !res->tokens) rc = figures_write(wt->events, me->step, res, &fo);
    if (rc == TV_OK && res->sample) rc = write_sample(wt, me->step, res->sample);
    if (rc == TV_OK) rc = tv_events_flush(wt->events);
    if (rc == TV_OK) test_kill_after_event(me->step);
  }
  char *line = NULL;
  tv_evallog_record r = {.step = me->step,
                         .checkpoint = me->file,
                         .crc32c = me->crc32c,
                         .split = tv_split_name(wt->o->split),
                         .subset_hash = res->subset_hash,
                         .has_subset_seed = wt->o->has_subset_seed,
                         .subset_seed = wt->o->subset_seed,
                         .checkpoint_wall_time = me->wall_time,
                         .eval_wall_time = tv_now(),
                         .eval_seconds = tv_monotonic() - started,
                         .lag_steps = lag_steps,
                         .lag_seconds = lag_seconds,
                         .evaluator = wt->name,
                         .host = wt->host,
                         .sample = res->sample};
  if (rc == TV_OK) rc = tv_evallog_format(&r, res->metrics, &line);
  if (rc == TV_OK) rc = tv_evallog_append(wt->log_path, line);
  if (rc != TV_OK) {
    free(line);
    return rc;
  }
  /* From here the result exists (metrics.jsonl); the state catches up. */
  double value = metric_value(wt->o->metric, &res->s);
  int improved = 0;
  wt->st.subset_hash = res->subset_hash;
  rc = record(wt, me, TV_EVAL_OUTCOME_OK, value, NULL, &improved);
  if (rc == TV_OK && improved) rc = tv_best_update(wt->dir, wt->name, pin);
  if (rc == TV_OK) rc = maybe_request_stop(wt, me->step);
  if (rc == TV_OK) rc = tv_evalstate_write(wt->state_path, &wt->st);
  if (rc == TV_OK) {
    wt->n_ok++;
    if (wt->o->json) {
      fputs(line, stdout);
      fflush(stdout);
    } else {
      char values[64 * TV_METRIC__COUNT];
      size_t used = 0;
      /* top5 only with more than 5 classes (with fewer it is always 1) */
      for (int k = 0; k < TV_METRIC__COUNT && used < sizeof values; k++) {
        if (!tv_metrics_reports(res->metrics, (tv_metric_kind)k)) continue;
        int w = snprintf(values + used, sizeof values - used, "%s%s %.4f", used ? "  " : "",
                         tv_metric_desc_for((tv_metric_kind)k)->name,
                         tv_metric_value(&res->s, (tv_metric_kind)k));
        used += w > 0 ? (size_t)w : 0;
      }
      say(wt, "step %lld  %s  (%s, %u %s %s, %.2f s, lag %lld steps)%s", (long long)me->step,
          values, me->file, res->n, tv_split_name(wt->o->split),
          res->tokens ? "tokens" : "examples", r.eval_seconds, (long long)lag_steps,
          improved ? "  best" : "");
    }
  }
  free(line);
  return rc;
}

/* Deals with one committed checkpoint.  Returns TV_OK when it is recorded (evaluated, failed
 * or skipped), TV_ERR_INTERRUPTED when a signal cut the evaluation short (nothing recorded), or
 * an error that ends the watch (the cause is not this checkpoint: data, disk, memory). */
static void read_manifest(watcher *wt);

static int handle(watcher *wt, const tv_manifest_entry *me) {
  double started = tv_monotonic();
  if (!me->finite) {
    warn(wt, "step %lld: %s is marked non-finite in the manifest (recorded as failed)",
         (long long)me->step, me->file);
    return record(wt, me, TV_EVAL_OUTCOME_FAILED, NAN, "marked non-finite in the manifest", NULL);
  }
  char pin[PATH_CAP];
  int rc = tv_pin_create(wt->dir, wt->name, me->file, pin, sizeof pin);
  if (rc == TV_ERR_NOT_FOUND) {
    read_manifest(wt); /* me is a copy: it outlives the manifest it came from */
    if (wt->have_manifest && !tv_manifest_find(&wt->m, me->step)) return skip_retired(wt, me);
    warn(wt, "step %lld: %s was deleted before it could be pinned (skipped)", (long long)me->step,
         me->file);
    return record(wt, me, TV_EVAL_OUTCOME_SKIPPED, NAN, "deleted before it could be pinned", NULL);
  }
  if (rc != TV_OK) return rc;
  double load_start = tv_now();
  tv_ckpt_info expect = {.size = me->size, .crc32c = me->crc32c};
  snprintf(expect.file, sizeof expect.file, "%s", me->file);
  evaluator_result res;
  rc = evaluator_run(wt->ev, pin, &expect, &res);
  if (rc == TV_OK && res.step != me->step)
    rc = tv_error(TV_ERR_FORMAT, "%s: the file says step %lld, the manifest step %lld", me->file,
                  (long long)res.step, (long long)me->step);
  if (rc == TV_OK) {
    rc = publish(wt, me, &res, pin, started);
  } else if (g_stop) {
    rc = TV_ERR_INTERRUPTED; /* whatever went wrong, it was cut short: nothing to record */
  } else if (rc != TV_ERR_INTERRUPTED && !res.fatal) {
    char why[TV_EVAL_ERROR_CAP];
    snprintf(why, sizeof why, "%s", tv_error_message());
    warn(wt, "step %lld: %s (recorded as failed)", (long long)me->step, why);
    rc = record(wt, me, TV_EVAL_OUTCOME_FAILED, NAN, why, NULL);
  }
  unlink(pin);
  if (wt->trace)
    fprintf(wt->trace, "step %lld wake %.6f load %.6f done %.6f\n", (long long)me->step,
            wt->wake_time, load_start, tv_now());
  if (wt->trace) fflush(wt->trace);
  return rc;
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* The checkpoint due next under the policy, or NULL. */
static const tv_manifest_entry *due(const watcher *wt) {
  if (wt->o->policy_latest) {
    const tv_manifest_entry *e = tv_manifest_latest(&wt->m);
    return e && e->step > wt->st.cursor ? e : NULL;
  }
  for (int i = 0; i < wt->m.n; i++)
    if (wt->m.entries[i].step > wt->st.cursor) return &wt->m.entries[i];
  return NULL;
}

static void read_manifest(watcher *wt) {
  int rc = tv_manifest_read(wt->dir, &wt->m);
  wt->have_manifest = rc == TV_OK;
  if (rc == TV_OK) {
    wt->manifest_problem[0] = '\0';
    const tv_manifest_entry *e = tv_manifest_latest(&wt->m);
    if (e && e->step > wt->newest_seen) {
      wt->newest_seen = e->step;
      wt->last_news = tv_monotonic();
    }
  } else if (rc != TV_ERR_NOT_FOUND && strcmp(wt->manifest_problem, tv_error_message()) != 0) {
    /* Said once; the trainer replaces the file whole, so the next version may well read. */
    snprintf(wt->manifest_problem, sizeof wt->manifest_problem, "%s", tv_error_message());
    warn(wt, "%s (waiting for the next version)", wt->manifest_problem);
  }
}

static int finish_line(watcher *wt) {
  char retired[96] = "";
  if (wt->n_retired) snprintf(retired, sizeof retired, " (%d %s)", wt->n_retired, RETIRED_WHY);
  if (wt->open && wt->st.has_best)
    say(wt, "%d evaluated, %d failed, %d skipped%s; best %s %.4f at step %lld (%s/%s)", wt->n_ok,
        wt->n_failed, wt->n_skipped, retired, wt->st.metric, wt->st.best_value,
        (long long)wt->st.best_step, wt->sub, TV_BEST_FILE);
  else
    say(wt, "%d evaluated, %d failed, %d skipped%s", wt->n_ok, wt->n_failed, wt->n_skipped,
        retired);
  return 0;
}

/* Sets wt up for o: no session, no manifest, this host's name.  Cannot fail. */
static void watcher_init(watcher *wt, const eval_options *o) {
  memset(wt, 0, sizeof *wt);
  wt->o = o;
  wt->dir = o->watch;
  wt->name = o->name;
  wt->newest_seen = -1;
  wt->last_eval_start = -INFINITY;
  wt->last_news = tv_monotonic();
  tv_manifest_init(&wt->m);
  if (gethostname(wt->host, sizeof wt->host) != 0 || !wt->host[0])
    snprintf(wt->host, sizeof wt->host, "unknown");
  wt->host[sizeof wt->host - 1] = '\0';
}

/* SIGINT and SIGTERM set g_stop; *stop_set holds the two, *open_mask is the process's mask
 * without them (what a wait opens).  SIGPIPE is ignored. */
static void catch_stop_signals(sigset_t *stop_set, sigset_t *open_mask) {
  /* SA_RESTART: file I/O carries on; ppoll returns EINTR whatever the flag (signal(7)). */
  struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  sigemptyset(stop_set);
  sigaddset(stop_set, SIGINT);
  sigaddset(stop_set, SIGTERM);
  sigprocmask(SIG_BLOCK, NULL, open_mask);
  sigdelset(open_mask, SIGINT);
  sigdelset(open_mask, SIGTERM);
}

/* Opens what the whole watch needs: the trace file, the evaluator, the directory watch; says
 * what is watched.  Errors: those of evaluator_new and tv_watch_new, TV_ERR_IO (trace file). */
static int watcher_start(watcher *wt) {
  const eval_options *o = wt->o;
  if (o->trace && !(wt->trace = fopen(o->trace, "a")))
    return tv_error_errno(TV_ERR_IO, errno, "%s: cannot open the trace file", o->trace);
  evaluator_opts eo = {.data_sets = o->data_sets,
                       .n_data_sets = o->n_data_sets,
                       .data_file = o->data_file_sets,
                       .split = o->split,
                       .num_examples =
                           o->num_examples > UINT32_MAX ? UINT32_MAX : (uint32_t)o->num_examples,
                       .random_subset = o->has_subset_seed,
                       .subset_seed = o->subset_seed,
                       .batch_size = o->batch_size,
                       .threads = o->threads,
                       .max_memory_mb = o->max_memory_mb,
                       .cancel = &g_stop,
                       .generate = o->generate,
                       .prompt = o->prompt,
                       .temperature = o->temperature,
                       .top_k = o->top_k,
                       .seed = o->seed,
                       .precision = o->precision};
  int rc = evaluator_new(&eo, &wt->ev);
  tv_watch_opts wo = {.dir = o->watch,
                      .file = TV_MANIFEST_FILE,
                      .force_poll = o->poll,
                      .poll_interval = o->poll_interval,
                      .rescan_interval = 10.0};
  if (rc == TV_OK) rc = tv_watch_new(&wo, &wt->w);
  if (rc != TV_OK) return rc;
  char subset[160];
  describe_subset(subset, sizeof subset, tv_split_name(o->split), o->num_examples,
                  o->has_subset_seed, (unsigned long long)o->subset_seed);
  say(wt, "watching %s as %s (%s; policy %s; %s)", o->watch, o->name, subset,
      o->policy_latest ? "latest" : "all", tv_watch_describe(wt->w));
  return TV_OK;
}

/* What one turn of the loop decided. */
typedef enum turn { TURN_AGAIN, TURN_WAIT, TURN_DONE } turn;

/* One turn: follows DIR being deleted or replaced (closing the session) or appearing (opening
 * one), reads the manifest, and deals with the checkpoint due if --min-interval allows
 * (TURN_AGAIN).  Otherwise TURN_DONE when the trainer's status is terminal and nothing is due,
 * else TURN_WAIT with *wait the seconds to wait at most (-1: no limit).  *rc is an error that
 * ends the watch. */
static turn watch_turn(watcher *wt, double *wait, int *rc) {
  const eval_options *o = wt->o;
  *wait = -1;
  if (wt->open && tv_watch_generation(wt->w) != wt->gen) {
    say(wt, "%s was deleted or replaced; starting over when it is back", o->watch);
    close_session(wt);
    tv_manifest_free(&wt->m);
    wt->have_manifest = 0;
    wt->newest_seen = -1;
  }
  if (!wt->open && tv_watch_dir_exists(wt->w) && (*rc = open_session(wt)) != TV_OK)
    return TURN_DONE;
  if (!wt->open) return TURN_WAIT;
  read_manifest(wt);
  const tv_manifest_entry *next = wt->have_manifest ? due(wt) : NULL;
  int64_t gone = wt->have_manifest ? retired_due(wt, next) : -1;
  double now = tv_monotonic();
  if (gone >= 0) {
    tv_manifest_entry e = {.step = gone};
    *rc = tv_ckpt_file_name(gone, e.file, sizeof e.file);
    if (*rc == TV_OK) *rc = skip_retired(wt, &e);
    wt->last_news = tv_monotonic();
    return TURN_AGAIN;
  } else if (next && now < wt->last_eval_start + o->min_interval) {
    *wait = wt->last_eval_start + o->min_interval - now;
  } else if (next) {
    tv_manifest_entry e = *next; /* the manifest is re-read while it is handled */
    wt->last_eval_start = now;
    *rc = handle(wt, &e);
    wt->last_news = tv_monotonic();
    if (*rc == TV_ERR_INTERRUPTED) *rc = TV_OK;
    return TURN_AGAIN;
  } else if (wt->have_manifest && tv_manifest_status_terminal(wt->m.status)) {
    say(wt, "the trainer's status is %s and every checkpoint is dealt with; done", wt->m.status);
    return TURN_DONE;
  } else if (wt->have_manifest && check_trainer(wt)) {
    *wait = 2.0; /* a live local trainer: look again in a while */
  }
  return TURN_WAIT;
}

/* Waits at most wait seconds (-1: no limit) for a hint, shortened to what --timeout leaves.
 * Returns 0 once --timeout has passed without news (said), else 1. */
static int wait_for_news(watcher *wt, double wait, const sigset_t *stop_set,
                         const sigset_t *open_mask) {
  if (wt->o->timeout >= 0) {
    double left = wt->last_news + wt->o->timeout - tv_monotonic();
    if (left <= 0) {
      say(wt, "nothing new to evaluate for %g s (--timeout); stopping", wt->o->timeout);
      return 0;
    }
    if (wait < 0 || left < wait) wait = left;
  }
  /* Block the stop signals, look at the flag, and wait with them open: none slips through. */
  sigset_t saved;
  sigprocmask(SIG_BLOCK, stop_set, &saved);
  if (!g_stop) {
    tv_watch_event ev;
    int wrc = tv_watch_wait(wt->w, wait, open_mask, &ev);
    if (wrc != TV_OK && wrc != TV_ERR_INTERRUPTED) warn(wt, "%s", tv_error_message());
  }
  sigprocmask(SIG_SETMASK, &saved, NULL);
  wt->wake_time = tv_now();
  return 1;
}

/* Says how the watch ended (the error, the signal, the summary line), releases everything and
 * returns the exit status: 1 after an error, else 0. */
static int watcher_finish(watcher *wt, int rc) {
  int status = 0;
  if (rc != TV_OK) {
    fprintf(stderr, "%s: %s\n", wt->o->prog, tv_error_message());
    status = 1;
  } else {
    if (g_stop)
      say(wt, "stopped by %s%s", g_stop == SIGINT ? "SIGINT" : "SIGTERM",
          wt->open ? "; the state is saved, run again to go on" : "");
    finish_line(wt);
  }
  close_session(wt);
  tv_watch_free(wt->w);
  evaluator_free(wt->ev);
  tv_manifest_free(&wt->m);
  if (wt->trace) fclose(wt->trace);
  return status;
}

int watch_run(const eval_options *o) {
  static watcher wt_store; /* the manifest and state are small, but keep them off the stack */
  watcher *wt = &wt_store;
  watcher_init(wt, o);
  sigset_t stop_set, open_mask;
  catch_stop_signals(&stop_set, &open_mask);
  int rc = watcher_start(wt);
  wt->wake_time = tv_now();
  while (rc == TV_OK && !g_stop) {
    double wait;
    turn t = watch_turn(wt, &wait, &rc);
    if (t == TURN_DONE || (t == TURN_WAIT && !wait_for_news(wt, wait, &stop_set, &open_mask)))
      break;
  }
  return watcher_finish(wt, rc);
}
