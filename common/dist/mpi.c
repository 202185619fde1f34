/* mpi.c — dist.h over MPI (Open MPI from Debian); linked only into train-mpi, never into
 * libtrainval (the Makefile leaves it out of the library).
 *
 * Owns three duplicates of MPI_COMM_WORLD, all with MPI_ERRORS_RETURN: one for the gradient
 * buckets' reduce-scatter, one for their all-gather, one for the broadcast and the flags.  MPI
 * requires the collectives of one communicator to start in the same order on every rank; each
 * phase keeps its own bucket order on its own communicator, so a rank whose scatter of bucket 2
 * finishes before another rank's may start its gather of bucket 0 at any time.
 *
 * Every wait polls its requests with MPI_Test (which also drives the progress of the non-blocking
 * collectives) against a deadline, spinning briefly, then yielding, then sleeping 50 us a turn so
 * that a rank that waits leaves the cores to the ranks that compute.
 *
 * Invariants: buckets [0, started) have begun their scatter, [0, gathered) their all-gather, in
 * bucket order; bucket k covers slab[lo, hi) with hi = n - k * bucket size.
 */
#include "trainval/dist.h"

#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trainval/files.h"

enum { PHASE_IDLE, PHASE_SCATTER, PHASE_SUMMED, PHASE_GATHER, PHASE_DONE };

typedef struct bucket {
  size_t lo, hi;          /* slab range */
  int *counts, *displs;   /* chunk j of the bucket: rank j sums it (size entries each) */
  int *rcounts, *rdispls; /* the scatter's receive side: counts[rank] from every rank */
  float *stage;           /* size * counts[rank] floats: every rank's copy of our chunk */
  MPI_Request req;
  int phase;
} bucket;

struct tv_dist {
  int rank, size;
  double timeout;
  MPI_Comm scatter, gather, misc;
  char describe[96];
  float *slab;
  size_t n;
  bucket *b;
  int nb, started, gathered;
  int *ints;
  float *stage;
  double *flags; /* size * TV_DIST_MAX_FLAGS: every rank's flags */
  int err;       /* first error of tv_dist_grads_ready, reported by tv_dist_grads_finish */
  int broken;    /* an exchange failed: the ranks are out of step */
  char err_msg[512];
  double grads_wait, other_wait;
  MPI_Request gather_req; /* tv_dist_gather_start's, on misc; gathering: in flight */
  int gathering;
  uint64_t gathers, gather_bytes; /* tv_dist_gather_count, _bytes */
};

static int mpi_error(tv_dist *d, int code, const char *what) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
    snprintf(text, sizeof text, "code %d", code);
  d->broken = 1;
  return tv_error(TV_ERR_IO, "MPI: %s failed: %s", what, text);
}

/* One idle turn of a wait.  Returns nonzero once the deadline has passed. */
static int idle(const tv_dist *d, double start, long turn) {
  if (turn > 2000) {
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  } else if (turn > 200) {
    sched_yield();
  }
  return tv_monotonic() - start > d->timeout;
}

static int deadline_error(tv_dist *d, const char *what) {
  d->broken = 1;
  return tv_error(TV_ERR_IO,
                  "MPI: no answer from the other ranks for %.0f s while %s (a rank died or hangs; "
                  "TRAINVAL_MPI_TIMEOUT sets the limit)",
                  d->timeout, what);
}

/* Waits for one request (deadline), adding the time to *acc. */
static int wait_one(tv_dist *d, MPI_Request *r, const char *what, double *acc) {
  double start = tv_monotonic();
  int rc = TV_OK;
  for (long turn = 0;; turn++) {
    int flag = 0, e = MPI_Test(r, &flag, MPI_STATUS_IGNORE);
    if (e != MPI_SUCCESS) {
      rc = mpi_error(d, e, what);
      break;
    }
    if (flag) break;
    if (idle(d, start, turn)) {
      rc = deadline_error(d, what);
      break;
    }
  }
  *acc += tv_monotonic() - start;
  return rc;
}

