/* predict.c — eval --predict INPUT --out FILE: the checkpoint's model over new inputs, one row
 * per example (see eval.h, PREDICTIONS).
 *
 * The inputs become a tv_dataset of the model's input shape (every example labelled 0), so that
 * they go through the very loader, and so the very normalisation, that evaluation uses; the
 * model runs in batches of --batch-size.  An HDF5 input larger than the data budget
 * (data.memory_mb, PREDICT_MEMORY_MB when that is 0) stays on disk and the loader streams it
 * (data.h, OUT-OF-CORE DATA).  Each batch's rows are written as soon as they are made: to a
 * temporary beside --out renamed over it only after the last (tv_fs_output_open; in place for a
 * FIFO or a device), or to stdout, so a failure or SIGINT/SIGTERM midway leaves an existing
 * --out file as it was and no partial file.
 */
#include "eval.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainval/config.h"
#include "trainval/ctx.h"
#include "trainval/data.h"
#include "trainval/files.h"
#include "trainval/model.h"
#include "trainval/text.h"
#include "trainval/varstore.h"

/* The most bytes read from standard input. */
#define STDIN_MAX ((size_t)1 << 30)

/* The data budget of an HDF5 input when data.memory_mb is 0: larger inputs are streamed. */
#define PREDICT_MEMORY_MB 256

/* SIGINT or SIGTERM received while predicting (0: none). */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = sig; }

