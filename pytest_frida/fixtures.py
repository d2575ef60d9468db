"""The fixtures capacity tests use: the cluster, its bootstrap address, the step runner."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import replace

import pytest

from pytest_frida.config import (
    ClusterSettings,
    FridaSettings,
    ResolvedShape,
    SettingsError,
    Shape,
    StepPlan,
)
from pytest_frida.config.plan import check_consumers
from pytest_frida.config.values import parse_consumers
from pytest_frida.controller.runner import StepRunner
from pytest_frida.errors import FridaSetupError
from pytest_frida.faults import FaultPlan
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.trials import MOST_TRIALS, Trials
from pytest_frida.report.capacity import base_test_id, capacity_limit
from pytest_frida.search import CapacitySearch, knee_next
from pytest_frida.session import FridaRun
from pytest_frida.sites.base import Cluster

RUN_KEY = pytest.StashKey[FridaRun]()
STEPS_KEY = pytest.StashKey[list[StepResult]]()
#: the step runner on the cluster a shape (or, once shapes switched it, the session)
#: last asked for: a new cluster gets a new runner, and so its own priming
_RUNNER_KEY = pytest.StashKey[StepRunner]()


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
        shape: ResolvedShape | None = None,
    ) -> None:
        self._run, self._runner, self._item = run, runner, item
        self.plan, self.producers = plan, producers
        self.faults = faults
        #: the cluster shape the steps run on (None: the session's cluster)
        self.shape = shape

    @property
    def cluster(self) -> Cluster:
        """The cluster this test's steps run on: its shape's, else the session's."""
        return self._runner.cluster

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
        the first confirmed failure and any pass above it, and a count whose latency the
        session's gate would call a regression. The item returns the last trial at its
        own count agreeing with the majority. Counts another xdist worker ran are
        not seen here, and nothing is measured again once the cluster stopped answering."""
        test = base_test_id(self._item.nodeid)
        mine = [self._one(self.producers)]
        latest = mine[-1]
        confirming = False  # a suspected regression gets all MOST_TRIALS trials
        while latest.cluster_down is None:  # a cluster gone measures nothing more
            steps = self._test_steps(test)
            trials = Trials.of(s.trial() for s in steps)
            attempts = collections.Counter(s.producers for s in steps)
            count = knee_next(trials, attempts, self.producers)
            if (
                count is None
                and attempts[self.producers] < MOST_TRIALS
                and self.producers not in trials.definitive  # lost messages: failed anyway
            ):
                confirming = confirming or self._suspects_regression(test)
                count = self.producers if confirming else None
            if count is None:
                break
            latest = self._one(count)  # another count: in the report, not this outcome
            if count == self.producers:
                mine.append(latest)
        verdict = Trials.of(s.trial() for s in mine).verdict(self.producers)
        same = [r for r in mine if r.verdict == verdict]
        return (same or mine)[-1]

    def _suspects_regression(self, test: str) -> bool:
        """Whether the session's gate would call this count's latency a regression on the
        steps so far: a gate that fails a build on one step's p99 fails it whenever the
        scheduler starves one step (README, Trusting the numbers), so such a count is
        measured MOST_TRIALS times, and the gate reads the value most of them reached."""
        change = self._run.latency_regression_at(test, self.producers)
        if change is None:
            return False
        trials = f"lower median of {change.trials} trials" if change.trials > 1 else "one trial"
        self._run.notify(
            f"frida: {test}: {change.what} at {self.producers} producers past the gate"
            f" ({change.current:.3g}, {trials}, against {change.baseline:.3g} in the"
            f" baseline); measuring {self.producers} producers to {MOST_TRIALS} trials to"
            " confirm"
        )
        return True

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
        if self.shape is not None:
            result.shape, result.shape_label = self.shape.to_dict(), self.shape.label
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


def _started(run: FridaRun, settings: ClusterSettings | None, shape: Shape | None) -> Cluster:
    """`run`'s cluster of `settings`; a start that failed is one line, not a traceback."""
    problem = None
    try:
        return run.cluster(settings, shape)
    except FridaSetupError as exc:
        problem = str(exc)
    pytest.fail(f"frida: {problem}", pytrace=False)


def _new_runner(run: FridaRun, cluster: Cluster) -> StepRunner:
    return StepRunner(
        cluster,
        run.run_id,
        run.settings.client,
        run.settings.workers,
        clock_correction=run.settings.clock_correction,
        prime_s=run.settings.prime,
    )


def _runner_on(
    config: pytest.Config, settings: ClusterSettings | None, shape: Shape | None
) -> StepRunner:
    """A runner on the cluster of `settings`, stopping another one first (FridaRun.cluster):
    the same runner while the cluster is the same, a new one on a new cluster."""
    cluster = _started(config.stash[RUN_KEY], settings, shape)
    runner = config.stash.get(_RUNNER_KEY, None)
    if runner is None or runner.cluster is not cluster:
        runner = config.stash[_RUNNER_KEY] = _new_runner(config.stash[RUN_KEY], cluster)
    return runner


@pytest.fixture(scope="session")
def frida_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The Kafka cluster of the chosen site, started once per session (a test with
    cluster shapes has its shape's cluster in `frida_step.cluster` instead)."""
    run = request.config.stash[RUN_KEY]
    try:
        yield _started(run, None, None)
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
    return _new_runner(request.config.stash[RUN_KEY], frida_cluster)


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
def frida_shape() -> Shape | None:
    """The cluster shape this test runs on (config.shapes), set by the capacity marker's
    `shapes` or --frida-shapes; None: the session's cluster."""
    return None


@pytest.fixture
def frida_step(
    request: pytest.FixtureRequest,
    frida_producers: int,
    frida_consumers: int | None,
    frida_shape: Shape | None,
) -> Step:
    """Runs this test's step: `result = frida_step.run()`."""
    run = request.config.stash[RUN_KEY]
    item = request.node
    assert isinstance(item, pytest.Item)
    marker = item.get_closest_marker("capacity")
    plan = run.settings.plan_for(dict(marker.kwargs) if marker else {})
    shaped = run.settings.shaped(plan, frida_shape) if frida_shape is not None else None
    if shaped is not None:
        plan = shaped.plan
    # a swept consumer count is checked against the shape's partitions
    plan = _with_consumers(plan, frida_consumers)
    # asked for only now, so a test without a marker fails before any broker starts
    runner: StepRunner
    if (shaped is None or shaped.cluster == run.settings.cluster) and not run.switched:
        runner = request.getfixturevalue("frida_runner")  # the session's, as without shapes
    else:  # the session's cluster may have been stopped for a shape's: ask the run
        runner = _runner_on(request.config, shaped.cluster if shaped else None, frida_shape)
    faults = (
        request.getfixturevalue("frida_faults") if "frida_faults" in request.fixturenames else None
    )
    return Step(run, runner, item, plan, frida_producers, faults, shaped.shape if shaped else None)


@pytest.fixture
def frida_faults() -> FaultPlan:
    """Faults to inject during this test's step: `frida_faults.at(3, "kill", broker=1)`."""
    return FaultPlan()


@pytest.fixture
def frida_result(frida_step: Step) -> StepResult:
    """The measured result of this test's step (the step runs when the fixture is set up)."""
    return frida_step.run()
