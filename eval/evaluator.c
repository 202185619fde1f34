/* evaluator.c — one checkpoint file in, metrics out (see eval.h).
 *
 * Owns the INFER graph, its variable store, the split in memory, the subset and the metrics.
 * A watcher evaluates many checkpoints of one run: the graph is rebuilt only when a checkpoint's
 * config text differs from the last one's (cheap), and the split is reloaded only when the data
 * config differs (not cheap), so a checkpoint costs its read plus the forward passes.
 * Invariant: when model is not NULL it was built over store from the config last_text holds (or
 * is being replaced); when have_data, ds, idx and hash were made from data_cfg's data section
 * and the options' subset.
 */
#include "eval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainval/budget.h"
#include "trainval/config.h"
#include "trainval/ctx.h"
#include "trainval/corpus.h"
#include "trainval/data.h"
#include "trainval/generate.h"
#include "trainval/files.h"
#include "trainval/model.h"
#include "trainval/loss.h"
#include "trainval/varstore.h"

/* Examples per tv_evaluate call: the cancel flag is looked at between chunks. */
enum { CHUNK = 2048 };

struct evaluator {
  evaluator_opts o;
  tv_config *next;       /* the checkpoint being evaluated */
  tv_norm norm;          /* from the config the model was built from (+ zstats) */
  tv_standardize zstats; /* the checkpoint's /data/standardize, with data.standardize */
  tv_config *data_cfg;   /* what ds was loaded from */
  char *last_text;       /* config text of the last checkpoint that built or matched both */
  tv_ctx *ctx;           /* the thread team the graph runs on */
  tv_varstore *store;
  tv_model *model;
  int have_data;
  tv_dataset ds;
  uint32_t *idx;
  uint32_t n;
  uint64_t hash;
  tv_metrics *metrics;
  /* token models */
  int tokens;
  tv_corpus corpus;
  const int32_t *ids; /* the split's text in corpus */
  size_t n_ids;
  tv_generator *gen; /* the generation graph over store, with opts.generate */
  tv_vocab vocab;
  char *sample; /* opts.generate + 1 bytes */
  float *probs; /* n * classes probabilities of the last run, in subset order: softmax, or
                 * sigmoid per label (multilabel) */
  size_t probs_cap;
  /* the subset's targets of the last run, in subset order (evaluator_result.labels, .targets) */
  int32_t *labels;
  float *targets;
  size_t labels_cap, targets_cap;
};

int evaluator_new(const evaluator_opts *o, evaluator **out) {
  *out = NULL;
  evaluator *ev = calloc(1, sizeof *ev);
  if (ev) {
    ev->next = malloc(sizeof *ev->next);
    ev->data_cfg = malloc(sizeof *ev->data_cfg);
  }
  if (!ev || !ev->next || !ev->data_cfg) {
    evaluator_free(ev);
    return tv_error(TV_ERR_NOMEM, "evaluator: out of memory");
  }
  ev->o = *o;
  int rc = tv_ctx_new(o->threads, &ev->ctx);
  if (rc != TV_OK) {
    evaluator_free(ev);
    return rc;
  }
  *out = ev;
  return TV_OK;
}

void evaluator_free(evaluator *ev) {
  if (!ev) return;
  tv_metrics_free(ev->metrics);
  tv_generator_free(ev->gen);
  tv_corpus_free(&ev->corpus);
  free(ev->sample);
  tv_standardize_free(&ev->zstats);
  tv_model_free(ev->model);
  tv_varstore_free(ev->store);
  tv_ctx_free(ev->ctx);
  tv_dataset_free(&ev->ds);
  free(ev->idx);
  free(ev->probs);
  free(ev->labels);
  free(ev->targets);
  free(ev->last_text);
  free(ev->next);
  free(ev->data_cfg);
  free(ev);
}

