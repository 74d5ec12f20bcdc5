"""A job that checkpoints and stops cleanly when the batch system sends SIGTERM (preemption)."""

import os
import signal
import sys


class Preempted(Exception):
    pass


def on_term(signum, frame):
    raise Preempted(signal.Signals(signum).name)


def step(state, i):
    return (state * 31 + i) % 1000003


def checkpoint(state):
    with open("checkpoint.txt", "w") as f:
        f.write(str(state))


def main():
    signal.signal(signal.SIGTERM, on_term)
    with open("payload.pid", "w") as f:
        f.write(str(os.getpid()))
    print("started", flush=True)
    state, i = 0, 0
    try:
        while True:
            state = (state * 31 + i) % 1000003
            i += 1
            if i % 100000 == 0:
                state = step(state, i)
    except Preempted as exc:
        checkpoint(state)
        print("preempted by", exc, file=sys.stderr)
        sys.exit(3)


main()
