/* test_text.c — text corpora (corpus.h): the folder's reading order and what it skips, the
 * split from the end and the training text's vocabulary, the errors for missing, empty and
 * unfit corpora, and the token batcher's two ways of cutting batches. */
#include "trainval/corpus.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static void put(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  assert_int_equal(fclose(f), 0);
}

static void corpus_config(tv_config *c, const char *corpus, int steps, int vocab) {
  char yaml[1024];
  snprintf(yaml, sizeof yaml,
           "model:\n  input: [%d]\n  num_classes: %d\n  layers:\n"
           "    - {type: embedding, vocab: %d, dim: 2}\n    - {type: lstm, hidden: 3}\n"
           "    - {type: dense, units: %d}\n"
           "data: {corpus: \"%s\", valid_tokens: 4}\n",
           steps, vocab, vocab, vocab, corpus);
  assert_int_equal(tv_config_parse(yaml, strlen(yaml), "text.yaml", NULL, 0, c), TV_OK);
}

/* Sorted by name; .dat, .u8, hidden files, links and subfolders skipped. */
static void test_folder_order(void **state) {
  const char *dir = *state;
  put(dir, "b", "world\n");
  put(dir, "a", "hello ");
  put(dir, "a.dat", "INDEX");
  put(dir, ".hidden", "HIDDEN");
  char sub[512], link[512], target[512];
  snprintf(sub, sizeof sub, "%s/c", dir);
  assert_int_equal(mkdir(sub, 0700), 0);
  put(sub, "x", "SUB");
  snprintf(link, sizeof link, "%s/d", dir);
  snprintf(target, sizeof target, "%s/a", dir);
  assert_int_equal(symlink(target, link), 0);
  snprintf(link, sizeof link, "%s/a.u8", dir);
  assert_int_equal(symlink(target, link), 0);
  tv_dataset ds;
  assert_int_equal(tv_corpus_read(dir, &ds), TV_OK);
  assert_int_equal(ds.n, 12);
  assert_memory_equal(ds.images, "hello world\n", 12);
  assert_null(ds.labels);
  tv_dataset_free(&ds);
  /* the same through the data-source table */
  tv_data_spec spec = {.format = "text", .x = target};
  assert_int_equal(tv_data_load(&spec, &ds), TV_OK);
  assert_int_equal(ds.n, 6);
  tv_dataset_free(&ds);
}

static void test_read_errors(void **state) {
  const char *dir = *state;
  char path[512];
  tv_dataset ds;
  snprintf(path, sizeof path, "%s/nothing", dir);
  assert_int_equal(tv_corpus_read(path, &ds), TV_ERR_NOT_FOUND);
  assert_non_null(strstr(tv_error_message(), path));
  assert_non_null(strstr(tv_error_message(), "no such corpus"));
  assert_null(ds.images);
  assert_int_equal(tv_corpus_read(dir, &ds), TV_ERR_FORMAT); /* an empty folder */
  assert_non_null(strstr(tv_error_message(), "no text files in the folder"));
  put(dir, "empty", "");
  put(dir, "empty.dat", "x");
  assert_int_equal(tv_corpus_read(dir, &ds), TV_ERR_FORMAT);
  assert_non_null(strstr(tv_error_message(), "the corpus is empty"));
  snprintf(path, sizeof path, "%s/empty", dir);
  assert_int_equal(tv_corpus_read(path, &ds), TV_ERR_FORMAT);
  assert_non_null(strstr(tv_error_message(), "empty: the corpus is empty"));
  assert_int_equal(tv_corpus_read("/dev/null", &ds), TV_ERR_IO);
  assert_non_null(strstr(tv_error_message(), "/dev/null: not a regular file or a folder"));
}

/* The last valid_tokens bytes validate; ids are the training text's bytes in order; a
 * validation byte outside it is dropped. */
