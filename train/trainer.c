/* trainer.c — the training loop (see trainer.h).
 *
 * One step: next batch -> forward -> loss -> zero the gradients -> backward -> non-finite guard
 * (loss and global gradient norm) -> optimizer update -> metrics; then, at the step's end, the
 * periodic work: summaries (every summary_every steps or summary_secs seconds), histograms,
 * in-process validation and early stopping, checkpoints (every checkpoint_every steps or
 * checkpoint_secs seconds), the STOP request of an evaluator, and signals.  The step itself never
 * allocates.
 *
 * Exact resume: a checkpoint holds the parameters, and each object that holds resume state writes
 * and reads its own part (ckpt.h, STATE LAYOUT): the optimizer its slots and counter, the loader
 * the data order, the TRAIN graph its dropout generator, and the trainer its own counters
 * (early-stopping best and patience, the non-finite run) as attributes of /state.  The trainer
 * only orders the calls.  The learning-rate schedule is a function of the step and of its
 * horizon, the last step planned when the run began (/state attribute schedule_steps): a resume
 * with more steps keeps it, so the rate never climbs back up the cosine unless --replan-schedule
 * asks.  On resume, event
 * records past the checkpoint's step (written by a run that died after it) are purged so curves
 * never repeat.
 */
#include "trainer.h"
#include "saver.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trainval/budget.h"
#include "trainval/ckpt.h"
#include "trainval/commit.h"
#include "trainval/config.h"
#include "trainval/corpus.h"
#include "trainval/ctx.h"
#include "trainval/data.h"
#include "trainval/evalstate.h"
#include "trainval/events.h"
#include "trainval/files.h"
#include "trainval/lock.h"
#include "trainval/loss.h"
#include "trainval/manifest.h"
#include "trainval/metrics.h"
#include "trainval/model.h"
#include "trainval/ops.h"
#include "trainval/optim.h"
#include "trainval/pipeline.h"
#include "trainval/retention.h"
#include "trainval/stop.h"
#include "trainval/varstore.h"

static volatile sig_atomic_t g_stop_signal;

void trainer_request_stop(int sig) { g_stop_signal = sig; }

struct trainer {
  trainer_options opt;
  tv_config cfg;
  char *cfg_text;
  char frozen[TV_PATH_CAP + 16];
  tv_dataset data, valid;
  tv_norm norm;          /* the loader's: the config's, with zstats when data.standardize */
  tv_standardize zstats; /* fitted on the training split (d 0: none) */
  tv_varstore *store;
  tv_ctx *ctx; /* the process's thread team, shared by both graphs and the optimizer */
  tv_model *model, *infer;
  tv_loss loss;
  tv_optim *optim;
  tv_loader *loader; /* image models */
  /* token models (tv_config_is_sequence): the corpus, its batcher and one batch of ids */
  int tokens;
  tv_corpus corpus;
  tv_stream *stream;
  int32_t *tok_x, *tok_y;
  tv_events *events, *val_events;
  tv_metrics *window, *val_metrics;
  tv_manifest manifest;
  int64_t step, total_steps, last_saved;
  tv_lock *lock; /* DIR/LOCK */
  int tty;
  double last_progress; /* monotonic time of the last progress line (terminal only) */
  /* trainer state that exact resume needs */
  double best; /* early stopping: best validation metric so far (NaN: none yet) */
  int64_t best_step;
  int64_t bad_validations;
  int64_t nonfinite_run, nonfinite_total;
  /* the cosine schedule's horizon: fixed when the run began (DESIGN: no silent re-plan) */
  int64_t horizon, frozen_steps, frozen_epochs;
  int horizon_kept;   /* resumed with a horizon other than the new last step */
  int fresh_config;   /* DIR had a config.yaml but no committed checkpoint: replaced */
  char changed[2048]; /* settings changed on resume ("" none), printed once training starts */
  /* the checkpoint save in flight on the saver's thread (saver.h): from submit until
   * settle_save, the manifest, the lock and HDF5 are its own */
  saver *saver;
  struct {
    int in_flight;
    tv_ckpt_writer *w; /* the checkpoint built in memory, to finish and commit */
    int64_t step;
    double wall_time;
    double paused_ms, paused_cpu_ms; /* how long training waited for this save; its CPU time */
    const char *reason;
    double best; /* early stopping's best and its step when the save was submitted */
    int64_t best_step;
  } save;
  /* data-parallel (dist.h): this rank, and how many rows of each global batch it trains on */
  tv_dist *dist;
  int rank, size, local;
  /* summed over ranks in the exchange that follows the gradient sum: [0] the ranks whose loss
   * is not finite, [1] the sum of their rank numbers, then the window's additive form of the
   * step's rows of each rank (part: this rank's, tv_metrics_shared_*) */
  tv_metrics *part;
  double shared[TV_DIST_MAX_FLAGS];
  /* a token model's contiguous streams over several ranks: this rank's carried state, gathered
   * at a step that saves into rank 0's carry_all (every rank's, rank order), which rank 0's
   * checkpoints write as the global batch's (tv_model_ckpt_write_parts) */
  int carry_dist;
  float *carry_mine, *carry_all;
  int stop_sig; /* the signal that stopped the run, on whichever rank it arrived */
};

/* ---- data-parallel hooks (dist.h, SEMANTICS) ---------------------------------------------
 * Each is called at one marked point of the step or of trainer_open ("dist:"), and with one rank
 * does nothing, so a plain run is bitwise what it was. */

