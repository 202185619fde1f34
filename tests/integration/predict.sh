#!/bin/sh
# eval --predict on each input kind (an HDF5 dataset of uint8 images and of float32 rows, a .npy
# file, a folder of PNGs, one PNG file, an image and an HDF5 file on stdin), CSV and JSON lines, checked
# against an independent forward pass: numpy on the checkpoint's weights read with h5py (the
# MLP's dense kernels [out, in] as PyTorch's, the checkpoint's own data.scale/mean/std), in
# float64.  Tolerance: every probability within 2e-5 of numpy's, the class the same wherever the
# two best differ by more than 1e-4.  A run on an image folder stores the class names, which
# predictions print.  Bad inputs are one line naming them; a failed prediction leaves --out as
# it was.
. "$(dirname "$0")/lib.sh"
if [ ! -e "$DATA/t10k-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/t10k-images-idx3-ubyte" ]; then
  skip "eval --predict" "no Fashion-MNIST under $DATA"
  exit 0
fi
PY=/usr/bin/python3
if ! $PY -c 'import h5py, numpy, yaml, PIL' 2>/dev/null; then
  skip "eval --predict" "no h5py/numpy/yaml/Pillow for $PY"
  exit 0
fi
cat >"$T/inputs.py" <<'PY'
import gzip, os, sys
import h5py, numpy as np
from PIL import Image
src, out = sys.argv[1], sys.argv[2]
names = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
def idx(stem):
    p = os.path.join(src, stem)
    data = open(p, "rb").read() if os.path.exists(p) else gzip.open(p + ".gz").read()
    return np.frombuffer(data, np.uint8, offset=4 + 4 * data[3])
x = idx("t10k-images-idx3-ubyte").reshape(-1, 28, 28)[:300]
y = idx("t10k-labels-idx1-ubyte")[:300]
with h5py.File(os.path.join(out, "in.h5"), "w") as f:
    f["u8"] = x[:130]
    f["f32"] = x[:130].reshape(130, 784).astype(np.float32)
    f["wrong"] = np.zeros((4, 10), np.float32)
os.makedirs(os.path.join(out, "pngs"))
for i in range(20):
    Image.fromarray(x[i]).save(os.path.join(out, "pngs", "img%02d.png" % i))
for i in range(300):  # a class-folder copy to train on, so the checkpoint holds names
    d = os.path.join(out, "train", names[y[i]])
    os.makedirs(d, exist_ok=True)
    Image.fromarray(x[i]).save(os.path.join(d, "%03d.png" % i))
np.save(os.path.join(out, "u8.npy"), x[:130])
PY
$PY "$T/inputs.py" "$DATA" "$T" >"$T/in.out" 2>&1 || notok "write the inputs" "$(cat "$T/in.out")"
cat >"$T/ref.py" <<'PY'
# ref.py CKPT ARRAY.npy|PNGDIR PREDICTIONS (csv|json) TOPK: numpy's forward against trainval's rows.
import csv, json, os, sys
import h5py, numpy as np, yaml
from PIL import Image
ck, src, pred, kind, topk = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
f = h5py.File(ck, "r")
cfg = yaml.safe_load(f.attrs["config"])
if os.path.isdir(src):
    x = np.stack([np.array(Image.open(os.path.join(src, n))) for n in sorted(os.listdir(src))])
else:
    x = np.load(src)
d = cfg.get("data", {})
h = (x.reshape(len(x), -1).astype(np.float64) * float(d.get("scale", 1 / 255)) - float(d.get("mean", 0))) / float(d.get("std", 1))
for layer in cfg["model"]["layers"]:
    if layer["type"] == "dense":
        v = f["variables"][layer["name"]]
        h = h @ v["kernel"][()].astype(np.float64).T + v["bias"][()].astype(np.float64)
    elif layer["type"] == "relu":
        h = np.maximum(h, 0)
    else:
        assert layer["type"] == "flatten", layer
