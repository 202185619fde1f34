/* manifest.h — the train_dir manifest checkpoints.yaml: the commit point of the protocol.
 *
 * A checkpoint file exists for `eval` only once the manifest names it.  Only the trainer that
 * holds train_dir/LOCK writes the manifest; any number of readers (evaluators, possibly on other
 * hosts) read it.  Every write replaces the whole file atomically (tv_fs_write_atomic: temp +
 * fsync + rename + directory fsync), so a reader sees the old manifest or the new one, whole.
 *
 * FILE FORMAT  <train_dir>/checkpoints.yaml, YAML 1.1 (UTF-8), one block mapping:
 *
 *   # trainval checkpoint manifest (written by train; readers ignore keys they do not know)
 *   format: trainval.manifest        required, exactly this string
 *   format_version: 1                required, integer >= 1
 *   status: running                  required: running | final | early_stopped | aborted |
 *                                    diverged | interrupted (a string of at most 15 bytes;
 *                                    readers accept any such string, see below)
 *   heartbeat: 1732634096.123456     required, unix seconds of the last write (any write, also a
 *                                    status-only one), so readers can tell a live trainer
 *   host: gpu-box                    required, host name of the last writer (<= 63 bytes)
 *   pid: 12345                       required, its process id
 *   retired: [40, 50, 60]            optional (absent: none), a flow sequence of the steps of
 *                                    committed checkpoints retention has deleted, strictly
 *                                    ascending, the newest TV_MANIFEST_RETIRED_MAX of them (older
 *                                    ones are forgotten); a step is never both here and under
 *                                    checkpoints (committing it again takes it off this list).
 *                                    An evaluator that had not reached one records it as
 *                                    skipped, "deleted by retention before evaluation".
 *   checkpoints:                     required, a sequence (flow `[]` when empty), strictly
 *     - step: 1000                   ascending by step; each item a mapping:
 *       file: ckpt-00001000.h5         step      required, integer >= 0
 *       size: 1234567                  file      required, a base name in train_dir (no '/',
 *       checksum: crc32c:1a2b3c4d                not "." or "..", <= 63 bytes)
 *       wall_time: 1732634000.250000   size      required, integer >= 0, bytes of the file
 *       finite: true                   checksum  required, "crc32c:" + 8 lowercase hex digits:
 *       reason: periodic                         CRC-32C (Castagnoli) of the whole file
 *                                      finite    required, bool: every float value was finite
 *                                      wall_time optional (default 0), unix seconds of the save
 *                                      reason    optional (default ""), why it was saved:
 *                                                periodic | final | signal | time | early_stop...
 *                                                (<= 15 bytes)
 *
 * Strings are written plain when they are made of [A-Za-z0-9._-] and start with a letter, and
 * double-quoted (YAML escapes) otherwise; readers accept any YAML scalar style.  Comments and
 * key order carry no meaning.
 *
 * VERSION AND COMPATIBILITY: format_version is 1.  New keys (top level or per checkpoint) may be
 * added without a version change; readers ignore keys they do not know, so an older reader reads
 * a newer writer's manifest.  The version is raised only for a change an older reader would
 * misread (a key's meaning or type, another checksum algorithm); a reader refuses a
 * format_version newer than its own (TV_ERR_FORMAT saying so).  Unknown status words are kept as
 * read, so a new status never breaks an older reader.
 *
 * A tv_manifest is a plain value owned by its user: entries is malloc'd and released by
 * tv_manifest_free.  It is not shared between threads.
 */
#ifndef TRAINVAL_MANIFEST_H
#define TRAINVAL_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"

#define TV_MANIFEST_FILE    "checkpoints.yaml"
#define TV_MANIFEST_FORMAT  "trainval.manifest"
#define TV_MANIFEST_VERSION 1

enum {
  TV_MANIFEST_FILE_CAP = 64,
  TV_MANIFEST_WORD_CAP = 16,
  TV_MANIFEST_HOST_CAP = 64,
  TV_MANIFEST_RETIRED_MAX = 1000
};

