"""A KRaft node in a container, for images that follow the official apache/kafka contract.

testcontainers' own KafkaContainer only drives Confluent images, so this class speaks the
apache/kafka contract instead: every server property as a KAFKA_* variable (the full KRaft
set once any is given), CLUSTER_ID for the storage format, and "Kafka Server started" in the
log once the node serves. Each node has three listeners: EXTERNAL on a loopback port of this
machine (what pytest and local agents use), INTERNAL and CONTROLLER on the run's network.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # Ryuk needs a registry pull

from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from pytest_frida.kafka import exporter
from pytest_frida.kafka.errors import KafkaSetupError
from pytest_frida.kafka.server_config import replication_settings

__all__ = ["ApacheKafkaContainer", "Network", "container_properties", "property_env"]

EXTERNAL_PORT = 19092
INTERNAL_PORT = 9092
CONTROLLER_PORT = 9093
#: where the JMX exporter's directory is mounted, and the port it serves in the container
EXPORTER_DIR = "/opt/frida-exporter"
EXPORTER_PORT = exporter.CONTAINER_PORT
STARTED_LINE = b"Kafka Server started"


def property_env(name: str) -> str:
    """The KAFKA_* variable apache/kafka reads a server property from."""
    return "KAFKA_" + name.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def container_properties(
    node_id: int,
    alias: str,
    voters: Sequence[tuple[int, str]],
    host_port: int,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The server properties of one node: the local site's keys (`kafka.server_config`)
    with three listeners, then `overrides` (`--frida-broker-config`). apache/kafka ignores
    its bundled config once any KAFKA_* is given, so every key a node needs is here."""
    return {
        "node.id": str(node_id),
        "process.roles": "broker,controller",
        "listeners": f"INTERNAL://:{INTERNAL_PORT},CONTROLLER://:{CONTROLLER_PORT},"
        f"EXTERNAL://:{EXTERNAL_PORT}",
        "advertised.listeners": f"INTERNAL://{alias}:{INTERNAL_PORT},"
        f"EXTERNAL://127.0.0.1:{host_port}",
        # brokers replicate over INTERNAL, which is no built-in listener name
        "inter.broker.listener.name": "INTERNAL",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": (
            "INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT,EXTERNAL:PLAINTEXT"
        ),
        "controller.quorum.voters": ",".join(f"{i}@{a}:{CONTROLLER_PORT}" for i, a in voters),
        "log.dirs": "/var/lib/kafka/data",
        **replication_settings(len(voters)),
        **(overrides or {}),
    }


class ApacheKafkaContainer(DockerContainer):
    """One combined broker+controller node of a cluster of `voters`."""

    def __init__(
        self,
        image: str,
        node_id: int,
        alias: str,
        voters: Sequence[tuple[int, str]],
        host_port: int,
        network: Network,
        cluster_id: str,
        overrides: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        heap: str = "1G",
        exporter: tuple[Path, str, int] | None = None,
        cpuset: str | None = None,
    ) -> None:
        super().__init__(image)
        self.node_id, self.alias, self.host_port = node_id, alias, host_port
        props = container_properties(node_id, alias, voters, host_port, overrides)
        for name, value in props.items():
            self.with_env(property_env(name), value)
        self.with_env("CLUSTER_ID", cluster_id)
        self.with_env("KAFKA_HEAP_OPTS", f"-Xms{heap} -Xmx{heap}")
        self.with_network(network)
        self.with_network_aliases(alias)
        self.with_name(alias)
        # loopback only: nothing of the run listens on the machine's other addresses
        self.ports[f"{EXTERNAL_PORT}/tcp"] = cast(Any, ("127.0.0.1", host_port))
        # with_kwargs replaces what it was given before: everything in one call
        self.with_kwargs(labels=dict(labels or {}), **({"cpuset_cpus": cpuset} if cpuset else {}))
        if exporter is not None:
            # (directory holding the agent's jar and config, the agent's JVM flag as the
            # container sees that directory, the loopback port its metrics are served on)
            directory, flag, metrics_port = exporter
            self.with_volume_mapping(str(directory), EXPORTER_DIR, "ro")
            self.with_env("KAFKA_OPTS", flag)
            self.ports[f"{EXPORTER_PORT}/tcp"] = cast(Any, ("127.0.0.1", metrics_port))

    def wait_started(self, timeout_s: float) -> None:
        """Until the node logs that it serves; KafkaSetupError with its log when it exits."""
        deadline = time.monotonic() + timeout_s
        container = self.get_wrapped_container()
        while True:
            container.reload()
            logs = container.logs()
            if STARTED_LINE in logs:
                return
            if container.status in ("exited", "dead"):
                raise KafkaSetupError(
                    f"container {self.alias} exited while starting:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise KafkaSetupError(
                    f"container {self.alias} did not log"
                    f" '{STARTED_LINE.decode()}' within {timeout_s:.0f}s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            raw: bytes = self.get_wrapped_container().logs(tail=lines)
            text = raw.decode(errors="replace")
        except Exception as exc:  # the container may be gone already
            return f"(no log: {exc})"
        return text.rstrip()