int tv_dist_open(int *argc, char ***argv, double timeout, tv_dist **out) {
  *out = NULL;
  int provided = 0, inited = 0;
  MPI_Initialized(&inited);
  if (!inited && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return tv_error(TV_ERR_IO, "MPI cannot start (MPI_Init_thread failed)");
  tv_dist *d = calloc(1, sizeof *d);
  if (!d) return tv_error(TV_ERR_NOMEM, "out of memory");
  d->scatter = d->gather = d->misc = MPI_COMM_NULL;
  d->timeout = timeout > 0 ? timeout : 300;
  int rc = TV_OK, e = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  if (e == MPI_SUCCESS) e = MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
  if (e == MPI_SUCCESS) e = MPI_Comm_size(MPI_COMM_WORLD, &d->size);
  if (e == MPI_SUCCESS) e = MPI_Comm_dup(MPI_COMM_WORLD, &d->scatter);
  if (e == MPI_SUCCESS) e = MPI_Comm_dup(MPI_COMM_WORLD, &d->gather);
  if (e == MPI_SUCCESS) e = MPI_Comm_dup(MPI_COMM_WORLD, &d->misc);
  if (e != MPI_SUCCESS) rc = mpi_error(d, e, "setting up the communicators");
  if (rc == TV_OK && provided < MPI_THREAD_FUNNELED && !inited)
    rc = tv_error(TV_ERR_IO, "MPI offers no MPI_THREAD_FUNNELED (the loader has its own thread)");
  if (rc == TV_OK && !(d->flags = malloc((size_t)d->size * TV_DIST_MAX_FLAGS * sizeof *d->flags)))
    rc = tv_error(TV_ERR_NOMEM, "out of memory");
  if (rc == TV_OK) {
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) snprintf(lib, sizeof lib, "unknown");
    lib[strcspn(lib, ",\n")] = '\0'; /* "Open MPI v4.1.4" */
    snprintf(d->describe, sizeof d->describe, "MPI (%.60s), %d ranks", lib, d->size);
  }
  if (rc != TV_OK) {
    tv_dist_close(d);
    return rc;
  }
  *out = d;
  return TV_OK;
}

static void free_buckets(tv_dist *d) {
  free(d->b);
  free(d->ints);
  free(d->stage);
  d->b = NULL;
  d->ints = NULL;
  d->stage = NULL;
  d->nb = 0;
}

void tv_dist_close(tv_dist *d) {
  if (!d) return;
  free_buckets(d);
  free(d->flags);
  if (d->scatter != MPI_COMM_NULL) MPI_Comm_free(&d->scatter);
  if (d->gather != MPI_COMM_NULL) MPI_Comm_free(&d->gather);
  if (d->misc != MPI_COMM_NULL) MPI_Comm_free(&d->misc);
  free(d);
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
}

