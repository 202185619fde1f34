/* dist.h — data-parallel training over several processes: who we are, and the three exchanges a
 * training step needs (a broadcast at the start, the gradient sum, the per-step flags).
 *
 * Two implementations of one interface, chosen at link time:
 *   common/dist/single.c  one process, rank 0 of 1 (in libtrainval; plain `train` links it: it
 *                         never needs MPI at run time);
 *   common/dist/mpi.c     MPI (Open MPI from Debian), linked only into `train-mpi`, which `train`
 *                         runs in its place when it finds itself started by mpirun (train/main.c).
 * The trainer has one code path: with one rank every exchange is a no-op that cannot fail, so a
 * plain run is bitwise what it was before this module existed.
 *
 * SEMANTICS of a run over N ranks (train/trainer.c holds the hook points):
 * - The global batch (train.batch_size, B) is split across ranks: rank r trains on rows
 *   [off_r, off_r + n_r) of every global batch, n_r = B/N, the first B%N ranks one more
 *   (tv_dist_slice).  N = 3 and B = 128 give 43, 43, 42.
 * - Every rank runs the same loader (same seed, global batch size B) over one global, seeded
 *   order, and the loader prepares (decodes, normalises, augments) only the rank's rows of each
 *   batch (tv_loader_opts.part and .parts, data.h); the augmentation draws of the other ranks'
 *   rows are still made, so a row is flipped or cropped as in a one-rank run, and a rank's rows
 *   are bitwise those a whole-batch loader gives.  The loader's cursor in a checkpoint is
 *   global: a run resumes with any N.  Each rank still holds the whole training set.
 * - Resume with another N continues from the same global cursor with the same variables and
 *   optimizer state, but is not bitwise the run that kept its N: the gradient sum is associated
 *   by N (each rank adds its n_r rows, the chunks add N partial sums in rank order), so every
 *   later step differs by float reassociation (tests/integration/mpi.sh: to its TOL against an
 *   uninterrupted run).  Where semantics depend on N they change with it too: batch-norm
 *   statistics over n_r rows, and the dropout masks of ranks r > 0.
 * - Token models: the global batch's B windows are split evenly (B a multiple of N), rank r
 *   owning windows [off_r, off_r + B/N) of every batch.  With train.windows contiguous these
 *   are a fixed set of the B streams, and each rank's TRAIN graph carries their state; at a
 *   step that saves (rank 0's decision, announced in the step's flags: see below) every rank's
 *   state goes to rank 0 (tv_dist_gather_*: B x H x 4 bytes per recurrent layer and state), so
 *   rank 0's checkpoints hold the state of every stream in the global batch's row order
 *   (tv_model_ckpt_write_parts, model.h: the layout a one-rank run writes), and a resume gives
 *   each rank its rows back (tv_model_ckpt_read_part).  Steps that do not save gather nothing
 *   (tv_dist_gather_count).  Random windows reset the state every batch; their checkpoints
 *   keep rank 0's rows, as before.
 * - Every rank starts from rank 0's variables (tv_dist_broadcast of the value slab after set-up
 *   and resume), and checks that its config and step are rank 0's.
 * - Each rank's loss is the mean over its n_r examples; its output gradient is scaled by n_r/B so
 *   that the sum over ranks is the gradient of the global mean.  The gradient sum
 *   (tv_dist_grads_*) has a FIXED ORDER: each bucket is split into N chunks, rank j receives
 *   every rank's chunk j and adds them in rank order 0, 1, ..., N-1, then every rank gathers every
 *   chunk (a reduce-scatter and an all-gather built from MPI_Ialltoallv and MPI_Iallgatherv, not
 *   MPI_Allreduce, whose summation order is the implementation's choice).  Every rank thus holds
 *   the same bits, a run is bitwise reproducible for a given N and --threads, and it equals a
 *   one-rank run with the same global batch up to float reassociation (the test's tolerance is
 *   written in tests/integration/mpi.sh).  Traffic per rank and step: 2(N-1)/N x 4 bytes per
 *   parameter, as a ring all-reduce.
 * - Overlap: the gradient slab is cut into buckets from its end (backward produces the last
 *   layers' gradients first); a bucket's exchange starts as soon as backward has finished every
 *   layer that writes into it (tv_dist_grads_ready, called between layers), and progresses while
 *   later layers compute.
 * - Batch normalisation uses each rank's own batch statistics (as PyTorch's DDP by default); the
 *   moving averages that checkpoints hold are rank 0's.  Synchronised batch statistics are not
 *   available (there is no train.sync_batch_norm key: setting it is the config's unknown-key
 *   error).  Dropout: rank 0 draws from the run's dropout generator (saved in checkpoints); rank
 *   r > 0 from a generator derived from the seed, the step and r, so resume stays exact.
 * - The training loss and metrics that rank 0 logs (stdout, events) are the global batch's: each
 *   rank's rows of a step, in the additive form of metrics.h (tv_metrics_shared_*), travel in
 *   the tv_dist_sum that follows the gradient sum (with the non-finite flag: no extra
 *   exchange), and rank 0 adds their sum to its window.  They equal a one-rank run's to float
 *   reassociation.  That exchange holds TV_DIST_MAX_FLAGS values, so a data-parallel regression
 *   model has at most 50 targets and a multilabel one 84 labels (refused at start otherwise).
 * - Only rank 0 writes to the train_dir (LOCK, config.yaml, checkpoints, manifest, events) and
 *   prints progress; the other ranks read the config and the checkpoint they resume from, so the
 *   train_dir must be one shared directory (a shared file system across hosts).
 * - Every step ends with tv_dist_sum of the flags (a stop signal on any rank, DIR/STOP seen by
 *   rank 0, early stopping decided by rank 0's validation, a non-finite loss on any rank), so
 *   every rank stops, skips or fails at the same step; a signal gives one checkpoint by rank 0.
 *   Whether the step saves, and why (checkpoint_every, checkpoint_secs by rank 0's clock, a best
 *   validation), is rank 0's decision and travels in the same flags, and so does the final save's
 *   after the last step: every rank takes part in the same saves, at the same steps, whatever
 *   its own clock says.
 * - Faults: every wait has a deadline (timeout); a rank that does not answer in time makes the
 *   others fail with one line naming the exchange.  A rank that dies is normally seen sooner by
 *   mpirun, which then ends the whole job (its own message names the rank).  After an error on
 *   one rank alone, tv_dist_fail ends the job (MPI_Abort) so that nobody waits for it.
 *
 * Threads: only the thread that opened the context calls these functions.
 * Errors: the MPI implementation's failures come back as TV_ERR_IO with its error text; a
 * deadline passed is TV_ERR_IO naming what was awaited.
 */
