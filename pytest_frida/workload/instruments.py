"""Which instrument, partition and key each message of a market workload has.

Instrument j belongs to producer j % producers and lives on partition j % partitions.
Message `seq` of producer p is a tick of one of p's instruments, chosen by weight with
the golden-ratio sequence u = frac((seq + 1) * g): no randomness, each instrument's share
of any run of ticks is its weight's within a few ticks, and the choice depends on `seq`
alone, so producers, consumers and the controller agree without sharing any state. Without
instruments a producer walks the partitions round robin (`messages.lane_of`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from pytest_frida.workload.arrivals import MarketSpec
from pytest_frida.workload.messages import instrument_key, lane_of

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0

IntArray = npt.NDArray[np.int64]


def market_key(instrument: int) -> bytes:
    """A market instrument's key."""
    return b"INS%07d" % instrument


class Instruments:
    """The instruments of a step with `producers` producers, their weights and lanes."""

    def __init__(self, spec: MarketSpec, producers: int) -> None:
        self.spec = spec
        self.producers = producers
        self._cum: dict[int, list[float]] = {}
        self._shares: list[float] | None = None

    def _weights(self, producer: int) -> npt.NDArray[np.float64]:
        assert self.spec.instruments is not None
        ranks = np.arange(producer, self.spec.instruments, self.producers, dtype=np.float64) + 1
        return np.asarray(ranks**-self.spec.popularity, dtype=np.float64)

    def rate_share(self, producer: int) -> float:
        """Producer `producer`'s rate over the mean rate per producer: producers * W_p / W
        (1 without instruments)."""
        if self.spec.instruments is None:
            return 1.0
        if self._shares is None:
            sums = [float(self._weights(p).sum()) for p in range(self.producers)]
            total = math.fsum(sums)
            self._shares = [self.producers * w / total for w in sums]
        return self._shares[producer]

    def top_share(self) -> float | None:
        """The hottest instrument's share of all ticks (None without instruments)."""
        n = self.spec.instruments
        if n is None:
            return None
        weights = np.arange(1, n + 1, dtype=np.float64) ** -self.spec.popularity
        return float(1.0 / weights.sum())

    def _cumulative(self, producer: int) -> list[float]:
        cum = self._cum.get(producer)
        if cum is None:
            sums = np.cumsum(self._weights(producer))
            cum = self._cum[producer] = (sums / sums[-1]).tolist()
        return cum

    def instrument(self, producer: int, seq: int) -> int:
        """The instrument message `seq` of `producer` is a tick of."""
        cum = self._cumulative(producer)
        x = (seq + 1) * GOLDEN
        index = min(bisect.bisect_right(cum, x - math.floor(x)), len(cum) - 1)
        return producer + index * self.producers

    def instruments(self, producer: int, count: int) -> IntArray:
        """`instrument(producer, seq)` for seq 0..count-1, at once."""
        cum = np.asarray(self._cumulative(producer))
        x = (np.arange(count, dtype=np.float64) + 1) * GOLDEN
        index = np.minimum(np.searchsorted(cum, x - np.floor(x), side="right"), len(cum) - 1)
        return np.asarray(producer + index * self.producers, dtype=np.int64)

    def lane(self, producer: int, seq: int, partitions: int) -> int:
        if self.spec.instruments is None:
            return lane_of(producer, seq, partitions)
        return self.instrument(producer, seq) % partitions

    def lanes(self, producer: int, count: int, partitions: int) -> IntArray:
        """`lane(producer, seq, partitions)` for seq 0..count-1."""
        if self.spec.instruments is None:
            return np.asarray((producer + np.arange(count)) % partitions, dtype=np.int64)
        return self.instruments(producer, count) % partitions

    def lane_mask(self, producer: int, sent: int, mine: Iterable[int], partitions: int) -> int:
        """Bit n set for each n in 0..sent-1 whose lane is in `mine`."""
        if sent <= 0:
            return 0
        chosen = np.isin(self.lanes(producer, sent, partitions), np.fromiter(mine, np.int64))
        return int.from_bytes(np.packbits(chosen, bitorder="little").tobytes(), "little")

    def partition_counts(self, sent: Mapping[int, int], partitions: int) -> dict[int, int]:
        """Messages per partition when each producer sent its messages 0..sent[pid]-1."""
        counts = np.zeros(partitions, dtype=np.int64)
        for pid, n in sent.items():
            counts += np.bincount(self.lanes(pid, n, partitions), minlength=partitions)
        return {p: int(c) for p, c in enumerate(counts)}

    def key(self, producer: int, instrument_or_lane: int) -> bytes:
        """The key of a message: its instrument's, or without instruments the producer's
        on that lane."""
        if self.spec.instruments is None:
            return instrument_key(producer, instrument_or_lane)
        return market_key(instrument_or_lane)
