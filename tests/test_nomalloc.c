/* test_nomalloc.c — the training step never allocates.
 *
 * malloc and friends are interposed for the whole process (the executable's definitions win
 * over libc's for every shared library) and counted by caller: after a few warm-up steps, a
 * window of full training steps — batch, forward, backward, optimizer, metrics — must count
 * zero allocations made by trainval's code.  OpenBLAS is counted apart and only reported:
 * Debian's 0.3.21 threaded sgemm mallocs its job array (512 KiB) on every call, which no
 * caller can avoid short of running gemm single-threaded.  Skipped under AddressSanitizer,
 * which owns malloc itself.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trainval/config.h"
#include "trainval/data.h"
#include "trainval/loss.h"
#include "trainval/metrics.h"
#include "trainval/model.h"
#include "trainval/optim.h"
#include "trainval/pipeline.h"
#include "trainval/varstore.h"

#include "trainval/ctx.h"

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define TV_NOMALLOC_SKIP 1
#else
#define TV_NOMALLOC_SKIP 0
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t m);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t a, size_t n);
void *malloc(size_t n);
void *calloc(size_t n, size_t m);
void *realloc(void *p, size_t n);
void *aligned_alloc(size_t a, size_t n);
int posix_memalign(void **p, size_t a, size_t n);

static volatile long g_allocs, g_blas_allocs;
static __thread int g_inside;

/* Counts one allocation, attributing it to OpenBLAS when the caller's code lives there. */
static void count(void *caller) {
  if (g_inside) return;
  g_inside = 1;
  Dl_info info;
  if (dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "openblas"))
    g_blas_allocs++;
  else
    g_allocs++;
  g_inside = 0;
}

void *malloc(size_t n) {
  count(__builtin_return_address(0));
  return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
  count(__builtin_return_address(0));
  return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
  count(__builtin_return_address(0));
  return __libc_realloc(p, n);
}
void *aligned_alloc(size_t a, size_t n) {
  count(__builtin_return_address(0));
  return __libc_memalign(a, n);
}
int posix_memalign(void **p, size_t a, size_t n) {
  count(__builtin_return_address(0));
  *p = __libc_memalign(a, n);
  return *p ? 0 : 12 /* ENOMEM */;
}
#endif

#if !TV_NOMALLOC_SKIP
/* A team of 2, a TRAIN graph of cfg for batch b over a fresh initialised store, its optimizer. */
static void setup_training(const tv_config *cfg, int b, tv_ctx **ctx, tv_varstore **store,
                           tv_model **model, tv_optim **optim) {
  assert_int_equal(tv_ctx_new(2, ctx), TV_OK);
  assert_int_equal(tv_varstore_new(store), TV_OK);
  assert_int_equal(tv_model_new(cfg, TV_MODE_TRAIN, b, *store, tv_ctx_team(*ctx), model), TV_OK);
  assert_int_equal(tv_varstore_seal(*store), TV_OK);
  tv_rng r = tv_rng_seed(1, TV_RNG_INIT);
  tv_varstore_init(*store, &r);
  assert_int_equal(tv_optim_new(cfg, 100, *store, optim), TV_OK);
}
#endif

