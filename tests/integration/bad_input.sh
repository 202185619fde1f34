#!/bin/sh
# Bad input: every case exits non-zero with exactly one line on stderr naming the file and the
# problem, and nothing already on disk is lost.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
train() { "$BIN/train" --quiet "$@"; }

# --- usage ---
expect_fail "train without --train-dir" 2 "train-dir is required" "$BIN/train" --config "$CFG"
expect_fail "train with an unknown option" 2 "unknown option --bogus" "$BIN/train" --bogus x
expect_fail "train --steps not a number" 2 "steps: expected a positive integer, got 'ten'" "$BIN/train" --train-dir "$T/u" --steps ten
expect_fail "eval without a checkpoint" 2 "give --ckpt PATH or --train-dir DIR" "$BIN/eval"
expect_fail "eval with a bad split" 2 "split: expected test, valid or train, got 'dev'" "$BIN/eval" --ckpt x --split dev
check "train --help exits 0 and documents --set" sh -c "'$BIN/train' --help | grep -q -- '--set KEY=VALUE'"
check "eval --help exits 0 and documents --json" sh -c "'$BIN/eval' --help | grep -q -- '--json'"

# --- configs ---
expect_fail "missing config" 1 "$T/nope.yaml: No such file or directory" train --train-dir "$T/c1" --config "$T/nope.yaml"
expect_fail "new train_dir without --config" 1 "$T/c0: no config.yaml there yet, so --config is required" train --train-dir "$T/c0"
printf 'model:\n  input: [1, 28, 28\n' >"$T/malformed.yaml"
expect_fail "malformed YAML names file:line:col" 1 "^train: $T/malformed.yaml:[0-9]+:[0-9]+: " train --train-dir "$T/c2" --config "$T/malformed.yaml"
sed 's/^  batch_size: 128/  batch_size: 128\n  batch_sise: 64/' "$CFG" >"$T/unknown.yaml"
expect_fail "unknown key names file:line:col and the key" 1 "unknown.yaml:[0-9]+:3: train.batch_sise: unknown key" train --train-dir "$T/c3" --config "$T/unknown.yaml"
expect_fail "out-of-range value" 1 "train.batch_size: must be in \[1, 65536\]" train --train-dir "$T/c4" --config "$CFG" --set train.batch_size=0
expect_fail "wrong type in --set" 1 "^train: --set optimizer.learning_rate=fast: " train --train-dir "$T/c5" --config "$CFG" --set optimizer.learning_rate=fast
sed 's/^  seed: 42/  seed: 42\n  seed: 43/' "$CFG" >"$T/dup.yaml"
expect_fail "duplicate key" 1 "dup.yaml:[0-9]+:[0-9]+: train.seed: duplicate key" train --train-dir "$T/c6" --config "$T/dup.yaml"
sed 's/^    - {type: flatten} .*//' "$CFG" >"$T/noflat.yaml"
expect_fail "a layer that does not fit its input" 1 "noflat.yaml:[0-9]+:[0-9]+: layer dense_1: dense needs a flat input" train --train-dir "$T/c7" --config "$T/noflat.yaml"

# A config that is not a regular file is refused at once (a FIFO never blocks, a device is never
# read), and so is one over the size limit or nested too deep; each run is bounded by a timeout.
mkfifo "$T/fifo.yaml"
expect_fail "a FIFO as config is refused at once" 1 "^train: $T/fifo.yaml: not a regular file\$" timeout 20 "$BIN/train" --quiet --train-dir "$T/c8" --config "$T/fifo.yaml"
expect_fail "/dev/zero as config is refused, not read" 1 "^train: /dev/zero: not a regular file\$" timeout 20 "$BIN/train" --quiet --train-dir "$T/c9" --config /dev/zero
head -c 1048577 /dev/zero | tr '\000' '#' >"$T/huge.yaml"
expect_fail "a config over 1 MiB is refused" 1 "huge.yaml: larger than 1048576 bytes" train --train-dir "$T/c10" --config "$T/huge.yaml"
awk 'BEGIN { printf "model: "; for (i = 0; i < 100000; i++) printf "["; print "" }' >"$T/deep.yaml"
expect_fail "100000-deep nesting fails fast, naming file:line:col" 1 "deep.yaml:1:71: nested deeper than 64 levels" timeout 20 "$BIN/train" --quiet --train-dir "$T/c11" --config "$T/deep.yaml"
: >"$T/empty.yaml"
expect_fail "an empty config with --set is blamed on the file" 1 "^train: $T/empty.yaml:1:1: model: missing required section\$" train --train-dir "$T/c12" --config "$T/empty.yaml" --set train.batch_size=4
check "refused configs froze no config.yaml and left the inputs as they were" sh -c "
  ! ls '$T'/c8/config.yaml '$T'/c9/config.yaml '$T'/c10/config.yaml '$T'/c11/config.yaml \
    '$T'/c12/config.yaml 2>/dev/null | grep -q . &&
  test -p '$T/fifo.yaml' && test \$(wc -c <'$T/huge.yaml') -eq 1048577 && test ! -s '$T/empty.yaml'"

