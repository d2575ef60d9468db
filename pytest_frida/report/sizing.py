"""The sizing answer: a target load beside each cluster shape's measured capacity limit.

A shape meets the target only on a confirmed limit (report.capacity) at or above it; a
confirmed failure at or below the target says it does not; a target between the last
pass and the first failure is undecided, and an unconfirmed limit decides nothing. Where
no measured shape meets the target, the answer is a projection from the measured shapes,
said to be one, with the assumption it rests on.

A shape's capacity in messages per second is its limit in producers times the mean rate
each producer was asked for: the load the cluster was measured to hold, not a figure read
from the brokers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_frida.measure.host_speed import SINGLE_HOST_SITES
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.trials import CONFIRMING
from pytest_frida.report.capacity import (
    CapacityLimit,
    base_test_id,
    limits_by_test,
    without_shape,
)
from pytest_frida.report.model import RunInfo


class TargetError(ValueError):
    """A sizing target that cannot be read."""


#: what `--frida-target` accepts, for its error messages
TARGET_FORMS = "instruments=N,ticks=X/s (or X/min), or rate=X/s (messages a second in all)"

_PER = {"s": 1.0, "sec": 1.0, "min": 1 / 60, "h": 1 / 3600}
_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*(?:msgs?)?\s*(?:/\s*([a-z]+))?\s*$")


@dataclass(frozen=True)
class SizingTarget:
    """The load the platform must carry, in messages a second across the cluster."""

    msg_per_s: float
    instruments: int | None = None
    ticks_per_s: float | None = None
    #: as the user wrote it, for the report to read back
    text: str = ""

    def describe(self) -> str:
        if self.instruments is not None and self.ticks_per_s is not None:
            return (
                f"{self.instruments:,} instruments at {self.ticks_per_s:g} ticks/s each:"
                f" {self.msg_per_s:,.0f} msg/s"
            )
        return f"{self.msg_per_s:,.0f} msg/s"


def _per_second(text: str, what: str) -> float:
    match = _RATE.match(text.lower())
    unit = match.group(2) if match else None
    if match is None or (unit is not None and unit not in _PER):
        raise TargetError(f"{what}={text!r} is not a rate; expected e.g. 2/s or 120/min")
    value = float(match.group(1)) * _PER[unit or "s"]
    if not value > 0:
        raise TargetError(f"{what}={text!r} must be above zero")
    return value


def parse_target(text: str) -> SizingTarget:
    """`instruments=16000,ticks=2/s` or `rate=32000/s`."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in ("instruments", "ticks", "rate") or key in fields:
            raise TargetError(f"{text!r}: expected {TARGET_FORMS}")
        fields[key] = value.strip()
    if "rate" in fields:
        if len(fields) > 1:
            raise TargetError(f"{text!r}: give rate alone, or instruments and ticks")
        return SizingTarget(_per_second(fields["rate"], "rate"), text=text)
    if set(fields) != {"instruments", "ticks"}:
        raise TargetError(f"{text!r}: expected {TARGET_FORMS}")
    raw = fields["instruments"]
    if not raw.isdigit() or int(raw) < 1:
        raise TargetError(f"instruments={raw!r} must be a whole number above zero")
    ticks = _per_second(fields["ticks"], "ticks")
    return SizingTarget(int(raw) * ticks, int(raw), ticks, text)


@dataclass(frozen=True)
class ShapeCapacity:
    """One shape's measured limit, as the sizing reads it."""

    label: str
    #: the resolved shape (brokers, partitions, replication, broker_config, ...)
    shape: Mapping[str, Any]
    limit: CapacityLimit
    #: mean messages a second each producer was asked for
    rate_per_producer: float
    #: the test without its shape: one workload, SLO and client, whatever the shape
    test: str = ""

    @property
    def brokers(self) -> int | None:
        value = self.shape.get("brokers")
        return int(value) if value is not None else None

    def msg_per_s(self, producers: int | None) -> float | None:
        return None if producers is None else producers * self.rate_per_producer


@dataclass(frozen=True)
class ShapeAnswer:
    """meets, short (does not meet), undecided (the target is inside the bracket) or
    unknown (no confirmed limit to judge by), and why in one sentence."""

    label: str
    answer: str
    sentence: str
    #: msg/s at the last pass and at the first failure, as far as measured
    capacity: float | None
    capacity_upper: float | None
    #: the limit's own status (report.capacity)
    status: str
    #: capacity / target - 1 at the confirmed limit (None: not a confirmed figure)
    headroom: float | None = None


def _rate(value: float | None) -> str:
    return "?" if value is None else f"{value:,.0f} msg/s"


