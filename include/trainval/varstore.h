/* varstore.h — named variables shared by every graph built over the store.
 *
 * A variable is declared by name ("dense_1/kernel") with a shape, an initialiser and whether it is
 * trainable.  Declaring a name that exists returns the existing variable if the shape agrees
 * (TensorFlow's variable_scope reuse): that is how a TRAIN graph and an INFER graph share one set
 * of parameters.  All values live in one slab and all gradients in a second slab of the same
 * layout; tv_var.value / .grad are views into them.  Slabs are allocated by tv_varstore_seal(),
 * after which no new name may be declared and pointers stay valid until tv_varstore_free().
 * Before sealing, value and grad are NULL.
 */
#ifndef TRAINVAL_VARSTORE_H
#define TRAINVAL_VARSTORE_H

#include <stddef.h>

#include "trainval/error.h"
#include "trainval/rng.h"
#include "trainval/tensor.h"

enum { TV_VAR_NAME_CAP = 128 };

typedef enum tv_init_kind {
  TV_INIT_ZEROS,
  TV_INIT_ONES,
  TV_INIT_HE_NORMAL,   /* N(0, 2/fan_in) */
  TV_INIT_NORMAL,      /* N(0, 1): PyTorch's nn.Embedding */
  TV_INIT_UNIFORM_FAN, /* U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's nn.LSTM / nn.GRU, fan_in
                        * being the hidden size */
} tv_init_kind;

typedef struct tv_var {
  char name[TV_VAR_NAME_CAP];
  tv_shape shape;
  size_t count;  /* elements */
  size_t offset; /* into the slabs */
  int trainable;
  tv_init_kind init;
  int fan_in, fan_out;
  float *value; /* NULL until sealed */
  float *grad;  /* NULL until sealed; all zeros for non-trainable variables */
} tv_var;

typedef struct tv_varstore tv_varstore;

/* *out NULL on failure.  Errors: TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_varstore_new(tv_varstore **out);
void tv_varstore_free(tv_varstore *s); /* NULL-safe */

/* Declares or looks up name.  *index receives the variable's index.
 * Errors: TV_ERR_MISMATCH (exists with another shape or trainability), TV_ERR_INVALID (sealed
 * and the name is new, or name too long), TV_ERR_NOMEM.  Nothing changes on failure. */
TV_MUST_CHECK int tv_varstore_declare(tv_varstore *s, const char *name, tv_shape shape,
                                      int trainable, tv_init_kind init, int fan_in, int fan_out,
                                      int *index);

/* Allocates the slabs (values zeroed, 64-byte aligned).  Idempotent.  Errors: TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_varstore_seal(tv_varstore *s);

/* Sets every gradient to zero (the whole gradient slab, one memset).  Backward passes add into
 * the gradients (layers.h), so a training step calls this once before its first backward.
 * Sealed store; cannot fail. */
void tv_varstore_zero_grads(tv_varstore *s);

/* Fills every variable from its initialiser, in declaration order, drawing from rng.  Sealed. */
void tv_varstore_init(tv_varstore *s, tv_rng *rng);

int tv_varstore_count(const tv_varstore *s);
tv_var *tv_varstore_var(tv_varstore *s, int index);
const tv_var *tv_varstore_cvar(const tv_varstore *s, int index);
/* Index of name, or -1. */
int tv_varstore_find(const tv_varstore *s, const char *name);
/* Total elements, all variables / trainable only. */
size_t tv_varstore_size(const tv_varstore *s);
size_t tv_varstore_trainable_size(const tv_varstore *s);
/* The slabs (NULL before sealing): values and grads, tv_varstore_size() floats each. */
float *tv_varstore_values(tv_varstore *s);
float *tv_varstore_grads(tv_varstore *s);

#endif