#ifndef TRAINVAL_DIST_H
#define TRAINVAL_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"

typedef struct tv_dist tv_dist;

enum { TV_DIST_MAX_FLAGS = 256 };

/* Joins the job (MPI_Init_thread, FUNNELED; *argc and *argv may be changed by MPI).  timeout:
 * seconds any exchange may wait for the other ranks (<= 0: 300).  *out NULL on failure.
 * Errors: TV_ERR_IO (MPI cannot start), TV_ERR_NOMEM.  single.c: rank 0 of 1, cannot fail. */
TV_MUST_CHECK int tv_dist_open(int *argc, char ***argv, double timeout, tv_dist **out);

/* Leaves the job (MPI_Finalize) and frees d.  Every rank calls it on the way out after a clean
 * end or an error all ranks share.  NULL-safe. */
void tv_dist_close(tv_dist *d);

/* After an error on this rank only (the others may be waiting for it): ends the whole job
 * (MPI_Abort with exit status 1; does not return when size > 1).  With one rank it does
 * nothing. */
void tv_dist_fail(tv_dist *d);

int tv_dist_rank(const tv_dist *d);
int tv_dist_size(const tv_dist *d);

/* Whether an exchange has failed (an MPI error, a deadline): the ranks are out of step, and
 * nothing but tv_dist_fail is safe.  Otherwise an error that every rank met at the same exchange
 * (a failed set-up, a diverged run) ends with tv_dist_close on every rank. */
