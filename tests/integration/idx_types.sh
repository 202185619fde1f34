#!/bin/sh
# IDX element types through the real binaries: a float32 copy of Fashion-MNIST (the same pixel
# values, element type 0x0D, data.scale 1/255 stated) trains to bitwise the same checkpoint as the
# uint8 files, since the loader's table and its float path evaluate one expression; int16 labels
# read as class ids; a float targets file given to a classifier is a one-line error naming the
# file.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
train() { "$BIN/train" --quiet "$@"; }
if [ ! -f "$DATA/train-images-idx3-ubyte.gz" ]; then
  skip "float32 IDX trains like uint8" "dataset-fashion-mnist not installed"
  exit 0
fi
if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  skip "float32 IDX trains like uint8" "python3-numpy not installed"
  exit 0
fi
mkdir -p "$T/f32" "$T/bad"
/usr/bin/python3 - "$DATA" "$T/f32" "$T/bad" <<'PY'
import gzip, sys, numpy as np
src, dst, bad = sys.argv[1:4]
def read(name):
    b = gzip.open(f"{src}/{name}.gz").read()
    nd = b[3]
    dims = np.frombuffer(b, ">u4", nd, 4)
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)
def write(path, a, code):
    dt = {0x0B: ">i2", 0x0D: ">f4"}[code]
    with open(path, "wb") as f:
        f.write(bytes([0, 0, code, a.ndim]) + np.array(a.shape, ">u4").tobytes())
        f.write(a.astype(dt).tobytes())
for s in ("train", "t10k"):
    write(f"{dst}/{s}-images-idx3-ubyte", read(f"{s}-images-idx3-ubyte"), 0x0D)
    write(f"{dst}/{s}-labels-idx1-ubyte", read(f"{s}-labels-idx1-ubyte"), 0x0B)
    write(f"{bad}/{s}-labels-idx1-ubyte", read(f"{s}-labels-idx1-ubyte"), 0x0D)
PY
cp "$DATA"/*images* "$T/bad/"
ARGS="--steps 30 --set train.checkpoint_every=30 --set train.batch_size=64"
check "uint8 reference run" train --train-dir "$T/u8" --config "$CFG" $ARGS
# data.scale auto is 1 for float data: the float copy of the 0-255 pixels states the uint8 run's 1/255.
check "float32 images, int16 labels run" train --train-dir "$T/f32run" --config "$CFG" $ARGS --set data.dir="$T/f32" \
  --set data.scale=0.00392156862745098
check "float32 IDX trains to bitwise the uint8 run's variables" /usr/bin/python3 - "$T/u8/ckpt-00000030.h5" "$T/f32run/ckpt-00000030.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
a["variables"].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert names, "no variables under /variables"
for n in names:
    assert np.array_equal(a["variables"][n][()], b["variables"][n][()]), n
PY
expect_fail "float targets for a classifier name the labels file" 1 "bad/train-labels-idx1-ubyte: .*float targets" train --train-dir "$T/badrun" --config "$CFG" $ARGS --set data.dir="$T/bad"
check "the failed run left no checkpoint" sh -c "! ls '$T/badrun'/ckpt-*.h5 2>/dev/null"
