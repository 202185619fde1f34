/* eval — the evaluation program.  Two modes:
 *
 *   eval --ckpt PATH | --train-dir DIR --ckpt latest|STEP  [--split S] [--num-examples N]
 *        [--subset-seed S] [--batch-size B] [--json]                      (one checkpoint)
 *   eval --watch DIR [--name NAME] [--policy all|latest] ...              (follow a run)
 *   eval --ckpt PATH --predict INPUT [--out FILE] [--json] [--top-k K]   (predict: predict.c)
 *
 * One-shot: builds the INFER graph from the config stored inside the checkpoint, loads
 * /variables, and computes loss, accuracy, top-5 and macro-F1 over the first N (or a seeded
 * random N) examples of the split.  When the checkpoint is named through a train_dir (or sits in
 * one), its size and checksum are verified against the manifest before HDF5 reads it.
 * Watch: see watch_loop.c and the protocol in include/trainval/rundir.h.
 * Exit status: 0 ok, 1 error, 2 usage error.  This file owns the command line and the one-shot
 * mode's printing; the evaluator itself is evaluator.c.
 */
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval.h"
#include "trainval/ckpt.h"
#include "trainval/commit.h"
#include "trainval/cli.h"
#include "trainval/config.h"
#include "trainval/evalstate.h"
#include "trainval/generate.h"
#include "trainval/files.h"
#include "trainval/budget.h"
#include "trainval/ops.h"
#include "trainval/text.h"

static const char *prog = "eval";

enum {
  OPT_CKPT = 256,
  OPT_TRAIN_DIR,
  OPT_SPLIT,
  OPT_NUM_EXAMPLES,
  OPT_SUBSET_SEED,
  OPT_BATCH_SIZE,
  OPT_THREADS,
  OPT_JSON,
  OPT_WATCH,
  OPT_NAME,
  OPT_POLICY,
  OPT_MIN_INTERVAL,
  OPT_TIMEOUT,
  OPT_POLL,
  OPT_METRIC,
  OPT_MODE,
  OPT_PATIENCE,
  OPT_MIN_DELTA,
  OPT_TRACE,
  OPT_SET,
  OPT_DATA_DIR,
  OPT_DATA,
  OPT_PREDICT,
  OPT_OUT,
  OPT_TOP_K,
  OPT_THRESHOLD,
  OPT_MISCLASSIFIED,
  OPT_MAX_MEMORY,
  OPT_GENERATE,
  OPT_PROMPT,
  OPT_TEMPERATURE,
  OPT_SEED,
  OPT_GEN_PRECISION
};

