"""SLO verdicts, the terminal summary and the run report, without a broker.

This is NOT a fake broker. The inner sessions below override two fixtures in their
conftest: `frida_cluster` (so no cluster starts) and `frida_runner`, whose `run()` returns
hand-built StepResults with the verdicts computed by the plan's own SLO
(`plan.slo.evaluate(...)`). Only the measuring step is replaced; everything the plugin does
with a step's result (failing, skipping, the summary table, report.json and steps.csv) is
the real code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

FAKE_RUNNER = '''

import pytest

from pytest_frida.measure.accounting import DeliveryCounts
from pytest_frida.measure.result import StepResult

#: what the "measurement" of each producer count yields: verdict, p99 ms, messages lost
SCRIPT = {
    1: ("pass", 120.0, 0),
    10: ("fail", 300.0, 0),
    20: ("fail", 200.0, 3),
    50: ("generator_bound", 90.0, 0),
    99: ("error", None, None),
}


class FakeRunner:
    """Stands in for StepRunner: returns a hand-built result instead of measuring."""

    def run(self, test, plan, producers, progress=None, faults=()):
        verdict, p99, lost = SCRIPT[producers]
        step = StepResult(
            test=test, producers=producers, rate_per_producer=plan.rate,
            duration_s=plan.duration, warmup_s=plan.warmup, message_size=plan.message_size,
            partitions=plan.partitions, slo=str(plan.slo),
        )
        if verdict == "error":
            step.error = "the producer agents never reported"
        else:
            sent = int(producers * plan.rate * plan.duration)
            step.counts = DeliveryCounts(sent=sent, acked=sent, received=sent - lost,
                                         lost=lost, duplicated=0, out_of_order=0)
            step.achieved_rate = producers * plan.rate
            step.latency = {"p50": 10.0, "p99": p99, "max": p99 + 5}
        if verdict == "generator_bound":
            step.generator_bound = True
            step.reasons = ["producer agents used 97% of a core"]
        step.verdicts = plan.slo.evaluate(step.slo_metrics())
        step.verdict = verdict
        return step


@pytest.fixture(scope="session")
def frida_cluster():
    yield "no cluster: the measuring step is replaced"


@pytest.fixture(scope="session")
def frida_runner():
    return FakeRunner()
'''


def sweep(producers: list[int], body: str = "assert frida_result.producers > 0") -> str:
    return (
        "import pytest\n\n\n"
        f'@pytest.mark.capacity(producers={producers}, rate=20, slo="p99<=250ms, loss==0")\n'
        "def test_ingest(frida_result):\n"
        f"    {body}\n"
    )


@pytest.fixture
def fake(no_broker: pytest.Pytester) -> pytest.Pytester:
    """A pytester whose inner sessions measure nothing: the runner returns scripted steps
    (and any real broker start is refused and recorded by the no_broker conftest)."""
    conftest = no_broker.path / "conftest.py"
    conftest.write_text(conftest.read_text() + FAKE_RUNNER)
    return no_broker


def assert_block(result: pytest.RunResult, block: list[str]) -> None:
    """`block` appears verbatim as consecutive lines of the output (the first one may be
    prefixed, e.g. by pytest's 'E   ' or a node id)."""
    lines = result.outlines
    for i, line in enumerate(lines):
        if line.endswith(block[0]) and lines[i + 1 : i + len(block)] == block[1:]:
            return
    raise AssertionError(f"{block} not found in:\n" + "\n".join(lines))


def run_dirs(report_dir: Path) -> list[Path]:
    return sorted(p for p in report_dir.iterdir() if p.is_dir())


def test_passing_step_passes(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_sweep=sweep([1]))
    result = fake.runpytest(f"--frida-report-dir={fake.path / 'r'}")
    result.assert_outcomes(passed=1)


def test_failing_step_fails_with_measured_vs_required(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_sweep=sweep([10, 20]))
    result = fake.runpytest(f"--frida-report-dir={fake.path / 'r'}")
    result.assert_outcomes(failed=2)
    # the SLO is completed with the delivery guards (unacked==0, failed==0)
    assert_block(
        result,
        [
            "SLO violated at 10 producers x 20 msg/s (p99<=250ms, loss==0, unacked==0, failed==0):",
            "  p99<=250ms: measured 300ms [VIOLATED]",
            "  loss==0: measured 0 [ok]",
            "  unacked==0: measured 0 [ok]",
            "  failed==0: measured 0 [ok]",
        ],
    )
    assert_block(
        result,
        [
            "SLO violated at 20 producers x 20 msg/s (p99<=250ms, loss==0, unacked==0, failed==0):",
            "  p99<=250ms: measured 200ms [ok]",
            "  loss==0: measured 3 [VIOLATED]",
            "  unacked==0: measured 0 [ok]",
            "  failed==0: measured 0 [ok]",
        ],
    )
    assert "Traceback" not in result.stdout.str()


def test_failing_step_fails_even_when_the_body_passes(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_sweep=sweep([10], body="pass"))
    result = fake.runpytest(f"--frida-report-dir={fake.path / 'r'}")
    result.assert_outcomes(failed=1)


def test_generator_bound_step_is_skipped(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_sweep=sweep([50]))
    result = fake.runpytest("-rs", f"--frida-report-dir={fake.path / 'r'}")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] *: generator_bound: producer agents used 97% of a core"]
    )
    result.stdout.fnmatch_lines(
        [
            "*test_ingest[[]producers=50[]] at 50 producers:"
            " generator_bound, decides nothing: producer agents used*"
        ]
    )


