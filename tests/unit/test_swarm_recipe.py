"""The pieces both swarm deployments share: the fan-out over nodes, the swarm state read,
the kafka stack recipe's dead-broker check and log keeping, and the broker log files."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_frida.runtimes.broker_logs import broker_log, save_broker_logs
from pytest_frida.runtimes.docker_cli import DockerCli, DockerError
from pytest_frida.runtimes.fan_out import on_each
from pytest_frida.runtimes.kafka_swarm import KafkaSwarmStack, stack_name
from pytest_frida.runtimes.swarm import node_labels, swarm_state
from pytest_frida.runtimes.swarm_stack import StackDeployment, Task


def test_on_each_works_on_every_item_at_once_and_keeps_their_order() -> None:
    together = threading.Barrier(3, timeout=10)  # breaks unless all three run at once

    def work(item: int) -> int:
        together.wait()
        return item * 10

    assert on_each([3, 1, 2], work) == [30, 10, 20]
    assert on_each([], work) == []


def test_on_each_tries_every_item_then_raises_the_first_failure() -> None:
    done: list[int] = []

    def work(item: int) -> int:
        if item in (1, 2):
            raise ValueError(f"item {item}")
        done.append(item)
        return item

    with pytest.raises(ValueError, match="item 1"):
        on_each([0, 1, 2, 3], work)
    assert sorted(done) == [0, 3]


class _Docker:
    """A daemon that answers `docker info` and `docker inspect node` from fixed text."""

    def __init__(self, info: str, labels: dict[str, str] | None = None) -> None:
        self.info = info
        self.labels = labels

    def run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        assert args[0] == "info", args
        return subprocess.CompletedProcess(list(args), 0, self.info, "")

    def inspect(self, kind: str, ids: list[str]) -> list[dict[str, object]]:
        assert kind == "node"
        return [] if self.labels is None else [{"Spec": {"Labels": self.labels}}]


def test_swarm_state_of_a_worker_names_its_managers_without_ports() -> None:
    docker = cast(DockerCli, _Docker("active|false|n1|10.0.0.1:2377 10.0.0.2:2377 \n"))
    state = swarm_state(docker)
    assert (state.state, state.manager, state.node_id) == ("active", False, "n1")
    assert state.managers == ["10.0.0.1", "10.0.0.2"]


def test_swarm_state_of_a_daemon_in_no_swarm() -> None:
    state = swarm_state(cast(DockerCli, _Docker("inactive|false||\n")))
    assert (state.state, state.manager, state.node_id, state.managers) == (
        "inactive",
        False,
        "",
        [],
    )


def test_node_labels_of_a_node_with_none_or_unknown() -> None:
    assert node_labels(cast(DockerCli, _Docker("", {"frida.run": "r1"})), "n1") == {
        "frida.run": "r1"
    }
    assert node_labels(cast(DockerCli, _Docker("", {})), "n1") == {}
    assert node_labels(cast(DockerCli, _Docker("")), "n1") == {}


class _Stack:
    """A stack whose services run the tasks given, and that remembers its removal."""

    name = "frida-run"

    def __init__(self, running: dict[str, int], logs: dict[str, bytes]) -> None:
        self.running = running
        self.log_text = logs
        self.deployed = True
        self.removed = False

    def service(self, short: str) -> str:
        return f"{self.name}_{short}"

    def tasks(self, short: str) -> list[Task]:
        return [Task(f"t{i}", i, f"c{i}", "n1") for i in range(self.running.get(short, 0))]

    def failures(self, short: str) -> list[str]:
        return ["task failed: port already in use (exit code 1)"]

    def logs(self, short: str) -> bytes:
        if short not in self.log_text:
            raise DockerError(f"no logs for {short}")
        return self.log_text[short]

    def remove(self) -> None:
        self.removed = True
        self.deployed = False


def test_first_dead_names_the_broker_service_without_a_task_and_why(tmp_path: Path) -> None:
    stack = _Stack({"kafka-1": 1, "kafka-2": 0, "kafka-3": 1}, {})
    kafka = KafkaSwarmStack(cast(StackDeployment, stack), 3, tmp_path)
    assert kafka.first_dead() == (
        "service frida-run_kafka-2 has no running task:"
        " task failed: port already in use (exit code 1)"
    )
    assert [t.container_id for t in kafka.broker_tasks(0)] == ["c0"]
    stack.running["kafka-2"] = 1
    assert kafka.first_dead() is None


def test_removal_keeps_the_logs_it_can_read_and_removes_the_stack(tmp_path: Path) -> None:
    stack = _Stack({}, {"kafka-1": b"started\n", "kafka-3": b"third\n"})
    kafka = KafkaSwarmStack(cast(StackDeployment, stack), 3, tmp_path)
    kafka.remove()
    assert stack.removed
    assert broker_log(tmp_path, 0).read_bytes() == b"started\n"
    assert not broker_log(tmp_path, 1).exists()
    assert broker_log(tmp_path, 2).read_bytes() == b"third\n"
    assert kafka.first_dead() is None  # a removed stack has no broker to miss


def test_save_broker_logs_skips_only_the_unreadable_ones(tmp_path: Path) -> None:
    def read(broker: int) -> str:
        if broker == 1:
            raise OSError("node gone")
        return f"log {broker}\n"

    save_broker_logs(tmp_path, range(3), read, unreadable=(OSError,))
    assert broker_log(tmp_path, 2).read_text() == "log 2\n"
    assert not broker_log(tmp_path, 1).exists()

    def broken(broker: int) -> str:
        raise KeyError(broker)

    with pytest.raises(KeyError):
        save_broker_logs(tmp_path, [0], broken, unreadable=(OSError,))


def test_stack_names_have_no_dots() -> None:
    assert stack_name("20261204.1540-ab") == "frida-20261204-1540-ab"