def _confirmed(limit: CapacityLimit, producers: int | None, verdict: str) -> bool:
    """Whether `producers` has at least CONFIRMING trials of `verdict` and a majority for
    it (measure.trials), or, for a failure, lost messages or the cluster there."""
    if producers is None:
        return False
    if verdict == "fail" and producers in limit.definitive:
        return True
    for n, passes, fails in limit.trials:
        if n == producers:
            agree, other = (passes, fails) if verdict == "pass" else (fails, passes)
            return agree >= CONFIRMING and agree > other
    return False


def answer_for(target: SizingTarget, shape: ShapeCapacity) -> ShapeAnswer:
    """What one shape's limit says about the target."""
    limit = shape.limit
    low, high = shape.msg_per_s(limit.last_pass), shape.msg_per_s(limit.first_fail)
    t = target.msg_per_s

    def out(answer: str, sentence: str, headroom: float | None = None) -> ShapeAnswer:
        return ShapeAnswer(shape.label, answer, sentence, low, high, limit.status, headroom)

    if limit.status == "confirmed" and low is not None and high is not None:
        if low >= t:
            room = low / t - 1
            return out(
                "meets",
                f"meets it: confirmed to hold {_rate(low)} and to fail at {_rate(high)},"
                f" {room:.0%} headroom at least ({high / t - 1:.0%} at most)",
                room,
            )
        if high <= t:
            return out(
                "short",
                f"does not meet it: fails at {_rate(high)}, {1 - high / t:.0%} below the"
                " target (confirmed)",
            )
        return out(
            "undecided",
            f"undecided: the target lies between its confirmed pass at {_rate(low)} and"
            f" its confirmed failure at {_rate(high)}; search with a finer step",
        )
    if limit.status == "not_reached" and low is not None:
        if low >= t and not _confirmed(limit, limit.last_pass, "pass"):
            return out(
                "unknown",
                f"unknown: holds {_rate(low)} in a single pass, not confirmed; nothing is"
                " sized from it",
            )
        if low >= t:
            return out(
                "meets",
                f"meets it: holds {_rate(low)} (its limit was not reached, so the headroom"
                f" is at least {low / t - 1:.0%})",
                low / t - 1,
            )
        return out(
            "unknown",
            f"unknown: passes up to {_rate(low)}, below the target, and was not measured"
            " further; widen the search",
        )
    if (
        limit.status == "below_range"
        and high is not None
        and high <= t
        and _confirmed(limit, limit.first_fail, "fail")
    ):
        return out(
            "short",
            f"does not meet it: fails already at {_rate(high)}, its smallest step",
        )
    return out(
        "unknown",
        f"unknown: no confirmed limit ({limit.describe()}); nothing is sized from it",
    )


@dataclass(frozen=True)
class Sizing:
    """The target, every shape's answer, and a projection where none meets it."""

    target: SizingTarget
    answers: tuple[ShapeAnswer, ...]
    projection: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def notes_and_projection(self) -> list[str]:
        return ([self.projection] if self.projection else []) + list(self.notes)

    def lines(self) -> list[str]:
        out = [f"sizing against {self.target.describe()}:"]
        out += [f"  {a.label}: {a.sentence}" for a in self.answers]
        return out + [f"  {line}" for line in self.notes_and_projection()]

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": asdict(self.target),
            "target_description": self.target.describe(),
            "answers": [asdict(a) for a in self.answers],
            "projection": self.projection,
            "notes": list(self.notes),
        }


#: shape keys that grow with the cluster (its brokers, and the partitions and copies
#: spread over them), for grouping shapes into families that differ only by their size
_SCALING_KEYS = ("brokers", "partitions", "replication", "min_insync")


def _family(shape: ShapeCapacity) -> str:
    """Shapes of one test (one workload and SLO) alike but for their size."""
    rest = {k: v for k, v in shape.shape.items() if k not in _SCALING_KEYS}
    return repr((shape.test, sorted((k, repr(v)) for k, v in rest.items())))


