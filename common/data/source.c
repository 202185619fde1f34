/* source.c — the data-source table: one row per reader, chosen by tv_data_spec.format (see
 * data.h, DATA SOURCES).  Each reader fills a tv_dataset whole or leaves it zeroed.  The formats'
 * names come from data.h's TV_DATA_FORMATS list; the table has one row per name, in its order. */
#include "trainval/data.h"

#include <stdio.h>
#include <string.h>

static int load_idx(const tv_data_spec *spec, tv_dataset *ds) {
  return tv_dataset_load_idx(spec->x, spec->y, ds);
}

static int load_hdf5(const tv_data_spec *spec, tv_dataset *ds) {
  return tv_dataset_load_h5(spec->x, spec->x_dataset, spec->y, spec->y_dataset, ds);
}

static int load_imgdir(const tv_data_spec *spec, tv_dataset *ds) {
  tv_imgdir_opts o = {.channels = spec->channels,
                      .height = spec->height,
                      .width = spec->width,
                      .resize = spec->resize};
  return tv_dataset_load_imgdir(spec->x, &o, ds);
}

#define TV_DATA_FORMAT_NAME_(c, n) [TV_DATA_##c] = #n,
const char *const tv_data_format_names[TV_DATA__COUNT + 1] = {TV_DATA_FORMATS(TV_DATA_FORMAT_NAME_)
                                                                  NULL};
#undef TV_DATA_FORMAT_NAME_

typedef struct reader {
  tv_data_format format;
  int (*load)(const tv_data_spec *spec, tv_dataset *ds);
} reader;

static const reader readers[] = {
    {TV_DATA_IDX, load_idx},
    {TV_DATA_HDF5, load_hdf5},
    {TV_DATA_IMGDIR, load_imgdir},
};
_Static_assert(sizeof readers / sizeof readers[0] == TV_DATA__COUNT, "one reader per format");

int tv_data_load(const tv_data_spec *spec, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  const char *format = spec->format ? spec->format : "";
  char list[256] = "";
  size_t used = 0;
  for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
    const char *name = tv_data_format_names[readers[i].format];
    if (strcmp(name, format) == 0) return readers[i].load(spec, ds);
    int k = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", name);
    if (k > 0 && (size_t)k < sizeof list - used) used += (size_t)k;
  }
  return tv_error(TV_ERR_INVALID, "%s: data format \"%s\" has no reader (known: %s)",
                  spec->x ? spec->x : "(no file)", format, list);
}
