/* imgdir.c — image folders (one subfolder per class) and single PNG / JPEG images, decoded with
 * libpng and libjpeg into uint8 NCHW examples of the configured shape (see data.h, IMAGE
 * FOLDERS).
 *
 * Every image is read whole into memory and decoded from there, so the decoders have one entry
 * point that needs no file (tv_imgdir_decode).  Both libraries report errors by calling a
 * function that must not return: ours records the library's message in the decoder's context
 * and longjmps back to the setjmp in the function that started the decode, which frees what the
 * context holds and returns one error naming the file.  Everything that must survive the jump
 * (the pixel buffer, libpng's row pointers) lives in that context, not in local variables.
 * libjpeg's warnings about corrupt data (emit_message at level -1: a premature end of the file,
 * a bad Huffman code) take the error path too, because libjpeg would otherwise fill the rest of
 * the image with grey and carry on; libpng's warnings (ancillary chunks) are ignored.  Neither
 * library prints anything.
 */
#include "trainval/data.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/readers.h"
#include "trainval/files.h"

enum {
  MSG_CAP = 200,
  MAX_FILE_BYTES = 256 << 20, /* one image file */
  PATH_CAP = 4096,
};

/* A decoded image: h rows of w pixels of ch interleaved 8-bit samples (ch 1 or 3). */
typedef struct raw_image {
  int w, h, ch;
  uint8_t *px;
  png_bytep *rows; /* libpng's row pointers into px while it decodes */
} raw_image;

static void raw_free(raw_image *r) {
  free(r->px);
  free(r->rows);
  r->px = NULL;
  r->rows = NULL;
}

static int too_large(uint64_t w, uint64_t h) {
  return w == 0 || h == 0 || w > TV_IMGDIR_MAX_SIDE || h > TV_IMGDIR_MAX_SIDE ||
         w * h > TV_IMGDIR_MAX_PIXELS;
}

/* ---- PNG ---------------------------------------------------------------------------------- */

typedef struct png_ctx {
  jmp_buf jump;
  char msg[MSG_CAP];
  const uint8_t *data;
  size_t len, at;
  raw_image *img;
} png_ctx;

static void png_fail_fn(png_structp png, png_const_charp msg) {
  png_ctx *x = png_get_error_ptr(png);
  snprintf(x->msg, sizeof x->msg, "%s", msg);
  longjmp(x->jump, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void png_read_fn(png_structp png, png_bytep out, size_t n) {
  png_ctx *x = png_get_io_ptr(png);
  if (x->len - x->at < n) png_error(png, "truncated: the file ends early");
  memcpy(out, x->data + x->at, n);
  x->at += n;
}

static int decode_png(const uint8_t *data, size_t len, const char *name, raw_image *img) {
  png_ctx x = {.data = data, .len = len, .img = img};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &x, png_fail_fn, png_warn_fn);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return tv_error(TV_ERR_NOMEM, "%s: out of memory for the PNG decoder", name);
  }
  if (setjmp(x.jump)) {
    png_destroy_read_struct(&png, &info, NULL);
    raw_free(img);
    return tv_error(TV_ERR_FORMAT, "%s: damaged PNG: %s", name, x.msg);
  }
  png_set_read_fn(png, &x, png_read_fn);
  png_set_user_limits(png, TV_IMGDIR_MAX_SIDE, TV_IMGDIR_MAX_SIDE);
  png_set_benign_errors(png, 0);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (too_large(w, h)) png_error(png, "image too large");
  png_set_expand(png); /* palette -> RGB, grey below 8 bits -> 8, tRNS -> alpha */
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int ch = png_get_channels(png, info);
  if ((ch != 1 && ch != 3) || png_get_rowbytes(png, info) != (size_t)w * (size_t)ch)
    png_error(png, "unexpected sample layout");
  img->w = (int)w;
  img->h = (int)h;
  img->ch = ch;
  img->px = malloc((size_t)w * h * (size_t)ch);
  img->rows = malloc((size_t)h * sizeof *img->rows);
  if (!img->px || !img->rows) png_error(png, "out of memory for the pixels");
  for (png_uint_32 r = 0; r < h; r++) img->rows[r] = img->px + (size_t)r * w * (size_t)ch;
  png_read_image(png, img->rows);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  free(img->rows);
  img->rows = NULL;
  return TV_OK;
}

