/* config.h — the run configuration: YAML file -> typed, validated struct.
 *
 * Format (YAML 1.1 via libyaml), five sections, every key optional unless marked required:
 *
 *   model:                       # required
 *     input: [1, 28, 28]         # C, H, W of one example (required); or [T]: one item, a flat
 *                                # example of T values (a token model's T token ids, seq_len)
 *     num_classes: 10            # required: the last layer's outputs, which are the classes
 *                                # (classification, >= 2), the float targets per example
 *                                # (regression) or the labels (multilabel), checked against the
 *                                # data when it is loaded (a token model's: the vocabulary)
 *     task: classification       # classification | regression | multilabel (a token model
 *                                # keeps classification: each position classifies the next
 *                                # token)
 *     layers:                    # required, a sequence; each item a mapping with `type`
 *       - {type: conv2d, filters: 32, kernel_size: 3, padding: same}
 *       - {type: batch_norm}
 *       - {type: relu, name: r1}
 *       - {type: conv2d, filters: 32, kernel_size: 3, padding: same}
 *       - {type: add, inputs: [r1, conv2d_2]}      # residual: element-wise sum, equal shapes
 *       - {type: max_pool2d, pool_size: 2}
 *       - {type: flatten}
 *       - {type: dropout, rate: 0.3}
 *       - {type: dense, units: 10}                 # the last layer gives num_classes outputs
 *       # A default name is <type>_<k>, k counting the layers of that type from 1, named ones
 *       # included (so naming one layer never renames another); a default that equals an
 *       # explicit name is refused.  `inputs: [a, b]` (or `inputs: a`) names earlier layers or
 *       # "input"; left out, a layer takes the previous one.  Only earlier layers can be named,
 *       # so the graph is a DAG by construction (no cycle can be written); an unknown name, a
 *       # later layer or a shape that does not fit is an error naming the layer and file:line.
 *
 *   Layer kinds and their keys (shapes per example; N, the batch, is never written):
 *     dense            units (required), use_bias (true)          (D) -> (units)
 *     conv2d           filters (required), kernel_size (required; k or [kh, kw]),
 *                      strides (1; s or [sh, sw]), padding (valid), use_bias (true)
 *                      (C, H, W) -> (filters, OH, OW); kernel [filters, C, kh, kw] as PyTorch
 *     max_pool2d       pool_size (2), strides (= pool_size), padding (valid)
 *     avg_pool2d       pool_size (2), strides (= pool_size), padding (valid); the average is over
 *                      the window's elements inside the input (padding is not counted: PyTorch's
 *                      count_include_pad=False, TensorFlow's 'SAME')
 *     global_avg_pool  (C, H, W) -> (C)
 *     batch_norm       momentum (0.9), epsilon (1e-5); over channels of (C, H, W) and features of
 *                      (D).  Variables gamma, beta (trainable), moving_mean, moving_variance (not
 *                      trainable, saved in checkpoints).  TRAIN normalises with the batch's mean
 *                      and biased variance and updates, KERAS CONVENTION,
 *                          moving = momentum * moving + (1 - momentum) * batch_statistic
 *                      (PyTorch's momentum m is our 1 - m: PyTorch's default 0.1 is our 0.9);
 *                      the variance folded in is the unbiased one, n/(n-1) (as PyTorch does).
 *                      INFER normalises with the moving statistics.
 *     dropout          rate (0.5) in [0, 1): TRAIN zeroes each element with probability rate and
 *                      scales the rest by 1/(1-rate) (inverted dropout); INFER is the identity
 *     relu, sigmoid, tanh, gelu (exact, erf), softmax (over the features of (D))
 *     leaky_relu       alpha (0.01): x < 0 -> alpha x
 *     elu              alpha (1.0):  x < 0 -> alpha (exp(x) - 1)
 *     flatten          (C, H, W) -> (C*H*W) in C, H, W order (PyTorch's flatten)
 *     add              inputs: [a, b, ...] (2 to 4, equal shapes) -> their element-wise sum
 *     embedding        vocab (required), dim (required): token ids (T) -> (T, dim); only on
 *                      the model input, which is then `input: [T]` (T token ids per example)
 *     lstm, gru        hidden (required): (T, D) -> (T, hidden), batch-first, one recurrent
 *                      layer each (stack rows for more; a dropout row between them drops
 *                      between layers, as PyTorch's dropout= does); the state is carried from
 *                      one forward to the next (see model.h, SEQUENCE MODELS)
 *     dense            over (T, D) is time-distributed: (T, D) -> (T, units)
 *   padding: `valid` (none), `same` (output = ceil(input / stride); the odd pixel of padding goes
 *   after, as TensorFlow does), or explicit p / [ph, pw] pixels on both sides (PyTorch's
 *   padding=p).  A `softmax` as the LAST layer is the output activation: the graph's logits are
 *   its input, training's loss (softmax cross-entropy) and the metrics use those logits, and
 *   tv_model_outputs() gives the probabilities (see model.h).
 *
 *   data:
 *     dir: /usr/share/datasets/fashion-mnist
 *     train_images / train_labels / test_images / test_labels: file stems within dir
 *       (idx: the IDX files, .gz found either way; hdf5: FILE:/DATASET, e.g.
 *       fmnist.h5:/train/images, one file or several; imgdir: train_images and test_images are
 *       folders of class folders, the labels keys are unused)
 *     resize: none               # imgdir: none (another size is an error) | bilinear (to
 *                                # model.input's H x W); channels are model.input's C (1 or 3)
 *     valid_fraction: 0.1        # carved from train by a seeded shuffle
 *     split_seed: 1
 *     scale / mean / std: value -> (value * scale - mean) / std; mean and std are one number
 *       (every channel) or a list of C numbers (one per channel of model.input).  scale: auto
 *       (the default) is 1/255 for uint8 data (IDX ubyte, image folders, a u1 .npy, an 8-bit
 *       unsigned HDF5 dataset) and 1 for every other type (CSV, float or wider integers), as
 *       the training data is read; train writes the number it used into config.yaml and every
 *       checkpoint, so eval and predict apply exactly that number whatever data they read, and
 *       a resumed run whose new config leaves scale at auto keeps the run's number
 *     random_flip: false         # augmentation: horizontal flip with probability 1/2
 *     random_crop_padding: 0     # augmentation: pad by p pixels, crop back at a random offset
 *     format: idx                # idx | csv | npy | hdf5 | imgdir: the reader (data.h); hdf5 and
 *                                # imgdir: see the file keys above; npy: the *_images and
 *                                # *_labels stems name .npy files of features and targets; csv:
 *                                # train_images and
 *                                # test_images name the CSV files, train_labels and test_labels
 *                                # separate target files ("": the targets are columns of the
 *                                # same file), and these keys say how to read them:
 *     features: ""               # csv: columns, "a, b, 3, 5-7" (names or 0-based numbers and
 *                                # ranges); "": every column that is not a target
 *     target: ""                 # csv: target column(s); "": the last column (every column of
 *                                # a separate targets file for regression / multilabel)
 *     delimiter: ","             # csv: one byte
 *     comment: ""                # csv: one byte starting a skipped record; "": off
 *     header: true               # csv: the first record names the columns
 *     skip_rows: 0               # csv: lines skipped before the header
 *     missing: error             # csv: error | fill: an empty field is an error or fill_value
 *     fill_value: 0
 *     class_order: sorted        # csv string class labels: sorted | first_seen ids
 *     standardize: false         # after scale/mean/std, each feature -> (x - mean_j) / std_j
 *                                # with mean_j and std_j fitted on the training split and kept
 *                                # in every checkpoint (ckpt.h, DATA LAYOUT) for eval
 *     memory_mb: 0               # hdf5: MiB the examples may hold in memory; a split that
 *                                # needs more is read from disk in blocks (data.h, OUT-OF-CORE
 *                                # DATA); 0: no limit, everything in memory
 *     corpus: /usr/share/games/fortunes   # token models: the text (a file or folder, corpus.h)
 *     valid_tokens: 0            # token models: the corpus's last this many bytes validate
 *                                # (0: the last valid_fraction of it)
 *   train:
 *     batch_size, epochs | steps, seed, summary_every, checkpoint_every, max_to_keep, log_every,
 *     loss (auto | softmax_cross_entropy | mse | mae | huber | sigmoid_cross_entropy; auto is
 *     the task's: softmax_cross_entropy, mse, sigmoid_cross_entropy), huber_delta (1),
 *     label_smoothing (classification only), checkpoint_secs, summary_secs, on_nonfinite (stop |
 *     skip), max_nonfinite, validate_every, validate_batches, early_stop_patience,
 *     early_stop_metric (a metric-table row that applies to the task: loss | accuracy | top5 |
 *     macro_f1 (classification), loss | mae | rmse | r2 (regression), loss | macro_f1 | micro_f1
 *     | map (multilabel), loss | bpc | perplexity (token models)), early_stop_mode (auto | min |
 *     max), early_stop_min_delta, keep_best, restore_best, histogram_every, prefetch, windows
 *     (token models: contiguous | random, corpus.h)
 *   optimizer:
 *     type: sgd | adam | adamw; learning_rate; momentum; nesterov; beta1; beta2; epsilon;
 *     weight_decay (L2 for sgd and adam, decoupled for adamw); clip_norm (global norm, 0 off);
 *     schedule: constant | cosine | step | exponential; warmup_steps; min_learning_rate;
 *     decay_steps, decay_rate (step: lr * rate^floor(t/steps); exponential: lr * rate^(t/steps))
 *     cosine runs from the end of the warm-up to the run's last step as planned when the run
 *     began (train.steps, or epochs); a run resumed with more steps keeps that horizon and
 *     trains the extra steps at min_learning_rate, unless `train --replan-schedule` stretches it
 *     (the horizon is kept in each checkpoint: /state attribute schedule_steps)
 *   retention:
 *     max_unevaluated: 10        # checkpoints kept for evaluators that have not reached them
 *     keep_every_hours: 0        # also keep one checkpoint per this many hours (0: off)
 *
 * Validation is table-driven (the key tables of common/config/schema.c, walked by read.c when
 * reading and by emit.c when emitting and comparing): an unknown key, a wrong type, a value out
 * of range, a missing required key or a duplicate key is TV_ERR_CONFIG with the message
 * "<file>:<line>:<col>: <key>: <problem>".  Scalars follow the YAML rules every trainval file is
 * read with (common/base/yamlio.h): booleans are true/false, yes/no or on/off in any case;
 * integers are decimal; a file holds one document.  Overrides `section.key=value` (and
 * `model.layers.<i>.key=value`) are applied to the parsed document before validation, so they
 * obey the same rules; errors in them are reported as "--set <text>: <problem>".
 *
 * Compatibility: keys are only ever added; a config written by an older trainval loads.
 */
