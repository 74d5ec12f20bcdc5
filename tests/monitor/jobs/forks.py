import multiprocessing
import os
import subprocess
import sys


def square(x):
    return x * x


if __name__ == "__main__":
    pid = os.fork()
    if pid == 0:
        square(3)
        os._exit(4)
    print("fork exit", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(pool.map(square, range(4)))
    subprocess.run([sys.executable, "-c", "print('grandchild')"], check=True)
    sys.exit(5)