static uint64_t text_hash(const char *s) { /* FNV-1a: rank 0's config against ours */
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static void on_grads_ready(void *dist, size_t from) { tv_dist_grads_ready(dist, from); }

/* Contiguous streams over several ranks: the buffers of the carried state's gather. */
static int dist_carry_new(trainer *t) {
  size_t n = tv_model_state_floats(t->model);
  t->carry_mine = malloc(n * sizeof *t->carry_mine);
  if (t->rank == 0) t->carry_all = malloc(n * (size_t)t->size * sizeof *t->carry_all);
  if (!t->carry_mine || (t->rank == 0 && !t->carry_all))
    return tv_error(TV_ERR_NOMEM, "out of memory for %zu floats of carried state", n);
  return TV_OK;
}

/* At a step that saves, on every rank (the decision is rank 0's, in the step's flags): this
 * rank's carried state, as the step's forward left it, into rank 0's carry_all. */
static int dist_carry_gather(trainer *t) {
  if (!t->carry_dist) return TV_OK;
  tv_model_get_state(t->model, t->carry_mine);
  int rc =
      tv_dist_gather_start(t->dist, t->carry_mine, tv_model_state_floats(t->model), t->carry_all);
  return rc == TV_OK ? tv_dist_gather_finish(t->dist) : rc;
}

/* The end of trainer_open, on every rank whatever happened before (rc): a failure on any rank
 * fails every rank; then each checks it has rank 0's config and step, and takes rank 0's
 * variables. */
static int dist_start(trainer *t, int rc) {
  if (t->size == 1) return rc;
  double failed[1] = {rc != TV_OK};
  int xrc = tv_dist_sum(t->dist, failed, 1);
  if (rc != TV_OK) return rc;
  if (xrc != TV_OK) return xrc;
  if (failed[0] > 0)
    return tv_error(TV_ERR_INVALID,
                    "rank %d of %d: another rank could not set up the run (its error is above)",
                    t->rank, t->size);
  uint64_t mine[2] = {text_hash(t->cfg_text), (uint64_t)t->step}, root[2] = {mine[0], mine[1]};
  rc = tv_dist_broadcast(t->dist, root, sizeof root);
  double differ[1] = {memcmp(mine, root, sizeof mine) != 0};
  if (rc == TV_OK) rc = tv_dist_sum(t->dist, differ, 1);
  if (rc == TV_OK && differ[0] > 0)
    return tv_error(TV_ERR_MISMATCH,
                    "%s: the ranks do not agree on the config or the step to resume from (rank %d: "
                    "step %lld, rank 0: step %lld): every rank must see the same train_dir (a "
                    "shared file system) and the same --config and --set",
                    t->opt.train_dir, t->rank, (long long)mine[1], (long long)root[1]);
  if (rc == TV_OK)
    rc = tv_dist_broadcast(t->dist, tv_varstore_values(t->store),
                           tv_varstore_size(t->store) * sizeof(float));
  if (rc == TV_OK)
    rc = tv_dist_grads_setup(t->dist, tv_varstore_grads(t->store), tv_varstore_size(t->store), 0);
  if (rc == TV_OK) tv_model_set_backward_hook(t->model, on_grads_ready, t->dist);
  return rc;
}

/* Before a step's forward: rank r > 0 draws dropout masks from a generator of (seed, step, r),
 * so that ranks do not share masks and a resume (which restores rank 0's) stays exact. */
static void dist_dropout_stream(trainer *t) {
  if (t->rank == 0) return;
  uint64_t mix = (uint64_t)t->step * 0x9E3779B97F4A7C15ull;
  tv_model_set_rng(
      t->model, tv_rng_seed(t->cfg.train.seed ^ mix, TV_RNG_DROPOUT ^ ((uint64_t)t->rank << 32)));
}

/* A token model's batch: this rank's windows of the global batch (*ids and *targets: T ids
 * and T next-token targets per window; *n: the windows in, this rank's count out).  Each rank
 * keeps the carried state of its own windows, the same rows every step. */
static void dist_slice_tokens(trainer *t, const int32_t **ids, const int32_t **targets, int *n) {
  if (t->size == 1) return;
  int off, count;
  tv_dist_slice(*n, t->size, t->rank, &off, &count);
  size_t skip = (size_t)off * (size_t)t->cfg.model.input[0];
  *ids += skip;
  *targets += skip;
  *n = count;
}

/* The loss is this rank's mean over nl rows; scaled by nl / n, the sum over ranks of the
 * gradients is the gradient of the global batch's mean (exact when n / nl is a power of two). */
static void dist_scale_output_grad(trainer *t, float *dlogits, int nl, uint32_t n) {
  if (t->size == 1) return;
  float s = (float)nl / (float)n;
  size_t len = (size_t)nl * (size_t)t->cfg.model.num_classes;
  for (size_t i = 0; i < len; i++) dlogits[i] *= s;
}

enum { SHARED_BAD, SHARED_BAD_RANKS, SHARED_WINDOW }; /* trainer.shared */

/* The rank's share of the training window: the window's task, counts only.  Its additive form
 * travels in the step's exchange, which has room for TV_DIST_MAX_FLAGS - 1 values. */
static int dist_part_new(trainer *t) {
  int rc = tv_metrics_new_task(t->cfg.model.task, t->cfg.model.num_classes, &t->loss,
                               TV_METRICS_COUNTS_ONLY, &t->part);
  if (rc == TV_OK && tv_metrics_shared_size(t->part) > TV_DIST_MAX_FLAGS - SHARED_WINDOW)
    rc = tv_error(TV_ERR_CONFIG,
                  "%s: model.num_classes %d is too many %s for data-parallel training (the "
                  "training metrics of every rank travel in one exchange of %d values: at most "
                  "%d)",
                  t->cfg.source, t->cfg.model.num_classes,
                  t->cfg.model.task == TV_TASK_REGRESSION ? "targets" : "labels", TV_DIST_MAX_FLAGS,
                  (TV_DIST_MAX_FLAGS - SHARED_WINDOW - 2) /
                      (t->cfg.model.task == TV_TASK_REGRESSION ? 5 : 3));
  return rc;
}

/* After backward: the gradient sum over the ranks, then in one exchange whether another rank's
 * loss is non-finite, so that every rank skips or fails the same step (elsewhere: "" when not,
 * else which rank, for the message), and the training window's additive form of every rank's
 * rows (logits, b: this rank's rows). */
static int dist_reduce(trainer *t, float loss, const float *logits, const tv_batch *b, int rows,
                       char *elsewhere, size_t cap) {
  elsewhere[0] = '\0';
  if (t->size == 1) return TV_OK;
  int rc = tv_dist_grads_finish(t->dist);
  /* this rank's window rows (counts only: the metrics cannot fail or allocate) */
  tv_metrics_reset(t->part);
  int mrc = tv_metrics_add(t->part, logits, b->labels, b->targets, rows);
  (void)mrc;
  t->shared[SHARED_BAD] = !isfinite(loss);
  t->shared[SHARED_BAD_RANKS] = isfinite(loss) ? 0 : t->rank;
  tv_metrics_shared_get(t->part, t->shared + SHARED_WINDOW);
  if (rc == TV_OK)
    rc = tv_dist_sum(t->dist, t->shared, SHARED_WINDOW + tv_metrics_shared_size(t->part));
  double bad = t->shared[SHARED_BAD];
  if (rc == TV_OK && bad > 0 && isfinite(loss)) {
    if (bad == 1)
      snprintf(elsewhere, cap, "the loss is not finite on rank %d",
               (int)t->shared[SHARED_BAD_RANKS]);
    else
      snprintf(elsewhere, cap, "the loss is not finite on %d other ranks", (int)bad);
  }
  return rc;
}

/* The window of a step that counts: this rank's rows alone, or every rank's (dist_reduce). */
static int dist_window_add(trainer *t, const float *logits, const tv_batch *b, int rows) {
  if (t->size == 1) return tv_metrics_add(t->window, logits, b->labels, b->targets, rows);
  tv_metrics_shared_add(t->window, t->shared + SHARED_WINDOW);
  return TV_OK;
}

/* Why a step saves: rank 0's decision (after_step), announced in the step's flags, so that
 * every rank takes part in the same saves (the carried state's gather) whatever its own clock
 * says.  SAVE_NONE is 0: the other ranks add nothing to rank 0's code. */
typedef enum { SAVE_NONE, SAVE_PERIODIC, SAVE_TIME, SAVE_BEST, SAVE__COUNT } save_kind;
static const char *const save_reasons[] = {
    [SAVE_NONE] = "", [SAVE_PERIODIC] = "periodic", [SAVE_TIME] = "time", [SAVE_BEST] = "best"};
_Static_assert(sizeof save_reasons / sizeof save_reasons[0] == SAVE__COUNT, "a reason a save");

/* The step's flags: an early stop decided by rank 0 (validation, DIR/STOP), a stop signal on
 * any rank, and rank 0's save decision (*save), for every rank. */
static int dist_step_flags(trainer *t, int *early, save_kind *save) {
  int sig = g_stop_signal;
  double f[4] = {*early, sig != 0, sig == SIGINT, t->rank == 0 ? (double)*save : 0};
  int rc = tv_dist_sum(t->dist, f, 4);
  if (rc != TV_OK) return rc;
  *early = f[0] > 0;
  t->stop_sig = f[1] > 0 ? (f[2] > 0 ? SIGINT : SIGTERM) : 0;
  *save = f[3] > 0 && f[3] < SAVE__COUNT ? (save_kind)f[3] : SAVE_NONE;
  return TV_OK;
}

/* After the last step: whether the final checkpoint is written, rank 0's *save for every rank. */
static int dist_final_save(trainer *t, int *save) {
  if (t->size == 1) return TV_OK;
  double f[1] = {t->rank == 0 && *save};
  int rc = tv_dist_sum(t->dist, f, 1);
  *save = f[0] > 0;
  return rc;
}

/* The closing line of a data-parallel run: how long rank 0 waited on the other ranks. */
static void dist_report(const trainer *t, double secs) {
  if (t->size == 1 || secs <= 0) return;
  double g = tv_dist_grads_wait_seconds(t->dist), o = tv_dist_other_wait_seconds(t->dist);
  printf("train: rank 0 of %d waited %.2f s (%.1f%% of the run) for the gradient sum and %.2f s "
         "(%.1f%%) for the other exchanges\n",
         t->size, g, 100 * g / secs, o, 100 * o / secs);
  if (t->carry_dist) /* at the saves only (dist.h) */
    printf("train: rank 0 gathered the carried state %llu times (%.1f KiB from each rank)\n",
           (unsigned long long)tv_dist_gather_count(t->dist),
           (double)tv_dist_gather_bytes(t->dist) / 1024);
}

/* ---- set-up ------------------------------------------------------------------------------- */

/* DIR/LOCK (lock.h): one train per directory.  Says whose lock it takes over. */
static int take_lock(trainer *t) {
  if (t->rank != 0) return TV_OK; /* dist: only rank 0 writes to DIR */
  char holder[256];
  tv_lock_opts lo = {.busy = "another train holds this directory"};
  int rc = tv_lock_take(t->opt.train_dir, &lo, &t->lock, holder, sizeof holder);
  if (rc != TV_OK || !holder[0] || t->opt.verbosity <= 0) return rc;
  /* The previous holder released the lock by dying (flock is dropped with the process). */
  long old_pid;
  if (tv_lock_holder_state_of(holder, &old_pid) == TV_LOCK_HOLDER_GONE)
    printf("train: taking over %s/%s, left by pid %ld, which is no longer running\n",
           t->opt.train_dir, TV_LOCK_FILE, old_pid);
  else
    printf("train: taking over %s/%s, last held by %s\n", t->opt.train_dir, TV_LOCK_FILE, holder);
  return TV_OK;
}

/* Removes temporaries a killed writer left in DIR (we hold the lock, so none is live). */
static void remove_stale_temporaries(const trainer *t) {
  if (t->rank != 0) return; /* dist: only rank 0 writes to DIR */
  DIR *d = opendir(t->opt.train_dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    const char *nm = e->d_name;
    size_t len = strlen(nm);
    int ckpt_tmp = strncmp(nm, ".ckpt-", 6) == 0 && len > 4 && !strcmp(nm + len - 4, ".tmp");
    int atomic_tmp =
        (strncmp(nm, "checkpoints.yaml.tmp.", 21) == 0 || strncmp(nm, "config.yaml.tmp.", 16) == 0);
    if (!ckpt_tmp && !atomic_tmp) continue;
    char path[TV_PATH_CAP + 300];
    if (tv_fs_join(path, sizeof path, t->opt.train_dir, nm) == TV_OK) unlink(path);
  }
  closedir(d);
}

/* Removes checkpoint files a killed save renamed into place but never committed: not in the
 * manifest, they do not exist for eval, and a resumed run writes its own at those steps.  They
 * are removed, not adopted: a file the manifest never vouched for has no recorded checksum.  An
 * unreadable or absent manifest removes nothing. */
static void remove_uncommitted(const trainer *t) {
  if (t->rank != 0) return; /* dist: only rank 0 writes to DIR */
  tv_manifest m;
  tv_manifest_init(&m);
  DIR *d = NULL;
  if (tv_manifest_read(t->opt.train_dir, &m) != TV_OK) goto out;
  if (!(d = opendir(t->opt.train_dir))) goto out;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    long long step;
    char name[TV_CKPT_FILE_CAP], path[TV_PATH_CAP + 300];
    if (sscanf(e->d_name, "ckpt-%lld.h5", &step) != 1 ||
        tv_ckpt_file_name(step, name, sizeof name) != TV_OK || strcmp(name, e->d_name) != 0)
      continue;
    const tv_manifest_entry *c = tv_manifest_find(&m, step);
    if (c && strcmp(c->file, name) == 0) continue;
    if (tv_fs_join(path, sizeof path, t->opt.train_dir, name) == TV_OK && unlink(path) == 0)
      printf("train: removed %s/%s: saved but never committed (the save was cut short)\n",
             t->opt.train_dir, name);
  }
out:
  if (d) closedir(d);
  tv_manifest_free(&m);
}

