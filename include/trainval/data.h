/* data.h — data sources (one interface, a reader per format), validation splits, evaluation
 * subsets and the batch loader, with the loader's part of a checkpoint.
 *
 * DATA SOURCES.  Every reader fills the same in-memory tv_dataset (below): an example count, a
 * feature shape (C, H, W) and type (uint8 or float32), the targets (int32 class ids, or float32
 * vectors) and optional class names.  tv_data_load picks the reader by tv_data_spec.format from
 * one table in source.c.  To add a reader: write `static int load_FOO(const tv_data_spec *,
 * tv_dataset *)` that honours the tv_dataset contract (everything owned, zeroed on failure, every
 * error a one-line message naming the file and the problem), add one row {"foo", load_FOO} to
 * that table, and give it a test on a real file in tests/test_data.c.
 *
 * IDX file format (LeCun's MNIST format; Fashion-MNIST uses it unchanged).  Fixed by its
 * authors, so it has no version field: a reader accepts exactly what is written here, and a file
 * that deviates in any way is rejected, never guessed at.  All integers are big-endian.
 *
 *   offset 0      uint8 0, uint8 0          two zero bytes
 *   offset 2      uint8 type                element type: 0x08 uint8, 0x09 int8, 0x0B int16,
 *                                           0x0C int32, 0x0D float32, 0x0E float64 (each
 *                                           big-endian, IEEE 754 for the floats); any other
 *                                           type is rejected
 *   offset 3      uint8 ndim                number of dimensions
 *   offset 4      uint32 dim[ndim]          each > 0; dim[0] is the example count
 *   offset 4+4*ndim   prod(dim) elements, row-major (last dimension fastest), no padding, and
 *                     nothing after the last element
 *
 *   features  ndim 3: (N, H, W), read as C = 1 (MNIST's images, magic 0x00000803 for uint8)
 *             ndim 4: (N, C, H, W), NCHW (an extension for colour data)
 *             ndim 2: (N, D), read as C = D, H = W = 1 (a table of D features per example)
 *             uint8 features stay uint8 (tv_dataset.images, the loader's table path); every
 *             other type is converted to float32 (tv_dataset.features); a float64 value
 *             outside float32's range, or one that is NaN or infinite, is an error
 *   targets   ndim 1 of an integer type: (N), one class id per example (magic 0x00000801 for
 *             uint8), each in [0, 1000000)
 *             ndim 1 or 2 of a float type: (N) or (N, T), T float targets per example
 *             (regression values or multilabel 0/1 indicators)
 *
 * CSV FILES (format "csv", csv.c).  RFC 4180: records end in LF or CRLF (the last one may lack
 * it); a leading UTF-8 byte order mark (as spreadsheets write) is skipped; a field is quoted with
 * '"' when it holds the delimiter, a quote (doubled: "") or a line break (kept in the field);
 * spaces are part of a field.  After skip_rows physical lines, the first record names the columns
 * (unless no_header); every record must have as many fields as the first.  A record whose first
 * byte is `comment` (when set) is skipped, as are empty lines. Columns are chosen by a list "a, b,
 * 3, 5-7" of column names (matched exactly first) and 0-based column numbers or inclusive ranges of
 * them, in the order written (features: each column once; a name holding a comma, or with spaces at
 * its ends, is chosen by its number). Features are numbers (strtod's decimal or hexadecimal floats,
 * inf and nan refused) read as float32, shape (D, 1, 1).  Targets: with float_targets, each target
 * column a number (target_dim = the number of target columns); otherwise one column of class
 * labels, either every value a non-negative integer < TV_DATA_MAX_CLASSES (class ids as written, no
 * names) or, when any value is not an integer, strings mapped to ids 0..K-1 in sorted byte order
 * (or first-seen order) with the strings kept as the class names.  An empty field is an error
 * unless has_fill (then it reads as fill; for string labels it stays an empty string).  Every error
 * names "<file>:<line>:<column>: <problem>" (line and column of the field's first byte, 1-based).
 * With y, its records are the targets of x's records, one to one (the counts must agree); target
 * then selects among y's columns.
 *
 * NPY FILES (format "npy", npy.c): the format numpy.save writes (numpy.lib.format), features
 * and targets in separate files.  Magic \x93NUMPY, version byte 1, 2 or 3 (a 2-byte header
 * length for 1.0, 4 bytes for 2.0 and 3.0, little-endian), a header that is the Python literal
 * {'descr': ..., 'fortran_order': ..., 'shape': (...)} (keys in any order), then exactly
 * prod(shape) elements: a header that promises more or fewer bytes than follow is an error.
 * dtypes u1 i1 i2 i4 i8 f4 f8 b1, little- or big-endian ('<', '>', '|'; '=' is read as
 * little-endian), C or Fortran order.  Features (N), (N, D), (N, H, W) or (N, C, H, W) as IDX's;
 * uint8 (C or Fortran order) stays uint8 (tv_dataset.images), every other dtype becomes float32 (a
 * value that is not a finite float32 is an error).  Targets (N) of an integer dtype are class ids
 * in [0, TV_DATA_MAX_CLASSES); with float_targets, (N) or (N, T) of any dtype (b1 for multilabel
 * indicators) become float targets.
 *
 * Either file may be gzip-compressed (RFC 1952), recognised by its first two bytes 1f 8b, never
 * by its name; a plain file is read as is.  The checks apply to the decompressed bytes;
 * concatenated gzip members are one stream, and bytes after the last member that are not gzip
 * are ignored, as zlib and gzip(1) do.  Every member's 8-byte trailer (CRC-32 and ISIZE) must be
 * there and agree: a stream that ends before it is truncated, even when every IDX byte arrived.
 *
 * Ownership: a tv_dataset owns its buffers; tv_dataset_free releases them.  A tv_loader
 * borrows its dataset, which must outlive it.  Nothing here keeps global state; a loader is used
 * by one thread at a time (with prefetch it also runs one thread of its own, hidden behind the
 * same calls).
 */
#ifndef TRAINVAL_DATA_H
#define TRAINVAL_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"
#include "trainval/rng.h"

/* Class ids are in [0, TV_DATA_MAX_CLASSES). */
#define TV_DATA_MAX_CLASSES 1000000

/* A dataset in memory: a plain value struct that owns its buffers.  Example i has D = c*h*w
 * features (NCHW), in exactly one of
 *   images[i*D .. (i+1)*D)     uint8, as in the file (the loader normalises through a table)
 *   features[i*D .. (i+1)*D)   float32 (every other element type, converted when read)
 * and its target in exactly one of
 *   labels[i]                              int32 class id in [0, num_classes) (classification)
 *   targets[i*target_dim .. (i+1)*target_dim)  float32 values (regression, or multilabel 0/1)
 * num_classes is 1 + the largest label of the file it was loaded from (kept by split); with
 * float targets it is 0.  names, when not NULL, holds num_classes NUL-terminated class names
 * (each its own malloc'd string; a reader that has none leaves it NULL).
 *
 * Out of core (rows not NULL, see OUT-OF-CORE DATA below): the four example buffers are NULL and
 * example i is row rowmap[i] of the row source (row i when rowmap is NULL); target_dim 0 means
 * class ids, as with labels. */
