/* pipeline.c — config -> datasets, normalisation, evaluation loop (see pipeline.h). */
#include "trainval/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Finds the files the config's keys name (images_key / labels_key: the keys' names, for
 * messages) and reads them with the reader data.format names. */
static int read_source(const tv_config *cfg, const char *images_key, const char *images,
                       const char *labels_key, const char *labels, char *ip, char *lp, size_t cap,
                       tv_dataset *ds) {
  tv_data_spec spec = {.format = tv_data_format_names[cfg->data.format],
                       .x = ip,
                       .y = lp,
                       .channels = cfg->model.input[0],
                       .height = cfg->model.input[1],
                       .width = cfg->model.input[2],
                       .resize = cfg->data.resize};
  char xf[TV_NAME_CAP * 2], yf[TV_NAME_CAP * 2];
  int rc = TV_OK;
  if (cfg->data.format == TV_DATA_HDF5) {
    rc = split_h5(cfg, images_key, images, xf, sizeof xf, &spec.x_dataset);
    if (rc == TV_OK) rc = split_h5(cfg, labels_key, labels, yf, sizeof yf, &spec.y_dataset);
    images = xf;
    labels = yf;
  }
  if (rc == TV_OK) rc = find(cfg, images, ip, cap);
  if (rc == TV_OK && cfg->data.format == TV_DATA_IMGDIR)
    snprintf(lp, cap, "%s", ip);
  else if (rc == TV_OK)
    rc = find(cfg, labels, lp, cap);
  if (rc == TV_OK) rc = tv_data_load(&spec, ds);
  return rc;
}

static int load_files(const tv_config *cfg, tv_split s, tv_dataset *ds) {
  char ip[TV_PATH_CAP + 256], lp[TV_PATH_CAP + 256];
  int test = s == TV_SPLIT_TEST;
  int rc = read_source(
      cfg, test ? "test_images" : "train_images",
      test ? cfg->data.test_images : cfg->data.train_images, test ? "test_labels" : "train_labels",
      test ? cfg->data.test_labels : cfg->data.train_labels, ip, lp, sizeof ip, ds);
  if (rc != TV_OK) return rc;
  const int *in = cfg->model.input;
  if (ds->c != in[0] || ds->h != in[1] || ds->w != in[2]) {
    rc = tv_error(TV_ERR_MISMATCH,
                  "%s: examples are %dx%dx%d, but model.input in %s is [%d, %d, %d]", ip, ds->c,
                  ds->h, ds->w, cfg->source, in[0], in[1], in[2]);
  } else if (!ds->labels) {
    rc = tv_error(TV_ERR_MISMATCH,
                  "%s: %d float targets per example, but %s trains a classifier on class ids", lp,
                  ds->target_dim, cfg->source);
  } else if (ds->num_classes > cfg->model.num_classes) {
    rc = tv_error(TV_ERR_MISMATCH, "%s: labels go up to %d, but model.num_classes in %s is %d", lp,
                  ds->num_classes - 1, cfg->source, cfg->model.num_classes);
  }
  if (rc != TV_OK) tv_dataset_free(ds);
  return rc;
}

int tv_split_load_train_valid(const tv_config *cfg, tv_dataset *train, tv_dataset *valid) {
  memset(train, 0, sizeof *train);
  memset(valid, 0, sizeof *valid);
  tv_dataset full;
  int rc = load_files(cfg, TV_SPLIT_TRAIN, &full);
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
  if (s == TV_SPLIT_TEST) return load_files(cfg, TV_SPLIT_TEST, ds);
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

tv_norm tv_norm_from_config(const tv_config *cfg) {
  tv_norm n = {
      .scale = (float)cfg->data.scale, .mean = (float)cfg->data.mean, .std = (float)cfg->data.std};
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
  return tv_evaluate_logits(m, ds, idx, n, norm, metrics, NULL);
}

int tv_evaluate_logits(tv_model *m, const tv_dataset *ds, const uint32_t *idx, uint32_t n,
                       tv_norm norm, tv_metrics *metrics, float *logits) {
  if (n > ds->n)
    return tv_error(TV_ERR_INVALID, "evaluate: %u examples asked, %u present", n, ds->n);
  if (n == 0) return TV_OK;
  int b = tv_model_max_batch(m), d = tv_model_input_size(m);
  uint32_t *first = NULL;
  if (!idx) {
    first = malloc((size_t)n * sizeof *first);
    if (!first) return tv_error(TV_ERR_NOMEM, "evaluate: out of memory");
    for (uint32_t i = 0; i < n; i++) first[i] = i;
    idx = first;
  }
  tv_loader_opts o = {.batch_size = (uint32_t)b, .norm = norm, .subset = idx, .subset_n = n};
  tv_loader *l = NULL;
  float *x = malloc((size_t)b * (size_t)d * sizeof *x);
  int32_t *y = malloc((size_t)b * sizeof *y);
  int rc =
      (!x || !y) ? tv_error(TV_ERR_NOMEM, "evaluate: out of memory") : tv_loader_new(ds, &o, &l);
  for (int done = 0; rc == TV_OK && !done;) {
    uint32_t got;
    tv_loader_next(l, x, y, &got, &done);
    const float *z = tv_model_forward(m, x, (int)got);
    tv_metrics_update(metrics, z, y, (int)got);
    if (logits) {
      size_t k = (size_t)tv_model_num_classes(m) * got;
      memcpy(logits, z, k * sizeof *logits);
      logits += k;
    }
  }
  tv_loader_free(l);
  free(x);
  free(y);
  free(first);
  return rc;
}
