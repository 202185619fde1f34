/* tensor.c — shape helpers (see tensor.h). */
#include "trainval/tensor.h"

#include <stdio.h>

tv_shape tv_shape1(int d0) { return (tv_shape){1, {d0, 0, 0, 0}}; }
tv_shape tv_shape2(int d0, int d1) { return (tv_shape){2, {d0, d1, 0, 0}}; }
tv_shape tv_shape3(int d0, int d1, int d2) { return (tv_shape){3, {d0, d1, d2, 0}}; }
tv_shape tv_shape4(int d0, int d1, int d2, int d3) { return (tv_shape){4, {d0, d1, d2, d3}}; }

size_t tv_shape_count(tv_shape s) {
  size_t n = 1;
  for (int i = 0; i < s.ndim; i++) n *= (size_t)s.dim[i];
  return n;
}

int tv_shape_equal(tv_shape a, tv_shape b) {
  if (a.ndim != b.ndim) return 0;
  for (int i = 0; i < a.ndim; i++)
    if (a.dim[i] != b.dim[i]) return 0;
  return 1;
}

char *tv_shape_str(tv_shape s, char *buf, size_t cap) {
  size_t at = 0;
  int n = snprintf(buf, cap, "[");
  for (int i = 0; i < s.ndim && n >= 0 && (size_t)n < cap - at; i++) {
    at += (size_t)n;
    n = snprintf(buf + at, cap - at, i ? ", %d" : "%d", s.dim[i]);
  }
  if (n >= 0 && (size_t)n < cap - at) {
    at += (size_t)n;
    snprintf(buf + at, cap - at, "]");
  }
  return buf;
}
