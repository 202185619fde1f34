/* test_lock.c — DIR/LOCK (lock.h): one holder at a time, the holder's line, a lock that
 * survives its file being removed (the directory is locked too), and where only the file can be
 * locked, a removed or replaced file noticed by tv_lock_check.  Each test gets a fresh
 * temporary directory.
 */
#include "trainval/lock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "base/fs.h"

static const tv_lock_opts train_opts = {.busy = "another train holds this directory"};

static void lock_path(const char *dir, char *out, size_t cap) {
  assert_int_equal(tv_fs_join(out, cap, dir, TV_LOCK_FILE), TV_OK);
}

static void assert_msg_has(const char *s) {
  if (!strstr(tv_error_message(), s))
    fail_msg("message \"%s\" lacks \"%s\"", tv_error_message(), s);
}

static void test_one_holder(void **state) {
  const char *dir = *state;
  char path[4200], prev[256], want[64];
  lock_path(dir, path, sizeof path);
  tv_lock *a = NULL, *b = (tv_lock *)1;
  assert_int_equal(tv_lock_take(dir, &train_opts, &a, prev, sizeof prev), TV_OK);
  assert_non_null(a);
  assert_string_equal(prev, ""); /* a new file */
  assert_true(tv_lock_holds_dir(a));
  assert_int_equal(tv_lock_check(a), TV_OK);
  /* The file names the holder. */
  char *text = NULL;
  size_t n;
  assert_int_equal(tv_fs_read_all(path, &text, &n), TV_OK);
  snprintf(want, sizeof want, " pid %ld\n", (long)getpid());
  assert_true(strncmp(text, "host ", 5) == 0);
  assert_non_null(strstr(text, want));
  /* A second holder is refused, naming the file and the holder (flock locks belong to open
   * descriptions, so a second take in one process conflicts like another process's). */
  assert_int_equal(tv_lock_take(dir, &train_opts, &b, NULL, 0), TV_ERR_BUSY);
  assert_null(b);
  assert_msg_has("LOCK: another train holds this directory (host ");
  text[strcspn(text, "\n")] = '\0';
  assert_msg_has(text);
  /* Released, the next holder takes over and learns who held it last. */
  tv_lock_release(a);
  assert_int_equal(tv_lock_take(dir, &train_opts, &b, prev, sizeof prev), TV_OK);
  assert_string_equal(prev, text);
  tv_lock_release(b);
  tv_lock_release(NULL);
  free(text);
  /* A directory that is not there. */
  char missing[4200];
  assert_int_equal(tv_fs_join(missing, sizeof missing, dir, "gone"), TV_OK);
  assert_int_equal(tv_lock_take(missing, &train_opts, &b, NULL, 0), TV_ERR_IO);
  assert_null(b);
  assert_msg_has("gone");
}

/* rm DIR/LOCK under a holder used to let a second one in: the directory lock keeps it out, and
 * the refused one leaves no file behind. */
static void test_lock_file_removed(void **state) {
  const char *dir = *state;
  char path[4200];
  lock_path(dir, path, sizeof path);
  tv_lock *a = NULL, *b = NULL;
  assert_int_equal(tv_lock_take(dir, &train_opts, &a, NULL, 0), TV_OK);
  assert_int_equal(unlink(path), 0);
  assert_int_equal(tv_lock_take(dir, &train_opts, &b, NULL, 0), TV_ERR_BUSY);
  assert_null(b);
  assert_msg_has("another train holds this directory (holder unknown)");
  assert_int_not_equal(access(path, F_OK), 0);
  assert_int_equal(tv_lock_check(a), TV_OK); /* nobody else can be in */
  tv_lock_release(a);
  assert_int_equal(tv_lock_take(dir, &train_opts, &b, NULL, 0), TV_OK);
  tv_lock_release(b);
}

/* Where directories cannot be locked, the file alone: its removal or replacement is noticed. */
static void test_file_only_check(void **state) {
  const char *dir = *state;
  char path[4200];
  lock_path(dir, path, sizeof path);
  tv_lock_opts fo = {.busy = "another train holds this directory", .file_only = 1};
  tv_lock *a = NULL, *b = NULL;
  assert_int_equal(tv_lock_take(dir, &fo, &a, NULL, 0), TV_OK);
  assert_false(tv_lock_holds_dir(a));
  assert_int_equal(tv_lock_check(a), TV_OK);
  assert_int_equal(tv_lock_take(dir, &fo, &b, NULL, 0), TV_ERR_BUSY); /* the file still works */
  assert_int_equal(unlink(path), 0);
  assert_int_equal(tv_lock_check(a), TV_ERR_BUSY);
  assert_msg_has("LOCK was removed or replaced while this process held it");
  /* A second holder got in through the new file: the first one's check refuses to go on. */
  assert_int_equal(tv_lock_take(dir, &fo, &b, NULL, 0), TV_OK);
  assert_int_equal(tv_lock_check(b), TV_OK);
  assert_int_equal(tv_lock_check(a), TV_ERR_BUSY);
  tv_lock_release(b);
  tv_lock_release(a);
  /* The hint follows the holder. */
  tv_lock_opts eo = {.busy = "another eval --name eval is watching d", .hint = "; pick another"};
  assert_int_equal(tv_lock_take(dir, &eo, &a, NULL, 0), TV_OK);
  assert_int_equal(tv_lock_take(dir, &eo, &b, NULL, 0), TV_ERR_BUSY);
  assert_msg_has("another eval --name eval is watching d (host ");
  assert_msg_has("); pick another");
  tv_lock_release(a);
}

/* The holder line as others read it: whose, and whether that process still runs. */
static void test_holder_state(void **state) {
  const char *dir = *state;
  char buf[256] = "x", line[256], host[64] = "";
  long pid = -1;
  tv_lock_holder(dir, buf, sizeof buf);
  assert_string_equal(buf, ""); /* no LOCK file */
  assert_int_equal(tv_lock_holder_state_of("", &pid), TV_LOCK_HOLDER_UNKNOWN);
  assert_int_equal(pid, 0);
  assert_int_equal(tv_lock_holder_state_of("garbage", &pid), TV_LOCK_HOLDER_UNKNOWN);
  assert_int_equal(tv_lock_holder_state_of("host some-other-box pid 1", &pid),
                   TV_LOCK_HOLDER_UNKNOWN);
  assert_int_equal(pid, 1);
  tv_lock *l = NULL;
  assert_int_equal(tv_lock_take(dir, &train_opts, &l, NULL, 0), TV_OK);
  tv_lock_holder(dir, buf, sizeof buf);
  assert_int_equal(tv_lock_holder_state_of(buf, &pid), TV_LOCK_HOLDER_ALIVE);
  assert_int_equal(pid, (long)getpid());
  tv_lock_release(l);
  /* A process that has exited (and been reaped) is gone. */
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) _exit(0);
  assert_int_equal(waitpid(child, NULL, 0), child);
  gethostname(host, sizeof host - 1);
  snprintf(line, sizeof line, "host %s pid %ld", host, (long)child);
  assert_int_equal(tv_lock_holder_state_of(line, &pid), TV_LOCK_HOLDER_GONE);
  assert_int_equal(pid, (long)child);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, tvt_setup_tmpdir, tvt_teardown_tmpdir)
  const struct CMUnitTest tests[] = {
      T(test_one_holder),
      T(test_lock_file_removed),
      T(test_file_only_check),
      T(test_holder_state),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
