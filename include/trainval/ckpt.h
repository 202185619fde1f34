/* ckpt.h — checkpoint files (HDF5), their commit into the manifest, and retention.
 *
 * FILE FORMAT  <train_dir>/ckpt-%08lld.h5 (the step; more digits past 99,999,999), HDF5 as
 * written by the library's default (earliest-compatible) file format, so h5py, h5dump and
 * HDF5 >= 1.8 read it.  Nothing is chunked or compressed.
 *
 *   /                          attributes (all scalar):
 *                                format           string "trainval.checkpoint"
 *                                format_version   int32, 1
 *                                step             int64 >= 0, optimizer steps taken
 *                                epoch            int64, epochs completed
 *                                wall_time        float64, unix seconds of the save
 *                                config           string, the run's YAML config text (a
 *                                                 checkpoint describes itself)
 *                                trainval_version string, TV_VERSION of the writer
 *   /variables/<name>          float32 (IEEE, little-endian) datasets, one per variable of the
 *                              store, at its name ("dense_1/kernel" -> group dense_1, dataset
 *                              kernel) with its shape (PyTorch layout: dense kernel [out, in]);
 *                              a 0-d variable is a scalar dataset.  Nothing else lives here.
 *   /optimizer/<slot>/<name>   optimizer state (Adam m, v, ...), attributes such as type and t
 *   /state/<name>              everything else exact resume needs (RNG words, data cursor)
 *
 * Strings are variable-length UTF-8.  Arrays under /optimizer and /state (or any other top-level
 * group but /variables) are written by their owners through tv_ckpt_array: float32, int64,
 * uint64 or uint32, little-endian, 1-D unless a shape is given; ckpt does not know their meaning.
 *
 * VERSION AND COMPATIBILITY: format_version is 1.  Adding attributes, groups or arrays keeps the
 * version: readers ignore what they do not look for.  The version is raised only for a change an
 * older reader would misread; a reader accepts every format_version up to its own and refuses a
 * newer one with TV_ERR_FORMAT.  Readers accept /variables datasets of any IEEE float size
 * (float64 from an h5py/PyTorch export is converted), but the element count and shape must match.
 *
 * COMMIT (the train_dir protocol, see DESIGN.md): tv_ckpt_save builds the file in memory
 * (HDF5's core driver), writes it to a hidden temporary ".ckpt-%08lld.<pid>.tmp" in train_dir
 * (created O_EXCL), fsyncs and closes it, renames it into place and fsyncs the directory; only
 * then does tv_ckpt_commit add it to the manifest (manifest.h).  A file the manifest does not name
 * does not exist for `eval`.  Files are deleted by retention only after a manifest write that no
 * longer names them.
 *
 * Threads: Debian's HDF5 is the serial (not thread-safe) build.  All HDF5 use in the process,
 * this module's and the data module's, must happen from one thread at a time.  These functions
 * switch HDF5's automatic error printing off for the default error stack.
 */
#ifndef TRAINVAL_CKPT_H
#define TRAINVAL_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"
#include "trainval/manifest.h"
#include "trainval/tensor.h"
#include "trainval/varstore.h"

#ifndef TV_VERSION
#define TV_VERSION "0.1.0"
#endif

#define TV_CKPT_FORMAT  "trainval.checkpoint"
#define TV_CKPT_VERSION 1

typedef enum tv_ckpt_dtype { TV_CKPT_F32, TV_CKPT_I64, TV_CKPT_U64, TV_CKPT_U32 } tv_ckpt_dtype;

/* An extra array to store: path is absolute ("/optimizer/m/dense_1/kernel", "/state/loader/perm";
 * intermediate groups are created), not "/" and not under /variables; each component is
 * non-empty and not "." or "..".  data holds count elements of dtype (may be NULL if count is
 * 0).  shape NULL stores a 1-D array of count; otherwise the dataset gets that shape (h5py then
 * sees an optimizer slot as (512, 784), like its variable) and tv_shape_count(*shape) must equal
 * count; readers read any array by element count.  The caller keeps ownership of everything;
 * nothing is retained after the call.  Use designated initializers: fields may be added. */