/* Turns n rows of k logits into softmax probabilities in place (in double, then rounded). */
static void softmax_rows(float *z, uint32_t n, int k) {
  for (uint32_t i = 0; i < n; i++, z += k) {
    double m = z[0], sum = 0;
    for (int c = 1; c < k; c++) m = z[c] > m ? z[c] : m;
    for (int c = 0; c < k; c++) sum += exp((double)z[c] - m);
    for (int c = 0; c < k; c++) z[c] = (float)(exp((double)z[c] - m) / sum);
  }
}

/* Turns n * k logits into sigmoid probabilities in place (multilabel: one score per label). */
static void sigmoid_all(float *z, size_t n) {
  for (size_t i = 0; i < n; i++) z[i] = (float)(1.0 / (1.0 + exp(-(double)z[i])));
}

/* 1 if a and b load the same examples for any split (normalisation is applied per batch). */
static int same_data(const tv_config *a, const tv_config *b) {
  return a->data.resize == b->data.resize && !strcmp(a->data.dir, b->data.dir) &&
         !strcmp(a->data.train_images, b->data.train_images) &&
         !strcmp(a->data.train_labels, b->data.train_labels) &&
         !strcmp(a->data.test_images, b->data.test_images) &&
         !strcmp(a->data.test_labels, b->data.test_labels) &&
         a->data.valid_fraction == b->data.valid_fraction &&
         a->data.split_seed == b->data.split_seed && a->model.num_classes == b->model.num_classes &&
         a->model.task == b->model.task && a->data.format == b->data.format &&
         !strcmp(a->data.features, b->data.features) && !strcmp(a->data.target, b->data.target) &&
         !strcmp(a->data.delimiter, b->data.delimiter) &&
         !strcmp(a->data.comment, b->data.comment) && a->data.header == b->data.header &&
         a->data.skip_rows == b->data.skip_rows && a->data.missing == b->data.missing &&
         a->data.fill_value == b->data.fill_value && a->data.class_order == b->data.class_order &&
         !memcmp(a->model.input, b->model.input, sizeof a->model.input) &&
         !strcmp(a->data.corpus, b->data.corpus) && a->data.valid_tokens == b->data.valid_tokens &&
         tv_config_is_sequence(a) == tv_config_is_sequence(b);
}

/* Plans the graph of ev->next (variables declared, nothing large allocated), refuses a checkpoint
 * whose stored shapes disagree with it or whose graph, variables and data (when they are to be
 * loaded anew) exceed --max-memory, and only then builds it. */
static int build_model(evaluator *ev, tv_ckpt *ck, int new_data) {
  tv_model_free(ev->model);
  tv_generator_free(ev->gen);
  tv_varstore_free(ev->store);
  ev->model = NULL;
  ev->gen = NULL;
  ev->store = NULL;
  ev->tokens = tv_config_is_sequence(ev->next);
  /* a token model reads its text as the streams it was trained on */
  int batch = ev->tokens ? ev->next->train.batch_size : ev->o.batch_size;
  tv_budget b = {0};
  int rc = tv_varstore_new(&ev->store);
  if (rc == TV_OK)
    rc = tv_model_plan(ev->next, TV_MODE_INFER, batch, ev->store, tv_ctx_team(ev->ctx),
                       &b.activations);
  if (rc == TV_OK) rc = tv_ckpt_check_variables(ck, ev->store);
  if (rc == TV_OK) {
    tv_budget_add_variables(&b, ev->store, ev->next);
    if (new_data && !ev->tokens) tv_budget_add_split(&b, ev->next, ev->o.split);
    rc = tv_budget_check(&b, ev->o.max_memory_mb, tv_ckpt_path(ck));
  }
  if (rc == TV_OK)
    rc = tv_model_new(ev->next, TV_MODE_INFER, batch, ev->store, tv_ctx_team(ev->ctx), &ev->model);
  if (rc == TV_OK && ev->tokens && ev->o.generate > 0)
    rc = tv_generator_new(ev->next, ev->store, tv_ctx_team(ev->ctx), &ev->gen);
  if (rc == TV_OK) rc = tv_varstore_seal(ev->store);
  if (rc != TV_OK) {
    tv_model_free(ev->model);
    tv_generator_free(ev->gen);
    tv_varstore_free(ev->store);
    ev->model = NULL;
    ev->gen = NULL;
    ev->store = NULL;
    return rc;
  }
  return TV_OK;
}

