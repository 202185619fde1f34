#!/bin/sh
# CSV and NumPy files through the real binaries, written here by Python's csv module and
# numpy.save: a classification CSV (header, quoted string class labels, CRLF, features on very
# different scales) trained with data.standardize, whose stored mean and std are numpy's over the
# training file and whose test accuracy eval computes as numpy does from the checkpoint; a
# gzip'd copy reads the same; a regression from .npy files; the errors name file:line:col.
. "$(dirname "$0")/lib.sh"
if ! /usr/bin/python3 -c 'import numpy, h5py' 2>/dev/null; then
  skip "csv and npy end to end" "python3-numpy or python3-h5py not installed"
  exit 0
fi
train() { "$BIN/train" --quiet "$@"; }
mkdir -p "$T/d" "$T/bad"
/usr/bin/python3 - "$T" <<'PY'
import csv, gzip, sys, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(3)
names = ["setosa, small", 'vir"ginica', "versicolor"]
scale = np.array([1, 100, 0.01, 1000, 5])
def table(n):
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 5)) + y[:, None] * np.array([1.5, -1.0, 2.0, 0.5, 1.0])) * scale
    return x, y
for split, n in (("train", 300), ("test", 150)):
    x, y = table(n)
    with open(f"{t}/d/{split}.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["id", "a", "b", "c", "d", "e", "kind"])
        for i in range(n):
            w.writerow([i] + [repr(float(v)) for v in x[i]] + [names[y[i]]])
    np.save(f"{t}/d/{split}_x.npy", x.astype(">f8"))
    np.save(f"{t}/d/{split}_y.npy", (x @ np.array([1, 0.01, 100, 0.001, 0.2]))[:, None].astype("<f4"))
open(f"{t}/d/train.csv.gz", "wb").write(gzip.compress(open(f"{t}/d/train.csv", "rb").read()))
open(f"{t}/bad/train.csv", "w").write("id,a,b,c,d,e,kind\n1,2,3,4,5,6,x\n2,3,oops,5,6,7,y\n")
PY
{
  mlp_model "5, 1, 1" 3 32
  cat <<EOF
data:
  format: csv
  dir: $T/d
  train_images: train.csv
  train_labels: ""
  test_images: test.csv
  test_labels: ""
  features: "a, b, 3-5"
  target: kind
  scale: 1
  standardize: true
  valid_fraction: 0
train: {batch_size: 32, steps: 300, checkpoint_every: 300}
optimizer: {learning_rate: 0.01}
EOF
} >"$T/csv.yaml"
check "csv with standardize trains" train --train-dir "$T/run" --config "$T/csv.yaml"
check "the checkpoint's /data/standardize is numpy's mean and population std of the training file" \
  /usr/bin/python3 - "$T/run/ckpt-00000300.h5" "$T/d/train.csv" <<'PY'
import csv, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
rows = list(csv.reader(open(sys.argv[2], newline="")))[1:]
x = np.array([[float(v) for v in r[1:6]] for r in rows])
m, s = f["data/standardize/mean"][()], f["data/standardize/std"][()]
assert np.allclose(m, x.mean(0), rtol=1e-5, atol=1e-6 * np.abs(x).max()), (m, x.mean(0))
assert np.allclose(s, x.std(0), rtol=1e-5), (s, x.std(0))
PY
check "eval's test accuracy is numpy's on the checkpoint with the stored standardisation, above 0.8" sh -c "
  '$BIN/eval' --train-dir '$T/run' --ckpt latest --split test --json >'$T/ev.json' &&
  /usr/bin/python3 - '$T/run/ckpt-00000300.h5' '$T/d/test.csv' '$T/ev.json' <<'PY'
import csv, json, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], 'r')
rows = list(csv.reader(open(sys.argv[2], newline='')))[1:]
x = np.array([[float(v) for v in r[1:6]] for r in rows])
names = sorted({r[6] for r in rows})
y = np.array([names.index(r[6]) for r in rows])
z = (x - f['data/standardize/mean'][()]) / f['data/standardize/std'][()]
v = f['variables']
h = np.maximum(z @ v['dense_1/kernel'][()].T + v['dense_1/bias'][()], 0)
acc = np.mean((h @ v['dense_2/kernel'][()].T + v['dense_2/bias'][()]).argmax(1) == y)
o = json.load(open(sys.argv[3]))
assert abs(o['accuracy'] - acc) < 1e-6, (o['accuracy'], acc)
assert acc > 0.8, acc
PY"
check "eval -v names each class by its label, in sorted order (CSV quoting undone)" sh -c "
  '$BIN/eval' --train-dir '$T/run' --ckpt latest --split test -v --json >'$T/names.json' &&
  '$BIN/eval' --train-dir '$T/run' --ckpt latest --split test -v >'$T/names.txt' &&
  grep -q 'vir\"ginica\$' '$T/names.txt' &&
  /usr/bin/python3 - '$T/names.json' <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
