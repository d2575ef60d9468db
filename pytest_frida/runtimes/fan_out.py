"""Doing the same thing on every node (daemon, broker, host) at once.

A run's nodes are prepared, joined, read and cleaned in parallel, so one slow node costs
the time of one node, not of all of them in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

#: how many nodes are worked on at once (ssh and daemons on a frontend stay responsive)
PARALLEL_NODES = 8
T = TypeVar("T")
R = TypeVar("R")


def on_each(items: Sequence[T], work: Callable[[T], R], limit: int = PARALLEL_NODES) -> list[R]:
    """`work(item)` for every item at once (at most `limit` at a time), results in the
    items' order. Every item is worked on even when one fails; then the first failure in
    the items' order is raised."""
    if not items:
        return []
    if len(items) == 1:
        return [work(items[0])]
    with ThreadPoolExecutor(max_workers=max(1, min(limit, len(items)))) as pool:
        futures = [pool.submit(work, item) for item in items]
    return [future.result() for future in futures]
