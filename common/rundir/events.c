/* events.c — TensorBoard event files: TFRecord framing and a hand-written protobuf encoder for
 * the few Event fields we emit (format in events.h), and the resume-time purge that reads the
 * records back (their framing and CRCs, and each Event's step, read through pbwire.h; nothing
 * else is decoded).
 *
 * Invariants:
 *  - buf[0..len) holds whole records not yet written; the next record is encoded right after
 *    them, so appending a record never allocates once buf is big enough.
 *  - committed is the file size after the last complete write(2): always a record boundary.  If a
 *    write fails, the file is cut back to committed, so it never ends in a torn record.
 *  - err is the first I/O error; once set, no record is appended again (close still frees).
 * We do our own buffering rather than stdio's so that a failed write is known to the byte and can
 * be rolled back to a record boundary.
 */
#include "trainval/events.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/fs.h"
#include "trainval/pbwire.h"

enum {
  FLUSH_AT = 64 * 1024,            /* write pending records out once this many bytes wait */
  BUF_INIT = FLUSH_AT + 16 * 1024, /* room for the pending bytes plus one ordinary record */
  FRAME = 12 + 4,                  /* TFRecord length + its CRC, and the payload CRC */
  WT_VARINT = 0,
  WT_FIXED64 = 1,
  WT_LEN = 2,
  WT_FIXED32 = 5,
};

static const char FILE_VERSION[] = "brain.Event:2";

struct tv_events {
  int fd;
  char *path;
  double last_wall; /* wall_time of the last record: later ones never go below it */
  int err;          /* first I/O error, TV_OK if none (sticky) */
  int err_errno;
  const char *err_op;
  unsigned char *buf; /* pending records, then the record being encoded */
  size_t len, cap;
  off_t committed;
  double *limits; /* default histogram edges (nlimits), NULL until the first histogram */
  double *counts; /* per-bucket counts, scratch for one histogram */
  size_t nlimits;
};

/* The one piece of per-process state: the sequence number in file names, so two writers opened
 * by one process in the same second never pick the same name.  It is zero-padded because
 * TensorBoard reads a run's files in name order: ".10" would sort before ".8". */
static unsigned long g_events_seq;

/* ---- protobuf wire format ---------------------------------------------------------------- */

static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Size of a length-delimited field of a payload of len bytes (field numbers here are < 16). */
static size_t len_field(size_t len) { return 1 + varint_len(len) + len; }

static unsigned char *put_varint(unsigned char *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  *p++ = (unsigned char)v;
  return p;
}

static unsigned char *put_key(unsigned char *p, unsigned field, unsigned wire) {
  return put_varint(p, (uint64_t)(field << 3 | wire));
}

static unsigned char *put_le(unsigned char *p, uint64_t v, int nbytes) {
  for (int i = 0; i < nbytes; i++) *p++ = (unsigned char)(v >> (8 * i));
  return p;
}

static unsigned char *put_double_raw(unsigned char *p, double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return put_le(p, u, 8);
}

static unsigned char *put_double(unsigned char *p, unsigned field, double d) {
  return put_double_raw(put_key(p, field, WT_FIXED64), d);
}

static unsigned char *put_float(unsigned char *p, unsigned field, float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return put_le(put_key(p, field, WT_FIXED32), u, 4);
}

/* Key and length of a length-delimited field; the caller writes the len bytes after. */
static unsigned char *put_len(unsigned char *p, unsigned field, size_t len) {
  return put_varint(put_key(p, field, WT_LEN), len);
}

static unsigned char *put_string(unsigned char *p, unsigned field, const char *s, size_t len) {
  p = put_len(p, field, len);
  memcpy(p, s, len);
  return p + len;
}

/* Event{wall_time, step} plus the key and length of its oneof field (3 or 5) of body bytes. */
static size_t event_len(int64_t step, size_t body) {
  return 9 + 1 + varint_len((uint64_t)step) + len_field(body);
}

static unsigned char *put_event_head(unsigned char *p, double wall, int64_t step, unsigned field,
                                     size_t body) {
  p = put_double(p, 1, wall);
  p = put_varint(put_key(p, 2, WT_VARINT), (uint64_t)step);
  return put_len(p, field, body);
}

