#!/bin/sh
# Regenerates docs/demo.gif, the README's GIF, with the real binary: builds
# bin/diffuapriel, runs demos/playground.tape in VHS, checks the GIF (it
# decodes, has enough frames, the tape's size, a sane file size) and only
# then moves it over docs/demo.gif (mv within docs/, so the old GIF stays
# whole until the new one is good). Then demos/screenshots.tape retakes
# docs/screenshot.png and docs/compare.png the same way (in a scratch folder,
# checked, then moved in). Run it again after the demo models change.
#
#   scripts/demo_gif.sh [OUT.gif]   (from anywhere; OUT is relative to the
#                                    repository root, default docs/demo.gif)
#
# Needs go, vhs, ttyd, ffmpeg/ffprobe and Chromium (docs/recording.md, "The
# demo tape", says how they were installed here). Exit 0: written and
# checked; 1: the run or a check failed; 2: a tool is missing.
# Tunables: DEMO_GIF_MIN_FRAMES (100, after gifsicle merged identical frames), DEMO_GIF_MAX_BYTES (2 MiB). The GIF is
# shrunk with gifsicle and the screenshots with pngquant before the checks:
# the repository must stay under the 64 MiB the GPU machine's device tool
# carries, and the demo checkpoints alone take 56 MiB of it.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tape=demos/playground.tape
out=${1:-docs/demo.gif}
case $out in *.gif) ;; *) echo "demo_gif: the output must end in .gif: $out" >&2; exit 1 ;; esac
min_frames=${DEMO_GIF_MIN_FRAMES:-100}
max_bytes=${DEMO_GIF_MAX_BYTES:-2097152}

# Where the tools were installed on the project's machines (see
# docs/recording.md); harmless elsewhere.
PATH="$root/bin:$PATH:${GOPATH:-$HOME/go}/bin:/opt/ttyd-lite/bin"
export PATH

missing=""
for tool in go vhs ttyd ffmpeg ffprobe gifsicle pngquant; do
	command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
# VHS finds the browser the way go-rod does (these names on PATH); without
# one it would try to download a browser.
browser=""
for b in chrome google-chrome microsoft-edge chromium chromium-browser; do
	if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); break; fi
done
[ -n "$browser" ] || missing="$missing chromium"
if [ -n "$missing" ]; then
	echo "demo_gif: missing:$missing (docs/recording.md, \"The demo tape\", says how to install them)" >&2
	exit 2
fi

echo "demo_gif: building bin/diffuapriel"
go build -o bin/diffuapriel .

# The GIF is written next to its destination and moved over it only when
# every check passed.
outdir=$(dirname "$out")
[ -d "$outdir" ] || { echo "demo_gif: directory $outdir does not exist" >&2; exit 1; }
tmp="" log="" cfg="" shots=""
trap 'rm -f "$tmp" "$log" docs/.shot-*.png; [ -z "$cfg" ] || rm -rf "$cfg"; [ -z "$shots" ] || rm -rf "$shots"' EXIT
trap 'exit 1' INT TERM
tmp=$(mktemp "$outdir/.demo-gif.XXXXXX.gif")
log=$(mktemp "${TMPDIR:-/tmp}/demo-gif-log.XXXXXX")
cfg=$(mktemp -d "${TMPDIR:-/tmp}/demo-gif-config.XXXXXX")

# Chromium refuses to run as root with its sandbox on.
if [ "$(id -u)" = 0 ]; then VHS_NO_SANDBOX=1; export VHS_NO_SANDBOX; fi
# An empty config dir: a user's theme choice must not change the GIF.
XDG_CONFIG_HOME=$cfg
VHS_PUBLISH=false
export XDG_CONFIG_HOME VHS_PUBLISH

echo "demo_gif: $(vhs --version 2>&1 | head -n 1); $(ttyd --version 2>&1 | head -n 1); browser $browser"
echo "demo_gif: running $tape (a minute or more on a small CPU)"
start=$(date +%s)
if ! vhs -o "$tmp" "$tape" >"$log" 2>&1; then
	echo "demo_gif: vhs failed; the end of its output:" >&2
	tail -n 25 "$log" >&2
	exit 1
