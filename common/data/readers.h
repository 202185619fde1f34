/* readers.h — private to common/data/: the readers behind source.c's table other than IDX's
 * (which data.h declares), each honouring the tv_dataset contract of data.h (DATA SOURCES). */
#ifndef TRAINVAL_DATA_READERS_H
#define TRAINVAL_DATA_READERS_H

#include "trainval/data.h"

/* The "csv" reader (data.h, CSV FILES).  Errors: see tv_data_load.  On failure *ds is zeroed. */
TV_MUST_CHECK int tv_csv_load(const tv_data_spec *spec, tv_dataset *ds);

/* The "npy" reader (data.h, NPY FILES).  Errors: see tv_data_load.  On failure *ds is zeroed. */
TV_MUST_CHECK int tv_npy_load(const tv_data_spec *spec, tv_dataset *ds);

/* Each reader's plan for tv_data_estimate (data.h): what reading spec's files will hold, from
 * their headers (csv: one streaming pass counting fields; imgdir: the folders' listings), no
 * value read.  Errors: those of opening and reading the files (TV_ERR_NOT_FOUND, TV_ERR_IO,
 * TV_ERR_FORMAT for a header the reader would refuse, TV_ERR_NOMEM).  On failure *need is
 * zeroed. */
TV_MUST_CHECK int tv_idx_estimate(const tv_data_spec *spec, tv_data_need *need);
TV_MUST_CHECK int tv_csv_estimate(const tv_data_spec *spec, tv_data_need *need);
TV_MUST_CHECK int tv_npy_estimate(const tv_data_spec *spec, tv_data_need *need);
TV_MUST_CHECK int tv_imgdir_estimate(const tv_data_spec *spec, tv_data_need *need);
/* HDF5: the datasets' dataspaces and types, read in a bounded child as the reader's pass is
 * (h5data.c); out_of_core when memory_bytes is set and the data does not fit it. */
TV_MUST_CHECK int tv_h5_estimate(const char *x_path, const char *x_dataset, const char *y_path,
                                 const char *y_dataset, int float_targets, uint64_t memory_bytes,
                                 tv_data_need *need);

#endif
