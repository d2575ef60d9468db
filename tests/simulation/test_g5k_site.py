"""`pytest --frida-site=sophia` against the simulated testbed: reserve, form a swarm across
the nodes, deploy, measure, keep clocks honest, grow, release. Real: network namespaces,
sshd, ssh, a Docker daemon per node and the swarm they form, Kafka, agents, execo and
execo_g5k's parsing code. Simulated: the OAR commands, the API, and g5k-setup-docker."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.leaks import frida_temp_dirs, kafka_pids
from helpers.reports import only_run_report
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.kafka.distribution import DEFAULT_KAFKA_VERSION
from pytest_frida.runtimes.clock_sync import sync_clock
from pytest_frida.runtimes.node_monitor import IO_UNREADABLE
from pytest_frida.runtimes.process import stop_together, wait_until
from pytest_frida.runtimes.ptp import PtpDomain
from pytest_frida.runtimes.ssh import SshSettings, remote_process
from pytest_frida.sites import job_marks
from pytest_frida.sites.g5k_time import PARIS, daytime_warning
from pytest_frida.sites.nodes import node_order
from simulation import testbed as testbed_module
from simulation.fake_api import Grid5000, add_cluster, set_node_state
from simulation.fake_oar import _admission_refusal
from simulation.testbed import Node, Testbed

SWEEP = """
import pytest

@pytest.mark.capacity(producers=[2, 4], rate=10, slo="p50<=500ms, loss==0")
def test_sweep(frida_result, frida_cluster):
    assert frida_cluster.site == "sophia"
    assert frida_result.counts.sent > 0
"""


#: for runs that OAR stops before any node is used: the ssh runtime needs no node images
OAR_ONLY = ("--frida-runtime=ssh",)


def _jobs(grid5000: Grid5000) -> dict[str, dict[str, Any]]:
    state = json.loads(Path(str(grid5000["state"])).read_text())
    return dict(state.get("jobs", {}))


def _oar_state(grid5000: Grid5000, **changes: object) -> None:
    path = Path(str(grid5000["state"]))
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _held_jobs(grid5000: Grid5000) -> list[str]:
    """Jobs OAR still runs or would run, and jobs a run still marks as its own."""
    alive = [i for i, job in _jobs(grid5000).items() if job["state"] in ("Waiting", "Running")]
    return alive + sorted(p.name for p in job_marks.marks_dir().glob("*"))


def _one_line_with(out: str, text: str) -> str:
    """The one line that says `text`, once (pytest repeats a failed setup's line for each
    test it fails, and its short summary quotes it whole when `CI` is set), or what frida
    said of OAR."""
    summary = ("ERROR ", "FAILED ")
    lines = {line for line in out.splitlines() if text in line and not line.startswith(summary)}
    said = "\n".join(line for line in out.splitlines() if "OAR" in line)
    assert len(lines) == 1, said
    (line,) = lines
    assert line.count(text) == 1, line
    return line


def _pytest_argv(tmp_path: Path, suite: str, *args: str) -> list[str]:
    """pytest running `suite` (written to tmp_path) with `args`, reporting below it."""
    (tmp_path / "test_suite.py").write_text(suite)
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "test_suite.py",
        f"--frida-report-dir={tmp_path / 'reports'}",
        *args,
    ]


def _suite_argv(tmp_path: Path, grid5000: Grid5000, suite: str, *extra: str) -> list[str]:
    """pytest running `suite` (written to tmp_path) on the simulated Sophia frontend."""
    return _pytest_argv(tmp_path, suite, "--frida-site=sophia", *grid5000["args"], *extra)


def _pytest(
    tmp_path: Path, grid5000: Grid5000, suite: str, *extra: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _suite_argv(
            tmp_path,
            grid5000,
            suite,
            "--frida-duration=3",
            "--frida-prime=0",
            "--frida-warmup=1",
            *extra,
        ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _node_state(testbed: Testbed) -> dict[str, tuple[list[str], list[str], str]]:
    """What a run could leave on the nodes' Docker daemons: containers, frida networks,
    swarm membership."""
    state: dict[str, tuple[list[str], list[str], str]] = {}
    for node in testbed.nodes:
        if not testbed.docker_running(node):
            continue
        state[node.short] = (
            testbed.docker(node, "ps", "-aq").stdout.split(),
            testbed.docker(
                node, "network", "ls", "-q", "--filter", "label=frida.run"
            ).stdout.split(),
            testbed.docker(node, "info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip(),
        )
    return state


@contextlib.contextmanager
def _skewed(testbed: Testbed, node: Node, skew: str) -> Iterator[None]:
    testbed.set_skew(node, skew)
    try:
        yield
    finally:
        testbed.set_skew(node, None)


GROWING = (
    SWEEP
    + """

@pytest.mark.capacity(producers=[6], rate=10, slo="p50<=500ms, loss==0")
def test_grown(frida_result):
    assert frida_result.counts.sent > 0