static void test_split_and_vocab(void **state) {
  const char *dir = *state;
  put(dir, "t", "abcabcaccbZaq");
  static tv_config c;
  char path[512];
  snprintf(path, sizeof path, "%s/t", dir);
  corpus_config(&c, path, 3, 8);
  tv_corpus k;
  assert_int_equal(tv_corpus_load(&c, &k), TV_OK);
  assert_int_equal(k.bytes, 13);
  assert_int_equal(k.n_train, 9); /* abcabcacc */
  assert_int_equal(k.vocab.size, 3);
  assert_memory_equal(k.vocab.bytes, "abc", 3);
  assert_int_equal(k.vocab.ids['c'], 2);
  assert_int_equal(k.vocab.ids['Z'], -1);
  const int32_t want[] = {0, 1, 2, 0, 1, 2, 0, 2, 2};
  assert_memory_equal(k.train, want, sizeof want);
  assert_int_equal(k.n_valid, 2); /* "bZaq": b and a; Z and q are not in the vocabulary */
  assert_int_equal(k.dropped, 2);
  assert_int_equal(k.valid[0], 1);
  assert_int_equal(k.valid[1], 0);
  tv_corpus_free(&k);
  /* a vocabulary larger than the model's, a text shorter than a window */
  corpus_config(&c, path, 3, 2);
  assert_int_equal(tv_corpus_load(&c, &k), TV_ERR_MISMATCH);
  assert_non_null(strstr(tv_error_message(), "3 distinct bytes, more than the 2 token ids"));
  assert_non_null(strstr(tv_error_message(), "text.yaml"));
  corpus_config(&c, path, 9, 8);
  assert_int_equal(tv_corpus_load(&c, &k), TV_ERR_MISMATCH);
  assert_non_null(strstr(tv_error_message(), "9 bytes of training text"));
  assert_null(k.train);
}

static void test_stream_contiguous(void **state) {
  (void)state;
  int32_t ids[23], x[6], y[6];
  for (int i = 0; i < 23; i++) ids[i] = i;
  tv_stream *s;
  /* 2 streams of 11 tokens, windows of 3: (11 - 1) / 3 = 3 per epoch */
  assert_int_equal(tv_stream_new(ids, 23, 2, 3, TV_WINDOWS_CONTIGUOUS, 1, &s), TV_OK);
  assert_int_equal(tv_stream_windows(s), 3);
  int first, done;
  for (int e = 0; e < 2; e++)
    for (int k = 0; k < 3; k++) {
      tv_stream_next(s, x, y, &first, &done);
      assert_int_equal(first, k == 0);
      assert_int_equal(done, k == 2);
      for (int b = 0; b < 2; b++)
        for (int t = 0; t < 3; t++) {
          assert_int_equal(x[b * 3 + t], b * 11 + k * 3 + t);
          assert_int_equal(y[b * 3 + t], b * 11 + k * 3 + t + 1);
        }
    }
  assert_int_equal(tv_stream_epoch(s), 2);
  tv_stream_free(s);
  assert_int_equal(tv_stream_new(ids, 7, 2, 3, TV_WINDOWS_CONTIGUOUS, 1, &s), TV_ERR_INVALID);
  assert_null(s);
  assert_non_null(strstr(tv_error_message(), "holds no batch"));
}

static void test_stream_random(void **state) {
  (void)state;
  int32_t ids[50], x[8], y[8], x2[8], y2[8];
  for (int i = 0; i < 50; i++) ids[i] = i;
  tv_stream *a, *b;
  assert_int_equal(tv_stream_new(ids, 50, 2, 4, TV_WINDOWS_RANDOM, 5, &a), TV_OK);
  assert_int_equal(tv_stream_new(ids, 50, 2, 4, TV_WINDOWS_RANDOM, 5, &b), TV_OK);
  assert_int_equal(tv_stream_windows(a), 49 / 8);
  int first, done, moved = 0;
  for (int k = 0; k < 12; k++) {
    tv_stream_next(a, x, y, &first, &done);
    tv_stream_next(b, x2, y2, &first, &done);
    assert_int_equal(first, 1);
    assert_memory_equal(x, x2, sizeof x); /* the same seed, the same windows */
    for (int r = 0; r < 2; r++) {
      assert_true(x[r * 4] >= 0 && x[r * 4] + 4 <= 49);
      for (int t = 0; t < 4; t++) {
        assert_int_equal(x[r * 4 + t], x[r * 4] + t);
        assert_int_equal(y[r * 4 + t], x[r * 4] + t + 1);
      }
    }
    moved |= x[0] != x2[4] || k > 0;
  }
  assert_true(moved);
  tv_stream_free(a);
  tv_stream_free(b);
}

/* Debian's fortunes, the default corpus, when installed (scripts/setup.sh installs it). */
static void test_default_corpus(void **state) {
  (void)state;
  if (access(TV_CORPUS_DEFAULT, F_OK) != 0) skip();
  tv_dataset ds;
  assert_int_equal(tv_corpus_read(TV_CORPUS_DEFAULT, &ds), TV_OK);
  assert_true(ds.n > 1000000); /* about 2.5 MB of text */
  tv_vocab v;
  tv_vocab_build(ds.images, ds.n, &v);
  assert_true(v.size > 60 && v.size < 256);
  assert_true(v.ids['e'] >= 0 && v.ids['\n'] >= 0);
  tv_dataset_free(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_folder_order, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_read_errors, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_split_and_vocab, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test(test_stream_contiguous),
      cmocka_unit_test(test_stream_random),
      cmocka_unit_test(test_default_corpus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
