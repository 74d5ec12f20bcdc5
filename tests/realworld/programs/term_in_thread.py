"""SIGTERM reaches a thread of the job while its main thread waits for good on a lock: the
process ends by it at once (the default action), whichever thread takes it. Prints how
many calls it made first."""

import signal
import sys
import threading


def step(i):
    return i + 1


def shoot(ready):
    ready.wait()
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)


if __name__ == "__main__":
    ready = threading.Event()
    threading.Thread(target=shoot, args=(ready,), daemon=True).start()
    total = 0
    for _ in range(int(sys.argv[1])):
        total = step(total)
    print(total, flush=True)
    lock = threading.Lock()
    lock.acquire()
    ready.set()
    lock.acquire()  # never released
