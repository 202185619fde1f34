/* eval — the evaluation program.  Two modes:
 *
 *   eval --ckpt PATH | --train-dir DIR --ckpt latest|STEP  [--split S] [--num-examples N]
 *        [--subset-seed S] [--batch-size B] [--json]                      (one checkpoint)
 *   eval --watch DIR [--name NAME] [--policy all|latest] ...              (follow a run)
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "trainval/ckpt.h"
#include "trainval/commit.h"
#include "trainval/config.h"
#include "trainval/evalstate.h"
#include "trainval/fs.h"
#include "trainval/ops.h"
#include "trainval/yamlio.h"

static void usage(FILE *f) {
  fputs("usage: eval --ckpt PATH [options]\n"
        "       eval --train-dir DIR --ckpt latest|STEP [options]\n"
        "       eval --watch DIR [watch options] [options]\n"
        "\n"
        "Evaluates checkpoints: builds the inference graph from the config stored in the\n"
        "checkpoint and reports loss, accuracy, top-5 accuracy and macro-F1.  With --watch it\n"
        "follows a training run, from the same machine or another one that sees DIR, and\n"
        "evaluates every committed checkpoint exactly once (results in DIR/NAME/).\n"
        "\n"
        "  --ckpt PATH|latest|STEP  the checkpoint file, or (with --train-dir) the newest\n"
        "                           committed one or the one of that step (default latest)\n"
        "  --train-dir DIR          the run directory whose manifest names the checkpoint\n"
        "  --split test|valid|train data split (default test; valid is carved from the\n"
        "                           training files exactly as train carved it)\n"
        "  --num-examples N         evaluate N examples of the split (default all)\n"
        "  --subset-seed S          a random N drawn with seed S instead of the first N\n"
        "  --batch-size B           inference batch size (default 500)\n"
        "  --threads N              OpenBLAS threads (default: OpenBLAS's own choice)\n"
        "  --json                   one-shot: print exactly one JSON object on stdout;\n"
        "                           --watch: print each result as its metrics.jsonl line\n"
        "  -h, --help               this text\n"
        "\n"
        "Watch options:\n"
        "  --watch DIR              follow the run in DIR (it need not exist yet)\n"
        "  --name NAME              evaluator name: results go to DIR/NAME/ (default eval);\n"
        "                           give each evaluator of one DIR its own name\n"
        "  --policy all|latest      all: every committed checkpoint in step order (default);\n"
        "                           latest: skip a backlog, only the newest\n"
        "  --min-interval SECONDS   start an evaluation at most once per SECONDS\n"
        "  --timeout SECONDS        exit 0 after SECONDS with nothing new to evaluate\n"
        "  --poll[=SECONDS]         poll DIR every SECONDS (default 1) instead of inotify;\n"
        "                           automatic on NFS, CIFS/SMB, FUSE and other remote mounts\n"
        "  --metric accuracy|loss|top5|macro_f1   what best.h5 and early stopping follow\n"
        "                           (default accuracy)\n"
        "  --mode max|min           whether larger is better (default: max, min for loss)\n"
        "  --early-stop-patience N  write DIR/STOP (train then stops) after N results without\n"
        "                           an improvement of more than --min-delta D (default 0)\n"
        "  --trace FILE             append timing lines for scripts/bench_watch.sh\n"
        "\n"
        "Watching ends by itself (exit 0) once the trainer's status is final, early_stopped,\n"
        "aborted or diverged and every checkpoint it must evaluate is done, after --timeout, or\n"
        "on SIGINT/SIGTERM (the state stays consistent; run it again to go on).\n"
        "\n"
        "Exit status: 0 ok, 1 error (one line on stderr), 2 usage error.\n",
        f);
}

static int parse_int(const char *opt, const char *v, long long lo, long long hi, long long *out) {
  char *end;
  long long n = strtoll(v, &end, 10);
  if (*end || end == v || n < lo || n > hi) {
    fprintf(stderr, "eval: %s: expected an integer in [%lld, %lld], got '%s'\n", opt, lo, hi, v);
    return 2;
  }
  *out = n;
  return 0;
}

static int parse_seconds(const char *opt, const char *v, double lo, double *out) {
  char *end;
  double x = strtod(v, &end);
  if (*end || end == v || !isfinite(x) || x < lo || x > 1e9) {
    fprintf(stderr, "eval: %s: expected a number of seconds >= %g, got '%s'\n", opt, lo, v);
    return 2;
  }
  *out = x;
  return 0;
}

static int parse_args(int argc, char **argv, eval_options *o) {
  o->split = TV_SPLIT_TEST;
  o->batch_size = 500;
  o->timeout = -1;
  o->poll_interval = 1.0;
  o->mode_max = -1;
  int watch_only = 0; /* an option that means nothing without --watch */
  const char *watch_opt = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    }
    if (!strcmp(a, "--json")) {
      o->json = 1;
      continue;
    }
    if (!strcmp(a, "--poll") || !strncmp(a, "--poll=", 7)) {
      o->poll = 1;
      if (a[6] == '=' && parse_seconds("--poll", a + 7, 0.001, &o->poll_interval)) return 2;
      watch_only = 1, watch_opt = "--poll";
      continue;
    }
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v) {
      fprintf(stderr, "eval: %s needs a value (see eval --help)\n", a);
      return 2;
    }
    long long n;
    if (!strcmp(a, "--ckpt")) {
      o->ckpt = v;
    } else if (!strcmp(a, "--train-dir")) {
      o->train_dir = v;
    } else if (!strcmp(a, "--split")) {
      int s = tv_split_parse(v);
      if (s < 0) {
        fprintf(stderr, "eval: --split: expected test, valid or train, got '%s'\n", v);
        return 2;
      }
      o->split = (tv_split)s;
    } else if (!strcmp(a, "--num-examples")) {
      if (parse_int(a, v, 1, 1LL << 32, &n)) return 2;
      o->num_examples = n;
    } else if (!strcmp(a, "--subset-seed")) {
      char *end;
      unsigned long long s = strtoull(v, &end, 10);
      if (*end || end == v || v[0] == '-') {
        fprintf(stderr, "eval: --subset-seed: expected a non-negative integer, got '%s'\n", v);
        return 2;
      }
      o->has_subset_seed = 1;
      o->subset_seed = s;
    } else if (!strcmp(a, "--batch-size")) {
      if (parse_int(a, v, 1, 65536, &n)) return 2;
      o->batch_size = (int)n;
    } else if (!strcmp(a, "--threads")) {
      if (parse_int(a, v, 1, 1024, &n)) return 2;
      o->threads = (int)n;
    } else if (!strcmp(a, "--watch")) {
      o->watch = v;
    } else {
      watch_only = 1, watch_opt = a;
      if (!strcmp(a, "--name")) {
        if (!tv_eval_name_valid(v)) {
          fprintf(stderr,
                  "eval: --name: expected 1..63 of A-Z a-z 0-9 . _ - (not starting with '.'), "
                  "got '%s'\n",
                  v);
          return 2;
        }
        o->name = v;
      } else if (!strcmp(a, "--policy")) {
        if (strcmp(v, "all") && strcmp(v, "latest")) {
          fprintf(stderr, "eval: --policy: expected all or latest, got '%s'\n", v);
          return 2;
        }
        o->policy_latest = !strcmp(v, "latest");
      } else if (!strcmp(a, "--timeout")) {
        if (parse_seconds(a, v, 0, &o->timeout)) return 2;
      } else if (!strcmp(a, "--min-interval")) {
        if (parse_seconds(a, v, 0, &o->min_interval)) return 2;
      } else if (!strcmp(a, "--metric")) {
        if (tv_metric_find(v) < 0) {
          char names[256];
          fprintf(stderr, "eval: --metric: expected %s, got '%s'\n",
                  tv_metric_list(names, sizeof names), v);
          return 2;
        }
        o->metric = v;
      } else if (!strcmp(a, "--mode")) {
        if (strcmp(v, "max") && strcmp(v, "min")) {
          fprintf(stderr, "eval: --mode: expected max or min, got '%s'\n", v);
          return 2;
        }
        o->mode_max = !strcmp(v, "max");
      } else if (!strcmp(a, "--early-stop-patience")) {
        if (parse_int(a, v, 1, 1000000000, &n)) return 2;
        o->patience = n;
      } else if (!strcmp(a, "--min-delta")) {
        if (parse_seconds(a, v, 0, &o->min_delta)) return 2; /* a non-negative number */
      } else if (!strcmp(a, "--trace")) {
        o->trace = v;
      } else {
        fprintf(stderr, "eval: unknown option %s (see eval --help)\n", a);
        return 2;
      }
    }
  }
  if (o->watch && (o->ckpt || o->train_dir)) {
    fprintf(stderr, "eval: --watch follows a run; it takes no --ckpt or --train-dir\n");
    return 2;
  }
  if (!o->watch && watch_only) {
    fprintf(stderr, "eval: %s needs --watch DIR (see eval --help)\n", watch_opt);
    return 2;
  }
  if (!o->watch && !o->ckpt && !o->train_dir) {
    fprintf(stderr,
            "eval: give --ckpt PATH or --train-dir DIR, or --watch DIR (see eval --help)\n");
    return 2;
  }
  if (!o->name) o->name = "eval";
  if (!o->metric) o->metric = "accuracy";
  if (o->mode_max < 0) o->mode_max = tv_metric_desc_for(tv_metric_find(o->metric))->maximize;
  return 0;
}

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

