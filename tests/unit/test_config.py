"""Settings: precedence command line > marker > ini > default, and one-line errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.config import (
    DEFAULT_SLO,
    MARKER_KEYS,
    OPTIONS,
    FridaSettings,
    Option,
    SettingsError,
    StepPlan,
    build_settings,
    parse_producers,
)
from pytest_frida.kafka.distribution import DEFAULT_KAFKA_VERSION


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the default report dir is relative: keep it (and its writability probe) in tmp_path
    monkeypatch.chdir(tmp_path)


def build(cli: dict[str, str] | None = None, ini: dict[str, str] | None = None) -> FridaSettings:
    all_none: dict[str, str | None] = {o.name: None for o in OPTIONS}
    all_empty: dict[str, str | None] = {o.name: "" for o in OPTIONS}
    return build_settings({**all_none, **(cli or {})}, {**all_empty, **(ini or {})})


def test_defaults():
    s = build()
    assert s.cluster.site == "local"
    assert s.client == "confluent-kafka"
    assert s.cluster.kafka_version == DEFAULT_KAFKA_VERSION
    assert s.cluster.kafka_home is None
    assert s.cluster.brokers == 1
    assert s.report_dir == Path(".frida/reports")
    assert s.overrides == {}
    assert s.prime == 5.0
    plan = s.plan_for({})
    assert plan.producers == (1, 5, 20)
    assert (plan.rate, plan.duration, plan.warmup) == (10.0, 10.0, 2.0)
    assert (plan.message_size, plan.partitions) == (256, 3)
    assert str(plan.slo) == DEFAULT_SLO


def test_build_settings_accepts_partial_dicts():
    s = build_settings({"rate": "3"}, {})
    assert s.plan_for({}).rate == 3.0


# (option name, marker key, cli value, marker value, ini value, expected for each, default)
PRECEDENCE = [
    ("rate", "rate", "50", 5, "7", (50.0, 5.0, 7.0), 10.0),
    ("duration", "duration", "30", 20, "15", (30.0, 20.0, 15.0), 10.0),
    ("warmup", "warmup", "4", 0, "1.5", (4.0, 0.0, 1.5), 2.0),
    ("message-size", "message_size", "1024", 512, "128", (1024, 512, 128), 256),
    ("partitions", "partitions", "6", 5, "4", (6, 5, 4), 3),
    (
        "slo",
        "slo",
        "p99<=1s",
        "p99<=500ms",
        "p99<=100ms",
        ("p99<=1s", "p99<=500ms", "p99<=100ms"),
        DEFAULT_SLO.split(", ")[0],
    ),
]


def _get(plan: StepPlan, key: str) -> object:
    value = getattr(plan, key)
    # an SLO's first clauses are the user's; the delivery guards follow
    return str(value).split(", ")[0] if key == "slo" else value


@pytest.mark.parametrize(
    ("name", "key", "cli", "marker", "ini", "expected", "default"),
    PRECEDENCE,
    ids=[p[0] for p in PRECEDENCE],
)
def test_precedence(name, key, cli, marker, ini, expected, default):
    from_cli, from_marker, from_ini = expected
    # command line wins over marker and ini
    assert _get(build({name: cli}, {name: ini}).plan_for({key: marker}), key) == from_cli
    # marker wins over ini
    assert _get(build(ini={name: ini}).plan_for({key: marker}), key) == from_marker
    # ini wins over the default (a marker without this key)
    assert _get(build(ini={name: ini}).plan_for({"producers": [2]}), key) == from_ini
    # the default
    assert _get(build().plan_for({}), key) == default


def test_only_command_line_values_become_overrides():
    s = build({"rate": "50", "site": "local"}, {"duration": "15", "partitions": "4"})
    assert s.overrides == {"rate": 50.0}
    assert s.defaults.duration == 15.0
    assert s.defaults.partitions == 4


@pytest.mark.parametrize(
    ("cli", "ini", "marker", "expected"),
    [
        ("20,5", "3", [1, 2], (5, 20)),  # command line over everything
        (None, "3,1", [1, 2], (1, 3)),  # ini producers override markers too
        (None, None, [2, 1, 2], (1, 2)),  # the marker
        (None, None, None, (1, 5, 20)),  # the default
        ("7", None, None, (7,)),
    ],
)
def test_producers_precedence(cli, ini, marker, expected):
    s = build({"producers": cli} if cli else None, {"producers": ini} if ini else None)
    plan = s.plan_for({"producers": marker} if marker is not None else {})
    assert plan.producers == expected


def test_workers():
    assert build().workers == (os.cpu_count() or 1)  # "auto"
    assert build({"workers": "3"}, {"workers": "5"}).workers == 3
    assert build(ini={"workers": "5"}).workers == 5


def test_producer_config_merges_per_property():
    s = build({"producer-config": "acks=all"}, {"producer-config": "linger.ms=5,acks=0"})
    assert s.plan_for({}).producer_config == {"acks": "all", "linger.ms": "5"}
    plan = s.plan_for({"producer_config": {"linger.ms": 7, "acks": 1, "batch.size": "1000"}})
    # command line > marker > ini, one property at a time
    assert plan.producer_config == {"acks": "all", "linger.ms": "7", "batch.size": "1000"}


def test_bad_producer_config_names_it():
    with pytest.raises(SettingsError) as info:
        build({"producer-config": "acks"})
    assert "'acks'" in str(info.value)
    assert "\n" not in str(info.value)


def test_other_settings_cli_over_ini():
    s = build(
        {"brokers": "3", "kafka-home": "/opt/kafka"},
        {"brokers": "2", "kafka-version": "3.9.0", "kafka-home": "/elsewhere"},
    )
    assert s.cluster.brokers == 3
    assert s.cluster.kafka_version == "3.9.0"
    assert s.cluster.kafka_home == Path("/opt/kafka")


@pytest.mark.parametrize(
    ("source", "name", "value", "flag"),
    [
        ("cli", "rate", "0", "--frida-rate"),
        ("cli", "rate", "-1", "--frida-rate"),
        ("cli", "rate", "abc", "--frida-rate"),
        ("ini", "rate", "nan", "ini frida_rate"),
        ("cli", "rate", "inf", "--frida-rate"),
        ("cli", "duration", "0", "--frida-duration"),
        ("ini", "duration", "-inf", "ini frida_duration"),
        ("cli", "warmup", "-1", "--frida-warmup"),
        ("cli", "prime", "-5", "--frida-prime"),
        ("ini", "prime", "5s", "ini frida_prime"),
        ("cli", "prime", "86400", "--frida-prime"),
        ("cli", "monitor", "maybe", "--frida-monitor"),
        ("cli", "broker-cores", "-1", "--frida-broker-cores"),
        ("ini", "broker-cores", "half", "ini frida_broker_cores"),
        ("cli", "broker-cores", "4096", "--frida-broker-cores"),
        ("cli", "producers", "1,x", "--frida-producers"),
        ("ini", "producers", "0", "ini frida_producers"),
        ("cli", "producers", "1,,2", "--frida-producers"),
        ("cli", "message-size", "10", "--frida-message-size"),
        ("ini", "message-size", "2000000", "ini frida_message_size"),
        ("cli", "partitions", "1.5", "--frida-partitions"),
        ("cli", "brokers", "0", "--frida-brokers"),
        ("cli", "site", "Mars!", "--frida-site"),
        ("cli", "walltime", "1h", "--frida-walltime"),
        ("ini", "clock-correction", "maybe", "ini frida_clock_correction"),
        ("ini", "client", "librdkafka-go", "ini frida_client"),
        ("cli", "workers", "0", "--frida-workers"),
        ("cli", "kafka-version", "4.x", "--frida-kafka-version"),
        ("cli", "kafka-version", "2.8.0", "--frida-kafka-version"),
        ("ini", "kafka-version", "4.1", "ini frida_kafka_version"),
        ("cli", "slo", "p99<=250", "--frida-slo"),
    ],
)
def test_invalid_values_raise_one_line_naming_them(source, name, value, flag):
    args = ({name: value}, None) if source == "cli" else (None, {name: value})
    with pytest.raises(SettingsError) as info:
        build(*args)
    message = str(info.value)
    assert "\n" not in message
    assert repr(value) in message
    assert message.startswith(flag)


def test_broker_cores_leave_the_harness_a_core_and_need_one_machine(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # these tests under -n
    usable = len(os.sched_getaffinity(0))
    with pytest.raises(SettingsError, match="harness needs at least one"):
        build({"broker-cores": str(usable)})
    with pytest.raises(SettingsError, match="only the local and docker sites"):
        build({"broker-cores": "1", "site": "swarm"})
    assert build({}).cluster.broker_cores == 0
    # with a split, "auto" starts one producer agent per core the harness keeps
    if usable > 1:
        assert build({"broker-cores": "1"}).workers == usable - 1
        assert (
            build({"broker-cores": str(usable - 1), "site": "docker"}).cluster.broker_cores
            == usable - 1
        )


def test_broker_cores_are_refused_under_xdist(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    with pytest.raises(SettingsError, match="same cores"):
        build({"broker-cores": "1"})
    assert build({"broker-cores": "0"}).cluster.broker_cores == 0


def test_producers_error_names_the_bad_item():
    with pytest.raises(SettingsError) as info:
        build({"producers": "1,x"})
    assert "'x'" in str(info.value)
    assert "'1,x'" in str(info.value)


def test_report_dir_under_a_regular_file(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    raw = str(blocker / "reports")
    with pytest.raises(SettingsError) as info:
        build({"report-dir": raw})
    message = str(info.value)
    assert "\n" not in message
    assert repr(raw) in message
    assert "not a writable directory" in message


def test_report_dir_that_does_not_exist_yet_is_fine(tmp_path):
    target = tmp_path / "a" / "b" / "reports"
    assert build({"report-dir": str(target)}).report_dir == target
    assert not target.exists()  # validation does not create it


def test_empty_ini_values_are_absent():
    s = build(ini={"rate": "", "producers": ""})
    assert s.defaults.rate == 10.0
    assert "producers" not in s.overrides


@pytest.mark.parametrize("raw", ["", " ", [], ()])
def test_empty_producers_are_rejected(raw):
    with pytest.raises(SettingsError, match="expected positive whole numbers"):
        parse_producers(raw)


@pytest.mark.parametrize("raw", ["0", "-3", "1,x", "2.5", [1, 0], [True], "1,,2", [None]])
def test_bad_producers_are_rejected(raw):
    with pytest.raises(SettingsError) as info:
        parse_producers(raw, "producers")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"producers={raw!r}")


@settings(max_examples=200)
@given(
    counts=st.lists(st.integers(1, 10**6), min_size=1, max_size=20),
    form=st.sampled_from(["list", "tuple", "csv", "csv-spaces"]),
)
def test_parse_producers_sorts_and_deduplicates(counts, form):
    raw: object = {
        "list": counts,
        "tuple": tuple(counts),
        "csv": ",".join(map(str, counts)),
        "csv-spaces": " , ".join(map(str, counts)),
    }[form]
    assert parse_producers(raw) == tuple(sorted(set(counts)))


def test_parse_producers_single_int_and_range():
    assert parse_producers(5) == (5,)
    assert parse_producers(range(3, 0, -1)) == (1, 2, 3)


def test_marker_unknown_argument():
    with pytest.raises(SettingsError) as info:
        build().plan_for({"rat": 5, "rate": 3, "producer": [1]})
    message = str(info.value)
    assert "\n" not in message
    assert "producer, rat" in message
    for key in MARKER_KEYS:
        assert key in message


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"rate": 0}, "capacity marker argument rate=0"),
        ({"rate": True}, "capacity marker argument rate=True"),
        ({"duration": "soon"}, "capacity marker argument duration='soon'"),
        ({"producers": [1, "x"]}, "'x'"),
        ({"message_size": 10}, "capacity marker argument message_size=10"),
        ({"partitions": 0}, "capacity marker argument partitions=0"),
        ({"slo": "p99<=5"}, "'p99<=5'"),
    ],
)
def test_marker_invalid_values(kwargs, needle):
    with pytest.raises(SettingsError) as info:
        build().plan_for(kwargs)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_marker_values_are_parsed():
    plan = build().plan_for(
        {"rate": "2.5", "message_size": "512", "producers": "3,1", "slo": "p50<=1s and loss==0"}
    )
    assert plan.rate == 2.5
    assert plan.message_size == 512
    assert plan.producers == (1, 3)
    # completed by the delivery guards: no SLO passes an unanswered or refused message
    assert [c.metric for c in plan.slo.clauses] == ["p50", "loss", "unacked", "failed"]


def test_schedule_must_give_each_producer_a_measured_message() -> None:
    with pytest.raises(SettingsError, match="less than one measured message"):
        build_settings({"rate": "0.05", "duration": "10"}, {})
    settings = build_settings({}, {})
    with pytest.raises(SettingsError, match=r"capacity marker: rate=0\.01 msg/s"):
        settings.plan_for({"rate": 0.01})


def test_schedule_rate_beyond_one_send_per_microsecond_is_refused() -> None:
    with pytest.raises(SettingsError, match="beyond what a schedule can express"):
        build_settings({"rate": "2000000"}, {})


# --- consumers ---------------------------------------------------------------------------


def test_consumers_default_is_auto():
    assert build().plan_for({}).consumers is None
    assert build({"consumers": "auto"}).plan_for({}).consumers is None


def test_consumers_precedence():
    # command line over marker over ini over the default (auto)
    assert build({"consumers": "3"}, {"consumers": "1"}).plan_for({"consumers": 2}).consumers == 3
    assert build(ini={"consumers": "1"}).plan_for({"consumers": 2}).consumers == 2
    assert build(ini={"consumers": "1"}).plan_for({}).consumers == 1
    assert build(ini={"consumers": "2"}).plan_for({"consumers": "auto"}).consumers is None
    assert build({"consumers": "2"}).overrides["consumers"] == 2


@pytest.mark.parametrize(
    ("source", "value", "flag"),
    [
        ("cli", "0", "--frida-consumers"),
        ("cli", "-2", "--frida-consumers"),
        ("cli", "many", "--frida-consumers"),
        ("cli", "1.5", "--frida-consumers"),
        ("ini", "Auto", "ini frida_consumers"),
        ("ini", "0", "ini frida_consumers"),
    ],
)
def test_bad_consumers_value(source, value, flag):
    args = ({"consumers": value}, None) if source == "cli" else (None, {"consumers": value})
    with pytest.raises(SettingsError) as info:
        build(*args)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{flag}={value!r}")
    assert "expected auto or a positive whole number" in message


def test_more_consumers_than_partitions_on_the_command_line_fails_at_once():
    # partitions given on the command line win over any marker: no test could run
    with pytest.raises(SettingsError) as info:
        build({"consumers": "4", "partitions": "3"})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("--frida-consumers=4: more consumers than the 3 partitions")
    assert "expected auto or a whole number from 1 to 3" in message
    assert build({"consumers": "3", "partitions": "3"}).plan_for({}).consumers == 3


@pytest.mark.parametrize(
    ("cli", "ini", "marker", "flag"),
    [
        ({"consumers": "4"}, {}, {}, "--frida-consumers=4"),
        ({}, {"consumers": "4"}, {}, "ini frida_consumers=4"),
        ({}, {}, {"consumers": 4}, "capacity marker argument consumers=4"),
        ({}, {"consumers": "2"}, {"partitions": 1}, "ini frida_consumers=2"),
    ],
)
def test_more_consumers_than_the_tests_partitions(cli, ini, marker, flag):
    with pytest.raises(SettingsError) as info:
        build(cli, ini).plan_for(marker)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{flag}: more consumers than the")
    assert "expected auto or a whole number from 1 to" in message


def test_a_markers_partitions_make_room_for_consumers():
    # 4 consumers are fine for a test whose marker asks for 6 partitions
    assert build({"consumers": "4"}).plan_for({"partitions": 6}).consumers == 4


@pytest.mark.parametrize("raw", [0, -1, True, "x", 2.5])
def test_marker_bad_consumers(raw):
    with pytest.raises(SettingsError) as info:
        build().plan_for({"consumers": raw})
    assert str(info.value).startswith(f"capacity marker argument consumers={raw!r}")
    assert "expected auto or a positive whole number" in str(info.value)


def test_the_builder_asks_every_option_for_its_value(monkeypatch: pytest.MonkeyPatch):
    # an option added to the table but never assembled would be accepted and ignored
    import dataclasses

    from pytest_frida.config import build as build_module

    asked: set[str] = set()

    def recording(option: Option) -> Option:
        def parse(raw: str, what: str, lookup: Any) -> Any:
            asked.add(option.name)
            return option.parse(raw, what, lookup)

        return dataclasses.replace(option, parse=parse)

    monkeypatch.setattr(build_module, "OPTIONS", tuple(recording(o) for o in OPTIONS))
    build()
    assert asked == {o.name for o in OPTIONS}


def test_each_value_is_parsed_once_by_its_options_parser():
    from pytest_frida.config.build import ParsedOptions

    parsed = ParsedOptions(cli={"brokers": "3"}, ini={"brokers": "1", "nodes": "5"})
    assert parsed("brokers") == 3
    assert parsed.flag("brokers") == "--frida-brokers"
    assert parsed.flag("nodes") == "ini frida_nodes"
    # nodes are checked against the command line's brokers, not the ini file's
    assert parsed("nodes") == (5, False)
    with pytest.raises(SettingsError, match=r"^ini frida_nodes=4: needs at least"):
        ParsedOptions(cli={"brokers": "4"}, ini={"nodes": "4"})("nodes")


@pytest.mark.parametrize(
    ("cli", "first"),
    [
        ({"monitor": "x", "workers": "q"}, "--frida-workers='q'"),
        ({"brokers": "0", "workers": "q"}, "--frida-workers='q'"),
        ({"kafka-image": "Bad Image", "clock-correction": "x"}, "--frida-clock-correction='x'"),
        ({"prime": "-1", "broker-config": "nonsense"}, "--frida-broker-config='nonsense'"),
    ],
)
def test_of_two_bad_values_the_same_one_is_reported_first(cli: dict[str, str], first: str):
    with pytest.raises(SettingsError, match="^" + re.escape(first)):
        build(cli)
