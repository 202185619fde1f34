/* eval.h — the eval program's own modules (not part of libtrainval): the options both modes
 * share, the evaluator that turns a checkpoint file into metrics (evaluator.c), and the watch
 * loop (watch_loop.c).  main.c parses the command line and runs one of the two modes.
 */
#ifndef TRAINVAL_EVAL_EVAL_H
#define TRAINVAL_EVAL_EVAL_H

#include <signal.h>
#include <stdint.h>

#include "trainval/ckpt.h"
#include "trainval/config.h"
#include "trainval/data.h"
#include "trainval/error.h"
#include "trainval/events.h"
#include "trainval/metrics.h"
#include "trainval/pipeline.h"

/* Most --set / --data-dir options (and keys of a --data file) eval takes. */
#define EVAL_MAX_DATA_SETS 64

typedef struct eval_options {
  const char *prog; /* the name messages start with: argv[0]'s last component */
  /* one-shot */
  const char *ckpt;
  const char *train_dir;
  int json;
  int verbose; /* per-class figures and the confusion matrix */
  /* both */
  tv_split split;
  long long num_examples; /* 0: the whole split */
  int has_subset_seed;    /* a seeded random subset instead of the first N */
  uint64_t subset_seed;
  int batch_size;
  int threads;
  size_t max_memory_mb; /* --max-memory: 0 none; default tv_budget_default_mb() (budget.h) */
  /* --set data.KEY=VALUE and --data-dir DIR (as "data.dir=DIR"), in command-line order: applied
   * to the data section of every checkpoint's config, so the data may live elsewhere than where
   * training read it.  Borrowed from argv, except data_dir_set. */
  const char *data_sets[EVAL_MAX_DATA_SETS];
  int n_data_sets;
  char data_dir_set[TV_PATH_CAP + 16];
  const char *data_file; /* --data FILE.yaml: its keys go before data_sets (main.c) */
  const tv_config_sets *data_file_sets; /* what it holds (main.c's), or NULL */
  /* --predict */
  const char *predict; /* INPUT, or NULL: evaluate instead */
  const char *out;     /* where the rows go ("-": stdout) */
  int top_k;           /* --predict: probabilities per row, 0: min(5, classes); --generate: the
                        * sampling cut (generate.h), 0: every id */
  double threshold;    /* multilabel: a label is predicted above it; 0: 0.5 */
  /* --watch */
  const char *watch;
  const char *name;
  int policy_latest;
  double timeout; /* < 0: none */
  int poll;
  double poll_interval;
  double min_interval;
  const char *metric;
  int mode_max; /* -1: from the metric */
  long long patience;
  double min_delta;
  const char *trace; /* timing trace for scripts/bench_watch.sh, or NULL */
  /* token models: --generate N characters (one-shot: printed; --watch: a sample per checkpoint) */
  long long generate; /* 0: none */
  const char *prompt;
  double temperature; /* default 1 */
  uint64_t seed;      /* default 1 */
  int precision;      /* --generate-precision: tv_gen_precision, default TV_GEN_FP32 */
  int misclassified;  /* examples in the misclassified grid of each result's events; 0: none */
} eval_options;

/* ---- evaluator: checkpoint -> metrics, reusing the model and data between checkpoints ----- */

typedef struct evaluator evaluator;

typedef struct evaluator_opts {
  const char *const *data_sets; /* data.KEY=VALUE overrides (borrowed), n_data_sets of them */
  int n_data_sets;
  const tv_config_sets *data_file; /* the --data file's overrides among them (messages), or NULL */
  tv_split split;
  uint32_t num_examples; /* 0: the whole split */
  int random_subset;
  uint64_t subset_seed;
  int batch_size;
  int threads;                   /* the evaluator's thread team; 0: OpenBLAS's default count */
  size_t max_memory_mb;          /* a checkpoint's graph, variables and data above it are refused
                                    before they are allocated (budget.h); 0: no limit */
  volatile sig_atomic_t *cancel; /* checked between chunks of examples; may be NULL */
  /* token models: a sample of `generate` bytes per checkpoint (0: none), generate.h's rule */
  long long generate;
  const char *prompt;
  double temperature;
  int top_k;
  uint64_t seed;
  int precision; /* tv_gen_precision */
} evaluator_opts;

