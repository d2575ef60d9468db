"""Other work on a shared host: the arithmetic, the note rule, the history field, the
comparison line and the attribution's words (measure.outside and where it shows)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.controller.verdicts import attribute_step
from pytest_frida.measure import outside
from pytest_frida.measure.attribution import usages
from pytest_frida.measure.result import StepResult
from pytest_frida.report.compare import compare, outside_notes
from pytest_frida.report.history import HistoryEntry, entries_for_run
from pytest_frida.report.model import RunInfo


def _sources(busy: list[float], brokers: dict[str, list[float]]) -> dict[str, Any]:
    """A host of per-second busy shares and brokers of per-second cores, one per second."""
    t = [i + 0.5 for i in range(len(busy))]

    def figure(values: list[float]) -> dict[str, float]:
        return {"mean": sum(values) / len(values), "max": max(values)}

    out: dict[str, Any] = {
        "host": {"figures": {"host_busy": figure(busy)}, "series": {"t": t, "host_busy": busy}}
    }
    for name, cores in brokers.items():
        out[name] = {"figures": {"cores": figure(cores)}, "series": {"t": t, "cores": cores}}
    return out


def test_nothing_else_running_leaves_about_nothing_outside() -> None:
    # 2 cores, 60% busy = 1.2 cores: broker 0.8, agents 0.35, controller 0.05
    sources = _sources([0.6, 0.6, 0.6], {"broker-0": [0.8, 0.8, 0.8]})
    figure = outside.outside_cores(sources, 2, 0.35, 0.05)
    assert figure == {"mean": 0.0, "max": 0.0}
    assert not outside.material(figure["mean"], 2)


def test_the_kernel_threads_doing_the_brokers_io_are_not_outside_work() -> None:
    # a broker fsyncing every message: 1.8 of 2 cores busy, broker 0.9, agents 0.55,
    # controller 0.05, and the journal and writeback threads 0.3
    sources = _sources([0.9, 0.9, 0.9], {"broker-0": [0.9, 0.9, 0.9]})
    kernel = [0.3, 0.3, 0.3]
    sources["host"]["figures"]["kernel_cores"] = {"mean": 0.3, "max": 0.3}
    sources["host"]["series"]["kernel_cores"] = kernel
    assert outside.outside_cores(sources, 2, 0.55, 0.05) == {"mean": 0.0, "max": 0.0}
    # unread, the kernel's share counts as outside, as the figure's unit says
    del sources["host"]["figures"]["kernel_cores"]
    assert outside.outside_cores(sources, 2, 0.55, 0.05) == {"mean": 0.3, "max": 0.3}
    # a burner beside it still shows, the kernel's share taken off
    sources = _sources([1.0, 1.0, 1.0], {"broker-0": [0.5, 0.5, 0.5]})
    sources["host"]["figures"]["kernel_cores"] = {"mean": 0.3, "max": 0.3}
    sources["host"]["series"]["kernel_cores"] = kernel
    assert outside.outside_cores(sources, 2, 0.55, 0.05) == {"mean": 0.6, "max": 0.6}


def test_a_burning_process_shows_as_outside_with_its_busiest_second() -> None:
    # the same run, plus a process that took a core for two of the three seconds
    sources = _sources([0.6, 1.0, 1.0], {"broker-0": [0.8, 0.7, 0.8]})
    figure = outside.outside_cores(sources, 2, 0.35, 0.05)
    assert figure is not None
    assert figure["mean"] == round((2.6 / 3) * 2 - 0.4 - 2.3 / 3, 3)
    assert figure["max"] == round(2.0 - 0.4 - 0.7, 3)
    assert outside.material(figure["mean"], 2)
    note = outside.note(figure)
    assert note.startswith(f"other work on this host took {figure['mean']:.2f} cores on average")
    assert "outside the brokers and the harness" in note


def test_sources_missing_give_none_never_zero() -> None:
    sources = _sources([0.5, 0.5], {"broker-0": [0.2, 0.2]})
    assert outside.outside_cores(sources, None, 0.3, 0.05) is None  # not a shared host
    assert outside.outside_cores(sources, 2, None, 0.05) is None  # agents unmeasured
    assert outside.outside_cores(sources, 2, 0.3, None) is None  # controller unmeasured
    no_host = {k: v for k, v in sources.items() if k != "host"}
    assert outside.outside_cores(no_host, 2, 0.3, 0.05) is None
    no_broker = {"host": sources["host"]}
    assert outside.outside_cores(no_broker, 2, 0.3, 0.05) is None


@given(
    busy=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10),
    broker=st.floats(0.0, 4.0),
    harness=st.floats(0.0, 4.0),
)
def test_outside_is_never_negative_and_its_max_bounds_its_mean(
    busy: list[float], broker: float, harness: float
) -> None:
    figure = outside.outside_cores(
        _sources(busy, {"broker-0": [broker] * len(busy)}), 4, harness, 0
    )
    assert figure is not None
    assert 0.0 <= figure["mean"] <= figure["max"]


def test_the_note_rule_is_a_quarter_core_or_a_tenth_of_the_host() -> None:
    assert not outside.material(0.25, 8)
    assert outside.material(0.26, 8)
    # on 2 cores a tenth is 0.2, below the quarter core
    assert outside.material(0.21, 2)
    assert not outside.material(0.19, 2)
    assert not outside.material(None, 2)


def _step(busy: float, broker: float, agents: float) -> StepResult:
    step = StepResult(
        test="t.py::cap",
        producers=2,
        rate_per_producer=100,
        duration_s=3,
        warmup_s=1,
        message_size=100,
        partitions=1,
        slo="p99 < 100ms",
        verdict="pass",
    )
    step.generators = [{"cpu_share": agents / 2}]
    step.consumers = [{"cpu_share": agents / 2, "busy": 0.1}]
    step.resources = {
        "sources": _sources([busy] * 3, {"broker-0": [broker] * 3}),
        "host_cores": 2,
        "controller_cores": 0.05,
        "units": {},
    }
    return step


def test_a_step_records_the_figure_notes_it_and_the_attribution_names_it() -> None:
    step = _step(busy=0.98, broker=0.7, agents=0.4)
    attribute_step(step, None, frozenset())
    figure = step.resources["sources"]["host"]["figures"]["outside_cores"]
    assert figure["mean"] == round(1.96 - 0.7 - 0.4 - 0.05, 3)
    assert "outside_cores" in step.resources["units"]
    assert [n for n in step.notes if n.startswith("other work on this host")] == [
        outside.note(figure)
    ]
    assert step.attribution["party"] == "host"
    assert step.attribution["sentence"].endswith(
        f"and other work outside the run took {figure['mean']:.2f} cores"
        f" (up to {figure['max']:.2f}); no broker resource measured was saturated on its own"
    )


def test_a_quiet_step_has_its_figure_but_no_note() -> None:
    step = _step(busy=0.6, broker=0.75, agents=0.4)
    attribute_step(step, None, frozenset())
    assert step.resources["sources"]["host"]["figures"]["outside_cores"]["mean"] == 0.0
    assert not [n for n in step.notes if "other work" in n]
    assert "other work" not in step.attribution["sentence"]


def test_the_host_usage_says_nothing_of_outside_work_below_the_rule() -> None:
    sources = _sources([0.99], {"broker-0": [1.0]})
    sources["host"]["figures"]["outside_cores"] = {"mean": 0.1, "max": 0.3}
    (host,) = [u for u in usages(sources, 2, True, 0.1, 0.1, (0.3, 0.2)) if u.party == "host"]
    assert "other work" not in host.detail


def _entry(run_id: str, site: str, figure: dict[str, Any] | None) -> HistoryEntry:
    return HistoryEntry(
        run_id=run_id,
        started_at="2026-12-04T00:00:00+00:00",
        status="finished",
        site=site,
        client="c",
        kafka_version="4.4.0",
        commit=None,
        test="t.py::cap",
        limit={"limit": 10},
        plan={},
        system={},
        outside=figure,
    )


def _loaded(steps: int = 7) -> dict[str, Any]:
    return {"max_mean_cores": 0.9, "material_steps": steps, "steps": 16}


def test_the_history_keeps_the_largest_step_mean_and_the_material_steps() -> None:
    quiet, loaded, unmeasured = _step(0.6, 0.75, 0.4), _step(0.98, 0.7, 0.4), _step(0.6, 0.7, 0.4)
    for step in (quiet, loaded):
        attribute_step(step, None, frozenset())
    info = RunInfo(
        run_id="r", started_at="", site="local", client="c", kafka_version="4.4.0", settings={}
    )
    (entry,) = entries_for_run(info, [quiet, loaded, unmeasured])
    assert entry.outside == {"max_mean_cores": 0.81, "material_steps": 1, "steps": 2}
    assert outside.run_outside([(None, 2)]) is None


def test_a_loaded_run_is_named_next_to_the_comparison() -> None:
    (line,) = outside_notes(_entry("now", "local", _loaded()), _entry("base", "local", None))
    assert line == (
        "now had other work on this host (up to 0.90 cores outside the run, in 7 of 16"
        " steps): its limits and latencies are this machine's under that load, not like"
        " a quiet run's"
    )
    (line,) = outside_notes(_entry("now", "docker", None), _entry("base", "docker", _loaded()))
    assert line.startswith("base had other work on this host")


def test_quiet_old_and_multi_host_runs_say_nothing() -> None:
    quiet = {"max_mean_cores": 0.1, "material_steps": 0, "steps": 16}
    assert outside_notes(_entry("now", "local", quiet), _entry("base", "local", quiet)) == []
    # recorded before the figure existed
    assert outside_notes(_entry("now", "local", None), _entry("base", "local", None)) == []
    assert outside_notes(_entry("now", "sophia", _loaded()), _entry("b", "sophia", _loaded())) == []


def test_the_outside_line_is_context_and_fails_nothing() -> None:
    changes = compare(
        _entry("now", "local", _loaded()), _entry("base", "local", None), thresholds=[]
    )
    noted = [c for c in changes if c.what == "outside"]
    assert len(noted) == 1
    assert not any(c.failed for c in noted)


def test_a_limit_named_on_the_broker_still_says_other_work_took_the_cpu() -> None:
    # the broker's handlers ran out while the host's CPU did not: the sentence names the
    # broker, and says what other work took
    step = _step(busy=0.72, broker=0.7, agents=0.4)
    step.resources["sources"]["broker-0"]["figures"]["handler_idle"] = {"mean": 0.01, "max": 0.1}
    attribute_step(step, None, frozenset())
    figure = step.resources["sources"]["host"]["figures"]["outside_cores"]
    assert step.attribution["party"] == "broker"
    said = outside.words(figure, 2)
    assert said.startswith("other work outside the run took")
    assert step.attribution["sentence"].endswith(f"; {said}")
    assert step.attribution["sentence"].count("other work") == 1
    # below the rule nothing is said
    assert outside.words({"mean": 0.1, "max": 0.5}, 2) == ""
    assert outside.words(None, 2) == ""
