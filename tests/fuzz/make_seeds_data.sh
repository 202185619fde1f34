#!/bin/sh
# Writes the seed corpora of the data readers' targets under tests/fuzz/corpus/<target>/
# (fuzz_csv, fuzz_npy, fuzz_h5data, fuzz_image, fuzz_datafile) from real files: scikit-learn's
# iris.csv and wine_data.csv (first records), CSV files with a header and string labels, .npy
# files written by numpy (plain and gzip), HDF5 data files written by h5py, the image fixtures
# of tests/fixtures/images, and one data file per reader format.  Each seed carries the option
# bytes its target reads first (see the target's comment).  Run from the repository root (also
# run by make_seeds.sh); the result is committed.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
C=$ROOT/tests/fuzz/corpus
for t in fuzz_csv fuzz_npy fuzz_h5data fuzz_image fuzz_datafile; do
  rm -rf "${C:?}/$t"
  mkdir -p "$C/$t"
done
/usr/bin/python3 - "$ROOT" "$C" <<'PY'
import gzip, io, os, struct, sys
import h5py, numpy as np
root, c = sys.argv[1:3]
sk = "/usr/lib/python3/dist-packages/sklearn/datasets/data"

def put(target, name, data):
    with open(os.path.join(c, target, name), "wb") as f:
        f.write(data)

# fuzz_csv: flags, skip_rows, k (LE), file [, targets file]
def csv(name, flags, skip, x, y=b""):
    put("fuzz_csv", name, bytes([flags, skip]) + struct.pack("<H", len(x)) + x + y)
iris = b"".join(open(os.path.join(sk, "iris.csv"), "rb").readlines()[:13])
wine = b"".join(open(os.path.join(sk, "wine_data.csv"), "rb").readlines()[:6])
csv("iris", 1, 1, iris)
csv("wine-float", 1 | 8, 1, wine)
named = (b"\xef\xbb\xbfsepal,petal,\"kind, of\"\r\n5.1,1.4,setosa\r\n4.9,,\"vir\"\"ginica\"\r\n"
         b"# a comment\n0x1.8p1,2e-1,setosa\n\n6.3,4.9,\"versi\ncolor\"\n")
csv("header-strings-fill", 2 | 4 | 32, 0, named)
csv("semicolon", 64, 0, b"a;b;label\n1;2;0\n3;4;1\n5;6;2\n")
csv("features-only", 16, 0, b"a,b,c\n1,2,3\n4,5,6\n")
csv("two-files", 128, 0, b"a,b\n1,2\n3,4\n5,6\n", b"y\ncat\ndog\ncat\n")
csv("two-files-float", 128 | 8, 0, b"a,b\n1,2\n3,4\n", b"t1,t2\n0.5,1\n-2,3\n")

# fuzz_npy: flags, k (LE), features file, targets file
def npy(a):
    b = io.BytesIO()
    np.save(b, a, allow_pickle=False)
    return b.getvalue()
def npy_pair(name, flags, x, y):
    put("fuzz_npy", name, bytes([flags]) + struct.pack("<H", len(x)) + x + y)
rng = np.random.default_rng(1)
u1 = rng.integers(0, 256, (4, 1, 3, 3), dtype=np.uint8)
lab = np.array([0, 2, 1, 2], dtype=np.int64)
npy_pair("u1-nchw", 0, npy(u1), npy(lab))
npy_pair("f4-2d", 0, npy(rng.standard_normal((4, 5)).astype("<f4")), npy(lab.astype("<i4")))
npy_pair("f8-be-fortran", 1, npy(np.asfortranarray(rng.standard_normal((3, 2, 2)).astype(">f8"))),
         npy(rng.standard_normal((3, 2)).astype(">f8")))
npy_pair("i2-b1-multilabel", 1, npy(rng.integers(-300, 300, (3, 4)).astype("<i2")),
         npy(np.array([[True, False], [False, False], [True, True]])))
