#!/bin/sh
# A token model (configs/fortunes_charlm.yaml, made small) trained on a text corpus with the real
# binary: exact resume after kill -9 with the state carried across batches (contiguous streams)
# and with random windows, the vocabulary and the batcher's cursor in the checkpoint, and the
# one-line errors for a missing, empty or unfit corpus.
. "$(dirname "$0")/lib.sh"
FORT=/usr/share/games/fortunes
if [ ! -d "$FORT" ]; then
  skip "token model training" "no $FORT (scripts/setup.sh installs fortunes)"
  exit 0
fi
mkdir "$T/corpus"
head -c 150000 "$FORT/fortunes" >"$T/corpus/a"
head -c 50000 "$FORT/computers" >"$T/corpus/b"
CFG=$T/lm.yaml
sed -e 's/^  input: \[128\]/  input: [16]/' -e 's/dim: 64/dim: 8/' -e 's/hidden: 256}/hidden: 24}/' \
  -e 's/^    - {type: lstm, hidden: 24}$/&/' "$ROOT/configs/fortunes_charlm.yaml" |
  sed -e '0,/    - {type: lstm, hidden: 24}/s//    - {type: lstm, hidden: 24}\n    - {type: dropout, rate: 0.2}/' \
    -e "s|corpus: .*|corpus: $T/corpus|" -e 's/valid_tokens: .*/valid_tokens: 20000/' \
    -e 's/batch_size: .*/batch_size: 4/' >"$CFG"
check "the small config has a dropout between the lstm layers" grep -q "type: dropout" "$CFG"
train() { "$BIN/train" "$@"; }
COMMON="--steps 90 --threads 1 --quiet --set train.checkpoint_every=30 --set train.validate_every=45 --set train.validate_batches=3 --set train.max_to_keep=0"

same_params() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a["variables"].visit(lambda n: names.append(n) if isinstance(a["variables"][n], h5py.Dataset) else None)
assert any(n.endswith("weight_hh") for n in names), names
for n in names:
    assert np.array_equal(a["variables"][n][()], b["variables"][n][()]), n
for n in ("state/carry/lstm_1", "state/carry/lstm_2", "state/text/cursor", "state/text/vocab"):
    assert np.array_equal(a[n][()], b[n][()]), n
PY
}
wait_for_step() {
  for _ in $(seq 3000); do grep -q "step: $2\$" "$1/checkpoints.yaml" 2>/dev/null && return 0; sleep 0.02; done
  return 1
}

for windows in contiguous random; do
  check "$windows: straight run to 90" train --train-dir "$T/$windows-straight" --config "$CFG" $COMMON --set train.windows=$windows
  D=$T/$windows-killed
  "$BIN/train" --train-dir "$D" --config "$CFG" $COMMON --set train.windows=$windows >/dev/null 2>&1 &
  pid=$!
  wait_for_step "$D" 30
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  check "$windows: kill -9 after step 30 left the run resumable" sh -c "grep -q '^status: running' '$D/checkpoints.yaml'"
  check "$windows: resume after kill -9" train --train-dir "$D" $COMMON
  check "$windows: parameters, carried state and cursor bitwise equal to the straight run" \
    same_params "$T/$windows-straight/ckpt-00000090.h5" "$D/ckpt-00000090.h5"
done

check "the vocabulary in the checkpoint is the training text's bytes, in order" \
  /usr/bin/python3 - "$T/contiguous-straight/ckpt-00000090.h5" "$T/corpus" <<'PY'
import sys, h5py, numpy as np
data = open(sys.argv[2] + "/a", "rb").read() + open(sys.argv[2] + "/b", "rb").read()
want = sorted(set(data[:-20000]))
got = list(h5py.File(sys.argv[1], "r")["state/text/vocab"][()])
assert got == want, (got, want)
c = h5py.File(sys.argv[1], "r")["state/carry/lstm_1"][()]
assert c.shape == (2 * 4 * 24,) and np.abs(c).sum() > 0
PY

expect_fail "a missing corpus: one line naming it" 1 "nothing: no such corpus" \
  "$BIN/train" --train-dir "$T/bad1" --config "$CFG" --set data.corpus="$T/nothing" --quiet
mkdir "$T/empty"
expect_fail "a folder without text files: one line naming it" 1 "empty: no text files in the folder" \
  "$BIN/train" --train-dir "$T/bad2" --config "$CFG" --set data.corpus="$T/empty" --quiet
: >"$T/empty/x"
expect_fail "an empty corpus: one line naming it" 1 "empty: the corpus is empty" \
  "$BIN/train" --train-dir "$T/bad3" --config "$CFG" --set data.corpus="$T/empty" --quiet
expect_fail "a vocabulary larger than the model's: one line" 1 "distinct bytes, more than the 40 token ids" \
  "$BIN/train" --train-dir "$T/bad4" --config "$CFG" --set model.num_classes=40 --set model.layers.4.units=40 --quiet
check "the refused runs left no checkpoint" sh -c "! ls $T/bad*/ckpt-* 2>/dev/null"
