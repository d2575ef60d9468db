"""What a step's market-data workload is: instruments, their popularity, the arrival process.

A `MarketSpec` travels in the agents' configs (`protocol.MarketWire`); both sides build the
same schedule from it (`workload.market`). The default spec (no instruments, uniform, even
arrivals) is today's workload exactly: one stream per producer, round-robin partitions.

- `instruments=N`: instrument j belongs to producer j % producers and goes to partition
  j % partitions (its key is the instrument), so a hot instrument makes a hot partition.
- `popularity`: `uniform` or `zipf:<s>`: instrument j (rank j + 1) has weight 1/(j+1)^s.
  The step's load stays producers x rate; producer p sends the share of it that its
  instruments' weights make: rate_p = producers * rate * W_p / W, W_p the sum of its
  instruments' weights, W of all. Each of its ticks goes to one of its instruments by
  weight (a low-discrepancy sequence of the sequence number, no randomness).
- `arrivals`: `even` (gaps of 1/rate_p), `poisson` (exponential gaps of mean 1/rate_p,
  from the spec's seed) or `burst:<k>x<s>s/<period>s`: k times a base rate for s seconds
  at the start of every period (from the step's start), the base rate otherwise; `rate`
  is the mean, so base = rate / (1 + (k - 1) s / period) and peak = k * base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pytest_frida.workload.protocol import MarketWire

ARRIVAL_FORMS = "even, poisson or burst:<k>x<s>s/<period>s (e.g. burst:5x2s/10s)"
POPULARITY_FORMS = "uniform or zipf:<s> with s > 0 (e.g. zipf:1.1)"

#: the seed of Poisson arrivals when none is given (every run before `--frida-seed` drew
#: from it)
DEFAULT_SEED = 1

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_BURST = re.compile(rf"burst:{_NUMBER}x{_NUMBER}s/{_NUMBER}s")
_ZIPF = re.compile(rf"zipf:{_NUMBER}")


@dataclass(frozen=True)
class Arrivals:
    """An arrival process. For `burst`: `factor` times the base rate for `burst_s` seconds
    at the start of every `period_s`."""

    kind: Literal["even", "poisson", "burst"] = "even"
    factor: float = 1.0
    burst_s: float = 0.0
    period_s: float = 0.0

    def __str__(self) -> str:
        if self.kind == "burst":
            return f"burst:{self.factor:g}x{self.burst_s:g}s/{self.period_s:g}s"
        return self.kind

    def peak_over_mean(self) -> float:
        """The peak rate over the mean rate (1 unless bursts)."""
        if self.kind != "burst":
            return 1.0
        return self.factor / (1.0 + (self.factor - 1.0) * self.burst_s / self.period_s)


#: today's arrivals: even gaps
EVEN = Arrivals()


def parse_arrivals(text: str) -> Arrivals:
    """An arrival process from its text; a ValueError says what is accepted."""
    value = str(text).strip().lower()
    if value in ("even", "poisson"):
        return Arrivals(value)  # type: ignore[arg-type]
    m = _BURST.fullmatch(value)
    if m is None:
        raise ValueError(f"expected {ARRIVAL_FORMS}")
    factor, burst_s, period_s = (float(g) for g in m.groups())
    if factor <= 1.0 or burst_s <= 0.0 or burst_s >= period_s:
        raise ValueError(
            f"arrivals {text!r}: a burst needs k > 1 and 0 < s < period (e.g. burst:5x2s/10s)"
        )
    return Arrivals("burst", factor, burst_s, period_s)


def parse_popularity(text: str) -> float:
    """The Zipf exponent (0: uniform)."""
    value = str(text).strip().lower()
    if value == "uniform":
        return 0.0
    m = _ZIPF.fullmatch(value)
    if m is None or float(m[1]) <= 0.0:
        raise ValueError(f"expected {POPULARITY_FORMS}")
    return float(m[1])


def popularity_text(exponent: float) -> str:
    return "uniform" if exponent == 0.0 else f"zipf:{exponent:g}"


@dataclass(frozen=True)
class MarketSpec:
    """Instruments (None: one stream per producer, round-robin partitions), the Zipf
    exponent of their popularity (0: uniform), the arrival process and its seed (which
    only Poisson arrivals draw from: even and burst times are fixed)."""

    instruments: int | None = None
    popularity: float = 0.0
    arrivals: Arrivals = EVEN
    seed: int = DEFAULT_SEED

    def is_default(self) -> bool:
        return self.instruments is None and self.popularity == 0.0 and self.arrivals.kind == "even"

    def to_wire(self) -> MarketWire:
        return {
            "instruments": self.instruments,
            "popularity": self.popularity,
            "arrivals": str(self.arrivals),
            "seed": self.seed,
        }

    @classmethod
    def from_wire(cls, wire: MarketWire | None) -> MarketSpec:
        if wire is None:
            return cls()
        instruments = wire.get("instruments")
        return cls(
            None if instruments is None else int(instruments),
            float(wire.get("popularity", 0.0)),
            parse_arrivals(str(wire.get("arrivals", "even"))),
            int(wire.get("seed", DEFAULT_SEED)),
        )

    def check(self, largest_producers: int) -> None:
        """A one-line error for a spec no step of `largest_producers` can run."""
        if self.instruments is not None and self.instruments < largest_producers:
            raise ValueError(
                f"instruments={self.instruments}: fewer instruments than the"
                f" {largest_producers} producers the test may run; expected at least"
                f" {largest_producers} (each producer holds one instrument at least)"
            )
        if self.popularity and self.instruments is None:
            raise ValueError(
                f"popularity={popularity_text(self.popularity)}: popularity ranks"
                " instruments; give instruments=N too"
            )