/* Whether DIR's manifest lists a checkpoint (an unreadable manifest counts as yes: protect). */
static int has_committed(const char *dir) {
  tv_manifest m;
  tv_manifest_init(&m);
  int rc = tv_manifest_read(dir, &m);
  int yes = rc != TV_ERR_NOT_FOUND && (rc != TV_OK || tv_manifest_latest(&m) != NULL);
  tv_manifest_free(&m);
  return yes;
}

/* (Re)writes t->cfg_text, the text config.yaml and every checkpoint get, from t->cfg. */
static int emit_config(trainer *t) {
  size_t len;
  free(t->cfg_text);
  t->cfg_text = NULL;
  return tv_config_emit(&t->cfg, &t->cfg_text, &len);
}

/* A new run takes --config; a resumed run DIR/config.yaml, where a new --config may change the
 * training keys (logged) but not the model (refused, with the differences). */
static int load_config(trainer *t) {
  int rc = tv_fs_join(t->frozen, sizeof t->frozen, t->opt.train_dir, "config.yaml");
  if (rc != TV_OK) return rc;
  int have_frozen = access(t->frozen, F_OK) == 0;
  if (!t->opt.config && !have_frozen)
    return tv_error(TV_ERR_INVALID, "%s: no config.yaml there yet, so --config is required",
                    t->opt.train_dir);
  rc = tv_config_load(t->opt.config ? t->opt.config : t->frozen, t->opt.sets, t->opt.n_sets,
                      &t->cfg);
  if (rc != TV_OK) return rc;
  /* Without a committed checkpoint there is no model to protect (a run that failed before its
   * first checkpoint): the new config replaces the old one. */
  if (have_frozen && !has_committed(t->opt.train_dir)) {
    have_frozen = 0;
    t->fresh_config = t->opt.config != NULL;
  }
  if (have_frozen) {
    tv_config *old = malloc(sizeof *old);
    if (!old) return tv_error(TV_ERR_NOMEM, "out of memory");
    rc = tv_config_load(t->frozen, NULL, 0, old);
    /* The model learnt on the run's scale: a new config that leaves it at auto keeps it. */
    if (rc == TV_OK && tv_config_data_scale_is_auto(&t->cfg)) t->cfg.data.scale = old->data.scale;
    char diff[1024];
    if (rc == TV_OK && !tv_config_same_model(old, &t->cfg, diff, sizeof diff))
      rc = tv_error(TV_ERR_MISMATCH, "%s: the model differs from the run in %s: %s",
                    t->opt.config ? t->opt.config : "--set", t->opt.train_dir, diff);
    if (rc == TV_OK && !tv_config_same_settings(old, &t->cfg, t->changed, sizeof t->changed))
      t->changed[sizeof t->changed - 1] = '\0';
    else
      t->changed[0] = '\0';
    if (rc == TV_OK) {
      t->frozen_steps = old->train.steps;
      t->frozen_epochs = old->train.epochs;
    }
    free(old);
    if (rc != TV_OK) return rc;
  }
  /* config.yaml is written by trainer_open once the run is set up and has steps to train. */
  return emit_config(t);
}

/* A token model's data: the corpus split, a batcher over the training text (train.windows) and
 * one batch of ids and targets. */
static int build_tokens(trainer *t) {
  int b = t->cfg.train.batch_size, steps = t->cfg.model.input[0];
  int rc = tv_corpus_load(&t->cfg, &t->corpus);
  if (rc == TV_OK && t->cfg.train.validate_every > 0 && t->corpus.n_valid < (size_t)steps + 1)
    rc = tv_error(TV_ERR_INVALID,
                  "%s: the validation text of %s holds %zu tokens, fewer than a window "
                  "(data.valid_tokens, data.valid_fraction)",
                  t->cfg.source, t->cfg.data.corpus, t->corpus.n_valid);
  if (rc == TV_OK &&
      (rc = tv_stream_new(t->corpus.train, t->corpus.n_train, b, steps, t->cfg.train.windows,
                          t->cfg.train.seed, &t->stream)) != TV_OK)
    rc = tv_error_prefix(rc, "%s: train.batch_size %d in %s", t->cfg.data.corpus, b, t->cfg.source);
  if (rc != TV_OK) return rc;
  /* dist: the TRAIN graph holds this rank's windows of the global batch, the same rows every
   * step: with contiguous windows, a fixed set of the streams, whose carried state the rank
   * keeps (dist_carry_*).  The batch is split evenly, so that every rank's state has one shape. */
  if (t->size > 1 && b % t->size != 0)
    return tv_error(TV_ERR_CONFIG,
                    "%s: a token model trained data-parallel over %d ranks needs a "
                    "train.batch_size (%d) that the ranks divide",
                    t->cfg.source, t->size, b);
  t->carry_dist = t->size > 1 && t->cfg.train.windows == TV_WINDOWS_CONTIGUOUS;
  int off;
  tv_dist_slice(b, t->size, t->rank, &off, &t->local);
  t->tok_x = malloc((size_t)b * (size_t)steps * sizeof *t->tok_x);
  t->tok_y = malloc((size_t)b * (size_t)steps * sizeof *t->tok_y);
  if (!t->tok_x || !t->tok_y) return tv_error(TV_ERR_NOMEM, "out of memory");
  t->total_steps = t->cfg.train.steps > 0
                       ? t->cfg.train.steps
                       : (int64_t)t->cfg.train.epochs * (int64_t)tv_stream_windows(t->stream);
  return TV_OK;
}

/* Batches (or windows) per epoch of the training data. */
static int64_t batches_per_epoch(const trainer *t) {
  return t->tokens ? (int64_t)tv_stream_windows(t->stream)
                   : (int64_t)tv_loader_batches_per_epoch(t->loader);
}

/* What build() will allocate (the training files, the TRAIN and INFER graphs, the variables and
 * the optimizer's slots), planned without allocating it and refused above --max-memory.  A config
 * the plan cannot build passes here: build() reports it in its own order. */
static int check_memory(trainer *t) {
  tv_budget b = {0};
  tv_varstore *s = NULL;
  size_t infer = 0;
  int batch = t->cfg.train.batch_size;
  if (tv_varstore_new(&s) != TV_OK) return TV_OK;
  int planned =
      tv_model_plan(&t->cfg, TV_MODE_TRAIN, batch, s, tv_ctx_team(t->ctx), &b.activations) ==
          TV_OK &&
      (t->cfg.train.validate_every <= 0 ||
       tv_model_plan(&t->cfg, TV_MODE_INFER, batch, s, tv_ctx_team(t->ctx), &infer) == TV_OK);
  int rc = TV_OK;
  if (planned) {
    b.activations += infer;
    tv_budget_add_variables(&b, s, &t->cfg);
    if (!tv_config_is_sequence(&t->cfg)) { /* a corpus is read whole, not planned here */
      tv_budget_add_split(&b, &t->cfg, TV_SPLIT_TRAIN); /* with the valid split */
    }
    rc = tv_budget_check(&b, t->opt.max_memory_mb, t->cfg.source);
  }
  tv_varstore_free(s);
  return rc;
}

static int build_images(trainer *t) {
  int rc;
  /* One read of the training files gives both splits; valid is kept only for validation. */
  rc = tv_split_load_train_valid(&t->cfg, &t->data, &t->valid);
  if (rc == TV_OK && t->cfg.train.validate_every > 0) rc = tv_split_check_valid(&t->cfg, &t->valid);
  if (t->cfg.train.validate_every <= 0) tv_dataset_free(&t->valid);
  if (rc != TV_OK) return rc;
  /* data.scale auto becomes the number the training data's type gives, stated in config.yaml
   * and every checkpoint, so that eval applies it to whatever data it reads. */
  if (tv_config_data_scale_is_auto(&t->cfg)) {
    t->cfg.data.scale = tv_config_data_scale(&t->cfg, tv_dataset_feature_size(&t->data) == 1);
    if ((rc = emit_config(t)) != TV_OK) return rc;
  }
  t->norm = tv_norm_from_config(&t->cfg, &t->data);
  if (t->cfg.data.standardize) {
    /* Fitted on the training split every time the run is built (a resume fits the same). */
    rc = tv_standardize_fit(&t->data, t->norm, &t->zstats);
    if (rc != TV_OK) return rc;
    t->norm = tv_norm_with_standardize(t->norm, &t->zstats);
  }
  int b = t->cfg.train.batch_size;
  if ((uint32_t)b > t->data.n)
    return tv_error(TV_ERR_CONFIG,
                    "%s: train.batch_size %d is larger than the %u training examples",
                    t->cfg.source, b, t->data.n);
  /* dist: the TRAIN graph holds this rank's slice of the global batch */
  if (b < t->size)
    return tv_error(TV_ERR_CONFIG, "%s: train.batch_size %d is smaller than the %d ranks",
                    t->cfg.source, b, t->size);
  int off;
  tv_dist_slice(b, t->size, t->rank, &off, &t->local);
  tv_loader_opts lo = {
      .batch_size = (uint32_t)b,
      .shuffle = 1,
      .drop_last = 1,
      .seed = t->cfg.train.seed,
      .norm = t->norm,
      .augment = {.flip = t->cfg.data.random_flip, .pad = t->cfg.data.random_crop_padding},
      .prefetch = (uint32_t)t->cfg.train.prefetch,
      .part = (uint32_t)t->rank, /* dist: the loader prepares only this rank's rows */
      .parts = (uint32_t)t->size};
  rc = tv_loader_new(&t->data, &lo, &t->loader);
  if (rc != TV_OK) return rc;
  t->total_steps = t->cfg.train.steps > 0
                       ? t->cfg.train.steps
                       : (int64_t)t->cfg.train.epochs * tv_loader_batches_per_epoch(t->loader);
  return TV_OK;
}

