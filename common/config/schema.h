/* schema.h — private to common/config/: the key tables that say everything a config can hold,
 * shared by the three files that walk them.
 *
 *   schema.c  the tables (one per section, the keys every layer takes; each layer kind's own
 *             table is in its layer file) and the defaults they imply
 *   read.c    YAML document -> tv_config through the tables; --set overrides
 *   emit.c    tv_config -> YAML text through the tables; the model and settings comparisons
 *
 * A new key is a field in config.h plus one ROW_* line in schema.c (a section's key) or in the
 * layer kind's own file (a layer's key, common/nn/layers/): reading, defaults, emitting and
 * comparing follow from the row.  A new key type is a KEY_* constant here plus its reader in
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
  KEY_INT_LIST,    /* int[cap], exactly cap items, each in [lo, hi] (F_OR_ONE: or one item,
                    * the rest stored as 0) */
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
  F_OR_ONE = 1u << 7,         /* KEY_INT_LIST: a list of one item is accepted too (rest 0) */
  F_TOKEN = 1u << 8,          /* with F_LATER: a key only token models use, emitted for every
                               * token model (and for any other when not at its default) */
  F_AUTO = 1u << 9,           /* KEY_DOUBLE: `auto` is a value too, stored as NaN (no number
                               * read is NaN) and written back as `auto`; ddef NAN makes it
                               * the default.  What auto means is the key's user's to say */
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

/* What a layer kind takes besides `type`, name and inputs: its row lives beside its code, in
 * its layer file (the `config` member of its tv_layer_ops row, layers.h), and the schema reads
 * it through the layer table.  A kind whose row has none (NULL) takes no keys and exactly one
 * input. */
typedef struct layer_kind_desc {
  const key_desc *keys;
  int n_keys;
  int min_inputs, max_inputs; /* counting the implicit previous layer as one; 0: 1 */
  int token_only; /* a token model's kind (embedding, lstm, gru): tv_config_emit lists it in
                   * its comments only for a token model, so an image model's emitted text
                   * stays what it was before these kinds existed */
} layer_kind_desc;

/* The ROW_* initializers of key_desc rows, for the section tables (schema.c) and the layer
 * kinds' tables (each in its layer file, common/nn/layers/).  T is the struct the row's field
 * lives in (tv_config or tv_layer_config). */
/* Offsets that fail to compile when the field's type is not the one the key type stores. */
#define FIELD(T, m, type)  (offsetof(T, m) + 0 * sizeof(_Generic(((T *)0)->m, type : 1)))
#define ARRAY(T, m, type)  (offsetof(T, m) + 0 * sizeof(_Generic(&((T *)0)->m[0], type * : 1)))
#define ARRAY2(T, m, type) (offsetof(T, m) + 0 * sizeof(_Generic(&((T *)0)->m[0][0], type * : 1)))
#define INT_SIZED(T, m)                                                                            \
  (offsetof(T, m) + 0 * sizeof(char[sizeof(((T *)0)->m) == sizeof(int) ? 1 : -1]))
#define NITEMS(T, m) (sizeof(((T *)0)->m) / sizeof(((T *)0)->m[0]))

#define ROW_INT(T, key, m, lo_, hi_, def, fl, doc_)                                                \
  {                                                                                                \
    .name = key, .type = KEY_INT, .flags = (fl), .off = FIELD(T, m, int), .lo = (lo_),             \
    .hi = (hi_), .idef = (def), .doc = doc_                                                        \
  }
#define ROW_INT64(T, key, m, lo_, hi_, def, fl, doc_)                                              \
  {                                                                                                \
    .name = key, .type = KEY_INT64, .flags = (fl), .off = FIELD(T, m, int64_t), .lo = (lo_),       \
    .hi = (hi_), .idef = (def), .doc = doc_                                                        \
  }
#define ROW_UINT64(T, key, m, def, fl, doc_)                                                       \
  {                                                                                                \
    .name = key, .type = KEY_UINT64, .flags = (fl), .off = FIELD(T, m, uint64_t), .idef = (def),   \
    .doc = doc_                                                                                    \
  }
#define ROW_DOUBLE(T, key, m, lo_, hi_, def, fl, doc_)                                             \
  {                                                                                                \
    .name = key, .type = KEY_DOUBLE, .flags = (fl), .off = FIELD(T, m, double), .dlo = (lo_),      \
    .dhi = (hi_), .ddef = (def), .doc = doc_                                                       \
  }
#define ROW_BOOL(T, key, m, def, fl, doc_)                                                         \
  {                                                                                                \
    .name = key, .type = KEY_BOOL, .flags = (fl), .off = FIELD(T, m, int), .idef = (def),          \
    .doc = doc_                                                                                    \
  }
#define ROW_STRING(T, key, m, def, fl, doc_)                                                       \
  {                                                                                                \
    .name = key, .type = KEY_STRING, .flags = (fl), .off = ARRAY(T, m, char),                      \
    .cap = sizeof(((T *)0)->m), .sdef = (def), .doc = doc_                                         \
  }
