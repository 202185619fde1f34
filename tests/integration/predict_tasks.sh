#!/bin/sh
# eval --predict for model.task regression (with data.standardize) and multilabel, on models
# trained from HDF5 files (inputs: HDF5, .npy, CSV): the rows against numpy's forward on the checkpoint's weights and its
# stored standardisation (h5py), in float64.  Tolerance: values within 1e-4 relative + 1e-4;
# probabilities within 2e-5; the labels above --threshold the same wherever no probability is
# within 1e-4 of it.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! $PY -c 'import h5py, numpy, yaml' 2>/dev/null; then
  skip "eval --predict (regression, multilabel)" "no h5py/numpy/yaml for $PY"
  exit 0
fi
cat >"$T/data.py" <<'PY'
import sys, h5py, numpy as np
r = np.random.default_rng(7)
x = r.normal(3.0, 2.0, (400, 6)).astype(np.float32)
w = r.normal(0, 1, (6, 2))
reg = (x @ w + 0.1 * r.normal(size=(400, 2))).astype(np.float32)
ml = (x[:, :3] > 3.0).astype(np.float32)
with h5py.File(sys.argv[1], "w") as f:
    f["x"] = x
    f["reg"] = reg
    f["ml"] = ml
    f["new"] = x[:57]
np.save(sys.argv[2], x[:57])
with open(sys.argv[2][:-4] + ".csv", "w") as f:
    f.write("a,b,c,d,e,f\n")
    for row in x[:57]:
        f.write(",".join("%.9g" % v for v in row) + "\n")
PY
$PY "$T/data.py" "$T/d.h5" "$T/new.npy" >"$T/d.out" 2>&1 || notok "write the data" "$(cat "$T/d.out")"
{
  mlp_model "6, 1, 1" 2 16 regression
  cat <<'YAML'
data:
  format: hdf5
  train_images: d.h5:/x
  train_labels: d.h5:/reg
  test_images: d.h5:/x
  test_labels: d.h5:/reg
  scale: 1
  standardize: true
train: {batch_size: 32, steps: 60, checkpoint_every: 60}
optimizer: {learning_rate: 0.01}
YAML
} >"$T/cfg.yaml"
"$BIN/train" --quiet --threads 1 --train-dir "$T/reg" --config "$T/cfg.yaml" --set data.dir="$T" \
  >"$T/t1.out" 2>&1 || notok "train a regression model on HDF5" "$(cat "$T/t1.out")"
sed -e 's/num_classes: 2/num_classes: 3/' -e 's/task: regression/task: multilabel/' \
  -e 's/units: 2}/units: 3}/' -e 's|d.h5:/reg|d.h5:/ml|g' -e 's/standardize: true/standardize: false/' \
  "$T/cfg.yaml" >"$T/ml.yaml"
"$BIN/train" --quiet --threads 1 --train-dir "$T/ml" --config "$T/ml.yaml" --set data.dir="$T" \
  >"$T/t2.out" 2>&1 || notok "train a multilabel model on HDF5" "$(cat "$T/t2.out")"
cat >"$T/ref.py" <<'PY'
import csv, json, sys
import h5py, numpy as np, yaml
ck, src, pred, kind, th = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
f = h5py.File(ck, "r")
cfg = yaml.safe_load(f.attrs["config"])
d = cfg.get("data", {})
h = (np.load(src).astype(np.float64) * float(d.get("scale", 1 / 255)) - float(d.get("mean", 0))) / float(d.get("std", 1))
if d.get("standardize"):
    h = (h - f["data/standardize/mean"][()].astype(np.float64)) / f["data/standardize/std"][()].astype(np.float64)
for layer in cfg["model"]["layers"]:
    if layer["type"] == "dense":
        v = f["variables"][layer["name"]]
        h = h @ v["kernel"][()].astype(np.float64).T + v["bias"][()].astype(np.float64)
    elif layer["type"] == "relu":
        h = np.maximum(h, 0)
rows = [json.loads(l) for l in open(pred)] if kind.endswith("json") else list(csv.DictReader(open(pred)))
assert len(rows) == len(h), (len(rows), len(h))
if kind.startswith("reg"):
    got = np.array([r["values"] if kind.endswith("json") else [float(r["value_%d" % j]) for j in range(h.shape[1])] for r in rows])
    err = np.abs(got - h) / (1e-4 * np.abs(h) + 1e-4)
    assert err.max() <= 1, (np.abs(got - h).max())
    print("values: largest difference %.2g" % np.abs(got - h).max())
else:
    p = 1 / (1 + np.exp(-h))
    for i, r in enumerate(rows):
        if kind.endswith("json"):
            q = np.array(r["probabilities"]); labels = [t["label"] for t in r["labels"]]
        else:
            q = np.array([float(r["probability_%d" % j]) for j in range(p.shape[1])])
            labels = [int(t) for t in r["labels"].split(";")] if r["labels"] else []
        assert np.abs(q - p[i]).max() <= 2e-5, (i, q, p[i])
        if np.abs(p[i] - th).min() > 1e-4:
            assert labels == [j for j in range(p.shape[1]) if p[i][j] > th], (i, labels, p[i])
    print("probabilities and labels agree")