static int build(trainer *t) {
  t->tokens = tv_config_is_sequence(&t->cfg);
  int b = t->cfg.train.batch_size;
  int rc = check_memory(t);
  if (rc == TV_OK) rc = t->tokens ? build_tokens(t) : build_images(t);
  if (rc != TV_OK) return rc;
  t->loss = tv_loss_from_config(&t->cfg);
  /* a token model's distribution is over its vocabulary, the first V of its outputs (loss.h) */
  if (t->tokens) t->loss.params.classes = t->corpus.vocab.size;
  rc = tv_varstore_new(&t->store);
  if (rc == TV_OK)
    rc = tv_model_new(&t->cfg, TV_MODE_TRAIN, t->local, t->store, tv_ctx_team(t->ctx), &t->model);
  if (rc == TV_OK) rc = tv_varstore_seal(t->store);
  if (rc == TV_OK && t->carry_dist) rc = dist_carry_new(t);
  if (rc != TV_OK) return rc;
  tv_rng init = tv_rng_seed(t->cfg.train.seed, TV_RNG_INIT);
  tv_varstore_init(t->store, &init);
  t->horizon = t->total_steps;
  rc = tv_optim_new(&t->cfg, t->total_steps, t->store, &t->optim);
  if (rc == TV_OK) tv_optim_set_pool(t->optim, tv_ctx_team(t->ctx));
  /* The training window keeps counts only (no ranking), so that a step never allocates. */
  if (rc == TV_OK)
    rc = tv_metrics_new_task(t->cfg.model.task, t->cfg.model.num_classes, &t->loss,
                             TV_METRICS_COUNTS_ONLY, &t->window);
  if (rc == TV_OK && t->size > 1) rc = dist_part_new(t);
  if (rc != TV_OK) return rc;
  if (t->cfg.train.validate_every > 0 && t->rank == 0) { /* dist: rank 0 validates */
    /* The traditional loop: an INFER graph over the same variables, on the valid split. */
    rc = tv_model_new(&t->cfg, TV_MODE_INFER, b, t->store, tv_ctx_team(t->ctx), &t->infer);
    if (rc == TV_OK)
      rc = tv_metrics_new_task(t->cfg.model.task, t->cfg.model.num_classes, &t->loss, 0,
                               &t->val_metrics);
    if (rc != TV_OK) return rc;
  }
  t->best = NAN;
  return TV_OK;
}

/* The trainer's own resume state, attributes of /state (ckpt.h, STATE LAYOUT): early stopping's
 * best value (absent until the first validation), its step and the validations since, the
 * non-finite steps (in a row, in all) and the schedule's horizon (read back in resume). */
static int counters_write(const trainer *t, tv_ckpt_writer *w) {
  int rc = TV_OK;
  if (!isnan(t->best)) rc = tv_ckpt_writer_attr_f64(w, "/state", "early_stop_best", t->best);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/state", "early_stop_best_step", t->best_step);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/state", "early_stop_bad", t->bad_validations);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/state", "nonfinite_run", t->nonfinite_run);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/state", "nonfinite_total", t->nonfinite_total);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/state", "schedule_steps", t->horizon);
  return rc;
}

/* Absent attributes (older checkpoints) leave the defaults. */
static void counters_read(trainer *t, tv_ckpt *ck) {
  double best;
  int64_t v;
  if (tv_ckpt_read_attr_f64(ck, "/state", "early_stop_best", &best) == TV_OK) t->best = best;
  if (tv_ckpt_read_attr_i64(ck, "/state", "early_stop_best_step", &v) == TV_OK) t->best_step = v;
  if (tv_ckpt_read_attr_i64(ck, "/state", "early_stop_bad", &v) == TV_OK) t->bad_validations = v;
  if (tv_ckpt_read_attr_i64(ck, "/state", "nonfinite_run", &v) == TV_OK) t->nonfinite_run = v;
  if (tv_ckpt_read_attr_i64(ck, "/state", "nonfinite_total", &v) == TV_OK) t->nonfinite_total = v;
}

/* A token model resumes only on the text it was trained on: the checkpoint's vocabulary must be
 * the training text's. */
static int same_vocab(const trainer *t, tv_ckpt *ck) {
  tv_vocab v;
  int rc = tv_vocab_ckpt_read(&v, ck);
  if (rc == TV_OK && (v.size != t->corpus.vocab.size ||
                      memcmp(v.bytes, t->corpus.vocab.bytes, (size_t)v.size) != 0))
    rc = tv_error(TV_ERR_MISMATCH,
                  "%s: /state/text/vocab: the checkpoint's vocabulary of %d bytes is not that of "
                  "the training text of %s (%d bytes): the corpus changed",
                  tv_ckpt_path(ck), v.size, t->cfg.data.corpus, t->corpus.vocab.size);
  return rc;
}

/* Restores parameters, optimizer, data order and counters from the newest committed
 * checkpoint. */
static int resume(trainer *t) {
  int rc = tv_manifest_read(t->opt.train_dir, &t->manifest);
  if (rc == TV_ERR_NOT_FOUND) {
    tv_manifest_init(&t->manifest);
    return TV_OK;
  }
  if (rc != TV_OK) return rc;
  const tv_manifest_entry *e = tv_manifest_latest(&t->manifest);
  if (!e) return TV_OK;
  char path[TV_PATH_CAP + 80];
  rc = tv_fs_join(path, sizeof path, t->opt.train_dir, e->file);
  if (rc != TV_OK) return rc;
  tv_ckpt_info expect = {.size = e->size, .crc32c = e->crc32c};
  tv_ckpt *ck = NULL;
  rc = tv_ckpt_open(path, &expect, &ck);
  /* Each owner reads its own part (ckpt.h, STATE LAYOUT). */
  if (rc == TV_OK) rc = tv_ckpt_read_variables(ck, t->store);
  if (rc == TV_OK) rc = tv_optim_ckpt_read(t->optim, ck);
  if (rc == TV_OK)
    rc = t->tokens ? tv_stream_ckpt_read(t->stream, ck) : tv_loader_ckpt_read(t->loader, ck);
  if (rc == TV_OK && t->tokens) rc = same_vocab(t, ck);
  /* dist: with contiguous streams over N ranks, the checkpoint's carry is the global batch's */
  if (rc == TV_OK)
    rc = t->carry_dist ? tv_model_ckpt_read_part(t->model, ck, t->rank, t->size)
                       : tv_model_ckpt_read(t->model, ck);
  if (rc == TV_OK) counters_read(t, ck);
  if (rc == TV_OK) {
    /* The horizon the run was planned with: in the checkpoint, or (older checkpoints) the
     * length config.yaml gave before this command's overrides. */
    int64_t h = 0;
    if (tv_ckpt_read_attr_i64(ck, "/state", "schedule_steps", &h) != TV_OK || h <= 0)
      h = t->frozen_steps > 0 ? t->frozen_steps : t->frozen_epochs * batches_per_epoch(t);
    if (h > 0 && !t->opt.replan_schedule) t->horizon = h;
    t->horizon_kept = t->horizon != t->total_steps;
    tv_optim_set_horizon(t->optim, t->horizon);
  }
  if (rc == TV_OK) t->step = tv_ckpt_step(ck);
  tv_ckpt_close(ck);
  if (rc != TV_OK) return tv_error_prefix(rc, "cannot resume");
  return TV_OK;
}

int trainer_open(const trainer_options *o, trainer **out) {
  *out = NULL;
  trainer *t = calloc(1, sizeof *t);
  if (!t) return tv_error(TV_ERR_NOMEM, "out of memory");
  t->opt = *o;
  t->tty = isatty(STDOUT_FILENO);
  t->dist = o->dist;
  t->rank = tv_dist_rank(o->dist);
  t->size = tv_dist_size(o->dist);
  if (t->rank != 0) t->opt.verbosity = -1; /* dist: rank 0 speaks for the run; errors still print */
  int rc = tv_ctx_new(o->threads, &t->ctx);
  if (rc == TV_OK) rc = tv_fs_mkdirs(o->train_dir);
  if (rc == TV_OK) rc = take_lock(t);
  if (rc == TV_OK) remove_stale_temporaries(t);
  if (rc == TV_OK) remove_uncommitted(t);
  if (rc == TV_OK) rc = load_config(t);
  if (rc == TV_OK) rc = build(t);
  if (rc == TV_OK) rc = resume(t);
  /* A command with nothing to do changes nothing: config.yaml keeps the run's own length. */
  if (rc == TV_OK && t->step < t->total_steps && t->rank == 0)
    rc = tv_fs_write_atomic(t->frozen, t->cfg_text, strlen(t->cfg_text));
  rc = dist_start(t, rc); /* dist: every rank, also after a failure */
  if (rc != TV_OK) {
    trainer_free(t);
    return rc;
  }
  if (t->step < t->total_steps && o->verbosity > 0) {
    if (t->fresh_config)
      printf("train: %s has no committed checkpoint, so its config.yaml is replaced by %s\n",
             o->train_dir, o->config);
    if (t->changed[0]) printf("train: resumed with changed settings: %s\n", t->changed);
  }
  t->last_saved = t->step;
  *out = t;
  return TV_OK;
}

void trainer_free(trainer *t) {
  if (!t) return;
  saver_free(t->saver); /* lets a save in flight end first */
  tv_events_close(t->events);
  tv_events_close(t->val_events);
  tv_loader_free(t->loader);
  tv_stream_free(t->stream);
  tv_corpus_free(&t->corpus);
  free(t->tok_x);
  free(t->tok_y);
  tv_optim_free(t->optim);
  tv_model_free(t->model);
  tv_model_free(t->infer);
  tv_varstore_free(t->store);
  tv_ctx_free(t->ctx); /* after everything that borrowed its team */
  tv_metrics_free(t->window);
  tv_metrics_free(t->part);
  free(t->carry_mine);
  free(t->carry_all);
  tv_metrics_free(t->val_metrics);
  tv_dataset_free(&t->data);
  tv_standardize_free(&t->zstats);
  tv_dataset_free(&t->valid);
  tv_manifest_free(&t->manifest);
  free(t->cfg_text);
  tv_lock_clear(t->lock); /* released cleanly: nobody died holding it */
  tv_lock_release(t->lock);
  free(t);
}

