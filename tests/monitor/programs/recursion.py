"""Deterministic recursion: plain, mutual, and deep."""
import sys


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)


class Tree:
    def __init__(self, level):
        self.children = [Tree(level - 1) for _ in range(2)] if level else []

    def size(self):
        return 1 + sum(child.size() for child in self.children)


sys.setrecursionlimit(5000)
print(fib(14), is_even(51), depth(400), Tree(6).size())
