"""Writes a checkpoint of another's variables and attributes with one text replaced in its
config: a crafted file as h5py writes it (no user block).  Usage: SRC DST OLD NEW."""
import sys

import h5py

src, dst, old, new = sys.argv[1:5]
with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
    for k, v in f.attrs.items():
        g.attrs[k] = v
    cfg = f.attrs["config"]
    cfg = cfg.decode() if isinstance(cfg, bytes) else cfg
    if old not in cfg:
        sys.exit("craft_ckpt.py: %r not in the config of %s" % (old, src))
    g.attrs["config"] = cfg.replace(old, new)
    f.copy("variables", g)
