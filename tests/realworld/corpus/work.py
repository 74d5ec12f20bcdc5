"""A small job of many shapes: recursion, a generator, a class, a comprehension, a caught error."""

import sys


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def evens(limit):
    for i in range(limit):
        if i % 2 == 0:
            yield i


class Counter:
    def __init__(self):
        self.seen = {}

    def add(self, word):
        self.seen[word] = self.seen.get(word, 0) + 1


def parse(text):
    try:
        return int(text)
    except ValueError:
        return None


def main():
    print("fib", fib(15))
    print("evens", sum(evens(100)))
    c = Counter()
    for word in "a b a c b a".split():
        c.add(word)
    print("counts", sorted(c.seen.items()))
    print("parsed", [parse(t) for t in ["1", "x", "3"]])
    print("squares", sum(x * x for x in range(50)))
    print("done", file=sys.stderr)


if __name__ == "__main__":
    main()
