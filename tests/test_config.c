/* test_config.c — the config module: parsing every key, defaults, each validation error (code
 * and message with line:col), --set overrides, emit -> parse round trip, model comparison, and
 * configs/fashion_mlp.yaml.  Run from the repository root (the path of the shipped config). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainval/config.h"
#include "trainval/pipeline.h"

/* A valid model section, 6 lines: text appended to it starts at line 7. */
#define MODEL                                                                                      \
  "model:\n"                                                                                       \
  "  input: [1, 28, 28]\n"                                                                         \
  "  num_classes: 10\n"                                                                            \
  "  layers:\n"                                                                                    \
  "    - {type: flatten}\n"                                                                        \
  "    - {type: dense, units: 10}\n"

static int parse(const char *yaml, tv_config *c) {
  return tv_config_parse(yaml, strlen(yaml), "t.yaml", NULL, 0, c);
}

static int parse_sets(const char *yaml, const char *const *sets, int n, tv_config *c) {
  return tv_config_parse(yaml, strlen(yaml), "t.yaml", sets, n, c);
}

static void assert_message_has(const char *needle) {
  const char *msg = tv_error_message();
  if (!strstr(msg, needle)) fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
}

static void assert_message_starts(const char *prefix) {
  const char *msg = tv_error_message();
  if (strncmp(msg, prefix, strlen(prefix)) != 0)
    fail_msg("message \"%s\" does not start with \"%s\"", msg, prefix);
}

/* The text must fail with TV_ERR_CONFIG, a message holding each needle, and defaults left. */
static void expect_error(const char *yaml, const char *needle1, const char *needle2) {
  tv_config c;
  assert_int_equal(parse(yaml, &c), TV_ERR_CONFIG);
  assert_message_starts("t.yaml");
  assert_message_has(needle1);
  if (needle2) assert_message_has(needle2);
  assert_null(strchr(tv_error_message(), '\n'));
  assert_int_equal(c.model.n_layers, 0);
  assert_int_equal(c.train.batch_size, 128);
}

static void test_full_config(void **state) {
  (void)state;
  const char *yaml = "model:\n"
                     "  input: [3, 32, 30]\n"
                     "  num_classes: 7\n"
                     "  layers:\n"
                     "    - {type: flatten, name: flat}\n"
                     "    - {type: dense, units: 300, use_bias: no, inputs: [flat]}\n"
                     "    - type: relu\n"
                     "      inputs: dense_1\n"
                     "    - {type: dense, units: 7, name: logits, use_bias: yes}\n"
                     "data:\n"
                     "  dir: \"/data/my set\"\n"
                     "  train_images: a\n"
                     "  train_labels: b\n"
                     "  test_images: c\n"
                     "  test_labels: d\n"
                     "  valid_fraction: 0.25\n"
                     "  split_seed: 18446744073709551615\n"
                     "  scale: 0.5\n"
                     "  mean: -0.125\n"
                     "  std: 2.5e-1\n"
                     "train:\n"
                     "  batch_size: 64\n"
                     "  epochs: 3\n"
                     "  steps: 5000000000\n"
                     "  seed: 7\n"
                     "  summary_every: 10\n"
                     "  checkpoint_every: 0\n"
                     "  max_to_keep: 0\n"
                     "  log_every: 20\n"
                     "optimizer:\n"
                     "  type: sgd\n"
                     "  learning_rate: 0.05\n"
                     "  momentum: 0.95\n"
                     "  nesterov: true\n"
                     "  beta1: 0.8\n"
                     "  beta2: 0.99\n"
                     "  epsilon: 1e-6\n"
                     "  schedule: cosine\n"
                     "  warmup_steps: 100\n"
                     "  min_learning_rate: 0.001\n";
  tv_config c;
  assert_int_equal(parse(yaml, &c), TV_OK);
  assert_string_equal(c.source, "t.yaml");
  assert_int_equal(c.model.input[0], 3);
  assert_int_equal(c.model.input[1], 32);
  assert_int_equal(c.model.input[2], 30);
  assert_int_equal(c.model.num_classes, 7);
  assert_int_equal(c.model.n_layers, 4);
  const tv_layer_config *l = c.model.layers;
  assert_int_equal(l[0].kind, TV_LAYER_FLATTEN);
  assert_string_equal(l[0].name, "flat");
  assert_int_equal(l[0].n_inputs, 0);
  assert_int_equal(l[0].line, 5);
  assert_int_equal(l[0].col, 7);
  assert_int_equal(l[1].kind, TV_LAYER_DENSE);
  assert_string_equal(l[1].name, "dense_1");
  assert_int_equal(l[1].units, 300);
  assert_int_equal(l[1].use_bias, 0);
  assert_int_equal(l[1].n_inputs, 1);
  assert_string_equal(l[1].inputs[0], "flat");
  assert_int_equal(l[2].kind, TV_LAYER_RELU);
  assert_string_equal(l[2].name, "relu_1");
  assert_int_equal(l[2].n_inputs, 1);
  assert_string_equal(l[2].inputs[0], "dense_1");
  assert_int_equal(l[2].line, 7);
  assert_int_equal(l[3].units, 7);
  assert_int_equal(l[3].use_bias, 1);
  assert_string_equal(l[3].name, "logits");
  assert_string_equal(c.data.dir, "/data/my set");
  assert_string_equal(c.data.train_images, "a");
  assert_string_equal(c.data.train_labels, "b");
  assert_string_equal(c.data.test_images, "c");
  assert_string_equal(c.data.test_labels, "d");
  assert_true(c.data.valid_fraction == 0.25);
  assert_true(c.data.split_seed == UINT64_MAX);
  assert_true(c.data.scale == 0.5);
  assert_true(c.data.mean == -0.125);
  assert_true(c.data.std == 0.25);
  assert_int_equal(c.train.batch_size, 64);
  assert_int_equal(c.train.epochs, 3);
  assert_true(c.train.steps == 5000000000LL);
  assert_true(c.train.seed == 7);
  assert_int_equal(c.train.summary_every, 10);
  assert_int_equal(c.train.checkpoint_every, 0);
  assert_int_equal(c.train.max_to_keep, 0);
  assert_int_equal(c.train.log_every, 20);
  assert_int_equal(c.optimizer.type, TV_OPTIM_SGD);
  assert_true(c.optimizer.learning_rate == 0.05);
  assert_true(c.optimizer.momentum == 0.95);
  assert_int_equal(c.optimizer.nesterov, 1);
  assert_true(c.optimizer.beta1 == 0.8);
  assert_true(c.optimizer.beta2 == 0.99);
  assert_true(c.optimizer.epsilon == 1e-6);
  assert_int_equal(c.optimizer.schedule, TV_SCHEDULE_COSINE);
  assert_true(c.optimizer.warmup_steps == 100);
  assert_true(c.optimizer.min_learning_rate == 0.001);
}

static void check_defaults(const tv_config *c) {
  assert_string_equal(c->data.dir, "/usr/share/datasets/fashion-mnist");
  assert_string_equal(c->data.train_images, "train-images-idx3-ubyte");
  assert_string_equal(c->data.train_labels, "train-labels-idx1-ubyte");
  assert_string_equal(c->data.test_images, "t10k-images-idx3-ubyte");
  assert_string_equal(c->data.test_labels, "t10k-labels-idx1-ubyte");
  assert_true(c->data.valid_fraction == 0.1);
  assert_true(c->data.split_seed == 1);
  /* scale auto: uint8 data gets 1/255 as before, float data 1 */
  assert_true(tv_config_data_scale_is_auto(c));
  assert_true(tv_config_data_scale(c, 1) == 1.0 / 255);
  assert_true(tv_config_data_scale(c, 0) == 1.0);
  assert_true(c->data.mean == 0);
  assert_true(c->data.std == 1);
  assert_int_equal(c->train.batch_size, 128);
  assert_int_equal(c->train.epochs, 10);
  assert_true(c->train.steps == 0);
  assert_true(c->train.seed == 42);
  assert_int_equal(c->train.summary_every, 100);
  assert_int_equal(c->train.checkpoint_every, 1000);
  assert_int_equal(c->train.max_to_keep, 5);
  assert_int_equal(c->train.log_every, 100);
  assert_int_equal(c->optimizer.type, TV_OPTIM_ADAM);
  assert_true(c->optimizer.learning_rate == 0.001);
  assert_true(c->optimizer.momentum == 0.9);
  assert_int_equal(c->optimizer.nesterov, 0);
  assert_true(c->optimizer.beta1 == 0.9);
  assert_true(c->optimizer.beta2 == 0.999);
  assert_true(c->optimizer.epsilon == 1e-8);
  assert_int_equal(c->optimizer.schedule, TV_SCHEDULE_CONSTANT);
  assert_true(c->optimizer.warmup_steps == 0);
  assert_true(c->optimizer.min_learning_rate == 0);
}

static void test_defaults(void **state) {
  (void)state;
  tv_config c;
  tv_config_defaults(&c);
  check_defaults(&c);
  assert_int_equal(c.model.n_layers, 0);
  assert_string_equal(c.source, "");

  assert_int_equal(parse(MODEL "data:\ntrain: {}\n", &c), TV_OK);
  check_defaults(&c);
  assert_int_equal(c.model.n_layers, 2);
  assert_string_equal(c.model.layers[0].name, "flatten_1");
  assert_string_equal(c.model.layers[1].name, "dense_1");
  assert_int_equal(c.model.layers[1].use_bias, 1);
  assert_int_equal(c.model.layers[1].n_inputs, 0);
}

