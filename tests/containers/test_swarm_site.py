"""The swarm site for real: a one-node swarm made for the run, the stacks in stacks/,
producers as replicas of the producer service, everything removed afterwards."""

from __future__ import annotations

import json
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pytest_frida.runtimes.docker_cli import DockerCli
from pytest_frida.stacks import stacks_dir

SWEEP = """
import pytest

@pytest.mark.capacity(producers=[6, 12, 24], rate=10, slo="p90<=500ms, loss==0")
def test_sweep(frida_result, frida_cluster):
    assert frida_cluster.site == "swarm"
    assert frida_result.counts.sent > 0
"""


def test_swarm_sweep_scales_replicas_and_cleans_up(
    pytester: pytest.Pytester,
    tmp_path: Path,
    docker: DockerCli,
    frida_images: dict[str, str],
    docker_leak_check: None,
) -> None:
    pytester.makepyfile(test_suite=SWEEP)
    report_dir = tmp_path / "reports"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--frida-site=swarm",
        f"--frida-report-dir={report_dir}",
        f"--frida-kafka-image={frida_images['kafka']}",
        "--frida-producers-per-replica=2",
        "--frida-duration=4",
        "--frida-warmup=1",
        timeout=600,
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*frida capacity report (swarm, Kafka *)*"])
    (run_dir,) = [p for p in report_dir.iterdir() if p.is_dir()]
    steps = pd.read_csv(run_dir / "steps.csv").sort_values("producers")
    ratio = steps["achieved_rate"] / steps["target_rate"]
    assert ratio.between(0.95, 1.05).all(), steps[["producers", "achieved_rate"]]
    assert (steps["lost"] == 0).all() and (steps["duplicated"] == 0).all()
    doc = json.loads((run_dir / "report.json").read_text())
    notes = [
        next(n for n in s["notes"] if n.startswith("producer service"))
        for s in sorted(doc["steps"], key=lambda s: s["producers"])
    ]
    # the first step ran after an unmeasured priming run at its load, and says so
    assert any(
        n.startswith("the cluster's first step: primed")
        for n in min(doc["steps"], key=lambda s: s["started_at"])["notes"]
    )
    assert [n.split(" replica")[0] for n in notes] == [
        "producer service scaled to 3",
        "producer service scaled to 6",
        "producer service scaled to 12",
    ]
    assert doc["cluster"]["swarm_created_for_run"] is (docker_state_was_inactive(docker))
    # the task's cgroup and the exporter frida/kafka carries, read during each step
    for step in doc["steps"]:
        assert step["resources"]["missing"] == [], step["resources"]["missing"]
        broker = step["resources"]["sources"]["broker-0"]["figures"]
        assert broker["cores"]["mean"] > 0 and broker["memory_mib"]["mean"] > 100
        assert broker["messages_in_per_s"]["mean"] > 0
        assert 0 <= broker["handler_idle"]["mean"] <= 1.05
    assert "Kafka Server started" in (run_dir / "logs/broker-0/server.log").read_text()


