/* trainer.c — the training loop (see trainer.h).
 *
 * One step: next batch -> forward -> backward -> non-finite guard (loss and global gradient
 * norm) -> optimizer update -> metrics; then, at the step's end, the periodic work: summaries
 * (every summary_every steps or summary_secs seconds), histograms, in-process validation and
 * early stopping, checkpoints (every checkpoint_every steps or checkpoint_secs seconds), the
 * STOP request of an evaluator, and signals.  The step itself never allocates.
 *
 * Exact resume: a checkpoint holds the parameters, the optimizer slots and counter, the data
 * order (loader epoch, position, shuffle RNG and the epoch's permutation) and the trainer's own
 * counters (early-stopping best and patience, the non-finite run) as attributes of /state.  The
 * learning-rate schedule is a function of the step.  On resume, event records past the
 * checkpoint's step (written by a run that died after it) are purged so curves never repeat.
 */
#include "trainer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "trainval/ckpt.h"
#include "trainval/config.h"
#include "trainval/data.h"
#include "trainval/evalstate.h"
#include "trainval/events.h"
#include "trainval/files.h"
#include "trainval/manifest.h"
#include "trainval/metrics.h"
#include "trainval/model.h"
#include "trainval/ops.h"
#include "trainval/optim.h"
#include "trainval/pipeline.h"
#include "trainval/varstore.h"

static volatile sig_atomic_t g_stop_signal;

void trainer_request_stop(int sig) { g_stop_signal = sig; }

struct trainer {
  trainer_options opt;
  tv_config cfg;
  char *cfg_text;
  char frozen[TV_PATH_CAP + 16];
  tv_dataset data, valid;
  tv_varstore *store;
  tv_model *model, *infer;
  tv_optim *optim;
  tv_loader *loader;
  tv_events *events, *val_events;
  tv_metrics *window, *val_metrics;
  tv_manifest manifest;
  int64_t step, total_steps, last_saved;
  int lock_fd;
  int tty;
  double last_progress; /* monotonic time of the last progress line (terminal only) */
  /* checkpoint extras: optimizer slots per trainable variable and the data order */
  tv_ckpt_array *extra;
  char (*extra_paths)[TV_VAR_NAME_CAP + 32];
  int n_extra;
  int64_t opt_t;
  uint64_t cursor[6];      /* loader epoch, position, rng[4] */
  uint64_t augment_rng[4]; /* the loader's augmentation generator */
  uint64_t dropout_rng[4]; /* the TRAIN graph's dropout generator */
  /* trainer state that exact resume needs */
  double best; /* early stopping: best validation metric so far (NaN: none yet) */
  int64_t best_step;
  int64_t bad_validations;
  int64_t nonfinite_run, nonfinite_total;
};

/* ---- set-up ------------------------------------------------------------------------------- */

