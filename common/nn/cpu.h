/* cpu.h — private to common/nn/: the one answer to "may this process run these AVX-512
 * instructions?", for every kernel that picks between an AVX-512 path and a portable one at run
 * time (avx512.c's rows behind ops.c, gemv.c's generation products, packgemm.c's recurrent
 * kernel).  The kernels are compiled for AVX-512 by function attribute, the rest of the build
 * stays portable, so one binary runs everywhere and asks here before it calls them.
 *
 * What "usable" means: the CPU reports the instruction-set bits (CPUID leaf 1 ECX: FMA, OSXSAVE;
 * leaf 7 subleaf 0 EBX: AVX512F, AVX512BW, AVX512VL; leaf 7 subleaf 1 EAX: AVX512_BF16) AND the
 * operating system saves the registers those instructions use across context switches: XGETBV(0)
 * has XCR0 bits 1, 2 (SSE, AVX) for FMA and also 5, 6, 7 (opmask, the upper halves of ZMM0-15,
 * ZMM16-31) for any AVX-512 set.  A CPU with the bits under an OS (or hypervisor) that does not
 * enable the state faults on the first such instruction; then every set here reads 0.  BF16 is
 * its own bit (AVX512_BF16 came years after AVX512F: Cooper Lake, Zen 4), asked separately.
 * Off x86-64 (or without GCC-style inline assembly) every set reads 0.
 *
 * Which rule each caller keeps in a sanitizer build (make asan, make fuzz):
 *   - avx512.c (ops.c's im2col / col2im / 2x2 pool rows, TV_CPU_AVX512F): its kernels are left
 *     out of an AddressSanitizer build, and tv_avx512_usable() is 0 there.  Their memory traffic
 *     is mostly masked vector loads and stores, which the sanitizer does not check (GCC does not
 *     instrument the masked builtins), and the masked loads name addresses a cell outside a row by
 *     design; so the build runs the portable loops, which make the same accesses cell by cell and
 *     are checked.
 *   - gemv.c (TV_CPU_AVX512F | TV_CPU_AVX512BW | TV_CPU_AVX512VL | TV_CPU_FMA, plus
 *     TV_CPU_AVX512BF16 for the native bf16 product) and packgemm.c (TV_CPU_AVX512F): kept on
 *     under the sanitizer.  Their vector loads and stores are plain (unmasked) and checked, and the
 *     portable fallbacks are other code (other loops, another summation order), so make asan on an
 *     AVX-512 machine is the only run that checks these kernels' accesses.
 * The choice never changes what a caller computes beyond what its own header says (avx512.c:
 * the same bits; gemv.c, packgemm.c: rounding of another summation order).
 * Not through here: the target_clones functions (TV_VECTOR in ops.h, recurrent.c's step cells),
 * which the compiler's own resolver dispatches when the program is loaded (they are plain
 * portable functions in an ASan build).
 */
#ifndef TRAINVAL_NN_CPU_H
#define TRAINVAL_NN_CPU_H

/* Instruction sets, or'ed into the argument of tv_cpu_has. */
enum {
  TV_CPU_AVX512F = 1u << 0,    /* AVX-512 Foundation (and the OS's ZMM / opmask state) */
  TV_CPU_AVX512BW = 1u << 1,   /* byte and word instructions */
  TV_CPU_AVX512VL = 1u << 2,   /* the AVX-512 forms on 128- and 256-bit registers */
  TV_CPU_FMA = 1u << 3,        /* FMA3 (and the OS's YMM state) */
  TV_CPU_AVX512BF16 = 1u << 4, /* VDPBF16PS and the bf16 conversions (AVX512_BF16) */
};

/* 1 when the CPU has every set named in `sets` and the OS has enabled its register state (see
 * above), else 0; sets == 0 gives 1.  CPUID and XGETBV run once per process (the answer is
 * cached; safe from any thread).  Cannot fail. */
int tv_cpu_has(unsigned sets);

#endif