static uint32_t masked_crc(const void *data, size_t len) {
  uint32_t c = tv_crc32c(0, data, len);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- buffering and errors ---------------------------------------------------------------- */

static int io_fail(tv_events *w, const char *op, int errnum) {
  if (errnum == 0) errnum = EIO;
  if (w->err == TV_OK) {
    w->err = TV_ERR_IO;
    w->err_errno = errnum;
    w->err_op = op;
  }
  return tv_error_errno(TV_ERR_IO, errnum, "%s: %s", w->path, op);
}

static int earlier_fail(const tv_events *w) {
  return tv_error_errno(w->err, w->err_errno, "%s: an earlier %s failed", w->path, w->err_op);
}

/* Writes the pending records.  On failure the file is cut back to the last record boundary
 * (best effort) and the pending records are dropped. */
static int write_pending(tv_events *w) {
  size_t off = 0;
  while (off < w->len) {
    ssize_t n = write(w->fd, w->buf + off, w->len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      if (ftruncate(w->fd, w->committed) == 0) (void)lseek(w->fd, w->committed, SEEK_SET);
      w->len = 0;
      return io_fail(w, "write", e);
    }
    off += (size_t)n;
  }
  w->committed += (off_t)w->len;
  w->len = 0;
  return TV_OK;
}

/* Makes room for a record of payload bytes after the pending ones; returns where the payload
 * goes (after the 12-byte header), or NULL with the error recorded. */
static unsigned char *begin_record(tv_events *w, size_t payload, int *rc) {
  size_t need = payload + FRAME;
  if (w->cap - w->len < need) {
    size_t cap = w->cap * 2 > w->len + need ? w->cap * 2 : w->len + need;
    unsigned char *nb = realloc(w->buf, cap);
    if (!nb) {
      *rc = tv_error(TV_ERR_NOMEM, "%s: out of memory for a %zu-byte event", w->path, payload);
      return NULL;
    }
    w->buf = nb;
    w->cap = cap;
  }
  return w->buf + w->len + 12;
}

/* Frames the payload encoded by the caller after begin_record and queues it. */
static int end_record(tv_events *w, size_t payload) {
  unsigned char *r = w->buf + w->len;
  put_le(r, payload, 8);
  put_le(r + 8, masked_crc(r, 8), 4);
  put_le(r + 12 + payload, masked_crc(r + 12, payload), 4);
  w->len += payload + FRAME;
  return w->len >= FLUSH_AT ? write_pending(w) : TV_OK;
}

static double next_wall(tv_events *w) {
  double t = tv_now();
  if (t < w->last_wall) t = w->last_wall;
  w->last_wall = t;
  return t;
}

/* ---- argument checks ---------------------------------------------------------------------- */

static int utf8_valid(const unsigned char *s, size_t n) {
  static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      k = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      k = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      k = 3;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (n - i <= k) return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + j] & 0x3F);
    }
    if (cp < min_cp[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += k + 1;
  }
  return 1;
}

/* Checks what every append shares: a usable writer and a step TensorBoard orders sensibly. */
static int check_append(tv_events *w, int64_t step) {
  if (!w) return tv_error(TV_ERR_INVALID, "events: NULL writer");
  if (w->err) return earlier_fail(w);
  if (step < 0) return tv_error(TV_ERR_INVALID, "%s: negative step %lld", w->path, (long long)step);
  return TV_OK;
}

static int check_tag(const tv_events *w, const char *tag) {
  if (!tag || !*tag) return tv_error(TV_ERR_INVALID, "%s: empty or NULL tag", w->path);
  if (!utf8_valid((const unsigned char *)tag, strlen(tag)))
    return tv_error(TV_ERR_INVALID, "%s: tag is not valid UTF-8", w->path);
  return TV_OK;
}

/* ---- open / flush / close ---------------------------------------------------------------- */

/* Hostname as it may appear in a file name (no '/', nothing a shell would trip on). */
static void safe_hostname(char *out, size_t cap) {
  if (gethostname(out, cap) != 0 || !out[0]) snprintf(out, cap, "localhost");
  out[cap - 1] = '\0';
  for (char *p = out; *p; p++) {
    int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '.' || *p == '-' || *p == '_';
    if (!ok) *p = '_';
  }
}

