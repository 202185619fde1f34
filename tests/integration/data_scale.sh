#!/bin/sh
# data.scale auto (the default): 1/255 for uint8 data, 1 for float data, fixed by train as a
# number in config.yaml and every checkpoint.  The same examples as uint8 (C and Fortran order)
# and as float32 .npy files, each with the scale left out and stated, train to bitwise-equal
# variables; a resumed run keeps its number; a checkpoint whose config states no scale (as no
# train writes, but a file made otherwise may) evaluates as every version before auto did, with
# 1/255, unless eval is asked for auto.
. "$(dirname "$0")/lib.sh"
need_numpy "data.scale auto"
mkdir -p "$T/d"
/usr/bin/python3 - "$T/d" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(5)
x = rng.integers(0, 256, size=(240, 6)).astype(np.uint8)
y = ((x[:, 0].astype(int) + x[:, 3]) > 255).astype(np.int32)
np.save(f"{d}/u1.npy", x)
np.save(f"{d}/u1_F.npy", np.asfortranarray(x))
np.save(f"{d}/f4.npy", x.astype("<f4"))          # the same values as floats
np.save(f"{d}/f4_unit.npy", (x.astype(np.float32) * np.float32(1 / 255)))
np.save(f"{d}/y.npy", y)
PY
{
  mlp_model "6, 1, 1" 2 8
  cat <<EOF
data:
  format: npy
  dir: $T/d
  train_images: u1.npy
  train_labels: y.npy
  test_images: u1.npy
  test_labels: y.npy
train: {batch_size: 16, steps: 40, checkpoint_every: 20, seed: 3}
EOF
} >"$T/c.yaml"
train() { "$BIN/train" --quiet --threads 1 --config "$T/c.yaml" --train-dir "$@"; }
# same A B: the last checkpoints of runs A and B hold bitwise-equal variables.
same() {
  /usr/bin/python3 - "$T/$1/ckpt-00000040.h5" "$T/$2/ckpt-00000040.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["variables"] for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names
for n in names:
    assert np.array_equal(a[n][()], b[n][()]), n
PY
}
# states RUN NUMBER: config.yaml and the last checkpoint's config both say scale: NUMBER.
states() {
  grep -q "^  scale: $2 " "$T/$1/config.yaml" &&
    /usr/bin/python3 -c 'import sys,h5py; c=h5py.File(sys.argv[1],"r").attrs["config"]; c=c.decode() if isinstance(c,bytes) else c; sys.exit("\n  scale: %s " % sys.argv[2] not in c)' \
      "$T/$1/ckpt-00000040.h5" "$2"
}
check "uint8 .npy, scale left out, trains" train "$T/u1"
check "uint8 data: auto is stated as 1/255 in config.yaml and the checkpoint" states u1 0.00392156862745098
check "uint8 data with scale 1/255 written out trains" train "$T/u1x" --set data.scale=0.00392156862745098
check "uint8 data: auto gives the variables an explicit 1/255 gives" same u1 u1x
check "a Fortran-order uint8 .npy trains" train "$T/u1F" --set data.train_images=u1_F.npy
check "a Fortran-order uint8 .npy is uint8 data too (same variables)" same u1 u1F
check "float32 .npy of [0, 1] values, scale left out, trains" train "$T/f4u" --set data.train_images=f4_unit.npy
check "float data: auto is stated as 1.0" states f4u 1.0
check "float data with scale 1 written out trains" train "$T/f4x" --set data.train_images=f4_unit.npy --set data.scale=1
check "float data: auto gives the variables an explicit 1 gives" same f4u f4x
check "float32 .npy of 0-255 values with scale 1/255 stated trains" train "$T/f4s" \
  --set data.train_images=f4.npy --set data.scale=0.00392156862745098
check "a stated scale is kept as it is" states f4s 0.00392156862745098

# A resumed run whose new config leaves scale at auto keeps the run's number.
check "the float run with scale 1/255 resumes with a config that leaves scale out" sh -c "
  '$BIN/train' --threads 1 --config '$T/c.yaml' --set data.train_images=f4.npy \
    --train-dir '$T/f4s' --steps 60 >'$T/resume.log' 2>&1"
check "the resumed run keeps scale 1/255 and reports no changed setting" sh -c "
  grep -q '^  scale: 0.00392156862745098 ' '$T/f4s/config.yaml' && ! grep -q 'data.scale' '$T/resume.log'"

# A checkpoint whose config states no scale: read with 1/255, as before auto.
ev() { "$BIN/eval" --threads 1 --ckpt "$@" --split test --json; }
ev "$T/f4s/ckpt-00000040.h5" --set data.test_images=f4.npy >"$T/stated.json" 2>&1
check "a checkpoint without a scale line is made" /usr/bin/python3 \
  "$ROOT/tests/integration/craft_ckpt.py" "$T/f4s/ckpt-00000040.h5" "$T/implicit.h5" \
  "  scale: 0.00392156862745098" "  # (no scale)"
ev "$T/implicit.h5" --set data.test_images=f4.npy >"$T/implicit.json" 2>&1
ev "$T/implicit.h5" --set data.test_images=f4.npy --set data.scale=auto >"$T/auto.json" 2>&1
ev "$T/implicit.h5" --set data.test_images=f4.npy --set data.scale=1 >"$T/one.json" 2>&1
# metric FILE: loss and accuracy of an eval --json line.
metric() { /usr/bin/python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print(o["loss"], o["accuracy"])' "$1"; }
a=$(metric "$T/stated.json" 2>&1) b=$(metric "$T/implicit.json" 2>&1) c=$(metric "$T/auto.json" 2>&1) e=$(metric "$T/one.json" 2>&1)
if [ -n "$a" ] && [ "$a" = "$b" ]; then ok "no scale in a checkpoint's config is 1/255 (loss, accuracy: $a)"; else notok "no scale in a checkpoint's config is 1/255" "$a" "$b"; fi
if [ -n "$c" ] && [ "$c" = "$e" ] && [ "$c" != "$a" ]; then ok "eval --set data.scale=auto takes the float data's 1 ($c)"; else notok "eval --set data.scale=auto takes the float data's 1" "auto: $c" "1: $e" "1/255: $a"; fi
expect_fail "data.scale takes a number or auto" 1 "data.scale: expected a number or auto, got 'big'" \
  "$BIN/train" --config "$T/c.yaml" --train-dir "$T/bad" --set data.scale=big
