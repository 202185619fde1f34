#!/usr/bin/python3
"""Writes Fashion-MNIST (the IDX files of Debian's dataset-fashion-mnist) again as one HDF5 file
and as NumPy .npy files, with h5py and numpy alone, for trainval's HDF5 and .npy data sources.

    /usr/bin/python3 scripts/make_fmnist_copies.py OUT_DIR [--src DIR] [--compress]

OUT_DIR/fashion-mnist.h5       /train/images uint8 (60000, 28, 28), /train/labels uint8 (60000),
                               /test/images uint8 (10000, 28, 28), /test/labels uint8 (10000)
                               (--compress: chunked, gzip level 4, shuffle filter)
OUT_DIR/{train,test}-{images,labels}.npy   the same arrays, numpy.save format (version 1.0)

A config reads the HDF5 copy with
    data: {format: hdf5, dir: OUT_DIR, train_images: fashion-mnist.h5:/train/images,
           train_labels: fashion-mnist.h5:/train/labels, test_images: fashion-mnist.h5:/test/images,
           test_labels: fashion-mnist.h5:/test/labels}
"""
import argparse
import gzip
import os
import struct

import h5py
import numpy as np


def read_idx(path):
    opener = gzip.open if os.path.exists(path + ".gz") and not os.path.exists(path) else open
    with opener(path if os.path.exists(path) else path + ".gz", "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, path
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--compress", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    arrays = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        arrays[split + "/images"] = read_idx(os.path.join(a.src, stem + "-images-idx3-ubyte"))
        arrays[split + "/labels"] = read_idx(os.path.join(a.src, stem + "-labels-idx1-ubyte"))
    opts = dict(chunks=True, compression="gzip", compression_opts=4, shuffle=True) if a.compress else {}
    with h5py.File(os.path.join(a.out, "fashion-mnist.h5"), "w") as f:
        for name, arr in arrays.items():
            f.create_dataset("/" + name, data=arr, **opts)
    for name, arr in arrays.items():
        np.save(os.path.join(a.out, name.replace("/", "-") + ".npy"), arr)


if __name__ == "__main__":
    main()