static void test_default_names(void **state) {
  (void)state;
  tv_config c;
  assert_int_equal(parse("model:\n  input: [1, 2, 2]\n  num_classes: 2\n  layers:\n"
                         "    - {type: flatten}\n    - {type: dense, units: 4, name: fc}\n"
                         "    - {type: relu}\n    - {type: dense, units: 3}\n"
                         "    - {type: relu}\n    - {type: dense, units: 2}\n",
                         &c),
                   TV_OK);
  const char *want[] = {"flatten_1", "fc", "relu_1", "dense_2", "relu_2", "dense_3"};
  for (int i = 0; i < 6; i++) assert_string_equal(c.model.layers[i].name, want[i]);
  /* A default colliding with an explicit name is refused, naming both layers. */
  expect_error("model:\n  input: [1, 2, 2]\n  num_classes: 2\n  layers:\n"
               "    - {type: dense, units: 2, name: dense_2}\n    - {type: dense, units: 2}\n",
               "t.yaml:6:7: model.layers[1].name: duplicate layer name 'dense_2' by default",
               "model.layers[0]");
}

static void test_error_unknown_key(void **state) {
  (void)state;
  expect_error(MODEL "train:\n  batch_size: 4\n  bach_size: 5\n",
               "t.yaml:9:3: train.bach_size: unknown key (allowed: batch_size, epochs", NULL);
  expect_error(MODEL "optimizer: {type: adam, lr: 0.1}\n", "t.yaml:7:25: optimizer.lr: unknown key",
               "learning_rate");
}

static void test_error_unknown_section(void **state) {
  (void)state;
  expect_error(
      MODEL "trian:\n  batch_size: 4\n",
      "t.yaml:7:1: trian: unknown section (allowed: model, data, train, optimizer, retention)",
      NULL);
}

static void test_error_wrong_type(void **state) {
  (void)state;
  expect_error(MODEL "train:\n  batch_size: abc\n",
               "t.yaml:8:15: train.batch_size: expected an integer, got 'abc'", NULL);
  expect_error(MODEL "train:\n  batch_size: 12x\n", "8:15: train.batch_size", "got '12x'");
  expect_error(MODEL "train:\n  batch_size: 1.5\n", "8:15", "expected an integer");
  expect_error(MODEL "train:\n  batch_size: [1]\n", "8:15", "expected an integer, got a sequence");
  expect_error(MODEL "train:\n  batch_size:\n", "8:14", "expected an integer, got nothing");
  expect_error(MODEL "optimizer:\n  nesterov: maybe\n",
               "t.yaml:8:13: optimizer.nesterov: expected true or false, got 'maybe'", NULL);
  expect_error(MODEL "optimizer:\n  learning_rate: 0.1abc\n",
               "8:18: optimizer.learning_rate: expected a number, got '0.1abc'", NULL);
  expect_error(MODEL "optimizer:\n  learning_rate: nan\n", "8:18", "must be a finite number");
  expect_error(MODEL "optimizer:\n  learning_rate: inf\n", "8:18", "must be a finite number");
  expect_error(MODEL "optimizer:\n  learning_rate: 1e999\n", "8:18", "must be a finite number");
  expect_error(MODEL "optimizer:\n  type: rmsprop\n",
               "8:9: optimizer.type: expected one of sgd, adam, adamw, got 'rmsprop'", NULL);
  expect_error(MODEL "data:\n  dir: [a, b]\n", "8:8: data.dir: expected a string", NULL);
  expect_error(MODEL "data:\n  split_seed: -1\n", "8:15: data.split_seed", "non-negative");
  expect_error("model:\n  input: [1, 28]\n  num_classes: 10\n  layers: [{type: relu}]\n",
               "t.yaml:2:10: model.input: expected a list of 3 integers, got 2", NULL);
  expect_error("model:\n  input: [1, x, 28]\n  num_classes: 10\n  layers: [{type: relu}]\n",
               "t.yaml:2:14: model.input[1]: expected an integer, got 'x'", NULL);
  expect_error("model:\n  input: 784\n  num_classes: 10\n  layers: [{type: relu}]\n",
               "2:10: model.input: expected a list of 3 integers", "got '784'");
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 10\n  layers: {type: relu}\n",
               "4:11: model.layers: expected a sequence of layers, got a mapping", NULL);
}

static void test_error_range(void **state) {
  (void)state;
  expect_error(MODEL "train:\n  batch_size: 0\n",
               "t.yaml:8:15: train.batch_size: must be in [1, 65536], got 0", NULL);
  expect_error(MODEL "train:\n  batch_size: 99999999999999999999999\n",
               "8:15: train.batch_size: must be in [1, 65536], got 9999", NULL);
  expect_error(MODEL "train:\n  steps: 9223372036854775808\n", "8:10: train.steps: must be in",
               NULL);
  expect_error(MODEL "data:\n  valid_fraction: 0.95\n",
               "8:19: data.valid_fraction: must be in [0.0, 0.9], got 0.95", NULL);
  expect_error(MODEL "data:\n  std: 0\n", "8:8: data.std: must be in (0.0, ", NULL);
  expect_error(MODEL "optimizer:\n  beta2: 1\n", "8:10: optimizer.beta2: must be in [0.0, 1.0)",
               NULL);
  expect_error(MODEL "optimizer: {learning_rate: 0.01, min_learning_rate: 0.1}\n",
               "7:53: optimizer.min_learning_rate: must not exceed learning_rate", NULL);
  expect_error("model:\n  input: [1, 0, 28]\n  num_classes: 10\n  layers: [{type: relu}]\n",
               "2:14: model.input[1]: must be in [1, 65536], got 0", NULL);
  expect_error("model:\n  input: [1, 2, 2]\n  num_classes: 10\n  layers:\n"
               "    - {type: dense, units: 0}\n",
               "t.yaml:5:28: model.layers[0].units: must be in [1, ", NULL);
}

static void test_error_missing(void **state) {
  (void)state;
  expect_error("model:\n  input: [1, 1, 1]\n  layers: [{type: relu}]\n",
               "t.yaml:2:3: model.num_classes: missing required key", NULL);
  expect_error("train:\n  batch_size: 4\n", "t.yaml:1:1: model: missing required section", NULL);
  expect_error("", "t.yaml:1:1: model: missing required section", NULL);
  expect_error("# only a comment\n", "t.yaml:1:1: model: missing required section", NULL);
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n    - {units: 4}\n",
               "t.yaml:5:7: model.layers[0].type: missing required key", NULL);
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n    - {type: dense}\n",
               "t.yaml:5:7: model.layers[0].units: missing required key", NULL);
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers: []\n",
               "t.yaml:4:11: model.layers: must list at least one layer", NULL);
}

static void test_error_duplicate_key(void **state) {
  (void)state;
  expect_error(MODEL "train:\n  epochs: 4\n  seed: 1\n  epochs: 5\n",
               "t.yaml:10:3: train.epochs: duplicate key (first at line 8)", NULL);
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n"
               "    - {type: dense, units: 4, units: 5}\n",
               "t.yaml:5:31: model.layers[0].units: duplicate key (first at line 5)", NULL);
  expect_error(MODEL "train: {}\ntrain: {}\n", "t.yaml:8:1: train: duplicate key", NULL);
}

static void test_error_layers(void **state) {
  (void)state;
  /* Unknown layer type: the known ones are listed. */
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n"
               "    - {type: flatten}\n    - {type: conv9}\n",
               "t.yaml:6:14: model.layers[1].type: unknown layer type 'conv9' "
               "(known: dense, relu, flatten, conv2d, max_pool2d, avg_pool2d, global_avg_pool, "
               "batch_norm, dropout, leaky_relu, elu, gelu, sigmoid, tanh, softmax, add, "
               "embedding, lstm, gru)",
               NULL);
  /* A key the kind does not take. */
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n"
               "    - {type: relu, units: 4}\n",
               "t.yaml:5:20: model.layers[0].units: unknown key for relu (allowed: type, name, "
               "inputs)",
               NULL);
  /* An item that is not a mapping. */
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n    - relu\n",
               "t.yaml:5:7: model.layers[0]: expected a mapping", "got 'relu'");
  /* A section that is not a mapping. */
  expect_error(MODEL "train: [1, 2]\n", "t.yaml:7:8: train: expected a mapping", "a sequence");
  expect_error("- model\n", "t.yaml:1:1: top level: expected a mapping of sections", NULL);
  /* Duplicate explicit names. */
  expect_error(
      "model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n"
      "    - {type: dense, units: 4, name: fc}\n"
      "    - {type: relu}\n"
      "    - {type: dense, units: 2, name: fc}\n",
      "t.yaml:7:37: model.layers[2].name: duplicate layer name 'fc' (also model.layers[0])", NULL);
  /* Names: characters and the reserved "input". */
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n"
               "    - {type: relu, name: 'a b'}\n",
               "t.yaml:5:26: model.layers[0].name: must use only [A-Za-z0-9_.-]", NULL);
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n"
               "    - {type: relu, name: input}\n",
               "5:26: model.layers[0].name: 'input' is reserved", NULL);
  /* inputs naming a later layer, an unknown one, itself; too many for the kind. */
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n"
               "    - {type: flatten}\n"
               "    - {type: dense, units: 4, inputs: [relu_1]}\n"
               "    - {type: relu}\n",
               "t.yaml:6:40: model.layers[1].inputs: layer dense_1: 'relu_1' is model.layers[2], "
               "not an earlier layer (inputs name earlier layers only, so the graph cannot have a "
               "cycle)",
               NULL);
  expect_error(
      "model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n"
      "    - {type: flatten, inputs: nope}\n",
      "t.yaml:5:31: model.layers[0].inputs: layer flatten_1: 'nope' names no earlier layer", NULL);
  expect_error(
      "model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n"
      "    - {type: flatten, name: f, inputs: f}\n",
      "5:40: model.layers[0].inputs: layer f: 'f' is model.layers[0], not an earlier layer", NULL);
  expect_error("model:\n  input: [1, 1, 1]\n  num_classes: 2\n  layers:\n"
               "    - {type: flatten}\n"
               "    - {type: relu, inputs: [input, flatten_1]}\n",
               "t.yaml:6:28: model.layers[1].inputs: relu takes 1 input, got 2", NULL);
}