typedef struct tv_rows tv_rows;

typedef struct tv_dataset {
  uint8_t *images; /* n * c*h*w bytes, or NULL when features holds the examples */
  float *features; /* n * c*h*w floats, or NULL when images holds them */
  int32_t *labels; /* n class ids, or NULL when targets holds them */
  float *targets;  /* n * target_dim floats, or NULL */
  int target_dim;  /* values per example in targets; 0 with labels */
  char **names;    /* num_classes class names, or NULL */
  uint32_t n;
  int c, h, w; /* IDX3 images give c = 1 */
  int num_classes;
  tv_rows *rows;    /* out of core: the examples' source (a counted share), or NULL */
  uint32_t *rowmap; /* with rows: n ascending source rows (owned), or NULL for 0..n-1 */
} tv_dataset;

/* OUT-OF-CORE DATA (data.memory_mb).  An HDF5 training or test file whose features and targets
 * need more than the budget in memory stays on disk behind a row source; the tv_dataset then
 * holds only its shape, its class count and (after tv_dataset_split) which rows it selects.
 * The loader (tv_loader_new) reads such a dataset in blocks of whole HDF5 chunks on its prefetch
 * thread: with shuffle in the order of blockorder.h over the source's rows (rows the dataset does
 * not select, such as the valid split's, pass through the order and are skipped), without it
 * in dataset order; the budget bounds everything the data then holds (the block, the shuffle
 * buffer, the reader's buffer and chunk cache, the orders, the row maps and a validation pass:
 * exactly what counts is at tv_loader_new).  eval --predict reads an HDF5 input larger than the
 * budget the same way, features alone.  The contract of a row source:
 *   - any thread may read it: reads are serialised (a split's train and valid shares are read by
 *     the loader's thread and the caller's at once);
 *   - tv_rows_read(r, a, b, x, labels, targets) reads rows [a, b) (a < b <= tv_rows_count) into
 *     the caller's buffers: x (b - a) * D values of tv_rows_feature_size bytes (uint8 as stored,
 *     or float32 converted as the in-memory reader converts them), and either labels (b - a
 *     class ids, when the dataset's target_dim is 0) or targets ((b - a) * target_dim floats);
 *     any of the three may be NULL (not read).  Every value is checked as the in-memory reader
 *     checks it; errors are one line naming the file and the dataset (TV_ERR_FORMAT, TV_ERR_IO,
 *     TV_ERR_INVALID for a bad range);
 *   - it holds one conversion buffer of tv_rows_work_bytes bytes (at most an eighth of the budget,
 *     at least one example), libhdf5's chunk cache of the targets (one chunk,
 *     tv_rows_cache_bytes) and nothing that grows with the file;
 *   - tv_rows_share counts one more owner, tv_rows_release one fewer (the last closes the file).
 * A few chosen examples of such a dataset (eval's misclassified grid) are read back with
 * tv_dataset_read_examples, through its row map; the targets of an evaluated subset are kept by
 * the evaluation pass itself (pipeline.h, tv_eval_pass_keep).
 * No libhdf5 type appears outside h5data.c.  Out of core the loader's thread reads the file, so
 * it allocates inside libhdf5, and a read can fail (a file changed after it was checked): the
 * batches built from a failed read hold zeros and class 0, and tv_loader_status reports the
 * error, which every caller checks after each batch. */
uint64_t tv_rows_count(const tv_rows *r);
size_t tv_rows_feature_size(const tv_rows *r); /* 1 (uint8) or 4 (float32) */
uint64_t tv_rows_chunk(const tv_rows *r);      /* rows per HDF5 chunk of the features; 0: none */
uint64_t tv_rows_budget(const tv_rows *r);     /* data.memory_mb in bytes */
size_t tv_rows_work_bytes(const tv_rows *r);
/* The bytes of libhdf5's chunk cache the source keeps: one chunk of the targets (the features'
 * dataset has none: every read is of whole chunks); 0 without targets. */
size_t tv_rows_cache_bytes(const tv_rows *r);
TV_MUST_CHECK int tv_rows_read(tv_rows *r, uint64_t a, uint64_t b, void *x, int32_t *labels,
                               float *targets);
/* Asks the kernel to start reading rows [a, b) of the features (posix_fadvise WILLNEED on their
 * chunks' bytes), so that the read of them that follows finds them in the page cache: the loader
 * calls it for the next block while the rows of the current one are used.  Best effort, no
 * memory of ours; cannot fail. */
void tv_rows_will_need(tv_rows *r, uint64_t a, uint64_t b);
tv_rows *tv_rows_share(tv_rows *r); /* returns r; NULL-safe */
void tv_rows_release(tv_rows *r);   /* NULL-safe */

/* 1 when ds's targets are class ids (labels, or an out-of-core dataset with target_dim 0). */
int tv_dataset_has_labels(const tv_dataset *ds);

/* How an image folder's images are made the configured size (tv_data_spec.resize). */
typedef enum tv_resize {
  TV_RESIZE_NONE,     /* an image of another size is an error naming it */
  TV_RESIZE_BILINEAR, /* resampled to height x width (see IMAGE FOLDERS below) */
  TV_RESIZE__COUNT
} tv_resize;

/* Where a data source is and how to read it: the reader (format) and its files.  Readers that
 * need options get fields of their own here; a zeroed field is the reader's default.  Every
 * pointer is borrowed for the call. */
typedef struct tv_data_spec {
  const char *format; /* "idx" | "csv" | "npy" | "hdf5" | "imgdir", or "text" (a corpus of
                       * token models, corpus.h: x names it) */
  const char *x;      /* the features file */
  const char *y;      /* the targets file; csv: NULL or "" for targets in x */
  /* The targets the caller needs: 0 class ids (tv_dataset.labels), 1 float targets
   * (tv_dataset.targets).  IDX ignores it (the element type decides). */
  int float_targets;
  /* ---- csv (CSV FILES below) ---- */
  const char *features; /* columns of x: "" every column that is not a target */
  const char *target;   /* columns holding the targets ("" the last column, of y when given) */
  char delimiter;       /* 0: ',' */
  char comment;         /* 0: none; else a record starting with it is skipped */
  int no_header;        /* 1: the first record (after skip_rows) is data, not column names */
  int skip_rows;        /* lines skipped before the header (or the data) */
  int has_fill;         /* 1: an empty field reads as fill; 0: it is an error */
  double fill;
  int first_seen; /* string class labels: 0 ids in sorted (byte) order, 1 first seen */
  /* csv, npy: 1 reads the features alone, no targets (the inputs of a prediction; y unused):
   * csv's are the features columns, or every column when features is "" */
  int features_only;
  /* ---- hdf5 (HDF5 DATA FILES below) ---- */
  const char *x_dataset; /* the features dataset in x, "/train/images" */
  const char *y_dataset; /* the targets dataset in y (y may be x itself), "/train/labels" */
  /* hdf5: data.memory_mb in bytes; 0 (no budget) reads the data into memory, as does data
   * that fits; larger data stays on disk (OUT-OF-CORE DATA).  Other readers ignore it. */
  uint64_t memory_bytes;
  /* ---- imgdir (IMAGE FOLDERS below) ---- */
  int channels;      /* every image is made this many channels (1 grey, 3 RGB) */
  int height, width; /* the size every image has (or is resized to) */
  tv_resize resize;  /* what an image of another size gets */
} tv_data_spec;

