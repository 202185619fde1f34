/* test_watch.c — the directory watcher (watch.h) on a real local file system.
 *
 * Each test gets a fresh temporary directory.  Timing bounds are generous (a wake-up is awaited
 * for up to 5 s, an absence of one for 0.2 s) so the tests are never flaky on a loaded machine;
 * what they check is that a hint arrives, that unrelated files give none, that a missing
 * directory is found when it appears, and that deletion and recreation change the generation.
 */
#include "trainval/watch.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
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

#include "base/fs.h"

/* ---- fixtures ------------------------------------------------------------------------------ */

static void path_of(char *out, size_t cap, const char *dir, const char *name) {
  assert_int_equal(tv_fs_join(out, cap, dir, name), TV_OK);
}

/* Replaces dir/name the way the trainer does: temporary file, then rename. */
static void replace_file(const char *dir, const char *name) {
  char path[4096];
  path_of(path, sizeof path, dir, name);
  assert_int_equal(tv_fs_write_atomic(path, "x\n", 2), TV_OK);
}

static tv_watch *watch_new(const char *dir, int poll, double interval) {
  tv_watch_opts o = {.dir = dir,
                     .file = "checkpoints.yaml",
                     .force_poll = poll,
                     .poll_interval = interval,
                     .rescan_interval = 60};
  tv_watch *w = NULL;
  assert_int_equal(tv_watch_new(&o, &w), TV_OK);
  assert_non_null(w);
  return w;
}

