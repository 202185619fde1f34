/* config.c — the run configuration: YAML text -> validated tv_config, --set overrides, the
 * emitter and the model comparison (see config.h).
 *
 * Everything a config can say is a row of a key table: one table per section (model, data, train,
 * optimizer), one table of keys every layer accepts (name, inputs) and one per layer kind.
 * Parsing, defaults, emitting and tv_config_same_model all walk those rows, so a new key is a
 * field in config.h plus one row, and a new layer kind is an enum constant plus one row of
 * layer_kinds (and its own key table).
 *
 * Invariants:
 *  - The document is untrusted: every node is type-checked before use.  libyaml keeps duplicate
 *    keys, so check_keys refuses them.  Aliases can make cycles, so nothing walks the document
 *    recursively except graft(), which only walks an override's own small document, bounded.
 *  - Overrides are grafted into the document before validation, so the tables validate them;
 *    ctx.origin tags every node an override added, and an error at such a node names
 *    "--set <text>" instead of a file position.
 *  - tv_config_parse leaves defaults in *c on any failure.
 */
#include "trainval/config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "trainval/fs.h"

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

enum {
  MAX_SET_PARTS = 8,    /* components of an override's key path */
  MAX_GRAFT_DEPTH = 16, /* nesting of an override's value */
  MSG_CAP = 512,        /* one problem text, before the location is prepended */
  DOC_COLUMN = 40,      /* where emitted comments start */
};

/* ---- the key tables ------------------------------------------------------------------------ */

typedef enum key_type {
  KEY_INT,         /* int in [lo, hi] */
  KEY_INT64,       /* int64_t in [lo, hi] */
  KEY_UINT64,      /* uint64_t, full range */
  KEY_DOUBLE,      /* finite double in [dlo, dhi] (ends open by F_OPEN_*) */
  KEY_BOOL,        /* int 0/1: true/false, yes/no */
  KEY_STRING,      /* char[cap] */
  KEY_ENUM,        /* an int-sized enum; names[value] */
  KEY_INT_LIST,    /* int[cap], exactly cap items, each in [lo, hi] */
  KEY_NAME_LIST,   /* char[cap][elem] with an int count at count_off; a scalar is a list of one */
  KEY_LAYERS,      /* model.layers: a sequence of layer items, read with layer_kinds */
  KEY_INT_PAIR,    /* int[2]: one integer (both) or a list of two, each in [lo, hi] */
  KEY_PADDING,     /* tv_padding at off, int[2] at off2: valid | same | p | [ph, pw] */
  KEY_DOUBLE_LIST, /* a double at off, or a list of up to cap at off2 (count at count_off,
                    * 0 for the single number); each in [dlo, dhi] */
} key_type;

enum key_flag {
  F_REQUIRED = 1u << 0, /* the key must be present */
  F_MODEL = 1u << 1,    /* fixes variable names or shapes: compared by tv_config_same_model */
  F_IDENT = 1u << 2,    /* KEY_STRING: a name, [A-Za-z0-9_.-]+ */
  F_OPEN_LO = 1u << 3,  /* KEY_DOUBLE: dlo itself is out of range */
  F_OPEN_HI = 1u << 4,  /* KEY_DOUBLE: dhi itself is out of range */
};

typedef struct key_desc {
  const char *name;
  key_type type;
  unsigned flags;
  size_t off;               /* offsetof into tv_config (sections) or tv_layer_config (layers) */
  size_t cap;               /* KEY_STRING: bytes; lists: items */
  size_t elem;              /* KEY_NAME_LIST: bytes per item */
  size_t count_off;         /* KEY_NAME_LIST, KEY_DOUBLE_LIST: offset of the int item count */
  size_t off2;              /* KEY_PADDING: the int[2] pads; KEY_DOUBLE_LIST: the list */
  int64_t lo, hi;           /* integer keys and KEY_INT_LIST items */
  double dlo, dhi;          /* KEY_DOUBLE */
  const char *const *names; /* KEY_ENUM: NULL-terminated, index = value */
  int64_t idef;             /* default of integer, bool and enum keys */
  double ddef;              /* default of KEY_DOUBLE */
  const char *sdef;         /* default of KEY_STRING (NULL: "") */
  const char *doc;          /* one line, written as a comment by tv_config_emit */
} key_desc;

typedef struct section_desc {
  const char *name;
  const key_desc *keys;
  int n_keys;
  int required;
} section_desc;

typedef struct layer_kind_desc {
  const char *name; /* as written after `type:` */
  const key_desc *keys;
  int n_keys;
  int min_inputs, max_inputs; /* counting the implicit previous layer as one */
} layer_kind_desc;

/* Offsets that fail to compile when the field's type is not the one the key type stores. */
#define FIELD(T, m, type)  (offsetof(T, m) + 0 * sizeof(_Generic(((T *)0)->m, type : 1)))
#define ARRAY(T, m, type)  (offsetof(T, m) + 0 * sizeof(_Generic(&((T *)0)->m[0], type * : 1)))
#define ARRAY2(T, m, type) (offsetof(T, m) + 0 * sizeof(_Generic(&((T *)0)->m[0][0], type * : 1)))
#define INT_SIZED(T, m)                                                                            \
  (offsetof(T, m) + 0 * sizeof(char[sizeof(((T *)0)->m) == sizeof(int) ? 1 : -1]))
#define NITEMS(T, m) (sizeof(((T *)0)->m) / sizeof(((T *)0)->m[0]))

#define ROW_INT(T, key, m, lo_, hi_, def, fl, doc_)                                                \
  {                                                                                                \
    .name = key, .type = KEY_INT, .flags = (fl), .off = FIELD(T, m, int), .lo = (lo_),             \
    .hi = (hi_), .idef = (def), .doc = doc_                                                        \
  }
#define ROW_INT64(T, key, m, lo_, hi_, def, fl, doc_)                                              \
  {                                                                                                \
    .name = key, .type = KEY_INT64, .flags = (fl), .off = FIELD(T, m, int64_t), .lo = (lo_),       \
    .hi = (hi_), .idef = (def), .doc = doc_                                                        \
  }
#define ROW_UINT64(T, key, m, def, fl, doc_)                                                       \
  {                                                                                                \
    .name = key, .type = KEY_UINT64, .flags = (fl), .off = FIELD(T, m, uint64_t), .idef = (def),   \
    .doc = doc_                                                                                    \
  }
#define ROW_DOUBLE(T, key, m, lo_, hi_, def, fl, doc_)                                             \
  {                                                                                                \
    .name = key, .type = KEY_DOUBLE, .flags = (fl), .off = FIELD(T, m, double), .dlo = (lo_),      \
    .dhi = (hi_), .ddef = (def), .doc = doc_                                                       \
  }
#define ROW_BOOL(T, key, m, def, fl, doc_)                                                         \
  {                                                                                                \
    .name = key, .type = KEY_BOOL, .flags = (fl), .off = FIELD(T, m, int), .idef = (def),          \
    .doc = doc_                                                                                    \
  }
#define ROW_STRING(T, key, m, def, fl, doc_)                                                       \
  {                                                                                                \
    .name = key, .type = KEY_STRING, .flags = (fl), .off = ARRAY(T, m, char),                      \
    .cap = sizeof(((T *)0)->m), .sdef = (def), .doc = doc_                                         \
  }
#define ROW_ENUM(T, key, m, names_, def, fl, doc_)                                                 \
  {                                                                                                \
    .name = key, .type = KEY_ENUM, .flags = (fl), .off = INT_SIZED(T, m), .names = (names_),       \
    .idef = (def), .doc = doc_                                                                     \
  }
#define ROW_INT_LIST(T, key, m, lo_, hi_, fl, doc_)                                                \
  {                                                                                                \
    .name = key, .type = KEY_INT_LIST, .flags = (fl), .off = ARRAY(T, m, int),                     \
    .cap = NITEMS(T, m), .lo = (lo_), .hi = (hi_), .doc = doc_                                     \
  }
#define ROW_NAME_LIST(T, key, m, count, fl, doc_)                                                  \
  {                                                                                                \
    .name = key, .type = KEY_NAME_LIST, .flags = (fl), .off = ARRAY2(T, m, char),                  \
    .cap = NITEMS(T, m), .elem = sizeof(((T *)0)->m[0]), .count_off = FIELD(T, count, int),        \
    .doc = doc_                                                                                    \
  }
#define ROW_INT_PAIR(T, key, m, lo_, hi_, def, fl, doc_)                                           \
  {                                                                                                \
    .name = key, .type = KEY_INT_PAIR, .flags = (fl), .off = ARRAY(T, m, int),                     \
    .cap = NITEMS(T, m) + 0 * sizeof(char[NITEMS(T, m) == 2 ? 1 : -1]), .lo = (lo_), .hi = (hi_),  \
    .idef = (def), .doc = doc_                                                                     \
  }
#define ROW_PADDING(T, key, m, pads, fl, doc_)                                                     \
  {                                                                                                \
    .name = key, .type = KEY_PADDING, .flags = (fl), .off = INT_SIZED(T, m),                       \
    .off2 = ARRAY(T, pads, int) + 0 * sizeof(char[NITEMS(T, pads) == 2 ? 1 : -1]), .lo = 0,        \
    .hi = 65536, .names = padding_names, .idef = TV_PADDING_VALID, .doc = doc_                     \
  }
#define ROW_DOUBLE_LIST(T, key, m, list, count, lo_, hi_, def, fl, doc_)                           \
  {                                                                                                \
    .name = key, .type = KEY_DOUBLE_LIST, .flags = (fl), .off = FIELD(T, m, double),               \
    .off2 = ARRAY(T, list, double), .cap = NITEMS(T, list), .count_off = FIELD(T, count, int),     \
    .dlo = (lo_), .dhi = (hi_), .ddef = (def), .doc = doc_                                         \
  }
#define ROW_LAYERS(key, fl, doc_)                                                                  \
  { .name = key, .type = KEY_LAYERS, .flags = (fl), .doc = doc_ }

typedef tv_config CF;
typedef tv_layer_config LC;

static const char *const optim_names[] = {
    [TV_OPTIM_SGD] = "sgd", [TV_OPTIM_ADAM] = "adam", [TV_OPTIM_ADAMW] = "adamw", NULL};
_Static_assert(COUNT(optim_names) == TV_OPTIM__COUNT + 1, "one name per optimizer");
static const char *const schedule_names[] = {[TV_SCHEDULE_CONSTANT] = "constant",
                                             [TV_SCHEDULE_COSINE] = "cosine",
                                             [TV_SCHEDULE_STEP] = "step",
                                             [TV_SCHEDULE_EXPONENTIAL] = "exponential",
                                             NULL};