typedef struct evaluator_result {
  int64_t step, epoch;
  double ckpt_wall_time;
  uint32_t n;           /* examples evaluated */
  uint64_t subset_hash; /* tv_dataset_subset's hash of the examples */
  tv_metrics_summary s;
  const tv_metrics *metrics; /* owned by the evaluator, valid until its next run */
  char *const *class_names;  /* the checkpoint's class names (CSV string labels, image folders;
                              * the split's labels mapped onto them), else the data's, or NULL */
  int n_class_names;
  /* The examples, also the evaluator's until its next run: the dataset, the subset (n indices
   * into it) and probs, n * classes probabilities in subset order (softmax; sigmoid per label for
   * multilabel). */
  const tv_dataset *ds;
  const uint32_t *idx;
  const float *probs;
  /* The subset's targets in subset order, gathered in the pass (out of core ds holds none):
   * labels (n class ids) for class ids, else targets (n * ds->target_dim floats); the other NULL */
  const int32_t *labels;
  const float *targets;
  double eval_seconds; /* the evaluation: batches made, forward, metrics */
  int fatal;           /* on failure: 1 if the cause is not the checkpoint (data, memory) */
  int tokens;          /* a token model: n counts tokens of the split's text */
  const char *sample;  /* token models with opts.generate: the sample, NUL-terminated, owned by
                        * the evaluator until its next run; else NULL */
  /* the forward passes alone, a part of eval_seconds (0: not timed) */
  double forward_seconds;
} evaluator_result;

/* Creates the process's thread team (ctx.h) with o->threads.  *out NULL on failure.
 * Errors: TV_ERR_NOMEM. */
TV_MUST_CHECK int evaluator_new(const evaluator_opts *o, evaluator **out);

/* Opens the checkpoint at path (verified against expect's size and CRC-32C first when expect
 * is not NULL), builds the INFER graph from the config inside it (kept while the model config
 * stays the same), loads the split (kept while the data config stays the same), and evaluates
 * the subset.  A token model (config.h) reads its corpus instead (test and valid: the validation
 * text, train: the training text), evaluates the whole text as train.batch_size contiguous
 * streams with the state carried across windows (tv_evaluate_tokens; --batch-size does not
 * apply; --num-examples N takes the text's first N tokens instead, read as those streams, and
 * --subset-seed is refused), and with opts.generate samples from its generation graph.  Errors:
 * those of tv_ckpt_open, tv_config_parse, tv_model_new, tv_ckpt_read_variables, tv_split_load,
 * tv_dataset_subset (res->fatal set for the data and memory ones), TV_ERR_INTERRUPTED (*cancel
 * became nonzero). */
TV_MUST_CHECK int evaluator_run(evaluator *ev, const char *path, const tv_ckpt_info *expect,
                                evaluator_result *res);

void evaluator_free(evaluator *ev); /* NULL-safe */

