#!/usr/bin/env bash
# Build the standalone app with PyInstaller (jemgui.spec) and prove it starts: it must
# render the demo job at its failure offscreen.
#   scripts/build_app.sh [OUT]     -> OUT/jemgui/jemgui and OUT/jemgui-demo.png
# OUT defaults to a new temporary folder (printed at the end); nothing is written in the clone.
# The app is built from the wheel installed in a throw-away venv, so it carries what users get.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/jemgui-app.XXXXXX")}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/jemgui-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

"$ROOT/scripts/build_wheel.sh" "$WORK/wheel" >/dev/null
"$PY" -m venv "$WORK/venv"
# no .pyc at install: PyInstaller compiles what it takes, and the install takes half the time
"$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check --no-compile \
  "$WORK"/wheel/jemgui-*.whl 'pyinstaller>=6.5'
(cd "$WORK" && "$WORK/venv/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$OUT" --workpath "$WORK/pyinstaller" "$ROOT/jemgui.spec")

shot="$OUT/jemgui-demo.png"
rm -f "$shot"
export JEMGUI_CACHE_DIR=${JEMGUI_CACHE_DIR:-$WORK/cache}
(cd "$WORK" && QT_QPA_PLATFORM=offscreen "$OUT/jemgui/jemgui" demo --screenshot "$shot")
test -s "$shot"
echo "built $OUT/jemgui/jemgui; it rendered $shot"