def test_unmeasured_step_fails(fake: pytest.Pytester) -> None:
    fake.makepyfile(test_sweep=sweep([99]))
    result = fake.runpytest(f"--frida-report-dir={fake.path / 'r'}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*step with 99 producers could not be measured: the producer agents never reported"]
    )


def test_summary_table_and_report_files(fake: pytest.Pytester) -> None:
    report_dir = fake.path / "reports"
    fake.makepyfile(test_sweep=sweep([1, 10, 50, 99]))
    result = fake.runpytest(f"--frida-report-dir={report_dir}")
    result.assert_outcomes(passed=1, failed=2, skipped=1)
    assert not (fake.path / "BROKER_STARTED").exists()

    out = result.stdout.str()
    assert "frida capacity report (local, Kafka " in out
    result.stdout.fnmatch_lines(
        [
            "*frida capacity report (local, Kafka *",
            "test *producers*target/s*achieved/s*p50 ms*p99 ms*max ms*lost*unacked*failed*verdict",
            "-*",
            "test_ingest *1 *20 *20.0 *10.0 *120.0 *125.0 *0 *0 *0 *pass",
            "test_ingest *10 *200 *200.0 *10.0 *300.0 *305.0 *0 *0 *0 *fail",
            "test_ingest *10 *200 *200.0 *10.0 *300.0 *305.0 *0 *0 *0 *fail",
            "test_ingest *1 *20 *20.0 *10.0 *120.0 *125.0 *0 *0 *0 *pass",
            "test_ingest *50 *1000 *1000.0 *10.0 *90.0 *95.0 *0 *0 *0 *generator_bound",
            "test_ingest *99 *1980 *0.0 *- *- *- *- *- *- *error",
        ]
    )
    # the knee is confirmed: the failure measured again, then the pass below it
    assert sum(line.startswith("test_ingest ") for line in result.outlines) == 6
    result.stdout.fnmatch_lines(
        [
            "capacity limit of test_sweep.py::test_ingest: 1 producers,"
            " confirmed (passes at 1 (2 of 2), fails at 10 (2 of 2))*"
        ]
    )

    (run_dir,) = run_dirs(report_dir)
    result.stdout.fnmatch_lines(
        [f"report: {run_dir / 'report.html'}  data: {run_dir / 'report.json'}, *steps.csv"]
    )
    report = json.loads((run_dir / "report.json").read_text())
    for key in (
        "run_id",
        "site",
        "kafka_version",
        "client",
        "machine",
        "started_at",
        "finished_at",
        "status",
        "steps",
    ):
        assert key in report
    assert report["run_id"] == run_dir.name
    assert report["status"] == "finished"
    assert report["site"] == "local"
    assert report["client"] == "confluent-kafka"
    assert report["finished_at"] >= report["started_at"]
    assert [s["producers"] for s in report["steps"]] == [1, 10, 10, 1, 50, 99]
    assert [s["verdict"] for s in report["steps"]] == [
        "pass",
        "fail",
        "fail",
        "pass",
        "generator_bound",
        "error",
    ]
    assert report["steps"][1]["verdicts"] == [
        {"clause": "p99<=250ms", "measured": 300.0, "passed": False},
        {"clause": "loss==0", "measured": 0, "passed": True},
        {"clause": "unacked==0", "measured": 0, "passed": True},
        {"clause": "failed==0", "measured": 0, "passed": True},
    ]

    steps = pd.read_csv(run_dir / "steps.csv")
    assert len(steps) == 6
    assert steps["producers"].tolist() == [1, 10, 10, 1, 50, 99]
    assert steps["verdict"].tolist() == ["pass", "fail", "fail", "pass", "generator_bound", "error"]
    assert (steps["run_id"] == run_dir.name).all()
    assert steps["p99_ms"].tolist()[:5] == [120.0, 300.0, 300.0, 120.0, 90.0]
    assert pd.isna(steps["p99_ms"].iloc[5])
    assert steps["generator_bound"].tolist() == [False, False, False, False, True, False]
    # the pass below the knee is measured again by the item that found the knee
    assert [t.rsplit("::", 1)[1] for t in steps["test"]] == [
        f"test_ingest[producers={n}]" for n in (1, 10, 10, 10, 50, 99)
    ]