static int create_file(tv_events *w, const char *dir) {
  char host[256];
  safe_hostname(host, sizeof host);
  long long secs = (long long)tv_now();
  long pid = (long)getpid();
  /* "/events.out.tfevents." + three decimal numbers of at most 20 digits + dots + NUL. */
  size_t cap = strlen(dir) + strlen(host) + 96;
  w->path = malloc(cap);
  if (!w->path) return tv_error(TV_ERR_NOMEM, "%s: out of memory", dir);
  for (int tries = 0; tries < 1000; tries++) {
    unsigned long seq = __atomic_fetch_add(&g_events_seq, 1, __ATOMIC_RELAXED);
    snprintf(w->path, cap, "%s/events.out.tfevents.%lld.%s.%ld.%06lu", dir, secs, host, pid, seq);
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd >= 0) return TV_OK;
    if (errno != EEXIST) return tv_error_errno(TV_ERR_IO, errno, "%s: cannot create", w->path);
  }
  return tv_error(TV_ERR_IO, "%s: no free event file name", dir);
}

static void free_writer(tv_events *w) {
  free(w->path);
  free(w->buf);
  free(w->limits);
  free(w->counts);
  free(w);
}

int tv_events_open(const char *dir, tv_events **out) {
  if (!out) return tv_error(TV_ERR_INVALID, "tv_events_open: NULL out");
  *out = NULL;
  if (!dir || !*dir) return tv_error(TV_ERR_INVALID, "tv_events_open: empty directory name");
  int rc = tv_fs_mkdirs(dir);
  if (rc) return rc;
  tv_events *w = calloc(1, sizeof *w);
  if (!w) return tv_error(TV_ERR_NOMEM, "%s: out of memory", dir);
  w->fd = -1;
  w->cap = BUF_INIT;
  w->buf = malloc(w->cap);
  if (!w->buf) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", dir);
    goto fail;
  }
  rc = create_file(w, dir);
  if (rc) goto fail;
  size_t vlen = sizeof FILE_VERSION - 1;
  size_t payload = event_len(0, vlen);
  unsigned char *p = begin_record(w, payload, &rc);
  if (!p) goto fail;
  unsigned char *q = put_double(p, 1, next_wall(w));
  q = put_varint(put_key(q, 2, WT_VARINT), 0);
  q = put_string(q, 3, FILE_VERSION, vlen);
  rc = end_record(w, (size_t)(q - p));
  if (rc == TV_OK) rc = tv_events_flush(w);
  if (rc == TV_OK) rc = tv_fs_fsync_dir(w->path);
  if (rc) goto fail;
  *out = w;
  return TV_OK;
fail:
  if (w->fd >= 0) {
    close(w->fd);
    unlink(w->path);
  }
  free_writer(w);
  return rc;
}

int tv_events_flush(tv_events *w) {
  if (!w) return tv_error(TV_ERR_INVALID, "events: NULL writer");
  if (w->err) return earlier_fail(w);
  int rc = write_pending(w);
  if (rc) return rc;
  if (fsync(w->fd) != 0) return io_fail(w, "fsync", errno);
  return TV_OK;
}

const char *tv_events_path(const tv_events *w) { return w->path; }

int tv_events_close(tv_events *w) {
  if (!w) return TV_OK;
  int rc = w->err ? earlier_fail(w) : tv_events_flush(w);
  if (close(w->fd) != 0 && rc == TV_OK) rc = io_fail(w, "close", errno);
  free_writer(w);
  return rc;
}

/* ---- scalars ------------------------------------------------------------------------------ */

static size_t scalar_value_len(size_t taglen) { return len_field(taglen) + 5; }

int tv_events_scalars(tv_events *w, int64_t step, int n, const char *const *tags,
                      const float *values) {
  int rc = check_append(w, step);
  if (rc) return rc;
  if (n < 1 || !tags || !values)
    return tv_error(TV_ERR_INVALID, "%s: tv_events_scalars needs n >= 1 tags and values", w->path);
  size_t summary = 0;
  for (int i = 0; i < n; i++) {
    rc = check_tag(w, tags[i]);
    if (rc) return rc;
    summary += len_field(scalar_value_len(strlen(tags[i])));
  }
  size_t payload = event_len(step, summary);
  unsigned char *p = begin_record(w, payload, &rc);
  if (!p) return rc;
  unsigned char *q = put_event_head(p, next_wall(w), step, 5, summary);
  for (int i = 0; i < n; i++) {
    size_t taglen = strlen(tags[i]);
    q = put_len(q, 1, scalar_value_len(taglen));
    q = put_string(q, 1, tags[i], taglen);
    q = put_float(q, 2, values[i]);
  }
  return end_record(w, (size_t)(q - p));
}

int tv_events_scalar(tv_events *w, int64_t step, const char *tag, float value) {
  return tv_events_scalars(w, step, 1, &tag, &value);
}

