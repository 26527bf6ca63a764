#!/bin/sh
# Smoke test of the real playground in a real terminal (tmux): builds the
# binary, opens `diffuapriel` with no arguments (the embedded default model),
# plays a generation, pauses, scrubs, opens the inspector and the help, saves
# a trace (S) and records the screen (V), then quits in the middle of a
# generation and checks the terminal was restored and --trace saved the run. Then it writes a trace
# with `generate --trace`, opens it with `diffuapriel replay --record`,
# plays, scrubs, inspects, checks that re-running is refused, and checks
# the recording; and replays the trace the playground saved.
# Every check reads the screen with `tmux capture-pane`. Exit 0: all passed.
#
#   scripts/tmux_smoke.sh            (from the repository root or anywhere)
#   KEEP=1 scripts/tmux_smoke.sh     keep the work directory for inspection
set -u
unset TMUX # works from inside another tmux too (a separate server, -L)

root=$(cd "$(dirname "$0")/.." && pwd)
command -v tmux >/dev/null 2>&1 || { echo "tmux_smoke: tmux is not installed" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/diffuapriel-smoke.XXXXXX")
sock="diffuapriel-smoke-$$"
t() { tmux -u -L "$sock" "$@"; }
cleanup() {
	t kill-server >/dev/null 2>&1
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM

fail() {
	echo "tmux_smoke: FAIL: $1" >&2
	echo "----- screen -----" >&2
	t capture-pane -p -t smoke >&2 2>/dev/null
	exit 1
}

screen() { t capture-pane -p -t smoke; }

# wait_for TEXT [SECONDS]: poll the screen until it shows TEXT.
wait_for() {
	limit=$(( ${2:-30} * 10 ))
	i=0
	while [ $i -lt "$limit" ]; do
		screen | grep -qF -- "$1" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "the screen never showed \"$1\""
}

# wait_gone TEXT [SECONDS]: poll until the screen no longer shows TEXT.
wait_gone() {
	limit=$(( ${2:-30} * 10 ))
	i=0
	while [ $i -lt "$limit" ]; do
		screen | grep -qF -- "$1" || return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "the screen still shows \"$1\""
}

keys() { t send-keys -t smoke "$@"; }

echo "tmux_smoke: building"
(cd "$root" && go build -o "$work/diffuapriel" .) || fail "go build"

# The pane runs the playground, then records its exit status and stays
# open so the restored terminal can be inspected.
t new-session -d -s smoke -x 100 -y 30 \
	"cd '$work' && ./diffuapriel --trace quit.jsonl 2>'$work/stderr'; echo \$? >'$work/status'; echo SHELL-BACK; sleep 600" ||
	fail "cannot start tmux"

echo "tmux_smoke: playing a generation"
wait_for "diffuapriel" 30
wait_for "controls" 30
wait_for "params" 60          # the model is loaded: the status bar has its size
wait_for "masks 0" 180        # played to the end: every mask revealed
wait_for "‖ paused" 10        # playback stops by itself at the end

echo "tmux_smoke: play and pause"
keys Space
wait_for "▶ playing" 10
keys Space
wait_for "‖ paused" 10

echo "tmux_smoke: scrubbing"
keys g
wait_for "step 0 ·" 10
keys . . .
wait_for "step 3/" 10
keys ]
wait_for "step 13/" 10
keys ,
wait_for "step 12/" 10
keys G
wait_for "masks 0" 10

echo "tmux_smoke: inspector"
keys g ]
wait_for "step 10/" 10
keys i
wait_for "inspector" 10
wait_for "pos " 10
before=$(screen | grep -F "inspector" | head -1)
keys Right
i=0
while [ "$(screen | grep -F "inspector" | head -1)" = "$before" ]; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "→ did not move the inspector"
	sleep 0.1
done
screen | grep -qE "^  1 “" || fail "the inspector shows no candidates"
keys Escape
wait_gone "x re-mask ·" 10

echo "tmux_smoke: help"
keys ?
wait_for "pin candidate" 10
keys Escape
wait_gone "pin candidate" 10