static const uint8_t HDF5_SIG[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

typedef struct inputs {
  tv_dataset ds;    /* the examples, each labelled 0; with npy only their count and shape */
  tv_npy_rows *npy; /* a .npy file larger than the budget, read block by block, or NULL */
  uint32_t block;   /* with npy or ds.rows: rows per part, a multiple of the batch */
  char **files;     /* per example: the image file's name, or NULL (one image, arrays) */
  const char *of;   /* the input as named (messages, and the input column of one image) */
} inputs;

static int read_stdin(char **data, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  if (!buf) return tv_error(TV_ERR_NOMEM, "<stdin>: out of memory");
  for (;;) {
    if (n == cap) {
      if (cap >= STDIN_MAX) {
        free(buf);
        return tv_error(TV_ERR_INVALID, "<stdin>: more than %zu bytes", STDIN_MAX);
      }
      char *more = realloc(buf, cap * 2);
      if (!more) {
        free(buf);
        return tv_error(TV_ERR_NOMEM, "<stdin>: out of memory");
      }
      buf = more;
      cap *= 2;
    }
    ssize_t r = read(0, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      return tv_error_errno(TV_ERR_IO, e, "<stdin>");
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  *data = buf;
  *len = n;
  return TV_OK;
}

static int is_image(const void *p, size_t len) {
  const uint8_t *b = p;
  return (len >= 8 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') ||
         (len >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff);
}

/* A CSV file by its name: .csv or .csv.gz (any case). */
static int is_csv_name(const char *s) {
  size_t n = strlen(s);
  return (n >= 4 && !strcasecmp(s + n - 4, ".csv")) ||
         (n >= 7 && !strcasecmp(s + n - 7, ".csv.gz"));
}

/* One decoded image as a dataset of one example. */
static int one_image(const void *data, size_t len, const char *name, const tv_imgdir_opts *io,
                     tv_dataset *ds) {
  size_t per = (size_t)io->channels * (size_t)io->height * (size_t)io->width;
  *ds = (tv_dataset){.n = 1, .c = io->channels, .h = io->height, .w = io->width};
  ds->images = malloc(per);
  ds->labels = calloc(1, sizeof *ds->labels);
  int rc = !ds->images || !ds->labels ? tv_error(TV_ERR_NOMEM, "%s: out of memory", name)
                                      : tv_imgdir_decode(data, len, name, io, ds->images);
  if (rc != TV_OK) tv_dataset_free(ds);
  return rc;
}

static int is_npy(const char *data, size_t len) {
  return len >= 6 && !memcmp(data, "\x93NUMPY", 6);
}

/* The features of a .npy file (by its magic) or else a CSV file (read as the config's data
 * keys say) at path, data its len bytes. */
static int load_table(const char *path, const char *data, size_t len, const tv_config *cfg,
                      inputs *in) {
  if (is_npy(data, len)) {
    tv_data_spec spec = {.format = "npy", .x = path, .features_only = 1};
    return tv_data_load(&spec, &in->ds);
  }
  tv_data_spec spec = {.format = "csv",
                       .x = path,
                       .features_only = 1,
                       .features = cfg->data.features,
                       .delimiter = cfg->data.delimiter[0],
                       .comment = cfg->data.comment[0],
                       .no_header = !cfg->data.header,
                       .skip_rows = cfg->data.skip_rows,
                       .has_fill = cfg->data.missing == TV_MISSING_FILL,
                       .fill = cfg->data.fill_value};
  return tv_data_load(&spec, &in->ds);
}

/* A .npy or CSV (plain or gzip) on stdin: the readers take a path, so the bytes go to a private
 * temporary folder ($TMPDIR or /tmp, removed before returning); messages name "<stdin>". */
static int stdin_table(const char *data, size_t len, const tv_config *cfg, inputs *in) {
  const char *tmp = getenv("TMPDIR");
  char dir[TV_PATH_CAP], path[TV_PATH_CAP + 16];
  snprintf(dir, sizeof dir, "%s/trainval-stdin.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir))
    return tv_error_errno(TV_ERR_IO, errno, "<stdin>: a temporary folder in %s", dir);
  snprintf(path, sizeof path, "%s/stdin", dir);
  int rc = tv_fs_write_atomic(path, data, len);
  if (rc == TV_OK) rc = load_table(path, data, len, cfg, in);
  if (rc != TV_OK) { /* the message names the temporary file: name stdin instead */
    char msg[2048];
    const char *m = tv_error_message(), *at = strstr(m, path);
    if (at)
      snprintf(msg, sizeof msg, "%.*s<stdin>%s", (int)(at - m), m, at + strlen(path));
    else
      snprintf(msg, sizeof msg, "%s", m);
    if (is_npy(data, len))
      rc = tv_error(rc, "%s", msg);
    else
      rc = tv_error(rc, "<stdin>: not a PNG or JPEG image, a .npy or a CSV that reads (%s)", msg);
  }
  unlink(path);
  rmdir(dir);
  return rc;
}

/* INPUT: "-" (an image, a .npy or a CSV on stdin), "-:/DATASET" or "FILE:/DATASET" (HDF5
 * features), a folder of images, or an image file.  An HDF5 dataset or a .npy file larger than
 * the budget stays on disk (a row source; blocks of a multiple of batch rows). */
static int load_inputs(const char *input, const tv_config *cfg, int batch, inputs *in) {
  uint64_t budget = (uint64_t)(cfg->data.memory_mb ? cfg->data.memory_mb : PREDICT_MEMORY_MB) << 20;
  const int *shape = cfg->model.input;
  tv_imgdir_opts io = {
      .channels = shape[0], .height = shape[1], .width = shape[2], .resize = cfg->data.resize};
  if (io.channels != 1 && io.channels != 3) io.channels = 1; /* images only fit 1 or 3 anyway */
  char file[TV_PATH_CAP];
  const char *sep = strstr(input, ":/");
  struct stat st;
  char *data = NULL;
  size_t len = 0;
  int rc = TV_OK;
  in->of = input;
  if (sep && (size_t)(sep - input) < sizeof file) {
    memcpy(file, input, (size_t)(sep - input));
    file[sep - input] = '\0';
    if (!strcmp(file, "-")) {
      rc = read_stdin(&data, &len);
      if (rc == TV_OK) rc = tv_dataset_load_h5_image(data, len, "<stdin>", sep + 1, NULL, &in->ds);
      free(data);
      return rc;
    }
    if (stat(file, &st) == 0 && S_ISREG(st.st_mode)) {
      rc = tv_dataset_open_h5(file, sep + 1, NULL, NULL, 0, budget, &in->ds);
      /* parts whose loader order and row map (4 + 4 bytes a row) take a 16th of the budget */
      uint64_t rows = budget / 16 / 8 / (uint64_t)batch * (uint64_t)batch;
      in->block = (uint32_t)(rows < (uint64_t)batch                ? (uint64_t)batch
                             : rows > UINT32_MAX - (uint64_t)batch ? UINT32_MAX / batch * batch
                                                                   : rows);
      return rc;
    }
  }
  if (!strcmp(input, "-")) {
    rc = read_stdin(&data, &len);
    if (rc == TV_OK && len >= sizeof HDF5_SIG && !memcmp(data, HDF5_SIG, sizeof HDF5_SIG))
      rc = tv_error(TV_ERR_INVALID, "<stdin>: an HDF5 file: name its features dataset, -:/DATASET");
    else if (rc == TV_OK && is_image(data, len))
      rc = one_image(data, len, "<stdin>", &io, &in->ds);
    else if (rc == TV_OK)
      rc = stdin_table(data, len, cfg, in);
    free(data);
    return rc;
  }
  if (stat(input, &st) != 0)
    return tv_error_errno(errno == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO, errno, "%s", input);
  if (S_ISDIR(st.st_mode)) {
    if (shape[0] != 1 && shape[0] != 3)
      return tv_error(TV_ERR_MISMATCH, "%s: images, but the model's input has %d channels", input,
                      shape[0]);
    return tv_dataset_load_image_files(input, &io, &in->ds, &in->files);
  }
  if ((uint64_t)st.st_size > budget && S_ISREG(st.st_mode)) { /* a large .npy: in blocks */
    char magic[6];
    int fd = open(input, O_RDONLY | O_CLOEXEC);
    int npy = fd >= 0 && read(fd, magic, sizeof magic) == (ssize_t)sizeof magic &&
              is_npy(magic, sizeof magic);
    if (fd >= 0) (void)close(fd); /* read only: nothing to lose */
    if (npy) {
      rc = tv_npy_rows_open(input, &in->npy);
      if (rc == TV_OK) tv_npy_rows_shape(in->npy, &in->ds);
      /* a block holds its rows as stored (at most 8 bytes a value) and as floats */
      uint64_t per = (uint64_t)in->ds.c * (uint64_t)in->ds.h * (uint64_t)in->ds.w;
      uint64_t rows = budget / (per * 12 + 4), b = (uint64_t)batch;
      rows = rows / b * b;
      in->block = (uint32_t)(rows < b ? b : rows > UINT32_MAX - b ? UINT32_MAX / b * b : rows);
      return rc;
    }
  }
  rc = tv_fs_read_file(input, 0, &data, &len);
  if (rc != TV_OK) return rc;
  if (is_image(data, len))
    rc = one_image(data, len, input, &io, &in->ds);
  else if (is_npy(data, len) || is_csv_name(input))
    rc = load_table(input, data, len, cfg, in);
  else if (len >= sizeof HDF5_SIG && !memcmp(data, HDF5_SIG, sizeof HDF5_SIG))
    rc = tv_error(TV_ERR_INVALID, "%s: an HDF5 file: name its features dataset, %s:/DATASET", input,
                  input);
  else
    rc = tv_error(TV_ERR_FORMAT,
                  "%s: not a PNG or JPEG image, a folder of them, a .npy file, a .csv file, or "
                  "FILE:/DATASET of HDF5",
                  input);
  free(data);
  return rc;
}

/* The examples as the model takes them: any shape of C*H*W values per example is model.input;
 * every example labelled 0 for the loader (shape_only: ds holds no examples yet). */
static int fit_shape(tv_dataset *ds, const char *of, int shape_only, const tv_config *cfg) {
  const int *s = cfg->model.input;
  long long want = (long long)s[0] * s[1] * s[2], got = (long long)ds->c * ds->h * ds->w;
  if (want != got)
    return tv_error(TV_ERR_MISMATCH,
                    "%s: examples of %d x %d x %d values, but the model's input is [%d, %d, %d]",
                    of, ds->c, ds->h, ds->w, s[0], s[1], s[2]);
  ds->c = s[0], ds->h = s[1], ds->w = s[2];
  free(ds->targets);
  ds->targets = NULL;
  ds->target_dim = 0;
  if (ds->rows || shape_only) return TV_OK; /* a row source labels every example 0 */
  if (!ds->labels && !(ds->labels = calloc(ds->n, sizeof *ds->labels)))
    return tv_error(TV_ERR_NOMEM, "%s: out of memory", of);
  memset(ds->labels, 0, ds->n * sizeof *ds->labels);
  return TV_OK;
}

/* A CSV field: as is, or quoted (RFC 4180) when it holds a comma, a quote or a line break. */
static void csv_field(tv_text *t, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    tv_text_printf(t, "%s", s);
    return;
  }
  tv_text_printf(t, "\"");
  for (; *s; s++) tv_text_printf(t, *s == '"' ? "\"\"" : "%c", *s);
  tv_text_printf(t, "\"");
}

typedef struct row_writer {
  const eval_options *o;
  tv_text *t;
  tv_task task;
  int k, top;   /* outputs (classes, targets, labels); classes ranked per row */
  char **names; /* class names, or NULL */
  double *p;    /* k probabilities of the current row */
  int *order;   /* the top classes of the current row */
  char name_buf[16];
} row_writer;

static const char *class_name(row_writer *w, int c) {
  if (w->names) return w->names[c];
  snprintf(w->name_buf, sizeof w->name_buf, "%d", c);
  return w->name_buf;
}

static void header(row_writer *w) {
  if (w->o->json) return;
  if (w->task == TV_TASK_REGRESSION) {
    tv_text_printf(w->t, "index,input");
    for (int j = 0; j < w->k; j++) tv_text_printf(w->t, ",value_%d", j);
  } else if (w->task == TV_TASK_MULTILABEL) {
    tv_text_printf(w->t, "index,input,labels,names");
    for (int j = 0; j < w->k; j++) tv_text_printf(w->t, ",probability_%d", j);
  } else {
    tv_text_printf(w->t, "index,input,class,name,probability");
    for (int j = 2; j <= w->top; j++)
      tv_text_printf(w->t, ",class_%d,name_%d,probability_%d", j, j, j);
  }
  tv_text_printf(w->t, "\n");
}

/* The row's start: its index and input. */
static void row_start(row_writer *w, uint64_t index, const char *input) {
  tv_text *t = w->t;
  if (w->o->json) {
    tv_text_printf(t, "{\"index\": %llu, \"input\": ", (unsigned long long)index);
    if (input)
      tv_text_json_str(t, input);
    else
      tv_text_printf(t, "null");
    return;
  }
  tv_text_printf(t, "%llu,", (unsigned long long)index);
  csv_field(t, input ? input : "");
}

/* Regression: the values; multilabel: the labels whose sigmoid is above --threshold, then every
 * label's probability. */
static void value_row(row_writer *w, const float *out) {
  tv_text *t = w->t;
  int json = w->o->json;
  if (w->task == TV_TASK_REGRESSION) {
    if (json) tv_text_printf(t, ", \"values\": [");
    for (int j = 0; j < w->k; j++)
      tv_text_printf(t, "%s%.9g", json ? (j ? ", " : "") : ",", (double)out[j]);
    tv_text_printf(t, json ? "]}\n" : "\n");
    return;
  }
  for (int j = 0; j < w->k; j++) w->p[j] = 1.0 / (1.0 + exp(-(double)out[j]));
  double th = w->o->threshold > 0 ? w->o->threshold : 0.5;
  if (json) {
    tv_text_printf(t, ", \"labels\": [");
    for (int j = 0, n = 0; j < w->k; j++)
      if (w->p[j] > th) {
        tv_text_printf(t, "%s{\"label\": %d, \"name\": ", n++ ? ", " : "", j);
        tv_text_json_str(t, class_name(w, j));
        tv_text_printf(t, ", \"probability\": %.9g}", w->p[j]);
      }
    tv_text_printf(t, "], \"probabilities\": [");
    for (int j = 0; j < w->k; j++) tv_text_printf(t, "%s%.9g", j ? ", " : "", w->p[j]);
    tv_text_printf(t, "]}\n");
    return;
  }
  tv_text ids = {0}, names = {0};
  for (int j = 0, n = 0; j < w->k; j++)
    if (w->p[j] > th) {
      tv_text_printf(&ids, "%s%d", n ? ";" : "", j);
      tv_text_printf(&names, "%s%s", n++ ? ";" : "", class_name(w, j));
    }
  tv_text_printf(t, ",");
  csv_field(t, ids.p ? ids.p : "");
  tv_text_printf(t, ",");
  csv_field(t, names.p ? names.p : "");
  if (ids.oom || names.oom) t->oom = 1;
  tv_text_free(&ids);
  tv_text_free(&names);
  for (int j = 0; j < w->k; j++) tv_text_printf(t, ",%.9g", w->p[j]);
  tv_text_printf(t, "\n");
}

/* Softmax of one row of logits (in double), then the w->top most probable classes, ties to the
 * lower class id. */
static void rank(row_writer *w, const float *logits) {
  double mx = logits[0], sum = 0;
  for (int c = 1; c < w->k; c++) mx = logits[c] > mx ? logits[c] : mx;
  for (int c = 0; c < w->k; c++) sum += (w->p[c] = exp((double)logits[c] - mx));
  for (int c = 0; c < w->k; c++) w->p[c] /= sum;
  for (int j = 0; j < w->top; j++) {
    int best = -1;
    for (int c = 0; c < w->k; c++) {
      int used = 0;
      for (int i = 0; i < j && !used; i++) used = w->order[i] == c;
      if (!used && (best < 0 || w->p[c] > w->p[best])) best = c;
    }
    w->order[j] = best;
  }
}

static void row(row_writer *w, uint64_t index, const char *input, const float *logits) {
  row_start(w, index, input);
  if (w->task != TV_TASK_CLASSIFICATION) {
    value_row(w, logits);
    return;
  }
  rank(w, logits);
  tv_text *t = w->t;
  if (w->o->json) {
    tv_text_printf(t, ", \"class\": %d, \"name\": ", w->order[0]);
    tv_text_json_str(t, class_name(w, w->order[0]));
    tv_text_printf(t, ", \"probability\": %.9g, \"top_k\": [", w->p[w->order[0]]);
    for (int j = 0; j < w->top; j++) {
      tv_text_printf(t, "%s{\"class\": %d, \"name\": ", j ? ", " : "", w->order[j]);
      tv_text_json_str(t, class_name(w, w->order[j]));
      tv_text_printf(t, ", \"probability\": %.9g}", w->p[w->order[j]]);
    }
    tv_text_printf(t, "]}\n");
    return;
  }
  for (int j = 0; j < w->top; j++) {
    tv_text_printf(t, ",%d,", w->order[j]);
    csv_field(t, class_name(w, w->order[j]));
    tv_text_printf(t, ",%.9g", w->p[w->order[j]]);
  }
  tv_text_printf(t, "\n");
}

/* Writes t's rows to f (NULL: stdout) and empties t. */
static int flush_rows(tv_fs_output *f, tv_text *t) {
  int rc = tv_text_check(t, "predict");
  if (rc == TV_OK && t->n > 0 && f)
    rc = tv_fs_output_write(f, t->p, t->n);
  else if (rc == TV_OK && t->n > 0 &&
           (fwrite(t->p, 1, t->n, stdout) != t->n || fflush(stdout) != 0))
    rc = tv_error_errno(TV_ERR_IO, errno, "<stdout>");
  t->n = 0;
  if (t->p) t->p[0] = '\0';
  return rc;
}

/* The error of a prediction stopped by a signal, naming --out (left as it was). */
static int stopped(const char *out) {
  const char *sig = g_stop == SIGINT ? "SIGINT" : "SIGTERM";
  if (!strcmp(out, "-")) return tv_error(TV_ERR_INTERRUPTED, "predict: stopped by %s", sig);
  return tv_error(TV_ERR_INTERRUPTED, "predict: stopped by %s; %s left as it was", sig, out);
}

/* Runs the model over the inputs (in one part, or part by part for a .npy or HDF5 row source:
 * parts of whole batches, so every batch is the one the whole input gives, and the loader's
 * order and row map are a part's, not the file's), writing each batch's rows
 * to f (NULL: stdout) through t.  The normalisation is the config's (and z's) for the data's
 * element type. */
static int run_rows(const eval_options *o, tv_model *m, const tv_config *cfg,
                    const tv_standardize *z, inputs *in, char **names, tv_fs_output *f,
                    tv_text *t) {
  row_writer w = {
      .o = o, .t = t, .task = cfg->model.task, .k = tv_model_num_classes(m), .names = names};
  w.top = o->top_k ? o->top_k : 5;
  if (w.top > w.k) w.top = w.k;
  int b = tv_model_max_batch(m), d = tv_model_input_size(m);
  tv_loader_opts lo = {.batch_size = (uint32_t)b};
  tv_loader *l = NULL;
  float *x = malloc((size_t)b * (size_t)d * sizeof *x);
  int32_t *y = malloc((size_t)b * sizeof *y);
  w.p = malloc((size_t)w.k * sizeof *w.p);
  w.order = malloc((size_t)w.top * sizeof *w.order);
  int rc = !x || !y || !w.p || !w.order ? tv_error(TV_ERR_NOMEM, "predict: out of memory") : TV_OK;
  header(&w);
  uint64_t index = 0, total = in->ds.n, part = in->npy || in->ds.rows ? in->block : total;
  for (uint64_t first = 0; rc == TV_OK && first < total; first += part) {
    tv_dataset blk = {0};
    const tv_dataset *ds = &in->ds;
    uint32_t n = (uint32_t)(total - first < part ? total - first : part);
    if (in->npy) {
      rc = tv_npy_rows_read(in->npy, first, n, &blk);
      if (rc == TV_OK) rc = fit_shape(&blk, in->of, 0, cfg);
      ds = &blk;
    } else if (in->ds.rows) { /* rows [first, first + n) of the row source */
      blk = (tv_dataset){.n = n, .c = in->ds.c, .h = in->ds.h, .w = in->ds.w};
      blk.rows = tv_rows_share(in->ds.rows);
      blk.rowmap = malloc((size_t)n * sizeof *blk.rowmap);
      if (!blk.rowmap) rc = tv_error(TV_ERR_NOMEM, "predict: out of memory for %u rows", n);
      for (uint32_t i = 0; rc == TV_OK && i < n; i++) blk.rowmap[i] = (uint32_t)(first + i);
      ds = &blk;
    }
    if (rc == TV_OK) {
      lo.norm = tv_norm_from_config(cfg, ds);
      if (z->d > 0) lo.norm = tv_norm_with_standardize(lo.norm, z);
      rc = tv_loader_new(ds, &lo, &l);
    }
    for (int done = 0; rc == TV_OK && !done;) {
      uint32_t got;
      if (g_stop) {
        rc = stopped(o->out);
        break;
      }
      tv_loader_next(l, x, y, &got, &done);
      if ((rc = tv_loader_status(l)) != TV_OK) break;
      const float *logits = tv_model_forward(m, x, (int)got);
      for (uint32_t i = 0; i < got; i++, index++)
        row(&w, index,
            in->files       ? in->files[index]
            : in->ds.n == 1 ? in->of
                            : NULL,
            logits + (size_t)i * (size_t)w.k);
      rc = flush_rows(f, t);
    }
    tv_loader_free(l);
    l = NULL;
    tv_dataset_free(&blk);
  }
  free(x);
  free(y);
  free(w.p);
  free(w.order);
  return rc;
}

/* Predicts into o->out: a file's rows go to a temporary renamed over it only once all are
 * written (removed on failure), stdout's as they come. */
static int predict_into(const eval_options *o, tv_model *m, const tv_config *cfg,
                        const tv_standardize *z, inputs *in, char **names) {
  tv_fs_output *f = NULL;
  tv_text t = {0};
  int rc = g_stop ? stopped(o->out) : TV_OK;
  if (rc == TV_OK && strcmp(o->out, "-") != 0) rc = tv_fs_output_open(o->out, &f);
  if (rc == TV_OK) rc = run_rows(o, m, cfg, z, in, names, f, &t);
  if (rc == TV_OK && g_stop) rc = stopped(o->out);
  if (rc == TV_OK && f) {
    rc = tv_fs_output_commit(f);
    f = NULL;
  }
  tv_fs_output_abort(f);
  tv_text_free(&t);
  return rc;
}

int predict_run(const eval_options *o, const char *path, const tv_ckpt_info *expect) {
  tv_ckpt *ck = NULL;
  tv_config *cfg = malloc(sizeof *cfg);
  tv_ctx *ctx = NULL;
  tv_varstore *store = NULL;
  tv_model *m = NULL;
  inputs in = {0};
  char **names = NULL;
  tv_standardize z = {0};
  /* SA_RESTART: reads, writes and the bounded child's wait carry on; the flag is seen between
   * batches */
  struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART}, old_int, old_term;
  sigemptyset(&sa.sa_mask);
  g_stop = 0;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  int rc = cfg ? TV_OK : tv_error(TV_ERR_NOMEM, "predict: out of memory");
  if (rc == TV_OK) rc = tv_ckpt_open(path, expect, &ck);
  if (rc == TV_OK) {
    const char *text = tv_ckpt_config_text(ck);
    char source[TV_PATH_CAP + 160];
    snprintf(source, sizeof source, "%s:/config", path);
    rc = tv_config_parse_ckpt(text, strlen(text), source, o->data_sets, o->n_data_sets, cfg);
    rc = tv_config_sets_blame(o->data_file_sets, rc);
  }
  if (rc == TV_OK) rc = tv_ctx_new(o->threads, &ctx);
  if (rc == TV_OK) rc = tv_varstore_new(&store);
  if (rc == TV_OK)
    rc = tv_model_new(cfg, TV_MODE_INFER, o->batch_size, store, tv_ctx_team(ctx), &m);
  if (rc == TV_OK) rc = tv_varstore_seal(store);
  if (rc == TV_OK) rc = tv_ckpt_read_variables(ck, store);
  if (rc == TV_OK) rc = tv_ckpt_read_class_names(ck, tv_model_num_classes(m), &names);
  if (rc == TV_OK && cfg->data.standardize)
    rc = tv_standardize_ckpt_read(ck, tv_model_input_size(m), &z);
  tv_ckpt_close(ck);
  if (rc == TV_OK) rc = load_inputs(o->predict, cfg, tv_model_max_batch(m), &in);
  if (rc == TV_OK) rc = fit_shape(&in.ds, in.of, in.npy != NULL, cfg);
  if (rc == TV_OK) rc = predict_into(o, m, cfg, &z, &in, names);
  if (rc != TV_OK && g_stop && rc != TV_ERR_INTERRUPTED) rc = stopped(o->out);
  if (rc != TV_OK) fprintf(stderr, "%s: %s\n", o->prog, tv_error_message());
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  tv_imgdir_files_free(names, names ? (uint32_t)tv_model_num_classes(m) : 0);
  tv_imgdir_files_free(in.files, in.ds.n);
  tv_dataset_free(&in.ds);
  tv_npy_rows_close(in.npy);
  tv_standardize_free(&z);
  tv_model_free(m);
  tv_varstore_free(store);
  tv_ctx_free(ctx);
  free(cfg);
  return rc == TV_OK ? 0 : 1;
}
