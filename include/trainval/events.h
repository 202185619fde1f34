/* events.h — TensorBoard event-file writer (scalars, histograms, text, hparams, images, PR
 * curves).
 *
 * FILE FORMAT (TensorBoard's own; we write a subset of it, nothing of our own)
 *
 *   name     <dir>/events.out.tfevents.<unix seconds>.<hostname>.<pid>.<seq>
 *            seq counts writers opened by this process, so two writers never collide (the file
 *            is created with O_EXCL); it has 6 digits, zero-padded, so that names sort in creation
 *            order, the order TensorBoard reads a run's files in ("tfevents" in a name is what
 *            makes TensorBoard read it).
 *   file     a sequence of TFRecords, all integers little-endian:
 *              uint64 length | uint32 masked_crc32c(the 8 length bytes)
 *              | payload[length] | uint32 masked_crc32c(payload)
 *            masked_crc32c(x) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2^32),
 *            c = CRC-32C (Castagnoli) of x (tv_crc32c in files.h).
 *   payload  one serialized protobuf tensorboard.Event (event.proto, summary.proto,
 *            histogram.proto).  The fields we emit, by number and wire type:
 *              Event         1 wall_time double (fixed64), seconds since the epoch, never
 *                              decreasing within a file
 *                            2 step int64 (varint), >= 0
 *                            3 file_version string: first record only, "brain.Event:2"
 *                            5 summary Summary: every later record but session starts
 *                            7 session_log SessionLog: a session start (below)
 *              SessionLog    1 status enum (varint): START = 1, the only one we write
 *              Summary       1 value Summary.Value (repeated)
 *              Summary.Value 1 tag string (UTF-8, not empty)
 *                            2 simple_value float (fixed32)      } exactly one of these
 *                            4 image Summary.Image              }
 *                            5 histo HistogramProto             }
 *                            8 tensor TensorProto               }
 *                            9 metadata SummaryMetadata: with tensor only
 *              Summary.Image 1 height, 2 width, 3 colorspace int32 (varint): 3 = RGB
 *                            4 encoded_image_string bytes: a PNG (image.h), of that size
 *              SummaryMetadata 1 plugin_data PluginData{1 plugin_name string, 2 content bytes}
 *                            4 data_class enum: DATA_CLASS_TENSOR = 2
 *              TensorProto   1 dtype enum: DT_FLOAT = 1, DT_STRING = 7
 *                            2 tensor_shape TensorShapeProto{2 dim Dim{1 size int64}
 *                              (repeated)}: empty for a scalar
 *                            5 float_val float: packed (DT_FLOAT)
 *                            8 string_val bytes: the one string (DT_STRING)
 *            Plugin "text" (TensorBoard's text dashboard): a scalar DT_STRING tensor of markdown.
 *            Plugin "hparams" (the HParams dashboard; plugin_data.proto, api.proto): tags
 *            "_hparams_/session_start_info" and "_hparams_/session_end_info", PluginData.content
 *            a serialized HParamsPluginData{1 version = 0, 3 session_start_info | 4
 *            session_end_info}, the tensor TensorBoard's NULL tensor (DT_FLOAT = 1, a scalar,
 *            float_val [0]).  SessionStartInfo{1 hparams map<string, google.protobuf.Value>
 *            (entries {1 key, 2 value{2 number_value double | 3 string_value string}}),
 *            4 group_name, 5 start_time_secs double}; SessionEndInfo{1 status enum (api.proto
 *            Status), 2 end_time_secs double}.  The dashboard takes the directory of the file
 *            holding the session start as one session and its scalars (those of subdirectories
 *            too: validation/, eval/) as the session's metrics.
 *            Plugin "pr_curves" (TensorBoard's PR curve dashboard; pr_curve/plugin_data.proto,
 *            summary.py): PluginData.content a serialized PrCurvePluginData{1 version int32 = 0,
 *            2 num_thresholds uint32 = T}, the tensor DT_FLOAT of shape [6, T], rows TP, FP, TN,
 *            FN, precision, recall at the thresholds i / (T - 1), i = 0..T-1 (tv_pr_curve).
 *              HistogramProto 1 min, 2 max, 3 num, 4 sum, 5 sum_squares: double (fixed64)
 *                            6 bucket_limit, 7 bucket: packed repeated double
 *            Histogram buckets follow TensorFlow's default edges: 0, +-1e-12 * 1.1^k below 1e20,
 *            and +-DBL_MAX; bucket i holds bucket_limit[i-1] <= x < bucket_limit[i]; a run of
 *            empty buckets is written as one empty bucket ending at the run's last limit.
 *
 * VERSION AND COMPATIBILITY: the version is the file_version string "brain.Event:2", TensorBoard's
 * current one.  We only ever add Summary kinds TensorBoard already defines, with its field
 * numbers; a reader skips fields it does not know (protobuf rule), so older readers stay valid.
 * Records are appended only; a file cut short by a crash ends in a partial record, which
 * TensorBoard ignores (and tests/tfrecord.c reports), every earlier record still reads.
 *
 * A tv_events is used by one thread at a time.  Records are buffered in the writer (not in stdio)
 * and written out whole once 64 KiB wait; another process sees them after tv_events_flush or
 * tv_events_close.  After a write error the file is cut back to its last whole record (best
 * effort: only a crash during the write leaves a partial one), the writer refuses further
 * records and each call returns that error.
 */
