/* schema.h — private to common/config/: the key tables that say everything a config can hold,
 * shared by the three files that walk them.
 *
 *   schema.c  the tables (one per section, the keys every layer takes, one per layer kind) and
 *             the defaults they imply
 *   read.c    YAML document -> tv_config through the tables; --set overrides
 *   emit.c    tv_config -> YAML text through the tables; the model and settings comparisons
 *
 * A new key is a field in config.h plus one ROW_* line in schema.c: reading, defaults, emitting
 * and comparing follow from the row.  A new key type is a KEY_* constant here plus its reader in
 * read.c's table, its writer and comparison in emit.c and its default in schema.c (the compiler
 * counts the rows of read.c's table).
 */
#ifndef TRAINVAL_CONFIG_SCHEMA_H
#define TRAINVAL_CONFIG_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "base/yamlio.h"
#include "trainval/config.h"

#define TV_CFG_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef enum key_type {
  KEY_INT,         /* int in [lo, hi] */
  KEY_INT64,       /* int64_t in [lo, hi] */
  KEY_UINT64,      /* uint64_t, full range */
  KEY_DOUBLE,      /* finite double in [dlo, dhi] (ends open by F_OPEN_*) */
  KEY_BOOL,        /* int 0/1: a YAML boolean (yamlio.h's rule) */
  KEY_STRING,      /* char[cap] */
  KEY_ENUM,        /* an int-sized enum; names[value] */
  KEY_INT_LIST,    /* int[cap], exactly cap items, each in [lo, hi] */
  KEY_NAME_LIST,   /* char[cap][elem] with an int count at count_off; a scalar is a list of one */
  KEY_LAYERS,      /* model.layers: a sequence of layer items, read with the layer kind rows */
  KEY_INT_PAIR,    /* int[2]: one integer (both) or a list of two, each in [lo, hi] */
  KEY_PADDING,     /* tv_padding at off, int[2] at off2: valid | same | p | [ph, pw] */
  KEY_DOUBLE_LIST, /* a double at off, or a list of up to cap at off2 (count at count_off,
                    * 0 for the single number); each in [dlo, dhi] */
} key_type;
/* Outside the enum, so that switches over key_type stay checked for a missing case. */
enum { KEY__COUNT = KEY_DOUBLE_LIST + 1 };

enum key_flag {
  F_REQUIRED = 1u << 0,       /* the key must be present */
  F_MODEL = 1u << 1,          /* fixes variable names or shapes: compared by tv_config_same_model */
  F_IDENT = 1u << 2,          /* KEY_STRING: a name, [A-Za-z0-9_.-]+ */
  F_OPEN_LO = 1u << 3,        /* KEY_DOUBLE: dlo itself is out of range */
  F_OPEN_HI = 1u << 4,        /* KEY_DOUBLE: dhi itself is out of range */
  F_DEFAULT_KERNEL = 1u << 5, /* KEY_INT_PAIR of a layer: left 0, it takes the layer's kernel
                               * (pooling strides); resolved when read, so an emitted config
                               * states it */
  F_LATER = 1u << 6,          /* added after the v1 fixture (tests/fixtures/v1-run), and its
                               * default is the behaviour from before it: emitted only when set
                               * otherwise, so a config written before it emits unchanged */
};

typedef struct key_desc {
  const char *name;
  key_type type;
  unsigned flags;
  size_t off;               /* offsetof into tv_config (sections) or tv_layer_config (layers) */
  size_t cap;               /* KEY_STRING: bytes; lists: items */
  size_t elem;              /* KEY_NAME_LIST: bytes per item */
  size_t count_off;         /* KEY_NAME_LIST, KEY_DOUBLE_LIST: offset of the int item count */
  size_t off2;              /* KEY_PADDING: the int[2] pads; KEY_DOUBLE_LIST: the list */
  int64_t lo, hi;           /* integer keys and KEY_INT_LIST items */
  double dlo, dhi;          /* KEY_DOUBLE */
  const char *const *names; /* KEY_ENUM, KEY_PADDING: NULL-terminated, index = value */
  int64_t idef;             /* default of integer, bool and enum keys */
  double ddef;              /* default of KEY_DOUBLE */
  const char *sdef;         /* default of KEY_STRING (NULL: "") */
  const char *doc;          /* one line, written as a comment by tv_config_emit */
} key_desc;

typedef struct section_desc {
  const char *name;
  const key_desc *keys;
  int n_keys;
  int required;
} section_desc;

/* What a layer kind takes besides `type`, name and inputs.  A kind without a row in schema.c's
 * table (all zero) takes no keys and exactly one input. */
typedef struct layer_kind_desc {
  const key_desc *keys;
  int n_keys;
  int min_inputs, max_inputs; /* counting the implicit previous layer as one; 0: 1 */
} layer_kind_desc;

/* The sections in the order they are emitted. */
extern const section_desc tv_cfg_sections[];
extern const int tv_cfg_n_sections;

/* Keys every layer accepts besides `type` (name, inputs). */
extern const key_desc tv_cfg_layer_common_keys[];
extern const int tv_cfg_n_layer_common_keys;

/* The row of layer kind k (0 <= k < TV_LAYER__COUNT).  Cannot fail. */
const layer_kind_desc *tv_cfg_layer_kind(tv_layer_kind k);

/* The key called name among keys[0..n), or NULL. */
const key_desc *tv_cfg_find_key(const key_desc *keys, int n, const char *name);

/* The section called name, or NULL. */
const section_desc *tv_cfg_find_section(const char *name);

/* Appends "model, data, ..." (the section names).  Cannot fail (sets t->oom instead). */
void tv_cfg_list_sections(tv_text *t);

/* Appends the layer kinds' names, ", "-separated.  Cannot fail (sets t->oom instead). */
void tv_cfg_list_layer_kinds(tv_text *t);

/* Sets *l to kind's defaults (name "", no inputs).  Cannot fail. */
void tv_cfg_layer_defaults(tv_layer_config *l, tv_layer_kind kind);

#endif