#ifndef TRAINVAL_CONFIG_H
#define TRAINVAL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/data.h" /* TV_NORM_MAX_CHANNELS */
#include "trainval/error.h"
#include "trainval/metrics.h"
#include "trainval/tensor.h"

enum { TV_MAX_LAYERS = 64, TV_MAX_INPUTS = 4, TV_NAME_CAP = 64, TV_PATH_CAP = 1024 };

/* The layer kinds a config can name (`type:`), one X(CONST, name) row each: the enum constant
 * TV_LAYER_<CONST> and the name written after `type:` (tv_layer_kind_name).  The enum and the
 * names come from this one list; the order is the enum's (append new kinds at the end).
 *
 * A NEW LAYER KIND is two places: its row here (with its line in the format above and the
 * fields its keys store in tv_layer_config below), and its layer file in common/nn/layers/,
 * which holds its key table (if it takes keys of its own beyond name and inputs, or more than
 * one input) beside its computation, both named by its row tv_layer_<name> of the layer table
 * (see layers.h).  The layer table is built from this same list, so the link fails until the
 * row exists; the config schema reads each kind's keys through it.  Reading, defaults,
 * emitting (with its keys' comments), comparing and the error messages follow from the rows. */
#define TV_LAYER_KINDS(X)                                                                          \
  X(DENSE, dense)                                                                                  \
  X(RELU, relu)                                                                                    \
  X(FLATTEN, flatten)                                                                              \
  X(CONV2D, conv2d)                                                                                \
  X(MAX_POOL2D, max_pool2d)                                                                        \
  X(AVG_POOL2D, avg_pool2d)                                                                        \
  X(GLOBAL_AVG_POOL, global_avg_pool)                                                              \
  X(BATCH_NORM, batch_norm)                                                                        \
  X(DROPOUT, dropout)                                                                              \
  X(LEAKY_RELU, leaky_relu)                                                                        \
  X(ELU, elu)                                                                                      \
  X(GELU, gelu)                                                                                    \
  X(SIGMOID, sigmoid)                                                                              \
  X(TANH, tanh)                                                                                    \
  X(SOFTMAX, softmax)                                                                              \
  X(ADD, add)                                                                                      \
  X(EMBEDDING, embedding)                                                                          \
  X(LSTM, lstm)                                                                                    \
  X(GRU, gru)

