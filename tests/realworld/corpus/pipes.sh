#!/bin/bash
# Pipelines mixing Python and tools; bash prints each member's status as it saw it.
"$PY" "$CORPUS/work.py" | grep -q "no such output"
echo "statuses ${PIPESTATUS[*]}"
"$PY" -c 'import sys; print("x"); sys.exit(3)' | cat | "$PY" -c 'import sys; sys.stdin.read(); sys.exit(4)'
echo "statuses ${PIPESTATUS[*]}"
seq 1 3 | "$PY" -c 'import sys; sys.exit(sum(map(int, sys.stdin)))' | tr a b
echo "statuses ${PIPESTATUS[*]}"
