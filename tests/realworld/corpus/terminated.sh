#!/bin/bash
# A wrapper whose payload is ended by SIGTERM from outside (a batch system's limit).
echo "payload starting"
"$PY" -c '
import os, sys, time
def tick(i):
    return i * 2
with open("payload.pid", "w") as f:
    f.write(str(os.getpid()))
print("payload running", flush=True)
i = 0
while True:
    tick(i)
    i += 1
    time.sleep(0.01)
'
rc=$?
echo "payload ended with $rc" >&2
exit $rc