int tv_dist_broken(const tv_dist *d);

/* What carries the exchanges ("one process" or "MPI: Open MPI v4.1.4 ..."), for the summary.
 * Owned by d. */
const char *tv_dist_describe(const tv_dist *d);

/* Rank r's rows of a global batch of b: *offset, *count (see SEMANTICS).  Cannot fail. */
void tv_dist_slice(int b, int size, int rank, int *offset, int *count);

/* Copies rank 0's bytes buf[0..bytes) to every rank's buf (every rank calls it with the same
 * bytes).  Errors: TV_ERR_IO (MPI, deadline); buf undefined on failure. */
TV_MUST_CHECK int tv_dist_broadcast(tv_dist *d, void *buf, size_t bytes);

/* Replaces v[0..n) (n <= TV_DIST_MAX_FLAGS) by its sum over the ranks, added in rank order, the
 * same bits on every rank.  Errors: TV_ERR_INVALID (n), TV_ERR_IO (MPI, deadline). */
TV_MUST_CHECK int tv_dist_sum(tv_dist *d, double *v, int n);

/* ---- the carried state of token models (contiguous streams) --------------------------------- */

/* Starts copying every rank's buf[0..n) (the same n on every rank) to rank 0's all, rank r's at
 * all[r*n .. (r+1)*n); all is used on rank 0 only (NULL elsewhere).  buf and all stay borrowed,
 * and buf unchanged, until tv_dist_gather_finish; one gather at a time.  With one rank it copies
 * buf to all at once.  Errors: TV_ERR_INVALID (n, or a gather in flight), TV_ERR_IO (MPI). */
TV_MUST_CHECK int tv_dist_gather_start(tv_dist *d, const float *buf, size_t n, float *all);

/* Waits (deadline) until the gather started last has arrived; TV_OK at once when none is in
 * flight.  Errors: TV_ERR_IO (MPI, deadline); rank 0's all is undefined after a failure. */
TV_MUST_CHECK int tv_dist_gather_finish(tv_dist *d);

/* Gathers this rank has started since it was opened, and the bytes they sent (n x 4 each; with
 * one rank, the bytes copied).  Cannot fail. */
uint64_t tv_dist_gather_count(const tv_dist *d);
uint64_t tv_dist_gather_bytes(const tv_dist *d);

/* ---- the gradient sum -------------------------------------------------------------------- */

/* Prepares the sum of slab[0..n) (borrowed; the same n on every rank) in buckets of about
 * bucket_floats floats (0: 65536): allocates its staging once, so the steps never allocate.
 * Errors: TV_ERR_NOMEM, TV_ERR_INVALID. */
TV_MUST_CHECK int tv_dist_grads_setup(tv_dist *d, float *slab, size_t n, size_t bucket_floats);

/* One step's sum, part 1 (from backward, between layers): slab[from..n) is final on this rank,
 * so the buckets inside it start, and the exchanges in flight progress.  Calls with a
 * non-increasing from.  Cannot fail: an error is kept for tv_dist_grads_finish. */
void tv_dist_grads_ready(tv_dist *d, size_t from);

/* Part 2, after backward: starts what is left and waits (deadline) until the slab holds the sum
 * over all ranks.  The next step may then call tv_dist_grads_ready again.
 * Errors: TV_ERR_IO (MPI, deadline); the slab is undefined after a failure. */
TV_MUST_CHECK int tv_dist_grads_finish(tv_dist *d);

/* Seconds this rank spent blocked in tv_dist_grads_finish (the share of a step communication
 * did not hide), and in the other exchanges, since it was opened.  Cannot fail. */
double tv_dist_grads_wait_seconds(const tv_dist *d);
double tv_dist_other_wait_seconds(const tv_dist *d);

#endif
