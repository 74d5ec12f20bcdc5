"""Frames left by an exception through code the compiler added (a finally block, a generator's
own handler): the line their return is recorded at is the line they were last on."""


def with_finally():
    try:
        raise KeyError("k")
    finally:
        done = True  # noqa: F841


def counter(n):
    for i in range(n):  # noqa: UP028
        yield i


def guarded(n):
    try:
        for i in range(n):  # noqa: UP028
            yield i
    finally:
        done = True  # noqa: F841


try:
    with_finally()
except KeyError:
    pass
g = counter(3)
next(g)
try:
    g.throw(IndexError("thrown"))
except IndexError:
    pass
g = guarded(3)
next(g)
g.close()
print("ok")
