"""Deterministic exceptions: caught, re-raised, chained, in finally, in generators, suppressed."""
import contextlib


class AppError(Exception):
    pass


def fails(n):
    if n % 3 == 0:
        raise AppError(f"bad {n}")
    return n


def wraps(n):
    try:
        return fails(n)
    except AppError as exc:
        raise ValueError("wrapped") from exc


def reraises(n):
    try:
        fails(n)
    except AppError:
        raise


def cleanup(n):
    try:
        return fails(n)
    finally:
        n += 1


def gen_fails():
    yield 1
    raise KeyError("gen")


def lookup(d, k):
    return d[k]


def main():
    caught = 0
    for n in range(12):
        for f in (wraps, reraises, cleanup):
            try:
                f(n)
            except (AppError, ValueError):
                caught += 1
    try:
        list(gen_fails())
    except KeyError:
        caught += 1
    with contextlib.suppress(KeyError):
        lookup({}, "missing")
    print(caught)


main()
