"""`frida bench --search-noise`: what step noise alone does to a search's limit.

A host whose pass rate falls with producers along a logistic knee (50% at x50, width
`scale` producers) is searched many times by the real `CapacitySearch`, each step drawn
as one independent trial. Nothing else varies, so what this prints is the least spread
that repeated searches can show on such a host: how far the confirmed limits and the
fitted pass points scatter, and how often the pass point's interval holds the true x50.
It measures the method, not a broker; its figures are the floor under `frida repeat`'s.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_frida.measure.result import StepResult
from pytest_frida.report.capacity import capacity_limit
from pytest_frida.search import CapacitySearch, parse_search

#: the main job's host-limit search (examples/capacity/test_host_limit.py)
MAIN_JOB_SEARCH = "4:64:5%"


@dataclass(frozen=True)
class SearchNoise:
    """What `searches` simulated searches of one knee gave."""

    x50: float
    scale: float
    searches: int
    #: searches that ended with a confirmed limit, and their limits
    limits: tuple[int, ...]
    #: the pass points whose interval is closed at both ends (an open end, "above 32",
    #: caps the estimate at the counts measured: it bounds x50 rather than places it)
    points: tuple[float, ...]
    #: of the closed intervals, how many held x50
    held: int
    steps_mean: float
    #: searches whose pass point had an open end, and how many of those held x50 on
    #: their closed side
    one_sided: int = 0
    one_sided_held: int = 0

    def triples_within(self, pct: float = 10.0) -> float | None:
        """The share of consecutive, disjoint triples of confirmed limits whose spread
        ((max - min) / min, as `frida repeat` states it) is at most `pct`: how often three
        runs of the same search would agree that well on step noise alone."""
        triples = [self.limits[i : i + 3] for i in range(0, len(self.limits) - 2, 3)]
        if not triples:
            return None
        close = [t for t in triples if (max(t) - min(t)) <= min(t) * pct / 100.0]
        return len(close) / len(triples)

    def describe(self) -> str:
        def spread(values: Sequence[float]) -> str:
            if len(values) < 2:
                return "n/a"
            mean = statistics.fmean(values)
            sd = statistics.stdev(values)
            return f"mean {mean:.1f}, sd {sd:.2f} ({100 * sd / mean:.1f}%)"

        placed = len(self.points)
        held = f"{100 * self.held / placed:.0f}%" if placed else "n/a"
        one_sided = (
            f"; {self.one_sided} more only bounded it ({self.one_sided_held} on the right side)"
            if self.one_sided
            else ""
        )
        triples = self.triples_within()
        agree = "n/a" if triples is None else f"{100 * triples:.0f}%"
        return (
            f"x50 {self.x50:g}, knee width {self.scale:g}: {self.steps_mean:.1f} steps a"
            f" search; {len(self.limits)} of {self.searches} confirmed a limit"
            f" ({spread(self.limits)}; three within 10% of each other: {agree});"
            f" {placed} placed a pass point ({spread(self.points)}), its 90% interval"
            f" held x50 in {held}{one_sided}"
        )


def _pass_probability(producers: int, x50: float, scale: float) -> float:
    return 1.0 / (1.0 + math.exp((producers - x50) / scale))


def simulate(
    x50: float, scale: float, searches: int, spec: str = MAIN_JOB_SEARCH, seed: int = 7
) -> SearchNoise:
    """Run `searches` searches of `spec` against a logistic knee, steps independent."""
    rng = random.Random(seed)
    limits: list[int] = []
    points: list[float] = []
    held = one_sided = one_sided_held = 0
    steps = 0
    for _ in range(searches):
        search = CapacitySearch(parse_search(spec))
        verdicts: list[tuple[int, str]] = []
        while (n := search.next_count()) is not None:
            verdict = "pass" if rng.random() < _pass_probability(n, x50, scale) else "fail"
            verdicts.append((n, verdict))
            search.record(n, verdict)
        steps += len(verdicts)
        limit = capacity_limit("sim", [_step(n, v) for n, v in verdicts])
        if limit.status == "confirmed" and limit.limit is not None:
            limits.append(limit.limit)
        point = limit.pass_point
        if point is not None:
            inside = (point.low_open or point.low <= x50) and (point.high_open or x50 <= point.high)
            if point.low_open or point.high_open:
                one_sided += 1
                one_sided_held += inside
            else:
                points.append(point.estimate)
                held += inside
    return SearchNoise(
        x50,
        scale,
        searches,
        tuple(limits),
        tuple(points),
        held,
        steps / max(1, searches),
        one_sided,
        one_sided_held,
    )


def _step(producers: int, verdict: str) -> StepResult:
    """A judged step with nothing measured but its verdict: all `capacity_limit` reads."""
    return StepResult(
        test="sim",
        producers=producers,
        rate_per_producer=0.0,
        duration_s=0.0,
        warmup_s=0.0,
        message_size=0,
        partitions=1,
        slo="",
        verdict=verdict,
    )


#: (search, x50, knee width) to simulate: the main job's search on this host's knee (1.3
#: producers fitted to six runs, 1.5 here) with a sharper and a wider knee beside it, a
#: cluster-sized limit with the same relative widths, and the main job's search at a 10%
#: tolerance, which confirms only even counts near 32
KNEES = (
    (MAIN_JOB_SEARCH, 33.0, 0.5),
    (MAIN_JOB_SEARCH, 33.0, 1.5),
    (MAIN_JOB_SEARCH, 33.0, 3.0),
    ("8:1024:10%", 300.0, 4.5),
    ("8:1024:10%", 300.0, 13.5),
    ("8:1024:10%", 300.0, 27.0),
    ("4:64:10%", 33.0, 1.5),
)


def search_noise_report(searches: int = 300, seed: int = 7) -> list[str]:
    """One line per knee in KNEES, each from `searches` simulated searches."""
    return [
        f"{spec}: " + simulate(x50, scale, searches, spec, seed).describe()
        for spec, x50, scale in KNEES
    ]
