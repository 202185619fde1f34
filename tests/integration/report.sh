#!/bin/sh
# trainval-report (bin/report) on real runs: a short train with in-process validation and an
# eval --watch beside it, and a second run; the HTML report rendered by headless Chromium (DOM:
# one SVG path per series, axis labels; screenshot: a PNG showing the runs' colours), the table
# of the evaluator's latest misclassified examples and its PR curves (from its event files), two
# runs side by side, --png charts (decoded by pngcheck.py), a run in progress, partial and damaged
# input files (notes, never a crash), and bad arguments (one line, nothing overwritten).
. "$(dirname "$0")/lib.sh"
CFG=$ROOT/configs/fashion_mlp.yaml
PNG="/usr/bin/python3 $ROOT/tests/integration/pngcheck.py"
A=$T/runs/a
B=$T/runs/b
report() { "$BIN/report" "$@"; }

# ---- two real runs -------------------------------------------------------------------------
"$BIN/eval" --watch "$A" --num-examples 300 --timeout 60 >"$T/eval.out" 2>&1 &
ep=$!
check "run a: train 200 steps with validation, an evaluator beside it" "$BIN/train" --train-dir "$A" \
  --config "$CFG" --quiet --steps 200 --set train.checkpoint_every=50 --set train.summary_every=10 \
  --set train.validate_every=50 --set train.validate_batches=2
wait $ep
check "run b: train 150 steps, another learning rate" "$BIN/train" --train-dir "$B" --config "$CFG" \
  --quiet --steps 150 --set train.checkpoint_every=50 --set train.summary_every=10 \
  --set optimizer.learning_rate=0.003