#define WATCH   "Watch options"
#define PREDICT "Prediction options"
#define GEN     "Generation options (token models)"
static const tv_cli_option OPTIONS[] = {
    {"ckpt", OPT_CKPT, 0, required_argument, "PATH|latest|STEP", "@ckpt", NULL,
     "the checkpoint file, or (with --train-dir) the newest committed one or the one of that step "
     "(default latest)"},
    {"train-dir", OPT_TRAIN_DIR, 0, required_argument, "DIR", "@dir", NULL,
     "the run directory whose manifest names the checkpoint"},
    {"split", OPT_SPLIT, 0, required_argument, "test|valid|train", "test valid train", NULL,
     "data split (default test; valid is carved from the training files exactly as train carved "
     "it)"},
    {"data", OPT_DATA, 0, required_argument, "FILE.yaml", "@file", NULL,
     "read the data from the data keys of FILE.yaml (its top level, or under `data:`) over the "
     "checkpoint's data section; --data-dir and --set apply after it, in their order"},
    {"data-dir", OPT_DATA_DIR, 0, required_argument, "DIR", "@dir", NULL,
     "read the data files from DIR instead of the data.dir stored in the checkpoint (the same as "
     "--set data.dir=DIR)"},
    {"set", OPT_SET, 0, required_argument, "data.KEY=VALUE", NULL, NULL,
     "override a data key of the checkpoint's config, e.g. --set data.test_images=t10k.idx "
     "(repeatable; only data.*: the model always comes from the checkpoint)"},
    {"num-examples", OPT_NUM_EXAMPLES, 0, required_argument, "N", "@number", NULL,
     "evaluate N examples of the split (default all; a token model: the first N tokens of "
     "its text, read as the streams the whole text would be, the state carried)"},
    {"subset-seed", OPT_SUBSET_SEED, 0, required_argument, "S", "@number", NULL,
     "a random N drawn with seed S instead of the first N"},
    {"batch-size", OPT_BATCH_SIZE, 0, required_argument, "B", "@number", NULL,
     "inference batch size (default 500; a token model reads its text as the train.batch_size "
     "streams it was trained on)"},
    {"threads", OPT_THREADS, 0, required_argument, "N", "@number", NULL,
     "run the inference graph on a team of N threads, OpenBLAS held to one thread inside it "
     "(default: OPENBLAS_NUM_THREADS, else one per core)"},
    {"max-memory", OPT_MAX_MEMORY, 0, required_argument, "MB", "@number", NULL,
     "refuse, before allocating it, a checkpoint whose graph, variables and data (as its reader "
     "will hold it; an HDF5 split larger than data.memory_mb counts that budget) would take more "
     "than MB MiB (default: three quarters of physical memory; 0: no limit)"},
    {"json", OPT_JSON, 0, no_argument, NULL, NULL, NULL,
     "one-shot: print exactly one JSON object on stdout (top5 is null with 5 classes or fewer); "
     "--watch: print each result as its metrics.jsonl line"},
    {"verbose", 'v', 'v', no_argument, NULL, NULL, NULL,
     "one-shot: also print per-class precision, recall and F1 and the confusion matrix (rows: true "
     "class)"},
    TV_CLI_STANDARD_OPTIONS,
    {"predict", OPT_PREDICT, 0, required_argument, "INPUT", "@file", PREDICT,
     "predict instead of evaluating: INPUT is FILE:/DATASET of an HDF5 file, a .npy or .csv file "
     "of features, a folder of images, one PNG or JPEG file, or - (an image, a .npy or a CSV "
     "on stdin; -:/DATASET for HDF5); an HDF5 dataset or .npy file larger than data.memory_mb "
     "(256 MiB when 0) is read from disk in blocks"},
    {"out", OPT_OUT, 0, required_argument, "FILE", "@file", PREDICT,
     "where the rows go, written batch by batch: one per example, CSV with a header (--json: "
     "JSON lines); a file is replaced only once every row is written; - for stdout (default)"},
    {"top-k", OPT_TOP_K, 0, required_argument, "K", "@number", PREDICT,
     "the K most probable classes in each row (default 5, at most the classes); with --generate: "
     "sample among the K most likely characters only (default: all)"},
    {"threshold", OPT_THRESHOLD, 0, required_argument, "P", "@number", PREDICT,
     "multilabel: predict the labels whose probability exceeds P (default 0.5)"},
    {"watch", OPT_WATCH, 0, required_argument, "DIR", "@dir", WATCH,
     "follow the run in DIR (it need not exist yet)"},
    {"name", OPT_NAME, 0, required_argument, "NAME", NULL, WATCH,
     "evaluator name: results go to DIR/NAME/ (default eval); give each evaluator of one DIR its "
     "own name"},
    {"policy", OPT_POLICY, 0, required_argument, "all|latest", "all latest", WATCH,
     "all: every committed checkpoint in step order (default); latest: skip a backlog, only the "
     "newest"},
    {"min-interval", OPT_MIN_INTERVAL, 0, required_argument, "SECONDS", "@number", WATCH,
     "start an evaluation at most once per SECONDS"},
    {"timeout", OPT_TIMEOUT, 0, required_argument, "SECONDS", "@number", WATCH,
     "exit 0 after SECONDS with nothing new to evaluate"},
    {"poll", OPT_POLL, 0, optional_argument, "SECONDS", NULL, WATCH,
     "poll DIR every SECONDS (default 1) instead of inotify; automatic on NFS, CIFS/SMB, FUSE and "
     "other remote mounts"},
    {"metric", OPT_METRIC, 0, required_argument, "NAME",
     "loss accuracy top5 macro_f1 mae rmse r2 micro_f1 map bpc perplexity", WATCH,
     "what best.h5 and early stopping follow, a metric of the run's model.task: loss, accuracy, "
     "top5, macro_f1, bpc (bits per character of a token model), perplexity (classification); "
     "loss, mae, rmse, r2 (regression); loss, macro_f1, micro_f1, map (multilabel).  Default: the "
     "task's (accuracy, r2, micro_f1), read from DIR/config.yaml (accuracy while it does not "
     "exist yet)"},
    {"mode", OPT_MODE, 0, required_argument, "max|min", "max min", WATCH,
     "whether larger is better (default: min for loss, mae and rmse, max for the others)"},
    {"early-stop-patience", OPT_PATIENCE, 0, required_argument, "N", "@number", WATCH,
     "write DIR/STOP (train then stops) after N results without an improvement of more than "
     "--min-delta"},
    {"min-delta", OPT_MIN_DELTA, 0, required_argument, "D", "@number", WATCH,
     "the improvement that counts for --early-stop-patience (default 0)"},
    {"trace", OPT_TRACE, 0, required_argument, "FILE", "@file", WATCH,
     "append timing lines for scripts/bench_watch.sh"},
    {"misclassified", OPT_MISCLASSIFIED, 0, required_argument, "N", "@number", WATCH,
     "show the first N misclassified examples of the subset in each result's TensorBoard images "
     "(default 16; 0: none)"},
    {"generate", OPT_GENERATE, 0, required_argument, "N", "@number", GEN,
     "one-shot: print N characters sampled from the checkpoint's language model (one step at a "
     "time, the state carried), then a newline, and nothing else; --watch: a sample of N "
     "characters per checkpoint, to TensorBoard's text dashboard and metrics.jsonl"},
    {"prompt", OPT_PROMPT, 0, required_argument, "TEXT", NULL, GEN,
     "feed TEXT first (default: one newline); every byte must be in the model's vocabulary"},
    {"temperature", OPT_TEMPERATURE, 0, required_argument, "T", "@number", GEN,
     "divide the logits by T before sampling (default 1; 0: always the most likely character)"},
    {"seed", OPT_SEED, 0, required_argument, "S", "@number", GEN,
     "the sampling seed (default 1): the same checkpoint, prompt and seed give the same text"},
    {"generate-precision", OPT_GEN_PRECISION, 0, required_argument, "fp32|bf16", "fp32 bf16", GEN,
     "the arithmetic of each step (default fp32: the model's own logits to float tolerance); "
     "bf16 rounds the recurrent and output weights and the vectors they multiply to bf16 and "
     "sums in fp32: faster, logits within 0.05 + 2% of the fp32 ones (a measured bound), a "
     "different but as deterministic text; an embedding, lstm/gru layers and a dense head only"},
};
#define N_OPTIONS TV_CLI_COUNT(OPTIONS)
_Static_assert(sizeof OPTIONS / sizeof OPTIONS[0] <= TV_CLI_MAX_OPTIONS, "option table too long");