static void test_error_malformed_yaml(void **state) {
  (void)state;
  tv_config c;
  /* Bad indentation: a key less indented than its siblings. */
  assert_int_equal(parse("model:\n  input: [1, 1, 1]\n num_classes: 2\n", &c), TV_ERR_CONFIG);
  assert_message_starts("t.yaml:3:2: ");
  assert_message_has("(while parsing");
  assert_null(strchr(tv_error_message(), '\n'));
  /* An unclosed flow sequence. */
  assert_int_equal(parse("model:\n  input: [1, 28, 28\n  num_classes: 10\n", &c), TV_ERR_CONFIG);
  assert_message_starts("t.yaml:3:");
  assert_message_has("did not find expected ',' or ']' (while parsing a flow sequence at 2:10)");
  /* A tab where indentation is expected. */
  assert_int_equal(parse("model:\n\tinput: 1\n", &c), TV_ERR_CONFIG);
  assert_message_starts("t.yaml:2:");
  /* Two documents. */
  assert_int_equal(parse(MODEL "---\nmodel: {}\n", &c), TV_ERR_CONFIG);
  assert_message_has("t.yaml:8:1: more than one YAML document");
  assert_int_equal(c.train.batch_size, 128);
}

static void test_override_scalar(void **state) {
  (void)state;
  tv_config c;
  const char *sets[] = {"train.batch_size=64", "optimizer.learning_rate = 0.5", "data.dir=/tmp/x y",
                        "optimizer.type=sgd"};
  assert_int_equal(parse_sets(MODEL "train:\n  batch_size: 32\n", sets, 4, &c), TV_OK);
  assert_int_equal(c.train.batch_size, 64);
  assert_true(c.optimizer.learning_rate == 0.5);
  assert_string_equal(c.data.dir, "/tmp/x y"); /* data: was absent: created */
  assert_int_equal(c.optimizer.type, TV_OPTIM_SGD);
  /* An empty section is filled too, and later overrides win. */
  const char *again[] = {"train.epochs=2", "train.epochs=3"};
  assert_int_equal(parse_sets(MODEL "train:\n", again, 2, &c), TV_OK);
  assert_int_equal(c.train.epochs, 3);
}

static void test_override_layer_and_list(void **state) {
  (void)state;
  tv_config c;
  const char *sets[] = {"model.layers.1.units=256", "model.input=[3,32,32]",
                        "model.layers.1.name=fc", "model.layers.1.use_bias=false"};
  assert_int_equal(parse_sets(MODEL, sets, 4, &c), TV_OK);
  assert_int_equal(c.model.layers[1].units, 256);
  assert_string_equal(c.model.layers[1].name, "fc");
  assert_int_equal(c.model.layers[1].use_bias, 0);
  assert_int_equal(c.model.input[0], 3);
  assert_int_equal(c.model.input[1], 32);
  assert_int_equal(c.model.input[2], 32);
  /* Replacing a whole layer item with a flow mapping. */
  const char *item[] = {"model.layers.1={type: dense, units: 5, inputs: [input]}"};
  assert_int_equal(parse_sets(MODEL, item, 1, &c), TV_OK);
  assert_int_equal(c.model.layers[1].units, 5);
  assert_string_equal(c.model.layers[1].inputs[0], "input");
  /* Line/col of an item stay those of the file. */
  assert_int_equal(c.model.layers[0].line, 5);
  assert_int_equal(c.model.layers[1].line, 0);
}

static void expect_set_error(const char *set, const char *needle) {
  tv_config c;
  const char *sets[] = {set};
  char prefix[300];
  snprintf(prefix, sizeof prefix, "--set %s: ", set);
  assert_int_equal(parse_sets(MODEL "train:\n  batch_size: 32\n", sets, 1, &c), TV_ERR_CONFIG);
  assert_message_starts(prefix);
  assert_message_has(needle);
  assert_int_equal(c.train.batch_size, 128);
}

static void test_override_errors(void **state) {
  (void)state;
  expect_set_error("train.batch_size=0", "train.batch_size: must be in [1, 65536], got 0");
  expect_set_error("train.batch_size=abc", "expected an integer, got 'abc'");
  expect_set_error("model.input=[1,2]", "model.input: expected a list of 3 integers, got 2");
  expect_set_error("model.input=[1,x,3]", "model.input[1]: expected an integer, got 'x'");
  expect_set_error("model.input=[1,2", "did not find expected ',' or ']'");
  expect_set_error("train.bogus=1", "train.bogus: unknown key (allowed: batch_size");
  expect_set_error("model.layers.0.units=4", "model.layers[0].units: unknown key for flatten");
  expect_set_error("model.layers.1.name=flatten_1", "duplicate layer name 'flatten_1'");
  expect_set_error("train.batch_size", "expected key=value");
  expect_set_error("trian.batch_size=4", "unknown section 'trian' (allowed: model, data");
  expect_set_error("train=4", "expected section.key=value");
  expect_set_error("train..seed=4", "empty part");
  expect_set_error("model.layers.2.units=4", "index '2' out of range (2 items)");
  expect_set_error("model.layers.x.units=4", "index 'x' out of range");
  expect_set_error("train.batch_size.x=4", "not a mapping or a list");
  expect_set_error("model.nothing.x=4", "'nothing' is not in the config");
  /* An override's error names the override even when the file is also wrong later. */
  tv_config c;
  const char *sets[] = {"train.seed=-3"};
  assert_int_equal(parse_sets(MODEL "train:\n  seed: 1\n", sets, 1, &c), TV_ERR_CONFIG);
  assert_message_starts("--set train.seed=-3: train.seed: expected a non-negative integer");
}

static void zero_positions(tv_config *c) {
  memset(c->source, 0, sizeof c->source);
  for (int i = 0; i < TV_MAX_LAYERS; i++) c->model.layers[i].line = c->model.layers[i].col = 0;
}

static void roundtrip(const tv_config *a) {
  char *text;
  size_t len;
  tv_config b, a0 = *a;
  assert_int_equal(tv_config_emit(a, &text, &len), TV_OK);
  assert_int_equal(strlen(text), len);
  int rc = tv_config_parse(text, len, "emitted.yaml", NULL, 0, &b);
  if (rc) fail_msg("%s\n%s", tv_error_message(), text);
  zero_positions(&a0);
  zero_positions(&b);
  if (memcmp(&a0, &b, sizeof b) != 0) fail_msg("round trip differs:\n%s", text);
  /* Emitting again gives the same text. */
  char *text2;
  size_t len2;
  assert_int_equal(tv_config_emit(&b, &text2, &len2), TV_OK);
  assert_string_equal(text, text2);
  free(text2);
  free(text);
}

static void test_emit_roundtrip(void **state) {
  (void)state;
  tv_config c;
  assert_int_equal(parse(MODEL, &c), TV_OK);
  roundtrip(&c);

  const char *yaml =
      "model:\n"
      "  input: [3, 5, 7]\n"
      "  num_classes: 3\n"
      "  layers:\n"
      "    - {type: flatten}\n"
      "    - {type: dense, units: 9, name: a.b-c_1, use_bias: false}\n"
      "    - {type: relu, inputs: [a.b-c_1]}\n"
      "    - {type: dense, units: 3, inputs: input}\n"
      "data:\n"
      "  dir: \"/tmp/we \\\"ird\\\" dir: #x\\\\\"\n"
      "  train_images: \"null\"\n"
      "  train_labels: \"123\"\n"
      "  test_images: \"true\"\n"
      "  test_labels: \"-x\"\n"
      "  valid_fraction: 0.1\n"
      "  split_seed: 18446744073709551615\n"
      "  mean: 0.1307\n"
      "  std: 0.3081\n"
      "train: {steps: 9223372036854775807}\n"
      "optimizer: {learning_rate: 3e-4, epsilon: 1e-12, beta2: 0.9999999999999999}\n";
  assert_int_equal(parse(yaml, &c), TV_OK);
  assert_string_equal(c.data.dir, "/tmp/we \"ird\" dir: #x\\");
  c.data.scale = 1.0 / 3; /* a double that needs 17 digits */
  c.data.mean = -0.0;
  roundtrip(&c);

  char *text;
  size_t len;
  assert_int_equal(tv_config_emit(&c, &text, &len), TV_OK);
  if (!strstr(text, "    - {type: dense, name: a.b-c_1, units: 9, use_bias: false}\n"))
    fail_msg("no dense line in:\n%s", text);
  if (!strstr(text, "    - {type: relu, name: relu_1, inputs: [a.b-c_1]}\n"))
    fail_msg("no relu line in:\n%s", text);
  if (!strstr(text, "  batch_size: 128")) fail_msg("no default batch_size in:\n%s", text);
  if (!strstr(text, "  learning_rate: 0.0003")) fail_msg("no learning_rate in:\n%s", text);
  free(text);
}

