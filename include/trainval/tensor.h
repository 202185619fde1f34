/* tensor.h — shapes and float32 tensor views.
 *
 * Dimension letters, fixed once for the whole code base: N batch, C channels, H height, W width,
 * D features.  Activations are NCHW (4-D) or ND (2-D), row-major, like PyTorch.  A tv_tensor is a
 * view: it never owns its data (parameters live in the variable store's slabs, activations in
 * the model's arena).
 */
#ifndef TRAINVAL_TENSOR_H
#define TRAINVAL_TENSOR_H

#include <stddef.h>

enum { TV_MAX_DIMS = 4 };

typedef struct tv_shape {
  int ndim;
  int dim[TV_MAX_DIMS];
} tv_shape;

typedef struct tv_tensor {
  float *data;
  tv_shape shape;
} tv_tensor;

/* Shape constructors (cannot fail). */
tv_shape tv_shape1(int d0);
tv_shape tv_shape2(int d0, int d1);
tv_shape tv_shape3(int d0, int d1, int d2);
tv_shape tv_shape4(int d0, int d1, int d2, int d3);

/* Number of elements (1 for ndim 0). */
size_t tv_shape_count(tv_shape s);

/* 1 if equal in rank and every dimension. */
int tv_shape_equal(tv_shape a, tv_shape b);

/* Writes "[512, 784]" into buf (always NUL-terminated); returns buf. */
char *tv_shape_str(tv_shape s, char *buf, size_t cap);

#endif
