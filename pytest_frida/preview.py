"""`--frida-plan`: what a run would do, said before anything is reserved or started.

Per capacity test: its steps (the producer counts, or the search with the fewest and the
most steps it can take), each step's warm-up and measured window (lengthened where the
SLO's percentiles need more messages) and their sum, plus each cluster's priming. The
site says what it would reserve and deploy (on Grid'5000 the oarsub command line, the
queue and the nodes the reference and status APIs allow, checked as a run checks them).
The sums are load time only: each step also starts its agents and drains, and a site
starts, which is why the total is a floor, compared with the walltime on Grid'5000.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pytest_frida.config import ClusterSettings, FridaSettings, StepPlan
from pytest_frida.errors import FridaSetupError
from pytest_frida.measure import priming
from pytest_frida.measure.samples import measured_window
from pytest_frida.search import STEP_BUDGET_FACTOR, SearchSpec
from pytest_frida.sites import create_site
from pytest_frida.sites.base import Site


@dataclass(frozen=True)
class TestPreview:
    """One capacity test's steps, as lines, and the load time they need at least and at
    most (equal for a sweep)."""

    lines: list[str]
    least_s: float
    most_s: float


def step_seconds(plan: StepPlan, producers: int) -> float:
    """Warm-up and measured window of one step at `producers` (lengthened as the run
    would lengthen it for the SLO's samples)."""
    window = measured_window(plan.slo, producers, plan.rate, plan.duration, plan.max_duration)
    return plan.warmup + window.duration_s


def search_steps(spec: SearchSpec) -> tuple[int, int]:
    """(fewest, most) steps a search can take: a failure at its lower bound, confirmed
    (two steps), and the budget past which it stops as noisy (search.py)."""
    ideal = 2 * math.ceil(math.log2(spec.high / spec.low)) + 4
    return 2, STEP_BUDGET_FACTOR * ideal


def preview_test(test: str, plan: StepPlan) -> TestPreview:
    head = (
        f"{test}: {plan.rate:g} msg/s per producer, SLO {plan.slo}, warm-up"
        f" {plan.warmup:g}s + {plan.duration:g}s measured per step"
        + (
            ", drain steps (the consumers read the backlog after the producers)"
            if plan.drain
            else ""
        )
    )
    if plan.search is None:
        windows = [
            measured_window(plan.slo, n, plan.rate, plan.duration, plan.max_duration)
            for n in plan.producers
        ]
        seconds = [plan.warmup + w.duration_s for w in windows]
        lines = [
            head,
            f"  {len(plan.producers)} steps at"
            f" {', '.join(map(str, plan.producers))} producers: {sum(seconds):.0f}s"
            " of load",
        ]
        lengthened = [
            f"{n} ({w.duration_s:g}s)"
            for n, w in zip(plan.producers, windows, strict=True)
            if w.lengthened
        ]
        if lengthened:
            lines.append("  windows lengthened for the SLO's samples at " + ", ".join(lengthened))
        short = [
            f"{n} ({w.planned_samples} of {w.required_samples})"
            for n, w in zip(plan.producers, windows, strict=True)
            if not w.enough
        ]
        if short:
            lines.append(
                "  too few samples even at --frida-max-duration, so insufficient"
                " (deciding nothing) at " + ", ".join(short)
            )
        return TestPreview(lines, sum(seconds), sum(seconds))
    fewest, most = search_steps(plan.search)
    low = step_seconds(plan, plan.search.low)
    high = step_seconds(plan, plan.search.high)
    shortest, longest = min(low, high), max(low, high)
    each = f"{shortest:g}s" if shortest == longest else f"{shortest:g}-{longest:g}s"
    return TestPreview(
        [
            head,
            f"  search {plan.search}: {fewest} to {most} steps (past {most} it stops as"
            f" noisy), {each} of load each: {fewest * shortest:.0f}-{most * longest:.0f}s",
        ],
        fewest * shortest,
        most * longest,
    )


def total_lines(settings: FridaSettings, tests: list[TestPreview], clusters: int = 1) -> list[str]:
    # each cluster's first measured step is primed (--frida-prime): once per session,
    # once per cluster with cluster shapes, in one to priming.MAX_ROUNDS runs
    prime = settings.prime * clusters if tests else 0.0
    least = sum(t.least_s for t in tests) + prime
    most = sum(t.most_s for t in tests) + prime * priming.MAX_ROUNDS
    span = f"{least / 60:.1f} min" if least == most else f"{least / 60:.1f} to {most / 60:.1f} min"
    primed = (
        f", the priming included ({prime:g}s, up to {prime * priming.MAX_ROUNDS:g}s for a"
        " cluster slow to warm)"
        if prime
        else ""
    )
    lines = [
        f"load time, at least: {span}{primed} (agents' start, drains and the site's own"
        " start come on top)"
    ]
    if clusters > 1:
        lines.append(
            f"cluster shapes: {clusters} clusters, one at a time, each started when its"
            " first test runs and stopped before the next starts"
        )
    res = settings.cluster.reservation
    if res is not None and res.job_id is None:
        if most > res.walltime_s:
            lines.append(
                f"would stop at the walltime: {res.walltime_s}s is shorter than the"
                f" longest load time ({most:.0f}s): lengthen --frida-walltime, or run"
                " fewer steps"
            )
        else:
            lines.append(
                f"walltime {res.walltime_s}s leaves {res.walltime_s - most:.0f}s"
                " for the rest at worst"
            )
    return lines


def plan_report(
    settings: FridaSettings,
    tests: dict[str, StepPlan],
    run_dir: Path,
    run_id: str,
    make_site: Callable[[ClusterSettings, Path, str], Site] = create_site,
    clusters: int = 1,
) -> list[str]:
    """The whole `--frida-plan` output: the site, each test's steps, the totals
    (`clusters`: how many clusters cluster shapes start in turn)."""
    lines = ["frida plan: nothing is reserved or started"]
    try:
        site_lines = make_site(settings.cluster, run_dir, run_id).plan_lines()
    except FridaSetupError as exc:
        site_lines = [f"would stop: {exc}"]
    lines += [f"  {line}" for line in site_lines]
    previews = [preview_test(test, plan) for test, plan in tests.items()]
    for preview in previews:
        lines += [f"  {line}" for line in preview.lines]
    if not previews:
        lines.append("  no capacity tests collected")
    lines += [f"  {line}" for line in total_lines(settings, previews, clusters)]
    return lines