/* A token model's split: its corpus's validation text (test, valid) or training text. */
static int load_text(evaluator *ev) {
  tv_corpus_free(&ev->corpus);
  int rc = tv_corpus_load(ev->next, &ev->corpus);
  if (rc != TV_OK) return rc;
  int train = ev->o.split == TV_SPLIT_TRAIN;
  ev->ids = train ? ev->corpus.train : ev->corpus.valid;
  ev->n_ids = train ? ev->corpus.n_train : ev->corpus.n_valid;
  /* --num-examples N: the text's first N tokens, read as the streams the whole text would be
   * (eval.h); a random subset has no meaning for a text read in order */
  if (ev->o.random_subset)
    return tv_error(TV_ERR_INVALID,
                    "--subset-seed: a token model reads its text in order (%s); --num-examples N "
                    "takes the first N tokens",
                    ev->next->data.corpus);
  if (ev->o.num_examples > ev->n_ids)
    return tv_error(TV_ERR_INVALID, "--num-examples %u: the %s text of %s has only %zu tokens",
                    ev->o.num_examples, tv_split_name(ev->o.split), ev->next->data.corpus,
                    ev->n_ids);
  if (ev->o.num_examples) ev->n_ids = ev->o.num_examples;
  ev->hash = 0;
  ev->have_data = 1;
  memcpy(ev->data_cfg, ev->next, sizeof *ev->next);
  return TV_OK;
}

static int load_data(evaluator *ev) {
  if (tv_config_is_sequence(ev->next)) return load_text(ev);
  tv_dataset_free(&ev->ds);
  free(ev->idx);
  ev->idx = NULL;
  ev->have_data = 0;
  int rc = tv_split_load(ev->next, ev->o.split, &ev->ds);
  if (rc != TV_OK) return rc;
  uint32_t n = ev->o.num_examples ? ev->o.num_examples : ev->ds.n;
  if (n > ev->ds.n)
    return tv_error(TV_ERR_INVALID, "--num-examples %u: the %s split has only %u examples", n,
                    tv_split_name(ev->o.split), ev->ds.n);
  rc = tv_dataset_subset(&ev->ds, n, ev->o.random_subset, ev->o.subset_seed, &ev->idx, &ev->hash);
  if (rc != TV_OK) return rc;
  ev->n = n;
  ev->have_data = 1;
  memcpy(ev->data_cfg, ev->next, sizeof *ev->next);
  return TV_OK;
}

/* The checkpoint's class names (CSV string labels, image folders) are the model's: the split's
 * labels are mapped onto them by name, so a test file without one of the classes, or with them in
 * another order, is scored against the ids the model was trained with. */
static int use_class_names(evaluator *ev, tv_ckpt *ck) {
  if (ev->tokens || !ev->ds.labels) return TV_OK;
  char **names = NULL;
  int k = tv_model_num_classes(ev->model);
  int rc = tv_ckpt_read_class_names(ck, k, &names);
  if (rc == TV_OK && names) {
    char what[3 * TV_PATH_CAP];
    const tv_config *c = ev->next;
    snprintf(what, sizeof what, "%s/%s (the %s split)", c->data.dir,
             ev->o.split == TV_SPLIT_TEST ? c->data.test_images : c->data.train_images,
             tv_split_name(ev->o.split));
    rc = tv_dataset_use_class_names(&ev->ds, names, k, what);
  }
  tv_imgdir_files_free(names, names ? (uint32_t)k : 0);
  if (rc != TV_OK) ev->have_data = 0;
  return rc;
}

