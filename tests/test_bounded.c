/* test_bounded.c — tv_run_bounded (common/base/bounded.h): each way a child can end, as the
 * parent reports it: a result and its message, a crash, a CPU-time limit, an allocation past the
 * address-space limit (fails inside the child as malloc fails), an exit that is not a return. */
#include "base/bounded.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static int returns_error(void *arg) {
  return tv_error(TV_ERR_NOT_FOUND, "%s: the child's own message", (const char *)arg);
}

static int returns_ok(void *arg) {
  *(int *)arg = 42; /* a copy of the parent's memory: the parent must not see it */
  return TV_OK;
}

static int crashes(void *arg) {
  (void)arg;
  raise(SIGSEGV);
  return TV_OK;
}

static int spins(void *arg) {
  volatile uint64_t *n = arg;
  for (;;) (*n)++;
  return TV_OK;
}

#if defined(__SANITIZE_ADDRESS__) || defined(TV_ASAN)
#define TVT_SANITIZED 1
#else
#define TVT_SANITIZED 0
/* Asks for 1 GiB more than the limit allows, in one block, and touches it. */
static int allocates(void *arg) {
  (void)arg;
  size_t n = (size_t)3 << 30;
  char *p = malloc(n);
  if (!p) return tv_error(TV_ERR_NOMEM, "out of memory for %zu bytes", n);
  memset(p, 1, n);
  free(p);
  return TV_OK;
}
#endif

static int exits(void *arg) {
  (void)arg;
  _exit(3);
}

static void test_results(void **state) {
  (void)state;
  const tv_bounded_limits lim = {10, (uint64_t)1 << 30};
  tv_bounded_end end;
  assert_int_equal(tv_run_bounded(returns_error, "x.h5", &lim, "x.h5", &end), TV_ERR_NOT_FOUND);
  assert_int_equal(end.kind, TV_BOUNDED_RETURNED);
  assert_string_equal(tv_error_message(), "x.h5: the child's own message");
  int v = 0;
  assert_int_equal(tv_run_bounded(returns_ok, &v, &lim, "x.h5", &end), TV_OK);
  assert_int_equal(end.kind, TV_BOUNDED_RETURNED);
  assert_int_equal(v, 0);
}

static void test_crash_and_exit(void **state) {
  (void)state;
  const tv_bounded_limits lim = {10, (uint64_t)1 << 30};
  tv_bounded_end end;
  assert_int_equal(tv_run_bounded(crashes, NULL, &lim, "x.h5", &end), TV_ERR_FORMAT);
  assert_int_equal(end.kind, TV_BOUNDED_SIGNAL);
  assert_int_equal(end.signal, SIGSEGV);
  char how[128];
  assert_string_equal(tv_bounded_describe(&end, &lim, how, sizeof how),
                      "crashed parsing it: Segmentation fault");
  assert_int_equal(tv_run_bounded(exits, NULL, &lim, "x.h5", &end), TV_ERR_FORMAT);
  assert_int_equal(end.kind, TV_BOUNDED_EXITED);
  assert_int_equal(end.status, 3);
  assert_string_equal(tv_bounded_describe(&end, &lim, how, sizeof how),
                      "failed parsing it: it exhausted 1024 MiB or exited 3");
}

static void test_cpu_limit(void **state) {
  (void)state;
  const tv_bounded_limits lim = {1, 0};
  tv_bounded_end end;
  uint64_t n = 0;
  assert_int_equal(tv_run_bounded(spins, &n, &lim, "x.h5", &end), TV_ERR_FORMAT);
  assert_int_equal(end.kind, TV_BOUNDED_CPU);
  char how[128];
  assert_string_equal(tv_bounded_describe(&end, &lim, how, sizeof how),
                      "did not finish parsing it in 1 s of CPU");
}

/* The address-space limit counts from what the process maps at the fork. */
static void test_memory_limit(void **state) {
  (void)state;
#if TVT_SANITIZED
  skip(); /* no address-space limit under a sanitizer (bounded.h) */
#else
  const tv_bounded_limits lim = {10, (uint64_t)2 << 30};
  tv_bounded_end end;
  assert_int_equal(tv_run_bounded(allocates, NULL, &lim, "x.h5", &end), TV_ERR_NOMEM);
  assert_int_equal(end.kind, TV_BOUNDED_RETURNED);
  assert_string_equal(tv_error_message(), "out of memory for 3221225472 bytes");
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_results),
      cmocka_unit_test(test_crash_and_exit),
      cmocka_unit_test(test_cpu_limit),
      cmocka_unit_test(test_memory_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
