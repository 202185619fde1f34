/* fuzz_util.c — scratch directory and file writing for the fuzz targets (see fuzz_util.h). */
#include "fuzz_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainval/data.h"

static char dir[4096];

static void remove_dir(void) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    char p[8192];
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
        continue;
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
    closedir(d);
  }
  rmdir(dir);
}

const char *fuzz_dir(void) {
  if (dir[0]) return dir;
  const char *t = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/tv-fuzz.XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(dir)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(remove_dir);
  return dir;
}

void fuzz_write(const char *name, const uint8_t *data, size_t size, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", fuzz_dir(), name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    perror(path);
    abort();
  }
  size_t done = 0;
  while (done < size) {
    ssize_t k = write(fd, data + done, size - done);
    if (k <= 0) {
      perror(path);
      abort();
    }
    done += (size_t)k;
  }
  if (close(fd) != 0) {
    perror(path);
    abort();
  }
}

void fuzz_check_estimate(const tv_data_spec *s, const tv_dataset *ds, int exact) {
  tv_data_need need;
  int rc = tv_data_estimate(s, &need);
  if (!ds) return;
  size_t d = (size_t)ds->c * (size_t)ds->h * (size_t)ds->w, t = ds->labels ? 1 : ds->target_dim;
  uint64_t bytes = (uint64_t)ds->n * (d * (ds->features ? 4 : 1) + t * 4);
  if (rc != TV_OK || (exact ? need.held != bytes : need.held < bytes)) {
    fprintf(stderr, "tv_data_estimate: rc %d, held %llu for a dataset of %llu bytes (%s)\n", rc,
            (unsigned long long)need.held, (unsigned long long)bytes, tv_error_message());
    abort();
  }
}