"""
)


def test_sophia_sweep_forms_a_swarm_measures_grows_and_releases(
    testbed: Testbed, grid5000: Grid5000, node_images: dict[str, str], tmp_path: Path
) -> None:
    """The done-when run: three nodes reserved, Kafka on one and producers on two through a
    swarm formed across them, ptpd between them, a sweep, the job deleted. One producer
    node's clock is half a second ahead: its containers see that clock, the clock agent
    in a replica there measures it, and the corrected latencies pass. Then the
    experiment grows, as the original one did by hand: at two producers per node, six
    producers need a third producer node, so the run reserves one more (a second OAR
    job), which joins the swarm and takes the new replicas; both jobs are deleted at the
    end."""
    before = kafka_pids(), frida_temp_dirs()
    _oar_state(grid5000, oar_version="3")  # walltimes in seconds: execo cannot read them
    skewed = testbed.nodes[2]
    with _skewed(testbed, skewed, "+0.5"):
        done = _pytest(
            tmp_path,
            grid5000,
            GROWING,
            "--frida-producers-per-replica=1",
            "--frida-producers-per-node=2",
            "--frida-clock-sync=ptpd",
        )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "frida capacity report (sophia, Kafka" in out and "3 passed" in out
    assert "more node(s)" in out  # the growth was said while it happened
    names = [n.name for n in testbed.nodes]
    report = only_run_report(tmp_path / "reports")
    cluster = report["cluster"]
    assert isinstance(cluster, dict)
    assert cluster["runtime"] == "swarm" and cluster["swarm_manager"] == names[0]
    assert cluster["roles"] == {"brokers": names[:1], "producers": names[1:3], "consumer": names[0]}
    # Kafka and the consumer replica ran on the first node, as swarm tasks of its daemon
    assert cluster["placement"] == {"kafka-1": names[0], "consumer": names[0]}
    # the added node's daemon too; nodes in their numbers' order (uvb-9 before uvb-10)
    assert sorted(cluster["docker_servers"], key=node_order) == names
    assert cluster["hosts"] == names
    assert cluster["bootstrap"] == f"{names[0]}:9092"
    assert [g["nodes"] for g in cluster["growth"]] == [[names[3]]]
    # ptpd: the first node the master, every other one (the grown one too) a slave
    sync = cluster["clock_sync"]
    assert (sync[names[0]]["role"], sync[names[0]]["state"], sync[names[0]]["synchronised"]) == (
        "master",
        "mst",
        True,
    )
    assert sorted(sync, key=node_order) == names
    assert all(
        (sync[n]["role"], sync[n]["state"], sync[n]["synchronised"]) == ("slave", "slv", True)
        for n in names[1:]
    ), sync
    jobs = sorted(_jobs(grid5000).values(), key=lambda j: j["id"])
    assert [j["wanted_nodes"] for j in jobs] == [3, 1]
    assert cluster["oar_job_id"] == jobs[0]["id"]
    assert cluster["oar_jobs"] == [j["id"] for j in jobs]
    assert all(j["state"] == "Error" and j["stop_time"] for j in jobs)  # both oardel'd
    # the added job ends with the first: its walltime is what the first had left
    assert jobs[1]["walltime"] < jobs[0]["walltime"]
    log = Path(str(grid5000["log"])).read_text()
    assert "oarsub -l '{cluster='\"'\"'uvb'\"'\"'}/nodes=3,walltime=1:0:0'" in log
    assert f"oardel {jobs[0]['id']}" in log and f"oardel {jobs[1]['id']}" in log
    steps = report["steps"]
    assert isinstance(steps, list) and [s["producers"] for s in steps] == [2, 4, 6]
    for step in steps:
        assert step["verdict"] == "pass" and step["counts"]["lost"] == 0
        assert step["latency"]["p99"] < 500  # corrected: the skew is not in the latency
        # the broker's container (its cgroup on its node, over ssh) and Kafka's figures
        # (the exporter frida/kafka carries, published on the node)
        resources = step["resources"]
        # Kafka's image runs the broker as appuser, whose /proc/<pid>/io the login may
        # not read: the report says so, and nothing else is missing
        assert resources["missing"] == [f"broker-0 storage bytes: {names[0]}: {IO_UNREADABLE}"], (
            resources["missing"]
        )
        figures = resources["sources"]["broker-0"]["figures"]
        assert figures["cores"]["mean"] > 0 and figures["memory_mib"]["mean"] > 100
        assert figures["messages_in_per_s"]["mean"] > 0
        assert f"host {names[0]}" in resources["sources"]
        clocks = step["clocks"]
        assert clocks["trusted"] and clocks["corrected"] and clocks["error_ms"] < 50
        for host, offset in clocks["before"].items():
            expected = 500 if host == skewed.name else 0
            assert abs(offset["offset_ms"] - expected) < 50, (host, offset)
            assert offset["uncertainty_ms"] < 50
    small, large, grown = steps
    for step in (small, large):  # one replica per producer, over both producer nodes
        assert f"on {names[1]}, {names[2]}" in " ".join(step["notes"]), step["notes"]
        assert set(step["clocks"]["before"]) == set(names[:3])  # every agent host measured
    assert f"grew by 1 producer node(s) ({names[3]})" in " ".join(grown["notes"])
    assert f"on {names[1]}, {names[2]}, {names[3]}" in " ".join(grown["notes"])
    assert set(grown["clocks"]["before"]) == set(names)  # the new node was measured too
    server_log = next((tmp_path / "reports").glob("*/logs/broker-0/server.log")).read_text()
    assert "Kafka Server started" in server_log  # fetched from the node's container
    # nothing new left on any node (what ran before may still be dying: a lost node's
    # agents outlive the run until their ssh sessions time out)
    assert not kafka_pids() - before[0] and not frida_temp_dirs() - before[1]
    assert (
        subprocess.run(["pgrep", "-f", "frida-ptpd-"], capture_output=True, check=False).returncode
        == 1
    )  # no ptpd left
    for containers, networks, swarm in _node_state(testbed).values():
        assert (containers, networks, swarm) == ([], [], "inactive")


def test_skew_without_correction_is_clock_untrusted(
    testbed: Testbed, grid5000: Grid5000, node_images: dict[str, str], tmp_path: Path
) -> None:
    """The same half second of skew, uncorrected: the step is neither passed nor failed.
    Reserved per role, the consumer on a node of its own: four nodes."""
    skewed = testbed.nodes[2]
    with _skewed(testbed, skewed, "+0.5"):
        done = _pytest(
            tmp_path,
            grid5000,
            SWEEP.replace("[2, 4]", "[4]"),
            "--frida-clock-correction=off",
            "--frida-producers-per-replica=1",
            "--frida-nodes=brokers=1,consumer=1,producers=2",
        )
    out = done.stdout + done.stderr
    report = only_run_report(tmp_path / "reports")
    names = [n.name for n in testbed.nodes]
    cluster = report["cluster"]
    assert isinstance(cluster, dict), out[-3000:]
    assert cluster["roles"] == {"brokers": names[:1], "consumer": names[1], "producers": names[2:]}
    assert cluster["placement"] == {"kafka-1": names[0], "consumer": names[1]}
    assert (
        "oarsub -l '{cluster='\"'\"'uvb'\"'\"'}/nodes=4," in Path(str(grid5000["log"])).read_text()
    )
    (step,) = report["steps"]
    # every agent host was measured: the consumer's own node and the producer nodes
    assert set(step["clocks"].get("before", ())) == set(names[1:]), (step, out[-3000:])
    assert step["verdict"] == "clock_untrusted", out[-3000:]
    assert 450 < step["clocks"]["before"][skewed.name]["offset_ms"] < 550
    assert done.returncode == 0 and "1 skipped" in out  # neither passed nor failed
    assert step["clocks"]["error_ms"] > 450 and not step["clocks"]["corrected"]
    assert "clocks untrusted" in " ".join(step["reasons"])
    # only the latency clauses are withheld; the count clauses judged, and held
    assert step["withheld"], step
    assert all(v["passed"] for v in step["verdicts"] if v["clause"] not in step["withheld"])


def test_refused_reservation_is_one_line_and_reserves_nothing(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path
) -> None:
    state = json.loads(Path(str(grid5000["state"])).read_text())
    Path(str(grid5000["state"])).write_text(json.dumps({**state, "mode": "refuse"}))
    done = _pytest(tmp_path, grid5000, SWEEP)
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert (
        "frida: the sophia site could not start Kafka: OAR refused the reservation"
        " ({cluster='uvb'}/nodes=3, walltime 3600s): There are not enough resources for"
        " your request; Error: please verify your job submission syntax."
    ) in out
    assert "job -5" not in out
    assert _jobs(grid5000) == {}


def test_day_time_admission_refusal_is_one_line_and_reserves_nothing(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path
) -> None:
    """Grid'5000 keeps day time for short jobs, and OAR's admission rules refuse a job
    at submission. At 16:30 on a Monday (OAR's clock, whatever the time here) a three-hour
    job would run past 19:00: the run says OAR's own words once, in one line that says an
    admission rule refused, and holds no job."""
    _oar_state(grid5000, admission={}, now="2026-12-07 16:30:00")
    done = _pytest(tmp_path, grid5000, SWEEP, "--frida-walltime=3:00:00", *OAR_ONLY)
    out = done.stdout + done.stderr
    line = _one_line_with(out, "[ADMISSION RULE] Error: a job starting in day time")
    assert "OAR's admission rules refused the job" in line, line
    assert "must end by 19:00, this one would end at 2026-12-07 19:30:00" in line, line
    assert "Modify resource description" not in out  # OAR's informative lines are not quoted
    assert "Traceback" not in out
    assert _jobs(grid5000) == {}
    assert _held_jobs(grid5000) == []


#: starts across a week (2026-12-07 is a Monday) and the clock changes of 2027
STARTS = [
    *(f"2026-12-07 {t}" for t in ("00:30", "07:00", "08:30", "09:00", "12:00", "16:59")),
    *(f"2026-12-07 {t}" for t in ("17:30", "18:59", "19:00", "23:00")),
    *("2026-12-11 18:00", "2026-12-11 19:00", "2026-12-11 22:00"),  # Friday
    *("2026-12-12 10:00", "2026-12-13 23:00"),  # the week-end
    *("2027-03-27 20:00", "2027-03-28 01:30", "2027-10-30 20:00"),  # clock changes
]


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("hours", [0.5, 1, 2, 3, 4, 11, 14, 50, 61])
def test_the_fake_admission_rule_refuses_what_the_usage_policy_warns_of(
    start: str, hours: float
) -> None:
    """The simulation's usage-policy admission rule and frida's warning are one rule,
    written twice (day-time jobs end by 19:00, night and week-end jobs by the next working
    day's 09:00), so a test never sits in a gap where OAR refuses what frida called fine,
    or the reverse."""
    begin = dt.datetime.strptime(start, "%Y-%m-%d %H:%M").replace(tzinfo=PARIS)
    walltime = int(hours * 3600)
    refused = _admission_refusal({"admission": {}}, begin.timestamp(), walltime)
    assert (refused is not None) == (daytime_warning(begin, walltime) is not None), refused
    late = begin + dt.timedelta(milliseconds=400)  # a start between whole seconds
    refused = _admission_refusal({"admission": {}}, late.timestamp(), walltime)
    assert (refused is not None) == (daytime_warning(late, walltime) is not None), refused


@given(
    # a start in the 400 days from Monday 2026-12-07, to the millisecond
    ms=st.integers(0, 1000 * 3600 * 24 * 400),
    walltime=st.integers(60, 80 * 3600),
)
@settings(max_examples=500, deadline=None)
def test_the_fake_rule_and_the_warning_agree_at_any_start(ms: int, walltime: int) -> None:
    begin = dt.datetime(2026, 12, 7, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    refused = _admission_refusal({"admission": {}}, begin.timestamp(), walltime)
    warned = daytime_warning(begin, walltime)
    assert (refused is not None) == (warned is not None), (begin.astimezone(PARIS), refused)


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "sigterm", "sighup"]
)
def test_an_interrupt_while_oarsub_runs_leaves_no_job_held(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path, signum: signal.Signals
) -> None:
    """execo runs oarsub in a process group of its own, which the interrupt does not
    reach: OAR creates the job whatever the run does. The run waits for oarsub's answer,
    deletes the job it names, and then ends as interrupted."""
    gate = tmp_path / "oarsub-gate"
    _oar_state(grid5000, submit_gate=str(gate))
    with (tmp_path / "out").open("w") as out:
        run = subprocess.Popen(
            _suite_argv(tmp_path, grid5000, SWEEP, *OAR_ONLY),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_signals_as_in_a_terminal,
        )
    try:
        waiting = Path(f"{gate}.waiting")
        there = wait_until(lambda: waiting.exists() or run.poll() is not None, 300, 0.05)
        assert there, "no oarsub"
        assert run.poll() is None, (tmp_path / "out").read_text()[-3000:]
        (job,) = _jobs(grid5000).values()  # created, its id not yet printed
        run.send_signal(signum)
        note = "the interrupt takes effect when done"
        assert wait_until(
            lambda: note in (tmp_path / "out").read_text() or run.poll() is not None, 120, 0.05
        ), "no note"
        gate.touch()
        run.wait(timeout=300)
    finally:
        gate.touch()
        if run.poll() is None:
            run.kill()
            run.wait()
    said = (tmp_path / "out").read_text()
    assert note in said, said[-3000:]
    assert run.returncode != 0 and "Traceback" not in said, said[-3000:]
    assert "Interrupted" in said or "KeyboardInterrupt" in said, said[-3000:]
    assert f"OAR job {job['id']} deleted" in said, said[-3000:]
    assert _jobs(grid5000)[str(job["id"])]["state"] == "Error"  # oardel'd
    assert _held_jobs(grid5000) == []


def _signals_as_in_a_terminal() -> None:
    """Ctrl-C and SIGHUP at their defaults, as in a user's terminal: a CI job may start
    us with them ignored (nohup, a background job), and a run keeps what it inherits."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def test_refused_advance_reservation_names_the_start_oar_suggests_and_leaves_no_job(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path
) -> None:
    """OAR takes an advance reservation (it has a job id) and then finds no room at its
    start: `Reservation not valid --> KO (This reservation could run at ...)`, the job in
    Error. The run says so once, with the start OAR suggests (Paris time, as OAR gives it)
    and the option that asks for it, and leaves no job held or marked."""
    _oar_state(grid5000, reservations="refuse", reservation_suggestion="2030-01-06 02:00:00")
    done = _pytest(tmp_path, grid5000, SWEEP, "--frida-reservation=2030-01-05 20:00", *OAR_ONLY)
    out = done.stdout + done.stderr
    line = _one_line_with(out, "This reservation could run at 2030-01-06 02:00:00")
    assert "2030-01-05 20:00:00" in line, line  # the start that was asked for
    assert "Paris time" in line, line
    assert "--frida-reservation='2030-01-06 02:00:00'" in line, line
    assert "Traceback" not in out
    assert "ended job 1894417 in Error" in line and "deleted" not in line, line
    (job,) = _jobs(grid5000).values()
    assert job["state"] == "Error", job
    # OAR ended it itself: frida has nothing to delete
    assert "oardel" not in Path(str(grid5000["log"])).read_text()
    assert _held_jobs(grid5000) == []


def test_job_that_never_starts_is_deleted(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path
) -> None:
    state = json.loads(Path(str(grid5000["state"])).read_text())
    Path(str(grid5000["state"])).write_text(json.dumps({**state, "mode": "never_start"}))
    started = time.monotonic()
    done = _pytest(tmp_path, grid5000, SWEEP, "--frida-job-start-timeout=3")
    out = done.stdout + done.stderr
    assert time.monotonic() - started < 120
    assert "did not start within 3s (state Waiting); it was deleted" in out, out[-3000:]
    (job,) = _jobs(grid5000).values()
    assert job["state"] == "Error"  # oardel'd


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frida-site=mars"], "unknown Grid'5000 site 'mars'; known: sophia"),
        (["--frida-nodes=5"], "5 nodes asked of cluster uvb, which has 4"),
        (["--frida-cluster=nope"], "site sophia has no cluster 'nope'; it has: uvb"),
        # what the swarm runtime needs from the frontend is checked before reserving too
        (["--frida-kafka-image=frida/kafka:0.0.1"], "image frida/kafka:0.0.1 is not on"),
        (["--frida-brokers=2"], "--frida-brokers=2: the swarm stacks hold 1 or 3 brokers"),
    ],
)
def test_bad_request_is_refused_before_reserving(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path, args: list[str], message: str
) -> None:
    done = _pytest(tmp_path, grid5000, SWEEP, *args)
    out = done.stdout + done.stderr
    assert message in out, out[-3000:]
    assert "Traceback" not in out
    assert _jobs(grid5000) == {}


