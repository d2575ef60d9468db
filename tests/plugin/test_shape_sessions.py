"""Cluster shapes through the plugin: node ids, the order items run in, one cluster at a
time (each shape's started when first needed, the previous one stopped first), and bad
shapes refused at collection. The inner sessions' site (through the
pytest_frida_make_site hook) records its starts and stops and starts no broker."""

from __future__ import annotations

import pytest

#: A site that logs `start <brokers> <broker settings>` and `stop`, refuses a start while
#: another of its clusters runs, and fails to start a cluster of 5 brokers.
RECORDING_CONFTEST = """
import re
from pathlib import Path

import pytest

from pytest_frida.errors import FridaSetupError
from pytest_frida.sites.base import BrokerInfo, Cluster

LOG = Path(__file__).with_name("sites.log")
RUNNING = []


def say(line, instance):
    worker = re.search(r"-(gw[0-9]+)", instance)  # a worker's run names its clusters
    with LOG.open("a") as fh:
        fh.write((f"{worker[1]} " if worker else "") + line + "\\n")


class RecordingSite:
    name = "recording"

    def __init__(self, settings, run_dir, instance):
        self.settings = settings
        self.run_dir = run_dir
        self.instance = instance
        self.started = False

    def plan_lines(self):
        return ["site recording: nothing to reserve"]

    def start(self):
        config = ",".join(f"{k}={v}" for k, v in sorted(self.settings.broker_config.items()))
        say(f"start {self.settings.brokers} {config or '-'}", self.instance)
        if RUNNING:
            say("OVERLAP", self.instance)
        if self.settings.brokers == 5:
            raise FridaSetupError("five brokers do not fit here")
        RUNNING.append(self)
        self.started = True
        brokers = [BrokerInfo(n, "127.0.0.1", 9000 + n) for n in range(self.settings.brokers)]
        return Cluster(
            site="recording",
            bootstrap=f"{self.settings.brokers}b-{config or '-'}",
            brokers=brokers,
            kafka_version=self.settings.kafka_version,
            launcher=None,
        )

    def stop(self):
        if self.started:
            RUNNING.remove(self)
            self.started = False
            say("stop", self.instance)


@pytest.hookimpl(tryfirst=True)
def pytest_frida_make_site(settings, run_dir, run_id):
    return RecordingSite(settings, run_dir, run_id)
"""

TWO_TESTS = """
import pytest


@pytest.mark.capacity(producers=[1, 4], shapes=[{"brokers": 3}, {"brokers": 1}])
def test_a(frida_step):
    print("SAW", frida_step.cluster.bootstrap, frida_step.shape.label)


@pytest.mark.capacity(producers=[2], shapes=[{"brokers": 1}, {"brokers": 3, "partitions": 6}])
def test_b(frida_step):
    print("SAW", frida_step.cluster.bootstrap, frida_step.shape.label)


@pytest.mark.capacity(producers=[2])
def test_plain(frida_step):
    print("SAW", frida_step.cluster.bootstrap, None)
"""