void tv_dist_fail(tv_dist *d) {
  if (d && d->size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
}

int tv_dist_rank(const tv_dist *d) { return d->rank; }
int tv_dist_broken(const tv_dist *d) { return d->broken; }
int tv_dist_size(const tv_dist *d) { return d->size; }
const char *tv_dist_describe(const tv_dist *d) { return d->describe; }
double tv_dist_grads_wait_seconds(const tv_dist *d) { return d->grads_wait; }
double tv_dist_other_wait_seconds(const tv_dist *d) { return d->other_wait; }

int tv_dist_broadcast(tv_dist *d, void *buf, size_t bytes) {
  if (d->size == 1) return TV_OK;
  for (size_t off = 0; off < bytes;) {
    size_t len = bytes - off > (1u << 30) ? (1u << 30) : bytes - off;
    MPI_Request r;
    int e = MPI_Ibcast((char *)buf + off, (int)len, MPI_BYTE, 0, d->misc, &r);
    if (e != MPI_SUCCESS) return mpi_error(d, e, "the broadcast of rank 0's variables");
    int rc = wait_one(d, &r, "receiving rank 0's variables", &d->other_wait);
    if (rc != TV_OK) return rc;
    off += len;
  }
  return TV_OK;
}

int tv_dist_sum(tv_dist *d, double *v, int n) {
  if (n < 0 || n > TV_DIST_MAX_FLAGS) return tv_error(TV_ERR_INVALID, "tv_dist_sum: %d values", n);
  if (d->size == 1 || n == 0) return TV_OK;
  MPI_Request r;
  int e = MPI_Iallgather(v, n, MPI_DOUBLE, d->flags, n, MPI_DOUBLE, d->misc, &r);
  if (e != MPI_SUCCESS) return mpi_error(d, e, "the exchange of the step's flags");
  int rc = wait_one(d, &r, "exchanging the step's flags", &d->other_wait);
  if (rc != TV_OK) return rc;
  for (int k = 0; k < n; k++) {
    double s = d->flags[k];
    for (int q = 1; q < d->size; q++) s += d->flags[(size_t)q * (size_t)n + (size_t)k];
    v[k] = s;
  }
  return TV_OK;
}

/* ---- the carried state of token models --------------------------------------------------- */

int tv_dist_gather_start(tv_dist *d, const float *buf, size_t n, float *all) {
  if (d->gathering || n > (size_t)1 << 30)
    return tv_error(TV_ERR_INVALID, "tv_dist_gather_start: %zu floats%s", n,
                    d->gathering ? " while a gather is in flight" : "");
  d->gathers++;
  d->gather_bytes += (uint64_t)n * sizeof *buf;
  if (d->size == 1) {
    if (n && all != buf) memcpy(all, buf, n * sizeof *all);
    return TV_OK;
  }
  int e = MPI_Igather(buf, (int)n, MPI_FLOAT, d->rank == 0 ? all : NULL, (int)n, MPI_FLOAT, 0,
                      d->misc, &d->gather_req);
  if (e != MPI_SUCCESS) return mpi_error(d, e, "the gather of the carried state");
  d->gathering = 1;
  return TV_OK;
}

int tv_dist_gather_finish(tv_dist *d) {
  if (!d->gathering) return TV_OK;
  d->gathering = 0;
  return wait_one(d, &d->gather_req, "gathering the carried state", &d->other_wait);
}

uint64_t tv_dist_gather_count(const tv_dist *d) { return d->gathers; }
uint64_t tv_dist_gather_bytes(const tv_dist *d) { return d->gather_bytes; }

/* ---- the gradient sum -------------------------------------------------------------------- */

int tv_dist_grads_setup(tv_dist *d, float *slab, size_t n, size_t bucket_floats) {
  free_buckets(d);
  d->slab = slab;
  d->n = n;
  if (d->size == 1 || n == 0) return TV_OK;
  if (!bucket_floats) bucket_floats = 65536;
  if (bucket_floats > (size_t)1 << 28)
    return tv_error(TV_ERR_INVALID, "gradient bucket of %zu floats", bucket_floats);
  size_t nb = (n + bucket_floats - 1) / bucket_floats, p = (size_t)d->size, staged = 0;
  d->b = calloc(nb, sizeof *d->b);
  d->ints = malloc(nb * 4 * p * sizeof *d->ints);
  if (!d->b || !d->ints) goto nomem;
  d->nb = (int)nb;
  for (size_t k = 0; k < nb; k++) {
    bucket *b = &d->b[k];
    b->hi = n - k * bucket_floats;
    b->lo = b->hi > bucket_floats ? b->hi - bucket_floats : 0;
    b->counts = d->ints + k * 4 * p;
    b->displs = b->counts + p;
    b->rcounts = b->displs + p;
    b->rdispls = b->rcounts + p;
    size_t len = b->hi - b->lo, at = 0;
    for (size_t j = 0; j < p; j++) {
      b->counts[j] = (int)(len / p + (j < len % p));
      b->displs[j] = (int)at;
      at += (size_t)b->counts[j];
    }
    for (size_t j = 0; j < p; j++) {
      b->rcounts[j] = b->counts[d->rank];
      b->rdispls[j] = (int)(j * (size_t)b->counts[d->rank]);
    }
    staged += p * (size_t)b->counts[d->rank];
  }
  if (!(d->stage = malloc((staged ? staged : 1) * sizeof *d->stage))) goto nomem;
  staged = 0;
  for (int k = 0; k < d->nb; k++) {
    d->b[k].stage = d->stage + staged;
    staged += p * (size_t)d->b[k].counts[d->rank];
  }
  return TV_OK;
nomem:
  free_buckets(d);
  return tv_error(TV_ERR_NOMEM, "no memory for the gradient exchange (%zu floats)", n);
}

static void keep_error(tv_dist *d, int rc) {
  if (d->err) return;
  d->err = rc;
  snprintf(d->err_msg, sizeof d->err_msg, "%s", tv_error_message());
}

/* Chunk `rank` of bucket b: every rank's copy added in rank order into the slab. */
static void sum_chunk(tv_dist *d, bucket *b) {
  int c = b->counts[d->rank];
  float *dst = d->slab + b->lo + (size_t)b->displs[d->rank];
  for (int i = 0; i < c; i++) {
    float s = b->stage[i];
    for (int q = 1; q < d->size; q++) s += b->stage[(size_t)q * (size_t)c + (size_t)i];
    dst[i] = s;
  }
}

/* Tests the requests in flight, sums finished scatters, starts gathers in bucket order.
 * Returns the number of buckets not yet done. */
static int progress(tv_dist *d) {
  int left = 0;
  for (int k = 0; k < d->started && !d->err; k++) {
    bucket *b = &d->b[k];
    if (b->phase == PHASE_SCATTER || b->phase == PHASE_GATHER) {
      int flag = 0, e = MPI_Test(&b->req, &flag, MPI_STATUS_IGNORE);
      if (e != MPI_SUCCESS) keep_error(d, mpi_error(d, e, "the gradient exchange"));
      if (flag && b->phase == PHASE_SCATTER) {
        sum_chunk(d, b);
        b->phase = PHASE_SUMMED;
      } else if (flag) {
        b->phase = PHASE_DONE;
      }
    }
  }
  while (!d->err && d->gathered < d->started && d->b[d->gathered].phase == PHASE_SUMMED) {
    bucket *b = &d->b[d->gathered++];
    int e = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, d->slab + b->lo, b->counts,
                            b->displs, MPI_FLOAT, d->gather, &b->req);
    if (e != MPI_SUCCESS) keep_error(d, mpi_error(d, e, "the gradient all-gather"));
    b->phase = PHASE_GATHER;
  }
  for (int k = 0; k < d->nb; k++) left += d->b[k].phase != PHASE_DONE;
  return left;
}

