/* pipeline.c — config -> datasets, normalisation, evaluation loop (see pipeline.h). */
#include "trainval/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainval/corpus.h"
#include "trainval/files.h" /* tv_monotonic */

static const char *const split_names[TV_SPLIT__COUNT] = {"train", "valid", "test"};

const char *tv_split_name(tv_split s) { return split_names[s]; }

int tv_split_parse(const char *name) {
  for (int i = 0; i < TV_SPLIT__COUNT; i++)
    if (strcmp(name, split_names[i]) == 0) return i;
  return -1;
}

static int find(const tv_config *cfg, const char *stem, char *out, size_t cap) {
  int rc = tv_data_find(cfg->data.dir, stem, out, cap);
  if (rc == TV_ERR_NOT_FOUND)
    return tv_error_prefix(rc,
                           "dataset file missing (install Debian's dataset-fashion-mnist, "
                           "or point data.dir and the data file keys of %s at other files)",
                           cfg->source);
  return rc;
}

/* An HDF5 data key "FILE:/DATASET": the file part into file (cap bytes), *dataset at the '/'. */
static int split_h5(const tv_config *cfg, const char *key, const char *value, char *file,
                    size_t cap, const char **dataset) {
  const char *sep = strstr(value, ":/");
  if (!sep || sep == value || (size_t)(sep - value) >= cap)
    return tv_error(
        TV_ERR_CONFIG,
        "%s: data.%s: '%s' names no dataset (with data.format hdf5 write FILE:/DATASET, "
        "e.g. fashion.h5:/train/images)",
        cfg->source, key, value);
  memcpy(file, value, (size_t)(sep - value));
  file[sep - value] = '\0';
  *dataset = sep + 1;
  return TV_OK;
}

/* The reader's spec from the config's data section (data.h, tv_data_spec). */
static tv_data_spec spec_from_config(const tv_config *cfg) {
  static const char *const formats[TV_DATA_FORMAT__COUNT] = {[TV_DATA_FORMAT_IDX] = "idx",
                                                             [TV_DATA_FORMAT_CSV] = "csv",
                                                             [TV_DATA_FORMAT_NPY] = "npy",
                                                             [TV_DATA_FORMAT_HDF5] = "hdf5",
                                                             [TV_DATA_FORMAT_IMGDIR] = "imgdir"};
  return (tv_data_spec){.format = formats[cfg->data.format],
                        .float_targets = cfg->model.task != TV_TASK_CLASSIFICATION,
                        .features = cfg->data.features,
                        .target = cfg->data.target,
                        .delimiter = cfg->data.delimiter[0],
                        .comment = cfg->data.comment[0],
                        .no_header = !cfg->data.header,
                        .skip_rows = cfg->data.skip_rows,
                        .has_fill = cfg->data.missing == TV_MISSING_FILL,
                        .fill = cfg->data.fill_value,
                        .first_seen = cfg->data.class_order == TV_CLASS_ORDER_FIRST_SEEN,
                        .channels = cfg->model.input[0],
                        .height = cfg->model.input[1],
                        .width = cfg->model.input[2],
                        .resize = cfg->data.resize,
                        .memory_bytes = (uint64_t)cfg->data.memory_mb << 20};
}

/* A split's files as the reader takes them: the spec (pointing into f) and the paths found. */
typedef struct split_files {
  tv_data_spec spec;
  char ip[TV_PATH_CAP + 256], lp[TV_PATH_CAP + 256];
  char xf[TV_NAME_CAP * 2], yf[TV_NAME_CAP * 2];
  int separate; /* the targets are a file of their own */
} split_files;

/* Resolves the data keys images and labels (images_key / labels_key: the keys' names, for
 * messages) to files, as the readers take them. */
static int resolve(const tv_config *cfg, const char *images_key, const char *images,
                   const char *labels_key, const char *labels, split_files *f) {
  f->spec = spec_from_config(cfg);
  f->ip[0] = f->lp[0] = '\0';
  int rc = TV_OK;
  if (cfg->data.format == TV_DATA_FORMAT_HDF5) {
    rc = split_h5(cfg, images_key, images, f->xf, sizeof f->xf, &f->spec.x_dataset);
    if (rc == TV_OK)
      rc = split_h5(cfg, labels_key, labels, f->yf, sizeof f->yf, &f->spec.y_dataset);
    images = f->xf;
    labels = f->yf;
  }
  /* csv: no labels stem means the targets are columns of the features file; imgdir: the
   * labels are the class folders */
  f->separate = (cfg->data.format != TV_DATA_FORMAT_CSV || labels[0]) &&
                cfg->data.format != TV_DATA_FORMAT_IMGDIR;
  if (rc == TV_OK) rc = find(cfg, images, f->ip, sizeof f->ip);
  if (rc == TV_OK && f->separate) rc = find(cfg, labels, f->lp, sizeof f->lp);
  f->spec.x = f->ip;
  f->spec.y = f->lp;
  return rc;
}

