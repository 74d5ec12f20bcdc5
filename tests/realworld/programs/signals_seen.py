"""What a job sees of its signal handling and does with it: the handlers of the signals
that end a process by default, the wakeup fd, its own handler set, called and taken back,
and finally a SIGTERM at its default action (the process ends by it)."""

import os
import signal

NAMES = ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGCHLD")


def show(label, value):
    print(label, getattr(value, "name", value), flush=True)


def handler(signum, frame):
    show("handled", signal.Signals(signum))


if __name__ == "__main__":
    for name in NAMES:
        show(name, signal.getsignal(getattr(signal, name)))
    show("wakeup fd", signal.set_wakeup_fd(-1))
    show("set USR1, was", signal.signal(signal.SIGUSR1, handler))
    show("USR1 now", signal.getsignal(signal.SIGUSR1) is handler)
    os.kill(os.getpid(), signal.SIGUSR1)
    show("back to default, was", signal.signal(signal.SIGUSR1, signal.SIG_DFL) is handler)
    show("USR1 now", signal.getsignal(signal.SIGUSR1))
    show("ignore TERM, was", signal.signal(signal.SIGTERM, signal.SIG_IGN))
    os.kill(os.getpid(), signal.SIGTERM)
    show("TERM ignored", signal.getsignal(signal.SIGTERM))
    show("default TERM, was", signal.signal(signal.SIGTERM, signal.SIG_DFL))
    os.kill(os.getpid(), signal.SIGTERM)
    show("not reached", True)