typedef enum tv_layer_kind {
#define TV_LAYER_KIND_ENUM_(c, n) TV_LAYER_##c,
  TV_LAYER_KINDS(TV_LAYER_KIND_ENUM_)
#undef TV_LAYER_KIND_ENUM_
      TV_LAYER__COUNT
} tv_layer_kind;

/* Names as written in configs ("dense", "conv2d", "batch_norm", ...); "?" for a value that is no
 * kind.  Cannot fail. */
const char *tv_layer_kind_name(tv_layer_kind k);

/* conv2d / pooling `padding:` (see the top of this file). */
typedef enum tv_padding {
  TV_PADDING_VALID,
  TV_PADDING_SAME,
  TV_PADDING_EXPLICIT, /* pad[0] rows above and below, pad[1] columns left and right */
  TV_PADDING__COUNT
} tv_padding;

typedef struct tv_layer_config {
  tv_layer_kind kind;
  char name[TV_NAME_CAP];                  /* tv_config_parse fills the default <type>_<k> */
  int n_inputs;                            /* 0: the previous layer (or the model input) */
  char inputs[TV_MAX_INPUTS][TV_NAME_CAP]; /* names of earlier layers, or "input" */
  int units;                               /* dense: output features (>= 1) */
  int use_bias;                            /* dense, conv2d: 1 (default) or 0 */
  int filters;                             /* conv2d: output channels (>= 1) */
  int kernel[2];                           /* conv2d kernel_size, pools pool_size: (kh, kw) */
  int stride[2];                           /* conv2d (default 1), pools (default: pool_size) */
  tv_padding padding;
  int pad[2];      /* TV_PADDING_EXPLICIT: (ph, pw) on both sides */
  double momentum; /* batch_norm: Keras convention, default 0.9 (see above) */
  double epsilon;  /* batch_norm: added to the variance, default 1e-5 */
  double rate;     /* dropout: drop probability in [0, 1), default 0.5 */
  double alpha;    /* leaky_relu: negative slope (0.01); elu: saturation (1.0) */
  int vocab;       /* embedding: rows of the table, token ids in [0, vocab) (>= 1) */
  int dim;         /* embedding: features per token (>= 1) */
  int hidden;      /* lstm, gru: hidden size H (>= 1) */
  int line, col;   /* where the item starts in the source (1-based); 0 if an override added it */
} tv_layer_config;

