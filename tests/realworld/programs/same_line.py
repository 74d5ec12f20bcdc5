"""Lines that run again with no other line in between: one-line loops, comprehensions,
generator expressions, nested functions, a generator, a coroutine and an async generator
resuming on the line they suspended on."""
import asyncio


def one_line_loop():
    total = 0
    for i in range(5): total += i  # noqa: E701
    return total


def comprehensions(n):
    squares = [i * i for i in range(n)]
    evens = {i for i in range(n) if i % 2 == 0}
    table = {i: str(i) for i in range(n)}
    return sum(x for x in squares), evens, table


def while_one_line():
    i = 0
    while i < 4: i += 1  # noqa: E701
    return i


def nested(n):
    def inner(k):
        return [j for j in range(k)]
    return [inner(k) for k in range(n)]


def numbers(n):
    for i in range(n): yield i  # noqa: E701, UP028


async def ticker(n):
    for _ in range(n): await asyncio.sleep(0)  # noqa: E701
    return n


async def agen(n):
    for i in range(n): yield i  # noqa: E701, UP028


async def consume():
    got = [i async for i in agen(3)]
    return got, await ticker(3)


print(one_line_loop(), comprehensions(6), while_one_line(), nested(3), list(numbers(4)))
print(asyncio.run(consume()))
