/* test_optim.c — SGD (plain, momentum, Nesterov) and Adam against double-precision evaluations
 * of PyTorch's update rules as written in optim.h, learning-rate schedules, slots and the rule
 * that non-trainable variables are never touched.
 *
 * Also weight decay (L2 and decoupled), global-norm clipping and the step/exponential schedules.
 *
 * Tolerance: the optimizer runs in float; parameters are O(1) and updates O(lr), so each
 * parameter is compared with the double expectation to 2e-6 absolute (a few float ulps of 1).
 */
#include "trainval/optim.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trainval/ckpt.h"
#include "trainval/config.h"
#include "trainval/varstore.h"
#include "testutil.h"

enum { NW = 6, NB = 3, NS = 3, STEPS = 3 };

typedef struct fixture {
  tv_varstore *store;
  int w, stat, b; /* variable indices: trainable kernel, non-trainable statistic, trainable bias */
} fixture;

static void assert_near(double got, double want, double tol, const char *what, int i) {
  if (!(fabs(got - want) <= tol))
    fail_msg("%s[%d] = %.10g, want %.10g (tol %g)", what, i, got, want, tol);
}

/* Gradient of element i at update t (0-based): mixed signs, magnitudes and one exact zero. */
static float grad_at(int var, int i, int t) {
  if (var == 0 && i == 2) return 0.0f;
  return (float)((i % 2 ? -1.0 : 1.0) * (0.05 + 0.3 * i) * (1.0 + 0.5 * t) + 0.01 * var);
}

static float init_at(int var, int i) { return (float)(0.5 - 0.25 * i + var); }

static int setup_store(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f || tv_varstore_new(&f->store) != TV_OK) return -1;
  if (tv_varstore_declare(f->store, "fc/kernel", tv_shape2(2, 3), 1, TV_INIT_ZEROS, 3, 2, &f->w) !=
          TV_OK ||
      tv_varstore_declare(f->store, "bn/moving_mean", tv_shape1(NS), 0, TV_INIT_ZEROS, 0, 0,
                          &f->stat) != TV_OK ||
      tv_varstore_declare(f->store, "fc/bias", tv_shape1(NB), 1, TV_INIT_ZEROS, 3, 2, &f->b) !=
          TV_OK ||
      tv_varstore_seal(f->store) != TV_OK)
    return -1;
  tv_var *w = tv_varstore_var(f->store, f->w), *s = tv_varstore_var(f->store, f->stat),
         *b = tv_varstore_var(f->store, f->b);
  for (int i = 0; i < NW; i++) w->value[i] = init_at(0, i);
  for (int i = 0; i < NB; i++) b->value[i] = init_at(1, i);
  for (int i = 0; i < NS; i++) {
    s->value[i] = 7.0f + (float)i;
    s->grad[i] = 100.0f; /* garbage the optimizer must ignore */
  }
  *state = f;
  return 0;
}

static int teardown_store(void **state) {
  fixture *f = *state;
  tv_varstore_free(f->store);
  free(f);
  return 0;
}

static void set_grads(fixture *f, int t) {
  tv_var *w = tv_varstore_var(f->store, f->w), *b = tv_varstore_var(f->store, f->b);
  for (int i = 0; i < NW; i++) w->grad[i] = grad_at(0, i, t);
  for (int i = 0; i < NB; i++) b->grad[i] = grad_at(1, i, t);
}

static tv_optim *make_optim(fixture *f, const tv_config *c, int64_t total) {
  tv_optim *o = NULL;
  assert_int_equal(tv_optim_new(c, total, f->store, &o), TV_OK);
  assert_non_null(o);
  return o;
}

static void check_untouched(fixture *f, tv_optim *o) {
  const tv_var *s = tv_varstore_cvar(f->store, f->stat);
  for (int i = 0; i < NS; i++) assert_true(s->value[i] == 7.0f + (float)i);
  for (int k = 0; k < tv_optim_num_slots(o); k++)
    for (int i = 0; i < NS; i++) assert_true(tv_optim_slot(o, k)[s->offset + i] == 0.0f);
}

/* ---- SGD ---------------------------------------------------------------------------------- */