_Static_assert(COUNT(schedule_names) == TV_SCHEDULE__COUNT + 1, "one name per schedule");
static const char *const nonfinite_names[] = {
    [TV_NONFINITE_STOP] = "stop", [TV_NONFINITE_SKIP] = "skip", NULL};
_Static_assert(COUNT(nonfinite_names) == TV_NONFINITE__COUNT + 1, "one name per policy");
static const char *const stop_mode_names[] = {
    [TV_STOP_AUTO] = "auto", [TV_STOP_MIN] = "min", [TV_STOP_MAX] = "max", NULL};
_Static_assert(COUNT(stop_mode_names) == TV_STOP__COUNT + 1, "one name per mode");
/* Only valid and same are names; an explicit padding is written as numbers. */
static const char *const padding_names[] = {
    [TV_PADDING_VALID] = "valid", [TV_PADDING_SAME] = "same", NULL};
_Static_assert(COUNT(padding_names) == TV_PADDING_EXPLICIT + 1, "names for the named paddings");

// clang-format off
static const key_desc model_keys[] = {
  ROW_INT_LIST(CF, "input", model.input, 1, 65536, F_REQUIRED | F_MODEL,
               "C, H, W of one example"),
  ROW_INT(CF, "num_classes", model.num_classes, 2, 1000000, 0, F_REQUIRED | F_MODEL,
          "outputs of the last layer"),
  ROW_LAYERS("layers", F_REQUIRED | F_MODEL, "in order; inputs name earlier layers or 'input'"),
};

static const key_desc data_keys[] = {
  ROW_STRING(CF, "dir", data.dir, "/usr/share/datasets/fashion-mnist", 0,
             "directory of the IDX files"),
  ROW_STRING(CF, "train_images", data.train_images, "train-images-idx3-ubyte", 0,
             "file stem in dir (.gz found either way)"),
  ROW_STRING(CF, "train_labels", data.train_labels, "train-labels-idx1-ubyte", 0,
             "file stem in dir"),
  ROW_STRING(CF, "test_images", data.test_images, "t10k-images-idx3-ubyte", 0,
             "file stem in dir"),
  ROW_STRING(CF, "test_labels", data.test_labels, "t10k-labels-idx1-ubyte", 0,
             "file stem in dir"),
  ROW_DOUBLE(CF, "valid_fraction", data.valid_fraction, 0, 0.9, 0.1, 0,
             "share of train held out for validation"),
  ROW_UINT64(CF, "split_seed", data.split_seed, 1, 0, "seed of the train/valid shuffle"),
  ROW_DOUBLE(CF, "scale", data.scale, -1e6, 1e6, 1.0 / 255, 0, "x = (pixel * scale - mean) / std"),
  ROW_DOUBLE_LIST(CF, "mean", data.mean, data.mean_c, data.n_mean, -1e6, 1e6, 0, 0,
                  "subtracted after scaling; one number or one per channel"),
  ROW_DOUBLE_LIST(CF, "std", data.std, data.std_c, data.n_std, 0, 1e6, 1, F_OPEN_LO,
                  "divides after the mean; one number or one per channel"),
  ROW_BOOL(CF, "random_flip", data.random_flip, 0, 0, "training: mirror left-right, p = 1/2"),
  ROW_INT(CF, "random_crop_padding", data.random_crop_padding, 0, 64, 0, 0,
          "training: pad, then crop at a random offset"),
};

static const key_desc train_keys[] = {
  ROW_INT(CF, "batch_size", train.batch_size, 1, 65536, 128, 0, "examples per step"),
  ROW_INT(CF, "epochs", train.epochs, 1, 1000000, 10, 0, "passes over train (when steps is 0)"),
  ROW_INT64(CF, "steps", train.steps, 0, INT64_MAX, 0, 0, "total steps; 0: from epochs"),
  ROW_UINT64(CF, "seed", train.seed, 42, 0, "initialization and shuffling"),
  ROW_INT(CF, "summary_every", train.summary_every, 1, INT_MAX, 100, 0,
          "steps between summaries"),
  ROW_INT(CF, "checkpoint_every", train.checkpoint_every, 0, INT_MAX, 1000, 0,
          "steps between checkpoints; 0: only at the end"),
  ROW_INT(CF, "max_to_keep", train.max_to_keep, 0, 1000000, 5, 0,
          "checkpoints kept; 0: all"),
  ROW_INT(CF, "log_every", train.log_every, 1, INT_MAX, 100, 0, "steps between log lines"),
  ROW_DOUBLE(CF, "label_smoothing", train.label_smoothing, 0, 1, 0, F_OPEN_HI,
             "targets (1 - e) onehot + e / classes"),
  ROW_DOUBLE(CF, "checkpoint_secs", train.checkpoint_secs, 0, 1e9, 0, 0,
             "also checkpoint after this many seconds; 0: off"),
  ROW_DOUBLE(CF, "summary_secs", train.summary_secs, 0, 1e9, 0, 0,
             "also summarise after this many seconds; 0: off"),
  ROW_ENUM(CF, "on_nonfinite", train.on_nonfinite, nonfinite_names, TV_NONFINITE_STOP, 0,
           "stop | skip a step whose loss is NaN/Inf"),
  ROW_INT(CF, "max_nonfinite", train.max_nonfinite, 1, INT_MAX, 10, 0,
          "skip: stop after this many in a row"),
  ROW_INT(CF, "validate_every", train.validate_every, 0, INT_MAX, 0, 0,
          "steps between in-process validations; 0: off"),
  ROW_INT(CF, "validate_batches", train.validate_batches, 0, INT_MAX, 20, 0,
          "batches per validation; 0: the whole valid split"),
  ROW_INT(CF, "early_stop_patience", train.early_stop_patience, 0, INT_MAX, 0, 0,
          "validations without improvement; 0: off"),
  ROW_ENUM(CF, "early_stop_metric", train.early_stop_metric, tv_metric_names, TV_METRIC_LOSS, 0,
           "loss | accuracy | top5 | macro_f1"),
  ROW_ENUM(CF, "early_stop_mode", train.early_stop_mode, stop_mode_names, TV_STOP_AUTO, 0,
           "auto (min for loss) | min | max"),
  ROW_DOUBLE(CF, "early_stop_min_delta", train.early_stop_min_delta, 0, 1e9, 0, 0,
             "smallest change that counts as better"),
  ROW_INT(CF, "histogram_every", train.histogram_every, 0, INT_MAX, 0, 0,
          "steps between variable histograms; 0: off"),
  ROW_INT(CF, "prefetch", train.prefetch, 0, 64, 2, 0, "batches loaded ahead; 0: synchronous"),
};

static const key_desc optimizer_keys[] = {
  ROW_ENUM(CF, "type", optimizer.type, optim_names, TV_OPTIM_ADAM, 0, "sgd | adam | adamw"),
  ROW_DOUBLE(CF, "learning_rate", optimizer.learning_rate, 0, 1000, 0.001, F_OPEN_LO,
             "peak learning rate"),
  ROW_DOUBLE(CF, "momentum", optimizer.momentum, 0, 1, 0.9, F_OPEN_HI, "sgd"),
  ROW_BOOL(CF, "nesterov", optimizer.nesterov, 0, 0, "sgd"),
  ROW_DOUBLE(CF, "beta1", optimizer.beta1, 0, 1, 0.9, F_OPEN_HI, "adam"),
  ROW_DOUBLE(CF, "beta2", optimizer.beta2, 0, 1, 0.999, F_OPEN_HI, "adam"),
  ROW_DOUBLE(CF, "epsilon", optimizer.epsilon, 0, 1, 1e-8, F_OPEN_LO, "adam"),
  ROW_DOUBLE(CF, "weight_decay", optimizer.weight_decay, 0, 1e6, 0, 0,
             "L2 (sgd, adam), decoupled (adamw)"),
  ROW_DOUBLE(CF, "clip_norm", optimizer.clip_norm, 0, 1e12, 0, 0,
             "clip the global gradient norm; 0: off"),
  ROW_ENUM(CF, "schedule", optimizer.schedule, schedule_names, TV_SCHEDULE_CONSTANT, 0,
           "constant | cosine | step | exponential"),
  ROW_INT64(CF, "warmup_steps", optimizer.warmup_steps, 0, INT64_MAX, 0, 0,
            "linear warm-up from 0"),
  ROW_DOUBLE(CF, "min_learning_rate", optimizer.min_learning_rate, 0, 1000, 0, 0,
             "cosine floor"),
  ROW_INT64(CF, "decay_steps", optimizer.decay_steps, 1, INT64_MAX, 1000, 0,
            "step, exponential: the decay period"),
  ROW_DOUBLE(CF, "decay_rate", optimizer.decay_rate, 0, 1, 0.1, F_OPEN_LO,
             "step, exponential: factor per period"),
};

static const key_desc retention_keys[] = {
  ROW_INT(CF, "max_unevaluated", retention.max_unevaluated, 0, INT_MAX, 10, 0,
          "checkpoints kept for evaluators behind"),
  ROW_DOUBLE(CF, "keep_every_hours", retention.keep_every_hours, 0, 1e9, 0, 0,
             "also keep one per this many hours; 0: off"),
};

static const section_desc sections[] = {
  {"model", model_keys, COUNT(model_keys), 1},
  {"data", data_keys, COUNT(data_keys), 0},
  {"train", train_keys, COUNT(train_keys), 0},
  {"optimizer", optimizer_keys, COUNT(optimizer_keys), 0},
  {"retention", retention_keys, COUNT(retention_keys), 0},
};

/* Keys every layer accepts besides `type`.  The name's default (empty here) is filled in
 * read_layers: <type>_<k>, k counting the layers of that type from 1, named ones included. */
static const key_desc layer_common_keys[] = {
  ROW_STRING(LC, "name", name, NULL, F_IDENT | F_MODEL, "default <type>_<k>"),
  ROW_NAME_LIST(LC, "inputs", inputs, n_inputs, F_MODEL, "default: the previous layer"),
};

static const key_desc dense_keys[] = {
  ROW_INT(LC, "units", units, 1, 1 << 20, 0, F_REQUIRED | F_MODEL, "output features"),
  ROW_BOOL(LC, "use_bias", use_bias, 1, F_MODEL, "add a learned bias"),
};

