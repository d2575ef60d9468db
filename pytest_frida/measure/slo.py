"""The SLO language: `p99<=250ms, loss==0, delivered>=99.9%`.

One small grammar shared by the capacity marker, ini files and the command line. A clause
is `<metric> <op> <value>[unit]`; clauses are separated by commas or `and`.
Latency metrics need a unit (us, ms, s); `delivered` takes a ratio or a percentage;
counts (`loss`, `unacked`, `failed`, `duplicates`, `out_of_order`) are plain integers.

`lag` is how far behind the consumers read: `lag<=1s` in time (a unit us, ms or s), or
`lag<=10000msgs` in messages (metric `lag_msgs`). Both are judged from the consumers' lag
samples (about one a second, over the measured window and at its end):

- in messages, a consumer's lag at a sample is the partitions' high watermarks minus its
  positions, summed over its partitions; the step's `lag_msgs` is the sum over consumers
  of each one's largest sample (samples of different consumers are not simultaneous, so
  the sum bounds the group's lag at any sampled instant from above);
- in time, a consumer's lag at a sample instant t is, over its partitions that still hold
  messages it has not read, the largest of t minus the intended send time of the newest
  message it had read from that partition (the step's start when none yet), and 0 when it
  has read everything written: how long ago, in the schedule's time, the position it
  reads at was due. The step's `lag` is the largest over consumers and samples.

A lag that was not measured (no sample, or a query the broker did not answer at the
window's end) leaves the clause unknown, never passed (measure.verdict).

`with_delivery_guards` completes an SLO with `loss==0, unacked==0, failed==0` for each of
those it says nothing about, so no SLO passes a step that dropped a message by simply not
mentioning it; a `delivered` ratio stands in for `unacked` and `failed` (messages the
producers know did not get through), never for `loss` (acknowledged, then lost).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
COUNT_METRICS = ("loss", "unacked", "failed", "duplicates", "out_of_order")
RATIO_METRICS = ("delivered",)
#: the consumers' lag, in time (ms) and in messages; written `lag` with either unit
LAG_METRICS = ("lag", "lag_msgs")
METRICS = LATENCY_METRICS + COUNT_METRICS + RATIO_METRICS + ("lag",)
_LAG_COUNT_UNITS = ("msgs", "msg")
_ALIASES = {"p999": "p99.9", "lost": "loss", "duplicated": "duplicates", "not_acked": "unacked"}
#: the counts of messages that did not get through, each required to be 0 unless the SLO
#: names it (a `delivered` ratio is the user's tolerance for unacked and failed ones)
DELIVERY_GUARDS = ("loss", "unacked", "failed")

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}
_UNIT_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_CLAUSE = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_.]*)\s*(?P<op><=|>=|==|<|>)\s*"
    r"(?P<value>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[a-z%]*)\s*$"
)
EXAMPLE = "p99<=250ms, loss==0"


class SloError(ValueError):
    """An SLO expression that does not parse; the message names the offending part."""


@dataclass(frozen=True)
class Clause:
    """One requirement, normalised: latencies in ms, ratios in 0..1."""

    metric: str
    op: str
    threshold: float
    text: str

    def holds(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.threshold)


@dataclass(frozen=True)
class ClauseVerdict:
    clause: Clause
    measured: float | None

    @property
    def passed(self) -> bool:
        return self.measured is not None and self.clause.holds(self.measured)

    @property
    def unknown(self) -> bool:
        """A lag clause with no lag measured: neither passed nor violated (measure.verdict)."""
        return self.measured is None and self.clause.metric in LAG_METRICS

    def describe(self) -> str:
        unit = {"lag_msgs": "msgs"}.get(
            self.clause.metric, "ms" if self.clause.metric in (*LATENCY_METRICS, "lag") else ""
        )
        measured = "not measured" if self.measured is None else f"{self.measured:g}{unit}"
        mark = "unknown" if self.unknown else "ok" if self.passed else "VIOLATED"
        return f"{self.clause.text}: measured {measured} [{mark}]"


@dataclass(frozen=True)
class Slo:
    """A parsed SLO: every clause must hold for a step to pass."""

    clauses: tuple[Clause, ...]
    text: str

    def evaluate(self, measured: Mapping[str, float | None]) -> list[ClauseVerdict]:
        return [ClauseVerdict(c, measured.get(c.metric)) for c in self.clauses]

    @property
    def latency_clauses(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.metric in LATENCY_METRICS)

    @property
    def lag_clauses(self) -> tuple[Clause, ...]:
        return tuple(c for c in self.clauses if c.metric in LAG_METRICS)

    @property
    def latency_bound_ms(self) -> float | None:
        """The tightest upper bound any latency clause sets (ms), or None without one."""
        bounds = [
            c.threshold for c in self.clauses if c.metric in LATENCY_METRICS and c.op in ("<", "<=")
        ]
        return min(bounds) if bounds else None

    def __str__(self) -> str:
        return self.text


def with_delivery_guards(slo: Slo) -> Slo:
    """`slo` plus `<count>==0` for each undelivered-message count it leaves unmentioned."""
    named = {c.metric for c in slo.clauses}
    if "delivered" in named:
        named |= {"unacked", "failed"}
    extra = tuple(
        Clause(metric=m, op="==", threshold=0.0, text=f"{m}==0")
        for m in DELIVERY_GUARDS
        if m not in named
    )
    if not extra:
        return slo
    clauses = slo.clauses + extra
    return Slo(clauses=clauses, text=", ".join(c.text for c in clauses))


def _plain(value: float) -> str:
    """A ratio written out in full (no exponent, no lost digits), so it parses back."""
    return f"{value:.12f}".rstrip("0").rstrip(".") or "0"


def parse_slo(text: str) -> Slo:
    """Parse an SLO expression; raise SloError naming the clause that is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise SloError(f"empty SLO {text!r}: expected clauses like {EXAMPLE!r}")
    parts = [p for p in re.split(r",|\band\b", text, flags=re.IGNORECASE) if p.strip()]
    if not parts:
        raise SloError(f"SLO {text!r} has no clauses: expected clauses like {EXAMPLE!r}")
    clauses = tuple(_parse_clause(part, text) for part in parts)
    return Slo(clauses=clauses, text=", ".join(c.text for c in clauses))


