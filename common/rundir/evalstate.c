/* evalstate.c — an evaluator's DIR/NAME/state.yaml (see evalstate.h for the format).
 *
 * Invariants: a tv_evalstate's entries are strictly ascending by step with NUL-terminated
 * strings, and cursor >= the last entry's step; add keeps it, read checks it, write refuses a
 * state that breaks it before anything reaches the disk.  Read through yamlio's tv_ydoc, written
 * as tv_text with tv_fs_write_atomic; messages name the file.
 */
#include "trainval/evalstate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "base/yamlio.h"
#include "rundir/identity.h"

static const char *const outcome_names[] = {"ok", "failed", "skipped"};

int tv_eval_name_valid(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n >= TV_EVAL_NAME_CAP || name[0] == '.') return 0;
  for (size_t i = 0; i < n; i++)
    if (!tv_text_is_word_char(name[i])) return 0;
  return 1;
}

void tv_evalstate_init(tv_evalstate *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->policy, sizeof s->policy, "all");
  snprintf(s->metric, sizeof s->metric, "accuracy");
  s->mode_max = 1;
  s->cursor = -1;
  s->stop_requested = -1;
  s->retired_baseline = -1;
}

void tv_evalstate_free(tv_evalstate *s) {
  if (!s) return;
  free(s->entries);
  tv_evalstate_init(s);
}

const tv_evalstate_entry *tv_evalstate_find(const tv_evalstate *s, int64_t step) {
  int lo = 0, hi = s->n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (s->entries[mid].step < step)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->n && s->entries[lo].step == step ? &s->entries[lo] : NULL;
}

int tv_evalstate_improves(const tv_evalstate *s, double value) {
  if (!isfinite(value)) return 0;
  if (!s->has_best) return 1;
  return s->mode_max ? value > s->best_value + s->min_delta : value < s->best_value - s->min_delta;
}

int tv_evalstate_add(tv_evalstate *s, const tv_evalstate_entry *e, const char *file,
                     int *improved) {
  if (improved) *improved = 0;
  if (e->step < 0)
    return tv_error(TV_ERR_INVALID, "evaluator state: step %lld is negative", (long long)e->step);
  int i = s->n;
  while (i > 0 && s->entries[i - 1].step > e->step) i--;
  if (i > 0 && s->entries[i - 1].step == e->step) {
    i--;
  } else {
    if (s->n == s->cap) {
      int cap = s->cap ? 2 * s->cap : 32;
      tv_evalstate_entry *p = realloc(s->entries, (size_t)cap * sizeof *p);
      if (!p) return tv_error(TV_ERR_NOMEM, "evaluator state: out of memory");
      s->entries = p;
      s->cap = cap;
    }
    memmove(&s->entries[i + 1], &s->entries[i], (size_t)(s->n - i) * sizeof *s->entries);
    s->n++;
  }
  s->entries[i] = *e;
  s->entries[i].error[sizeof e->error - 1] = '\0';
  if (e->step > s->cursor) s->cursor = e->step;
  if (e->outcome != TV_EVAL_OUTCOME_OK) return TV_OK;
  if (tv_evalstate_improves(s, e->value)) {
    s->has_best = 1;
    s->best_step = e->step;
    s->best_value = e->value;
    snprintf(s->best_file, sizeof s->best_file, "%s", file ? file : "");
    s->since_best = 0;
    s->stop_requested = -1; /* improving again re-arms early stopping */
    if (improved) *improved = 1;
  } else {
    s->since_best++;
  }
  return TV_OK;
}

static int parse_hash(const char *s, uint64_t *h) {
  static const char prefix[] = "fnv1a64:";
  if (s[0] == '\0') {
    *h = 0;
    return 1;
  }
  if (strncmp(s, prefix, sizeof prefix - 1) != 0 || strlen(s) != sizeof prefix - 1 + 16) return 0;
  for (const char *p = s + sizeof prefix - 1; *p; p++)
    if (!strchr("0123456789abcdefABCDEF", *p)) return 0;
  *h = strtoull(s + sizeof prefix - 1, NULL, 16);
  return 1;
}

