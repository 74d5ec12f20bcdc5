"""Deterministic generators and coroutines: pipelines, yield from, send, throw, close, asyncio."""
import asyncio


def numbers(n):
    for i in range(n):  # noqa: UP028 (a resumption per item, on purpose)
        yield i


def squares(source):
    for x in source:
        yield x * x


def chained(n):
    yield from numbers(n)
    yield from squares(numbers(n))


def accumulator():
    total = 0
    while True:
        try:
            value = yield total
        except ValueError:
            total = 0
            continue
        total += value


def use_accumulator():
    acc = accumulator()
    next(acc)
    for v in (1, 2, 3):
        acc.send(v)
    acc.throw(ValueError)
    acc.send(5)
    acc.close()


async def tick(name, times):
    for _ in range(times):
        await asyncio.sleep(0)
    return name


async def gather():
    return await asyncio.gather(tick("a", 3), tick("b", 2))


print(sum(squares(numbers(20))), list(chained(4)), sum(x for x in numbers(10)))
use_accumulator()
print(asyncio.run(gather()))
