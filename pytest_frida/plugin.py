"""pytest hooks, and only hooks: options, the capacity marker, parametrisation, verdicts,
the terminal summary and the report at session end."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_frida.config import (
    MARKER_KEYS,
    OPTIONS,
    ClusterSettings,
    SettingsError,
    Shape,
    StepPlan,
    build_settings,
)
from pytest_frida.fixtures import (  # noqa: F401 - fixtures are registered by import
    RUN_KEY,
    STEPS_KEY,
    frida_bootstrap,
    frida_cluster,
    frida_consumers,
    frida_faults,
    frida_producers,
    frida_result,
    frida_runner,
    frida_settings,
    frida_shape,
    frida_step,
)
from pytest_frida.interrupts import swallowed_interrupt
from pytest_frida.lazy_cluster import MakeSite
from pytest_frida.measure import host_speed
from pytest_frida.measure.host_speed import SINGLE_HOST_SITES
from pytest_frida.measure.trials import Trials
from pytest_frida.measure.verdict import WITHHELD
from pytest_frida.preview import plan_report
from pytest_frida.progress import terminal_notes, terminal_progress
from pytest_frida.report.capacity import limits_by_test
from pytest_frida.report.sizing import run_sizing
from pytest_frida.report.summary import format_table, shape_lines, undecided_lines
from pytest_frida.session import FridaRun
from pytest_frida.shape_items import (
    clusters_needed,
    item_plan,
    item_shape,
    order_by_cluster,
    parametrize_shapes,
)
from pytest_frida.sites import create_site
from pytest_frida.sites.base import Site
from pytest_frida.xdist_workers import XdistController

#: the hooks that see Ctrl-C, SIGTERM and SIGHUP through a session
pytest_plugins = ("pytest_frida.interrupts",)

MARKER_DOC = (
    "capacity(producers=[1, 10, 50], rate=20, slo='p99<=250ms, loss==0', duration=10,"
    " warmup=2, message_size=256, partitions=3, consumers='auto',"
    " producer_config={'acks': 'all'}, search='1:64:10%',"
    " shapes=[{'brokers': 1}, {'brokers': 3, 'partitions': 12}]): a capacity"
    " test, run once per producer count (or searched for its limit), on each cluster shape"
    " in turn; the SLO is asserted for each step"
)


def _ini_name(option: str) -> str:
    return "frida_" + option.replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("frida", "broker capacity tests (pytest-frida)")
    for opt in OPTIONS:
        default = f" (default: {opt.default})" if opt.default else ""
        extra: dict[str, Any] = {"nargs": "?", "const": opt.const} if opt.const else {}
        text = opt.help + default
        group.addoption(
            f"--frida-{opt.name}",
            dest=_ini_name(opt.name),
            default=None,
            metavar=opt.name.upper().replace("-", "_"),
            help=text.replace("%", "%%"),  # argparse formats help with %
            **extra,
        )
        parser.addini(_ini_name(opt.name), text, default="")


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_frida import hooks

    pluginmanager.add_hookspecs(hooks)


@pytest.hookimpl(trylast=True)
def pytest_frida_make_site(settings: ClusterSettings, run_dir: Path, run_id: str) -> Site:
    """The site --frida-site names, when no conftest or plugin answered first."""
    return create_site(settings, run_dir, run_id)


def _site_maker(config: pytest.Config) -> MakeSite:
    def make_site(settings: ClusterSettings, run_dir: Path, run_id: str) -> Site:
        site: Site = config.hook.pytest_frida_make_site(
            settings=settings, run_dir=run_dir, run_id=run_id
        )
        return site

    return make_site


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    # kafka-python loads its protocol schemas with importlib APIs Python deprecates
    config.addinivalue_line("filterwarnings", "ignore:read_text is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:open_text is deprecated:DeprecationWarning")
    cli = {o.name: config.getoption(_ini_name(o.name)) for o in OPTIONS}
    ini = {o.name: config.getini(_ini_name(o.name)) for o in OPTIONS}
    try:
        settings = build_settings(cli, ini)
    except SettingsError as exc:
        raise pytest.UsageError(f"pytest-frida: {exc}") from None
    if settings.plan_only and (
        getattr(config.option, "numprocesses", None)
        or getattr(config.option, "tx", None)
        or getattr(config.option, "dist", "no") != "no"
    ):
        raise pytest.UsageError(
            "pytest-frida: --frida-plan says what one run would do: run"
            " it without -n, --dist and --tx"
        )
    workerinput = getattr(config, "workerinput", None)  # set on pytest-xdist workers
    if workerinput is not None:
        run = FridaRun(
            settings,
            run_id=workerinput.get("frida_run_id"),
            worker=str(workerinput.get("workerid", "worker")),
            make_site=_site_maker(config),
        )
    else:
        run = FridaRun(settings, make_site=_site_maker(config))
        problem = run.check_compare_target()
        if problem is not None:
            raise pytest.UsageError(f"pytest-frida: {problem}")
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(XdistController(run.run_id), "frida-xdist-controller")
    config.stash[RUN_KEY] = run


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if run is not None:  # the terminal reporter exists by now
        run.progress = terminal_progress(session.config)
        run.notify = terminal_notes(session.config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("capacity")
    if marker is None:
        return
    if marker.args:
        pytest.fail(
            f"{metafunc.definition.nodeid}: @pytest.mark.capacity takes keyword"
            f" arguments only ({', '.join(MARKER_KEYS)})",
            pytrace=False,
        )
    try:
        plan = metafunc.config.stash[RUN_KEY].settings.plan_for(dict(marker.kwargs))
    except SettingsError as exc:
        problem: str | None = f"{metafunc.definition.nodeid}: {exc}"
    else:
        problem = None
    if problem is not None:  # outside the except: no chained "During handling..." noise
        pytest.fail(problem, pytrace=False)
    if "frida_producers" not in metafunc.fixturenames:
        metafunc.fixturenames.append("frida_producers")
    if plan.shapes:
        parametrize_shapes(metafunc, plan.shapes)
    search = plan.search
    if search is not None:  # one item that runs as many steps as the search needs
        metafunc.parametrize("frida_producers", [search.low], ids=[f"search={search}"])
        return
    metafunc.parametrize(
        "frida_producers", plan.producers, ids=[f"producers={n}" for n in plan.producers]
    )


#: whether the plan said the run would stop (the session then exits 1)
PLAN_STOPS_KEY = pytest.StashKey[bool]()


def _plan_key(item: pytest.Item) -> str:
    """One capacity test of the plan: its id without the producer counts the plugin
    parametrises (other parameters make other tests, each with its own steps)."""
    base = item.nodeid.split("[", 1)[0]
    params = getattr(getattr(item, "callspec", None), "params", {})
    other = [
        f"{k.removeprefix('frida_')}={v.label if isinstance(v, Shape) else v}"
        if k == "frida_shape"
        else f"{k}={v}"
        for k, v in sorted(params.items())
        if k != "frida_producers"
    ]
    return f"{base}[{', '.join(other)}]" if other else base


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return
    if any(item_shape(item) is not None for item in items):
        items[:] = order_by_cluster(items, run.settings)
    if not run.settings.plan_only:
        return
    if getattr(config, "workerinput", None):  # nothing runs under a plan, workers neither
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
        return
    tests: dict[str, StepPlan] = {}
    capacity: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("capacity")
        if marker is not None:
            capacity.append(item)
            tests.setdefault(_plan_key(item), item_plan(item, run.settings, marker))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    clusters = len(clusters_needed(capacity, run.settings)) or 1
    lines = plan_report(run.settings, tests, run.run_dir, run.run_id, run.make_site, clusters)
    for line in lines:
        if reporter is not None:
            reporter.write_line(line)
    # a finding the run would stop at starts its line (a test id may hold the words too)
    config.stash[PLAN_STOPS_KEY] = any(line.lstrip().startswith("would stop") for line in lines)
    config.hook.pytest_deselected(items=list(items))
    items[:] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """After the test body: a step that missed its SLO fails the test, with measured vs
    required; a step limited by the harness (generator, consumers, clocks) is skipped: it
    says nothing about the broker's latency, and its count clauses held. An interrupt
    that arrived meanwhile is raised first (see interrupts)."""
    outcome = yield
    marker = item.get_closest_marker("capacity")
    searching = (
        marker is not None
        and item.config.stash[RUN_KEY].settings.plan_for(dict(marker.kwargs)).search is not None
    )
    steps = item.stash.get(STEPS_KEY, [])
    for step in steps:
        if step.verdict == "error":
            pytest.fail(
                f"step with {step.producers} producers could not be measured:"
                f" {'; '.join(step.reasons) or step.error}",
                pytrace=False,
            )
    if not steps:
        return outcome
    if searching:  # a search needs failing steps; one that decided nothing is skipped
        if not any(s.decides for s in steps):
            pytest.skip(
                f"the search decided nothing: {steps[-1].verdict}: {'; '.join(steps[-1].reasons)}"
            )
        return outcome
    # a sweep item goes by the trials at its own count (the first step): a failure that
    # lost messages at once, else the majority; other counts were measured again for the
    # limit and are in the report
    own = [s for s in steps if s.producers == steps[0].producers]
    trials = Trials.of(s.trial() for s in own)
    if trials.verdict(own[0].producers) == "fail":
        failing = [s for s in own if s.definitive] or [s for s in own if s.verdict == "fail"]
        passes, fails = trials.tally(own[0].producers)
        extra = f"\n  failed {fails} of {passes + fails} trials" if len(own) > 1 else ""
        pytest.fail(failing[-1].failure_message() + extra, pytrace=False)
    if trials.verdict(own[0].producers) is None:
        for step in own:
            if step.verdict in WITHHELD:
                pytest.skip(f"{step.verdict}: {'; '.join(step.reasons)}")
        if own[0].producers in trials.tied():
            passes, fails = trials.tally(own[0].producers)
            pytest.skip(f"split {passes}:{fails} over its trials: decides nothing")
    return outcome


def _single_host_lines(run: FridaRun) -> list[str]:
    """What sharing one host means for the limits, and how fast the host was."""
    lines: list[str] = []
    cores = run.info.machine.get("cpus")
    if run.settings.cluster.broker_cores:
        lines.append(
            f"on one host ({cores} cores) the brokers had"
            f" {run.settings.cluster.broker_cores} of its cores to themselves"
            " (--frida-broker-cores) and the producers and consumers the"
            " others: memory, disk and the kernel are still shared"
        )
    else:
        lines.append(
            f"on one host ({cores} cores) the broker, the producers and the"
            " consumers share the same CPUs: these limits are the host's, all"
            " of them together, not the broker's alone"
        )
    host = host_speed.describe(run.info.host)
    if host is not None:
        lines.append(host)
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is None or not run.steps:
        return
    tr = terminalreporter
    title = f"frida capacity report ({run.settings.cluster.site}, Kafka {run.info.kafka_version})"
    tr.write_sep("=", title)
    for line in format_table(run.steps):
        tr.write_line(line)
    for line in undecided_lines(run.steps):
        tr.write_line(line, yellow=True)
    limits = limits_by_test(run.steps)
    for limit in limits:
        tr.write_line(f"capacity limit of {limit.test}: {limit.describe()}")
        tr.write_line(f"  {limit.explain()}")
    by_shape = shape_lines(limits)
    if by_shape:
        tr.write_line("capacity limits by cluster shape (producers):")
        for line in by_shape:
            tr.write_line(f"  {line}")
    if limits and run.settings.cluster.site in SINGLE_HOST_SITES:
        for line in _single_host_lines(run):
            tr.write_line(line)
    for search in run.info.searches:
        tr.write_line(
            f"search {search['spec']} for {search['test']}: {search['outcome']}"
            f" ({search['steps']} steps: {search['counts']})"
        )
    sizing = run_sizing(run.info, run.steps)
    for line in sizing.lines() if sizing else []:
        tr.write_line(line)
    if run.changes:
        tr.write_sep("-", f"compared with {run.settings.compare}")
        for change in run.changes:
            tr.write_line(change.describe())
    for problem in run.problems:
        tr.write_line(f"pytest-frida: {problem}", yellow=True)
    if run.regressions:
        tr.write_line(
            f"{len(run.regressions)} regression(s) past --frida-compare-fail"
            f" {','.join(str(t) for t in run.settings.compare_fail)}: session failed",
            red=True,
        )
    tr.write_line(
        f"report: {run.writer.html_path}  data: {run.writer.json_path}, {run.writer.csv_path}"
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run = session.config.stash.get(RUN_KEY, None)
    if (
        run is not None
        and run.settings.plan_only
        and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED
    ):
        # the plan was the job; a plan that says the run would stop fails, for scripts
        session.exitstatus = (
            pytest.ExitCode.TESTS_FAILED
            if session.config.stash.get(PLAN_STOPS_KEY, False)
            else pytest.ExitCode.OK
        )
    if swallowed_interrupt():
        session.exitstatus = exitstatus = pytest.ExitCode.INTERRUPTED
    if run is not None:
        run.finish(interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
        if run.regressions and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.stop_cluster()
