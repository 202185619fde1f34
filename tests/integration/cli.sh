#!/bin/sh
# The command lines: --help, --version, usage errors, the man pages and the completion made from
# the option tables, the installed name, and the rough edges a newcomer hits (one check each).
. "$(dirname "$0")/lib.sh"
CFG=$T/small.yaml
small_config "$CFG"
train() { "$BIN/train" "$@"; }

# ---- --help, --version, -h ---------------------------------------------------------------------
for p in train eval; do
  check "$p --help exits 0 and names every option of its table" sh -c "
    '$BIN/$p' --help >'$T/$p.help' && '$BIN/$p' --list-options >'$T/$p.list' &&
    n=\$(awk -F '\t' '\$1 == \"option\"' '$T/$p.list' | wc -l) && [ \"\$n\" -ge 10 ] &&
    awk -F '\t' '\$1 == \"option\" { print \"--\" \$2 }' '$T/$p.list' | while read -r o; do
      grep -q -- \"\$o\" '$T/$p.help' || { echo \"missing \$o\"; exit 1; }; done"
  check "$p -h is --help" sh -c "'$BIN/$p' -h | cmp -s - '$T/$p.help'"
  check "$p --help points at trainval-config(5) and has examples" sh -c "
    grep -q 'trainval-config(5)' '$T/$p.help' && grep -q '^Examples:' '$T/$p.help'"
  check "$p --help says what --threads controls" sh -c "
    tr '\n' ' ' <'$T/$p.help' | tr -s ' ' | grep -q 'team of N threads, OpenBLAS held to one thread inside it'"
  check "$p --version: version and the libraries'" sh -c "
    '$BIN/$p' --version >'$T/$p.version' && grep -q '^$p (trainval) [0-9]' '$T/$p.version' &&
    grep -q '^OpenBLAS [0-9]' '$T/$p.version' && grep -q '^HDF5 1\.' '$T/$p.version' &&
    grep -q '^libyaml 0\.' '$T/$p.version' && grep -q '^zlib 1\.' '$T/$p.version'"
  expect_fail "$p: an unknown option is a usage error with a hint" 2 \
    "^$p: unknown option --frobnicate \(try '$p --help'\)$" "$BIN/$p" --frobnicate
  expect_fail "$p: a missing value names the option" 2 "^$p: --threads needs a value" "$BIN/$p" --threads
done
# report's command line comes from its table too; its usage errors keep their own wording
check "report --help exits 0 and names every option of its table" sh -c "
  '$BIN/report' --help >'$T/report.help' && '$BIN/report' --list-options >'$T/report.list' &&
  n=\$(awk -F '\t' '\$1 == \"option\"' '$T/report.list' | wc -l) && [ \"\$n\" -ge 4 ] &&
  awk -F '\t' '\$1 == \"option\" { print \"--\" \$2 }' '$T/report.list' | while read -r o; do
    grep -q -- \"\$o\" '$T/report.help' || { echo \"missing \$o\"; exit 1; }; done &&
  grep -q -- '--out FILE' '$T/report.help' && grep -q -- '--png OUTDIR' '$T/report.help' &&
  grep -q '^Examples:' '$T/report.help' && grep -q '^usage: report DIR\.\.\.' '$T/report.help'"
check "report -h is --help" sh -c "'$BIN/report' -h | cmp -s - '$T/report.help'"
check "report --version: version and the libraries'" sh -c "
  '$BIN/report' --version >'$T/report.version' && grep -q '^report (trainval) [0-9]' '$T/report.version' &&
  grep -q '^OpenBLAS [0-9]' '$T/report.version' && grep -q '^HDF5 1\.' '$T/report.version'"
expect_fail "report: an unknown option is a usage error" 2 \
  "^report: unrecognized option or missing argument: --frobnicate \(--help lists them\)$" "$BIN/report" --frobnicate
expect_fail "report: a missing value names the option" 2 \
  "^report: unrecognized option or missing argument: --png \(--help lists them\)$" "$BIN/report" "$T" --png
expect_fail "report: -o without a value is refused the same way" 2 \
  "^report: unrecognized option or missing argument: -o \(--help lists them\)$" "$BIN/report" "$T" -o
check "report: -o is --out, --png writes the charts" sh -c "
  '$BIN/train' --train-dir '$T/rp' --config '$CFG' --steps 20 --set train.summary_every=5 --quiet >/dev/null &&
  '$BIN/report' '$T/rp' -o '$T/rp.html' --png '$T/rp.png' && grep -q '<svg' '$T/rp.html' &&
  ls '$T/rp.png' | grep -q '\.png$'"
expect_fail "an abbreviation that fits two options names both" 2 \
  "^train: option --ver is ambiguous \(--verbose, --version\)" "$BIN/train" --ver
expect_fail "a value given to an option that takes none" 2 "^eval: option --json takes no value" \
  "$BIN/eval" --ckpt x --json=yes
check "a unique abbreviation works" sh -c "'$BIN/train' --vers | grep -q '(trainval)'"
check "train --help does not call --threads OpenBLAS threads" sh -c "! grep -q 'OpenBLAS threads' '$T/train.help'"
expect_fail "train runs/mlp suggests --train-dir" 2 "^train: unexpected argument 'runs/mlp' \(a run directory is given as --train-dir runs/mlp\)" \
  "$BIN/train" runs/mlp
expect_fail "eval runs/mlp suggests --watch and --train-dir" 2 "^eval: unexpected argument 'runs/mlp' \(to follow a run: --watch runs/mlp; to evaluate its newest checkpoint: --train-dir runs/mlp\)" \
  "$BIN/eval" runs/mlp
expect_fail "-- ends the options: what follows is an argument" 2 "unexpected argument '--steps'" \
  "$BIN/train" --train-dir "$T/dd" -- --steps 10
expect_fail "eval --ckpt latest without --train-dir" 2 "^eval: --ckpt latest names a checkpoint of a run: give the run as --train-dir DIR" \
  "$BIN/eval" --ckpt latest
expect_fail "eval --ckpt STEP without --train-dir" 2 "^eval: --ckpt 4000 names a checkpoint of a run" "$BIN/eval" --ckpt 4000
mkdir -p "$T/empty"
expect_fail "eval of an empty directory: no run there" 1 "^eval: no run in $T/empty \(no checkpoints.yaml\)$" \
  "$BIN/eval" --train-dir "$T/empty"
expect_fail "eval of a missing directory: no run there" 1 "^eval: no run in $T/nowhere \(no checkpoints.yaml\)$" \
  "$BIN/eval" --train-dir "$T/nowhere"

# ---- the installed name ------------------------------------------------------------------------
mkdir -p "$T/inst"
ln -s "$BIN/train" "$T/inst/trainval-train"
ln -s "$BIN/eval" "$T/inst/trainval-eval"
ln -s "$BIN/report" "$T/inst/trainval-report"
check "installed, report calls itself trainval-report in --help and its errors" sh -c "
  '$T/inst/trainval-report' --help | grep -q '^usage: trainval-report DIR\.\.\.' &&
  ! '$T/inst/trainval-report' 2>'$T/rpi.err' && grep -q '^trainval-report: no train_dir given' '$T/rpi.err'"
check "installed, train calls itself trainval-train in --help" sh -c "
  '$T/inst/trainval-train' --help | grep -q '^usage: trainval-train --train-dir DIR' &&
  '$T/inst/trainval-train' --help | grep -q '^  trainval-train --train-dir runs/mlp'"
expect_fail "installed, eval's errors say trainval-eval" 2 "^trainval-eval: unknown option --bogus \(try 'trainval-eval --help'\)$" \
  "$T/inst/trainval-eval" --bogus
expect_fail "installed, train's runtime errors say trainval-train" 1 "^trainval-train: $T/c0: no config.yaml there yet" \
  "$T/inst/trainval-train" --train-dir "$T/c0" --quiet
check "installed, eval --watch's lines say trainval-eval" sh -c "
  '$T/inst/trainval-eval' --watch '$T/w0' --timeout 0.2 >'$T/w0.out' 2>&1 &&
  [ \$(grep -c . '$T/w0.out') -ge 2 ] && ! grep -v '^trainval-eval: ' '$T/w0.out'"

# ---- man pages and completion come from the option tables --------------------------------------
if BIN=$BIN sh "$ROOT/scripts/gen-man.sh" "$T/gen" >"$T/gen.out" 2>&1; then
  for f in man/trainval-train.1 man/trainval-eval.1 man/trainval-report.1 completion/trainval-train \
    completion/trainval-eval completion/trainval-report; do
    check "$f is up to date with the binaries (sh scripts/gen-man.sh)" diff -u "$ROOT/$f" "$T/gen/$f"
  done
else
  notok "scripts/gen-man.sh runs" "$(cat "$T/gen.out")"
fi
if command -v man >/dev/null 2>&1; then
  for p in train eval; do
    check "man page trainval-$p.1 renders without warnings and has every section" sh -c "
      MANWIDTH=80 man --warnings -l '$ROOT/man/trainval-$p.1' 2>'$T/man.err' >'$T/man.out' && ! [ -s '$T/man.err' ] &&
      for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' ENVIRONMENT FILES EXAMPLES 'SEE ALSO'; do
        grep -q \"^\$s\" '$T/man.out' || { echo \"no \$s\"; exit 1; }; done &&
      grep -q 'trainval-config(5)' '$T/man.out'"
  done
  check "man page trainval-report.1 renders without warnings and has every section" sh -c "
    MANWIDTH=80 man --warnings -l '$ROOT/man/trainval-report.1' 2>'$T/man.err' >'$T/man.out' && ! [ -s '$T/man.err' ] &&
    for s in NAME SYNOPSIS DESCRIPTION OPTIONS 'EXIT STATUS' FILES EXAMPLES 'SEE ALSO'; do
      grep -q \"^\$s\" '$T/man.out' || { echo \"no \$s\"; exit 1; }; done &&
    grep -q 'trainval-train(1)' '$T/man.out' && grep -q 'trainval-eval(1)' '$T/man.out'"
else
  echo "skip - man pages render (man is not installed)"
fi
if command -v bash >/dev/null 2>&1; then
  # complete WORDS...: what the completion offers for the last word
  cat >"$T/complete.sh" <<'SH'
. "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
_trainval_${PROG}
printf '%s\n' "${COMPREPLY[@]}"
SH
  check "completion: eval --sp completes to --split" sh -c "
    PROG=eval bash '$T/complete.sh' '$ROOT/completion/trainval-eval' trainval-eval --sp | grep -qx -- --split"
  check "completion: eval --split offers the splits" sh -c "
    [ \"\$(PROG=eval bash '$T/complete.sh' '$ROOT/completion/trainval-eval' trainval-eval --split '' | tr '\n' ' ')\" = 'test valid train ' ]"
  check "completion: train --train-dir offers directories" sh -c "
    cd '$T' && PROG=train bash '$T/complete.sh' '$ROOT/completion/trainval-train' trainval-train --train-dir em | grep -qx empty"
  check "completion: train --re offers --replan-schedule" sh -c "
    PROG=train bash '$T/complete.sh' '$ROOT/completion/trainval-train' trainval-train --re | grep -qx -- --replan-schedule"
  check "completion: report --p completes to --png, which offers directories" sh -c "
    PROG=report bash '$T/complete.sh' '$ROOT/completion/trainval-report' trainval-report run --p | grep -qx -- --png &&
    cd '$T' && PROG=report bash '$T/complete.sh' '$ROOT/completion/trainval-report' trainval-report run --png em | grep -qx empty"
else
  echo "skip - completion (bash is not installed)"
fi

# ---- a run: nothing to do changes nothing; LOCK; the schedule's horizon ------------------------
R=$T/run
check "a 300-step run" train --train-dir "$R" --config "$CFG" --steps 300 --quiet \
  --set train.summary_every=20 --set train.checkpoint_every=100
check "a clean exit leaves LOCK released (empty)" sh -c "! [ -s '$R/LOCK' ]"
cp "$R/config.yaml" "$T/config.before"
train --train-dir "$R" --steps 100 >"$T/nothing.out" 2>&1
check "--steps below the run's step: nothing to do" grep -q "already at step 300 of 100; nothing to do" "$T/nothing.out"
check "nothing to do left config.yaml as it was" cmp "$T/config.before" "$R/config.yaml"
check "nothing to do committed nothing" sh -c "[ \$(grep -c '^    file: ckpt' '$R/checkpoints.yaml') -eq 3 ]"
train --train-dir "$R" --steps 500 --set train.summary_every=20 >"$T/longer.out" 2>&1
check "a resume after a clean exit does not warn about LOCK" sh -c "! grep -q 'taking over' '$T/longer.out'"
check "the plan is printed: the horizon kept from the run's start" \
  grep -q "schedule: cosine from 0.001 to 1e-05 over steps 200..300 (planned when the run began), then 1e-05 to step 500" "$T/longer.out"
check "resumed to 500: learning_rate stays at the floor past the original horizon" /usr/bin/python3 -c "
import subprocess, sys
out = subprocess.run([sys.executable, '$ROOT/tests/integration/events.py', '$R'], check=True,
                     capture_output=True, text=True).stdout
lr = {int(f[0]): float(f[2]) for f in (l.split() for l in out.splitlines()) if len(f) == 3 and f[1] == 'learning_rate'}
after = [lr[s] for s in sorted(lr) if s > 300]
assert len(after) == 10, sorted(lr)
assert all(abs(x - 1e-5) < 1e-9 for x in after), after
cos = [lr[s] for s in sorted(lr) if 200 < s <= 300]
assert all(b <= a for a, b in zip(cos, cos[1:])), cos
"
check "the horizon is kept in the checkpoint" /usr/bin/python3 -c "
import h5py; assert h5py.File('$R/ckpt-00000500.h5', 'r')['state'].attrs['schedule_steps'] == 300"
R2=$T/replan
cp -r "$R" "$R2"
train --train-dir "$R2" --steps 700 --replan-schedule --set train.summary_every=20 >"$T/replan.out" 2>&1
check "--replan-schedule says so" grep -q "(re-planned by --replan-schedule)" "$T/replan.out"
check "--replan-schedule: the rate rises again past the floor" /usr/bin/python3 -c "
import subprocess, sys
out = subprocess.run([sys.executable, '$ROOT/tests/integration/events.py', '$R2'], check=True,
                     capture_output=True, text=True).stdout
lr = {int(f[0]): float(f[2]) for f in (l.split() for l in out.splitlines()) if len(f) == 3 and f[1] == 'learning_rate'}
assert lr[520] > 1e-4, lr[520]
"
train --train-dir "$R" --quiet >"$T/plain.out" 2>&1
check "a plain resume goes on to the configured steps (500), not the refused 100" \
  grep -q "already at step 500 of 500; nothing to do" "$T/plain.out"

# ---- a failed first start leaves no model to protect -------------------------------------------
sed 's/^    - {type: flatten} .*//' "$CFG" >"$T/noflat.yaml"
expect_fail "a model that does not fit the data fails before its first step" 1 "dense needs a flat input" \
  train --train-dir "$T/f" --config "$T/noflat.yaml" --quiet --steps 10
check "the failed start left no config.yaml" sh -c "! [ -e '$T/f/config.yaml' ]"
mkdir -p "$T/g" && sed 's/units: 512/units: 64/' "$CFG" >"$T/g/config.yaml"
train --train-dir "$T/g" --config "$CFG" --steps 10 >"$T/g.out" 2>&1
check "a config.yaml without a committed checkpoint is replaced, and train says so" sh -c "
  grep -q 'has no committed checkpoint, so its config.yaml is replaced by $CFG' '$T/g.out' &&
  grep -q 'units: 512' '$T/g/config.yaml' && test -f '$T/g/ckpt-00000010.h5'"
check "the corrected config trains" train --train-dir "$T/f" --config "$CFG" --quiet --steps 10

# ---- one-shot eval: -v, the step list ----------------------------------------------------------
expect_fail "a step not in the manifest names the steps there are" 1 "no checkpoint at step 4000 in checkpoints.yaml \(its steps: 100, 200, 300, 400, 500\)" \
  "$BIN/eval" --train-dir "$R" --ckpt 4000
"$BIN/eval" --train-dir "$R" --num-examples 500 -v >"$T/v.out" 2>&1
check "eval -v prints per-class precision, recall and F1" sh -c "
  grep -q '^class   precision  recall     f1' '$T/v.out' && [ \$(grep -cE '^[0-9] +[0-9.]+ +[0-9.]+ +[0-9.]+$' '$T/v.out') -eq 10 ]"
check "eval -v prints the confusion matrix, 500 examples in all" /usr/bin/python3 -c "
lines = open('$T/v.out').read().split('confusion (rows: true class, columns: predicted)')[1].split('\n')[2:12]
rows = [[int(x) for x in l.split()[1:]] for l in lines]
assert len(rows) == 10 and all(len(r) == 10 for r in rows), rows
assert sum(map(sum, rows)) == 500
"
check "eval --json -v adds per_class and confusion" sh -c "
  '$BIN/eval' --train-dir '$R' --num-examples 500 --json -v | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
assert len(o[\"per_class\"]) == 10 and len(o[\"confusion\"]) == 10, o
assert sum(map(sum, o[\"confusion\"])) == 500 and o[\"top5\"] > 0'"
if command -v bash >/dev/null 2>&1; then
  check "completion: eval --train-dir RUN --ckpt offers latest and the run's steps" sh -c "
    PROG=eval bash '$T/complete.sh' '$ROOT/completion/trainval-eval' trainval-eval --train-dir '$R' --ckpt '' >'$T/ck.out' &&
    grep -qx latest '$T/ck.out' && grep -qx 500 '$T/ck.out' && grep -qx 100 '$T/ck.out'"
else
  echo "skip - completion of --ckpt (bash is not installed)"
fi
expect_fail "eval --ckpt DIR: a directory is not a checkpoint, --train-dir is suggested" 1 \
  "^eval: $R is a directory, not a checkpoint file \(for a run's newest checkpoint: --train-dir $R\)" \
  "$BIN/eval" --ckpt "$R"

# ---- 5 classes or fewer: no top-5 -------------------------------------------------------------
mkdir -p "$T/five"
/usr/bin/python3 - "$DATA" "$T/five" <<'PY'
import gzip, struct, sys, os
import numpy as np
src, dst = sys.argv[1:]
def read(stem):
    p = os.path.join(src, stem)
    f = gzip.open(p + ".gz") if os.path.exists(p + ".gz") else open(p, "rb")
    return f.read()
for images, labels in (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                       ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
    x, y = read(images), read(labels)
    n = struct.unpack(">I", y[4:8])[0]
    lab = np.frombuffer(y, np.uint8, n, 8)
    img = np.frombuffer(x, np.uint8, n * 784, 16).reshape(n, 784)
    keep = np.nonzero(lab < 3)[0][:3000]
    open(os.path.join(dst, labels), "wb").write(struct.pack(">II", 2049, len(keep)) + lab[keep].tobytes())
    open(os.path.join(dst, images), "wb").write(struct.pack(">IIII", 2051, len(keep), 28, 28) + img[keep].tobytes())
PY
sed -e 's/num_classes: 10/num_classes: 3/' -e 's/units: 10}/units: 3}/' "$CFG" >"$T/three.yaml"
check "a 3-class run" train --train-dir "$T/three" --config "$T/three.yaml" --set data.dir="$T/five" --steps 20 --quiet
"$BIN/eval" --train-dir "$T/three" >"$T/three.out" 2>&1
check "3 classes: the table reports no top5" sh -c "grep -q '^accuracy' '$T/three.out' && ! grep -q top5 '$T/three.out'"
check "3 classes: --json has top5 null" sh -c "
  '$BIN/eval' --train-dir '$T/three' --json | /usr/bin/python3 -c '
import json, sys; o = json.load(sys.stdin); assert \"top5\" in o and o[\"top5\"] is None, o'"
"$BIN/eval" --watch "$T/three" --timeout 30 >"$T/three-watch.out" 2>&1
check "3 classes: the watch line reports no top5" sh -c "
  grep -q '^eval: step 20  loss .* accuracy .* macro_f1' '$T/three-watch.out' && ! grep -q top5 '$T/three-watch.out'"
