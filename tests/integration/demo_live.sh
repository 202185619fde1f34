#!/bin/sh
# scripts/demo.sh (make demo) on a short run: the evaluator's lines appear live, each as its
# checkpoint is committed and before training has ended, and the run ends with the final
# checkpoint evaluated on the test split.
. "$(dirname "$0")/lib.sh"

D=$T/demo/run
TV_DEMO_DIR=$D BIN=$BIN sh "$ROOT/scripts/demo.sh" --steps 400 --set train.checkpoint_every=100 \
  --set train.log_every=100 >"$T/demo.out" 2>&1
rc=$?
check "the demo exits 0 and ends with the test split of the final checkpoint" sh -c "
  test $rc -eq 0 && grep -q '^step         400' '$T/demo.out' && grep -q '^split        test (10000 examples)' '$T/demo.out'" ||
  tail -20 "$T/demo.out"
check "the evaluator's line for step 100 comes before training has ended (live, not held back)" sh -c "
  e=\$(grep -n '^eval: step 100 ' '$T/demo.out' | head -1 | cut -d: -f1)
  f=\$(grep -n '^train: final at step 400' '$T/demo.out' | head -1 | cut -d: -f1)
  test -n \"\$e\" && test -n \"\$f\" && test \"\$e\" -lt \"\$f\""
check "every checkpoint's evaluation is printed once, and kept in eval/watch.log" sh -c "
  for s in 100 200 300 400; do test \$(grep -c \"^eval: step \$s \" '$T/demo.out') -eq 1 || exit 1; done &&
  test \$(grep -c '^eval: step ' '$D/eval/watch.log') -eq 4 && test ! -e '$D.eval.log'"
