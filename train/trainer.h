/* trainer.h — the training loop of the train program and its side of the train_dir protocol.
 *
 * The trainer owns one run directory for its lifetime: it holds DIR/LOCK, writes config.yaml,
 * the checkpoints and the manifest, and the event files of DIR (run ".") and DIR/validation.
 * Nothing here prints except through the progress and log lines the options ask for (stdout);
 * errors come back as TV_ERR_* with the message in the error record, for main() to print.
 *
 * Data-parallel runs (dist.h, SEMANTICS): every rank opens and runs a trainer over the same DIR;
 * only rank 0 touches DIR (lock, config.yaml, checkpoints, manifest, events) and prints.  Every
 * rank reaches the same exchanges in the same order: trainer_open ends with one (a failure on any
 * rank fails them all), each step has the gradient sum and the flags.
 */
#ifndef TRAINVAL_TRAIN_TRAINER_H
#define TRAINVAL_TRAIN_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/dist.h"
#include "trainval/error.h"

enum { TRAINER_MAX_SETS = 128 };

typedef struct trainer_options {
  const char *train_dir;
  const char *config; /* NULL: DIR/config.yaml (a resumed run) */
  const char *sets[TRAINER_MAX_SETS];
  int n_sets;
  int threads;          /* 0: OpenBLAS's choice */
  int verbosity;        /* 0 quiet, 1 normal, 2 verbose */
  int replan_schedule;  /* resume: stretch the cosine schedule to the new last step */
  size_t max_memory_mb; /* --max-memory: a plan above it is refused before the data and the
                           graphs are allocated (budget.h); 0: no limit */
  tv_dist *dist;        /* borrowed: this process's rank in a data-parallel run (dist.h) */
} trainer_options;

/* How a run ended (trainer_run's result when it returns TV_OK). */
typedef enum trainer_outcome {
  TRAINER_FINAL,         /* reached the last step; status final */
  TRAINER_EARLY_STOPPED, /* validation stopped improving, or an evaluator asked (DIR/STOP) */
  TRAINER_INTERRUPTED,   /* SIGINT/SIGTERM: checkpoint saved, status interrupted */
  TRAINER_NOTHING_TO_DO  /* the run is already at its last step */
} trainer_outcome;

typedef struct trainer trainer;

/* Sets up DIR (creates it, takes the lock, freezes the config, loads the data, builds the
 * graphs, resumes from the newest committed checkpoint).  *out NULL on failure.
 * Errors: every TV_ERR_* of the modules below, with the file named. */
TV_MUST_CHECK int trainer_open(const trainer_options *o, trainer **out);

/* Trains to the last step (or an early stop, or a signal).  A diverged run returns
 * TV_ERR_NONFINITE after marking the manifest diverged; any other error marks it aborted. */
TV_MUST_CHECK int trainer_run(trainer *t, trainer_outcome *outcome);

/* Prints the model summary (each layer: kind, output shape, parameters, FLOPs per example;
 * totals) and the plan of the run to stdout. */
void trainer_print_summary(const trainer *t);

int64_t trainer_step(const trainer *t);
int64_t trainer_total_steps(const trainer *t);

/* After a failed trainer_run: writes the HParams session end with status FAILURE and marks the
 * manifest aborted (best effort: the original error is what gets reported; a diverged run keeps
 * its status). */
void trainer_mark_aborted(trainer *t);

/* Releases everything (and the lock).  NULL-safe. */
void trainer_free(trainer *t);

/* Asks a running trainer_run to stop cleanly at the end of the current step (async-signal-safe:
 * sets a flag).  sig is reported in the log. */
void trainer_request_stop(int sig);

#endif
