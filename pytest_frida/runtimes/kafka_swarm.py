"""The recipe both swarm deployments follow for a run's kafka and load stacks: the files,
the deploy, the wait for the brokers and the consumer, the dead-broker check, the brokers'
logs and the removal.

A deployment differs only in where its swarm is (this daemon, or nodes reached over ssh),
where the manager reads the files from, and how brokers are placed and reached; those come
in as the `StackDeployment` and the variables it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from pytest_frida.runtimes.broker_logs import save_broker_logs
from pytest_frida.runtimes.docker_cli import DockerError
from pytest_frida.runtimes.docker_owner import owner_labels
from pytest_frida.runtimes.kafka_container import property_env
from pytest_frida.runtimes.kafka_stack import broker_services, override_file, stack_files
from pytest_frida.runtimes.swarm import STACK_PREFIX
from pytest_frida.runtimes.swarm_stack import StackDeployment, Task


def stack_name(run_id: str) -> str:
    """The run's stack (a name `docker stack` accepts: no dots)."""
    return f"{STACK_PREFIX}{run_id}".replace(".", "-")


def run_stack_files(
    run_dir: Path,
    run_id: str,
    brokers: int,
    broker_config: Mapping[str, str],
    producer_replicas_per_node: int | None = None,
    metrics_ports: list[int] | None = None,
) -> list[Path]:
    """The stack files, and the run's override file (written in `run_dir`) last."""
    override = override_file(
        run_dir / "stack-override.yml",
        brokers,
        owner_labels(run_id),
        {property_env(k): v for k, v in broker_config.items()},
        producer_replicas_per_node=producer_replicas_per_node,
        metrics_ports=metrics_ports,
    )
    return [*stack_files(brokers), override]


class KafkaSwarmStack:
    """The run's kafka and load stacks on a swarm, from deploy to removal."""

    def __init__(self, stack: StackDeployment, brokers: int, run_dir: Path) -> None:
        self.stack = stack
        self.brokers = brokers
        self.run_dir = run_dir

    def start(self, timeout_s: float, progress: Callable[[str], None] | None = None) -> None:
        """Deploy, then wait until every broker and the consumer replica runs."""
        self.stack.deploy()
        for name in [*broker_services(self.brokers), "consumer"]:
            self.stack.wait_converged(name, 1, timeout_s, progress=progress)

    def broker_tasks(self, broker: int) -> list[Task]:
        """Broker `broker`'s running task (counted from 0), or none."""
        return self.stack.tasks(broker_services(self.brokers)[broker])

    def first_dead(self) -> str | None:
        """The first broker service with no running task, and why its tasks ended (none
        once the stack is removed)."""
        if not self.stack.deployed:
            return None
        for name in broker_services(self.brokers):
            if not self.stack.tasks(name):
                errors = self.stack.failures(name)
                return f"service {self.stack.service(name)} has no running task" + (
                    f": {errors[0]}" if errors else ""
                )
        return None

    def save_broker_logs(self) -> None:
        services = broker_services(self.brokers)
        save_broker_logs(
            self.run_dir,
            range(self.brokers),
            lambda broker: self.stack.logs(services[broker]),
            unreadable=(DockerError, OSError),
        )

    def remove(self) -> None:
        """The brokers' logs while their containers exist, then the stack; the stack is
        removed even when a log could not be kept."""
        if not self.stack.deployed:
            return
        try:
            self.save_broker_logs()
        finally:
            self.stack.remove()