p = np.exp(h - h.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)
rows = [json.loads(l) for l in open(pred)] if kind == "json" else list(csv.DictReader(open(pred)))
assert len(rows) == len(p), (len(rows), len(p))
worst = 0.0
for i, r in enumerate(rows):
    order = np.argsort(-p[i], kind="stable")
    if kind == "json":
        top = [(t["class"], t["probability"]) for t in r["top_k"]]
    else:
        top = [(int(r["class"]), float(r["probability"]))] + [
            (int(r["class_%d" % j]), float(r["probability_%d" % j])) for j in range(2, topk + 1)]
    assert len(top) == topk, (i, len(top))
    for c, q in top:
        worst = max(worst, abs(q - p[i][c]))
    if p[i][order[0]] - p[i][order[1]] > 1e-4:
        assert top[0][0] == order[0], (i, top[0], order[:2])
assert worst <= 2e-5, worst
print(len(rows), "rows, largest probability difference %.2g" % worst)
PY
small_config "$T/cfg.yaml"
"$BIN/train" --quiet --threads 1 --train-dir "$T/run" --config "$T/cfg.yaml" --steps 40 \
  >"$T/t.out" 2>&1 || notok "train a small run" "$(cat "$T/t.out")"
ck=$T/run/ckpt-00000040.h5
$PY -c "import numpy as np; np.save('$T/f32.npy', np.load('$T/u8.npy'))"
"$BIN/eval" --ckpt "$ck" --predict "$T/in.h5:/u8" --out "$T/u8.csv" --top-k 3 --batch-size 64
check "HDF5 uint8 images -> CSV (3 batches) agree with numpy" $PY "$T/ref.py" "$ck" "$T/u8.npy" "$T/u8.csv" csv 3
"$BIN/eval" --ckpt "$ck" --predict "$T/u8.npy" --out "$T/npy.csv" --top-k 3 --batch-size 64
check "the same images as a .npy file give the HDF5 rows" cmp "$T/npy.csv" "$T/u8.csv"
"$BIN/eval" --ckpt "$ck" --predict "$T/in.h5:/f32" --out "$T/f32.jsonl" --json
check "HDF5 float32 rows (N, 784) -> JSON lines agree with numpy" $PY "$T/ref.py" "$ck" "$T/u8.npy" "$T/f32.jsonl" json 5
"$BIN/eval" --ckpt "$ck" --predict "$T/pngs" --out "$T/pngs.csv" --top-k 10
check "a folder of PNGs agrees with numpy (every class ranked)" $PY "$T/ref.py" "$ck" "$T/pngs" "$T/pngs.csv" csv 10
check "each row names its image, in name order" sh -c "sed -n '2p;21p' '$T/pngs.csv' | cut -d, -f1,2 | tr '\n' ' ' | grep -qx '0,img00.png 19,img19.png '"
"$BIN/eval" --ckpt "$ck" --predict "$T/pngs/img03.png" --out - --top-k 2 >"$T/one.csv"
"$BIN/eval" --ckpt "$ck" --predict - --top-k 2 <"$T/pngs/img03.png" >"$T/stdin.csv"
mkdir -p "$T/one" && cp "$T/pngs/img03.png" "$T/one/"
check "one PNG file agrees with numpy" $PY "$T/ref.py" "$ck" "$T/one" "$T/one.csv" csv 2
check "the same PNG on stdin gives the same row" \
  test "$(sed -n 2p "$T/stdin.csv" | cut -d, -f3-)" = "$(sed -n 2p "$T/one.csv" | cut -d, -f3-)"
"$BIN/eval" --ckpt "$ck" --predict -:/u8 --out "$T/stdin-h5.csv" --top-k 3 --batch-size 64 <"$T/in.h5"
check "an HDF5 file on stdin gives the file's rows" cmp "$T/stdin-h5.csv" "$T/u8.csv"
# A run on an image folder keeps the folder names; predictions print them.
"$BIN/train" --quiet --threads 1 --train-dir "$T/named" --config "$T/cfg.yaml" --steps 10 \
  --set data.format=imgdir --set data.dir="$T" --set data.train_images=train \
  >"$T/tn.out" 2>&1 || notok "train on an image folder" "$(cat "$T/tn.out")"