static const tv_cli_example EXAMPLES[] = {
    {"--train-dir runs/mlp --ckpt latest --split test",
     "evaluates the newest committed checkpoint of runs/mlp on the test split"},
    {"--ckpt runs/mlp/ckpt-00004000.h5 --split valid --num-examples 2000 --json -v",
     "one checkpoint file on 2000 validation examples, as one JSON object"},
    {"--watch runs/mlp --split valid --num-examples 2000 --early-stop-patience 5",
     "follows the run, evaluating each checkpoint as it is committed; stops it after 5 results "
     "without improvement"},
    {"--train-dir runs/charlm --generate 300 --prompt 'The ' --seed 7",
     "prints 300 characters of the character model's newest checkpoint, continuing 'The '"},
};

static const tv_cli_program PROGRAM = {
    .name = "eval",
    .summary = "evaluate trainval checkpoints, once or following a run",
    .synopsis = {"--ckpt PATH [options]", "--train-dir DIR [--ckpt latest|STEP] [options]",
                 "--watch DIR [watch options] [options]",
                 "--ckpt PATH --predict INPUT [--out FILE] [--json] [--top-k K] [options]",
                 "--help | --version"},
    .description =
        "Evaluates checkpoints: builds the inference graph from the config stored in the "
        "checkpoint, loads its variables and reports loss, accuracy, top-5 accuracy (only with "
        "more than 5 classes: with 5 or fewer it is always 1) and macro-F1 over the first N (or "
        "a seeded random N) examples of a split.  Named through a train_dir (or sitting in "
        "one), a checkpoint's size and CRC-32C are verified against the manifest before HDF5 "
        "reads it.\n"
        "With --watch it follows a training run, from the same machine or another one that sees "
        "DIR, and evaluates every committed checkpoint exactly once, also across its own "
        "restarts; results go to DIR/NAME/ (metrics.jsonl, state.yaml, best.h5, TensorBoard "
        "events).\n"
        "With --predict it runs the checkpoint's model over new inputs (an HDF5 dataset, a .npy or "
        "CSV file, a folder of images, one image, or stdin) and writes one row per example: the "
        "predicted class, its name (the class folders' names or the CSV's string labels the run "
        "trained on) and the top-k probabilities, the regression values, or the labels above "
        "--threshold, as CSV with a header or JSON lines (--json).",
    .notes = "Watching ends by itself (exit 0) once the trainer's status is final, "
             "early_stopped, aborted or diverged and every checkpoint it must evaluate is done, "
             "after --timeout, or on SIGINT/SIGTERM (the state stays consistent; run it again to "
             "go on).\n"
             "The checkpoint holds the config it was trained with (format: trainval-config(5)); "
             "the data is read from the data.dir named there, unless --data FILE.yaml, --data-dir "
             "or --set data.KEY=VALUE names other files (an evaluator on another machine); the "
             "model always comes from the checkpoint.  Precedence, lowest first: the "
             "checkpoint's data section, the keys --data FILE.yaml sets (the others keep the "
             "checkpoint's values), then each --data-dir and --set in command-line order (the "
             "last of them wins).",
    TV_CLI_TABLES(OPTIONS, EXAMPLES),
    .exit_status = "0 ok, 1 error (one line on stderr), 2 usage error.",
};

static int parse_int(const char *opt, const char *v, long long lo, long long hi, long long *out) {
  char *end;
  long long n = strtoll(v, &end, 10);
  if (*end || end == v || n < lo || n > hi) {
    fprintf(stderr, "%s: --%s: expected an integer in [%lld, %lld], got '%s'\n", prog, opt, lo, hi,
            v);
    return 2;
  }
  *out = n;
  return 0;
}

