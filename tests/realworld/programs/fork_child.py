"""A process that forks: the child calls one function and leaves with os._exit."""

import os


def child_work(x):
    return x * 2


def main():
    pid = os.fork()
    if pid == 0:
        child_work(3)
        os._exit(0)
    os.waitpid(pid, 0)
    print("child", pid)


main()
