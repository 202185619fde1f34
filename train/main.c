/* train — the training program: CLI, train_dir set-up, the training loop, checkpoints.
 *
 *   train --train-dir DIR --config FILE [--steps N | --epochs E] [--set key=value ...]
 *
 * Owns every decision about printing and exit codes: 0 done (or stopped cleanly on a signal),
 * 1 a runtime error (message on stderr, one line), 2 a usage error.  The library below it
 * (common/) reports errors and never prints.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "trainval/ckpt.h"
#include "trainval/config.h"
#include "trainval/data.h"
#include "trainval/events.h"
#include "trainval/fs.h"
#include "trainval/metrics.h"
#include "trainval/model.h"
#include "trainval/ops.h"
#include "trainval/optim.h"
#include "trainval/pipeline.h"
#include "trainval/varstore.h"

enum { MAX_SETS = 128 };

static volatile sig_atomic_t g_stop_signal;

static void on_signal(int sig) { g_stop_signal = sig; }

typedef struct options {
  const char *train_dir;
  const char *config;
  const char *sets[MAX_SETS];
  int n_sets;
  int threads;
  int quiet;
} options;

typedef struct trainer {
  options opt;
  tv_config cfg;
  char *cfg_text;
  tv_dataset data;
  tv_varstore *store;
  tv_model *model;
  tv_optim *optim;
  tv_loader *loader;
  tv_events *events;
  tv_metrics *window; /* training metrics since the last summary */
  tv_manifest manifest;
  float *x;
  int32_t *y;
  int64_t step, total_steps;
  uint64_t epoch;
  int lock_fd;
  /* checkpoint extras: optimizer slots per trainable variable and the resume state */
  tv_ckpt_array *extra;
  char (*extra_paths)[TV_VAR_NAME_CAP + 32];
  int n_extra;
  int64_t opt_t;
  uint64_t loader_scalars[2 + 4]; /* epoch, position, rng[4] */
} trainer;

static void usage(FILE *f) {
  fputs(
      "usage: train --train-dir DIR [--config FILE] [--steps N | --epochs E]\n"
      "             [--set section.key=value ...] [--threads N] [--quiet]\n"
      "\n"
      "Trains the model of FILE, writing checkpoints (HDF5), the manifest checkpoints.yaml and\n"
      "TensorBoard event files into DIR.  Run it again on the same DIR to resume from the newest\n"
      "committed checkpoint (then --config may be left out: DIR/config.yaml is used).\n"
      "\n"
      "  --train-dir DIR     run directory (created if missing)\n"
      "  --config FILE       YAML model and training config (required for a new DIR)\n"
      "  --steps N           train until global step N (same as --set train.steps=N)\n"
      "  --epochs E          train for E epochs (same as --set train.epochs=E)\n"
      "  --set KEY=VALUE     override a config value, e.g. --set optimizer.learning_rate=0.01\n"
      "                      or --set model.layers.1.units=256 (repeatable)\n"
      "  --threads N         OpenBLAS threads (default: OpenBLAS's own choice)\n"
      "  --quiet             print only errors and the final line\n"
      "  -h, --help          this text\n"
      "\n"
      "Exit status: 0 finished or stopped cleanly by SIGINT/SIGTERM (checkpoint saved, status\n"
      "interrupted, resumable), 1 error, 2 usage error.\n",
      f);
}