/* ---- plugin tensor summaries (text) ------------------------------------------------------ */

enum { DT_STRING = 7, DATA_CLASS_TENSOR = 2 };

/* Appends Event{summary{value{tag, metadata{plugin_data{plugin_name, content (clen bytes; none
 * when 0)}, data_class}, tensor}}} where tensor (tlen bytes) is an encoded TensorProto. */
static int put_plugin_tensor(tv_events *w, int64_t step, const char *tag, const char *plugin,
                             const unsigned char *content, size_t clen, const unsigned char *tensor,
                             size_t tlen) {
  size_t taglen = strlen(tag), plen = strlen(plugin);
  size_t plugin_data = len_field(plen) + (clen ? len_field(clen) : 0);
  size_t metadata = len_field(plugin_data) + 2; /* + data_class (4, varint) */
  size_t value = len_field(taglen) + len_field(metadata) + len_field(tlen);
  size_t summary = len_field(value);
  int rc = TV_OK;
  unsigned char *p = begin_record(w, event_len(step, summary), &rc);
  if (!p) return rc;
  unsigned char *q = put_event_head(p, next_wall(w), step, 5, summary);
  q = put_len(q, 1, value);
  q = put_string(q, 1, tag, taglen);
  q = put_len(q, 9, metadata);
  q = put_len(q, 1, plugin_data);
  q = put_string(q, 1, plugin, plen);
  if (clen) q = put_string(q, 2, (const char *)content, clen);
  q = put_varint(put_key(q, 4, WT_VARINT), DATA_CLASS_TENSOR);
  q = put_string(q, 8, (const char *)tensor, tlen);
  return end_record(w, (size_t)(q - p));
}

int tv_events_text(tv_events *w, int64_t step, const char *tag, const char *text) {
  int rc = check_append(w, step);
  if (rc == TV_OK) rc = check_tag(w, tag);
  if (rc) return rc;
  if (!text) return tv_error(TV_ERR_INVALID, "%s: %s: NULL text", w->path, tag);
  size_t n = strlen(text);
  if (!utf8_valid((const unsigned char *)text, n))
    return tv_error(TV_ERR_INVALID, "%s: %s: text is not valid UTF-8", w->path, tag);
  /* TensorProto{dtype DT_STRING, tensor_shape {} (a scalar), string_val [text]} */
  size_t tlen = 2 + len_field(0) + len_field(n);
  unsigned char *t = malloc(tlen);
  if (!t) return tv_error(TV_ERR_NOMEM, "%s: %s: no memory for %zu bytes of text", w->path, tag, n);
  unsigned char *q = put_varint(put_key(t, 1, WT_VARINT), DT_STRING);
  q = put_len(q, 2, 0);
  q = put_string(q, 8, text, n);
  rc = put_plugin_tensor(w, step, tag, "text", NULL, 0, t, (size_t)(q - t));
  free(t);
  return rc;
}

/* ---- HParams plugin (session start / end) ------------------------------------------------- */

enum { DT_FLOAT = 1 };

/* TensorBoard's NULL tensor for hparams summaries: DT_FLOAT, a scalar, float_val [0] (packed). */
static const unsigned char NULL_TENSOR[] = {1 << 3 | 0, DT_FLOAT, 2 << 3 | 2, 0, 5 << 3 | 2,
                                            4,          0,        0,          0, 0};

/* Appends the hparams summary tag whose HParamsPluginData (version 0) has data field `field`
 * (3 session_start_info, 4 session_end_info) of body bytes (already encoded). */
static int put_hparams(tv_events *w, int64_t step, const char *tag, unsigned field,
                       const unsigned char *body, size_t blen) {
  size_t clen = len_field(blen);
  unsigned char *content = malloc(clen + 1);
  if (!content) return tv_error(TV_ERR_NOMEM, "%s: no memory for %s", w->path, tag);
  unsigned char *q = put_len(content, field, blen);
  memcpy(q, body, blen);
  q += blen;
  int rc = put_plugin_tensor(w, step, tag, "hparams", content, (size_t)(q - content), NULL_TENSOR,
                             sizeof NULL_TENSOR);
  free(content);
  return rc == TV_OK ? tv_events_flush(w) : rc;
}

/* google.protobuf.Value: 2 number_value double | 3 string_value string. */
static size_t hparam_value_len(const tv_hparam *h) {
  return h->str ? len_field(strlen(h->str)) : 9;
}