def test_plan_shows_the_oarsub_line_nodes_and_steps_and_reserves_nothing(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path
) -> None:
    """`--frida-plan` on a frontend: execo's own oarsub command line, the queue the
    reference API gives the cluster, the roles, the usage policy, the steps and whether
    they fit the walltime; no job, no node touched, no report."""
    nodes = [f"esterel41-{i}.sophia.grid5000.fr" for i in range(1, 5)]
    add_cluster(
        grid5000["api"].data,
        "sophia",
        "esterel41",
        nodes,
        queues=("production", "admin"),
    )
    done = _pytest(
        tmp_path,
        grid5000,
        SWEEP,
        "--frida-plan",
        "--frida-cluster=esterel41",
        "--frida-walltime=5",
        "--frida-job-name=frida-plan-demo",
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]  # the walltime is too short: it says so below
    assert "frida plan: nothing is reserved or started" in out, out[:3000]
    assert "site sophia, cluster esterel41, queue production" in out, out[:3000]
    assert (
        "would submit: oarsub -l \"{cluster='esterel41'}/nodes=3,walltime=0:0:5\""
        ' -t "origin=execo" -q "production" -n "frida-plan-demo" "sleep 31536000"'
    ) in out, out[:3000]
    assert (
        "nodes, in their numbers' order: brokers node1; consumer on node1; producers"
        " node2, node3" in out
    )
    assert "usage policy:" in out
    assert "2 steps at 2, 4 producers" in out
    assert "would stop at the walltime: 5s is shorter than the longest load time (8s)" in out
    assert _jobs(grid5000) == {}
    # a job given by id is read as the run would read it: one that is not running stops
    gone = _pytest(tmp_path, grid5000, SWEEP, "--frida-plan", "--frida-job-id=4242")
    assert gone.returncode == 1, (gone.stdout + gone.stderr)[-3000:]
    assert "would stop: --frida-job-id=4242: the job is" in gone.stdout, gone.stdout[-3000:]
    assert not (tmp_path / "reports").exists()
    assert "Traceback" not in out


