#!/usr/bin/python3
"""same_variables.py A.h5 B.h5: exits 0 when the two checkpoints hold the same variables, every
one bitwise equal (and at least one), else prints which differ and exits 1."""
import sys

import h5py
import numpy as np

a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a["variables"].visit(lambda n: names.append(n) if isinstance(a["variables"][n], h5py.Dataset) else None)
diff = [n for n in names if n not in b["variables"] or
        not np.array_equal(a["variables"][n][()], b["variables"][n][()])]
print(len(names), "variables,", len(diff), "differ:", diff)
sys.exit(1 if diff or not names else 0)