static const key_desc conv2d_keys[] = {
  ROW_INT(LC, "filters", filters, 1, 1 << 20, 0, F_REQUIRED | F_MODEL, "output channels"),
  ROW_INT_PAIR(LC, "kernel_size", kernel, 1, 65536, 0, F_REQUIRED | F_MODEL, "k or [kh, kw]"),
  ROW_INT_PAIR(LC, "strides", stride, 1, 65536, 1, F_MODEL, "s or [sh, sw]"),
  ROW_PADDING(LC, "padding", padding, pad, F_MODEL, "valid | same | p | [ph, pw]"),
  ROW_BOOL(LC, "use_bias", use_bias, 1, F_MODEL, "add a learned bias per filter"),
};

/* strides' default 0 stands for "= pool_size" and is resolved in read_layer, so a config read
 * back from tv_config_emit states it. */
static const key_desc pool_keys[] = {
  ROW_INT_PAIR(LC, "pool_size", kernel, 1, 65536, 2, F_MODEL, "k or [kh, kw]"),
  ROW_INT_PAIR(LC, "strides", stride, 1, 65536, 0, F_MODEL, "default pool_size"),
  ROW_PADDING(LC, "padding", padding, pad, F_MODEL, "valid | same | p | [ph, pw]"),
};

static const key_desc batch_norm_keys[] = {
  ROW_DOUBLE(LC, "momentum", momentum, 0, 1, 0.9, 0,
             "moving = momentum * moving + (1 - momentum) * batch"),
  ROW_DOUBLE(LC, "epsilon", epsilon, 0, 1, 1e-5, F_OPEN_LO | F_MODEL, "added to the variance"),
};

static const key_desc dropout_keys[] = {
  ROW_DOUBLE(LC, "rate", rate, 0, 1, 0.5, F_OPEN_HI, "probability of dropping an element"),
};

static const key_desc leaky_relu_keys[] = {
  ROW_DOUBLE(LC, "alpha", alpha, 0, 1000, 0.01, F_MODEL, "slope for x < 0"),
};

static const key_desc elu_keys[] = {
  ROW_DOUBLE(LC, "alpha", alpha, 0, 1000, 1.0, F_MODEL, "alpha (exp(x) - 1) for x < 0"),
};

static const layer_kind_desc layer_kinds[] = {
  [TV_LAYER_DENSE] = {"dense", dense_keys, COUNT(dense_keys), 1, 1},
  [TV_LAYER_RELU] = {"relu", NULL, 0, 1, 1},
  [TV_LAYER_FLATTEN] = {"flatten", NULL, 0, 1, 1},
  [TV_LAYER_CONV2D] = {"conv2d", conv2d_keys, COUNT(conv2d_keys), 1, 1},
  [TV_LAYER_MAX_POOL2D] = {"max_pool2d", pool_keys, COUNT(pool_keys), 1, 1},
  [TV_LAYER_AVG_POOL2D] = {"avg_pool2d", pool_keys, COUNT(pool_keys), 1, 1},
  [TV_LAYER_GLOBAL_AVG_POOL] = {"global_avg_pool", NULL, 0, 1, 1},
  [TV_LAYER_BATCH_NORM] = {"batch_norm", batch_norm_keys, COUNT(batch_norm_keys), 1, 1},
  [TV_LAYER_DROPOUT] = {"dropout", dropout_keys, COUNT(dropout_keys), 1, 1},
  [TV_LAYER_LEAKY_RELU] = {"leaky_relu", leaky_relu_keys, COUNT(leaky_relu_keys), 1, 1},
  [TV_LAYER_ELU] = {"elu", elu_keys, COUNT(elu_keys), 1, 1},
  [TV_LAYER_GELU] = {"gelu", NULL, 0, 1, 1},
  [TV_LAYER_SIGMOID] = {"sigmoid", NULL, 0, 1, 1},
  [TV_LAYER_TANH] = {"tanh", NULL, 0, 1, 1},
  [TV_LAYER_SOFTMAX] = {"softmax", NULL, 0, 1, 1},
  [TV_LAYER_ADD] = {"add", NULL, 0, 2, TV_MAX_INPUTS},
};
// clang-format on
_Static_assert(COUNT(layer_kinds) == TV_LAYER__COUNT, "one row per layer kind");
_Static_assert(sizeof(tv_layer_kind) == sizeof(int), "layer kinds are stored as int");

double tv_config_data_mean(const tv_config *c, int channel) {
  return c->data.n_mean > 0 && channel >= 0 && channel < c->data.n_mean ? c->data.mean_c[channel]
                                                                        : c->data.mean;
}

double tv_config_data_std(const tv_config *c, int channel) {
  return c->data.n_std > 0 && channel >= 0 && channel < c->data.n_std ? c->data.std_c[channel]
                                                                      : c->data.std;
}

const char *tv_layer_kind_name(tv_layer_kind k) {
  if ((int)k < 0 || k >= TV_LAYER__COUNT) return "?";
  return layer_kinds[k].name;
}

static const key_desc *find_key(const key_desc *keys, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(keys[i].name, name) == 0) return &keys[i];
  return NULL;
}

static void apply_default(const key_desc *d, void *base) {
  char *field = (char *)base + d->off;
  switch (d->type) {
  case KEY_INT:
  case KEY_BOOL:
  case KEY_ENUM: {
    int v = (int)d->idef;
    memcpy(field, &v, sizeof v);
    break;
  }
  case KEY_INT64:
    memcpy(field, &d->idef, sizeof d->idef);
    break;
  case KEY_UINT64: {
    uint64_t v = (uint64_t)d->idef;
    memcpy(field, &v, sizeof v);
    break;
  }
  case KEY_DOUBLE:
    memcpy(field, &d->ddef, sizeof d->ddef);
    break;
  case KEY_STRING:
    snprintf(field, d->cap, "%s", d->sdef ? d->sdef : "");
    break;
  case KEY_INT_PAIR: {
    int v[2] = {(int)d->idef, (int)d->idef};
    memcpy(field, v, sizeof v);
    break;
  }
  case KEY_PADDING: {
    int v = (int)d->idef, pads[2] = {0, 0};
    memcpy(field, &v, sizeof v);
    memcpy((char *)base + d->off2, pads, sizeof pads);
    break;
  }
  case KEY_DOUBLE_LIST:
    memcpy(field, &d->ddef, sizeof d->ddef);
    break; /* the list and its count: zeroed by the caller */
  case KEY_INT_LIST:
  case KEY_NAME_LIST:
  case KEY_LAYERS:
    break; /* empty: zeroed by the caller */
  }
}

void tv_config_defaults(tv_config *c) {
  memset(c, 0, sizeof *c);
  for (int s = 0; s < COUNT(sections); s++)
    for (int k = 0; k < sections[s].n_keys; k++) apply_default(&sections[s].keys[k], c);
}

static void layer_defaults(tv_layer_config *l, tv_layer_kind kind) {
  memset(l, 0, sizeof *l);
  l->kind = kind;
  for (int k = 0; k < COUNT(layer_common_keys); k++) apply_default(&layer_common_keys[k], l);
  for (int k = 0; k < layer_kinds[kind].n_keys; k++) apply_default(&layer_kinds[kind].keys[k], l);
}

/* ---- a small string builder: growing (emit) or fixed and truncating (same_model) --------------
 */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int fixed; /* p is the caller's buffer: truncate, never grow */
  int nomem;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) TV_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->nomem) return;
  size_t room = b->cap - b->len;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->nomem = 1;
    return;
  }
  if ((size_t)n < room) {
    b->len += (size_t)n;
    return;
  }
  if (b->fixed) {
    if (room) b->len = b->cap - 1;
    return;
  }
  size_t want = b->len + (size_t)n + 1, cap = b->cap ? b->cap : 1024;
  while (cap < want) cap *= 2;
  char *np = realloc(b->p, cap);
  if (!np) {
    b->nomem = 1;
    return;
  }
  b->p = np;
  b->cap = cap;
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* ---- scalar syntax --------------------------------------------------------------------------- */

static int is_digit(int ch) { return ch >= '0' && ch <= '9'; }
static int is_alpha(int ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
static int is_ident(int ch) {
  return is_alpha(ch) || is_digit(ch) || ch == '_' || ch == '.' || ch == '-';
}

/* 0: ok; 1: not a decimal integer; 2: does not fit. */
static int parse_i64(const char *s, int64_t *v) {
  const char *p = s + (*s == '+' || *s == '-');
  if (!is_digit(*p)) return 1;
  char *end;
  errno = 0;
  long long r = strtoll(s, &end, 10);
  if (*end) return 1;
  if (errno == ERANGE) return 2;
  *v = r;
  return 0;
}

static int parse_u64(const char *s, uint64_t *v) {
  const char *p = s + (*s == '+');
  if (!is_digit(*p)) return 1;
  char *end;
  errno = 0;
  unsigned long long r = strtoull(p, &end, 10);
  if (*end) return 1;
  if (errno == ERANGE) return 2;
  *v = r;
  return 0;
}

/* 0: ok; 1: not a number; 2: NaN or infinite (overflow included). */
static int parse_double(const char *s, double *v) {
  if (!*s || !(is_digit(*s) || *s == '+' || *s == '-' || *s == '.' || is_alpha(*s))) return 1;
  char *end;
  errno = 0;
  double r = strtod(s, &end);
  if (end == s || *end) return 1;
  if (!isfinite(r)) return 2;
  *v = r;
  return 0;
}

/* Shortest of %.15g..%.17g that reads back to v, with a ".0" in any mantissa lacking a point. */
static void format_double(char *buf, size_t cap, double v) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  /* A mantissa without '.' reads as an int (or, before an exponent, a string in YAML 1.1). */
  if (!strpbrk(buf, ".ni")) {
    char *e = strchr(buf, 'e');
    size_t n = strlen(buf), at = e ? (size_t)(e - buf) : n;
    if (n + 3 <= cap) {
      memmove(buf + at + 2, buf + at, n - at + 1);
      memcpy(buf + at, ".0", 2);
    }
  }
}

/* Whether a string reads back as the same string when written plain (also by other YAML
 * readers: nothing that YAML 1.1 resolves to null, a bool or a number). */
static int plain_ok(const char *s) {
  static const char *const reserved[] = {"null", "true", "false", "yes", "no",
                                         "on",   "off",  "y",     "n"};
  if (!is_alpha(s[0]) && s[0] != '/' && s[0] != '_') return 0;
  for (const char *p = s; *p; p++)
    if (!is_ident((unsigned char)*p) && *p != '/') return 0;
  for (int i = 0; i < COUNT(reserved); i++)
    if (strcasecmp(s, reserved[i]) == 0) return 0;
  return 1;
}

