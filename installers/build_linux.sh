#!/usr/bin/env bash
# Build the Linux one-folder bundle installers/dist/LayerForge/ and report time and size.
#
#   installers/build_linux.sh            # uses .venv (pip install -e '.[installer]' first)
#   PYTHON=/path/to/python installers/build_linux.sh
#
# Incremental: PyInstaller keeps its analysis cache in installers/build/, so a rebuild after a
# small code change is much faster than the first build. Delete installers/build/ for a clean one.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
DIST="$ROOT/installers/dist"
WORK="$ROOT/installers/build"

if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "PyInstaller is missing: $PYTHON -m pip install -e '.[installer]'" >&2
    exit 1
fi
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" installers/layerforge.spec
seconds=$(( $(date +%s) - start ))

install -Dm644 installers/layerforge.desktop "$DIST/LayerForge/layerforge.desktop"
install -Dm644 resources/icons/layerforge-256.png "$DIST/LayerForge/layerforge.png"
size=$(du -sh "$DIST/LayerForge" | cut -f1)
echo "built $DIST/LayerForge in ${seconds} s, ${size} on disk"
echo "run the smoke test: installers/smoke_test.sh"