static void test_same_settings(void **state) {
  (void)state;
  tv_config a, b;
  char diff[256];
  assert_int_equal(parse(MODEL, &a), TV_OK);
  const char *units[] = {"model.layers.1.units=256"};
  assert_int_equal(parse_sets(MODEL, units, 1, &b), TV_OK);
  assert_int_equal(tv_config_same_settings(&a, &b, diff, sizeof diff),
                   1); /* model keys: not here */
  assert_string_equal(diff, "");
  const char *lr[] = {"optimizer.learning_rate=0.1", "train.batch_size=7"};
  assert_int_equal(parse_sets(MODEL, lr, 2, &b), TV_OK);
  assert_int_equal(tv_config_same_settings(&a, &b, diff, sizeof diff), 0);
  assert_non_null(strstr(diff, "train.batch_size: 128 -> 7"));
  assert_non_null(strstr(diff, "optimizer.learning_rate: "));
  assert_non_null(strstr(diff, " -> 0.1"));
}

static void test_same_model(void **state) {
  (void)state;
  tv_config a, b;
  char diff[256];
  assert_int_equal(parse(MODEL, &a), TV_OK);
  const char *lr[] = {"optimizer.learning_rate=0.1", "train.batch_size=7", "data.std=2"};
  assert_int_equal(parse_sets(MODEL, lr, 3, &b), TV_OK);
  assert_int_equal(tv_config_same_model(&a, &b, diff, sizeof diff), 1);
  assert_string_equal(diff, "");

  const char *units[] = {"model.layers.1.units=256"};
  assert_int_equal(parse_sets(MODEL, units, 1, &b), TV_OK);
  assert_int_equal(tv_config_same_model(&a, &b, diff, sizeof diff), 0);
  assert_string_equal(diff, "model.layers[1].units: 10 -> 256");

  const char *more[] = {"model.input=[1,28,29]", "model.layers.1.use_bias=false",
                        "model.layers.0.name=f"};
  assert_int_equal(parse_sets(MODEL, more, 3, &b), TV_OK);
  assert_int_equal(tv_config_same_model(&a, &b, diff, sizeof diff), 0);
  assert_string_equal(diff, "model.input: [1, 28, 28] -> [1, 28, 29]; "
                            "model.layers[0].name: flatten_1 -> f; "
                            "model.layers[1].use_bias: true -> false");
  /* A short buffer is cut, not overrun; NULL is allowed. */
  char small[8];
  assert_int_equal(tv_config_same_model(&a, &b, small, sizeof small), 0);
  assert_string_equal(small, "model.i");
  assert_int_equal(tv_config_same_model(&a, &b, NULL, 0), 0);

  assert_int_equal(
      parse("model:\n  input: [1, 28, 28]\n  num_classes: 10\n  layers:\n"
            "    - {type: flatten}\n    - {type: relu}\n    - {type: dense, units: 10}\n",
            &b),
      TV_OK);
  assert_int_equal(tv_config_same_model(&a, &b, diff, sizeof diff), 0);
  assert_string_equal(diff,
                      "model.layers: 2 layers -> 3 layers; model.layers[1].type: dense -> relu");
}

static void test_load(void **state) {
  (void)state;
  char path[] = "/tmp/tv_test_config_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  const char *yaml = MODEL "train:\n  epochs: 2\n";
  assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
  assert_int_equal(close(fd), 0);
  tv_config c;
  assert_int_equal(tv_config_load(path, NULL, 0, &c), TV_OK);
  assert_int_equal(c.train.epochs, 2);
  assert_string_equal(c.source, path);

  /* Errors name the file. */
  const char *sets[] = {"train.epochs=0"};
  assert_int_equal(tv_config_load(path, sets, 1, &c), TV_ERR_CONFIG);
  assert_message_starts("--set train.epochs=0: train.epochs: must be in [1, ");
  assert_int_equal(unlink(path), 0);

  assert_int_equal(tv_config_load(path, NULL, 0, &c), TV_ERR_NOT_FOUND);
  assert_message_has(path);
  assert_int_equal(c.train.batch_size, 128);
}

static void test_fashion_mlp(void **state) {
  (void)state;
  tv_config c;
  int rc = tv_config_load("configs/fashion_mlp.yaml", NULL, 0, &c);
  if (rc) fail_msg("%s (run from the repository root)", tv_error_message());
  assert_int_equal(c.model.input[0], 1);
  assert_int_equal(c.model.input[1], 28);
  assert_int_equal(c.model.input[2], 28);
  assert_int_equal(c.model.num_classes, 10);
  assert_int_equal(c.model.n_layers, 6);
  const tv_layer_kind kinds[] = {TV_LAYER_FLATTEN, TV_LAYER_DENSE, TV_LAYER_RELU,
                                 TV_LAYER_DENSE,   TV_LAYER_RELU,  TV_LAYER_DENSE};
  const char *names[] = {"flatten_1", "dense_1", "relu_1", "dense_2", "relu_2", "dense_3"};
  const int units[] = {0, 512, 0, 256, 0, 10};
  for (int i = 0; i < 6; i++) {
    assert_int_equal(c.model.layers[i].kind, kinds[i]);
    assert_string_equal(c.model.layers[i].name, names[i]);
    assert_int_equal(c.model.layers[i].units, units[i]);
  }
  assert_string_equal(c.data.dir, "/usr/share/datasets/fashion-mnist");
  assert_true(c.data.valid_fraction == 0.1);
  assert_int_equal(c.train.batch_size, 128);
  assert_int_equal(c.train.epochs, 10);
  assert_true(c.train.seed == 42);
  assert_int_equal(c.train.summary_every, 100);
  assert_int_equal(c.train.checkpoint_every, 1000);
  assert_int_equal(c.train.max_to_keep, 5);
  assert_int_equal(c.optimizer.type, TV_OPTIM_ADAM);
  assert_true(c.optimizer.learning_rate == 0.001);
  assert_int_equal(c.optimizer.schedule, TV_SCHEDULE_COSINE);
  assert_true(c.optimizer.warmup_steps == 200);
  assert_true(c.optimizer.min_learning_rate == 0.00001);
  roundtrip(&c);
}

/* ---- keys added for CNNs, training extras and retention ------------------------------------ */

/* Every layer kind with every key it takes, written in each accepted form. */
#define CNN_MODEL                                                                                  \
  "model:\n"                                                                                       \
  "  input: [3, 16, 16]\n"                                                                         \
  "  num_classes: 4\n"                                                                             \
  "  layers:\n"                                                                                    \
  "    - {type: conv2d, filters: 8, kernel_size: 3, padding: same, name: c1}\n"                    \
  "    - {type: batch_norm, momentum: 0.99, epsilon: 0.001}\n"                                     \
  "    - {type: relu, name: r1}\n"                                                                 \
  "    - {type: conv2d, filters: 8, kernel_size: [3, 1], strides: [1, 1], padding: [1, 0],\n"      \
  "       use_bias: false}\n"                                                                      \
  "    - {type: add, inputs: [r1, conv2d_2]}\n"                                                    \
  "    - {type: leaky_relu, alpha: 0.2}\n"                                                         \
  "    - {type: max_pool2d, pool_size: 2}\n"                                                       \
  "    - {type: avg_pool2d, pool_size: [3, 2], strides: 1, padding: 1}\n"                          \
  "    - {type: elu}\n"                                                                            \
  "    - {type: gelu}\n"                                                                           \
  "    - {type: sigmoid}\n"                                                                        \
  "    - {type: tanh}\n"                                                                           \
  "    - {type: global_avg_pool}\n"                                                                \
  "    - {type: dropout, rate: 0.25}\n"                                                            \
  "    - {type: dense, units: 4}\n"                                                                \
  "    - {type: softmax}\n"

static void test_cnn_layers(void **state) {
  (void)state;
  tv_config c;
  int rc = parse(CNN_MODEL, &c);
  if (rc) fail_msg("%s", tv_error_message());
  const tv_layer_config *l = c.model.layers;
  assert_int_equal(c.model.n_layers, 16);
  assert_int_equal(l[0].kind, TV_LAYER_CONV2D);
  assert_int_equal(l[0].filters, 8);
  assert_int_equal(l[0].kernel[0], 3);
  assert_int_equal(l[0].kernel[1], 3);
  assert_int_equal(l[0].stride[0], 1); /* default */
  assert_int_equal(l[0].stride[1], 1);
  assert_int_equal(l[0].padding, TV_PADDING_SAME);
  assert_int_equal(l[0].use_bias, 1);
  assert_int_equal(l[1].kind, TV_LAYER_BATCH_NORM);
  assert_string_equal(l[1].name, "batch_norm_1");
  assert_true(l[1].momentum == 0.99);
  assert_true(l[1].epsilon == 0.001);
  assert_int_equal(l[3].kernel[0], 3);
  assert_int_equal(l[3].kernel[1], 1);
  assert_int_equal(l[3].padding, TV_PADDING_EXPLICIT);
  assert_int_equal(l[3].pad[0], 1);
  assert_int_equal(l[3].pad[1], 0);
  assert_int_equal(l[3].use_bias, 0);
  assert_string_equal(l[3].name, "conv2d_2");
  assert_int_equal(l[4].kind, TV_LAYER_ADD);
  assert_int_equal(l[4].n_inputs, 2);
  assert_string_equal(l[4].inputs[0], "r1");
  assert_string_equal(l[4].inputs[1], "conv2d_2");
  assert_true(l[5].alpha == 0.2);
  assert_int_equal(l[6].kind, TV_LAYER_MAX_POOL2D);
  assert_int_equal(l[6].kernel[0], 2);
  assert_int_equal(l[6].stride[0], 2); /* default: pool_size */
  assert_int_equal(l[6].stride[1], 2);
  assert_int_equal(l[6].padding, TV_PADDING_VALID);
  assert_int_equal(l[7].kernel[0], 3);
  assert_int_equal(l[7].kernel[1], 2);
  assert_int_equal(l[7].stride[0], 1);
  assert_int_equal(l[7].padding, TV_PADDING_EXPLICIT);
  assert_int_equal(l[7].pad[0], 1);
  assert_int_equal(l[7].pad[1], 1);
  assert_true(l[8].alpha == 1.0); /* elu's default */
  assert_int_equal(l[12].kind, TV_LAYER_GLOBAL_AVG_POOL);
  assert_true(l[13].rate == 0.25);
  assert_int_equal(l[15].kind, TV_LAYER_SOFTMAX);
  roundtrip(&c);

  /* Defaults of the other kinds' keys. */
  assert_int_equal(parse("model:\n  input: [1, 4, 4]\n  num_classes: 2\n  layers:\n"
                         "    - {type: max_pool2d}\n    - {type: batch_norm}\n"
                         "    - {type: dropout}\n    - {type: leaky_relu}\n    - {type: flatten}\n"
                         "    - {type: dense, units: 2}\n",
                         &c),
                   TV_OK);
  assert_int_equal(l[0].kernel[0], 2);
  assert_int_equal(l[0].kernel[1], 2);
  assert_int_equal(l[0].stride[1], 2);
  assert_true(l[1].momentum == 0.9);
  assert_true(l[1].epsilon == 1e-5);
  assert_true(l[2].rate == 0.5);
  assert_true(l[3].alpha == 0.01);
  roundtrip(&c);
}

