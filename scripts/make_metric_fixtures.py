#!/usr/bin/python3
"""make_metric_fixtures.py — numpy reference values for the regression metrics (tests/test_metrics.c).

Usage: /usr/bin/python3 scripts/make_metric_fixtures.py [OUT]
       (default tests/fixtures/reference_regression.txt)
Needs numpy only; the C test reads only the text file.

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
"""
import sys

import numpy as np

N, K = 53, 3


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/reference_regression.txt"
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
    with open(out, "w") as f:
        f.write("# reference_regression.txt — written by scripts/make_metric_fixtures.py (numpy %s,\n"
                "# float64); do not edit.  Format: see the script's docstring.  Version 1.\n"
                % np.__version__)
        for name, v in rec:
            f.write("%s %d %s\n" % (name, len(v), " ".join("%.17g" % x for x in v)))


if __name__ == "__main__":
    main()
