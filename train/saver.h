/* saver.h — one background job at a time: the trainer's checkpoint writes (finish, fsync,
 * rename, commit) run on a thread of their own so that training does not wait on the disk.
 *
 * Contract: at most one job is in flight, and its outcome is collected (saver_wait) before the
 * next is submitted, so jobs run and report in submission order.  The job's error (its rc and the
 * thread's error message, error.h's record being per thread) is handed to the thread that calls
 * saver_wait, which raises it there as its own.  Whatever the job touches belongs to it from submit
 * until saver_wait returns: the caller must not read or write it meanwhile (for the trainer: the
 * manifest, the lock and, HDF5 being the serial build, every ckpt.h call). */
#ifndef TRAINVAL_TRAIN_SAVER_H
#define TRAINVAL_TRAIN_SAVER_H

#include "trainval/error.h"

typedef struct saver saver;

/* Starts the thread.  *out NULL on failure.  Errors: TV_ERR_NOMEM (memory, or the thread would
 * not start). */
TV_MUST_CHECK int saver_new(saver **out);
/* Waits for a job in flight (its outcome is dropped), stops and joins the thread.  NULL-safe. */
void saver_free(saver *s);
/* Runs fn(ctx) on the thread and returns at once.  The outcome of the previous job must have
 * been collected (saver_wait) first: otherwise TV_ERR_INVALID and fn is not run. */
TV_MUST_CHECK int saver_submit(saver *s, int (*fn)(void *ctx), void *ctx);
/* 1 if the job submitted last has finished (saver_wait will not block), else 0. */
int saver_done(saver *s);
/* Blocks until the job submitted last has finished; returns its rc (TV_OK if there is none),
 * its error message raised on the calling thread.  The outcome is collected: a second call
 * returns TV_OK. */
TV_MUST_CHECK int saver_wait(saver *s);

#endif