static void test_cnn_layer_errors(void **state) {
  (void)state;
#define HEAD "model:\n  input: [1, 8, 8]\n  num_classes: 2\n  layers:\n"
  expect_error(HEAD "    - {type: conv2d, kernel_size: 3}\n",
               "t.yaml:5:7: model.layers[0].filters: missing required key (conv2d needs it)", NULL);
  expect_error(HEAD "    - {type: conv2d, filters: 2}\n",
               "model.layers[0].kernel_size: missing required key", NULL);
  expect_error(HEAD "    - {type: conv2d, filters: 2, kernel_size: 0}\n",
               "t.yaml:5:47: model.layers[0].kernel_size: must be in [1, 65536], got 0", NULL);
  expect_error(HEAD "    - {type: conv2d, filters: 2, kernel_size: [3, 3, 3]}\n",
               "5:47: model.layers[0].kernel_size: expected a list of 2 integers, got 3", NULL);
  expect_error(HEAD "    - {type: conv2d, filters: 2, kernel_size: [3, x]}\n",
               "5:51: model.layers[0].kernel_size[1]: expected an integer, got 'x'", NULL);
  expect_error(HEAD "    - {type: conv2d, filters: 2, kernel_size: 3, padding: full}\n",
               "5:59: model.layers[0].padding: expected valid, same, p or [ph, pw], got 'full'",
               NULL);
  expect_error(HEAD "    - {type: conv2d, filters: 2, kernel_size: 3, padding: -1}\n",
               "model.layers[0].padding: must be in [0, 65536], got -1", NULL);
  expect_error(
      HEAD "    - {type: conv2d, filters: 2, kernel_size: 3, strides: {a: 1}}\n",
      "model.layers[0].strides: expected an integer or a list of 2 integers, got a mapping", NULL);
  expect_error(HEAD "    - {type: max_pool2d, strides: 0}\n",
               "model.layers[0].strides: must be in [1, 65536], got 0", NULL);
  expect_error(HEAD "    - {type: dropout, rate: 1}\n",
               "model.layers[0].rate: must be in [0.0, 1.0)", NULL);
  expect_error(HEAD "    - {type: batch_norm, epsilon: 0}\n",
               "model.layers[0].epsilon: must be in (0.0, 1.0]", NULL);
  expect_error(HEAD "    - {type: batch_norm, momentum: 1.5}\n",
               "model.layers[0].momentum: must be in [0.0, 1.0]", NULL);
  expect_error(HEAD "    - {type: relu, alpha: 0.1}\n",
               "model.layers[0].alpha: unknown key for relu (allowed: type, name, inputs)", NULL);
  expect_error(HEAD "    - {type: flatten}\n    - {type: add}\n",
               "t.yaml:6:7: model.layers[1].inputs: add takes 2 to 4 inputs, got 1", NULL);
  expect_error(HEAD "    - {type: flatten}\n    - {type: add, inputs: [input, input, input, input, "
                    "input]}\n",
               "model.layers[1].inputs: at most 4 names, got 5", NULL);
#undef HEAD
}

static void test_training_keys(void **state) {
  (void)state;
  tv_config c;
  tv_config_defaults(&c);
  /* Defaults. */
  assert_true(c.train.label_smoothing == 0);
  assert_true(c.train.checkpoint_secs == 0);
  assert_true(c.train.summary_secs == 0);
  assert_int_equal(c.train.on_nonfinite, TV_NONFINITE_STOP);
  assert_int_equal(c.train.max_nonfinite, 10);
  assert_int_equal(c.train.validate_every, 0);
  assert_int_equal(c.train.validate_batches, 20);
  assert_int_equal(c.train.early_stop_patience, 0);
  assert_int_equal(c.train.early_stop_metric, TV_METRIC_LOSS);
  assert_int_equal(c.train.early_stop_mode, TV_STOP_AUTO);
  assert_true(c.train.early_stop_min_delta == 0);
  assert_int_equal(c.train.histogram_every, 0);
  assert_int_equal(c.train.prefetch, 2);
  assert_true(c.optimizer.weight_decay == 0);
  assert_true(c.optimizer.clip_norm == 0);
  assert_true(c.optimizer.decay_steps == 1000);
  assert_true(c.optimizer.decay_rate == 0.1);
  assert_int_equal(c.retention.max_unevaluated, 10);
  assert_true(c.retention.keep_every_hours == 0);
  assert_int_equal(c.data.random_flip, 0);
  assert_int_equal(c.data.random_crop_padding, 0);
  assert_int_equal(c.data.n_mean, 0);
  assert_int_equal(c.data.n_std, 0);

  const char *yaml = MODEL "train:\n"
                           "  label_smoothing: 0.1\n"
                           "  checkpoint_secs: 600\n"
                           "  summary_secs: 30.5\n"
                           "  on_nonfinite: skip\n"
                           "  max_nonfinite: 3\n"
                           "  validate_every: 500\n"
                           "  validate_batches: 0\n"
                           "  early_stop_patience: 4\n"
                           "  early_stop_metric: macro_f1\n"
                           "  early_stop_mode: max\n"
                           "  early_stop_min_delta: 0.001\n"
                           "  histogram_every: 1000\n"
                           "  prefetch: 0\n"
                           "optimizer:\n"
                           "  type: adamw\n"
                           "  weight_decay: 0.01\n"
                           "  clip_norm: 5\n"
                           "  schedule: exponential\n"
                           "  decay_steps: 200\n"
                           "  decay_rate: 0.5\n"
                           "retention:\n"
                           "  max_unevaluated: 0\n"
                           "  keep_every_hours: 2.5\n"
                           "data:\n"
                           "  random_flip: true\n"
                           "  random_crop_padding: 4\n";
  int rc = parse(yaml, &c);
  if (rc) fail_msg("%s", tv_error_message());
  assert_true(c.train.label_smoothing == 0.1);
  assert_true(c.train.checkpoint_secs == 600);
  assert_true(c.train.summary_secs == 30.5);
  assert_int_equal(c.train.on_nonfinite, TV_NONFINITE_SKIP);
  assert_int_equal(c.train.max_nonfinite, 3);
  assert_int_equal(c.train.validate_every, 500);
  assert_int_equal(c.train.validate_batches, 0);
  assert_int_equal(c.train.early_stop_patience, 4);
  assert_int_equal(c.train.early_stop_metric, TV_METRIC_MACRO_F1);
  assert_int_equal(c.train.early_stop_mode, TV_STOP_MAX);
  assert_true(c.train.early_stop_min_delta == 0.001);
  assert_int_equal(c.train.histogram_every, 1000);
  assert_int_equal(c.train.prefetch, 0);
  assert_int_equal(c.optimizer.type, TV_OPTIM_ADAMW);
  assert_true(c.optimizer.weight_decay == 0.01);
  assert_true(c.optimizer.clip_norm == 5);
  assert_int_equal(c.optimizer.schedule, TV_SCHEDULE_EXPONENTIAL);
  assert_true(c.optimizer.decay_steps == 200);
  assert_true(c.optimizer.decay_rate == 0.5);
  assert_int_equal(c.retention.max_unevaluated, 0);
  assert_true(c.retention.keep_every_hours == 2.5);
  assert_int_equal(c.data.random_flip, 1);
  assert_int_equal(c.data.random_crop_padding, 4);
  roundtrip(&c);
  const char *step[] = {"optimizer.schedule=step", "train.early_stop_metric=top5",
                        "train.early_stop_mode=min", "train.on_nonfinite=stop"};
  assert_int_equal(parse_sets(MODEL, step, 4, &c), TV_OK);
  assert_int_equal(c.optimizer.schedule, TV_SCHEDULE_STEP);
  assert_int_equal(c.train.early_stop_metric, TV_METRIC_TOP5);
  assert_int_equal(c.train.early_stop_mode, TV_STOP_MIN);

  /* Ranges. */
  expect_error(MODEL "train:\n  label_smoothing: 1\n",
               "8:20: train.label_smoothing: must be in [0.0, 1.0), got 1", NULL);
  expect_error(MODEL "train:\n  checkpoint_secs: -1\n", "train.checkpoint_secs: must be in [0.0",
               NULL);
  expect_error(MODEL "train:\n  summary_secs: -0.5\n", "train.summary_secs: must be in [0.0", NULL);
  expect_error(MODEL "train:\n  on_nonfinite: ignore\n",
               "train.on_nonfinite: expected one of stop, skip, got 'ignore'", NULL);
  expect_error(MODEL "train:\n  max_nonfinite: 0\n", "train.max_nonfinite: must be in [1, ", NULL);
  expect_error(MODEL "train:\n  validate_every: -1\n", "train.validate_every: must be in [0, ",
               NULL);
  expect_error(MODEL "train:\n  validate_batches: -1\n", "train.validate_batches: must be in [0, ",
               NULL);
  expect_error(MODEL "train:\n  early_stop_patience: -2\n", "train.early_stop_patience: must be",
               NULL);
  expect_error(
      MODEL "train:\n  early_stop_metric: f1\n",
      "train.early_stop_metric: expected one of loss, accuracy, top5, macro_f1, mae, rmse, r2, "
      "micro_f1, map, bpc, perplexity, got 'f1'",
      NULL);
  expect_error(MODEL "train:\n  early_stop_mode: up\n",
               "train.early_stop_mode: expected one of auto, min, max, got 'up'", NULL);
  expect_error(MODEL "train:\n  early_stop_min_delta: -1\n", "train.early_stop_min_delta: must be",
               NULL);
  expect_error(MODEL "train:\n  histogram_every: -1\n", "train.histogram_every: must be", NULL);
  expect_error(MODEL "train:\n  prefetch: 65\n", "train.prefetch: must be in [0, 64], got 65",
               NULL);
  expect_error(MODEL "optimizer:\n  weight_decay: -0.1\n",
               "optimizer.weight_decay: must be in [0.0", NULL);
  expect_error(MODEL "optimizer:\n  clip_norm: -1\n", "optimizer.clip_norm: must be in [0.0", NULL);
  expect_error(MODEL "optimizer:\n  decay_steps: 0\n", "optimizer.decay_steps: must be in [1, ",
               NULL);
  expect_error(MODEL "optimizer:\n  decay_rate: 0\n", "optimizer.decay_rate: must be in (0.0, 1.0]",
               NULL);
  expect_error(MODEL "optimizer:\n  decay_rate: 1.5\n",
               "optimizer.decay_rate: must be in (0.0, 1.0]", NULL);
  expect_error(MODEL "optimizer:\n  schedule: linear\n",
               "expected one of constant, cosine, step, exponential, got 'linear'", NULL);
  expect_error(MODEL "retention:\n  max_unevaluated: -1\n", "8:20: retention.max_unevaluated: must",
               NULL);
  expect_error(MODEL "retention:\n  keep_every_hours: -1\n", "retention.keep_every_hours: must be",
               NULL);
  expect_error(MODEL "retention:\n  max_to_keep: 3\n",
               "8:3: retention.max_to_keep: unknown key (allowed: max_unevaluated, "
               "keep_every_hours)",
               NULL);
  expect_error(MODEL "data:\n  random_flip: 2\n", "data.random_flip: expected true or false", NULL);
  expect_error(MODEL "data:\n  random_crop_padding: 65\n",
               "data.random_crop_padding: must be in [0, 64], got 65", NULL);
}