static void sb_string(sbuf *b, const char *s) {
  if (plain_ok(s)) {
    sb_printf(b, "%s", s);
    return;
  }
  sb_printf(b, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      sb_printf(b, "\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f)
      sb_printf(b, "\\x%02X", *p);
    else
      sb_printf(b, "%c", *p);
  }
  sb_printf(b, "\"");
}

/* Writes the value of key d stored in base as YAML (flow style). */
static void sb_value(sbuf *b, const key_desc *d, const void *base) {
  const char *field = (const char *)base + d->off;
  switch (d->type) {
  case KEY_INT:
  case KEY_BOOL:
  case KEY_ENUM: {
    int v;
    memcpy(&v, field, sizeof v);
    if (d->type == KEY_INT)
      sb_printf(b, "%d", v);
    else if (d->type == KEY_BOOL)
      sb_printf(b, "%s", v ? "true" : "false");
    else {
      int n = 0;
      while (d->names[n]) n++;
      sb_printf(b, "%s", v >= 0 && v < n ? d->names[v] : "?");
    }
    break;
  }
  case KEY_INT64: {
    int64_t v;
    memcpy(&v, field, sizeof v);
    sb_printf(b, "%" PRId64, v);
    break;
  }
  case KEY_UINT64: {
    uint64_t v;
    memcpy(&v, field, sizeof v);
    sb_printf(b, "%" PRIu64, v);
    break;
  }
  case KEY_DOUBLE: {
    double v;
    char buf[40];
    memcpy(&v, field, sizeof v);
    format_double(buf, sizeof buf, v);
    sb_printf(b, "%s", buf);
    break;
  }
  case KEY_STRING:
    sb_string(b, field);
    break;
  case KEY_INT_LIST:
    sb_printf(b, "[");
    for (size_t i = 0; i < d->cap; i++) {
      int v;
      memcpy(&v, field + i * sizeof v, sizeof v);
      sb_printf(b, "%s%d", i ? ", " : "", v);
    }
    sb_printf(b, "]");
    break;
  case KEY_NAME_LIST: {
    int n;
    memcpy(&n, (const char *)base + d->count_off, sizeof n);
    sb_printf(b, "[");
    for (int i = 0; i < n; i++) {
      sb_printf(b, "%s", i ? ", " : "");
      sb_string(b, field + (size_t)i * d->elem);
    }
    sb_printf(b, "]");
    break;
  }
  case KEY_INT_PAIR: {
    int v[2];
    memcpy(v, field, sizeof v);
    if (v[0] == v[1])
      sb_printf(b, "%d", v[0]);
    else
      sb_printf(b, "[%d, %d]", v[0], v[1]);
    break;
  }
  case KEY_PADDING: {
    int mode, v[2];
    memcpy(&mode, field, sizeof mode);
    memcpy(v, (const char *)base + d->off2, sizeof v);
    if (mode == TV_PADDING_VALID || mode == TV_PADDING_SAME)
      sb_printf(b, "%s", d->names[mode]);
    else if (v[0] == v[1])
      sb_printf(b, "%d", v[0]);
    else
      sb_printf(b, "[%d, %d]", v[0], v[1]);
    break;
  }
  case KEY_DOUBLE_LIST: {
    int n;
    double v;
    char buf[40];
    memcpy(&n, (const char *)base + d->count_off, sizeof n);
    if (n == 0) {
      memcpy(&v, field, sizeof v);
      format_double(buf, sizeof buf, v);
      sb_printf(b, "%s", buf);
      break;
    }
    sb_printf(b, "[");
    for (int i = 0; i < n; i++) {
      memcpy(&v, (const char *)base + d->off2 + (size_t)i * sizeof v, sizeof v);
      format_double(buf, sizeof buf, v);
      sb_printf(b, "%s%s", i ? ", " : "", buf);
    }
    sb_printf(b, "]");
    break;
  }
  case KEY_LAYERS:
    break; /* written by emit_layers */
  }
}

/* ---- the document and its error messages ----------------------------------------------------- */

typedef struct ctx {
  yaml_document_t *doc;
  const char *source;
  const char *const *sets;
  int *origin;  /* origin[i], node index i (1-based): -1 from the file, else the override's index */
  int n_origin; /* entries in origin: the node count + 1 */
} ctx;

static yaml_node_t *node_at(const ctx *x, int idx) {
  return idx > 0 ? yaml_document_get_node(x->doc, idx) : NULL;
}

static int from_set(const ctx *x, int idx) {
  return idx > 0 && idx < x->n_origin && x->origin[idx] >= 0 ? x->origin[idx] : -1;
}

static int fail(const ctx *x, int idx, const char *key, const char *fmt, ...) TV_PRINTF(4, 5);
/* Records "<where>: <key>: <problem>" where <where> is "source:line:col" of node idx (1:1 when
 * there is none) or "--set <text>" when an override added the node.  Returns TV_ERR_CONFIG. */
static int fail(const ctx *x, int idx, const char *key, const char *fmt, ...) {
  char msg[MSG_CAP];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int set = from_set(x, idx);
  if (set >= 0) return tv_error(TV_ERR_CONFIG, "--set %s: %s: %s", x->sets[set], key, msg);
  const yaml_node_t *n = node_at(x, idx);
  size_t line = n ? n->start_mark.line + 1 : 1, col = n ? n->start_mark.column + 1 : 1;
  return tv_error(TV_ERR_CONFIG, "%s:%zu:%zu: %s: %s", x->source, line, col, key, msg);
}

/* "line 7" or "--set <text>", for a second place named in a message. */
static void place(const ctx *x, int idx, char *buf, size_t cap) {
  int set = from_set(x, idx);
  const yaml_node_t *n = node_at(x, idx);
  if (set >= 0)
    snprintf(buf, cap, "--set %s", x->sets[set]);
  else
    snprintf(buf, cap, "line %zu", n ? n->start_mark.line + 1 : 1);
}

static int is_null(const yaml_node_t *n) {
  if (!n || n->type != YAML_SCALAR_NODE) return 0;
  if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
      n->data.scalar.style != YAML_ANY_SCALAR_STYLE)
    return 0;
  const char *s = (const char *)n->data.scalar.value;
  return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static const char *scalar_text(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* What a node is, for "got ..." in messages. */
static const char *describe(const yaml_node_t *n, char *buf, size_t cap) {
  if (!n || is_null(n)) return "nothing";
  if (n->type == YAML_SEQUENCE_NODE) return "a sequence";
  if (n->type == YAML_MAPPING_NODE) return "a mapping";
  const char *s = (const char *)n->data.scalar.value;
  snprintf(buf, cap, "'%.40s%s'", s, strlen(s) > 40 ? "..." : "");
  return buf;
}

/* The text of the scalar at idx, or an error "expected <what>, got ..." (also for null). */
static int want_scalar(const ctx *x, int idx, const char *key, const char *what, const char **s) {
  const yaml_node_t *n = node_at(x, idx);
  char buf[64];
  if (!n || n->type != YAML_SCALAR_NODE || is_null(n))
    return fail(x, idx, key, "expected %s, got %s", what, describe(n, buf, sizeof buf));
  if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
    return fail(x, idx, key, "must not contain a NUL byte");
  *s = (const char *)n->data.scalar.value;
  return TV_OK;
}

static int read_int(const ctx *x, int idx, const char *key, int64_t lo, int64_t hi, int64_t *v) {
  const char *s;
  int rc = want_scalar(x, idx, key, "an integer", &s);
  if (rc) return rc;
  int r = parse_i64(s, v);
  if (r == 1) return fail(x, idx, key, "expected an integer, got '%.40s'", s);
  if (r == 2 || *v < lo || *v > hi)
    return fail(x, idx, key, "must be in [%" PRId64 ", %" PRId64 "], got %.40s", lo, hi, s);
  return TV_OK;
}

static int read_double(const ctx *x, const key_desc *d, int idx, const char *key, double *v) {
  const char *s;
  int rc = want_scalar(x, idx, key, "a number", &s);
  if (rc) return rc;
  int r = parse_double(s, v);
  if (r == 1) return fail(x, idx, key, "expected a number, got '%.40s'", s);
  if (r == 2) return fail(x, idx, key, "must be a finite number, got '%.40s'", s);
  int low = d->flags & F_OPEN_LO ? !(*v > d->dlo) : !(*v >= d->dlo);
  int high = d->flags & F_OPEN_HI ? !(*v < d->dhi) : !(*v <= d->dhi);
  if (low || high) {
    char lo[40], hi[40];
    format_double(lo, sizeof lo, d->dlo);
    format_double(hi, sizeof hi, d->dhi);
    return fail(x, idx, key, "must be in %c%s, %s%c, got %.40s", d->flags & F_OPEN_LO ? '(' : '[',
                lo, hi, d->flags & F_OPEN_HI ? ')' : ']', s);
  }
  return TV_OK;
}

static int read_string(const ctx *x, const key_desc *d, int idx, const char *key, char *out,
                       size_t cap) {
  const char *s;
  int rc = want_scalar(x, idx, key, "a string", &s);
  if (rc) return rc;
  size_t n = strlen(s);
  if (n >= cap) return fail(x, idx, key, "longer than %zu bytes", cap - 1);
  if (d && (d->flags & F_IDENT)) {
    for (const char *p = s; *p; p++)
      if (!is_ident((unsigned char)*p))
        return fail(x, idx, key, "must use only [A-Za-z0-9_.-], got '%.40s'", s);
  }
  memcpy(out, s, n + 1);
  return TV_OK;
}

static void key_printf(char *out, size_t cap, const char *fmt, ...) TV_PRINTF(3, 4);
/* Formats a key path for a message; a path too long for out is cut (it only names the key). */
static void key_printf(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, cap, fmt, ap);
  va_end(ap);
}

static void join_key(char *out, size_t cap, const char *path, const char *key) {
  key_printf(out, cap, "%s%s%s", path, *path ? "." : "", key);
}

/* Reads the value node idx of key d (message name `key`) into base. */
static int read_value(const ctx *x, const key_desc *d, int idx, const char *key, void *base) {
  char *field = (char *)base + d->off;
  const yaml_node_t *n = node_at(x, idx);
  char buf[64];
  int rc;
  switch (d->type) {
  case KEY_INT:
  case KEY_INT64: {
    int64_t v;
    if ((rc = read_int(x, idx, key, d->lo, d->hi, &v))) return rc;
    if (d->type == KEY_INT) {
      int i = (int)v;
      memcpy(field, &i, sizeof i);
    } else {
      memcpy(field, &v, sizeof v);
    }
    return TV_OK;
  }
  case KEY_UINT64: {
    const char *s;
    uint64_t v;
    if ((rc = want_scalar(x, idx, key, "an integer", &s))) return rc;
    int r = parse_u64(s, &v);
    if (r == 1) return fail(x, idx, key, "expected a non-negative integer, got '%.40s'", s);
    if (r == 2) return fail(x, idx, key, "must be in [0, %" PRIu64 "], got %.40s", UINT64_MAX, s);
    memcpy(field, &v, sizeof v);
    return TV_OK;
  }
  case KEY_DOUBLE: {
    double v = 0;
    if ((rc = read_double(x, d, idx, key, &v))) return rc;
    memcpy(field, &v, sizeof v);
    return TV_OK;
  }
  case KEY_BOOL: {
    const char *s;
    if ((rc = want_scalar(x, idx, key, "true or false", &s))) return rc;
    int v;
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes"))
      v = 1;
    else if (!strcasecmp(s, "false") || !strcasecmp(s, "no"))
      v = 0;
    else
      return fail(x, idx, key, "expected true or false, got '%.40s'", s);
    memcpy(field, &v, sizeof v);
    return TV_OK;
  }
  case KEY_ENUM: {
    const char *s;
    char known[128] = "";
    sbuf kb = {.p = known, .cap = sizeof known, .fixed = 1};
    for (int i = 0; d->names[i]; i++) sb_printf(&kb, "%s%s", i ? ", " : "", d->names[i]);
    if ((rc = want_scalar(x, idx, key, "a name", &s))) return rc;
    for (int i = 0; d->names[i]; i++) {
      if (strcmp(s, d->names[i]) == 0) {
        memcpy(field, &i, sizeof i);
        return TV_OK;
      }
    }
    return fail(x, idx, key, "expected one of %s, got '%.40s'", known, s);
  }
  case KEY_STRING:
    return read_string(x, d, idx, key, field, d->cap);
  case KEY_INT_LIST: {
    if (!n || n->type != YAML_SEQUENCE_NODE ||
        n->data.sequence.items.top - n->data.sequence.items.start != (ptrdiff_t)d->cap) {
      if (n && n->type == YAML_SEQUENCE_NODE)
        return fail(x, idx, key, "expected a list of %zu integers, got %td", d->cap,
                    n->data.sequence.items.top - n->data.sequence.items.start);
      return fail(x, idx, key, "expected a list of %zu integers like [1, 28, 28], got %s", d->cap,
                  describe(n, buf, sizeof buf));
    }
    for (size_t i = 0; i < d->cap; i++) {
      char item_key[160];
      int64_t v;
      key_printf(item_key, sizeof item_key, "%s[%zu]", key, i);
      n = node_at(x, idx); /* unchanged: nothing adds nodes while validating */
      if ((rc = read_int(x, n->data.sequence.items.start[i], item_key, d->lo, d->hi, &v)))
        return rc;
      int iv = (int)v;
      memcpy(field + i * sizeof iv, &iv, sizeof iv);
    }
    return TV_OK;
  }
  case KEY_NAME_LIST: {
    int count = 0;
    memset(field, 0, d->cap * d->elem);
    if (n && n->type == YAML_SCALAR_NODE && !is_null(n)) {
      if ((rc = read_string(x, NULL, idx, key, field, d->elem))) return rc;
      count = 1;
    } else if (n && n->type == YAML_SEQUENCE_NODE) {
      ptrdiff_t len = n->data.sequence.items.top - n->data.sequence.items.start;
      if (len > (ptrdiff_t)d->cap)
        return fail(x, idx, key, "at most %zu names, got %td", d->cap, len);
      for (ptrdiff_t i = 0; i < len; i++) {
        char item_key[160];
        key_printf(item_key, sizeof item_key, "%s[%td]", key, i);
        if ((rc = read_string(x, NULL, n->data.sequence.items.start[i], item_key,
                              field + (size_t)i * d->elem, d->elem)))
          return rc;
      }
      count = (int)len;
    } else {
      return fail(x, idx, key, "expected a name or a list of names, got %s",
                  describe(n, buf, sizeof buf));
    }
    memcpy((char *)base + d->count_off, &count, sizeof count);
    return TV_OK;
  }
  case KEY_INT_PAIR:
  case KEY_PADDING: {
    int v[2];
    int64_t w;
    char item_key[160];
    const char *s = scalar_text(n);
    int mode = TV_PADDING_EXPLICIT;
    if (d->type == KEY_PADDING && s && !is_null(n) && !is_digit(s[0]) && s[0] != '-' &&
        s[0] != '+') {
      for (mode = 0; d->names[mode] && strcmp(d->names[mode], s) != 0;) mode++;
      if (!d->names[mode])
        return fail(x, idx, key, "expected valid, same, p or [ph, pw], got '%.40s'", s);
      v[0] = v[1] = 0;
    } else if (n && n->type == YAML_SEQUENCE_NODE &&
               n->data.sequence.items.top - n->data.sequence.items.start == 2) {
      for (int i = 0; i < 2; i++) {
        key_printf(item_key, sizeof item_key, "%s[%d]", key, i);
        n = node_at(x, idx); /* unchanged: nothing adds nodes while validating */
        if ((rc = read_int(x, n->data.sequence.items.start[i], item_key, d->lo, d->hi, &w)))
          return rc;
        v[i] = (int)w;
      }
    } else if (n && n->type == YAML_SEQUENCE_NODE) {
      return fail(x, idx, key, "expected a list of 2 integers, got %td",
                  n->data.sequence.items.top - n->data.sequence.items.start);
    } else if (n && n->type == YAML_SCALAR_NODE && !is_null(n)) {
      if ((rc = read_int(x, idx, key, d->lo, d->hi, &w))) return rc;
      v[0] = v[1] = (int)w;
    } else {
      return fail(x, idx, key, "expected %s, got %s",
                  d->type == KEY_PADDING ? "valid, same, p or [ph, pw]"
                                         : "an integer or a list of 2 integers",
                  describe(n, buf, sizeof buf));
    }
    if (d->type == KEY_PADDING) {
      memcpy(field, &mode, sizeof mode);
      memcpy((char *)base + d->off2, v, sizeof v);
    } else {
      memcpy(field, v, sizeof v);
    }
    return TV_OK;
  }
  case KEY_DOUBLE_LIST: {
    double v = 0, list[TV_NORM_MAX_CHANNELS] = {0};
    int count = 0;
    if (d->cap > TV_NORM_MAX_CHANNELS) return tv_error(TV_ERR_INVALID, "%s: list too long", key);
    if (n && n->type == YAML_SEQUENCE_NODE) {
      ptrdiff_t len = n->data.sequence.items.top - n->data.sequence.items.start;
      if (len < 1 || len > (ptrdiff_t)d->cap)
        return fail(x, idx, key, "expected a number or a list of 1 to %zu numbers, got %td", d->cap,
                    len);
      for (ptrdiff_t i = 0; i < len; i++) {
        char item_key[160];
        key_printf(item_key, sizeof item_key, "%s[%td]", key, i);
        n = node_at(x, idx);
        if ((rc = read_double(x, d, n->data.sequence.items.start[i], item_key, &list[i])))
          return rc;
      }
      count = (int)len;
      v = list[0];
    } else if ((rc = read_double(x, d, idx, key, &v))) {
      return rc;
    }
    memcpy(field, &v, sizeof v);
    memcpy((char *)base + d->off2, list, d->cap * sizeof(double));
    memcpy((char *)base + d->count_off, &count, sizeof count);
    return TV_OK;
  }
  case KEY_LAYERS:
    break; /* read by read_layers */
  }
  return TV_OK;
}

/* Refuses non-scalar and duplicate keys in the mapping at idx (libyaml keeps duplicates). */
static int check_keys(const ctx *x, int idx, const char *path) {
  const yaml_node_t *m = node_at(x, idx);
  const yaml_node_pair_t *pairs = m->data.mapping.pairs.start;
  ptrdiff_t n = m->data.mapping.pairs.top - pairs;
  char buf[64], key[256], where[300];
  for (ptrdiff_t i = 0; i < n; i++) {
    const yaml_node_t *k = node_at(x, pairs[i].key);
    if (!k || k->type != YAML_SCALAR_NODE || is_null(k) ||
        strlen((const char *)k->data.scalar.value) != k->data.scalar.length)
      return fail(x, pairs[i].key, *path ? path : "top level", "expected a key name, got %s",
                  describe(k, buf, sizeof buf));
    for (ptrdiff_t j = 0; j < i; j++) {
      if (strcmp(scalar_text(node_at(x, pairs[j].key)), scalar_text(k)) == 0) {
        join_key(key, sizeof key, path, scalar_text(k));
        place(x, pairs[j].key, where, sizeof where);
        return fail(x, pairs[i].key, key, "duplicate key (first at %s)", where);
      }
    }
  }
  return TV_OK;
}

/* The value node index of `key` in the mapping m, 0 if absent. */
static int find_value(const yaml_node_t *m, const ctx *x, const char *key) {
  for (const yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++)
    if (strcmp(scalar_text(node_at(x, p->key)), key) == 0) return p->value;
  return 0;
}

static void list_keys(sbuf *b, const key_desc *keys, int n) {
  for (int i = 0; i < n; i++) sb_printf(b, "%s%s", b->len ? ", " : "", keys[i].name);
}

/* ---- layers ---------------------------------------------------------------------------------- */

typedef struct layer_nodes {
  int item, name, inputs; /* node indices; 0 where the key is absent */
} layer_nodes;

static int read_layer(const ctx *x, int idx, const char *path, tv_layer_config *l,
                      layer_nodes *ln) {
  const yaml_node_t *m = node_at(x, idx);
  char buf[64], key[256];
  ln->item = idx;
  if (!m || m->type != YAML_MAPPING_NODE)
    return fail(x, idx, path, "expected a mapping like {type: dense, units: 10}, got %s",
                describe(m, buf, sizeof buf));
  int rc = check_keys(x, idx, path);
  if (rc) return rc;

  join_key(key, sizeof key, path, "type");
  int type_idx = find_value(m, x, "type");
  if (!type_idx) return fail(x, idx, key, "missing required key");
  char known[256] = "";
  sbuf kb = {.p = known, .cap = sizeof known, .fixed = 1};
  for (int k = 0; k < TV_LAYER__COUNT; k++)
    sb_printf(&kb, "%s%s", k ? ", " : "", layer_kinds[k].name);
  const char *type;
  if ((rc = want_scalar(x, type_idx, key, "a layer type", &type))) return rc;
  int kind = 0;
  while (kind < TV_LAYER__COUNT && strcmp(layer_kinds[kind].name, type) != 0) kind++;
  if (kind == TV_LAYER__COUNT)
    return fail(x, type_idx, key, "unknown layer type '%.40s' (known: %s)", type, known);
  const layer_kind_desc *lk = &layer_kinds[kind];

  layer_defaults(l, (tv_layer_kind)kind);
  if (from_set(x, idx) < 0) {
    l->line = (int)m->start_mark.line + 1;
    l->col = (int)m->start_mark.column + 1;
  }
  for (const yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
       p++) {
    const char *name = scalar_text(node_at(x, p->key));
    if (strcmp(name, "type") == 0) continue;
    join_key(key, sizeof key, path, name);
    const key_desc *d = find_key(layer_common_keys, COUNT(layer_common_keys), name);
    if (!d) d = find_key(lk->keys, lk->n_keys, name);
    if (!d) {
      char allowed[256] = "type";
      sbuf ab = {.p = allowed, .len = 4, .cap = sizeof allowed, .fixed = 1};
      list_keys(&ab, layer_common_keys, COUNT(layer_common_keys));
      list_keys(&ab, lk->keys, lk->n_keys);
      return fail(x, p->key, key, "unknown key for %s (allowed: %s)", lk->name, allowed);
    }
    if ((rc = read_value(x, d, p->value, key, l))) return rc;
  }
  for (int k = 0; k < lk->n_keys; k++) {
    if ((lk->keys[k].flags & F_REQUIRED) && !find_value(m, x, lk->keys[k].name)) {
      join_key(key, sizeof key, path, lk->keys[k].name);
      return fail(x, idx, key, "missing required key (%s needs it)", lk->name);
    }
  }
  if ((kind == TV_LAYER_MAX_POOL2D || kind == TV_LAYER_AVG_POOL2D) && l->stride[0] == 0) {
    l->stride[0] = l->kernel[0];
    l->stride[1] = l->kernel[1];
  }
  ln->name = find_value(m, x, "name");
  ln->inputs = find_value(m, x, "inputs");
  int n_in = l->n_inputs ? l->n_inputs : 1;
  if (n_in < lk->min_inputs || n_in > lk->max_inputs) {
    join_key(key, sizeof key, path, "inputs");
    if (lk->min_inputs == lk->max_inputs)
      return fail(x, ln->inputs ? ln->inputs : idx, key, "%s takes %d input%s, got %d", lk->name,
                  lk->min_inputs, lk->min_inputs == 1 ? "" : "s", n_in);
    return fail(x, ln->inputs ? ln->inputs : idx, key, "%s takes %d to %d inputs, got %d", lk->name,
                lk->min_inputs, lk->max_inputs, n_in);
  }
  return TV_OK;
}

/* The node of inputs entry j of a layer (the scalar itself when `inputs: name`). */
static int input_node(const ctx *x, int inputs_idx, int j) {
  const yaml_node_t *n = node_at(x, inputs_idx);
  if (n && n->type == YAML_SEQUENCE_NODE) return n->data.sequence.items.start[j];
  return inputs_idx;
}

static int read_layers(const ctx *x, int idx, const char *path, tv_config *c) {
  const yaml_node_t *seq = node_at(x, idx);
  char buf[64], lpath[128], key[160];
  if (!seq || seq->type != YAML_SEQUENCE_NODE)
    return fail(x, idx, path, "expected a sequence of layers, got %s",
                describe(seq, buf, sizeof buf));
  ptrdiff_t n = seq->data.sequence.items.top - seq->data.sequence.items.start;
  if (n == 0) return fail(x, idx, path, "must list at least one layer");
  if (n > TV_MAX_LAYERS) return fail(x, idx, path, "at most %d layers, got %td", TV_MAX_LAYERS, n);

  layer_nodes ln[TV_MAX_LAYERS];
  int per_kind[TV_LAYER__COUNT] = {0};
  tv_layer_config *ls = c->model.layers;
  for (int i = 0; i < (int)n; i++) {
    key_printf(lpath, sizeof lpath, "%s[%d]", path, i);
    int rc = read_layer(x, seq->data.sequence.items.start[i], lpath, &ls[i], &ln[i]);
    if (rc) return rc;
    int k = ++per_kind[ls[i].kind];
    if (!ls[i].name[0])
      snprintf(ls[i].name, sizeof ls[i].name, "%s_%d", layer_kinds[ls[i].kind].name, k);
  }
  c->model.n_layers = (int)n;

  for (int i = 0; i < (int)n; i++) {
    int at = ln[i].name ? ln[i].name : ln[i].item;
    key_printf(key, sizeof key, "%s[%d].name", path, i);
    if (strcmp(ls[i].name, "input") == 0)
      return fail(x, at, key, "'input' is reserved for the model input");
    for (int j = 0; j < i; j++)
      if (strcmp(ls[i].name, ls[j].name) == 0)
        return fail(x, at, key, "duplicate layer name '%s'%s (also %s[%d]%s)", ls[i].name,
                    ln[i].name ? "" : " by default", path, j, ln[j].name ? "" : " by default");
  }
  for (int i = 0; i < (int)n; i++) {
    key_printf(key, sizeof key, "%s[%d].inputs", path, i);
    for (int j = 0; j < ls[i].n_inputs; j++) {
      const char *in = ls[i].inputs[j];
      int k = 0;
      if (strcmp(in, "input") == 0) continue;
      while (k < (int)n && strcmp(ls[k].name, in) != 0) k++;
      if (k < i) continue;
      int at = input_node(x, ln[i].inputs, j);
      if (k < (int)n)
        return fail(x, at, key,
                    "layer %s: '%s' is %s[%d], not an earlier layer (inputs name earlier layers "
                    "only, so the graph cannot have a cycle)",
                    ls[i].name, in, path, k);
      return fail(x, at, key,
                  "layer %s: '%.40s' names no earlier layer (nor 'input', the model input)",
                  ls[i].name, in);
    }
  }
  return TV_OK;
}

/* ---- sections -------------------------------------------------------------------------------- */

static int read_section(const ctx *x, const section_desc *sec, int idx, tv_config *c) {
  const yaml_node_t *m = node_at(x, idx);
  char buf[64], key[256];
  int rc;
  if (m && m->type == YAML_MAPPING_NODE) {
    if ((rc = check_keys(x, idx, sec->name))) return rc;
    for (const yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
         p++) {
      const char *name = scalar_text(node_at(x, p->key));
      const key_desc *d = find_key(sec->keys, sec->n_keys, name);
      join_key(key, sizeof key, sec->name, name);
      if (!d) {
        char allowed[512] = "";
        sbuf ab = {.p = allowed, .cap = sizeof allowed, .fixed = 1};
        list_keys(&ab, sec->keys, sec->n_keys);
        return fail(x, p->key, key, "unknown key (allowed: %s)", allowed);
      }
      rc = d->type == KEY_LAYERS ? read_layers(x, p->value, key, c)
                                 : read_value(x, d, p->value, key, c);
      if (rc) return rc;
    }
  } else if (!is_null(m)) { /* `data:` with nothing under it is an empty section */
    return fail(x, idx, sec->name, "expected a mapping of keys, got %s",
                describe(m, buf, sizeof buf));
  }
  for (int k = 0; k < sec->n_keys; k++) {
    if ((sec->keys[k].flags & F_REQUIRED) &&
        !(m && m->type == YAML_MAPPING_NODE && find_value(m, x, sec->keys[k].name))) {
      join_key(key, sizeof key, sec->name, sec->keys[k].name);
      return fail(x, idx, key, "missing required key");
    }
  }
  return TV_OK;
}

static void list_sections(char *buf, size_t cap) {
  sbuf b = {.p = buf, .cap = cap, .fixed = 1};
  buf[0] = '\0';
  for (int s = 0; s < COUNT(sections); s++) sb_printf(&b, "%s%s", s ? ", " : "", sections[s].name);
}

static const section_desc *find_section(const char *name) {
  for (int s = 0; s < COUNT(sections); s++)
    if (strcmp(sections[s].name, name) == 0) return &sections[s];
  return NULL;
}

/* The value node of section.key (0 if absent) and of the section (*sec_at, 0 if absent). */
static int find_in_section(const ctx *x, int root, const char *section, const char *key,
                           int *sec_at) {
  const yaml_node_t *r = node_at(x, root);
  *sec_at = r && r->type == YAML_MAPPING_NODE ? find_value(r, x, section) : 0;
  const yaml_node_t *o = node_at(x, *sec_at);
  return o && o->type == YAML_MAPPING_NODE ? find_value(o, x, key) : 0;
}

/* Rules that tie keys together (each key alone was checked by its row). */
static int check_relations(const ctx *x, int root, const tv_config *c) {
  const int lists[2] = {c->data.n_mean, c->data.n_std};
  for (int k = 0; k < 2; k++) {
    if (lists[k] == 0 || lists[k] == c->model.input[0]) continue;
    const char *key = k ? "std" : "mean";
    int data_at, at = find_in_section(x, root, "data", key, &data_at);
    return fail(x, at ? at : data_at, k ? "data.std" : "data.mean",
                "expected one number or %d (one per channel of model.input), got a list of %d",
                c->model.input[0], lists[k]);
  }
  if (c->optimizer.min_learning_rate > c->optimizer.learning_rate) {
    int opt, at = find_in_section(x, root, "optimizer", "min_learning_rate", &opt);
    char lr[40];
    format_double(lr, sizeof lr, c->optimizer.learning_rate);
    return fail(x, at ? at : opt, "optimizer.min_learning_rate",
                "must not exceed learning_rate (%s)", lr);
  }
  return TV_OK;
}

static int validate(const ctx *x, tv_config *c) {
  const yaml_node_t *root = yaml_document_get_root_node(x->doc);
  char buf[64], names[128];
  int rc;
  list_sections(names, sizeof names);
  if (root && !is_null(root)) {
    if (root->type != YAML_MAPPING_NODE)
      return fail(x, 1, "top level", "expected a mapping of sections (%s), got %s", names,
                  describe(root, buf, sizeof buf));
    if ((rc = check_keys(x, 1, ""))) return rc;
    for (const yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
      const char *name = scalar_text(node_at(x, p->key));
      const section_desc *sec = find_section(name);
      if (!sec) return fail(x, p->key, name, "unknown section (allowed: %s)", names);
      if ((rc = read_section(x, sec, p->value, c))) return rc;
    }
  }
  for (int s = 0; s < COUNT(sections); s++) {
    if (sections[s].required &&
        !(root && root->type == YAML_MAPPING_NODE && find_value(root, x, sections[s].name)))
      return fail(x, root ? 1 : 0, sections[s].name, "missing required section");
  }
  return check_relations(x, 1, c);
}

/* ---- parsing and overrides ------------------------------------------------------------------- */

/* Translates a libyaml failure: "<where>:line:col: problem (context at line:col)". */
static int parse_error(const yaml_parser_t *p, const char *source, const char *set) {
  const char *problem = p->problem ? p->problem : "malformed YAML";
  char context[160] = "";
  if (p->context)
    snprintf(context, sizeof context, " (%s at %zu:%zu)", p->context, p->context_mark.line + 1,
             p->context_mark.column + 1);
  if (p->error == YAML_MEMORY_ERROR)
    return set ? tv_error(TV_ERR_NOMEM, "--set %s: out of memory", set)
               : tv_error(TV_ERR_NOMEM, "%s: out of memory parsing YAML", source);
  if (set) return tv_error(TV_ERR_CONFIG, "--set %s: %s%s", set, problem, context);
  if (p->error == YAML_READER_ERROR)
    return tv_error(TV_ERR_CONFIG, "%s: byte %zu: %s", source, p->problem_offset, problem);
  return tv_error(TV_ERR_CONFIG, "%s:%zu:%zu: %s%s", source, p->problem_mark.line + 1,
                  p->problem_mark.column + 1, problem, context);
}

/* Loads exactly one document from text.  Errors: TV_ERR_CONFIG, TV_ERR_NOMEM (doc is then not
 * initialized). */
static int load_doc(const char *text, size_t len, const char *source, const char *set,
                    yaml_document_t *doc) {
  yaml_parser_t parser;
  yaml_document_t extra;
  if (!yaml_parser_initialize(&parser)) return tv_error(TV_ERR_NOMEM, "%s: out of memory", source);
  yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), text ? len : 0);
  int rc = TV_OK;
  if (!yaml_parser_load(&parser, doc)) {
    rc = parse_error(&parser, source, set);
    goto out;
  }
  if (!yaml_parser_load(&parser, &extra)) {
    rc = parse_error(&parser, source, set);
    yaml_document_delete(doc);
    goto out;
  }
  yaml_node_t *r = yaml_document_get_root_node(&extra);
  if (r) {
    rc = set ? tv_error(TV_ERR_CONFIG, "--set %s: more than one YAML document", set)
             : tv_error(TV_ERR_CONFIG, "%s:%zu:%zu: more than one YAML document", source,
                        r->start_mark.line + 1, r->start_mark.column + 1);
    yaml_document_delete(doc);
  }
  yaml_document_delete(&extra);
