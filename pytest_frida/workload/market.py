"""The send schedule of a market workload: every message's intended time, fixed in advance.

Producer p sends at its own rate rate_p = rate * `Instruments.rate_share(p)` (the
superposition of its instruments' ticks; `instruments` says which instrument each one
is). Its k-th message is due at t0 plus:

- even: (p / n + k) / rate_p, today's formula at the producer's rate;
- burst: where the cumulative intensity reaches k + p / n, the intensity being k_f * base
  for the first s seconds of every period and base otherwise (base = rate_p / (1 + (k_f
  - 1) s / period), so rate_p is the mean);
- poisson: the sum of k + 1 exponential gaps of mean 1 / rate_p, drawn from
  numpy's PCG64 seeded with (seed, p).

A late send never moves the ones after it (open model). The times are computed per
producer as one array (8 bytes a message) the first time they are asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

from pytest_frida.workload.arrivals import MarketSpec, popularity_text
from pytest_frida.workload.instruments import Instruments, IntArray
from pytest_frida.workload.schedule import NS, Schedule, Window

#: poisson gaps are drawn this many at a time beyond the expected count
_POISSON_SLACK = 64


class SendSchedule(Protocol):
    """What a sender and the controller's merge ask of a schedule."""

    def intended_ns(self, producer: int, seq: int) -> int: ...

    def messages_per_producer(self, producer: int) -> int: ...

    def merged(self, producers: range) -> Iterator[tuple[int, int, int]]: ...


class MarketSchedule:
    """Intended send times of a market workload's producers."""

    def __init__(self, spec: MarketSpec, rate: float, total_producers: int, window: Window) -> None:
        self.spec = spec
        self.rate = rate
        self.total_producers = total_producers
        self.window = window
        self.instruments = Instruments(spec, total_producers)
        self._times: dict[int, IntArray] = {}

    def producer_rate(self, producer: int) -> float:
        return self.rate * self.instruments.rate_share(producer)

    def times(self, producer: int) -> IntArray:
        """The intended send times (ns) of all of `producer`'s messages in the window."""
        times = self._times.get(producer)
        if times is None:
            times = self._times[producer] = self._compute(producer)
        return times

    def _compute(self, producer: int) -> IntArray:
        rate = self.producer_rate(producer)
        span_s = (self.window.end_ns - self.window.t0_ns) / NS
        phase = producer / self.total_producers
        arrivals = self.spec.arrivals
        if arrivals.kind == "poisson":
            offsets = _poisson(rate, span_s, self.spec.seed, producer)
        else:
            period = arrivals.period_s if arrivals.kind == "burst" else span_s
            counts = np.arange(math.ceil(rate * (span_s + period)) + 2, dtype=np.float64) + phase
            if arrivals.kind == "burst":
                offsets = _burst(counts, rate, arrivals.factor, arrivals.burst_s, period)
            else:
                offsets = counts / rate
        ns = self.window.t0_ns + np.rint(offsets * NS).astype(np.int64)
        return np.asarray(ns[: np.searchsorted(ns, self.window.end_ns)], dtype=np.int64)

    def intended_ns(self, producer: int, seq: int) -> int:
        return int(self.times(producer)[seq])

    def messages_per_producer(self, producer: int) -> int:
        return len(self.times(producer))

    def merged(self, producers: range) -> Iterator[tuple[int, int, int]]:
        """(intended_ns, producer, seq) for `producers`, in time order (ties by producer)."""
        return zip(*self.merged_lists(producers), strict=True)

    def merged_lists(self, producers: range) -> tuple[list[int], list[int], list[int]]:
        """`merged` as three lists: intended times, producers, sequence numbers."""
        parts = [self.times(p) for p in producers]
        if not parts:
            return [], [], []
        times = np.concatenate(parts)
        pids = np.concatenate(
            [np.full(len(t), p, dtype=np.int64) for p, t in zip(producers, parts, strict=True)]
        )
        seqs = np.concatenate([np.arange(len(t), dtype=np.int64) for t in parts])
        order = np.lexsort((seqs, pids, times))
        return times[order].tolist(), pids[order].tolist(), seqs[order].tolist()


Sends = Callable[[int], Iterator[tuple[int, int, int]]]


