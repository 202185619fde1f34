/* identity.h — private to the rundir group (not installed): who this process is, as the files
 * of the train_dir protocol record their writer. */
#ifndef TRAINVAL_RUNDIR_IDENTITY_H
#define TRAINVAL_RUNDIR_IDENTITY_H

#include <stddef.h>

/* Writes this host's name to host (cap bytes; "unknown" when gethostname fails or the name is
 * not printable) and this process's id to *pid.  Cannot fail. */
void tv_rundir_identity(char *host, size_t cap, long *pid);

#endif
