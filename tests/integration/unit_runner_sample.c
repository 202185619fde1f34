/* A tiny cmocka binary for tests/integration/unit_runner.sh, never part of make unit: three
 * tests whose outcome TV_SAMPLE picks, so that tests/run_unit.sh is seen on real cmocka output.
 *   unset    all three pass
 *   fail     the second fails an assertion
 *   skip     the second calls skip()
 *   abort    the second calls abort() (a signal cmocka does not catch: the binary dies there)
 *   atexit   all three pass, then the binary exits 3 (as a leak report at exit does) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static int mode_is(const char *m) {
  const char *s = getenv("TV_SAMPLE");
  return s && strcmp(s, m) == 0;
}

static void exit_3(void) { _exit(3); }

static void sample_first(void **state) {
  (void)state;
  assert_int_equal(2 + 2, 4);
}

static void sample_second(void **state) {
  (void)state;
  if (mode_is("fail")) assert_int_equal(2 + 2, 5);
  if (mode_is("skip")) skip();
  if (mode_is("abort")) abort();
}

static void sample_third(void **state) {
  (void)state;
  assert_true(1);
}

int main(void) {
  if (mode_is("atexit")) atexit(exit_3);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sample_first),
      cmocka_unit_test(sample_second),
      cmocka_unit_test(sample_third),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