out:
  yaml_parser_delete(&parser);
  return rc;
}

/* Copies node idx of src (and what is under it) into dst; *out is its index there. */
static int graft(yaml_document_t *dst, yaml_document_t *src, int idx, int depth, const char *set,
                 int *out) {
  yaml_node_t *n = yaml_document_get_node(src, idx);
  if (depth > MAX_GRAFT_DEPTH)
    return tv_error(TV_ERR_CONFIG, "--set %s: value nested too deeply", set);
  int r = 0, rc;
  switch (n->type) {
  case YAML_SCALAR_NODE:
    r = yaml_document_add_scalar(dst, NULL, n->data.scalar.value, (int)n->data.scalar.length,
                                 n->data.scalar.style);
    break;
  case YAML_SEQUENCE_NODE:
    r = yaml_document_add_sequence(dst, NULL, YAML_FLOW_SEQUENCE_STYLE);
    for (yaml_node_item_t *it = n->data.sequence.items.start; r && it < n->data.sequence.items.top;
         it++) {
      int item;
      if ((rc = graft(dst, src, *it, depth + 1, set, &item))) return rc;
      if (!yaml_document_append_sequence_item(dst, r, item)) r = 0;
    }
    break;
  case YAML_MAPPING_NODE:
    r = yaml_document_add_mapping(dst, NULL, YAML_FLOW_MAPPING_STYLE);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; r && p < n->data.mapping.pairs.top;
         p++) {
      int k, v;
      if ((rc = graft(dst, src, p->key, depth + 1, set, &k))) return rc;
      if ((rc = graft(dst, src, p->value, depth + 1, set, &v))) return rc;
      if (!yaml_document_append_mapping_pair(dst, r, k, v)) r = 0;
    }
    break;
  case YAML_NO_NODE:
    break;
  }
  if (!r) return tv_error(TV_ERR_NOMEM, "--set %s: out of memory", set);
  *out = r;
  return TV_OK;
}