/* Runs `steps` updates of SGD(lr, mu, nesterov) and compares every parameter and the momentum
 * buffer with the double recurrence buf = mu*buf + g; p -= lr * (nesterov ? g + mu*buf : buf). */
static void run_sgd(fixture *f, double lr, double mu, int nesterov, int steps) {
  tv_config c;
  tv_config_defaults(&c);
  c.optimizer.type = TV_OPTIM_SGD;
  c.optimizer.learning_rate = lr;
  c.optimizer.momentum = mu;
  c.optimizer.nesterov = nesterov;
  c.optimizer.schedule = TV_SCHEDULE_CONSTANT;
  c.optimizer.warmup_steps = 0;
  tv_optim *o = make_optim(f, &c, 100);
  assert_string_equal(tv_optim_name(o), "sgd");
  if (mu > 0) {
    assert_int_equal(tv_optim_num_slots(o), 1);
    assert_string_equal(tv_optim_slot_name(o, 0), "momentum");
  } else {
    assert_int_equal(tv_optim_num_slots(o), 0);
  }
  const int vars[2] = {f->w, f->b}, counts[2] = {NW, NB};
  double p[2][NW], buf[2][NW];
  for (int v = 0; v < 2; v++)
    for (int i = 0; i < counts[v]; i++) p[v][i] = init_at(v, i), buf[v][i] = 0;
  for (int t = 0; t < steps; t++) {
    set_grads(f, t);
    tv_optim_step(o, t);
    for (int v = 0; v < 2; v++)
      for (int i = 0; i < counts[v]; i++) {
        double g = grad_at(v, i, t);
        buf[v][i] = mu * buf[v][i] + g;
        p[v][i] -= lr * (mu == 0 ? g : nesterov ? g + mu * buf[v][i] : buf[v][i]);
      }
  }
  assert_int_equal(tv_optim_t(o), steps);
  for (int v = 0; v < 2; v++) {
    const tv_var *var = tv_varstore_cvar(f->store, vars[v]);
    for (int i = 0; i < counts[v]; i++) {
      assert_near(var->value[i], p[v][i], 2e-6, var->name, i);
      if (mu > 0) assert_near(tv_optim_slot(o, 0)[var->offset + i], buf[v][i], 2e-6, "buf", i);
    }
  }
  check_untouched(f, o);
  tv_optim_free(o);
}

static void test_sgd_plain(void **state) {
  run_sgd(*state, 0.1, 0.0, 0, 1);
  /* Hand value: one plain step is p - lr * g. */
  fixture *f = *state;
  const tv_var *w = tv_varstore_cvar(f->store, f->w);
  assert_near(w->value[1], init_at(0, 1) - 0.1 * grad_at(0, 1, 0), 1e-7, "w", 1);
}
static void test_sgd_plain_3(void **state) { run_sgd(*state, 0.1, 0.0, 0, STEPS); }

static void test_sgd_momentum(void **state) {
  run_sgd(*state, 0.05, 0.9, 0, 1);
  fixture *f = *state;
  /* Hand value: PyTorch's first momentum step uses buf = g, so it equals a plain step. */
  const tv_var *b = tv_varstore_cvar(f->store, f->b);
  assert_near(b->value[0], init_at(1, 0) - 0.05 * grad_at(1, 0, 0), 1e-7, "b", 0);
}
static void test_sgd_momentum_3(void **state) { run_sgd(*state, 0.05, 0.9, 0, STEPS); }

static void test_sgd_nesterov(void **state) {
  run_sgd(*state, 0.05, 0.9, 1, 1);
  fixture *f = *state;
  /* Hand value: first Nesterov step is p - lr * (1 + mu) * g. */
  const tv_var *w = tv_varstore_cvar(f->store, f->w);
  assert_near(w->value[3], init_at(0, 3) - 0.05 * 1.9 * grad_at(0, 3, 0), 1e-6, "w", 3);
}
static void test_sgd_nesterov_3(void **state) { run_sgd(*state, 0.05, 0.9, 1, STEPS); }

/* ---- Adam --------------------------------------------------------------------------------- */