/* Reads the data source spec describes into *ds with the reader its format names (see DATA
 * SOURCES above).  *ds is overwritten on entry; on success the caller owns it (tv_dataset_free).
 * Errors: TV_ERR_INVALID for a format no reader has (the message lists the readers), and those
 * of the reader (for "idx": tv_dataset_load_idx's; for "csv": TV_ERR_NOT_FOUND, TV_ERR_IO,
 * TV_ERR_FORMAT "<file>:<line>:<col>: ..." for a malformed record or value, TV_ERR_INVALID for
 * a column list naming no column, TV_ERR_NOMEM).  On failure *ds is zeroed. */
TV_MUST_CHECK int tv_data_load(const tv_data_spec *spec, tv_dataset *ds);

/* A plain (not gzip'd) .npy file of features read in blocks of rows, so that its values are
 * never all in memory (eval --predict streams a .npy file larger than the data budget).
 * tv_npy_rows_open reads and checks the header as the "npy" reader does (NPY FILES above: the same
 * errors for a header numpy does not write or a body of the wrong size; TV_ERR_NOT_FOUND,
 * TV_ERR_IO), keeping the file open and none of its body.  tv_npy_rows_shape gives the
 * examples' count and shape (n, c, h, w; no data).  tv_npy_rows_read reads rows [first, first +
 * n) into *ds as tv_data_load's features_only dataset of those rows: uint8 stays uint8, any
 * other dtype becomes float32, each value checked finite (messages number elements in the whole
 * array); C order in one read, Fortran order in one read per feature (each feature's rows are
 * contiguous there).  Its memory is the block's bytes as stored and as held.  Errors:
 * TV_ERR_INVALID for rows out of range, TV_ERR_IO, TV_ERR_FORMAT (a bad value, a file that
 * shrank), TV_ERR_NOMEM; *ds is zeroed on failure.  tv_npy_rows_close is NULL-safe. */
typedef struct tv_npy_rows tv_npy_rows;
TV_MUST_CHECK int tv_npy_rows_open(const char *path, tv_npy_rows **out);
void tv_npy_rows_shape(const tv_npy_rows *r, tv_dataset *shape);
TV_MUST_CHECK int tv_npy_rows_read(tv_npy_rows *r, uint64_t first, uint32_t n, tv_dataset *ds);
void tv_npy_rows_close(tv_npy_rows *r);

/* What reading a data source will take in memory, planned before anything is read (budget.h,
 * --max-memory): held, the tv_dataset's buffers once read; peak, the most the read holds at once
 * (held plus the buffers it frees before returning: a file read whole, raw values before their
 * conversion, a conversion slab).  Out of core (HDF5 data larger than data.memory_mb) held is 0,
 * peak the budget and out_of_core 1. */
typedef struct tv_data_need {
  uint64_t held, peak;
  int out_of_core;
} tv_data_need;

/* Plans the read tv_data_load(spec) would do, from the files' headers alone (see each reader):
 *   idx    both headers: features N*D values (uint8 kept, 1 byte; any other type 4 bytes after
 *          conversion, its raw values read first), targets 4 bytes a value (raw values first)
 *   npy    both headers: the same sizes; each file is read whole first (its bytes in the peak)
 *   csv    one pass counting fields (delimiters and line ends, one more at the end of the text):
 *          the text read whole, one field
 *          record (pointer, length, line, column) per field in an array grown by doubling, and a
 *          float32 (or class id) per field; an upper bound, since every column counts
 *   hdf5   the datasets' dataspaces and types (in the bounded child, as the reader's pass): the
 *          elements times 1 (uint8 features) or 4 bytes, a conversion slab of 2^20 8-byte values
 *          per dataset, and integer targets wanted as floats twice; or out of core (above)
 *   imgdir the class folders' image files counted: c*h*w bytes and a class id each
 *   text   not planned (a corpus is read whole; tv_data_estimate gives 0)
 * Errors: TV_ERR_INVALID (a format no reader has), and those of opening the files and reading
 * their headers (TV_ERR_NOT_FOUND, TV_ERR_IO, TV_ERR_FORMAT, TV_ERR_NOMEM), naming the file.  On
 * failure *need is zeroed. */
TV_MUST_CHECK int tv_data_estimate(const tv_data_spec *spec, tv_data_need *need);

/* HDF5 DATA FILES.  tv_dataset_load_h5 reads two named datasets, features and targets (one file
 * or two; the data's own layout, nothing trainval-specific):
 *
 *   features   rank 2 (N, D): read as C = D, H = W = 1; rank 3 (N, H, W): C = 1; rank 4
 *              (N, C, H, W): NCHW.  Any HDF5 integer or IEEE float type of either byte order:
 *              8-bit unsigned integers stay uint8 (tv_dataset.images), every other type becomes
 *              float32 (tv_dataset.features); a value that is NaN, infinite or beyond float32's
 *              range is an error naming the file, the dataset and the element
 *   targets    rank 1 (N) of an integer type: class ids in [0, TV_DATA_MAX_CLASSES); rank 1 or 2
 *              ((N) or (N, T)) of a float type: float targets
 *
 * Both must have the same N >= 1.  Dataset paths are absolute ("/train/images") and followed
 * through hard links only; external storage, virtual datasets and soft or external links are
 * refused (they would make a data file open other files).  Sizes are checked before anything is
 * allocated: an unfiltered dataset must have all its bytes stored, a filtered (compressed) one
 * cannot claim more than TV_H5_MAX_EXPANSION times what it stores, and data read into memory must
 * fit in physical memory (out of core it stays on disk: tv_dataset_open_h5); an unfiltered
 * chunked dataset must store every chunk of its chunk shape (a damaged shape would make libhdf5
 * copy past its buffers).  The data is read in slabs of examples (a bounded conversion buffer);
 * float32 and int32 data as stored, without libhdf5's conversion.
 *
 * libhdf5 crashes or loops on some damaged files, so every HDF5 data file is parsed first in a
 * child process limited in CPU time (20 s plus 1 s per 16 MiB of file) and memory (4 GiB beyond
 * what the process maps), which opens it and reads and checks every example of both datasets as
 * the reader does, keeping nothing: it streams every chunk through one slab of 2^20 values, so
 * its memory does not grow with the file (base/bounded.h).  Only if that child returns does this
 * process parse the file; a crash or a hang in it is the error "FILE: damaged HDF5 data file
 * (HDF5 crashed parsing it: Segmentation fault)" or "(HDF5 did not finish parsing it in N s of
 * CPU)".  The price: the file is read twice. */
