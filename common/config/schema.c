/* schema.c — the key tables: everything a config can say, one row per key (see schema.h), and
 * the defaults, names and look-ups they imply.
 *
 * One table per section (model, data, train, optimizer, retention) and one table of the keys
 * every layer accepts (name, inputs).  A layer kind that takes keys of its own (or more than one
 * input) keeps its table in its layer file, beside its code, and names it in its tv_layer_ops
 * row (layers.h); tv_cfg_layer_kind reads it through the layer table.  The layer kinds' names
 * and enum come from config.h's TV_LAYER_KINDS list.  The ROW_* macros (schema.h) check at
 * compile time that each row's field has the type its key type stores.
 */
#include "config/schema.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "trainval/layers.h"

#define COUNT TV_CFG_COUNT

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
static const char *const windows_names[] = {
    [TV_WINDOWS_CONTIGUOUS] = "contiguous", [TV_WINDOWS_RANDOM] = "random", NULL};
_Static_assert(COUNT(windows_names) == TV_WINDOWS__COUNT + 1, "one name per windows mode");
static const char *const resize_names[] = {
    [TV_RESIZE_NONE] = "none", [TV_RESIZE_BILINEAR] = "bilinear", NULL};
_Static_assert(COUNT(resize_names) == TV_RESIZE__COUNT + 1, "one name per resize rule");
/* The names are loss.h's table rows' (tv_loss_from_config maps them). */
static const char *const loss_names[] = {[TV_LOSS_CHOICE_AUTO] = "auto",
                                         [TV_LOSS_CHOICE_SOFTMAX_XENT] = "softmax_cross_entropy",
                                         [TV_LOSS_CHOICE_MSE] = "mse",
                                         [TV_LOSS_CHOICE_MAE] = "mae",
                                         [TV_LOSS_CHOICE_HUBER] = "huber",
                                         [TV_LOSS_CHOICE_SIGMOID_XENT] = "sigmoid_cross_entropy",
                                         NULL};
_Static_assert(COUNT(loss_names) == TV_LOSS_CHOICE__COUNT + 1, "one name per loss choice");
_Static_assert(COUNT(tv_task_names) == TV_TASK__COUNT + 1, "one name per task");
static const char *const format_names[] = {
    [TV_DATA_FORMAT_IDX] = "idx",       [TV_DATA_FORMAT_CSV] = "csv",
    [TV_DATA_FORMAT_NPY] = "npy",       [TV_DATA_FORMAT_HDF5] = "hdf5",
    [TV_DATA_FORMAT_IMGDIR] = "imgdir", NULL};
_Static_assert(COUNT(format_names) == TV_DATA_FORMAT__COUNT + 1, "one name per data format");
static const char *const missing_names[] = {
    [TV_MISSING_ERROR] = "error", [TV_MISSING_FILL] = "fill", NULL};
_Static_assert(COUNT(missing_names) == TV_MISSING__COUNT + 1, "one name per missing policy");
static const char *const class_order_names[] = {
    [TV_CLASS_ORDER_SORTED] = "sorted", [TV_CLASS_ORDER_FIRST_SEEN] = "first_seen", NULL};
_Static_assert(COUNT(class_order_names) == TV_CLASS_ORDER__COUNT + 1, "one name per order");
/* Only valid and same are names; an explicit padding is written as numbers. */
const char *const tv_cfg_padding_names[] = {
    [TV_PADDING_VALID] = "valid", [TV_PADDING_SAME] = "same", NULL};
_Static_assert(COUNT(tv_cfg_padding_names) == TV_PADDING_EXPLICIT + 1,
               "names for the named paddings");

