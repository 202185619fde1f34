/* tfrecord.h — a small TFRecord / tensorboard.Event reader for tests only (not in libtrainval).
 *
 * Written apart from common/rundir/events.c so that a test reading back an event file really checks
 * it: every record's length CRC and payload CRC are verified, and the Event protobuf is decoded
 * field by field (unknown fields skipped, as protobuf readers do).  Fixed caps keep it
 * allocation-free except for the file itself; a record beyond a cap is reported as TV_ERR_FORMAT.
 */
#ifndef TRAINVAL_TESTS_TFRECORD_H
#define TRAINVAL_TESTS_TFRECORD_H

#include <stddef.h>
#include <stdint.h>

enum {
  TVT_END = -1, /* tvt_reader_next: no more records (a clean end of file) */
  TVT_MAX_VALUES = 16,
  TVT_TAG_CAP = 128,
  TVT_TEXT_CAP = 512, /* bytes of a tensor's first string_val kept (the length is kept whole) */
  TVT_MAX_DIMS = 4,
  TVT_MAX_FLOATS = 64, /* float_val values kept (the count is kept whole) */
  TVT_PNG_HEAD = 33,   /* bytes of an image's encoded string kept: signature + IHDR */
};

/* Summary.Value.tensor (TensorProto, tensor.proto) with its SummaryMetadata (summary.proto). */
typedef struct tvt_tensor {
  char plugin[32]; /* metadata.plugin_data.plugin_name */
  int data_class;  /* metadata.data_class */
  int dtype;       /* 1 DT_FLOAT, 7 DT_STRING, ... */
  int ndims;       /* tensor_shape.dim count (0: a scalar) */
  int64_t dims[TVT_MAX_DIMS];
  size_t content_len; /* metadata.plugin_data.content */
  unsigned char content[TVT_TEXT_CAP];
  int nfloats;                  /* float_val count (packed or not) */
  float float0;                 /* the first float_val */
  float floats[TVT_MAX_FLOATS]; /* the first TVT_MAX_FLOATS float_val */
  int nstrings;                 /* string_val count */
  size_t string_len;            /* length of the first string_val */
  char string[TVT_TEXT_CAP];
} tvt_tensor;

typedef struct tvt_histo {
  double min, max, num, sum, sum_squares;
  int nlimits, nbuckets; /* lengths of bucket_limit and bucket */
  double bucket_total;   /* sum of the bucket counts */
  double first_limit, last_limit;
  int limits_increasing; /* 1 if bucket_limit is strictly increasing */
} tvt_histo;

/* Summary.Value.image (Summary.Image, summary.proto). */
typedef struct tvt_image {
  int height, width, colorspace;
  size_t len;                       /* encoded_image_string's length */
  unsigned char head[TVT_PNG_HEAD]; /* its first bytes */
  uint32_t crc;                     /* zlib's CRC-32 of the whole string */
} tvt_image;

typedef struct tvt_value {
  char tag[TVT_TAG_CAP];
  int has_simple_value;
  float simple_value;
  int has_histo;
  tvt_histo histo;
  int has_metadata, has_tensor;
  tvt_tensor tensor;
  int has_image;
  tvt_image image;
} tvt_value;

typedef struct tvt_event {
  double wall_time;
  int64_t step;
  int has_file_version;
  char file_version[64];
  int has_session_log;
  int session_status; /* SessionLog.status: 1 START, 2 STOP, 3 CHECKPOINT */
  int has_summary;
  int nvalues;
  tvt_value values[TVT_MAX_VALUES];
} tvt_event;

typedef struct tvt_reader {
  char *data; /* whole file (tv_fs_read_all) */
  size_t len, pos;
  long index; /* records read so far */
} tvt_reader;

/* masked CRC-32C of TFRecord framing, computed here independently of tv_crc32c. */
uint32_t tvt_masked_crc32c(const void *data, size_t len);

/* Reads path whole.  Errors as tv_fs_read_all.  Close with tvt_reader_close even on failure. */
int tvt_reader_open(tvt_reader *r, const char *path);
void tvt_reader_close(tvt_reader *r);

/* Next record into *ev: TV_OK, TVT_END at a clean end, TV_ERR_FORMAT for a truncated record, a
 * CRC mismatch or a malformed Event (message gives the record index and byte offset). */
int tvt_reader_next(tvt_reader *r, tvt_event *ev);

/* Reads every record of path into ev[0..cap); *n gets the count.  TV_ERR_FORMAT as above, or if
 * the file holds more than cap records. */
int tvt_read_file(const char *path, tvt_event *ev, int cap, int *n);

#endif