#define TV_H5_MAX_EXPANSION 1100 /* above deflate's largest ratio (1032:1) */

/* Reads x_dataset of the HDF5 file x_path and y_dataset of y_path (the same file or another)
 * into *ds, as described above.  *ds is overwritten on entry; on success the caller owns it
 * (tv_dataset_free).
 * Errors (every message names the file, and the dataset where there is one):
 *   TV_ERR_NOT_FOUND  a file does not exist, or holds no object at the dataset path
 *   TV_ERR_IO         a file cannot be opened or read (HDF5's reason appended)
 *   TV_ERR_FORMAT     not an HDF5 file or a damaged one (libhdf5 crashing or looping on it in
 *                     the bounded child included), a path that is not a dataset or goes
 *                     through a soft or external link, external or virtual storage, a type that
 *                     is not an integer or IEEE float, a rank not listed above, an empty dataset,
 *                     counts that differ (both named), data stored short of its size, a class id
 *                     out of range, a value that is not finite
 *   TV_ERR_INVALID    a dataset path that is not absolute ("/a/b")
 *   TV_ERR_NOMEM      the data does not fit in memory (refused before it is allocated), or an
 *                     allocation failed
 * With y_path and y_dataset NULL only the features are read (labels NULL, no targets): the
 * inputs of a prediction.  On failure *ds is zeroed. */
TV_MUST_CHECK int tv_dataset_load_h5(const char *x_path, const char *x_dataset, const char *y_path,
                                     const char *y_dataset, tv_dataset *ds);

/* tv_dataset_load_h5 with a memory budget (memory_bytes, 0: none): data whose features and
 * targets need more than it in memory is not read but opened as a row source (OUT-OF-CORE DATA:
 * ds->rows), after the same bounded child has read and checked every example; integer targets
 * are then delivered as float targets when float_targets is 1 (in memory, source.c converts).
 * With y_path and y_dataset NULL (the inputs of a prediction) the features alone are measured
 * against the budget, and a row source without targets reads every example as class 0.
 * Errors as tv_dataset_load_h5's; on failure *ds is zeroed. */
TV_MUST_CHECK int tv_dataset_open_h5(const char *x_path, const char *x_dataset, const char *y_path,
                                     const char *y_dataset, int float_targets,
                                     uint64_t memory_bytes, tv_dataset *ds);

/* The same from an HDF5 file image in memory (len bytes at image, borrowed, read-only; both
 * datasets from it), named `name` in messages: the entry point for fuzzing the reader without
 * a file.  Errors and the state after failure as tv_dataset_load_h5's. */
TV_MUST_CHECK int tv_dataset_load_h5_image(const void *image, size_t len, const char *name,
                                           const char *x_dataset, const char *y_dataset,
                                           tv_dataset *ds); /* y_dataset NULL: features only */

/* IMAGE FOLDERS.  tv_dataset_load_imgdir reads a folder with one subfolder per class:
 *
 *   DIR/<class>/<file>      PNG (libpng) or JPEG (libjpeg), decoded as what the file's first
 *                           bytes say (89 50 4E 47 0D 0A 1A 0A, or FF D8 FF), whatever its name
 *
 * Classes are the subfolders' names sorted bytewise (strcmp): the first is class 0; the names are
 * kept (tv_dataset.names).  Examples are in class order, then file-name order, so a folder
 * always loads the same way.  Skipped: entries whose names start with '.', files in DIR itself,
 * and files in a class folder whose names do not end in .png, .jpg or .jpeg (any case); a class
 * folder without images is an error, and so is an image file that is neither.  Every image
 * is made opts.channels channels (1 grey, 3 RGB) and opts.height x opts.width pixels, as uint8
 * NCHW (tv_dataset.images):
 *   channels   grey -> RGB repeats the grey value; RGB -> grey is BT.601 luma
 *              (299 R + 587 G + 114 B + 500) / 1000 for PNG, libjpeg's own Y channel for JPEG;
 *              an alpha channel is dropped; palettes are expanded; 16-bit samples keep their high
 *              byte (libpng's strip_16)
 *   size       TV_RESIZE_NONE: an image of another size is an error naming it and both sizes.
 *              TV_RESIZE_BILINEAR: output pixel (y, x) samples the input at
 *              sy = max(0, (y + 0.5) * H_in / H_out - 0.5) (and sx likewise), interpolating the
 *              four neighbours (the last row/column repeated at the edge) and rounding to the
 *              nearest uint8 (PyTorch's interpolate(mode='bilinear', align_corners=False,
 *              antialias=False), OpenCV's INTER_LINEAR)
 * An image wider or taller than TV_IMGDIR_MAX_SIDE, or of more than TV_IMGDIR_MAX_PIXELS pixels, is
 * refused before it is decoded; the whole folder must fit in physical memory (checked once the
 * files are counted, before anything is decoded).  A damaged or truncated image is a one-line
 * error naming the file and libpng's or libjpeg's reason (libjpeg's warnings about corrupt data,
 * such as a premature end of the file, are errors here). */
#define TV_IMGDIR_MAX_SIDE   16384
#define TV_IMGDIR_MAX_PIXELS ((uint64_t)1 << 26)

typedef struct tv_imgdir_opts {
  int channels;      /* 1 or 3 */
  int height, width; /* each in [1, TV_IMGDIR_MAX_SIDE] */
  tv_resize resize;
} tv_imgdir_opts;

/* Decodes one PNG or JPEG image (len bytes at data, borrowed), named `name` in messages, into out
 * (o->channels * o->height * o->width bytes, CHW), as IMAGE FOLDERS describes: the entry point
 * for fuzzing the decoders without a file.  Errors: TV_ERR_FORMAT (neither PNG nor JPEG, damaged,
 * truncated, too large, another size without resizing, a JPEG colour space other than grey,
 * YCbCr or RGB), TV_ERR_INVALID (bad options), TV_ERR_NOMEM.  On failure out's content is
 * unspecified. */
TV_MUST_CHECK int tv_imgdir_decode(const void *data, size_t len, const char *name,
                                   const tv_imgdir_opts *o, uint8_t *out);

/* Reads the file at path and decodes it as tv_imgdir_decode does.  Errors also TV_ERR_NOT_FOUND,
 * TV_ERR_IO (naming the file). */
TV_MUST_CHECK int tv_imgdir_load(const char *path, const tv_imgdir_opts *o, uint8_t *out);

/* Reads every image file directly in dir (names ending in .png, .jpg or .jpeg in any case, not
 * starting with '.'; sorted bytewise) into *ds as uint8 images of o's shape, each labelled 0
 * (num_classes 0, no class names): the inputs of a prediction.  *files receives the n file
 * names (each malloc'd, then the array; free them with tv_imgdir_files_free).
 * Errors: those of tv_dataset_load_imgdir, and TV_ERR_FORMAT for a folder without images.  On
 * failure *ds is zeroed and *files NULL. */