static int parse_args(int argc, char **argv, options *o, char (*owned)[64]) {
  int n_owned = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--quiet")) {
      o->quiet = 1;
      continue;
    }
    if (!v) {
      fprintf(stderr, "train: %s needs a value (see train --help)\n", a);
      return 2;
    }
    i++;
    if (!strcmp(a, "--train-dir")) {
      o->train_dir = v;
    } else if (!strcmp(a, "--config")) {
      o->config = v;
    } else if (!strcmp(a, "--set")) {
      if (o->n_sets == MAX_SETS - 2) {
        fprintf(stderr, "train: too many --set options\n");
        return 2;
      }
      o->sets[o->n_sets++] = v;
    } else if (!strcmp(a, "--steps") || !strcmp(a, "--epochs")) {
      char *end;
      long long n = strtoll(v, &end, 10);
      if (*end || end == v || n < 1) {
        fprintf(stderr, "train: %s: expected a positive integer, got '%s'\n", a, v);
        return 2;
      }
      if (!strcmp(a, "--steps")) {
        snprintf(owned[n_owned], 64, "train.steps=%lld", n);
        o->sets[o->n_sets++] = owned[n_owned++];
      } else {
        snprintf(owned[n_owned], 64, "train.epochs=%lld", n);
        o->sets[o->n_sets++] = owned[n_owned++];
        snprintf(owned[n_owned], 64, "train.steps=0");
        o->sets[o->n_sets++] = owned[n_owned++];
      }
      if (n_owned > 4) {
        fprintf(stderr, "train: --steps/--epochs given more than once\n");
        return 2;
      }
    } else if (!strcmp(a, "--threads")) {
      char *end;
      long n = strtol(v, &end, 10);
      if (*end || end == v || n < 1 || n > 1024) {
        fprintf(stderr, "train: --threads: expected 1..1024, got '%s'\n", v);
        return 2;
      }
      o->threads = (int)n;
    } else {
      fprintf(stderr, "train: unknown option %s (see train --help)\n", a);
      return 2;
    }
  }
  if (!o->train_dir) {
    fprintf(stderr, "train: --train-dir is required (see train --help)\n");
    return 2;
  }
  return 0;
}

/* Takes DIR/LOCK (flock) so that one train writes a train_dir at a time. */
static int take_lock(trainer *t) {
  char path[TV_PATH_CAP + 16];
  int rc = tv_fs_join(path, sizeof path, t->opt.train_dir, "LOCK");
  if (rc != TV_OK) return rc;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return tv_error_errno(TV_ERR_IO, errno, "%s: cannot create lock file", path);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    char holder[256] = "";
    ssize_t n = read(fd, holder, sizeof holder - 1);
    holder[n > 0 ? n : 0] = '\0';
    holder[strcspn(holder, "\n")] = '\0';
    close(fd);
    if (e == EWOULDBLOCK)
      return tv_error(TV_ERR_BUSY, "%s: another train holds this directory (%s)", path,
                      holder[0] ? holder : "holder unknown");
    return tv_error_errno(TV_ERR_IO, e, "%s: flock", path);
  }
  char host[128] = "unknown";
  gethostname(host, sizeof host - 1);
  char line[256];
  int len = snprintf(line, sizeof line, "host %s pid %ld\n", host, (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
    int e = errno;
    close(fd);
    return tv_error_errno(TV_ERR_IO, e, "%s: write", path);
  }
  t->lock_fd = fd;
  return TV_OK;
}

/* Loads the config: a new run from --config; a resumed run from DIR/config.yaml, where a new
 * --config may change training keys but not the model. */
static int load_config(trainer *t) {
  char frozen[TV_PATH_CAP + 16];
  int rc = tv_fs_join(frozen, sizeof frozen, t->opt.train_dir, "config.yaml");
  if (rc != TV_OK) return rc;
  int have_frozen = access(frozen, F_OK) == 0;
  if (!t->opt.config && !have_frozen)
    return tv_error(TV_ERR_INVALID, "%s: no config.yaml there yet, so --config is required",
                    t->opt.train_dir);
  rc = tv_config_load(t->opt.config ? t->opt.config : frozen, t->opt.sets, t->opt.n_sets, &t->cfg);
  if (rc != TV_OK) return rc;
  if (t->opt.config && have_frozen) {
    tv_config *old = malloc(sizeof *old);
    if (!old) return tv_error(TV_ERR_NOMEM, "out of memory");
    rc = tv_config_load(frozen, NULL, 0, old);
    char diff[1024];
    if (rc == TV_OK && !tv_config_same_model(old, &t->cfg, diff, sizeof diff))
      rc = tv_error(TV_ERR_MISMATCH, "%s: the model differs from the run in %s: %s", t->opt.config,
                    t->opt.train_dir, diff);
    free(old);
    if (rc != TV_OK) return rc;
  }
  size_t len;
  rc = tv_config_emit(&t->cfg, &t->cfg_text, &len);
  if (rc == TV_OK) rc = tv_fs_write_atomic(frozen, t->cfg_text, len);
  return rc;
}

