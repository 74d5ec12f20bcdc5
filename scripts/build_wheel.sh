#!/usr/bin/env bash
# Build jemgui's wheel into OUT (default: a new temporary folder) and print its path.
# It builds from a copy of the tracked files, so the clone gets no build/ or dist/ folder.
#   scripts/build_wheel.sh [OUT]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
OUT=${1:-$(mktemp -d "${TMPDIR:-/tmp}/jemgui-wheel.XXXXXX")}
SRC=$(mktemp -d "${TMPDIR:-/tmp}/jemgui-src.XXXXXX")
trap 'rm -rf "$SRC"' EXIT
git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
  | (cd "$ROOT" && tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -x -C "$SRC"
mkdir -p "$OUT"
"$PY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$OUT" "$SRC" >&2
ls "$OUT"/jemgui-*.whl
