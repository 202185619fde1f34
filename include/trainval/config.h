/* config.h — the run configuration: YAML file -> typed, validated struct.
 *
 * Format (YAML 1.1 via libyaml), four sections, every key optional unless marked required:
 *
 *   model:                       # required
 *     input: [1, 28, 28]         # C, H, W of one example (required)
 *     num_classes: 10            # required
 *     layers:                    # required, a sequence; each item a mapping with `type`
 *       - {type: flatten}
 *       - {type: dense, units: 512, name: fc1}   # name optional: Keras-style dense_1, dense_2...
 *       - {type: relu}
 *       # A default name is <type>_<k>, k counting the layers of that type from 1, named ones
 *       # included (so naming one layer never renames another); a default that equals an
 *       # explicit name is refused.  `inputs: [a, b]` (or `inputs: a`) names earlier layers or
 *       # "input"; left out, a layer takes the previous one.
 *   data:
 *     dir: /usr/share/datasets/fashion-mnist
 *     train_images / train_labels / test_images / test_labels: file stems within dir
 *     valid_fraction: 0.1        # carved from train by a seeded shuffle
 *     split_seed: 1
 *     scale / mean / std: pixel -> (pixel * scale - mean) / std
 *   train:
 *     batch_size, epochs | steps, seed, summary_every, checkpoint_every, max_to_keep, log_every
 *   optimizer:
 *     type: sgd | adam; learning_rate; momentum; nesterov; beta1; beta2; epsilon;
 *     schedule: constant | cosine; warmup_steps; min_learning_rate
 *
 * Validation is table-driven (config.c): an unknown key, a wrong type, a value out of range, a
 * missing required key or a duplicate key is TV_ERR_CONFIG with the message
 * "<file>:<line>:<col>: <key>: <problem>".  Overrides `section.key=value` (and
 * `model.layers.<i>.key=value`) are applied to the parsed document before validation, so they
 * obey the same rules; errors in them are reported as "--set <text>: <problem>".
 *
 * Compatibility: keys are only ever added; a config written by an older trainval loads.
 */
#ifndef TRAINVAL_CONFIG_H
#define TRAINVAL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"

enum { TV_MAX_LAYERS = 64, TV_MAX_INPUTS = 4, TV_NAME_CAP = 64, TV_PATH_CAP = 1024 };

/* The layer kinds a config can name (`type:`).  The layer table in layers.c is indexed by it. */
typedef enum tv_layer_kind {
  TV_LAYER_DENSE,
  TV_LAYER_RELU,
  TV_LAYER_FLATTEN,
  TV_LAYER__COUNT
} tv_layer_kind;

/* Names as written in configs ("dense", "relu", "flatten"). */
const char *tv_layer_kind_name(tv_layer_kind k);

typedef struct tv_layer_config {
  tv_layer_kind kind;
  char name[TV_NAME_CAP];                  /* "" until tv_config_* fills Keras-style defaults */
  int n_inputs;                            /* 0: the previous layer (or the model input) */
  char inputs[TV_MAX_INPUTS][TV_NAME_CAP]; /* names of earlier layers, or "input" */
  int units;                               /* dense: output features (>= 1) */
  int use_bias;                            /* dense: 1 (default) or 0 */
  int line, col;                           /* where the item starts in the source (1-based) */
} tv_layer_config;

typedef enum tv_optim_kind { TV_OPTIM_SGD, TV_OPTIM_ADAM, TV_OPTIM__COUNT } tv_optim_kind;
typedef enum tv_schedule_kind {
  TV_SCHEDULE_CONSTANT,
  TV_SCHEDULE_COSINE,
  TV_SCHEDULE__COUNT
} tv_schedule_kind;

typedef struct tv_config {
  char source[TV_PATH_CAP]; /* file name used in messages */
  struct {
    int input[3]; /* C, H, W */
    int num_classes;
    int n_layers;
    tv_layer_config layers[TV_MAX_LAYERS];
  } model;
  struct {
    char dir[TV_PATH_CAP];
    char train_images[TV_NAME_CAP * 2], train_labels[TV_NAME_CAP * 2];
    char test_images[TV_NAME_CAP * 2], test_labels[TV_NAME_CAP * 2];
    double valid_fraction;   /* [0, 0.9] default 0.1 */
    uint64_t split_seed;     /* default 1 */
    double scale, mean, std; /* default 1/255, 0, 1 */
  } data;
  struct {
    int batch_size;       /* [1, 65536] default 128 */
    int epochs;           /* default 10 (used when steps is 0) */
    int64_t steps;        /* default 0: derived from epochs */
    uint64_t seed;        /* default 42 */
    int summary_every;    /* steps, default 100 */
    int checkpoint_every; /* steps, default 1000; 0 = only at the end */
    int max_to_keep;      /* default 5; 0 = keep all */
    int log_every;        /* steps, default 100 */
  } train;
  struct {
    tv_optim_kind type;           /* default adam */
    double learning_rate;         /* default 0.001 */
    double momentum;              /* sgd, default 0.9 */
    int nesterov;                 /* sgd, default 0 */
    double beta1, beta2, epsilon; /* adam, defaults 0.9 0.999 1e-8 */
    tv_schedule_kind schedule;    /* default constant */
    int64_t warmup_steps;         /* default 0 */
    double min_learning_rate;     /* cosine floor, default 0 */
  } optimizer;
} tv_config;

/* Fills c with every default (model empty).  Cannot fail. */
void tv_config_defaults(tv_config *c);

/* Parses YAML text (len bytes) named `source` in messages, applies n_sets overrides
 * ("section.key=value"), validates, fills defaults and default layer names.
 * source may be NULL ("<config>").  Errors: TV_ERR_CONFIG (message "source:line:col: key: problem"
 * or "--set ...: problem"), TV_ERR_NOMEM.  On failure *c holds defaults only. */
TV_MUST_CHECK int tv_config_parse(const char *text, size_t len, const char *source,
                                  const char *const *sets, int n_sets, tv_config *c);

/* Reads path and calls tv_config_parse.  Errors also: TV_ERR_NOT_FOUND / TV_ERR_IO naming path. */
TV_MUST_CHECK int tv_config_load(const char *path, const char *const *sets, int n_sets,
                                 tv_config *c);

/* The effective config as YAML text that tv_config_parse reads back to an equal struct
 * (every key written, defaults included).  *text is malloc'd, NUL-terminated; caller frees.
 * Errors: TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_config_emit(const tv_config *c, char **text, size_t *len);

/* Compares the parts that fix variable names and shapes (model section).  Returns 1 if they
 * agree; otherwise 0 and a "; "-separated list of differences in diff (cap bytes). */
int tv_config_same_model(const tv_config *a, const tv_config *b, char *diff, size_t cap);

#endif