echo "tmux_smoke: saving a trace and recording the screen"
keys S
wait_for "saved trace diffuapriel-" 10
keys V
wait_for "● REC diffuapriel-" 10
keys g .
wait_for "step 1/" 10
keys V
wait_for "saved recording diffuapriel-" 10
ls "$work"/diffuapriel-*.jsonl >/dev/null 2>&1 || fail "S wrote no trace"
ls "$work"/diffuapriel-*.cast >/dev/null 2>&1 || fail "V wrote no recording"
head -1 "$work"/diffuapriel-*.cast | grep -qF '"version":2' || fail "the recording has no asciicast v2 header"

echo "tmux_smoke: quitting during a generation"
keys R
wait_for "▶" 10
keys q
wait_for "SHELL-BACK" 20
status=$(cat "$work/status" 2>/dev/null)
[ "$status" = "0" ] || fail "the playground exited with status '$status': $(cat "$work/stderr")"
screen | grep -qF "controls" && fail "the playground's screen is still shown after quitting"
[ "$(t display -p -t smoke '#{alternate_on}')" = "0" ] || fail "the alternate screen is still on"
[ "$(t display -p -t smoke '#{cursor_flag}')" = "1" ] || fail "the cursor is still hidden"
[ "$(t display -p -t smoke '#{mouse_any_flag}')" = "0" ] || fail "mouse reporting is still on"
[ -s "$work/stderr" ] && fail "the playground wrote to stderr: $(cat "$work/stderr")"
head -1 "$work/quit.jsonl" 2>/dev/null | grep -qF '"type":"header"' || fail "--trace wrote no trace at quit"

echo "tmux_smoke: replaying a generate trace"
(cd "$work" && ./diffuapriel generate --steps 16 --length 48 --prompt "Once upon a time" --trace run.jsonl >/dev/null 2>&1) ||
	fail "generate --trace"
t kill-session -t smoke
t new-session -d -s smoke -x 100 -y 30 \
	"cd '$work' && ./diffuapriel replay run.jsonl --record replay.cast 2>'$work/stderr'; echo \$? >'$work/status'; echo SHELL-BACK; sleep 600" ||
	fail "cannot start tmux"
wait_for "replay run.jsonl" 30
wait_for "● REC replay.cast" 10
wait_for "masks 0" 60
keys g . . .
wait_for "step 3/16" 10
keys ]
wait_for "step 13/16" 10
keys [
wait_for "step 3/16" 10
keys i
wait_for "cannot be steered" 10
screen | grep -qE "^  1 “" || fail "the replay's inspector shows no candidates"
keys Escape
wait_gone "cannot be steered" 10
keys R
wait_for "re-running needs the model" 10
screen >"$work/replay-screen.txt"
keys q
wait_for "SHELL-BACK" 20
status=$(cat "$work/status" 2>/dev/null)
[ "$status" = "0" ] || fail "replay exited with status '$status': $(cat "$work/stderr")"
head -1 "$work/replay.cast" 2>/dev/null | grep -qF '"version":2' || fail "replay --record wrote no asciicast"
grep -qF "run.jsonl" "$work/replay.cast" || fail "the replay's recording does not show the screen"
if command -v asciinema >/dev/null 2>&1; then
	# asciinema reads the controlling terminal, so it runs in tmux too.
	for cast in "$work"/*.cast; do
		rm -f "$work/asciinema.status"
		t new-session -d -s cast "asciinema cat '$cast' >/dev/null 2>'$work/asciinema.err'; echo \$? >'$work/asciinema.status'" ||
			fail "cannot start tmux"
		i=0
		while [ ! -s "$work/asciinema.status" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
		[ "$(cat "$work/asciinema.status" 2>/dev/null)" = "0" ] ||
			fail "asciinema cannot read $cast: $(tail -1 "$work/asciinema.err")"
	done
fi

echo "tmux_smoke: replaying the traces the playground saved"
for saved in "$work"/diffuapriel-*.jsonl "$work/quit.jsonl"; do
	t kill-session -t smoke
	t new-session -d -s smoke -x 100 -y 30 \
		"cd '$work' && ./diffuapriel replay '$saved' 2>'$work/stderr'; echo \$? >'$work/status'; echo SHELL-BACK; sleep 600" ||
		fail "cannot start tmux"
	wait_for "replay $(basename "$saved")" 30
	wait_for "‖ paused" 60 # played to its end (a run cut by quitting has masks left)
	keys q
	wait_for "SHELL-BACK" 20
	[ "$(cat "$work/status" 2>/dev/null)" = "0" ] || fail "replaying $saved failed: $(cat "$work/stderr")"
done

echo "tmux_smoke: ok"