@pytest.mark.parametrize(
    ("ini", "args", "rate", "slo"),
    [
        ("", [], 20.0, "p99<=250ms, loss==0, unacked==0, failed==0"),
        (
            "frida_rate = 5\nfrida_slo = p99<=1s",
            [],
            20.0,
            "p99<=250ms, loss==0, unacked==0, failed==0",
        ),
        (
            "frida_rate = 5",
            ["--frida-rate=7", "--frida-slo=p99<=2s"],
            7.0,
            "p99<=2s, loss==0, unacked==0, failed==0",
        ),
    ],
    ids=["marker", "marker-beats-ini", "cli-beats-marker"],
)
def test_precedence_reaches_the_step(
    fake: pytest.Pytester, ini: str, args: list[str], rate: float, slo: str
) -> None:
    """command line > marker > ini > default, as seen by the step runner"""
    if ini:
        fake.makefile(".ini", pytest=f"[pytest]\n{ini}\n")
    report_dir = fake.path / "reports"
    fake.makepyfile(test_sweep=sweep([1]))
    fake.runpytest(f"--frida-report-dir={report_dir}", *args).assert_outcomes(passed=1)
    (run_dir,) = run_dirs(report_dir)
    steps = pd.read_csv(run_dir / "steps.csv")
    assert steps["rate_per_producer"].tolist() == [rate]
    assert steps["slo"].tolist() == [slo]


def test_inprocess_and_subprocess_agree(fake: pytest.Pytester) -> None:
    """The fake-runner session in a fresh interpreter (entry-point loading, real exit)."""
    report_dir = fake.path / "reports"
    fake.makepyfile(test_sweep=sweep([1, 10]))
    result = fake.runpytest_subprocess(
        f"--frida-report-dir={report_dir}", "-p", "no:hypothesispytest"
    )
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*p99<=250ms: measured 300ms [[]VIOLATED[]]*"])
    (run_dir,) = run_dirs(report_dir)
    assert pd.read_csv(run_dir / "steps.csv")["verdict"].tolist() == [
        "pass",
        "fail",
        "fail",
        "pass",
    ]


def sequenced(sequence: dict[int, list[tuple[str, float, int]]]) -> str:
    """A conftest addition whose runner measures each count's scripted (verdict, p99 ms,
    messages lost) in turn, and a pass once its script is spent or where it has none."""
    return f"""

SEQUENCE = {sequence!r}


class SequenceRunner(FakeRunner):
    def run(self, test, plan, producers, progress=None, faults=()):
        script = SEQUENCE.get(producers)
        SCRIPT[producers] = script.pop(0) if script else ("pass", 120.0, 0)
        return super().run(test, plan, producers, progress, faults)


@pytest.fixture(scope="session")
def frida_runner():
    return SequenceRunner()
"""


#: count 5 fails once (a transient) then passes; count 20 fails every time
ONE_OFF = sequenced(
    {
        5: [("fail", 300.0, 0), ("pass", 120.0, 0), ("pass", 120.0, 0)],
        20: [("fail", 300.0, 0), ("fail", 300.0, 0)],
    }
)


def test_a_one_off_failure_in_a_sweep_is_outvoted(fake: pytest.Pytester) -> None:
    conftest = fake.path / "conftest.py"
    conftest.write_text(conftest.read_text() + ONE_OFF)
    report_dir = fake.path / "reports"
    fake.makepyfile(test_sweep=sweep([1, 5, 20]))
    result = fake.runpytest(f"--frida-report-dir={report_dir}")
    # 5 failed once then passed twice: it passes; 20 failed twice: it fails
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*failed 2 of 2 trials*",
            "capacity limit of test_sweep.py::test_ingest: 5 producers,"
            " confirmed (passes at 5 (2 of 3), fails at 20 (2 of 2))*",
        ]
    )
    (run_dir,) = run_dirs(report_dir)
    steps = pd.read_csv(run_dir / "steps.csv")
    assert steps["producers"].tolist() == [1, 5, 5, 5, 20, 20]


#: count 20 loses 5 acknowledged messages once, then passes
LOST_ONCE = sequenced({20: [("fail", 120.0, 5)]})


def test_lost_messages_are_never_outvoted(fake: pytest.Pytester) -> None:
    conftest = fake.path / "conftest.py"
    conftest.write_text(conftest.read_text() + LOST_ONCE)
    report_dir = fake.path / "reports"
    fake.makepyfile(test_sweep=sweep([1, 20]))
    result = fake.runpytest(f"--frida-report-dir={report_dir}")
    # no second trial: a lost message is a failure no pass can outvote
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*loss==0: measured 5 [[]VIOLATED[]]*"])
    (run_dir,) = run_dirs(report_dir)
    steps = pd.read_csv(run_dir / "steps.csv")
    assert steps["producers"].tolist() == [1, 20, 1]  # the pass below re-measured only
