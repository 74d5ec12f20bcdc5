"""Wait for a condition, never for a guessed time: a test goes on as soon as what it needs
is true, and fails naming what it waited for when that never comes (a slow machine only
makes it slower, never red)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 10.0, what: str = "the condition",
             step: float = 0.01) -> T:
    """Poll `condition()` until it returns something true and return that; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)