npy_pair("gzip", 0, gzip.compress(npy(u1), mtime=0), gzip.compress(npy(lab.astype("u1")), mtime=0))
npy_pair("features-only", 2, npy(rng.standard_normal((2, 3)).astype("<f4")), b"")
v2 = bytearray(npy(lab.astype("<i8")))
# version 2.0: a 4-byte header length
hl = struct.unpack("<H", v2[8:10])[0]
v2 = b"\x93NUMPY\x02\x00" + struct.pack("<I", hl) + bytes(v2[10:])
npy_pair("v2-targets", 0, npy(np.arange(12, dtype="<f4").reshape(4, 3)), bytes(v2))

# fuzz_h5data: flags, HDF5 file image
def h5(name, flags, build):
    b = io.BytesIO()
    with h5py.File(b, "w") as f:
        build(f)
    put("fuzz_h5data", name, bytes([flags]) + b.getvalue())
def u8_rank3(f):
    f["x"] = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
    f["y"] = lab.astype("<i4")
def f4_chunked_deflate(f):
    f.create_dataset("x", data=rng.standard_normal((6, 4)).astype("<f4"), chunks=(2, 4),
                     compression="gzip")
    f.create_dataset("y", data=rng.standard_normal((6, 2)).astype(">f8"), chunks=(3, 2))
def be_nchw(f):
    f["x"] = rng.integers(-9, 9, (2, 3, 2, 2)).astype(">i2")
    f["y"] = np.array([1, 0], dtype="u1")
def link(f):
    f["g/x"] = rng.integers(0, 256, (2, 4), dtype=np.uint8)
    f["x"] = f["g/x"]
    f["y"] = np.array([0, 1], dtype="<i8")
h5("u8-rank3", 0, u8_rank3)
h5("f4-chunked-deflate", 0, f4_chunked_deflate)
h5("be-nchw", 0, be_nchw)
h5("hard-link", 0, link)
h5("features-only", 1, u8_rank3)

# fuzz_image: flags (bit 0 RGB, bit 1 bilinear), height, width, image
imgs = os.path.join(root, "tests", "fixtures", "images")
for n in sorted(os.listdir(imgs)):
    raw = open(os.path.join(imgs, n), "rb").read()
    stem = n.rsplit(".", 1)[0] + "-" + n.rsplit(".", 1)[1]
    put("fuzz_image", stem + "-rgb-resized", bytes([3, 7, 5]) + raw)
    put("fuzz_image", stem + "-grey-resized", bytes([2, 16, 9]) + raw)
    if raw[:8] == b"\x89PNG\r\n\x1a\n":  # at its own size (IHDR), not resized
        w, h = struct.unpack(">II", raw[16:24])
        put("fuzz_image", stem + "-rgb", bytes([1, h - 1, w - 1]) + raw)

# fuzz_datafile: a data file per reader format, and the data sections of configs/
df = {
    "idx": "data:\n  dir: /usr/share/datasets/fashion-mnist\n  test_images: t10k-images-idx3-ubyte.gz\n",
    "csv": ("data:\n  format: csv\n  dir: /tmp\n  test_images: x.csv\n  test_labels: \"\"\n"
            "  header: false\n  skip_rows: 1\n  delimiter: ';'\n"),
    "npy": "data:\n  format: npy\n  dir: /tmp\n  test_images: x.npy\n  test_labels: y.npy\n",
    "hdf5": ("# where the evaluator finds the data\ndata:\n  format: hdf5\n  dir: \"/tmp/h5\"\n"
             "  test_images: fashion-mnist.h5:/test/images\n"
             "  test_labels: 'fashion-mnist.h5:/test/labels'\n"),
    "imgdir": "data:\n  format: imgdir\n  dir: /tmp/img\n  test_images: test\n  resize: bilinear\n",
}
for k, v in df.items():
    put("fuzz_datafile", k + ".yaml", v.encode())
for n in sorted(os.listdir(os.path.join(root, "configs"))):
    text = open(os.path.join(root, "configs", n)).read()
    at = text.find("\ndata:\n")
    if at < 0:
        continue
    sec = text[at + 1:]
    lines = sec.split("\n")
    end = 1
    while end < len(lines) and (lines[end].startswith(" ") or not lines[end]):
        end += 1
    put("fuzz_datafile", n, ("\n".join(lines[:end]) + "\n").encode())
PY
du -sh "$C"/fuzz_csv "$C"/fuzz_npy "$C"/fuzz_h5data "$C"/fuzz_image "$C"/fuzz_datafile
