"""Consumers sharded by partition: how many for a step, and which partitions each reads."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.controller.consumer_shards import (
    CONSUMER_CAPACITY_MSG_S,
    consumer_count,
    consumer_partitions,
)


@given(partitions=st.integers(1, 200), data=st.data())
def test_shares_are_balanced_disjoint_and_covering(partitions: int, data: st.DataObject) -> None:
    consumers = data.draw(st.integers(1, partitions))
    shares = consumer_partitions(consumers, partitions)
    assert len(shares) == consumers
    flat = [p for share in shares for p in share]
    assert sorted(flat) == list(range(partitions))  # covering, and disjoint
    sizes = [len(share) for share in shares]
    assert min(sizes) >= 1
    assert max(sizes) - min(sizes) <= 1
    assert all(share == sorted(share) for share in shares)


def test_shares_worked_example() -> None:
    assert consumer_partitions(1, 3) == [[0, 1, 2]]
    assert consumer_partitions(2, 5) == [[0, 2, 4], [1, 3]]
    assert consumer_partitions(3, 3) == [[0], [1], [2]]


@pytest.mark.parametrize(("consumers", "partitions"), [(0, 3), (4, 3), (-1, 3), (1, 0)])
def test_shares_refuse_impossible_counts(consumers: int, partitions: int) -> None:
    with pytest.raises(ValueError, match=f"{consumers} consumers for {partitions} partitions"):
        consumer_partitions(consumers, partitions)


def test_explicit_count_is_kept() -> None:
    assert consumer_count(2, 1e9, 3) == 2
    assert consumer_count(3, 1.0, 3) == 3
    with pytest.raises(ValueError, match="consumers=4: expected 1 to 3"):
        consumer_count(4, 10.0, 3)


@given(rate=st.floats(0, 1e8, allow_nan=False), partitions=st.integers(1, 500))
def test_auto_is_enough_for_the_rate_within_the_partitions(rate: float, partitions: int) -> None:
    n = consumer_count(None, rate, partitions)
    assert 1 <= n <= partitions
    if n < partitions:  # enough: together they carry the target rate
        assert n * CONSUMER_CAPACITY_MSG_S >= rate
    if n > 1:  # and no more than that
        assert (n - 1) * CONSUMER_CAPACITY_MSG_S < rate


def test_auto_worked_examples() -> None:
    cap = CONSUMER_CAPACITY_MSG_S
    assert consumer_count(None, 200.0, 3) == 1  # the default sweep's last step
    assert consumer_count(None, cap, 3) == 1
    assert consumer_count(None, cap + 1, 3) == 2
    assert consumer_count(None, 10 * cap, 3) == 3  # never more than the partitions
    assert consumer_count(None, 10 * cap, 12) == 10
    assert consumer_count(None, 0.0, 3) == 1
    assert consumer_count(None, math.inf, 6) == 6


def test_capacity_assumption_is_conservative() -> None:
    # ~6 us (confluent) to ~27 us (kafka-python) a message on a free core; a shared host
    # gives a consumer a fraction of one
    assert CONSUMER_CAPACITY_MSG_S <= 20_000
