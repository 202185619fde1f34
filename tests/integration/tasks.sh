#!/bin/sh
# model.task end to end on real IDX files of float32 features and float targets, written here by
# numpy: a regression (two targets, linear in eight features) and a multilabel task (three labels,
# each a threshold of a feature).  Each trains with in-process validation and early stopping on
# its own metric, is evaluated once and by eval --watch (metrics.jsonl, best.h5, TensorBoard), and
# eval's figures are checked against numpy computing the same model from the checkpoint's
# variables (tolerance 1e-4 relative: float32 forward passes summed in a different order).  The
# errors: a targets file of another width, class ids for a regression, a non-0/1 multilabel
# target, a loss or metric of another task.
. "$(dirname "$0")/lib.sh"
if ! /usr/bin/python3 -c 'import numpy, h5py' 2>/dev/null; then
  skip "model.task end to end" "python3-numpy or python3-h5py not installed"
  exit 0
fi
train() { "$BIN/train" --quiet "$@"; }
mkdir -p "$T/reg" "$T/ml" "$T/wide" "$T/ids" "$T/notbin"
/usr/bin/python3 - "$T" <<'PY'
import sys, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(5)
def write(path, a, code=0x0D):
    a = np.asarray(a, {0x0D: ">f4", 0x08: "u1"}[code])
    with open(path, "wb") as f:
        f.write(bytes([0, 0, code, a.ndim]) + np.array(a.shape, ">u4").tobytes())
        f.write(a.tobytes())
W = rng.normal(size=(8, 2))
for s, n in (("train", 800), ("t10k", 200)):
    X = rng.normal(size=(n, 8))
    write(f"{t}/reg/{s}-images-idx3-ubyte", X)
    write(f"{t}/reg/{s}-labels-idx1-ubyte", X @ W + 0.05 * rng.normal(size=(n, 2)))
    write(f"{t}/ml/{s}-images-idx3-ubyte", X)
    write(f"{t}/ml/{s}-labels-idx1-ubyte", np.stack([X[:, 0] > 0, X[:, 1] > 0.5, X[:, 2] + X[:, 3] > 0], 1))
    for d in ("wide", "ids", "notbin"):
        write(f"{t}/{d}/{s}-images-idx3-ubyte", X)
    write(f"{t}/wide/{s}-labels-idx1-ubyte", rng.normal(size=(n, 3)))
    write(f"{t}/ids/{s}-labels-idx1-ubyte", rng.integers(0, 2, n), 0x08)
    write(f"{t}/notbin/{s}-labels-idx1-ubyte", np.full((n, 3), 0.5))
PY
config() { # config FILE DIR TASK OUTPUTS EARLY_STOP_METRIC
  {
    mlp_model "8, 1, 1" "$4" 32 "$3"
    cat <<EOF
data: {dir: $2, scale: 1}
train:
  batch_size: 32
  steps: 300
  checkpoint_every: 100
  validate_every: 100
  validate_batches: 0
  early_stop_patience: 5
  early_stop_metric: $5
optimizer: {learning_rate: 0.01}
EOF
  } >"$1"
}
config "$T/reg.yaml" "$T/reg" regression 2 r2
config "$T/ml.yaml" "$T/ml" multilabel 3 map

# numpy's figures for checkpoint CKPT on the test files of DIR, compared with eval's --json line.
VERIFY='
import sys, json, h5py, numpy as np
task, ckpt, d, line, loss = sys.argv[1:6]
def idx(p):
    b = open(p, "rb").read()
    nd = b[3]
    return np.frombuffer(b, ">f4", offset=4 + 4 * nd).reshape(np.frombuffer(b, ">u4", nd, 4)).astype(np.float64)
X, Y = idx(d + "/t10k-images-idx3-ubyte"), idx(d + "/t10k-labels-idx1-ubyte")
Y = Y.reshape(len(X), -1)
v = h5py.File(ckpt, "r")["variables"]
h = np.maximum(X @ v["dense_1/kernel"][()].T + v["dense_1/bias"][()], 0)
z = h @ v["dense_2/kernel"][()].T + v["dense_2/bias"][()]
o = json.loads(line)
want = {}
if task == "regression":
    e = z - Y
    want["mae"] = np.mean(np.abs(e))
    want["rmse"] = np.mean(np.sqrt(np.mean(e * e, 0)))
    want["r2"] = np.mean(1 - np.sum(e * e, 0) / np.sum((Y - Y.mean(0)) ** 2, 0))
    a = np.abs(e)
    want["loss"] = {"mse": np.mean(e * e), "huber": np.mean(np.where(a < 1, 0.5 * e * e, a - 0.5)), "mae": np.mean(a)}[loss]
    assert "accuracy" not in o and "top5" not in o and "micro_f1" not in o, o
