#!/bin/sh
# The evaluator's TensorBoard figures, read back from the real binaries' event files and decoded
# against summary.proto (events.py images(), tensors()) and the PNG specification (pngcheck.py):
# the confusion matrix image of each checkpoint (its cells shaded as metrics.jsonl's counts say),
# the grid of the first misclassified examples with its table (checked against one-shot evals of
# the subset cut just before and at the last example listed), and one PR curve per class in
# TensorBoard's pr_curves format (counts that agree with the confusion matrix); the same
# checkpoint gives the same records, across an evaluator killed and restarted too; each result
# carries best/<metric>, the best value so far (what the HParams dashboard shows as the session's
# metric), continued across the restart; the files pass the independent checker.
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
D=$T/run
PY="/usr/bin/python3"
N=500
check "a run with checkpoints at steps 50, 100 and 150" "$BIN/train" --train-dir "$D" --config "$CFG" \
  --steps 150 --threads 1 --quiet --set train.checkpoint_every=50 --set train.max_to_keep=0
check "eval --watch" "$BIN/eval" --watch "$D" --num-examples $N --threads 1
TV_TEST_EVAL_KILL_AFTER_EVENT=100 "$BIN/eval" --watch "$D" --name again --num-examples $N \
  --threads 1 >"$T/again.out" 2>&1
check "a second evaluator, killed after step 100's records (SIGKILL)" test $? -eq 137
check "... restarted, it evaluates step 100 again and goes on" "$BIN/eval" --watch "$D" --name again \
  --num-examples $N --threads 1
check "a third with --misclassified 5" "$BIN/eval" --watch "$D" --name five --misclassified 5 \
  --num-examples $N --threads 1
check "a fourth with --misclassified 0" "$BIN/eval" --watch "$D" --name none --misclassified 0 \
  --num-examples $N --threads 1
expect_fail "--misclassified -1 is refused" 2 "eval: --misclassified: expected an integer in \[0, 1024\], got '-1'" \
  "$BIN/eval" --watch "$D" --name bad --misclassified -1
figs() { # figs NAME PYEXPR: asserts PYEXPR over ims, ts (images, tensors of DIR/NAME) and jl
  $PY -c "
import glob, json, sys
sys.path.insert(0, '$ROOT/tests/integration')
import events, pngcheck
files = sorted(glob.glob('$D/$1/events.out.tfevents.*'))
ims = [i for f in files for i in events.images(f)]
ts = [t for f in files for t in events.tensors(f)]
jl = [json.loads(l) for l in open('$D/$1/metrics.jsonl')]
def png(im, name):
    p = '$T/%s.png' % name
    open(p, 'wb').write(im['png'])
    w, h, bpp, rows = pngcheck.decode(p)
    assert (w, h) == (im['width'], im['height']), (w, h, im)
    return rows
$2"
}
check "one confusion_matrix image per checkpoint, RGB, a valid PNG of its declared size" figs eval "
cms = [i for i in ims if i['tag'] == 'confusion_matrix']
assert [i['step'] for i in cms] == [50, 100, 150], cms
for i in cms:
    assert i['colorspace'] == 3, i
    png(i, 'cm%d' % i['step'])"
check "confusion_matrix: each cell shaded by its count's share of the row (metrics.jsonl), a count drawn in it" figs eval "
for im in [i for i in ims if i['tag'] == 'confusion_matrix']:
    cm = [l for l in jl if l['step'] == im['step']][0]['confusion']
    k = len(cm)
    rows = png(im, 'cm')
    cell = max(28, 8 * len(str(max(max(r) for r in cm))) + 8)
    left, top = im['width'] - 8 - k * cell, 26
    assert im['height'] == top + k * cell + 8, (im['height'], k, cell)
    for t in range(k):
        for p in range(k):
            f = cm[t][p] / max(1, sum(cm[t]))
            want = [round(255 + (hi - 255) * f) for hi in (0x08, 0x30, 0x6b)]
            x, y = left + p * cell, top + t * cell
            got = [int(c) for c in rows[y + 2][x + 2]]
            assert all(abs(a - b) <= 1 for a, b in zip(got, want)), (t, p, got, want)
            ink = (34, 34, 34) if f <= 0.5 else (255, 255, 255)
            body = rows[y + 2:y + cell - 2, x + 2:x + cell - 2]
            assert (body == ink).all(axis=2).sum() >= 12, (t, p, 'no count drawn')"
check "misclassified: a grid of 16 at each step, its table lists 16 wrong predictions in subset order" figs eval "
g = [i for i in ims if i['tag'] == 'misclassified']
assert [i['step'] for i in g] == [50, 100, 150], g
for i in g:
    rows = png(i, 'mis')
    assert (i['width'], i['height']) == (8 * 96 + 8, 2 * 78 + 8), i
tab = [t for t in ts if t['tag'] == 'misclassified/labels']
assert [t['step'] for t in tab] == [50, 100, 150] and all(t['plugin'] == 'text' for t in tab), tab
for t in tab:
    lines = t['strings'][0].decode().splitlines()
    assert lines[0] == 'first 16 misclassified of $N examples (grid left to right, top to bottom)', lines
    assert lines[2] == '| # | example | true | predicted | p(predicted) |', lines
    body = [l.strip('|').split('|') for l in lines[4:]]
    assert len(body) == 16, lines
    ex = [int(r[1]) for r in body]
    assert ex == sorted(ex) and len(set(ex)) == 16, ex
    for r in body:
        assert r[2].strip() != r[3].strip() and 0 < float(r[4]) <= 1, r
    open('$T/last%d' % t['step'], 'w').write('%d' % ex[-1])"
