/* train — the training program's command line (the loop is in trainer.c).
 *
 *   train --train-dir DIR [--config FILE] [--steps N | --epochs E] [--set key=value ...]
 *
 * One option table (OPTIONS) drives getopt_long, --help and the machine-readable list that
 * scripts/gen-man.sh turns into man/trainval-train.1 and the bash completion.  The program calls
 * itself by the name it was started as (trainval-train once installed).  Owns every decision
 * about printing and exit codes: 0 done (finished, early-stopped, stopped cleanly by a signal, or
 * nothing to do), 1 a runtime error (one line on stderr), 2 a usage error (one line on stderr).
 *
 * Data-parallel runs (dist.h): the same main() is linked twice.  bin/train links the
 * one-process dist (common/dist/single.c) and never needs MPI at run time; bin/train-mpi links
 * common/dist/mpi.c.  Started by mpirun with more than one rank (OMPI_COMM_WORLD_SIZE), the plain
 * build executes NAME-mpi from its own directory in its place, so `mpirun -np N train ...` works
 * with either: one binary to name, and MPI loaded only where it is used (a separate binary
 * rather than dlopen: the linker checks it, and no MPI header or library is needed to build or
 * run the plain one).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer.h"
#include "trainval/budget.h"
#include "trainval/cli.h"

static const char *prog = "train";

static void on_signal(int sig) { trainer_request_stop(sig); }

/* The ranks mpirun started (OMPI_COMM_WORLD_SIZE), 1 outside mpirun. */
static long mpi_world_size(void) {
  const char *v = getenv("OMPI_COMM_WORLD_SIZE");
  long n = v ? strtol(v, NULL, 10) : 1;
  return n > 1 ? n : 1;
}

/* The plain build under mpirun: replaces this process by NAME-mpi next to it.  Returns only
 * on failure, with the exit status. */
static int exec_mpi_build(char **argv, long ranks) {
  char self[4096], path[4200];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) {
    fprintf(stderr, "%s: started by mpirun with %ld ranks, but /proc/self/exe cannot be read\n",
            prog, ranks);
    return 1;
  }
  self[len] = '\0';
  snprintf(path, sizeof path, "%s-mpi", self);
  execv(path, argv);
  fprintf(stderr,
          "%s: started by mpirun with %ld ranks, but %s cannot run (%s): it is built by make "
          "when Open MPI is installed (libopenmpi-dev; make setup installs it)\n",
          prog, ranks, path, strerror(errno));
  return 1;
}

/* Seconds an exchange with the other ranks may wait (TRAINVAL_MPI_TIMEOUT; default 300). */
static double mpi_timeout(void) {
  const char *v = getenv("TRAINVAL_MPI_TIMEOUT");
  double s = v ? strtod(v, NULL) : 0;
  return s > 0 ? s : 300;
}

/* The one-line error, naming the rank in a data-parallel run. */
static void print_error(const tv_dist *d) {
  if (tv_dist_size(d) > 1)
    fprintf(stderr, "%s: rank %d of %d: %s\n", prog, tv_dist_rank(d), tv_dist_size(d),
            tv_error_message());
  else
    fprintf(stderr, "%s: %s\n", prog, tv_error_message());
}

/* Leaves the job with status: after an error this rank met alone, or once the ranks are out of
 * step, the whole job ends now (others may be waiting for this rank); otherwise every rank
 * leaves together. */
static int leave(tv_dist *d, int status, int shared) {
  if (status != 0 && (!shared || tv_dist_broken(d))) tv_dist_fail(d);
  tv_dist_close(d);
  return status;
}

enum {
  OPT_TRAIN_DIR = 256,
  OPT_CONFIG,
  OPT_STEPS,
  OPT_EPOCHS,
  OPT_SET,
  OPT_REPLAN,
  OPT_THREADS,
  OPT_MAX_MEMORY
};

