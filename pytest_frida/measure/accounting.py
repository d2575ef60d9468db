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


def seq_mask(seqs: Iterable[int], limit: int) -> int:
    """Bit n set for each n in `seqs` with 0 <= n < limit."""
    if limit <= 0:
        return 0
    bits = bytearray((limit + 7) // 8)
    for seq in seqs:
        if 0 <= seq < limit:
            bits[seq >> 3] |= 1 << (seq & 7)
    return int.from_bytes(bits, "little")


class SequenceTracker:
    """The sequence numbers seen from one producer.

    A producer walks the topic's partitions round robin (`messages.lane_of`): message
    `seq` of producer `p` goes to partition (p + seq) % partitions, so for one producer
    the residue seq % partitions (its *lane*) names the partition. Kafka keeps order per
    partition only, so a message is out of order when a higher sequence number of the
    same lane arrived before it; messages of different lanes may interleave freely.
    With `partitions=1` every message is in one lane. A market workload's messages name
    their lane (their instrument's partition) when seen.
    """

    __slots__ = (
        "_bits",
        "_lane_highest",
        "duplicates",
        "highest",
        "out_of_order",
        "partitions",
        "unique",
    )

    def __init__(self, partitions: int = 1) -> None:
        if partitions < 1:
            raise ValueError(f"a topic has at least one partition, got {partitions}")
        self.partitions = partitions
        self._bits = bytearray()
        self._lane_highest = [-1] * partitions
        self.unique = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.highest = -1

    def see(self, seq: int, lane: int = -1) -> bool:
        """Record `seq` (of `lane`; -1: seq % partitions); returns False when it is a
        duplicate."""
        if seq < 0:
            raise ValueError(f"sequence numbers start at 0, got {seq}")
        bits = self._bits
        byte = seq >> 3
        if byte >= len(bits):
            bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
        mask = 1 << (seq & 7)
        if bits[byte] & mask:
            self.duplicates += 1
            return False
        bits[byte] |= mask
        self.unique += 1
        lanes = self._lane_highest
        if lane < 0:
            lane = seq % self.partitions
        if seq < lanes[lane]:
            self.out_of_order += 1
        else:
            lanes[lane] = seq
            if seq > self.highest:
                self.highest = seq
        return True

    def has(self, seq: int) -> bool:
        byte, bit = divmod(seq, 8)
        return 0 <= byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def bitmap(self) -> int:
        """What arrived as one integer: bit n is set when sequence number n was seen."""
        return int.from_bytes(self._bits, "little")

    def unseen(self, wanted: int) -> int:
        """The bits of `wanted` (bit n: sequence number n) that were never seen. Only the
        bytes between wanted's lowest and highest bits are read."""
        if wanted <= 0:
            return 0
        low = ((wanted & -wanted).bit_length() - 1) >> 3
        high = (wanted.bit_length() + 7) >> 3
        return wanted & ~(int.from_bytes(self._bits[low:high], "little") << (8 * low))

    def lane_highest(self) -> list[int]:
        """The highest sequence number seen per lane (-1: none)."""
        return list(self._lane_highest)

    def _empty(self) -> bool:
        return self.unique == 0 and self.duplicates == 0

    def merge(self, other: SequenceTracker) -> None:
        """Fold in what another consumer saw of the same producer.

        Consumers read disjoint partitions, so each lane was seen by one of them and the
        merge equals one tracker that saw both streams, in any interleaving. Where two
        consumers saw the same lane, a message both saw counts as a duplicate and their
        out-of-order counts add up (order is judged per consumer)."""
        if other.partitions != self.partitions:
            if self._empty():  # a fresh tracker takes the lanes of what it merges
                self.partitions = other.partitions
                self._lane_highest = [-1] * other.partitions
            elif other._empty():
                return
            else:
                raise ValueError(
                    f"cannot merge trackers of {self.partitions} and {other.partitions} partitions"
                )
        mine, theirs = self.bitmap(), other.bitmap()
        overlap = (mine & theirs).bit_count()
        self._bits = bytearray(
            (mine | theirs).to_bytes(max(len(self._bits), len(other._bits)), "little")
        )
        self.unique += other.unique - overlap
        self.duplicates += other.duplicates + overlap
        self.out_of_order += other.out_of_order
        self.highest = max(self.highest, other.highest)
        self._lane_highest = [
            max(a, b) for a, b in zip(self._lane_highest, other._lane_highest, strict=True)
        ]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form, so trackers can travel from agents to the controller."""
        return {
            "bits": base64.b64encode(zlib.compress(bytes(self._bits))).decode("ascii"),
            "unique": self.unique,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "highest": self.highest,
            "partitions": self.partitions,
            "lane_highest": list(self._lane_highest),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> SequenceTracker:
        """The tracker `to_dict` wrote (one without lanes: a single lane)."""
        tracker = cls(int(str(data.get("partitions", 1))))
        tracker._bits = bytearray(zlib.decompress(base64.b64decode(str(data["bits"]))))
        tracker.unique = int(str(data["unique"]))
        tracker.duplicates = int(str(data["duplicates"]))
        tracker.out_of_order = int(str(data["out_of_order"]))
        tracker.highest = int(str(data["highest"]))
        lanes = data.get("lane_highest")
        if isinstance(lanes, list) and len(lanes) == tracker.partitions:
            tracker._lane_highest = [int(h) for h in lanes]
        elif tracker.partitions == 1:
            tracker._lane_highest = [tracker.highest]
        else:
            raise ValueError(f"tracker of {tracker.partitions} partitions without its lane_highest")
        return tracker

    def missing(self, sent: int, not_acked: Iterable[int] = ()) -> int:
        """How many acknowledged messages among 0..sent-1 never arrived."""
        if sent <= 0:
            return 0
        wanted = ((1 << sent) - 1) & ~seq_mask(not_acked, sent)
        return self.unseen(wanted).bit_count()


@dataclass
class ProducerReport:
    """What one producer says it did: messages sent, the ones the broker refused (an error
    ack: `failed`) and the ones with no answer at all when the step stopped waiting
    (`unacked`)."""

    sent: int
    failed: list[int] = field(default_factory=list)
    unacked: list[int] = field(default_factory=list)

    @property
    def not_acked(self) -> set[int]:
        return set(self.failed) | set(self.unacked)


@dataclass(frozen=True)
class DeliveryCounts:
    """Delivery accounting for one step, summed over producers.

    Every sent message is exactly one of acked, failed (the broker or client answered
    with an error) or unacked (no answer when the step stopped waiting); `lost` is the
    acknowledged ones that never arrived, `received` the distinct ones that did (an
    unacknowledged message may still arrive)."""

    sent: int
    acked: int
    received: int
    lost: int
    duplicated: int
    out_of_order: int
    failed: int = 0
    unacked: int = 0
    #: sent messages that arrived, whatever their ack said (None: not counted)
    delivered: int | None = None

    @property
    def delivered_ratio(self) -> float:
        """Share of sent messages that arrived (1.0 when nothing was sent)."""
        if self.sent == 0:
            return 1.0
        arrived = self.delivered if self.delivered is not None else self.acked - self.lost
        return arrived / self.sent


def account(
    trackers: Mapping[int, SequenceTracker], reports: Mapping[int, ProducerReport]
) -> DeliveryCounts:
    """Compare what producers sent with what the consumers saw.

    A message counts as lost when it was acknowledged and never received. `received`
    counts the distinct messages of reporting producers that arrived; what the consumers
    saw from producers that did not report (killed on purpose) is added to it, since no
    one can say what those sent.
    """
    sent = acked = lost = failed = unacked = delivered = 0
    for pid, rep in reports.items():
        failed_seqs = {s for s in rep.failed if 0 <= s < rep.sent}
        unacked_seqs = {s for s in rep.unacked if 0 <= s < rep.sent} - failed_seqs
        sent += rep.sent
        failed += len(failed_seqs)
        unacked += len(unacked_seqs)
        acked_here = rep.sent - len(failed_seqs) - len(unacked_seqs)
        acked += acked_here
        tracker = trackers.get(pid)
        if tracker is None:
            lost += acked_here
        else:
            missing = tracker.missing(rep.sent, failed_seqs | unacked_seqs)
            lost += missing
            delivered += (
                acked_here - missing + sum(1 for s in failed_seqs | unacked_seqs if tracker.has(s))
            )
    return DeliveryCounts(
        sent=sent,
        acked=acked,
        received=sum(t.unique for t in trackers.values()),
        lost=lost,
        duplicated=sum(t.duplicates for t in trackers.values()),
        out_of_order=sum(t.out_of_order for t in trackers.values()),
        failed=failed,
        unacked=unacked,
        delivered=delivered,
    )
