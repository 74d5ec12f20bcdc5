"""Generators and coroutines ended every way: close(), garbage collection (let go at once, and
in a reference cycle), throw() of an exception, exhausted, a break out of the loop over them,
an exception raised inside; some with a try/finally, some delegating, with fib calls around
them. (A generator let go by `del` is in generator_dropped.py.)"""
import gc
import types
from functools import partial


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def counter(n):
    for i in range(n):  # noqa: UP028 (a resumption per item, on purpose)
        yield fib(i)


def guarded(n):
    try:
        for i in range(n):  # noqa: UP028
            yield i
    finally:
        fib(3)


def catcher():
    total = 0
    while True:
        try:
            value = yield total
        except ValueError:
            continue
        total += fib(value)


def failing():
    yield fib(2)
    raise KeyError("inside")


def delegating(n):
    yield from counter(n)


@types.coroutine
def pause():
    yield


async def task():
    await pause()
    return fib(4)


def closed(make):
    g = make()
    next(g)
    g.close()
    return g  # kept: closed, not collected


def collected(make):
    return next(make())  # the generator is let go at once


def collected_in_cycle(make):
    g = make()
    next(g)
    cycle = [g]
    cycle.append(cycle)
    del g, cycle
    gc.collect()


def thrown(make):
    g = make()
    next(g)
    try:
        g.throw(IndexError("thrown"))
    except IndexError:
        pass


def broken(make):
    for i in make():
        if i >= 1:
            break


def coroutine_closed():
    coro = task()
    coro.send(None)
    coro.close()
    return coro


kept = []
for make in (partial(counter, 4), partial(guarded, 4), partial(delegating, 4)):
    kept.append(closed(make))
    collected(make)
    collected_in_cycle(make)
    thrown(make)
    broken(make)
    print(list(make()))
acc = catcher()
next(acc)
acc.send(5)
acc.throw(ValueError)
print(acc.send(6))
acc.close()
bad = failing()
try:
    list(bad)
except KeyError:
    pass
kept.append(coroutine_closed())
print(fib(8), len(kept))