TV_MUST_CHECK int tv_dataset_load_image_files(const char *dir, const tv_imgdir_opts *o,
                                              tv_dataset *ds, char ***files);

/* Frees n names from tv_dataset_load_image_files and the array.  NULL-safe. */
void tv_imgdir_files_free(char **files, uint32_t n);

/* Reads the image folder dir (see IMAGE FOLDERS) into *ds: uint8 images of o's shape, int32
 * labels, class names.  *ds is overwritten on entry; on success the caller owns it.
 * Errors: TV_ERR_NOT_FOUND (dir missing), TV_ERR_IO (unreadable folder or file), TV_ERR_FORMAT
 * (no class folders, an empty class, any image error above, naming the image), TV_ERR_INVALID
 * (bad options), TV_ERR_NOMEM (the images do not fit in memory, refused before decoding).
 * On failure *ds is zeroed. */
TV_MUST_CHECK int tv_dataset_load_imgdir(const char *dir, const tv_imgdir_opts *o, tv_dataset *ds);

/* Bytes per feature value of ds as stored: 1 (images) or 4 (features).  Cannot fail. */
size_t tv_dataset_feature_size(const tv_dataset *ds);

/* Reads a features IDX file and a targets IDX file (each plain or gzip) into *ds.  *ds is
 * overwritten on entry (not freed: pass a fresh or freed one); on success the caller owns it
 * and releases it with tv_dataset_free.
 * Errors (the message names the file):
 *   TV_ERR_NOT_FOUND  a file does not exist
 *   TV_ERR_IO         a file cannot be opened or read
 *   TV_ERR_FORMAT     wrong magic or element type, a zero dimension, a truncated header or body
 *                     ("<path>: truncated: expected N bytes of pixel data, got M"; a type other
 *                     than uint8 is named in it: "pixel data (element type 0x0d, float32)"), bytes
 * after the last element, a corrupt gzip stream (zlib's message), a class id out of range, a float
 * that is not finite (or a float64 beyond float32), or example counts that differ (both files
 *                     named)
 *   TV_ERR_NOMEM      the data cannot be allocated.  Memory follows the file, not the header:
 *                     a plain file shorter than its header promises is truncated before
 *                     anything is allocated, and a gzip body grows as it inflates
 * On failure *ds is zeroed. */
TV_MUST_CHECK int tv_dataset_load_idx(const char *images_path, const char *labels_path,
                                      tv_dataset *ds);

/* Resolves "<dir>/<stem>": tries the name as given first, then with ".gz" appended (or, when
 * stem ends in ".gz", removed), and writes the first that exists to out (cap bytes).  dir may be
 * NULL or "" for stem alone.  Existence only: the file is not opened.
 * Errors: TV_ERR_NOT_FOUND if neither exists (the message names both names tried),
 * TV_ERR_INVALID if a name does not fit in cap.  On failure out holds "" (when cap > 0). */
TV_MUST_CHECK int tv_data_find(const char *dir, const char *stem, char *out, size_t cap);

/* Frees the buffers and zeroes *ds.  NULL-safe, and safe on a zeroed dataset. */
void tv_dataset_free(tv_dataset *ds);

/* Carves a validation split out of full.  A permutation of 0..n-1 is drawn from
 * tv_rng_seed(seed, TV_RNG_SPLIT); its first round(n * valid_fraction) entries go to valid, the
 * rest to train.  Both keep the original order of full (the split selects, the loader shuffles),
 * so the result depends only on full, valid_fraction and seed.  valid_fraction 0 gives an empty
 * valid (n = 0, NULL buffers) and a copy of full as train.  Data is copied: full is unchanged,
 * and train and valid are new datasets the caller frees.  c, h, w, num_classes, target_dim and the
 * class names (each side its own copy) come from full (a class absent from one side does not
 * shrink num_classes); features and targets keep their type.
 * Errors: TV_ERR_INVALID if valid_fraction is not in [0, 1) or leaves train empty,
 * TV_ERR_NOMEM.  On failure *train and *valid are zeroed. */
TV_MUST_CHECK int tv_dataset_split(const tv_dataset *full, double valid_fraction, uint64_t seed,
                                   tv_dataset *train, tv_dataset *valid);

/* Chooses n of ds's examples for evaluation: the first n (random == 0) or n drawn without
 * replacement from tv_rng_seed(seed, TV_RNG_SUBSET) (random != 0; seed is ignored otherwise).
 * *idx receives a malloc'd array of the n chosen indices in increasing order (the caller frees
 * it with free()).  *hash identifies the subset: 64-bit FNV-1a (offset basis 0xcbf29ce484222325,
 * prime 0x100000001b3) over the bytes of ds->n, then n, then each index, each a uint32 in
 * little-endian order.  Equal hashes mean the same indices of a dataset of the same size,
 * whichever way they were chosen.
 * Errors: TV_ERR_INVALID if n is 0 or greater than ds->n, TV_ERR_NOMEM.  On failure *idx is
 * NULL and *hash 0. */
TV_MUST_CHECK int tv_dataset_subset(const tv_dataset *ds, uint32_t n, int random, uint64_t seed,
                                    uint32_t **idx, uint64_t *hash);

/* Reads the features of examples at[0..m) of ds (in any order, repeats allowed) into x: m * D
 * values of tv_dataset_feature_size bytes (uint8 as stored, or float32), example j at
 * x[j * D ..), as the loader reads them before normalising.  In memory a copy; out of core one
 * tv_rows_read per example (its row through ds->rowmap), so it suits a few examples (eval's
 * misclassified grid), not a pass.  x is the caller's; nothing is kept.
 * Errors: TV_ERR_INVALID (an index >= ds->n, naming it), and out of core those of tv_rows_read
 * (TV_ERR_FORMAT, TV_ERR_IO naming the file and the dataset).  On failure x's content is
 * unspecified. */
TV_MUST_CHECK int tv_dataset_read_examples(const tv_dataset *ds, const uint32_t *at, uint32_t m,
                                           void *x);

/* Normalisation applied by the loader: x = (pixel * scale - mean) / std, evaluated in float;
 * for float32 features the feature value takes the pixel's place in the same expression.  With
 * channels == 0 one mean and std serve every channel (std finite and > 0).  With channels = C
 * in 1..TV_NORM_MAX_CHANNELS, which must equal the dataset's c, channel k uses channel_mean[k] and
 * channel_std[k] (each std finite and > 0) and the scalar mean and std are ignored.  A designated
 * initializer that names only scale, mean and std gives channels 0, so code written before
 * per-channel normalisation keeps its meaning. TV_NORM_MAX_CHANNELS is the one limit on per-channel
 * statistics: the config's data.mean and data.std lists are capped by it too (config.h), so a
 * config that asks for more is refused where it is read, with its file and line. */
