#!/usr/bin/python3
"""Checks and decodes a PNG with Python's zlib and numpy (written from the PNG spec, sharing
nothing with libpng): the signature, every chunk's CRC, IHDR first and IEND last, then the
8-bit RGB or RGBA image data through zlib and the five row filters.  Prints
    <width> <height> <distinct colours> <pixels near COLOUR>...
Usage: pngcheck.py FILE [RRGGBB...]     (near: each channel within 40 of the colour)
Exit 1 with a one-line reason if the file is not a valid PNG of that kind."""
import struct
import sys
import zlib

import numpy as np


def fail(msg):
    sys.exit("%s: %s" % (sys.argv[1], msg))


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("no PNG signature")
    pos, chunks = 8, []
    while pos < len(data):
        if len(data) - pos < 12:
            fail("truncated chunk at byte %d" % pos)
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        if len(body) != n or len(data) < pos + 12 + n:
            fail("truncated %r chunk" % kind)
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(kind + body) != crc:
            fail("CRC mismatch in %r chunk" % kind)
        chunks.append((kind, body))
        pos += 12 + n
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        fail("IHDR must come first and IEND last")
    w, h, depth, ctype, comp, filt, lace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or ctype not in (2, 6) or comp or filt or lace or not w or not h:
        fail("not an 8-bit RGB/RGBA non-interlaced image (depth %d, colour type %d)" % (depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        fail("image data is %d bytes, want %d" % (len(raw), h * (stride + 1)))
    img = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int64)
        if f == 1:  # Sub: a running sum per channel
            line = np.cumsum(line.reshape(w, bpp), axis=0).reshape(stride) & 255
        elif f == 2:
            line = (line + prev) & 255
        elif f in (3, 4):  # Average, Paeth: sequential along the row
            out = line.copy()
            pv = prev
            for i in range(stride):
                a = int(out[i - bpp]) if i >= bpp else 0
                b = int(pv[i])
                if f == 3:
                    out[i] = (out[i] + (a + b) // 2) & 255
                else:
                    c = int(pv[i - bpp]) if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    out[i] = (out[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            line = out
        elif f != 0:
            fail("bad filter type %d in row %d" % (f, y))
        img[y] = line
        prev = line
    rows = img.reshape(h, w, bpp)[:, :, :3]
    return w, h, bpp, rows


if __name__ == "__main__":
    w, h, bpp, rows = decode(sys.argv[1])
    want = [tuple(int(c[i:i + 2], 16) for i in (0, 2, 4)) for c in sys.argv[2:]]
    px = rows.reshape(-1, 3).astype(np.int64)
    colours = len(np.unique(px[:, 0] << 16 | px[:, 1] << 8 | px[:, 2]))
    near = [int(np.all(np.abs(px - np.array(c)) <= 40, axis=1).sum()) for c in want]
    print(w, h, colours, *near)