static int build(trainer *t) {
  int rc = tv_split_load(&t->cfg, TV_SPLIT_TRAIN, &t->data);
  if (rc != TV_OK) return rc;
  int b = t->cfg.train.batch_size;
  if ((uint32_t)b > t->data.n)
    return tv_error(TV_ERR_CONFIG,
                    "%s: train.batch_size %d is larger than the %u training examples",
                    t->cfg.source, b, t->data.n);
  tv_loader_opts lo = {.batch_size = (uint32_t)b,
                       .shuffle = 1,
                       .drop_last = 1,
                       .seed = t->cfg.train.seed,
                       .norm = tv_norm_from_config(&t->cfg)};
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
  if (rc == TV_OK) rc = tv_metrics_new(t->cfg.model.num_classes, &t->window);
  if (rc != TV_OK) return rc;
  t->x = malloc((size_t)b * (size_t)tv_model_input_size(t->model) * sizeof *t->x);
  t->y = malloc((size_t)b * sizeof *t->y);
  if (!t->x || !t->y) return tv_error(TV_ERR_NOMEM, "out of memory for the input batch");
  return TV_OK;
}

/* The checkpoint's extra arrays: /optimizer/<slot>/<var> for every trainable variable and
 * /state/... for the optimizer counter and the data order.  Paths are built once; data
 * pointers into the slabs never move. */
static int plan_extras(trainer *t) {
  int nv = tv_varstore_count(t->store), ns = tv_optim_num_slots(t->optim);
  int cap = nv * ns + 4;
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
      .path = "/state/loader/cursor", .dtype = TV_CKPT_U64, .count = 6, .data = t->loader_scalars};
  t->extra[n++] = (tv_ckpt_array){.path = "/state/loader/perm", .dtype = TV_CKPT_U32};
  t->n_extra = n;
  return TV_OK;
}

static void capture_state(trainer *t) {
  tv_loader_state st;
  const uint32_t *perm;
  uint32_t perm_n;
  tv_loader_get_state(t->loader, &st, &perm, &perm_n);
  t->opt_t = tv_optim_t(t->optim);
  t->loader_scalars[0] = st.epoch;
  t->loader_scalars[1] = st.position;
  memcpy(&t->loader_scalars[2], st.rng.s, sizeof st.rng.s);
  t->extra[t->n_extra - 1].count = perm_n;
  t->extra[t->n_extra - 1].data = perm;
  t->epoch = st.epoch;
}

static int save_checkpoint(trainer *t, const char *reason) {
  if (!tv_all_finite(tv_varstore_values(t->store), tv_varstore_size(t->store)))
    return tv_error(TV_ERR_NONFINITE, "step %lld: parameters hold NaN or Inf; not saved",
                    (long long)t->step);
  capture_state(t);
  tv_ckpt_header h = {.step = t->step,
                      .epoch = (int64_t)t->epoch,
                      .wall_time = tv_now(),
                      .config_text = t->cfg_text};
  tv_ckpt_info info;
  int rc = tv_ckpt_save(t->opt.train_dir, &h, t->store, t->extra, t->n_extra, &info);
  if (rc == TV_OK)
    rc = tv_ckpt_commit(t->opt.train_dir, &t->manifest, &info, t->step, h.wall_time, 1, reason,
                        t->cfg.train.max_to_keep, NULL, NULL);
  return rc;
}

/* Restores parameters, optimizer and data order from the newest committed checkpoint. */
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
  snprintf(expect.file, sizeof expect.file, "%s", e->file);
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
    tv_loader_state st = {.epoch = t->loader_scalars[0], .position = t->loader_scalars[1]};
    memcpy(st.rng.s, &t->loader_scalars[2], sizeof st.rng.s);
    rc = tv_loader_set_state(t->loader, &st, perm, perm_n);
  }
  if (rc == TV_OK) {
    tv_optim_set_t(t->optim, t->opt_t);
    t->step = tv_ckpt_step(ck);
    t->epoch = t->loader_scalars[0];
  }
  free(perm);
  tv_ckpt_close(ck);
  if (rc != TV_OK) return tv_error_prefix(rc, "cannot resume");
  return TV_OK;
}

