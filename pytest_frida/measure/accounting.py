"""Per-producer sequence accounting: what arrived, twice, out of order, or never.

Each producer numbers its messages 0, 1, 2, ...; the consumer side marks every sequence
number it sees in a bitmap. Against what the producers report (how many they sent and
which were never acknowledged) this gives exact lost / duplicated / out-of-order counts.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class SequenceTracker:
    """The sequence numbers seen from one producer."""

    __slots__ = ("_bits", "duplicates", "highest", "out_of_order", "unique")

    def __init__(self) -> None:
        self._bits = bytearray()
        self.unique = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.highest = -1

    def see(self, seq: int) -> bool:
        """Record `seq`; returns False when it is a duplicate."""
        if seq < 0:
            raise ValueError(f"sequence numbers start at 0, got {seq}")
        byte, bit = divmod(seq, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(max(byte + 1 - len(self._bits), len(self._bits))))
        mask = 1 << bit
        if self._bits[byte] & mask:
            self.duplicates += 1
            return False
        self._bits[byte] |= mask
        self.unique += 1
        if seq < self.highest:
            self.out_of_order += 1
        else:
            self.highest = seq
        return True

    def has(self, seq: int) -> bool:
        byte, bit = divmod(seq, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def merge(self, other: SequenceTracker) -> None:
        """Fold in what another consumer saw of the same producer."""
        if len(other._bits) > len(self._bits):
            self._bits.extend(bytes(len(other._bits) - len(self._bits)))
        overlap = 0
        for i, byte in enumerate(other._bits):
            overlap += (self._bits[i] & byte).bit_count()
            self._bits[i] |= byte
        self.unique += other.unique - overlap
        self.duplicates += other.duplicates + overlap
        self.out_of_order += other.out_of_order
        self.highest = max(self.highest, other.highest)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form, so trackers can travel from agents to the controller."""
        return {
            "bits": base64.b64encode(zlib.compress(bytes(self._bits))).decode("ascii"),
            "unique": self.unique,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "highest": self.highest,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SequenceTracker:
        tracker = cls()
        tracker._bits = bytearray(zlib.decompress(base64.b64decode(str(data["bits"]))))
        tracker.unique = int(str(data["unique"]))
        tracker.duplicates = int(str(data["duplicates"]))
        tracker.out_of_order = int(str(data["out_of_order"]))
        tracker.highest = int(str(data["highest"]))
        return tracker

    def missing(self, sent: int, not_acked: Iterable[int] = ()) -> int:
        """How many acknowledged messages among 0..sent-1 never arrived."""
        skip = set(not_acked)
        return sum(1 for seq in range(sent) if seq not in skip and not self.has(seq))


@dataclass
class ProducerReport:
    """What one producer says it did: messages sent and the ones without an ack."""

    sent: int
    not_acked: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class DeliveryCounts:
    """Delivery accounting for one step, summed over producers."""

    sent: int
    acked: int
    received: int
    lost: int
    duplicated: int
    out_of_order: int

    @property
    def delivered_ratio(self) -> float:
        """Share of acknowledged messages that arrived (1.0 when nothing was acked)."""
        return 1.0 if self.acked == 0 else (self.acked - self.lost) / self.acked


def account(
    trackers: Mapping[int, SequenceTracker], reports: Mapping[int, ProducerReport]
) -> DeliveryCounts:
    """Compare what producers sent with what the consumers saw.

    A message counts as lost when it was acknowledged and never received. Messages the
    consumer saw from producers that did not report are counted as received only.
    """
    sent = acked = lost = 0
    for pid, rep in reports.items():
        sent += rep.sent
        acked += rep.sent - len(set(rep.not_acked))
        tracker = trackers.get(pid)
        if tracker is None:
            lost += rep.sent - len(set(rep.not_acked))
        else:
            lost += tracker.missing(rep.sent, rep.not_acked)
    return DeliveryCounts(
        sent=sent,
        acked=acked,
        received=sum(t.unique for t in trackers.values()),
        lost=lost,
        duplicated=sum(t.duplicates for t in trackers.values()),
        out_of_order=sum(t.out_of_order for t in trackers.values()),
    )
