#!/usr/bin/env bash
# Regenerates docs/report.png, the README's picture of the HTML report of the
# default comparison (every policy on xl170, W4, 80% load, seed 1):
#
#   bash docs/screenshot.sh
#
# Needs Go and Chromium (Debian: apt-get install chromium; CHROMIUM=/path
# overrides). Takes about 15 s. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
chromium=${CHROMIUM:-chromium}
command -v "$chromium" >/dev/null || { echo "screenshot.sh: $chromium not found (apt-get install chromium)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run ./cmd/homalb compare --html "$tmp/report.html" >/dev/null
"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
	--disable-component-update --disable-sync --no-first-run --hide-scrollbars \
	--force-device-scale-factor=1 --user-data-dir="$tmp/profile" \
	--window-size=1400,2480 --screenshot="$tmp/report.png" "file://$tmp/report.html" 2>/dev/null
mv "$tmp/report.png" docs/report.png
echo "wrote docs/report.png"