#ifndef TRAINVAL_EVENTS_H
#define TRAINVAL_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"
#include "trainval/image.h"

typedef struct tv_events tv_events;

/* Creates dir (mkdir -p) and a new event file in it (name above), writes the file_version record
 * and flushes it to disk, and hands the writer back through *out (the caller owns it; free with
 * tv_events_close).  *out is NULL on failure, and no file is left behind.
 * Errors: TV_ERR_INVALID (NULL argument), TV_ERR_IO (the message names the directory or file),
 * TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_events_open(const char *dir, tv_events **out);

/* Appends Event{wall_time = tv_now() (held back to the last record's if the clock stepped back),
 * step, summary{value{tag, simple_value}}}.  tag is copied; NaN and Inf are written as given.
 * Errors: TV_ERR_INVALID (step < 0, tag NULL, empty or not UTF-8: nothing written),
 * TV_ERR_IO (a buffered write failed: the writer is then unusable except for close). */
TV_MUST_CHECK int tv_events_scalar(tv_events *w, int64_t step, const char *tag, float value);

/* Appends n scalars at one step in one Event (tags[i] with values[i]).  Errors as
 * tv_events_scalar; TV_ERR_INVALID also for n < 1 or NULL arrays. */
TV_MUST_CHECK int tv_events_scalars(tv_events *w, int64_t step, int n, const char *const *tags,
                                    const float *values);

/* Appends a histogram summary of x[0..n) (n may be 0) under tag at step: min, max, num, sum,
 * sum of squares, and the bucket counts over the default edges (see above).  The first call
 * allocates the bucket tables (about 25 KiB); later calls do not allocate unless an event outgrows
 * the encode buffer.  Errors: TV_ERR_INVALID (as tv_events_scalar, or x NULL with n > 0),
 * TV_ERR_NONFINITE (an x[i] is NaN or Inf; nothing written, the message names tag and i),
 * TV_ERR_NOMEM, TV_ERR_IO. */
TV_MUST_CHECK int tv_events_histogram(tv_events *w, int64_t step, const char *tag, const float *x,
                                      size_t n);

/* Appends a text summary (TensorBoard's text plugin, rendered as markdown) of text under tag at
 * step: a Summary.Value with metadata plugin_name "text" and a scalar DT_STRING tensor holding
 * text (copied).  Errors: TV_ERR_INVALID (as tv_events_scalar, or text NULL or not UTF-8:
 * nothing written), TV_ERR_NOMEM, TV_ERR_IO. */
TV_MUST_CHECK int tv_events_text(tv_events *w, int64_t step, const char *tag, const char *text);

/* One hyperparameter of an HParams session: a string value when str is not NULL, else num. */
typedef struct tv_hparam {
  const char *name;
  const char *str;
  double num;
} tv_hparam;

/* api.proto Status, the outcome a session end reports. */
typedef enum tv_hparams_status {
  TV_HPARAMS_STATUS_UNKNOWN = 0,
  TV_HPARAMS_STATUS_SUCCESS = 1,
  TV_HPARAMS_STATUS_FAILURE = 2,
  TV_HPARAMS_STATUS_RUNNING = 3
} tv_hparams_status;

/* Appends the HParams session start (format above) with hp[0..n) (copied), group_name group
 * ("" for none) and start_time (unix seconds), then flushes.  Errors: TV_ERR_INVALID (as
 * tv_events_scalar, n < 0, hp NULL with n > 0, group NULL, an empty name, a name or string
 * value not UTF-8: nothing written), TV_ERR_NOMEM, TV_ERR_IO. */
TV_MUST_CHECK int tv_events_hparams_start(tv_events *w, int64_t step, const tv_hparam *hp, int n,
                                          const char *group, double start_time);

/* Appends the HParams session end with status and end_time (unix seconds), then flushes.
 * Errors: TV_ERR_INVALID (as tv_events_scalar, a status outside the enum), TV_ERR_IO. */
TV_MUST_CHECK int tv_events_hparams_end(tv_events *w, int64_t step, tv_hparams_status status,
                                        double end_time);