/* ---- JPEG --------------------------------------------------------------------------------- */

typedef struct jpeg_ctx {
  struct jpeg_error_mgr pub; /* first: libjpeg hands us a pointer to it */
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
} jpeg_ctx;

static void jpeg_fail_fn(j_common_ptr c) {
  jpeg_ctx *x = (jpeg_ctx *)c->err;
  c->err->format_message(c, x->msg);
  longjmp(x->jump, 1);
}

/* Level -1 is a warning about corrupt data: an error here.  Trace levels are ignored. */
static void jpeg_emit_fn(j_common_ptr c, int level) {
  if (level < 0) jpeg_fail_fn(c);
}

static void jpeg_output_fn(j_common_ptr c) { (void)c; }

static void jpeg_fail_msg(j_common_ptr c, const char *msg) {
  jpeg_ctx *x = (jpeg_ctx *)c->err;
  snprintf(x->msg, sizeof x->msg, "%s", msg);
  longjmp(x->jump, 1);
}

static int decode_jpeg(const uint8_t *data, size_t len, const char *name, int grey,
                       raw_image *img) {
  struct jpeg_decompress_struct ci;
  jpeg_ctx x;
  memset(&x, 0, sizeof x);
  ci.err = jpeg_std_error(&x.pub);
  x.pub.error_exit = jpeg_fail_fn;
  x.pub.emit_message = jpeg_emit_fn;
  x.pub.output_message = jpeg_output_fn;
  if (setjmp(x.jump)) {
    jpeg_destroy_decompress(&ci);
    raw_free(img);
    return tv_error(TV_ERR_FORMAT, "%s: damaged JPEG: %s", name, x.msg);
  }
  jpeg_create_decompress(&ci);
  jpeg_mem_src(&ci, data, (unsigned long)len);
  jpeg_read_header(&ci, TRUE);
  if (too_large(ci.image_width, ci.image_height))
    jpeg_fail_msg((j_common_ptr)&ci, "image too large");
  if (ci.jpeg_color_space != JCS_GRAYSCALE && ci.jpeg_color_space != JCS_YCbCr &&
      ci.jpeg_color_space != JCS_RGB)
    jpeg_fail_msg((j_common_ptr)&ci, "colour space is not grey, YCbCr or RGB (CMYK?)");
  ci.out_color_space = grey ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&ci);
  int ch = ci.output_components;
  if (ch != (grey ? 1 : 3)) jpeg_fail_msg((j_common_ptr)&ci, "unexpected sample layout");
  img->w = (int)ci.output_width;
  img->h = (int)ci.output_height;
  img->ch = ch;
  size_t stride = (size_t)img->w * (size_t)ch;
  img->px = malloc(stride * (size_t)img->h);
  if (!img->px) jpeg_fail_msg((j_common_ptr)&ci, "out of memory for the pixels");
  while (ci.output_scanline < ci.output_height) {
    JSAMPROW row = img->px + (size_t)ci.output_scanline * stride;
    if (jpeg_read_scanlines(&ci, &row, 1) != 1) jpeg_fail_msg((j_common_ptr)&ci, "truncated");
  }
  jpeg_finish_decompress(&ci);
  jpeg_destroy_decompress(&ci);
  return TV_OK;
}

/* ---- channels and size -------------------------------------------------------------------- */

/* Plane k of the output's channels at the image's own size, from interleaved img. */
static void to_plane(const raw_image *img, int channels, int k, uint8_t *plane) {
  size_t n = (size_t)img->w * (size_t)img->h;
  const uint8_t *p = img->px;
  for (size_t i = 0; i < n; i++) {
    if (img->ch == channels)
      plane[i] = p[i * (size_t)img->ch + (size_t)k];
    else if (img->ch == 1)
      plane[i] = p[i];
    else
      plane[i] =
          (uint8_t)((299u * p[3 * i] + 587u * p[3 * i + 1] + 114u * p[3 * i + 2] + 500u) / 1000u);
  }
}

