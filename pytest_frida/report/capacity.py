"""The capacity limit of a test: the largest producer count whose step met every SLO.

Only steps whose verdict decides (`pass`, `fail`; see measure.verdict) move it, a count
measured more than once by the majority of its trials (measure.trials); a step whose
cluster stopped answering is a `fail` there. Steps limited by the harness (generator,
consumers, clocks) or that it could not finish are listed, never silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_frida.measure.attribution import first_saturation
from pytest_frida.measure.pass_point import PassPoint, pass_point
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.trials import Trials
from pytest_frida.measure.verdict import DECIDING


@dataclass(frozen=True)
class CapacityLimit:
    """What the steps of one test say about its capacity (measure.trials: a count's
    verdict is the majority of its trials, confirmed once two agree).

    status: "confirmed" (passes up to `limit`, fails at `first_fail`, both ends confirmed),
    "bracketed" (the same, an end measured once only: a single step decided it),
    "not_reached" (every judged count passed: the limit is at least `limit`),
    "below_range" (even the smallest judged count failed), "noisy" (a pass above the first
    failure, in `spread`: no limit is claimed beyond the largest pass below the failure),
    or "no_data".
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
    #: (producers, passes, failures) of every judged count, lowest first
    trials: tuple[tuple[int, int, int], ...] = ()
    #: (first failure, highest pass above it) when noisy
    spread: tuple[int, int] | None = None
    #: counts whose failure lost messages or the cluster: failed, confirmed, at once
    definitive: tuple[int, ...] = ()
    #: what saturated (measure.attribution): first, and at the first failure; or why it
    #: was not measured; None where steps carry no resources at all (older reports)
    saturation: str | None = None
    #: the cluster shape the test's steps ran on (StepResult.shape, .shape_label); empty
    #: without shapes
    shape: dict[str, Any] = field(default_factory=dict)
    shape_label: str = ""
    #: where half the judged steps pass, fitted to all of them (measure.pass_point);
    #: None where they cannot place it, and wherever a step failed definitively
    pass_point: PassPoint | None = None

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"

    @property
    def mixed(self) -> tuple[int, int] | None:
        """(lowest count a step failed at, highest count a step passed at) when the first
        lies at or below the second: the counts whose steps disagreed, minority trials
        included. A majority decides the limit; this says how far from it single steps
        went, which is where reruns of the same plan may confirm theirs."""
        failed = [n for n, _, fails in self.trials if fails]
        passed = [n for n, passes, _ in self.trials if passes]
        if not failed or not passed or min(failed) > max(passed):
            return None
        return min(failed), max(passed)

    def describe(self) -> str:
        return (
            self._verdict_text()
            + self._mixed_text()
            + self._pass_point_text()
            + self._undecided_text()
        )

    def _pass_point_text(self) -> str:
        if self.status not in ("confirmed", "bracketed", "noisy"):
            return ""
        if self.pass_point is not None:
            return f"; {self.pass_point.describe()}"
        if self.definitive:  # named here: the bracket's ends may not include them
            counts = ", ".join(str(n) for n in self.definitive)
            return (
                "; no point where half the steps pass: messages lost or the cluster gone"
                f" at {counts} producers"
            )
        return (
            "; the judged steps place no point where half of them pass (its interval would"
            " span every count measured)"
        )

    def _mixed_text(self) -> str:
        """The band when it reaches past the bracket's own counts, whose trials the
        bracket already gives ("fails at 40 (2 of 3)")."""
        if self.status not in ("confirmed", "bracketed") or self.mixed is None:
            return ""
        low, high = self.mixed
        if self.last_pass is None or self.first_fail is None:
            return ""
        if low >= self.last_pass and high <= self.first_fail:
            return ""
        return (
            f"; steps both passed and failed from {low} to {high} producers (a failure at"
            f" {low}, a pass at {high}): reruns may confirm a limit anywhere near there"
        )

    def _end(self, producers: int | None) -> str:
        if producers in self.definitive:
            return f"{producers} (messages lost or cluster gone)"
        for n, passes, fails in self.trials:
            if n == producers:
                total = passes + fails
                agree = max(passes, fails)
                return f"{n} ({agree} of {total})" if total > 1 else f"{n} (once)"
        return str(producers)

    def _verdict_text(self) -> str:
        ends = f"passes at {self._end(self.last_pass)}, fails at {self._end(self.first_fail)}"
        if self.status == "confirmed":
            return f"{self.limit} producers, confirmed ({ends})"
        if self.status == "bracketed":
            return f"{self.limit} producers, not confirmed ({ends}): a single step decided an end"
        if self.status == "not_reached":
            return f"at least {self.limit} producers: not reached, every judged step passed"
        if self.status == "below_range":
            return f"below {self.first_fail} producers: not bracketed, the smallest step failed"
        if self.status == "noisy" and self.spread is not None:
            return (
                f"noisy: fails at {self._end(self.spread[0])} yet passes at"
                f" {self._end(self.spread[1])}; no limit claimed above {self.limit};"
                " rerun with longer steps or on a quieter machine"
            )
        return "no step judged the broker"

    def _undecided_text(self) -> str:
        if not self.undecided:
            return ""
        steps = ", ".join(f"{n} ({verdict})" for n, verdict in self.undecided)
        return f"; decided nothing: {steps}"

    def explain(self) -> str:
        """What saturated, in one line, or why that is not known."""
        return f"what saturated: {self.saturation or 'not measured'}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mixed": self.mixed, "description": self.describe()}


