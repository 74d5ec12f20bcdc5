import sys


def f(i):
    return i + 1


for i in range(5):
    f(i)
tracer = sys.modules.get("_jem_trace")
if tracer is not None:
    tracer._traced = None  # breaks the tracer's next event
total = 0
for _ in range(100):
    total = f(total)
print("total", total)
