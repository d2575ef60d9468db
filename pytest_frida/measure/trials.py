"""The deciding verdicts of a test's steps, per producer count, and the limit they bracket.

One step decides nothing for certain: a transient stall fails a count far below the
limit, a quiet second passes one above it. So a count's verdict is the majority of its
trials, and it is *confirmed* once CONFIRMING trials agree (best two of three: a third
trial is run for the verdict only when the first two disagree; a sweep also runs it when
the session's gate suspects a latency regression, fixtures.Step). A failure that counted
messages lost (or a cluster that stopped answering) is *definitive*: no number of passes
outvotes a lost message, so the count fails, confirmed, at once. A capacity limit is
confirmed when both ends of its bracket, the last pass and the first failure above it,
are confirmed; a confirmed pass above a confirmed failure is noise, never a limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pytest_frida.measure.verdict import DECIDING

#: agreeing trials that confirm a count's verdict, and the most trials one count gets
CONFIRMING = 2
MOST_TRIALS = 2 * CONFIRMING - 1


@dataclass
class Trials:
    """pass/fail trials per producer count, in the order they were run."""

    by_count: dict[int, list[str]] = field(default_factory=dict)
    #: counts with a definitive failure (messages lost, cluster gone)
    definitive: set[int] = field(default_factory=set)

    @classmethod
    def of(cls, results: Iterable[tuple[int, str] | tuple[int, str, bool]]) -> Trials:
        """From (producers, verdict[, definitive]) of each step."""
        trials = cls()
        for producers, verdict, *rest in results:
            trials.record(producers, verdict, bool(rest and rest[0]))
        return trials

    def record(self, producers: int, verdict: str, definitive: bool = False) -> None:
        """Keep a deciding verdict; others (harness-bound, error) say nothing here."""
        if verdict in DECIDING:
            self.by_count.setdefault(producers, []).append(verdict)
            if definitive and verdict == "fail":
                self.definitive.add(producers)

    def tally(self, producers: int) -> tuple[int, int]:
        """(passes, failures) at `producers`."""
        runs = self.by_count.get(producers, [])
        return runs.count("pass"), runs.count("fail")

    def verdict(self, producers: int) -> str | None:
        """The majority verdict, or None when untried or tied; "fail" after a
        definitive failure."""
        if producers in self.definitive:
            return "fail"
        passes, fails = self.tally(producers)
        if passes == fails:
            return None
        return "pass" if passes > fails else "fail"

    def confirmed(self, producers: int) -> bool:
        if producers in self.definitive:
            return True
        passes, fails = self.tally(producers)
        return max(passes, fails) >= CONFIRMING and passes != fails

    def settled(self, producers: int) -> bool:
        """Nothing more to learn by running it again: confirmed, or out of trials."""
        return self.confirmed(producers) or sum(self.tally(producers)) >= MOST_TRIALS

    def counts(self, verdict: str) -> list[int]:
        return sorted(n for n in self.by_count if self.verdict(n) == verdict)

    def tied(self) -> list[int]:
        return sorted(n for n in self.by_count if self.by_count[n] and self.verdict(n) is None)

    def bracket(self) -> tuple[int | None, int | None]:
        """(last pass below the first failure, first failure), by majority verdicts."""
        fails = self.counts("fail")
        first_fail = fails[0] if fails else None
        below = [n for n in self.counts("pass") if first_fail is None or n < first_fail]
        return (below[-1] if below else None), first_fail

    def contradictions(self) -> list[int]:
        """Counts that pass (by majority) above the first failure."""
        fails = self.counts("fail")
        return [n for n in self.counts("pass") if fails and n > fails[0]]

    def spread(self) -> tuple[int, int] | None:
        """(first failure, highest pass above it): where the verdicts contradict each
        other, or None when they do not."""
        above = self.contradictions()
        return (self.counts("fail")[0], above[-1]) if above else None

    def describe(self, producers: int) -> str:
        if producers in self.definitive:
            return f"{producers} (messages lost)"
        passes, fails = self.tally(producers)
        total = passes + fails
        verdict = self.verdict(producers)
        if verdict is None:
            return f"{producers} (split {passes}:{fails})"
        agree = passes if verdict == "pass" else fails
        return f"{producers} ({agree} of {total})" if total > 1 else f"{producers} (once)"
