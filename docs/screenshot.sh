#!/usr/bin/env bash
# Regenerates the pictures of the docs from the HTML report of `homalb compare`:
#   docs/report.png              README: every policy on xl170, W4, 80% load (the default comparison)
#   docs/policies-xl170-w4.png   docs/policies.md: Gen2, Gen3, gen5, gen6 on xl170, W4, 80%
#   docs/policies-c6525-w3.png   docs/policies.md: the same on c6525-100g, W3, 80%
# All one seed (seed 1).
#
#   bash docs/screenshot.sh
#
# Needs Go and Chromium (Debian: apt-get install chromium; CHROMIUM=/path
# overrides). Takes about 30 s. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
chromium=${CHROMIUM:-chromium}
command -v "$chromium" >/dev/null || { echo "screenshot.sh: $chromium not found (apt-get install chromium)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/homalb" ./cmd/homalb

# shot OUT HEIGHT COMPARE-ARGS…: renders the report of one comparison, cut
# at HEIGHT pixels.
shot() {
	local out=$1 height=$2
	shift 2
	"$tmp/homalb" compare --html "$tmp/report.html" "$@" >/dev/null
	"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
		--disable-component-update --disable-sync --no-first-run --hide-scrollbars \
		--force-device-scale-factor=1 --user-data-dir="$tmp/profile" \
		--window-size=1400,"$height" --screenshot="$tmp/shot.png" "file://$tmp/report.html" 2>/dev/null
	mv "$tmp/shot.png" "docs/$out"
	echo "wrote docs/$out"
}

shot report.png 2480
shot policies-xl170-w4.png 800 --policies gen2,gen3,gen5,gen6
shot policies-c6525-w3.png 800 --policies gen2,gen3,gen5,gen6 --profile c6525-100g -w w3 --duration 100ms --warmup 10ms