typedef enum tv_optim_kind {
  TV_OPTIM_SGD,
  TV_OPTIM_ADAM,
  TV_OPTIM_ADAMW,
  TV_OPTIM__COUNT
} tv_optim_kind;
typedef enum tv_schedule_kind {
  TV_SCHEDULE_CONSTANT,
  TV_SCHEDULE_COSINE,
  TV_SCHEDULE_STEP,
  TV_SCHEDULE_EXPONENTIAL,
  TV_SCHEDULE__COUNT
} tv_schedule_kind;
/* train.on_nonfinite: what a step with a NaN/Inf loss or gradient does. */
typedef enum tv_nonfinite_policy {
  TV_NONFINITE_STOP, /* mark the run diverged and stop */
  TV_NONFINITE_SKIP, /* skip the update; stop after max_nonfinite such steps in a row */
  TV_NONFINITE__COUNT
} tv_nonfinite_policy;
/* train.windows: how a token model's batches are cut from the text (corpus.h, BATCHES). */
typedef enum tv_windows {
  TV_WINDOWS_CONTIGUOUS, /* B contiguous streams, the state carried across consecutive batches */
  TV_WINDOWS_RANDOM,     /* random windows, the state reset for every batch */
  TV_WINDOWS__COUNT
} tv_windows;
/* train.early_stop_metric: a tv_metric_kind, the metric table's (metrics.h) */
/* train.early_stop_mode: auto is min for loss, max for the others. */
typedef enum tv_stop_mode { TV_STOP_AUTO, TV_STOP_MIN, TV_STOP_MAX, TV_STOP__COUNT } tv_stop_mode;
/* data.format: the reader of data.h's table the files are read with. */
typedef enum tv_data_format {
  TV_DATA_FORMAT_IDX,
  TV_DATA_FORMAT_CSV,
  TV_DATA_FORMAT_NPY,
  TV_DATA_FORMAT_HDF5,
  TV_DATA_FORMAT_IMGDIR,
  TV_DATA_FORMAT__COUNT
} tv_data_format;
/* data.missing (csv): an empty field is an error, or reads as data.fill_value. */
typedef enum tv_missing_policy {
  TV_MISSING_ERROR,
  TV_MISSING_FILL,
  TV_MISSING__COUNT
} tv_missing_policy;
/* data.class_order (csv string class labels): ids in sorted byte order or first-seen order. */
typedef enum tv_class_order {
  TV_CLASS_ORDER_SORTED,
  TV_CLASS_ORDER_FIRST_SEEN,
  TV_CLASS_ORDER__COUNT
} tv_class_order;
/* train.loss: auto (the task's) or a loss of loss.h's table that fits the task. */
typedef enum tv_loss_choice {
  TV_LOSS_CHOICE_AUTO,
  TV_LOSS_CHOICE_SOFTMAX_XENT,
  TV_LOSS_CHOICE_MSE,
  TV_LOSS_CHOICE_MAE,
  TV_LOSS_CHOICE_HUBER,
  TV_LOSS_CHOICE_SIGMOID_XENT,
  TV_LOSS_CHOICE__COUNT
} tv_loss_choice;

