/* testutil.h — fixtures shared by the unit tests (linked into every test binary; not part of
 * libtrainval). */
#ifndef TRAINVAL_TESTS_TESTUTIL_H
#define TRAINVAL_TESTS_TESTUTIL_H

#include <stdint.h>

/* cmocka setup: *state = a fresh directory /tmp/tv_test_XXXXXX (a malloc'd path).  Returns 0, or
 * -1 if it cannot be made. */
int tvt_setup_tmpdir(void **state);

/* cmocka teardown: removes the directory *state and everything in it (making it writable first),
 * frees the path.  Returns 0. */
int tvt_teardown_tmpdir(void **state);

/* rm -rf path (no error if it is missing). */
void tvt_rmtree(const char *path);

/* One training step's gradient from the model's last forward on n examples: softmax
 * cross-entropy (label smoothing s) of its outputs into tv_model_output_grad, then
 * tv_model_backward, which adds to the gradients (the caller zeroes them when it wants).
 * Returns the mean loss. */
struct tv_model;
float tvt_xent_backward(struct tv_model *m, const int32_t *y, int n, float s);

/* A record of a text fixture whose lines are "<name> <count> <count numbers>" ('#' lines and
 * others ignored): reads the values of the line named name into v.  Returns the count, or -1 if
 * there is no such line, its count is not in [1, cap] or it has fewer values than its count. */
int tvt_fixture_record(const char *text, const char *name, double *v, int cap);

#endif