/* data.mean / data.std: one number or one per channel of model.input. */
#define RGB                                                                                        \
  "model:\n  input: [3, 4, 4]\n  num_classes: 2\n  layers:\n    - {type: flatten}\n"               \
  "    - {type: dense, units: 2}\n"

static void test_per_channel_normalisation(void **state) {
  (void)state;
  tv_config c;
  assert_int_equal(parse(RGB "data:\n  mean: [0.5, 0.25, 0.125]\n  std: 0.5\n", &c), TV_OK);
  assert_int_equal(c.data.n_mean, 3);
  assert_true(c.data.mean == 0.5); /* the first channel's, for readers of the scalar */
  assert_true(tv_config_data_mean(&c, 0) == 0.5);
  assert_true(tv_config_data_mean(&c, 1) == 0.25);
  assert_true(tv_config_data_mean(&c, 2) == 0.125);
  assert_int_equal(c.data.n_std, 0);
  for (int ch = 0; ch < 3; ch++) assert_true(tv_config_data_std(&c, ch) == 0.5);
  roundtrip(&c);
  char *text;
  size_t len;
  assert_int_equal(tv_config_emit(&c, &text, &len), TV_OK);
  if (!strstr(text, "  mean: [0.5, 0.25, 0.125]")) fail_msg("no mean list in:\n%s", text);
  if (!strstr(text, "  std: 0.5 ")) fail_msg("no scalar std in:\n%s", text);
  free(text);
  /* A one-channel model with a one-item list is fine; the scalar form is the default. */
  assert_int_equal(parse(MODEL "data:\n  std: [0.3]\n", &c), TV_OK);
  assert_int_equal(c.data.n_std, 1);
  assert_true(tv_config_data_std(&c, 0) == 0.3);
  assert_true(tv_config_data_mean(&c, 0) == 0);

  expect_error(RGB "data:\n  mean: [0.5, 0.5]\n",
               "t.yaml:8:9: data.mean: expected one number or 3 (one per channel of model.input), "
               "got a list of 2",
               NULL);
  expect_error(RGB "data:\n  std: [1, 0, 1]\n", "8:12: data.std[1]: must be in (0.0, ", NULL);
  expect_error(RGB "data:\n  std: []\n", "8:8: data.std: expected a number or a list of 1 to 64",
               NULL);
  expect_error(RGB "data:\n  mean: [a]\n", "data.mean[0]: expected a number, got 'a'", NULL);
  const char *sets[] = {"data.mean=[1,2]"};
  assert_int_equal(parse_sets(RGB, sets, 1, &c), TV_ERR_CONFIG);
  assert_message_starts("--set data.mean=[1,2]: data.mean: expected one number or 3");
}

/* The config's per-channel lists and the loader share one limit, TV_NORM_MAX_CHANNELS: five
 * channels (beyond the loader's old 4, which tv_norm_from_config clamped to silently) give a
 * five-channel normalisation; a list longer than the limit is refused where it is written. */