typedef struct tv_config {
  char source[TV_PATH_CAP]; /* file name used in messages */
  struct {
    int input[3];    /* C, H, W; or T, 0, 0 for `input: [T]` (tv_config_input_shape) */
    int num_classes; /* outputs of the last layer: classes, targets or labels */
    tv_task task;    /* default classification */
    int n_layers;
    tv_layer_config layers[TV_MAX_LAYERS];
  } model;
  struct {
    tv_resize resize; /* imgdir: default none */
    char dir[TV_PATH_CAP];
    char train_images[TV_NAME_CAP * 2], train_labels[TV_NAME_CAP * 2];
    char test_images[TV_NAME_CAP * 2], test_labels[TV_NAME_CAP * 2];
    double valid_fraction; /* [0, 0.9] default 0.1 */
    uint64_t split_seed;   /* default 1 */
    double scale;          /* NaN for `auto` (the default): read it with tv_config_data_scale */
    /* mean / std: one number for every channel (n_mean == 0, the value in mean), or a list of C
     * numbers (n_mean == C == model.input[0], the values in mean_c; mean == mean_c[0]).  Read
     * them per channel with tv_config_data_mean / tv_config_data_std.  Defaults 0 and 1. */
    double mean, std;
    int n_mean, n_std;
    double mean_c[TV_NORM_MAX_CHANNELS], std_c[TV_NORM_MAX_CHANNELS]; /* the loader's limit */
    int random_flip;                                                  /* default 0 */
    int random_crop_padding;                                          /* [0, 64] default 0 */
    tv_data_format format;                                            /* default idx */
    char features[512], target[256]; /* csv column lists (data.h, CSV FILES); "" defaults */
    char delimiter[8], comment[8];   /* csv: one byte each; comment "" off */
    int header;                      /* csv: default 1 */
    int skip_rows;                   /* csv: [0, 1000000] default 0 */
    tv_missing_policy missing;       /* csv: default error */
    double fill_value;               /* csv: with missing fill, default 0 */
    tv_class_order class_order;      /* csv string labels: default sorted */
    int standardize;                 /* default 0: per-feature mean/std fitted on train */
    int64_t memory_mb;               /* hdf5: [0, 2^40] default 0 (no limit): data.h, OUT-OF-CORE */
    char corpus[TV_PATH_CAP];        /* token models: a text file or folder (corpus.h) */
    int64_t valid_tokens; /* token models: the last this many bytes validate; 0: fraction */
  } data;
  struct {
    int batch_size;                   /* [1, 65536] default 128 */
    int epochs;                       /* default 10 (used when steps is 0) */
    int64_t steps;                    /* default 0: derived from epochs */
    uint64_t seed;                    /* default 42 */
    int summary_every;                /* steps, default 100 */
    int checkpoint_every;             /* steps, default 1000; 0 = only at the end */
    int max_to_keep;                  /* default 5; 0 = keep all */
    int log_every;                    /* steps, default 100 */
    tv_loss_choice loss;              /* default auto: the task's */
    double huber_delta;               /* (0, 1e6] default 1 */
    double label_smoothing;           /* [0, 1) default 0: targets (1-e) onehot + e/K */
    double checkpoint_secs;           /* >= 0, 0 = off: also checkpoint after this many seconds */
    double summary_secs;              /* >= 0, 0 = off: also summarise after this many seconds */
    tv_nonfinite_policy on_nonfinite; /* default stop */
    int max_nonfinite;                /* >= 1 default 10: skip stops after this many in a row */
    int validate_every;               /* steps, >= 0, 0 = off: in-process validation */
    int validate_batches;             /* >= 0, default 20; 0 = the whole valid split (token
                                       * models: windows of the validation text) */
    int early_stop_patience;          /* validations without improvement, >= 0, 0 = off */
    tv_metric_kind early_stop_metric; /* default loss */
    tv_stop_mode early_stop_mode;     /* default auto */
    double early_stop_min_delta;      /* >= 0 default 0: a smaller change is no improvement */
    int keep_best;       /* default 0: commit a "best" checkpoint at each validation improvement */
    int restore_best;    /* default 0: the final checkpoint holds the best one's variables */
    int histogram_every; /* steps, >= 0, 0 = off: variable histograms */
    int prefetch;        /* [0, 64] default 2 batches; 0 = synchronous loading */
    tv_windows windows;  /* token models: default contiguous */
  } train;
  struct {
    tv_optim_kind type;           /* default adam */
    double learning_rate;         /* default 0.001 */
    double momentum;              /* sgd, default 0.9 */
    int nesterov;                 /* sgd, default 0 */
    double beta1, beta2, epsilon; /* adam, adamw: defaults 0.9 0.999 1e-8 */
    double weight_decay;          /* >= 0 default 0: L2 (sgd, adam), decoupled (adamw) */
    double clip_norm;             /* >= 0, 0 = off: clip the global gradient norm */
    tv_schedule_kind schedule;    /* default constant */
    int64_t warmup_steps;         /* default 0 */
    double min_learning_rate;     /* cosine floor, default 0 */
    int64_t decay_steps;          /* step, exponential: >= 1 default 1000 */
    double decay_rate;            /* step, exponential: (0, 1] default 0.1 */
  } optimizer;
  struct {
    int max_unevaluated;     /* >= 0 default 10 */
    double keep_every_hours; /* >= 0, 0 = off */
  } retention;
} tv_config;

