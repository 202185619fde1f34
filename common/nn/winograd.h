/* winograd.h — the Winograd F(2x2, 3x3) convolution (Lavin & Gray 2015) for 3x3 stride-1
 * windows, one chunk of examples at a time, NCHW, single-threaded (the layer splits by chunk).
 *
 * Per output tile of 2x2 (input patch d of 4x4 at rows 2*ty - ph, cols 2*tx - pw; cells outside
 * the input read as 0) and filter g (3x3):  Y = A^T [ (G g G^T) .* (B^T d B) ] A, with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * The products summed over the input channels are 16 gemms, one per tile position q:
 *   M_q [T, F] = V_q [T, C] U_q [C, F]  (U = the transformed filters, V = the transformed
 * input tiles, T = the chunk's tiles): 16 C F T multiplies against the direct product's
 * 36 C F T (9 C per output, 4 outputs per tile), 2.25x fewer; the transforms add O((C + F) T)
 * additions.  Rounding differs from the direct sum: each output is within 1e-5 (observed 2e-7)
 * of sum |w x| (tests/test_winograd.c bounds it).  The functions never allocate and cannot
 * fail; arrays do not overlap. */
#ifndef TRAINVAL_NN_WINOGRAD_H
#define TRAINVAL_NN_WINOGRAD_H

#include <stddef.h>

#include "trainval/ops.h"

enum { TV_WINO_POS = 16 }; /* tile positions of F(2x2, 3x3) */

/* 1 if g is a 3x3 window of stride 1 with padding at most 2 (the output size is g's). */
int tv_winograd_fits(const tv_conv_geom *g);
/* Tiles of one example: ceil(oh / 2) * ceil(ow / 2). */
size_t tv_winograd_tiles(const tv_conv_geom *g);
/* Scratch floats of tv_winograd_forward for `examples` examples of f filters. */
size_t tv_winograd_scratch(const tv_conv_geom *g, int f, int examples);

/* U = G w G^T for f filters of g->c channels: w (F, C, 3, 3) -> u [16][C][F]. */
void tv_winograd_filter(const tv_conv_geom *g, int f, const float *w, float *u);

/* The gradient w.r.t. the input of the convolution g with f filters is itself a 3x3 stride-1
 * convolution: dx = conv'(dy) over the geometry tv_winograd_dx_geom gives (f input channels of
 * oh x ow, padding 2 - ph and 2 - pw, output h x w) with the filters W'[c][q] = W[q][c] turned
 * 180 degrees, transformed by tv_winograd_filter_dx (w (F, C, 3, 3) -> u [16][F][C]). */
void tv_winograd_dx_geom(const tv_conv_geom *g, int f, tv_conv_geom *out);
void tv_winograd_filter_dx(int c, int f, const float *w, float *u);

/* y (m examples of (F, oh, ow)) = conv(x (m examples of (C, h, w)), the filters u from
 * tv_winograd_filter) + bias (NULL: none), written, or added to y when accumulate, through
 * scratch of tv_winograd_scratch(g, f, m) floats.  The same calls in the same order for the same
 * m: the bits depend on the chunk only. */
void tv_winograd_forward(const tv_conv_geom *g, int f, int m, const float *u, const float *bias,
                         const float *x, float *y, int accumulate, float *scratch);

#endif
