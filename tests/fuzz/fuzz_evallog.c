/* fuzz_evallog.c — libFuzzer target: bytes as an evaluator's metrics.jsonl through
 * tv_evallog_scan (the reader resume uses to find what was already evaluated), reading and then
 * truncating a torn last line; a second scan of the cut file must find the same lines. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_util.h"
#include "trainval/evallog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[4200];
  fuzz_write("metrics.jsonl", data, size, path, sizeof path);
  tv_evallog_line *lines = NULL, *again = NULL;
  int n = 0, m = 0;
  if (tv_evallog_scan(path, "accuracy", 1, &lines, &n) == TV_OK) {
    if (tv_evallog_scan(path, "accuracy", 0, &again, &m) != TV_OK || m != n) abort();
    for (int i = 0; i < n; i++)
      if (again[i].step != lines[i].step) abort();
  }
  free(lines);
  free(again);
  return 0;
}
