/* gemv.h — private to common/nn/: matrix-vector products over weights packed once into column-
 * interleaved groups, for one token at a time (the generation step, generate.c), where a
 * general gemm spends its time on an M = 1 edge case.
 *
 * GROUPS.  A group is q = 1 .. TV_GEMV_MAX_Q panels of TV_GEMV_LANES (16) rows each, packed
 * for one pass over the input vector: the q panels' elements of column k lie next to each other,
 *   fp32:  p[(k * q + j) * 16 + i]                    = W_j[i][k]
 *   bf16:  p[((k / 2) * q + j) * 32 + 2 * i + k % 2]   = bf16(W_j[i][k])  (uint16 elements)
 * (W_j: panel j's 16 rows; rows beyond the matrix, and for bf16 the column after an odd K, are
 * zeros).  A product runs over one or two segments (a group packed from one matrix of K1
 * columns, then one of K2 columns, both into the same sums: an lstm's x W_ih^T + h W_hh^T).
 *
 * Results.  y[j * 16 + i] = sum over k in order of W_j[i][k] x[k] (fp32: one fused multiply-add
 * per k, in column order; bf16: pairs of columns, vdpbf16ps's order, x rounded to bf16 first,
 * the pairs alternating between two sums that are added at the end).
 * The order is fixed by the packing alone, so a row's value does not depend on which thread
 * computes it, or with which other rows.  Two implementations: AVX-512 where the processor has
 * it (AVX512_BF16 for bf16), portable C elsewhere; a process always uses the same one.
 * bf16 conversion: round to nearest even (NaN stays NaN).  Kernels never allocate.
 */
#ifndef TRAINVAL_NN_GEMV_H
#define TRAINVAL_NN_GEMV_H

#include <stddef.h>
#include <stdint.h>

enum { TV_GEMV_LANES = 16, TV_GEMV_MAX_Q = 4 };

/* Floats that a group of q panels over k columns takes (bf16: padded to an even k, two
 * elements per float, rounded up to whole 64-byte lines). */
size_t tv_gemv_group_floats(int q, int k, int bf16);

/* Packs a group: panel j is rows[j][0 .. nrows[j]) of a row-major matrix with leading
 * dimension ld (rows[j] points at the panel's first row; nrows[j] <= 16, the rest zeros), k
 * columns. */
void tv_gemv_pack(float *p, int q, const float *const *rows, const int *nrows, int ld, int k,
                  int bf16);

/* x (n floats) as bf16 pairs for the bf16 products: xb[m] = bf16(x[2m]) | bf16(x[2m+1]) << 16
 * (x[n] read as 0 when n is odd); (n + 1) / 2 words. */
void tv_gemv_x_bf16(uint32_t *xb, const float *x, int n);

/* y[0 .. q*16) = the group p1 (k1 columns) times x1, plus the group p2 (k2 columns, may be 0)
 * times x2.  fp32: x1, x2 floats.  bf16: x1, x2 from tv_gemv_x_bf16 (uint32_t *, cast). */
void tv_gemv_f32(const float *p1, int k1, const float *x1, const float *p2, int k2, const float *x2,
                 int q, float *y);
void tv_gemv_bf16(const float *p1, int k1, const uint32_t *x1, const float *p2, int k2,
                  const uint32_t *x2, int q, float *y);

/* 1 when tv_gemv_bf16 runs on the processor's AVX512_BF16 unit (else the portable C, the same
 * values but slower).  Cannot fail. */
int tv_gemv_bf16_native(void);

#endif
