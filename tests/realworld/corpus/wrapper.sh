#!/bin/bash
# A batch wrapper in the strict style: stop at the first failure, unset names, failed pipes.
set -euo pipefail
echo "staging on ${HOSTNAME:-node}"
"$PY" "$CORPUS/work.py"
"$PY" -c 'import sys; print("calibrated", file=sys.stderr)'
"$PY" "$CORPUS/work.py" | grep -q "no such output"
echo "never reached"
