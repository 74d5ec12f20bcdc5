#!/usr/bin/env bash
# JEM demo: the same reconstruction on fewer events, which succeeds.
#   bash ok_job.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$HERE/reco_job.sh" 15
