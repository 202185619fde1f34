/* rundata.c — reads one train_dir for the report (what and how: report.h): the manifest, the
 * config text, train and validation scalars, and each evaluator's metrics.jsonl and state.yaml.
 *
 * metrics.jsonl lines are JSON, which libyaml reads as YAML flow mappings (JSON is YAML 1.2, and
 * the subset written by tv_evallog_format reads the same in libyaml's YAML 1.1); a JSON null (a
 * non-finite metric) reads as NaN.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "report.h"
#include "trainval/files.h"

/* ---- one metrics.jsonl line ---------------------------------------------------------------- */

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key) {
  if (!map || map->type != YAML_MAPPING_NODE) return NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(doc, p->key);
    if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
      return yaml_document_get_node(doc, p->value);
  }
  return NULL;
}

/* A scalar node as a number; NaN for null, a missing node or text that is not a number. */
static double num(const yaml_node_t *n) {
  if (!n || n->type != YAML_SCALAR_NODE) return NAN;
  const char *s = (const char *)n->data.scalar.value;
  char *end;
  double v = strtod(s, &end);
  return end == s || *end ? NAN : v;
}

static int seq_len(const yaml_node_t *n) {
  return n && n->type == YAML_SEQUENCE_NODE
             ? (int)(n->data.sequence.items.top - n->data.sequence.items.start)
             : -1;
}

static yaml_node_t *seq_at(yaml_document_t *doc, const yaml_node_t *n, int i) {
  return yaml_document_get_node(doc, n->data.sequence.items.start[i]);
}

/* Fills res from the per_class and confusion entries; k 0 when they are absent or ill-shaped. */
static int read_classes(yaml_document_t *doc, yaml_node_t *root, rp_result *res) {
  static const char *const per[4] = {"precision", "recall", "f1", "support"};
  yaml_node_t *conf = map_get(doc, root, "confusion"), *pc = map_get(doc, root, "per_class");
  int k = seq_len(conf);
  if (k <= 0 || k > RP_MAX_CLASSES) return TV_OK;
  for (int i = 0; i < k; i++)
    if (seq_len(seq_at(doc, conf, i)) != k) return TV_OK;
  for (int j = 0; j < 4; j++)
    if (seq_len(map_get(doc, pc, per[j])) != k) return TV_OK;
  res->conf = malloc((size_t)k * (size_t)k * sizeof *res->conf);
  for (int j = 0; j < 4; j++) res->per[j] = malloc((size_t)k * sizeof *res->per[j]);
  if (!res->conf || !res->per[0] || !res->per[1] || !res->per[2] || !res->per[3])
    return tv_error(TV_ERR_NOMEM, "out of memory for a confusion matrix");
  for (int i = 0; i < k; i++) {
    yaml_node_t *row = seq_at(doc, conf, i);
    for (int q = 0; q < k; q++)
      res->conf[(size_t)i * (size_t)k + (size_t)q] = num(seq_at(doc, row, q));
  }
  for (int j = 0; j < 4; j++) {
    yaml_node_t *a = map_get(doc, pc, per[j]);
    for (int i = 0; i < k; i++) res->per[j][i] = num(seq_at(doc, a, i));
  }
  res->k = k;
  return TV_OK;
}

static void result_free(rp_result *r) {
  free(r->conf);
  for (int j = 0; j < 4; j++) free(r->per[j]);
  memset(r, 0, sizeof *r);
}

/* Parses one complete line into a new result of e and its curves.  1 if the line is not a
 * metrics line, 2 if its step is not above the previous line's (the caller notes both), TV_OK,
 * or TV_ERR_NOMEM. */
