#!/bin/sh
# Writes the seed corpora under tests/fuzz/corpus/<target>/ from real files: the example configs,
# and the manifest, checkpoints (with and without the user block), event file, evaluator state and
# metrics.jsonl of a real 4-step run of a small model (bin/train, bin/eval), and the first 16
# examples of Fashion-MNIST's test split as plain and gzip IDX; then make_seeds_data.sh (the data
# readers' seeds).  Run from the repository root after `make`; the result is committed, so the
# fuzz runs do not depend on this script.
set -eu
BIN=${BIN:-$(cd "$(dirname "$0")/../.." && pwd)/bin}
# ROOT, DATA, a temporary T removed at exit, and mlp_model.
. "$(dirname "$0")/../integration/lib.sh"
C=$ROOT/tests/fuzz/corpus
rm -rf "$C"
mkdir -p "$C/fuzz_config" "$C/fuzz_manifest" "$C/fuzz_evalstate" "$C/fuzz_evallog" \
  "$C/fuzz_events" "$C/fuzz_ckpt" "$C/fuzz_idx"
for f in "$ROOT"/configs/*.yaml; do cp "$f" "$C/fuzz_config/"; done
{
  mlp_model "1, 28, 28" 10 4
  cat <<'YAML'
data:
  dir: /usr/share/datasets/fashion-mnist
train:
  batch_size: 8
  summary_every: 1
  checkpoint_every: 2
optimizer:
  type: sgd
  learning_rate: 0.01
YAML
} >"$T/small.yaml"
cp "$T/small.yaml" "$C/fuzz_config/small.yaml"
"$BIN/train" -q --train-dir "$T/run" --config "$T/small.yaml" --steps 4 >/dev/null
"$BIN/eval" --watch "$T/run" --timeout 1 --num-examples 16 >/dev/null
cp "$T/run/checkpoints.yaml" "$C/fuzz_manifest/"
cp "$T/run/config.yaml" "$C/fuzz_config/effective.yaml"
cp "$T/run"/*/state.yaml "$C/fuzz_evalstate/"
cp "$T/run"/*/metrics.jsonl "$C/fuzz_evallog/"
/usr/bin/python3 - "$(ls "$T/run"/events.out.tfevents.* | head -1)" "$C/fuzz_events" <<'PY'
import os, struct, sys
src, out = sys.argv[1:3]
raw = open(src, "rb").read()
# fuzz_events.c's framing: byte 0 even = the file as is, odd = payloads it frames; bytes 1..2 the
# step to cut after (LE).
open(os.path.join(out, "raw"), "wb").write(b"\x00\x02\x00" + raw)
framed, at = b"\x01\x02\x00", 0
while at + 12 <= len(raw):
    n = struct.unpack("<Q", raw[at:at + 8])[0]
    if n < 256:
        framed += bytes([n]) + raw[at + 12:at + 12 + n]
    at += 16 + n
open(os.path.join(out, "framed"), "wb").write(framed)
PY
cp "$T/run/ckpt-00000002.h5" "$C/fuzz_ckpt/with-userblock.h5"
/usr/bin/python3 "$ROOT/tests/integration/craft_ckpt.py" "$T/run/ckpt-00000002.h5" \
  "$C/fuzz_ckpt/h5py.h5" 'units: 4' 'units: 4'
/usr/bin/python3 - "$DATA" "$C/fuzz_idx" <<'PY'
import gzip, os, struct, sys
data, out = sys.argv[1:3]
with gzip.open(os.path.join(data, "t10k-images-idx3-ubyte.gz")) as f:
    img = f.read(16 + 16 * 784)
with gzip.open(os.path.join(data, "t10k-labels-idx1-ubyte.gz")) as f:
    lab = f.read(8 + 16)
img = img[:4] + struct.pack(">I", 16) + img[8:]
lab = lab[:4] + struct.pack(">I", 16) + lab[8:]
def join(name, a, b):
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<H", len(a)) + a + b)
join("plain", img, lab)
join("gzip", gzip.compress(img, mtime=0), gzip.compress(lab, mtime=0))
join("mixed", gzip.compress(img, mtime=0), lab)
PY
sh "$ROOT/tests/fuzz/make_seeds_data.sh" >/dev/null
du -sh "$C"/* 
