#!/usr/bin/python3
"""Reads TensorBoard event files (TFRecord framing + Event protobuf) with the standard library
only, checking every record's CRCs, and prints one line per summary value:
    <step> <tag> <simple_value | histo:<num>>
Usage: events.py DIR_OR_FILE...   (a directory: its events.out.tfevents.* files, not recursive)
Exit 1 on a CRC mismatch or a torn record."""
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v = buf[i:i + 8]
            i += 8
        elif wire == 5:
            v = buf[i:i + 4]
            i += 4
        elif wire == 2:
            n, i = varint(buf, i)
            v = buf[i:i + n]
            i += n
        else:
            raise ValueError("bad wire type %d" % wire)
        yield num, wire, v


def read(path):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        if len(data) - i < 12:
            sys.exit("%s: torn record header at byte %d" % (path, i))
        header = data[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        if struct.unpack("<I", data[i + 8:i + 12])[0] != masked(header):
            sys.exit("%s: length CRC mismatch at byte %d" % (path, i))
        payload = data[i + 12:i + 12 + n]
        if len(payload) != n or len(data) < i + 16 + n:
            sys.exit("%s: torn record at byte %d" % (path, i))
        if struct.unpack("<I", data[i + 12 + n:i + 16 + n])[0] != masked(payload):
            sys.exit("%s: payload CRC mismatch at byte %d" % (path, i))
        i += 16 + n
        step = 0
        values = []
        for num, wire, v in fields(payload):
            if num == 2:
                step = v
            elif num == 5:
                for snum, _, sv in fields(v):
                    if snum != 1:
                        continue
                    tag, val = None, None
                    for vnum, _, vv in fields(sv):
                        if vnum == 1:
                            tag = vv.decode()
                        elif vnum == 2:
                            val = "%.9g" % struct.unpack("<f", vv)[0]
                        elif vnum == 5:
                            num_ = [struct.unpack("<d", x)[0] for n2, _, x in fields(vv) if n2 == 3]
                            val = "histo:%d" % (num_[0] if num_ else 0)
                    values.append((tag, val))
        for tag, val in values:
            print(step, tag, val)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        paths = [arg] if os.path.isfile(arg) else sorted(
            os.path.join(arg, f) for f in os.listdir(arg) if f.startswith("events.out.tfevents."))
        for p in paths:
            read(p)