static void run_adam(fixture *f, double lr, double b1, double b2, double eps, int steps) {
  tv_config c;
  tv_config_defaults(&c);
  c.optimizer.type = TV_OPTIM_ADAM;
  c.optimizer.learning_rate = lr;
  c.optimizer.beta1 = b1;
  c.optimizer.beta2 = b2;
  c.optimizer.epsilon = eps;
  c.optimizer.schedule = TV_SCHEDULE_CONSTANT;
  c.optimizer.warmup_steps = 0;
  tv_optim *o = make_optim(f, &c, 100);
  assert_string_equal(tv_optim_name(o), "adam");
  assert_int_equal(tv_optim_num_slots(o), 2);
  assert_string_equal(tv_optim_slot_name(o, 0), "m");
  assert_string_equal(tv_optim_slot_name(o, 1), "v");
  const int vars[2] = {f->w, f->b}, counts[2] = {NW, NB};
  double p[2][NW], m[2][NW], v2[2][NW];
  for (int v = 0; v < 2; v++)
    for (int i = 0; i < counts[v]; i++) p[v][i] = init_at(v, i), m[v][i] = v2[v][i] = 0;
  for (int t = 0; t < steps; t++) {
    set_grads(f, t);
    tv_optim_step(o, t);
    double bc1 = 1 - pow(b1, t + 1), bc2 = 1 - pow(b2, t + 1);
    for (int v = 0; v < 2; v++)
      for (int i = 0; i < counts[v]; i++) {
        double g = grad_at(v, i, t);
        m[v][i] = b1 * m[v][i] + (1 - b1) * g;
        v2[v][i] = b2 * v2[v][i] + (1 - b2) * g * g;
        p[v][i] -= lr / bc1 * m[v][i] / (sqrt(v2[v][i]) / sqrt(bc2) + eps);
      }
  }
  assert_int_equal(tv_optim_t(o), steps);
  for (int v = 0; v < 2; v++) {
    const tv_var *var = tv_varstore_cvar(f->store, vars[v]);
    for (int i = 0; i < counts[v]; i++) {
      assert_near(var->value[i], p[v][i], 2e-6, var->name, i);
      assert_near(tv_optim_slot(o, 0)[var->offset + i], m[v][i], 1e-6 * fabs(m[v][i]) + 1e-9, "m",
                  i);
      /* 1 - beta2 is formed in double and rounded to float, as PyTorch does. */
      assert_near(tv_optim_slot(o, 1)[var->offset + i], v2[v][i], 1e-6 * v2[v][i] + 1e-12, "v", i);
    }
  }
  check_untouched(f, o);
  tv_optim_free(o);
}

static void test_adam_1(void **state) {
  run_adam(*state, 0.01, 0.9, 0.999, 1e-8, 1);
  /* Hand value: after one step m_hat = g and v_hat = g^2, so p moves by lr * sign(g) (up to
   * eps), and not at all where g == 0. */
  fixture *f = *state;
  const tv_var *w = tv_varstore_cvar(f->store, f->w);
  for (int i = 0; i < NW; i++) {
    double g = grad_at(0, i, 0);
    double want = init_at(0, i) - (g > 0 ? 0.01 : g < 0 ? -0.01 : 0.0);
    assert_near(w->value[i], want, 1e-6, "w", i);
  }
  assert_true(w->value[2] == init_at(0, 2));
}
static void test_adam_3(void **state) { run_adam(*state, 0.01, 0.9, 0.999, 1e-8, STEPS); }
static void test_adam_3_big_eps(void **state) { run_adam(*state, 0.003, 0.8, 0.99, 0.1, STEPS); }

/* Bias correction follows the update counter t, which a resume restores with tv_optim_set_t:
 * at t = 10^6 both corrections are 1, so a first update from zero moments is
 * lr * (1-b1) g / (sqrt(1-b2) |g| + eps). */
static void test_adam_set_t(void **state) {
  fixture *f = *state;
  tv_config c;
  tv_config_defaults(&c);
  c.optimizer.type = TV_OPTIM_ADAM;
  c.optimizer.learning_rate = 0.01;
  c.optimizer.beta1 = 0.9;
  c.optimizer.beta2 = 0.999;
  c.optimizer.epsilon = 1e-8;
  c.optimizer.schedule = TV_SCHEDULE_CONSTANT;
  c.optimizer.warmup_steps = 0;
  tv_optim *o = make_optim(f, &c, 100);
  tv_optim_set_t(o, 1000000);
  assert_int_equal(tv_optim_t(o), 1000000);
  set_grads(f, 0);
  tv_optim_step(o, 5);
  assert_int_equal(tv_optim_t(o), 1000001);
  const tv_var *w = tv_varstore_cvar(f->store, f->w);
  for (int i = 0; i < NW; i++) {
    double g = grad_at(0, i, 0);
    double want = init_at(0, i) - 0.01 * 0.1 * g / (sqrt(0.001) * fabs(g) + 1e-8);
    assert_near(w->value[i], want, 2e-6, "w", i);
  }
  tv_optim_free(o);
}