/* ---- predictions (predict.c) ---------------------------------------------------------------
 *
 * PREDICTIONS.  eval --predict INPUT runs the checkpoint's model (INFER, its normalisation from
 * the checkpoint's config, after --data/--set) over INPUT:
 *   FILE:/DATASET   the features dataset of an HDF5 file (data.h, HDF5 DATA FILES; any shape of
 *                   C*H*W values per example is read as model.input)
 *   -:/DATASET      the same from an HDF5 file on standard input
 *   DIR             every .png/.jpg/.jpeg file directly in DIR, in name order
 *   FILE            a .npy file of features (data.h, NPY FILES), recognised by its magic
 *   FILE.csv        a CSV file (also .csv.gz) of features alone, read as the checkpoint's
 *                   data keys say (delimiter, header, ...): its data.features columns, or
 *                   every column when that is ""
 *   FILE, -         one PNG or JPEG image (from standard input for -)
 * Images are made model.input's shape as an image folder's are (data.resize applies).  An HDF5
 * FILE:/DATASET whose features need more than the data budget in memory (data.memory_mb, or
 * PREDICT_MEMORY_MB = 256 MiB when that is 0) is streamed: read in blocks of whole chunks
 * (data.h, OUT-OF-CORE DATA) in parts of whole batches (each part's loader order and row map
 * take at most a 16th of the budget), so memory stays within the budget whatever the file's
 * size; a
 * plain .npy file larger than the budget is read in blocks of whole batches (tv_npy_rows, C or
 * Fortran order), so every batch is the one the whole array gives; every other input (CSV,
 * images, anything on stdin) is read whole first.  Rows are written as
 * each batch is made, to --out (a file: into a temporary beside it, renamed over it once the last
 * row is written, so a failure, SIGINT or SIGTERM midway leaves an existing file as it was and
 * no partial one; a FIFO or a device in place) or to stdout for -, one per example in input
 * order, as CSV with a header
 *   index,input,class,name,probability[,class_2,name_2,probability_2 ...]
 * or, with --json, one JSON object per line
 *   {"index": 0, "input": "a.png", "class": 3, "name": "dress", "probability": 0.91,
 *    "top_k": [{"class": 3, "name": "dress", "probability": 0.91}, ...]}
 * input is the image file's name (null, or empty in CSV, for array rows); class is the most
 * probable class (softmax of the logits, in double; ties go to the lower id), with the next
 * --top-k - 1 (default: 5 in all, at most the classes) in decreasing order; name is the class
 * name the checkpoint holds (data.h, the class names in a checkpoint), else the class id.
 * Probabilities are printed with 9 significant digits.  That is a classification model's row;
 * model.task regression writes the values instead (CSV index,input,value_0,...; JSON "values":
 * [...]) and multilabel the labels whose sigmoid exceeds --threshold (default 0.5), ids and
 * names separated by ';' in CSV, then every label's probability (CSV index,input,labels,names,
 * probability_0,...; JSON "labels": [{"label", "name", "probability"}], "probabilities": [...]).
 * A checkpoint trained with data.standardize applies its stored standardisation. */

/* Runs --predict for the checkpoint at path (verified against expect when not NULL); prints
 * its one-line error itself.  Returns the exit status (0, or 1 on an error). */
int predict_run(const eval_options *o, const char *path, const tv_ckpt_info *expect);
/* ---- figures: the evaluator's TensorBoard images and PR curves (figures.c) ---------------- */

/* Classification results with more classes than this get no figures (they would not be legible). */
enum { FIGURES_MAX_CLASSES = 64 };

typedef struct figures_opts {
  int misclassified; /* examples in the misclassified grid; 0: none */
  int pr_thresholds; /* thresholds per PR curve; < 2: no PR curves */
} figures_opts;

/* Appends to w, at step, the figures of res (a classification result with 2..FIGURES_MAX_CLASSES
 * classes, or a multilabel one with 1..FIGURES_MAX_CLASSES labels; any other is left without
 * figures, TV_OK):
 *   "confusion_matrix"      image: rows true class ("i name", the dataset's names when it has
 *                           them: the checkpoint's, evaluator.c), columns predicted class i,
 *                           each cell its count, shaded by its share of the row;
 *   "misclassified"         image (image data only): the first fo->misclassified examples of
 *                           the subset, in subset order, whose prediction is wrong, each at twice
 *                           its size over "T<true> P<predicted>";
 *   "misclassified/labels"  text: their table (grid position, example index, true and predicted
 *                           class with names, the prediction's probability);
 *   "pr_curve/<i> <name>"   ("pr_curve/<i>" without names) one PR curve per class, one-vs-rest
 *                           on the softmax probability, fo->pr_thresholds thresholds;
 *   multilabel: only "pr_curve/<j>", one per label, the label's sigmoid score against its 0/1
 *                           target (positive above 0.5).
 * Everything comes from the result (its probabilities, the targets res->labels / res->targets
 * the pass gathered), except the grid's pixels, read with tv_dataset_read_examples: so an
 * out-of-core split (data.memory_mb) gives byte for byte the records of the same file in memory.
 * Deterministic: the same result gives the same records.  Errors: those of tv_events_image,
 * tv_events_text, tv_events_pr_curve, TV_ERR_NOMEM; records appended before an error stay. */
TV_MUST_CHECK int figures_write(tv_events *w, int64_t step, const evaluator_result *res,
                                const figures_opts *fo);

/* ---- watch mode -------------------------------------------------------------------------- */

/* Runs eval --watch to its end; returns the exit status (0 done, timed out or stopped by a
 * signal; 1 error).  Prints as main would. */
int watch_run(const eval_options *o);

#endif
