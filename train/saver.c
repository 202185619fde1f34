/* saver.c — the background job thread of saver.h: a mutex and a condition variable guard
 * `state`; the job's outcome is copied out of the thread's own error record before it is
 * marked done. */
#include "saver.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

typedef enum saver_state { SAVER_IDLE, SAVER_QUEUED, SAVER_RUNNING, SAVER_DONE } saver_state;

struct saver {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv; /* state changed */
  saver_state state;
  int stop;
  int (*fn)(void *);
  void *ctx;
  int rc;
  char msg[1024];
};

static void *saver_main(void *arg) {
  saver *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (s->state != SAVER_QUEUED && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
    if (s->state != SAVER_QUEUED) break; /* stop with nothing queued */
    s->state = SAVER_RUNNING;
    pthread_mutex_unlock(&s->mu);
    int rc = s->fn(s->ctx);
    pthread_mutex_lock(&s->mu);
    s->rc = rc;
    snprintf(s->msg, sizeof s->msg, "%s", rc == TV_OK ? "" : tv_error_message());
    s->state = SAVER_DONE;
    pthread_cond_broadcast(&s->cv);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

int saver_new(saver **out) {
  *out = NULL;
  saver *s = calloc(1, sizeof *s);
  if (!s) return tv_error(TV_ERR_NOMEM, "out of memory for the checkpoint thread");
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  /* The thread starts with every signal blocked, so SIGINT and SIGTERM reach the training
   * thread, whose handler asks the run to stop. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int started = pthread_create(&s->thread, NULL, saver_main, s) == 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (!started) {
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
    return tv_error(TV_ERR_NOMEM, "cannot start the checkpoint thread");
  }
  *out = s;
  return TV_OK;
}

void saver_free(saver *s) {
  if (!s) return;
  pthread_mutex_lock(&s->mu);
  s->stop = 1; /* a queued or running job still runs to its end first */
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  pthread_join(s->thread, NULL);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

int saver_submit(saver *s, int (*fn)(void *ctx), void *ctx) {
  pthread_mutex_lock(&s->mu);
  int busy = s->state != SAVER_IDLE;
  if (!busy) {
    s->fn = fn;
    s->ctx = ctx;
    s->state = SAVER_QUEUED;
    pthread_cond_broadcast(&s->cv);
  }
  pthread_mutex_unlock(&s->mu);
  if (busy) return tv_error(TV_ERR_INVALID, "a checkpoint save is still in flight");
  return TV_OK;
}

int saver_done(saver *s) {
  pthread_mutex_lock(&s->mu);
  int done = s->state == SAVER_DONE;
  pthread_mutex_unlock(&s->mu);
  return done;
}

int saver_wait(saver *s) {
  pthread_mutex_lock(&s->mu);
  while (s->state == SAVER_QUEUED || s->state == SAVER_RUNNING) pthread_cond_wait(&s->cv, &s->mu);
  int rc = s->state == SAVER_DONE ? s->rc : TV_OK;
  char msg[sizeof s->msg];
  snprintf(msg, sizeof msg, "%s", s->msg);
  s->state = SAVER_IDLE;
  pthread_mutex_unlock(&s->mu);
  return rc == TV_OK ? TV_OK : tv_error(rc, "%s", msg);
}
