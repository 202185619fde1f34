/* avx512.h — AVX-512 versions of the narrow-row kernels behind tv_im2col, tv_col2im and the
 * 2x2 max pool (include/trainval/ops.h), for planes at most TV_AVX512_MAX_W wide.
 *
 * The rows of the small images these run on (28 and 14 wide) are shorter than the loops the
 * compiler vectorises (16 lanes, so a 14-cell row ran as scalars): here one row is one or two
 * masked vector loads and stores.  Each function gives the same bits as the portable code it
 * stands in for (copies and selects only; col2im adds element by element in the same order), so
 * the choice between them, made at run time by tv_avx512_usable, never changes a result.  The
 * masked loads may name addresses one cell before or after a row; masked-off lanes are never
 * read (no fault, no value used).  Stores are unmasked where the spill past a row stays inside
 * the example's own block and a later row of the same call overwrites it (masked stores of a
 * partial vector are slow on the AMD Zen 4 this was measured on). */
#ifndef TRAINVAL_NN_AVX512_H
#define TRAINVAL_NN_AVX512_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/ops.h"

enum { TV_AVX512_MAX_W = 32 }; /* a row is at most two 16-lane vectors */

/* 1 when this build has the kernels (not an ASan build: nn/cpu.h says why) and
 * tv_cpu_has(TV_CPU_AVX512F); 0 makes the callers keep their portable loops.  Cannot fail. */
int tv_avx512_usable(void);

/* 1 if g is a stride-1 window whose output is as wide as the input and at most TV_AVX512_MAX_W
 * wide ('same' padding on a small plane): the shape tv_avx512_im2col / _col2im take. */
int tv_avx512_rows_fit(const tv_conv_geom *g);

/* tv_im2col / tv_col2im (same contract) for a g that tv_avx512_rows_fit.  Only when
 * tv_avx512_usable(). */
void tv_avx512_im2col(const tv_conv_geom *g, const float *x, float *col, size_t ld);
void tv_avx512_col2im(const tv_conv_geom *g, const float *col, size_t ld, float *dx,
                      int accumulate);

/* One output row of the 2x2 stride-2 max pool, ow <= TV_AVX512_MAX_W / 2: input rows r0, r1
 * (r1 = r0 + w), y[0, ow) and, if arg != NULL, arg[o] = base + the argmax's offset from r0
 * (row-major first maximum); relu != 0 clamps y at 0.  The same selects as the portable row.
 * room: the cells of y (and arg) from this row on that the caller lets it write (the rest of the
 * example's output); with 16 or more, one unmasked store writes garbage past the row, which the
 * following rows overwrite. */
void tv_avx512_max_pool_row(const float *r0, const float *r1, int w, int ow, float *y, int32_t *arg,
                            int32_t base, int relu, size_t room);
/* One output row of the backward of a tiling 2x2 pool (w = 2 ow <= TV_AVX512_MAX_W): dx rows d0
 * and d1 = d0 + w (their flat index in the example starts at base) get dy[o] (0 where y != NULL
 * and y[o] <= 0) at the cell argmax[o] names, 0 in the window's other cells.  room: the cells
 * from d0 on to the example's end, as for the forward row. */
void tv_avx512_max_pool_backward_row(float *d0, const float *dy, const int32_t *argmax,
                                     const float *y, int ow, int w, int32_t base, size_t room);

#endif
