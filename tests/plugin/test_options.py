"""Command-line options and ini keys: listed in --help, validated in pytest_configure
(before any broker could start) into a one-line usage error."""

from __future__ import annotations

import signal

import pytest

from pytest_frida.fixtures import RUN_KEY

OPTION_NAMES = (
    "site",
    "producers",
    "rate",
    "duration",
    "warmup",
    "message-size",
    "slo",
    "report-dir",
    "kafka-version",
    "kafka-home",
    "brokers",
    "partitions",
    "client",
    "kafka-image",
    "producers-per-replica",
    "nodes",
    "cluster",
    "walltime",
    "queue",
    "job-type",
    "reservation",
    "job-name",
    "job-id",
    "keep",
    "ssh-config",
    "clock-correction",
    "runtime",
    "images",
    "producers-per-node",
    "clock-sync",
    "consumers",
    "plan",
    "prime",
)


def assert_one_usage_error(result: pytest.RunResult, *fragments: str) -> str:
    """Exit code 4, exactly one 'ERROR: pytest-frida:' line holding every fragment, and
    no traceback anywhere."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = "\n".join(result.outlines + result.errlines)
    assert "Traceback" not in output
    errors = [
        line
        for line in result.errlines + result.outlines
        if line.startswith("ERROR: pytest-frida:")
    ]
    assert len(errors) == 1, output
    for fragment in fragments:
        assert fragment in errors[0]
    return errors[0]


def test_help_lists_every_option_and_ini_key(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "broker capacity tests (pytest-frida):" in out
    ini_section = out.index("configuration options in the first")
    for name in OPTION_NAMES:
        flag = out.find(f"--frida-{name}=")
        assert 0 <= flag < ini_section, f"--frida-{name} missing from the options"
        ini_key = "frida_" + name.replace("-", "_")
        assert f"  {ini_key} (string):" in out[ini_section:], f"ini {ini_key} missing"


# (command-line argument, fragments the error line must contain: the flag, the bad value and
# what would have been accepted)
BAD_OPTIONS = [
    (
        "--frida-site=Mars!",
        (
            "--frida-site",
            "'Mars!'",
            "expected local, docker, swarm, hosts:FILE or a Grid'5000 site name such as sophia",
        ),
    ),
    ("--frida-walltime=forever", ("--frida-walltime", "'forever'", "H:MM:SS")),
    (
        "--frida-kafka-image=Apache Kafka",
        ("--frida-kafka-image", "'Apache Kafka'", "such as apache/kafka:4.4.0"),
    ),
    (
        "--frida-producers-per-replica=0",
        ("--frida-producers-per-replica", "'0'", "positive whole number"),
    ),
    ("--frida-runtime=k8s", ("--frida-runtime", "'k8s'", "accepted: swarm, ssh")),
    (
        "--frida-producers-per-node=7",
        ("--frida-producers-per-node", "7", "multiple of --frida-producers-per-replica=10"),
    ),
    ("--frida-producers=1,x", ("--frida-producers", "'x'", "1,10,100")),
    ("--frida-producers=0", ("--frida-producers", "'0'", "positive whole number")),
    ("--frida-producers=-5", ("--frida-producers", "'-5'", "positive whole number")),
    ("--frida-rate=0", ("--frida-rate", "'0'", "expected a positive number")),
    ("--frida-rate=-1", ("--frida-rate", "'-1'", "expected a positive number")),
    ("--frida-rate=abc", ("--frida-rate", "'abc'", "expected a positive number")),
    ("--frida-duration=0", ("--frida-duration", "'0'", "expected a positive number")),
    ("--frida-warmup=-1", ("--frida-warmup", "'-1'", "expected a number >= 0")),
    ("--frida-prime=-1", ("--frida-prime", "'-1'", "expected seconds from 0 to 300")),
    ("--frida-slo=p99<=250", ("--frida-slo", "'p99<=250'", "needs a unit us, ms or s")),
    ("--frida-slo=p98<1ms", ("--frida-slo", "'p98'", "known: p50")),
    ("--frida-message-size=10", ("--frida-message-size", "'10'", "between 64 and 999000")),
    ("--frida-client=nope", ("--frida-client", "'nope'", "accepted: confluent-kafka")),
    ("--frida-kafka-version=banana", ("--frida-kafka-version", "'banana'", "release number like")),
    ("--frida-brokers=0", ("--frida-brokers", "'0'", "positive whole number")),
    ("--frida-partitions=abc", ("--frida-partitions", "'abc'", "positive whole number")),
    ("--frida-consumers=0", ("--frida-consumers", "'0'", "expected auto or a positive whole")),
    ("--frida-consumers=lots", ("--frida-consumers", "'lots'", "expected auto or a positive")),
    (
        "--frida-report-dir={file}/reports",
        ("--frida-report-dir", "{file}/reports", "not a writable directory"),
    ),
]


@pytest.mark.parametrize(
    ("arg", "fragments"), BAD_OPTIONS, ids=[arg.removeprefix("--frida-") for arg, _ in BAD_OPTIONS]
)
def test_bad_option_is_a_usage_error(
    pytester: pytest.Pytester, arg: str, fragments: tuple[str, ...]
) -> None:
    regular_file = pytester.makefile(".txt", not_a_dir="plain file")
    arg = arg.format(file=regular_file)
    fragments = tuple(f.format(file=regular_file) for f in fragments)
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError\n")
    result = pytester.runpytest(arg)
    assert_one_usage_error(result, "pytest-frida:", *fragments)
    result.stdout.no_fnmatch_line("*test_never_runs*")


# (ini line, fragments): the message names the ini key, not a command-line flag
BAD_INI = [
    ("frida_rate = 0", ("ini frida_rate", "'0'", "expected a positive number")),
    ("frida_site = Mars!", ("ini frida_site", "'Mars!'", "a Grid'5000 site name")),
    ("frida_producers = 1,0", ("ini frida_producers", "'0'", "positive whole number")),
    ("frida_slo = p99<=250", ("ini frida_slo", "'p99<=250'", "needs a unit")),
    ("frida_message_size = 10", ("ini frida_message_size", "'10'", "between 64")),
    ("frida_warmup = -1", ("ini frida_warmup", "'-1'", "number >= 0")),
    ("frida_client = nope", ("ini frida_client", "'nope'", "accepted: confluent-kafka")),
    ("frida_consumers = -1", ("ini frida_consumers", "'-1'", "expected auto or a positive")),
]


@pytest.mark.parametrize(
    ("line", "fragments"), BAD_INI, ids=[line.split(" =")[0] for line, _ in BAD_INI]
)
def test_bad_ini_value_is_a_usage_error(
    pytester: pytest.Pytester, line: str, fragments: tuple[str, ...]
) -> None:
    pytester.makefile(".ini", pytest=f"[pytest]\n{line}\n")
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError\n")
    error = assert_one_usage_error(pytester.runpytest(), *fragments)
    assert "--frida-" not in error


def test_usage_error_in_a_real_subprocess(pytester: pytest.Pytester) -> None:
    """The same check without pytester's in-process shortcuts: a fresh interpreter that
    loads the plugin through its pytest11 entry point."""
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError\n")
    result = pytester.runpytest_subprocess("--frida-rate=0", "-p", "no:hypothesispytest")
    assert_one_usage_error(result, "--frida-rate='0'", "expected a positive number")


def test_good_options_are_accepted(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest="[pytest]\nfrida_rate = 5\nfrida_warmup = 0\n")
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest(
        "--frida-site=local",
        "--frida-producers=1, 2",
        "--frida-rate=2.5",
        "--frida-duration=3",
        "--frida-slo=p99<=1s and delivered>=99.9%",
        "--frida-message-size=64",
        "--frida-kafka-version=3.9.1",
        "--frida-client=kafka-python",
        f"--frida-report-dir={pytester.path / 'reports'}",
    )
    result.assert_outcomes(passed=1)


def test_inprocess_run_leaves_outer_session_intact(
    pytester: pytest.Pytester, pytestconfig: pytest.Config
) -> None:
    """A session without capacity tests installs no SIGTERM handler (that happens when a
    cluster starts), and an in-process inner session must not take the outer session's run
    or handler away."""
    outer_run = pytestconfig.stash.get(RUN_KEY, None)
    handler = signal.getsignal(signal.SIGTERM)
    pytester.makepyfile("def test_plain():\n    pass\n")
    pytester.runpytest_inprocess("--frida-rate=3").assert_outcomes(passed=1)
    assert pytestconfig.stash.get(RUN_KEY, None) is outer_run
    assert signal.getsignal(signal.SIGTERM) is handler
    if outer_run is not None:
        assert outer_run.steps == []


def test_more_consumers_than_partitions_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError\n")
    result = pytester.runpytest("--frida-consumers=4", "--frida-partitions=3")
    assert_one_usage_error(
        result,
        "--frida-consumers=4",
        "more consumers than the 3 partitions",
        "expected auto or a whole number from 1 to 3",
    )


def test_marker_with_more_consumers_than_its_partitions_fails_collection(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.capacity(producers=[1], partitions=2, consumers=3)\n"
        "def test_capacity(frida_result):\n    raise AssertionError\n"
    )
    result = pytester.runpytest()
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["*capacity marker argument consumers=3: more consumers than the 2 partitions*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