/* ---- checkpoints -------------------------------------------------------------------------- */

/* An evaluator's DIR/STOP (stop.h): says who asked and why, and renames it STOP.handled so
 * that it stops this run once.  stale: it was there before this run began, so nobody acted on
 * it; it is only set aside. */
static int take_stop_request(const trainer *t, int stale) {
  tv_stop_request r;
  int rrc = tv_stop_read(t->opt.train_dir, &r);
  if (t->opt.verbosity > 0) {
    char who[TV_EVAL_NAME_CAP + TV_MANIFEST_HOST_CAP + TV_EVAL_ERROR_CAP + 32];
    if (rrc == TV_OK)
      snprintf(who, sizeof who, "evaluator %s on %s: %s", r.by, r.host, r.reason);
    else
      snprintf(who, sizeof who, "unreadable: %s", tv_error_message());
    if (stale)
      printf("train: %s/%s predates this run (%s); renamed to %s\n", t->opt.train_dir, TV_STOP_FILE,
             who, TV_STOP_HANDLED_FILE);
    else
      printf("%strain: early stop requested at step %lld by %s/%s (%s)\n", t->tty ? "\r\033[K" : "",
             (long long)t->step, t->opt.train_dir, TV_STOP_FILE, who);
    fflush(stdout);
  }
  return tv_stop_consume(t->opt.train_dir);
}

/* Removes this run's saved but uncommitted checkpoint file (its manifest write failed: a full
 * disk), so that its space is free for the terminal status.  Returns rc with its message kept. */
static int drop_uncommitted(const trainer *t, const char *file, int rc) {
  char path[TV_PATH_CAP + 300], msg[1024];
  if (tv_fs_join(path, sizeof path, t->opt.train_dir, file) != TV_OK || unlink(path) != 0)
    return rc;
  /* No directory fsync: the status write that follows fsyncs the directory itself. */
  snprintf(msg, sizeof msg, "%s", tv_error_message());
  return tv_error(rc, "%s", msg);
}

/* train.keep_best (restore_best implies it): the best validation's checkpoint. */
static int keeps_best(const trainer *t) {
  return t->cfg.train.keep_best || t->cfg.train.restore_best;
}

/* Retention's veto (retention.h, rule 4): the best validation's checkpoint stays.  Run by the
 * save on the saver's thread: it reads the best as it was when the save was submitted. */
static int keep_best_veto(void *ctx, const tv_manifest_entry *e) {
  const trainer *t = ctx;
  return !isnan(t->save.best) && e->step == t->save.best_step;
}

/* The save's part on the saver's thread: the file written, fsynced and renamed into place, the
 * lock checked, the commit into the manifest (retention with it); on a failed commit the file it
 * saved is removed first (a full disk).  The same order and guarantees as a save in the step. */
static int save_commit(void *ctx) {
  trainer *t = ctx;
  tv_ckpt_info info;
  int rc = tv_ckpt_writer_finish(t->save.w, &info);
  t->save.w = NULL;
  tv_retention_policy keep = {.max_to_keep = t->cfg.train.max_to_keep,
                              .keep_every_hours = t->cfg.retention.keep_every_hours,
                              .max_unevaluated = t->cfg.retention.max_unevaluated};
  if (keeps_best(t)) {
    keep.veto = keep_best_veto;
    keep.veto_ctx = t;
  }
  int saved = rc == TV_OK, listed = tv_manifest_find(&t->manifest, t->save.step) != NULL;
  if (rc == TV_OK) rc = tv_lock_check(t->lock); /* never commit into a shared directory */
  if (rc == TV_OK)
    rc = tv_ckpt_commit(t->opt.train_dir, &t->manifest, &info, t->save.step, t->save.wall_time, 1,
                        t->save.reason, &keep);
  if (rc != TV_OK && saved && !listed && !tv_manifest_find(&t->manifest, t->save.step))
    rc = drop_uncommitted(t, info.file, rc); /* free it before the status is written */
  return rc;
}

/* Waits for the save in flight, if any, and takes its outcome: its error, or last_saved and the
 * --verbose line. */
static int settle_save(trainer *t) {
  if (!t->save.in_flight) return TV_OK;
  t->save.in_flight = 0;
  int rc = saver_wait(t->saver);
  if (rc != TV_OK) return rc;
  t->last_saved = t->save.step;
  if (t->opt.verbosity > 1) {
    char name[TV_CKPT_FILE_CAP];
    if (tv_ckpt_file_name(t->save.step, name, sizeof name) != TV_OK) name[0] = '\0';
    printf("%scheckpoint %s committed (step %lld, %s), training paused %.1f ms (%.1f ms of CPU)\n",
           t->tty ? "\r\033[K" : "", name, (long long)t->save.step, t->save.reason,
           t->save.paused_ms, t->save.paused_cpu_ms);
  }
  return TV_OK;
}

