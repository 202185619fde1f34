#!/usr/bin/python3
"""After a kill -9 of train: checks DIR's crash consistency and prints one line per problem.
Usage: crash_check.py DIR SEEN   (SEEN: a file of the steps committed at earlier checks, one a
line; rewritten with the steps committed now).  Exit 0 if DIR is consistent:
  - checkpoints.yaml (if there is one yet) parses and names format trainval.manifest;
  - every checkpoint it lists exists with the listed size and CRC-32C (the whole file) and its
    own user block checks out (ckpt.h: magic, size, CRC-32C of the rest);
  - every visible ckpt-*.h5 file that it does not list (renamed before the kill, not committed:
    resume removes it) is complete: its user block checks out;
  - every step committed at an earlier check is still listed or on the retired list (retention
    deleted it, and said so): nothing committed was lost."""
import os
import struct
import sys

import yaml

TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    TABLE.append(c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def userblock_ok(data):
    if len(data) < 512 or data[:16] != b"trainval ckpt 1\n":
        return "no user block"
    size, body, own = struct.unpack("<QII", data[16:32])
    if size != len(data):
        return "user block says %d bytes, file has %d" % (size, len(data))
    if own != crc32c(data[32:512], crc32c(data[:28])):
        return "user block CRC"
    if body != crc32c(data[512:]):
        return "body CRC"
    return None


def main():
    d, seen_path = sys.argv[1:3]
    problems = []
    listed, retired = {}, set()
    mpath = os.path.join(d, "checkpoints.yaml")
    if os.path.exists(mpath):
        try:
            m = yaml.safe_load(open(mpath))
            assert m["format"] == "trainval.manifest"
            for e in m.get("checkpoints") or []:
                listed[int(e["step"])] = e
            retired = set(int(s) for s in (m.get("retired") or []))
        except Exception as ex:  # noqa: BLE001 - any failure to parse is the finding
            problems.append("manifest does not parse: %r" % ex)
    for step, e in sorted(listed.items()):
        p = os.path.join(d, e["file"])
        try:
            data = open(p, "rb").read()
        except OSError as ex:
            problems.append("step %d: %s: %s" % (step, e["file"], ex))
            continue
        want = int(str(e["checksum"]).split(":")[1], 16)
        if len(data) != int(e["size"]) or crc32c(data) != want:
            problems.append("step %d: %s: size/CRC differ from the manifest" % (step, e["file"]))
        why = userblock_ok(data)
        if why:
            problems.append("step %d: %s: %s" % (step, e["file"], why))
    names = set(e["file"] for e in listed.values())
    for f in sorted(os.listdir(d)):
        if f.startswith("ckpt-") and f.endswith(".h5") and f not in names:
            why = userblock_ok(open(os.path.join(d, f), "rb").read())
            if why:
                problems.append("visible uncommitted %s is damaged: %s" % (f, why))
    seen = set()
    if os.path.exists(seen_path):
        seen = set(int(x) for x in open(seen_path).read().split())
    for s in sorted(seen - set(listed) - retired):
        problems.append("step %d was committed and is gone, not retired" % s)
    with open(seen_path, "w") as f:
        f.write("".join("%d\n" % s for s in sorted(listed)))
    for p in problems:
        print(p)
    return 1 if problems else 0


sys.exit(main())
