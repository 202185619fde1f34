#!/usr/bin/python3
"""accuracy_tabular.py — scikit-learn's bundled datasets, trained by trainval and by
scikit-learn's MLPClassifier / MLPRegressor on the same split, in the same run.

Usage: /usr/bin/python3 scripts/accuracy_tabular.py [CONFIG...]
       (default: configs/{iris,wine,breast_cancer,digits,diabetes}_mlp.yaml; run from the
       repository root after make; part of make accuracy)

For each config: ./bin/train trains it into runs/accuracy-<name>/ and ./bin/eval reports the
final checkpoint on the "valid" split (accuracy; R^2 for regression).  The same split is rebuilt
here from the config (data.valid_fraction, data.split_seed) by the algorithm data.h documents for
tv_dataset_split: a permutation of 0..n-1 drawn with xoshiro256** seeded by splitmix64 from
(split_seed, stream TV_RNG_SPLIT = 5), Fisher-Yates as tv_rng_shuffle, its first
round(n * valid_fraction) entries held out.  The rebuild is checked against the run itself: the
checkpoint's /data/standardize/mean (fitted by trainval on its training rows) must equal the
mean of the rows rebuilt here (relative 1e-5), or the row says "split MISMATCH".
scikit-learn then fits StandardScaler + MLP (one hidden layer of 64 ReLU units, adam, the
config's learning rate and batch size, max_iter 2000, random_state 0) on the training rows and
scores the held-out rows.  It reports figures and never fails on them.
"""
import csv
import gzip
import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import yaml

M64 = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


class Rng:
    """tv_rng (common/base/rng.c): xoshiro256**, splitmix64 seeding."""

    def __init__(self, seed, stream):
        x = (seed ^ ((stream * 0xD1342543DE82EF95) & M64)) & M64
        self.s = []
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)

    def u64(self):
        s = self.s
        rotl = lambda v, k: ((v << k) | (v >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        limit = M64 - (M64 % n)
        while True:
            x = self.u64()
            if x < limit:
                return x % n


def split(n, fraction, seed):
    perm = list(range(n))
    r = Rng(seed, 5)
    for i in range(n, 1, -1):
        j = r.below(i)
        perm[i - 1], perm[j] = perm[j], perm[i - 1]
    nv = int(np.floor(n * fraction + 0.5))
    valid = np.zeros(n, bool)
    valid[perm[:nv]] = True
    return ~valid, valid


def read_table(path, d):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    lines = raw.decode().splitlines()[d.get("skip_rows", 0):]
    rows = [r for r in csv.reader(lines, delimiter=d.get("delimiter", ",")) if r]
    if d.get("header", True):
        rows = rows[1:]
    return rows


def load(cfg):
    d = cfg["data"]
    rows = read_table(os.path.join(d["dir"], d["train_images"]), d)
    if d.get("train_labels"):
        x = np.array(rows, float)
        y = np.array(read_table(os.path.join(d["dir"], d["train_labels"]), d), float)[:, 0]
    else:
        x = np.array([r[:-1] for r in rows], float)
        y = np.array([r[-1] for r in rows], float)
    return x, y


def main(argv):
    configs = argv or [f"configs/{n}_mlp.yaml" for n in ("iris", "wine", "breast_cancer", "digits", "diabetes")]
    try:
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        import h5py
    except ImportError as e:
        print(f"accuracy_tabular: skipped ({e}; scripts/setup.sh installs python3-sklearn)")
        return 0
    os.makedirs("runs", exist_ok=True)
    print(f"{'config':<20} {'split':<16} {'metric':<9} {'trainval':>9} {'sklearn':>9}  seconds (trainval, sklearn)")
    for path in configs:
        name = os.path.basename(path)[:-5]
        cfg = yaml.safe_load(open(path))
        task = cfg["model"].get("task", "classification")
        d = cfg["data"]
        if not os.path.exists(os.path.join(d["dir"], d["train_images"])):
            print(f"{name:<20} skipped: {d['train_images']} not installed (python3-sklearn)")
            continue
        run = f"runs/accuracy-{name}"
        subprocess.run(["rm", "-rf", run], check=True)
        t0 = time.time()
        r = subprocess.run(["./bin/train", "--train-dir", run, "--config", path, "--quiet"], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name:<20} trainval failed: {r.stderr.strip()}")
            continue
        out = subprocess.run(["./bin/eval", "--train-dir", run, "--split", "valid", "--json"], capture_output=True, text=True)
        t1 = time.time()
        if out.returncode != 0:
            print(f"{name:<20} eval failed: {out.stderr.strip()}")
            continue
        res = json.loads(out.stdout)
        metric = "accuracy" if task == "classification" else "r2"
        x, y = load(cfg)
        tr, va = split(len(x), d.get("valid_fraction", 0.1), d.get("split_seed", 1))
        note = ""
        ckpt = res["checkpoint"]
        if d.get("standardize"):
            mean = h5py.File(ckpt, "r")["data/standardize/mean"][()]
            if not np.allclose(mean, x[tr].mean(0), rtol=1e-5, atol=1e-6 * np.abs(x).max()):
                note = "  split MISMATCH (the rebuilt training rows are not trainval's)"
        tcfg = cfg.get("train", {})
        kw = dict(hidden_layer_sizes=(64,), solver="adam", learning_rate_init=cfg.get("optimizer", {}).get("learning_rate", 0.001),
                  batch_size=tcfg.get("batch_size", 128), max_iter=2000, random_state=0)
        model = make_pipeline(StandardScaler(), MLPClassifier(**kw) if task == "classification" else MLPRegressor(**kw))
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x[tr], y[tr])
        sk = model.score(x[va], y[va])  # accuracy, or R^2 for the regressor
        t2 = time.time()
        where = f"valid {va.sum()}/{len(x)}"
        print(f"{name:<20} {where:<16} {metric:<9} {res[metric]:>9.4f} {sk:>9.4f}  {t1 - t0:.1f}, {t2 - t1:.1f}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