def prepared_sends(
    spec: MarketSpec,
    rate: float,
    total_producers: int,
    warmup: float,
    duration: float,
    producers: range,
) -> Sends:
    """The merged market schedule of `producers`, worked out before the start instant is
    known (it takes a while for a million messages): given t0, the (intended_ns,
    producer, seq) in time order, the same as `MarketSchedule.merged` of that window."""
    schedule = MarketSchedule(spec, rate, total_producers, Window.of(0, warmup, duration))
    offsets, pids, seqs = schedule.merged_lists(producers)
    return lambda t0_ns: zip(map(t0_ns.__add__, offsets), pids, seqs, strict=True)


def _burst(
    counts: np.ndarray, rate: float, factor: float, burst_s: float, period_s: float
) -> np.ndarray:
    """Where the intensity's integral reaches each of `counts` (seconds from the start)."""
    base = rate / (1.0 + (factor - 1.0) * burst_s / period_s)
    per_period = rate * period_s
    in_burst = factor * base * burst_s
    periods = np.floor(counts / per_period)
    rest = counts - periods * per_period
    return periods * period_s + np.where(
        rest < in_burst, rest / (factor * base), burst_s + (rest - in_burst) / base
    )


def _poisson(rate: float, span_s: float, seed: int, producer: int) -> np.ndarray:
    """Arrival offsets (s) of a Poisson process of `rate` until past `span_s`."""
    rng = np.random.Generator(np.random.PCG64([seed, producer]))
    expected = rate * span_s
    chunk = int(expected + 6 * math.sqrt(expected) + _POISSON_SLACK)
    offsets = np.cumsum(rng.exponential(1.0 / rate, chunk))
    while offsets[-1] < span_s:
        more = np.cumsum(rng.exponential(1.0 / rate, chunk)) + offsets[-1]
        offsets = np.concatenate([offsets, more])
    return offsets


def schedule_for(
    spec: MarketSpec, rate: float, total_producers: int, window: Window
) -> SendSchedule:
    """Today's even schedule for one stream per producer, else a market schedule."""
    if spec.instruments is None and spec.arrivals.kind == "even":
        return Schedule(rate, total_producers, window)
    return MarketSchedule(spec, rate, total_producers, window)


def workload_figures(spec: MarketSpec, producers: int, rate: float) -> dict[str, Any]:
    """Which workload a step ran, for its result: the spec's text forms, the seed its
    arrivals drew from (None for even and burst arrivals, which draw nothing), the step's
    mean and peak rates (msg/s), the top instrument's share of ticks and the busiest
    producer's rate, and all of it in words."""
    instruments = Instruments(spec, producers)
    mean = producers * rate
    peak = mean * spec.arrivals.peak_over_mean()
    top = instruments.top_share()
    busiest = max(instruments.rate_share(p) for p in range(producers)) * rate
    return {
        "instruments": spec.instruments,
        "popularity": popularity_text(spec.popularity),
        "arrivals": str(spec.arrivals),
        "seed": spec.seed if spec.arrivals.kind == "poisson" else None,
        "mean_rate": mean,
        "peak_rate": peak,
        "top_instrument_share": top,
        "busiest_producer_rate": busiest,
        "text": _words(spec, producers, rate, mean, peak, top, busiest),
    }


def _words(
    spec: MarketSpec,
    producers: int,
    rate: float,
    mean: float,
    peak: float,
    top: float | None,
    busiest: float,
) -> str:
    if spec.instruments is None:
        parts = ["one stream per producer over the partitions in turn"]
    else:
        parts = [f"{spec.instruments:,} instruments over the {producers} producers"]
        if spec.popularity:
            parts.append(
                f"Zipf popularity s={spec.popularity:g} (top instrument"
                f" {100 * (top or 0):.1f}% of ticks, busiest producer {busiest:,.0f} msg/s"
                f" against a mean of {rate:,.0f})"
            )
        else:
            parts.append("uniform popularity")
    arrivals = spec.arrivals
    if arrivals.kind == "burst":
        parts.append(
            f"bursts of {arrivals.factor:g}x the base rate for {arrivals.burst_s:g}s every"
            f" {arrivals.period_s:g}s (mean {mean:,.0f} msg/s over whole periods,"
            f" peak {peak:,.0f} msg/s)"
        )
    elif arrivals.kind == "poisson":
        parts.append(f"Poisson arrivals, seed {spec.seed}")
    else:
        parts.append("even arrivals")
    return ", ".join(parts)