/* One committed checkpoint. */
typedef struct tv_manifest_entry {
  int64_t step;
  char file[TV_MANIFEST_FILE_CAP]; /* base name, "ckpt-00001000.h5" */
  int64_t size;                    /* bytes */
  uint32_t crc32c;                 /* of the whole file */
  double wall_time;                /* unix seconds of the save */
  int finite;                      /* 1 if every float value in it is finite */
  char reason[TV_MANIFEST_WORD_CAP];
} tv_manifest_entry;

typedef struct tv_manifest {
  char status[TV_MANIFEST_WORD_CAP];
  double heartbeat;                /* unix seconds of the last write */
  char host[TV_MANIFEST_HOST_CAP]; /* the last writer */
  long pid;
  int n, cap;
  tv_manifest_entry *entries; /* n entries, strictly ascending step; owned */
  int n_retired;
  int64_t *retired; /* steps retention deleted, strictly ascending, none in entries; owned */
} tv_manifest;

/* Sets m empty: status "running", heartbeat 0, host "", pid 0, no entries, none retired.  Does not
 * free anything m held before (use tv_manifest_free for that).  Cannot fail. */
void tv_manifest_init(tv_manifest *m);

/* Releases m's entries and retired steps and leaves m as tv_manifest_init does.  NULL-safe. */
void tv_manifest_free(tv_manifest *m);

/* Reads dir/checkpoints.yaml into m, which must be initialised (tv_manifest_init) or hold an
 * earlier read; its old entries are freed.  On failure m is left empty as after tv_manifest_init.
 * Errors: TV_ERR_NOT_FOUND (no manifest yet), TV_ERR_IO, TV_ERR_NOMEM, TV_ERR_FORMAT (malformed
 * YAML, a missing or ill-typed key, a newer format_version: "dir/checkpoints.yaml:LINE:COL:
 * problem"). */
TV_MUST_CHECK int tv_manifest_read(const char *dir, tv_manifest *m);

/* Sets m->heartbeat to tv_now() and m->host / m->pid to this process, then replaces
 * dir/checkpoints.yaml with m atomically.  On failure the file on disk is unchanged (m keeps the
 * new heartbeat, host and pid).  Errors: TV_ERR_INVALID (m breaks a rule above: unsorted steps,
 * an empty status, a bad file name; nothing written), TV_ERR_IO (message names the file),
 * TV_ERR_NOMEM. */
TV_MUST_CHECK int tv_manifest_write(const char *dir, tv_manifest *m);

/* Inserts a copy of e keeping steps ascending; an entry of the same step is replaced, and the
 * step leaves the retired list if it was on it.  Errors: TV_ERR_INVALID (e->step < 0),
 * TV_ERR_NOMEM; m unchanged on failure. */
TV_MUST_CHECK int tv_manifest_append(tv_manifest *m, const tv_manifest_entry *e);

/* Adds step to m's retired list (a checkpoint retention deleted; its entry is the caller's to
 * remove), keeping it ascending and at most TV_MANIFEST_RETIRED_MAX long (the oldest goes).
 * Errors: TV_ERR_INVALID (step < 0), TV_ERR_NOMEM; m unchanged on failure. */
TV_MUST_CHECK int tv_manifest_retire(tv_manifest *m, int64_t step);

/* The entry with the highest step, or NULL if m is empty.  Points into m: valid until m changes. */
const tv_manifest_entry *tv_manifest_latest(const tv_manifest *m);

/* The entry for step, or NULL.  Points into m: valid until m changes. */
const tv_manifest_entry *tv_manifest_find(const tv_manifest *m, int64_t step);

/* 1 if status says the trainer will commit nothing more: final, early_stopped, aborted or
 * diverged.  running, interrupted (resumable) and words this version does not know are not
 * terminal: a reader keeps waiting on them.  Cannot fail. */
int tv_manifest_status_terminal(const char *status);

#endif
