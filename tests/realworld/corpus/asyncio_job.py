"""A small asyncio service run: gathered fetches, a producer/consumer pair of tasks on a
queue, a timeout that cancels a slow call, and a task that fails and is awaited."""

import asyncio
import sys


async def fetch(name, delay):
    await asyncio.sleep(delay)
    return f"{name}:{delay:.2f}"


async def producer(queue, n):
    for i in range(n):
        await queue.put(i)
        if i % 10 == 9:
            await asyncio.sleep(0)
    await queue.put(None)


async def consumer(queue):
    total = 0
    while True:
        item = await queue.get()
        if item is None:
            return total
        total += item


async def slow():
    await asyncio.sleep(10)


async def broken():
    await asyncio.sleep(0)
    raise ValueError("bad run number")


async def main():
    print(await asyncio.gather(*(fetch(f"f{i}", 0.01 * i) for i in range(5))))
    queue = asyncio.Queue()
    task = asyncio.create_task(producer(queue, 50))
    print("total", await consumer(queue))
    await task
    try:
        await asyncio.wait_for(slow(), timeout=0.05)
    except asyncio.TimeoutError:  # noqa: UP041 - not the builtin before 3.11
        print("slow call timed out", file=sys.stderr)
    results = await asyncio.gather(broken(), fetch("last", 0), return_exceptions=True)
    print([repr(r) for r in results])


asyncio.run(main())