static int read_line(rp_evaluator *e, const char *line, size_t len) {
  yaml_parser_t parser;
  yaml_document_t doc;
  int rc = 1, loaded = 0;
  rp_result res;
  memset(&res, 0, sizeof res);
  if (!yaml_parser_initialize(&parser)) return tv_error(TV_ERR_NOMEM, "out of memory for YAML");
  yaml_parser_set_input_string(&parser, (const unsigned char *)line, len);
  if (!yaml_parser_load(&parser, &doc)) goto out;
  loaded = 1;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  double step = num(map_get(&doc, root, "step"));
  if (!root || root->type != YAML_MAPPING_NODE || !(step >= 0)) goto out;
  if (map_get(&doc, root, "skipped")) { /* never evaluated: no metrics (evallog.h) */
    rc = TV_OK;
    goto out;
  }
  res.step = (int64_t)step;
  if (e->n > 0 && res.step <= e->results[e->n - 1].step) {
    rc = 2; /* out of step order */
    goto out;
  }
  yaml_node_t *ck = map_get(&doc, root, "checkpoint");
  if (ck && ck->type == YAML_SCALAR_NODE)
    snprintf(res.checkpoint, sizeof res.checkpoint, "%s", (const char *)ck->data.scalar.value);
  for (int j = 0; j < TV_METRIC__COUNT; j++)
    res.metric[j] = num(map_get(&doc, root, tv_metric_desc_for((tv_metric_kind)j)->name));
  rc = read_classes(&doc, root, &res);
  if (rc != TV_OK) goto out;
  for (int j = 0; j < TV_METRIC__COUNT && rc == TV_OK; j++)
    if (!isnan(res.metric[j]))
      rc = rp_source_add(&e->src, tv_metric_desc_for((tv_metric_kind)j)->name, step, res.metric[j]);
  double lag_steps = num(map_get(&doc, root, "lag_steps"));
  double lag_secs = num(map_get(&doc, root, "lag_seconds"));
  if (rc == TV_OK && !isnan(lag_steps))
    rc = rp_source_add(&e->src, "eval_lag_steps", step, lag_steps);
  if (rc == TV_OK && !isnan(lag_secs))
    rc = rp_source_add(&e->src, "eval_lag_seconds", step, lag_secs);
  if (rc == TV_OK && e->n == e->cap) {
    int cap = e->cap ? 2 * e->cap : 16;
    rp_result *nr = realloc(e->results, (size_t)cap * sizeof *nr);
    if (!nr) {
      rc = tv_error(TV_ERR_NOMEM, "out of memory for results");
    } else {
      e->results = nr;
      e->cap = cap;
    }
  }
  if (rc == TV_OK) {
    e->results[e->n++] = res;
    memset(&res, 0, sizeof res);
  }
out:
  result_free(&res);
  if (loaded) yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return rc;
}

static int read_metrics(const char *path, rp_evaluator *e, tv_text *notes) {
  char *data;
  size_t len;
  int rc = rp_read_or_note(path, &data, &len, notes);
  if (rc != TV_OK || !data) return rc;
  size_t at = 0;
  for (long lineno = 1; rc == TV_OK && at < len; lineno++) {
    char *nl = memchr(data + at, '\n', len - at);
    if (!nl) {
      tv_text_printf(notes,
                     "%s:%ld: last line incomplete (being written, or cut by a crash); "
                     "skipped\n",
                     path, lineno);
      break;
    }
    size_t n = (size_t)(nl - (data + at));
    if (n > 0) {
      rc = read_line(e, data + at, n);
      if (rc == 1 || rc == 2) {
        tv_text_printf(notes, "%s:%ld: %s; skipped\n", path, lineno,
                       rc == 1 ? "not a metrics line" : "step not above the line before");
        rc = TV_OK;
      }
    }
    at += n + 1;
  }
  free(data);
  return rc;
}

/* ---- the train_dir -------------------------------------------------------------------------- */

static int cmp_eval(const void *a, const void *b) {
  return strcmp(((const rp_evaluator *)a)->src.name, ((const rp_evaluator *)b)->src.name);
}

