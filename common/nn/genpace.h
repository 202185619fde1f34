/* genpace.h — private to common/nn/ and its tests: the generation step's pace (generate.h, THE
 * STEP: windows of tokens run shared or by the caller alone) held to a rule, so that a test runs
 * each way, and the changes between them, whatever the machine's load. */
#ifndef TRAINVAL_NN_GENPACE_H
#define TRAINVAL_NN_GENPACE_H

#include "trainval/generate.h"

typedef enum tv_gen_pace {
  TV_GEN_PACE_TIMED,  /* the default: the faster way, as timed */
  TV_GEN_PACE_SHARED, /* every window shared */
  TV_GEN_PACE_ALONE,  /* every window alone */
  TV_GEN_PACE_FLIP,   /* the ways by turns, a window each */
  TV_GEN_PACE__COUNT
} tv_gen_pace;

/* The rule from the next window on (a fast step with more than one thread; else nothing).
 * Cannot fail. */
void tv_generator_pace(tv_generator *g, tv_gen_pace p);

/* Windows run alone since tv_generator_new.  Cannot fail. */
long tv_generator_alone_windows(const tv_generator *g);

#endif
