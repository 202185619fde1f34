/* ctx.c — the process's compute context (see ctx.h). */
#include "trainval/ctx.h"

#include <cblas.h>
#include <stdlib.h>

struct tv_ctx {
  int threads;
  tv_pool *team;
};

int tv_ctx_new(int threads, tv_ctx **out) {
  *out = NULL;
  if (threads <= 0) threads = openblas_get_num_threads();
  if (threads < 1) threads = 1;
  tv_ctx *c = calloc(1, sizeof *c);
  if (!c) return tv_error(TV_ERR_NOMEM, "context: out of memory");
  c->threads = threads;
  int rc = tv_pool_new(threads, &c->team);
  if (rc != TV_OK) {
    free(c);
    return rc;
  }
  openblas_set_num_threads(1); /* the team's threads call gemm */
  *out = c;
  return TV_OK;
}

void tv_ctx_free(tv_ctx *c) {
  if (!c) return;
  tv_pool_free(c->team);
  free(c);
}

tv_pool *tv_ctx_team(const tv_ctx *c) { return c->team; }
int tv_ctx_threads(const tv_ctx *c) { return c->threads; }