typedef struct tv_ckpt_array {
  const char *path;
  tv_ckpt_dtype dtype;
  size_t count;
  const void *data;
  const tv_shape *shape;
} tv_ckpt_array;

/* What the root attributes record.  config_text NULL is stored as "". */
typedef struct tv_ckpt_header {
  int64_t step, epoch;
  double wall_time;
  const char *config_text;
} tv_ckpt_header;

/* A checkpoint file as saved: what tv_ckpt_commit records in the manifest.  finite is computed
 * by the save: every float32 value written (variables and arrays) was finite. */
typedef struct tv_ckpt_info {
  char file[TV_MANIFEST_FILE_CAP]; /* base name "ckpt-00001000.h5" */
  int64_t step;
  int64_t size; /* bytes */
  uint32_t crc32c;
  double wall_time;
  int finite;
} tv_ckpt_info;

/* Writes "ckpt-%08lld.h5" for step into name (cap bytes).  Errors: TV_ERR_INVALID (step < 0 or
 * does not fit). */
TV_MUST_CHECK int tv_ckpt_file_name(int64_t step, char *name, size_t cap);

/* ---- writing ------------------------------------------------------------------------------ */

/* A checkpoint being written (to its temporary file).  Owners of state (optimizer, loader) add
 * their arrays and attributes to it without ckpt knowing them. */
typedef struct tv_ckpt_writer tv_ckpt_writer;

/* Creates dir/.ckpt-%08lld.<pid>.tmp exclusively (another suffix if a stale one is in the way;
 * it stays empty until finish) and starts the file in memory with the root attributes of h (h
 * and its string are copied: they need not outlive the call).  Until finish, the checkpoint's
 * bytes are held in memory.  *out is NULL on failure and then no file is left.  Errors:
 * TV_ERR_INVALID (step < 0), TV_ERR_IO (dir missing or not writable; the message names the file),
 * TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_ckpt_writer_open(const char *dir, const tv_ckpt_header *h,
                                      tv_ckpt_writer **out);

/* Writes every variable of the sealed store vars to /variables/<name>.  At most once.
 * Errors: TV_ERR_INVALID (store not sealed, a bad name, called twice), TV_ERR_IO. */
TV_MUST_CHECK int tv_ckpt_writer_variables(tv_ckpt_writer *w, const tv_varstore *vars);

/* Writes one array (rules at tv_ckpt_array).  Errors: TV_ERR_INVALID (bad path, dtype or shape,
 * the path exists already), TV_ERR_IO. */
TV_MUST_CHECK int tv_ckpt_writer_array(tv_ckpt_writer *w, const tv_ckpt_array *a);

/* Sets a scalar attribute name on the object at path (an absolute path; a group is created if
 * nothing is there; "/" is the root, whose format attributes cannot be overwritten).  An existing
 * attribute of that name is replaced.  Errors: TV_ERR_INVALID (bad path/name, a reserved root
 * attribute), TV_ERR_IO. */
TV_MUST_CHECK int tv_ckpt_writer_attr_str(tv_ckpt_writer *w, const char *path, const char *name,
                                          const char *value);
TV_MUST_CHECK int tv_ckpt_writer_attr_i64(tv_ckpt_writer *w, const char *path, const char *name,
                                          int64_t value);
TV_MUST_CHECK int tv_ckpt_writer_attr_f64(tv_ckpt_writer *w, const char *path, const char *name,
                                          double value);