static int parse_state_entry(const tv_ydoc *d, const yaml_node_t *item, tv_evalstate_entry *e) {
  if (item->type != YAML_MAPPING_NODE)
    return tv_ydoc_error(d, item, "evaluated: each item must be a mapping (step, outcome, ...)");
  memset(e, 0, sizeof *e);
  const yaml_node_t *v;
  int rc;
  const char *s = "";
  if ((rc = tv_ydoc_field(d, item, "step", 1, &v)) || (rc = tv_ydoc_i64(d, v, "step", 0, &e->step)))
    return rc;
  if ((rc = tv_ydoc_field(d, item, "outcome", 1, &v)) || (rc = tv_ydoc_scalar(d, v, "outcome", &s)))
    return rc;
  int o = -1;
  for (int k = 0; k < 3; k++)
    if (!strcmp(s, outcome_names[k])) o = k;
  if (o < 0) return tv_ydoc_error(d, v, "outcome: expected ok, failed or skipped, got \"%s\"", s);
  e->outcome = (tv_eval_outcome)o;
  e->value = NAN;
  if ((rc = tv_ydoc_opt_f64(d, item, "value", &e->value))) return rc;
  if (e->outcome == TV_EVAL_OUTCOME_OK && !isfinite(e->value))
    return tv_ydoc_error(d, item, "evaluated: step %lld is ok but has no value",
                         (long long)e->step);
  return tv_ydoc_opt_str(d, item, "error", e->error, sizeof e->error, 0);
}