@pytest.fixture
def recording(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(RECORDING_CONFTEST)
    return pytester


def _log(pytester: pytest.Pytester) -> list[str]:
    path = pytester.path / "sites.log"
    return path.read_text().splitlines() if path.exists() else []


def _ids(result: pytest.RunResult) -> list[str]:
    return [line.split("::", 1)[1] for line in result.outlines if "::" in line]


def test_items_carry_the_shape_and_run_grouped_by_cluster(recording: pytest.Pytester) -> None:
    recording.makepyfile(test_cap=TWO_TESTS)
    result = recording.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    # the session's cluster (1 broker) first, as test_a's first item asks for 3 brokers:
    # the 3-broker shapes (test_b's 3b-6p differs only in its topic) share one cluster
    assert _ids(result) == [
        "test_a[shape=3b-producers=1]",
        "test_a[shape=3b-producers=4]",
        "test_b[shape=3b-6p-producers=2]",
        "test_a[shape=1b-producers=1]",
        "test_a[shape=1b-producers=4]",
        "test_b[shape=1b-producers=2]",
        "test_plain[producers=2]",
    ]
    assert _log(recording) == []  # collecting starts nothing


def test_one_cluster_at_a_time_each_shape_on_its_own(recording: pytest.Pytester) -> None:
    recording.makepyfile(test_cap=TWO_TESTS)
    result = recording.runpytest("-s", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert _log(recording) == ["start 3 -", "stop", "start 1 -", "stop"]
    saw = [line.split("SAW ", 1)[1].split() for line in result.outlines if "SAW " in line]
    assert saw == [
        ["3b--", "3b"],
        ["3b--", "3b"],
        ["3b--", "3b-6p"],
        ["1b--", "1b"],
        ["1b--", "1b"],
        ["1b--", "1b"],
        ["1b--", "None"],
    ]


def test_broker_settings_merge_over_the_sessions(recording: pytest.Pytester) -> None:
    recording.makepyfile(
        test_cap="""
        import pytest

        @pytest.mark.capacity(
            producers=[1], shapes=[{"broker_config": {"num.io.threads": "2"}}, {}]
        )
        def test_a(frida_step):
            pass
        """
    )
    result = recording.runpytest("-q", "--frida-broker-config=num.io.threads=8,x.y=1")
    assert result.ret == pytest.ExitCode.OK
    assert _log(recording) == [
        "start 1 num.io.threads=2,x.y=1",
        "stop",
        "start 1 num.io.threads=8,x.y=1",
        "stop",
    ]


def test_a_shape_that_cannot_start_fails_its_items_and_the_next_shape_runs(
    recording: pytest.Pytester,
) -> None:
    recording.makepyfile(
        test_cap="""
        import pytest

        @pytest.mark.capacity(producers=[1, 2], shapes=[{"brokers": 5}, {"brokers": 2}])
        def test_a(frida_step):
            pass
        """
    )
    result = recording.runpytest("-q")
    result.assert_outcomes(passed=2, errors=2)  # one line each, no traceback
    result.stdout.fnmatch_lines(
        ["frida: the local site could not start Kafka: five brokers do not fit here"] * 2
    )
    assert _log(recording) == ["start 5 -", "start 2 -", "stop"]  # tried once, not twice


def test_the_option_wins_over_the_marker_and_the_ini_file(recording: pytest.Pytester) -> None:
    recording.makepyfile(test_cap=TWO_TESTS)
    recording.makeini("[pytest]\nfrida_shapes = brokers=2\n")
    result = recording.runpytest("--collect-only", "-q", "--frida-shapes=brokers=3;brokers=4")
    assert [i for i in _ids(result) if i.startswith("test_plain")] == [
        "test_plain[shape=3b-producers=2]",
        "test_plain[shape=4b-producers=2]",
    ]
    result = recording.runpytest("--collect-only", "-q")
    assert "test_plain[shape=2b-producers=2]" in _ids(result)
    assert "test_a[shape=1b-producers=1]" in _ids(result)  # the marker wins over the ini


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('shapes=[{"brokerz": 3}]', "unknown shape key(s) brokerz"),
        ('shapes=[{"brokers": 2, "replication": 3}]', "shape 2b-rf3: replication=3 needs"),
        ('shapes=[{"min_insync": 2}]', "min_insync=2 is more than its replication 1"),
    ],
)
def test_a_bad_shape_fails_collection_with_one_line(
    recording: pytest.Pytester, marker: str, message: str
) -> None:
    recording.makepyfile(
        test_cap=f"import pytest\n\n@pytest.mark.capacity({marker})\n"
        "def test_a(frida_step):\n    pass\n"
    )
    result = recording.runpytest("-q")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*test_cap.py::test_a: capacity marker argument shapes*"])
    assert any(message in line for line in result.outlines)
    assert _log(recording) == []


def test_a_bad_option_stops_the_session_before_anything(recording: pytest.Pytester) -> None:
    recording.makepyfile(test_cap=TWO_TESTS)
    result = recording.runpytest("-q", "--frida-shapes=brokers=1,replication=2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: pytest-frida: --frida-shapes shape 1b-rf2: replication=2 needs at least 2*"]
    )


def test_a_shaped_test_may_not_ask_for_the_sessions_cluster(recording: pytest.Pytester) -> None:
    recording.makepyfile(
        test_cap="""
        import pytest

        @pytest.mark.capacity(shapes=[{"brokers": 3}])
        def test_a(frida_step, frida_bootstrap):
            pass
        """
    )
    result = recording.runpytest("-q")
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*runs on its shape's cluster*use frida_step.cluster*"])
    assert _log(recording) == []


def test_an_interrupted_run_stops_the_shape_cluster_it_is_on(recording: pytest.Pytester) -> None:
    recording.makepyfile(
        test_cap="""
        import pytest

        @pytest.mark.capacity(producers=[1], shapes=[{"brokers": 2}, {"brokers": 3}])
        def test_a(frida_step):
            if frida_step.shape.brokers == 3:
                raise KeyboardInterrupt
        """
    )
    recorded = recording.inline_run("-q", no_reraise_ctrlc=True)
    assert recorded.ret == pytest.ExitCode.INTERRUPTED
    assert _log(recording) == ["start 2 -", "stop", "start 3 -", "stop"]


def test_under_xdist_each_worker_has_one_cluster_at_a_time(recording: pytest.Pytester) -> None:
    recording.makepyfile(test_cap=TWO_TESTS)
    result = recording.runpytest_subprocess("-q", "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=7)
    lines = [line.split(" ", 1) for line in _log(recording)]
    workers = {worker for worker, _ in lines}
    assert workers and workers <= {"gw0", "gw1"}
    for worker in workers:
        own = [event.split()[0] for w, event in lines if w == worker]
        # start, stop, start, stop...: never a second start before the first stopped
        assert own == ["start", "stop"] * (len(own) // 2), own


def test_the_plan_says_how_many_clusters_start_in_turn(recording: pytest.Pytester) -> None:
    recording.makepyfile(test_cap=TWO_TESTS)
    result = recording.runpytest("-q", "--frida-plan", "--frida-prime=5")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*test_cap.py::test_a[[]shape=3b[]]:*",
            "*load time, at least: * the priming included (10s, up to 40s*",
            "*cluster shapes: 2 clusters, one at a time*",
        ]
    )
    assert _log(recording) == []
