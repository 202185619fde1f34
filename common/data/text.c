/* text.c — text corpora (corpus.h): the "text" reader of the data-source table, the split and
 * byte vocabulary, and the token batcher with its checkpoint part.
 * Invariants: a tv_stream's window is < its windows per epoch; its ids are borrowed. */
#include "trainval/corpus.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainval/ckpt.h"

/* ---- reading ----------------------------------------------------------------------------------
 */

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Appends the bytes of the regular file path to *buf (size *n, capacity *cap). */
static int append_file(const char *path, uint8_t **buf, size_t *n, size_t *cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return tv_error(TV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  int rc = TV_OK;
  for (;;) {
    if (*cap - *n < 65536) {
      size_t want = *cap ? 2 * *cap : 1 << 20;
      uint8_t *p = realloc(*buf, want);
      if (!p) {
        rc = tv_error(TV_ERR_NOMEM, "%s: out of memory reading the corpus", path);
        break;
      }
      *buf = p, *cap = want;
    }
    size_t got = fread(*buf + *n, 1, *cap - *n, f);
    *n += got;
    if (got == 0) {
      if (ferror(f)) rc = tv_error(TV_ERR_IO, "%s: read error", path);
      break;
    }
  }
  fclose(f);
  return rc;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The text files of folder dir in the documented order, appended to *buf. */
static int append_folder(const char *dir, uint8_t **buf, size_t *n, size_t *cap) {
  DIR *d = opendir(dir);
  if (!d) return tv_error(TV_ERR_IO, "%s: cannot open the folder: %s", dir, strerror(errno));
  char **names = NULL;
  size_t count = 0, room = 0;
  int rc = TV_OK;
  struct dirent *e;
  while (rc == TV_OK && (e = readdir(d))) {
    if (e->d_name[0] == '.' || ends_with(e->d_name, ".dat") || ends_with(e->d_name, ".u8"))
      continue;
    if (count == room) {
      char **p = realloc(names, (room ? 2 * room : 64) * sizeof *p);
      if (!p) {
        rc = tv_error(TV_ERR_NOMEM, "%s: out of memory listing the corpus", dir);
        break;
      }
      names = p, room = room ? 2 * room : 64;
    }
    if (!(names[count] = strdup(e->d_name)))
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory listing the corpus", dir);
    else
      count++;
  }
  closedir(d);
  if (rc == TV_OK && count > 0) /* names is NULL when the folder lists nothing */
    qsort(names, count, sizeof *names, by_name);
  size_t files = 0;
  for (size_t i = 0; rc == TV_OK && i < count; i++) {
    char path[TV_PATH_CAP + 256];
    struct stat st;
    int k = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (k < 0 || (size_t)k >= sizeof path) continue;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue; /* links, folders, devices */
    rc = append_file(path, buf, n, cap);
    files++;
  }
  for (size_t i = 0; i < count; i++) free(names[i]);
  free(names);
  if (rc == TV_OK && files == 0)
    rc = tv_error(TV_ERR_FORMAT,
                  "%s: no text files in the folder (regular files, not .dat, .u8 or hidden)", dir);
  return rc;
}

int tv_corpus_read(const char *path, tv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  struct stat st;
  if (stat(path, &st) != 0) {
    if (errno == ENOENT)
      return tv_error(TV_ERR_NOT_FOUND,
                      "%s: no such corpus (install Debian's fortunes package, or point "
                      "data.corpus at a text file or folder)",
                      path);
    return tv_error(TV_ERR_IO, "%s: %s", path, strerror(errno));
  }
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  int rc;
  if (S_ISDIR(st.st_mode))
    rc = append_folder(path, &buf, &n, &cap);
  else if (S_ISREG(st.st_mode))
    rc = append_file(path, &buf, &n, &cap);
  else
    rc = tv_error(TV_ERR_IO, "%s: not a regular file or a folder", path);
  if (rc == TV_OK && n == 0) rc = tv_error(TV_ERR_FORMAT, "%s: the corpus is empty", path);
  if (rc == TV_OK && n > UINT32_MAX)
    rc = tv_error(TV_ERR_FORMAT, "%s: the corpus is larger than 4 GiB", path);
  if (rc != TV_OK) {
    free(buf);
    return rc;
  }
  ds->images = buf;
  ds->n = (uint32_t)n;
  ds->c = ds->h = ds->w = 1;
  return TV_OK;
}

/* ---- split and vocabulary ---------------------------------------------------------------------
 */

void tv_vocab_build(const uint8_t *bytes, size_t n, tv_vocab *v) {
  int seen[256] = {0};
  for (size_t i = 0; i < n; i++) seen[bytes[i]] = 1;
  memset(v, 0, sizeof *v);
  for (int b = 0; b < 256; b++) {
    v->ids[b] = -1;
    if (seen[b]) {
      v->ids[b] = (int16_t)v->size;
      v->bytes[v->size++] = (uint8_t)b;
    }
  }
}

void tv_corpus_free(tv_corpus *c) {
  if (!c) return;
  free(c->train);
  free(c->valid);
  memset(c, 0, sizeof *c);
}

/* The smallest vocabulary the model takes: model.num_classes and each embedding's vocab. */
static int model_vocab(const tv_config *cfg) {
  int v = cfg->model.num_classes;
  for (int i = 0; i < cfg->model.n_layers; i++)
    if (cfg->model.layers[i].kind == TV_LAYER_EMBEDDING && cfg->model.layers[i].vocab < v)
      v = cfg->model.layers[i].vocab;
  return v;
}

int tv_corpus_load(const tv_config *cfg, tv_corpus *c) {
  memset(c, 0, sizeof *c);
  tv_dataset raw;
  tv_data_spec spec = {.format = "text", .x = cfg->data.corpus};
  int rc = tv_data_load(&spec, &raw);
  if (rc != TV_OK) return rc;
  size_t n = raw.n, nv;
  if (cfg->data.valid_tokens > 0)
    nv = (uint64_t)cfg->data.valid_tokens < n ? (size_t)cfg->data.valid_tokens : n;
  else
    nv = (size_t)llround(cfg->data.valid_fraction * (double)n);
  size_t nt = n - nv, steps = (size_t)cfg->model.input[0];
  c->bytes = n;
  tv_vocab_build(raw.images, nt, &c->vocab);
  if (nt < steps + 1)
    rc = tv_error(TV_ERR_MISMATCH,
                  "%s: %zu bytes of training text (of %zu; the rest validates), fewer than one "
                  "window of model.input + 1 = %zu in %s",
                  cfg->data.corpus, nt, n, steps + 1, cfg->source);
  else if (c->vocab.size > model_vocab(cfg))
    rc = tv_error(TV_ERR_MISMATCH,
                  "%s: the training text has %d distinct bytes, more than the %d token ids the "
                  "model in %s takes (model.num_classes, embedding vocab)",
                  cfg->data.corpus, c->vocab.size, model_vocab(cfg), cfg->source);
  if (rc == TV_OK) {
    c->train = malloc((nt ? nt : 1) * sizeof *c->train);
    c->valid = malloc((nv ? nv : 1) * sizeof *c->valid);
    if (!c->train || !c->valid) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", cfg->data.corpus);
  }
  if (rc == TV_OK) {
    for (size_t i = 0; i < nt; i++) c->train[i] = c->vocab.ids[raw.images[i]];
    for (size_t i = nt; i < n; i++) {
      int id = c->vocab.ids[raw.images[i]];
      if (id < 0)
        c->dropped++;
      else
        c->valid[c->n_valid++] = id;
    }
    c->n_train = nt;
  }
  tv_dataset_free(&raw);
  if (rc != TV_OK) tv_corpus_free(c);
  return rc;
}

int tv_vocab_ckpt_write(const tv_vocab *v, tv_ckpt_writer *w) {
  uint32_t b[256];
  for (int i = 0; i < v->size; i++) b[i] = v->bytes[i];
  tv_ckpt_array a = {
      .path = "/state/text/vocab", .dtype = TV_CKPT_U32, .count = (size_t)v->size, .data = b};
  return tv_ckpt_writer_array(w, &a);
}

int tv_vocab_ckpt_read(tv_vocab *v, tv_ckpt *c) {
  uint32_t b[256];
  size_t n = 0;
  tv_ckpt_dtype dt;
  int rc = tv_ckpt_array_info(c, "/state/text/vocab", &dt, &n);
  if (rc == TV_OK && (dt != TV_CKPT_U32 || n < 1 || n > 256))
    rc = tv_error(TV_ERR_FORMAT, "%s: /state/text/vocab: not 1 to 256 uint32 entries",
                  tv_ckpt_path(c));
  if (rc == TV_OK) rc = tv_ckpt_read_array(c, "/state/text/vocab", TV_CKPT_U32, n, b);
  if (rc != TV_OK) return rc;
  tv_vocab r;
  memset(&r, 0, sizeof r);
  memset(r.ids, 0xff, sizeof r.ids);
  for (size_t i = 0; i < n; i++) {
    if (b[i] > 255 || r.ids[b[i]] >= 0)
      return tv_error(TV_ERR_FORMAT, "%s: /state/text/vocab[%zu] = %u: not a byte of its own",
                      tv_ckpt_path(c), i, (unsigned)b[i]);
    r.ids[b[i]] = (int16_t)i;
    r.bytes[i] = (uint8_t)b[i];
  }
  r.size = (int)n;
  *v = r;
  return TV_OK;
}

/* ---- batches ----------------------------------------------------------------------------------
 */

struct tv_stream {
  const int32_t *ids;
  size_t n;
  int batch, steps;
  tv_windows mode;
  size_t segment;  /* contiguous: tokens per stream */
  uint64_t window; /* the next window of the epoch */
  uint64_t windows, epoch;
  tv_rng rng; /* random: the window starts */
};

int tv_stream_new(const int32_t *ids, size_t n, int batch, int steps, tv_windows mode,
                  uint64_t seed, tv_stream **out) {
  *out = NULL;
  if (batch < 1 || steps < 1) return tv_error(TV_ERR_INVALID, "text batches: batch and steps >= 1");
  size_t seg = n / (size_t)batch, per = (size_t)batch * (size_t)steps;
  uint64_t windows = mode == TV_WINDOWS_CONTIGUOUS ? (seg > 0 ? (seg - 1) / (size_t)steps : 0)
                                                   : (n > per ? (n - 1) / per : 0);
  if (windows == 0)
    return tv_error(TV_ERR_INVALID, "text of %zu tokens holds no batch of %d %s of %d + 1 tokens",
                    n, batch, mode == TV_WINDOWS_CONTIGUOUS ? "streams" : "windows", steps);
  tv_stream *s = calloc(1, sizeof *s);
  if (!s) return tv_error(TV_ERR_NOMEM, "text batches: out of memory");
  *s = (tv_stream){.ids = ids,
                   .n = n,
                   .batch = batch,
                   .steps = steps,
                   .mode = mode,
                   .segment = seg,
                   .windows = windows,
                   .rng = tv_rng_seed(seed, TV_RNG_SHUFFLE)};
  *out = s;
  return TV_OK;
}

void tv_stream_free(tv_stream *s) { free(s); }

void tv_stream_next(tv_stream *s, int32_t *x, int32_t *y, int *first, int *epoch_done) {
  const size_t T = (size_t)s->steps;
  *first = s->mode == TV_WINDOWS_RANDOM || s->window == 0;
  for (int b = 0; b < s->batch; b++) {
    size_t start = s->mode == TV_WINDOWS_CONTIGUOUS
                       ? (size_t)b * s->segment + (size_t)s->window * T
                       : (size_t)tv_rng_below(&s->rng, (uint64_t)(s->n - T));
    memcpy(x + (size_t)b * T, s->ids + start, T * sizeof *x);
    memcpy(y + (size_t)b * T, s->ids + start + 1, T * sizeof *y);
  }
  *epoch_done = ++s->window == s->windows;
  if (*epoch_done) {
    s->window = 0;
    s->epoch++;
  }
}

uint64_t tv_stream_windows(const tv_stream *s) { return s->windows; }
uint64_t tv_stream_epoch(const tv_stream *s) { return s->epoch; }

int tv_stream_ckpt_write(const tv_stream *s, tv_ckpt_writer *w) {
  uint64_t cur[7] = {s->epoch,    s->window,   (uint64_t)s->n, s->rng.s[0],
                     s->rng.s[1], s->rng.s[2], s->rng.s[3]};
  tv_ckpt_array a = {.path = "/state/text/cursor", .dtype = TV_CKPT_U64, .count = 7, .data = cur};
  return tv_ckpt_writer_array(w, &a);
}

int tv_stream_ckpt_read(tv_stream *s, tv_ckpt *c) {
  uint64_t cur[7];
  int rc = tv_ckpt_read_array(c, "/state/text/cursor", TV_CKPT_U64, 7, cur);
  if (rc != TV_OK) return rc;
  if (cur[2] != (uint64_t)s->n)
    return tv_error(TV_ERR_MISMATCH,
                    "%s: /state/text/cursor: saved for a text of %llu tokens, this one has %zu",
                    tv_ckpt_path(c), (unsigned long long)cur[2], s->n);
  if (cur[1] >= s->windows)
    return tv_error(TV_ERR_MISMATCH, "%s: /state/text/cursor: window %llu of an epoch of %llu",
                    tv_ckpt_path(c), (unsigned long long)cur[1], (unsigned long long)s->windows);
  s->epoch = cur[0];
  s->window = cur[1];
  memcpy(s->rng.s, cur + 3, sizeof s->rng.s);
  return TV_OK;
}
