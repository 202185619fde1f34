/* fuzz_util.h — what the fuzz targets share: a private scratch directory made once per process
 * and a helper that writes the input bytes to a file in it (the readers under test take paths).
 * Test code only; nothing here is part of libtrainval. */
#ifndef TRAINVAL_FUZZ_UTIL_H
#define TRAINVAL_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/data.h"

/* The scratch directory ("$TMPDIR/tv-fuzz.XXXXXX", made on first use, removed at exit).  Aborts
 * (a fuzz harness failure, not a finding) if it cannot be made. */
const char *fuzz_dir(void);

/* Writes data[0..size) to fuzz_dir()/name (replacing it) and puts the path in path (cap bytes).
 * Aborts on a write failure. */
void fuzz_write(const char *name, const uint8_t *data, size_t size, char *path, size_t cap);

/* Plans the read of s with tv_data_estimate (data.h) and holds it to what tv_data_load gave: when
 * ds is not NULL (a load that succeeded) the plan must succeed and its held bytes equal the
 * dataset's buffers (exact), or be at least them (an upper bound: csv).  Aborts otherwise: a
 * finding.  A plan of bytes that did not load may fail, never crash. */
void fuzz_check_estimate(const tv_data_spec *s, const tv_dataset *ds, int exact);

#endif
