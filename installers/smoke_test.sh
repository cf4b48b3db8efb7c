#!/usr/bin/env bash
# Smoke test of the bundled app (after installers/build_linux.sh), without a screen:
#   1. the CLI answers (templates, new),
#   2. the editor starts offscreen on a template's project file, paints and exits 0,
#   3. one epoch of the LSTM forecaster trains in the bundle on the shipped CO2 data
#      (torch works frozen, and the bundle finds its resources/).
#
#   installers/smoke_test.sh [BUNDLE_DIR]      # default installers/dist/LayerForge
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUNDLE="${1:-$ROOT/installers/dist/LayerForge}"
EXE="$BUNDLE/LayerForge"
[ -x "$EXE" ] || { echo "no bundle at $BUNDLE: run installers/build_linux.sh first" >&2; exit 2; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# a throwaway home: the app's settings, recent files and recovery folder never touch the user's
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" XDG_DATA_HOME="$WORK/home/.local/share"
export XDG_CACHE_HOME="$WORK/home/.cache" QT_QPA_PLATFORM=offscreen
mkdir -p "$HOME"
cd "$WORK"

step() { echo "== $*"; }
step "templates"
timeout 120 "$EXE" templates | grep -q "lstm-forecast"
step "new lstm-forecast"
timeout 120 "$EXE" new lstm-forecast -o "$WORK/lstm.json" >/dev/null
step "editor offscreen (--smoke-test)"
SECONDS=0
timeout 120 "$EXE" --smoke-test "$WORK/lstm.json" | tee "$WORK/smoke.txt"
grep -q "painted=True" "$WORK/smoke.txt"
echo "editor start to exit: ${SECONDS} s"
step "train 1 epoch on the bundled CO2 data"
timeout 300 "$EXE" train "$WORK/lstm.json" --epochs 1 --device cpu --out "$WORK/run" --quiet
[ -s "$WORK/run/best.pt" ]
echo "smoke test passed"
