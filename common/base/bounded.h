/* bounded.h — private to libtrainval: running a risky parse in a child process with bounded CPU
 * time and address space, so that a crash or a hang inside a third-party parser (libhdf5 on a
 * damaged or crafted file) becomes one error in the parent instead of ending it.
 *
 * Used before the parent itself parses a file that cannot verify itself: a checkpoint without its
 * user block (rundir/ckpt.c) and every HDF5 data file (data/h5data.c).  The child does at least
 * everything the parent will do with the file; if it returns cleanly, the parent may.
 */
#ifndef TRAINVAL_BASE_BOUNDED_H
#define TRAINVAL_BASE_BOUNDED_H

#include <stddef.h>
#include <stdint.h>

#include "trainval/error.h"

/* What the child may use.  cpu_s: CPU seconds (RLIMIT_CPU; past it the child gets SIGXCPU, then
 * SIGKILL a second later); as_bytes: address space beyond what the process maps when it forks
 * (RLIMIT_AS set to both together, so a parent that already maps much still leaves the child
 * as_bytes to work in; 0 for no limit).  In a sanitizer build
 * (make asan, make fuzz) the address-space limit is not set, since the sanitizer's shadow memory
 * alone exceeds it: the function the child runs must bound its own allocations. */
typedef struct tv_bounded_limits {
  unsigned cpu_s;
  uint64_t as_bytes;
} tv_bounded_limits;

/* How a child that did not return ended. */
typedef enum tv_bounded_end_kind {
  TV_BOUNDED_RETURNED = 0, /* fn returned (its code is the result) */
  TV_BOUNDED_CPU,          /* killed at its CPU limit (SIGXCPU or SIGKILL): a hang or a busy loop */
  TV_BOUNDED_SIGNAL,       /* killed by another signal (a crash; a sanitizer report: SIGABRT) */
  TV_BOUNDED_EXITED,       /* exited without returning from fn (an allocation past as_bytes, or a
                              library calling exit) */
} tv_bounded_end_kind;

typedef struct tv_bounded_end {
  tv_bounded_end_kind kind;
  int signal; /* TV_BOUNDED_CPU, TV_BOUNDED_SIGNAL: the signal */
  int status; /* TV_BOUNDED_EXITED: the exit status */
} tv_bounded_end;

/* Forks; the child restores the default action of SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT (and
 * under a sanitizer turns its death into SIGABRT), sends its stderr to /dev/null, sets *limits (and
 * no core file) and runs fn(arg), whose result (code and one-line message) comes back through a
 * pipe.  fn runs on a copy of the parent's memory: nothing it changes is seen by the parent.
 * Returns fn's result when it returned (TV_OK, or its code with its message recorded as the
 * current error; end->kind TV_BOUNDED_RETURNED).  When the child ended otherwise, returns
 * TV_ERR_FORMAT with end saying how and NO message recorded: the caller words it (what file, what
 * was being parsed; tv_bounded_describe helps).  TV_ERR_IO (recorded, naming `what`) when the pipe,
 * the fork or waiting for the child fails.  Blocks until the child ends; the child holds no lock
 * and touches no file the parent writes. */
TV_MUST_CHECK int tv_run_bounded(int (*fn)(void *arg), void *arg, const tv_bounded_limits *limits,
                                 const char *what, tv_bounded_end *end);

/* "did not finish parsing it in 20 s of CPU", "crashed parsing it: Segmentation fault" or "failed
 * parsing it: it exhausted 8192 MiB or exited 3" into buf (cap bytes), returned: the end of a
 * message about a child that did not return ("HDF5 " + this).  Cannot fail. */
const char *tv_bounded_describe(const tv_bounded_end *end, const tv_bounded_limits *limits,
                                char *buf, size_t cap);

#endif