else:
    p, y = z > 0, Y > 0.5
    tp, fp, fn = (p & y).sum(0), (p & ~y).sum(0), (~p & y).sum(0)
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0)
    want["macro_f1"] = f1.mean()
    want["micro_f1"] = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())
    aps = []
    for j in range(Y.shape[1]):
        order = np.argsort(-z[:, j], kind="stable")
        hits = np.cumsum(y[order, j])
        prec = hits / np.arange(1, len(order) + 1)
        aps.append(np.sum(prec[y[order, j]]) / y[:, j].sum())
    want["map"] = np.mean(aps)
    want["loss"] = np.mean(np.maximum(z, 0) - z * Y + np.log1p(np.exp(-np.abs(z))))
    assert "accuracy" not in o and "r2" not in o, o
for k, w in want.items():
    assert abs(o[k] - w) <= 1e-4 * max(1, abs(w)), (k, o[k], w)
print(" ".join(f"{k} {o[k]:.4f}" for k in want))
'

check "regression trains" train --train-dir "$T/regrun" --config "$T/reg.yaml"
check "regression: eval's loss, mae, rmse and r2 are numpy's on the checkpoint" sh -c "
  line=\$('$BIN/eval' --train-dir '$T/regrun' --ckpt latest --split test --json) &&
  /usr/bin/python3 -c '$VERIFY' regression '$T/regrun/ckpt-00000300.h5' '$T/reg' \"\$line\" mse"