/* The calling thread's CPU time in seconds. */
static double thread_cpu_secs(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0.0;
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Snapshots the state into a checkpoint built in memory (every owner writes its part: the
 * copy) and hands it to the saver's thread to write and commit; the previous save is waited
 * for first (at most one in flight).  Training waits only for the copy. */
static int save_checkpoint(trainer *t, const char *reason) {
  double start = tv_monotonic(), cpu_start = thread_cpu_secs();
  int rc = dist_carry_gather(t); /* dist: every rank's carried state, to rank 0 */
  if (rc != TV_OK) return rc;
  if (t->rank != 0) { /* dist: only rank 0 saves */
    t->last_saved = t->step;
    return TV_OK;
  }
  rc = settle_save(t);
  if (rc == TV_OK && !t->saver) rc = saver_new(&t->saver);
  if (rc != TV_OK) return rc;
  if (!tv_all_finite(tv_varstore_values(t->store), tv_varstore_size(t->store)))
    return tv_error(TV_ERR_NONFINITE, "step %lld: parameters hold NaN or Inf; not saved",
                    (long long)t->step);
  tv_loader_state st = {0};
  const uint32_t *perm;
  uint32_t perm_n;
  if (t->tokens)
    st.epoch = tv_stream_epoch(t->stream);
  else
    tv_loader_get_state(t->loader, &st, &perm, &perm_n);
  tv_ckpt_header h = {.step = t->step,
                      .epoch = (int64_t)st.epoch,
                      .wall_time = tv_now(),
                      .config_text = t->cfg_text};
  tv_ckpt_writer *w = NULL;
  rc = tv_ckpt_writer_open(t->opt.train_dir, &h, &w);
  if (rc != TV_OK) return rc;
  /* Each owner writes its own part (ckpt.h, STATE LAYOUT); the trainer only orders the calls. */
  rc = tv_ckpt_writer_variables(w, t->store);
  if (rc == TV_OK) rc = tv_optim_ckpt_write(t->optim, w);
  if (rc == TV_OK && t->tokens) rc = tv_stream_ckpt_write(t->stream, w);
  if (rc == TV_OK && t->tokens) rc = tv_vocab_ckpt_write(&t->corpus.vocab, w);
  if (rc == TV_OK && !t->tokens) rc = tv_loader_ckpt_write(t->loader, w);
  if (rc == TV_OK) /* dist: every rank's carried state, gathered above */
    rc = t->carry_dist ? tv_model_ckpt_write_parts(t->model, w, t->carry_all, t->size)
                       : tv_model_ckpt_write(t->model, w);
  if (rc == TV_OK) rc = tv_dataset_names_ckpt_write(&t->data, w);
  if (rc == TV_OK) rc = counters_write(t, w);
  if (rc == TV_OK && t->zstats.d > 0) rc = tv_standardize_ckpt_write(&t->zstats, w);
  if (rc != TV_OK) {
    tv_ckpt_writer_abort(w);
    return rc;
  }
  t->save.w = w;
  t->save.step = t->step;
  t->save.wall_time = h.wall_time;
  t->save.reason = reason;
  t->save.best = t->best;
  t->save.best_step = t->best_step;
  rc = saver_submit(t->saver, save_commit, t);
  if (rc != TV_OK) {
    tv_ckpt_writer_abort(w);
    t->save.w = NULL;
    return rc;
  }
  t->save.in_flight = 1;
  t->save.paused_ms = (tv_monotonic() - start) * 1e3;
  t->save.paused_cpu_ms = (thread_cpu_secs() - cpu_start) * 1e3;
  return TV_OK;
}

/* Records status in the manifest, after the save in flight (whose error, if any, is returned
 * first). */
static int set_status(trainer *t, const char *status) {
  if (t->rank != 0) return TV_OK; /* dist: only rank 0 writes the manifest */
  int src = settle_save(t);
  snprintf(t->manifest.status, sizeof t->manifest.status, "%s", status);
  int rc = tv_manifest_write(t->opt.train_dir, &t->manifest);
  return src != TV_OK ? src : rc;
}

/* ---- summaries, validation ---------------------------------------------------------------- */

static int write_summary(trainer *t, double secs, int64_t examples) {
  if (t->rank != 0) return TV_OK; /* dist: only rank 0 writes events */
  tv_metrics_summary s;
  tv_metrics_get(t->window, &s);
  /* loss and the task's headline metric (accuracy for classification; r2, micro_f1) */
  tv_metric_kind head = tv_task_headline(t->cfg.model.task);
  const char *tags[] = {"loss", tv_metric_desc_for(head)->name, "learning_rate", "examples_per_sec",
                        "nonfinite_steps"};
  float vals[] = {(float)s.loss, (float)tv_metric_value(&s, head),
                  (float)tv_optim_lr(t->optim, t->step - 1),
                  (float)(secs > 0 ? (double)examples / secs : 0.0), (float)t->nonfinite_total};
  int n = t->cfg.train.on_nonfinite == TV_NONFINITE_SKIP ? 5 : 4;
  int rc = s.n > 0 ? tv_events_scalars(t->events, t->step, n, tags, vals) : TV_OK;
  if (rc == TV_OK) rc = tv_events_flush(t->events);
  return rc;
}

static int write_histograms(trainer *t) {
  if (t->rank != 0) return TV_OK; /* dist: only rank 0 writes events */
  int rc = TV_OK;
  char tag[TV_VAR_NAME_CAP + 8];
  for (int i = 0; rc == TV_OK && i < tv_varstore_count(t->store); i++) {
    const tv_var *v = tv_varstore_cvar(t->store, i);
    rc = tv_events_histogram(t->events, t->step, v->name, v->value, v->count);
    if (rc == TV_OK && v->trainable) {
      snprintf(tag, sizeof tag, "%s/grad", v->name);
      rc = tv_events_histogram(t->events, t->step, tag, v->grad, v->count);
    }
  }
  return rc;
}

/* Runs the INFER graph (sharing the training variables) over the first validate_batches batches
 * of the valid split; writes scalars to DIR/validation with train's tag names.  Sets *stop when
 * early stopping's patience is used up, *best when keep_best wants this step saved (the caller
 * saves it). */
static int validate(trainer *t, int *stop, int *best) {
  *stop = *best = 0;
  if (t->rank != 0) return TV_OK; /* dist: rank 0 validates; its decision is in the step's flags */
  uint32_t n = t->valid.n;
  if (t->cfg.train.validate_batches > 0) {
    uint64_t want = (uint64_t)t->cfg.train.validate_batches * (uint64_t)t->cfg.train.batch_size;
    if (want < n) n = (uint32_t)want;
  }
  tv_metrics_reset(t->val_metrics);
  uint64_t tokens = 0;
  int rc = t->tokens ? tv_evaluate_tokens(t->infer, t->corpus.valid, t->corpus.n_valid,
                                          (uint64_t)t->cfg.train.validate_batches, t->val_metrics,
                                          &tokens)
                     : tv_evaluate(t->infer, &t->valid, NULL, n, t->norm, t->val_metrics);
  if (rc != TV_OK) return rc;
  tv_metrics_summary s;
  tv_metrics_get(t->val_metrics, &s);
  if (!t->val_events) {
    char dir[TV_PATH_CAP + 16];
    rc = tv_fs_join(dir, sizeof dir, t->opt.train_dir, "validation");
    if (rc == TV_OK) rc = tv_events_open(dir, &t->val_events);
    if (rc == TV_OK) rc = tv_events_session_start(t->val_events, t->step);
    if (rc != TV_OK) return rc;
  }
  const char *tags[TV_METRIC__COUNT];
  float vals[TV_METRIC__COUNT];
  int nt = 0;
  for (int k = 0; k < TV_METRIC__COUNT; k++) {
    if (!tv_metric_applies((tv_metric_kind)k, t->cfg.model.task)) continue;
    tags[nt] = tv_metric_desc_for((tv_metric_kind)k)->name;
    vals[nt++] = (float)tv_metric_value(&s, (tv_metric_kind)k);
  }
  rc = tv_events_scalars(t->val_events, t->step, nt, tags, vals);
  if (rc == TV_OK) rc = tv_events_flush(t->val_events);
  if (rc != TV_OK) return rc;
  tv_metric_kind head = tv_task_headline(t->cfg.model.task);
  if (t->opt.verbosity > 0)
    printf("%svalidation at step %lld: loss %.4f  %s %.4f  (%llu %s)\n", t->tty ? "\r\033[K" : "",
           (long long)t->step, s.loss, tv_metric_desc_for(head)->name, tv_metric_value(&s, head),
           (unsigned long long)s.n, t->tokens ? "tokens" : "examples");
  if (t->cfg.train.early_stop_patience <= 0 && !keeps_best(t)) return TV_OK;
  tv_metric_kind k = t->cfg.train.early_stop_metric;
  int maximize = t->cfg.train.early_stop_mode == TV_STOP_MAX ||
                 (t->cfg.train.early_stop_mode == TV_STOP_AUTO && tv_metric_desc_for(k)->maximize);
  double v = tv_metric_value(&s, k);
  int better =
      isnan(t->best) || tv_metric_better(maximize, v, t->best, t->cfg.train.early_stop_min_delta);
  if (better) {
    t->best = v;
    t->best_step = t->step;
    t->bad_validations = 0;
    /* The last step's checkpoint comes from finish_run (and the veto keeps it). */
    *best = keeps_best(t) && t->step < t->total_steps;
  } else if (t->cfg.train.early_stop_patience > 0 &&
             ++t->bad_validations >= t->cfg.train.early_stop_patience) {
    *stop = 1;
    if (t->opt.verbosity > 0)
      printf("train: early stopping at step %lld: validation %s has not improved on %.4f (step "
             "%lld) for %lld validations\n",
             (long long)t->step, tv_metric_desc_for(k)->name, t->best, (long long)t->best_step,
             (long long)t->bad_validations);
  }
  return TV_OK;
}

/* ---- the loop ----------------------------------------------------------------------------- */

/* Names the first non-finite tensor of a step: the loss, or a variable's gradient. */
static void describe_nonfinite(trainer *t, float loss, char *what, size_t cap) {
  if (!isfinite(loss)) {
    snprintf(what, cap, "the loss is %f", (double)loss);
    return;
  }
  for (int i = 0; i < tv_varstore_count(t->store); i++) {
    const tv_var *v = tv_varstore_cvar(t->store, i);
    if (v->trainable && !tv_all_finite(v->grad, v->count)) {
      snprintf(what, cap, "the gradient of %s holds NaN or Inf", v->name);
      return;
    }
  }
  snprintf(what, cap, "the gradient norm overflowed");
}

/* The log's short name of the task's headline metric ("acc" for accuracy, as always). */
static const char *head_short(const trainer *t) {
  tv_metric_kind head = tv_task_headline(t->cfg.model.task);
  return head == TV_METRIC_ACCURACY ? "acc" : tv_metric_desc_for(head)->name;
}

static void progress(trainer *t, double rate, int force) {
  double now = tv_monotonic();
  if (!force && now - t->last_progress < 0.25) return;
  t->last_progress = now;
  tv_metrics_summary s;
  tv_metrics_get(t->window, &s);
  double eta = rate > 0 ? (double)(t->total_steps - t->step) * t->cfg.train.batch_size / rate : 0;
  int64_t per_epoch = batches_per_epoch(t);
  printf("\r\033[Kstep %lld/%lld  epoch %lld  loss %.4f  %s %.4f  %.0f ex/s  ETA %d:%02d:%02d",
         (long long)t->step, (long long)t->total_steps, (long long)(t->step / per_epoch) + 1,
         s.loss, head_short(t), tv_metric_value(&s, tv_task_headline(t->cfg.model.task)), rate,
         (int)(eta / 3600), (int)(eta / 60) % 60, (int)eta % 60);
  fflush(stdout);
}

/* Timers and example counts of this process's run (not resumed: they pace summaries, the log and
 * time-based checkpoints). */
typedef struct run_clock {
  double start, window_start, log_start, last_ckpt_time, last_summary_time;
  double rate; /* smoothed examples per second, for the progress line */
  int64_t window_examples, log_examples, run_examples;
} run_clock;

/* TensorBoard's text dashboard at step 0 of a new run: tag "config", the effective config as a
 * markdown code block, and tag "model", the layer table (as trainer_print_summary's). */
static int write_text_summaries(trainer *t) {
  char *cfg = NULL, *text = NULL, *table = NULL;
  size_t len = 0, cap = 256 + 160 * (size_t)tv_model_num_layers(t->model), used = 0;
  int rc = tv_config_emit(&t->cfg, &cfg, &len);
  if (rc == TV_OK && !(text = malloc(len + 32)))
    rc = tv_error(TV_ERR_NOMEM, "no memory for the config text summary");
  if (rc == TV_OK) {
    snprintf(text, len + 32, "```yaml\n%s%s```\n", cfg, len && cfg[len - 1] == '\n' ? "" : "\n");
    rc = tv_events_text(t->events, 0, "config", text);
  }
  if (rc == TV_OK && !(table = malloc(cap)))
    rc = tv_error(TV_ERR_NOMEM, "no memory for the model text summary");
  if (rc == TV_OK) {
    size_t params = 0, fixed = 0;
    used = (size_t)snprintf(table, cap,
                            "| layer | kind | output | params | FLOPs/example |\n"
                            "| --- | --- | --- | ---: | ---: |\n");
    for (int i = 0; i < tv_model_num_layers(t->model) && used < cap; i++) {
      tv_layer_info li;
      tv_model_layer_info(t->model, i, &li);
      char sh[64];
      used += (size_t)snprintf(table + used, cap - used, "| %s | %s | %s | %zu | %.0f |\n", li.name,
                               li.kind, tv_shape_str(li.out, sh, sizeof sh),
                               li.params + li.non_trainable, li.flops);
      params += li.params;
      fixed += li.non_trainable;
    }
    if (used < cap)
      snprintf(table + used, cap - used, "\ntotal: %zu trainable + %zu non-trainable parameters\n",
               params, fixed);
    rc = tv_events_text(t->events, 0, "model", table);
  }
  free(cfg);
  free(text);
  free(table);
  return rc;
}

/* The HParams dashboard's session start at step 0 of a new run: the hyperparameters that tell
 * runs under one logdir apart (the train_dir is the session; its scalars are the metrics). */
static int write_hparams_start(trainer *t) {
  static const char *const schedules[TV_SCHEDULE__COUNT] = {[TV_SCHEDULE_CONSTANT] = "constant",
                                                            [TV_SCHEDULE_COSINE] = "cosine",
                                                            [TV_SCHEDULE_STEP] = "step",
                                                            [TV_SCHEDULE_EXPONENTIAL] =
                                                                "exponential"};
  const tv_config *c = &t->cfg;
  int depth = 0, width = 0;
  for (int i = 0; i < c->model.n_layers; i++) {
    const tv_layer_config *l = &c->model.layers[i];
    int w = l->kind == TV_LAYER_DENSE ? l->units : l->kind == TV_LAYER_CONV2D ? l->filters : 0;
    depth += w > 0;
    if (w > width) width = w;
  }
  const tv_hparam hp[] = {
      {"optimizer", tv_optim_name(t->optim), 0},
      {"learning_rate", NULL, c->optimizer.learning_rate},
      {"schedule", schedules[c->optimizer.schedule], 0},
      {"warmup_steps", NULL, (double)c->optimizer.warmup_steps},
      {"weight_decay", NULL, c->optimizer.weight_decay},
      {"batch_size", NULL, c->train.batch_size},
      {"steps", NULL, (double)t->total_steps},
      {"seed", NULL, (double)c->train.seed},
      {"depth", NULL, depth},
      {"width", NULL, width},
  };
  return tv_events_hparams_start(t->events, 0, hp, (int)(sizeof hp / sizeof hp[0]), "", tv_now());
}

/* Before the first step: records past the resumed step belong to a run that died after its last
 * checkpoint and are purged (all of them on a fresh start: an attempt killed before its first
 * checkpoint left its step-0 texts and hparams, written again now); a STOP left from before this
 * run is set aside; status running; the event file opened with a session start (a restart for
 * TensorBoard). */
static int begin_run(trainer *t) {
  if (t->rank != 0) return TV_OK; /* dist: only rank 0 writes to DIR */
  char vdir[TV_PATH_CAP + 16];
  long dropped = 0, vdropped = 0;
  int64_t keep = t->step > 0 ? t->step : -1;
  int rc = tv_fs_join(vdir, sizeof vdir, t->opt.train_dir, "validation");
  if (rc == TV_OK) rc = tv_events_purge_after(t->opt.train_dir, keep, &dropped);
  if (rc == TV_OK) rc = tv_events_purge_after(vdir, keep, &vdropped);
  if (rc == TV_OK && dropped + vdropped > 0 && t->opt.verbosity > 0)
    printf("train: dropped %ld event records past step %lld (written after the last "
           "checkpoint of an earlier run)\n",
           dropped + vdropped, (long long)t->step);
  if (rc == TV_OK && tv_stop_requested(t->opt.train_dir)) rc = take_stop_request(t, 1);
  if (rc == TV_OK) rc = set_status(t, "running");
  if (rc == TV_OK) rc = tv_events_open(t->opt.train_dir, &t->events);
  if (rc == TV_OK) rc = tv_events_session_start(t->events, t->step + 1);
  if (rc == TV_OK && t->step == 0) rc = write_text_summaries(t);
  if (rc == TV_OK && t->step == 0) rc = write_hparams_start(t);
  return rc;
}

/* One optimizer step: next batch -> forward -> loss -> zero the gradients -> backward ->
 * non-finite guard -> update ->
 * metrics.  A non-finite step is skipped (on_nonfinite skip) or ends the run (status diverged,
 * TV_ERR_NONFINITE).  *n gets the batch's size.  Never allocates. */
static int train_step(trainer *t, uint32_t *n) {
  const tv_config *c = &t->cfg;
  tv_batch b = {0};
  int nl, rows; /* nl: this rank's rows of the batch; rows: its loss rows */
  const float *logits;
  dist_dropout_stream(t); /* dist: rank r > 0 draws its own masks */
  if (t->tokens) {
    int first, epoch_done;
    tv_stream_next(t->stream, t->tok_x, t->tok_y, &first, &epoch_done);
    if (first) tv_model_reset_state(t->model); /* a new stream (random windows: every batch) */
    *n = (uint32_t)c->train.batch_size;
    const int32_t *ids = t->tok_x;
    b.labels = t->tok_y;
    nl = (int)*n;
    dist_slice_tokens(t, &ids, &b.labels, &nl); /* dist: this rank's windows */
    logits = tv_model_forward_ids(t->model, ids, nl);
    rows = nl * c->model.input[0];
  } else {
    tv_loader_next_batch(t->loader, &b);   /* lent until the next call; dist: this rank's rows */
    int lrc = tv_loader_status(t->loader); /* out of core: a failed read of the data file */
    if (lrc != TV_OK) return lrc;
    *n = b.whole;
    nl = (int)b.n;
    logits = tv_model_forward(t->model, b.x, nl);
    rows = nl;
  }
  float *dlogits = tv_model_output_grad(t->model);
  float loss =
      tv_loss_forward(&t->loss, logits, (tv_targets){.classes = b.labels, .values = b.targets},
                      rows, c->model.num_classes, dlogits);
  /* dist: scaled so that the sum over ranks is the global batch's mean */
  dist_scale_output_grad(t, dlogits, rows, t->tokens ? *n * (uint32_t)c->model.input[0] : *n);
  tv_varstore_zero_grads(t->store); /* backward adds */
  tv_model_backward(t->model, dlogits, nl);
  char elsewhere[64];
  /* dist: the gradient sum, any rank's loss, the window's rows */
  int rc = dist_reduce(t, loss, logits, &b, rows, elsewhere, sizeof elsewhere);
  if (rc != TV_OK) return rc;
  double norm = tv_optim_grad_norm(t->optim);
  if (!isfinite(loss) || elsewhere[0] || !isfinite(norm)) {
    char what[TV_VAR_NAME_CAP + 64];
    describe_nonfinite(t, loss, what, sizeof what);
    if (elsewhere[0]) snprintf(what, sizeof what, "%s", elsewhere);
    t->nonfinite_total++;
    if (c->train.on_nonfinite == TV_NONFINITE_STOP ||
        ++t->nonfinite_run >= c->train.max_nonfinite) {
      int wrc = set_status(t, "diverged");
      (void)wrc; /* the divergence is the error to report */
      return tv_error(TV_ERR_NONFINITE,
                      "step %lld: %s; training diverged%s, status diverged, nothing saved "
                      "after step %lld",
                      (long long)t->step + 1, what,
                      c->train.on_nonfinite == TV_NONFINITE_SKIP ? " (max_nonfinite steps in a row)"
                                                                 : "",
                      (long long)t->last_saved);
    }
    if (t->opt.verbosity > 1)
      printf("%sstep %lld: %s; update skipped\n", t->tty ? "\r\033[K" : "", (long long)t->step + 1,
             what);
  } else {
    t->nonfinite_run = 0;
    tv_optim_apply(t->optim, t->step, norm);
    /* The window counts only: this cannot allocate or fail. */
    int mrc = dist_window_add(t, logits, &b, rows); /* dist: every rank's rows */
    if (mrc != TV_OK) return mrc;
  }
  if (t->tokens) *n = (uint32_t)rows; /* a token model's rate counts tokens */
  t->step++;
  return TV_OK;
}

/* The progress line on a terminal, else a log line every log_every steps. */
static void log_step(trainer *t, run_clock *k, double now) {
  const tv_config *c = &t->cfg;
  if (now > k->log_start)
    k->rate = 0.9 * k->rate + 0.1 * (double)k->log_examples / (now - k->log_start);
  if (k->rate == 0 && now > k->start) k->rate = (double)k->run_examples / (now - k->start);
  k->log_start = now;
  k->log_examples = 0;
  if (t->tty) {
    progress(t, k->rate, 0);
  } else if (c->train.log_every > 0 && t->step % c->train.log_every == 0) {
    tv_metrics_summary s;
    tv_metrics_get(t->window, &s);
    printf("step %lld/%lld  loss %.4f  %s %.4f  lr %.3g  %.0f ex/s\n", (long long)t->step,
           (long long)t->total_steps, s.loss, head_short(t),
           tv_metric_value(&s, tv_task_headline(c->model.task)), tv_optim_lr(t->optim, t->step - 1),
           (double)k->run_examples / (now - k->start));
    fflush(stdout);
  }
}

/* The periodic work at a step's end: summaries, histograms, the log, validation and early
 * stopping, an evaluator's STOP, signals, checkpoints.  Sets *stop_reason ("early_stop",
 * "signal") when the run must end here. */
static int after_step(trainer *t, run_clock *k, uint32_t n, const char **stop_reason) {
  const tv_config *c = &t->cfg;
  k->window_examples += n;
  k->log_examples += n;
  k->run_examples += n;
  double now = tv_monotonic();
  int rc = TV_OK;
  if (t->save.in_flight && saver_done(t->saver)) { /* a finished save reports at once */
    rc = settle_save(t);
    if (rc != TV_OK) return rc;
  }
  int summarize =
      (c->train.summary_every > 0 && t->step % c->train.summary_every == 0) ||
      (c->train.summary_secs > 0 && now - k->last_summary_time >= c->train.summary_secs);
  if (summarize) {
    rc = write_summary(t, now - k->window_start, k->window_examples);
    if (rc != TV_OK) return rc;
    k->window_start = k->last_summary_time = now;
    k->window_examples = 0;
  }
  if (c->train.histogram_every > 0 && t->step % c->train.histogram_every == 0) {
    rc = write_histograms(t);
    if (rc != TV_OK) return rc;
  }
  if (t->opt.verbosity > 0) log_step(t, k, now);
  if (summarize) tv_metrics_reset(t->window); /* after the log line read it */
  int early = 0, best = 0;
  if (c->train.validate_every > 0 && t->step % c->train.validate_every == 0) {
    rc = validate(t, &early, &best);
    if (rc != TV_OK) return rc;
  }
  if (!early && t->rank == 0 && tv_stop_requested(t->opt.train_dir)) {
    rc = take_stop_request(t, 0);
    if (rc != TV_OK) return rc;
    early = 1;
  }
  /* rank 0's clock and save state decide; a best validation's save goes first (and, as any
   * save of this step, supersedes the periodic and time saves) */
  save_kind save = SAVE_NONE;
  int periodic = c->train.checkpoint_every > 0 && t->step % c->train.checkpoint_every == 0;
  int64_t saved = t->save.in_flight ? t->save.step : t->last_saved; /* saved or being saved */
  if (best)
    save = SAVE_BEST;
  else if (t->step < t->total_steps && saved != t->step)
    save = periodic ? SAVE_PERIODIC
           : c->train.checkpoint_secs > 0 && now - k->last_ckpt_time >= c->train.checkpoint_secs
               ? SAVE_TIME
               : SAVE_NONE;
  /* dist: every rank stops, and saves, at the same steps as rank 0 */
  rc = dist_step_flags(t, &early, &save);
  if (rc != TV_OK) return rc;
  if (save == SAVE_BEST) {
    rc = save_checkpoint(t, save_reasons[save]);
    if (rc != TV_OK) return rc;
  }
  if (early) {
    *stop_reason = "early_stop";
    return TV_OK;
  }
  if (t->stop_sig) {
    *stop_reason = "signal";
    return TV_OK;
  }
  if (save == SAVE_PERIODIC || save == SAVE_TIME) {
    rc = save_checkpoint(t, save_reasons[save]);
    if (rc != TV_OK) return rc;
    k->last_ckpt_time = tv_monotonic();
  }
  return TV_OK;
}

/* train.restore_best: loads the variables of the best validation's checkpoint (committed, so
 * verified against the manifest) into the store, so that the final checkpoint holds them.  Sets
 * *restored when it did; a best step without a committed checkpoint (validated before keep_best
 * was set) leaves the last step's variables and says so. */
static int restore_best(trainer *t, int *restored) {
  *restored = 0;
  if (!t->cfg.train.restore_best || isnan(t->best) || t->best_step == t->step) return TV_OK;
  const tv_manifest_entry *e = tv_manifest_find(&t->manifest, t->best_step);
  if (!e) {
    if (t->opt.verbosity > 0)
      printf("train: restore_best: no committed checkpoint of the best step %lld; the final "
             "variables are step %lld's\n",
             (long long)t->best_step, (long long)t->step);
    return TV_OK;
  }
  char path[TV_PATH_CAP + 80];
  int rc = tv_fs_join(path, sizeof path, t->opt.train_dir, e->file);
  if (rc != TV_OK) return rc;
  tv_ckpt_info expect = {.size = e->size, .crc32c = e->crc32c};
  tv_ckpt *ck = NULL;
  rc = tv_ckpt_open(path, &expect, &ck);
  if (rc == TV_OK) rc = tv_ckpt_read_variables(ck, t->store);
  tv_ckpt_close(ck);
  if (rc != TV_OK) return rc;
  *restored = 1;
  if (t->opt.verbosity > 0)
    printf("train: restore_best: the final variables are those of step %lld (validation %s "
           "%.4f), the best\n",
           (long long)t->best_step, tv_metric_desc_for(t->cfg.train.early_stop_metric)->name,
           t->best);
  return TV_OK;
}

/* After the last step: the final checkpoint (unless this step is saved already), the status
 * for why the run ended, and the closing lines. */
static int finish_run(trainer *t, const run_clock *k, const char *stop_reason,
                      trainer_outcome *outcome) {
  if (t->tty && t->opt.verbosity > 0) {
    progress(t, k->rate, 1);
    printf("\n");
  }
  const char *status = "final";
  *outcome = TRAINER_FINAL;
  if (stop_reason && !strcmp(stop_reason, "signal")) {
    status = "interrupted";
    *outcome = TRAINER_INTERRUPTED;
  } else if (stop_reason) {
    status = "early_stopped";
    *outcome = TRAINER_EARLY_STOPPED;
  }
  int restored = 0;
  /* the final save waits for the one in flight, and so does restore_best (manifest, HDF5) */
  int rc = settle_save(t);
  if (rc == TV_OK && *outcome != TRAINER_INTERRUPTED) rc = restore_best(t, &restored);
  int final = restored || t->last_saved != t->step || tv_manifest_latest(&t->manifest) == NULL;
  if (rc == TV_OK) rc = dist_final_save(t, &final); /* dist: rank 0's decision */
  if (rc == TV_OK && final) rc = save_checkpoint(t, stop_reason ? stop_reason : "final");
  if (rc == TV_OK) rc = settle_save(t);
  if (rc == TV_OK) rc = set_status(t, status);
  if (rc == TV_OK && *outcome != TRAINER_INTERRUPTED && t->events) /* HParams: ended well */
    rc = tv_events_hparams_end(t->events, t->step, TV_HPARAMS_STATUS_SUCCESS, tv_now());
  if (rc == TV_OK && t->events) rc = tv_events_flush(t->events); /* dist: rank 0's */
  if (rc == TV_OK && t->opt.verbosity >= 0) {
    double secs = tv_monotonic() - k->start;
    if (*outcome == TRAINER_INTERRUPTED)
      fprintf(stderr, "train: stopped by %s%s at step %lld; checkpoint saved, status interrupted\n",
              t->stop_sig == SIGINT ? "SIGINT" : "SIGTERM", g_stop_signal ? "" : " on another rank",
              (long long)t->step);
    printf("train: %s at step %lld in %.1f s (%.0f examples/s); checkpoints in %s\n", status,
           (long long)t->step, secs, secs > 0 ? (double)k->run_examples / secs : 0.0,
           t->opt.train_dir);
    dist_report(t, secs);
  }
  return rc;
}

int trainer_run(trainer *t, trainer_outcome *outcome) {
  *outcome = TRAINER_FINAL;
  if (t->step >= t->total_steps) {
    *outcome = TRAINER_NOTHING_TO_DO;
    return TV_OK;
  }
  int rc = begin_run(t);
  if (rc != TV_OK) return rc;
  double start = tv_monotonic();
  run_clock k = {.start = start,
                 .window_start = start,
                 .log_start = start,
                 .last_ckpt_time = start,
                 .last_summary_time = start};
  const char *stop_reason = NULL;
  while (rc == TV_OK && !stop_reason && t->step < t->total_steps) {
    uint32_t n;
    rc = train_step(t, &n);
    if (rc == TV_OK) rc = after_step(t, &k, n, &stop_reason);
  }
  if (rc != TV_OK) return rc;
  return finish_run(t, &k, stop_reason, outcome);
}

void trainer_mark_aborted(trainer *t) {
  if (!t || !t->events) return;
  /* HParams: the session failed (diverged or aborted).  A resume purges it with the other
   * records past the checkpoint, and its own end replaces it. */
  int rc = tv_events_hparams_end(t->events, t->step, TV_HPARAMS_STATUS_FAILURE, tv_now());
  if (strcmp(t->manifest.status, "diverged") != 0) rc = set_status(t, "aborted");
  (void)rc;
}

void trainer_print_summary(const trainer *t) {
  printf("%-14s %-12s %-16s %12s %14s\n", "layer", "kind", "output", "params", "FLOPs/example");
  size_t params = 0, fixed = 0;
  double flops = 0;
  for (int i = 0; i < tv_model_num_layers(t->model); i++) {
    tv_layer_info li;
    tv_model_layer_info(t->model, i, &li);
    char s[64];
    printf("%-14s %-12s %-16s %12zu %14.0f\n", li.name, li.kind, tv_shape_str(li.out, s, sizeof s),
           li.params + li.non_trainable, li.flops);
    params += li.params;
    fixed += li.non_trainable;
    flops += li.flops;
  }
  printf("total: %zu trainable + %zu non-trainable parameters, %.2f MFLOPs/example forward\n",
         params, fixed, flops / 1e6);
  printf("training %s from step %lld to %lld, batch %d, %zu %s, %d threads\n", t->opt.train_dir,
         (long long)t->step, (long long)t->total_steps, t->cfg.train.batch_size,
         t->tokens ? t->corpus.n_train : (size_t)t->data.n,
         t->tokens ? "tokens of training text" : "examples", tv_ctx_threads(t->ctx));
  if (t->size > 1) {
    int off, first, last;
    tv_dist_slice(t->cfg.train.batch_size, t->size, 0, &off, &first);
    tv_dist_slice(t->cfg.train.batch_size, t->size, t->size - 1, &off, &last);
    char share[32];
    if (first == last)
      snprintf(share, sizeof share, "%d", first);
    else
      snprintf(share, sizeof share, "%d or %d", first, last);
    printf("data-parallel over %s: each rank trains on %s %s of every batch, %d threads "
           "per rank\n",
           tv_dist_describe(t->dist), share, t->tokens ? "windows" : "examples",
           tv_ctx_threads(t->ctx));
  }
  if (t->cfg.optimizer.schedule == TV_SCHEDULE_COSINE &&
      t->cfg.optimizer.warmup_steps >= t->horizon) {
    printf("schedule: warm-up to step %lld, past the horizon %lld: the cosine never starts\n",
           (long long)t->cfg.optimizer.warmup_steps, (long long)t->horizon);
  } else if (t->cfg.optimizer.schedule == TV_SCHEDULE_COSINE) {
    printf("schedule: cosine from %g to %g over steps %lld..%lld", t->cfg.optimizer.learning_rate,
           t->cfg.optimizer.min_learning_rate, (long long)t->cfg.optimizer.warmup_steps,
           (long long)t->horizon);
    if (t->horizon < t->total_steps)
      printf(" (planned when the run began), then %g to step %lld; --replan-schedule stretches "
             "it",
             t->cfg.optimizer.min_learning_rate, (long long)t->total_steps);
    else if (t->horizon_kept)
      printf(" (planned when the run began; --replan-schedule ends it at %lld)",
             (long long)t->total_steps);
    else if (t->opt.replan_schedule && t->step > 0)
      printf(" (re-planned by --replan-schedule)");
    printf("\n");
  }
  fflush(stdout);
}

int64_t trainer_step(const trainer *t) { return t->step; }
int64_t trainer_total_steps(const trainer *t) { return t->total_steps; }