/* Waits up to timeout seconds; returns the event and the seconds it took. */
static tv_watch_event wait_for(tv_watch *w, double timeout, double *took) {
  tv_watch_event ev = TV_WATCH_EVENT_TIMEOUT;
  double t0 = tv_monotonic();
  assert_int_equal(tv_watch_wait(w, timeout, NULL, &ev), TV_OK);
  if (took) *took = tv_monotonic() - t0;
  return ev;
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_remote_fs_names(void **state) {
  (void)state;
  assert_string_equal(tv_watch_remote_fs_name(0x6969), "nfs");
  assert_string_equal(tv_watch_remote_fs_name(0x65735546), "fuse");
  assert_string_equal(tv_watch_remote_fs_name(0xFE534D42L), "smb2");
  /* f_type is a signed long: CIFS's magic comes back sign-extended on some ABIs. */
  assert_string_equal(tv_watch_remote_fs_name((long)(int32_t)0xFF534D42u), "cifs");
  assert_string_equal(tv_watch_remote_fs_name(0x01021997), "9p");
  assert_null(tv_watch_remote_fs_name(0xEF53));     /* ext4 */
  assert_null(tv_watch_remote_fs_name(0x01021994)); /* tmpfs */
  assert_null(tv_watch_remote_fs_name(0x58465342)); /* xfs */
}

static void test_bad_arguments(void **state) {
  (void)state;
  tv_watch *w = (tv_watch *)1;
  tv_watch_opts o = {.dir = "", .file = "checkpoints.yaml"};
  assert_int_equal(tv_watch_new(&o, &w), TV_ERR_INVALID);
  assert_null(w);
  o = (tv_watch_opts){.dir = "/tmp", .file = "a/b"};
  assert_int_equal(tv_watch_new(&o, &w), TV_ERR_INVALID);
  tv_watch_free(NULL);
}

static void test_inotify_sees_replacement(void **state) {
  const char *dir = *state;
  tv_watch *w = watch_new(dir, 0, 0);
  assert_int_equal(tv_watch_get_mode(w), TV_WATCH_MODE_INOTIFY);
  assert_string_equal(tv_watch_describe(w), "inotify");
  assert_int_equal(tv_watch_dir_exists(w), 1);
  assert_int_equal(tv_watch_generation(w), 1);
  assert_int_equal(wait_for(w, 0, NULL), TV_WATCH_EVENT_TIMEOUT);
  /* Replaced after the watch was made and before the wait: the hint is not lost. */
  replace_file(dir, "checkpoints.yaml");
  double took;
  assert_int_equal(wait_for(w, 5, &took), TV_WATCH_EVENT_CHANGED);
  assert_true(took < 1.0);
  /* Unrelated names (a checkpoint, a temporary, a subfolder's files) wake nobody. */
  replace_file(dir, "ckpt-00000001.h5");
  char sub[4096], inner[4200];
  path_of(sub, sizeof sub, dir, "eval");
  assert_int_equal(tv_fs_mkdirs(sub), TV_OK);
  snprintf(inner, sizeof inner, "%s/checkpoints.yaml", sub);
  assert_int_equal(tv_fs_write_atomic(inner, "y", 1), TV_OK);
  assert_int_equal(wait_for(w, 0.2, NULL), TV_WATCH_EVENT_TIMEOUT);
  /* A file written in place (no rename) counts when it is closed. */
  char p[4096];
  path_of(p, sizeof p, dir, "checkpoints.yaml");
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs("z\n", f);
  fclose(f);
  assert_int_equal(wait_for(w, 5, NULL), TV_WATCH_EVENT_CHANGED);
  assert_int_equal(tv_watch_generation(w), 1);
  tv_watch_free(w);
}

static void test_missing_dir_appears(void **state) {
  const char *dir = *state;
  char run[4096];
  snprintf(run, sizeof run, "%s/a/b/run", dir);
  tv_watch *w = watch_new(run, 0, 0);
  assert_int_equal(tv_watch_dir_exists(w), 0);
  assert_int_equal(tv_watch_generation(w), 0);
  assert_non_null(strstr(tv_watch_describe(w), "waiting for"));
  assert_int_equal(wait_for(w, 0.1, NULL), TV_WATCH_EVENT_TIMEOUT);
  /* Created several levels at once: the ancestor watch moves down until it reaches run. */
  assert_int_equal(tv_fs_mkdirs(run), TV_OK);
  tv_watch_event ev = TV_WATCH_EVENT_TIMEOUT;
  for (int i = 0; i < 10 && !tv_watch_dir_exists(w); i++) ev = wait_for(w, 5, NULL);
  assert_int_equal(ev, TV_WATCH_EVENT_CHANGED);
  assert_int_equal(tv_watch_dir_exists(w), 1);
  assert_int_equal(tv_watch_generation(w), 1);
  assert_string_equal(tv_watch_describe(w), "inotify");
  replace_file(run, "checkpoints.yaml");
  assert_int_equal(wait_for(w, 5, NULL), TV_WATCH_EVENT_CHANGED);
  tv_watch_free(w);
}

static void test_deleted_and_recreated(void **state) {
  const char *dir = *state;
  char run[4096], file[4200];
  path_of(run, sizeof run, dir, "run");
  assert_int_equal(tv_fs_mkdirs(run), TV_OK);
  tv_watch *w = watch_new(run, 0, 0);
  uint64_t g0 = tv_watch_generation(w);
  snprintf(file, sizeof file, "%s/checkpoints.yaml", run);
  assert_int_equal(tv_fs_write_atomic(file, "a", 1), TV_OK);
  assert_int_equal(wait_for(w, 5, NULL), TV_WATCH_EVENT_CHANGED);
  assert_int_equal(unlink(file), 0);
  assert_int_equal(rmdir(run), 0);
  for (int i = 0; i < 10 && tv_watch_dir_exists(w); i++) wait_for(w, 5, NULL);
  assert_int_equal(tv_watch_dir_exists(w), 0);
  uint64_t g1 = tv_watch_generation(w);
  assert_true(g1 != g0);
  assert_int_equal(mkdir(run, 0755), 0);
  for (int i = 0; i < 10 && !tv_watch_dir_exists(w); i++) wait_for(w, 5, NULL);
  assert_int_equal(tv_watch_dir_exists(w), 1);
  assert_true(tv_watch_generation(w) != g1);
  assert_int_equal(tv_fs_write_atomic(file, "b", 1), TV_OK);
  assert_int_equal(wait_for(w, 5, NULL), TV_WATCH_EVENT_CHANGED);
  /* Replaced by a rename (mv run run.old; mkdir run): another directory, another generation. */
  uint64_t g2 = tv_watch_generation(w);
  char old[4200];
  snprintf(old, sizeof old, "%s.old", run);
  assert_int_equal(rename(run, old), 0);
  assert_int_equal(mkdir(run, 0755), 0);
  for (int i = 0; i < 10 && tv_watch_generation(w) == g2; i++) wait_for(w, 5, NULL);
  assert_true(tv_watch_generation(w) != g2);
  assert_int_equal(tv_watch_dir_exists(w), 1);
  tv_watch_free(w);
}

static void test_forced_polling(void **state) {
  const char *dir = *state;
  tv_watch *w = watch_new(dir, 1, 0.05);
  assert_int_equal(tv_watch_get_mode(w), TV_WATCH_MODE_POLL);
  assert_non_null(strstr(tv_watch_describe(w), "polling every 0.05 s (asked)"));
  /* Polling wakes the caller every interval to re-read the file. */
  double took;
  assert_int_equal(wait_for(w, 5, &took), TV_WATCH_EVENT_CHANGED);
  assert_true(took < 1.0);
  assert_int_equal(wait_for(w, 0, NULL), TV_WATCH_EVENT_TIMEOUT);
  /* Deletion is seen by polling too. */
  char run[4096];
  path_of(run, sizeof run, dir, "run");
  assert_int_equal(mkdir(run, 0755), 0);
  tv_watch *w2 = watch_new(run, 1, 0.05);
  assert_int_equal(tv_watch_dir_exists(w2), 1);
  assert_int_equal(rmdir(run), 0);
  for (int i = 0; i < 100 && tv_watch_dir_exists(w2); i++) wait_for(w2, 5, NULL);
  assert_int_equal(tv_watch_dir_exists(w2), 0);
  assert_int_equal(tv_watch_get_mode(w2), TV_WATCH_MODE_POLL);
  tv_watch_free(w2);
  tv_watch_free(w);
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig) { got_usr1 = sig; }

static void test_signal_interrupts_wait(void **state) {
  const char *dir = *state;
  tv_watch *w = watch_new(dir, 0, 0);
  struct sigaction sa = {.sa_handler = on_usr1}, old_sa;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, &old_sa);
  sigset_t block, saved, open;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigprocmask(SIG_BLOCK, &block, &saved);
  /* Pending while blocked (it arrived between the caller's flag check and the wait)... */
  raise(SIGUSR1);
  assert_int_equal(got_usr1, 0);
  open = saved;
  sigdelset(&open, SIGUSR1);
  tv_watch_event ev;
  double t0 = tv_monotonic();
  /* ...and delivered the moment the wait opens the mask: no sleeping through it. */
  assert_int_equal(tv_watch_wait(w, 10, &open, &ev), TV_ERR_INTERRUPTED);
  assert_true(tv_monotonic() - t0 < 1.0);
  assert_int_equal(ev, TV_WATCH_EVENT_TIMEOUT);
  assert_int_equal(got_usr1, SIGUSR1);
  sigprocmask(SIG_SETMASK, &saved, NULL);
  sigaction(SIGUSR1, &old_sa, NULL);
  tv_watch_free(w);
}

