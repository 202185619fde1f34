/* eval — the evaluation program.  One-shot:
 *
 *   eval --ckpt PATH | --train-dir DIR --ckpt latest|STEP  [--split test|valid|train]
 *        [--num-examples N] [--batch-size B] [--json]
 *
 * Builds the INFER graph from the config stored inside the checkpoint, loads /variables, and
 * computes loss, accuracy, top-5 and macro-F1 over the first N examples of the split.  When the
 * checkpoint is named through a train_dir (or sits in one), its size and checksum are verified
 * against the manifest before HDF5 reads it.  Exit status: 0 ok, 1 error, 2 usage error.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainval/ckpt.h"
#include "trainval/config.h"
#include "trainval/data.h"
#include "trainval/fs.h"
#include "trainval/metrics.h"
#include "trainval/model.h"
#include "trainval/ops.h"
#include "trainval/pipeline.h"
#include "trainval/varstore.h"

typedef struct options {
  const char *ckpt;
  const char *train_dir;
  tv_split split;
  long long num_examples; /* 0: all */
  int batch_size;
  int json;
  int threads;
} options;

static void usage(FILE *f) {
  fputs("usage: eval --ckpt PATH [options]\n"
        "       eval --train-dir DIR --ckpt latest|STEP [options]\n"
        "\n"
        "Evaluates one checkpoint: builds the inference graph from the config stored in the\n"
        "checkpoint and reports loss, accuracy, top-5 accuracy and macro-F1.\n"
        "\n"
        "  --ckpt PATH|latest|STEP  the checkpoint file, or (with --train-dir) the newest\n"
        "                           committed one or the one of that step (default latest)\n"
        "  --train-dir DIR          the run directory whose manifest names the checkpoint\n"
        "  --split test|valid|train data split (default test; valid is carved from the\n"
        "                           training files exactly as train carved it)\n"
        "  --num-examples N         evaluate the first N examples of the split (default all)\n"
        "  --batch-size B           inference batch size (default 500)\n"
        "  --threads N              OpenBLAS threads (default: OpenBLAS's own choice)\n"
        "  --json                   print exactly one JSON object on stdout\n"
        "  -h, --help               this text\n"
        "\n"
        "Exit status: 0 ok, 1 error (one line on stderr), 2 usage error.\n",
        f);
}

static int parse_int(const char *opt, const char *v, long long lo, long long hi, long long *out) {
  char *end;
  long long n = strtoll(v, &end, 10);
  if (*end || end == v || n < lo || n > hi) {
    fprintf(stderr, "eval: %s: expected an integer in [%lld, %lld], got '%s'\n", opt, lo, hi, v);
    return 2;
  }
  *out = n;
  return 0;
}

static int parse_args(int argc, char **argv, options *o) {
  o->split = TV_SPLIT_TEST;
  o->batch_size = 500;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    }
    if (!strcmp(a, "--json")) {
      o->json = 1;
      continue;
    }
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v) {
      fprintf(stderr, "eval: %s needs a value (see eval --help)\n", a);
      return 2;
    }
    long long n;
    if (!strcmp(a, "--ckpt")) {
      o->ckpt = v;
    } else if (!strcmp(a, "--train-dir")) {
      o->train_dir = v;
    } else if (!strcmp(a, "--split")) {
      int s = tv_split_parse(v);
      if (s < 0) {
        fprintf(stderr, "eval: --split: expected test, valid or train, got '%s'\n", v);
        return 2;
      }
      o->split = (tv_split)s;
    } else if (!strcmp(a, "--num-examples")) {
      if (parse_int(a, v, 1, 1LL << 32, &n)) return 2;
      o->num_examples = n;
    } else if (!strcmp(a, "--batch-size")) {
      if (parse_int(a, v, 1, 65536, &n)) return 2;
      o->batch_size = (int)n;
    } else if (!strcmp(a, "--threads")) {
      if (parse_int(a, v, 1, 1024, &n)) return 2;
      o->threads = (int)n;
    } else {
      fprintf(stderr, "eval: unknown option %s (see eval --help)\n", a);
      return 2;
    }
  }
  if (!o->ckpt && !o->train_dir) {
    fprintf(stderr, "eval: give --ckpt PATH or --train-dir DIR (see eval --help)\n");
    return 2;
  }
  return 0;
}