static int parse_state(const tv_ydoc *d, const yaml_node_t *root, tv_evalstate *s) {
  int rc;
  const yaml_node_t *v;
  const char *str = "";
  if ((rc = tv_ydoc_format(d, root, TV_EVALSTATE_FORMAT, TV_EVALSTATE_VERSION))) return rc;
  if ((rc = tv_ydoc_field(d, root, "name", 1, &v)) ||
      (rc = tv_ydoc_str(d, v, "name", s->name, sizeof s->name, 1)))
    return rc;
  if ((rc = tv_ydoc_field(d, root, "cursor", 1, &v)) ||
      (rc = tv_ydoc_i64(d, v, "cursor", -1, &s->cursor)))
    return rc;
  if ((rc = tv_ydoc_opt_str(d, root, "host", s->host, sizeof s->host, 1))) return rc;
  int64_t pid = 0;
  if ((rc = tv_ydoc_opt_i64(d, root, "pid", 0, &pid))) return rc;
  s->pid = (long)pid;
  if ((rc = tv_ydoc_opt_f64(d, root, "updated", &s->updated))) return rc;
  if ((rc = tv_ydoc_opt_str(d, root, "split", s->split, sizeof s->split, 1))) return rc;
  if ((rc = tv_ydoc_opt_i64(d, root, "num_examples", 0, &s->num_examples))) return rc;
  if ((rc = tv_ydoc_field(d, root, "subset_seed", 0, &v))) return rc;
  if (v) {
    if ((rc = tv_ydoc_scalar(d, v, "subset_seed", &str))) return rc;
    if (strcmp(str, "none") != 0) {
      if ((rc = tv_ydoc_u64(d, v, "subset_seed", &s->subset_seed))) return rc;
      s->has_subset_seed = 1;
    }
  }
  if ((rc = tv_ydoc_field(d, root, "subset_hash", 0, &v))) return rc;
  if (v) {
    if ((rc = tv_ydoc_scalar(d, v, "subset_hash", &str))) return rc;
    if (!parse_hash(str, &s->subset_hash))
      return tv_ydoc_error(d, v, "subset_hash: expected fnv1a64: and 16 hex digits, got \"%s\"",
                           str);
  }
  if ((rc = tv_ydoc_opt_str(d, root, "policy", s->policy, sizeof s->policy, 1))) return rc;
  if ((rc = tv_ydoc_opt_str(d, root, "metric", s->metric, sizeof s->metric, 1))) return rc;
  char mode[TV_EVAL_WORD_CAP] = "max";
  if ((rc = tv_ydoc_opt_str(d, root, "mode", mode, sizeof mode, 1))) return rc;
  s->mode_max = strcmp(mode, "min") != 0;
  if ((rc = tv_ydoc_opt_f64(d, root, "min_delta", &s->min_delta))) return rc;
  if ((rc = tv_ydoc_opt_i64(d, root, "patience", 0, &s->patience))) return rc;
  if ((rc = tv_ydoc_opt_i64(d, root, "since_best", 0, &s->since_best))) return rc;
  if ((rc = tv_ydoc_opt_i64(d, root, "stop_requested", -1, &s->stop_requested))) return rc;
  if ((rc = tv_ydoc_field(d, root, "retired_baseline", 0, &v))) return rc;
  if (v) {
    if ((rc = tv_ydoc_i64(d, v, "retired_baseline", -1, &s->retired_baseline))) return rc;
    s->has_retired_baseline = 1;
  }
  if ((rc = tv_ydoc_field(d, root, "best", 0, &v))) return rc;
  if (v && !(v->type == YAML_SCALAR_NODE && v->data.scalar.length == 0)) {
    if (v->type != YAML_MAPPING_NODE)
      return tv_ydoc_error(d, v, "best: expected a mapping (step, ...)");
    const yaml_node_t *x;
    if ((rc = tv_ydoc_field(d, v, "step", 1, &x)) ||
        (rc = tv_ydoc_i64(d, x, "step", 0, &s->best_step)) ||
        (rc = tv_ydoc_field(d, v, "value", 1, &x)) ||
        (rc = tv_ydoc_f64(d, x, "value", &s->best_value)) ||
        (rc = tv_ydoc_opt_str(d, v, "file", s->best_file, sizeof s->best_file, 1)))
      return rc;
    s->has_best = 1;
  }
  const yaml_node_t *seq;
  if ((rc = tv_ydoc_field(d, root, "evaluated", 0, &seq))) return rc;
  if (!seq || (seq->type == YAML_SCALAR_NODE && seq->data.scalar.length == 0)) return TV_OK;
  if (seq->type != YAML_SEQUENCE_NODE)
    return tv_ydoc_error(d, seq, "evaluated: expected a sequence");
  yaml_node_item_t *it = seq->data.sequence.items.start;
  int n = (int)(seq->data.sequence.items.top - it);
  if (n == 0) return TV_OK;
  s->entries = calloc((size_t)n, sizeof *s->entries);
  if (!s->entries) return tv_error(TV_ERR_NOMEM, "%s: out of memory", tv_ydoc_path(d));
  s->cap = n;
  for (int i = 0; i < n; i++) {
    const yaml_node_t *item = tv_ydoc_node(d, it[i]);
    tv_evalstate_entry *e = &s->entries[i];
    if ((rc = parse_state_entry(d, item, e))) return rc;
    if (i > 0 && e->step <= e[-1].step)
      return tv_ydoc_error(d, item, "evaluated: step %lld after step %lld (steps must ascend)",
                           (long long)e->step, (long long)e[-1].step);
    s->n = i + 1;
  }
  if (s->entries[n - 1].step > s->cursor)
    return tv_ydoc_error(d, seq, "evaluated: step %lld is past the cursor %lld",
                         (long long)s->entries[n - 1].step, (long long)s->cursor);
  return TV_OK;
}

int tv_evalstate_read(const char *path, tv_evalstate *s) {
  tv_evalstate_free(s);
  tv_ydoc *d;
  const yaml_node_t *root;
  int rc = tv_ydoc_load(path, &d);
  if (rc) return rc;
  tv_evalstate tmp;
  tv_evalstate_init(&tmp);
  if ((rc = tv_ydoc_root_map(d, &root)) == TV_OK) rc = parse_state(d, root, &tmp);
  tv_ydoc_free(d);
  if (rc) {
    tv_evalstate_free(&tmp);
    return rc;
  }
  *s = tmp;
  return TV_OK;
}

