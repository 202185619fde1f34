/* h5util.h — private to libtrainval: the HDF5 plumbing shared by every reader of HDF5 files (the
 * checkpoints of rundir/ckpt.c and the HDF5 data source of data/h5data.c).
 *
 * HDF5's own printing of error stacks is switched off before any call that may fail, and its
 * innermost message is copied into ours right after a failing call (the next HDF5 call clears
 * the stack), so "truncated file" reaches the user in the one-line error.  Paths inside a file
 * are followed through hard links only: a soft or external link in a foreign file never makes us
 * open another file.
 */
#ifndef TRAINVAL_BASE_H5UTIL_H
#define TRAINVAL_BASE_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

#include "trainval/error.h"

/* Turns HDF5's printing of error stacks to stderr off for this thread's default stack.  Cannot
 * fail. */
void tv_h5_quiet(void);

/* The innermost message on HDF5's error stack into buf (cap bytes; "" if none), returned.  For
 * a low-level I/O error only the system's message is kept.  Cannot fail. */
const char *tv_h5_detail(char *buf, size_t cap);

/* Records "message (HDF5: innermost error)" (or just the message when the stack is empty) and
 * returns code. */
int tv_h5_fail(int code, const char *fmt, ...) TV_PRINTF(2, 3);

/* Closes *id with fn when it is valid and sets it to H5I_INVALID_HID.  Cannot fail. */
void tv_h5_close(hid_t *id, herr_t (*fn)(hid_t));

/* A new file access list: every object closed with the file (H5F_CLOSE_STRONG) and no flock
 * (files we read are immutable; flock fails on some network file systems).  The caller closes
 * it (H5Pclose).  Returns a negative id on failure. */
hid_t tv_h5_fapl(void);

/* 1 if ftype is IEEE float32 or float64 in either byte order. */
int tv_h5_ieee_float(hid_t ftype);

/* "float64", "uint8", "string", "a non-numeric type", ... for messages; returns buf. */
const char *tv_h5_type_name(hid_t ftype, char *buf, size_t cap);

/* 1 if s is "a/b/c": non-empty components, none "." or "..", no leading or trailing '/'. */
int tv_h5_valid_rel(const char *s);

/* 1 if path is "/" or "/a/b/c": non-empty components, none "." or "..", no trailing '/'. */
int tv_h5_valid_abs(const char *path);

/* Walks a valid absolute path (tv_h5_valid_abs) one component at a time, through hard links
 * only.  Returns 1 if an object is there, 0 if not, -1 if a component is a soft or external
 * link, -2 when libhdf5 fails to read the links on the way (a damaged file: its error stack says
 * why, see tv_h5_fail), which is never reported as absence.  Sets no error message. */
int tv_h5_lookup_checked(hid_t file, const char *path);

#endif
