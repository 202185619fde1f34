#!/bin/sh
# README's "Using it" block, run top to bottom as typed, ten times smaller: the first command
# block after "## Using it", with the config's 10 epochs cut to 1 (422 steps, a checkpoint every
# 100 instead of 1000) and the step numbers divided by ten (8000 -> 800, ckpt-00004000 ->
# ckpt-00000400).  Retention (the newest 5) bites at the same place, so a README that evaluates
# a checkpoint after the resume has removed it fails here.
. "$(dirname "$0")/lib.sh"
W=$T/work
mkdir -p "$W/configs"
ln -s "$BIN" "$W/bin"
sed -e 's/^\( *epochs:\).*/\1 1/' -e 's/^\( *checkpoint_every:\).*/\1 100/' \
  "$ROOT/configs/fashion_mlp.yaml" >"$W/configs/fashion_mlp.yaml"
awk '/^## Using it/ { on = 1; next } on && /^    / { print substr($0, 5); got = 1; next }
     on && got { exit }' "$ROOT/README.md" |
  sed -e 's/ *#.*//' -e 's/8000/800/g' -e 's/ckpt-00004000/ckpt-00000400/g' -e 's/--ckpt 4000/--ckpt 400/' \
  >"$T/block.sh"
check "README: the Using-it block has its five commands" sh -c "[ \$(grep -c . '$T/block.sh') -eq 5 ]"
i=0
while IFS= read -r cmd; do
  i=$((i + 1))
  check "README line $i works as typed: $cmd" sh -c "cd '$W' && $cmd >'$T/line$i.out' 2>&1 || { cat '$T/line$i.out'; exit 1; }"
done <"$T/block.sh"
check "README: the first eval's checkpoint is gone once the run has gone on (why the order matters)" \
  sh -c "! [ -e '$W/runs/mlp/ckpt-00000400.h5' ] && grep -q 'step  *800' '$T/line5.out'"