/* Bilinear, half-pixel centres, edge clamped (see IMAGE FOLDERS in data.h). */
static void resize_plane(const uint8_t *src, int sh, int sw, uint8_t *dst, int dh, int dw) {
  float ry = (float)sh / (float)dh, rx = (float)sw / (float)dw;
  for (int y = 0; y < dh; y++) {
    float fy = ((float)y + 0.5f) * ry - 0.5f;
    if (fy < 0) fy = 0;
    int y0 = (int)fy, y1 = y0 + 1 < sh ? y0 + 1 : sh - 1;
    float ly = fy - (float)y0;
    for (int x = 0; x < dw; x++) {
      float fx = ((float)x + 0.5f) * rx - 0.5f;
      if (fx < 0) fx = 0;
      int x0 = (int)fx, x1 = x0 + 1 < sw ? x0 + 1 : sw - 1;
      float lx = fx - (float)x0;
      const uint8_t *a = src + (size_t)y0 * (size_t)sw, *b = src + (size_t)y1 * (size_t)sw;
      float v = (1 - ly) * ((1 - lx) * a[x0] + lx * a[x1]) + ly * ((1 - lx) * b[x0] + lx * b[x1]);
      int q = (int)(v + 0.5f);
      dst[(size_t)y * (size_t)dw + (size_t)x] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
    }
  }
}

static int check_opts(const tv_imgdir_opts *o) {
  if ((o->channels != 1 && o->channels != 3) || o->height < 1 || o->width < 1 ||
      o->height > TV_IMGDIR_MAX_SIDE || o->width > TV_IMGDIR_MAX_SIDE ||
      (o->resize != TV_RESIZE_NONE && o->resize != TV_RESIZE_BILINEAR))
    return tv_error(TV_ERR_INVALID,
                    "images: %d channels of %d x %d pixels: expected 1 or 3 channels of 1..%d",
                    o->channels, o->height, o->width, TV_IMGDIR_MAX_SIDE);
  return TV_OK;
}

int tv_imgdir_decode(const void *data, size_t len, const char *name, const tv_imgdir_opts *o,
                     uint8_t *out) {
  int rc = check_opts(o);
  if (rc != TV_OK) return rc;
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  static const uint8_t jpeg_sig[3] = {0xff, 0xd8, 0xff};
  raw_image img = {0};
  if (len >= sizeof png_sig && !memcmp(data, png_sig, sizeof png_sig))
    rc = decode_png(data, len, name, &img);
  else if (len >= sizeof jpeg_sig && !memcmp(data, jpeg_sig, sizeof jpeg_sig))
    rc = decode_jpeg(data, len, name, o->channels == 1, &img);
  else
    return tv_error(TV_ERR_FORMAT, "%s: neither PNG nor JPEG (by its first bytes)", name);
  if (rc != TV_OK) return rc;
  if ((img.w != o->width || img.h != o->height) && o->resize == TV_RESIZE_NONE) {
    raw_free(&img);
    return tv_error(TV_ERR_FORMAT,
                    "%s: image is %d x %d (height x width), the data is %d x %d (data.resize: "
                    "bilinear resizes)",
                    name, img.h, img.w, o->height, o->width);
  }
  size_t plane = (size_t)img.w * (size_t)img.h, out_plane = (size_t)o->width * (size_t)o->height;
  uint8_t *tmp = malloc(plane);
  if (!tmp) {
    raw_free(&img);
    return tv_error(TV_ERR_NOMEM, "%s: out of memory", name);
  }
  for (int k = 0; k < o->channels; k++) {
    to_plane(&img, o->channels, k, tmp);
    if (img.w == o->width && img.h == o->height)
      memcpy(out + (size_t)k * out_plane, tmp, plane);
    else
      resize_plane(tmp, img.h, img.w, out + (size_t)k * out_plane, o->height, o->width);
  }
  free(tmp);
  raw_free(&img);
  return TV_OK;
}

int tv_imgdir_load(const char *path, const tv_imgdir_opts *o, uint8_t *out) {
  char *data;
  size_t len;
  int rc = tv_fs_read_file(path, MAX_FILE_BYTES, &data, &len);
  if (rc != TV_OK) return rc;
  rc = tv_imgdir_decode(data, len, path, o, out);
  free(data);
  return rc;
}

/* ---- folders ------------------------------------------------------------------------------ */

