/* single.c — the one-process implementation of dist.h: rank 0 of 1, every exchange a no-op.
 *
 * In libtrainval, so the plain train program (and any program linking the library) never needs
 * MPI; train-mpi links common/dist/mpi.c ahead of the library, which then leaves this file out.
 * Owns nothing but the context itself.
 */
#include "trainval/dist.h"

#include <stdlib.h>
#include <string.h>

struct tv_dist {
  uint64_t gathers, gather_bytes; /* tv_dist_gather_count, _bytes */
};

int tv_dist_open(int *argc, char ***argv, double timeout, tv_dist **out) {
  (void)argc;
  (void)argv;
  (void)timeout;
  *out = calloc(1, sizeof **out);
  return *out ? TV_OK : tv_error(TV_ERR_NOMEM, "out of memory");
}

void tv_dist_close(tv_dist *d) { free(d); }
void tv_dist_fail(tv_dist *d) { (void)d; }
int tv_dist_rank(const tv_dist *d) {
  (void)d;
  return 0;
}
int tv_dist_broken(const tv_dist *d) {
  (void)d;
  return 0;
}

int tv_dist_size(const tv_dist *d) {
  (void)d;
  return 1;
}
const char *tv_dist_describe(const tv_dist *d) {
  (void)d;
  return "one process";
}

int tv_dist_broadcast(tv_dist *d, void *buf, size_t bytes) {
  (void)d;
  (void)buf;
  (void)bytes;
  return TV_OK;
}

int tv_dist_sum(tv_dist *d, double *v, int n) {
  (void)d;
  (void)v;
  if (n < 0 || n > TV_DIST_MAX_FLAGS) return tv_error(TV_ERR_INVALID, "tv_dist_sum: %d values", n);
  return TV_OK;
}

int tv_dist_gather_start(tv_dist *d, const float *buf, size_t n, float *all) {
  d->gathers++;
  d->gather_bytes += (uint64_t)n * sizeof *buf;
  if (n && all != buf) memcpy(all, buf, n * sizeof *all);
  return TV_OK;
}

int tv_dist_gather_finish(tv_dist *d) {
  (void)d;
  return TV_OK;
}

uint64_t tv_dist_gather_count(const tv_dist *d) { return d->gathers; }
uint64_t tv_dist_gather_bytes(const tv_dist *d) { return d->gather_bytes; }

int tv_dist_grads_setup(tv_dist *d, float *slab, size_t n, size_t bucket_floats) {
  (void)d;
  (void)slab;
  (void)n;
  (void)bucket_floats;
  return TV_OK;
}

void tv_dist_grads_ready(tv_dist *d, size_t from) {
  (void)d;
  (void)from;
}

int tv_dist_grads_finish(tv_dist *d) {
  (void)d;
  return TV_OK;
}

double tv_dist_grads_wait_seconds(const tv_dist *d) {
  (void)d;
  return 0.0;
}

double tv_dist_other_wait_seconds(const tv_dist *d) {
  (void)d;
  return 0.0;
}