int tv_evalstate_write(const char *path, tv_evalstate *s) {
  s->updated = tv_now();
  tv_rundir_identity(s->host, sizeof s->host, &s->pid);
  if (!tv_eval_name_valid(s->name) || !tv_text_is_printable(s->split, sizeof s->split) ||
      !tv_text_is_printable(s->policy, sizeof s->policy) ||
      !tv_text_is_printable(s->metric, sizeof s->metric) ||
      !tv_text_is_printable(s->best_file, sizeof s->best_file) || s->cursor < -1)
    return tv_error(TV_ERR_INVALID, "%s: evaluator state has a bad name, word or cursor", path);
  for (int i = 0; i < s->n; i++)
    if (s->entries[i].step < 0 || (i > 0 && s->entries[i].step <= s->entries[i - 1].step) ||
        s->entries[i].step > s->cursor || !memchr(s->entries[i].error, '\0', TV_EVAL_ERROR_CAP))
      return tv_error(TV_ERR_INVALID, "%s: evaluator state entry %d out of order", path, i);
  tv_text b = {0};
  tv_text_printf(
      &b,
      "# trainval evaluator state: the cursor of eval --watch --name %s.\n"
      "# Written by that evaluator only (atomically); readers ignore keys they do not know.\n"
      "format: %s\nformat_version: %d\nname: ",
      s->name, TV_EVALSTATE_FORMAT, TV_EVALSTATE_VERSION);
  tv_text_yaml_str(&b, s->name, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nhost: ");
  tv_text_yaml_str(&b, s->host, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\npid: %ld\nupdated: %.6f\nsplit: ", s->pid, s->updated);
  tv_text_yaml_str(&b, s->split[0] ? s->split : "test", TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nnum_examples: %lld\nsubset_seed: ", (long long)s->num_examples);
  if (s->has_subset_seed)
    tv_text_printf(&b, "%llu", (unsigned long long)s->subset_seed);
  else
    tv_text_printf(&b, "none");
  if (s->subset_hash)
    tv_text_printf(&b, "\nsubset_hash: fnv1a64:%016llx", (unsigned long long)s->subset_hash);
  else
    tv_text_printf(&b, "\nsubset_hash: \"\"");
  tv_text_printf(&b, "\npolicy: ");
  tv_text_yaml_str(&b, s->policy, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nmetric: ");
  tv_text_yaml_str(&b, s->metric, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nmode: %s\nmin_delta: %.17g\npatience: %lld\ncursor: %lld\n",
                 s->mode_max ? "max" : "min", s->min_delta, (long long)s->patience,
                 (long long)s->cursor);
  if (s->has_best) {
    tv_text_printf(&b, "best: {step: %lld, file: ", (long long)s->best_step);
    tv_text_yaml_str(&b, s->best_file, TV_TEXT_YAML_QUOTE_NONE);
    tv_text_printf(&b, ", value: %.17g}\n", s->best_value);
  }
  tv_text_printf(&b, "since_best: %lld\nstop_requested: %lld\n", (long long)s->since_best,
                 (long long)s->stop_requested);
  if (s->has_retired_baseline)
    tv_text_printf(&b, "retired_baseline: %lld\n", (long long)s->retired_baseline);
  tv_text_printf(&b, "evaluated:%s\n", s->n ? "" : " []");
  for (int i = 0; i < s->n; i++) {
    const tv_evalstate_entry *e = &s->entries[i];
    tv_text_printf(&b, "  - {step: %lld, outcome: %s", (long long)e->step,
                   outcome_names[e->outcome]);
    if (e->outcome == TV_EVAL_OUTCOME_OK) tv_text_printf(&b, ", value: %.17g", e->value);
    if (e->error[0]) {
      tv_text_printf(&b, ", error: ");
      tv_text_yaml_str(&b, e->error, TV_TEXT_YAML_QUOTE_NONE);
    }
    tv_text_printf(&b, "}\n");
  }
  int rc = tv_text_check(&b, path);
  if (rc == TV_OK) rc = tv_fs_write_atomic(path, b.p, b.n);
  tv_text_free(&b);
  return rc;
}
