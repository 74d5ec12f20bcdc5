import signal
import sys
import time


def stop(signum, frame):
    print("got TERM", flush=True)
    sys.exit(7)


if sys.argv[1:] == ["handle"]:
    signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    time.sleep(0.05)