int tv_events_hparams_start(tv_events *w, int64_t step, const tv_hparam *hp, int n,
                            const char *group, double start_time) {
  int rc = check_append(w, step);
  if (rc) return rc;
  if (n < 0 || (n > 0 && !hp) || !group)
    return tv_error(TV_ERR_INVALID, "%s: tv_events_hparams_start needs n >= 0 hparams and a group",
                    w->path);
  size_t body = len_field(strlen(group)) + 9;
  for (int i = 0; i < n; i++) {
    if (!hp[i].name || !*hp[i].name ||
        !utf8_valid((const unsigned char *)hp[i].name, strlen(hp[i].name)) ||
        (hp[i].str && !utf8_valid((const unsigned char *)hp[i].str, strlen(hp[i].str))))
      return tv_error(TV_ERR_INVALID, "%s: hparam %d: empty name, or name or value not UTF-8",
                      w->path, i);
    size_t entry = len_field(strlen(hp[i].name)) + len_field(hparam_value_len(&hp[i]));
    body += len_field(entry);
  }
  unsigned char *b = malloc(body + 1);
  if (!b) return tv_error(TV_ERR_NOMEM, "%s: no memory for the hparams session start", w->path);
  unsigned char *q = b;
  for (int i = 0; i < n; i++) { /* map<string, Value> hparams = 1: entries {1 key, 2 value} */
    size_t vlen = hparam_value_len(&hp[i]);
    q = put_len(q, 1, len_field(strlen(hp[i].name)) + len_field(vlen));
    q = put_string(q, 1, hp[i].name, strlen(hp[i].name));
    q = put_len(q, 2, vlen);
    q = hp[i].str ? put_string(q, 3, hp[i].str, strlen(hp[i].str)) : put_double(q, 2, hp[i].num);
  }
  q = put_string(q, 4, group, strlen(group));
  q = put_double(q, 5, start_time);
  rc = put_hparams(w, step, "_hparams_/session_start_info", 3, b, (size_t)(q - b));
  free(b);
  return rc;
}

int tv_events_hparams_end(tv_events *w, int64_t step, tv_hparams_status status, double end_time) {
  int rc = check_append(w, step);
  if (rc) return rc;
  if (status < TV_HPARAMS_STATUS_UNKNOWN || status > TV_HPARAMS_STATUS_RUNNING)
    return tv_error(TV_ERR_INVALID, "%s: hparams status %d out of range", w->path, (int)status);
  unsigned char b[16];
  unsigned char *q = put_varint(put_key(b, 1, WT_VARINT), (uint64_t)status);
  q = put_double(q, 2, end_time);
  return put_hparams(w, step, "_hparams_/session_end_info", 4, b, (size_t)(q - b));
}

/* ---- images ------------------------------------------------------------------------------ */

int tv_events_image(tv_events *w, int64_t step, const char *tag, const tv_image *img) {
  int rc = check_append(w, step);
  if (rc == TV_OK) rc = check_tag(w, tag);
  if (rc) return rc;
  if (!img || !img->px) return tv_error(TV_ERR_INVALID, "%s: %s: no image", w->path, tag);
  unsigned char *png = NULL;
  size_t n = 0;
  rc = tv_image_png(img, &png, &n);
  if (rc != TV_OK) return tv_error_prefix(rc, "%s: %s", w->path, tag);
  enum { COLORSPACE_RGB = 3 };
  size_t taglen = strlen(tag);
  size_t image =
      1 + varint_len((uint64_t)img->h) + 1 + varint_len((uint64_t)img->w) + 2 + len_field(n);
  size_t value = len_field(taglen) + len_field(image);
  size_t summary = len_field(value);
  unsigned char *p = begin_record(w, event_len(step, summary), &rc);
  if (p) {
    unsigned char *q = put_event_head(p, next_wall(w), step, 5, summary);
    q = put_len(q, 1, value);
    q = put_string(q, 1, tag, taglen);
    q = put_len(q, 4, image);
    q = put_varint(put_key(q, 1, WT_VARINT), (uint64_t)img->h);
    q = put_varint(put_key(q, 2, WT_VARINT), (uint64_t)img->w);
    q = put_varint(put_key(q, 3, WT_VARINT), COLORSPACE_RGB);
    q = put_string(q, 4, (const char *)png, n);
    rc = end_record(w, (size_t)(q - p));
  }
  free(png);
  return rc;
}