/* Lost events (the kernel's queue overflowed) must read as "rescan". */
static void test_queue_overflow_rescans(void **state) {
  const char *dir = *state;
  long max = 0;
  FILE *f = fopen("/proc/sys/fs/inotify/max_queued_events", "r");
  if (f) {
    if (fscanf(f, "%ld", &max) != 1) max = 0;
    fclose(f);
  }
  if (max <= 0 || max > 200000) {
    skip();
    return;
  }
  tv_watch *w = watch_new(dir, 0, 0);
  char p[2][4096];
  path_of(p[0], sizeof p[0], dir, "noise0");
  path_of(p[1], sizeof p[1], dir, "noise1");
  /* Each close of a written file is one event; two names in turn, because the kernel merges an
   * event identical to the one before it. */
  for (long i = 0; i < max + 64; i++) {
    int fd = open(p[i & 1], O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    close(fd);
  }
  assert_int_equal(wait_for(w, 0, NULL), TV_WATCH_EVENT_CHANGED);
  /* Re-armed afterwards: later replacements still wake it. */
  replace_file(dir, "checkpoints.yaml");
  assert_int_equal(wait_for(w, 5, NULL), TV_WATCH_EVENT_CHANGED);
  tv_watch_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_remote_fs_names),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test_setup_teardown(test_inotify_sees_replacement, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_missing_dir_appears, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_deleted_and_recreated, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_forced_polling, tvt_setup_tmpdir, tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_signal_interrupts_wait, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
      cmocka_unit_test_setup_teardown(test_queue_overflow_rescans, tvt_setup_tmpdir,
                                      tvt_teardown_tmpdir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