static int load_files(const tv_config *cfg, const char *images_key, const char *images,
                      const char *labels_key, const char *labels, tv_dataset *ds) {
  split_files f;
  int rc = resolve(cfg, images_key, images, labels_key, labels, &f);
  if (rc == TV_OK) rc = tv_data_load(&f.spec, ds);
  if (rc != TV_OK) return rc;
  rc = tv_dataset_check_model(cfg, ds, f.ip, f.separate ? f.lp : f.ip);
  if (rc != TV_OK) tv_dataset_free(ds);
  return rc;
}

int tv_split_estimate(const tv_config *cfg, tv_split s, uint64_t *bytes) {
  *bytes = 0;
  int test = s == TV_SPLIT_TEST;
  split_files f;
  tv_data_need need;
  int rc = test ? resolve(cfg, "test_images", cfg->data.test_images, "test_labels",
                          cfg->data.test_labels, &f)
                : resolve(cfg, "train_images", cfg->data.train_images, "train_labels",
                          cfg->data.train_labels, &f);
  if (rc == TV_OK) rc = tv_data_estimate(&f.spec, &need);
  if (rc != TV_OK) return rc;
  /* the training files are split by copying: the file's dataset and both splits at once */
  uint64_t split = test || need.out_of_core ? 0 : 2 * need.held;
  *bytes = need.peak > split ? need.peak : split;
  return TV_OK;
}

/* Targets [i*t, j*t) of examples i..j-1: a multilabel target is an indicator, exactly 0 or 1. */
static int check_indicator_rows(const float *v, size_t i, size_t j, size_t t,
                                const char *targets_path) {
  for (size_t k = 0; k < (j - i) * t; k++)
    if (v[k] != 0.0f && v[k] != 1.0f)
      return tv_error(TV_ERR_MISMATCH,
                      "%s: example %zu, label %zu is %g; model.task multilabel needs 0/1 targets",
                      targets_path, i + k / t, k % t, (double)v[k]);
  return TV_OK;
}

/* Every target of ds an indicator; out of core, streamed from the file in slabs of rows. */
static int check_indicators(const tv_dataset *ds, const char *targets_path) {
  size_t t = (size_t)ds->target_dim, n = ds->rows ? tv_rows_count(ds->rows) : ds->n;
  if (!ds->rows) return check_indicator_rows(ds->targets, 0, n, t, targets_path);
  enum { SLAB = 4096 };
  float *buf = malloc(SLAB * t * sizeof *buf);
  if (!buf) return tv_error(TV_ERR_NOMEM, "%s: out of memory", targets_path);
  int rc = TV_OK;
  for (size_t i = 0; rc == TV_OK && i < n; i += SLAB) {
    size_t j = n - i < SLAB ? n : i + SLAB;
    rc = tv_rows_read(ds->rows, i, j, NULL, NULL, buf);
    if (rc == TV_OK) rc = check_indicator_rows(buf, i, j, t, targets_path);
  }
  free(buf);
  return rc;
}

int tv_dataset_check_model(const tv_config *cfg, const tv_dataset *ds, const char *features_path,
                           const char *targets_path) {
  const int *in = cfg->model.input;
  tv_task task = cfg->model.task;
  int k = cfg->model.num_classes;
  if (ds->c != in[0] || ds->h != in[1] || ds->w != in[2])
    return tv_error(TV_ERR_MISMATCH,
                    "%s: examples are %dx%dx%d, but model.input in %s is [%d, %d, %d]",
                    features_path, ds->c, ds->h, ds->w, cfg->source, in[0], in[1], in[2]);
  if (task == TV_TASK_CLASSIFICATION) {
    if (!tv_dataset_has_labels(ds))
      return tv_error(TV_ERR_MISMATCH,
                      "%s: %d float targets per example, but model.task in %s is classification "
                      "(class ids; float targets are model.task regression or multilabel)",
                      targets_path, ds->target_dim, cfg->source);
    if (ds->num_classes > k)
      return tv_error(TV_ERR_MISMATCH, "%s: labels go up to %d, but model.num_classes in %s is %d",
                      targets_path, ds->num_classes - 1, cfg->source, k);
    return TV_OK;
  }
  if (tv_dataset_has_labels(ds))
    return tv_error(TV_ERR_MISMATCH,
                    "%s: class ids, but model.task in %s is %s, which needs float targets",
                    targets_path, cfg->source, tv_task_names[task]);
  if (ds->target_dim != k)
    return tv_error(TV_ERR_MISMATCH,
                    "%s: %d %s per example, but model.num_classes in %s (the last layer's "
                    "outputs) is %d",
                    targets_path, ds->target_dim, task == TV_TASK_REGRESSION ? "targets" : "labels",
                    cfg->source, k);
  return task == TV_TASK_MULTILABEL ? check_indicators(ds, targets_path) : TV_OK;
}

