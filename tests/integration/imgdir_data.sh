#!/bin/sh
# Image folders on real images: the first Fashion-MNIST test images written as PNG files by
# Pillow, one folder per class (named after the classes), evaluate an IDX-trained checkpoint to
# exactly the accuracy of the same IDX examples; a run trains on such a folder (grey PNGs and
# RGB JPEGs of another size, resized bilinearly); a damaged image ends the run with one line
# naming it.
. "$(dirname "$0")/lib.sh"
if [ ! -e "$DATA/t10k-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/t10k-images-idx3-ubyte" ]; then
  skip "image folders" "no Fashion-MNIST under $DATA"
  exit 0
fi
PY=/usr/bin/python3
if ! $PY -c 'import PIL, numpy' 2>/dev/null; then
  skip "image folders" "no Pillow/numpy for $PY"
  exit 0
fi
cat >"$T/write.py" <<'PY'
import gzip, os, sys
import numpy as np
from PIL import Image
src, out, n, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
names = ["0-tshirt", "1-trouser", "2-pullover", "3-dress", "4-coat", "5-sandal", "6-shirt",
         "7-sneaker", "8-bag", "9-boot"]
def idx(stem):
    p = os.path.join(src, stem)
    data = open(p, "rb").read() if os.path.exists(p) else gzip.open(p + ".gz").read()
    nd = data[3]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd)
x = idx("t10k-images-idx3-ubyte").reshape(-1, 28, 28)[:n]
y = idx("t10k-labels-idx1-ubyte")[:n]
for k in names:
    os.makedirs(os.path.join(out, k), exist_ok=True)
for i in range(n):
    im = Image.fromarray(x[i], "L")
    d = os.path.join(out, names[y[i]])
    if kind == "png":
        im.save(os.path.join(d, "%05d.png" % i))
    else:  # every other image an RGB JPEG of 32 x 32
        if i % 2:
            im.convert("RGB").resize((32, 32), Image.BILINEAR).save(os.path.join(d, "%05d.jpg" % i), quality=95)
        else:
            im.save(os.path.join(d, "%05d.png" % i))
PY
$PY "$T/write.py" "$DATA" "$T/png" 500 png >"$T/w.out" 2>&1 || notok "write PNG folders" "$(cat "$T/w.out")"
$PY "$T/write.py" "$DATA" "$T/mixed" 300 mixed >"$T/w.out" 2>&1 || notok "write mixed folders" "$(cat "$T/w.out")"
small_config "$T/cfg.yaml"
"$BIN/train" --quiet --threads 1 --train-dir "$T/run" --config "$T/cfg.yaml" --steps 30 \
  >"$T/t.out" 2>&1 || notok "train on the IDX files" "$(cat "$T/t.out")"
"$BIN/eval" --ckpt "$T/run/ckpt-00000030.h5" --num-examples 500 >"$T/idx.out" 2>&1
"$BIN/eval" --ckpt "$T/run/ckpt-00000030.h5" --set data.format=imgdir --data-dir "$T" \
  --set data.test_images=png >"$T/png.out" 2>&1
a=$(grep '^accuracy' "$T/idx.out")
check "the PNG folder evaluates to the IDX accuracy of the same 500 examples ($a)" \
  test -n "$a" -a "$(grep '^accuracy' "$T/png.out")" = "$a"
"$BIN/train" --quiet --threads 1 --train-dir "$T/img" --config "$T/cfg.yaml" --steps 20 \
  --set data.format=imgdir --set data.resize=bilinear --set data.dir="$T" \
  --set data.train_images=mixed --set data.test_images=png >"$T/ti.out" 2>&1
check "a run trains on a folder of grey PNGs and resized RGB JPEGs" test -s "$T/img/ckpt-00000020.h5"
"$BIN/eval" --ckpt "$T/img/ckpt-00000020.h5" >"$T/ei.out" 2>&1
check "its checkpoint evaluates on the PNG folder (500 examples)" grep -q "split        test (500 examples)" "$T/ei.out"
expect_fail "a JPEG of another size without data.resize is named" 1 "mixed/.*\\.jpg: image is 32 x 32" \
  "$BIN/eval" --ckpt "$T/run/ckpt-00000030.h5" --set data.format=imgdir --data-dir "$T" \
  --set data.test_images=mixed
f=$(ls "$T"/png/3-dress/*.png | head -1)
head -c 100 "$f" >"$T/cut" && mv "$T/cut" "$f"
expect_fail "a truncated PNG is one line naming it" 1 "$(basename "$f"): damaged PNG" \
  "$BIN/eval" --ckpt "$T/run/ckpt-00000030.h5" --set data.format=imgdir --data-dir "$T" \
  --set data.test_images=png
