/* cpu.c — CPUID and XGETBV behind tv_cpu_has (see cpu.h).  Asked directly rather than through
 * __builtin_cpu_supports, so what is checked (the OS's register state included) is written here
 * and is the same under GCC and clang. */
#include "nn/cpu.h"

#include <stdatomic.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

/* XCR0, the register state the OS saves: bits 1-2 SSE/AVX, 5-7 opmask and the ZMM registers. */
enum { XCR0_YMM = 0x06u, XCR0_ZMM = 0xe6u };

static uint64_t xcr0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t)hi << 32 | lo;
}

static unsigned probe(void) {
  unsigned a, b, c, d, sets = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  if (!(c & bit_OSXSAVE)) return 0; /* no XGETBV: the OS enables no extended state */
  uint64_t x = xcr0();
  if ((x & XCR0_YMM) == XCR0_YMM && (c & bit_FMA)) sets |= TV_CPU_FMA;
  if ((x & XCR0_ZMM) != XCR0_ZMM || __get_cpuid_max(0, 0) < 7) return sets;
  unsigned max_sub;
  __cpuid_count(7, 0, max_sub, b, c, d);
  if (!(b & bit_AVX512F)) return sets;
  sets |= TV_CPU_AVX512F;
  if (b & bit_AVX512BW) sets |= TV_CPU_AVX512BW;
  if (b & bit_AVX512VL) sets |= TV_CPU_AVX512VL;
  if (max_sub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    if (a & bit_AVX512BF16) sets |= TV_CPU_AVX512BF16; /* leaf 7.1 EAX */
  }
  return sets;
}
#else
static unsigned probe(void) { return 0; }
#endif

int tv_cpu_has(unsigned sets) {
  /* 0: not asked yet; else the probe's sets with bit 31 marking "asked".  Two threads asking at
   * once both probe and store the same value. */
  static atomic_uint cached;
  unsigned v = atomic_load_explicit(&cached, memory_order_relaxed);
  if (!v) {
    v = probe() | 1u << 31;
    atomic_store_explicit(&cached, v, memory_order_relaxed);
  }
  return (v & sets) == sets;
}
