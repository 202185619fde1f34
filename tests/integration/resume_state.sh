#!/bin/sh
# Resume reads each owner's part of the checkpoint (ckpt.h, STATE LAYOUT): the optimizer's slots
# and counter, the loader's cursor, order and augmentation generator, the TRAIN graph's dropout
# generator.  A checkpoint whose state is damaged (an array missing, of the wrong length, or a
# cursor that leaves no batch) but whose manifest entry matches it is refused with one line that
# names the file and the array, exit 1, and nothing in the train_dir is changed.
# integration: long
. "$(dirname "$0")/lib.sh"
CFG=$T/small.yaml
small_config "$CFG"
S=$T/base
"$BIN/train" --train-dir "$S" --config "$CFG" --steps 30 --quiet --threads 1 >/dev/null 2>&1
check "a 30-step run to damage" test -f "$S/ckpt-00000030.h5"

# damage NAME PYTHON: a copy of the run whose checkpoint PYTHON changed (f is the open h5py
# file), with the manifest's size and CRC-32C updated to match, so only the state is wrong.
damage() {
  D=$T/$1
  cp -r "$S" "$D"
  /usr/bin/python3 - "$D" "$ROOT/tests/integration" "$2" <<'PY'
import re, sys, h5py, numpy as np
sys.path.insert(0, sys.argv[2])
from events import crc32c
d = sys.argv[1]
with h5py.File(d + '/ckpt-00000030.h5', 'r+') as f:
    exec(sys.argv[3])
data = open(d + '/ckpt-00000030.h5', 'rb').read()
m = open(d + '/checkpoints.yaml').read()
m = re.sub(r'(file: ckpt-00000030.h5\n    size: )\d+(\n    checksum: crc32c:)[0-9a-f]+',
           r'\g<1>%d\g<2>%08x' % (len(data), crc32c(data)), m)
open(d + '/checkpoints.yaml', 'w').write(m)
PY
  cp "$D/checkpoints.yaml" "$T/$1.manifest"
  cp "$D/ckpt-00000030.h5" "$T/$1.h5"
}

# refused NAME PATTERN: resuming the damaged copy NAME fails with one line matching PATTERN and
# leaves its manifest and checkpoint as they were.
refused() {
  expect_fail "$1: refused, naming the file and the array" 1 \
    "^train: cannot resume: .*$1/ckpt-00000030.h5: $2" \
    "$BIN/train" --train-dir "$T/$1" --steps 60 --quiet --threads 1
  check "$1: the manifest and the checkpoint are unchanged" sh -c \
    "cmp -s '$T/$1.manifest' '$T/$1/checkpoints.yaml' && cmp -s '$T/$1.h5' '$T/$1/ckpt-00000030.h5' &&
     [ \$(ls '$T/$1' | grep -c '\.h5\$') -eq 1 ]"
}

damage noperm "del f['state/loader/perm']"
refused noperm "/state/loader/perm: not in the checkpoint"
damage shortperm "p = f['state/loader/perm'][()]; del f['state/loader/perm']; f['state/loader/perm'] = p[:-1]"
refused shortperm "/state/loader/perm: [0-9]+ elements in file, [0-9]+ expected"
damage cursor "c = f['state/loader/cursor']; v = c[()]; v[1] = 10**9; c[...] = v"
refused cursor "loader state: position 1000000000 leaves no batch"
damage noslot "del f['optimizer/v/dense_2/kernel']"
refused noslot "/optimizer/v/dense_2/kernel: not in the checkpoint"
damage nocounter "del f['state/optimizer_t']"
refused nocounter "/state/optimizer_t: not in the checkpoint"
damage nodropout "del f['state/dropout_rng']"
refused nodropout "/state/dropout_rng: not in the checkpoint"

# Another optimizer than the checkpoint's, whose slots are not there: the message says which.
cp -r "$S" "$T/othersgd"
cp "$S/checkpoints.yaml" "$T/othersgd.manifest"
cp "$S/ckpt-00000030.h5" "$T/othersgd.h5"
expect_fail "othersgd: refused, naming the file, the slot and both optimizers" 1 \
  "^train: cannot resume: .*othersgd/ckpt-00000030.h5: /optimizer/momentum/dense_1/kernel: not in the checkpoint, which holds adam's state; this run's optimizer is sgd\$" \
  "$BIN/train" --train-dir "$T/othersgd" --steps 60 --quiet --set optimizer.type=sgd --set optimizer.momentum=0.9
check "othersgd: the manifest and the checkpoint are unchanged" sh -c \
  "cmp -s '$T/othersgd.manifest' '$T/othersgd/checkpoints.yaml' && cmp -s '$T/othersgd.h5' '$T/othersgd/ckpt-00000030.h5'"

# The undamaged run still resumes (what the copies were made from is fine).
check "the undamaged run resumes to step 60" "$BIN/train" --train-dir "$S" --steps 60 --quiet --threads 1