# ---- the HTML ------------------------------------------------------------------------------
check "report of one run" report "$A" --out "$T/a.html"
check "self-contained: no script, no external resource, no font, no link" sh -c "
  ! grep -qiE '<script|<link|<img|<iframe|@import|@font-face|url\\(|src=|href=' '$T/a.html' &&
  [ \$(grep -oE 'https?://[^\"]*' '$T/a.html' | sort -u) = http://www.w3.org/2000/svg ]"
# 12 series: loss, accuracy (train, validation, eval), macro_f1 (validation, eval), learning_rate,
# examples_per_sec (train), eval_lag_steps, eval_lag_seconds (eval).
check "one path per series: 12 for run a" test "$(grep -o '<path class="series"' "$T/a.html" | wc -l)" -eq 12
check "every series has at least two points" sh -c "! grep -o '<path class=\"series\"[^>]* d=\"[^\"]*\"' '$T/a.html' | grep -v ' L'"
check "status, best checkpoint, confusion matrices, per-class table, config" sh -c "
  grep -q '<th>status</th><td class=\"st-final\">final' '$T/a.html' &&
  grep -q 'best by accuracy (max): <b>step [0-9]*</b>' '$T/a.html' &&
  [ \$(grep -c '<table class=\"confusion\">' '$T/a.html') -ge 1 ] &&
  grep -q '<table class=\"per-class\">' '$T/a.html' && grep -q 'valid_fraction' '$T/a.html'"
check "the table of the latest misclassified examples: the evaluator's last misclassified/labels text" \
  /usr/bin/python3 -c "
import glob, html, re, sys
sys.path.insert(0, '$ROOT/tests/integration')
import events
ts = [t for f in sorted(glob.glob('$A/eval/events.out.tfevents.*')) for t in events.tensors(f)
      if t['tag'] == 'misclassified/labels']
last = max(ts, key=lambda t: t['step'])
page = open('$T/a.html').read()
m = re.findall(r'<h4>misclassified: step (\d+)</h4><pre>(.*?)</pre>', page, re.S)
assert len(m) == 1 and int(m[0][0]) == last['step'], (m, last['step'])
assert html.unescape(m[0][1]) == last['strings'][0].decode(), m[0][1][:300]
assert m[0][1].startswith('first 16 misclassified of 300 examples'), m[0][1][:100]"
check "the evaluator's latest PR curves: one line per class (10), precision over recall" sh -c "
  grep -q '<text class=\"title\" x=\"64\" y=\"18\">PR curves: step 200</text>' '$T/a.html' &&
  [ \$(grep -o '<path class=\"pr\"' '$T/a.html' | wc -l) -eq 10 ] &&
  grep -q '<title>pr_curve/9</title>' '$T/a.html'"
check "the best checkpoint is the evaluator's state.yaml best" sh -c "
  best=\$(sed -n 's/^best: {step: \\([0-9]*\\),.*/\\1/p' '$A/eval/state.yaml');
  grep -q \"<h4>best: step \$best \" '$T/a.html'"
check "two runs side by side" report "$A" "$B" --out "$T/ab.html"
check "one path per series: 16 for runs a and b, two run sections" sh -c "
  [ \$(grep -o '<path class=\"series\"' '$T/ab.html' | wc -l) -eq 16 ] &&
  [ \$(grep -c '<section class=\"run\">' '$T/ab.html') -eq 2 ]"
check "one colour per run: a's train loss blue, b's orange" sh -c "
  grep -q 'stroke=\"#0072b2\" d=\"M[^\"]*\"><title>$A train' '$T/ab.html' &&
  grep -q 'stroke=\"#d55e00\" d=\"M[^\"]*\"><title>$B train' '$T/ab.html'"

# ---- in a real browser -----------------------------------------------------------------------
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ] && [ "${TRAINVAL_NO_INSTALL:-0}" != 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "# installing Debian's chromium for the browser checks (once)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >"$T/apt.log" 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >"$T/apt.log" 2>&1; }
  browser=$(command -v chromium || true)
fi
chrome() {
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$T/chrome" --window-size=1280,1600 "$@" 2>>"$T/chrome.err"
}
if [ -z "$browser" ]; then
  echo "skip - browser checks: chromium is not installed and could not be installed"
else
  for r in a ab; do
    chrome --dump-dom "file://$T/$r.html" >"$T/$r.dom"
    want=12 runs=1
    [ $r = ab ] && want=16 runs=2
    check "chromium renders $r: $want series paths in the DOM" \
      test "$(grep -o '<path class="series"' "$T/$r.dom" | wc -l)" -eq $want
    check "chromium renders $r: 7 charts, each with its step and tag axis labels" sh -c "
      [ \$(grep -o '<svg class=\"chart\"' '$T/$r.dom' | wc -l) -eq 7 ] &&
      [ \$(grep -o '<text class=\"axis-label\"[^>]*>step</text>' '$T/$r.dom' | wc -l) -eq 7 ] &&
      grep -q '<text class=\"axis-label\"[^>]*>loss</text>' '$T/$r.dom' &&
      grep -q '<text class=\"axis-label\"[^>]*>eval_lag_seconds</text>' '$T/$r.dom'"
    chrome --screenshot="$T/$r.png" "file://$T/$r.html" >/dev/null
    $PNG "$T/$r.png" 0072b2 d55e00 >"$T/$r.px" 2>&1
    check "screenshot of $r: a valid 1280x1600 PNG, not blank, the curves' colours drawn" awk -v runs=$runs '
      { ok = $1 == 1280 && $2 == 1600 && $3 > 50 && $4 > 2000 && (runs == 1 || $5 > 2000) }
      END { if (!ok) { print "pngcheck.py: " $0; exit 1 } }' "$T/$r.px"
  done
fi

# ---- --png ---------------------------------------------------------------------------------
check "--png writes the same charts as PNG files" report "$A" "$B" --out "$T/ab2.html" --png "$T/png"
for tag in loss accuracy macro_f1 learning_rate examples_per_sec eval_lag_steps eval_lag_seconds; do
  $PNG "$T/png/$tag.png" 0072b2 d55e00 >"$T/$tag.px" 2>&1
  check "--png $tag.png: valid 640x360 PNG with run a's colour drawn" awk '
    { ok = $1 == 640 && $2 == 360 && $3 >= 3 && $4 > 100 } END { if (!ok) { print $0; exit 1 } }' "$T/$tag.px"
done
check "--png loss.png: both runs' colours drawn" awk '{ exit !($5 > 100) }' "$T/loss.px"
check "no PNG for a tag no run has" test "$(ls "$T/png" | wc -l)" -eq 7

# ---- live: a run in progress, re-read each time ----------------------------------------------
L=$T/runs/live
"$BIN/train" --train-dir "$L" --config "$CFG" --quiet --steps 100000 --threads 1 \
  --set train.summary_every=5 >/dev/null 2>&1 &
tp=$!
# Points of the first train series in a report.
points() { grep -o '<path class="series"[^>]*><title>[^<]* train</title>' "$1" | head -1 | grep -o ' L' | wc -l; }
for _ in $(seq 1200); do
  [ -n "$(ls "$L"/events.out.tfevents.* 2>/dev/null)" ] && grep -q running "$L/checkpoints.yaml" 2>/dev/null && break
  sleep 0.05
done
sleep 1
report "$L" --out "$T/l1.html" 2>/dev/null
n1=$(points "$T/l1.html") n2=$n1
for _ in $(seq 60); do # until train has written more summaries (a few seconds at most)
  sleep 0.5
  report "$L" --out "$T/l2.html" 2>/dev/null
  n2=$(points "$T/l2.html")
  [ "$n2" -gt "$n1" ] && break
done
kill $tp 2>/dev/null
wait $tp 2>/dev/null
check "a run in progress is marked so, with its heartbeat age" \
  grep -qE 'class="st-running">running \(in progress: heartbeat [0-9]+ s ago' "$T/l1.html"
check "the report re-reads the files: a later report of the live run has more points ($n1 -> $n2)" test "$n2" -gt "$n1"

# ---- partial and damaged files: notes, never a crash -----------------------------------------
P=$T/runs/partial
cp -r "$A" "$P"
printf '{"step": 999, "checkpoint": "ckpt-0' >>"$P/eval/metrics.jsonl"
f=$(ls "$P"/events.out.tfevents.* | head -1)
size=$(wc -c <"$f")
# The damage goes among the scalars, past the step-0 text summaries (config, model) at the head.
text_end=$(/usr/bin/python3 -c "
import struct, sys
d = open(sys.argv[1], 'rb').read(); i = end = 0
while i < len(d):
    (n,) = struct.unpack_from('<Q', d, i); i += 16 + n
    if b'text' in d[i - 4 - n:i - 4]: end = i
print(end)" "$f")
printf 'X' | dd of="$f" bs=1 seek=$(((text_end + size) / 2)) conv=notrunc 2>/dev/null
report "$P" --out "$T/p.html" >"$T/p.out" 2>"$T/p.err"
rc=$?
check "partial files: the report is still written (exit 0)" sh -c "[ $rc -eq 0 ] && [ -s '$T/p.html' ]"
check "a torn metrics.jsonl line is skipped with a note naming the file and line" sh -c "
  grep -q 'report: note: $P/eval/metrics.jsonl:[0-9]*: last line incomplete' '$T/p.err' &&
  grep -q 'metrics.jsonl:[0-9]*: last line incomplete (being written, or cut by a crash); skipped' '$T/p.html'"
check "a damaged event record is a note naming the file, the rest of that file skipped" sh -c "
  grep -q 'report: note: $f: record [a-z ]*CRC mismatch at byte [0-9]*; the rest of the file is skipped' '$T/p.err' &&
  grep -q '<h4>skipped</h4>' '$T/p.html'"
check "the damaged run still draws its curves (records before the damage)" \
  test "$(grep -o '<path class="series"' "$T/p.html" | wc -l)" -eq 12
printf 'not json at all\n{"step": 5}\n' >"$T/extra"
cat "$T/extra" "$A/eval/metrics.jsonl" >"$P/eval/metrics.jsonl"
report "$P" --out "$T/p2.html" 2>"$T/p2.err"
check "a malformed complete line is skipped with a note, the other lines used" sh -c "
  grep -q 'metrics.jsonl:1: not a metrics line; skipped' '$T/p2.err' &&
  ! grep -q 'metrics.jsonl:2:' '$T/p2.err' && [ \$(grep -c '<path class=\"series\"' '$T/p2.html') -eq 12 ]"

# ---- errors: one line naming the file, nothing overwritten ------------------------------------
echo keep >"$T/keep.html"
expect_fail "a missing DIR is an error naming it" 1 "^report: $T/nope: No such file or directory\$" \
  report "$T/nope" --out "$T/keep.html"
mkdir -p "$T/empty"
expect_fail "a DIR without a manifest is an error naming it" 1 "^report: $T/empty: no checkpoints.yaml \\(not a train_dir" \
  report "$A" "$T/empty" --out "$T/keep.html"
check "after an error the existing output is untouched" grep -qx keep "$T/keep.html"
expect_fail "no DIR is a usage error" 2 "no train_dir given" report --out "$T/keep.html"
expect_fail "an unknown option is a usage error" 2 "unrecognized option" report --colour "$A"
check "--help names every option" sh -c "'$BIN/report' --help | grep -q -- '--png OUTDIR' && '$BIN/report' --help | grep -q -- '--out FILE'"
