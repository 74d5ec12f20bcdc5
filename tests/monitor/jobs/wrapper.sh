#!/bin/bash
# A strict wrapper: set -eu, functions, a subshell, binary output, a child Python.
set -eu
say() { printf '%s\n' "$*"; }
count=0
for i in 1 2 3; do count=$((count + i)); done
say "count=$count"
( say "from a subshell" >&2 )
printf 'no newline at the end'
printf '\n\001\002\377 binary\n'
"$PY" "$(dirname "$0")/child.py" "$OUT_FILE"
say "child said $?"
exit "${EXIT_CODE:-0}"
