#!/bin/sh
# A CSV whose target is strings (scikit-learn's iris with the species named, written here from
# Debian's python3-sklearn copy): the class names go into the checkpoint (/data class_names, as
# for image folders), eval prints them per class and maps a test file's labels onto them by name
# (a file without one species, its rows in another order, read first_seen, scores as numpy does
# from the checkpoint; a species the model never saw is a one-line error), eval --predict writes
# them in its name column, and the evaluator's TensorBoard figures are labelled with them.
. "$(dirname "$0")/lib.sh"
IRIS=/usr/lib/python3/dist-packages/sklearn/datasets/data/iris.csv
need_numpy "csv class names"
if [ ! -f "$IRIS" ]; then
  skip "csv class names" "python3-sklearn not installed"
  exit 0
fi
mkdir -p "$T/d"
/usr/bin/python3 - "$IRIS" "$T/d" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
names = rows[0][2:]  # 150,4,setosa,versicolor,virginica
head = ["sepal length", "sepal width", "petal length", "petal width", "species"]
data = [r[:4] + [names[int(r[4])]] for r in rows[1:]]
def write(name, rs, header=True):
    with open(f"{sys.argv[2]}/{name}", "w", newline="") as f:
        w = csv.writer(f)
        if header:
            w.writerow(head)
        w.writerows(rs)
write("iris.csv", data)
# no setosa, virginica's rows first: first_seen order would number the classes differently
write("two.csv", sorted((r for r in data if r[4] != "setosa"), key=lambda r: r[4] != "virginica"))
write("alien.csv", [data[0][:4] + ["daisy"]])
write("new.csv", [r[:4] for r in data[::25]], header=False)
PY
{
  mlp_model "4, 1, 1" 3 16
  cat <<EOF
data:
  format: csv
  dir: $T/d
  train_images: iris.csv
  train_labels: ""
  test_images: iris.csv
  test_labels: ""
  target: species
  standardize: true
  valid_fraction: 0.2
train: {batch_size: 16, steps: 300, checkpoint_every: 150, seed: 1}
optimizer: {learning_rate: 0.01}
EOF
} >"$T/c.yaml"
CK=$T/run/ckpt-00000300.h5
check "a CSV with string labels trains" "$BIN/train" --quiet --threads 1 --train-dir "$T/run" --config "$T/c.yaml"
check "the checkpoint keeps the class names at /data class_names, sorted" /usr/bin/python3 -c '
import json, sys, h5py
a = h5py.File(sys.argv[1], "r")["data"].attrs["class_names"]
a = a.decode() if isinstance(a, bytes) else a
assert json.loads(a) == ["setosa", "versicolor", "virginica"], a' "$CK"
check "eval -v prints each class's name" sh -c "
  '$BIN/eval' --ckpt '$CK' --split test -v | grep -E '^2 .*  virginica\$' >/dev/null &&
  '$BIN/eval' --ckpt '$CK' --split test -v --json | /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
assert [c[\"name\"] for c in o[\"per_class\"]] == [\"setosa\", \"versicolor\", \"virginica\"], o'"
check "a test file without setosa, read first_seen, is scored on the model's ids (numpy's accuracy)" sh -c "
  '$BIN/eval' --ckpt '$CK' --split test --json -v --set data.test_images=two.csv \
    --set data.class_order=first_seen >'$T/two.json' &&
  /usr/bin/python3 - '$CK' '$T/d/two.csv' '$T/two.json' <<'PY'
import csv, json, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], 'r')
rows = list(csv.reader(open(sys.argv[2], newline='')))[1:]
x = np.array([[float(v) for v in r[:4]] for r in rows], dtype=np.float32)
y = np.array([['setosa', 'versicolor', 'virginica'].index(r[4]) for r in rows])
z = (x - f['data/standardize/mean'][()]) / f['data/standardize/std'][()]
v = f['variables']
h = np.maximum(z @ v['dense_1/kernel'][()].T + v['dense_1/bias'][()], 0)
acc = np.mean((h @ v['dense_2/kernel'][()].T + v['dense_2/bias'][()]).argmax(1) == y)
o = json.load(open(sys.argv[3]))
assert abs(o['accuracy'] - acc) < 1e-6 and acc > 0.8, (o['accuracy'], acc)
assert sum(o['confusion'][0]) == 0 and [c['name'] for c in o['per_class']][2] == 'virginica', o
PY"
expect_fail "a species the model never saw is a one-line error naming the file" 1 \
  "alien.csv \(the test split\): class \"daisy\" is not one of the model's 3 classes" \
  "$BIN/eval" --ckpt "$CK" --split test --set data.test_images=alien.csv
check "eval --predict on a CSV of features writes the class name beside the class" sh -c "
  '$BIN/eval' --ckpt '$CK' --predict '$T/d/new.csv' --out '$T/p.csv' --set data.header=false &&
  /usr/bin/python3 - '$T/p.csv' <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
names = ['setosa', 'versicolor', 'virginica']
assert len(rows) == 6, rows
assert all(r['name'] == names[int(r['class'])] for r in rows), rows
assert [r['name'] for r in rows][:2] == ['setosa', 'setosa'] and rows[-1]['name'] == 'virginica', rows
PY"
check "eval --watch writes its figures" "$BIN/eval" --watch "$T/run" --threads 1 --split test
check "the confusion matrix and the PR curves are labelled with the species" /usr/bin/python3 -c "
import glob, sys
sys.path.insert(0, '$ROOT/tests/integration')
import events
files = sorted(glob.glob('$T/run/eval/events.out.tfevents.*'))
ts = [t for f in files for t in events.tensors(f)]
ims = [i for f in files for i in events.images(f)]
tags = sorted(set(t['tag'] for t in ts if t['plugin'] == 'pr_curves'))
assert tags == ['pr_curve/0 setosa', 'pr_curve/1 versicolor', 'pr_curve/2 virginica'], tags
assert [i['step'] for i in ims if i['tag'] == 'confusion_matrix'] == [150, 300], ims
"
if [ -f "$CHECKERS/tfevents_check.py" ]; then
  check "the evaluator's event files pass the independent checker" /usr/bin/python3 \
    "$CHECKERS/tfevents_check.py" --strict --quiet "$T/run/eval"
else
  skip "the evaluator's event files pass the independent checker" "no $CHECKERS/tfevents_check.py"
fi
