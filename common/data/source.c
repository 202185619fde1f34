/* source.c — the data-source table: one row per reader, chosen by tv_data_spec.format (see
 * data.h, DATA SOURCES).  Each reader fills a tv_dataset whole or leaves it zeroed. */
#include "trainval/data.h"

#include "trainval/corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/readers.h"

static int load_idx(const tv_data_spec *spec, tv_dataset *ds) {
  return tv_dataset_load_idx(spec->x, spec->y, ds);
}

static int load_text(const tv_data_spec *spec, tv_dataset *ds) {
  return tv_corpus_read(spec->x ? spec->x : "", ds);
}

/* Integer targets become float ones (one value per example) where the caller needs those. */
static int load_hdf5(const tv_data_spec *spec, tv_dataset *ds) {
  int rc = tv_dataset_open_h5(spec->x, spec->x_dataset, spec->y, spec->y_dataset,
                              spec->float_targets, spec->memory_bytes, ds);
  if (rc != TV_OK || !spec->float_targets || !ds->labels) return rc; /* out of core: converted */
  ds->targets = malloc((size_t)ds->n * sizeof *ds->targets);
  if (!ds->targets) {
    tv_dataset_free(ds);
    return tv_error(TV_ERR_NOMEM, "%s: out of memory", spec->y);
  }
  for (uint32_t i = 0; i < ds->n; i++) ds->targets[i] = (float)ds->labels[i];
  free(ds->labels);
  ds->labels = NULL;
  ds->target_dim = 1;
  ds->num_classes = 0;
  return TV_OK;
}

static int load_imgdir(const tv_data_spec *spec, tv_dataset *ds) {
  tv_imgdir_opts o = {.channels = spec->channels,
                      .height = spec->height,
                      .width = spec->width,
                      .resize = spec->resize};
  return tv_dataset_load_imgdir(spec->x, &o, ds);
}

static int estimate_hdf5(const tv_data_spec *spec, tv_data_need *need) {
  return tv_h5_estimate(spec->x, spec->x_dataset, spec->y, spec->y_dataset, spec->float_targets,
                        spec->memory_bytes, need);
}

static int estimate_none(const tv_data_spec *spec, tv_data_need *need) {
  (void)spec;
  memset(need, 0, sizeof *need);
  return TV_OK;
}

typedef struct reader {
  const char *format;
  int (*load)(const tv_data_spec *spec, tv_dataset *ds);
  int (*estimate)(const tv_data_spec *spec, tv_data_need *need); /* tv_data_estimate's plan */
} reader;

static const reader readers[] = {
    {"idx", load_idx, tv_idx_estimate},
    {"csv", tv_csv_load, tv_csv_estimate},
    {"npy", tv_npy_load, tv_npy_estimate},
    {"hdf5", load_hdf5, estimate_hdf5},
    {"imgdir", load_imgdir, tv_imgdir_estimate},
    {"text", load_text, estimate_none}, /* a corpus for token models: x is the file or folder
                                           (corpus.h) */
};

/* The reader spec's format names, or NULL with the error recorded (the message lists them). */
static const reader *find_reader(const tv_data_spec *spec) {
  const char *format = spec->format ? spec->format : "";
  char list[256] = "";
  size_t used = 0;
  for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
    const char *name = readers[i].format;
    if (strcmp(name, format) == 0) return &readers[i];
    int k = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", name);
    if (k > 0 && (size_t)k < sizeof list - used) used += (size_t)k;
  }
  (void)tv_error(TV_ERR_INVALID, "%s: data format \"%s\" has no reader (known: %s)",
                 spec->x ? spec->x : "(no file)", format, list);
  return NULL;
}

int tv_data_load(const tv_data_spec *spec, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  const reader *r = find_reader(spec);
  return r ? r->load(spec, ds) : TV_ERR_INVALID;
}

int tv_data_estimate(const tv_data_spec *spec, tv_data_need *need) {
  memset(need, 0, sizeof *need);
  const reader *r = find_reader(spec);
  return r ? r->estimate(spec, need) : TV_ERR_INVALID;
}
