"""Tick encoding: exact size, lossless round trip, clear error below the header size."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.workload.messages import (
    HEADER_SIZE,
    Tick,
    decode_tick,
    encode_tick,
    instrument_key,
    instrument_symbol,
    lane_of,
)
from pytest_frida.workload.schedule import Schedule, Window

ticks = st.builds(
    Tick,
    producer=st.integers(0, 2**32 - 1),
    seq=st.integers(0, 2**64 - 1),
    intended_ns=st.integers(-(2**63), 2**63 - 1),
    sent_ns=st.integers(-(2**63), 2**63 - 1),
    price=st.floats(allow_nan=False),
)


@settings(max_examples=200)
@given(tick=ticks, size=st.integers(HEADER_SIZE, 4096))
def test_encode_decode_round_trip_with_exact_size(tick, size):
    data = encode_tick(tick, size)
    assert isinstance(data, bytes)
    assert len(data) == size
    assert decode_tick(data) == tick
    assert data[HEADER_SIZE:] == bytes(size - HEADER_SIZE)


def test_header_size_is_the_packed_fields():
    assert HEADER_SIZE == struct.calcsize("!IQqqd") == 36


def test_nan_price_survives():
    data = encode_tick(Tick(1, 2, 3, 4, math.nan), 64)
    assert math.isnan(decode_tick(data).price)


def test_decode_ignores_padding():
    tick = Tick(7, 8, 9, 10, 101.25)
    assert decode_tick(encode_tick(tick, HEADER_SIZE) + b"\xff" * 100) == tick


@settings(max_examples=50)
@given(tick=ticks, size=st.integers(-10, HEADER_SIZE - 1))
def test_too_small_size_raises(tick, size):
    with pytest.raises(ValueError, match=f"message size {size} is below the {HEADER_SIZE}"):
        encode_tick(tick, size)


def test_decode_of_truncated_message_fails():
    with pytest.raises(struct.error):
        decode_tick(b"\x00" * (HEADER_SIZE - 1))


def test_instrument_symbol_is_the_first_lanes_key():
    assert instrument_symbol(0) == instrument_key(0, 0) == b"INS0000000.000"
    assert instrument_symbol(42) == b"INS0000042.000"
    assert len({instrument_symbol(p) for p in range(1000)}) == 1000


def test_instrument_keys_are_distinct_per_producer_and_lane():
    assert instrument_key(42, 7) == b"INS0000042.007"
    keys = {instrument_key(p, lane) for p in range(100) for lane in range(12)}
    assert len(keys) == 1200


@settings(max_examples=100)
@given(producer=st.integers(0, 10**6), seq=st.integers(0, 10**9), partitions=st.integers(1, 64))
def test_a_producer_walks_its_partitions_round_robin(producer, seq, partitions):
    lane = lane_of(producer, seq, partitions)
    assert 0 <= lane < partitions
    assert lane_of(producer, seq + 1, partitions) == (lane + 1) % partitions
    # any `partitions` consecutive messages of one producer cover every partition once
    assert {lane_of(producer, seq + i, partitions) for i in range(partitions)} == set(
        range(partitions)
    )


def spread(
    producers: int,
    partitions: int,
    rate: float,
    warmup: float,
    duration: float,
    measured_only: bool,
) -> list[int]:
    """Messages per partition of a step's schedule (all of it, or its measured window)."""
    window = Window.of(0, warmup, duration)
    counts = [0] * partitions
    for intended, pid, seq in Schedule(rate, producers, window).merged(range(producers)):
        if not measured_only or window.measured(intended):
            counts[lane_of(pid, seq, partitions)] += 1
    return counts


@pytest.mark.parametrize("producers", [1, 2, 20])
@pytest.mark.parametrize("partitions", range(1, 13))
@pytest.mark.parametrize("measured_only", [False, True])
def test_a_step_spreads_within_ten_percent_over_its_partitions(
    producers, partitions, measured_only
):
    # the default step: 10 msg/s per producer, 2 s warm-up, 10 s measured
    counts = spread(producers, partitions, 10.0, 2.0, 10.0, measured_only)
    mean = sum(counts) / partitions
    assert sum(counts) == producers * (100 if measured_only else 120)
    assert all(abs(n - mean) <= 0.10 * mean for n in counts), counts
    # exactly even but for one message per producer at most
    assert max(counts) - min(counts) <= producers


def test_a_single_producer_feeds_every_partition():
    # with one key per producer, one producer fed one partition of 3
    counts = spread(1, 3, 10.0, 0.0, 3.0, False)
    assert counts == [10, 10, 10]