static int parse_u64(const char *opt, const char *v, uint64_t *out) {
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  if (*end || end == v || v[0] == '-') {
    fprintf(stderr, "%s: --%s: expected a non-negative integer, got '%s'\n", prog, opt, v);
    return 2;
  }
  *out = n;
  return 0;
}

static int parse_seconds(const char *opt, const char *v, double lo, double *out) {
  char *end;
  double x = strtod(v, &end);
  if (*end || end == v || !isfinite(x) || x < lo || x > 1e9) {
    fprintf(stderr, "%s: --%s: expected a number of seconds >= %g, got '%s'\n", prog, opt, lo, v);
    return 2;
  }
  *out = x;
  return 0;
}

/* v must be one of the words of list (space-separated). */
static int parse_word(const char *opt, const char *v, const char *list, const char *expected) {
  size_t n = strlen(v);
  for (const char *w = list; *w;) {
    size_t len = strcspn(w, " ");
    if (len == n && n > 0 && !strncmp(w, v, n)) return 0;
    w += len + (w[len] == ' ');
  }
  fprintf(stderr, "%s: --%s: expected %s, got '%s'\n", prog, opt, expected, v);
  return 2;
}

/* Returns 0 to run, 2 on a usage error, -1 when the command is done (--help, --version). */
/* --metric's default: the headline metric of the task in DIR/config.yaml (which train writes
 * once the run is set up), or accuracy when there is no DIR or no readable config there yet. */
static const char *default_metric(const char *dir) {
  const char *metric = "accuracy";
  char path[TV_PATH_CAP + 16];
  tv_config *cfg = dir ? malloc(sizeof *cfg) : NULL;
  if (cfg && tv_fs_join(path, sizeof path, dir, "config.yaml") == TV_OK &&
      tv_config_load(path, NULL, 0, cfg) == TV_OK)
    metric = tv_metric_desc_for(tv_task_headline(cfg->model.task))->name;
  free(cfg);
  return metric;
}