/* A token model's evaluation over the split's whole text, and its sample. */
static int run_tokens(evaluator *ev, evaluator_result *res) {
  tv_metrics_reset(ev->metrics);
  uint64_t tokens = 0;
  double t0 = tv_monotonic();
  int rc = tv_evaluate_tokens(ev->model, ev->ids, ev->n_ids, 0, ev->metrics, &tokens);
  if (rc == TV_ERR_INVALID && ev->o.num_examples)
    rc = tv_error_prefix(rc, "--num-examples %u", ev->o.num_examples);
  res->eval_seconds = tv_monotonic() - t0;
  if (rc == TV_OK && ev->gen) {
    free(ev->sample);
    ev->sample = malloc((size_t)ev->o.generate + 1);
    tv_sample_opts so = {.temperature = ev->o.temperature,
                         .top_k = ev->o.top_k,
                         .seed = ev->o.seed,
                         .precision = (tv_gen_precision)ev->o.precision};
    rc = ev->sample ? tv_generate(ev->gen, &ev->vocab, ev->o.prompt, (size_t)ev->o.generate, &so,
                                  ev->sample)
                    : tv_error(TV_ERR_NOMEM, "--generate: out of memory");
    if (rc == TV_OK) ev->sample[ev->o.generate] = '\0';
    res->sample = rc == TV_OK ? ev->sample : NULL;
  }
  if (rc == TV_ERR_NOMEM) res->fatal = 1;
  if (rc != TV_OK) return rc;
  res->tokens = 1;
  res->n = tokens > UINT32_MAX ? UINT32_MAX : (uint32_t)tokens;
  res->subset_hash = 0;
  tv_metrics_get(ev->metrics, &res->s);
  res->metrics = ev->metrics;
  return TV_OK;
}

/* Makes *buf hold at least count items of size bytes (kept between runs: *cap counts items);
 * what names them in the message. */
static int reserve(void **buf, size_t *cap, size_t count, size_t size, const char *what) {
  if (*cap >= count) return TV_OK;
  free(*buf);
  *cap = 0;
  *buf = malloc(count * size + 1);
  if (!*buf) return tv_error(TV_ERR_NOMEM, "evaluator: out of memory for %zu %s", count, what);
  *cap = count;
  return TV_OK;
}