/* ---- PR curves ---------------------------------------------------------------------------- */

int tv_pr_curve(const float *scores, size_t stride, const int32_t *labels, int32_t cls, size_t n,
                int t, float *data) {
  if (t < 2 || t > TV_PR_CURVE_MAX_THRESHOLDS || !data || stride == 0 ||
      (n > 0 && (!scores || !labels)))
    return tv_error(TV_ERR_INVALID, "PR curve: %d thresholds (2..%d), %zu scores", t,
                    TV_PR_CURVE_MAX_THRESHOLDS, n);
  /* Per-bucket counts, then the reversed cumulative sums, in double (exact below 2^53). */
  double tp[TV_PR_CURVE_MAX_THRESHOLDS] = {0}, fp[TV_PR_CURVE_MAX_THRESHOLDS] = {0};
  for (size_t i = 0; i < n; i++) {
    double p = scores[i * stride];
    p = p > 1 ? 1 : p >= 0 ? p : 0; /* NaN goes to 0 */
    int b = (int)floor(p * (t - 1));
    if (labels[i] == cls)
      tp[b] += 1;
    else
      fp[b] += 1;
  }
  for (int j = t - 2; j >= 0; j--) {
    tp[j] += tp[j + 1];
    fp[j] += fp[j + 1];
  }
  const double eps = 1e-7;
  for (int j = 0; j < t; j++) {
    double fn = tp[0] - tp[j], tn = fp[0] - fp[j];
    data[j] = (float)tp[j];
    data[t + j] = (float)fp[j];
    data[2 * t + j] = (float)tn;
    data[3 * t + j] = (float)fn;
    data[4 * t + j] = (float)(fmax(tp[j], eps) / fmax(tp[j] + fp[j], eps));
    data[5 * t + j] = (float)(1.0 - fn / fmax(tp[j] + fn, eps));
  }
  return TV_OK;
}

int tv_events_pr_curve(tv_events *w, int64_t step, const char *tag, const float *data, int t) {
  int rc = check_append(w, step);
  if (rc == TV_OK) rc = check_tag(w, tag);
  if (rc) return rc;
  if (!data || t < 2 || t > TV_PR_CURVE_MAX_THRESHOLDS)
    return tv_error(TV_ERR_INVALID, "%s: %s: a PR curve needs data and 2..%d thresholds (%d)",
                    w->path, tag, TV_PR_CURVE_MAX_THRESHOLDS, t);
  /* PrCurvePluginData{1 version = 0, 2 num_thresholds = t} */
  unsigned char content[16];
  unsigned char *c = put_varint(put_key(content, 1, WT_VARINT), 0);
  c = put_varint(put_key(c, 2, WT_VARINT), (uint64_t)t);
  /* TensorProto{dtype DT_FLOAT, tensor_shape {dim {size 6}, dim {size t}}, float_val packed} */
  size_t d0 = 1 + varint_len(6), d1 = 1 + varint_len((uint64_t)t);
  size_t shape = len_field(d0) + len_field(d1), floats = (size_t)6 * (size_t)t * 4;
  size_t tlen = 2 + len_field(shape) + len_field(floats);
  unsigned char *tensor = malloc(tlen);
  if (!tensor) return tv_error(TV_ERR_NOMEM, "%s: %s: out of memory", w->path, tag);
  unsigned char *q = put_varint(put_key(tensor, 1, WT_VARINT), DT_FLOAT);
  q = put_len(q, 2, shape);
  q = put_len(q, 2, d0);
  q = put_varint(put_key(q, 1, WT_VARINT), 6);
  q = put_len(q, 2, d1);
  q = put_varint(put_key(q, 1, WT_VARINT), (uint64_t)t);
  q = put_len(q, 5, floats);
  for (size_t i = 0; i < (size_t)6 * (size_t)t; i++) {
    uint32_t u;
    memcpy(&u, &data[i], sizeof u);
    q = put_le(q, u, 4);
  }
  rc = put_plugin_tensor(w, step, tag, "pr_curves", content, (size_t)(c - content), tensor,
                         (size_t)(q - tensor));
  free(tensor);
  return rc;
}

/* ---- session start (a restart marker for TensorBoard) --------------------------------------- */