static int read_evaluators(rp_run *r) {
  DIR *d = opendir(r->dir);
  if (!d) return tv_error_errno(TV_ERR_IO, errno, "%s: cannot list", r->dir);
  int rc = TV_OK;
  for (struct dirent *de; rc == TV_OK && (de = readdir(d)) != NULL;) {
    if (!tv_eval_name_valid(de->d_name)) continue;
    char sub[8192], path[8192];
    struct stat st;
    if (tv_fs_join(sub, sizeof sub, r->dir, de->d_name) != TV_OK ||
        tv_fs_join(path, sizeof path, sub, TV_EVALLOG_FILE) != TV_OK || stat(path, &st) != 0)
      continue;
    rp_evaluator *ne = realloc(r->evals, (size_t)(r->nevals + 1) * sizeof *ne);
    if (!ne) {
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", r->dir);
      break;
    }
    r->evals = ne;
    rp_evaluator *e = &r->evals[r->nevals++];
    memset(e, 0, sizeof *e);
    snprintf(e->src.name, sizeof e->src.name, "%.63s", de->d_name);
    tv_evalstate_init(&e->state);
    rc = read_metrics(path, e, &r->notes);
    if (rc == TV_OK) rc = rp_events_read_dir(sub, &e->figs, &r->notes);
    if (rc != TV_OK) break;
    if (tv_fs_join(path, sizeof path, sub, TV_EVALSTATE_FILE) != TV_OK) continue;
    int src = tv_evalstate_read(path, &e->state);
    if (src == TV_OK)
      e->has_state = 1;
    else if (src == TV_ERR_NOMEM)
      rc = src;
    else if (src != TV_ERR_NOT_FOUND)
      tv_text_printf(&r->notes, "%s; the best checkpoint is not shown\n", tv_error_message());
  }
  closedir(d);
  if (r->nevals > 1) qsort(r->evals, (size_t)r->nevals, sizeof *r->evals, cmp_eval);
  return rc;
}

int rp_run_read(const char *dir, const char *label, rp_run *r) {
  struct stat st;
  tv_manifest_init(&r->manifest);
  snprintf(r->train.name, sizeof r->train.name, "train");
  snprintf(r->validation.name, sizeof r->validation.name, "validation");
  if (snprintf(r->dir, sizeof r->dir, "%s", dir) >= (int)sizeof r->dir)
    return tv_error(TV_ERR_INVALID, "%s: path too long", dir);
  snprintf(r->label, sizeof r->label, "%s", label);
  if (stat(dir, &st) != 0)
    return tv_error_errno(errno == ENOENT ? TV_ERR_NOT_FOUND : TV_ERR_IO, errno, "%s", dir);
  if (!S_ISDIR(st.st_mode)) return tv_error(TV_ERR_NOT_FOUND, "%s: not a directory", dir);
  int rc = tv_manifest_read(dir, &r->manifest);
  if (rc == TV_ERR_NOT_FOUND)
    return tv_error(rc, "%s: no %s (not a train_dir, or train has not started)", dir,
                    TV_MANIFEST_FILE);
  if (rc != TV_OK) return rc;
  char path[8192];
  size_t len;
  rc = tv_fs_join(path, sizeof path, dir, "config.yaml");
  if (rc == TV_OK && (rc = tv_fs_read_all(path, &r->config, &len)) != TV_OK) {
    r->config = NULL;
    if (rc == TV_ERR_NOMEM) return rc;
    if (rc != TV_ERR_NOT_FOUND)
      tv_text_printf(&r->notes, "%s; the config is not shown\n", tv_error_message());
    rc = TV_OK;
  }
  if (rc == TV_OK) rc = rp_events_read_dir(dir, &r->train, &r->notes);
  if (rc == TV_OK) rc = tv_fs_join(path, sizeof path, dir, "validation");
  if (rc == TV_OK) rc = rp_events_read_dir(path, &r->validation, &r->notes);
  if (rc == TV_OK) rc = read_evaluators(r);
  if (rc == TV_OK && r->notes.oom) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", dir);
  return rc;
}

void rp_run_free(rp_run *r) {
  if (!r) return;
  tv_manifest_free(&r->manifest);
  free(r->config);
  rp_source_free(&r->train);
  rp_source_free(&r->validation);
  for (int i = 0; i < r->nevals; i++) {
    rp_evaluator *e = &r->evals[i];
    rp_source_free(&e->src);
    rp_source_free(&e->figs);
    for (int j = 0; j < e->n; j++) result_free(&e->results[j]);
    free(e->results);
    tv_evalstate_free(&e->state);
  }
  free(r->evals);
  tv_text_free(&r->notes);
  memset(r, 0, sizeof *r);
}