static const tv_cli_option OPTIONS[] = {
    {"train-dir", OPT_TRAIN_DIR, 0, required_argument, "DIR", "@dir", NULL,
     "run directory (created if missing; one train at a time: DIR/LOCK)"},
    {"config", OPT_CONFIG, 0, required_argument, "FILE", "@file", NULL,
     "YAML model and training config (required for a new DIR; the format: trainval-config(5))"},
    {"steps", OPT_STEPS, 0, required_argument, "N", "@number", NULL,
     "train until global step N (same as --set train.steps=N)"},
    {"epochs", OPT_EPOCHS, 0, required_argument, "E", "@number", NULL,
     "train for E epochs (same as --set train.epochs=E --set train.steps=0)"},
    {"set", OPT_SET, 0, required_argument, "KEY=VALUE", NULL, NULL,
     "override a config value, e.g. --set optimizer.learning_rate=0.01 or --set "
     "model.layers.1.units=256 (repeatable)"},
    {"replan-schedule", OPT_REPLAN, 0, no_argument, NULL, NULL, NULL,
     "on resume, stretch the cosine schedule to the new last step (without it the schedule keeps "
     "the length it was planned with)"},
    {"threads", OPT_THREADS, 0, required_argument, "N", "@number", NULL,
     "run each graph (training step, validation) on a team of N threads, OpenBLAS held to one "
     "thread inside it (default: OPENBLAS_NUM_THREADS, else one per core); results are bitwise the "
     "same for the same N"},
    {"max-memory", OPT_MAX_MEMORY, 0, required_argument, "MB", "@number", NULL,
     "refuse at the start a run whose training data (as its reader will hold it; an HDF5 split "
     "larger than data.memory_mb counts that budget), graphs, variables and optimizer state would "
     "take more than MB MiB (default: three quarters of physical memory; 0: no limit)"},
    {"quiet", 'q', 'q', no_argument, NULL, NULL, NULL, "print only errors and the final line"},
    {"verbose", 'v', 'v', no_argument, NULL, NULL, NULL,
     "also print each checkpoint commit and skipped update"},
    TV_CLI_STANDARD_OPTIONS,
};
#define N_OPTIONS TV_CLI_COUNT(OPTIONS)
_Static_assert(N_OPTIONS <= TV_CLI_MAX_OPTIONS, "option table too long");

static const tv_cli_example EXAMPLES[] = {
    {"--train-dir runs/mlp --config configs/fashion_mlp.yaml",
     "starts a run (or resumes it: the same command again goes on where it stopped)"},
    {"--train-dir runs/mlp --steps 8000",
     "resumes runs/mlp and trains on to step 8000, the config taken from runs/mlp/config.yaml"},
    {"--train-dir runs/lr --config configs/fashion_mlp.yaml --set "
     "optimizer.learning_rate=0.01 --threads 2",
     "a new run with one value of the config changed, on 2 threads"},
    {"--train-dir runs/dp --config configs/fashion_mlp.yaml --threads 1",
     "started as `mpirun -np 2 train ...`: data-parallel over 2 ranks of one thread each, each "
     "rank training on half of every batch"},
};

static const tv_cli_program PROGRAM = {
    .name = "train",
    .summary = "train a neural network into a run directory of checkpoints",
    .synopsis = {"--train-dir DIR [--config FILE] [--steps N | --epochs E] [--set KEY=VALUE ...] "
                 "[--threads N] [-q | -v] [--replan-schedule]",
                 "--help | --version"},
    .description =
        "Trains the model of FILE, writing checkpoints (HDF5), the manifest checkpoints.yaml "
        "and TensorBoard event files into DIR.  Run it again on the same DIR to resume from the "
        "newest committed checkpoint, exactly where it stopped: parameters, optimizer state, "
        "step and data order.  Then --config may be left out (DIR/config.yaml is used); a "
        "--config whose model differs from the run's is refused with the differences, unless "
        "DIR has no committed checkpoint yet (then there is no model to protect and the new "
        "config replaces the old one).",
    .notes = "The config format is documented in trainval-config(5) and at the top of "
             "include/trainval/config.h.\n"
             "Schedule on resume: a cosine schedule keeps the horizon it was planned with when "
             "the run began; steps past it train at optimizer.min_learning_rate.  "
             "--replan-schedule stretches it to the new last step instead (the rate then rises "
             "again).  The plan is printed at the start.\n"
             "A command that finds nothing to do (DIR is already at the last step asked for) "
             "changes nothing in DIR.\n"
             "On a terminal, progress is one updating line; otherwise a log line every "
             "train.log_every steps.  SIGINT and SIGTERM save a checkpoint, mark the run "
             "interrupted (resumable) and exit 0.  An evaluator's DIR/STOP request ends the run "
             "as early_stopped.\n"
             "Data-parallel training: `mpirun -np N train ...` (Open MPI) trains one model "
             "over N ranks, each on its share of every batch of train.batch_size, with the "
             "gradients summed in a fixed order (bitwise reproducible for a given N and "
             "--threads); rank 0 alone writes DIR, which every rank must see (a shared file "
             "system across hosts).  Under mpirun train runs train-mpi from its own "
             "directory.  A signal on any rank stops every rank at the same step with one "
             "checkpoint.  TRAINVAL_MPI_TIMEOUT (seconds, default 300) bounds every wait "
             "for the other ranks.  The semantics are written at the top of "
             "include/trainval/dist.h.",
    TV_CLI_TABLES(OPTIONS, EXAMPLES),
    .exit_status = "0 finished, early-stopped, interrupted or nothing to do; 1 error (including "
                   "a diverged run: the manifest says diverged); 2 usage error.",
};

static int parse_count(const char *opt, const char *v, long long hi, long long *out) {
  char *end;
  long long n = strtoll(v, &end, 10);
  if (*end || end == v || n < 1 || n > hi) {
    fprintf(stderr, "%s: --%s: expected a positive integer, got '%s'\n", prog, opt, v);
    return 2;
  }
  *out = n;
  return 0;
}

