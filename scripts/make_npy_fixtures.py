#!/usr/bin/python3
"""make_npy_fixtures.py — .npy files written by numpy.save / numpy.lib.format for the NumPy
reader (tests/test_npy.c).

Usage: /usr/bin/python3 scripts/make_npy_fixtures.py [DIR]   (default tests/fixtures/npy)
Needs numpy only.  Every good file holds the same values so the test checks each against one
formula: value(i, j) = i * 10 + j for example i, element j (row-major, C order), or, for labels,
i % 3 (targets) and (i + j) % 2 (multilabel indicators).

  x_f4.npy       float32 (6, 4), little-endian, C order, header version 1.0
  x_f8_be_F.npy  float64 (6, 4), big-endian, Fortran order
  x_i2_be.npy    int16 (6, 4), big-endian          x_i8.npy   int64 (6, 4)
  x_u1.npy       uint8 (6, 2, 2)                   x_i1.npy   int8 (6, 4)
  x_v2.npy       float32 (6, 4), header version 2.0 (numpy.lib.format.write_array)
  x_v3.npy       float32 (6, 4), header version 3.0
  y_i4.npy       int32 (6,) class ids              y_u1.npy   uint8 (6,)
  y_f4.npy       float32 (6, 2) regression targets (i, -i)
  y_b1.npy       bool (6, 3) multilabel indicators
  bad_truncated.npy  x_f4.npy without its last 5 bytes
  bad_shape.npy      header says (9, 4), the data holds (6, 4)
  bad_magic.npy      a first byte other than 0x93
  bad_descr.npy      dtype complex64 ('<c8'), which the reader refuses
  bad_header.npy     a header that is not a dict literal
  bad_nan.npy        float32 (6, 4) with a NaN
"""
import io, os, sys
import numpy as np
from numpy.lib import format as npf

d = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/npy"
os.makedirs(d, exist_ok=True)
i, j = np.meshgrid(np.arange(6), np.arange(4), indexing="ij")
base = (i * 10 + j).astype(np.float64)


def save(name, a):
    np.save(os.path.join(d, name), a)


def write(name, a, version):
    with open(os.path.join(d, name), "wb") as f:
        npf.write_array(f, a, version=version)


save("x_f4.npy", base.astype("<f4"))
save("x_f8_be_F.npy", np.asfortranarray(base.astype(">f8")))
save("x_i2_be.npy", base.astype(">i2"))
save("x_i8.npy", base.astype("<i8"))
save("x_u1.npy", base.reshape(6, 2, 2).astype("u1"))
save("x_i1.npy", base.astype("i1"))
write("x_v2.npy", base.astype("<f4"), (2, 0))
write("x_v3.npy", base.astype("<f4"), (3, 0))
save("y_i4.npy", (np.arange(6) % 3).astype("<i4"))
save("y_u1.npy", (np.arange(6) % 3).astype("u1"))
save("y_f4.npy", np.stack([np.arange(6), -np.arange(6)], 1).astype("<f4"))
save("y_b1.npy", ((np.arange(6)[:, None] + np.arange(3)[None, :]) % 2).astype(bool))
raw = open(os.path.join(d, "x_f4.npy"), "rb").read()
open(os.path.join(d, "bad_truncated.npy"), "wb").write(raw[:-5])
b = io.BytesIO()
npf.write_array(b, base.astype("<f4"), version=(1, 0))
hdr = b.getvalue()
lied = hdr.replace(b"(6, 4)", b"(9, 4)", 1)
open(os.path.join(d, "bad_shape.npy"), "wb").write(lied)
open(os.path.join(d, "bad_magic.npy"), "wb").write(b"\x92" + raw[1:])
save("bad_descr.npy", base.astype("<c8"))
hl = int.from_bytes(raw[8:10], "little")
text = b"['descr', '<f4']".ljust(hl - 1) + b"\n"
open(os.path.join(d, "bad_header.npy"), "wb").write(raw[:10] + text + raw[10 + hl:])
nan = base.astype("<f4")
nan[2, 1] = np.nan
save("bad_nan.npy", nan)