int evaluator_run(evaluator *ev, const char *path, const tv_ckpt_info *expect,
                  evaluator_result *res) {
  memset(res, 0, sizeof *res);
  tv_ckpt *ck = NULL;
  int rc = tv_ckpt_open(path, expect, &ck);
  const char *text = rc == TV_OK ? tv_ckpt_config_text(ck) : "";
  /* Same text as last time: the graph and the data stand as they are. */
  int same = ev->last_text && ev->model && ev->have_data && !strcmp(text, ev->last_text);
  if (rc == TV_OK && !same) {
    char source[TV_PATH_CAP + 160];
    snprintf(source, sizeof source, "%s:/config", path);
    rc = tv_config_parse_ckpt(text, strlen(text), source, ev->o.data_sets, ev->o.n_data_sets,
                              ev->next);
    rc = tv_config_sets_blame(ev->o.data_file, rc);
    /* A graph is cheap to build (the data is not): any other config text builds it anew. */
    if (rc == TV_OK) rc = build_model(ev, ck, !ev->have_data || !same_data(ev->data_cfg, ev->next));
    if (rc == TV_OK && (!ev->have_data || !same_data(ev->data_cfg, ev->next))) {
      rc = load_data(ev);
      if (rc == TV_OK) rc = use_class_names(ev, ck);
      if (rc != TV_OK) res->fatal = 1;
    }
    /* data.scale auto (a checkpoint of train states its number) follows the data read here */
    if (rc == TV_OK) ev->norm = tv_norm_from_config(ev->next, &ev->ds);
    free(ev->last_text);
    ev->last_text = rc == TV_OK ? strdup(text) : NULL;
  }
  if (rc == TV_OK) rc = tv_ckpt_read_variables(ck, ev->store);
  /* What training fitted is applied as it was: read from each checkpoint. */
  tv_standardize_free(&ev->zstats);
  ev->norm.feature_mean = ev->norm.feature_std = NULL;
  if (rc == TV_OK && ev->next->data.standardize) {
    rc = tv_standardize_ckpt_read(ck, tv_model_input_size(ev->model), &ev->zstats);
    if (rc == TV_OK) ev->norm = tv_norm_with_standardize(ev->norm, &ev->zstats);
  }
  /* The metrics follow the config (task, outputs, loss): made anew with any other config. */
  if (rc == TV_OK && (!same || !ev->metrics)) {
    tv_metrics_free(ev->metrics);
    ev->metrics = NULL;
    tv_loss loss = tv_loss_from_config(ev->next);
    if (ev->tokens) loss.params.classes = ev->corpus.vocab.size; /* scored over the vocabulary */
    rc = tv_metrics_new_task(ev->next->model.task, tv_model_num_classes(ev->model), &loss, 0,
                             &ev->metrics);
  }
  if (rc == TV_OK && ev->gen) rc = tv_vocab_ckpt_read(&ev->vocab, ck);
  if (rc == TV_OK) {
    res->step = tv_ckpt_step(ck);
    res->epoch = tv_ckpt_epoch(ck);
    res->ckpt_wall_time = tv_ckpt_wall_time(ck);
  }
  tv_ckpt_close(ck);
  if (rc == TV_OK && ev->tokens) return run_tokens(ev, res);
  size_t k = rc == TV_OK ? (size_t)tv_model_num_classes(ev->model) : 0;
  if (rc == TV_OK)
    rc = reserve((void **)&ev->probs, &ev->probs_cap, (size_t)ev->n * k, sizeof(float),
                 "probabilities");
  size_t t = tv_dataset_has_labels(&ev->ds) ? 0 : (size_t)ev->ds.target_dim;
  if (rc == TV_OK && !t)
    rc = reserve((void **)&ev->labels, &ev->labels_cap, ev->n, sizeof(int32_t), "class ids");
  if (rc == TV_OK && t)
    rc = reserve((void **)&ev->targets, &ev->targets_cap, (size_t)ev->n * t, sizeof(float),
                 "targets");
  if (rc == TV_OK) {
    tv_metrics_reset(ev->metrics);
    double t0 = tv_monotonic();
    /* whole batches per call: a chunk that is not a multiple of the batch would end in a short
     * batch every time */
    uint32_t b = (uint32_t)tv_model_max_batch(ev->model);
    uint32_t chunk = b >= CHUNK ? b : CHUNK / b * b;
    tv_eval_pass *pass = NULL; /* one loader for the pass: out of core, each block read once */
    rc = tv_eval_pass_new(ev->model, &ev->ds, ev->idx, ev->n, ev->norm,
                          tv_metrics_task(ev->metrics), &pass);
    if (rc == TV_OK) tv_eval_pass_keep(pass, t ? NULL : ev->labels, t ? ev->targets : NULL);
    for (uint32_t off = 0; rc == TV_OK && off < ev->n; off += chunk) {
      if (ev->o.cancel && *ev->o.cancel) {
        rc = TV_ERR_INTERRUPTED;
        break;
      }
      uint32_t m = ev->n - off < chunk ? ev->n - off : chunk;
      float *p = ev->probs + (size_t)off * k;
      rc = tv_eval_pass_next(pass, m, ev->metrics, p, &res->forward_seconds);
      if (rc == TV_OK && ev->next->model.task == TV_TASK_MULTILABEL)
        sigmoid_all(p, (size_t)m * k);
      else if (rc == TV_OK)
        softmax_rows(p, m, (int)k);
    }
    tv_eval_pass_free(pass);
    res->eval_seconds = tv_monotonic() - t0;
  }
  if (rc == TV_ERR_NOMEM) res->fatal = 1;
  if (rc != TV_OK) return rc;
  res->n = ev->n;
  res->subset_hash = ev->hash;
  tv_metrics_get(ev->metrics, &res->s);
  res->metrics = ev->metrics;
  res->class_names = ev->ds.names;
  res->n_class_names = ev->ds.names ? ev->ds.num_classes : 0;
  res->probs = ev->probs;
  res->idx = ev->idx;
  res->labels = t ? NULL : ev->labels;
  res->targets = t ? ev->targets : NULL;
  res->ds = &ev->ds;
  return TV_OK;
}
