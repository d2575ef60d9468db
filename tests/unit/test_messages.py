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
    instrument_symbol,
)

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


def test_instrument_symbol():
    assert instrument_symbol(0) == b"INS0000000"
    assert instrument_symbol(42) == b"INS0000042"
    assert len({instrument_symbol(p) for p in range(1000)}) == 1000
