/* bounded.c — a risky parse in a child process limited in CPU time and address space (see
 * bounded.h).  The child's one-line result travels back through a pipe as one byte of error code
 * and the message; anything else it prints goes to /dev/null, so the parent's one error line is
 * the only output. */
#include "base/bounded.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MSG_CAP = 768 };

/* Built with a sanitizer (make asan, make fuzz), the child's faults end in a report and an exit
 * status unless they are turned back into a signal. */
#if defined(__SANITIZE_ADDRESS__) || defined(TV_ASAN)
#define BOUNDED_SANITIZED 1
#include <sanitizer/common_interface_defs.h>
static void child_abort(void) {
  signal(SIGABRT, SIG_DFL);
  raise(SIGABRT);
}
#else
#define BOUNDED_SANITIZED 0
#endif

#if !BOUNDED_SANITIZED
/* The address space this process maps now (what the fork inherited: the parent's heap, thread
 * stacks, a loaded model), 0 when /proc does not say. */
static uint64_t mapped_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long long pages = 0;
  if (f) {
    if (fscanf(f, "%llu", &pages) != 1) pages = 0;
    fclose(f);
  }
  long size = sysconf(_SC_PAGESIZE);
  return size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}
#endif

static void child_run(int fd, int (*fn)(void *), void *arg, const tv_bounded_limits *limits) {
  /* A fault inside the parser must kill the child by its signal, which the parent names, even
   * where a sanitizer's handler would turn it into a report and an exit status. */
  static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) signal(faults[i], SIG_DFL);
#if BOUNDED_SANITIZED
  /* A sanitizer report on the parser's memory use (an overlapping memcpy) ends the child too. */
  __sanitizer_set_death_callback(child_abort);
#endif
  /* What the parser (or a sanitizer) prints while failing is not the one error line: the parent
   * reports how the child ended. */
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDERR_FILENO);
    close(null);
  }
  struct rlimit cpu = {limits->cpu_s, limits->cpu_s + 1}, core = {0, 0};
  setrlimit(RLIMIT_CPU, &cpu);
  /* A crash is expected here and reported: no core file in the user's directory. */
  setrlimit(RLIMIT_CORE, &core);
#if !BOUNDED_SANITIZED
  if (limits->as_bytes) {
    rlim_t max = (rlim_t)(mapped_bytes() + limits->as_bytes);
    struct rlimit as = {max, max};
    setrlimit(RLIMIT_AS, &as);
  }
#endif
  int rc = fn(arg);
  if (rc) {
    char msg[MSG_CAP + 1];
    msg[0] = (char)rc;
    int n = snprintf(msg + 1, MSG_CAP, "%s", tv_error_message());
    if (write(fd, msg, 1 + (size_t)(n < MSG_CAP ? n : MSG_CAP - 1)) < 0) _exit(2);
  }
  _exit(rc ? 1 : 0);
}

int tv_run_bounded(int (*fn)(void *arg), void *arg, const tv_bounded_limits *limits,
                   const char *what, tv_bounded_end *end) {
  *end = (tv_bounded_end){TV_BOUNDED_RETURNED, 0, 0};
  int fds[2];
  if (pipe(fds) != 0) return tv_error_errno(TV_ERR_IO, errno, "%s: pipe to check it", what);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    return tv_error_errno(TV_ERR_IO, e, "%s: fork to check it", what);
  }
  if (pid == 0) {
    close(fds[0]);
    child_run(fds[1], fn, arg, limits);
  }
  close(fds[1]);
  char msg[MSG_CAP + 1];
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fds[0], msg + len, sizeof msg - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
    if (len == sizeof msg - 1) break;
  }
  msg[len] = '\0';
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return tv_error_errno(TV_ERR_IO, errno, "%s: waitpid", what);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return TV_OK;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && len > 1)
    return tv_error(msg[0], "%s", msg + 1);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    end->kind = sig == SIGXCPU || sig == SIGKILL ? TV_BOUNDED_CPU : TV_BOUNDED_SIGNAL;
    end->signal = sig;
  } else {
    end->kind = TV_BOUNDED_EXITED;
    end->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return TV_ERR_FORMAT;
}

const char *tv_bounded_describe(const tv_bounded_end *end, const tv_bounded_limits *limits,
                                char *buf, size_t cap) {
  switch (end->kind) {
  case TV_BOUNDED_CPU:
    snprintf(buf, cap, "did not finish parsing it in %u s of CPU", limits->cpu_s);
    break;
  case TV_BOUNDED_SIGNAL:
    snprintf(buf, cap, "crashed parsing it: %s", strsignal(end->signal));
    break;
  case TV_BOUNDED_EXITED:
    snprintf(buf, cap, "failed parsing it: it exhausted %llu MiB or exited %d",
             (unsigned long long)(limits->as_bytes >> 20), end->status);
    break;
  default:
    snprintf(buf, cap, "returned");
  }
  return buf;
}
