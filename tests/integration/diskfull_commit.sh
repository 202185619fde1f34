#!/bin/sh
# A disk that fills at each write of a commit in turn (the checkpoint, the manifest): train exits 1
# with one line; the checkpoint it saved but could not commit is removed first, so the terminal
# status is recorded (never left "running"); the committed checkpoint before it still evaluates.
. "$(dirname "$0")/lib.sh"
small_config "$T/c.yaml"
B=$T/base
check "a run to step 20 to resume on a small disk" "$BIN/train" --quiet --train-dir "$B" --config "$T/c.yaml" --steps 20 --set train.checkpoint_every=20
M=$T/small
mkdir -p "$M"
if ! mount -t tmpfs -o size=32m tmpfs "$M" 2>/dev/null; then
  skip "disk full at each write of a commit" "needs root to mount a small tmpfs"
  exit 0
fi
S=$(wc -c <"$B/ckpt-00000020.h5")
pages=$(((S + 4095) / 4096))
manifest_hit=0 bad=0 tried=0
for extra in -1 0 1 2 3 4 5 6 8 12; do
  rm -rf "$M/run" "$M/filler"
  cp -r "$B" "$M/run"
  rm -f "$M/run/LOCK"
  avail=$(df -B1 --output=avail "$M" | tail -1)
  fill=$((avail - (pages + extra) * 4096))
  [ "$fill" -gt 0 ] && head -c "$fill" /dev/zero >"$M/filler" 2>/dev/null
  "$BIN/train" --quiet --train-dir "$M/run" --steps 40 >"$T/out" 2>"$T/err"
  rc=$?
  tried=$((tried + 1))
  [ "$rc" -eq 0 ] && continue
  grep -q "checkpoints.yaml" "$T/err" && manifest_hit=$((manifest_hit + 1))
  why=""
  [ "$rc" -ne 1 ] && why="$why exit $rc;"
  [ "$(wc -l <"$T/err")" -ne 1 ] && why="$why not one stderr line;"
  if [ -e "$M/run/ckpt-00000040.h5" ] && ! grep -q "ckpt-00000040.h5" "$M/run/checkpoints.yaml"; then
    why="$why uncommitted ckpt-00000040.h5 left on the full disk;"
  fi
  grep -q "status: running" "$M/run/checkpoints.yaml" && why="$why status left running;"
  ls -a "$M/run" | grep -q tmp && why="$why a temporary left;"
  "$BIN/eval" --train-dir "$M/run" --ckpt 20 --num-examples 50 >/dev/null 2>&1 || why="$why step 20 no longer evaluates;"
  if [ -n "$why" ]; then
    bad=$((bad + 1))
    echo "# $extra spare pages: $why $(cat "$T/err")"
  fi
done
rm -rf "$M/run" "$M/filler"
umount "$M"
check "every full-disk case of $tried leaves the run consistent (one line, status recorded, nothing uncommitted)" test "$bad" -eq 0
if [ "$manifest_hit" -gt 0 ]; then
  ok "the disk filled at the manifest write in $manifest_hit case(s)"
else
  skip "disk full at the manifest write" "no spare-page count hit it on this machine"
fi
