/* tfrecord.c — test-only TFRecord / Event reader (see tfrecord.h).  Bitwise CRC-32C and its own
 * decoding of the Event messages, sharing nothing with common/rundir/events.c (the writer) but
 * tv_fs_read_all; the wire format's fields come from the library's reader (pbwire.h),
 * which test_pbwire.c checks against hand-encoded bytes. */
#include "tfrecord.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "trainval/error.h"
#include "base/fs.h"
#include "trainval/pbwire.h"

uint32_t tvt_masked_crc32c(const void *data, size_t len) {
  const unsigned char *p = data;
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
  }
  c = ~c;
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static double get_double(const unsigned char *p) {
  uint64_t u = tv_pb_le(p, 8);
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

static void copy_str(char *out, size_t cap, const tv_pb_field *f) {
  size_t n = (size_t)(f->e - f->s);
  if (n >= cap) n = cap - 1;
  memcpy(out, f->s, n);
  out[n] = '\0';
}

static int decode_histo(const unsigned char *p, const unsigned char *end, tvt_histo *h) {
  tv_pb_field f;
  int r;
  memset(h, 0, sizeof *h);
  h->limits_increasing = 1;
  while ((r = tv_pb_next(&p, end, &f)) == 1) {
    if (f.num >= 1 && f.num <= 5) {
      if (f.wire != 1) return -1;
      double d;
      memcpy(&d, &f.u, sizeof d);
      double *dst[] = {&h->min, &h->max, &h->num, &h->sum, &h->sum_squares};
      *dst[f.num - 1] = d;
    } else if (f.num == 6 || f.num == 7) {
      if (f.wire != 2 || (f.e - f.s) % 8) return -1; /* we expect packed doubles */
      for (const unsigned char *q = f.s; q < f.e; q += 8) {
        double d = get_double(q);
        if (f.num == 6) {
          if (h->nlimits == 0)
            h->first_limit = d;
          else if (!(d > h->last_limit))
            h->limits_increasing = 0;
          h->last_limit = d;
          h->nlimits++;
        } else {
          h->bucket_total += d;
          h->nbuckets++;
        }
      }
    }
  }
  return r;
}

/* SummaryMetadata{1 plugin_data{1 plugin_name}, 4 data_class}. */
static int decode_metadata(const unsigned char *p, const unsigned char *end, tvt_tensor *t) {
  tv_pb_field f, g;
  int r;
  while ((r = tv_pb_next(&p, end, &f)) == 1) {
    if (f.num == 1) {
      if (f.wire != 2) return -1;
      const unsigned char *q = f.s;
      int rs;
      while ((rs = tv_pb_next(&q, f.e, &g)) == 1)
        if (g.num == 1) {
          if (g.wire != 2) return -1;
          copy_str(t->plugin, sizeof t->plugin, &g);
        } else if (g.num == 2) {
          if (g.wire != 2) return -1;
          t->content_len = (size_t)(g.e - g.s);
          memcpy(t->content, g.s, t->content_len < TVT_TEXT_CAP ? t->content_len : TVT_TEXT_CAP);
        }
      if (rs != 0) return -1;
    } else if (f.num == 4) {
      if (f.wire != 0) return -1;
      t->data_class = (int)f.u;
    }
  }
  return r;
}

/* TensorProto{1 dtype, 2 tensor_shape{2 dim{1 size}}, 8 string_val}. */
static int decode_tensor(const unsigned char *p, const unsigned char *end, tvt_tensor *t) {
  tv_pb_field f, g, h;
  int r;
  while ((r = tv_pb_next(&p, end, &f)) == 1) {
    if (f.num == 1) {
      if (f.wire != 0) return -1;
      t->dtype = (int)f.u;
    } else if (f.num == 2) {
      if (f.wire != 2) return -1;
      const unsigned char *q = f.s;
      int rs;
      while ((rs = tv_pb_next(&q, f.e, &g)) == 1) {
        if (g.num != 2) continue;
        if (g.wire != 2 || t->ndims == TVT_MAX_DIMS) return -1;
        const unsigned char *u = g.s;
        int64_t size = 0;
        int rd;
        while ((rd = tv_pb_next(&u, g.e, &h)) == 1)
          if (h.num == 1 && h.wire == 0) size = (int64_t)h.u;
        if (rd != 0) return -1;
        t->dims[t->ndims++] = size;
      }
      if (rs != 0) return -1;
    } else if (f.num == 5 && (f.wire == 2 || f.wire == 5)) { /* float_val, packed or not */
      if (f.wire == 5) {
        uint32_t u = (uint32_t)f.u;
        if (t->nfloats == 0) memcpy(&t->float0, &u, 4);
        if (t->nfloats < TVT_MAX_FLOATS) memcpy(&t->floats[t->nfloats], &u, 4);
        t->nfloats++;
      } else {
        if ((f.e - f.s) % 4) return -1;
        if (t->nfloats == 0 && f.e > f.s) memcpy(&t->float0, f.s, 4);
        for (const unsigned char *q = f.s; q < f.e; q += 4, t->nfloats++)
          if (t->nfloats < TVT_MAX_FLOATS) memcpy(&t->floats[t->nfloats], q, 4);
      }
    } else if (f.num == 8) {
      if (f.wire != 2) return -1;
      if (t->nstrings++ == 0) {
        t->string_len = (size_t)(f.e - f.s);
        copy_str(t->string, sizeof t->string, &f);
      }
    }
  }
  return r;
}

static int decode_image(const unsigned char *p, const unsigned char *end, tvt_image *im) {
  tv_pb_field f;
  int r;
  while ((r = tv_pb_next(&p, end, &f)) == 1) {
    if (f.num >= 1 && f.num <= 3) {
      if (f.wire != 0) return -1;
      *(f.num == 1 ? &im->height : f.num == 2 ? &im->width : &im->colorspace) = (int)f.u;
    } else if (f.num == 4) {
      if (f.wire != 2) return -1;
      im->len = (size_t)(f.e - f.s);
      memcpy(im->head, f.s, im->len < TVT_PNG_HEAD ? im->len : TVT_PNG_HEAD);
      im->crc = (uint32_t)crc32(0L, f.s, (uInt)im->len);
    }
  }
  return r;
}

static int decode_value(const unsigned char *p, const unsigned char *end, tvt_value *v) {
  tv_pb_field f;
  int r;
  memset(v, 0, sizeof *v);
  while ((r = tv_pb_next(&p, end, &f)) == 1) {
    if (f.num == 1 && f.wire == 2) {
      copy_str(v->tag, sizeof v->tag, &f);
    } else if (f.num == 2 && f.wire == 5) {
      uint32_t u = (uint32_t)f.u;
      memcpy(&v->simple_value, &u, sizeof u);
      v->has_simple_value = 1;
    } else if (f.num == 4 && f.wire == 2) {
      if (decode_image(f.s, f.e, &v->image) != 0) return -1;
      v->has_image = 1;
    } else if (f.num == 5 && f.wire == 2) {
      if (decode_histo(f.s, f.e, &v->histo) != 0) return -1;
      v->has_histo = 1;
    } else if (f.num == 8 && f.wire == 2) {
      if (decode_tensor(f.s, f.e, &v->tensor) != 0) return -1;
      v->has_tensor = 1;
    } else if (f.num == 9 && f.wire == 2) {
      if (decode_metadata(f.s, f.e, &v->tensor) != 0) return -1;
      v->has_metadata = 1;
    } else if (f.num <= 2 || f.num == 4 || f.num == 5 || f.num == 8 || f.num == 9) {
      return -1; /* a known field with the wrong wire type */
    }
  }
  return r;
}

static int decode_event(const unsigned char *p, const unsigned char *end, tvt_event *ev) {
  tv_pb_field f, g;
  int r;
  memset(ev, 0, sizeof *ev);
  while ((r = tv_pb_next(&p, end, &f)) == 1) {
    if (f.num == 1) {
      if (f.wire != 1) return -1;
      memcpy(&ev->wall_time, &f.u, sizeof ev->wall_time);
    } else if (f.num == 2) {
      if (f.wire != 0) return -1;
      ev->step = (int64_t)f.u;
    } else if (f.num == 3) {
      if (f.wire != 2) return -1;
      copy_str(ev->file_version, sizeof ev->file_version, &f);
      ev->has_file_version = 1;
    } else if (f.num == 7) {
      if (f.wire != 2) return -1;
      ev->has_session_log = 1;
      const unsigned char *q = f.s;
      int rs;
      while ((rs = tv_pb_next(&q, f.e, &g)) == 1)
        if (g.num == 1 && g.wire == 0) ev->session_status = (int)g.u;
      if (rs != 0) return -1;
    } else if (f.num == 5) {
      if (f.wire != 2) return -1;
      ev->has_summary = 1;
      const unsigned char *q = f.s;
      int rs;
      while ((rs = tv_pb_next(&q, f.e, &g)) == 1) {
        if (g.num != 1) continue;
        if (g.wire != 2 || ev->nvalues == TVT_MAX_VALUES) return -1;
        if (decode_value(g.s, g.e, &ev->values[ev->nvalues++]) != 0) return -1;
      }
      if (rs != 0) return -1;
    }
  }
  return r;
}

int tvt_reader_open(tvt_reader *r, const char *path) {
  memset(r, 0, sizeof *r);
  return tv_fs_read_all(path, &r->data, &r->len);
}

void tvt_reader_close(tvt_reader *r) {
  free(r->data);
  memset(r, 0, sizeof *r);
}

int tvt_reader_next(tvt_reader *r, tvt_event *ev) {
  const unsigned char *d = (const unsigned char *)r->data;
  size_t at = r->pos, left = r->len - r->pos;
  long i = r->index;
  if (left == 0) return TVT_END;
  if (left < 12) return tv_error(TV_ERR_FORMAT, "record %ld @ %zu: truncated header", i, at);
  uint64_t len = tv_pb_le(d + at, 8);
  if ((uint32_t)tv_pb_le(d + at + 8, 4) != tvt_masked_crc32c(d + at, 8))
    return tv_error(TV_ERR_FORMAT, "record %ld @ %zu: length CRC mismatch", i, at);
  if (len > left - 12 || left - 12 - len < 4)
    return tv_error(TV_ERR_FORMAT, "record %ld @ %zu: truncated payload", i, at);
  const unsigned char *payload = d + at + 12;
  if ((uint32_t)tv_pb_le(payload + len, 4) != tvt_masked_crc32c(payload, len))
    return tv_error(TV_ERR_FORMAT, "record %ld @ %zu: payload CRC mismatch", i, at);
  if (decode_event(payload, payload + len, ev) != 0)
    return tv_error(TV_ERR_FORMAT, "record %ld @ %zu: malformed Event", i, at);
  r->pos = at + 12 + len + 4;
  r->index++;
  return TV_OK;
}

int tvt_read_file(const char *path, tvt_event *ev, int cap, int *n) {
  tvt_reader r;
  *n = 0;
  int rc = tvt_reader_open(&r, path);
  while (rc == TV_OK) {
    if (*n == cap) {
      rc = tv_error(TV_ERR_FORMAT, "%s: more than %d records", path, cap);
      break;
    }
    rc = tvt_reader_next(&r, &ev[*n]);
    if (rc == TV_OK) (*n)++;
  }
  tvt_reader_close(&r);
  return rc == TVT_END ? TV_OK : rc;
}
