/* identity.c — the writer's host and pid recorded in the manifest, state.yaml and STOP. */
#include "rundir/identity.h"

#include <stdio.h>
#include <unistd.h>

#include "base/yamlio.h"

void tv_rundir_identity(char *host, size_t cap, long *pid) {
  *pid = (long)getpid();
  if (gethostname(host, cap) != 0 || !tv_text_is_printable(host, cap) || !host[0])
    snprintf(host, cap, "unknown");
}
