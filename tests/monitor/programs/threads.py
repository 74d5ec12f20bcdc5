"""Deterministic work in several threads."""
import threading

lock = threading.Lock()
results = []


def work(k):
    total = 0
    for i in range(50):
        total += square(i + k)
    with lock:
        results.append(total)


def square(x):
    return x * x


threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(sorted(results))