/* ---- schedules ---------------------------------------------------------------------------- */

static tv_optim *sched_optim(fixture *f, tv_schedule_kind kind, double lr, int64_t warmup,
                             double min_lr, int64_t total) {
  tv_config c;
  tv_config_defaults(&c);
  c.optimizer.type = TV_OPTIM_SGD;
  c.optimizer.momentum = 0;
  c.optimizer.learning_rate = lr;
  c.optimizer.schedule = kind;
  c.optimizer.warmup_steps = warmup;
  c.optimizer.min_learning_rate = min_lr;
  return make_optim(f, &c, total);
}

static void test_schedule_constant(void **state) {
  tv_optim *o = sched_optim(*state, TV_SCHEDULE_CONSTANT, 0.125, 0, 0.0, 1000);
  const int64_t steps[] = {0, 1, 17, 999, 1000, 5000};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
    assert_true(tv_optim_lr(o, steps[i]) == 0.125);
  tv_optim_free(o);
}

/* Linear warmup from lr/warmup (step 0) to lr (step warmup - 1), then constant. */
static void test_schedule_warmup(void **state) {
  tv_optim *o = sched_optim(*state, TV_SCHEDULE_CONSTANT, 0.1, 4, 0.0, 1000);
  const double want[] = {0.025, 0.05, 0.075, 0.1, 0.1, 0.1};
  for (int s = 0; s < 6; s++) assert_near(tv_optim_lr(o, s), want[s], 1e-15, "lr", s);
  assert_near(tv_optim_lr(o, 999), 0.1, 1e-15, "lr", 999);
  tv_optim_free(o);
}

/* Cosine after warmup: lr at the warmup end, min_lr at total_steps (and after), the midpoint
 * halfway, monotone in between. */
static void test_schedule_cosine(void **state) {
  const double lr = 0.1, lo = 0.001;
  tv_optim *o = sched_optim(*state, TV_SCHEDULE_COSINE, lr, 10, lo, 110);
  assert_near(tv_optim_lr(o, 0), lr / 10, 1e-15, "lr", 0);
  assert_near(tv_optim_lr(o, 9), lr, 1e-15, "lr", 9);
  assert_near(tv_optim_lr(o, 10), lr, 1e-15, "lr", 10);
  assert_near(tv_optim_lr(o, 60), (lr + lo) / 2, 1e-12, "lr", 60);
  assert_near(tv_optim_lr(o, 35), lo + 0.5 * (lr - lo) * (1 + cos(M_PI * 0.25)), 1e-12, "lr", 35);
  assert_near(tv_optim_lr(o, 110), lo, 1e-12, "lr", 110);
  assert_near(tv_optim_lr(o, 500), lo, 1e-12, "lr", 500);
  for (int64_t s = 10; s < 110; s++) assert_true(tv_optim_lr(o, s + 1) <= tv_optim_lr(o, s));
  tv_optim_free(o);
  /* No warmup: the very first update uses lr. */
  o = sched_optim(*state, TV_SCHEDULE_COSINE, lr, 0, 0.0, 50);
  assert_near(tv_optim_lr(o, 0), lr, 1e-15, "lr", 0);
  assert_near(tv_optim_lr(o, 50), 0.0, 1e-15, "lr", 50);
  tv_optim_free(o);
}

/* The horizon can be set after construction (a resumed run restores the one it was planned
 * with): lr then follows the cosine of that horizon, bit for bit, and stays at the floor past it.
 */
