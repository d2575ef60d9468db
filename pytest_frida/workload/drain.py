"""When a consumer's drain is complete: every acknowledged message of its partitions arrived.

The controller tells each consumer what every producer sent and which of those were not
acknowledged (failed or unanswered). A consumer reads only some partitions, so it waits for
the acknowledged messages of its own lanes (`messages.lane_of`, or in a market workload
its instruments' partitions) and nothing else. A message
that arrived without an ack never makes up for an acknowledged one that did not: the check
compares sequence-number bitmaps, not counts.

With a million messages outstanding this stays cheap: per producer, the wanted messages are
one integer bitmap; a check first compares how many fresh messages arrived since the last
exact check with how many are still wanted (no bitmap work while that falls short), and an
exact check keeps only the bits still missing, so each later one is smaller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pytest_frida.measure.accounting import SequenceTracker, seq_mask
from pytest_frida.workload.instruments import Instruments


def lane_mask(sent: int, residues: Iterable[int], partitions: int) -> int:
    """Bit n set for each n in 0..sent-1 with n % partitions in `residues`."""
    if sent <= 0:
        return 0
    wanted = {r % partitions for r in residues}
    if not wanted:
        return 0
    if len(wanted) == partitions:
        return (1 << sent) - 1
    # one period of 8 * partitions bits is whole bytes and whole lanes: repeat it
    period = bytearray(partitions)
    for bit in range(8 * partitions):
        if bit % partitions in wanted:
            period[bit >> 3] |= 1 << (bit & 7)
    nbytes = (sent + 7) // 8
    pattern = bytes(period) * (nbytes // partitions + 1)
    return int.from_bytes(pattern[:nbytes], "little") & ((1 << sent) - 1)


class DrainCheck:
    """The acknowledged messages one consumer still waits for, per producer."""

    def __init__(
        self,
        expected: Mapping[Any, Any],
        partitions: Sequence[int],
        total_partitions: int,
        instruments: Instruments | None = None,
    ) -> None:
        """`expected`: {producer: {"sent": n, "not_acked": [seq, ...]}} (keys may be JSON
        strings); `partitions`: the ones this consumer reads, of `total_partitions`;
        `instruments`: a market workload's, which decide every message's lane."""
        #: per producer: (bitmap of wanted messages not yet seen, how many, the tracker's
        #: `unique` when that was last established)
        self._rest: dict[int, tuple[int, int, int]] = {}
        self.wanted = 0
        for key, spec in expected.items():
            pid = int(key)
            if isinstance(spec, Mapping):
                sent, not_acked = int(spec.get("sent", 0)), spec.get("not_acked", ())
            else:  # a bare count: nothing known to be unacknowledged
                sent, not_acked = int(spec), ()
            if instruments is None:
                # message n of pid goes to (pid + n) % P: in our partitions for these residues
                residues = [(lane - pid) % total_partitions for lane in partitions]
                lanes = lane_mask(sent, residues, total_partitions)
            else:
                lanes = instruments.lane_mask(pid, sent, partitions, total_partitions)
            mask = lanes & ~seq_mask((int(s) for s in not_acked), sent)
            count = mask.bit_count()
            if count:
                self._rest[pid] = (mask, count, 0)
                self.wanted += count

    def missing(self, trackers: Mapping[int, SequenceTracker]) -> int:
        """How many wanted messages have not arrived (exact; looks at every bitmap)."""
        total = 0
        for pid, (mask, _, _) in self._rest.items():
            tracker = trackers.get(pid)
            total += (mask if tracker is None else tracker.unseen(mask)).bit_count()
        return total

    def complete(self, trackers: Mapping[int, SequenceTracker]) -> bool:
        """Whether every wanted message arrived. A producer's bitmap is only looked at once
        enough fresh messages arrived since the last look to possibly fill its gaps."""
        for pid, (mask, count, unique_then) in list(self._rest.items()):
            tracker = trackers.get(pid)
            if tracker is None or tracker.unique - unique_then < count:
                return False
            rest = tracker.unseen(mask)
            if rest:
                self._rest[pid] = (rest, rest.bit_count(), tracker.unique)
                return False
            del self._rest[pid]
        return True
