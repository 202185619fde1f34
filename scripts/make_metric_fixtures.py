#!/usr/bin/python3
"""make_metric_fixtures.py — numpy reference values for the regression and multilabel metrics
(tests/test_metrics.c).

Usage: /usr/bin/python3 scripts/make_metric_fixtures.py [DIR]
       (default tests/fixtures: writes reference_regression.txt and reference_multilabel.txt)
Needs numpy only; the C test reads only the text files.

reference_regression.txt:

N rows of K = 3 float32 targets and predictions; target 1 sits near 1000 with a spread of about
1 (R^2 there measures whether the spread is accumulated without cancellation), target 2 is
predicted worse than its mean (negative R^2).  Computed in float64 with scikit-learn's
definitions, multioutput='uniform_average' (each target's value, then the plain mean):
  mae  = mean_j mean_i |p - y|            mean_absolute_error
  rmse = mean_j sqrt(mean_i (p - y)^2)    root_mean_squared_error
  r2   = mean_j 1 - SSE_j / SST_j         r2_score
  mse  = mean over all elements (p - y)^2
File format (text, version 1): '#' comments; every other line is <name> <count> <values, %.17g>.
Names: shape (N, K), pred, y, mae, rmse, r2, mse.

reference_multilabel.txt: N rows of K = 4 logits (rounded to 0.5, so many scores tie) and 0/1
targets (label 3 never positive: it counts in the F1s, not in mAP); threshold 0.5 (logit > 0).
scikit-learn's definitions, zero_division=0: precision/recall/f1 per label, micro_f1, macro_f1,
and map = the mean over labels with a positive of average_precision_score, computed here the way
scikit-learn's precision_recall_curve does (distinct scores highest first, ties one step).
Names: shape, logits, targets, precision, recall, f1 (K each), micro_f1, macro_f1, map, and
threshold.
"""
import sys

import numpy as np

N, K = 53, 3


def write(path, rec):
    with open(path, "w") as f:
        f.write("# %s — written by scripts/make_metric_fixtures.py (numpy %s,\n"
                "# float64); do not edit.  Format: see the script's docstring.  Version 1.\n"
                % (path.rsplit("/", 1)[-1], np.__version__))
        for name, v in rec:
            f.write("%s %d %s\n" % (name, len(v), " ".join("%.17g" % x for x in v)))


def average_precision(t, s):
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    last = np.r_[np.where(np.diff(s))[0], len(s) - 1]  # the last index of each distinct score
    tps = np.cumsum(t)[last]
    fps = (last + 1) - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return np.sum(np.diff(np.r_[0, recall]) * precision)


def multilabel(path):
    n, k = 61, 4
    rng = np.random.default_rng(1011)
    t = (rng.uniform(0, 1, (n, k)) < [0.3, 0.5, 0.1, 0.0]).astype(np.float64)
    z = np.round((rng.normal(0, 1.5, (n, k)) + 1.5 * (2 * t - 1)) * 2) / 2
    pred = z > 0
    tp = np.sum(pred & (t > 0.5), 0)
    fp = np.sum(pred & (t < 0.5), 0)
    fn = np.sum(~pred & (t > 0.5), 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.nan_to_num(tp / (tp + fp))
        r = np.nan_to_num(tp / (tp + fn))
        f1 = np.nan_to_num(2 * p * r / (p + r))
    micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum())
    aps = [average_precision(t[:, j], z[:, j]) for j in range(k) if t[:, j].sum() > 0]
    write(path, [("shape", [n, k]), ("threshold", [0.5]), ("logits", z.ravel()),
                 ("targets", t.ravel()), ("precision", p), ("recall", r), ("f1", f1),
                 ("micro_f1", [micro]), ("macro_f1", [f1.mean()]), ("map", [np.mean(aps)])])


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    out = outdir + "/reference_regression.txt"
    rng = np.random.default_rng(1010)
    y = np.stack([rng.normal(0, 3, N), 1000 + rng.normal(0, 1, N), rng.normal(5, 2, N)], 1)
    p = y + np.stack([rng.normal(0, 1, N), rng.normal(0, 0.3, N), rng.normal(0, 4, N)], 1)
    y = y.astype(np.float32).astype(np.float64)
    p = p.astype(np.float32).astype(np.float64)
    d = p - y
    mae = np.mean(np.mean(np.abs(d), 0))
    rmse = np.mean(np.sqrt(np.mean(d * d, 0)))
    sst = np.sum((y - y.mean(0)) ** 2, 0)
    r2 = np.mean(1 - np.sum(d * d, 0) / sst)
    mse = np.mean(d * d)
    rec = [("shape", [N, K]), ("pred", p.ravel()), ("y", y.ravel()), ("mae", [mae]),
           ("rmse", [rmse]), ("r2", [r2]), ("mse", [mse])]
    write(out, rec)
    multilabel(outdir + "/reference_multilabel.txt")


if __name__ == "__main__":
    main()
