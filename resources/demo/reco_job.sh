#!/usr/bin/env bash
# JEM demo: a grid-style reconstruction job that fails.
# The wrapper checks its environment like a pilot payload does, runs a Python
# environment check, then the "transform", which dies several frames deep.
#   bash reco_job.sh [EVENTS]
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python3}
EVENTS=${1:-30}
export JOB_NAME=reco_task_17
export RUN_NUMBER=4711
export CONDITIONS_DB_TOKEN=c0nd1t10ns-5ecr3t

log() { echo "[$(date +%H:%M:%S)] $*"; }

check_environment() {
  log "checking the worker node"
  local free_mb
  free_mb=$(df -Pm "${TMPDIR:-/tmp}" | awk 'NR==2 {print $4}')
  if [ "$free_mb" -lt 100 ]; then
    log "not enough scratch space: ${free_mb} MB"
    return 1
  fi
  command -v "$PYTHON" >/dev/null || { log "no $PYTHON on this node"; return 1; }
  [ -r "$HERE/transform.json" ] || { log "configuration missing"; return 1; }
  log "scratch space ${free_mb} MB, python $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
}

WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/reco.XXXXXX")
cd "$WORKDIR" || exit 1
log "job $JOB_NAME run $RUN_NUMBER in $WORKDIR"

check_environment || exit 2
"$PYTHON" "$HERE/check_env.py" --min-python 3.9 || exit 3

log "starting transform on $EVENTS events"
"$PYTHON" "$HERE/transform.py" --config "$HERE/transform.json" --events "$EVENTS" --out "$WORKDIR/reco.json"
rc=$?
if [ $rc -ne 0 ]; then
  log "transform failed with exit code $rc"
else
  log "transform done: $(wc -c < "$WORKDIR/reco.json") bytes of output"
fi
cd / && rm -rf "$WORKDIR"
exit $rc
