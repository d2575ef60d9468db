"""The kafka and load stacks as pytest-frida deploys them, on one daemon or across nodes.

The stack files in `stacks/` are deployed unchanged; what a run adds comes as variables
(images, per-broker advertised host, port and placement, the quorum) and a generated
override file (owner labels, extra broker properties, a per-node replica limit for
producers). The single-daemon swarm site and the swarm formed on reserved nodes share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_frida.kafka import exporter
from pytest_frida.kafka.server_config import new_cluster_id, replication_settings
from pytest_frida.stacks import stack_file

INTERNAL_PORT = 9092


def broker_services(brokers: int) -> list[str]:
    return [f"kafka-{i}" for i in range(1, brokers + 1)]


def stack_files(brokers: int) -> list[Path]:
    """kafka.yml (+ kafka-3.yml for three brokers) and load.yml."""
    return [
        stack_file("kafka"),
        *([stack_file("kafka-3")] if brokers == 3 else []),
        stack_file("load"),
    ]


def internal_bootstrap(brokers: int) -> str:
    """How agents inside the stack reach the brokers (the overlay network's names)."""
    return ",".join(f"{name}:{INTERNAL_PORT}" for name in broker_services(brokers))


@dataclass(frozen=True)
class BrokerPlacement:
    """Where broker i runs and how clients outside the swarm reach it."""

    external_host: str
    external_port: int
    #: a swarm placement constraint, e.g. node.labels.frida.broker==1 (None: anywhere)
    constraint: str | None = None


def stack_variables(
    kafka_image: str,
    agent_image: str,
    brokers: list[BrokerPlacement],
    producer_constraint: str | None = None,
    consumer_constraint: str | None = None,
    metrics_ports: list[int] | None = None,
) -> dict[str, str]:
    """The variables the stack files are filled from, for a run in standby mode (replicas
    idle until the controller starts agents in them). Without `metrics_ports` (the
    override file publishes them) the brokers' JMX exporter does not run: nothing would
    read it, and it costs the broker CPU."""
    names = broker_services(len(brokers))
    replication = replication_settings(len(brokers))
    env = {
        "FRIDA_KAFKA_IMAGE": kafka_image,
        "FRIDA_AGENT_IMAGE": agent_image,
        "FRIDA_MODE": "standby",
        "FRIDA_PRODUCER_REPLICAS": "0",
        "FRIDA_CLUSTER_ID": new_cluster_id(),
        "FRIDA_KAFKA_VOTERS": ",".join(f"{i}@{n}:9093" for i, n in enumerate(names, 1)),
        # kafka.yml sets the same keys as the other sites, these two from the cluster size
        "FRIDA_KAFKA_RF": replication["offsets.topic.replication.factor"],
        "FRIDA_KAFKA_MIN_ISR": replication["transaction.state.log.min.isr"],
    }
    for i, broker in enumerate(brokers, 1):
        env[f"FRIDA_EXTERNAL_HOST_{i}"] = broker.external_host
        env[f"FRIDA_KAFKA_PORT_{i}"] = str(broker.external_port)
        if broker.constraint:
            env[f"FRIDA_KAFKA_PLACEMENT_{i}"] = broker.constraint
    if metrics_ports is None:
        env["FRIDA_METRICS"] = "0"
    if producer_constraint:
        env["FRIDA_PRODUCER_PLACEMENT"] = producer_constraint
    if consumer_constraint:
        env["FRIDA_CONSUMER_PLACEMENT"] = consumer_constraint
    return env


def _yaml_map(items: dict[str, str], indent: int) -> str:
    pad = " " * indent
    return "".join(f'{pad}{k}: "{v}"\n' for k, v in items.items())


def override_file(
    path: Path,
    brokers: int,
    labels: dict[str, str],
    broker_env: dict[str, str],
    producer_replicas_per_node: int | None = None,
    metrics_ports: list[int] | None = None,
) -> Path:
    """Compose override adding the run's labels to every service and network, extra
    KAFKA_* variables to every broker and, when given, a limit of producer replicas per
    node and the host ports each broker's exporter is published on, for a controller
    outside the swarm (JSON-compatible YAML, so no YAML library needed)."""
    services = [*broker_services(brokers), "producer", "consumer"]
    text = 'version: "3.8"\nservices:\n'
    for name in services:
        text += f"  {name}:\n    deploy:\n      labels:\n{_yaml_map(labels, 8)}"
        if name == "producer" and producer_replicas_per_node:
            text += (
                f"      placement:\n        max_replicas_per_node: {producer_replicas_per_node}\n"
            )
        text += f"    labels:\n{_yaml_map(labels, 6)}"
        if name.startswith("kafka-") and broker_env:
            text += f"    environment:\n{_yaml_map(broker_env, 6)}"
        if name.startswith("kafka-") and metrics_ports:
            port = metrics_ports[int(name.removeprefix("kafka-")) - 1]
            text += (
                f"    ports:\n      - {{target: {exporter.CONTAINER_PORT},"
                f" published: {port}, mode: host}}\n"
            )
    text += f"networks:\n  frida:\n    driver: overlay\n    labels:\n{_yaml_map(labels, 6)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
