"""The fixtures capacity tests use: the cluster, its bootstrap address, the step runner."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import replace

import pytest

from pytest_frida.config import FridaSettings, SettingsError, StepPlan
from pytest_frida.config.plan import check_consumers
from pytest_frida.config.values import parse_consumers
from pytest_frida.controller.runner import StepRunner
from pytest_frida.errors import FridaSetupError
from pytest_frida.faults import FaultPlan
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.trials import Trials
from pytest_frida.report.capacity import base_test_id, capacity_limit
from pytest_frida.search import CapacitySearch, knee_next
from pytest_frida.session import FridaRun
from pytest_frida.sites.base import Cluster

RUN_KEY = pytest.StashKey[FridaRun]()
STEPS_KEY = pytest.StashKey[list[StepResult]]()


class Step:
    """Runs the current test's step (its producer count) and keeps the result for the
    SLO check the plugin makes after the test body."""

    def __init__(
        self,
        run: FridaRun,
        runner: StepRunner,
        item: pytest.Item,
        plan: StepPlan,
        producers: int,
        faults: FaultPlan | None = None,
    ) -> None:
        self._run, self._runner, self._item = run, runner, item
        self.plan, self.producers = plan, producers
        self.faults = faults

    def run(self) -> StepResult:
        """Run the step; in search mode (`search`) run the whole search and return the step
        at the limit found (the last trial agreeing with the majority at the last pass,
        else the last step run)."""
        search = self.plan.search
        if search is None:
            return self._sweep_step()
        finder = CapacitySearch(search)
        results: list[StepResult] = []
        while (count := finder.next_count()) is not None:
            result = self._one(count)
            results.append(result)
            finder.record(count, result.verdict, result.cluster_down is not None, result.definitive)
        self._run.record_search(
            self._item.nodeid, str(search), finder.stopped or "", [r.producers for r in results]
        )
        limit = capacity_limit(self._item.nodeid, results)
        at_limit = [r for r in results if r.producers == limit.last_pass and r.verdict == "pass"]
        return (at_limit or results)[-1]

    def _sweep_step(self) -> StepResult:
        """One count of a fixed sweep, confirmed where its limit rests (search.knee_next):
        a failure is measured again until two trials agree, and so are the last pass below
        the first confirmed failure and any pass above it. The item returns the last trial
        at its own count agreeing with the majority. Counts another xdist worker ran are
        not seen here, and nothing is measured again once the cluster stopped answering."""
        test = base_test_id(self._item.nodeid)
        mine = [self._one(self.producers)]
        latest = mine[-1]
        while latest.cluster_down is None:  # a cluster gone measures nothing more
            steps = self._test_steps(test)
            trials = Trials.of(s.trial() for s in steps)
            attempts = collections.Counter(s.producers for s in steps)
            count = knee_next(trials, attempts, self.producers)
            if count is None:
                break
            latest = self._one(count)  # another count: in the report, not this outcome
            if count == self.producers:
                mine.append(latest)
        verdict = Trials.of(s.trial() for s in mine).verdict(self.producers)
        same = [r for r in mine if r.verdict == verdict]
        return (same or mine)[-1]

    def _test_steps(self, test: str) -> list[StepResult]:
        return [s for s in self._run.steps if base_test_id(s.test) == test]

    def _one(self, producers: int) -> StepResult:
        progress = self._run.progress
        try:
            result = self._runner.run(
                self._item.nodeid,
                self.plan,
                producers,
                progress=progress,
                faults=self.faults.events if self.faults else (),
            )
        finally:
            if progress is not None:
                progress.clear()
        problem = None
        try:
            self._run.record(result)
        except FridaSetupError as exc:  # the report cannot be written: stop saying why
            problem = str(exc)
        if problem is not None:
            pytest.fail(f"frida: {problem}", pytrace=False)
        self._item.stash.setdefault(STEPS_KEY, []).append(result)
        for key, value in result.junit_properties().items():
            self._item.user_properties.append((key, value))
        return result


@pytest.fixture(scope="session")
def frida_settings(request: pytest.FixtureRequest) -> FridaSettings:
    """The session's validated pytest-frida settings; the cluster's own (site, brokers,
    Kafka version, nodes) are under `.cluster`."""
    return request.config.stash[RUN_KEY].settings


@pytest.fixture(scope="session")
def frida_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The Kafka cluster of the chosen site, started once per session."""
    run = request.config.stash[RUN_KEY]
    try:
        problem = None
        try:
            cluster = run.cluster()
        except FridaSetupError as exc:
            problem = str(exc)
        if problem is not None:  # one line that says what to do, not a traceback
            pytest.fail(f"frida: {problem}", pytrace=False)
        yield cluster
    finally:
        run.stop_cluster()


@pytest.fixture(scope="session")
def frida_bootstrap(frida_cluster: Cluster) -> str:
    """host:port[,host:port...] of the cluster's brokers."""
    return frida_cluster.bootstrap


@pytest.fixture(scope="session")
def frida_runner(request: pytest.FixtureRequest, frida_cluster: Cluster) -> StepRunner:
    """The session's step runner on its cluster: a test that drives steps itself (rather
    than through `frida_result`) asks for this, and its steps share the session's priming
    and settings."""
    run = request.config.stash[RUN_KEY]
    return StepRunner(
        frida_cluster,
        run.run_id,
        run.settings.client,
        run.settings.workers,
        clock_correction=run.settings.clock_correction,
        prime_s=run.settings.prime,
    )


@pytest.fixture
def frida_producers() -> int:
    """The producer count of this step; set by the capacity marker's parametrisation."""
    pytest.fail(
        "frida_producers/frida_step need @pytest.mark.capacity(...) on the test", pytrace=False
    )


@pytest.fixture
def frida_consumers() -> int | None:
    """This step's consumer agents, when a test sweeps them: parametrise it
    (`@pytest.mark.parametrize("frida_consumers", [1, 2, 4])`); None: the plan's."""
    return None


def _with_consumers(plan: StepPlan, consumers: int | None) -> StepPlan:
    """The plan with a swept consumer count, checked as the option's would be."""
    if consumers is None:
        return plan
    try:
        swept = replace(plan, consumers=parse_consumers(consumers, "frida_consumers"))
        check_consumers(swept, "frida_consumers")
    except SettingsError as exc:
        problem = str(exc)
    else:
        return swept
    pytest.fail(f"frida: {problem}", pytrace=False)


@pytest.fixture
def frida_step(
    request: pytest.FixtureRequest, frida_producers: int, frida_consumers: int | None
) -> Step:
    """Runs this test's step: `result = frida_step.run()`."""
    run = request.config.stash[RUN_KEY]
    item = request.node
    assert isinstance(item, pytest.Item)
    marker = item.get_closest_marker("capacity")
    plan = _with_consumers(
        run.settings.plan_for(dict(marker.kwargs) if marker else {}), frida_consumers
    )
    # asked for only now, so a test without a marker fails before any broker starts
    runner: StepRunner = request.getfixturevalue("frida_runner")
    faults = (
        request.getfixturevalue("frida_faults") if "frida_faults" in request.fixturenames else None
    )
    return Step(run, runner, item, plan, frida_producers, faults)


@pytest.fixture
def frida_faults() -> FaultPlan:
    """Faults to inject during this test's step: `frida_faults.at(3, "kill", broker=1)`."""
    return FaultPlan()


@pytest.fixture
def frida_result(frida_step: Step) -> StepResult:
    """The measured result of this test's step (the step runs when the fixture is set up)."""
    return frida_step.run()