static int take_lock(trainer *t) {
  char path[TV_PATH_CAP + 16];
  int rc = tv_fs_join(path, sizeof path, t->opt.train_dir, "LOCK");
  if (rc != TV_OK) return rc;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return tv_error_errno(TV_ERR_IO, errno, "%s: cannot create lock file", path);
  char holder[256] = "";
  int locked = flock(fd, LOCK_EX | LOCK_NB);
  int e = errno;
  ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
  holder[n > 0 ? n : 0] = '\0';
  holder[strcspn(holder, "\n")] = '\0';
  if (locked != 0) {
    close(fd);
    if (e == EWOULDBLOCK)
      return tv_error(TV_ERR_BUSY, "%s: another train holds this directory (%s)", path,
                      holder[0] ? holder : "holder unknown");
    return tv_error_errno(TV_ERR_IO, e, "%s: flock", path);
  }
  char host[128] = "unknown";
  gethostname(host, sizeof host - 1);
  if (holder[0] && t->opt.verbosity > 0) {
    /* The previous holder released the lock by dying (flock is dropped with the process). */
    char old_host[128] = "";
    long old_pid = 0;
    if (sscanf(holder, "host %127s pid %ld", old_host, &old_pid) == 2 &&
        strcmp(old_host, host) == 0 && old_pid > 0 && kill((pid_t)old_pid, 0) != 0)
      printf("train: taking over %s, left by pid %ld, which is no longer running\n", path, old_pid);
    else
      printf("train: taking over %s, last held by %s\n", path, holder);
  }
  char line[256];
  int len = snprintf(line, sizeof line, "host %s pid %ld\n", host, (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
    e = errno;
    close(fd);
    return tv_error_errno(TV_ERR_IO, e, "%s: write", path);
  }
  t->lock_fd = fd;
  return TV_OK;
}

/* Removes temporaries a killed writer left in DIR (we hold the lock, so none is live). */
static void remove_stale_temporaries(const trainer *t) {
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
  size_t len;
  rc = tv_config_emit(&t->cfg, &t->cfg_text, &len);
  if (rc != TV_OK) return rc;
  if (have_frozen) {
    tv_config *old = malloc(sizeof *old);
    if (!old) return tv_error(TV_ERR_NOMEM, "out of memory");
    rc = tv_config_load(t->frozen, NULL, 0, old);
    char diff[1024];
    if (rc == TV_OK && !tv_config_same_model(old, &t->cfg, diff, sizeof diff))
      rc = tv_error(TV_ERR_MISMATCH, "%s: the model differs from the run in %s: %s",
                    t->opt.config ? t->opt.config : "--set", t->opt.train_dir, diff);
    char changed[2048];
    if (rc == TV_OK && t->opt.verbosity > 0 &&
        !tv_config_same_settings(old, &t->cfg, changed, sizeof changed))
      printf("train: resumed with changed settings: %s\n", changed);
    free(old);
    if (rc != TV_OK) return rc;
  }
  return tv_fs_write_atomic(t->frozen, t->cfg_text, len);
}

static int build(trainer *t) {
  /* One read of the training files gives both splits; valid is kept only for validation. */
  int rc = tv_split_load_train_valid(&t->cfg, &t->data, &t->valid);
  if (rc == TV_OK && t->cfg.train.validate_every > 0) rc = tv_split_check_valid(&t->cfg, &t->valid);
  if (t->cfg.train.validate_every <= 0) tv_dataset_free(&t->valid);
  if (rc != TV_OK) return rc;
  int b = t->cfg.train.batch_size;
  if ((uint32_t)b > t->data.n)
    return tv_error(TV_ERR_CONFIG,
                    "%s: train.batch_size %d is larger than the %u training examples",
                    t->cfg.source, b, t->data.n);
  tv_loader_opts lo = {
      .batch_size = (uint32_t)b,
      .shuffle = 1,
      .drop_last = 1,
      .seed = t->cfg.train.seed,
      .norm = tv_norm_from_config(&t->cfg),
      .augment = {.flip = t->cfg.data.random_flip, .pad = t->cfg.data.random_crop_padding},
      .prefetch = (uint32_t)t->cfg.train.prefetch};
  rc = tv_loader_new(&t->data, &lo, &t->loader);
  if (rc != TV_OK) return rc;
  t->total_steps = t->cfg.train.steps > 0
                       ? t->cfg.train.steps
                       : (int64_t)t->cfg.train.epochs * tv_loader_batches_per_epoch(t->loader);
  rc = tv_varstore_new(&t->store);
  if (rc == TV_OK) rc = tv_model_new(&t->cfg, TV_MODE_TRAIN, b, t->store, &t->model);
  if (rc == TV_OK) rc = tv_varstore_seal(t->store);
  if (rc != TV_OK) return rc;
  tv_rng init = tv_rng_seed(t->cfg.train.seed, TV_RNG_INIT);
  tv_varstore_init(t->store, &init);
  rc = tv_optim_new(&t->cfg, t->total_steps, t->store, &t->optim);
  if (rc == TV_OK) tv_optim_set_pool(t->optim, tv_model_pool(t->model));
  if (rc == TV_OK) rc = tv_metrics_new(t->cfg.model.num_classes, &t->window);
  if (rc != TV_OK) return rc;
  if (t->cfg.train.validate_every > 0) {
    /* The traditional loop: an INFER graph over the same variables, on the valid split. */
    rc = tv_model_new(&t->cfg, TV_MODE_INFER, b, t->store, &t->infer);
    if (rc == TV_OK) rc = tv_metrics_new(t->cfg.model.num_classes, &t->val_metrics);
    if (rc != TV_OK) return rc;
  }
  t->best = NAN;
  return TV_OK;
}

/* The checkpoint's arrays besides /variables: /optimizer/<slot>/<var> for every trainable
 * variable and /state/... for the optimizer counter and the data order.  Paths are built once;
 * the data pointers into the slabs never move. */
static int plan_extras(trainer *t) {
  int nv = tv_varstore_count(t->store), ns = tv_optim_num_slots(t->optim);
  int cap = nv * ns + 6;
  t->extra = calloc((size_t)cap, sizeof *t->extra);
  t->extra_paths = calloc((size_t)cap, sizeof *t->extra_paths);
  if (!t->extra || !t->extra_paths) return tv_error(TV_ERR_NOMEM, "out of memory");
  int n = 0;
  for (int k = 0; k < ns; k++)
    for (int i = 0; i < nv; i++) {
      tv_var *v = tv_varstore_var(t->store, i);
      if (!v->trainable) continue;
      snprintf(t->extra_paths[n], sizeof t->extra_paths[n], "/optimizer/%s/%s",
               tv_optim_slot_name(t->optim, k), v->name);
      t->extra[n] = (tv_ckpt_array){.path = t->extra_paths[n],
                                    .dtype = TV_CKPT_F32,
                                    .count = v->count,
                                    .data = tv_optim_slot(t->optim, k) + v->offset,
                                    .shape = &v->shape};
      n++;
    }
  t->extra[n++] = (tv_ckpt_array){
      .path = "/state/optimizer_t", .dtype = TV_CKPT_I64, .count = 1, .data = &t->opt_t};
  t->extra[n++] = (tv_ckpt_array){
      .path = "/state/loader/cursor", .dtype = TV_CKPT_U64, .count = 6, .data = t->cursor};
  t->extra[n++] = (tv_ckpt_array){.path = "/state/loader/augment_rng",
                                  .dtype = TV_CKPT_U64,
                                  .count = 4,
                                  .data = t->augment_rng};
  t->extra[n++] = (tv_ckpt_array){
      .path = "/state/dropout_rng", .dtype = TV_CKPT_U64, .count = 4, .data = t->dropout_rng};
  t->extra[n++] = (tv_ckpt_array){.path = "/state/loader/perm", .dtype = TV_CKPT_U32};
  t->n_extra = n;
  return TV_OK;
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
  if (rc == TV_OK) rc = tv_ckpt_read_variables(ck, t->store);
  for (int i = 0; rc == TV_OK && i < t->n_extra - 1; i++) {
    const tv_ckpt_array *a = &t->extra[i];
    rc = tv_ckpt_read_array(ck, a->path, a->dtype, a->count, (void *)a->data);
  }
  uint32_t *perm = NULL;
  uint32_t perm_n = 0;
  if (rc == TV_OK) {
    const uint32_t *cur;
    tv_loader_state st;
    tv_loader_get_state(t->loader, &st, &cur, &perm_n);
    perm = malloc((size_t)perm_n * sizeof *perm);
    if (!perm) rc = tv_error(TV_ERR_NOMEM, "out of memory");
  }
  if (rc == TV_OK) rc = tv_ckpt_read_array(ck, "/state/loader/perm", TV_CKPT_U32, perm_n, perm);
  if (rc == TV_OK) {
    tv_loader_state st = {.epoch = t->cursor[0], .position = t->cursor[1]};
    memcpy(st.rng.s, &t->cursor[2], sizeof st.rng.s);
    memcpy(st.augment.s, t->augment_rng, sizeof st.augment.s);
    rc = tv_loader_set_state(t->loader, &st, perm, perm_n);
  }
  /* Counters of the trainer itself (absent in older checkpoints: defaults stay). */
  if (rc == TV_OK && tv_ckpt_has(ck, "/state")) {
    double best;
    int64_t v;
    if (tv_ckpt_read_attr_f64(ck, "/state", "early_stop_best", &best) == TV_OK) t->best = best;
    if (tv_ckpt_read_attr_i64(ck, "/state", "early_stop_best_step", &v) == TV_OK) t->best_step = v;
    if (tv_ckpt_read_attr_i64(ck, "/state", "early_stop_bad", &v) == TV_OK) t->bad_validations = v;
    if (tv_ckpt_read_attr_i64(ck, "/state", "nonfinite_run", &v) == TV_OK) t->nonfinite_run = v;
    if (tv_ckpt_read_attr_i64(ck, "/state", "nonfinite_total", &v) == TV_OK) t->nonfinite_total = v;
  }
  if (rc == TV_OK) {
    tv_rng dropout;
    memcpy(dropout.s, t->dropout_rng, sizeof dropout.s);
    tv_model_set_rng(t->model, dropout);
    tv_optim_set_t(t->optim, t->opt_t);
    t->step = tv_ckpt_step(ck);
  }
  free(perm);
  tv_ckpt_close(ck);
  if (rc != TV_OK) return tv_error_prefix(rc, "cannot resume");
  return TV_OK;
}

int trainer_open(const trainer_options *o, trainer **out) {
  *out = NULL;
  trainer *t = calloc(1, sizeof *t);
  if (!t) return tv_error(TV_ERR_NOMEM, "out of memory");
  t->opt = *o;
  t->lock_fd = -1;
  t->tty = isatty(STDOUT_FILENO);
  tv_set_threads(o->threads);
  int rc = tv_fs_mkdirs(o->train_dir);
  if (rc == TV_OK) rc = take_lock(t);
  if (rc == TV_OK) remove_stale_temporaries(t);
  if (rc == TV_OK) rc = load_config(t);
  if (rc == TV_OK) rc = build(t);
  if (rc == TV_OK) rc = plan_extras(t);
  if (rc == TV_OK) rc = resume(t);
  if (rc != TV_OK) {
    trainer_free(t);
    return rc;
  }
  t->last_saved = t->step;
  *out = t;
  return TV_OK;
}

void trainer_free(trainer *t) {
  if (!t) return;
  tv_events_close(t->events);
  tv_events_close(t->val_events);
  tv_loader_free(t->loader);
  tv_optim_free(t->optim);
  tv_model_free(t->model);
  tv_model_free(t->infer);
  tv_varstore_free(t->store);
  tv_metrics_free(t->window);
  tv_metrics_free(t->val_metrics);
  tv_dataset_free(&t->data);
  tv_dataset_free(&t->valid);
  tv_manifest_free(&t->manifest);
  free(t->cfg_text);
  free(t->extra);
  free(t->extra_paths);
  if (t->lock_fd >= 0) close(t->lock_fd);
  free(t);
}

/* ---- checkpoints -------------------------------------------------------------------------- */

static void capture_state(trainer *t) {
  tv_loader_state st;
  const uint32_t *perm;
  uint32_t perm_n;
  tv_loader_get_state(t->loader, &st, &perm, &perm_n);
  t->opt_t = tv_optim_t(t->optim);
  t->cursor[0] = st.epoch;
  t->cursor[1] = st.position;
  memcpy(&t->cursor[2], st.rng.s, sizeof st.rng.s);
  memcpy(t->augment_rng, st.augment.s, sizeof st.augment.s);
  tv_rng dropout = tv_model_rng(t->model);
  memcpy(t->dropout_rng, dropout.s, sizeof dropout.s);
  t->extra[t->n_extra - 1].count = perm_n;
  t->extra[t->n_extra - 1].data = perm;
}

/* keep_every_hours: an entry is kept for good when it is the first whose wall time is at least
 * that many hours after the last one so kept (the first checkpoint of the run starts the chain).
 * Derived from the manifest alone, so every process computes the same set. */
static int keep_hourly(void *ctx, const tv_manifest_entry *e) {
  const trainer *t = ctx;
  double every = t->cfg.retention.keep_every_hours * 3600.0;
  if (every <= 0 || t->manifest.n == 0) return 0;
  double last = t->manifest.entries[0].wall_time;
  if (e->step == t->manifest.entries[0].step) return 1;
  for (int i = 1; i < t->manifest.n; i++) {
    const tv_manifest_entry *x = &t->manifest.entries[i];
    if (x->wall_time - last >= every) {
      last = x->wall_time;
      if (x->step == e->step) return 1;
    }
  }
  return 0;
}

/* Retention's veto: keep_every_hours', and the evaluators' (evalstate.h, RETENTION). */
typedef struct keep_ctx {
  const trainer *t;
  tv_retention evals;
} keep_ctx;

static int keep_checkpoint(void *ctx, const tv_manifest_entry *e) {
  keep_ctx *k = ctx;
  return keep_hourly((void *)k->t, e) || tv_retention_keep(&k->evals, e);
}

/* An evaluator's DIR/STOP (evalstate.h): says who asked and why, and renames it STOP.handled so
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

static int save_checkpoint(trainer *t, const char *reason) {
  if (!tv_all_finite(tv_varstore_values(t->store), tv_varstore_size(t->store)))
    return tv_error(TV_ERR_NONFINITE, "step %lld: parameters hold NaN or Inf; not saved",
                    (long long)t->step);
  capture_state(t);
  tv_ckpt_header h = {.step = t->step,
                      .epoch = (int64_t)t->cursor[0],
                      .wall_time = tv_now(),
                      .config_text = t->cfg_text};
  tv_ckpt_writer *w = NULL;
  int rc = tv_ckpt_writer_open(t->opt.train_dir, &h, &w);
  if (rc != TV_OK) return rc;
  rc = tv_ckpt_writer_variables(w, t->store);
  for (int i = 0; rc == TV_OK && i < t->n_extra; i++) rc = tv_ckpt_writer_array(w, &t->extra[i]);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_str(w, "/optimizer", "type", tv_optim_name(t->optim));
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/optimizer", "t", tv_optim_t(t->optim));
  if (rc == TV_OK && !isnan(t->best)) /* absent: no validation yet */
    rc = tv_ckpt_writer_attr_f64(w, "/state", "early_stop_best", t->best);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/state", "early_stop_best_step", t->best_step);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/state", "early_stop_bad", t->bad_validations);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/state", "nonfinite_run", t->nonfinite_run);
  if (rc == TV_OK) rc = tv_ckpt_writer_attr_i64(w, "/state", "nonfinite_total", t->nonfinite_total);
  if (rc != TV_OK) {
    tv_ckpt_writer_abort(w);
    return rc;
  }
  tv_ckpt_info info;
  rc = tv_ckpt_writer_finish(w, &info);
  keep_ctx keep = {.t = t};
  if (rc == TV_OK)
    rc = tv_retention_plan(t->opt.train_dir, &t->manifest, t->step, t->cfg.train.max_to_keep,
                           t->cfg.retention.max_unevaluated, &keep.evals);
  if (rc == TV_OK)
    rc = tv_ckpt_commit(t->opt.train_dir, &t->manifest, &info, t->step, h.wall_time, 1, reason,
                        t->cfg.train.max_to_keep, keep_checkpoint, &keep);
  tv_retention_free(&keep.evals);
  if (rc == TV_OK) {
    t->last_saved = t->step;
    if (t->opt.verbosity > 1)
      printf("%scheckpoint %s committed (step %lld, %s)\n", t->tty ? "\r\033[K" : "", info.file,
             (long long)t->step, reason);
  }
  return rc;
}

