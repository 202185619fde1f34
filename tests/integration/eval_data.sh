#!/bin/sh
# eval on data at another path: a checkpoint remembers the data.dir it was trained from, yet an
# evaluator on another machine (here: the same files moved elsewhere) reads them through
# --data-dir or --set data.KEY=VALUE, once and in --watch mode; the model always comes from the
# checkpoint, so --set of any other section is a usage error.
. "$(dirname "$0")/lib.sh"
if [ ! -e "$DATA/t10k-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/t10k-images-idx3-ubyte" ]; then
  skip "eval --data-dir" "no Fashion-MNIST under $DATA"
  exit 0
fi
small_config "$T/cfg.yaml"
mkdir -p "$T/orig"
for f in "$DATA"/*; do ln -s "$f" "$T/orig/"; done
"$BIN/train" --quiet --train-dir "$T/run" --config "$T/cfg.yaml" --steps 30 \
  --set data.dir="$T/orig" >"$T/train.out" 2>&1 || notok "train a small run" "$(cat "$T/train.out")"
"$BIN/eval" --train-dir "$T/run" --num-examples 500 >"$T/here.out" 2>&1
here=$(grep '^accuracy' "$T/here.out")
check "eval where the data was trained from" test -n "$here"

# The other machine: the data lives at another path, the trained-from path is gone.
mv "$T/orig" "$T/moved"
expect_fail "eval without --data-dir names the missing path" 1 "$T/orig" \
  "$BIN/eval" --train-dir "$T/run" --num-examples 500
"$BIN/eval" --train-dir "$T/run" --num-examples 500 --data-dir "$T/moved" >"$T/dd.out" 2>&1
check "eval --data-dir gives the same accuracy ($here)" test "$(grep '^accuracy' "$T/dd.out")" = "$here"
"$BIN/eval" --train-dir "$T/run" --num-examples 500 --set data.dir="$T/moved" >"$T/set.out" 2>&1
check "eval --set data.dir= gives the same accuracy" test "$(grep '^accuracy' "$T/set.out")" = "$here"
# Later options win, as train's --set does.
"$BIN/eval" --train-dir "$T/run" --num-examples 500 --data-dir "$T/nowhere" \
  --set data.dir="$T/moved" >"$T/order.out" 2>&1
check "the last of --data-dir / --set data.dir wins" test "$(grep '^accuracy' "$T/order.out")" = "$here"
expect_fail "eval --data-dir of a folder without the data names it" 1 "$T/nowhere" \
  "$BIN/eval" --train-dir "$T/run" --num-examples 500 --data-dir "$T/nowhere"
expect_fail "eval --set outside data is a usage error" 2 "only data.KEY=VALUE" \
  "$BIN/eval" --train-dir "$T/run" --set train.batch_size=3
expect_fail "eval --set of an unknown data key names it" 1 "data.bogus" \
  "$BIN/eval" --train-dir "$T/run" --set data.bogus=1
check "eval --help documents --data-dir" sh -c "'$BIN/eval' --help | grep -q -- '--data-dir DIR'"

# --watch on the other machine: every checkpoint evaluated from the moved data.
"$BIN/eval" --watch "$T/run" --num-examples 200 --data-dir "$T/moved" --timeout 60 \
  >"$T/watch.out" 2>&1
rc=$?
n=$(wc -l <"$T/run/eval/metrics.jsonl" 2>/dev/null || echo 0)
ck=$(ls "$T/run"/ckpt-*.h5 2>/dev/null | wc -l)
if [ "$rc" -eq 0 ] && [ "$n" -ge 1 ] && [ "$n" -eq "$ck" ]; then
  ok "eval --watch --data-dir evaluates every checkpoint ($n)"
else
  notok "eval --watch --data-dir evaluates every checkpoint" "exit $rc, $n results, $ck checkpoints" "$(cat "$T/watch.out")"
fi