static int parse_args(int argc, char **argv, eval_options *o, tv_text *msg) {
  struct option longopts[N_OPTIONS + 1];
  char shortopts[64];
  if (tv_cli_getopt(OPTIONS, N_OPTIONS, longopts, shortopts, sizeof shortopts) != TV_OK) {
    fprintf(stderr, "%s: %s\n", prog, tv_error_message());
    return 2;
  }
  o->split = TV_SPLIT_TEST;
  o->batch_size = 500;
  o->misclassified = 16;
  o->max_memory_mb = tv_budget_default_mb();
  o->timeout = -1;
  o->poll_interval = 1.0;
  o->mode_max = -1;
  o->temperature = 1.0;
  o->seed = 1;
  const char *watch_opt = NULL; /* an option that means nothing without --watch */
  const char *gen_opt = NULL;   /* an option that means nothing without --generate */
  int c, idx;
  opterr = 0;
  while ((c = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
    const char *v = optarg;
    const tv_cli_option *row = tv_cli_find(&PROGRAM, c);
    const char *name = row ? row->name : "";
    if (row && row->group && !strcmp(row->group, WATCH) && c != OPT_WATCH) watch_opt = name;
    if (row && row->group && !strcmp(row->group, GEN) && c != OPT_GENERATE) gen_opt = name;
    long long n;
    if (tv_cli_standard(msg, prog, &PROGRAM, c)) return -1;
    switch (c) {
    case 'v':
      o->verbose = 1;
      break;
    case OPT_JSON:
      o->json = 1;
      break;
    case OPT_POLL:
      o->poll = 1;
      if (v && parse_seconds(name, v, 0.001, &o->poll_interval)) return 2;
      break;
    case OPT_CKPT:
      o->ckpt = v;
      break;
    case OPT_TRAIN_DIR:
      o->train_dir = v;
      break;
    case OPT_SPLIT: {
      int s = tv_split_parse(v);
      if (s < 0) {
        fprintf(stderr, "%s: --split: expected test, valid or train, got '%s'\n", prog, v);
        return 2;
      }
      o->split = (tv_split)s;
      break;
    }
    case OPT_NUM_EXAMPLES:
      if (parse_int(name, v, 1, 1LL << 32, &n)) return 2;
      o->num_examples = n;
      break;
    case OPT_SUBSET_SEED:
      if (parse_u64(name, v, &o->subset_seed)) return 2;
      o->has_subset_seed = 1;
      break;
    case OPT_BATCH_SIZE:
      if (parse_int(name, v, 1, 65536, &n)) return 2;
      o->batch_size = (int)n;
      break;
    case OPT_THREADS:
      if (parse_int(name, v, 1, 1024, &n)) return 2;
      o->threads = (int)n;
      break;
    case OPT_MAX_MEMORY:
      if (parse_int(name, v, 0, (long long)1 << 40, &n)) return 2;
      o->max_memory_mb = (size_t)n;
      break;
    case OPT_WATCH:
      o->watch = v;
      break;
    case OPT_NAME:
      if (!tv_eval_name_valid(v)) {
        fprintf(stderr,
                "%s: --name: expected 1..63 of A-Z a-z 0-9 . _ - (not starting with '.'), "
                "got '%s'\n",
                prog, v);
        return 2;
      }
      o->name = v;
      break;
    case OPT_POLICY:
      if (parse_word(name, v, row->values, "all or latest")) return 2;
      o->policy_latest = !strcmp(v, "latest");
      break;
    case OPT_TIMEOUT:
      if (parse_seconds(name, v, 0, &o->timeout)) return 2;
      break;
    case OPT_MIN_INTERVAL:
      if (parse_seconds(name, v, 0, &o->min_interval)) return 2;
      break;
    case OPT_METRIC:
      if (tv_metric_find(v) < 0) {
        char names[256];
        fprintf(stderr, "%s: --%s: expected %s, got '%s'\n", prog, name,
                tv_metric_list(names, sizeof names), v);
        return 2;
      }
      o->metric = v;
      break;
    case OPT_MODE:
      if (parse_word(name, v, row->values, "max or min")) return 2;
      o->mode_max = !strcmp(v, "max");
      break;
    case OPT_PATIENCE:
      if (parse_int(name, v, 1, 1000000000, &n)) return 2;
      o->patience = n;
      break;
    case OPT_MIN_DELTA:
      if (parse_seconds(name, v, 0, &o->min_delta)) return 2; /* a non-negative number */
      break;
    case OPT_TRACE:
      o->trace = v;
      break;
    case OPT_DATA:
      o->data_file = v;
      break;
    case OPT_PREDICT:
      o->predict = v;
      break;
    case OPT_OUT:
      o->out = v;
      break;
    case OPT_TOP_K:
      if (parse_int(name, v, 1, 1000000, &n)) return 2;
      o->top_k = (int)n;
      break;
    case OPT_THRESHOLD: {
      char *end;
      double p = strtod(v, &end);
      if (*end || end == v || !(p > 0 && p < 1)) {
        fprintf(stderr, "%s: --threshold: expected a probability in (0, 1), got '%s'\n", prog, v);
        return 2;
      }
      o->threshold = p;
      break;
    }
    case OPT_MISCLASSIFIED:
      if (parse_int(name, v, 0, 1024, &n)) return 2;
      o->misclassified = (int)n;
      break;
    case OPT_SET:
    case OPT_DATA_DIR:
      if (o->n_data_sets == EVAL_MAX_DATA_SETS)
        return tv_cli_usage(msg, prog, "at most %d --set and --data-dir options",
                            EVAL_MAX_DATA_SETS);
      if (c == OPT_SET && strncmp(v, "data.", 5))
        return tv_cli_usage(msg, prog,
                            "--set %s: only data.KEY=VALUE may be set (the model, training and "
                            "optimizer come from the checkpoint)",
                            v);
      if (c == OPT_DATA_DIR) {
        int w = snprintf(o->data_dir_set, sizeof o->data_dir_set, "data.dir=%s", v);
        if (w < 0 || (size_t)w >= sizeof o->data_dir_set)
          return tv_cli_usage(msg, prog, "--data-dir: path too long");
        v = o->data_dir_set;
      }
      o->data_sets[o->n_data_sets++] = v;
      break;
    case OPT_GENERATE:
      if (parse_int(name, v, 1, 1 << 24, &n)) return 2;
      o->generate = n;
      break;
    case OPT_PROMPT:
      o->prompt = v;
      break;
    case OPT_TEMPERATURE:
      if (parse_seconds(name, v, 0, &o->temperature)) return 2; /* a number >= 0 */
      break;
    case OPT_SEED:
      if (parse_u64(name, v, &o->seed)) return 2;
      break;
    case OPT_GEN_PRECISION:
      if (parse_word(name, v, row->values, "fp32 or bf16")) return 2;
      o->precision = !strcmp(v, "bf16") ? TV_GEN_BF16 : TV_GEN_FP32;
      break;
    case ':':
      return tv_cli_usage(msg, prog, "%s needs a value", argv[optind - 1]);
    default: /* '?' */
      return tv_cli_usage_refused(msg, prog, &PROGRAM, argv[optind - 1], optopt);
    }
  }
  if (optind < argc) {
    const char *a = argv[optind];
    if (!o->watch && !o->ckpt && !o->train_dir)
      return tv_cli_usage(msg, prog,
                          "unexpected argument '%s' (to follow a run: --watch %s; to evaluate "
                          "its newest checkpoint: --train-dir %s)",
                          a, a, a);
    return tv_cli_usage(msg, prog, "unexpected argument '%s'", a);
  }
  /* --top-k serves --predict (classes per row) and --generate (the sampling cut) */
  if ((o->out || (o->top_k && !o->generate) || o->threshold > 0) && !o->predict) {
    fprintf(stderr, "%s: --%s needs --predict INPUT (see %s --help)\n", prog,
            o->out     ? "out"
            : o->top_k ? "top-k"
                       : "threshold",
            prog);
    return 2;
  }
  if (o->predict && o->generate)
    return tv_cli_usage(msg, prog,
                        "--predict classifies INPUT and --generate samples text: give one");
  if (o->predict && o->watch)
    return tv_cli_usage(msg, prog,
                        "--predict runs one checkpoint: give --ckpt PATH or --train-dir DIR, "
                        "not --watch");
  if (o->predict && !o->out) o->out = "-";
  if (o->watch && (o->ckpt || o->train_dir)) {
    fprintf(stderr, "%s: --watch follows a run; it takes no --ckpt or --train-dir\n", prog);
    return 2;
  }
  if (!o->watch && watch_opt) {
    fprintf(stderr, "%s: --%s needs --watch DIR (see %s --help)\n", prog, watch_opt, prog);
    return 2;
  }
  if (!o->generate && gen_opt) {
    fprintf(stderr, "%s: --%s needs --generate N (see %s --help)\n", prog, gen_opt, prog);
    return 2;
  }
  if (!o->watch && !o->ckpt && !o->train_dir)
    return tv_cli_usage(msg, prog, "give --ckpt PATH or --train-dir DIR, or --watch DIR");
  if (!o->train_dir && o->ckpt &&
      (!strcmp(o->ckpt, "latest") || strspn(o->ckpt, "0123456789") == strlen(o->ckpt)))
    return tv_cli_usage(msg, prog,
                        "--ckpt %s names a checkpoint of a run: give the run as --train-dir DIR",
                        o->ckpt);
  if (!o->name) o->name = "eval";
  if (!o->metric) o->metric = default_metric(o->watch);
  if (o->mode_max < 0) o->mode_max = tv_metric_desc_for(tv_metric_find(o->metric))->maximize;
  return 0;
}

/* Top-5 accuracy means something only with more than 5 classes (with 5 or fewer it is 1). */
static int has_top5(const evaluator_result *r) { return tv_metrics_num_classes(r->metrics) > 5; }

/* Finds the checkpoint file and, where a manifest lists it, the size and checksum to verify. */
static int locate(const eval_options *o, char *path, size_t cap, tv_ckpt_info *expect, int *have) {
  *have = 0;
  tv_manifest_entry e;
  if (o->train_dir) {
    int rc = tv_ckpt_resolve(o->train_dir, o->ckpt ? o->ckpt : "latest", path, cap, &e);
    if (rc != TV_OK) return rc;
  } else {
    if (snprintf(path, cap, "%s", o->ckpt) >= (int)cap)
      return tv_error(TV_ERR_INVALID, "%s: path too long", o->ckpt);
    struct stat st;
    if (stat(o->ckpt, &st) == 0 && S_ISDIR(st.st_mode))
      return tv_error(TV_ERR_INVALID,
                      "%s is a directory, not a checkpoint file (for a run's newest checkpoint: "
                      "--train-dir %s)",
                      o->ckpt, o->ckpt);
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

/* -v, multilabel: per-label precision / recall / F1 and support. */
static void print_labels(const tv_metrics *m, int json) {
  int k = tv_metrics_num_classes(m);
  printf(json ? ", \"per_label\": [" : "\nlabel   precision  recall     f1         support\n");
  for (int j = 0; j < k; j++) {
    double p, rc, f1;
    uint64_t support;
    tv_metrics_label(m, j, &p, &rc, &f1, &support);
    if (json)
      printf("%s{\"label\": %d, \"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f, "
             "\"support\": %llu}",
             j ? ", " : "", j, p, rc, f1, (unsigned long long)support);
    else
      printf("%-7d %-10.4f %-10.4f %-10.4f %llu\n", j, p, rc, f1, (unsigned long long)support);
  }
  if (json) printf("]");
}

/* -v, classification: per-class figures and the confusion matrix; a class's name (the data's,
 * CSV string labels) follows its id when there is one. */
static void print_classes(const tv_metrics *m, const evaluator_result *r, int json) {
  if (tv_metrics_task(m) == TV_TASK_MULTILABEL) {
    print_labels(m, json);
    return;
  }
  if (tv_metrics_task(m) != TV_TASK_CLASSIFICATION) return;
  int k = tv_metrics_num_classes(m);
  const uint64_t *cm = tv_metrics_confusion(m);
  if (json) {
    printf(", \"per_class\": [");
    for (int c = 0; c < k; c++) {
      double p, rc, f1;
      tv_metrics_class(m, c, &p, &rc, &f1);
      printf("%s{\"class\": %d, ", c ? ", " : "", c);
      if (c < r->n_class_names) {
        tv_text quoted = {0};
        tv_text_json_str(&quoted, r->class_names[c]);
        printf("\"name\": %s, ", quoted.oom ? "\"\"" : quoted.p);
        tv_text_free(&quoted);
      }
      printf("\"precision\": %.6f, \"recall\": %.6f, \"f1\": %.6f}", p, rc, f1);
    }
    printf("], \"confusion\": [");
    for (int i = 0; i < k; i++) {
      printf("%s[", i ? ", " : "");
      for (int j = 0; j < k; j++)
        printf("%s%llu", j ? ", " : "", (unsigned long long)cm[(size_t)i * k + j]);
      printf("]");
    }
    printf("]");
    return;
  }
  printf("\nclass   precision  recall     f1\n");
  for (int c = 0; c < k; c++) {
    double p, rc, f1;
    tv_metrics_class(m, c, &p, &rc, &f1);
    printf("%-7d %-10.4f %-10.4f %.4f", c, p, rc, f1);
    if (c < r->n_class_names) printf("  %s", r->class_names[c]);
    printf("\n");
  }
  printf("\nconfusion (rows: true class, columns: predicted)\n%5s", "");
  for (int j = 0; j < k; j++) printf(" %6d", j);
  printf("\n");
  for (int i = 0; i < k; i++) {
    printf("%5d", i);
    for (int j = 0; j < k; j++) printf(" %6llu", (unsigned long long)cm[(size_t)i * k + j]);
    printf("\n");
  }
}

static void print_result(const eval_options *o, const evaluator_result *r, const char *path,
                         int verified, double seconds) {
  const tv_metrics_summary *s = &r->s;
  double speed = r->eval_seconds > 0 ? (double)s->n / r->eval_seconds : 0.0;
  /* the forward passes alone: what a framework's inference benchmark over tensors already in
   * memory measures (token models time their windows as one) */
  double fwd = r->forward_seconds > 0 ? (double)s->n / r->forward_seconds : speed;
  if (o->json) {
    printf("{\"checkpoint\": ");
    tv_text quoted = {0};
    tv_text_json_str(&quoted, path);
    fputs(quoted.oom ? "\"\"" : quoted.p, stdout);
    tv_text_free(&quoted);
    printf(", \"step\": %lld, \"epoch\": %lld, \"split\": \"%s\", \"num_examples\": %llu, ",
           (long long)r->step, (long long)r->epoch, tv_split_name(o->split),
           (unsigned long long)s->n);
    for (int k = 0; k < TV_METRIC__COUNT; k++) {
      const char *name = tv_metric_desc_for((tv_metric_kind)k)->name;
      if (!tv_metric_applies((tv_metric_kind)k, tv_metrics_task(r->metrics))) continue;
      if (k == TV_METRIC_TOP5 && !has_top5(r))
        printf("\"%s\": null, ", name);
      else
        printf("\"%s\": %.6f, ", name, tv_metric_value(s, (tv_metric_kind)k));
    }
    printf("\"subset_hash\": \"fnv1a64:%016llx\", \"verified\": %s, "
           "\"seconds\": %.3f, \"examples_per_sec\": %.0f, \"forward_examples_per_sec\": %.0f",
           (unsigned long long)r->subset_hash, verified ? "true" : "false", seconds, speed, fwd);
    if (o->verbose) print_classes(r->metrics, r, 1);
    printf("}\n");
    return;
  }
  printf("checkpoint   %s%s\n", path, verified ? " (checksum verified)" : "");
  printf("step         %lld\n", (long long)r->step);
  printf("split        %s (%llu %s)\n", tv_split_name(o->split), (unsigned long long)s->n,
         r->tokens ? "tokens" : "examples");
  for (int k = 0; k < TV_METRIC__COUNT; k++)
    if (tv_metrics_reports(r->metrics, (tv_metric_kind)k))
      printf("%-12s %.4f\n", tv_metric_desc_for((tv_metric_kind)k)->name,
             tv_metric_value(s, (tv_metric_kind)k));
  printf("speed        %.0f %s/s (forward alone %.0f)\n", speed, r->tokens ? "tokens" : "examples",
         fwd);
  if (o->verbose) print_classes(r->metrics, r, 0);
}

/* --generate N, one-shot: the generation graph of the checkpoint's token model over its
 * variables and vocabulary; prints the N sampled bytes and a newline. */
static int generate_text(const eval_options *o) {
  char path[TV_PATH_CAP + 128], *out = NULL;
  tv_ckpt_info expect;
  int have_expect = 0;
  tv_ckpt *ck = NULL;
  tv_ctx *ctx = NULL;
  tv_varstore *store = NULL;
  tv_generator *gen = NULL;
  tv_config *cfg = malloc(sizeof *cfg);
  tv_vocab vocab;
  int rc = cfg ? locate(o, path, sizeof path, &expect, &have_expect)
               : tv_error(TV_ERR_NOMEM, "out of memory");
  if (rc == TV_OK) rc = tv_ckpt_open(path, have_expect ? &expect : NULL, &ck);
  if (rc == TV_OK) {
    char source[TV_PATH_CAP + 160];
    const char *text = tv_ckpt_config_text(ck);
    snprintf(source, sizeof source, "%s:/config", path);
    rc = tv_config_parse(text, strlen(text), source, NULL, 0, cfg);
  }
  if (rc == TV_OK) rc = tv_ctx_new(o->threads, &ctx);
  if (rc == TV_OK) rc = tv_varstore_new(&store);
  if (rc == TV_OK) rc = tv_generator_new(cfg, store, tv_ctx_team(ctx), &gen);
  if (rc == TV_OK) rc = tv_varstore_seal(store);
  if (rc == TV_OK) rc = tv_ckpt_read_variables(ck, store);
  if (rc == TV_OK) rc = tv_vocab_ckpt_read(&vocab, ck);
  if (rc == TV_OK && !(out = malloc((size_t)o->generate)))
    rc = tv_error(TV_ERR_NOMEM, "--generate %lld: out of memory", o->generate);
  tv_sample_opts so = {.temperature = o->temperature,
                       .top_k = o->top_k,
                       .seed = o->seed,
                       .precision = (tv_gen_precision)o->precision};
  if (rc == TV_OK) rc = tv_generate(gen, &vocab, o->prompt, (size_t)o->generate, &so, out);
  if (rc == TV_OK) {
    fwrite(out, 1, (size_t)o->generate, stdout);
    putchar('\n');
  } else {
    fprintf(stderr, "%s: %s\n", prog, tv_error_message());
  }
  free(out);
  tv_generator_free(gen);
  tv_varstore_free(store);
  tv_ctx_free(ctx);
  tv_ckpt_close(ck);
  free(cfg);
  return rc == TV_OK ? 0 : 1;
}

static int one_shot(const eval_options *o) {
  char path[TV_PATH_CAP + 128];
  tv_ckpt_info expect;
  int have_expect = 0;
  evaluator *ev = NULL;
  evaluator_result r;
  evaluator_opts eo = {.data_sets = o->data_sets,
                       .n_data_sets = o->n_data_sets,
                       .data_file = o->data_file_sets,
                       .split = o->split,
                       .num_examples = (uint32_t)o->num_examples,
                       .random_subset = o->has_subset_seed,
                       .subset_seed = o->subset_seed,
                       .batch_size = o->batch_size,
                       .threads = o->threads,
                       .max_memory_mb = o->max_memory_mb};
  if (o->num_examples > UINT32_MAX) eo.num_examples = UINT32_MAX;
  double t0 = tv_monotonic();
  int rc = locate(o, path, sizeof path, &expect, &have_expect);
  if (rc == TV_OK && o->predict) return predict_run(o, path, have_expect ? &expect : NULL);
  if (rc == TV_OK) rc = evaluator_new(&eo, &ev);
  if (rc == TV_OK) rc = evaluator_run(ev, path, have_expect ? &expect : NULL, &r);
  double t2 = tv_monotonic();
  if (rc != TV_OK) {
    fprintf(stderr, "%s: %s\n", prog, tv_error_message());
  } else {
    print_result(o, &r, path, have_expect, t2 - t0);
  }
  evaluator_free(ev);
  return rc == TV_OK ? 0 : 1;
}

/* Puts the data file's overrides (kept in *file) before the command line's, which follow in
 * their order: later ones win. */
static int add_data_file(eval_options *o, tv_config_sets *file) {
  int rc = tv_config_data_file(o->data_file, file);
  if (rc != TV_OK) {
    fprintf(stderr, "%s: %s\n", prog, tv_error_message());
    return 1;
  }
  if (file->n + o->n_data_sets > EVAL_MAX_DATA_SETS) {
    fprintf(stderr, "%s: %s: %d keys and %d --set/--data-dir options: at most %d in all\n", prog,
            o->data_file, file->n, o->n_data_sets, EVAL_MAX_DATA_SETS);
    return 2;
  }
  memmove(o->data_sets + file->n, o->data_sets, (size_t)o->n_data_sets * sizeof o->data_sets[0]);
  for (int i = 0; i < file->n; i++) o->data_sets[i] = file->sets[i];
  o->n_data_sets += file->n;
  o->data_file_sets = file;
  return 0;
}

int main(int argc, char **argv) {
  eval_options o = {0};
  prog = o.prog = tv_cli_progname(argv[0], "eval");
  tv_text msg = {0};
  int urc = parse_args(argc, argv, &o, &msg);
  fputs(msg.oom ? "out of memory\n" : msg.p ? msg.p : "", urc < 0 ? stdout : stderr);
  tv_text_free(&msg);
  if (urc) return urc < 0 ? 0 : urc;
  tv_config_sets file = {0};
  if (o.data_file && (urc = add_data_file(&o, &file))) return urc;
  int rc = o.watch ? watch_run(&o) : o.generate ? generate_text(&o) : one_shot(&o);
  tv_config_sets_free(&file);
  return rc;
}