def docker_state_was_inactive(docker: DockerCli) -> bool:
    """After the run the swarm is as before: a swarm the run made is gone again."""
    return docker.run("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip() == "inactive"


def test_stacks_deploy_by_hand_and_run_load(
    docker: DockerCli, frida_images: dict[str, str], docker_leak_check: None
) -> None:
    """kafka.yml + load.yml with `docker stack deploy`, as a person would: replicas in
    run mode produce, the consumer measures, both print a JSON summary; monitoring.yml
    beside them, whose Prometheus serves the broker's and the node's figures back."""
    from pytest_frida.runtimes.ports import free_ports
    from pytest_frida.runtimes.swarm import SwarmMembership
    from pytest_frida.runtimes.swarm_stack import StackDeployment

    membership = SwarmMembership(docker)
    membership.ensure()
    root = stacks_dir()
    stack = StackDeployment(
        docker,
        "frida-byhand",
        [root / "kafka.yml", root / "load.yml"],
        {
            "FRIDA_KAFKA_IMAGE": frida_images["kafka"],
            "FRIDA_AGENT_IMAGE": frida_images["agent"],
            "FRIDA_PRODUCER_REPLICAS": "2",
            "FRIDA_PRODUCERS_PER_REPLICA": "3",
            "FRIDA_DURATION": "6",
            "FRIDA_WARMUP": "2",
            "FRIDA_RATE": "20",
            "FRIDA_KAFKA_PORT_1": "0",
        },
    )
    prometheus_port, influx_port = free_ports(2)
    monitoring = StackDeployment(
        docker,
        "frida-byhand-monitoring",
        [root / "monitoring.yml"],
        {
            "FRIDA_MONITORING_IMAGE": frida_images["monitoring"],
            "FRIDA_KAFKA_NETWORK": "frida-byhand_frida",
            "FRIDA_PROMETHEUS_PORT": str(prometheus_port),
            "FRIDA_INFLUX_PORT": str(influx_port),
        },
    )
    try:
        stack.deploy()
        monitoring.deploy()
        deadline = time.monotonic() + 180
        summaries: dict[str, list[dict[str, Any]]] = {}
        while time.monotonic() < deadline:
            summaries = {
                role: [
                    json.loads(line)
                    for line in stack.logs(role).decode().splitlines()
                    if line.startswith("{")
                ]
                for role in ("producer", "consumer")
            }
            if len(summaries["producer"]) >= 2 and summaries["consumer"]:
                break
            time.sleep(2)
        assert len(summaries["producer"]) == 2, summaries
        for summary in summaries["producer"]:
            assert summary["sent"] > 0
            assert 0.9 * 3 * 20 <= float(summary["achieved_rate"]) <= 1.1 * 3 * 20
        (consumer,) = summaries["consumer"]
        assert consumer["received"] >= 2 * 3 * 20 * 6  # at least the measured messages
        assert consumer["latency_ms"]["p99"] is not None
        # every message the producers sent reached the broker's own counter, as scraped
        sent = sum(int(str(s["sent"])) for s in summaries["producer"])
        messages_in = _prometheus_value(
            prometheus_port,
            'frida_topic_MessagesIn{broker="kafka-1"}',
            lambda value: value >= sent,
            deadline + 60,
        )
        assert messages_in >= sent
        assert (
            _prometheus_value(
                prometheus_port,
                'sum(node_cpu_seconds_total{mode="idle"})',
                lambda value: value > 0,
                deadline + 60,
            )
            > 0
        )
    finally:
        monitoring.remove()
        stack.remove()
        _remove_volumes(docker, "frida-byhand-monitoring")
        membership.release()


def _prometheus_value(
    port: int, query: str, good: Callable[[float], bool], deadline: float
) -> float:
    """The value of `query` once it is `good` (Prometheus scrapes every five seconds), or
    the last answer in the failure."""
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    last: object = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                last = json.loads(response.read())
        except OSError as exc:
            last = exc
        else:
            result = last["data"]["result"] if isinstance(last, dict) else []
            if result and good(float(result[0]["value"][1])):
                return float(result[0]["value"][1])
        time.sleep(1)
    raise AssertionError(f"Prometheus never answered {query} well: {last}")


def _remove_volumes(docker: DockerCli, stack: str) -> None:
    """A stack's named volumes outlive it (`docker stack rm` keeps data); the test's go."""
    deadline = time.monotonic() + 60
    while volumes := docker.lines(
        "volume", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={stack}"
    ):
        if (
            docker.run("volume", "rm", *volumes, check=False).returncode == 0
            or time.monotonic() > deadline
        ):
            break
        time.sleep(1)  # the containers using them are still going


def _broken_stacks(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "stacks"
    shutil.copytree(stacks_dir(), root)
    (root / "kafka.yml").write_text(text)
    return root


@pytest.mark.parametrize(
    ("kafka_yml", "expected"),
    [
        (
            "services: [unclosed\n",
            "*frida: the swarm site could not start Kafka: `docker stack deploy*failed*",
        ),
        (
            "version: '3.8'\nservices:\n  kafka-1:\n    image: nonsense: : :\n",
            "*frida: the swarm site could not start Kafka: `docker stack deploy*failed*",
        ),
    ],
)
def test_broken_stack_file_is_one_line_and_leaves_nothing(
    pytester: pytest.Pytester,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    frida_images: dict[str, str],
    docker_leak_check: None,
    kafka_yml: str,
    expected: str,
) -> None:
    monkeypatch.setenv("FRIDA_STACKS_DIR", str(_broken_stacks(tmp_path, kafka_yml)))
    pytester.makepyfile(test_suite=SWEEP)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--frida-site=swarm",
        "--frida-producers=6",
        f"--frida-kafka-image={frida_images['kafka']}",
        f"--frida-report-dir={tmp_path}/r",
        timeout=180,
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([expected])
    assert "Traceback" not in result.stdout.str()


def test_service_that_never_runs_is_reported_in_bounded_time(
    pytester: pytest.Pytester, tmp_path: Path, frida_images: dict[str, str], docker_leak_check: None
) -> None:
    """An image without Kafka's start script: its tasks fail, the site says why."""
    pytester.makepyfile(test_suite=SWEEP)
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--frida-site=swarm",
        "--frida-producers=6",
        "--frida-kafka-image=frida/base:bookworm",
        f"--frida-report-dir={tmp_path}",
        timeout=300,
    )
    assert time.monotonic() - started < 200
    result.assert_outcomes(errors=1)
    # seen while converging, or once the task that ran for a moment is gone: either way
    # one line naming the service and how its task ended
    result.stdout.fnmatch_lines(
        [
            "*frida: the swarm site could not start Kafka: *service"
            " frida-*_kafka-1 * task complete: * (exit code 0)*"
        ]
    )


def test_stack_network_held_by_a_straggler_is_removed_with_the_stack(
    docker: DockerCli, frida_images: dict[str, str], tmp_path: Path, docker_leak_check: None
) -> None:
    """`docker stack rm` cannot remove a network while a container of the stack is still
    attached, and it does not try again: the wait for the stack to be gone used to run out
    at 60 s ("still has 1 container(s) or network(s)") on a busy machine."""
    from pytest_frida.runtimes.swarm import SwarmMembership
    from pytest_frida.runtimes.swarm_stack import STACK_LABEL, StackDeployment

    membership = SwarmMembership(docker)
    membership.ensure()
    (tmp_path / "idle.yml").write_text(
        "version: '3.8'\nservices:\n  idle:\n    image: ${IMAGE}\n"
        "    command: [sleep, infinity]\nnetworks:\n  default:\n    attachable: true\n"
    )
    stack = StackDeployment(
        docker, "frida-straggler", [tmp_path / "idle.yml"], {"IMAGE": frida_images["agent"]}
    )
    try:
        stack.deploy()
        stack.wait_converged("idle", 1)
        # a container of the stack that its services do not own, attached to its network
        docker.run(
            "run",
            "-d",
            "--network",
            "frida-straggler_default",
            "--label",
            f"{STACK_LABEL}=frida-straggler",
            frida_images["agent"],
            "sleep",
            "infinity",
        )
        started = time.monotonic()
        stack.remove(timeout_s=30)
        took = time.monotonic() - started
    finally:
        if stack.deployed:
            docker.run(
                "rm",
                "-f",
                *docker.lines("ps", "-aq", "--filter", f"label={STACK_LABEL}=frida-straggler"),
                check=False,
            )
            docker.run("network", "rm", "frida-straggler_default", check=False)
        membership.release()
    assert not docker.lines(
        "network", "ls", "-q", "--filter", f"label={STACK_LABEL}=frida-straggler"
    ), f"after {took:.0f}s"