# --- datasets ---
mkdir -p "$T/empty"
expect_fail "missing dataset says what to install" 1 "dataset-fashion-mnist" train --train-dir "$T/d1" --config "$CFG" --set data.dir="$T/empty"
mkdir -p "$T/trunc"
cp "$DATA"/*labels* "$DATA"/t10k-images* "$T/trunc/"
head -c 2000000 "$DATA/train-images-idx3-ubyte.gz" >"$T/trunc/train-images-idx3-ubyte.gz"
expect_fail "truncated .gz names the file" 1 "trunc/train-images-idx3-ubyte.gz: .*(truncated|corrupt)" train --train-dir "$T/d2" --config "$CFG" --set data.dir="$T/trunc"
mkdir -p "$T/garbage"
cp "$DATA"/*labels* "$DATA"/t10k-images* "$T/garbage/"
head -c 100000 /dev/urandom >"$T/garbage/train-images-idx3-ubyte"
expect_fail "garbage IDX file names the file" 1 "garbage/train-images-idx3-ubyte: " train --train-dir "$T/d3" --config "$CFG" --set data.dir="$T/garbage"
# Only the gzip trailer cut (5 of its 8 bytes): every pixel inflates, the CRC-32/ISIZE is missing.
mkdir -p "$T/trailer"
cp "$DATA"/*labels* "$DATA"/t10k-images* "$T/trailer/"
size=$(wc -c <"$DATA/train-images-idx3-ubyte.gz")
head -c $((size - 5)) "$DATA/train-images-idx3-ubyte.gz" >"$T/trailer/train-images-idx3-ubyte.gz"
expect_fail "a .gz cut inside its trailer is truncated" 1 "trailer/train-images-idx3-ubyte.gz: truncated: gzip stream ends before its trailer" train --train-dir "$T/d4" --config "$CFG" --set data.dir="$T/trailer"
# A 41-byte file whose header promises 60000 x 256 x 256 pixels (3.9 GB): refused from the
# file's size, before anything that large is allocated.
mkdir -p "$T/promise"
cp "$DATA"/*labels* "$DATA"/t10k-images* "$T/promise/"
printf '\000\000\010\003\000\000\352\140\000\000\001\000\000\000\001\0000123456789012345678901234' >"$T/promise/train-images-idx3-ubyte"
PROMISE="promise/train-images-idx3-ubyte: truncated: expected 3932160000 bytes of pixel data, got 25"
expect_fail "an IDX header promising more than the file holds" 1 "$PROMISE" train --train-dir "$T/d5" --config "$CFG" --set data.dir="$T/promise"
# The same within 1.5 GB of address space (reading what the header promises ran out of memory).
if sh -c "ulimit -v 1500000 && '$BIN/train' --help" >/dev/null 2>&1; then
  expect_fail "... and without allocating it (ulimit -v 1500000)" 1 "$PROMISE" \
    sh -c "ulimit -v 1500000 && exec '$BIN/train' --quiet --train-dir '$T/d6' --config '$CFG' --set data.dir='$T/promise'"
else
  echo "skip - the same under ulimit -v (the train binary cannot run under an address-space limit: a sanitizer build)"
fi

# --- checkpoints ---
R=$T/run
check "a reference run" train --train-dir "$R" --config "$CFG" --steps 40 --set train.checkpoint_every=20
head -c 4096 /dev/urandom >"$T/garbage.h5"
expect_fail "garbage checkpoint" 1 "garbage.h5: not a trainval checkpoint" "$BIN/eval" --ckpt "$T/garbage.h5"
head -c 100000 "$R/ckpt-00000040.h5" >"$T/truncated.h5"
expect_fail "truncated checkpoint" 1 "truncated.h5: not a trainval checkpoint" "$BIN/eval" --ckpt "$T/truncated.h5"
expect_fail "missing checkpoint" 1 "$T/nothing.h5" "$BIN/eval" --ckpt "$T/nothing.h5"
cp -r "$R" "$T/corrupt"
printf 'X' | dd of="$T/corrupt/ckpt-00000040.h5" bs=1 seek=5000000 conv=notrunc 2>/dev/null
expect_fail "a corrupted committed checkpoint fails its checksum" 1 "ckpt-00000040.h5: .*checksum" "$BIN/eval" --train-dir "$T/corrupt"
expect_fail "resume refuses a corrupted newest checkpoint" 1 "ckpt-00000040.h5: .*checksum" train --train-dir "$T/corrupt" --steps 60
check "the corrupted run's older checkpoint still evaluates" sh -c "'$BIN/eval' --train-dir '$T/corrupt' --ckpt 20 --num-examples 100 >/dev/null"
expect_fail "a checkpoint of another model is refused on resume" 1 "model differs .*model.layers\[1\].units: 512 -> 64" train --train-dir "$R" --config "$CFG" --set model.layers.1.units=64 --steps 60
check "the refused resume changed nothing" sh -c "grep -q 'units: 512' '$R/config.yaml' && test -f '$R/ckpt-00000040.h5'"
expect_fail "eval of a step not in the manifest" 1 "step 30" "$BIN/eval" --train-dir "$R" --ckpt 30
printf 'format: trainval.manifest\ncheckpoints: [\n' >"$T/badman.yaml"
mkdir -p "$T/badman" && cp "$T/badman.yaml" "$T/badman/checkpoints.yaml"
expect_fail "a malformed manifest names file:line" 1 "badman/checkpoints.yaml:[0-9]+" "$BIN/eval" --train-dir "$T/badman"
cp -r "$R" "$T/nul"
sed -i 's/^    file: ckpt-00000040.h5$/    file: "ckpt-00000040.h5\\0x"/' "$T/nul/checkpoints.yaml"
expect_fail "a NUL inside a checkpoint name in the manifest is refused, not cut short" 1 \
  "nul/checkpoints.yaml:[0-9]+:[0-9]+: file: holds a NUL byte" "$BIN/eval" --train-dir "$T/nul"
check "the refused manifest and its checkpoints are left as they were" sh -c "
  grep -q 'ckpt-00000040.h5.0x' '$T/nul/checkpoints.yaml' && test -f '$T/nul/ckpt-00000040.h5'"

# --- train_dir that cannot be written ---
: >"$T/afile"
expect_fail "train_dir under a regular file" 1 "$T/afile: exists and is not a directory" train --train-dir "$T/afile/run" --config "$CFG"

# --- a full disk: the failed checkpoint is reported, the committed ones are intact ---
mkdir -p "$T/small"
if mount -t tmpfs -o size=16m tmpfs "$T/small" 2>/dev/null; then
  expect_fail "full disk while checkpointing" 1 "ckpt.*(No space left on device|write|close|flush)" \
    train --train-dir "$T/small/run" --config "$CFG" --steps 200 --set train.checkpoint_every=20 --set train.max_to_keep=0
  check "after a full disk the committed checkpoints still evaluate" sh -c "
    '$BIN/eval' --train-dir '$T/small/run' --num-examples 100 >/dev/null &&
    ! ls -a '$T/small/run' | grep -q tmp"
  umount "$T/small"
else
  skip "full disk" "needs root to mount a small tmpfs"
fi