/* Finds the checkpoint file and, where a manifest lists it, the size and checksum to verify. */
static int locate(const options *o, char *path, size_t cap, tv_ckpt_info *expect, int *have) {
  *have = 0;
  tv_manifest_entry e;
  if (o->train_dir) {
    int rc = tv_ckpt_resolve(o->train_dir, o->ckpt ? o->ckpt : "latest", path, cap, &e);
    if (rc != TV_OK) return rc;
  } else {
    if (snprintf(path, cap, "%s", o->ckpt) >= (int)cap)
      return tv_error(TV_ERR_INVALID, "%s: path too long", o->ckpt);
    char dir[TV_PATH_CAP], base[TV_PATH_CAP];
    snprintf(dir, sizeof dir, "%s", o->ckpt);
    snprintf(base, sizeof base, "%s", o->ckpt);
    tv_manifest m;
    tv_manifest_init(&m);
    int found = 0;
    if (tv_manifest_read(dirname(dir), &m) == TV_OK) {
      const char *b = basename(base);
      for (int i = 0; i < m.n && !found; i++)
        if (!strcmp(m.entries[i].file, b)) e = m.entries[i], found = 1;
    }
    tv_manifest_free(&m);
    if (!found) return TV_OK;
  }
  snprintf(expect->file, sizeof expect->file, "%s", e.file);
  expect->size = e.size;
  expect->crc32c = e.crc32c;
  *have = 1;
  return TV_OK;
}

static void print_json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

int main(int argc, char **argv) {
  options o = {0};
  int urc = parse_args(argc, argv, &o);
  if (urc) return urc;
  tv_set_threads(o.threads);

  static tv_config cfg;
  char path[TV_PATH_CAP + 128];
  tv_ckpt_info expect;
  int have_expect = 0;
  tv_ckpt *ck = NULL;
  tv_varstore *store = NULL;
  tv_model *model = NULL;
  tv_metrics *metrics = NULL;
  tv_dataset ds = {0};
  double t0 = tv_monotonic();
  int rc = locate(&o, path, sizeof path, &expect, &have_expect);
  if (rc == TV_OK) rc = tv_ckpt_open(path, have_expect ? &expect : NULL, &ck);
  if (rc == TV_OK) {
    char source[TV_PATH_CAP + 160];
    snprintf(source, sizeof source, "%s:/config", path);
    const char *text = tv_ckpt_config_text(ck);
    rc = tv_config_parse(text, strlen(text), source, NULL, 0, &cfg);
  }
  if (rc == TV_OK) rc = tv_varstore_new(&store);
  if (rc == TV_OK) rc = tv_model_new(&cfg, TV_MODE_INFER, o.batch_size, store, &model);
  if (rc == TV_OK) rc = tv_varstore_seal(store);
  if (rc == TV_OK) rc = tv_ckpt_read_variables(ck, store);
  if (rc == TV_OK) rc = tv_split_load(&cfg, o.split, &ds);
  if (rc == TV_OK && o.num_examples > ds.n)
    rc = tv_error(TV_ERR_INVALID, "--num-examples %lld: the %s split has only %u examples",
                  o.num_examples, tv_split_name(o.split), ds.n);
  uint32_t n = o.num_examples ? (uint32_t)o.num_examples : ds.n;
  if (rc == TV_OK) rc = tv_metrics_new(cfg.model.num_classes, &metrics);
  double t1 = tv_monotonic();
  if (rc == TV_OK) rc = tv_evaluate(model, &ds, NULL, n, tv_norm_from_config(&cfg), metrics);
  double t2 = tv_monotonic();
  if (rc != TV_OK) {
    fprintf(stderr, "eval: %s\n", tv_error_message());
  } else {
    tv_metrics_summary s;
    tv_metrics_get(metrics, &s);
    long long step = (long long)tv_ckpt_step(ck);
    if (o.json) {
      printf("{\"checkpoint\": ");
      print_json_string(path);
      printf(", \"step\": %lld, \"epoch\": %lld, \"split\": \"%s\", \"num_examples\": %llu, "
             "\"loss\": %.6f, \"accuracy\": %.6f, \"top5\": %.6f, \"macro_f1\": %.6f, "
             "\"verified\": %s, \"seconds\": %.3f, \"examples_per_sec\": %.0f}\n",
             step, (long long)tv_ckpt_epoch(ck), tv_split_name(o.split), (unsigned long long)s.n,
             s.loss, s.accuracy, s.top5, s.macro_f1, have_expect ? "true" : "false", t2 - t0,
             (double)s.n / (t2 - t1));
    } else {
      printf("checkpoint   %s%s\n", path, have_expect ? " (checksum verified)" : "");
      printf("step         %lld\n", step);
      printf("split        %s (%llu examples)\n", tv_split_name(o.split), (unsigned long long)s.n);
      printf("loss         %.4f\n", s.loss);
      printf("accuracy     %.4f\n", s.accuracy);
      printf("top5         %.4f\n", s.top5);
      printf("macro_f1     %.4f\n", s.macro_f1);
      printf("speed        %.0f examples/s\n", (double)s.n / (t2 - t1));
    }
  }
  tv_metrics_free(metrics);
  tv_dataset_free(&ds);
  tv_model_free(model);
  tv_varstore_free(store);
  tv_ckpt_close(ck);
  return rc == TV_OK ? 0 : 1;
}
