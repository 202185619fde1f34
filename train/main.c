/* train — the training program's command line (the loop is in trainer.c).
 *
 *   train --train-dir DIR [--config FILE] [--steps N | --epochs E] [--set key=value ...]
 *
 * Owns every decision about printing and exit codes: 0 done (finished, early-stopped, or
 * stopped cleanly by a signal), 1 a runtime error (one line on stderr), 2 a usage error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer.h"

static void on_signal(int sig) { trainer_request_stop(sig); }

static void usage(FILE *f) {
  fputs(
      "usage: train --train-dir DIR [--config FILE] [--steps N | --epochs E]\n"
      "             [--set section.key=value ...] [--threads N] [--quiet | --verbose]\n"
      "\n"
      "Trains the model of FILE, writing checkpoints (HDF5), the manifest checkpoints.yaml and\n"
      "TensorBoard event files into DIR.  Run it again on the same DIR to resume from the newest\n"
      "committed checkpoint, exactly where it stopped (then --config may be left out:\n"
      "DIR/config.yaml is used; a --config whose model differs is refused).\n"
      "\n"
      "  --train-dir DIR     run directory (created if missing; one train at a time: DIR/LOCK)\n"
      "  --config FILE       YAML model and training config (required for a new DIR)\n"
      "  --steps N           train until global step N (same as --set train.steps=N)\n"
      "  --epochs E          train for E epochs (same as --set train.epochs=E --set "
      "train.steps=0)\n"
      "  --set KEY=VALUE     override a config value, e.g. --set optimizer.learning_rate=0.01\n"
      "                      or --set model.layers.1.units=256 (repeatable)\n"
      "  --threads N         OpenBLAS threads (default: OpenBLAS's own choice)\n"
      "  --quiet             print only errors and the final line\n"
      "  --verbose           also print each checkpoint commit and skipped update\n"
      "  -h, --help          this text\n"
      "\n"
      "On a terminal, progress is one updating line; otherwise a log line every train.log_every\n"
      "steps.  SIGINT/SIGTERM save a checkpoint, mark the run interrupted (resumable) and exit 0.\n"
      "An evaluator's DIR/STOP request ends the run as early_stopped.\n"
      "\n"
      "Exit status: 0 finished, early-stopped or interrupted; 1 error (including a diverged\n"
      "run: the manifest says diverged); 2 usage error.\n",
      f);
}

static int parse_count(const char *opt, const char *v, long long hi, long long *out) {
  char *end;
  long long n = strtoll(v, &end, 10);
  if (*end || end == v || n < 1 || n > hi) {
    fprintf(stderr, "train: %s: expected a positive integer, got '%s'\n", opt, v);
    return 2;
  }
  *out = n;
  return 0;
}

static int parse_args(int argc, char **argv, trainer_options *o, char (*owned)[64]) {
  int n_owned = 0, have_length = 0;
  o->verbosity = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    }
    if (!strcmp(a, "--quiet") || !strcmp(a, "--verbose")) {
      o->verbosity = !strcmp(a, "--quiet") ? 0 : 2;
      continue;
    }
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v) {
      fprintf(stderr, "train: %s needs a value (see train --help)\n", a);
      return 2;
    }
    long long n;
    if (!strcmp(a, "--train-dir")) {
      o->train_dir = v;
    } else if (!strcmp(a, "--config")) {
      o->config = v;
    } else if (!strcmp(a, "--set")) {
      if (o->n_sets >= TRAINER_MAX_SETS - 2) {
        fprintf(stderr, "train: too many --set options\n");
        return 2;
      }
      o->sets[o->n_sets++] = v;
    } else if (!strcmp(a, "--steps") || !strcmp(a, "--epochs")) {
      if (parse_count(a, v, 1LL << 50, &n)) return 2;
      if (have_length++) {
        fprintf(stderr, "train: give --steps or --epochs once\n");
        return 2;
      }
      if (!strcmp(a, "--steps")) {
        snprintf(owned[n_owned], 64, "train.steps=%lld", n);
        o->sets[o->n_sets++] = owned[n_owned++];
      } else {
        snprintf(owned[n_owned], 64, "train.epochs=%lld", n);
        o->sets[o->n_sets++] = owned[n_owned++];
        snprintf(owned[n_owned], 64, "train.steps=0");
        o->sets[o->n_sets++] = owned[n_owned++];
      }
    } else if (!strcmp(a, "--threads")) {
      if (parse_count(a, v, 1024, &n)) return 2;
      o->threads = (int)n;
    } else {
      fprintf(stderr, "train: unknown option %s (see train --help)\n", a);
      return 2;
    }
  }
  if (!o->train_dir) {
    fprintf(stderr, "train: --train-dir is required (see train --help)\n");
    return 2;
  }
  return 0;
}

int main(int argc, char **argv) {
  static trainer_options opt;
  static char owned[4][64];
  int urc = parse_args(argc, argv, &opt, owned);
  if (urc) return urc;
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  /* A closed stdout (train | head) or a file-size limit must not kill a run: writes just fail
   * and are reported. */
  signal(SIGPIPE, SIG_IGN);
  signal(SIGXFSZ, SIG_IGN);

  trainer *t = NULL;
  int rc = trainer_open(&opt, &t);
  if (rc != TV_OK) {
    fprintf(stderr, "train: %s\n", tv_error_message());
    return 1;
  }
  if (opt.verbosity > 0) trainer_print_summary(t);
  trainer_outcome outcome;
  rc = trainer_run(t, &outcome);
  if (rc != TV_OK) {
    fprintf(stderr, "train: %s\n", tv_error_message());
    trainer_mark_aborted(t);
    trainer_free(t);
    return 1;
  }
  if (outcome == TRAINER_NOTHING_TO_DO)
    printf("train: %s is already at step %lld of %lld; nothing to do\n", opt.train_dir,
           (long long)trainer_step(t), (long long)trainer_total_steps(t));
  trainer_free(t);
  return 0;
}
