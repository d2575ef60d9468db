"""Splitting producer ids over producer agents."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.runtimes.agents import shards


@settings(max_examples=300)
@given(producers=st.integers(1, 2000), workers=st.integers(1, 300))
def test_shards_cover_all_producers_evenly(producers, workers):
    out = shards(producers, workers)
    assert len(out) == min(workers, producers)
    ids = [first + i for first, count in out for i in range(count)]
    assert ids == list(range(producers))  # contiguous, in order, no overlap, no gap
    sizes = [count for _, count in out]
    assert min(sizes) >= 1
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)  # the larger shards come first


def test_shards_examples():
    assert shards(10, 3) == [(0, 4), (4, 3), (7, 3)]
    assert shards(2, 8) == [(0, 1), (1, 1)]
    assert shards(5, 1) == [(0, 5)]
