/* test_blockorder.c — the out-of-core example order (common/data/blockorder.h): each epoch a
 * permutation of every row, reproducible from the seed, different per epoch and per seed; a
 * buffer of 1 gives whole blocks in a shuffled order (rows ascending inside each, blocks aligned
 * to the block size); a consumer holding rows in the slots, as the step protocol says, always
 * outputs the row the order names; seek to any cursor continues exactly as stepping there did. */
#include "data/blockorder.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* One epoch of o into out (n rows), checking the step protocol with a consumer that holds each
 * row's id in its slot; returns the number of epoch_done flags seen (1 at the last row). */
static int epoch_rows(tv_block_order *o, uint32_t n, uint32_t *held, uint32_t *out) {
  int dones = 0;
  for (uint32_t i = 0; i < n; i++) {
    tv_block_step s;
    int done;
    tv_block_order_next(o, &s, &done);
    for (uint32_t k = 0; k < s.fill_n; k++) held[k] = s.fill_row[k];
    assert_int_equal(held[s.slot], s.row); /* the consumer's slot holds the row named */
    out[i] = s.row;
    if (s.next_row != UINT32_MAX) held[s.slot] = s.next_row;
    if (s.move_from != UINT32_MAX) held[s.slot] = held[s.move_from];
    dones += done;
    assert_int_equal(done, i == n - 1);
  }
  return dones;
}

static void assert_permutation(const uint32_t *p, uint32_t n) {
  uint8_t *seen = calloc(n, 1);
  assert_non_null(seen);
  for (uint32_t i = 0; i < n; i++) {
    assert_true(p[i] < n);
    assert_int_equal(seen[p[i]], 0);
    seen[p[i]] = 1;
  }
  free(seen);
}

static void test_permutations(void **state) {
  (void)state;
  static const uint32_t cases[][3] = {{1000, 64, 100}, {1000, 64, 1}, {1000, 1, 7},
                                      {999, 50, 5000}, {37, 100, 10}, {1, 1, 1},
                                      {4097, 512, 512}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    uint32_t n = cases[c][0];
    tv_block_order *a, *b, *d;
    assert_int_equal(tv_block_order_new(n, cases[c][1], cases[c][2], 7, &a), TV_OK);
    assert_int_equal(tv_block_order_new(n, cases[c][1], cases[c][2], 7, &b), TV_OK);
    assert_int_equal(tv_block_order_new(n, cases[c][1], cases[c][2], 8, &d), TV_OK);
    uint32_t *e0 = malloc(n * 4), *e1 = malloc(n * 4), *r0 = malloc(n * 4), *s0 = malloc(n * 4);
    uint32_t *held = malloc(n * 4);
    assert_true(e0 && e1 && r0 && s0 && held);
    assert_int_equal(epoch_rows(a, n, held, e0), 1);
    assert_int_equal(epoch_rows(a, n, held, e1), 1);
    assert_int_equal(epoch_rows(b, n, held, r0), 1);
    assert_int_equal(epoch_rows(d, n, held, s0), 1);
    assert_permutation(e0, n);
    assert_permutation(e1, n);
    assert_memory_equal(e0, r0, n * 4); /* reproducible from the seed */
    if (n > 1) {
      assert_memory_not_equal(e0, e1, n * 4); /* another order each epoch */
      assert_memory_not_equal(e0, s0, n * 4); /* and for another seed */
    }
    uint64_t ep, pos;
    tv_block_order_cursor(a, &ep, &pos);
    assert_int_equal(ep, 2);
    assert_int_equal(pos, 0);
    free(e0), free(e1), free(r0), free(s0), free(held);
    tv_block_order_free(a), tv_block_order_free(b), tv_block_order_free(d);
  }
}

/* A buffer of one slot outputs the input sequence itself: whole blocks of 64 rows (the last one
 * short), each starting at a multiple of 64, ascending inside, in an order that is not 0, 1, ... */
static void test_blocks_aligned(void **state) {
  (void)state;
  const uint32_t n = 1000, block = 64;
  tv_block_order *o;
  assert_int_equal(tv_block_order_new(n, block, 1, 3, &o), TV_OK);
  uint32_t out[1000], held[1];
  epoch_rows(o, n, held, out);
  int in_order = 1;
  for (uint32_t i = 0; i < n;) {
    uint32_t start = out[i], len = n - start < block ? n - start : block;
    assert_int_equal(start % block, 0);
    for (uint32_t k = 0; k < len; k++) assert_int_equal(out[i + k], start + k);
    if (start != (i / block) * block) in_order = 0;
    i += len;
  }
  assert_false(in_order);
  tv_block_order_free(o);
}

/* Seek to (epoch, position) in a fresh order: the buffer holds what stepping there left, and the
 * rest of the epoch and the next one are the same outputs. */
static void test_seek(void **state) {
  (void)state;
  const uint32_t n = 777;
  static const uint32_t at[] = {0, 1, 99, 100, 101, 500, 676, 677, 776};
  for (size_t c = 0; c < sizeof at / sizeof at[0]; c++) {
    tv_block_order *a, *b;
    assert_int_equal(tv_block_order_new(n, 32, 100, 11, &a), TV_OK);
    assert_int_equal(tv_block_order_new(n, 32, 100, 11, &b), TV_OK);
    uint32_t held[100], ref[777 * 2], got[777 * 2], tmp[777];
    epoch_rows(a, n, held, tmp); /* epoch 0 */
    for (uint32_t i = 0; i < at[c]; i++) {
      tv_block_step s;
      int done;
      tv_block_order_next(a, &s, &done);
    }
    assert_int_equal(tv_block_order_seek(b, 1, at[c]), TV_OK);
    const uint32_t *sa, *sb;
    uint32_t na, nb;
    tv_block_order_slots(a, &sa, &na);
    tv_block_order_slots(b, &sb, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(sa, sb, na * 4);
    for (uint32_t i = 0; i < 2 * n - at[c]; i++) {
      tv_block_step s;
      int done;
      tv_block_order_next(a, &s, &done);
      ref[i] = s.row;
      tv_block_order_next(b, &s, &done);
      got[i] = s.row;
    }
    assert_memory_equal(ref, got, (2 * n - at[c]) * 4);
    tv_block_order_free(a), tv_block_order_free(b);
  }
  tv_block_order *o;
  assert_int_equal(tv_block_order_new(n, 32, 100, 11, &o), TV_OK);
  assert_int_equal(tv_block_order_seek(o, 0, n), TV_ERR_MISMATCH);
  tv_block_order_free(o);
  assert_int_equal(tv_block_order_new(0, 32, 100, 11, &o), TV_ERR_INVALID);
  assert_null(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_permutations),
      cmocka_unit_test(test_blocks_aligned),
      cmocka_unit_test(test_seek),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
