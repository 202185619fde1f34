/* ckpt.h — checkpoint files (HDF5): writing, reading and verifying one file.  Committing a file
 * into the train_dir's manifest, retention and resolving "latest" are commit.h's; this module
 * knows nothing of the manifest.
 *
 * FILE FORMAT  <train_dir>/ckpt-%08lld.h5 (the step; more digits past 99,999,999), HDF5 as
 * written by the library's default (earliest-compatible) file format, so h5py, h5dump and
 * HDF5 >= 1.8 read it.  Nothing is chunked or compressed.
 *
 * USER BLOCK: the first TV_CKPT_USERBLOCK (512) bytes, which HDF5, h5py and h5dump skip, make a
 * file verify itself before HDF5 parses a byte of it (a standalone file: eval --ckpt x.h5, a
 * copied best.h5):
 *   bytes  0..15  magic "trainval ckpt 1\n"
 *   bytes 16..23  uint64 LE, the file's size in bytes
 *   bytes 24..27  uint32 LE, CRC-32C of bytes 512..size-1 (the HDF5 file proper)
 *   bytes 28..31  uint32 LE, CRC-32C of bytes 0..27 and 32..511 (the rest of the block: zeros)
 * A file whose first 16 bytes are within 8 bits of the magic is ours and must check out
 * (TV_ERR_FORMAT "path: not a trainval checkpoint (damaged: why)" otherwise).  A file without it
 * (written by h5py or by trainval before the user block: format_version 1 too) is first parsed
 * whole in a child process limited in CPU time and memory, so that a crash or hang inside libhdf5
 * on a crafted file is an error message; only then does this process parse it.  Older trainval
 * readers read files with the block (HDF5 finds the superblock at 512): the format_version stays 1.
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
 *   /optimizer/..., /state/... the resume state, written and read by its owners (below)
 *
 * Strings are variable-length UTF-8.  Arrays under /optimizer and /state (or any other top-level
 * group but /variables) are written by their owners through tv_ckpt_array: float32, int64,
 * uint64 or uint32, little-endian, 1-D unless a shape is given; ckpt does not know their meaning.
 *
 * STATE LAYOUT: what exact resume needs.  Each object that holds resume state writes and reads
 * its own part (`train` orders the calls; `eval` reads none of it):
 *
 *   path                       dtype    shape        owner: content
 *   /optimizer                 attrs: type (string "sgd" | "adam" | "adamw"), t (int64)
 *                                                    tv_optim_ckpt_write (optim.h); t as below
 *   /optimizer/<slot>/<var>    float32  var's shape  tv_optim_ckpt_write: slot <slot> ("momentum"
 *                                                    for SGD with momentum; "m" and "v" for Adam
 *                                                    and AdamW; none for plain SGD) of every
 *                                                    trainable variable <var>
 *   /state/optimizer_t         int64    [1]          tv_optim_ckpt_write: updates taken (read)
 *   /state/loader/cursor       uint64   [6]          tv_loader_ckpt_write (data.h): epochs done,
 *                                                    next position in perm, shuffle rng s[0..3]
 *   /state/loader/perm         uint32   [m]          tv_loader_ckpt_write: the epoch's order of
 *                                                    the m examples (a permutation of 0..m-1)
 *   /state/loader/augment_rng  uint64   [4]          tv_loader_ckpt_write: augmentation rng
 *   /state/loader/block_order  uint64   [5]          tv_loader_ckpt_write, out of core
 *                                                    (data.memory_mb; then no perm): source
 *                                                    rows, block rows, buffer slots, seed, and
 *                                                    the outputs of the epoch's block order
 *                                                    taken (position plus the valid rows it
 *                                                    skipped); resume seeks the order there
 *   /state/dropout_rng         uint64   [4]          tv_model_ckpt_write (model.h): the TRAIN
 *                                                    graph's dropout rng s[0..3]
 *   /state/carry/<layer>       float32  [B*H] or    tv_model_ckpt_write: the TRAIN graph's
 *                                       [2*B*H]      carried state of recurrent layer <layer>
 *                                                    (B = train.batch_size, H = hidden):
 *                                                    gru h (B, H); lstm h (B, H) then c (B, H);
 *                                                    data-parallel contiguous streams (dist.h):
 *                                                    every rank's rows, gathered by rank 0 and
 *                                                    read back by each rank (its own rows)
 *   /state/text/cursor         uint64   [7]          tv_stream_ckpt_write (corpus.h): a token
 *                                                    model's batcher: epochs done, next window,
 *                                                    text length, window rng s[0..3]
 *   /state/text/vocab          uint32   [V]          tv_vocab_ckpt_write (corpus.h): the
 *                                                    vocabulary, the byte of each token id
 *                                                    0..V-1 (also read by `eval --generate`)
 *   /state                     attrs: early_stop_best (float64; absent until the first
 *                              validation), early_stop_best_step, early_stop_bad, nonfinite_run,
 *                              nonfinite_total, schedule_steps (int64: the learning-rate
 *                              schedule's horizon; absent in older files)
 *                                                    the trainer (train/trainer.c)
 *
 * A new owner of resume state adds its own paths here and its own _ckpt_write / _ckpt_read pair
 * beside its code.
 *
 * DATA LAYOUT: what `eval` (and `train` on resume) applies to the data besides the config.
 *   /data/standardize/mean     float32  [D]          tv_standardize_ckpt_write (data.h): the
 *   /data/standardize/std      float32  [D]          per-feature mean and std fitted on the
 *                                                    training split (data.standardize: true);
 *                                                    absent otherwise, and in older files
 *   /data  attribute class_names  string             tv_dataset_names_ckpt_write (data.h): the
 *                                                    training data's class names (image folders,
 *                                                    CSV string labels) as a JSON array; absent
 *                                                    when it has none
 *
 * VERSION AND COMPATIBILITY: format_version is 1.  Adding attributes, groups or arrays keeps the
 * version: readers ignore what they do not look for.  The state paths above are those of every
 * format_version 1 file (tests/fixtures/v1-run resumes bit-exactly from them); a missing
 * /state/loader/augment_rng reads as zero and missing /state attributes keep their defaults.  The
 * version is raised only for a change an older reader would misread; a reader accepts every
 * format_version up to its own and refuses a newer one with TV_ERR_FORMAT.  Readers accept
 * /variables datasets of IEEE float32 or float64 (from an h5py/PyTorch export: converted), either
 * byte order, and nothing else (a damaged type message can declare a 288-bit float); arrays
 * elsewhere must be exactly one of the four dtypes below; the element count and shape must
 * match.
 *
 * WRITING  tv_ckpt_writer_open creates a hidden temporary ".ckpt-%08lld.<pid>.tmp" in train_dir
 * (O_EXCL; ".ckpt-%08lld.<pid>.<k>.tmp" if a stale one is in the way); the file is built in
 * memory (HDF5's core driver), written to the temporary with plain write(2) at finish, fsynced,
 * closed, renamed into place, and the directory fsynced.  Until tv_ckpt_commit (commit.h) names
 * it in the manifest, the file does not exist for `eval`.
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
#include "trainval/tensor.h"
#include "trainval/varstore.h"

#ifndef TV_VERSION
#define TV_VERSION "0.1.0"
#endif

#define TV_CKPT_FORMAT  "trainval.checkpoint"
#define TV_CKPT_VERSION 1

/* Bytes of the user block at the start of every checkpoint written (see USER BLOCK above). */
enum { TV_CKPT_USERBLOCK = 512 };