#define TV_NORM_MAX_CHANNELS 64

typedef struct tv_norm {
  float scale, mean, std;
  int channels; /* 0: the scalar mean and std for all channels; else the arrays below */
  float channel_mean[TV_NORM_MAX_CHANNELS];
  float channel_std[TV_NORM_MAX_CHANNELS];
  /* Per-feature standardisation after the above (tv_standardize): x_j = (x_j - mean_j) / std_j
   * for each of the D = c*h*w values of an example.  NULL (the default): none.  Borrowed: a
   * loader copies them. */
  const float *feature_mean, *feature_std;
} tv_norm;

/* Per-feature standardisation fitted on a training split: for each of the D values of an
 * example, after the loader's normalisation (tv_norm without feature arrays), the mean and the
 * population standard deviation (ddof 0, scikit-learn's StandardScaler), accumulated in double;
 * a std of 0 (a constant feature) is stored as 1, so that feature passes centred.  Stored in
 * checkpoints (ckpt.h, DATA LAYOUT) so that eval applies what training fitted. */
typedef struct tv_standardize {
  int d;
  float *mean, *std; /* d each, owned */
} tv_standardize;

/* Fits *out on every example of ds normalised by norm (its feature arrays ignored).  *out is
 * overwritten; the caller frees it.  Errors: TV_ERR_INVALID (an empty dataset), TV_ERR_NOMEM.
 * On failure *out is zeroed. */
TV_MUST_CHECK int tv_standardize_fit(const tv_dataset *ds, tv_norm norm, tv_standardize *out);
/* Frees the arrays and zeroes *s.  NULL-safe. */
void tv_standardize_free(tv_standardize *s);
/* Sets norm's feature arrays to s's (borrowed: s must outlive the norm's uses). */
tv_norm tv_norm_with_standardize(tv_norm norm, const tv_standardize *s);

/* Pixels mapped to [0, 1]. */
#define TV_NORM_UNIT ((tv_norm){.scale = 1.0f / 255.0f, .mean = 0.0f, .std = 1.0f})

/* Training-time augmentation, drawn per example from tv_rng_seed(seed, TV_RNG_AUGMENT).  For
 * each example, in the order the batches are returned:
 *   if pad > 0:  oy = tv_rng_below(r, 2*pad + 1), then ox = tv_rng_below(r, 2*pad + 1)
 *   if flip:     f  = tv_rng_u64(r) >> 63
 * and then, for every channel, output pixel (y, x) is the input pixel
 *   (y + oy - pad,  (f ? w-1-x : x) + ox - pad)
 * or pixel byte 0 where that lies outside the image.  This is torchvision's
 * RandomCrop(size, padding=pad) (pad with 0, crop an h x w window at (oy, ox) of the padded
 * image) followed by RandomHorizontalFlip(p=0.5), both before normalisation: padding normalises
 * like a black pixel, (0 * scale - mean) / std.  Zeroed (the default), nothing is drawn and
 * examples pass unchanged.  The evaluation loop (tv_evaluate) never sets it. */
typedef struct tv_augment {
  int flip; /* nonzero: mirror left-right with probability 1/2 */
  int pad;  /* 0..min(h, w): zero-pad by pad pixels on each side, then crop h x w at random */
} tv_augment;

/* Most batches a prefetching loader keeps ready (tv_loader_opts.prefetch). */
#define TV_LOADER_MAX_PREFETCH 64

typedef struct tv_loader tv_loader;

typedef struct tv_loader_opts {
  uint32_t batch_size; /* > 0 */
  int shuffle;         /* reshuffle every epoch; otherwise dataset (or subset) order */
  int drop_last;       /* skip an epoch's last batch when it would be short */
  uint64_t seed;       /* run seed; the loader uses its TV_RNG_SHUFFLE stream */
  tv_norm norm;
  const uint32_t *subset; /* indices into the dataset to iterate over (copied); NULL = all */
  uint32_t subset_n;
  tv_augment augment; /* training batches only; zeroed = none */
  uint32_t prefetch;  /* 0: synchronous; K in 1..TV_LOADER_MAX_PREFETCH: a background thread */
  /* Data-parallel part (dist.h): with parts P > 1, the loader still walks the one global order
   * in global batches of batch_size, and returns only rows [off, off + count) of each, as
   * tv_dist_slice(k, P, part) gives them for a batch of k rows; it decodes, normalises and
   * augments those rows alone (the augmentation draws of the other rows are still made, so a
   * row is augmented as the whole batch's loader augments it).  0 or 1: the whole batch. */
  uint32_t part, parts;
} tv_loader_opts;

