/* commit.h — the train_dir's commit point: adding a saved checkpoint file to the manifest (and
 * deleting what retention drops), and resolving which committed checkpoint a user means.
 *
 * COMMIT (the train_dir protocol, rundir.h): tv_ckpt_save (ckpt.h) writes the file to a hidden
 * temporary in train_dir, fsyncs it, renames it into place and fsyncs the directory; only then
 * does tv_ckpt_commit add it to the manifest (manifest.h), written atomically.  A file the
 * manifest does not name does not exist for `eval`.  Files are deleted by retention
 * (retention.h) only after a manifest write that no longer names them.
 */
#ifndef TRAINVAL_COMMIT_H
#define TRAINVAL_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/ckpt.h"
#include "trainval/error.h"
#include "trainval/manifest.h"
#include "trainval/retention.h"

/* Commits the saved checkpoint info in dir: adds an entry to m (file, size and checksum from
 * info; step and wall_time as given, step must equal info->step; finite recorded as
 * finite && info->finite, so the caller's verdict, a NaN loss, and the save's own scan both count;
 * reason at most 15 bytes, NULL = ""), replacing one of the same step.  Then retention: the
 * entries tv_retention_select picks under policy (NULL = keep all) are dropped; the entry just
 * committed never is.  The manifest is written once, with the new entry and without the
 * dropped ones, whose steps join its retired list (manifest.h); only then are the dropped files
 * unlinked (ENOENT is not an error; a file a kept
 * entry still names is not unlinked).
 * On a failed manifest write, m and the manifest on disk are unchanged and nothing is deleted;
 * the checkpoint file stays, uncommitted (the caller may remove it).  A failed unlink after a
 * successful write leaves m committed and returns TV_ERR_IO naming that file.
 * Errors: TV_ERR_INVALID (bad info, step, reason or policy), TV_ERR_NOMEM, TV_ERR_IO. */
TV_MUST_CHECK int tv_ckpt_commit(const char *dir, tv_manifest *m, const tv_ckpt_info *info,
                                 int64_t step, double wall_time, int finite, const char *reason,
                                 const tv_retention_policy *policy);

/* Resolves which checkpoint of dir to load from its manifest: "latest", a step number ("1000"),
 * or a file name the manifest lists ("ckpt-00001000.h5").  Writes dir/file to path (cap bytes)
 * and, if entry is not NULL, copies the manifest entry (its size and checksum, for
 * tv_ckpt_open's expect).  Errors: TV_ERR_NOT_FOUND (no manifest: "no run in DIR (no
 * checkpoints.yaml)"; no checkpoint yet; no such step: the message names the steps listed),
 * TV_ERR_INVALID (which is none of the three forms, path does not fit), TV_ERR_FORMAT,
 * TV_ERR_IO, TV_ERR_NOMEM (from reading the manifest). */
TV_MUST_CHECK int tv_ckpt_resolve(const char *dir, const char *which, char *path, size_t cap,
                                  tv_manifest_entry *entry);

#endif
