"""The capacity marker: parametrisation by producer count, overrides from the command line
and ini file, validation at collection time, and what happens before any broker starts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

MARKET_DATA = Path(__file__).parents[2] / "examples" / "capacity" / "test_market_data.py"
HOST_LIMIT = Path(__file__).parents[2] / "examples" / "capacity" / "test_host_limit.py"


def collected_ids(result: pytest.RunResult) -> list[str]:
    """The test ids `--collect-only -q` printed, in order."""
    return [line.split("::", 1)[1] for line in result.outlines if "::" in line]


def capacity_file(marker_args: str, signature: str = "frida_producers") -> str:
    return (
        "import pytest\n\n\n"
        f"@pytest.mark.capacity({marker_args})\n"
        f"def test_cap({signature}):\n"
        "    pass\n"
    )


@pytest.mark.parametrize("signature", ["frida_producers", "frida_result", "frida_step", ""])
def test_marker_parametrises_by_producer_count(pytester: pytest.Pytester, signature: str) -> None:
    pytester.makepyfile(
        test_cap=capacity_file(
            'producers=[1, 10, 50], rate=20, slo="p99<=250ms, loss==0"', signature
        )
    )
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert collected_ids(result) == [
        "test_cap[producers=1]",
        "test_cap[producers=10]",
        "test_cap[producers=50]",
    ]


def test_marker_producers_are_sorted_and_deduplicated(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cap=capacity_file("producers=[50, 1, 10, 1]"))
    result = pytester.runpytest("--collect-only", "-q")
    assert collected_ids(result) == [
        "test_cap[producers=1]",
        "test_cap[producers=10]",
        "test_cap[producers=50]",
    ]


def test_marker_on_a_class_applies_to_its_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_cap="""
        import pytest

        @pytest.mark.capacity(producers=[2, 4])
        class TestSweep:
            def test_a(self, frida_producers):
                pass
    """
    )
    result = pytester.runpytest("--collect-only", "-q")
    assert collected_ids(result) == [
        "TestSweep::test_a[producers=2]",
        "TestSweep::test_a[producers=4]",
    ]


@pytest.mark.parametrize(
    ("ini", "args", "expected"),
    [
        ("", ["--frida-producers=2,3"], [2, 3]),
        ("frida_producers = 4", [], [4]),
        ("frida_producers = 4", ["--frida-producers=2,3"], [2, 3]),
        ("frida_producers = 7, 5", [], [5, 7]),
    ],
    ids=["cli", "ini", "cli-beats-ini", "ini-list"],
)
def test_producers_override_the_marker(
    pytester: pytest.Pytester, capacity_test: str, ini: str, args: list[str], expected: list[int]
) -> None:
    if ini:
        pytester.makefile(".ini", pytest=f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_cap=capacity_test)
    result = pytester.runpytest("--collect-only", "-q", *args)
    assert result.ret == pytest.ExitCode.OK
    assert collected_ids(result) == [f"test_cap[producers={n}]" for n in expected]


@pytest.mark.parametrize(
    ("marker_args", "problem"),
    [
        pytest.param(
            "producers=[0]", "producers=[0]: 0 is not a positive whole number", id="producers=[0]"
        ),
        pytest.param("rate=-1", "rate=-1: expected a positive number", id="rate=-1"),
        pytest.param("slo='nonsense'", "clause 'nonsense' does not parse", id="slo=nonsense"),
        pytest.param("rat=5", "unknown argument(s) rat; accepted: producers", id="unknown-keyword"),
        pytest.param(
            "[1, 10]", "@pytest.mark.capacity takes keyword arguments only", id="positional"
        ),
    ],
)
def test_bad_marker_fails_collection_with_one_line(
    pytester: pytest.Pytester, marker_args: str, problem: str
) -> None:
    pytester.makepyfile(test_cap=capacity_file(marker_args))
    result = pytester.runpytest("--collect-only", "-q", "-rN")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    output = "\n".join(result.outlines + result.errlines)
    assert "ERROR collecting test_cap.py" in output
    assert "Traceback" not in output
    assert "During handling of the above exception" not in output
    lines = [line for line in result.outlines if problem in line]
    assert len(lines) == 1, output
    assert lines[0].startswith("test_cap.py::test_cap: ")


def test_strict_markers_accepts_capacity(pytester: pytest.Pytester, capacity_test: str) -> None:
    pytester.makepyfile(test_cap=capacity_test)
    result = pytester.runpytest("--strict-markers", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert len(collected_ids(result)) == 3
    markers = pytester.runpytest("--markers").stdout.str()
    assert "@pytest.mark.capacity(producers=" in markers


def test_disabled_plugin_does_not_know_frida_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest("-p", "no:frida", "--frida-rate=3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --frida-rate=3*"])
    assert "Traceback" not in result.stderr.str()


def test_disabled_plugin_leaves_plain_tests_alone(
    pytester: pytest.Pytester, capacity_test: str
) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.makepyfile(test_cap=capacity_test)
    # a subprocess: in-process, the outer session has imported pytest_frida already, and
    # some installs then warn that it cannot be assertion-rewritten
    result = pytester.runpytest_subprocess("-p", "no:frida", "test_plain.py")
    result.assert_outcomes(passed=1)
    assert "frida" not in result.stdout.str().replace(str(pytester.path), "")
    # without the plugin the marker does nothing: one item, not one per producer count
    result = pytester.runpytest("-p", "no:frida", "--collect-only", "-q", "test_cap.py")
    assert collected_ids(result) == ["test_cap"]
    help_text = pytester.runpytest("-p", "no:frida", "--help").stdout.str()
    assert "--frida-" not in help_text


def test_collect_only_starts_no_broker_and_writes_no_report(no_broker: pytest.Pytester) -> None:
    report_dir = no_broker.path / "reports"
    # README's main job, collected as it is (CI leaves running it to people)
    no_broker.makepyfile(
        test_market_data=MARKET_DATA.read_text(), test_host_limit=HOST_LIMIT.read_text()
    )
    result = no_broker.runpytest("--collect-only", "-q", f"--frida-report-dir={report_dir}")
    assert result.ret == pytest.ExitCode.OK
    assert collected_ids(result) == ["test_host_capacity[search=4:64:5%]"] + [
        f"test_market_data_ingestion[producers={n}]" for n in (1, 5, 20, 50)
    ]
    assert not (no_broker.path / "BROKER_STARTED").exists()
    assert not report_dir.exists()


def test_steps_without_measurement_write_no_report(
    no_broker: pytest.Pytester, capacity_test: str
) -> None:
    """A capacity test that only reads frida_producers runs without a cluster."""
    report_dir = no_broker.path / "reports"
    no_broker.makepyfile(test_cap=capacity_test)
    result = no_broker.runpytest(f"--frida-report-dir={report_dir}")
    result.assert_outcomes(passed=3)
    assert not (no_broker.path / "BROKER_STARTED").exists()
    assert not report_dir.exists()
    assert "frida capacity report" not in result.stdout.str()


def test_broker_guard_notices_a_broker_start(no_broker: pytest.Pytester) -> None:
    """Guard of the guard: the no_broker conftest does see a cluster being started, so the
    'no broker' checks above can fail."""
    no_broker.makepyfile(test_cap=capacity_file("producers=[1]", "frida_result"))
    result = no_broker.runpytest(f"--frida-report-dir={no_broker.path / 'reports'}")
    result.assert_outcomes(errors=1)
    assert (no_broker.path / "BROKER_STARTED").exists()
    result.stdout.fnmatch_lines(["*a plugin test tried to start a broker*"])


def test_frida_producers_without_marker_fails(no_broker: pytest.Pytester) -> None:
    no_broker.makepyfile(test_nomark="def test_x(frida_producers):\n    pass\n")
    result = no_broker.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*frida_producers*@pytest.mark.capacity(...)*"])
    assert "Traceback" not in result.stdout.str()


def test_frida_result_without_marker_fails_before_the_broker(no_broker: pytest.Pytester) -> None:
    no_broker.makepyfile(test_nomark="def test_x(frida_result):\n    pass\n")
    result = no_broker.runpytest(f"--frida-report-dir={no_broker.path / 'reports'}")
    result.assert_outcomes(errors=1)
    assert not (no_broker.path / "BROKER_STARTED").exists()
    result.stdout.fnmatch_lines(["*@pytest.mark.capacity(...)*"])


def test_plan_says_what_the_capacity_suites_would_do_and_starts_nothing(
    pytester: pytest.Pytester,
) -> None:
    """`--frida-plan` on the README's two suites: every test's steps and load time, and
    nothing started, reserved or written."""
    pytester.copy_example(str(MARKET_DATA))
    pytester.copy_example(str(HOST_LIMIT))
    result = pytester.runpytest(
        "--frida-plan", "-p", "no:cacheprovider", "--frida-report-dir=reports"
    )
    assert result.ret == pytest.ExitCode.OK, result.outlines[-20:]
    out = "\n".join(result.outlines)
    assert "frida plan: nothing is reserved or started" in out
    assert "site local: nothing to reserve" in out
    # the sweep: 1,000 samples at 1 x 10 msg/s would take 100 s, past the 60 s cap: left
    # at 10 s, and said to be insufficient; 5 producers get 20 s
    assert "test_market_data.py::test_market_data_ingestion: 10 msg/s per producer" in out
    assert "4 steps at 1, 5, 20, 50 producers: 58s of load" in out
    assert "windows lengthened for the SLO's samples at 5 (20s)" in out
    assert "insufficient (deciding nothing) at 1 (100 of 1000)" in out
    # the search: a failure at 4 confirmed at least, its noisy budget at most
    assert "test_host_limit.py::test_host_capacity: 500 msg/s per producer" in out
    assert "search 4:64:5%: 2 to 24 steps" in out
    # the two tests' load, and the cluster's one priming
    assert re.search(
        r"load time, at least: [0-9.]+ to [0-9.]+ min, the priming included \(5s, up to 20s", out
    ), out
    assert "5 deselected" in out
    assert not (pytester.path / "reports").exists()


def test_plan_with_xdist_is_refused_rather_than_running_the_suite(
    pytester: pytest.Pytester,
) -> None:
    # xdist's workers collect, and the controller has no items to print a plan for
    pytester.copy_example(str(MARKET_DATA))
    result = pytester.runpytest("--frida-plan", "-n", "2", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    refusal = (
        "ERROR: pytest-frida: --frida-plan says what one run would do: run it"
        " without -n, --dist and --tx"
    )
    assert refusal in result.errlines
    for args in (("--dist", "load", "--tx", "popen"), ("--tx", "2*popen")):
        result = pytester.runpytest("--frida-plan", *args, "-p", "no:cacheprovider")
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.outlines[-10:]
        assert refusal in result.errlines


def test_a_plan_that_says_the_run_would_stop_exits_1(pytester: pytest.Pytester) -> None:
    """Scripts (and CI) read the exit status: a plan that found the run cannot go is a
    failure, not a success that printed a warning."""
    pytester.copy_example(str(MARKET_DATA))
    hosts = pytester.path / "hosts.txt"
    hosts.write_text("only-one-host\n")
    result = pytester.runpytest(
        "--frida-plan", f"--frida-site=hosts:{hosts}", "--frida-brokers=3", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.outlines[-20:]
    assert (
        "  would stop: 1 host(s) for 3 broker(s): at least 4 are needed (brokers, then"
        " producer hosts)"
    ) in result.outlines


def test_plan_counts_each_parametrisation_of_a_capacity_test(pytester: pytest.Pytester) -> None:
    """A capacity test parametrised by something else than producers is several tests,
    each with its own steps and load time."""
    pytester.makepyfile(
        test_two="""
import pytest

@pytest.mark.parametrize("size", [100, 1000])
@pytest.mark.capacity(producers=[1, 2], rate=10, duration=10, slo="loss==0")
def test_sizes(frida_result, size):
    pass
"""
    )
    result = pytester.runpytest("--frida-plan", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK, result.outlines[-20:]
    out = "\n".join(result.outlines)
    assert "test_two.py::test_sizes[size=100]: 10 msg/s per producer" in out, out
    assert "test_two.py::test_sizes[size=1000]: 10 msg/s per producer" in out, out
    assert out.count("2 steps at 1, 2 producers") == 2, out
    assert "4 deselected" in out