static int key_is(yaml_document_t *doc, int idx, const char *s) {
  yaml_node_t *k = yaml_document_get_node(doc, idx);
  return k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(s) &&
         memcmp(k->data.scalar.value, s, k->data.scalar.length) == 0;
}

/* The slot that holds child `name` of node parent: a mapping's pair value (*pair, NULL when the
 * key is absent) or a sequence's item (*item; `name` is a 0-based index).  Errors: TV_ERR_CONFIG
 * (an index out of range, a scalar parent). */
static int find_slot(yaml_document_t *doc, const char *set, int parent, const char *name,
                     yaml_node_pair_t **pair, yaml_node_item_t **item) {
  yaml_node_t *n = yaml_document_get_node(doc, parent);
  *pair = NULL;
  *item = NULL;
  if (n->type == YAML_MAPPING_NODE) {
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
      if (key_is(doc, p->key, name)) *pair = p;
    return TV_OK;
  }
  if (n->type == YAML_SEQUENCE_NODE) {
    ptrdiff_t len = n->data.sequence.items.top - n->data.sequence.items.start;
    int64_t j;
    if (!is_digit(name[0]) || parse_i64(name, &j) || j >= len)
      return tv_error(TV_ERR_CONFIG, "--set %s: index '%s' out of range (%td items)", set, name,
                      len);
    *item = &n->data.sequence.items.start[j];
    return TV_OK;
  }
  return tv_error(TV_ERR_CONFIG, "--set %s: nothing to index with '%s' (not a mapping or a list)",
                  set, name);
}

