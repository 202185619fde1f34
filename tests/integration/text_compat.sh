#!/bin/sh
# A token-model checkpoint written by an earlier trainval stays readable and is scored like
# PyTorch's (tests/fixtures/charlm-v1: embedding, lstm, dropout, gru, dense over 256 outputs,
# trained 60 steps on tests/fixtures/charlm-v1/corpus.txt, whose training text has fewer distinct
# bytes).  eval's loss and bpc are the softmax over the vocabulary's V outputs, as
# tests/integration/charlm_ref.py (numpy, no trainval code) computes them from the checkpoint's
# weights; the same reference over all 256 outputs gives what the old code printed (bpc
# 4.820955), so the reference is the code's own definition and only the scored outputs changed.
# The sample for a seed is the old code's.  --num-examples N is the text's first N tokens; the
# errors for a text too short, too few tokens and --subset-seed; and the config refusals of a
# token model pointed at another reader and of an image model given text keys.
. "$(dirname "$0")/lib.sh"
FX=$ROOT/tests/fixtures/charlm-v1
CK=$FX/run/ckpt-00000060.h5
REF="/usr/bin/python3 $ROOT/tests/integration/charlm_ref.py"
EV="$BIN/eval --ckpt $CK --set data.corpus=$FX/corpus.txt"
# near A.json B.json: loss and bpc of the two objects within 2e-6, the token counts equal
near() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
na = a.get('num_examples', a.get('tokens')); nb = b.get('num_examples', b.get('tokens'))
assert na == nb, (na, nb)
for k in ('loss', 'bpc'):
    assert abs(a[k] - b[k]) <= 2e-6, (k, a[k], b[k])
PY
}

check "the old checkpoint evaluates (eval --json)" sh -c "$EV --json >'$T/e.json'"
$REF "$CK" "$FX/corpus.txt" >"$T/ref.json" 2>&1
check "loss and bpc are numpy's over the vocabulary's V outputs (the validation text's 3968 scored tokens)" \
  near "$T/e.json" "$T/ref.json"
$REF "$CK" "$FX/corpus.txt" --all-outputs >"$T/ref256.json" 2>&1
check "the reference over all 256 outputs gives the old code's bpc 4.820955 (only the scored outputs changed)" \
  /usr/bin/python3 -c "import json,sys; b=json.load(open('$T/ref256.json'))['bpc']; sys.exit(abs(b - 4.820955) > 1e-6 and b)"
check "the bpc over the vocabulary is below the old figure" \
  /usr/bin/python3 -c "import json,sys; sys.exit(not json.load(open('$T/e.json'))['bpc'] < 4.820955)"
$EV --generate 80 --seed 3 --prompt "The " >"$T/g" 2>&1
check "the sample for seed 3 is the old code's" cmp "$T/g" "$FX/generate-seed3.txt"

check "--num-examples 1000: the text's first 1000 tokens" sh -c "$EV --json --num-examples 1000 >'$T/n.json'"
$REF "$CK" "$FX/corpus.txt" --first 1000 >"$T/refn.json" 2>&1
check "--num-examples 1000 scores what numpy scores over the first 1000 tokens (960: 4 streams of 15 windows of 16)" \
  near "$T/n.json" "$T/refn.json"
check "--num-examples 1000 reports 960 scored tokens" grep -q '"num_examples": 960,' "$T/n.json"
expect_fail "--num-examples too small for one window: one line" 1 \
  "^eval: --num-examples 64: text of 64 tokens holds no batch of 4 streams of 16 \+ 1 tokens$" \
  $EV --num-examples 64
expect_fail "--num-examples beyond the text: one line naming the corpus" 1 \
  "^eval: --num-examples 9999: the test text of .*corpus.txt has only 3998 tokens$" $EV --num-examples 9999
expect_fail "--subset-seed with a token model: one line" 1 "^eval: --subset-seed: a token model reads its text in order" \
  $EV --num-examples 1000 --subset-seed 2

# ---- a token model pointed at another reader, an image model given text keys ----------------
sed 's/^  corpus: corpus.txt/  format: hdf5\n  corpus: corpus.txt/' "$FX/fixture.yaml" >"$T/lm-hdf5.yaml"
expect_fail "a token model with data.format hdf5: one line naming the file, line and key" 1 \
  "^train: .*lm-hdf5.yaml:12:11: data.format: a token model reads the text of data.corpus, not data.format hdf5" \
  "$BIN/train" --train-dir "$T/r1" --config "$T/lm-hdf5.yaml" --quiet
for f in csv npy imgdir; do
  expect_fail "a token model with --set data.format=$f: one line naming the key" 1 \
    "^train: --set data.format=$f: data.format: a token model reads the text of data.corpus, not data.format $f" \
    "$BIN/train" --train-dir "$T/r2" --config "$FX/fixture.yaml" --set data.format=$f --quiet
done
expect_fail "eval --set data.format=csv on a token checkpoint: one line" 1 \
  "^eval: --set data.format=csv: data.format: a token model reads" $EV --set data.format=csv
small_config "$T/img.yaml"
printf '  corpus: %s\n' "$FX/corpus.txt" >"$T/corpus-line"
sed "/^data:/r $T/corpus-line" "$T/img.yaml" >"$T/img-text.yaml"
expect_fail "an image model with data.corpus: one line naming the file, line and key" 1 \
  "^train: .*img-text.yaml:[0-9]+:[0-9]+: data.corpus: applies to token models only" \
  "$BIN/train" --train-dir "$T/r3" --config "$T/img-text.yaml" --quiet
expect_fail "an image model with --set train.windows=random: one line" 1 \
  "^train: --set train.windows=random: train.windows: applies to token models only" \
  "$BIN/train" --train-dir "$T/r4" --config "$T/img.yaml" --set train.windows=random --quiet
expect_fail "an image model with --set data.valid_tokens=10: one line" 1 \
  "^train: --set data.valid_tokens=10: data.valid_tokens: applies to token models only" \
  "$BIN/train" --train-dir "$T/r5" --config "$T/img.yaml" --set data.valid_tokens=10 --quiet
check "the refused runs wrote no checkpoint" sh -c "! ls $T/r*/ckpt-* 2>/dev/null"