static int set_status(trainer *t, const char *status) {
  snprintf(t->manifest.status, sizeof t->manifest.status, "%s", status);
  return tv_manifest_write(t->opt.train_dir, &t->manifest);
}

/* ---- summaries, validation ---------------------------------------------------------------- */

static int write_summary(trainer *t, double secs, int64_t examples) {
  tv_metrics_summary s;
  tv_metrics_get(t->window, &s);
  const char *tags[] = {"loss", "accuracy", "learning_rate", "examples_per_sec", "nonfinite_steps"};
  float vals[] = {(float)s.loss, (float)s.accuracy, (float)tv_optim_lr(t->optim, t->step - 1),
                  (float)(secs > 0 ? (double)examples / secs : 0.0), (float)t->nonfinite_total};
  int n = t->cfg.train.on_nonfinite == TV_NONFINITE_SKIP ? 5 : 4;
  int rc = s.n > 0 ? tv_events_scalars(t->events, t->step, n, tags, vals) : TV_OK;
  if (rc == TV_OK) rc = tv_events_flush(t->events);
  return rc;
}

static int write_histograms(trainer *t) {
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

static double metric_value(const tv_metrics_summary *s, tv_metric_kind k) {
  switch (k) {
  case TV_METRIC_ACCURACY:
    return s->accuracy;
  case TV_METRIC_TOP5:
    return s->top5;
  case TV_METRIC_MACRO_F1:
    return s->macro_f1;
  default:
    return s->loss;
  }
}

static const char *metric_name(tv_metric_kind k) {
  static const char *const names[TV_METRIC__COUNT] = {"loss", "accuracy", "top5", "macro_f1"};
  return names[k];
}

/* Runs the INFER graph (sharing the training variables) over the first validate_batches batches
 * of the valid split; writes scalars to DIR/validation with train's tag names.  Sets *stop when
 * early stopping's patience is used up. */
static int validate(trainer *t, int *stop) {
  *stop = 0;
  uint32_t n = t->valid.n;
  if (t->cfg.train.validate_batches > 0) {
    uint64_t want = (uint64_t)t->cfg.train.validate_batches * (uint64_t)t->cfg.train.batch_size;
    if (want < n) n = (uint32_t)want;
  }
  tv_metrics_reset(t->val_metrics);
  int rc = tv_evaluate(t->infer, &t->valid, NULL, n, tv_norm_from_config(&t->cfg), t->val_metrics);
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
  const char *tags[] = {"loss", "accuracy", "top5", "macro_f1"};
  float vals[] = {(float)s.loss, (float)s.accuracy, (float)s.top5, (float)s.macro_f1};
  rc = tv_events_scalars(t->val_events, t->step, 4, tags, vals);
  if (rc == TV_OK) rc = tv_events_flush(t->val_events);
  if (rc != TV_OK) return rc;
  if (t->opt.verbosity > 0)
    printf("%svalidation at step %lld: loss %.4f  accuracy %.4f  (%llu examples)\n",
           t->tty ? "\r\033[K" : "", (long long)t->step, s.loss, s.accuracy,
           (unsigned long long)s.n);
  if (t->cfg.train.early_stop_patience <= 0) return TV_OK;
  tv_metric_kind k = t->cfg.train.early_stop_metric;
  int maximize = t->cfg.train.early_stop_mode == TV_STOP_MAX ||
                 (t->cfg.train.early_stop_mode == TV_STOP_AUTO && k != TV_METRIC_LOSS);
  double v = metric_value(&s, k), d = t->cfg.train.early_stop_min_delta;
  int better = isnan(t->best) || (maximize ? v > t->best + d : v < t->best - d);
  if (better) {
    t->best = v;
    t->best_step = t->step;
    t->bad_validations = 0;
  } else if (++t->bad_validations >= t->cfg.train.early_stop_patience) {
    *stop = 1;
    if (t->opt.verbosity > 0)
      printf("train: early stopping at step %lld: validation %s has not improved on %.4f (step "
             "%lld) for %lld validations\n",
             (long long)t->step, metric_name(k), t->best, (long long)t->best_step,
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

static void progress(trainer *t, double rate, int force) {
  double now = tv_monotonic();
  if (!force && now - t->last_progress < 0.25) return;
  t->last_progress = now;
  tv_metrics_summary s;
  tv_metrics_get(t->window, &s);
  double eta = rate > 0 ? (double)(t->total_steps - t->step) * t->cfg.train.batch_size / rate : 0;
  uint32_t per_epoch = tv_loader_batches_per_epoch(t->loader);
  printf("\r\033[Kstep %lld/%lld  epoch %lld  loss %.4f  acc %.4f  %.0f ex/s  ETA %d:%02d:%02d",
         (long long)t->step, (long long)t->total_steps, (long long)(t->step / per_epoch) + 1,
         s.loss, s.accuracy, rate, (int)(eta / 3600), (int)(eta / 60) % 60, (int)eta % 60);
  fflush(stdout);
}

int trainer_run(trainer *t, trainer_outcome *outcome) {
  *outcome = TRAINER_FINAL;
  if (t->step >= t->total_steps) {
    *outcome = TRAINER_NOTHING_TO_DO;
    return TV_OK;
  }
  const tv_config *c = &t->cfg;
  /* Records past the resumed step belong to a run that died after its last checkpoint. */
  char vdir[TV_PATH_CAP + 16];
  long dropped = 0, vdropped = 0;
  int rc = tv_fs_join(vdir, sizeof vdir, t->opt.train_dir, "validation");
  if (rc == TV_OK) rc = tv_events_purge_after(t->opt.train_dir, t->step, &dropped);
  if (rc == TV_OK) rc = tv_events_purge_after(vdir, t->step, &vdropped);
  if (rc == TV_OK && dropped + vdropped > 0 && t->opt.verbosity > 0)
    printf("train: dropped %ld event records past step %lld (written after the last "
           "checkpoint of an earlier run)\n",
           dropped + vdropped, (long long)t->step);
  if (rc == TV_OK && tv_stop_requested(t->opt.train_dir)) rc = take_stop_request(t, 1);
  if (rc == TV_OK) rc = set_status(t, "running");
  if (rc == TV_OK) rc = tv_events_open(t->opt.train_dir, &t->events);
  if (rc == TV_OK) rc = tv_events_session_start(t->events, t->step + 1);
  if (rc != TV_OK) return rc;

  int64_t window_examples = 0, log_examples = 0, run_examples = 0;
  double start = tv_monotonic(), window_start = start, log_start = start;
  double last_ckpt_time = start, last_summary_time = start, rate = 0;
  const char *stop_reason = NULL;
  while (t->step < t->total_steps) {
    uint32_t n;
    int epoch_done;
    const float *x;
    const int32_t *y;
    tv_loader_next_ptr(t->loader, &x, &y, &n, &epoch_done); /* lent until the next call */
    const float *logits = tv_model_forward(t->model, x, (int)n);
    float loss = tv_model_backward(t->model, y, (int)n);
    double norm = tv_optim_grad_norm(t->optim);
    if (!isfinite(loss) || !isfinite(norm)) {
      char what[TV_VAR_NAME_CAP + 64];
      describe_nonfinite(t, loss, what, sizeof what);
      t->nonfinite_total++;
      if (c->train.on_nonfinite == TV_NONFINITE_STOP ||
          ++t->nonfinite_run >= c->train.max_nonfinite) {
        int wrc = set_status(t, "diverged");
        (void)wrc; /* the divergence is the error to report */
        return tv_error(
            TV_ERR_NONFINITE,
            "step %lld: %s; training diverged%s, status diverged, nothing saved "
            "after step %lld",
            (long long)t->step + 1, what,
            c->train.on_nonfinite == TV_NONFINITE_SKIP ? " (max_nonfinite steps in a row)" : "",
            (long long)t->last_saved);
      }
      if (t->opt.verbosity > 1)
        printf("%sstep %lld: %s; update skipped\n", t->tty ? "\r\033[K" : "",
               (long long)t->step + 1, what);
    } else {
      t->nonfinite_run = 0;
      tv_optim_apply(t->optim, t->step, norm);
      tv_metrics_update(t->window, logits, y, (int)n);
    }
    t->step++;
    window_examples += n;
    log_examples += n;
    run_examples += n;

    double now = tv_monotonic();
    int summarize = (c->train.summary_every > 0 && t->step % c->train.summary_every == 0) ||
                    (c->train.summary_secs > 0 && now - last_summary_time >= c->train.summary_secs);
    if (summarize) {
      rc = write_summary(t, now - window_start, window_examples);
      if (rc != TV_OK) return rc;
      window_start = last_summary_time = now;
      window_examples = 0;
    }
    if (c->train.histogram_every > 0 && t->step % c->train.histogram_every == 0) {
      rc = write_histograms(t);
      if (rc != TV_OK) return rc;
    }
    if (t->opt.verbosity > 0) {
      if (now > log_start) rate = 0.9 * rate + 0.1 * (double)log_examples / (now - log_start);
      if (rate == 0 && now > start) rate = (double)run_examples / (now - start);
      log_start = now;
      log_examples = 0;
      if (t->tty) {
        progress(t, rate, 0);
      } else if (c->train.log_every > 0 && t->step % c->train.log_every == 0) {
        tv_metrics_summary s;
        tv_metrics_get(t->window, &s);
        printf("step %lld/%lld  loss %.4f  acc %.4f  lr %.3g  %.0f ex/s\n", (long long)t->step,
               (long long)t->total_steps, s.loss, s.accuracy, tv_optim_lr(t->optim, t->step - 1),
               (double)run_examples / (now - start));
        fflush(stdout);
      }
    }
    if (summarize) tv_metrics_reset(t->window); /* after the log line read it */
    int early = 0;
    if (c->train.validate_every > 0 && t->step % c->train.validate_every == 0) {
      rc = validate(t, &early);
      if (rc != TV_OK) return rc;
    }
    if (!early && tv_stop_requested(t->opt.train_dir)) {
      rc = take_stop_request(t, 0);
      if (rc != TV_OK) return rc;
      early = 1;
    }
    if (early) {
      stop_reason = "early_stop";
      break;
    }
    if (g_stop_signal) {
      stop_reason = "signal";
      break;
    }
    if (t->step < t->total_steps &&
        ((c->train.checkpoint_every > 0 && t->step % c->train.checkpoint_every == 0) ||
         (c->train.checkpoint_secs > 0 && now - last_ckpt_time >= c->train.checkpoint_secs))) {
      rc = save_checkpoint(
          t, c->train.checkpoint_every > 0 && t->step % c->train.checkpoint_every == 0 ? "periodic"
                                                                                       : "time");
      if (rc != TV_OK) return rc;
      last_ckpt_time = tv_monotonic();
    }
  }
  if (t->tty && t->opt.verbosity > 0) {
    progress(t, rate, 1);
    printf("\n");
  }
  const char *status = "final";
  if (stop_reason && !strcmp(stop_reason, "signal")) {
    status = "interrupted";
    *outcome = TRAINER_INTERRUPTED;
  } else if (stop_reason) {
    status = "early_stopped";
    *outcome = TRAINER_EARLY_STOPPED;
  }
  if (t->last_saved != t->step || tv_manifest_latest(&t->manifest) == NULL)
    rc = save_checkpoint(t, stop_reason ? stop_reason : "final");
  if (rc == TV_OK) rc = set_status(t, status);
  if (rc == TV_OK) rc = tv_events_flush(t->events);
  if (rc == TV_OK && t->opt.verbosity >= 0) {
    double secs = tv_monotonic() - start;
    if (*outcome == TRAINER_INTERRUPTED)
      fprintf(stderr, "train: stopped by %s at step %lld; checkpoint saved, status interrupted\n",
              g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", (long long)t->step);
    printf("train: %s at step %lld in %.1f s (%.0f examples/s); checkpoints in %s\n", status,
           (long long)t->step, secs, secs > 0 ? (double)run_examples / secs : 0.0,
           t->opt.train_dir);
  }
  return rc;
}

void trainer_mark_aborted(trainer *t) {
  if (!t || !t->events || !strcmp(t->manifest.status, "diverged")) return;
  int rc = set_status(t, "aborted");
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
  printf("training %s from step %lld to %lld, batch %d, %u examples, %d threads\n",
         t->opt.train_dir, (long long)t->step, (long long)t->total_steps, t->cfg.train.batch_size,
         t->data.n, tv_get_threads());
  fflush(stdout);
}

int64_t trainer_step(const trainer *t) { return t->step; }
int64_t trainer_total_steps(const trainer *t) { return t->total_steps; }