/* Puts node value under `name` in the mapping parent (replacing an existing value) or at index
 * `name` of the sequence parent. */
static int put_child(yaml_document_t *doc, const char *set, int parent, const char *name,
                     int value) {
  yaml_node_pair_t *pair;
  yaml_node_item_t *item;
  int rc = find_slot(doc, set, parent, name, &pair, &item);
  if (rc) return rc;
  if (pair)
    pair->value = value;
  else if (item)
    *item = value;
  else {
    int key =
        yaml_document_add_scalar(doc, NULL, (const yaml_char_t *)name, -1, YAML_PLAIN_SCALAR_STYLE);
    if (!key || !yaml_document_append_mapping_pair(doc, parent, key, value))
      return tv_error(TV_ERR_NOMEM, "--set %s: out of memory", set);
  }
  return TV_OK;
}

/* Applies override k ("a.b=value", "model.layers.<i>.key=value") to the document before
 * validation: the value (parsed as YAML) replaces the value of an existing key or sequence item,
 * or goes under a new key.  A section the file lacks (or leaves empty) is created. */
static int apply_set(ctx *x, int k) {
  const char *text = x->sets[k];
  const char *eq = text ? strchr(text, '=') : NULL;
  char path[256], names[128];
  char *part[MAX_SET_PARTS];
  int n_parts = 0, rc;
  if (!text) return tv_error(TV_ERR_INVALID, "--set: a NULL override");
  if (!eq)
    return tv_error(TV_ERR_CONFIG, "--set %s: expected key=value (e.g. train.batch_size=64)", text);
  size_t skip = strspn(text, " "), end = (size_t)(eq - text);
  while (end > skip && text[end - 1] == ' ') end--;
  if (end - skip >= sizeof path) return tv_error(TV_ERR_CONFIG, "--set %s: key too long", text);
  memcpy(path, text + skip, end - skip);
  path[end - skip] = '\0';
  for (char *p = path;;) {
    char *dot = strchr(p, '.');
    if (dot) *dot = '\0';
    if (!*p)
      return tv_error(TV_ERR_CONFIG, "--set %s: empty part in the key (expected section.key=value)",
                      text);
    if (n_parts == MAX_SET_PARTS)
      return tv_error(TV_ERR_CONFIG, "--set %s: key nested too deeply", text);
    part[n_parts++] = p;
    if (!dot) break;
    p = dot + 1;
  }
  list_sections(names, sizeof names);
  const section_desc *sec = find_section(part[0]);
  if (!sec)
    return tv_error(TV_ERR_CONFIG, "--set %s: unknown section '%s' (allowed: %s)", text, part[0],
                    names);
  if (n_parts < 2)
    return tv_error(TV_ERR_CONFIG, "--set %s: expected section.key=value, e.g. %s.%s=...", text,
                    part[0], sec->keys[0].name);

  yaml_document_t *doc = x->doc;
  if (!yaml_document_get_root_node(doc) &&
      !yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE))
    return tv_error(TV_ERR_NOMEM, "--set %s: out of memory", text);
  if (yaml_document_get_root_node(doc)->type != YAML_MAPPING_NODE)
    return tv_error(TV_ERR_CONFIG, "--set %s: the config's top level is not a mapping", text);

  /* Walk to the parent of the last part.  Only the section may be created: deeper parts must
   * exist, so a typo cannot build a tree the tables then reject far from its cause. */
  int cur = 1;
  for (int i = 0; i < n_parts - 1; i++) {
    yaml_node_pair_t *pair;
    yaml_node_item_t *item;
    if ((rc = find_slot(doc, text, cur, part[i], &pair, &item))) return rc;
    if (item) {
      cur = *item;
    } else if (pair && !(i == 0 && is_null(yaml_document_get_node(doc, pair->value)))) {
      cur = pair->value;
    } else if (i == 0) {
      int m = yaml_document_add_mapping(doc, NULL, YAML_BLOCK_MAPPING_STYLE);
      if (!m) return tv_error(TV_ERR_NOMEM, "--set %s: out of memory", text);
      if ((rc = put_child(doc, text, cur, part[i], m))) return rc;
      cur = m;
    } else {
      return tv_error(TV_ERR_CONFIG, "--set %s: '%s' is not in the config", text, part[i]);
    }
  }

  yaml_document_t vdoc;
  int value = 0;
  if ((rc = load_doc(eq + 1, strlen(eq + 1), text, text, &vdoc))) return rc;
  if (yaml_document_get_root_node(&vdoc))
    rc = graft(doc, &vdoc, 1, 0, text, &value);
  else if (!(value = yaml_document_add_scalar(doc, NULL, (const yaml_char_t *)"", 0,
                                              YAML_PLAIN_SCALAR_STYLE)))
    rc = tv_error(TV_ERR_NOMEM, "--set %s: out of memory", text);
  yaml_document_delete(&vdoc);
  if (rc) return rc;
  return put_child(doc, text, cur, part[n_parts - 1], value);
}