/* Returns 0 to run, 2 on a usage error, -1 when the command is done (--help, --version). */
static int parse_args(int argc, char **argv, trainer_options *o, char (*owned)[64], tv_text *msg) {
  struct option longopts[N_OPTIONS + 1];
  char shortopts[64];
  if (tv_cli_getopt(OPTIONS, N_OPTIONS, longopts, shortopts, sizeof shortopts) != TV_OK) {
    fprintf(stderr, "%s: %s\n", prog, tv_error_message());
    return 2;
  }
  int n_owned = 0, have_length = 0, c, idx;
  o->verbosity = 1;
  o->max_memory_mb = tv_budget_default_mb();
  opterr = 0;
  while ((c = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
    const char *v = optarg;
    long long n;
    if (tv_cli_standard(msg, prog, &PROGRAM, c)) return -1;
    switch (c) {
    case 'q':
    case 'v':
      o->verbosity = c == 'q' ? 0 : 2;
      break;
    case OPT_TRAIN_DIR:
      o->train_dir = v;
      break;
    case OPT_CONFIG:
      o->config = v;
      break;
    case OPT_SET:
      if (o->n_sets >= TRAINER_MAX_SETS - 2)
        return tv_cli_usage(msg, prog, "too many --set options");
      o->sets[o->n_sets++] = v;
      break;
    case OPT_STEPS:
    case OPT_EPOCHS:
      if (parse_count(longopts[idx].name, v, 1LL << 50, &n)) return 2;
      if (have_length++) return tv_cli_usage(msg, prog, "give --steps or --epochs once");
      if (c == OPT_STEPS) {
        snprintf(owned[n_owned], 64, "train.steps=%lld", n);
        o->sets[o->n_sets++] = owned[n_owned++];
      } else {
        snprintf(owned[n_owned], 64, "train.epochs=%lld", n);
        o->sets[o->n_sets++] = owned[n_owned++];
        snprintf(owned[n_owned], 64, "train.steps=0");
        o->sets[o->n_sets++] = owned[n_owned++];
      }
      break;
    case OPT_REPLAN:
      o->replan_schedule = 1;
      break;
    case OPT_THREADS:
      if (parse_count("threads", v, 1024, &n)) return 2;
      o->threads = (int)n;
      break;
    case OPT_MAX_MEMORY:
      if (strcmp(v, "0") == 0)
        n = 0;
      else if (parse_count("max-memory", v, 1LL << 40, &n))
        return 2;
      o->max_memory_mb = (size_t)n;
      break;
    case ':':
      return tv_cli_usage(msg, prog, "%s needs a value", argv[optind - 1]);
    default: /* '?' */
      return tv_cli_usage_refused(msg, prog, &PROGRAM, argv[optind - 1], optopt);
    }
  }
  if (optind < argc) {
    if (!o->train_dir)
      return tv_cli_usage(msg, prog,
                          "unexpected argument '%s' (a run directory is given as --train-dir %s)",
                          argv[optind], argv[optind]);
    return tv_cli_usage(msg, prog, "unexpected argument '%s'", argv[optind]);
  }
  if (!o->train_dir) return tv_cli_usage(msg, prog, "--train-dir is required");
  return 0;
}

int main(int argc, char **argv) {
  static trainer_options opt;
  static char owned[4][64];
  prog = tv_cli_progname(argv[0], "train");
  tv_text msg = {0};
  int urc = parse_args(argc, argv, &opt, owned, &msg);
  fputs(msg.oom ? "out of memory\n" : msg.p ? msg.p : "", urc < 0 ? stdout : stderr);
  tv_text_free(&msg);
  if (urc) return urc < 0 ? 0 : urc;
  tv_dist *dist = NULL;
  if (tv_dist_open(&argc, &argv, mpi_timeout(), &dist) != TV_OK) {
    fprintf(stderr, "%s: %s\n", prog, tv_error_message());
    return 1;
  }
  long ranks = mpi_world_size();
  if (ranks > 1 && tv_dist_size(dist) == 1) { /* the plain build under mpirun */
    tv_dist_close(dist);
    return exec_mpi_build(argv, ranks);
  }
  opt.dist = dist;
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
    print_error(dist);
    return leave(dist, 1, 1); /* trainer_open's last exchange told every rank */
  }
  if (opt.verbosity > 0 && trainer_step(t) < trainer_total_steps(t) && tv_dist_rank(dist) == 0)
    trainer_print_summary(t);
  trainer_outcome outcome;
  rc = trainer_run(t, &outcome);
  if (rc != TV_OK) {
    print_error(dist);
    trainer_mark_aborted(t);
    trainer_free(t);
    return leave(dist, 1, rc == TV_ERR_NONFINITE); /* divergence: every rank saw the same step */
  }
  if (outcome == TRAINER_NOTHING_TO_DO && tv_dist_rank(dist) == 0)
    printf("%s: %s is already at step %lld of %lld; nothing to do (nothing changed)\n", prog,
           opt.train_dir, (long long)trainer_step(t), (long long)trainer_total_steps(t));
  trainer_free(t);
  return leave(dist, 0, 1);
}