static void test_schedule_horizon(void **state) {
  const double lr = 0.1, lo = 0.001;
  tv_optim *planned = sched_optim(*state, TV_SCHEDULE_COSINE, lr, 10, lo, 110);
  tv_optim *resumed = sched_optim(*state, TV_SCHEDULE_COSINE, lr, 10, lo, 400);
  assert_int_equal(tv_optim_horizon(resumed), 400);
  tv_optim_set_horizon(resumed, 110);
  assert_int_equal(tv_optim_horizon(resumed), 110);
  for (int64_t s = 0; s <= 400; s++)
    assert_true(tv_optim_lr(resumed, s) == tv_optim_lr(planned, s));
  for (int64_t s = 110; s <= 400; s++) assert_near(tv_optim_lr(resumed, s), lo, 1e-12, "lr", s);
  tv_optim_free(planned);
  tv_optim_free(resumed);
}

/* The schedule drives tv_optim_step: during warmup a plain SGD step moves by lr(step) * g. */
static void test_step_uses_schedule(void **state) {
  fixture *f = *state;
  tv_optim *o = sched_optim(f, TV_SCHEDULE_CONSTANT, 0.2, 4, 0.0, 100);
  set_grads(f, 0);
  tv_optim_step(o, 1); /* lr(1) = 0.2 * 2 / 4 */
  const tv_var *w = tv_varstore_cvar(f->store, f->w);
  for (int i = 0; i < NW; i++)
    assert_near(w->value[i], init_at(0, i) - 0.1 * grad_at(0, i, 0), 1e-7, "w", i);
  tv_optim_free(o);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void test_unsealed_store(void **state) {
  (void)state;
  tv_varstore *s = NULL;
  assert_int_equal(tv_varstore_new(&s), TV_OK);
  int idx;
  assert_int_equal(tv_varstore_declare(s, "w", tv_shape1(4), 1, TV_INIT_ZEROS, 1, 1, &idx), TV_OK);
  tv_config c;
  tv_config_defaults(&c);
  tv_optim *o = (tv_optim *)&o;
  assert_int_equal(tv_optim_new(&c, 10, s, &o), TV_ERR_INVALID);
  assert_null(o);
  assert_non_null(strstr(tv_error_message(), "sealed"));
  tv_varstore_free(s);
  tv_optim_free(NULL);
}

/* ---- weight decay, AdamW, clipping -------------------------------------------------------- */

/* The reference of optim.h's rules with every option: clip the global norm to clip (0: off),
 * L2 (sgd, adam) or decoupled (adamw) weight decay wd, then SGD with momentum mu or Adam. */
static void run_general(fixture *f, tv_optim_kind kind, double lr, double wd, double clip,
                        int steps) {
  const double mu = 0.9, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  tv_config c;
  tv_config_defaults(&c);
  c.optimizer.type = kind;
  c.optimizer.learning_rate = lr;
  c.optimizer.momentum = mu;
  c.optimizer.weight_decay = wd;
  c.optimizer.clip_norm = clip;
  c.optimizer.schedule = TV_SCHEDULE_CONSTANT;
  c.optimizer.warmup_steps = 0;
  tv_optim *o = make_optim(f, &c, 100);
  const int vars[2] = {f->w, f->b}, counts[2] = {NW, NB};
  double p[2][NW], m[2][NW], v2[2][NW];
  for (int v = 0; v < 2; v++)
    for (int i = 0; i < counts[v]; i++) p[v][i] = init_at(v, i), m[v][i] = v2[v][i] = 0;
  for (int t = 0; t < steps; t++) {
    set_grads(f, t);
    double norm2 = 0;
    for (int v = 0; v < 2; v++)
      for (int i = 0; i < counts[v]; i++) norm2 += (double)grad_at(v, i, t) * grad_at(v, i, t);
    assert_near(tv_optim_grad_norm(o), sqrt(norm2), 1e-6 * sqrt(norm2), "norm", t);
    tv_optim_step(o, t);
    double scale = clip > 0 && sqrt(norm2) > clip ? clip / sqrt(norm2) : 1.0;
    double bc1 = 1 - pow(b1, t + 1), bc2 = 1 - pow(b2, t + 1);
    for (int v = 0; v < 2; v++)
      for (int i = 0; i < counts[v]; i++) {
        double g = scale * grad_at(v, i, t);
        if (kind == TV_OPTIM_ADAMW)
          p[v][i] *= 1 - lr * wd;
        else
          g += wd * p[v][i];
        if (kind == TV_OPTIM_SGD) {
          m[v][i] = mu * m[v][i] + g;
          p[v][i] -= lr * m[v][i];
        } else {
          m[v][i] = b1 * m[v][i] + (1 - b1) * g;
          v2[v][i] = b2 * v2[v][i] + (1 - b2) * g * g;
          p[v][i] -= lr / bc1 * m[v][i] / (sqrt(v2[v][i]) / sqrt(bc2) + eps);
        }
      }
  }
  for (int v = 0; v < 2; v++) {
    const tv_var *var = tv_varstore_cvar(f->store, vars[v]);
    for (int i = 0; i < counts[v]; i++) assert_near(var->value[i], p[v][i], 4e-6, var->name, i);
  }
  check_untouched(f, o);
  tv_optim_free(o);
}

static void test_sgd_weight_decay(void **state) {
  run_general(*state, TV_OPTIM_SGD, 0.05, 0.01, 0, STEPS);
}
static void test_adam_weight_decay(void **state) {
  run_general(*state, TV_OPTIM_ADAM, 0.01, 0.1, 0, STEPS);
}
static void test_adamw(void **state) { run_general(*state, TV_OPTIM_ADAMW, 0.01, 0.1, 0, STEPS); }
static void test_sgd_clip(void **state) { run_general(*state, TV_OPTIM_SGD, 0.05, 0, 0.5, STEPS); }
static void test_adamw_clip(void **state) {
  run_general(*state, TV_OPTIM_ADAMW, 0.01, 0.05, 1.0, STEPS);
}
static void test_clip_above_norm_is_noop(void **state) {
  run_general(*state, TV_OPTIM_SGD, 0.05, 0, 1e6, STEPS);
}

static void test_grad_norm_nonfinite(void **state) {
  fixture *f = *state;
  tv_config c;
  tv_config_defaults(&c);
  tv_optim *o = make_optim(f, &c, 100);
  set_grads(f, 0);
  tv_varstore_var(f->store, f->b)->grad[1] = NAN;
  double n = tv_optim_grad_norm(o);
  assert_true(n != n);
  tv_varstore_var(f->store, f->b)->grad[1] = INFINITY;
  assert_true(isinf(tv_optim_grad_norm(o)));
  tv_optim_free(o);
}

static void test_schedule_step_exponential(void **state) {
  fixture *f = *state;
  tv_config c;
  tv_config_defaults(&c);
  c.optimizer.learning_rate = 0.1;
  c.optimizer.warmup_steps = 10;
  c.optimizer.decay_steps = 100;
  c.optimizer.decay_rate = 0.5;
  c.optimizer.schedule = TV_SCHEDULE_STEP;
  tv_optim *o = make_optim(f, &c, 1000);
  assert_near(tv_optim_lr(o, 4), 0.05, 1e-12, "warmup", 4);
  assert_near(tv_optim_lr(o, 10), 0.1, 1e-12, "step", 10);
  assert_near(tv_optim_lr(o, 109), 0.1, 1e-12, "step", 109);
  assert_near(tv_optim_lr(o, 110), 0.05, 1e-12, "step", 110);
  assert_near(tv_optim_lr(o, 310), 0.0125, 1e-12, "step", 310);
  tv_optim_free(o);
  c.optimizer.schedule = TV_SCHEDULE_EXPONENTIAL;
  o = make_optim(f, &c, 1000);
  assert_near(tv_optim_lr(o, 10), 0.1, 1e-12, "exp", 10);
  assert_near(tv_optim_lr(o, 60), 0.1 * sqrt(0.5), 1e-12, "exp", 60);
  assert_near(tv_optim_lr(o, 210), 0.025, 1e-12, "exp", 210);
  tv_optim_free(o);
}

/* The element-wise update split over a thread team gives the same bits as one thread. */
static void test_pool_same_bits(void **state) {
  fixture *f = *state;
  tv_config c;
  tv_config_defaults(&c);
  c.optimizer.type = TV_OPTIM_ADAMW;
  c.optimizer.weight_decay = 0.01;
  c.optimizer.clip_norm = 0.5;
  tv_varstore *other;
  int w2, s2, b2;
  assert_int_equal(tv_varstore_new(&other), TV_OK);
  assert_int_equal(
      tv_varstore_declare(other, "fc/kernel", tv_shape2(2, 3), 1, TV_INIT_ZEROS, 3, 2, &w2), TV_OK);
  assert_int_equal(
      tv_varstore_declare(other, "bn/moving_mean", tv_shape1(NS), 0, TV_INIT_ZEROS, 0, 0, &s2),
      TV_OK);
  assert_int_equal(
      tv_varstore_declare(other, "fc/bias", tv_shape1(NB), 1, TV_INIT_ZEROS, 3, 2, &b2), TV_OK);
  assert_int_equal(tv_varstore_seal(other), TV_OK);
  memcpy(tv_varstore_values(other), tv_varstore_values(f->store),
         tv_varstore_size(f->store) * sizeof(float));
  tv_pool *pool;
  assert_int_equal(tv_pool_new(3, &pool), TV_OK);
  tv_optim *one = make_optim(f, &c, 100), *team = NULL;
  assert_int_equal(tv_optim_new(&c, 100, other, &team), TV_OK);
  tv_optim_set_pool(team, pool);
  for (int t = 0; t < STEPS; t++) {
    set_grads(f, t);
    memcpy(tv_varstore_grads(other), tv_varstore_grads(f->store),
           tv_varstore_size(f->store) * sizeof(float));
    tv_optim_step(one, t);
    tv_optim_step(team, t);
  }
  assert_memory_equal(tv_varstore_values(other), tv_varstore_values(f->store),
                      tv_varstore_size(f->store) * sizeof(float));
  for (int k = 0; k < tv_optim_num_slots(one); k++)
    assert_memory_equal(tv_optim_slot(team, k), tv_optim_slot(one, k),
                        tv_varstore_size(f->store) * sizeof(float));
  tv_optim_free(one);
  tv_optim_free(team);
  tv_pool_free(pool);
  tv_varstore_free(other);
}

/* ---- checkpoint state --------------------------------------------------------------------- */

static tv_config adam_config(void) {
  tv_config c;
  tv_config_defaults(&c);
  c.optimizer.type = TV_OPTIM_ADAM;
  c.optimizer.learning_rate = 0.01;
  c.optimizer.schedule = TV_SCHEDULE_CONSTANT;
  c.optimizer.warmup_steps = 0;
  return c;
}

/* tv_optim_ckpt_write / tv_optim_ckpt_read: an optimizer restored from a checkpoint takes the
 * next update bit for bit as the one that wrote it; the file holds slots of trainable variables
 * only, in their shapes, and the type and counter; an optimizer whose slots are not in the file
 * is refused (file and array named) and left as new. */
static void test_optim_ckpt(void **state) {
  fixture *f = *state;
  char dir[] = "/tmp/tv_test_optim.XXXXXX";
  assert_non_null(mkdtemp(dir));
  tv_config c = adam_config();
  tv_optim *a = make_optim(f, &c, 100), *b = make_optim(f, &c, 100);
  for (int t = 0; t < STEPS; t++) {
    set_grads(f, t);
    tv_optim_step(a, t);
  }
  tv_ckpt_header h = {.step = STEPS, .wall_time = 1.0};
  tv_ckpt_writer *w;
  assert_int_equal(tv_ckpt_writer_open(dir, &h, &w), TV_OK);
  assert_int_equal(tv_optim_ckpt_write(a, w), TV_OK);
  assert_int_equal(tv_optim_ckpt_write(a, w), TV_ERR_INVALID); /* the paths exist already */
  tv_ckpt_info info;
  assert_int_equal(tv_ckpt_writer_finish(w, &info), TV_OK); /* a caller's mistake does not stick */

  size_t size = tv_varstore_size(f->store);
  float *saved = malloc(size * sizeof *saved), *after = malloc(size * sizeof *after);
  assert_non_null(saved);
  assert_non_null(after);
  memcpy(saved, tv_varstore_values(f->store), size * sizeof *saved);
  set_grads(f, STEPS);
  tv_optim_step(a, STEPS);
  memcpy(after, tv_varstore_values(f->store), size * sizeof *after);

  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, info.file);
  tv_ckpt *ck;
  assert_int_equal(tv_ckpt_open(path, NULL, &ck), TV_OK);
  assert_int_equal(tv_optim_ckpt_read(b, ck), TV_OK);
  assert_int_equal(tv_optim_t(b), STEPS);
  memcpy(tv_varstore_values(f->store), saved, size * sizeof *saved);
  set_grads(f, STEPS);
  tv_optim_step(b, STEPS);
  assert_memory_equal(tv_varstore_values(f->store), after, size * sizeof *after);
  for (int k = 0; k < 2; k++)
    assert_memory_equal(tv_optim_slot(b, k), tv_optim_slot(a, k), size * sizeof(float));
  check_untouched(f, b);

  /* The layout of ckpt.h's STATE LAYOUT. */
  char type[16];
  int64_t t;
  assert_int_equal(tv_ckpt_read_attr_str(ck, "/optimizer", "type", type, sizeof type), TV_OK);
  assert_string_equal(type, "adam");
  assert_int_equal(tv_ckpt_read_attr_i64(ck, "/optimizer", "t", &t), TV_OK);
  assert_int_equal(t, STEPS);
  tv_ckpt_dtype dt;
  size_t n;
  assert_int_equal(tv_ckpt_array_info(ck, "/optimizer/v/fc/kernel", &dt, &n), TV_OK);
  assert_int_equal(dt, TV_CKPT_F32);
  assert_int_equal(n, NW);
  assert_true(tv_ckpt_has(ck, "/optimizer/m/fc/bias"));
  assert_false(tv_ckpt_has(ck, "/optimizer/m/bn")); /* not trainable: no slot */

  /* SGD with momentum wants /optimizer/momentum/...: refused, and left as new. */
  tv_config sc = c;
  sc.optimizer.type = TV_OPTIM_SGD;
  sc.optimizer.momentum = 0.9;
  tv_optim *m = make_optim(f, &sc, 100);
  set_grads(f, 0);
  tv_optim_step(m, 0);
  assert_int_equal(tv_optim_ckpt_read(m, ck), TV_ERR_NOT_FOUND);
  assert_non_null(strstr(tv_error_message(), path));
  assert_non_null(
      strstr(tv_error_message(), "/optimizer/momentum/fc/kernel: not in the checkpoint"));
  assert_non_null(
      strstr(tv_error_message(), "which holds adam's state; this run's optimizer is sgd"));
  assert_int_equal(tv_optim_t(m), 0);
  for (size_t i = 0; i < size; i++) assert_true(tv_optim_slot(m, 0)[i] == 0.0f);
  tv_ckpt_close(ck);

  free(saved);
  free(after);
  tv_optim_free(a);
  tv_optim_free(b);
  tv_optim_free(m);
  tvt_rmtree(dir);
}

