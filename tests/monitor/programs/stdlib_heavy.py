"""Deterministic: user code calling the standard library, and called back by it."""
import collections
import dataclasses
import functools
import json
import re
import textwrap


@dataclasses.dataclass
class Item:
    name: str
    score: float


def parse(text):
    return [Item(m.group(1), float(m.group(2))) for m in re.finditer(r"(\w+)=([0-9.]+)", text)]


def key(item):
    return (-item.score, item.name)


def hook(d):
    return {k.upper(): v for k, v in d.items()}


def shout(match):
    return match.group(0).upper()


def add(total, item):
    return total + item.score


def main():
    text = " ".join(f"k{i}={i * 1.5}" for i in range(60))
    items = sorted(parse(text), key=key)
    data = json.loads(json.dumps({"a": {"b": [1, 2, 3]}, "c": {"d": 1}}), object_hook=hook)
    counts = collections.Counter(i.name[:2] for i in items)
    wrapped = textwrap.fill(re.sub(r"k\d", shout, text), 40)
    total = functools.reduce(add, items, 0.0)
    print(len(items), sorted(data), counts.most_common(1), len(wrapped), total)


main()
