#!/usr/bin/python3
"""Reads TensorBoard event files (TFRecord framing + Event protobuf) with the standard library
only, checking every record's CRCs, and prints one line per summary value:
    <step> <tag> <simple_value | histo:<num> | image:<w>x<h> | <plugin name>:<bytes of the tensor>>
Usage: events.py DIR_OR_FILE...   (a directory: its events.out.tfevents.* files, not recursive)
Exit 1 on a CRC mismatch or a torn record.

    events.py --records FILE...      one line per record: <step> <number of summary values>

    events.py --tensorboard [--ignore-session-log] FILE...
reads FILE... in the order given as one run, the way TensorBoard's EventAccumulator loads a
run (purge_orphaned_data on, the default): the first SessionLog START of the run is only noted,
every later START drops each value already read whose step is >= the START's step.  Prints the
series kept, "<step> <tag> <value>" in the order read; --ignore-session-log shows what a reader
that never purges would show.  SessionLog records print as "<step> SessionLog.START"."""
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


def read(path, out=None):
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
        session = None
        for num, wire, v in fields(payload):
            if num == 2:
                step = v
            elif num == 7:
                session = dict((n, x) for n, _, x in fields(v)).get(1, 0)
            elif num == 5:
                for snum, _, sv in fields(v):
                    if snum != 1:
                        continue
                    tag, val, plugin, tensor = None, None, "tensor", None
                    for vnum, _, vv in fields(sv):
                        if vnum == 1:
                            tag = vv.decode()
                        elif vnum == 2:
                            val = "%.9g" % struct.unpack("<f", vv)[0]
                        elif vnum == 5:
                            num_ = [struct.unpack("<d", x)[0] for n2, _, x in fields(vv) if n2 == 3]
                            val = "histo:%d" % (num_[0] if num_ else 0)
                        elif vnum == 4:
                            im = dict((n2, x) for n2, _, x in fields(vv))
                            val = "image:%dx%d" % (im.get(2, 0), im.get(1, 0))
                        elif vnum == 8:
                            tensor = vv
                        elif vnum == 9:
                            for mnum, _, mv in fields(vv):
                                if mnum == 1:
                                    plugin = dict((n, x) for n, _, x in fields(mv)).get(1, b"?").decode()
                    if tensor is not None:
                        val = "%s:%d" % (plugin, len(tensor))
                    values.append((tag, val))
        if out is not None:
            out.append((step, session, values))
            continue
        if session is not None:
            print(step, "SessionLog.%s" % {1: "START", 2: "STOP", 3: "CHECKPOINT"}.get(session, session))
        for tag, val in values:
            print(step, tag, val)


def summary_values(path):
    """(step, encoded Summary.Value) of every summary value of path, in order (CRCs checked by
    read() first)."""
    read(path, [])
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i:i + 8])
        payload = data[i + 12:i + 12 + n]
        i += 16 + n
        step = 0
        for num, _, v in fields(payload):
            if num == 2:
                step = v
            elif num == 5:
                for snum, _, sv in fields(v):
                    if snum == 1:
                        yield step, sv


def tensors(path):
    """Every tensor summary of path (CRCs checked by read() first), decoded against summary.proto
    and tensor.proto: a list of dicts step, tag, plugin, content (PluginData.content bytes),
    data_class, dtype, dims, strings (string_val), floats (float_val, packed or not)."""
    out = []
    for step, sv in summary_values(path):
        t = {"step": step, "tag": None, "plugin": None, "content": b"", "data_class": 0,
             "dtype": 0, "dims": [], "strings": [], "floats": []}
        tensor = None
        for vnum, _, vv in fields(sv):
            if vnum == 1:
                t["tag"] = vv.decode()
            elif vnum == 8:
                tensor = vv
            elif vnum == 9:
                for mnum, _, mv in fields(vv):
                    if mnum == 1:
                        pd = dict((n2, x) for n2, _, x in fields(mv))
                        t["plugin"] = pd.get(1, b"").decode()
                        t["content"] = pd.get(2, b"")
                    elif mnum == 4:
                        t["data_class"] = mv
        if tensor is None:
            continue
        for tnum, wire, tv in fields(tensor):
            if tnum == 1:
                t["dtype"] = tv
            elif tnum == 2:
                for dnum, _, dv in fields(tv):
                    if dnum == 2:
                        t["dims"].append(dict((n2, x) for n2, _, x in fields(dv)).get(1, 0))
            elif tnum == 8:
                t["strings"].append(tv)
            elif tnum == 5 and wire == 2:
                t["floats"].extend(struct.unpack("<%df" % (len(tv) // 4), tv))
            elif tnum == 5:
                t["floats"].append(struct.unpack("<f", tv)[0])
        out.append(t)
    return out


def images(path):
    """Every image summary of path (CRCs checked by read() first), decoded against summary.proto
    (Summary.Value.image = 4: Image{1 height, 2 width, 3 colorspace, 4 encoded_image_string}):
    a list of dicts step, tag, height, width, colorspace, png (the encoded bytes)."""
    out = []
    for step, sv in summary_values(path):
        vals = dict((vn, vv) for vn, _, vv in fields(sv))
        if 4 not in vals:
            continue
        im = dict((n2, x) for n2, _, x in fields(vals[4]))
        out.append({"step": step, "tag": vals[1].decode(), "height": im.get(1, 0),
                    "width": im.get(2, 0), "colorspace": im.get(3, 0), "png": im.get(4, b"")})
    return out


def tensorboard_view(paths, ignore_session_log):
    """EventAccumulator's purge rule over one run's records read in file order."""
    kept = []  # (step, tag, value) in reading order
    seen_start = False
    for p in paths:
        records = []
        read(p, records)
        for step, session, values in records:
            if session == 1 and not ignore_session_log:
                if seen_start:
                    kept = [k for k in kept if k[0] < step]
                seen_start = True
            for tag, val in values:
                kept.append((step, tag, val))
    for step, tag, val in kept:
        print(step, tag, val)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--records"]:  # one line per record: <step> <number of values>
        for p in sys.argv[2:]:
            recs = []
            read(p, recs)
            for step, session, values in recs:
                print(step, len(values))
        sys.exit(0)
    if sys.argv[1:2] == ["--tensorboard"]:
        args = sys.argv[2:]
        ignore = args[:1] == ["--ignore-session-log"]
        tensorboard_view(args[1:] if ignore else args, ignore)
        sys.exit(0)
    for arg in sys.argv[1:]:
        paths = [arg] if os.path.isfile(arg) else sorted(
            os.path.join(arg, f) for f in os.listdir(arg) if f.startswith("events.out.tfevents."))
        for p in paths:
            read(p)