#define WITH_STORE(fn) cmocka_unit_test_setup_teardown(fn, setup_store, teardown_store)

int main(void) {
  const struct CMUnitTest tests[] = {
      WITH_STORE(test_sgd_plain),
      WITH_STORE(test_sgd_plain_3),
      WITH_STORE(test_sgd_momentum),
      WITH_STORE(test_sgd_momentum_3),
      WITH_STORE(test_sgd_nesterov),
      WITH_STORE(test_sgd_nesterov_3),
      WITH_STORE(test_adam_1),
      WITH_STORE(test_adam_3),
      WITH_STORE(test_adam_3_big_eps),
      WITH_STORE(test_adam_set_t),
      WITH_STORE(test_schedule_constant),
      WITH_STORE(test_schedule_warmup),
      WITH_STORE(test_schedule_cosine),
      WITH_STORE(test_schedule_horizon),
      WITH_STORE(test_step_uses_schedule),
      WITH_STORE(test_sgd_weight_decay),
      WITH_STORE(test_adam_weight_decay),
      WITH_STORE(test_adamw),
      WITH_STORE(test_sgd_clip),
      WITH_STORE(test_adamw_clip),
      WITH_STORE(test_clip_above_norm_is_noop),
      WITH_STORE(test_grad_norm_nonfinite),
      WITH_STORE(test_schedule_step_exponential),
      WITH_STORE(test_pool_same_bits),
      WITH_STORE(test_optim_ckpt),
      cmocka_unit_test(test_unsealed_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
