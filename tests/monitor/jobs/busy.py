import time


def work(i):
    value = [i] * 10
    return sum(value)


print("ready", flush=True)
total = 0
while True:
    total += work(total % 7)
    time.sleep(0.001)