check "regression: test r2 above 0.95" sh -c "
  '$BIN/eval' --train-dir '$T/regrun' --ckpt latest --split test --json |
  /usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); assert o[\"r2\"] > 0.95, o'"
check "regression: the table names the task's metrics only" sh -c "
  '$BIN/eval' --train-dir '$T/regrun' --ckpt latest --split test >'$T/reg.table' &&
  grep -q '^r2 ' '$T/reg.table' && grep -q '^rmse ' '$T/reg.table' && ! grep -q accuracy '$T/reg.table'"
check "regression: validation events carry loss, mae, rmse, r2 (and no accuracy)" sh -c "
  /usr/bin/python3 '$ROOT/tests/integration/events.py' '$T/regrun/validation' >'$T/regval' &&
  for tag in loss mae rmse r2; do grep -q \"^300 \$tag \" '$T/regval' || exit 1; done &&
  ! grep -q ' accuracy ' '$T/regval'"
check "regression: train's summaries carry loss and r2" sh -c "
  /usr/bin/python3 '$ROOT/tests/integration/events.py' '$T/regrun' | grep -q '^100 r2 '"
check "regression: eval --watch follows r2 by default (from config.yaml), max" sh -c "
  '$BIN/eval' --watch '$T/regrun' --split test >/dev/null &&
  grep -q '^metric: r2' '$T/regrun/eval/state.yaml' && grep -q '^mode: max' '$T/regrun/eval/state.yaml' &&
  test -f '$T/regrun/eval/best.h5'"
check "regression: metrics.jsonl lines hold loss, mae, rmse, r2 and no per-class keys" sh -c "
  /usr/bin/python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l[\"step\"] for l in lines] == [100, 200, 300], lines
for l in lines:
    assert all(k in l for k in (\"loss\", \"mae\", \"rmse\", \"r2\")), l
    assert not any(k in l for k in (\"accuracy\", \"per_class\", \"confusion\")), l
' '$T/regrun/eval/metrics.jsonl'"
check "regression: eval events carry r2 at every checkpoint" sh -c "
  /usr/bin/python3 '$ROOT/tests/integration/events.py' '$T/regrun/eval' >'$T/regev' &&
  test \$(grep -c ' r2 ' '$T/regev') -eq 3"
check "regression: eval --watch --metric rmse --mode min picks the best by rmse" sh -c "
  '$BIN/eval' --watch '$T/regrun' --split test --name byrmse --metric rmse --mode min >/dev/null &&
  grep -q '^metric: rmse' '$T/regrun/byrmse/state.yaml' && grep -q '^mode: min' '$T/regrun/byrmse/state.yaml'"
expect_fail "regression: --metric accuracy does not apply" 1 "does not apply to model.task regression" \
  "$BIN/eval" --watch "$T/regrun" --split test --name acc --metric accuracy
check "regression with train.loss=huber trains; eval's loss is numpy's Huber" sh -c "
  '$BIN/train' --quiet --train-dir '$T/huber' --config '$T/reg.yaml' --set train.loss=huber --set train.steps=100 &&
  line=\$('$BIN/eval' --train-dir '$T/huber' --ckpt latest --split test --json) &&
  /usr/bin/python3 -c '$VERIFY' regression '$T/huber/ckpt-00000100.h5' '$T/reg' \"\$line\" huber"
check "regression with train.loss=mae trains; eval's loss is numpy's MAE" sh -c "
  '$BIN/train' --quiet --train-dir '$T/mae' --config '$T/reg.yaml' --set train.loss=mae --set train.steps=100 &&
  line=\$('$BIN/eval' --train-dir '$T/mae' --ckpt latest --split test --json) &&
  /usr/bin/python3 -c '$VERIFY' regression '$T/mae/ckpt-00000100.h5' '$T/reg' \"\$line\" mae"
check "regression: early stopping on r2 (patience 1, min_delta 1) stops at the second validation" sh -c "
  '$BIN/train' --train-dir '$T/early' --config '$T/reg.yaml' --set train.early_stop_patience=1 \
    --set train.early_stop_min_delta=1 >'$T/early.out' &&
  grep -q 'early stopping at step 200: validation r2' '$T/early.out'"

# Cross-process early stopping on r2: no later r2 beats the first by 1, so after the first result
# and one more the evaluator writes STOP and train ends early.
E=$T/early2
"$BIN/eval" --watch "$E" --split test --metric r2 --mode max --early-stop-patience 1 --min-delta 1 \
  --timeout 60 >"$T/e2.out" 2>&1 &
pe=$!
"$BIN/train" --train-dir "$E" --config "$T/reg.yaml" --steps 20000 --set train.checkpoint_every=20 \
  --set train.validate_every=0 --set train.max_to_keep=2 >"$T/t2.out" 2>&1
rct=$?
wait $pe
rce=$?
check "eval --watch --metric r2 --mode max --early-stop-patience 1 stops train early" sh -c "
  [ $rct -eq 0 ] && [ $rce -eq 0 ] && grep -q '^status: early_stopped' '$E/checkpoints.yaml' &&
  grep -q 'r2 has not improved' '$T/e2.out' && grep -q 'early stop requested at step' '$T/t2.out' &&
  last=\$(grep '^  - step:' '$E/checkpoints.yaml' | tail -1 | sed 's/.*: //') && [ \$last -lt 5000 ]"

check "multilabel trains" train --train-dir "$T/mlrun" --config "$T/ml.yaml"
check "multilabel: eval's loss, micro/macro F1 and mAP are numpy's on the checkpoint" sh -c "
  line=\$('$BIN/eval' --train-dir '$T/mlrun' --ckpt latest --split test --json) &&
  /usr/bin/python3 -c '$VERIFY' multilabel '$T/mlrun/ckpt-00000300.h5' '$T/ml' \"\$line\" -"
check "multilabel: test micro_f1 above 0.85" sh -c "
  '$BIN/eval' --train-dir '$T/mlrun' --ckpt latest --split test --json |
  /usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); assert o[\"micro_f1\"] > 0.85, o'"
check "multilabel: -v prints per-label precision, recall, F1 and support" sh -c "
  '$BIN/eval' --train-dir '$T/mlrun' --ckpt latest --split test --json -v |
  /usr/bin/python3 -c '
import json, sys
o = json.load(sys.stdin)
assert [r[\"label\"] for r in o[\"per_label\"]] == [0, 1, 2], o
assert abs(sum(r[\"f1\"] for r in o[\"per_label\"]) / 3 - o[\"macro_f1\"]) < 1e-5, o'"
check "multilabel: metrics.jsonl holds per_label and the default metric is micro_f1" sh -c "
  '$BIN/eval' --watch '$T/mlrun' --split test >/dev/null &&
  grep -q '^metric: micro_f1' '$T/mlrun/eval/state.yaml' &&
  /usr/bin/python3 -c '
import json, sys
l = [json.loads(x) for x in open(sys.argv[1])][-1]
assert len(l[\"per_label\"][\"f1\"]) == 3 and sum(l[\"per_label\"][\"support\"]) > 0, l
assert \"map\" in l and \"confusion\" not in l, l
' '$T/mlrun/eval/metrics.jsonl'"
check "multilabel: validation events carry map" sh -c "
  /usr/bin/python3 '$ROOT/tests/integration/events.py' '$T/mlrun/validation' | grep -q '^100 map '"

expect_fail "a targets file of another width names it and num_classes" 1 \
  "wide/train-labels-idx1-ubyte: 3 targets per example, but model.num_classes in .* is 2" \
  train --train-dir "$T/bad1" --config "$T/reg.yaml" --set data.dir="$T/wide"
expect_fail "class ids for a regression name the file" 1 \
  "ids/train-labels-idx1-ubyte: class ids, but model.task in .* is regression" \
  train --train-dir "$T/bad2" --config "$T/reg.yaml" --set data.dir="$T/ids"
expect_fail "a multilabel target other than 0/1 names the file and example" 1 \
  "notbin/train-labels-idx1-ubyte: example 0, label 0 is 0.5" \
  train --train-dir "$T/bad3" --config "$T/ml.yaml" --set data.dir="$T/notbin"
expect_fail "train.loss of another task is a config error" 1 \
  "train.loss: does not fit model.task regression" \
  train --train-dir "$T/bad4" --config "$T/reg.yaml" --set train.loss=softmax_cross_entropy
expect_fail "a metric of another task for early stopping is a config error" 1 \
  "train.early_stop_metric: accuracy does not apply to model.task regression" \
  train --train-dir "$T/bad5" --config "$T/reg.yaml" --set train.early_stop_metric=accuracy
expect_fail "one class is not a classification" 1 "model.num_classes: must be in \[2, 1000000\], got 1" \
  train --train-dir "$T/bad6" --config "$T/reg.yaml" --set model.task=classification --set model.num_classes=1
check "the failed runs left no checkpoint" sh -c "! ls '$T'/bad*/ckpt-*.h5 2>/dev/null"