/* A loader over ds (borrowed: it must outlive the loader and stay unchanged) that yields
 * batches in epochs.  The epoch's order is perm, a permutation of 0..m-1 (m = subset_n, or
 * ds->n without a subset) mapped through the subset.  With shuffle, the order of each epoch is
 * the identity shuffled by the generator tv_rng_seed(seed, TV_RNG_SHUFFLE), continued from
 * epoch to epoch, so epoch e's order depends only on seed, m and e.  Augmentation (see
 * tv_augment) draws from its own generator, continued from batch to batch and epoch to epoch.
 * Builds a 256-entry table of normalised values per channel so a batch is a table look-up per
 * pixel.
 *
 * Prefetch.  With prefetch = K > 0 the loader starts one background thread (POSIX threads) that
 * prepares the next K batches (order, augmentation, conversion) into a ring of K + 1 buffers
 * allocated here (K ready, one lent to the caller by tv_loader_next_ptr) while the caller trains.
 * The batches, and every state tv_loader_get_state reports, are bitwise those of the synchronous
 * loader (prefetch 0) with the same options: the thread only moves work earlier.  The thread
 * blocks on condition variables when the ring is full (no polling), blocks all signals (they go
 * to the caller's threads), never allocates and cannot fail.  It is the one thread trainval adds
 * to the process's compute team (ctx.h): a conversion thread that works about 0.1 ms per
 * 128 x 784 batch and then sleeps, so it needs no core of its own; --threads counts the team.
 * The calls below are still made from one thread at a time.
 *
 * float32 features (ds->features) are normalised value by value, without the table.  Targets
 * come as the dataset holds them: class ids (ds->labels) or target_dim floats per example
 * (ds->targets, copied unchanged); tv_loader_next_batch returns either kind, tv_loader_next and
 * tv_loader_next_ptr only class ids.  Augmentation of float32 features is refused
 * (TV_ERR_INVALID): flips and crops are defined on images.
 *
 * A norm with feature arrays is applied after the channel normalisation (and after augmentation),
 * value by value; the loader keeps its own copy.
 *
 * The loader's state and its part of a checkpoint are global: they do not depend on the part, so
 * a state saved by a loader of P parts restores one of any other P.
 *
 * Out of core (ds->rows, OUT-OF-CORE DATA): the batches are built from the data file on the
 * prefetch thread (or in the call without prefetch).  Block: whole chunks of the features dataset
 * (tv_rows_chunk; 1 row when it is not chunked) making about budget / 8 bytes, at most 8 MiB, at
 * least one chunk.  With shuffle the order is blockorder.h's over all the source's rows, seeded by
 * seed, in blocks of that size, with a buffer of (budget - rest) / (row + 24) slots (a row:
 * features and target as stored; 24: the slot's entries in the reload list and in two orders),
 * rows the dataset does not select skipped; epoch e's order is a function of the file, the
 * budget, the split (valid_fraction) and seed; a subset with shuffle is refused.  The budget
 * bounds every byte the data holds in place of the examples in memory; rest is what is not a
 * slot:
 *   - the block (block rows) and the row source's conversion buffer (tv_rows_work_bytes) and
 *     libhdf5 chunk cache (tv_rows_cache_bytes);
 *   - two orders' block ids (4 bytes a block each: the caller's and the prefetch thread's,
 *     counted with or without prefetch so that the order does not depend on it);
 *   - with a rowmap (a split; the other share is the valid split): a bit per source row, both
 *     shares' row maps (4 bytes a source row) and one validation pass over the other share: a
 *     second block and 12 bytes a row of it (its loader's order and subset, tv_evaluate's index).
 * A checkpoint whose order the version before this accounting sized (its slots: the budget less
 * the block and the reader's buffer, per row) resumes with that order as it was, so exactly
 * (tv_loader_ckpt_read re-sizes the buffer to it); any other slot count is refused.
 * Not counted, since data held in memory needs them as well (they are "the model"'s): the batch
 * ring (prefetch + 1 batches of floats), the model's activations.  Nor libhdf5's own working
 * memory beside its chunk cache: the open file's metadata cache (its structure about 0.5 MiB,
 * then the chunk index it caches, about 330 bytes a chunk, within libhdf5's default 32 MiB
 * cap) and its free lists (about 1-2 MiB; measured with libhdf5 1.10 under massif and
 * H5get_free_list_sizes).  Capping the metadata cache at 64 KiB made a 10000-chunk file's pass
 * 2.6 times slower, so it keeps libhdf5's default.
 * Without shuffle, dataset (subset) order, each block read when a row of it is next.  Each block
 * read asks the kernel to read the next one ahead (tv_rows_will_need: the next in the block order,
 * or in the file), so that in steady state the read finds its bytes in the page cache.  Without
 * shuffle (eval, predict) the memory is the block, the row source's buffer and cache, the perm (4
 * bytes an example: eval --predict bounds it by reading a file in parts, each a dataset of a
 * rowmap over the source) and the batch ring.
 *
 * Errors: TV_ERR_INVALID for batch_size 0, parts > batch_size or part >= parts, float targets with
 * target_dim < 1, a bad norm (also a feature std that is not finite and > 0, or only one of the two
 * feature arrays) (a std not > 0, channels not 0 and not ds->c, channels over
 * TV_NORM_MAX_CHANNELS), a bad augment (pad < 0 or > min(h, w)), prefetch over
 * TV_LOADER_MAX_PREFETCH, an empty dataset or subset, a subset index >= ds->n, drop_last with
 * fewer than batch_size examples (no batch at all), or out of core a budget that leaves no slot
 * beside a block (the message names data.memory_mb); TV_ERR_NOMEM, also when the thread cannot be
 * started.  On failure *out is NULL and no thread runs. */
TV_MUST_CHECK int tv_loader_new(const tv_dataset *ds, const tv_loader_opts *o, tv_loader **out);

/* Writes the next batch: x[i*D + j] = normalised pixel j of example i, y[i] = its label, for
 * i < *n, where x holds batch_size*D floats and y batch_size ints (left untouched, and may be
 * NULL, when the dataset has float targets: read those with tv_loader_next_batch).  *n is
 * batch_size except for the last batch of an epoch without drop_last (with parts: this part's
 * rows of such a batch, possibly 0); rows *n..batch_size-1 are left as they were. *epoch_done is 1
 * on the call that returned an epoch's last batch, 0 otherwise; the next call starts the next epoch
 * (reshuffled when shuffle is on: the reshuffle happens inside this call). With prefetch it waits
 * (blocking, not spinning) for the thread's next batch and copies it. Never allocates; cannot fail.
 */
void tv_loader_next(tv_loader *l, float *x, int32_t *y, uint32_t *n, int *epoch_done);

/* The same batch as tv_loader_next, lent instead of copied: *x (batch_size*D floats) and *y
 * (batch_size labels) point into the loader; rows >= *n hold nothing meaningful.  They stay
 * valid, and unchanged, until the next tv_loader_next, tv_loader_next_ptr, tv_loader_set_state
 * or tv_loader_free on l.  With prefetch this saves copying the batch out of the ring (measured
 * for 128 x 784 on 2 cores: 8 us of a 340 us step, 19 us with no step); without, the batch is
 * built in the loader's own buffer.  The two calls can be mixed.  With float targets *y is NULL
 * (tv_loader_next_batch has them).  Never allocates; cannot fail. */
void tv_loader_next_ptr(tv_loader *l, const float **x, const int32_t **y, uint32_t *n,
                        int *epoch_done);

/* One batch as tv_loader_next_batch lends it: n examples of D features (x, n*D floats) and
 * their targets, class ids (labels, n int32; targets NULL) or float targets (targets,
 * n*target_dim floats, row-major; labels NULL), whichever the dataset holds.  epoch_done as for
 * tv_loader_next.  Everything points into the loader, valid as tv_loader_next_ptr's. */
typedef struct tv_batch {
  const float *x;
  const int32_t *labels;
  const float *targets;
  uint32_t n;
  int epoch_done;
  uint32_t whole; /* rows of the global batch these n are a part of (n without parts) */
} tv_batch;

/* The next batch, lent as tv_loader_next_ptr lends it, with either kind of target (the three
 * calls take batches from one sequence and can be mixed).  Never allocates; cannot fail. */
void tv_loader_next_batch(tv_loader *l, tv_batch *b);

/* Float targets per example of the loader's batches (the dataset's target_dim), or 0 when
 * they are class ids.  Cannot fail. */
int tv_loader_target_dim(const tv_loader *l);

/* Out of core: TV_OK, or the error of a failed read of the data file (the first one, with its
 * message re-recorded on this thread) when a batch returned so far was built from it (its rows
 * then hold zeros and class 0).  The caller checks it after each batch; a loader in memory always
 * returns TV_OK.  Cannot fail otherwise. */
TV_MUST_CHECK int tv_loader_status(const tv_loader *l);

/* Batches per epoch: ceil(m / batch_size), or floor with drop_last.  Always >= 1. */
uint32_t tv_loader_batches_per_epoch(const tv_loader *l);

/* Exact-resume state: that of the caller, after the batches it has received (never that of a
 * prefetch thread running ahead).  epoch counts completed epochs; position is the next entry of
 * perm to return; rng is the shuffle generator after drawing the current epoch's perm; augment
 * is the augmentation generator after the batches returned so far (it moves only when the
 * loader augments).  Together with perm (the current epoch's order) it determines every later
 * batch. */