def _saturation(steps: Sequence[StepResult], first_fail: int | None) -> str | None:
    """The resource that saturated at the fewest producers, and what the first failure's
    own steps name (measure.attribution); None when no step was attributed."""
    attributed = [s for s in steps if s.attribution]
    if not attributed:
        why = next((line for s in steps for line in s.resources.get("missing", [])), None)
        return f"not measured: {why}" if why else None
    parts = []
    # the cluster's first measured step runs on a broker still compiling its code (1.4
    # cores at 2,000 msg/s here, 0.9 at twice the load a minute later): it counts for
    # "first" only when no later step was attributed
    later = [s for s in attributed if s.primed_s is None] or attributed
    first = first_saturation([(s.producers, s.attribution) for s in later])
    warm = first_saturation([(s.producers, s.attribution) for s in attributed])
    if first != warm and warm is not None:
        first = (
            f"{first or 'no later step saturated a measured resource'} (the"
            " cluster's first step is left out: a broker just started spends CPU"
            f" compiling; it said {warm.split(' saturated first')[0]})"
        )
    parts.append(first or "no step saturated a measured resource (inconclusive)")
    at_fail = [
        s.attribution["sentence"]
        for s in attributed
        if s.producers == first_fail
        and s.verdict == "fail"
        and s.attribution.get("harness_measured", True)
    ]
    if at_fail:
        parts.append(f"at {first_fail} producers (the first failure): {at_fail[0]}")
    return "; ".join(parts)


def capacity_limit(test: str, steps: Iterable[StepResult]) -> CapacityLimit:
    """The limit from `steps` of one test (any order; a count run more than once goes by
    the majority of its trials)."""
    trials = Trials()
    undecided: list[tuple[int, str]] = []
    judged = 0
    steps = list(steps)
    for step in steps:
        if step.verdict not in DECIDING:
            undecided.append((step.producers, step.verdict))
            continue
        judged += 1
        trials.record(*step.trial())
    tally = tuple((n, *trials.tally(n)) for n in sorted(trials.by_count))
    ignored, left = len(undecided), tuple(undecided)

    def limit(
        status: str,
        value: int | None,
        last_pass: int | None,
        first_fail: int | None,
        spread: tuple[int, int] | None = None,
    ) -> CapacityLimit:
        return CapacityLimit(
            test,
            status,
            value,
            last_pass,
            first_fail,
            judged,
            ignored,
            left,
            tally,
            spread,
            tuple(sorted(trials.definitive)),
            _saturation(steps, first_fail),
            steps[0].shape if steps else {},
            steps[0].shape_label if steps else "",
            # a lost message is not a chance the pass rate gives: no fit averages it away
            None if trials.definitive else pass_point(tally),
        )

    passes = trials.counts("pass")
    last_pass, first_fail = trials.bracket()
    if not passes and first_fail is None:
        return limit("no_data", None, None, None)
    if first_fail is None:
        return limit("not_reached", passes[-1], passes[-1], None)
    if last_pass is None:
        return limit("below_range", None, None, first_fail)
    spread = trials.spread()
    if spread is not None:
        return limit("noisy", last_pass, last_pass, first_fail, spread)
    confirmed = trials.confirmed(last_pass) and trials.confirmed(first_fail)
    return limit("confirmed" if confirmed else "bracketed", last_pass, last_pass, first_fail)


def limits_by_test(steps: Sequence[StepResult]) -> list[CapacityLimit]:
    """One limit per test, in the order tests first appear. Drain steps have none: they
    measure how fast consumers read a backlog, not how many producers the cluster takes."""
    order: list[str] = []
    grouped: dict[str, list[StepResult]] = {}
    for step in steps:
        if step.drain:
            continue
        key = base_test_id(step.test)
        if key not in grouped:
            order.append(key)
            grouped[key] = []
        grouped[key].append(step)
    return [capacity_limit(key, grouped[key]) for key in order]


def shape_table(limits: Sequence[CapacityLimit]) -> list[tuple[str, str, str]]:
    """(test, shape, limit) of every test that ran on cluster shapes, each test's shapes
    side by side in the order run: the limit's value and status, as `describe` words it
    (`12 confirmed`, `>= 40 not_reached`, `noisy`...)."""
    rows = []
    for limit in limits:
        if not limit.shape_label:
            continue
        test = without_shape(limit.test, limit.shape_label)
        value = "-" if limit.limit is None else str(limit.limit)
        if limit.status == "not_reached":
            value = f">= {value}"
        elif limit.status == "below_range":
            value = f"< {limit.first_fail}"
        rows.append((test, limit.shape_label, f"{value} ({limit.status})"))
    return rows


_STEP_PARAM = re.compile(r"(^|-)(producers=\d+|search=[^-\]]+)(?=-|$)")


def without_shape(test: str, label: str) -> str:
    """A test's id without its `shape=<label>` parameter: one name for all its shapes."""
    base, sep, params = test.partition("[")
    if not sep:
        return test
    rest = params.rstrip("]").replace(f"shape={label}", "").replace("--", "-").strip("-")
    return f"{base}[{rest}]" if rest else base


def base_test_id(nodeid: str) -> str:
    """A test's node id without its producer-count parameter: the steps' common name."""
    base, sep, params = nodeid.partition("[")
    if not sep:
        return nodeid
    rest = _STEP_PARAM.sub("", params.rstrip("]")).strip("-")
    return f"{base}[{rest}]" if rest else base