// clang-format off
static const key_desc model_keys[] = {
  ROW_INT_LIST(CF, "input", model.input, 1, 65536, F_REQUIRED | F_MODEL | F_OR_ONE,
               "C, H, W of one example"),
  ROW_INT(CF, "num_classes", model.num_classes, 1, 1000000, 0, F_REQUIRED | F_MODEL,
          "outputs of the last layer"),
  ROW_ENUM(CF, "task", model.task, tv_task_names, TV_TASK_CLASSIFICATION, F_MODEL,
           "classification | regression | multilabel"),
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
  ROW_DOUBLE(CF, "scale", data.scale, -1e6, 1e6, NAN, F_AUTO,
             "x = (value * scale - mean) / std; auto: 1/255 for uint8 data, else 1"),
  ROW_DOUBLE_LIST(CF, "mean", data.mean, data.mean_c, data.n_mean, -1e6, 1e6, 0, 0,
                  "subtracted after scaling; one number or one per channel"),
  ROW_DOUBLE_LIST(CF, "std", data.std, data.std_c, data.n_std, 0, 1e6, 1, F_OPEN_LO,
                  "divides after the mean; one number or one per channel"),
  ROW_BOOL(CF, "random_flip", data.random_flip, 0, 0, "training: mirror left-right, p = 1/2"),
  ROW_INT(CF, "random_crop_padding", data.random_crop_padding, 0, 64, 0, 0,
          "training: pad, then crop at a random offset"),
  ROW_ENUM(CF, "resize", data.resize, resize_names, TV_RESIZE_NONE, 0,
           "imgdir: none | bilinear to model.input's size"),
  ROW_ENUM(CF, "format", data.format, format_names, TV_DATA_FORMAT_IDX, 0,
           "idx | csv | npy | hdf5 | imgdir: how the files are read"),
  ROW_STRING(CF, "features", data.features, "", 0,
             "csv: feature columns (names, numbers, ranges); '': all but the target"),
  ROW_STRING(CF, "target", data.target, "", 0, "csv: target column(s); '': the last"),
  ROW_STRING(CF, "delimiter", data.delimiter, ",", 0, "csv: the field separator, one byte"),
  ROW_STRING(CF, "comment", data.comment, "", 0, "csv: a record starting with it is skipped"),
  ROW_BOOL(CF, "header", data.header, 1, 0, "csv: the first record names the columns"),
  ROW_INT(CF, "skip_rows", data.skip_rows, 0, 1000000, 0, 0, "csv: lines skipped first"),
  ROW_ENUM(CF, "missing", data.missing, missing_names, TV_MISSING_ERROR, 0,
           "csv: error | fill an empty field"),
  ROW_DOUBLE(CF, "fill_value", data.fill_value, -3e38, 3e38, 0, 0, "csv: with missing: fill"),
  ROW_ENUM(CF, "class_order", data.class_order, class_order_names, TV_CLASS_ORDER_SORTED, 0,
           "csv string labels: sorted | first_seen class ids"),
  ROW_BOOL(CF, "standardize", data.standardize, 0, 0,
           "per-feature mean/std fitted on the training split"),
  ROW_INT64(CF, "memory_mb", data.memory_mb, 0, (int64_t)1 << 40, 0, 0,
            "hdf5: MiB for the examples in memory; larger data is read from disk; 0: no limit"),
  ROW_STRING(CF, "corpus", data.corpus, "/usr/share/games/fortunes", F_LATER | F_TOKEN,
             "token models: a text file or folder"),
  ROW_INT64(CF, "valid_tokens", data.valid_tokens, 0, INT64_MAX, 0, F_LATER | F_TOKEN,
            "token models: the last this many bytes validate; 0: valid_fraction"),
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
  ROW_ENUM(CF, "loss", train.loss, loss_names, TV_LOSS_CHOICE_AUTO, 0,
           "auto (the task's) | softmax_cross_entropy | mse | mae | huber | sigmoid_cross_entropy"),
  ROW_DOUBLE(CF, "huber_delta", train.huber_delta, 0, 1e6, 1.0, F_OPEN_LO,
             "huber: where the loss turns linear"),
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
           "a metric of the task: loss | accuracy | top5 | macro_f1 | mae | rmse | r2 | micro_f1 | map"
           " | bpc | perplexity (token models)"),
  ROW_ENUM(CF, "early_stop_mode", train.early_stop_mode, stop_mode_names, TV_STOP_AUTO, 0,
           "auto (min for loss) | min | max"),
  ROW_DOUBLE(CF, "early_stop_min_delta", train.early_stop_min_delta, 0, 1e9, 0, 0,
             "smallest change that counts as better"),
  ROW_BOOL(CF, "keep_best", train.keep_best, 0, F_LATER,
           "commit a checkpoint (reason best) at each validation improvement; retention keeps it"),
  ROW_BOOL(CF, "restore_best", train.restore_best, 0, F_LATER,
           "at the end, the final checkpoint gets the best checkpoint's variables (implies keep_best)"),
  ROW_INT(CF, "histogram_every", train.histogram_every, 0, INT_MAX, 0, 0,
          "steps between variable histograms; 0: off"),
  ROW_INT(CF, "prefetch", train.prefetch, 0, 64, 2, 0, "batches loaded ahead; 0: synchronous"),
  ROW_ENUM(CF, "windows", train.windows, windows_names, TV_WINDOWS_CONTIGUOUS, F_LATER | F_TOKEN,
           "token models: contiguous (state carried) | random (reset)"),
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

const section_desc tv_cfg_sections[] = {
  {"model", model_keys, COUNT(model_keys), 1},
  {"data", data_keys, COUNT(data_keys), 0},
  {"train", train_keys, COUNT(train_keys), 0},
  {"optimizer", optimizer_keys, COUNT(optimizer_keys), 0},
  {"retention", retention_keys, COUNT(retention_keys), 0},
};

