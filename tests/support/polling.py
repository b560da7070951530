"""Waiting for a condition: polled against a deadline, never a fixed sleep.

A fixed ``time.sleep(n)`` is too long on a fast machine and too short on a loaded one;
polling ends as soon as the condition holds and fails with a message at the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Seconds between two looks at the condition.
INTERVAL = 0.05


def poll(condition: Callable[[], T], timeout: float, interval: float = INTERVAL) -> T:
    """``condition()`` once it is truthy, or its last (falsy) value after ``timeout`` seconds.

    It is asked at least once, and once more at the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def wait_until(
    condition: Callable[[], T], timeout: float, what: str, interval: float = INTERVAL
) -> T:
    """``condition()`` once it is truthy; AssertionError naming ``what`` after ``timeout`` s."""
    value = poll(condition, timeout, interval)
    assert value, f"{what}: not within {timeout:g} s"
    return value
