"""Cluster shapes: parsing (marker list, option text), labels, resolution against the
session, the checks a site needs, and each shape's history kept apart from the others."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.baseline_comparison import compare_with_baselines
from pytest_frida.config import FridaSettings, SettingsError, Shape, build_settings
from pytest_frida.config.shapes import parse_shapes
from pytest_frida.measure.accounting import DeliveryCounts
from pytest_frida.measure.result import StepResult
from pytest_frida.report.capacity import limits_by_test, shape_table, without_shape
from pytest_frida.report.compare import parse_thresholds
from pytest_frida.report.history import (
    History,
    HistoryEntry,
    baseline_for,
    entries_for_run,
    workload_plan,
)
from pytest_frida.report.model import RunInfo
from pytest_frida.report.summary import shape_pivot
from pytest_frida.session import asked

MARKER = "capacity marker argument shapes"


def settings(**cli: str) -> FridaSettings:
    return build_settings({"report-dir": "/tmp/frida-shapes-test", **cli}, {})


def test_marker_list_and_option_text_give_the_same_shapes() -> None:
    marker = parse_shapes(
        [
            {"brokers": 1},
            {"brokers": 3, "partitions": 12},
            {"broker_config": {"num.io.threads": 2}},
        ],
        MARKER,
    )
    text = parse_shapes("brokers=1; brokers=3,partitions=12; broker_config.num.io.threads=2", "o")
    as_json = parse_shapes(
        '[{"brokers": 1}, {"brokers": 3, "partitions": 12},'
        ' {"broker_config": {"num.io.threads": "2"}}]',
        "o",
    )
    assert marker == text == as_json
    assert [s.label for s in marker] == ["1b", "3b-12p", "num.io.threads=2"]


def test_a_label_names_what_the_shape_sets_or_its_name() -> None:
    (shape,) = parse_shapes(
        [{"brokers": 3, "replication": 2, "min_insync": 2, "kafka_version": "3.9.0"}], MARKER
    )
    assert shape.label == "3b-rf2-isr2-k3.9.0"
    assert parse_shapes([{"name": "big", "brokers": 5}], MARKER)[0].label == "big"
    assert Shape().label == "session"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"brokerz": 3}], "unknown shape key(s) brokerz; accepted: name, brokers"),
        ([{"brokers": 0}], "[0] brokers=0: expected a positive whole number"),
        ([{"partitions": "x"}], "[0] partitions='x': expected a positive whole number"),
        ([{"kafka_version": "2.8.0"}], "too old: KRaft needs 3.3 or later"),
        ([{"broker_config": 3}], "broker_config=3: expected a mapping"),
        ([{"name": "a b"}], "name='a b': expected letters"),
        ([{"brokers": 1}, {"brokers": 1}], "shape 1b given twice"),
        ([], "expected a non-empty list of shapes"),
        ("brokers", "'brokers' is not key=value"),
        ("[{", "not a JSON list"),
        ([3], "[0]=3: expected a mapping"),
    ],
)
def test_a_bad_shape_is_one_line_naming_it(raw: object, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_shapes(raw, MARKER)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unset_values_are_the_sessions_and_broker_settings_merge_over_them() -> None:
    s = settings(**{"brokers": "3", "broker-config": "num.io.threads=8,num.network.threads=3"})
    (shape,) = parse_shapes([{"partitions": 12, "broker_config": {"num.io.threads": 2}}], "m")
    shaped = s.shaped(s.defaults, shape)
    assert shaped.shape.to_dict() == {
        "brokers": 3,
        "partitions": 12,
        "replication": 3,
        "min_insync": 1,
        "broker_config": {"num.io.threads": "2", "num.network.threads": "3"},
        "kafka_version": s.cluster.kafka_version,
    }
    assert shaped.plan.partitions == 12 and shaped.plan.replication == 3
    assert shaped.plan.min_insync is None  # the brokers' own setting applies
    assert shaped.cluster == replace(s.cluster, broker_config=shaped.shape.broker_config)


def test_replication_and_min_insync_must_fit_the_shape() -> None:
    s = settings()
    for raw, message in [
        ({"replication": 2}, "replication=2 needs at least 2 brokers, the shape has 1"),
        ({"brokers": 3, "replication": 2, "min_insync": 3}, "min_insync=3 is more than its"),
        ({"broker_config": {"min.insync.replicas": "2"}}, "min_insync=2 is more than its"),
    ]:
        (shape,) = parse_shapes([raw], MARKER)
        with pytest.raises(SettingsError, match=message):
            s.shaped(s.defaults, shape, MARKER)


def test_the_report_says_the_shapes_asked_by_their_labels() -> None:
    asked_for = asked(settings(shapes="brokers=2;partitions=6"))
    assert asked_for["overrides"]["shapes"] == ["2b", "6p"]
    assert asked_for["defaults"]["shapes"] == ["2b", "6p"]


def test_the_option_is_checked_against_the_cluster_at_start() -> None:
    with pytest.raises(SettingsError, match=r"--frida-shapes shape 2b-rf3: replication=3"):
        settings(shapes="brokers=2,replication=3")
    assert [s.label for s in settings(shapes="brokers=2;brokers=3").defaults.shapes] == [
        "2b",
        "3b",
    ]


def test_a_shape_the_site_cannot_run_is_refused(tmp_path: Path) -> None:
    (version,) = parse_shapes([{"kafka_version": "3.9.0"}], MARKER)
    image = settings(site="docker", **{"kafka-image": "apache/kafka:4.4.0"})
    with pytest.raises(SettingsError, match=r"--frida-kafka-image apache/kafka:4\.4\.0 runs one"):
        image.shaped(image.defaults, version, MARKER)
    hosts = tmp_path / "hosts"
    hosts.write_text("a\nb\nc\n")
    on_hosts = settings(site=f"hosts:{hosts}")
    (brokers,) = parse_shapes([{"brokers": 2}], MARKER)
    with pytest.raises(SettingsError, match="the nodes are found or reserved once per session"):
        on_hosts.shaped(on_hosts.defaults, brokers, MARKER)
    (topic,) = parse_shapes([{"partitions": 6}], MARKER)
    assert on_hosts.shaped(on_hosts.defaults, topic, MARKER).cluster == on_hosts.cluster
    swarm = settings(site="swarm")
    with pytest.raises(SettingsError, match="brokers=2, but the swarm stacks hold 1 or 3"):
        swarm.shaped(swarm.defaults, brokers, MARKER)
    (three,) = parse_shapes([{"brokers": 3}], MARKER)
    assert swarm.shaped(swarm.defaults, three, MARKER).cluster.brokers == 3


def test_consumers_must_fit_the_shapes_partitions() -> None:
    s = settings(consumers="3")
    (shape,) = parse_shapes([{"partitions": 2}], MARKER)
    with pytest.raises(SettingsError, match="shape 2p: consumers=3"):
        s.shaped(s.defaults, shape, MARKER)


_counts = st.one_of(st.none(), st.integers(1, 9))


@given(brokers=_counts, partitions=_counts, replication=_counts, insync=_counts)
def test_a_resolved_shape_never_asks_more_copies_than_it_can_hold(
    brokers: int | None, partitions: int | None, replication: int | None, insync: int | None
) -> None:
    shape = Shape(
        brokers=brokers, partitions=partitions, replication=replication, min_insync=insync
    )
    try:
        resolved = shape.resolve(2, 3, {}, "4.4.0", MARKER)
    except SettingsError:
        assert (replication or 0) > (brokers or 2) or (insync or 1) > (
            replication or min(3, brokers or 2)
        )
        return
    assert 1 <= resolved.min_insync <= resolved.replication <= resolved.brokers
    assert resolved.brokers == (brokers or 2) and resolved.partitions == (partitions or 3)


# --- results and history keyed by shape -----------------------------------------------


def _info(run_id: str, started: str) -> RunInfo:
    return RunInfo(
        run_id=run_id,
        started_at=started,
        site="local",
        client="c",
        kafka_version="4.4.0",
        status="finished",
        commit="abc",
        settings={"brokers": 1, "broker_config": {}},
        machine={"cpu_model": "x", "cpus": 2, "memory_gib": 8},
    )


def _steps(limits: dict[str, int], partitions: int = 3) -> list[StepResult]:
    """Steps of `test_cap` on each shape (label -> brokers), passing up to its limit."""
    steps = []
    for label, limit in limits.items():
        brokers = int(label.removesuffix("b"))
        shape = {
            "brokers": brokers,
            "partitions": partitions,
            "replication": min(3, brokers),
            "min_insync": 1,
            "broker_config": {},
            "kafka_version": "4.4.0",
        }
        for producers in (1, 2, 4, 8, 16, 32):
            for _trial in range(2):
                step = StepResult(
                    test=f"t.py::test_cap[shape={label}-producers={producers}]",
                    producers=producers,
                    rate_per_producer=10,
                    duration_s=5,
                    warmup_s=1,
                    message_size=64,
                    partitions=partitions,
                    slo="p99<=1s",
                    shape=shape,
                    shape_label=label,
                )
                step.verdict = "pass" if producers <= limit else "fail"
                step.latency = {"p50": 1.0, "p99": 2.0, "max": 3.0}
                step.counts = DeliveryCounts(10, 10, 10, 0, 0, 0)
                steps.append(step)
    return steps


def test_each_shape_has_its_limit_side_by_side() -> None:
    limits = limits_by_test(_steps({"1b": 4, "3b": 16}))
    assert [(x.test, x.limit, x.shape_label, x.shape["brokers"]) for x in limits] == [
        ("t.py::test_cap[shape=1b]", 4, "1b", 1),
        ("t.py::test_cap[shape=3b]", 16, "3b", 3),
    ]
    assert shape_table(limits) == [
        ("t.py::test_cap", "1b", "4 (confirmed)"),
        ("t.py::test_cap", "3b", "16 (confirmed)"),
    ]
    assert shape_pivot(limits) == [
        ("test", "1b", "3b"),
        ("t.py::test_cap", "4 (confirmed)", "16 (confirmed)"),
    ]
    assert without_shape("t.py::test_cap[x-shape=3b-12p-y]", "3b-12p") == "t.py::test_cap[x-y]"


def _entries(run_id: str, started: str, steps: list[StepResult]) -> list[HistoryEntry]:
    return entries_for_run(_info(run_id, started), steps)


def _suite_runs(limits: dict[str, int], partitions: int = 3) -> list[HistoryEntry]:
    """Three earlier runs of the suite (the capacity gate needs them for its noise)."""
    return [
        e for n in (1, 2, 3) for e in _entries(f"r{n}", f"2026-01-0{n}", _steps(limits, partitions))
    ]


def test_comparing_two_runs_compares_each_shape_with_itself() -> None:
    old = _suite_runs({"1b": 4, "3b": 16})
    new = _entries("r4", "2026-01-04", _steps({"1b": 4, "3b": 8}))
    assert [e.plan["brokers"] for e in new if e.plan] == [1, 3]
    comparison = compare_with_baselines(old, new, "last", parse_thresholds("capacity:10%"))
    assert [(c.test, c.baseline, c.current) for c in comparison.regressions] == [
        ("t.py::test_cap[shape=3b]", 16, 8)
    ]
    limits = {(c.test, c.baseline) for c in comparison.changes if c.what == "capacity limit"}
    assert limits == {("t.py::test_cap[shape=1b]", 4), ("t.py::test_cap[shape=3b]", 16)}


def test_a_run_whose_shapes_differ_is_not_like() -> None:
    old = _suite_runs({"1b": 4, "3b": 16}, partitions=3)
    new = _entries("r4", "2026-01-04", _steps({"1b": 4, "3b": 8}, partitions=12))
    comparison = compare_with_baselines(old, new, "last", parse_thresholds("capacity:10%"))
    assert comparison.changes == []
    assert [p.split(":")[0] for p in comparison.problems] == [
        "no earlier run of t.py",  # each says why it had nothing to compare with
        "no earlier run of t.py",
    ]
    assert all("shape.partitions: 3 -> 12" in p for p in comparison.problems)


def test_a_test_without_shapes_keeps_the_plan_of_earlier_runs() -> None:
    (step,) = [s for s in _steps({"1b": 4}) if s.producers == 1][:1]
    plain = replace(step, shape={}, shape_label="", test="t.py::test_cap[producers=1]")
    assert "shape" not in workload_plan(_info("r", "2026-01-01"), [plain])
    shaped = workload_plan(_info("r", "2026-01-01"), [step])
    assert shaped["shape"]["brokers"] == 1


def _upgrade_entries(
    version: str, session_config: dict[str, str], shape_config: dict[str, str], cut: int
) -> list[HistoryEntry]:
    """Runs of `test_cap` on shape 3b whose cluster ran Kafka `version` with the broker
    settings `shape_config` (the session gave `session_config`), failing above `cut`."""
    info = replace(
        _info("r", "2026-01-01"),
        kafka_version="4.4.0",
        settings={"brokers": 1, "broker_config": session_config},
    )
    steps = [
        replace(
            s,
            shape={**s.shape, "kafka_version": version, "broker_config": shape_config},
        )
        for s in _steps({"3b": cut})
    ]
    return [
        e
        for n, day in ((1, "02"), (2, "03"), (3, "04"))
        for e in entries_for_run(replace(info, run_id=f"{version}-{n}", started_at=day), steps)
    ]


def test_an_upgrade_of_a_shaped_test_is_judged_as_one_of_an_unshaped_test() -> None:
    old = _upgrade_entries("4.0.0", {}, {}, cut=16)
    (new,) = _upgrade_entries("4.1.0", {}, {}, cut=4)[-1:]
    assert new.kafka_version == new.system["kafka_version"] == "4.1.0"  # type: ignore[index]
    assert new.plan is not None and new.plan["shape"] == {
        "label": "3b",
        "brokers": 3,
        "partitions": 3,
        "replication": 3,
        "min_insync": 1,
    }
    # the baseline is the old Kafka's run, named as an upgrade check names it
    comparison = compare_with_baselines(old, [new], "4.0.0-3", parse_thresholds("capacity:10%"))
    assert [(c.test, c.baseline, c.current) for c in comparison.regressions] == [
        ("t.py::test_cap[shape=3b]", 16, 4)
    ]


def test_a_setting_given_by_the_session_instead_of_the_shape_is_the_same_run() -> None:
    io = {"num.io.threads": "2"}
    by_shape = _upgrade_entries("4.4.0", {}, io, cut=16)
    (by_session,) = _upgrade_entries("4.4.0", io, io, cut=16)[-1:]
    assert by_session.plan == by_shape[0].plan and by_session.system == by_shape[0].system
    comparison = compare_with_baselines(
        by_shape, [by_session], "last", parse_thresholds("capacity:10%")
    )
    assert comparison.problems == [] and not comparison.regressions
    assert {c.what for c in comparison.changes} >= {"capacity limit"}


def test_a_shaped_line_recorded_with_its_kafka_in_the_plan_loads_and_is_unlike(
    tmp_path: Path,
) -> None:
    (current,) = _upgrade_entries("4.4.0", {}, {}, cut=16)[-1:]
    assert current.plan is not None
    old = replace(
        current,
        run_id="old",
        started_at="2026-01-01",
        plan={
            **current.plan,
            "shape": {**current.plan["shape"], "kafka_version": "4.4.0", "broker_config": {}},
        },
    )
    history = History(tmp_path)
    history.append([old])
    (loaded,) = history.load()
    assert baseline_for([loaded], current, None) is None
    comparison = compare_with_baselines(
        [loaded], [current], "old", parse_thresholds("capacity:10%")
    )
    assert not comparison.regressions