typedef struct tv_loader_state {
  uint64_t epoch;
  uint64_t position;
  tv_rng rng;
  tv_rng augment;
  /* Out of core with shuffle: outputs of this epoch's block order taken so far (position plus
   * the rows it skipped); perm is then absent (perm_n 0).  0 otherwise. */
  uint64_t order_position;
} tv_loader_state;

/* Reads the state.  *perm points into the loader (perm_n entries, a permutation of 0..m-1) and
 * stays valid until the next tv_loader_next, tv_loader_next_ptr, tv_loader_set_state or
 * tv_loader_free.  Waits for nothing (a prefetch thread keeps running).  Cannot fail. */
void tv_loader_get_state(const tv_loader *l, tv_loader_state *st, const uint32_t **perm,
                         uint32_t *perm_n);

/* Restores a state read by tv_loader_get_state from a loader over the same data and options;
 * the following batches are then the ones that loader would have returned.  perm is copied.
 * st->augment is used only when the loader augments (otherwise ignored, so a state built without
 * it, augment all zero, still restores a loader that does not augment).  With prefetch, the
 * thread finishes the batch it is on, its ready batches are dropped, and it restarts from the
 * restored state; a batch lent by tv_loader_next_ptr is invalid afterwards.
 * Errors: TV_ERR_MISMATCH if perm_n differs from m, perm is not a permutation of 0..m-1,
 * position does not leave a batch in the epoch, or the loader augments and st->augment is all
 * zero (a state saved without the augmentation generator); TV_ERR_NOMEM.  On failure the loader
 * is unchanged. */
TV_MUST_CHECK int tv_loader_set_state(tv_loader *l, const tv_loader_state *st, const uint32_t *perm,
                                      uint32_t perm_n);

/* ---- the loader's part of a checkpoint (ckpt.h, STATE LAYOUT) ---------------------------- */

/* Defined in ckpt.h; declared here so that this header does not pull in the checkpoint API. */
typedef struct tv_ckpt_writer tv_ckpt_writer;
typedef struct tv_ckpt tv_ckpt;

/* Writes what tv_loader_get_state reports into the checkpoint being written:
 *   /state/loader/cursor       uint64 [6]  epoch, position, rng.s[0], rng.s[1], rng.s[2], rng.s[3]
 *   /state/loader/perm         uint32 [m]  the current epoch's order
 *   /state/loader/augment_rng  uint64 [4]  augment.s[0..3] (written whether or not it augments)
 * or, out of core with shuffle, instead of perm:
 *   /state/loader/block_order  uint64 [5]  source rows, block rows, buffer slots, seed,
 *                                          order_position
 * (ckpt_read refuses an order of other rows, blocks, slots or seed, and a checkpoint of the other
 * kind, TV_ERR_MISMATCH naming data.memory_mb)
 * Borrows w; l is not changed.  Errors: those of tv_ckpt_writer_array (TV_ERR_INVALID when a
 * path exists already, TV_ERR_IO). */
TV_MUST_CHECK int tv_loader_ckpt_write(const tv_loader *l, tv_ckpt_writer *w);

/* Restores the state written by tv_loader_ckpt_write from the open checkpoint c (borrowed), as
 * tv_loader_set_state does.  An absent augment_rng reads as all zero (accepted unless the loader
 * augments).  Errors (the message names the file): TV_ERR_NOT_FOUND (cursor or perm absent),
 * TV_ERR_MISMATCH (another dtype or length, e.g. an order of another example count; or what
 * tv_loader_set_state refuses), TV_ERR_FORMAT, TV_ERR_NOMEM.  On failure l is unchanged. */
TV_MUST_CHECK int tv_loader_ckpt_read(tv_loader *l, tv_ckpt *c);

/* The standardisation's part of a checkpoint (ckpt.h, DATA LAYOUT):
 *   /data/standardize/mean  float32 [D]
 *   /data/standardize/std   float32 [D]
 * Errors: those of tv_ckpt_writer_array. */
TV_MUST_CHECK int tv_standardize_ckpt_write(const tv_standardize *s, tv_ckpt_writer *w);

/* Reads what tv_standardize_ckpt_write wrote, for examples of d values, into *out (caller frees).
 * Errors (the message names the file): TV_ERR_NOT_FOUND (a checkpoint without it: written
 * without data.standardize), TV_ERR_MISMATCH (another length), TV_ERR_FORMAT (a std not finite
 * and > 0), TV_ERR_NOMEM.  On failure *out is zeroed. */
TV_MUST_CHECK int tv_standardize_ckpt_read(tv_ckpt *c, int d, tv_standardize *out);

/* ---- the class names in a checkpoint --------------------------------------------------------
 *
 *   /data  attribute class_names  string: the names as a JSON array of strings, ["ant", "bee"]
 *          (class i is item i), written when the training data has names (image folders' class
 *          folders, a CSV's string class labels) and the text is at most TV_CLASS_NAMES_MAX
 *          bytes (an HDF5 object header's attribute limit); absent otherwise.  Readers that find
 *          none use the class ids.  eval maps the data it evaluates onto them by name
 *          (tv_dataset_use_class_names), so a test file that lacks a class, or lists its classes
 *          in another order, keeps the model's ids. */
#define TV_CLASS_NAMES_MAX 60000

/* Writes ds's class names (nothing when it has none, or when they do not fit).  Errors: those of
 * tv_ckpt_writer_attr_str, TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_dataset_names_ckpt_write(const tv_dataset *ds, tv_ckpt_writer *w);

/* Reads the class names of the open checkpoint c: *names gets num_classes malloc'd strings
 * (free with tv_imgdir_files_free(*names, num_classes)), or NULL when c has none.  A list of
 * another length than num_classes, or an attribute that is not a JSON array of strings, is
 * TV_ERR_FORMAT naming the file.  Errors also TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_ckpt_read_class_names(tv_ckpt *c, int num_classes, char ***names);

/* Gives ds (with class ids) the model's k class names (borrowed, copied), names[j] for class j:
 * when ds has names of its own, each of its examples' labels becomes the id of the same name in
 * names (a name of ds that names lacks is TV_ERR_MISMATCH "<what>: class \"x\" is not one of the
 * model's k classes"); otherwise ds's class ids stay (one >= k is TV_ERR_MISMATCH).  Then
 * ds->names is the copy and ds->num_classes k.  Nothing happens when names is NULL or ds has no
 * labels.  Errors also TV_ERR_NOMEM.  On failure ds is unchanged. */
TV_MUST_CHECK int tv_dataset_use_class_names(tv_dataset *ds, char *const *names, int k,
                                             const char *what);

/* Stops and joins the prefetch thread (after the batch it is on, if any), then frees the loader
 * (not its dataset).  NULL-safe. */
void tv_loader_free(tv_loader *l);

#endif
