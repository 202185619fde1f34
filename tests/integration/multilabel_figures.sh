#!/bin/sh
# A multilabel model's TensorBoard figures: eval --watch writes one PR curve per label (plugin
# pr_curves, [6, 101]) from the sigmoid of each label's logit, and each curve is the one numpy
# computes from the checkpoint's variables by TensorBoard's definition (summary.py: bucket
# floor(p * 100)); at threshold 0.5 its counts are metrics.jsonl's per-label recall and support;
# metrics.jsonl also holds micro_f1, macro_f1 (the mean of the per-label F1) and map; the files
# pass the independent checker; the run report shows the curves.
. "$(dirname "$0")/lib.sh"
need_numpy "multilabel figures"
mkdir -p "$T/d"
/usr/bin/python3 - "$T/d" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(11)
for s, n in (("train", 600), ("test", 240)):
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0.5, x[:, 3] * x[:, 4] > 0,
                  x[:, 5] > 1.0], 1)
    np.save(f"{d}/{s}_x.npy", x)
    np.save(f"{d}/{s}_y.npy", y)
PY
{
  mlp_model "6, 1, 1" 4 24 multilabel
  cat <<EOF
data:
  format: npy
  dir: $T/d
  train_images: train_x.npy
  train_labels: train_y.npy
  test_images: test_x.npy
  test_labels: test_y.npy
train: {batch_size: 32, steps: 200, checkpoint_every: 100, seed: 2}
optimizer: {learning_rate: 0.01}
EOF
} >"$T/c.yaml"
check "a multilabel model trains" "$BIN/train" --quiet --threads 1 --train-dir "$T/run" --config "$T/c.yaml"
check "eval --watch evaluates its checkpoints" "$BIN/eval" --watch "$T/run" --split test --threads 1
check "one PR curve per label per checkpoint, DT_FLOAT [6, 101], each numpy's from the checkpoint" \
  /usr/bin/python3 - "$ROOT/tests/integration" "$T/run" "$T/d" <<'PY'
import glob, json, sys
import h5py, numpy as np
sys.path.insert(0, sys.argv[1])
import events
run, d = sys.argv[2], sys.argv[3]
files = sorted(glob.glob(run + "/eval/events.out.tfevents.*"))
pr = [t for f in files for t in events.tensors(f) if t["plugin"] == "pr_curves"]
assert sorted((t["step"], t["tag"]) for t in pr) == \
    [(s, "pr_curve/%d" % j) for s in (100, 200) for j in range(4)], [(t["step"], t["tag"]) for t in pr]
jl = {l["step"]: l for l in map(json.loads, open(run + "/eval/metrics.jsonl"))}
x, y = np.load(d + "/test_x.npy"), np.load(d + "/test_y.npy")
T = 101
for t in pr:
    assert (t["data_class"], t["dtype"], t["dims"], t["content"]) == (2, 1, [6, T], bytes([8, 0, 0x10, T])), t
    j = int(t["tag"].split("/")[1])
    v = h5py.File("%s/ckpt-%08d.h5" % (run, t["step"]), "r")["variables"]
    h = np.maximum(x @ v["dense_1/kernel"][()].T + v["dense_1/bias"][()], 0)
    p = 1 / (1 + np.exp(-(h @ v["dense_2/kernel"][()].T + v["dense_2/bias"][()]).astype(np.float64)))
    b = np.floor(np.clip(p[:, j], 0, 1) * (T - 1)).astype(int)
    pos = y[:, j]
    tp = np.array([np.sum(pos & (b >= k)) for k in range(T)])
    fp = np.array([np.sum(~pos & (b >= k)) for k in range(T)])
    got = np.array(t["floats"]).reshape(6, T)
    # a score within float32 rounding of a bucket edge may land either side: one example at most
    assert np.abs(got[0] - tp).max() <= 1 and np.abs(got[1] - fp).max() <= 1, (j, got[0], tp)
    assert np.all(got[0] + got[3] == pos.sum()) and np.all(got[1] + got[2] == (~pos).sum()), j
    assert np.allclose(got[4], np.maximum(got[0], 1e-7) / np.maximum(got[0] + got[1], 1e-7), atol=1e-6)
    assert np.allclose(got[5], 1 - got[3] / np.maximum(got[0] + got[3], 1e-7), atol=1e-6)
    pl = jl[t["step"]]["per_label"]
    assert pl["support"][j] == pos.sum(), (pl, j)
    if pos.sum():  # the metrics' positive prediction is logit > 0, the curve's p >= 0.5
        assert abs(got[0][50] / pos.sum() - pl["recall"][j]) <= 1.0 / pos.sum() + 1e-6, (got[0][50], pl)
for s, l in jl.items():
    assert abs(np.mean(l["per_label"]["f1"]) - l["macro_f1"]) < 1e-5, l
    assert "micro_f1" in l and "map" in l and "confusion" not in l, l
PY
check "no confusion matrix or misclassified grid for a multilabel model" /usr/bin/python3 -c "
import glob, sys
sys.path.insert(0, '$ROOT/tests/integration')
import events
files = sorted(glob.glob('$T/run/eval/events.out.tfevents.*'))
assert not [i for f in files for i in events.images(f)]"
if [ -f "$CHECKERS/tfevents_check.py" ]; then
  check "the evaluator's event files pass the independent checker" /usr/bin/python3 \
    "$CHECKERS/tfevents_check.py" --strict --quiet "$T/run/eval"
else
  skip "the evaluator's event files pass the independent checker" "no $CHECKERS/tfevents_check.py"
fi
check "the run report draws the per-label PR curves" sh -c "
  '$BIN/report' '$T/run' --out '$T/r.html' &&
  for j in 0 1 2 3; do grep -q \"pr_curve/\$j\" '$T/r.html' || exit 1; done"