def project(target: SizingTarget, shapes: Sequence[ShapeCapacity]) -> str | None:
    """Brokers needed if the limit grew linearly with brokers, from the family of
    confirmed shapes (one test's, alike but for their size) whose measured capacity per
    broker is highest, at that family's lowest measured capacity per broker; the other
    families are named with theirs. None when no confirmed shape names its broker
    count."""
    families: dict[str, list[tuple[int, float, str]]] = {}
    copies: dict[str, set[int]] = {}
    for s in shapes:
        low = s.msg_per_s(s.limit.last_pass)
        if s.limit.confirmed and low is not None and s.brokers:
            families.setdefault(_family(s), []).append((s.brokers, low, s.label))
            copies.setdefault(_family(s), set()).add(int(s.shape.get("replication") or 1))
    if not families:
        return None

    def per_broker(rows: list[tuple[int, float, str]]) -> float:
        return min(low / brokers for brokers, low, _ in rows)

    family, rows = max(families.items(), key=lambda item: per_broker(item[1]))
    each = per_broker(rows)
    needed = math.ceil(target.msg_per_s / each)
    labels = ", ".join(label for _, _, label in sorted(rows))
    text = (
        f"projection, not a measurement: about {needed} brokers, at {_rate(each)} per"
        f" broker (the lowest measured per broker among {labels}); it assumes the limit"
        " grows linearly with brokers, each on a node of its own, until a node's network"
        " or disk is the limit, which was not measured, and that every message is kept in"
        f" {_copies(copies[family])} as measured"
    )
    ordered = sorted(rows)
    (b1, c1, _), (b2, c2, _) = ordered[0], ordered[-1]
    if b2 > b1:
        efficiency = (c2 / c1) / (b2 / b1)
        text += (
            f"; measured: {b1} -> {b2} brokers gave {c2 / c1:.2f}x the capacity for"
            f" {b2 / b1:.2f}x the brokers ({efficiency:.0%} of linear"
            + ("; linear is optimistic here)" if efficiency < 0.9 else ")")
        )
    else:
        text += (
            "; only one broker count has a confirmed limit, so the scaling itself is unconfirmed"
        )
    others = [
        f"{', '.join(label for _, _, label in sorted(r))} ({_rate(per_broker(r))})"
        for f, r in families.items()
        if f != family
    ]
    if others:
        text += "; other shapes carried less per broker: " + "; ".join(others)
    return text + "".join(_contradictions(shapes, family, each))


def _copies(replication: set[int]) -> str:
    low, high = min(replication), max(replication)
    count = f"{low}" if low == high else f"{low} to {high}"
    return f"{count} cop{'y' if high == 1 else 'ies'}"


def _contradictions(shapes: Sequence[ShapeCapacity], family: str, each: float) -> list[str]:
    """Failures of the family's other shapes below what linear scaling predicts for them:
    a measurement against the projection's own assumption (unconfirmed ones too: a
    failure, even a single one, is evidence the projection must not hide)."""
    out = []
    for s in shapes:
        fail = s.msg_per_s(s.limit.first_fail)
        if s.limit.confirmed or not s.brokers or fail is None or _family(s) != family:
            continue
        if fail < each * s.brokers:
            out.append(
                f"; contradicted by {s.label}: {s.brokers} brokers failed at {_rate(fail)},"
                f" below the {_rate(each * s.brokers)} linear scaling predicts"
            )
    return out


def size(target: SizingTarget, shapes: Sequence[ShapeCapacity], single_host: bool) -> Sizing:
    """The sizing section of a run's report."""
    answers = tuple(answer_for(target, s) for s in shapes)
    notes: list[str] = []
    projection = None
    if not any(a.answer == "meets" for a in answers):
        projection = project(target, shapes)
        if projection is None:
            notes.append("no shape has a confirmed limit with a known broker count: no projection")
    if single_host:
        notes.append(
            "every broker, producer and consumer shared this one machine: these limits are"
            " the machine's, and a cluster of separate nodes must be measured before sizing"
            " hardware from them"
        )
    return Sizing(target, answers, projection, tuple(notes))


def shape_capacities(
    steps: Sequence[StepResult], session_shape: Mapping[str, Any]
) -> list[ShapeCapacity]:
    """One entry per test and shape that has a producer limit (drain steps have none), in
    the order first run; a step without a shape of its own ran on the session's cluster
    (`session_shape`)."""
    rate: dict[str, float] = {}
    for step in steps:
        if not step.drain:
            rate.setdefault(base_test_id(step.test), step.rate_per_producer)
    return [
        ShapeCapacity(
            limit.test.rpartition("::")[2],
            dict(limit.shape) or dict(session_shape),
            limit,
            rate[limit.test],
            without_shape(limit.test, limit.shape_label) if limit.shape_label else limit.test,
        )
        for limit in limits_by_test(steps)
    ]


def run_sizing(info: RunInfo, steps: Sequence[StepResult]) -> Sizing | None:
    """The sizing of a run that was given a target (--frida-target, kept in its report's
    settings), else None. An unreadable target in an old report sizes nothing."""
    text = info.settings.get("target")
    if not text or not steps:
        return None
    try:
        target = parse_target(str(text))
    except TargetError:
        return None
    session_shape = {
        "brokers": info.settings.get("brokers"),
        "broker_config": info.settings.get("broker_config") or {},
    }
    shapes = shape_capacities(steps, session_shape)
    return size(target, shapes, info.site in SINGLE_HOST_SITES)