/* Bytes for a checkpoint base name with its NUL ("ckpt-00001000.h5"); the manifest's
 * TV_MANIFEST_FILE_CAP is the same (commit.c checks it). */
enum { TV_CKPT_FILE_CAP = 64 };

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
  char file[TV_CKPT_FILE_CAP]; /* base name "ckpt-00001000.h5" */
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
 * against the file before HDF5 parses a byte of it; if it is NULL, the file's user block is
 * (or, for a file without one, a child process parses it first: see USER BLOCK).  The caller owns
 * *out (tv_ckpt_close); *out is NULL on failure.  Errors: TV_ERR_NOT_FOUND (no such file),
 * TV_ERR_IO, TV_ERR_CHECKSUM ("path: checksum mismatch: N bytes, crc32c:X on disk; the manifest
 * says M bytes, crc32c:Y"), TV_ERR_FORMAT ("path: not a trainval checkpoint (why)": not a regular
 * file, not HDF5, truncated, corrupt (its user block does not check out, HDF5 crashed or hung on it
 * in the child), foreign, a missing root attribute, or a format_version newer than
 * TV_CKPT_VERSION), TV_ERR_INVALID (path too long), TV_ERR_NOMEM. */
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

/* The comparison of tv_ckpt_read_variables alone, on a store that need not be sealed (its
 * variables declared, nothing allocated: see tv_model_plan in model.h), reading no value: so that
 * a file whose shapes disagree with its config is refused before the graph, the variables or the
 * data are allocated.  Same errors and message as tv_ckpt_read_variables (TV_ERR_MISMATCH,
 * TV_ERR_FORMAT); changes nothing. */
TV_MUST_CHECK int tv_ckpt_check_variables(tv_ckpt *c, const tv_varstore *vars);

/* Reads the array at path (any shape) into data[0..count).  Errors: TV_ERR_NOT_FOUND (absent),
 * TV_ERR_MISMATCH (another dtype or element count, or not a dataset), TV_ERR_INVALID (bad path),
 * TV_ERR_FORMAT (unreadable data).  data is unspecified after a TV_ERR_FORMAT. */
TV_MUST_CHECK int tv_ckpt_read_array(tv_ckpt *c, const char *path, tv_ckpt_dtype dtype,
                                     size_t count, void *data);

/* The dtype and element count of the array at path, to size a buffer before reading.
 * Errors: TV_ERR_NOT_FOUND, TV_ERR_MISMATCH (not a dataset of one of the four dtypes). */
TV_MUST_CHECK int tv_ckpt_array_info(tv_ckpt *c, const char *path, tv_ckpt_dtype *dtype,
                                     size_t *count);

/* 1 if an object (group or dataset, through hard links only) exists at path, 0 if not, -1 if
 * libhdf5 cannot read the links on the way (a damaged file: the error message, TV_ERR_FORMAT,
 * names the file and the path). */
int tv_ckpt_has(tv_ckpt *c, const char *path);

/* Scalar attribute name of the object at path.  Errors: TV_ERR_NOT_FOUND (object or attribute
 * absent), TV_ERR_MISMATCH (another type; a string longer than cap - 1), TV_ERR_INVALID. */
TV_MUST_CHECK int tv_ckpt_read_attr_i64(tv_ckpt *c, const char *path, const char *name,
                                        int64_t *value);
TV_MUST_CHECK int tv_ckpt_read_attr_f64(tv_ckpt *c, const char *path, const char *name,
                                        double *value);
TV_MUST_CHECK int tv_ckpt_read_attr_str(tv_ckpt *c, const char *path, const char *name, char *buf,
                                        size_t cap);

#endif