# The 16th misclassified example is the last of the first 16 wrong ones: the subset cut at it
# holds 16 errors, the subset cut just before it 15.
L=$(cat "$T/last100" 2>/dev/null || echo 0)
errors() { # errors COUNT: the number of wrong predictions among the first COUNT test examples
  "$BIN/eval" --train-dir "$D" --ckpt 100 --num-examples "$1" --json --threads 1 |
    $PY -c "import json, sys; r = json.load(sys.stdin); print(round($1 - r['accuracy'] * $1))"
}
check "the examples listed are the first 16 misclassified: 16 errors in the first $((L + 1)), 15 in the first $L" \
  test "$(errors $((L + 1))) $(errors "$L")" = "16 15"
check "--misclassified 5: 5 examples, the first 5 of the 16" figs five "
import glob
g = [i for i in ims if i['tag'] == 'misclassified']
assert all((i['width'], i['height']) == (5 * 96 + 8, 78 + 8) for i in g) and len(g) == 3, g
def ex(t): return [int(l.split('|')[2]) for l in t['strings'][0].decode().splitlines()[4:]]
mine = [ex(t) for t in ts if t['tag'] == 'misclassified/labels']
full = [ex(t) for f in sorted(glob.glob('$D/eval/events.out.*')) for t in events.tensors(f)
        if t['tag'] == 'misclassified/labels']
assert [m for m in mine] == [f[:5] for f in full], (mine, full)"
check "--misclassified 0: no grid and no table, the confusion matrix still there" figs none "
assert not [i for i in ims if i['tag'] == 'misclassified'], ims
assert not [t for t in ts if t['tag'] == 'misclassified/labels']
assert len([i for i in ims if i['tag'] == 'confusion_matrix']) == 3"
check "pr_curves: one per class per step, DT_FLOAT [6, 101], PrCurvePluginData{version 0, 101}" figs eval "
pr = [t for t in ts if t['plugin'] == 'pr_curves']
assert sorted(set(t['tag'] for t in pr)) == ['pr_curve/%d' % c for c in range(10)], pr
assert len(pr) == 30
for t in pr:
    assert (t['data_class'], t['dtype'], t['dims'], len(t['floats'])) == (2, 1, [6, 101], 606), t
    assert t['content'] == bytes([0x08, 0, 0x10, 101]), t['content']"
check "pr_curves: counts agree with the confusion matrix; precision and recall TensorBoard's" figs eval "
for t in [t for t in ts if t['plugin'] == 'pr_curves']:
    c = int(t['tag'].split('/')[1])
    cm = [l for l in jl if l['step'] == t['step']][0]['confusion']
    T = 101
    tp, fp, tn, fn, pr, rc = [t['floats'][i * T:(i + 1) * T] for i in range(6)]
    support = sum(cm[c])
    assert (tp[0], fn[0], tp[0] + fp[0]) == (support, 0, $N), (c, tp[0], fp[0])
    assert all(a >= b for a, b in zip(tp, tp[1:])) and all(a >= b for a, b in zip(fp, fp[1:]))
    for j in range(T):
        assert tp[j] + fn[j] == support and fp[j] + tn[j] == $N - support, (c, j)
        assert abs(pr[j] - max(tp[j], 1e-7) / max(tp[j] + fp[j], 1e-7)) < 1e-6, (c, j)
        assert abs(rc[j] - (1 - fn[j] / max(tp[j] + fn[j], 1e-7))) < 1e-6, (c, j)
    # p >= 0.5 makes c the prediction: at threshold 0.5 at most the diagonal and the column
    assert tp[50] <= cm[c][c] and tp[50] + fp[50] <= sum(r[c] for r in cm), (c, tp[50], fp[50])"
check "the same checkpoints give the same figures (the killed and restarted evaluator's records are equal)" figs eval "
import glob
def recs(name):
    fs = sorted(glob.glob('$D/%s/events.out.tfevents.*' % name))
    return ([(i['step'], i['tag'], i['png']) for f in fs for i in events.images(f)],
            [(t['step'], t['tag'], t['floats'], t['strings']) for f in fs for t in events.tensors(f)
             if t['plugin'] in ('pr_curves', 'text')])
assert recs('eval') == recs('again')"
best() { # best NAME: best/<metric> at each step is the best of the metric up to that step
  figs "$1" "
import glob
sc = {}
for f in sorted(glob.glob('$D/$1/events.out.tfevents.*')):
    recs = []
    events.read(f, recs)
    for step, _, values in recs:
        for tag, val in values:
            if tag.startswith('best/'):
                sc[(step, tag)] = float(val)
res = [l for l in jl if 'accuracy' in l]
assert [l['step'] for l in res] == [50, 100, 150], res
for m, pick in (('accuracy', max), ('loss', min), ('macro_f1', max), ('top5', max), ('bpc', min),
                ('perplexity', min)):
    for i, l in enumerate(res):
        want = pick(r[m] for r in res[:i + 1])
        got = sc[(l['step'], 'best/' + m)]
        assert abs(got - want) <= 1e-6 * max(1, abs(want)), (m, l['step'], got, want)
assert len(sc) == 18, sorted(sc)"
}
check "best/<metric> at each result: the best value so far (max, min for loss)" best eval
check "... and across the evaluator's restart (the earlier results from metrics.jsonl)" best again
if [ -f "$CHECKERS/tfevents_check.py" ]; then
  check "the evaluator's event files pass the independent checker (--strict)" \
    $PY "$CHECKERS/tfevents_check.py" --strict --quiet "$D/eval"
else
  skip "independent event checker" "tfevents_check.py not found in $CHECKERS"
fi
