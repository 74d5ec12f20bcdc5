"""Traced by VizTracer for the Chrome-trace fixture: a thread, recursion, a generator, an exception."""

import threading


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def squares(k):
    for i in range(k):
        yield i * i


def work(depth):
    total = sum(squares(4))
    return fib(depth) + total


def risky(x):
    if x == 0:
        raise ValueError("x must not be 0")
    return 10 / x


def main():
    worker = threading.Thread(target=work, args=(5,), name="worker")
    worker.start()
    worker.join()
    results = [work(4), risky(2)]
    try:
        risky(0)
    except ValueError:
        results.append(None)
    return results


if __name__ == "__main__":
    main()
