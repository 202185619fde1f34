/* budget.c — memory plans before allocation (budget.h).  Nothing here allocates.
 *
 * Data is counted as its reader will hold it (tv_split_estimate, from the files' headers), not
 * as the files' bytes: an HDF5 dataset by its dataspace and type, out of core by data.memory_mb,
 * and CSV text, whose bytes say little about its values, by a streaming count of its fields
 * (the text, a field record and a 4-byte value each: an upper bound). */
#include "trainval/budget.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainval/data.h"

size_t tv_budget_default_mb(void) {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 4096;
  return (size_t)((double)pages * (double)page * 0.75 / (1024.0 * 1024.0));
}

void tv_budget_add_variables(tv_budget *b, const tv_varstore *store, const tv_config *cfg) {
  size_t slots = 0;
  if (cfg->optimizer.type == TV_OPTIM_ADAM || cfg->optimizer.type == TV_OPTIM_ADAMW) slots = 2;
  if (cfg->optimizer.type == TV_OPTIM_SGD && cfg->optimizer.momentum > 0) slots = 1;
  b->variables +=
      (2 * tv_varstore_size(store) + slots * tv_varstore_trainable_size(store)) * sizeof(float);
}

void tv_budget_add_data(tv_budget *b, const tv_config *cfg, const char *stem) {
  char path[TV_PATH_CAP + 256];
  if (tv_data_find(cfg->data.dir, stem, path, sizeof path) != TV_OK) return;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  unsigned char head[2], tail[4];
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    size_t bytes = (size_t)st.st_size;
    if (st.st_size >= 18 && pread(fd, head, 2, 0) == 2 && head[0] == 0x1f && head[1] == 0x8b &&
        pread(fd, tail, 4, st.st_size - 4) == 4)
      bytes =
          (size_t)tail[0] | (size_t)tail[1] << 8 | (size_t)tail[2] << 16 | (size_t)tail[3] << 24;
    b->data += bytes;
  }
  close(fd);
}

void tv_budget_add_split(tv_budget *b, const tv_config *cfg, tv_split s) {
  uint64_t bytes = 0;
  if (tv_split_estimate(cfg, s, &bytes) == TV_OK) b->data += (size_t)bytes;
}

static double mib(size_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

int tv_budget_check(const tv_budget *b, size_t limit_mb, const char *what) {
  size_t sum = b->activations + b->variables + b->data;
  if (limit_mb == 0 || mib(sum) <= (double)limit_mb) return TV_OK;
  return tv_error(TV_ERR_NOMEM,
                  "%s: needs %.0f MiB (activations %.0f, variables %.0f, data %.0f MiB), above "
                  "--max-memory %zu MiB (raise it, or lower the batch size)",
                  what, mib(sum), mib(b->activations), mib(b->variables), mib(b->data), limit_mb);
}