static void print_summary(const trainer *t) {
  printf("%-14s %-8s %-16s %12s %14s\n", "layer", "kind", "output", "params", "FLOPs/example");
  size_t params = 0, fixed = 0;
  double flops = 0;
  for (int i = 0; i < tv_model_num_layers(t->model); i++) {
    tv_layer_info li;
    tv_model_layer_info(t->model, i, &li);
    char s[64];
    printf("%-14s %-8s %-16s %12zu %14.0f\n", li.name, li.kind, tv_shape_str(li.out, s, sizeof s),
           li.params + li.non_trainable, li.flops);
    params += li.params;
    fixed += li.non_trainable;
    flops += li.flops;
  }
  printf("total: %zu trainable + %zu non-trainable parameters, %.2f MFLOPs/example forward\n",
         params, fixed, flops / 1e6);
}

static int write_summary(trainer *t, double secs, int64_t examples) {
  tv_metrics_summary s;
  tv_metrics_get(t->window, &s);
  const char *tags[] = {"loss", "accuracy", "learning_rate", "examples_per_sec"};
  float vals[] = {(float)s.loss, (float)s.accuracy, (float)tv_optim_lr(t->optim, t->step - 1),
                  (float)(secs > 0 ? (double)examples / secs : 0.0)};
  int rc = tv_events_scalars(t->events, t->step, 4, tags, vals);
  if (rc == TV_OK) rc = tv_events_flush(t->events);
  return rc;
}