static void test_normalisation_channel_limit(void **state) {
  (void)state;
  tv_config c;
  assert_int_equal(parse("model:\n  input: [5, 2, 2]\n  num_classes: 2\n  layers:\n"
                         "    - {type: flatten}\n    - {type: dense, units: 2}\n"
                         "data:\n  mean: [0, 1, 2, 3, 4]\n  std: 0.5\n",
                         &c),
                   TV_OK);
  tv_dataset ds = {0};
  tv_norm nm = tv_norm_from_config(&c, &ds);
  assert_int_equal(nm.channels, 5);
  for (int k = 0; k < 5; k++) {
    assert_true(nm.channel_mean[k] == (float)k);
    assert_true(nm.channel_std[k] == 0.5f);
  }
  char text[2048], list[512] = "";
  for (int k = 0; k <= TV_NORM_MAX_CHANNELS; k++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s0", k ? ", " : "");
  snprintf(text, sizeof text,
           "model:\n  input: [%d, 1, 1]\n  num_classes: 2\n  layers:\n    - {type: flatten}\n"
           "    - {type: dense, units: 2}\ndata:\n  mean: [%s]\n",
           TV_NORM_MAX_CHANNELS + 1, list);
  expect_error(
      text, "t.yaml:8:9: data.mean: expected a number or a list of 1 to 64 numbers, got 65", NULL);
}

static void test_same_model_cnn(void **state) {
  (void)state;
  tv_config a, b;
  char diff[512];
  assert_int_equal(parse(CNN_MODEL, &a), TV_OK);
  /* Training-only keys of layers (dropout rate, batch-norm momentum) may change on resume. */
  const char *train_only[] = {"model.layers.13.rate=0.5", "model.layers.1.momentum=0.5"};
  assert_int_equal(parse_sets(CNN_MODEL, train_only, 2, &b), TV_OK);
  assert_int_equal(tv_config_same_model(&a, &b, diff, sizeof diff), 1);
  const char *shape[] = {"model.layers.0.kernel_size=5", "model.layers.0.padding=2",
                         "model.layers.6.strides=[1,2]", "model.layers.1.epsilon=0.1"};
  assert_int_equal(parse_sets(CNN_MODEL, shape, 4, &b), TV_OK);
  assert_int_equal(tv_config_same_model(&a, &b, diff, sizeof diff), 0);
  assert_string_equal(diff, "model.layers[0].kernel_size: 3 -> 5; "
                            "model.layers[0].padding: same -> 2; "
                            "model.layers[1].epsilon: 0.001 -> 0.1; "
                            "model.layers[6].strides: 2 -> [1, 2]");
}

static void test_shipped_cnn_configs(void **state) {
  (void)state;
  const char *files[] = {"configs/fashion_cnn.yaml", "configs/bench_cnn.yaml"};
  for (int i = 0; i < 2; i++) {
    tv_config c;
    int rc = tv_config_load(files[i], NULL, 0, &c);
    if (rc) fail_msg("%s (run from the repository root)", tv_error_message());
    assert_int_equal(c.model.num_classes, 10);
    assert_int_equal(c.model.layers[0].kind, TV_LAYER_CONV2D);
    roundtrip(&c);
  }
}

/* The config frozen by the format_version 1 run (tests/fixtures/v1-run) loads, and today's
 * emitter writes it back byte for byte: the text written before the one YAML stack is the text
 * written now. */
/* Keys added since format_version 1 wrote tests/fixtures/v1-run/config.yaml, and keys whose
 * comment has changed since (their value must still be the file's). */
static const char *const added_keys[] = {"task",      "format",      "features",    "target",
                                         "delimiter", "comment",     "header",      "skip_rows",
                                         "missing",   "fill_value",  "class_order", "standardize",
                                         "loss",      "huber_delta", "resize",      "memory_mb"};
static const char *const recommented_keys[] = {"early_stop_metric", "scale"};

/* The key of a "  key: value  # comment" line, or NULL. */
static int line_key_is(const char *line, const char *key) {
  size_t n = strlen(key);
  return !strncmp(line, "  ", 2) && line[2] != ' ' && !strncmp(line + 2, key, n) &&
         line[2 + n] == ':';
}

/* text without the lines of added_keys and with the comments of recommented_keys cut (in
 * place). */
static void v1_view(char *text) {
  char *out = text;
  for (char *line = text; *line;) {
    char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
    int drop = 0, cut = 0;
    for (size_t k = 0; k < sizeof added_keys / sizeof added_keys[0]; k++)
      drop |= line_key_is(line, added_keys[k]);
    for (size_t k = 0; k < sizeof recommented_keys / sizeof recommented_keys[0]; k++)
      cut |= line_key_is(line, recommented_keys[k]);
    if (!drop) {
      char *hash = cut ? memchr(line, '#', len) : NULL;
      size_t keep = hash ? (size_t)(hash - line) : len;
      memmove(out, line, keep);
      out += keep;
      if (hash) *out++ = '\n';
    }
    line += len;
  }
  *out = '\0';
}

static void test_v1_fixture_config(void **state) {
  (void)state;
  const char *path = "tests/fixtures/v1-run/config.yaml";
  tv_config c;
  int rc = tv_config_load(path, NULL, 0, &c);
  if (rc) fail_msg("%s (run from the repository root)", tv_error_message());
  assert_int_equal(c.model.n_layers, 7);
  assert_int_equal(c.model.layers[3].kind, TV_LAYER_MAX_POOL2D);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char file[1 << 16];
  size_t n = fread(file, 1, sizeof file - 1, f);
  fclose(f);
  file[n] = '\0';
  char *text;
  size_t len;
  assert_int_equal(tv_config_emit(&c, &text, &len), TV_OK);
  /* Keys are only ever added (config.h): the emission is the file's, line for line, once the
   * keys added since are left out (and the comments that changed are cut on both sides). */
  v1_view(text);
  v1_view(file);
  assert_string_equal(text, file);
  free(text);
  roundtrip(&c);
}

/* data.scale: auto (the default, also written out) or a number; emitted and compared as such; a
 * checkpoint's config without one is 1/255 unless an override asks for auto or a number. */
static void test_scale_auto(void **state) {
  (void)state;
  tv_config c, d;
  assert_int_equal(parse(MODEL "data: {scale: auto}\n", &c), TV_OK);
  assert_true(tv_config_data_scale_is_auto(&c));
  char *text;
  size_t len;
  assert_int_equal(tv_config_emit(&c, &text, &len), TV_OK);
  if (!strstr(text, "\n  scale: auto ")) fail_msg("no 'scale: auto' in:\n%s", text);
  free(text);
  roundtrip(&c);
  assert_int_equal(parse(MODEL "data: {scale: 0.5}\n", &d), TV_OK);
  assert_false(tv_config_data_scale_is_auto(&d));
  assert_true(tv_config_data_scale(&d, 1) == 0.5 && tv_config_data_scale(&d, 0) == 0.5);
  char diff[256];
  assert_int_equal(tv_config_same_settings(&c, &d, diff, sizeof diff), 0);
  assert_string_equal(diff, "data.scale: auto -> 0.5");
  assert_int_equal(parse(MODEL, &d), TV_OK);
  assert_int_equal(tv_config_same_settings(&c, &d, diff, sizeof diff), 1);
  expect_error(MODEL "data: {scale: nan}\n", "data.scale: must be a finite number", NULL);
  expect_error(MODEL "data: {scale: Auto}\n", "data.scale: expected a number or auto, got 'Auto'",
               NULL);

  const char *text0 = MODEL;
  assert_int_equal(tv_config_parse_ckpt(text0, strlen(text0), "c.h5:/config", NULL, 0, &d), TV_OK);
  assert_true(d.data.scale == 1.0 / 255);
  const char *text1 = MODEL "data: {scale: auto}\n";
  assert_int_equal(tv_config_parse_ckpt(text1, strlen(text1), "c.h5:/config", NULL, 0, &d), TV_OK);
  assert_true(d.data.scale == 1.0 / 255);
  const char *sets[] = {"data.dir=/elsewhere", "data.scale=auto"};
  assert_int_equal(tv_config_parse_ckpt(text0, strlen(text0), "c.h5:/config", sets, 1, &d), TV_OK);
  assert_true(d.data.scale == 1.0 / 255);
  assert_int_equal(tv_config_parse_ckpt(text0, strlen(text0), "c.h5:/config", sets, 2, &d), TV_OK);
  assert_true(tv_config_data_scale_is_auto(&d));
  const char *text2 = MODEL "data: {scale: 2}\n";
  assert_int_equal(tv_config_parse_ckpt(text2, strlen(text2), "c.h5:/config", NULL, 0, &d), TV_OK);
  assert_true(d.data.scale == 2);
}

/* Booleans are YAML 1.1's, as in every trainval file: on/off too, any case; y/n are not. */
static void test_booleans(void **state) {
  (void)state;
  tv_config c;
  assert_int_equal(parse(MODEL "data: {random_flip: on}\noptimizer: {nesterov: YES}\n", &c), TV_OK);
  assert_int_equal(c.data.random_flip, 1);
  assert_int_equal(c.optimizer.nesterov, 1);
  assert_int_equal(parse(MODEL "data: {random_flip: Off}\n", &c), TV_OK);
  assert_int_equal(c.data.random_flip, 0);
  expect_error(MODEL "data: {random_flip: y}\n",
               "t.yaml:7:21: data.random_flip: expected true or false, got 'y'", NULL);
  expect_error(MODEL "data: {random_flip: 1}\n", "data.random_flip: expected true or false", NULL);
  const char *sets[] = {"data.random_flip=ON"};
  assert_int_equal(parse_sets(MODEL, sets, 1, &c), TV_OK);
  assert_int_equal(c.data.random_flip, 1);
}

/* Strings: UTF-8 in a path is kept and written back as it is; control characters are escaped;
 * a NUL byte is refused. */
static void test_strings_utf8(void **state) {
  (void)state;
  tv_config c;
  assert_int_equal(parse(MODEL "data:\n  dir: \"/data/donn\xc3\xa9"
                               "es \xe2\x82\xac\"\n"
                               "  train_images: \"a\\tb\"\n",
                         &c),
                   TV_OK);
  assert_string_equal(c.data.dir, "/data/donn\xc3\xa9"
                                  "es \xe2\x82\xac");
  assert_string_equal(c.data.train_images, "a\tb");
  char *text;
  size_t len;
  assert_int_equal(tv_config_emit(&c, &text, &len), TV_OK);
  if (!strstr(text, "  dir: \"/data/donn\xc3\xa9"
                    "es \xe2\x82\xac\""))
    fail_msg("dir not kept in:\n%s", text);
  if (!strstr(text, "  train_images: \"a\\tb\"")) fail_msg("tab not escaped in:\n%s", text);
  free(text);
  roundtrip(&c);
  expect_error(MODEL "data:\n  dir: \"a\\0b\"\n",
               "t.yaml:8:8: data.dir: must not contain a NUL byte", NULL);
}

/* A message that quotes the file's text stays one line: control characters are escaped. */
static void test_messages_one_line(void **state) {
  (void)state;
  tv_config c;
  expect_error(MODEL "train:\n  batch_size: \"1\\n2\\t3\\x01\"\n",
               "t.yaml:8:15: train.batch_size: expected an integer, got '1\\n2\\t3\\x01'", NULL);
  expect_error(MODEL "train:\n  \"a\\nb\": 1\n", "t.yaml:8:3: train.a\\nb: unknown key", NULL);
  const char *sets[] = {"train.batch_size=\"x\\ny\""};
  assert_int_equal(parse_sets(MODEL, sets, 1, &c), TV_ERR_CONFIG);
  assert_string_equal(tv_error_message(),
                      "--set train.batch_size=\"x\\ny\": train.batch_size: expected an integer, "
                      "got 'x\\ny'");
}

/* An empty config with overrides: what it lacks is the file's fault, not the override's. */
static void test_empty_file_with_sets(void **state) {
  (void)state;
  tv_config c;
  const char *sets[] = {"train.batch_size=4"};
  assert_int_equal(parse_sets("", sets, 1, &c), TV_ERR_CONFIG);
  assert_string_equal(tv_error_message(), "t.yaml:1:1: model: missing required section");
  assert_int_equal(parse_sets("# nothing\n", sets, 1, &c), TV_ERR_CONFIG);
  assert_string_equal(tv_error_message(), "t.yaml:1:1: model: missing required section");
  /* What the override itself says wrong is still blamed on it. */
  const char *bad[] = {"train.batch_size=0"};
  assert_int_equal(parse_sets("", bad, 1, &c), TV_ERR_CONFIG);
  assert_message_starts("--set train.batch_size=0: train.batch_size: must be in [1, 65536]");
  assert_int_equal(c.train.batch_size, 128);
}

/* Mutated configs never crash the reader: each is read or refused with TV_ERR_CONFIG and one
 * line naming the file (or an override), and a refused one leaves defaults.  Deterministic: a
 * fixed xorshift stream of byte flips, insertions of YAML indicators, deletions and cuts. */
static void test_mutations(void **state) {
  (void)state;
  const char *base = CNN_MODEL "data: {mean: [0.5], random_flip: on}\n"
                               "train: {batch_size: 32, early_stop_metric: accuracy}\n"
                               "optimizer: {type: sgd, learning_rate: 0.1}\n";
  static const char indicators[] = "[]{}:,-?#&*!|>'\"%@` \n\t\\";
  size_t n0 = strlen(base);
  char *text = malloc(n0 + 64);
  assert_non_null(text);
  uint64_t r = 0x9e3779b97f4a7c15ull;
  int refused = 0;
  for (int round = 0; round < 3000; round++) {
    memcpy(text, base, n0 + 1);
    size_t n = n0;
    int edits = 1 + (int)(r % 4);
    for (int e = 0; e < edits && n > 1; e++) {
      r ^= r << 13, r ^= r >> 7, r ^= r << 17;
      size_t at = (size_t)(r >> 8) % n;
      switch (r % 4) {
      case 0: /* a byte flip, anything from 1 to 255 */
        text[at] = (char)(1 + (r >> 40) % 255);
        break;
      case 1: /* an indicator inserted */
        memmove(text + at + 1, text + at, n - at + 1);
        text[at] = indicators[(r >> 40) % (sizeof indicators - 1)];
        n++;
        break;
      case 2: /* a byte deleted */
        memmove(text + at, text + at + 1, n - at);
        n--;
        break;
      default: /* cut short */
        text[at] = '\0';
        n = at;
        break;
      }
    }
    tv_config c;
    int rc = tv_config_parse(text, n, "t.yaml", NULL, 0, &c);
    if (rc == TV_OK) continue;
    refused++;
    if (rc != TV_ERR_CONFIG) fail_msg("round %d: code %d for:\n%s", round, rc, text);
    assert_message_starts("t.yaml");
    assert_null(strchr(tv_error_message(), '\n'));
    assert_int_equal(c.model.n_layers, 0);
    assert_int_equal(c.train.batch_size, 128);
  }
  free(text);
  assert_true(refused > 1000); /* the mutations do reach the error paths */
}

/* Token-model layers: their keys come from their own layer file's table (sequence.c) and read,
 * default, emit and fail like every other kind's; `input: [T]` is one item. */
static void test_sequence_layers(void **state) {
  (void)state;
  const char *yaml = "model:\n"
                     "  input: [128]\n"
                     "  num_classes: 96\n"
                     "  layers:\n"
                     "    - {type: embedding, vocab: 96, dim: 64}\n"
                     "    - {type: lstm, hidden: 256}\n"
                     "    - {type: dropout, rate: 0.2}\n"
                     "    - {type: gru, hidden: 128, name: top}\n"
                     "    - {type: dense, units: 96}\n";
  tv_config c;
  assert_int_equal(parse(yaml, &c), TV_OK);
  assert_int_equal(c.model.input[0], 128);
  assert_int_equal(c.model.input[1], 0);
  assert_int_equal(c.model.input[2], 0);
  assert_true(tv_shape_equal(tv_config_input_shape(&c), tv_shape1(128)));
  assert_true(tv_config_is_sequence(&c));
  assert_int_equal(c.model.layers[0].kind, TV_LAYER_EMBEDDING);
  assert_int_equal(c.model.layers[0].vocab, 96);
  assert_int_equal(c.model.layers[0].dim, 64);
  assert_int_equal(c.model.layers[1].kind, TV_LAYER_LSTM);
  assert_int_equal(c.model.layers[1].hidden, 256);
  assert_string_equal(c.model.layers[1].name, "lstm_1");
  assert_int_equal(c.model.layers[3].kind, TV_LAYER_GRU);
  assert_string_equal(c.model.layers[3].name, "top");
  roundtrip(&c);
  char *text;
  size_t len;
  assert_int_equal(tv_config_emit(&c, &text, &len), TV_OK);
  assert_non_null(strstr(text, "input: [128]"));
  assert_non_null(strstr(text, "{type: lstm, name: lstm_1, hidden: 256}"));
  free(text);
  assert_string_equal(tv_layer_kind_name(TV_LAYER_EMBEDDING), "embedding");
  assert_string_equal(tv_layer_kind_name(TV_LAYER_LSTM), "lstm");
  assert_string_equal(tv_layer_kind_name(TV_LAYER_GRU), "gru");
  tv_config img;
  assert_int_equal(parse("model:\n  input: [1, 28, 28]\n  num_classes: 10\n"
                         "  layers: [{type: flatten}, {type: dense, units: 10}]\n",
                         &img),
                   TV_OK);
  assert_false(tv_config_is_sequence(&img));

  expect_error("model:\n  input: [8]\n  num_classes: 4\n  layers:\n"
               "    - {type: embedding, vocab: 4, dim: 2}\n    - {type: lstm}\n",
               "t.yaml:6:7: model.layers[1].hidden: missing required key (lstm needs it)", NULL);
  expect_error("model:\n  input: [8]\n  num_classes: 4\n  layers:\n"
               "    - {type: embedding, dim: 2}\n",
               "t.yaml:5:7: model.layers[0].vocab: missing required key (embedding needs it)",
               NULL);
  expect_error("model:\n  input: [8]\n  num_classes: 4\n  layers:\n"
               "    - {type: embedding, vocab: 4, dim: 2}\n    - {type: gru, hidden: 0}\n",
               "t.yaml:6:27: model.layers[1].hidden: must be in [1, 65536], got 0", NULL);
  expect_error("model:\n  input: [8]\n  num_classes: 4\n  layers:\n"
               "    - {type: embedding, vocab: 4, dim: 2, units: 3}\n",
               "t.yaml:5:43: model.layers[0].units: unknown key for embedding (allowed: type, "
               "name, inputs, vocab, dim)",
               NULL);
  expect_error("model:\n  input: [1, 28, 28, 1]\n  num_classes: 10\n  layers: [{type: relu}]\n",
               "t.yaml:2:10: model.input: expected a list of 3 integers, got 4", "[T]");
  /* A token model classifies the next token: its task is classification, and bpc and
   * perplexity are metrics of that task. */
  expect_error("model:\n  input: [8]\n  num_classes: 4\n  task: regression\n  layers:\n"
               "    - {type: embedding, vocab: 4, dim: 2}\n",
               "t.yaml:4:9: model.task: a token model classifies the next token: model.task "
               "classification, got regression",
               NULL);
  tv_config tok;
  assert_int_equal(parse("model:\n  input: [8]\n  num_classes: 4\n  layers:\n"
                         "    - {type: embedding, vocab: 4, dim: 2}\n"
                         "train:\n  early_stop_metric: bpc\n",
                         &tok),
                   TV_OK);
  assert_int_equal(tok.model.task, TV_TASK_CLASSIFICATION);
  assert_int_equal(tok.train.early_stop_metric, TV_METRIC_BPC);
}

static void test_kind_names(void **state) {
  (void)state;
  assert_string_equal(tv_layer_kind_name(TV_LAYER_DENSE), "dense");
  assert_string_equal(tv_layer_kind_name(TV_LAYER_RELU), "relu");
  assert_string_equal(tv_layer_kind_name(TV_LAYER_FLATTEN), "flatten");
  assert_string_equal(tv_layer_kind_name(TV_LAYER_CONV2D), "conv2d");
  assert_string_equal(tv_layer_kind_name(TV_LAYER_GLOBAL_AVG_POOL), "global_avg_pool");
  assert_string_equal(tv_layer_kind_name(TV_LAYER_ADD), "add");
  assert_string_equal(tv_layer_kind_name(TV_LAYER__COUNT), "?");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_config),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_default_names),
      cmocka_unit_test(test_error_unknown_key),
      cmocka_unit_test(test_error_unknown_section),
      cmocka_unit_test(test_error_wrong_type),
      cmocka_unit_test(test_error_range),
      cmocka_unit_test(test_error_missing),
      cmocka_unit_test(test_error_duplicate_key),
      cmocka_unit_test(test_error_layers),
      cmocka_unit_test(test_error_malformed_yaml),
      cmocka_unit_test(test_override_scalar),
      cmocka_unit_test(test_override_layer_and_list),
      cmocka_unit_test(test_override_errors),
      cmocka_unit_test(test_emit_roundtrip),
      cmocka_unit_test(test_same_model),
      cmocka_unit_test(test_same_settings),
      cmocka_unit_test(test_load),
      cmocka_unit_test(test_fashion_mlp),
      cmocka_unit_test(test_cnn_layers),
      cmocka_unit_test(test_cnn_layer_errors),
      cmocka_unit_test(test_training_keys),
      cmocka_unit_test(test_per_channel_normalisation),
      cmocka_unit_test(test_normalisation_channel_limit),
      cmocka_unit_test(test_same_model_cnn),
      cmocka_unit_test(test_shipped_cnn_configs),
      cmocka_unit_test(test_kind_names),
      cmocka_unit_test(test_sequence_layers),
      cmocka_unit_test(test_v1_fixture_config),
      cmocka_unit_test(test_scale_auto),
      cmocka_unit_test(test_booleans),
      cmocka_unit_test(test_strings_utf8),
      cmocka_unit_test(test_empty_file_with_sets),
      cmocka_unit_test(test_mutations),
      cmocka_unit_test(test_messages_one_line),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
