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

typedef struct reader {
  const char *format;
  int (*load)(const tv_data_spec *spec, tv_dataset *ds);
} reader;

static const reader readers[] = {
    {"idx", load_idx},       {"csv", tv_csv_load}, {"npy", tv_npy_load}, {"hdf5", load_hdf5},
    {"imgdir", load_imgdir}, {"text", load_text}, /* a corpus for token models: x is the file or
                                                     folder (corpus.h) */
};

int tv_data_load(const tv_data_spec *spec, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  const char *format = spec->format ? spec->format : "";
  char list[256] = "";
  size_t used = 0;
  for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
    const char *name = readers[i].format;
    if (strcmp(name, format) == 0) return readers[i].load(spec, ds);
    int k = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", name);
    if (k > 0 && (size_t)k < sizeof list - used) used += (size_t)k;
  }
  return tv_error(TV_ERR_INVALID, "%s: data format \"%s\" has no reader (known: %s)",
                  spec->x ? spec->x : "(no file)", format, list);
}
