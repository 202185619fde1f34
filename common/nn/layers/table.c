/* table.c — the layer table: each tv_layer_kind to its row (name, build, forward, backward,
 * flops), which lives in the kind's own file beside its code (see layers.h for how to add one);
 * the table itself is generated from config.h's list of kinds. */
#include "nn/layers/layer.h"

/* The rows, each defined in its kind group's file as tv_layer_<name>; the list of kinds is
 * config.h's TV_LAYER_KINDS, so a new kind needs no line here (the link fails until its row
 * exists). */
#define TV_LAYER_ROW_EXTERN_(c, n) extern const tv_layer_ops tv_layer_##n;
TV_LAYER_KINDS(TV_LAYER_ROW_EXTERN_)
#undef TV_LAYER_ROW_EXTERN_

static const tv_layer_ops *const layer_table[] = {
#define TV_LAYER_ROW_(c, n) [TV_LAYER_##c] = &tv_layer_##n,
    TV_LAYER_KINDS(TV_LAYER_ROW_)
#undef TV_LAYER_ROW_
};
_Static_assert(sizeof layer_table / sizeof layer_table[0] == TV_LAYER__COUNT,
               "one table row per layer kind");

const tv_layer_ops *tv_layer_ops_for(tv_layer_kind kind) { return layer_table[kind]; }
