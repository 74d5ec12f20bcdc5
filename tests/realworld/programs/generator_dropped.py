"""A suspended generator let go by `del` between two lines of the frame that held it; its
finally block makes a call as it closes."""


def cleanup():
    return "cleaned"


def guarded():
    try:
        yield 1
        yield 2
    finally:
        cleanup()


def drop():
    g = guarded()
    next(g)
    del g
    return len("after")


print(drop())