/* Keys every layer accepts besides `type`.  The name's default (empty here) is filled in
 * read_layers: <type>_<k>, k counting the layers of that type from 1, named ones included. */
const key_desc tv_cfg_layer_common_keys[] = {
  ROW_STRING(LC, "name", name, NULL, F_IDENT | F_MODEL, "default <type>_<k>"),
  ROW_NAME_LIST(LC, "inputs", inputs, n_inputs, F_MODEL, "default: the previous layer"),
};

// clang-format on

const int tv_cfg_n_sections = COUNT(tv_cfg_sections);
const int tv_cfg_n_layer_common_keys = COUNT(tv_cfg_layer_common_keys);

#define KIND_NAME(c, n) [TV_LAYER_##c] = #n,
static const char *const kind_names[] = {TV_LAYER_KINDS(KIND_NAME)};
#undef KIND_NAME
_Static_assert(COUNT(kind_names) == TV_LAYER__COUNT, "one name per layer kind");
_Static_assert(sizeof(tv_layer_kind) == sizeof(int), "layer kinds are stored as int");

const char *tv_layer_kind_name(tv_layer_kind k) {
  if ((int)k < 0 || k >= TV_LAYER__COUNT) return "?";
  return kind_names[k];
}

const layer_kind_desc *tv_cfg_layer_kind(tv_layer_kind k) {
  static const layer_kind_desc none = {NULL, 0, 0, 0, 0};
  const layer_kind_desc *d = tv_layer_ops_for(k)->config;
  return d ? d : &none;
}

tv_shape tv_config_input_shape(const tv_config *c) {
  if (c->model.input[1] == 0 && c->model.input[2] == 0) return tv_shape1(c->model.input[0]);
  return tv_shape3(c->model.input[0], c->model.input[1], c->model.input[2]);
}

int tv_config_is_sequence(const tv_config *c) {
  return c->model.n_layers > 0 && c->model.layers[0].kind == TV_LAYER_EMBEDDING;
}

double tv_config_data_mean(const tv_config *c, int channel) {
  return c->data.n_mean > 0 && channel >= 0 && channel < c->data.n_mean ? c->data.mean_c[channel]
                                                                        : c->data.mean;
}

int tv_config_data_scale_is_auto(const tv_config *c) { return isnan(c->data.scale); }

double tv_config_data_scale(const tv_config *c, int uint8_features) {
  if (!tv_config_data_scale_is_auto(c)) return c->data.scale;
  return uint8_features ? 1.0 / 255 : 1.0;
}

double tv_config_data_std(const tv_config *c, int channel) {
  return c->data.n_std > 0 && channel >= 0 && channel < c->data.n_std ? c->data.std_c[channel]
                                                                      : c->data.std;
}

const key_desc *tv_cfg_find_key(const key_desc *keys, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (strcmp(keys[i].name, name) == 0) return &keys[i];
  return NULL;
}

const section_desc *tv_cfg_find_section(const char *name) {
  for (int s = 0; s < COUNT(tv_cfg_sections); s++)
    if (strcmp(tv_cfg_sections[s].name, name) == 0) return &tv_cfg_sections[s];
  return NULL;
}

void tv_cfg_list_sections(tv_text *t) {
  for (int s = 0; s < COUNT(tv_cfg_sections); s++)
    tv_text_printf(t, "%s%s", s ? ", " : "", tv_cfg_sections[s].name);
}

void tv_cfg_list_layer_kinds(tv_text *t) { tv_cfg_list_layer_kinds_for(t, 1); }

void tv_cfg_list_layer_kinds_for(tv_text *t, int tokens) {
  for (int k = 0, n = 0; k < TV_LAYER__COUNT; k++)
    if (tokens || !tv_cfg_layer_kind((tv_layer_kind)k)->token_only)
      tv_text_printf(t, "%s%s", n++ ? ", " : "", kind_names[k]);
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
  for (int s = 0; s < COUNT(tv_cfg_sections); s++)
    for (int k = 0; k < tv_cfg_sections[s].n_keys; k++)
      apply_default(&tv_cfg_sections[s].keys[k], c);
}

void tv_cfg_layer_defaults(tv_layer_config *l, tv_layer_kind kind) {
  memset(l, 0, sizeof *l);
  l->kind = kind;
  for (int k = 0; k < COUNT(tv_cfg_layer_common_keys); k++)
    apply_default(&tv_cfg_layer_common_keys[k], l);
  const layer_kind_desc *lk = tv_cfg_layer_kind(kind);
  for (int k = 0; k < lk->n_keys; k++) apply_default(&lk->keys[k], l);
}
