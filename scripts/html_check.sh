#!/usr/bin/env bash
# html_check.sh: load a page written by `diffuapriel export --html` in
# headless Chromium, scrub it to a step through the URL hash, take a
# screenshot, and check the DOM the page's script built.
#
# usage: scripts/html_check.sh PAGE.html OUTDIR STEP [PANE:POS]
#   PAGE.html  the exported page
#   OUTDIR     where dom.html, screenshot.png and played.html are written
#   STEP       the frame to open (#step=STEP)
#   PANE:POS   a token to select (#sel=PANE:POS): its candidate box must show
# Optional expectations, from what the trace says about frame STEP:
#   EXPECT_MASKS="m0 m1 ..."  masks left in each pane
#   EXPECT_FRESH=n            tokens highlighted as revealed by this step
# Chromium: $CHROMIUM, else chromium, chromium-browser or google-chrome on PATH.
# It runs with a fresh profile and every network feature off; the page's own
# Content-Security-Policy forbids loading anything.
set -euo pipefail

fail() { echo "html_check: FAIL: $*" >&2; exit 1; }
[ $# -ge 3 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
page=$(realpath "$1") out=$2 step=$3 sel=${4:-}
[ -f "$page" ] || fail "no page at $1"
[[ $step =~ ^[0-9]+$ ]] || fail "STEP must be a number, got '$step'"
mkdir -p "$out"

browser=${CHROMIUM:-}
if [ -z "$browser" ]; then
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null; then browser=$b; break; fi
  done
fi
[ -n "$browser" ] || fail "no chromium found (apt-get install chromium, or set CHROMIUM)"

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chrome() {
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --no-first-run --disable-sync --disable-extensions \
    --user-data-dir="$profile" --hide-scrollbars --window-size=1280,800 "$@" 2>>"$out/chromium.log"
}

url="file://$page#step=$step"
[ -z "$sel" ] || url="$url&sel=$sel"

# 1. Scrub: open the frame, let the page's script run, dump the DOM.
chrome --virtual-time-budget=3000 --dump-dom "$url" >"$out/dom.html" || fail "chromium could not dump $url (see $out/chromium.log)"
dom=$out/dom.html
grep -q 'data-ready="1"' "$dom" || fail "the page's script did not finish (no data-ready on body)"
frame=$(grep -o '<body[^>]*data-frame="[0-9]*"' "$dom" | grep -o 'data-frame="[0-9]*"' | grep -o '[0-9]*' || true)
last=$(grep -o 'frame [0-9]*/[0-9]*' "$dom" | head -1 | cut -d/ -f2)
want=$step
[ -z "$last" ] || [ "$step" -le "$last" ] || want=$last
[ "$frame" = "$want" ] || fail "body shows frame '$frame', want $want"
grep -q "frame $want/$last" "$dom" || fail "the frame counter does not read 'frame $want/$last'"

if [ -n "${EXPECT_MASKS:-}" ]; then
  got=$(grep -o '<section class="pane[^"]*"[^>]*>' "$dom" | grep -o 'data-masks="[0-9]*"' | grep -o '[0-9]*' | tr '\n' ' ' | sed 's/ $//')
  [ "$got" = "$EXPECT_MASKS" ] || fail "panes show masks left '$got', want '$EXPECT_MASKS'"
fi
if [ -n "${EXPECT_FRESH:-}" ]; then
  got=$(grep -o 'class="tok fresh[ "]' "$dom" | wc -l)
  [ "$got" -eq "$EXPECT_FRESH" ] || fail "$got tokens highlighted as fresh, want $EXPECT_FRESH"
fi
if [ -n "$sel" ]; then
  pos=${sel#*:}
  tip=$(grep -o '<div id="tip"[^>]*>' "$dom")
  [[ $tip != *hidden* ]] || fail "the candidate box is hidden for the selected token $sel"
  [[ $tip == *"data-pos=\"$pos\""* ]] || fail "the candidate box shows another token: $tip"
  grep -q "position $pos" "$dom" || fail "the candidate box does not name position $pos"
  grep -q 'class="tok[^"]* sel"' "$dom" || fail "the selected token is not marked"
fi
# Model text must stay text: the template's own two scripts, nothing more.
scripts=$(grep -o '<script' "$dom" | wc -l)
[ "$scripts" -eq 2 ] || fail "the DOM has $scripts script elements, want 2"
! grep -q '<img' "$dom" || fail "an <img> element appeared in the DOM"

# 2. Screenshot of the same view.
chrome --virtual-time-budget=3000 --screenshot="$out/screenshot.png" "$url" >/dev/null || fail "chromium could not take a screenshot"
[ -s "$out/screenshot.png" ] || fail "empty screenshot"

# 3. Play: from frame 0, virtual time runs the player's timer.
chrome --virtual-time-budget=4000 --dump-dom "file://$page#step=0&play=1" >"$out/played.html" || fail "chromium could not play the page"
played=$(grep -o '<body[^>]*data-frame="[0-9]*"' "$out/played.html" | grep -o 'data-frame="[0-9]*"' | grep -o '[0-9]*' || true)
[ "${played:-0}" -gt 0 ] || fail "play did not advance past frame 0"

echo "html_check: OK: frame $want/$last, played to frame $played, screenshot $out/screenshot.png"