#define ROW_ENUM(T, key, m, names_, def, fl, doc_)                                                 \
  {                                                                                                \
    .name = key, .type = KEY_ENUM, .flags = (fl), .off = INT_SIZED(T, m), .names = (names_),       \
    .idef = (def), .doc = doc_                                                                     \
  }
#define ROW_INT_LIST(T, key, m, lo_, hi_, fl, doc_)                                                \
  {                                                                                                \
    .name = key, .type = KEY_INT_LIST, .flags = (fl), .off = ARRAY(T, m, int),                     \
    .cap = NITEMS(T, m), .lo = (lo_), .hi = (hi_), .doc = doc_                                     \
  }
#define ROW_NAME_LIST(T, key, m, count, fl, doc_)                                                  \
  {                                                                                                \
    .name = key, .type = KEY_NAME_LIST, .flags = (fl), .off = ARRAY2(T, m, char),                  \
    .cap = NITEMS(T, m), .elem = sizeof(((T *)0)->m[0]), .count_off = FIELD(T, count, int),        \
    .doc = doc_                                                                                    \
  }
#define ROW_INT_PAIR(T, key, m, lo_, hi_, def, fl, doc_)                                           \
  {                                                                                                \
    .name = key, .type = KEY_INT_PAIR, .flags = (fl), .off = ARRAY(T, m, int),                     \
    .cap = NITEMS(T, m) + 0 * sizeof(char[NITEMS(T, m) == 2 ? 1 : -1]), .lo = (lo_), .hi = (hi_),  \
    .idef = (def), .doc = doc_                                                                     \
  }
#define ROW_PADDING(T, key, m, pads, fl, doc_)                                                     \
  {                                                                                                \
    .name = key, .type = KEY_PADDING, .flags = (fl), .off = INT_SIZED(T, m),                       \
    .off2 = ARRAY(T, pads, int) + 0 * sizeof(char[NITEMS(T, pads) == 2 ? 1 : -1]), .lo = 0,        \
    .hi = 65536, .names = tv_cfg_padding_names, .idef = TV_PADDING_VALID, .doc = doc_              \
  }
#define ROW_DOUBLE_LIST(T, key, m, list, count, lo_, hi_, def, fl, doc_)                           \
  {                                                                                                \
    .name = key, .type = KEY_DOUBLE_LIST, .flags = (fl), .off = FIELD(T, m, double),               \
    .off2 = ARRAY(T, list, double), .cap = NITEMS(T, list), .count_off = FIELD(T, count, int),     \
    .dlo = (lo_), .dhi = (hi_), .ddef = (def), .doc = doc_                                         \
  }
#define ROW_LAYERS(key, fl, doc_)                                                                  \
  { .name = key, .type = KEY_LAYERS, .flags = (fl), .doc = doc_ }

/* The names of the named paddings (valid, same), for ROW_PADDING. */
extern const char *const tv_cfg_padding_names[];

/* A layer kind's config row from its key table: `.config = TV_CFG_LAYER_KEYS(dense_keys)` in
 * its tv_layer_ops row (layers.h). */
#define TV_CFG_LAYER_KEYS(keys) (&(const layer_kind_desc){(keys), TV_CFG_COUNT(keys), 0, 0, 0})
/* The same for a kind only token models use (token_only). */
#define TV_CFG_TOKEN_LAYER_KEYS(keys)                                                              \
  (&(const layer_kind_desc){(keys), TV_CFG_COUNT(keys), 0, 0, 1})

/* The sections in the order they are emitted. */
extern const section_desc tv_cfg_sections[];
extern const int tv_cfg_n_sections;

/* Keys every layer accepts besides `type` (name, inputs). */
extern const key_desc tv_cfg_layer_common_keys[];
extern const int tv_cfg_n_layer_common_keys;

/* The row of layer kind k (0 <= k < TV_LAYER__COUNT), from the layer table; an all-zero row
 * for a kind without one.  Cannot fail. */
const layer_kind_desc *tv_cfg_layer_kind(tv_layer_kind k);

/* The key called name among keys[0..n), or NULL. */
const key_desc *tv_cfg_find_key(const key_desc *keys, int n, const char *name);

/* The section called name, or NULL. */
const section_desc *tv_cfg_find_section(const char *name);

/* Appends "model, data, ..." (the section names).  Cannot fail (sets t->oom instead). */
void tv_cfg_list_sections(tv_text *t);

/* Appends the layer kinds' names, ", "-separated (without the token_only ones unless
 * tokens).  Cannot fail (sets t->oom instead). */
void tv_cfg_list_layer_kinds(tv_text *t);
void tv_cfg_list_layer_kinds_for(tv_text *t, int tokens);

/* Sets *l to kind's defaults (name "", no inputs).  Cannot fail. */
void tv_cfg_layer_defaults(tv_layer_config *l, tv_layer_kind kind);

#endif
