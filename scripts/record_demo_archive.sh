#!/usr/bin/env bash
# Re-record resources/demo/archive, the demo job's archive shipped with jemgui (`jemgui demo --shipped`,
# the tests' demo input). The job runs from /tmp/jem-demo with the system's python3 and a bare
# environment, so the archive names no path of the machine it was recorded on (no checkout, no
# venv, no home folder); tests/install/test_shipped_archive.py checks that.
#   scripts/record_demo_archive.sh          (uses .venv/bin/jemgui; JEMGUI=... for another)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JEMGUI=${JEMGUI:-$ROOT/.venv/bin/jemgui}
JOB=/tmp/jem-demo
OUT=$(mktemp -d "${TMPDIR:-/tmp}/jemgui-demo.XXXXXX")
trap 'rm -rf "$OUT" "$JOB"' EXIT
rm -rf "$JOB"
mkdir "$JOB"
cp "$ROOT"/resources/demo/{reco_job.sh,check_env.py,transform.py,transform.json} "$JOB"
set +e
(cd "$JOB" && env -i PATH=/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 PYTHON=python3 \
  "$JEMGUI" run --job-id reco_task_17 --out "$OUT/archive" -- bash reco_job.sh >/dev/null 2>&1)
rc=$?
set -e
[ "$rc" = 1 ] || { echo "record_demo_archive: the demo job exited $rc, not 1 (its failure)" >&2; exit 1; }
if grep -rqF -e "$ROOT" -e "$(dirname "$JEMGUI")" "$OUT/archive"; then
  echo "record_demo_archive: the recording names $ROOT or the venv; not shipped" >&2
  exit 1
fi
rm -rf "$ROOT/resources/demo/archive"
cp -r "$OUT/archive" "$ROOT/resources/demo/archive"
echo "recorded $ROOT/resources/demo/archive"