static void test_training_step_does_not_allocate(void **state) {
  (void)state;
  if (TV_NOMALLOC_SKIP) skip();
#if !TV_NOMALLOC_SKIP
  static tv_config cfg;
  assert_int_equal(tv_config_load("configs/fashion_mlp.yaml", NULL, 0, &cfg), TV_OK);
  const int b = cfg.train.batch_size, d = 784, n = 1024;
  tv_dataset ds = {.n = n, .c = 1, .h = 28, .w = 28, .num_classes = 10};
  ds.images = malloc((size_t)n * d);
  ds.labels = malloc((size_t)n * sizeof *ds.labels);
  for (int i = 0; i < n * d; i++) ds.images[i] = (uint8_t)(i * 7 + i / 13);
  for (int i = 0; i < n; i++) ds.labels[i] = i % 10;
  tv_varstore *store;
  tv_model *model;
  tv_optim *optim;
  tv_metrics *metrics;
  tv_loader *loader;
  tv_ctx *ctx;
  setup_training(&cfg, b, &ctx, &store, &model, &optim);
  assert_int_equal(tv_metrics_new(10, &metrics), TV_OK);
  tv_loader_opts lo = {.batch_size = (uint32_t)b,
                       .shuffle = 1,
                       .drop_last = 1,
                       .seed = 3,
                       .norm = tv_norm_from_config(&cfg, &ds)};
  assert_int_equal(tv_loader_new(&ds, &lo, &loader), TV_OK);
  float *x = malloc((size_t)b * d * sizeof *x);
  int32_t *y = malloc((size_t)b * sizeof *y);
  long before = 0, blas_before = 0;
  for (int step = 0; step < 24; step++) {
    if (step == 4) before = g_allocs, blas_before = g_blas_allocs; /* after warm-up */
    uint32_t got;
    int done;
    tv_loader_next(loader, x, y, &got, &done);
    tv_varstore_zero_grads(store);
    const float *logits = tv_model_forward(model, x, (int)got);
    float loss = tvt_xent_backward(model, y, (int)got, (float)cfg.train.label_smoothing);
    assert_true(loss == loss);
    tv_optim_step(optim, step);
    tv_metrics_update(metrics, logits, y, (int)got);
  }
  long during = g_allocs - before;
  printf("# 20 training steps: %ld allocations by trainval, %ld inside OpenBLAS\n", during,
         g_blas_allocs - blas_before);
  assert_int_equal(during, 0);
  free(x);
  free(y);
  tv_loader_free(loader);
  tv_metrics_free(metrics);
  tv_optim_free(optim);
  tv_model_free(model);
  tv_varstore_free(store);
  tv_ctx_free(ctx);
  tv_dataset_free(&ds);
#endif
}

/* The recurrent path: a token model (embedding, 2 x lstm with dropout between, time-distributed
 * dense) trained on int32 ids with the per-token loss, gradient clipping and a state carried
 * from batch to batch. */
static void test_recurrent_step_does_not_allocate(void **state) {
  (void)state;
  if (TV_NOMALLOC_SKIP) skip();
#if !TV_NOMALLOC_SKIP
  static tv_config cfg;
  const char *yaml = "model:\n  input: [16]\n  num_classes: 20\n  layers:\n"
                     "    - {type: embedding, vocab: 20, dim: 8}\n    - {type: lstm, hidden: 24}\n"
                     "    - {type: dropout, rate: 0.2}\n    - {type: gru, hidden: 16}\n"
                     "    - {type: dense, units: 20}\n"
                     "optimizer: {clip_norm: 1.0, learning_rate: 0.002}\n";
  assert_int_equal(tv_config_parse(yaml, strlen(yaml), "rnn.yaml", NULL, 0, &cfg), TV_OK);
  enum { B = 8, T = 16, V = 20 };
  tv_varstore *store;
  tv_model *model;
  tv_optim *optim;
  tv_ctx *ctx;
  setup_training(&cfg, B, &ctx, &store, &model, &optim);
  static int32_t ids[B * T], y[B * T];
  tv_loss loss = {.kind = TV_LOSS_TOKEN_XENT};
  long before = 0, blas_before = 0;
  for (int step = 0; step < 14; step++) {
    if (step == 4) before = g_allocs, blas_before = g_blas_allocs; /* after warm-up */
    for (int i = 0; i < B * T; i++)
      ids[i] = (i * 7 + step * 3) % V, y[i] = (i * 7 + step * 3 + 1) % V;
    tv_varstore_zero_grads(store);
    const float *z = tv_model_forward_ids(model, ids, B);
    float l = tv_loss_forward(&loss, z, (tv_targets){.classes = y}, B * T, V,
                              tv_model_output_grad(model));
    assert_true(l == l);
    tv_model_backward(model, tv_model_output_grad(model), B);
    tv_optim_step(optim, step);
  }
  long during = g_allocs - before;
  printf("# 10 recurrent training steps: %ld allocations by trainval, %ld inside OpenBLAS\n",
         during, g_blas_allocs - blas_before);
  assert_int_equal(during, 0);
  tv_optim_free(optim);
  tv_model_free(model);
  tv_varstore_free(store);
  tv_ctx_free(ctx);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_training_step_does_not_allocate),
                                     cmocka_unit_test(test_recurrent_step_does_not_allocate)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
