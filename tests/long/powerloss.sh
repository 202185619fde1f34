#!/bin/sh
# Power loss on ext4: train runs on a loop-mounted ext4 image, committing every 2 steps; at a
# seeded random moment the filesystem is shut down as a power cut would leave it (ioctl
# EXT4_IOC_SHUTDOWN with EXT4_GOING_FLAGS_NOLOGFLUSH: nothing more reaches the disk, the journal is
# not flushed), train is killed, and the image is unmounted and mounted again.  After each cut:
# the newest committed checkpoint on disk is never older than the last commit train acknowledged
# (its -v line "checkpoint ... committed (step N", printed after the manifest's fsyncs), the
# manifest and every checkpoint it lists verify (crash_check.py), nothing committed before is
# lost, and the run resumes.  At the end it resumes to its last step, bitwise equal to the run
# never cut.  Needs root and loop mounts; otherwise every check says skip.  Run by `make crash`.
# TV_POWERLOSS_CUTS (default 10), TV_POWERLOSS_SEED (default 15).
. "$(dirname "$0")/../integration/lib.sh"
CUTS=${TV_POWERLOSS_CUTS:-10}
SEED=${TV_POWERLOSS_SEED:-15}
STEPS=600
M=$T/mnt
trap 'kill $(jobs -p) 2>/dev/null; umount "$M" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$M"
if [ "$(id -u)" != 0 ] || ! truncate -s 96M "$T/img" || ! mkfs.ext4 -q -F "$T/img" >/dev/null 2>&1 ||
  ! mount -o loop "$T/img" "$M" 2>/dev/null; then
  skip "power loss on ext4" "needs root, mkfs.ext4 and loop mounts"
  exit 0
fi
umount "$M"
tiny_ckpt_config "$T/cfg.yaml"
"$BIN/train" -q --threads 1 --train-dir "$T/ref" --config "$T/cfg.yaml" --steps "$STEPS" \
  --set train.checkpoint_every=0 >/dev/null
awk -v s="$SEED" -v n="$CUTS" 'BEGIN { srand(s); for (i = 0; i < n; i++) printf "%.3f\n", 0.4 + rand() * 1.2 }' >"$T/delays"
bad=0 cuts=0
while read -r delay; do
  mount -o loop "$T/img" "$M" || { bad=$((bad + 1)); break; }
  stdbuf -oL "$BIN/train" -v --threads 1 --train-dir "$M/run" --config "$T/cfg.yaml" --steps "$STEPS" \
    >"$T/run.out" 2>&1 &
  pid=$!
  sleep "$delay"
  /usr/bin/python3 -c '
import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.ioctl(fd, 0x8004587D, struct.pack("I", 2))  # EXT4_IOC_SHUTDOWN, EXT4_GOING_FLAGS_NOLOGFLUSH
' "$M" && cuts=$((cuts + 1))
  kill -9 "$pid" 2>/dev/null
  { wait "$pid"; } 2>/dev/null
  acked=$(sed -n 's/.*checkpoint ckpt-[0-9]*\.h5 committed (step \([0-9]*\),.*/\1/p' "$T/run.out" | tail -1)
  umount "$M" && mount -o loop "$T/img" "$M" || { bad=$((bad + 1)); echo "# remount failed"; break; }
  newest=$(sed -n 's/^  - step: //p' "$M/run/checkpoints.yaml" 2>/dev/null | tail -1)
  if [ -n "$acked" ] && [ "${newest:-0}" -lt "$acked" ]; then
    bad=$((bad + 1))
    echo "# cut $cuts at ${delay} s: train acknowledged step $acked, the disk's newest is ${newest:-none}"
  fi
  if [ -d "$M/run" ] && ! /usr/bin/python3 "$ROOT/tests/integration/crash_check.py" "$M/run" "$T/seen" >"$T/check.out" 2>&1; then
    bad=$((bad + 1))
    echo "# cut $cuts at ${delay} s: $(cat "$T/check.out")"
  fi
  echo "# cut $cuts at ${delay} s: acknowledged ${acked:-none}, newest on disk ${newest:-none}"
  umount "$M"
done <"$T/delays"
check "$cuts power cuts at seeded moments: the newest checkpoint never older than the last acknowledged, all verify, none lost" \
  test "$bad" -eq 0 -a "$cuts" -eq "$CUTS"
mount -o loop "$T/img" "$M"
check "after the cuts the run resumes to its last step" "$BIN/train" -q --threads 1 --train-dir "$M/run" \
  --config "$T/cfg.yaml" --steps "$STEPS" --set train.checkpoint_every=0
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  check "and ends bitwise equal to the run never cut" /usr/bin/python3 -c '
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
assert names and not [n for n in names if n not in b or not np.array_equal(a[n][()], b[n][()])]
' "$T/ref/ckpt-$(printf %08d "$STEPS").h5" "$M/run/ckpt-$(printf %08d "$STEPS").h5"
fi
umount "$M"