/* A sorted list of names. */
typedef struct names {
  char **v;
  size_t n, cap;
} names;

static void names_free(names *l) {
  for (size_t i = 0; i < l->n; i++) free(l->v[i]);
  free(l->v);
  *l = (names){0};
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *s) {
  const char *dot = strrchr(s, '.');
  return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* The entries of dir that are folders (want_dirs) or image files, sorted, hidden ones skipped. */
static int list_dir(const char *dir, int want_dirs, names *out) {
  *out = (names){0};
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return tv_error(TV_ERR_NOT_FOUND, "%s: no such folder", dir);
    return tv_error_errno(TV_ERR_IO, errno, "%s: cannot list", dir);
  }
  int rc = TV_OK;
  char path[PATH_CAP];
  for (struct dirent *e; rc == TV_OK && (errno = 0, e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) {
      rc = tv_error(TV_ERR_INVALID, "%s/%s: path too long", dir, e->d_name);
      break;
    }
    if (stat(path, &st) != 0) continue; /* a dangling link is no entry */
    if (want_dirs ? !S_ISDIR(st.st_mode) : !(S_ISREG(st.st_mode) && is_image_name(e->d_name)))
      continue;
    if (out->n == out->cap) {
      size_t cap = out->cap ? out->cap * 2 : 64;
      char **v = realloc(out->v, cap * sizeof *v);
      if (!v) {
        rc = tv_error(TV_ERR_NOMEM, "%s: out of memory listing it", dir);
        break;
      }
      out->v = v;
      out->cap = cap;
    }
    if (!(out->v[out->n] = strdup(e->d_name))) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory listing it", dir);
      break;
    }
    out->n++;
  }
  if (rc == TV_OK && errno != 0) rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot list", dir);
  closedir(d);
  if (rc != TV_OK) {
    names_free(out);
    return rc;
  }
  if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_names);
  return TV_OK;
}

int tv_imgdir_estimate(const tv_data_spec *sp, tv_data_need *need) {
  memset(need, 0, sizeof *need);
  names classes, files;
  int rc = list_dir(sp->x, 1, &classes);
  if (rc != TV_OK) return rc;
  uint64_t total = 0, per = (uint64_t)sp->channels * (uint64_t)sp->height * (uint64_t)sp->width;
  char path[PATH_CAP];
  for (size_t k = 0; k < classes.n && rc == TV_OK; k++) {
    if (snprintf(path, sizeof path, "%s/%s", sp->x, classes.v[k]) >= (int)sizeof path)
      rc = tv_error(TV_ERR_INVALID, "%s/%s: path too long", sp->x, classes.v[k]);
    if (rc == TV_OK) rc = list_dir(path, 0, &files);
    if (rc == TV_OK) total += files.n;
    if (rc == TV_OK) names_free(&files);
  }
  names_free(&classes);
  if (rc != TV_OK) return rc;
  need->held = need->peak = total * (per + sizeof(int32_t)); /* pixels and a class id each */
  return TV_OK;
}

