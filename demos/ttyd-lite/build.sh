#!/bin/sh
# Builds ttyd-lite, the stand-in for ttyd that VHS needs (see main.go), into
# PREFIX/bin/ttyd (default /opt/ttyd-lite/bin/ttyd). Needs go and npm: the
# xterm.js packages come from the npm registry (pinned versions, checked
# against the sha256 below) and are inlined into the one page it serves.
# The tests (main_test.go) run on the assembled page first; if they fail,
# nothing is installed. Nothing is written inside the repository.
#
#   demos/ttyd-lite/build.sh [PREFIX]
#   export PATH="/opt/ttyd-lite/bin:$PATH"    # then vhs finds it as ttyd
set -eu
prefix=${1:-/opt/ttyd-lite}
here=$(cd "$(dirname "$0")" && pwd)
for tool in go npm; do
	command -v "$tool" >/dev/null 2>&1 || { echo "ttyd-lite build: $tool is not installed" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/ttyd-lite.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
cp "$here/main.go" "$here/main_test.go" "$here/go.mod" "$here/go.sum" "$here/index.html" "$work/"
mkdir -p "$work/npm" "$work/assets"

# name@version  sha256 of the tarball  directory the page refers to
while read -r pkg sum dir; do
	(cd "$work/npm" && npm pack --silent "$pkg" >/dev/null)
	set -- "$work/npm"/*.tgz # the only tarball there: each is removed below
	tgz=$1
	got=$(sha256sum "$tgz" | cut -d' ' -f1)
	[ "$got" = "$sum" ] || { echo "ttyd-lite build: $pkg: sha256 $got, expected $sum" >&2; exit 1; }
	mkdir -p "$work/npm/$dir"
	tar -xzf "$tgz" -C "$work/npm/$dir" --strip-components=1
	rm -f "$tgz"
done <<'EOF'
@xterm/xterm@5.5.0 bd954fa721872170188cc5d7e83e88db3c83c9a18a4e8d24c2783d26491f59d2 xterm
@xterm/addon-canvas@0.7.0 f8004a9c444289c686ac9b58df98505f3e027fcfea411b6845f9279cc281a774 addon-canvas
@xterm/addon-fit@0.10.0 917ac44972453d5eed52edc1e50260c76398ce48cf2290c2e60671102bba0b33 addon-fit
@xterm/addon-unicode11@0.8.0 0202c50aaa686eceb13301875788f6465d35bd0d3304bf26a913a0278e434d0f addon-unicode11
EOF

# Inline every @@path@@ line of index.html; an inlined file must not close
# its <script> or <style> element.
if grep -il -e '</script' -e '</style' "$work"/npm/*/lib/*.js "$work"/npm/*/css/*.css; then
	echo "ttyd-lite build: an asset above would close its element early" >&2
	exit 1
fi
awk -v dir="$work/npm" '
	/^@@.*@@$/ {
		f = dir "/" substr($0, 3, length($0) - 4)
		n = 0
		while ((getline line < f) > 0) { print line; n++ }
		close(f)
		if (n == 0) { print "ttyd-lite build: missing " f > "/dev/stderr"; exit 1 }
		next
	}
	{ print }
' "$work/index.html" >"$work/assets/index.html"

(cd "$work" && go test -count=1 .) || { echo "ttyd-lite build: the tests failed" >&2; exit 1; }

mkdir -p "$prefix/bin"
(cd "$work" && go build -trimpath -o "$prefix/bin/ttyd.new" .)
mv -f "$prefix/bin/ttyd.new" "$prefix/bin/ttyd"
"$prefix/bin/ttyd" --version
