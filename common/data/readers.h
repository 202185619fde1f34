/* readers.h — private to common/data/: the readers behind source.c's table other than IDX's
 * (which data.h declares), each honouring the tv_dataset contract of data.h (DATA SOURCES). */
#ifndef TRAINVAL_DATA_READERS_H
#define TRAINVAL_DATA_READERS_H

#include "trainval/data.h"

/* The "csv" reader (data.h, CSV FILES).  Errors: see tv_data_load.  On failure *ds is zeroed. */
TV_MUST_CHECK int tv_csv_load(const tv_data_spec *spec, tv_dataset *ds);

/* The "npy" reader (data.h, NPY FILES).  Errors: see tv_data_load.  On failure *ds is zeroed. */
TV_MUST_CHECK int tv_npy_load(const tv_data_spec *spec, tv_dataset *ds);

#endif
