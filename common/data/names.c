/* names.c — a dataset's class names in a checkpoint (see data.h, the class names in a
 * checkpoint): written by the trainer beside the other parts, read by eval (which maps the
 * data it evaluates onto them) and eval --predict. */
#include "trainval/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/yamlio.h"
#include "trainval/ckpt.h"
#include "trainval/text.h"

int tv_dataset_names_ckpt_write(const tv_dataset *ds, tv_ckpt_writer *w) {
  if (!ds->names || ds->num_classes <= 0) return TV_OK;
  tv_text t = {0};
  tv_text_printf(&t, "[");
  for (int k = 0; k < ds->num_classes && t.n <= TV_CLASS_NAMES_MAX; k++) {
    if (k) tv_text_printf(&t, ", ");
    tv_text_json_str(&t, ds->names[k]);
  }
  tv_text_printf(&t, "]");
  int rc = tv_text_check(&t, "class names");
  if (rc == TV_OK && t.n <= TV_CLASS_NAMES_MAX)
    rc = tv_ckpt_writer_attr_str(w, "/data", "class_names", t.p);
  tv_text_free(&t);
  return rc;
}

int tv_ckpt_read_class_names(tv_ckpt *c, int num_classes, char ***names) {
  *names = NULL;
  int has = tv_ckpt_has(c, "/data");
  if (has < 0) return TV_ERR_FORMAT; /* the message names the file */
  if (!has) return TV_OK;
  char *buf = malloc(TV_CLASS_NAMES_MAX + 1);
  if (!buf) return tv_error(TV_ERR_NOMEM, "%s: out of memory", tv_ckpt_path(c));
  int rc = tv_ckpt_read_attr_str(c, "/data", "class_names", buf, TV_CLASS_NAMES_MAX + 1);
  if (rc == TV_ERR_NOT_FOUND) {
    free(buf);
    return TV_OK;
  }
  tv_ydoc *d = NULL;
  char **out = NULL;
  char where[512];
  snprintf(where, sizeof where, "%s:/data/class_names", tv_ckpt_path(c));
  if (rc == TV_OK) rc = tv_ydoc_parse(buf, strlen(buf), where, TV_YDOC_INLINE, &d);
  const yaml_node_t *root = rc == TV_OK ? tv_ydoc_root(d) : NULL;
  if (rc == TV_OK &&
      (!root || root->type != YAML_SEQUENCE_NODE ||
       root->data.sequence.items.top - root->data.sequence.items.start != num_classes))
    rc = tv_error(TV_ERR_FORMAT, "%s: expected a list of %d class names", where, num_classes);
  if (rc == TV_OK && !(out = calloc((size_t)num_classes, sizeof *out)))
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", where);
  for (int k = 0; rc == TV_OK && k < num_classes; k++) {
    const yaml_node_t *n = tv_ydoc_node(d, root->data.sequence.items.start[k]);
    if (!n || n->type != YAML_SCALAR_NODE)
      rc = tv_error(TV_ERR_FORMAT, "%s: class name %d is not a string", where, k);
    else if (!(out[k] = strdup((const char *)n->data.scalar.value)))
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", where);
  }
  tv_ydoc_free(d);
  free(buf);
  if (rc != TV_OK) {
    tv_imgdir_files_free(out, out ? (uint32_t)num_classes : 0);
    return rc;
  }
  *names = out;
  return TV_OK;
}

int tv_dataset_use_class_names(tv_dataset *ds, char *const *names, int k, const char *what) {
  if (!names || k <= 0 || !ds->labels) return TV_OK;
  int32_t *map = NULL;
  char **copy = calloc((size_t)k, sizeof *copy);
  int rc = copy ? TV_OK : tv_error(TV_ERR_NOMEM, "%s: out of memory", what);
  for (int j = 0; rc == TV_OK && j < k; j++)
    if (!(copy[j] = strdup(names[j]))) rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", what);
  if (rc == TV_OK && ds->names) { /* the data's class c is the model's class map[c] */
    if (!(map = malloc((size_t)ds->num_classes * sizeof *map)))
      rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", what);
    for (int c = 0; rc == TV_OK && c < ds->num_classes; c++) {
      map[c] = -1;
      for (int j = 0; j < k && map[c] < 0; j++)
        if (!strcmp(ds->names[c], names[j])) map[c] = j;
      if (map[c] < 0)
        rc = tv_error(TV_ERR_MISMATCH, "%s: class \"%.80s\" is not one of the model's %d classes",
                      what, ds->names[c], k);
    }
  } else if (rc == TV_OK && ds->num_classes > k) {
    rc = tv_error(TV_ERR_MISMATCH, "%s: class id %d, but the model has %d classes", what,
                  ds->num_classes - 1, k);
  }
  if (rc != TV_OK) {
    tv_imgdir_files_free(copy, copy ? (uint32_t)k : 0);
    free(map);
    return rc;
  }
  if (map)
    for (uint32_t i = 0; i < ds->n; i++) ds->labels[i] = map[ds->labels[i]];
  free(map);
  tv_imgdir_files_free(ds->names, ds->names ? (uint32_t)ds->num_classes : 0);
  ds->names = copy;
  ds->num_classes = k;
  return TV_OK;
}
