/* test_cpu.c — nn/cpu.h's tv_cpu_has and the three kernels' checks built on it.
 *
 * Reference: the compiler runtime's own reading of the CPU (__builtin_cpu_supports, libgcc's
 * CPUID and XGETBV code, an independent implementation): each set alone, and every combination,
 * must give what the runtime says of the sets one by one.  The callers' rules (nn/cpu.h):
 * packgemm.c asks AVX512F, gemv.c AVX512F+BW+VL+FMA (and +BF16 for the native bf16 product), both
 * also in a sanitizer build; avx512.c's rows ask AVX512F and are 0 in an ASan build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "nn/avx512.h"
#include "nn/cpu.h"
#include "nn/gemv.h"
#include "nn/packgemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define X86 1
#else
#define X86 0
#endif

/* The sets, each with the name the compiler runtime knows it by. */
static const struct {
  unsigned set;
  const char *name;
} SETS[] = {
    {TV_CPU_AVX512F, "avx512f"}, {TV_CPU_AVX512BW, "avx512bw"},     {TV_CPU_AVX512VL, "avx512vl"},
    {TV_CPU_FMA, "fma"},         {TV_CPU_AVX512BF16, "avx512bf16"},
};
enum { NSETS = sizeof SETS / sizeof SETS[0] };

static int runtime_has(int i) {
#if X86
  __builtin_cpu_init();
  switch (SETS[i].set) {
  case TV_CPU_AVX512F:
    return __builtin_cpu_supports("avx512f") != 0;
  case TV_CPU_AVX512BW:
    return __builtin_cpu_supports("avx512bw") != 0;
  case TV_CPU_AVX512VL:
    return __builtin_cpu_supports("avx512vl") != 0;
  case TV_CPU_FMA:
    return __builtin_cpu_supports("fma") != 0;
  case TV_CPU_AVX512BF16:
    return __builtin_cpu_supports("avx512bf16") != 0;
  }
#endif
  (void)i;
  return 0;
}

static void test_sets_match_runtime(void **state) {
  (void)state;
  assert_int_equal(tv_cpu_has(0), 1);
  for (int i = 0; i < NSETS; i++) {
    int want = runtime_has(i);
    if (tv_cpu_has(SETS[i].set) != want)
      fail_msg("%s: tv_cpu_has %d, the compiler runtime %d", SETS[i].name, tv_cpu_has(SETS[i].set),
               want);
  }
  for (unsigned m = 1; m < 1u << NSETS; m++) {
    unsigned sets = 0;
    int want = 1;
    for (int i = 0; i < NSETS; i++)
      if (m & 1u << i) sets |= SETS[i].set, want &= runtime_has(i);
    assert_int_equal(tv_cpu_has(sets), want);
    assert_int_equal(tv_cpu_has(sets), want); /* the cached answer */
  }
  print_message("cpu: avx512f %d bw %d vl %d fma %d bf16 %d\n", tv_cpu_has(TV_CPU_AVX512F),
                tv_cpu_has(TV_CPU_AVX512BW), tv_cpu_has(TV_CPU_AVX512VL), tv_cpu_has(TV_CPU_FMA),
                tv_cpu_has(TV_CPU_AVX512BF16));
}

/* Each kernel's check is its rule over tv_cpu_has. */
static void test_callers_rules(void **state) {
  (void)state;
  unsigned gemv = TV_CPU_AVX512F | TV_CPU_AVX512BW | TV_CPU_AVX512VL | TV_CPU_FMA;
  assert_int_equal(tv_pg_supported(), X86 && tv_cpu_has(TV_CPU_AVX512F));
  assert_int_equal(tv_gemv_bf16_native(), X86 && tv_cpu_has(gemv | TV_CPU_AVX512BF16));
#if X86 && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
  assert_int_equal(tv_avx512_usable(), tv_cpu_has(TV_CPU_AVX512F));
#else
  assert_int_equal(tv_avx512_usable(), 0);
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sets_match_runtime),
      cmocka_unit_test(test_callers_rules),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
