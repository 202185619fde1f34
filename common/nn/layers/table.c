/* table.c — the layer table: each tv_layer_kind to its row (name, build, forward, backward,
 * flops), which lives in the kind's own file beside its code (see layers.h for how to add one). */
#include "nn/layers/layer.h"

/* The rows, each defined in its kind group's file. */
extern const tv_layer_ops tv_layer_dense;
extern const tv_layer_ops tv_layer_relu;
extern const tv_layer_ops tv_layer_flatten;
extern const tv_layer_ops tv_layer_conv2d;
extern const tv_layer_ops tv_layer_max_pool2d;
extern const tv_layer_ops tv_layer_avg_pool2d;
extern const tv_layer_ops tv_layer_global_avg_pool;
extern const tv_layer_ops tv_layer_batch_norm;
extern const tv_layer_ops tv_layer_dropout;
extern const tv_layer_ops tv_layer_leaky_relu;
extern const tv_layer_ops tv_layer_elu;
extern const tv_layer_ops tv_layer_gelu;
extern const tv_layer_ops tv_layer_sigmoid;
extern const tv_layer_ops tv_layer_tanh;
extern const tv_layer_ops tv_layer_softmax;
extern const tv_layer_ops tv_layer_add;

static const tv_layer_ops *const layer_table[] = {
    [TV_LAYER_DENSE] = &tv_layer_dense,
    [TV_LAYER_RELU] = &tv_layer_relu,
    [TV_LAYER_FLATTEN] = &tv_layer_flatten,
    [TV_LAYER_CONV2D] = &tv_layer_conv2d,
    [TV_LAYER_MAX_POOL2D] = &tv_layer_max_pool2d,
    [TV_LAYER_AVG_POOL2D] = &tv_layer_avg_pool2d,
    [TV_LAYER_GLOBAL_AVG_POOL] = &tv_layer_global_avg_pool,
    [TV_LAYER_BATCH_NORM] = &tv_layer_batch_norm,
    [TV_LAYER_DROPOUT] = &tv_layer_dropout,
    [TV_LAYER_LEAKY_RELU] = &tv_layer_leaky_relu,
    [TV_LAYER_ELU] = &tv_layer_elu,
    [TV_LAYER_GELU] = &tv_layer_gelu,
    [TV_LAYER_SIGMOID] = &tv_layer_sigmoid,
    [TV_LAYER_TANH] = &tv_layer_tanh,
    [TV_LAYER_SOFTMAX] = &tv_layer_softmax,
    [TV_LAYER_ADD] = &tv_layer_add,
};
_Static_assert(sizeof layer_table / sizeof layer_table[0] == TV_LAYER__COUNT,
               "one table row per layer kind");

const tv_layer_ops *tv_layer_ops_for(tv_layer_kind kind) { return layer_table[kind]; }