/* 1 if the writer's directory holds an event file other than its own (a resumed run). */
static int has_other_files(const tv_events *w) {
  const char *base = strrchr(w->path, '/');
  size_t dirlen = base ? (size_t)(base - w->path) : 0;
  char dir[4096];
  snprintf(dir, sizeof dir, "%.*s", (int)(dirlen < sizeof dir ? dirlen : sizeof dir - 1),
           base ? w->path : ".");
  base = base ? base + 1 : w->path;
  DIR *d = opendir(dir);
  if (!d) return 0;
  int found = 0;
  for (struct dirent *e; !found && (e = readdir(d)) != NULL;)
    found = !strncmp(e->d_name, "events.out.tfevents.", 20) && !strstr(e->d_name, ".tmp.") &&
            strcmp(e->d_name, base) != 0;
  closedir(d);
  return found;
}

int tv_events_session_start(tv_events *w, int64_t step) {
  int rc = check_append(w, step);
  if (rc) return rc;
  enum { SESSION_LOG_FIELD = 7, SESSION_LOG_START = 1 };
  size_t body = 2; /* SessionLog{status (1, varint) = START} */
  size_t payload = event_len(step, body);
  for (int i = has_other_files(w) ? 2 : 1; rc == TV_OK && i > 0; i--) {
    unsigned char *p = begin_record(w, payload, &rc);
    if (!p) return rc;
    unsigned char *q = put_event_head(p, next_wall(w), step, SESSION_LOG_FIELD, body);
    q = put_varint(put_key(q, 1, WT_VARINT), SESSION_LOG_START);
    rc = end_record(w, (size_t)(q - p));
  }
  return rc == TV_OK ? tv_events_flush(w) : rc;
}

/* ---- histograms --------------------------------------------------------------------------- */

/* TensorFlow's default edges: -DBL_MAX, -(1e-12 * 1.1^k) descending, 0, 1e-12 * 1.1^k below
 * 1e20, DBL_MAX.  Built once per writer, on its first histogram. */
static int init_limits(tv_events *w) {
  size_t npos = 0;
  for (double v = 1e-12; v < 1e20; v *= 1.1) npos++;
  size_t n = 2 * npos + 3;
  w->limits = malloc(n * sizeof *w->limits);
  w->counts = malloc(n * sizeof *w->counts);
  if (!w->limits || !w->counts) {
    free(w->limits);
    free(w->counts);
    w->limits = w->counts = NULL;
    return tv_error(TV_ERR_NOMEM, "%s: out of memory for histogram buckets", w->path);
  }
  w->limits[0] = -DBL_MAX;
  w->limits[npos + 1] = 0.0;
  w->limits[n - 1] = DBL_MAX;
  size_t k = 0;
  for (double v = 1e-12; v < 1e20; v *= 1.1, k++) {
    w->limits[npos + 2 + k] = v;
    w->limits[npos - k] = -v;
  }
  w->nlimits = n;
  return TV_OK;
}

/* Index of the bucket holding x: the first limit above x, the last bucket for x >= DBL_MAX. */
static size_t bucket_of(const double *limits, size_t n, double x) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (limits[mid] > x)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo < n ? lo : n - 1;
}

/* Last bucket of the output group starting at i: i itself if it is not empty, else the end of
 * the run of empty buckets (written as one). */
static size_t group_end(const double *counts, size_t n, size_t i) {
  if (counts[i] > 0) return i;
  while (i + 1 < n && counts[i + 1] <= 0) i++;
  return i;
}