def test_another_sites_frontend_is_refused_before_oar_reserves_there(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path
) -> None:
    """OAR commands reserve at the site of the frontend they run on: `--frida-site=sophia`
    typed on Nancy's frontend would reserve at Nancy. This machine becomes Nancy's frontend
    (its own host name, in a UTS namespace) and the run stops before OAR is asked."""
    argv = _suite_argv(tmp_path, grid5000, SWEEP)
    done = subprocess.run(
        [
            "unshare",
            "--uts",
            "sh",
            "-c",
            f"hostname fnancy.nancy.grid5000.fr && exec {shlex.join(argv)}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout + done.stderr
    assert (
        "--frida-site=sophia on nancy's frontend: OAR here reserves at nancy. Run from"
        " sophia's frontend (ssh sophia), or use --frida-site=nancy"
    ) in out, out[:3000]
    assert "Traceback" not in out
    assert _jobs(grid5000) == {}
    assert not Path(str(grid5000["log"])).exists()  # no OAR command ran at all


def test_dead_node_is_ruled_out_before_reserving(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path
) -> None:
    """OAR never hands out a node the status API marks dead: four nodes of uvb with one
    dead would wait for ever. The run says so before it reserves anything."""
    dead = testbed.nodes[2]
    set_node_state(grid5000["api"].data, "sophia", dead.name, "dead")
    _oar_state(grid5000, dead=[dead.name])
    done = _pytest(tmp_path, grid5000, SWEEP, "--frida-nodes=4", "--frida-job-start-timeout=5")
    out = done.stdout + done.stderr
    assert (
        f"4 nodes asked of cluster uvb, which has 3 of 4 usable now (status API: {dead.short} dead)"
    ) in out, out[-3000:]
    assert "Traceback" not in out
    assert _jobs(grid5000) == {}


def test_production_cluster_goes_to_its_queue(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path
) -> None:
    """A production cluster matches nothing in OAR's default queue: submitted without
    `-q production` it is refused. Its queue comes from the reference API, and a queue
    it is not in is refused before reserving."""
    nodes = [f"esterel41-{i}.sophia.grid5000.fr" for i in range(1, 5)]
    add_cluster(
        grid5000["api"].data,
        "sophia",
        "esterel41",
        nodes,
        queues=("production", "admin"),
    )
    _oar_state(grid5000, production_clusters=["esterel41"])
    done = _pytest(tmp_path, grid5000, SWEEP, "--frida-cluster=esterel41", "--frida-queue=default")
    out = done.stdout + done.stderr
    assert (
        "--frida-queue=default: cluster esterel41 takes jobs in the production queue, not default"
    ) in out, out[-3000:]
    assert _jobs(grid5000) == {}
    # its nodes are not simulated: the job waits until the start timeout deletes it
    done = _pytest(
        tmp_path, grid5000, SWEEP, "--frida-cluster=esterel41", "--frida-job-start-timeout=3"
    )
    out = done.stdout + done.stderr
    assert "cluster esterel41 is in the production queue: submitting with -q production" in out
    assert "did not start within 3s" in out, out[-3000:]
    (job,) = _jobs(grid5000).values()
    assert (job["queue"], job["state"]) == ("production", "Error")
    assert "Traceback" not in out


def test_nodes_are_an_ordinary_login_with_root_only_through_sudo_g5k(testbed: Testbed) -> None:
    """As on Grid'5000: the job's owner logs in, never root; `sudo-g5k` gives root, plain
    `sudo` does not, and g5k-setup-docker (where the testbed keeps it) gives Docker to
    the one who ran it."""
    node = testbed.nodes[0]
    assert testbed.ssh(node, "id -un").stdout.strip() == testbed.user
    assert testbed.ssh(node, "sudo-g5k id -u").stdout.strip() == "0"
    # the login is no sudoer of its own: root only through sudo-g5k
    for bare_sudo in ("sudo -n true", "sudo -n env true", "sudo -n /usr/bin/env id -u"):
        bare = testbed.ssh(node, bare_sudo, check=False)
        assert bare.returncode != 0 and bare.stdout.strip() != "0", (bare_sudo, bare)
    as_root = subprocess.run(
        ["ssh", *testbed.ssh_options(), "-l", "root", node.name, "true"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert as_root.returncode != 0
    # g5k-setup-docker gets root itself and leaves Docker to whoever ran it: under
    # sudo-g5k that is root, and the login cannot use it; run by the login, it can
    setup = "/grid5000/code/bin/g5k-setup-docker -t"
    testbed.stop_docker(node)  # a Docker an earlier test installed would answer as it was
    try:
        testbed.ssh(node, f"sudo-g5k {setup}")
        denied = testbed.ssh(node, "docker info", check=False)
        assert denied.returncode != 0 and "permission denied" in denied.stderr, denied
        testbed.stop_docker(node)
        testbed.ssh(node, setup)
        assert testbed.ssh(node, "docker info --format '{{.ServerVersion}}'").stdout.strip()
    finally:
        testbed.stop_docker(node)


def test_a_testbed_whose_nodes_fail_to_stop_still_removes_its_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The login, its sudoers file and its ACL entry on /root go even when stopping the
    nodes fails, and /root is left as it was found (its mode never touched). A login of
    its own, so that the module's testbed keeps its own."""
    acl_before = subprocess.run(["getfacl", "-c", "-p", "/root"], capture_output=True, text=True)
    mode_before = Path("/root").stat().st_mode
    monkeypatch.setattr(testbed_module, "G5K_CODE_BIN", tmp_path / "code" / "bin")
    bed = Testbed(tmp_path / "bed", user="fridastop")
    bed.workdir.mkdir()
    bed._add_user()
    acl = subprocess.run(["getfacl", "-c", "-p", "/root"], capture_output=True, text=True)
    assert "user:fridastop:--x" in acl.stdout, acl.stdout
    assert Path("/root").stat().st_mode == mode_before

    def fails() -> None:
        raise RuntimeError("a node's daemon would not stop")

    monkeypatch.setattr(bed, "_stop_nodes", fails)
    with pytest.raises(RuntimeError, match="would not stop"):
        bed.stop()
    assert subprocess.run(["id", "fridastop"], capture_output=True).returncode != 0
    assert not bed.sudoers.exists()
    acl_after = subprocess.run(["getfacl", "-c", "-p", "/root"], capture_output=True, text=True)
    assert acl_after.stdout == acl_before.stdout
    assert Path("/root").stat().st_mode == mode_before


def test_a_node_holds_more_agents_than_sshd_allows_sessions_per_connection(
    testbed: Testbed, tmp_path: Path
) -> None:
    """sshd refuses an eleventh session on one connection (MaxSessions 10, kept on
    Grid'5000's nodes), and every agent or broker is a session that stays open: 200
    producers at 10 per replica on two nodes hold ten agents per node. Twenty long-lived
    sessions on one node all start, and short commands still get through beside them."""
    run_id = f"t{os.getpid()}"  # as short as a run's: ssh's socket paths have a limit
    ssh = SshSettings.multiplexed(testbed.ssh_config, run_id)
    node = testbed.nodes[0].name
    sessions = [
        remote_process(
            f"session-{i}",
            ssh,
            node,
            "echo up; exec cat >/dev/null",
            log_path=tmp_path / f"session-{i}.log",
            agent=True,
        )
        for i in range(20)
    ]
    try:
        for session in sessions:
            assert session.popen.stdout is not None
            assert session.popen.stdout.readline() == b"up\n", session.log_tail()
        assert ssh.run(node, "echo short").strip() == "short"
    finally:
        stop_together(sessions, 10)
        ssh.close([node])
    # no shared connection outlives close(): every one was asked to exit (`-O exit`
    # returns before the master has gone, so it gets a while to go)
    deadline = time.monotonic() + 30
    while True:
        masters = subprocess.run(
            ["pgrep", "-f", f"frida-ssh-{run_id}/"], capture_output=True, text=True, check=False
        ).stdout.split()
        if not masters or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert masters == []


def test_frida_g5k_jobs_lists_and_deletes_what_dead_runs_left(
    testbed: Testbed, grid5000: Grid5000, tmp_path: Path
) -> None:
    """A run killed with -9 deletes nothing. `frida g5k jobs` lists this user's frida-*
    jobs on the site, and `--delete` deletes them and nothing else."""
    # the jobs start as soon as OAR next looks (not a second later), so that they are
    # running when listed however quickly or slowly this machine gets there
    _oar_state(grid5000, start_after_s=0.0)
    for name in (
        "frida-20261203-101500-ab12",
        "someone-elses-experiment",
        "frida-20261203-111500-cd34",
    ):
        subprocess.run(
            ["oarsub", "-l", "{cluster='uvb'}/nodes=1,walltime=2:0:0", "-n", name, "sleep 7200"],
            check=True,
            capture_output=True,
            text=True,
        )
    _oar_state(grid5000, oar_version="3")  # its walltimes too
    frida = [sys.executable, "-m", "pytest_frida.cli", "g5k", "jobs"]
    listed = subprocess.run(frida, capture_output=True, text=True, check=False, timeout=120)
    assert listed.returncode == 0, listed.stderr
    jobs = sorted(_jobs(grid5000).values(), key=lambda j: j["id"])
    ours = [j for j in jobs if str(j["name"]).startswith("frida-")]
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == [str(j["id"]) for j in ours]
    assert all(" left" in line for line in lines[:-1])  # running, walltime read (OAR 3)
    assert lines[-1] == "2 job(s); `frida g5k jobs --delete` deletes them"
    # a run still going here holds the second one (this test's own pid stands for it)
    held = ours[1]
    job_marks.mark(int(held["id"]))
    try:
        deleted = subprocess.run(
            [*frida, "--delete"], capture_output=True, text=True, check=False, timeout=120
        )
        assert deleted.returncode == 0, deleted.stderr
        assert deleted.stdout.splitlines()[-2:] == [
            f"kept {held['id']} ({held['name']}): a live run holds it (pid {os.getpid()});"
            " --force deletes it too",
            f"deleted {ours[0]['id']} ({ours[0]['name']})",
        ]
        assert {j["name"]: j["state"] for j in _jobs(grid5000).values()}[
            str(held["name"])
        ] == "Running"
        forced = subprocess.run(
            [*frida, "--delete", "--force"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert forced.stdout.splitlines()[-1] == f"deleted {held['id']} ({held['name']})"
    finally:
        job_marks.unmark(int(held["id"]))
    after = _jobs(grid5000)
    assert {j["name"]: j["state"] for j in after.values()} == {
        "frida-20261203-101500-ab12": "Error",
        "frida-20261203-111500-cd34": "Error",
        "someone-elses-experiment": "Running",
    }
    again = subprocess.run(frida, capture_output=True, text=True, check=False, timeout=120)
    assert again.stdout.strip() == "no waiting or running OAR job named frida-*"


def test_unreachable_node_is_named_and_the_job_deleted(
    testbed: Testbed, grid5000: Grid5000, node_images: dict[str, str], tmp_path: Path
) -> None:
    """A reserved node that cannot be logged into: one line naming it, nothing deployed
    anywhere, and the job deleted."""
    dead = testbed.nodes[1]
    testbed.cut(dead)
    try:
        done = _pytest(tmp_path, grid5000, SWEEP)
    finally:
        subprocess.run(["ip", "link", "set", dead.veth, "up"], check=False)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "Traceback" not in out
    assert (
        f"frida: the sophia site could not start Kafka: {dead.name} does not answer over ssh:"
    ) in out, out[-3000:]
    (job,) = _jobs(grid5000).values()
    assert job["state"] == "Error"  # deleted although the run never got going
    for containers, networks, swarm in _node_state(testbed).values():
        assert (containers, networks, swarm) == ([], [], "inactive")


def test_lost_node_keeps_results_and_releases_the_job(
    testbed: Testbed, grid5000: Grid5000, node_images: dict[str, str], tmp_path: Path
) -> None:
    """A producer node drops off the network while the second step runs: the first step
    stays in the report, the second is an error, teardown gets round the node that does
    not answer, and the job is deleted. The node stays in the dead swarm, which a later
    swarm run there would leave first (no swarm run follows this test in the module)."""
    report_dir = tmp_path / "reports"
    proc = subprocess.Popen(
        _suite_argv(
            tmp_path,
            grid5000,
            SWEEP,
            "--frida-duration=3",
            "--frida-prime=0",
            "--frida-warmup=1",
            "--frida-producers-per-replica=1",
        ),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lost = testbed.nodes[2]
    try:
        deadline = time.monotonic() + 300
        while not list(report_dir.glob("*/logs/agents/step2-producers-*.log")):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(2.0)  # the second step's producers are sending
        assert len(only_run_report(report_dir)["steps"]) == 1
        testbed.cut(lost)  # a producer node drops off the network
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["ip", "link", "set", lost.veth, "up"], check=False)
    report = only_run_report(report_dir)
    steps = report["steps"]
    assert isinstance(steps, list)
    assert steps[0]["verdict"] == "pass", (steps[0], out[-3000:])  # measured before the loss
    assert steps[1]["verdict"] == "error", out[-3000:]
    assert f"{lost.name} does not answer over ssh" in out  # teardown said what it skipped
    (job,) = _jobs(grid5000).values()
    assert job["state"] == "Error"  # released despite the failure
    state = _node_state(testbed)
    for name, (containers, networks, swarm) in state.items():
        if name != lost.short:
            assert (containers, networks, swarm) == ([], [], "inactive")
    # the lost node never heard the swarm end: the next run there must take it out
    assert state[lost.short][2] != "inactive"


def test_a_nodes_ntpd_is_read_and_a_chrony_without_source_is_not_called_synchronised(
    testbed: Testbed,
) -> None:
    """Grid'5000's nodes run ntpd against their site's servers, and the testbed's checks
    rely on it: a node whose ntpd answers keeps it and its state is read, not replaced by
    chrony. A chrony that reaches no source is reported as not synchronised."""
    ssh = SshSettings(testbed.ssh_config)
    with_ntpd, lost = testbed.nodes[1], testbed.nodes[3]
    testbed.set_time_daemons(with_ntpd, ntpd="synced")
    testbed.set_time_daemons(lost, chrony_source=False)
    try:
        with _skewed(testbed, with_ntpd, "+0.2"):
            got = sync_clock(ssh, "sudo-g5k", with_ntpd.name)
            assert (got["daemon"], got["synchronised"]) == ("ntpd", True), got
            assert 150 < float(got["system_time_ms"]) < 250  # type: ignore[arg-type]  # values: object
            # chrony was neither started nor allowed to step the clock ntpd keeps
            assert not (testbed.workdir / f"chronyd-{with_ntpd.short}.running").exists()
            assert testbed.skew_file(with_ntpd).read_text().strip() == "+0.2"
        testbed.set_time_daemons(with_ntpd, ntpd="alarm")
        alarm = sync_clock(ssh, "sudo-g5k", with_ntpd.name)
        assert alarm["synchronised"] is False and "not synchronised" in str(alarm["problem"])
        got = sync_clock(ssh, "sudo-g5k", lost.name)
        assert (got["daemon"], got["synchronised"]) == ("chrony", False), got
        assert "no source to follow" in str(got["problem"])
    finally:
        testbed.set_time_daemons(with_ntpd)
        testbed.set_time_daemons(lost)


def test_ptpd_master_and_slaves_report_their_offsets_and_stop_with_the_run(
    testbed: Testbed, tmp_path: Path
) -> None:
    """`--frida-clock-sync=ptpd` as the original experiment ran it: Debian's ptpd, a
    master on the first node and slaves on the others over the nodes' network. Each slave
    follows the master, and its offset and delay go into the record; nothing of it is
    left running after stop()."""
    run_id = f"p{os.getpid()}"
    ssh = SshSettings.multiplexed(testbed.ssh_config, run_id)
    hosts = [n.name for n in testbed.nodes[:3]]
    ptp = PtpDomain(ssh, "sudo-g5k", run_id, tmp_path)
    said: list[str] = []
    try:
        ptp.start(hosts, said.append)
        records = ptp.wait(hosts, said.append)
    finally:
        ptp.stop()
        ssh.close(hosts)
    assert said[0] == f"frida: ptpd: master {hosts[0]}, slaves {hosts[1]}, {hosts[2]}"
    master = records[hosts[0]]
    assert (master["role"], master["state"], master["synchronised"]) == ("master", "mst", True)
    for host in hosts[1:]:
        record = records[host]
        assert (record["role"], record["state"], record["synchronised"]) == (
            "slave",
            "slv",
            True,
        ), (record, (tmp_path / f"ptpd-{host}.log").read_text()[-2000:])
        assert record["clock_id"] == master["clock_id"]  # ours, checked by the run too
        # one clock shared by all: what ptpd measures is its own error, well under a ms
        assert abs(float(record["offset_from_master_ms"])) < 5  # type: ignore[arg-type]  # object
    left = subprocess.run(
        ["pgrep", "-f", f"frida-ptpd-{run_id}-"], capture_output=True, text=True, check=False
    ).stdout.split()
    assert left == []
    # the statistics files went too (the nodes share this /tmp), their ends to the logs
    assert not list(Path("/tmp").glob(f"frida-ptpd-{run_id}-*"))
    kept = sorted((tmp_path / "ptpd").glob("*.stats"))
    assert len(kept) == 3 and all(p.read_text() for p in kept)


def test_a_broker_node_with_an_old_java_is_refused_before_kafka_starts(
    testbed: Testbed, tmp_path: Path
) -> None:
    """The ssh runtime runs Kafka with the nodes' own `java`; Grid'5000's standard
    environment has Java 11 and Kafka 4 needs 17. The run says so, naming the node, before
    it formats or starts a broker, and leaves nothing behind."""
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("".join(f"{n.name}\n" for n in testbed.nodes[:2]))
    argv = _pytest_argv(
        tmp_path,
        SWEEP.replace('"sophia"', '"hosts"'),
        f"--frida-site=hosts:{hosts}",
        f"--frida-ssh-config={testbed.ssh_config}",
        "--frida-runtime=ssh",
    )
    before = kafka_pids(), frida_temp_dirs()
    broker = testbed.nodes[0]
    testbed.set_java(broker, "11.0.20")
    try:
        done = subprocess.run(
            argv,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        testbed.set_java(broker, None)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert (
        f"{broker.name} has Java 11.0.20; Kafka {DEFAULT_KAFKA_VERSION} needs Java 17 or"
        " later: install a newer JDK on the broker nodes"
    ) in out, out[-3000:]
    assert "Traceback" not in out
    assert not kafka_pids() - before[0] and not frida_temp_dirs() - before[1]


def test_hosts_file_site_over_ssh_with_synced_clocks_and_a_slow_link(
    testbed: Testbed, tmp_path: Path
) -> None:
    """`--frida-site=hosts:FILE --frida-runtime=ssh`: brokers and agents as processes over
    SSH on machines listed by hand (no Docker needed there). A producer node's clock is
    half a second ahead and `--frida-clock-sync=chrony` steps it before the run. The broker
    node's link holds every frame 15 ms: the latencies carry it, and the clock probes cannot
    pin that node's offset closer than half a 30 ms round trip, too much of a 100 ms bound
    to judge by, so the step is clock_untrusted although it was corrected."""
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# brokers first\n" + "".join(f"{n.name}\n" for n in testbed.nodes[:3]))
    argv = _pytest_argv(
        tmp_path,
        SWEEP.replace("[2, 4]", "[3]")
        .replace('"sophia"', '"hosts"')
        .replace("p50<=500ms", "p50<=100ms"),
        f"--frida-site=hosts:{hosts}",
        f"--frida-ssh-config={testbed.ssh_config}",
        "--frida-runtime=ssh",
        "--frida-clock-sync=chrony",
        "--frida-duration=3",
        "--frida-prime=0",
        "--frida-warmup=1",
    )
    before = kafka_pids(), frida_temp_dirs()
    broker, skewed = testbed.nodes[0], testbed.nodes[2]
    testbed.delay(broker, 15)
    try:
        # machines of one's own: the login is a sudoer there (chrony needs root)
        with testbed.sudoer(), _skewed(testbed, skewed, "+0.5"):
            done = subprocess.run(
                argv,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
    finally:
        testbed.heal(broker)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "1 skipped" in out, out[-3000:]
    report = only_run_report(tmp_path / "reports")
    assert report["cluster"]["runtime"] == "ssh"
    (step,) = report["steps"]
    assert step["verdict"] == "clock_untrusted"
    assert step["counts"]["lost"] == 0 and step["counts"]["received"] == step["counts"]["sent"]
    assert step["latency"]["p50"] >= 15  # producer to broker crosses the slow link
    clocks = step["clocks"]
    assert set(clocks["before"]) == {n.name for n in testbed.nodes[:3]}
    assert clocks["corrected"] and clocks["error_ms"] > 10  # over 10% of the bound
    assert clocks["before"][broker.name]["uncertainty_ms"] >= 14
    assert clocks["before"][testbed.nodes[1].name]["uncertainty_ms"] < 5
    # chrony stepped the skewed node before it took part: its offset is gone
    sync = report["cluster"]["clock_sync"]
    assert sorted(sync, key=node_order) == [n.name for n in testbed.nodes[:3]]
    assert -550 < sync[skewed.name]["last_offset_ms"] < -450
    assert all(abs(node["system_time_ms"]) < 1 for node in sync.values())
    assert abs(clocks["before"][skewed.name]["offset_ms"]) < 50
    # the broker's process, its node and Kafka's figures, read over ssh and the network
    resources = step["resources"]
    assert resources["missing"] == [], resources["missing"]
    sources = resources["sources"]
    figures = sources["broker-0"]["figures"]
    assert figures["cores"]["mean"] > 0 and figures["node_cores"]["mean"] >= 1
    assert figures["messages_in_per_s"]["mean"] > 0
    assert 0 <= figures["handler_idle"]["mean"] <= 1.05
    assert 0 < sources[f"host {broker.name}"]["figures"]["host_busy"]["mean"] <= 1
    assert f"disk {broker.name}" in sources
    # brokers and agents died with their ssh sessions (nothing new is left)
    assert not kafka_pids() - before[0] and not frida_temp_dirs() - before[1]