void tv_dist_grads_ready(tv_dist *d, size_t from) {
  if (d->size == 1 || d->nb == 0 || d->err) return;
  while (d->started < d->nb && d->b[d->started].lo >= from) {
    bucket *b = &d->b[d->started++];
    int e = MPI_Ialltoallv(d->slab + b->lo, b->counts, b->displs, MPI_FLOAT, b->stage, b->rcounts,
                           b->rdispls, MPI_FLOAT, d->scatter, &b->req);
    if (e != MPI_SUCCESS) {
      keep_error(d, mpi_error(d, e, "the gradient reduce-scatter"));
      return;
    }
    b->phase = PHASE_SCATTER;
  }
  (void)progress(d);
}

int tv_dist_grads_finish(tv_dist *d) {
  if (d->size == 1 || d->nb == 0) return TV_OK;
  tv_dist_grads_ready(d, 0);
  double start = tv_monotonic();
  int rc = TV_OK;
  for (long turn = 0; !d->err && progress(d) > 0; turn++)
    if (idle(d, start, turn)) {
      rc = deadline_error(d, "summing the gradients");
      break;
    }
  d->grads_wait += tv_monotonic() - start;
  if (d->err) rc = tv_error(d->err, "%s", d->err_msg);
  if (rc != TV_OK) return rc; /* the requests stay in flight: the job is ending */
  for (int k = 0; k < d->nb; k++) d->b[k].phase = PHASE_IDLE;
  d->started = d->gathered = 0;
  return TV_OK;
}