/* Writes the file to the temporary (a full disk is reported, never a crash), fsyncs and closes
 * it, fills *info with its name, step, size, CRC-32C, wall time and finiteness, renames it into
 * place (replacing a stale file of that name, an orphan of a crash: callers never save a step
 * twice) and fsyncs the directory.  Frees w in every case.  If any earlier call on w failed,
 * returns that error.  On failure the temporary is removed and no other file changed.
 * Errors: TV_ERR_IO (the message names the file and the cause), or the earlier error. */
TV_MUST_CHECK int tv_ckpt_writer_finish(tv_ckpt_writer *w, tv_ckpt_info *info);

/* Closes and removes the temporary file and frees w.  NULL-safe, cannot fail. */
void tv_ckpt_writer_abort(tv_ckpt_writer *w);

/* One call: writer_open, writer_variables (vars may be NULL: no variables), writer_array for
 * each of extra[0..n_extra), writer_finish.  Errors and the state after failure as those. */
TV_MUST_CHECK int tv_ckpt_save(const char *dir, const tv_ckpt_header *h, const tv_varstore *vars,
                               const tv_ckpt_array *extra, int n_extra, tv_ckpt_info *info);

/* ---- reading ------------------------------------------------------------------------------ */

/* An open checkpoint, read-only. */
typedef struct tv_ckpt tv_ckpt;

/* Opens path and reads its root attributes.  If expect is not NULL, its size and crc32c (from
 * the manifest: build it as (tv_ckpt_info){.size = e->size, .crc32c = e->crc32c}) are checked
 * against the file before HDF5 parses a byte of it.  The caller owns *out (tv_ckpt_close);
 * *out is NULL on failure.  Errors: TV_ERR_NOT_FOUND (no such file), TV_ERR_IO,
 * TV_ERR_CHECKSUM ("path: size/checksum ... in manifest, ... on disk"), TV_ERR_FORMAT
 * ("path: not a trainval checkpoint (why)": not HDF5, truncated, corrupt, foreign, a missing
 * root attribute, or a format_version newer than TV_CKPT_VERSION), TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_ckpt_open(const char *path, const tv_ckpt_info *expect, tv_ckpt **out);

/* Closes the file and frees c.  NULL-safe. */
void tv_ckpt_close(tv_ckpt *c);

/* Root attributes read by tv_ckpt_open; the strings are owned by c and live until close. */
int64_t tv_ckpt_step(const tv_ckpt *c);
int64_t tv_ckpt_epoch(const tv_ckpt *c);
double tv_ckpt_wall_time(const tv_ckpt *c);
int tv_ckpt_format_version(const tv_ckpt *c);
const char *tv_ckpt_config_text(const tv_ckpt *c);
const char *tv_ckpt_trainval_version(const tv_ckpt *c); /* "" if the file has none */
const char *tv_ckpt_path(const tv_ckpt *c);

/* Fills the sealed store vars from /variables.  The file and the store must agree exactly:
 * every store variable present with its shape, and no other dataset under /variables.
 * Otherwise TV_ERR_MISMATCH naming the file and the first few differences:
 * "path: dense_1/kernel: shape [512, 784] in file, [256, 784] in model; dense_3/bias: missing in
 * file; dense_9/bias: in file, not in model".  Values are read into a scratch buffer first, so on
 * any failure the store is unchanged.  Errors: TV_ERR_MISMATCH, TV_ERR_INVALID (store not
 * sealed), TV_ERR_FORMAT (unreadable data), TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_ckpt_read_variables(tv_ckpt *c, tv_varstore *vars);

/* Reads the array at path (any shape) into data[0..count).  Errors: TV_ERR_NOT_FOUND (absent),
 * TV_ERR_MISMATCH (another dtype or element count, or not a dataset), TV_ERR_INVALID (bad path),
 * TV_ERR_FORMAT (unreadable data).  data is unspecified after a TV_ERR_FORMAT. */
TV_MUST_CHECK int tv_ckpt_read_array(tv_ckpt *c, const char *path, tv_ckpt_dtype dtype,
                                     size_t count, void *data);

