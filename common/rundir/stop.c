/* stop.c — DIR/STOP, an evaluator's stop request to the trainer (see stop.h for the format).
 * Written as tv_text with tv_fs_write_atomic, read through yamlio's tv_ydoc.
 */
#include "trainval/stop.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "rundir/identity.h"
#include "base/fs.h"
#include "base/yamlio.h"

enum { PATH_CAP = 4096 };

int tv_stop_write(const char *dir, tv_stop_request *r) {
  char path[PATH_CAP];
  int rc = tv_fs_join(path, sizeof path, dir, TV_STOP_FILE);
  if (rc) return rc;
  r->time = tv_now();
  tv_rundir_identity(r->host, sizeof r->host, &r->pid);
  if (!tv_eval_name_valid(r->by) || !tv_text_is_printable(r->metric, sizeof r->metric) ||
      !memchr(r->reason, '\0', sizeof r->reason))
    return tv_error(TV_ERR_INVALID, "%s: stop request has a bad name or metric", path);
  tv_text b = {0};
  tv_text_printf(
      &b,
      "# trainval stop request: train stops at its next step's end, saves a checkpoint,\n"
      "# marks the run early_stopped and renames this file to %s.\n"
      "format: %s\nformat_version: %d\nby: ",
      TV_STOP_HANDLED_FILE, TV_STOP_FORMAT, TV_STOP_VERSION);
  tv_text_yaml_str(&b, r->by, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nhost: ");
  tv_text_yaml_str(&b, r->host, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\npid: %ld\ntime: %.6f\nreason: ", r->pid, r->time);
  tv_text_yaml_str(&b, r->reason, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nmetric: ");
  tv_text_yaml_str(&b, r->metric, TV_TEXT_YAML_QUOTE_NONE);
  tv_text_printf(&b, "\nmode: %s\nbest_step: %lld\nbest_value: %.17g\nstep: %lld\n",
                 r->mode_max ? "max" : "min", (long long)r->best_step, r->best_value,
                 (long long)r->step);
  if ((rc = tv_text_check(&b, path)) == TV_OK) rc = tv_fs_write_atomic(path, b.p, b.n);
  tv_text_free(&b);
  return rc;
}

int tv_stop_read(const char *dir, tv_stop_request *r) {
  memset(r, 0, sizeof *r);
  char path[PATH_CAP];
  int rc = tv_fs_join(path, sizeof path, dir, TV_STOP_FILE);
  if (rc) return rc;
  tv_ydoc *d;
  const yaml_node_t *root, *v;
  if ((rc = tv_ydoc_load(path, &d))) return rc;
  if ((rc = tv_ydoc_root_map(d, &root))) {
    tv_ydoc_free(d);
    return rc;
  }
  int64_t pid = 0;
  char mode[TV_EVAL_WORD_CAP] = "max";
  if ((rc = tv_ydoc_format(d, root, TV_STOP_FORMAT, TV_STOP_VERSION)) ||
      (rc = tv_ydoc_field(d, root, "by", 1, &v)) ||
      (rc = tv_ydoc_str(d, v, "by", r->by, sizeof r->by, 1)) ||
      (rc = tv_ydoc_opt_str(d, root, "host", r->host, sizeof r->host, 1)) ||
      (rc = tv_ydoc_opt_i64(d, root, "pid", 0, &pid)) ||
      (rc = tv_ydoc_opt_f64(d, root, "time", &r->time)) ||
      (rc = tv_ydoc_opt_str(d, root, "reason", r->reason, sizeof r->reason, 0)) ||
      (rc = tv_ydoc_opt_str(d, root, "metric", r->metric, sizeof r->metric, 1)) ||
      (rc = tv_ydoc_opt_str(d, root, "mode", mode, sizeof mode, 1)) ||
      (rc = tv_ydoc_opt_i64(d, root, "best_step", -1, &r->best_step)) ||
      (rc = tv_ydoc_opt_f64(d, root, "best_value", &r->best_value)) ||
      (rc = tv_ydoc_opt_i64(d, root, "step", -1, &r->step)))
    memset(r, 0, sizeof *r);
  r->pid = (long)pid;
  r->mode_max = strcmp(mode, "min") != 0;
  tv_ydoc_free(d);
  return rc;
}

int tv_stop_requested(const char *dir) {
  char path[PATH_CAP];
  struct stat st;
  return tv_fs_join(path, sizeof path, dir, TV_STOP_FILE) == TV_OK && stat(path, &st) == 0;
}

int tv_stop_consume(const char *dir) {
  char from[PATH_CAP], to[PATH_CAP];
  int rc = tv_fs_join(from, sizeof from, dir, TV_STOP_FILE);
  if (rc == TV_OK) rc = tv_fs_join(to, sizeof to, dir, TV_STOP_HANDLED_FILE);
  if (rc) return rc;
  if (rename(from, to) != 0) {
    if (errno == ENOENT) return TV_OK;
    return tv_error_errno(TV_ERR_IO, errno, "%s: cannot rename to %s", from, TV_STOP_HANDLED_FILE);
  }
  return tv_fs_fsync_dir(to);
}