assert [c['name'] for c in o['per_class']] == ['setosa, small', 'versicolor', 'vir\"ginica'], o['per_class']
PY"
check "a gzip'd CSV trains to the same checkpoint variables" sh -c "
  '$BIN/train' --quiet --train-dir '$T/gz' --config '$T/csv.yaml' --set data.train_images=train.csv.gz &&
  /usr/bin/python3 -c '
import sys, h5py, numpy as np
a, b = (h5py.File(p, \"r\")[\"variables\"] for p in sys.argv[1:3])
for n in (\"dense_1/kernel\", \"dense_2/bias\"): assert np.array_equal(a[n][()], b[n][()]), n
' '$T/run/ckpt-00000300.h5' '$T/gz/ckpt-00000300.h5'"
check "resuming a standardized run continues (the fit is the same)" \
  train --train-dir "$T/run" --config "$T/csv.yaml" --steps 330
expect_fail "a non-numeric field names file:line:col and the column" 1 \
  "bad/train.csv:3:5: column \"b\": \"oops\" is not a finite number" \
  train --train-dir "$T/bad1" --config "$T/csv.yaml" --set data.dir="$T/bad"
expect_fail "an unknown column names the file and lists the header" 1 \
  "d/train.csv: feature column \"zz\" is not in the file \(id, a, b, c, d, e, kind\)" \
  train --train-dir "$T/bad2" --config "$T/csv.yaml" --set data.features=zz
expect_fail "a delimiter of two bytes is a config error" 1 "data.delimiter: must be one byte" \
  train --train-dir "$T/bad3" --config "$T/csv.yaml" --set data.delimiter=ab

{
  mlp_model "5, 1, 1" 1 32 regression
  cat <<EOF
data:
  format: npy
  dir: $T/d
  train_images: train_x.npy
  train_labels: train_y.npy
  test_images: test_x.npy
  test_labels: test_y.npy
  scale: 1
  standardize: true
train: {batch_size: 32, steps: 400, checkpoint_every: 400}
optimizer: {learning_rate: 0.01}
EOF
} >"$T/npy.yaml"
check "a regression from .npy files (big-endian float64 features) trains to test r2 above 0.9" sh -c "
  '$BIN/train' --quiet --train-dir '$T/npyrun' --config '$T/npy.yaml' &&
  '$BIN/eval' --train-dir '$T/npyrun' --ckpt latest --split test --json |
  /usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); assert o[\"r2\"] > 0.9, o'"
check "the failed runs left no checkpoint" sh -c "! ls '$T'/bad*/ckpt-*.h5 2>/dev/null"

# The shipped configs of scikit-learn's bundled datasets read their files and train.
SK=/usr/lib/python3/dist-packages/sklearn/datasets/data
if [ -f "$SK/iris.csv" ]; then
  for c in iris wine breast_cancer digits diabetes; do
    check "configs/${c}_mlp.yaml trains 20 steps on scikit-learn's file and evaluates its valid split" sh -c "
      '$BIN/train' --quiet --train-dir '$T/sk-$c' --config '$ROOT/configs/${c}_mlp.yaml' --steps 20 &&
      '$BIN/eval' --train-dir '$T/sk-$c' --ckpt latest --split valid --json >/dev/null"
    check "configs/${c}_mlp.yaml leaves data.scale out: its run states auto's 1 for CSV" \
      sh -c "! grep -q '^ *scale:' '$ROOT/configs/${c}_mlp.yaml' && grep -q '^  scale: 1.0 ' '$T/sk-$c/config.yaml'"
  done
else
  skip "the scikit-learn dataset configs train" "python3-sklearn not installed"
fi