static int train_loop(trainer *t) {
  int b = t->cfg.train.batch_size;
  int64_t window_examples = 0, log_examples = 0;
  double window_start = tv_monotonic(), log_start = window_start;
  int64_t last_saved = t->step;
  int rc = TV_OK;
  while (t->step < t->total_steps) {
    uint32_t n;
    int epoch_done;
    tv_loader_next(t->loader, t->x, t->y, &n, &epoch_done);
    const float *logits = tv_model_forward(t->model, t->x, (int)n);
    float loss = tv_model_backward(t->model, t->y, (int)n);
    if (!(loss - loss == 0.0f)) {
      snprintf(t->manifest.status, sizeof t->manifest.status, "diverged");
      int wrc = tv_manifest_write(t->opt.train_dir, &t->manifest);
      (void)wrc; /* the divergence is the error to report */
      return tv_error(TV_ERR_NONFINITE,
                      "step %lld: loss is %f; training diverged, status set to "
                      "diverged, nothing saved after step %lld",
                      (long long)t->step + 1, (double)loss, (long long)last_saved);
    }
    tv_optim_step(t->optim, t->step);
    tv_metrics_update(t->window, logits, t->y, (int)n);
    t->step++;
    window_examples += n;
    log_examples += n;
    if (t->cfg.train.summary_every > 0 && t->step % t->cfg.train.summary_every == 0) {
      double now = tv_monotonic();
      rc = write_summary(t, now - window_start, window_examples);
      if (rc != TV_OK) return rc;
      window_start = now;
      window_examples = 0;
    }
    if (!t->opt.quiet && t->cfg.train.log_every > 0 && t->step % t->cfg.train.log_every == 0) {
      double now = tv_monotonic();
      tv_metrics_summary s;
      tv_metrics_get(t->window, &s);
      printf("step %lld/%lld  epoch %llu  loss %.4f  acc %.4f  lr %.3g  %.0f ex/s\n",
             (long long)t->step, (long long)t->total_steps,
             (unsigned long long)(t->step * b / (t->data.n ? t->data.n : 1)), s.loss, s.accuracy,
             tv_optim_lr(t->optim, t->step - 1), (double)log_examples / (now - log_start));
      fflush(stdout);
      log_start = now;
      log_examples = 0;
    }
    if (t->cfg.train.summary_every > 0 && t->step % t->cfg.train.summary_every == 0)
      tv_metrics_reset(t->window);
    if (t->cfg.train.checkpoint_every > 0 && t->step % t->cfg.train.checkpoint_every == 0 &&
        t->step < t->total_steps) {
      rc = save_checkpoint(t, "periodic");
      if (rc != TV_OK) return rc;
      last_saved = t->step;
    }
    if (g_stop_signal) {
      rc = last_saved == t->step ? TV_OK : save_checkpoint(t, "signal");
      if (rc != TV_OK) return rc;
      snprintf(t->manifest.status, sizeof t->manifest.status, "interrupted");
      rc = tv_manifest_write(t->opt.train_dir, &t->manifest);
      if (rc != TV_OK) return rc;
      fprintf(stderr, "train: stopped by %s at step %lld; checkpoint saved, status interrupted\n",
              g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", (long long)t->step);
      return TV_ERR_INTERRUPTED;
    }
  }
  const tv_manifest_entry *e = tv_manifest_latest(&t->manifest);
  if (!e || e->step != t->step) rc = save_checkpoint(t, "final");
  if (rc != TV_OK) return rc;
  snprintf(t->manifest.status, sizeof t->manifest.status, "final");
  return tv_manifest_write(t->opt.train_dir, &t->manifest);
}

static void trainer_free(trainer *t) {
  tv_events_close(t->events);
  tv_loader_free(t->loader);
  tv_optim_free(t->optim);
  tv_model_free(t->model);
  tv_varstore_free(t->store);
  tv_metrics_free(t->window);
  tv_dataset_free(&t->data);
  tv_manifest_free(&t->manifest);
  free(t->cfg_text);
  free(t->x);
  free(t->y);
  free(t->extra);
  free(t->extra_paths);
  if (t->lock_fd > 0) close(t->lock_fd);
}

int main(int argc, char **argv) {
  static trainer t; /* large (the config); static keeps it off the stack */
  static char owned[8][64];
  int urc = parse_args(argc, argv, &t.opt, owned);
  if (urc) return urc;
  tv_set_threads(t.opt.threads);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  /* A closed stdout (train | head) must not kill a training run: writes just fail. */
  signal(SIGPIPE, SIG_IGN);

  int rc = tv_fs_mkdirs(t.opt.train_dir);
  if (rc == TV_OK) rc = take_lock(&t);
  if (rc == TV_OK) rc = load_config(&t);
  if (rc == TV_OK) rc = build(&t);
  if (rc == TV_OK) rc = plan_extras(&t);
  if (rc == TV_OK) rc = resume(&t);
  if (rc == TV_OK && !t.opt.quiet) {
    print_summary(&t);
    printf("training %s from step %lld to %lld, batch %d, %u examples, %d threads\n",
           t.opt.train_dir, (long long)t.step, (long long)t.total_steps, t.cfg.train.batch_size,
           t.data.n, tv_get_threads());
    fflush(stdout);
  }
  if (rc == TV_OK && t.step >= t.total_steps) {
    printf("train: %s is already at step %lld of %lld; nothing to do\n", t.opt.train_dir,
           (long long)t.step, (long long)t.total_steps);
    trainer_free(&t);
    return 0;
  }
  if (rc == TV_OK) {
    snprintf(t.manifest.status, sizeof t.manifest.status, "running");
    rc = tv_manifest_write(t.opt.train_dir, &t.manifest);
  }
  if (rc == TV_OK) rc = tv_events_open(t.opt.train_dir, &t.events);
  double t0 = tv_monotonic();
  int64_t first = t.step;
  if (rc == TV_OK) rc = train_loop(&t);
  if (rc == TV_ERR_INTERRUPTED) {
    trainer_free(&t);
    return 0;
  }
  if (rc != TV_OK) {
    fprintf(stderr, "train: %s\n", tv_error_message());
    if (t.events && strcmp(t.manifest.status, "diverged") != 0) {
      /* Best effort: tell evaluators this run stopped; the error above is what matters. */
      snprintf(t.manifest.status, sizeof t.manifest.status, "aborted");
      int wrc = tv_manifest_write(t.opt.train_dir, &t.manifest);
      (void)wrc;
    }
    trainer_free(&t);
    return 1;
  }
  double secs = tv_monotonic() - t0;
  printf("train: done at step %lld in %.1f s (%.0f examples/s); checkpoints in %s\n",
         (long long)t.step, secs,
         secs > 0 ? (double)(t.step - first) * t.cfg.train.batch_size / secs : 0.0,
         t.opt.train_dir);
  rc = tv_events_close(t.events);
  t.events = NULL;
  trainer_free(&t);
  if (rc != TV_OK) {
    fprintf(stderr, "train: %s\n", tv_error_message());
    return 1;
  }
  return 0;
}