def _parse_clause(part: str, whole: str) -> Clause:
    m = _CLAUSE.match(part.lower())
    where = f"in SLO {whole!r}: clause {part.strip()!r}"
    if m is None:
        raise SloError(f"{where} does not parse; expected <metric><op><value>, e.g. {EXAMPLE!r}")
    metric = _ALIASES.get(m["metric"], m["metric"])
    value = float(m["value"])
    unit = m["unit"]
    if metric not in METRICS:
        raise SloError(f"{where}: unknown metric {m['metric']!r}; known: {', '.join(METRICS)}")
    if metric == "lag":
        if unit in _LAG_COUNT_UNITS:
            if value != int(value):
                raise SloError(f"{where}: a lag in messages is a whole number")
            return Clause("lag_msgs", m["op"], value, f"lag{m['op']}{int(value)}msgs")
        if unit not in _UNIT_TO_MS:
            raise SloError(
                f"{where}: lag needs a unit: us, ms or s (time) or msgs (messages),"
                f" got {unit or 'none'!r}"
            )
        return Clause("lag", m["op"], value * _UNIT_TO_MS[unit], f"lag{m['op']}{m['value']}{unit}")
    if metric in LATENCY_METRICS:
        if unit not in _UNIT_TO_MS:
            raise SloError(f"{where}: latency needs a unit us, ms or s (got {unit or 'none'!r})")
        threshold = value * _UNIT_TO_MS[unit]
        text = f"{metric}{m['op']}{m['value']}{unit}"
    elif metric in RATIO_METRICS:
        if unit == "%":
            value = round(value / 100.0, 12)
        elif unit:
            raise SloError(f"{where}: {metric} takes a ratio (0.999) or a percentage (99.9%)")
        if not 0.0 <= value <= 1.0:
            raise SloError(f"{where}: {metric} must be between 0 and 1 (or 0% and 100%)")
        threshold = value
        text = f"{metric}{m['op']}{_plain(value)}"
    else:
        if unit or value != int(value):
            raise SloError(f"{where}: {metric} is a count of messages, a whole number")
        threshold = value
        text = f"{metric}{m['op']}{int(value)}"
    return Clause(metric=metric, op=m["op"], threshold=threshold, text=text)
