/* test_dist.c — the one-process side of dist.h (what plain train links) and the batch split
 * both implementations share.  The MPI side runs under mpirun in tests/integration/mpi.sh. */
#include "trainval/dist.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Every row of a global batch belongs to exactly one rank, in rank order, and the shares differ
 * by at most one (the first b % size ranks take one more). */
static void test_slice_covers_the_batch(void **state) {
  (void)state;
  for (int b = 1; b <= 130; b++)
    for (int size = 1; size <= 8 && size <= b; size++) {
      int next = 0;
      for (int r = 0; r < size; r++) {
        int off, count;
        tv_dist_slice(b, size, r, &off, &count);
        assert_int_equal(off, next);
        assert_int_equal(count, b / size + (r < b % size));
        next = off + count;
      }
      assert_int_equal(next, b);
    }
  int off, count;
  tv_dist_slice(128, 3, 2, &off, &count);
  assert_int_equal(off, 86);
  assert_int_equal(count, 42);
}

/* One process: rank 0 of 1, every exchange leaves the data as it was. */
static void test_single_process_is_a_no_op(void **state) {
  (void)state;
  tv_dist *d = NULL;
  assert_int_equal(tv_dist_open(NULL, NULL, 0, &d), TV_OK);
  assert_non_null(d);
  assert_int_equal(tv_dist_rank(d), 0);
  assert_int_equal(tv_dist_size(d), 1);
  assert_int_equal(tv_dist_broken(d), 0);
  assert_string_equal(tv_dist_describe(d), "one process");
  float g[5] = {1, -2, 3.5f, 0, 1e-30f}, g0[5];
  memcpy(g0, g, sizeof g);
  assert_int_equal(tv_dist_grads_setup(d, g, 5, 2), TV_OK);
  tv_dist_grads_ready(d, 3);
  assert_int_equal(tv_dist_grads_finish(d), TV_OK);
  assert_memory_equal(g, g0, sizeof g);
  double v[3] = {1, 0, 2.5};
  assert_int_equal(tv_dist_sum(d, v, 3), TV_OK);
  assert_true(v[0] == 1 && v[1] == 0 && v[2] == 2.5);
  assert_int_equal(tv_dist_sum(d, v, TV_DIST_MAX_FLAGS + 1), TV_ERR_INVALID);
  char bytes[4] = "abc";
  assert_int_equal(tv_dist_broadcast(d, bytes, sizeof bytes), TV_OK);
  assert_string_equal(bytes, "abc");
  assert_true(tv_dist_grads_wait_seconds(d) == 0 && tv_dist_other_wait_seconds(d) == 0);
  float mine[3] = {1, 2, 3}, all[3] = {0};
  assert_true(tv_dist_gather_count(d) == 0 && tv_dist_gather_bytes(d) == 0);
  assert_int_equal(tv_dist_gather_start(d, mine, 3, all), TV_OK); /* one rank: all = mine */
  assert_int_equal(tv_dist_gather_finish(d), TV_OK);
  assert_memory_equal(all, mine, sizeof mine);
  assert_int_equal(tv_dist_gather_start(d, mine, 2, all), TV_OK);
  assert_int_equal(tv_dist_gather_finish(d), TV_OK);
  /* the counters the closing line of a run reports: every gather, and its bytes */
  assert_true(tv_dist_gather_count(d) == 2 && tv_dist_gather_bytes(d) == 5 * sizeof(float));
  assert_int_equal(tv_dist_gather_finish(d), TV_OK); /* none in flight */
  tv_dist_fail(d);                                   /* one rank: nothing to end */
  tv_dist_close(d);
  tv_dist_close(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_slice_covers_the_batch),
      cmocka_unit_test(test_single_process_is_a_no_op),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
