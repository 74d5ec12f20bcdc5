"""Fails three frames deep; each frame holds locals of several kinds, one of them a secret."""
# ruff: noqa: F841, UP031, B905  (locals that are only there to be recorded; %-formats as jobs write them)


class Box:
    def __init__(self, size):
        self.size = size

    def __repr__(self):
        return "Box(%d)" % self.size


def ratio(items, k):
    total = sum(items)
    label = "total of %d" % len(items)
    return total / k


def scaled(n):
    data = list(range(n))
    box = Box(n)
    api_token = "s3cret"
    scale = 0
    return ratio(data, scale)


def main():
    results = {}
    for n in (3, 4):
        results[n] = scaled(n) if n == 4 else n
    return results


main()