int tv_dataset_load_imgdir(const char *dir, const tv_imgdir_opts *o, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  int rc = check_opts(o);
  if (rc != TV_OK) return rc;
  names classes;
  rc = list_dir(dir, 1, &classes);
  if (rc != TV_OK) return rc;
  names *files = NULL;
  tv_dataset d = {.c = o->channels, .h = o->height, .w = o->width};
  char path[PATH_CAP];
  if (classes.n == 0 || classes.n > TV_DATA_MAX_CLASSES) {
    rc = tv_error(TV_ERR_FORMAT, "%s: %zu class folders (expected one folder per class, 1 to %d)",
                  dir, classes.n, TV_DATA_MAX_CLASSES);
    goto out;
  }
  files = calloc(classes.n, sizeof *files);
  if (!files) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", dir);
    goto out;
  }
  uint64_t total = 0;
  for (size_t k = 0; k < classes.n && rc == TV_OK; k++) {
    if (snprintf(path, sizeof path, "%s/%s", dir, classes.v[k]) >= (int)sizeof path)
      rc = tv_error(TV_ERR_INVALID, "%s/%s: path too long", dir, classes.v[k]);
    if (rc == TV_OK) rc = list_dir(path, 0, &files[k]);
    if (rc == TV_OK && files[k].n == 0)
      rc = tv_error(TV_ERR_FORMAT, "%s: class folder without .png, .jpg or .jpeg images", path);
    total += files[k].n;
  }
  if (rc != TV_OK) goto out;
  size_t per = (size_t)o->channels * (size_t)o->height * (size_t)o->width;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  uint64_t mem = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : UINT64_MAX;
  if (total > UINT32_MAX || total > SIZE_MAX / per || total * per > mem) {
    rc = tv_error(TV_ERR_NOMEM, "%s: %llu images of %zu bytes do not fit in memory", dir,
                  (unsigned long long)total, per);
    goto out;
  }
  d.n = (uint32_t)total;
  d.num_classes = (int)classes.n;
  d.images = malloc((size_t)total * per);
  d.labels = malloc((size_t)total * sizeof *d.labels);
  d.names = calloc(classes.n, sizeof *d.names);
  if (!d.images || !d.labels || !d.names) {
    rc =
        tv_error(TV_ERR_NOMEM, "%s: out of memory for %llu images", dir, (unsigned long long)total);
    goto out;
  }
  size_t i = 0;
  for (size_t k = 0; k < classes.n && rc == TV_OK; k++) {
    d.names[k] = classes.v[k];
    classes.v[k] = NULL;
    for (size_t f = 0; f < files[k].n && rc == TV_OK; f++, i++) {
      if (snprintf(path, sizeof path, "%s/%s/%s", dir, d.names[k], files[k].v[f]) >=
          (int)sizeof path)
        rc = tv_error(TV_ERR_INVALID, "%s/%s/%s: path too long", dir, d.names[k], files[k].v[f]);
      if (rc == TV_OK) rc = tv_imgdir_load(path, o, d.images + i * per);
      d.labels[i] = (int32_t)k;
    }
  }
  if (rc != TV_OK) goto out;
  *ds = d;
  d = (tv_dataset){0};
out:
  if (files)
    for (size_t k = 0; k < classes.n; k++) names_free(&files[k]);
  free(files);
  names_free(&classes);
  tv_dataset_free(&d);
  return rc;
}

void tv_imgdir_files_free(char **files, uint32_t n) {
  if (!files) return;
  for (uint32_t i = 0; i < n; i++) free(files[i]);
  free(files);
}

int tv_dataset_load_image_files(const char *dir, const tv_imgdir_opts *o, tv_dataset *ds,
                                char ***files) {
  memset(ds, 0, sizeof *ds);
  *files = NULL;
  int rc = check_opts(o);
  if (rc != TV_OK) return rc;
  names list;
  rc = list_dir(dir, 0, &list);
  if (rc != TV_OK) return rc;
  tv_dataset d = {.c = o->channels, .h = o->height, .w = o->width};
  size_t per = (size_t)o->channels * (size_t)o->height * (size_t)o->width;
  char path[PATH_CAP];
  if (list.n == 0) {
    rc = tv_error(TV_ERR_FORMAT, "%s: no .png, .jpg or .jpeg images in the folder", dir);
    goto out;
  }
  if (list.n > UINT32_MAX || list.n > SIZE_MAX / per) {
    rc = tv_error(TV_ERR_NOMEM, "%s: %zu images do not fit in memory", dir, list.n);
    goto out;
  }
  d.n = (uint32_t)list.n;
  d.images = malloc(list.n * per);
  d.labels = calloc(list.n, sizeof *d.labels);
  if (!d.images || !d.labels) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory for %zu images", dir, list.n);
    goto out;
  }
  for (size_t i = 0; i < list.n && rc == TV_OK; i++) {
    if (snprintf(path, sizeof path, "%s/%s", dir, list.v[i]) >= (int)sizeof path)
      rc = tv_error(TV_ERR_INVALID, "%s/%s: path too long", dir, list.v[i]);
    if (rc == TV_OK) rc = tv_imgdir_load(path, o, d.images + i * per);
  }
  if (rc != TV_OK) goto out;
  *ds = d;
  d = (tv_dataset){0};
  *files = list.v;
  list = (names){0};
out:
  names_free(&list);
  tv_dataset_free(&d);
  return rc;
}
