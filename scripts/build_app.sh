#!/usr/bin/env bash
# Build the standalone inspector with PyInstaller (jemgui.spec) and prove it works:
# the built app must start and render the demo job's window offscreen.
#   scripts/build_app.sh            -> dist/jemgui/jemgui, and dist/jemgui-demo.png
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m PyInstaller --version >/dev/null 2>&1 || "$PY" -m pip install -q 'pyinstaller>=6.5'
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller jemgui.spec
shot=dist/jemgui-demo.png
rm -f "$shot"
export JEMGUI_CACHE_DIR=${JEMGUI_CACHE_DIR:-$(mktemp -d)}
QT_QPA_PLATFORM=offscreen dist/jemgui/jemgui demo --screenshot "$shot"
test -s "$shot"
echo "built dist/jemgui/jemgui; it rendered $shot"