fi
echo "demo_gif: recorded in $(($(date +%s) - start)) s"
# Lossy LZW and a 64-colour palette take the GIF to about a third of VHS's
# size with the text still crisp.
gifsicle -O3 --lossy=20 --colors 64 --batch "$tmp" || { echo "demo_gif: gifsicle could not shrink the GIF" >&2; exit 1; }

# Checks: ffprobe decodes every frame; the size is the tape's Width x Height.
bytes=$(wc -c <"$tmp" | tr -d ' ')
[ "$bytes" -gt 0 ] || { echo "demo_gif: vhs wrote an empty file" >&2; exit 1; }
probe=$(ffprobe -v error -count_frames -select_streams v:0 \
	-show_entries stream=codec_name,width,height,nb_read_frames -show_entries format=duration \
	-of default=noprint_wrappers=1 "$tmp") || { echo "demo_gif: ffprobe cannot decode the GIF" >&2; exit 1; }
field() { printf '%s\n' "$probe" | sed -n "s/^$1=//p" | head -n 1; }
codec=$(field codec_name)
width=$(field width)
height=$(field height)
frames=$(field nb_read_frames)
duration=$(field duration)
want_w=$(sed -n 's/^Set Width \([0-9]*\).*/\1/p' "$tape")
want_h=$(sed -n 's/^Set Height \([0-9]*\).*/\1/p' "$tape")
fail=""
[ "$codec" = gif ] || fail="$fail; codec is '$codec', not gif"
[ "$width" = "$want_w" ] && [ "$height" = "$want_h" ] || fail="$fail; size ${width}x$height, the tape says ${want_w}x$want_h"
case $frames in '' | *[!0-9]*) fail="$fail; no frame count" ;; *)
	[ "$frames" -ge "$min_frames" ] || fail="$fail; $frames frames, fewer than $min_frames" ;; esac
[ "$bytes" -le "$max_bytes" ] || fail="$fail; $bytes bytes, more than $max_bytes (DEMO_GIF_MAX_BYTES)"
if [ -n "$fail" ]; then
	echo "demo_gif: the GIF failed its checks${fail}" >&2
	exit 1
fi

chmod 644 "$tmp"
mv -f "$tmp" "$out"
echo "demo_gif: wrote $out: ${width}x$height, $frames frames, ${duration} s, $bytes bytes"

shot_tape=demos/screenshots.tape
echo "demo_gif: taking the screenshots ($shot_tape)"
shots=$(mktemp -d "${TMPDIR:-/tmp}/demo-shots.XXXXXX")
if ! (cd "$shots" && vhs "$root/$shot_tape" >"$log" 2>&1); then
	echo "demo_gif: vhs failed on $shot_tape; the end of its output:" >&2
	tail -n 25 "$log" >&2
	exit 1
fi
want_w=$(sed -n 's/^Set Width \([0-9]*\).*/\1/p' "$shot_tape")
want_h=$(sed -n 's/^Set Height \([0-9]*\).*/\1/p' "$shot_tape")
for name in screenshot compare; do
	dims=$(ffprobe -v error -select_streams v:0 -show_entries stream=codec_name,width,height -of csv=p=0 \
		"$shots/$name.png" 2>/dev/null) || dims=""
	[ "$dims" = "png,$want_w,$want_h" ] || {
		echo "demo_gif: $name.png is not a ${want_w}x$want_h PNG (ffprobe: '${dims:-cannot read it}')" >&2
		exit 1
	}
done
for name in screenshot compare; do
	pngquant --quality 60-90 --speed 1 --force --output "docs/.shot-$name.png" "$shots/$name.png" ||
		{ echo "demo_gif: pngquant could not shrink $name.png" >&2; exit 1; }
	chmod 644 "docs/.shot-$name.png"
	mv -f "docs/.shot-$name.png" "docs/$name.png"
	echo "demo_gif: wrote docs/$name.png (${want_w}x$want_h)"
done
