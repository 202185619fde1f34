#!/usr/bin/python3
"""Writes an HDF5 data file of float32 feature rows and int32 class labels, chunked by rows, for
the out-of-core reader (data.memory_mb): /x (N, D) and /y (N).  The labels are the argmax of a
fixed random linear map of the features, so a model has something to learn.  Written slab by
slab, so memory stays near one slab whatever N is.

usage: make_h5_rows.py OUT.h5 --rows N --features D [--classes K] [--chunk ROWS] [--seed S]
                       [--gzip]
"""
import argparse

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--features", type=int, required=True)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gzip", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    w = rng.standard_normal((a.features, a.classes)).astype(np.float32)
    slab = max(a.chunk, (32 << 20) // (4 * a.features) // a.chunk * a.chunk)
    comp = {"compression": "gzip", "shuffle": True} if a.gzip else {}
    with h5py.File(a.out, "w") as f:
        x = f.create_dataset("x", (a.rows, a.features), dtype="<f4",
                             chunks=(min(a.chunk, a.rows), a.features), **comp)
        y = f.create_dataset("y", (a.rows,), dtype="<i4", chunks=(min(4096, a.rows),), **comp)
        for r in range(0, a.rows, slab):
            k = min(slab, a.rows - r)
            xs = rng.standard_normal((k, a.features)).astype(np.float32)
            x[r:r + k] = xs
            y[r:r + k] = np.argmax(xs @ w, axis=1).astype(np.int32)


if __name__ == "__main__":
    main()
