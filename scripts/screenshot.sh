#!/usr/bin/env bash
# Screenshots of the HTML report's key timeline for docs/ (README): the rotation fixture
# (five keys, one every 6 hours) and the static-key fixture (one key for three weeks, alerts).
# Needs chromium (apt-get install chromium). Every network path of the browser is closed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build -q
B=$CARGO_TARGET_DIR/debug/stekwatch
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
shot() { # capture, png, height
  "$B" read --html "$T/page.html" "captures/$1" >/dev/null
  chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-extensions --no-pings \
    --host-resolver-rules="MAP * ~NOTFOUND" --proxy-server=http://127.0.0.1:9 \
    --user-data-dir="$T/profile" --hide-scrollbars --window-size=1100,"$3" \
    --screenshot="$2" "file://$T/page.html" 2>/dev/null
  echo "wrote $2"
}
shot rotation-daily.pcap docs/timeline-rotation-daily.png 560
shot static-key-weeks.pcap docs/timeline-static-key-weeks.png 520