PY
"$BIN/eval" --ckpt "$T/reg/ckpt-00000060.h5" --predict "$T/d.h5:/new" --out "$T/reg.csv"
check "regression values (standardised inputs) agree with numpy, CSV" \
  $PY "$T/ref.py" "$T/reg/ckpt-00000060.h5" "$T/new.npy" "$T/reg.csv" reg-csv 0.5
"$BIN/eval" --ckpt "$T/reg/ckpt-00000060.h5" --predict "$T/d.h5:/new" --json --out "$T/reg.jsonl"
check "regression values agree with numpy, JSON lines" \
  $PY "$T/ref.py" "$T/reg/ckpt-00000060.h5" "$T/new.npy" "$T/reg.jsonl" reg-json 0.5
"$BIN/eval" --ckpt "$T/ml/ckpt-00000060.h5" --predict "$T/d.h5:/new" --out "$T/ml.csv" --threshold 0.3
check "multilabel probabilities and labels above --threshold 0.3 agree with numpy, CSV" \
  $PY "$T/ref.py" "$T/ml/ckpt-00000060.h5" "$T/new.npy" "$T/ml.csv" ml-csv 0.3
"$BIN/eval" --ckpt "$T/ml/ckpt-00000060.h5" --predict "$T/d.h5:/new" --json --out "$T/ml.jsonl"
check "multilabel labels above the default 0.5 agree with numpy, JSON lines" \
  $PY "$T/ref.py" "$T/ml/ckpt-00000060.h5" "$T/new.npy" "$T/ml.jsonl" ml-json 0.5
expect_fail "--threshold outside (0, 1) is a usage error" 2 "--threshold: expected a probability" \
  "$BIN/eval" --ckpt "$T/ml/ckpt-00000060.h5" --predict "$T/d.h5:/new" --threshold 1.5
"$BIN/eval" --ckpt "$T/reg/ckpt-00000060.h5" --predict "$T/new.npy" --out "$T/reg-npy.csv"
check "a .npy file of the same rows gives the HDF5 input's predictions" cmp "$T/reg-npy.csv" "$T/reg.csv"
"$BIN/eval" --ckpt "$T/reg/ckpt-00000060.h5" --predict "$T/new.csv" --out "$T/reg-csv.csv"
check "a CSV file of the same rows (header, every column a feature) gives the same predictions" \
  cmp "$T/reg-csv.csv" "$T/reg.csv"
printf 'a,b\n1,2\n' >"$T/narrow.csv"
expect_fail "a CSV of too few columns is refused, naming it" 1 "narrow.csv: examples of 2 x 1 x 1 values" \
  "$BIN/eval" --ckpt "$T/reg/ckpt-00000060.h5" --predict "$T/narrow.csv"
# - reads stdin: a .npy (by its magic) or a CSV (plain or gzip), spooled to a temporary folder that
# is gone afterwards; messages name <stdin>.
mkdir -p "$T/tmp"
TMPDIR=$T/tmp "$BIN/eval" --ckpt "$T/reg/ckpt-00000060.h5" --predict - <"$T/new.npy" >"$T/reg-in-npy.csv"
check "a .npy on stdin gives the same predictions" cmp "$T/reg-in-npy.csv" "$T/reg.csv"
TMPDIR=$T/tmp "$BIN/eval" --ckpt "$T/reg/ckpt-00000060.h5" --predict - --out - <"$T/new.csv" >"$T/reg-in-csv.csv"
check "a CSV on stdin gives the same predictions" cmp "$T/reg-in-csv.csv" "$T/reg.csv"
gzip -c "$T/new.csv" | TMPDIR=$T/tmp "$BIN/eval" --ckpt "$T/reg/ckpt-00000060.h5" --predict - >"$T/reg-in-gz.csv"
check "a gzip'd CSV on stdin gives the same predictions" cmp "$T/reg-in-gz.csv" "$T/reg.csv"
check "the temporary folders of stdin are removed" sh -c "[ -z \"\$(ls -A '$T/tmp')\" ]"
printf 'a,b,c,d,e,f,g,h\n1,2,3,x,5,6,7,8\n' >"$T/badcell.csv"
expect_fail "a bad CSV field on stdin names <stdin>:line:col" 1 "^eval: <stdin>: not a PNG or JPEG image, a .npy or a CSV that reads \(<stdin>:2:7: column \"d\": \"x\" is not a finite number\)$" \
  sh -c "TMPDIR='$T/tmp' '$BIN/eval' --ckpt '$T/reg/ckpt-00000060.h5' --predict - <'$T/badcell.csv'"
