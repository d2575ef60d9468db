"""Reports, history, regressions, search and the InfluxDB export, on a real broker."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import pytest_frida

SUITE = """
import pytest

@pytest.mark.capacity(producers=[1, 4], rate=10)
def test_ingest(frida_result):
    pass
"""
# a latency clause a 2 s step of a few producers at 10 msg/s has the samples to judge
FAST = (
    "-p",
    "no:cacheprovider",
    "--frida-duration=2",
    "--frida-prime=0",
    "--frida-warmup=0.5",
    "--frida-slo=max<=5s",
)


def run(pytester: pytest.Pytester, report_dir: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        *FAST, f"--frida-report-dir={report_dir}", *args, timeout=300
    )


def test_history_compare_fail_and_html(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_suite=SUITE)
    reports = tmp_path / "reports"
    search = ("--frida-search=1:2", "--frida-slo=max<=5s")
    first = run(pytester, reports, *search)
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(
        ["*capacity limit of test_suite.py::test_ingest: at least 2 producers: not reached*"]
    )
    # no gate fails before three like runs tell the run-to-run noise: two more runs of the
    # same plan, as the history would hold them (what two more broker runs would add is
    # the gate's noise rule, which tests/unit/test_compare.py covers)
    (line,) = (reports / "history.jsonl").read_text().splitlines()
    measured = json.loads(line)
    for again in (1, 2):
        copy = {
            **measured,
            "run_id": f"{measured['run_id']}-again{again}",
            "started_at": measured["started_at"].replace("+00:00", f".{again}+00:00"),
        }
        with open(reports / "history.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(copy) + "\n")
    # the same plan against a broker that refuses every message (a system difference,
    # which is what a comparison is for): a failure confirmed where the baseline
    # confirmed a pass
    second = run(
        pytester,
        reports,
        *search,
        "--frida-broker-config=message.max.bytes=64",
        "--frida-compare-fail=capacity:10%",
    )
    assert second.ret == pytest.ExitCode.TESTS_FAILED, second.stdout.str()[-3000:]
    second.stdout.fnmatch_lines(
        [
            "*compared with last*",
            "*test_suite.py::test_ingest: baseline *: same plan*",
            "*differs from *: system.broker_config.message.max.bytes: unset -> 64*",
            "*test_suite.py::test_ingest: capacity limit: 2 -> None*REGRESSION*",
            "*1 regression(s) past --frida-compare-fail capacity:10%: session failed*",
        ]
    )
    # another plan (an SLO of its own): `last` finds no like run and says what differs
    third = run(
        pytester,
        reports,
        "--frida-search=1:2",
        "--frida-slo=max<=4s",
        "--frida-compare-fail=capacity:10%",
    )
    third.assert_outcomes(passed=1)
    third.stdout.fnmatch_lines(["*plan.slo: max<=5s* -> max<=4s*"])
    history = [json.loads(line) for line in (reports / "history.jsonl").read_text().splitlines()]
    assert [h["limit"]["status"] for h in history] == ["not_reached"] * 3 + [
        "below_range",
        "not_reached",
    ]
    assert all(
        h["test"] == "test_suite.py::test_ingest" and h["plan"]["site"] == "local" for h in history
    )
    assert history[0]["plan"] == history[3]["plan"] != history[4]["plan"]
    history = history[2:]  # the last like run, the broken one, the unlike one
    run_dirs = sorted(p for p in reports.iterdir() if p.is_dir())  # first, broken, unlike
    page = (run_dirs[1] / "report.html").read_text()
    assert page.count("<svg") >= 4  # latency, throughput, distributions, limit over runs
    assert "Comparison with the baseline" in page and "REGRESSION" in page
    # self-contained: nothing fetched (XML namespace names in the SVGs are not fetches)
    for fetch in ('src="http', "src='http", 'href="http', "<link", "@import", "<script"):
        assert fetch not in page
    loaded = pytest_frida.load_report(run_dirs[1])
    assert list(loaded.steps["producers"]) == [1]  # lost messages: no second trial
    assert list(loaded.limits["status"]) == ["below_range"]

    # the frida command reads the same store: like runs fail, unlike ones never do
    ids = [h["run_id"] for h in history]
    cli = subprocess.run(
        [
            "frida",
            "--report-dir",
            str(reports),
            "compare",
            ids[0],
            ids[1],
            "--fail",
            "capacity:10%",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 1 and "REGRESSION" in cli.stdout, cli.stdout
    unlike = subprocess.run(
        [
            "frida",
            "--report-dir",
            str(reports),
            "compare",
            ids[1],
            ids[2],
            "--fail",
            "capacity:10%",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unlike.returncode == 0 and "another plan; nothing here fails" in unlike.stdout
    hist = subprocess.run(
        ["frida", "--report-dir", str(reports), "history"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert hist.stdout.count("test_suite.py::test_ingest") == 5


def test_a_suspected_latency_regression_is_measured_again_before_it_fails(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    reports = tmp_path / "reports"
    # 4 producers x 100 msg/s for 2 s: samples enough to bound the p99 from below
    load = ("--frida-producers=4", "--frida-rate=100")
    run(pytester, reports, *load).assert_outcomes(passed=1)
    (line,) = (reports / "history.jsonl").read_text().splitlines()
    measured = json.loads(line)
    # three like runs of the same plan whose p99 no real step reaches (10 us): the next
    # run is past the gate at every trial, which is what a slowed broker looks like
    with open(reports / "history.jsonl", "w", encoding="utf-8") as fh:
        for i, p99 in enumerate((0.0100, 0.0105, 0.0110)):
            steps = [
                {**s, "p99_ms": p99, "p99_ci_ms": [p99 * 0.9, p99 * 1.1]} for s in measured["steps"]
            ]
            forged = {
                **measured,
                "run_id": f"{measured['run_id']}-like{i}",
                "started_at": measured["started_at"].replace("+00:00", f".{i}+00:00"),
                "steps": steps,
            }
            fh.write(json.dumps(forged) + "\n")
    gated = run(pytester, reports, *load, "--frida-compare-fail=p99:20%")
    assert gated.ret == pytest.ExitCode.TESTS_FAILED, gated.stdout.str()[-3000:]
    gated.stdout.fnmatch_lines(
        [
            "*frida: test_suite.py::test_ingest: p99 ms at 4 producers past the gate (*, one"
            " trial, against 0.011 in the baseline); measuring 4 producers to 3 trials to"
            " confirm",
            "*p99 ms at 4 producers: 0.0110 * -> * (lower median of 3 trials) (+*%) REGRESSION",
        ]
    )
    assert gated.stdout.str().count("trials to confirm") == 1
    (run_dir,) = [d for d in sorted(reports.iterdir()) if d.is_dir()][-1:]
    assert list(pytest_frida.load_report(run_dir).steps["producers"]) == [4, 4, 4]


def test_corrupt_history_is_reported_and_never_rewritten(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "history.jsonl").write_text('{"half a line\n')
    before = (reports / "history.jsonl").read_bytes()
    # asking to compare with it: a usage error before any broker starts
    bad = run(pytester, reports, "--frida-compare")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*history.jsonl:1: not JSON*"])
    unknown = tmp_path / "other"
    missing = run(pytester, unknown, "--frida-compare=20990101-000000-dead")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*--frida-compare=20990101-000000-dead: no such run*"])
    # without a compare the run goes on, says so, and leaves the file alone
    ok = run(pytester, reports, "--frida-producers=1")
    ok.assert_outcomes(passed=1)
    ok.stdout.fnmatch_lines(["*not JSON*this run was not added to the history*"])
    assert (reports / "history.jsonl").read_bytes() == before


def test_search_mode(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_suite=SUITE)
    reports = tmp_path / "reports"
    junit = tmp_path / "junit.xml"
    result = run(
        pytester, reports, "--frida-search=1:8", "--frida-slo=max<=5s", f"--junitxml={junit}"
    )
    result.assert_outcomes(passed=1)
    # every step of the search shows up as JUnit properties of the one test case
    props = dict(re.findall(r'<property name="([^"]+)" value="([^"]*)"', junit.read_text()))
    assert {props[f"frida_{n}p_verdict"] for n in (1, 2, 4, 8)} == {"pass"}
    assert float(props["frida_8p_p99_ms"]) > 0 and props["frida_8p_lost"] == "0"
    result.stdout.fnmatch_lines(
        [
            # "at least 8" is a claim too: its pass is measured again
            "*search 1:8:10% for *test_ingest[[]search=1:8:10%[]]: not reached: passes at the"
            " upper bound 8 (5 steps: [[]1, 2, 4, 8, 8[]])*",
        ]
    )
    impossible = run(pytester, reports, "--frida-search=2:8", "--frida-slo=max<=1us")
    impossible.assert_outcomes(passed=1)
    impossible.stdout.fnmatch_lines(["*below range: fails at the lower bound 2 (2 steps*"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def influxdb(tmp_path: Path) -> Iterator[str]:
    """A real InfluxDB 1.x (Debian's influxdb package) on loopback, in a temp dir."""
    if shutil.which("influxd") is None:
        pytest.skip("influxd not installed (apt-get install influxdb); .ci/run installs it")
    http, rpc = _free_port(), _free_port()
    conf = tmp_path / "influxdb.conf"
    conf.write_text(f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{tmp_path}/meta"
[data]
  dir = "{tmp_path}/data"
  wal-dir = "{tmp_path}/wal"
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
[monitor]
  store-enabled = false
""")
    proc = subprocess.Popen(
        ["influxd", "-config", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{http}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/ping", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        query(base, "CREATE DATABASE frida")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def query(base: str, q: str) -> dict:  # type: ignore[type-arg]
    data = urllib.parse.urlencode({"q": q, "db": "frida"}).encode()
    with urllib.request.urlopen(f"{base}/query", data=data, timeout=10) as resp:
        return dict(json.loads(resp.read()))


def test_steps_reach_influxdb(pytester: pytest.Pytester, tmp_path: Path, influxdb: str) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = run(pytester, tmp_path / "reports", f"--frida-influx={influxdb}/write?db=frida")
    result.assert_outcomes(passed=2)
    answer = query(influxdb, 'SELECT "producers", "p99_ms", "lost" FROM "frida_step"')
    series = answer["results"][0]["series"][0]
    rows = [dict(zip(series["columns"], v, strict=True)) for v in series["values"]]
    assert sorted(r["producers"] for r in rows) == [1, 4]
    assert all(r["p99_ms"] > 0 and r["lost"] == 0 for r in rows)
    tags = query(influxdb, 'SHOW TAG VALUES FROM "frida_step" WITH KEY = "site"')
    assert tags["results"][0]["series"][0]["values"] == [["site", "local"]]
    # the broker's figures per step, and per second of each measured window
    steps = query(influxdb, 'SELECT "broker_cores", "host_busy" FROM "frida_step"')
    values = steps["results"][0]["series"][0]["values"]
    assert len(values) == 2 and all(v[1] > 0 and 0 < v[2] <= 1 for v in values)
    seconds = query(
        influxdb,
        'SELECT "cores", "messages_in_per_s" FROM "frida_resource" WHERE "source" = \'broker-0\'',
    )
    points = seconds["results"][0]["series"][0]["values"]
    assert len(points) >= 2 and all(p[1] is not None for p in points)


def test_unreachable_influxdb_costs_no_measurement(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    port = _free_port()  # nothing listens there
    result = run(
        pytester,
        tmp_path / "reports",
        "--frida-producers=1",
        f"--frida-influx=http://127.0.0.1:{port}/write?db=frida",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*could not send steps to InfluxDB*"])


def test_xdist_workers_merge_into_one_report(
    pytester: pytest.Pytester, tmp_path: Path, leak_check: None
) -> None:
    pytester.makepyfile(test_suite=SUITE.replace("[1, 4]", "[1, 2, 3, 4]"))
    reports = tmp_path / "reports"
    result = run(pytester, reports, "-n", "2", "--frida-slo=max<=5s")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["*frida capacity report*", "*capacity limit of test_suite.py::test_ingest: at least 4*"]
    )
    (run_dir,) = [p for p in reports.iterdir() if p.is_dir()]  # one run, not one per worker
    assert sorted(p.name for p in (run_dir / "workers").iterdir()) == ["gw0", "gw1"]
    report = json.loads((run_dir / "report.json").read_text())
    assert sorted(s["producers"] for s in report["steps"]) == [1, 2, 3, 4]
    assert sorted(report["cluster"]["workers"]) == ["gw0", "gw1"]
    history = (reports / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 and json.loads(history[0])["limit"]["limit"] == 4
