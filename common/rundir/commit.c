/* commit.c — a saved checkpoint file into the manifest, and retention's deletions after it (see
 * commit.h; which entries go is retention.c's decision, made before anything changes).
 *
 * Invariant: a file is unlinked only after a manifest write that no longer names it, and m
 * always equals the manifest on disk when a call returns.
 */
#include "trainval/commit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"

enum { PATH_CAP = 4096 };

_Static_assert((int)TV_CKPT_FILE_CAP == (int)TV_MANIFEST_FILE_CAP,
               "a checkpoint's file name must fit a manifest entry");

/* 1 if step is in the ascending list steps[0..n). */
static int listed(const int64_t *steps, int n, int64_t step) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (steps[mid] < step)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && steps[lo] == step;
}

int tv_ckpt_commit(const char *dir, tv_manifest *m, const tv_ckpt_info *info, int64_t step,
                   double wall_time, int finite, const char *reason,
                   const tv_retention_policy *policy) {
  if (!reason) reason = "";
  if (!info || step < 0 || step != info->step || info->file[0] == '\0' ||
      !memchr(info->file, '\0', sizeof info->file) || strchr(info->file, '/') ||
      strlen(reason) >= TV_MANIFEST_WORD_CAP)
    return tv_error(TV_ERR_INVALID, "%s: commit of step %lld: bad checkpoint info or reason", dir,
                    (long long)step);
  tv_manifest_entry e = {.step = step,
                         .size = info->size,
                         .crc32c = info->crc32c,
                         .wall_time = wall_time,
                         .finite = finite && info->finite};
  snprintf(e.file, sizeof e.file, "%s", info->file);
  snprintf(e.reason, sizeof e.reason, "%s", reason);
  int64_t *drop = NULL;
  int n_drop = 0; /* a bad policy is refused here, before anything changes */
  int rc = tv_retention_select(dir, m, step, policy, &drop, &n_drop);
  if (rc) return rc;
  /* Work on a copy so a failed write leaves m as the disk has it. */
  tv_manifest next = *m;
  next.cap = m->n + 1;
  next.entries = malloc((size_t)next.cap * sizeof *next.entries);
  next.retired = m->n_retired ? malloc((size_t)m->n_retired * sizeof *next.retired) : NULL;
  char(*dropped)[TV_MANIFEST_FILE_CAP] = malloc((size_t)next.cap * sizeof *dropped);
  int n_dropped = 0;
  if (!next.entries || !dropped || (m->n_retired && !next.retired)) {
    rc = tv_error(TV_ERR_NOMEM, "%s: out of memory", dir);
    goto out;
  }
  if (m->n) memcpy(next.entries, m->entries, (size_t)m->n * sizeof *next.entries);
  if (m->n_retired) memcpy(next.retired, m->retired, (size_t)m->n_retired * sizeof *next.retired);
  if ((rc = tv_manifest_append(&next, &e))) goto out;
  int kept = 0;
  for (int i = 0; i < next.n; i++) {
    const tv_manifest_entry *x = &next.entries[i];
    if (x->step != e.step && listed(drop, n_drop, x->step))
      memcpy(dropped[n_dropped++], x->file, sizeof dropped[0]);
    else
      next.entries[kept++] = *x;
  }
  next.n = kept;
  /* The manifest remembers what retention took, for evaluators that had not reached it. */
  for (int i = 0; i < n_drop && rc == TV_OK; i++)
    if (drop[i] != e.step) rc = tv_manifest_retire(&next, drop[i]);
  if (rc) goto out;
  if ((rc = tv_manifest_write(dir, &next))) goto out;
  free(m->entries);
  free(m->retired);
  *m = next;
  next.entries = NULL;
  next.retired = NULL;
  /* The manifest no longer names them: only now may the files go. */
  for (int i = 0; i < n_dropped; i++) {
    int named = 0;
    for (int j = 0; j < m->n && !named; j++) named = strcmp(m->entries[j].file, dropped[i]) == 0;
    char path[PATH_CAP];
    if (named || tv_fs_join(path, sizeof path, dir, dropped[i])) continue;
    if (unlink(path) != 0 && errno != ENOENT && rc == TV_OK)
      rc = tv_error_errno(TV_ERR_IO, errno, "%s: cannot delete old checkpoint", path);
  }
out:
  free(next.entries);
  free(next.retired);
  free(dropped);
  free(drop);
  return rc;
}

int tv_ckpt_resolve(const char *dir, const char *which, char *path, size_t cap,
                    tv_manifest_entry *entry) {
  tv_manifest m;
  tv_manifest_init(&m);
  int rc = tv_manifest_read(dir, &m);
  if (rc == TV_ERR_NOT_FOUND)
    return tv_error(TV_ERR_NOT_FOUND, "no run in %s (no %s)", dir, TV_MANIFEST_FILE);
  if (rc) return rc;
  const tv_manifest_entry *e = NULL;
  size_t digits = strspn(which, "0123456789");
  if (strcmp(which, "latest") == 0) {
    e = tv_manifest_latest(&m);
    if (!e) rc = tv_error(TV_ERR_NOT_FOUND, "%s: no checkpoint committed yet", dir);
  } else if (digits > 0 && digits < 19 && which[digits] == '\0') {
    long long step = strtoll(which, NULL, 10);
    e = tv_manifest_find(&m, step);
    if (!e) {
      /* name the steps there are: all of them, or the first and last few of a long list */
      char steps[256] = "";
      size_t len = 0;
      for (int i = 0; i < m.n && len < sizeof steps - 32; i++) {
        if (m.n > 12 && i == 6) {
          len += (size_t)snprintf(steps + len, sizeof steps - len, ", ...");
          i = m.n - 6;
        }
        len += (size_t)snprintf(steps + len, sizeof steps - len, "%s%lld", i ? ", " : "",
                                (long long)m.entries[i].step);
      }
      rc = tv_error(TV_ERR_NOT_FOUND, "%s: no checkpoint at step %lld in %s (%s: %s)", dir, step,
                    TV_MANIFEST_FILE, m.n == 1 ? "its one step" : "its steps",
                    m.n ? steps : "none yet");
    }
  } else {
    for (int i = 0; i < m.n && !e; i++)
      if (strcmp(m.entries[i].file, which) == 0) e = &m.entries[i];
    if (!e && strstr(which, ".h5"))
      rc = tv_error(TV_ERR_NOT_FOUND, "%s: %s is not a committed checkpoint", dir, which);
    else if (!e)
      rc = tv_error(TV_ERR_INVALID,
                    "%s: \"%s\": expected latest, a step number or a checkpoint file name", dir,
                    which);
  }
  if (!rc) rc = tv_fs_join(path, cap, dir, e->file);
  if (!rc && entry) *entry = *e;
  tv_manifest_free(&m);
  return rc;
}
