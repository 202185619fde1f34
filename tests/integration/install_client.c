/* install_client.c — a program outside the tree, built by tests/integration/install.sh against
 * an installed trainval with `pkg-config --cflags --libs trainval` alone.  It opens a checkpoint,
 * prints its step, builds the inference model from the config stored in it, loads the
 * variables and prints the logits of one all-zero example, one per line ("%.6e").
 *   install_client CKPT.h5     exit 0, or 1 with a one-line error naming the file
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <trainval/ckpt.h>
#include <trainval/config.h>
#include <trainval/error.h>
#include <trainval/model.h>
#include <trainval/varstore.h>

int main(int argc, char **argv) {
  tv_ckpt *ck = NULL;
  tv_config *cfg = NULL;
  tv_varstore *store = NULL;
  tv_model *model = NULL;
  float *x = NULL;
  int rc = TV_OK;
  if (argc != 2) {
    fprintf(stderr, "usage: install_client CKPT.h5\n");
    return 2;
  }
  cfg = malloc(sizeof *cfg);
  if (!cfg) {
    rc = tv_error(TV_ERR_NOMEM, "out of memory");
    goto out;
  }
  rc = tv_ckpt_open(argv[1], NULL, &ck);
  if (rc != TV_OK) goto out;
  printf("step %lld\n", (long long)tv_ckpt_step(ck));
  const char *text = tv_ckpt_config_text(ck);
  rc = tv_config_parse(text, strlen(text), argv[1], NULL, 0, cfg);
  if (rc == TV_OK) rc = tv_varstore_new(&store);
  if (rc == TV_OK) rc = tv_model_new(cfg, TV_MODE_INFER, 1, store, NULL, &model);
  if (rc == TV_OK) rc = tv_varstore_seal(store);
  if (rc == TV_OK) rc = tv_ckpt_read_variables(ck, store);
  if (rc != TV_OK) goto out;
  x = calloc((size_t)tv_model_input_size(model), sizeof *x);
  if (!x) {
    rc = tv_error(TV_ERR_NOMEM, "out of memory");
    goto out;
  }
  const float *logits = tv_model_forward(model, x, 1);
  for (int k = 0; k < tv_model_num_classes(model); k++) printf("%.6e\n", logits[k]);
out:
  if (rc != TV_OK) fprintf(stderr, "install_client: %s\n", tv_error_message());
  free(x);
  tv_model_free(model);
  tv_varstore_free(store);
  tv_ckpt_close(ck);
  free(cfg);
  return rc == TV_OK ? 0 : 1;
}