static int one_shot(const eval_options *o) {
  char path[TV_PATH_CAP + 128];
  tv_ckpt_info expect;
  int have_expect = 0;
  evaluator *ev = NULL;
  evaluator_result r;
  evaluator_opts eo = {.split = o->split,
                       .num_examples = (uint32_t)o->num_examples,
                       .random_subset = o->has_subset_seed,
                       .subset_seed = o->subset_seed,
                       .batch_size = o->batch_size,
                       .threads = o->threads};
  if (o->num_examples > UINT32_MAX) eo.num_examples = UINT32_MAX;
  double t0 = tv_monotonic();
  int rc = locate(o, path, sizeof path, &expect, &have_expect);
  if (rc == TV_OK) rc = evaluator_new(&eo, &ev);
  if (rc == TV_OK) rc = evaluator_run(ev, path, have_expect ? &expect : NULL, &r);
  double t2 = tv_monotonic();
  if (rc != TV_OK) {
    fprintf(stderr, "eval: %s\n", tv_error_message());
  } else {
    const tv_metrics_summary *s = &r.s;
    double speed = r.eval_seconds > 0 ? (double)s->n / r.eval_seconds : 0.0;
    if (o->json) {
      printf("{\"checkpoint\": ");
      tv_text quoted = {0};
      tv_text_json_str(&quoted, path);
      fputs(quoted.oom ? "\"\"" : quoted.p, stdout);
      tv_text_free(&quoted);
      printf(", \"step\": %lld, \"epoch\": %lld, \"split\": \"%s\", \"num_examples\": %llu, ",
             (long long)r.step, (long long)r.epoch, tv_split_name(o->split),
             (unsigned long long)s->n);
      for (int k = 0; k < TV_METRIC__COUNT; k++)
        printf("\"%s\": %.6f, ", tv_metric_desc_for((tv_metric_kind)k)->name,
               tv_metric_value(s, (tv_metric_kind)k));
      printf("\"subset_hash\": \"fnv1a64:%016llx\", "
             "\"verified\": %s, \"seconds\": %.3f, \"examples_per_sec\": %.0f}\n",
             (unsigned long long)r.subset_hash, have_expect ? "true" : "false", t2 - t0, speed);
    } else {
      printf("checkpoint   %s%s\n", path, have_expect ? " (checksum verified)" : "");
      printf("step         %lld\n", (long long)r.step);
      printf("split        %s (%llu examples)\n", tv_split_name(o->split),
             (unsigned long long)s->n);
      for (int k = 0; k < TV_METRIC__COUNT; k++)
        printf("%-12s %.4f\n", tv_metric_desc_for((tv_metric_kind)k)->name,
               tv_metric_value(s, (tv_metric_kind)k));
      printf("speed        %.0f examples/s\n", speed);
    }
  }
  evaluator_free(ev);
  return rc == TV_OK ? 0 : 1;
}

int main(int argc, char **argv) {
  eval_options o = {0};
  int urc = parse_args(argc, argv, &o);
  if (urc) return urc;
  return o.watch ? watch_run(&o) : one_shot(&o);
}
