/* slice.c — how a global batch is split across ranks (dist.h, SEMANTICS); shared by both
 * implementations of dist.h. */
#include "trainval/dist.h"

void tv_dist_slice(int b, int size, int rank, int *offset, int *count) {
  int base = b / size, extra = b % size;
  *count = base + (rank < extra);
  *offset = rank * base + (rank < extra ? rank : extra);
}
