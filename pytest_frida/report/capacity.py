"""The capacity limit of a test: the largest producer count whose step met every SLO.

Only steps whose verdict decides (`pass`, `fail`; see measure.verdict) move it; a step whose
cluster stopped answering is a `fail` there. Steps limited by the harness (generator,
consumers, clocks) or that it could not finish are listed, never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pytest_frida.measure.result import StepResult
from pytest_frida.measure.verdict import DECIDING


@dataclass(frozen=True)
class CapacityLimit:
    """What the steps of one test say about its capacity.

    status: "bracketed" (passes up to `limit`, fails at `first_fail`), "not_reached"
    (every judged step passed: the limit is at least `limit`), "below_range" (even the
    smallest judged count failed), "inconsistent" (a pass above a fail: noisy or flaky; the
    limit is the largest pass below the first failure), or "no_data".
    """

    test: str
    status: str
    limit: int | None
    last_pass: int | None
    first_fail: int | None
    judged_steps: int
    ignored_steps: int
    #: (producers, verdict) of every step that decided nothing, in the order run
    undecided: tuple[tuple[int, str], ...] = ()

    def describe(self) -> str:
        return self._verdict_text() + self._undecided_text()

    def _verdict_text(self) -> str:
        if self.status == "bracketed":
            return (f"{self.limit} producers (passes at {self.last_pass},"
                    f" fails at {self.first_fail})")
        if self.status == "not_reached":
            return f"at least {self.limit} producers: not reached, every judged step passed"
        if self.status == "below_range":
            return f"below {self.first_fail} producers: not bracketed, the smallest step failed"
        if self.status == "inconsistent":
            return (f"{self.limit} producers, but a larger count passed after a failure at"
                    f" {self.first_fail}: noisy; rerun with longer steps")
        return "no step judged the broker"

    def _undecided_text(self) -> str:
        if not self.undecided:
            return ""
        steps = ", ".join(f"{n} ({verdict})" for n, verdict in self.undecided)
        return f"; decided nothing: {steps}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "description": self.describe()}


def capacity_limit(test: str, steps: Iterable[StepResult]) -> CapacityLimit:
    """The limit from `steps` of one test (any order; a count run twice: any failure wins)."""
    verdicts: dict[int, str] = {}
    undecided: list[tuple[int, str]] = []
    for step in steps:
        if step.verdict not in DECIDING:
            undecided.append((step.producers, step.verdict))
            continue
        if verdicts.get(step.producers) != "fail":
            verdicts[step.producers] = step.verdict
    counts = sorted(verdicts)
    passes = [n for n in counts if verdicts[n] == "pass"]
    fails = [n for n in counts if verdicts[n] == "fail"]
    ignored, left = len(undecided), tuple(undecided)
    if not counts:
        return CapacityLimit(test, "no_data", None, None, None, 0, ignored, left)
    if not fails:
        return CapacityLimit(test, "not_reached", passes[-1], passes[-1], None, len(counts),
                             ignored, left)
    first_fail = fails[0]
    below = [n for n in passes if n < first_fail]
    if not below:
        return CapacityLimit(test, "below_range", None, None, first_fail, len(counts),
                             ignored, left)
    status = "inconsistent" if any(n > first_fail for n in passes) else "bracketed"
    return CapacityLimit(test, status, below[-1], below[-1], first_fail, len(counts), ignored,
                         left)


def limits_by_test(steps: Sequence[StepResult]) -> list[CapacityLimit]:
    """One limit per test, in the order tests first appear."""
    order: list[str] = []
    grouped: dict[str, list[StepResult]] = {}
    for step in steps:
        key = base_test_id(step.test)
        if key not in grouped:
            order.append(key)
            grouped[key] = []
        grouped[key].append(step)
    return [capacity_limit(key, grouped[key]) for key in order]


_STEP_PARAM = re.compile(r"(^|-)(producers=\d+|search=[^-\]]+)(?=-|$)")


def base_test_id(nodeid: str) -> str:
    """A test's node id without its producer-count parameter: the steps' common name."""
    base, sep, params = nodeid.partition("[")
    if not sep:
        return nodeid
    rest = _STEP_PARAM.sub("", params.rstrip("]")).strip("-")
    return f"{base}[{rest}]" if rest else base
