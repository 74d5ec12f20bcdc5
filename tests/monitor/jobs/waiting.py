import os
import subprocess
import sys
import threading
import time

flags = sys.argv[1]


def flag(name):
    return os.path.exists(os.path.join(flags, name))


def step(i):
    return i * 2 % 1000 + 1


def spin(name):
    spinning.set()
    i = 0
    while not flag("stop"):
        i = step(i)
        time.sleep(0.001)


spinning = threading.Event()
worker = threading.Thread(target=spin, args=("worker",), daemon=True)
worker.start()
spawned = False
counter = 0
spinning.wait()
open(os.path.join(flags, "ready"), "w").close()  # both threads are where the tests look
while not flag("stop"):
    counter += 1
    if not spawned and flag("spawn"):
        subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "later.py")])
        spawned = True
    time.sleep(0.002)
