/* source.c — the data-source table: one row per reader, chosen by tv_data_spec.format (see
 * data.h, DATA SOURCES).  Each reader fills a tv_dataset whole or leaves it zeroed. */
#include "trainval/data.h"

#include "trainval/corpus.h"

#include <stdio.h>
#include <string.h>

#include "data/readers.h"

static int load_idx(const tv_data_spec *spec, tv_dataset *ds) {
  return tv_dataset_load_idx(spec->x, spec->y, ds);
}

static int load_text(const tv_data_spec *spec, tv_dataset *ds) {
  return tv_corpus_read(spec->x ? spec->x : "", ds);
}

typedef struct reader {
  const char *format;
  int (*load)(const tv_data_spec *spec, tv_dataset *ds);
} reader;

static const reader readers[] = {
    {"idx", load_idx},
    {"text", load_text}, /* a corpus for token models: x is the file or folder (corpus.h) */
    {"csv", tv_csv_load},
    {"npy", tv_npy_load},
};

int tv_data_load(const tv_data_spec *spec, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  const char *format = spec->format ? spec->format : "";
  char list[256] = "";
  size_t used = 0;
  for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
    if (strcmp(readers[i].format, format) == 0) return readers[i].load(spec, ds);
    int k = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", readers[i].format);
    if (k > 0 && (size_t)k < sizeof list - used) used += (size_t)k;
  }
  return tv_error(TV_ERR_INVALID, "%s: data format \"%s\" has no reader (known: %s)",
                  spec->x ? spec->x : "(no file)", format, list);
}