int tv_split_load_train_valid(const tv_config *cfg, tv_dataset *train, tv_dataset *valid) {
  memset(train, 0, sizeof *train);
  memset(valid, 0, sizeof *valid);
  tv_dataset full;
  int rc = load_files(cfg, "train_images", cfg->data.train_images, "train_labels",
                      cfg->data.train_labels, &full);
  if (rc != TV_OK) return rc;
  rc = tv_dataset_split(&full, cfg->data.valid_fraction, cfg->data.split_seed, train, valid);
  tv_dataset_free(&full);
  return rc;
}

static int no_valid_split(const tv_config *cfg) {
  return tv_error(TV_ERR_INVALID, "%s: data.valid_fraction is 0, so there is no valid split",
                  cfg->source);
}

int tv_split_load(const tv_config *cfg, tv_split s, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  if (s == TV_SPLIT_TEST)
    return load_files(cfg, "test_images", cfg->data.test_images, "test_labels",
                      cfg->data.test_labels, ds);
  tv_dataset train, valid;
  int rc = tv_split_load_train_valid(cfg, &train, &valid);
  if (rc != TV_OK) return rc;
  *ds = s == TV_SPLIT_TRAIN ? train : valid;
  tv_dataset_free(s == TV_SPLIT_TRAIN ? &valid : &train);
  if (s == TV_SPLIT_VALID && ds->n == 0) {
    tv_dataset_free(ds);
    return no_valid_split(cfg);
  }
  return TV_OK;
}

int tv_split_check_valid(const tv_config *cfg, const tv_dataset *valid) {
  return valid->n == 0 ? no_valid_split(cfg) : TV_OK;
}

tv_norm tv_norm_from_config(const tv_config *cfg, const tv_dataset *ds) {
  tv_norm n = {.scale = (float)tv_config_data_scale(cfg, tv_dataset_feature_size(ds) == 1),
               .mean = (float)cfg->data.mean,
               .std = (float)cfg->data.std};
  if (cfg->data.n_mean > 0 || cfg->data.n_std > 0) {
    /* A config read from a file has at most TV_NORM_MAX_CHANNELS (its lists are capped by it);
     * one built otherwise with more keeps its count, which tv_loader_new then refuses. */
    n.channels = cfg->model.input[0];
    for (int c = 0; c < n.channels && c < TV_NORM_MAX_CHANNELS; c++) {
      n.channel_mean[c] = (float)tv_config_data_mean(cfg, c);
      n.channel_std[c] = (float)tv_config_data_std(cfg, c);
    }
  }
  return n;
}

int tv_evaluate(tv_model *m, const tv_dataset *ds, const uint32_t *idx, uint32_t n, tv_norm norm,
                tv_metrics *metrics) {
  return tv_evaluate_logits(m, ds, idx, n, norm, metrics, NULL, NULL);
}

struct tv_eval_pass {
  tv_model *m;
  tv_loader *l;
  uint32_t *first; /* the identity when the caller gave no idx */
  uint32_t left;   /* examples not yet evaluated */
  uint32_t done;   /* examples evaluated */
  int32_t *labels; /* tv_eval_pass_keep's buffers, or NULL */
  float *targets;
};

void tv_eval_pass_keep(tv_eval_pass *p, int32_t *labels, float *targets) {
  p->labels = labels;
  p->targets = targets;
}

void tv_eval_pass_free(tv_eval_pass *p) {
  if (!p) return;
  tv_loader_free(p->l);
  free(p->first);
  free(p);
}

