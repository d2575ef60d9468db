"""Market-data ticks on the wire: who sent it, which one, when it was meant to go."""

from __future__ import annotations

import struct
from dataclasses import dataclass

# producer id, sequence number, intended send time (ns), actual send time (ns), price
_HEADER = struct.Struct("!IQqqd")
HEADER_SIZE = _HEADER.size


@dataclass(frozen=True)
class Tick:
    producer: int
    seq: int
    intended_ns: int
    sent_ns: int
    price: float


def instrument_symbol(producer: int) -> bytes:
    """A producer's first instrument (lane 0)."""
    return instrument_key(producer, 0)


def lane_of(producer: int, seq: int, partitions: int) -> int:
    """The partition message `seq` of `producer` is sent to.

    Each producer publishes one instrument per partition and walks them round robin,
    starting at its own id: every partition gets the same share of a step's messages
    within one message per producer, whatever the producer count and whatever the
    client's key hash (the partition is named explicitly, not hashed from the key).
    Order is kept per (producer, partition), as Kafka keeps it per partition."""
    return (producer + seq) % partitions


def instrument_key(producer: int, lane: int) -> bytes:
    """The key of a producer's instrument on partition `lane`."""
    return b"INS%07d.%03d" % (producer, lane)


#: the header alone, for hot loops that append cached padding themselves
def pack_header(
    producer: int, seq: int, intended_ns: int, sent_ns: int, price: float = 100.0
) -> bytes:
    return _HEADER.pack(producer, seq, intended_ns, sent_ns, price)


def encode_tick(tick: Tick, size: int) -> bytes:
    """`size` bytes: the header, then zero padding (the payload a real tick would carry)."""
    header = _HEADER.pack(tick.producer, tick.seq, tick.intended_ns, tick.sent_ns, tick.price)
    if size < HEADER_SIZE:
        raise ValueError(f"message size {size} is below the {HEADER_SIZE}-byte tick header")
    return header + bytes(size - HEADER_SIZE)


def decode_tick(value: bytes) -> Tick:
    producer, seq, intended_ns, sent_ns, price = _HEADER.unpack_from(value)
    return Tick(producer, seq, intended_ns, sent_ns, price)