/* data.mean / data.std for channel c (0 <= c < model.input[0]), whichever form the config used.
 * Cannot fail. */
double tv_config_data_mean(const tv_config *c, int channel);
double tv_config_data_std(const tv_config *c, int channel);

/* data.scale: 1 when it is `auto` (config.h's data section).  Cannot fail. */
int tv_config_data_scale_is_auto(const tv_config *c);
/* The scale to apply: data.scale's number, or for auto 1/255 when the features are uint8
 * (uint8_features != 0) and 1 otherwise.  Cannot fail. */
double tv_config_data_scale(const tv_config *c, int uint8_features);

/* The per-example input shape: (C, H, W), or (T) when model.input has one item.  Cannot fail. */
tv_shape tv_config_input_shape(const tv_config *c);

/* 1 when the model is a token model: its first layer is an embedding (on the model input), so
 * the logits are (T, num_classes) per example and the loss is per token.  Cannot fail. */
int tv_config_is_sequence(const tv_config *c);

/* Fills c with every default (model empty).  Cannot fail. */
void tv_config_defaults(tv_config *c);

/* Parses YAML text (len bytes) named `source` in messages, applies n_sets overrides
 * ("section.key=value"), validates, fills defaults and default layer names.
 * source may be NULL ("<config>").  Errors: TV_ERR_CONFIG (message "source:line:col: key: problem"
 * or "--set ...: problem"), TV_ERR_NOMEM.  On failure *c holds defaults only. */