"$BIN/eval" --ckpt "$T/named/ckpt-00000010.h5" --predict "$T/pngs" --json --top-k 10 >"$T/named.jsonl"
check "the class names of the training folders are in the predictions" $PY -c "
import json
names = ['bag', 'boot', 'coat', 'dress', 'pullover', 'sandal', 'shirt', 'sneaker', 'trouser', 'tshirt']
rows = [json.loads(l) for l in open('$T/named.jsonl')]
assert len(rows) == 20
for r in rows:
    assert r['name'] == names[r['class']], r
    assert sorted(t['name'] for t in r['top_k']) == names, r
"
# Mistakes.
echo "keep me" >"$T/kept.csv"
expect_fail "a dataset of another size is refused, naming it" 1 "in.h5:/wrong: examples of 10 x 1 x 1 values" \
  "$BIN/eval" --ckpt "$ck" --predict "$T/in.h5:/wrong" --out "$T/kept.csv"
check "... and the --out file is as it was" grep -qx "keep me" "$T/kept.csv"
expect_fail "an HDF5 file without a dataset says how to name one" 1 "in.h5:/DATASET" \
  "$BIN/eval" --ckpt "$ck" --predict "$T/in.h5" --out "$T/kept.csv"
expect_fail "a missing input is named" 1 "$T/absent.png" \
  "$BIN/eval" --ckpt "$ck" --predict "$T/absent.png"
head -c 200 "$T/pngs/img05.png" >"$T/pngs/img05.png.cut" && mv "$T/pngs/img05.png.cut" "$T/pngs/img05.png"
expect_fail "a damaged image in the folder is named" 1 "img05.png: damaged PNG" \
  "$BIN/eval" --ckpt "$ck" --predict "$T/pngs"
expect_fail "stdin that is no image says so" 1 "<stdin>: not a PNG or JPEG" \
  sh -c "echo hello | '$BIN/eval' --ckpt '$ck' --predict -"
expect_fail "--out without --predict is a usage error" 2 "--out needs --predict" \
  "$BIN/eval" --ckpt "$ck" --out "$T/x.csv"
expect_fail "--out into a missing folder is named" 1 "$T/nodir/p.csv" \
  "$BIN/eval" --ckpt "$ck" --predict "$T/in.h5:/u8" --out "$T/nodir/p.csv"
expect_fail "--out naming a directory is refused" 1 "$T/pngs: is a directory" \
  "$BIN/eval" --ckpt "$ck" --predict "$T/in.h5:/u8" --out "$T/pngs"
# An --out that is not a regular file is written in place, never renamed over: a FIFO stays a FIFO
# (as /dev/null must stay a device), and a symbolic link stays a link to the file it names.
mkfifo "$T/fifo"
timeout 60 cat "$T/fifo" >"$T/from-fifo.csv" &
reader=$!
"$BIN/eval" --ckpt "$ck" --predict "$T/in.h5:/u8" --out "$T/fifo" --top-k 3 --batch-size 64
wait "$reader" || true
check "--out into a FIFO writes the rows through it" cmp "$T/u8.csv" "$T/from-fifo.csv"
check "... and the FIFO is still a FIFO" test -p "$T/fifo"
echo "old" >"$T/target.csv"
ln -s target.csv "$T/link.csv"
"$BIN/eval" --ckpt "$ck" --predict "$T/in.h5:/u8" --out "$T/link.csv" --top-k 3 --batch-size 64
check "--out through a symbolic link replaces the file it names" cmp "$T/u8.csv" "$T/target.csv"
check "... and the link is still a link" test -L "$T/link.csv"