/* Appends an image summary (format above) of img under tag at step: img encoded as a PNG
 * (tv_image_png), its width and height, colorspace 3 (RGB).  img is borrowed.  Errors:
 * TV_ERR_INVALID (as tv_events_scalar, or img NULL or without pixels: nothing written),
 * TV_ERR_NOMEM, TV_ERR_IO. */
TV_MUST_CHECK int tv_events_image(tv_events *w, int64_t step, const char *tag, const tv_image *img);

/* The most thresholds a PR curve may have. */
enum { TV_PR_CURVE_MAX_THRESHOLDS = 1024 };

/* Fills data[0..6*t) with TensorBoard's PR curve of one class (summary.py's definition): example
 * i of n has the score scores[i * stride] in [0, 1] (clamped) and is a positive when labels[i]
 * == cls.  With bucket(p) = floor(p * (t - 1)) and threshold j = j / (t - 1):
 *   TP[j] = positives with bucket >= j, FP[j] = negatives with bucket >= j,
 *   TN[j] = negatives - FP[j], FN[j] = positives - TP[j],
 *   precision[j] = max(TP, 1e-7) / max(TP + FP, 1e-7), recall[j] = 1 - FN / max(TP + FN, 1e-7)
 * in the rows TP, FP, TN, FN, precision, recall.  A NaN score counts in bucket 0.  Errors:
 * TV_ERR_INVALID (t outside 2..TV_PR_CURVE_MAX_THRESHOLDS, a NULL array with n > 0, stride 0:
 * data untouched). */
TV_MUST_CHECK int tv_pr_curve(const float *scores, size_t stride, const int32_t *labels,
                              int32_t cls, size_t n, int t, float *data);

/* Appends a PR curve summary (plugin "pr_curves", format above) of data[0..6*t) (as tv_pr_curve
 * fills it) under tag at step.  Errors: TV_ERR_INVALID (as tv_events_scalar, or data NULL, t
 * outside 2..TV_PR_CURVE_MAX_THRESHOLDS: nothing written), TV_ERR_NOMEM, TV_ERR_IO. */
TV_MUST_CHECK int tv_events_pr_curve(tv_events *w, int64_t step, const char *tag, const float *data,
                                     int t);

/* Appends Event{wall_time, step, session_log{status = START}} and flushes it (tv_events_flush),
 * marking the start of a training session in this run (directory).  TensorBoard's loader, reading
 * a run's files in order, treats every START after the run's first as a restart and drops every
 * record it has already read from this run at `step` or later (EventAccumulator
 * _CheckForRestartAndMaybePurge: it keeps step < START's step).  So each writer calls it once,
 * right after tv_events_open, with the first step it can write records at: for a writer opened
 * on resume the checkpoint's step + 1 (the checkpoint's own records stay, as
 * tv_events_purge_after keeps them), for one opened later on a fixed schedule (validation) the
 * step of its first record.  A TensorBoard that read the dead run's orphans is then as clean as
 * a fresh one.  A new run calls it as well, so that its START is the run's first (which
 * TensorBoard ignores) and a later resume's START counts as a restart.  When the directory
 * already holds another event file (a resume), two STARTs are written at step: the restart then
 * counts even where the earlier files hold none (written before this version, or purged away);
 * where they do hold one, the second START purges nothing more.
 * Errors: as tv_events_scalar (TV_ERR_INVALID for step < 0), and those of tv_events_flush. */
TV_MUST_CHECK int tv_events_session_start(tv_events *w, int64_t step);

/* Writes the buffered records and fsyncs, so that a reader in another process (or after a
 * crash) sees every record appended so far, whole.  Errors: TV_ERR_IO (message names the file and
 * the failing call). */
TV_MUST_CHECK int tv_events_flush(tv_events *w);

/* Path of the event file; owned by w, valid until tv_events_close.  Cannot fail. */
const char *tv_events_path(const tv_events *w);

/* Flushes, fsyncs, closes the file and frees w, whatever happens.  NULL is a no-op (TV_OK).
 * Returns the first error this writer saw (an earlier failed write included), else TV_OK. */
int tv_events_close(tv_events *w);

/* Resume support: removes from every event file directly in dir every record whose step is
 * greater than `step` (written by a run that died after its last checkpoint, and about to be
 * written again), and a torn record at a file's end.  A file that needs no change is not
 * touched; one that does is rewritten through tv_fs_write_atomic, so a crash leaves the old or
 * the new file.  The file_version record always stays (step -1 removes every other record: a
 * fresh start over the files of an attempt killed before its first checkpoint).  *dropped (may
 * be NULL) receives the number of records removed.  A missing dir is not an error.
 * Errors: TV_ERR_IO, TV_ERR_NOMEM; TV_ERR_FORMAT for a record whose CRC fails before the end of
 * a file (a damaged file is reported, never rewritten). */
TV_MUST_CHECK int tv_events_purge_after(const char *dir, int64_t step, long *dropped);

#endif