TV_MUST_CHECK int tv_config_parse(const char *text, size_t len, const char *source,
                                  const char *const *sets, int n_sets, tv_config *c);

/* tv_config_parse of the config text stored in a checkpoint, with eval's overrides: train
 * writes the data.scale it applied into every checkpoint, so a checkpoint whose text leaves scale
 * out (or says auto) was made otherwise and is read as every version before auto read it, with
 * scale 1/255, unless an override sets data.scale.  Errors and state as tv_config_parse's. */
TV_MUST_CHECK int tv_config_parse_ckpt(const char *text, size_t len, const char *source,
                                       const char *const *sets, int n_sets, tv_config *c);

/* The largest config file tv_config_load reads (a config is a few KiB). */
#define TV_CONFIG_MAX_BYTES ((size_t)1 << 20)

/* Reads path and calls tv_config_parse.  Errors also: TV_ERR_NOT_FOUND / TV_ERR_IO naming path,
 * TV_ERR_IO for a path that is not a regular file (a FIFO or a device is refused at once, never
 * waited on or read) or is larger than TV_CONFIG_MAX_BYTES. */
TV_MUST_CHECK int tv_config_load(const char *path, const char *const *sets, int n_sets,
                                 tv_config *c);

/* DATA FILES.  A data file holds data-section keys alone, at its top level or under a single
 * `data:` key:
 *
 *   format: hdf5                               # or:   data:
 *   dir: /srv/fmnist                           #         format: hdf5
 *   test_images: fashion-mnist.h5:/test/images #         ...
 *
 * so that data can be named apart from a model (eval --data FILE: the model comes from the
 * checkpoint, the data from the file).  The keys it sets replace the other config's; the keys it
 * leaves out keep the other config's values (normalisation, for one, stays what training used).
 * The overrides of one data file, each "data.KEY=VALUE" (VALUE in YAML), in the file's order. */
typedef struct tv_config_sets {
  char **sets;  /* n malloc'd strings */
  char **where; /* n malloc'd "path:line:col" of each key's value, for messages */
  int n;
} tv_config_sets;

/* Reads the data file at path into *out (the caller frees it with tv_config_sets_free), checking
 * every key against the data section's table and every value as tv_config_parse would (a list's
 * length against model.input is left to the config it is applied to).
 * Errors: TV_ERR_NOT_FOUND / TV_ERR_IO (naming path), TV_ERR_CONFIG ("path:line:col: data.KEY:
 * problem": malformed YAML, not a mapping of data keys, an unknown or repeated key, a bad
 * value), TV_ERR_NOMEM.  On failure *out is empty. */
TV_MUST_CHECK int tv_config_data_file(const char *path, tv_config_sets *out);

/* Frees the strings and empties *s.  NULL-safe. */
void tv_config_sets_free(tv_config_sets *s);

/* After tv_config_parse failed with rc on overrides that include s's: when the recorded message
 * is about one of s's overrides ("--set data.KEY=VALUE: problem"), rewrites it to name the data
 * file's position instead ("path:line:col: problem").  Returns rc.  s may be NULL. */
int tv_config_sets_blame(const tv_config_sets *s, int rc);

/* The effective config as YAML text that tv_config_parse reads back to an equal struct
 * (every key written, defaults included, except a key added later whose default keeps the
 * earlier behaviour, train.keep_best and train.restore_best: written only when set).  *text is
 * malloc'd, NUL-terminated; caller frees. Errors: TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_config_emit(const tv_config *c, char **text, size_t *len);

/* Compares the parts that fix variable names and shapes (model section).  Returns 1 if they
 * agree; otherwise 0 and a "; "-separated list of differences in diff (cap bytes). */
int tv_config_same_model(const tv_config *a, const tv_config *b, char *diff, size_t cap);

/* The same comparison for every key outside the model section (data, train, optimizer,
 * retention): 1 if all agree, otherwise 0 and the "; "-separated differences
 * ("optimizer.learning_rate: 0.001 -> 0.0005").  Keys that fix the model are not compared. */
int tv_config_same_settings(const tv_config *a, const tv_config *b, char *diff, size_t cap);

#endif
