"""A finished run's history entries compared with their baselines (--frida-compare):
which earlier run each test is compared with, what changed, which changes fail the gate
(--frida-compare-fail), and why a test had nothing to compare with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pytest_frida.report.compare import Change, Threshold, compare
from pytest_frida.report.history import (
    HistoryEntry,
    baseline_for,
    differences,
    earlier_runs,
    like_runs,
    trusted,
)


@dataclass
class Comparison:
    """What comparing a run said: its changes, and the tests it could not compare."""

    changes: list[Change] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        """The changes past a threshold of the gate."""
        return [c for c in self.changes if c.failed]


def compare_with_baselines(
    past: list[HistoryEntry],
    entries: list[HistoryEntry],
    target: str,
    thresholds: Sequence[Threshold],
) -> Comparison:
    """Compare each of `entries` with its baseline in `past` ("last" or a run id). Under a
    gate, each entry records the regressions caught in it: a caught one is no later run's
    baseline."""
    result = Comparison()
    gated = bool(thresholds)
    for entry in entries:
        baseline = baseline_for(past, entry, target)
        if baseline is None:
            caught = trusted(like_runs(past, entry))[1] if target == "last" else None
            if caught is not None and gated:  # nothing passed since it was caught
                entry.regressed = list(caught.regressed or [])
                result.changes.append(
                    Change(
                        entry.test,
                        f"{'; '.join(entry.regressed)} caught in run"
                        f" {caught.run_id} and not accepted since (compare with that run by"
                        " name to accept the change)",
                        None,
                        None,
                        None,
                        None,
                        True,
                    )
                )
            else:
                result.problems.append(no_baseline(past, entry, target))
            continue
        changes = compare(entry, baseline, thresholds, past)
        if gated:  # recorded with the run: a caught one is no later run's baseline
            entry.regressed = [
                c.what + (f" at {c.producers} producers" if c.producers is not None else "")
                for c in changes
                if c.failed
            ]
        result.changes += changes
    return result


def no_baseline(past: list[HistoryEntry], entry: HistoryEntry, target: str) -> str:
    """Why `entry` has nothing to compare with, and what kept the nearest run out."""
    if target != "last":
        return f"run {target} has no entry for {entry.test} to compare with"
    earlier = earlier_runs(past, entry)
    if not earlier:
        return f"no earlier run of {entry.test} to compare with"
    like = like_runs(past, entry)
    if like:  # like runs, none of them trusted
        why = (
            "was interrupted"
            if like[-1].status != "finished"
            else "came after a caught regression and no gate judged it"
        )
        return (
            f"no earlier run of {entry.test} with the same plan and Kafka version"
            f" to compare with that finished and passed a gate; the latest,"
            f" {like[-1].run_id}, {why}"
        )
    latest = earlier[-1]
    if latest.plan is None:
        why = f"has no plan recorded (history schema {latest.schema})"
    else:
        why = "differs in " + "; ".join(
            d
            for d in differences(latest, entry)
            if d.startswith("plan.") or d.startswith("system.kafka_version")
        )
    return (
        f"no earlier run of {entry.test} with the same plan and Kafka version to"
        f" compare with; the latest, {latest.run_id}, {why}"
    )