static int node_count(yaml_document_t *doc) { return (int)(doc->nodes.top - doc->nodes.start); }

int tv_config_parse(const char *text, size_t len, const char *source, const char *const *sets,
                    int n_sets, tv_config *c) {
  tv_config_defaults(c);
  if (!source) source = "<config>";
  if (n_sets < 0 || (n_sets > 0 && !sets))
    return tv_error(TV_ERR_INVALID, "tv_config_parse: %d overrides without an array", n_sets);
  yaml_document_t doc;
  ctx x = {.doc = &doc, .source = source, .sets = sets};
  int rc = load_doc(text, len, source, NULL, &doc);
  if (rc) return rc;

  x.n_origin = node_count(&doc) + 1;
  x.origin = malloc((size_t)x.n_origin * sizeof *x.origin);
  if (!x.origin) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", source);
    goto out;
  }
  for (int i = 0; i < x.n_origin; i++) x.origin[i] = -1;
  for (int k = 0; k < n_sets; k++) {
    if ((rc = apply_set(&x, k))) goto out;
    int n = node_count(&doc) + 1;
    int *no = realloc(x.origin, (size_t)n * sizeof *no);
    if (!no) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", source);
      goto out;
    }
    for (int i = x.n_origin; i < n; i++) no[i] = k;
    x.origin = no;
    x.n_origin = n;
  }
  if ((rc = validate(&x, c))) goto out;
  size_t n = strlen(source);
  if (n >= sizeof c->source) n = sizeof c->source - 1;
  memcpy(c->source, source, n);
  c->source[n] = '\0';
out:
  if (rc) tv_config_defaults(c);
  free(x.origin);
  yaml_document_delete(&doc);
  return rc;
}

int tv_config_load(const char *path, const char *const *sets, int n_sets, tv_config *c) {
  char *text;
  size_t len;
  tv_config_defaults(c);
  int rc = tv_fs_read_all(path, &text, &len);
  if (rc) return rc;
  rc = tv_config_parse(text, len, path, sets, n_sets, c);
  free(text);
  return rc;
}

/* ---- emit and compare ------------------------------------------------------------------------ */

static void emit_layers(sbuf *b, const tv_config *c) {
  sb_printf(b, "  # each layer: type (");
  for (int k = 0; k < TV_LAYER__COUNT; k++)
    sb_printf(b, "%s%s", k ? ", " : "", layer_kinds[k].name);
  sb_printf(b, "), name (default <type>_<k>),\n  #   inputs (default: the previous layer)\n");
  for (int k = 0; k < TV_LAYER__COUNT; k++) {
    if (!layer_kinds[k].n_keys) continue;
    sb_printf(b, "  #   %s also: ", layer_kinds[k].name);
    for (int j = 0; j < layer_kinds[k].n_keys; j++)
      sb_printf(b, "%s%s (%s)", j ? ", " : "", layer_kinds[k].keys[j].name,
                layer_kinds[k].keys[j].doc);
    sb_printf(b, "\n");
  }
  sb_printf(b, "  layers:%s\n", c->model.n_layers ? "" : " []");
  for (int i = 0; i < c->model.n_layers; i++) {
    const tv_layer_config *l = &c->model.layers[i];
    const layer_kind_desc *lk = &layer_kinds[l->kind];
    sb_printf(b, "    - {type: %s", lk->name);
    for (int pass = 0; pass < 2; pass++) {
      const key_desc *keys = pass ? lk->keys : layer_common_keys;
      int n = pass ? lk->n_keys : COUNT(layer_common_keys);
      for (int k = 0; k < n; k++) {
        if (keys[k].type == KEY_NAME_LIST) {
          int count;
          memcpy(&count, (const char *)l + keys[k].count_off, sizeof count);
          if (!count) continue; /* the default, spelled by leaving it out */
        }
        sb_printf(b, ", %s: ", keys[k].name);
        sb_value(b, &keys[k], l);
      }
    }
    sb_printf(b, "}\n");
  }
}

int tv_config_emit(const tv_config *c, char **text, size_t *len) {
  sbuf b = {0};
  *text = NULL;
  *len = 0;
  sb_printf(&b, "# trainval configuration: every key written out, defaults included.\n");
  for (int s = 0; s < COUNT(sections); s++) {
    sb_printf(&b, "%s:\n", sections[s].name);
    for (int k = 0; k < sections[s].n_keys; k++) {
      const key_desc *d = &sections[s].keys[k];
      if (d->type == KEY_LAYERS) {
        emit_layers(&b, c);
        continue;
      }
      size_t start = b.len;
      sb_printf(&b, "  %s: ", d->name);
      sb_value(&b, d, c);
      size_t used = b.len - start;
      sb_printf(&b, "%*s# %s\n", used + 2 < DOC_COLUMN ? (int)(DOC_COLUMN - used) : 2, "", d->doc);
    }
  }
  if (b.nomem) {
    free(b.p);
    return tv_error(TV_ERR_NOMEM, "config emit: out of memory");
  }
  *text = b.p;
  *len = b.len;
  return TV_OK;
}

static int same_value(const key_desc *d, const void *a, const void *b) {
  const char *fa = (const char *)a + d->off, *fb = (const char *)b + d->off;
  switch (d->type) {
  case KEY_INT:
  case KEY_BOOL:
  case KEY_ENUM:
    return memcmp(fa, fb, sizeof(int)) == 0;
  case KEY_INT64:
  case KEY_UINT64:
    return memcmp(fa, fb, sizeof(int64_t)) == 0;
  case KEY_DOUBLE: {
    double va, vb;
    memcpy(&va, fa, sizeof va);
    memcpy(&vb, fb, sizeof vb);
    return va == vb;
  }
  case KEY_STRING:
    return strcmp(fa, fb) == 0;
  case KEY_INT_LIST:
    return memcmp(fa, fb, d->cap * sizeof(int)) == 0;
  case KEY_NAME_LIST: {
    int na, nb;
    memcpy(&na, (const char *)a + d->count_off, sizeof na);
    memcpy(&nb, (const char *)b + d->count_off, sizeof nb);
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
      if (strcmp(fa + (size_t)i * d->elem, fb + (size_t)i * d->elem) != 0) return 0;
    return 1;
  }
  case KEY_INT_PAIR:
    return memcmp(fa, fb, 2 * sizeof(int)) == 0;
  case KEY_PADDING:
    return memcmp(fa, fb, sizeof(int)) == 0 &&
           memcmp((const char *)a + d->off2, (const char *)b + d->off2, 2 * sizeof(int)) == 0;
  case KEY_DOUBLE_LIST: {
    int na, nb;
    double va, vb;
    memcpy(&na, (const char *)a + d->count_off, sizeof na);
    memcpy(&nb, (const char *)b + d->count_off, sizeof nb);
    if (na != nb) return 0;
    for (int i = 0; i < (na ? na : 1); i++) {
      memcpy(&va, (na ? (const char *)a + d->off2 : fa) + (size_t)i * sizeof va, sizeof va);
      memcpy(&vb, (nb ? (const char *)b + d->off2 : fb) + (size_t)i * sizeof vb, sizeof vb);
      if (va != vb) return 0;
    }
    return 1;
  }
  case KEY_LAYERS:
    return 1;
  }
  return 1;
}

static void note_diff(sbuf *out, int *same, const key_desc *d, const char *key, const void *a,
                      const void *b) {
  if (same_value(d, a, b)) return;
  char va[160], vb[160];
  sbuf sa = {.p = va, .cap = sizeof va, .fixed = 1}, sb = {.p = vb, .cap = sizeof vb, .fixed = 1};
  va[0] = vb[0] = '\0';
  sb_value(&sa, d, a);
  sb_value(&sb, d, b);
  sb_printf(out, "%s%s: %s -> %s", *same ? "" : "; ", key, va, vb);
  *same = 0;
}

int tv_config_same_settings(const tv_config *a, const tv_config *b, char *diff, size_t cap) {
  sbuf out = {.p = diff, .cap = diff ? cap : 0, .fixed = 1};
  char key[160];
  int same = 1;
  if (out.cap) diff[0] = '\0';
  for (int s = 0; s < COUNT(sections); s++) {
    if (sections[s].keys == model_keys) continue;
    for (int k = 0; k < sections[s].n_keys; k++) {
      const key_desc *d = &sections[s].keys[k];
      if (d->flags & F_MODEL) continue;
      join_key(key, sizeof key, sections[s].name, d->name);
      note_diff(&out, &same, d, key, a, b);
    }
  }
  return same;
}

int tv_config_same_model(const tv_config *a, const tv_config *b, char *diff, size_t cap) {
  sbuf out = {.p = diff, .cap = diff ? cap : 0, .fixed = 1};
  char key[160];
  int same = 1;
  if (out.cap) diff[0] = '\0';
  for (int k = 0; k < COUNT(model_keys); k++) {
    const key_desc *d = &model_keys[k];
    if (!(d->flags & F_MODEL) || d->type == KEY_LAYERS) continue;
    join_key(key, sizeof key, "model", d->name);
    note_diff(&out, &same, d, key, a, b);
  }
  int na = a->model.n_layers, nb = b->model.n_layers;
  if (na != nb) {
    sb_printf(&out, "%smodel.layers: %d layers -> %d layers", same ? "" : "; ", na, nb);
    same = 0;
  }
  for (int i = 0; i < na && i < nb; i++) {
    const tv_layer_config *la = &a->model.layers[i], *lb = &b->model.layers[i];
    if (la->kind != lb->kind) {
      sb_printf(&out, "%smodel.layers[%d].type: %s -> %s", same ? "" : "; ", i,
                tv_layer_kind_name(la->kind), tv_layer_kind_name(lb->kind));
      same = 0;
      continue;
    }
    const layer_kind_desc *lk = &layer_kinds[la->kind];
    for (int pass = 0; pass < 2; pass++) {
      const key_desc *keys = pass ? lk->keys : layer_common_keys;
      int n = pass ? lk->n_keys : COUNT(layer_common_keys);
      for (int k = 0; k < n; k++) {
        if (!(keys[k].flags & F_MODEL)) continue;
        key_printf(key, sizeof key, "model.layers[%d].%s", i, keys[k].name);
        note_diff(&out, &same, &keys[k], key, la, lb);
      }
    }
  }
  return same;
}