int tv_eval_pass_new(tv_model *m, const tv_dataset *ds, const uint32_t *idx, uint32_t n,
                     tv_norm norm, tv_task task, tv_eval_pass **out) {
  *out = NULL;
  if (task != TV_TASK_CLASSIFICATION && tv_dataset_has_labels(ds))
    return tv_error(TV_ERR_MISMATCH,
                    "evaluate: the %s model needs float targets, the data has "
                    "class ids",
                    tv_task_names[task]);
  if (task == TV_TASK_CLASSIFICATION && !tv_dataset_has_labels(ds))
    return tv_error(TV_ERR_MISMATCH,
                    "evaluate: a classification model needs class ids, the data has %d float "
                    "targets per example",
                    ds->target_dim);
  if (n > ds->n)
    return tv_error(TV_ERR_INVALID, "evaluate: %u examples asked, %u present", n, ds->n);
  tv_eval_pass *p = calloc(1, sizeof *p);
  if (!p) return tv_error(TV_ERR_NOMEM, "evaluate: out of memory");
  p->m = m;
  p->left = n;
  if (n == 0) { /* nothing to evaluate: no loader */
    *out = p;
    return TV_OK;
  }
  int b = tv_model_max_batch(m), d = tv_model_input_size(m);
  if ((size_t)d != (size_t)ds->c * (size_t)ds->h * (size_t)ds->w) {
    tv_eval_pass_free(p);
    return tv_error(TV_ERR_MISMATCH, "evaluate: the model takes %d features, the examples have %d",
                    d, ds->c * ds->h * ds->w);
  }
  if (!idx) {
    p->first = malloc((size_t)n * sizeof *p->first);
    if (!p->first) {
      tv_eval_pass_free(p);
      return tv_error(TV_ERR_NOMEM, "evaluate: out of memory");
    }
    for (uint32_t i = 0; i < n; i++) p->first[i] = i;
    idx = p->first;
  }
  tv_loader_opts o = {.batch_size = (uint32_t)b, .norm = norm, .subset = idx, .subset_n = n};
  int rc = tv_loader_new(ds, &o, &p->l);
  if (rc != TV_OK) {
    tv_eval_pass_free(p);
    return rc;
  }
  *out = p;
  return TV_OK;
}

int tv_eval_pass_next(tv_eval_pass *p, uint32_t count, tv_metrics *metrics, float *logits,
                      double *forward_seconds) {
  int rc = TV_OK;
  uint32_t taken = 0;
  while (rc == TV_OK && taken < count && p->left > 0) {
    tv_batch bt;
    tv_loader_next_batch(p->l, &bt);
    if ((rc = tv_loader_status(p->l)) != TV_OK) break; /* out of core: a failed read */
    double t0 = forward_seconds ? tv_monotonic() : 0.0;
    const float *z = tv_model_forward(p->m, bt.x, (int)bt.n);
    if (forward_seconds) *forward_seconds += tv_monotonic() - t0;
    rc = tv_metrics_add(metrics, z, bt.labels, bt.targets, (int)bt.n);
    if (logits) {
      size_t k = (size_t)tv_model_num_classes(p->m) * bt.n;
      memcpy(logits, z, k * sizeof *logits);
      logits += k;
    }
    if (p->labels && bt.labels) memcpy(p->labels + p->done, bt.labels, bt.n * sizeof *bt.labels);
    if (p->targets && bt.targets) {
      size_t t = (size_t)tv_loader_target_dim(p->l);
      memcpy(p->targets + (size_t)p->done * t, bt.targets, bt.n * t * sizeof *bt.targets);
    }
    p->done += bt.n;
    taken += bt.n;
    p->left -= bt.n;
  }
  return rc;
}

int tv_evaluate_logits(tv_model *m, const tv_dataset *ds, const uint32_t *idx, uint32_t n,
                       tv_norm norm, tv_metrics *metrics, float *logits, double *forward_seconds) {
  tv_eval_pass *p = NULL;
  int rc = tv_eval_pass_new(m, ds, idx, n, norm, tv_metrics_task(metrics), &p);
  if (rc == TV_OK) rc = tv_eval_pass_next(p, n, metrics, logits, forward_seconds);
  tv_eval_pass_free(p);
  return rc;
}

int tv_evaluate_tokens(tv_model *m, const int32_t *ids, size_t n, uint64_t windows,
                       tv_metrics *metrics, uint64_t *tokens) {
  int b = tv_model_max_batch(m), steps = tv_model_steps(m);
  *tokens = 0;
  tv_stream *s = NULL;
  int rc = tv_stream_new(ids, n, b, steps, TV_WINDOWS_CONTIGUOUS, 0, &s);
  int32_t *x = NULL, *y = NULL;
  if (rc == TV_OK) {
    x = malloc((size_t)b * (size_t)steps * sizeof *x);
    y = malloc((size_t)b * (size_t)steps * sizeof *y);
    if (!x || !y) rc = tv_error(TV_ERR_NOMEM, "evaluate: out of memory");
  }
  if (rc == TV_OK) {
    uint64_t all = tv_stream_windows(s);
    if (windows == 0 || windows > all) windows = all;
    tv_model_reset_state(m);
    for (uint64_t w = 0; w < windows; w++) {
      int first, done;
      tv_stream_next(s, x, y, &first, &done);
      const float *z = tv_model_forward_ids(m, x, b);
      tv_metrics_update(metrics, z, y, b * steps);
      *tokens += (uint64_t)b * (uint64_t)steps;
    }
  }
  free(x);
  free(y);
  tv_stream_free(s);
  return rc;
}
