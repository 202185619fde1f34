/* pin.h — an evaluator's hold on checkpoints: DIR/NAME/pin-<ckpt file> and DIR/NAME/best.h5.
 *
 *   pin-<ckpt file>   a hard link to the checkpoint being evaluated, made before its checksum
 *                     is verified and removed once it is recorded: the trainer's retention may
 *                     unlink DIR/<ckpt file>, the evaluator still reads the same inode.  While a
 *                     pin exists, train's retention keeps that checkpoint in the manifest
 *                     (retention.h).  Where hard links are refused (some FUSE, SMB mounts) the
 *                     pin is a copy read through an open descriptor.  Pins left by a crash are
 *                     removed when the evaluator of that NAME starts again.
 *   best.h5           hard link (or copy, as above) to the best checkpoint so far by the
 *                     evaluator's metric (state.yaml's best, evalstate.h), replaced atomically
 *                     (link to the temporary .best.h5.tmp.<pid>, rename), kept across restarts.
 *
 * Neither file has a format of its own: each is a checkpoint file (ckpt.h), byte for byte.
 */
#ifndef TRAINVAL_PIN_H
#define TRAINVAL_PIN_H

#include <stddef.h>

#include "trainval/error.h"

#define TV_PIN_PREFIX "pin-"
#define TV_BEST_FILE  "best.h5"

/* Pins dir/file as dir/name/pin-<file> (hard link; a copy read through one open descriptor
 * where links are refused), replacing a stale pin of that name, and writes its path to pin
 * (cap bytes).  Errors: TV_ERR_NOT_FOUND (dir/file is gone: ENOENT or ESTALE; nothing left
 * behind), TV_ERR_IO, TV_ERR_INVALID (path too long). */
TV_MUST_CHECK int tv_pin_create(const char *dir, const char *name, const char *file, char *pin,
                                size_t cap);

/* Removes every dir/name/pin-* (an evaluator's own stale pins after a crash).  Errors:
 * TV_ERR_IO (the folder cannot be read; pins that cannot be removed are skipped). */
TV_MUST_CHECK int tv_pin_clear(const char *dir, const char *name);

/* Replaces dir/name/best.h5 atomically with a hard link to (or copy of) the file at src.
 * Errors: TV_ERR_NOT_FOUND (src is gone), TV_ERR_IO; best.h5 is unchanged on failure. */
TV_MUST_CHECK int tv_best_update(const char *dir, const char *name, const char *src);

#endif