/* The dtype and element count of the array at path, to size a buffer before reading.
 * Errors: TV_ERR_NOT_FOUND, TV_ERR_MISMATCH (not a dataset of one of the four dtypes). */
TV_MUST_CHECK int tv_ckpt_array_info(tv_ckpt *c, const char *path, tv_ckpt_dtype *dtype,
                                     size_t *count);

/* 1 if an object (group or dataset, through hard links only) exists at path, else 0. */
int tv_ckpt_has(tv_ckpt *c, const char *path);

/* Scalar attribute name of the object at path.  Errors: TV_ERR_NOT_FOUND (object or attribute
 * absent), TV_ERR_MISMATCH (another type; a string longer than cap - 1), TV_ERR_INVALID. */
TV_MUST_CHECK int tv_ckpt_read_attr_i64(tv_ckpt *c, const char *path, const char *name,
                                        int64_t *value);
TV_MUST_CHECK int tv_ckpt_read_attr_f64(tv_ckpt *c, const char *path, const char *name,
                                        double *value);
TV_MUST_CHECK int tv_ckpt_read_attr_str(tv_ckpt *c, const char *path, const char *name, char *buf,
                                        size_t cap);

/* ---- the train_dir: commit, retention, resolution ----------------------------------------- */

/* Vetoes deleting e when it returns non-zero (the best checkpoint, one an evaluator has not
 * reached yet).  Called during tv_ckpt_commit only. */
typedef int (*tv_ckpt_keep_fn)(void *ctx, const tv_manifest_entry *e);

/* Commits the saved checkpoint info in dir: adds an entry to m (file, size and checksum from
 * info; step and wall_time as given, step must equal info->step; finite recorded as
 * finite && info->finite, so the caller's verdict, a NaN loss, and the save's own scan both count;
 * reason at most 15 bytes, NULL = ""), replacing one of the same step.  Then retention: the
 * newest max_to_keep entries (0 = keep all) stay, and every older entry is dropped unless keep
 * (NULL = none) vetoes it; vetoed entries are kept in addition to max_to_keep (TensorFlow's
 * CheckpointManager rule: pinning the best never costs a recent checkpoint), and the entry just
 * committed is never dropped.  The manifest is written once, with the new entry and without the
 * dropped ones; only then are the dropped files unlinked (ENOENT is not an error; a file a kept
 * entry still names is not unlinked).
 * On a failed manifest write, m and the manifest on disk are unchanged and nothing is deleted;
 * the checkpoint file stays, uncommitted (the caller may remove it).  A failed unlink after a
 * successful write leaves m committed and returns TV_ERR_IO naming that file.
 * Errors: TV_ERR_INVALID (bad info, step or reason), TV_ERR_NOMEM, TV_ERR_IO. */
TV_MUST_CHECK int tv_ckpt_commit(const char *dir, tv_manifest *m, const tv_ckpt_info *info,
                                 int64_t step, double wall_time, int finite, const char *reason,
                                 int max_to_keep, tv_ckpt_keep_fn keep, void *keep_ctx);

/* Resolves which checkpoint of dir to load from its manifest: "latest", a step number ("1000"),
 * or a file name the manifest lists ("ckpt-00001000.h5").  Writes dir/file to path (cap bytes)
 * and, if entry is not NULL, copies the manifest entry (its size and checksum, for
 * tv_ckpt_open's expect).  Errors: TV_ERR_NOT_FOUND (no manifest: "no run in DIR (no
 * checkpoints.yaml)"; no checkpoint yet; no such step: the message names the steps listed),
 * TV_ERR_INVALID (which is none of the three forms, path does not fit), TV_ERR_FORMAT,
 * TV_ERR_IO, TV_ERR_NOMEM (from reading the manifest). */
TV_MUST_CHECK int tv_ckpt_resolve(const char *dir, const char *which, char *path, size_t cap,
                                  tv_manifest_entry *entry);

#endif