int tv_events_histogram(tv_events *w, int64_t step, const char *tag, const float *x, size_t n) {
  int rc = check_append(w, step);
  if (rc) return rc;
  rc = check_tag(w, tag);
  if (rc) return rc;
  if (!x && n > 0) return tv_error(TV_ERR_INVALID, "%s: histogram %s: NULL data", w->path, tag);
  if (!w->limits && (rc = init_limits(w)) != TV_OK) return rc;
  size_t nl = w->nlimits;
  memset(w->counts, 0, nl * sizeof *w->counts);
  double mn = 0, mx = 0, sum = 0, sumsq = 0;
  for (size_t i = 0; i < n; i++) {
    double v = x[i];
    if (!isfinite(v))
      return tv_error(TV_ERR_NONFINITE, "%s: histogram %s: x[%zu] is %g", w->path, tag, i, v);
    if (i == 0 || v < mn) mn = v;
    if (i == 0 || v > mx) mx = v;
    sum += v;
    sumsq += v * v;
    w->counts[bucket_of(w->limits, nl, v)] += 1;
  }
  size_t nbuckets = 0;
  for (size_t i = 0; i < nl; i = group_end(w->counts, nl, i) + 1) nbuckets++;
  size_t packed = 8 * nbuckets;
  size_t histo = 5 * 9 + 2 * len_field(packed);
  size_t taglen = strlen(tag);
  size_t value = len_field(taglen) + len_field(histo);
  size_t summary = len_field(value);
  size_t payload = event_len(step, summary);
  unsigned char *p = begin_record(w, payload, &rc);
  if (!p) return rc;
  unsigned char *q = put_event_head(p, next_wall(w), step, 5, summary);
  q = put_len(q, 1, value);
  q = put_string(q, 1, tag, taglen);
  q = put_len(q, 5, histo);
  q = put_double(q, 1, mn);
  q = put_double(q, 2, mx);
  q = put_double(q, 3, (double)n);
  q = put_double(q, 4, sum);
  q = put_double(q, 5, sumsq);
  q = put_len(q, 6, packed);
  for (size_t i = 0, e; i < nl; i = e + 1) {
    e = group_end(w->counts, nl, i);
    q = put_double_raw(q, w->limits[e]);
  }
  q = put_len(q, 7, packed);
  for (size_t i = 0, e; i < nl; i = e + 1) {
    e = group_end(w->counts, nl, i);
    q = put_double_raw(q, w->counts[e]);
  }
  return end_record(w, (size_t)(q - p));
}

/* ---- resume support: purge records past a step ---------------------------------------------- */

/* The step of an Event payload (field 2, varint); 0 when absent.  *version is set to 1 for the
 * file_version record (field 3, a string), which every purge keeps.  Read through pbwire.h; in a
 * payload that is not a well-formed message (its CRC matched: another writer's bug) the fields
 * before the malformed one count. */
static int64_t event_step(const unsigned char *p, size_t n, int *version) {
  const unsigned char *end = p + n;
  tv_pb_field f;
  int64_t step = 0;
  *version = 0;
  while (tv_pb_next(&p, end, &f) == 1) {
    if (f.num == 2 && f.wire == 0) step = (int64_t)f.u;
    if (f.num == 3 && f.wire == 2) *version = 1;
  }
  return step;
}

static int purge_file(const char *path, int64_t step, long *dropped) {
  char *data;
  size_t len;
  int rc = tv_fs_read_all(path, &data, &len);
  if (rc != TV_OK) return rc;
  const unsigned char *p = (const unsigned char *)data;
  size_t at = 0, out = 0;
  long removed = 0;
  while (at < len) {
    if (len - at < 12) { /* torn header at the end */
      removed++;
      break;
    }
    uint64_t n = tv_pb_le(p + at, 8);
    if ((uint32_t)tv_pb_le(p + at + 8, 4) != masked_crc(p + at, 8)) {
      rc = tv_error(TV_ERR_FORMAT, "%s: record at byte %zu: length CRC mismatch", path, at);
      goto out;
    }
    if (n > len - at - 12 || len - at - 12 - n < 4) { /* torn payload at the end */
      removed++;
      break;
    }
    size_t rec = 12 + (size_t)n + 4;
    if ((uint32_t)tv_pb_le(p + at + 12 + n, 4) != masked_crc(p + at + 12, (size_t)n)) {
      rc = tv_error(TV_ERR_FORMAT, "%s: record at byte %zu: payload CRC mismatch", path, at);
      goto out;
    }
    int version;
    int64_t s = event_step(p + at + 12, (size_t)n, &version);
    if (version || s <= step) {
      memmove(data + out, data + at, rec);
      out += rec;
    } else {
      removed++;
    }
    at += rec;
  }
  if (removed > 0) rc = tv_fs_write_atomic(path, data, out);
  if (rc == TV_OK) *dropped += removed;
out:
  free(data);
  return rc;
}

int tv_events_purge_after(const char *dir, int64_t step, long *dropped) {
  long total = 0;
  if (dropped) *dropped = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return TV_OK;
    return tv_error_errno(TV_ERR_IO, errno, "%s: cannot list", dir);
  }
  int rc = TV_OK;
  struct dirent *e;
  while (rc == TV_OK && (e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "events.out.tfevents.", 20) != 0) continue;
    if (strstr(e->d_name, ".tmp.")) continue;
    char path[4096];
    rc = tv_fs_join(path, sizeof path, dir, e->d_name);
    if (rc == TV_OK) rc = purge_file(path, step, &total);
  }
  closedir(d);
  if (dropped) *dropped = total;
  return rc;
}
